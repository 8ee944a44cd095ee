/* audit_traffic: the checks that weigh the traffic warmd saw.
 * Not an API: included only by core/audit*.c. */
#ifndef WARMD_AUDIT_TRAFFIC_H
#define WARMD_AUDIT_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>

#include "audit_types.h"

struct audit;
struct shape;

/* The prompt_cache_key in effect: the target's, else the template's (s may be empty). */
const char *audit_cache_key_of(const struct audit_target *t, const struct shape *s);
/* keys[i]: target i's key in effect, or NULL. Provider-wide findings. */
void audit_check_cache_keys(struct audit *a, const struct audit_target *t, char *const *keys,
                            size_t n);
void audit_check_key_rate(struct audit *a, const struct audit_target *t, const struct shape *s,
                          double now);
void audit_check_gaps(struct audit *a, const struct audit_target *t);
void audit_check_ttl_choice(struct audit *a, const struct audit_target *t, bool *ret_cmp);

#endif

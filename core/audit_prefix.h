/* audit_prefix: the checks of the cached prefix itself.
 * Not an API: included only by core/audit*.c. */
#ifndef WARMD_AUDIT_PREFIX_H
#define WARMD_AUDIT_PREFIX_H

#include <stdbool.h>

#include "audit_types.h"

struct audit;
struct shape;

long audit_min_cacheable(const struct audit_target *t);
void audit_check_minimum(struct audit *a, const struct audit_target *t);
void audit_check_sorted(struct audit *a, const struct audit_target *t, const struct shape *s);
/* True if it reported a reordering (check_fields then leaves the tools out). */
bool audit_check_tool_order(struct audit *a, const struct audit_target *t, const struct shape *s,
                            const struct audit_fp *cur);
void audit_check_image_detail(struct audit *a, const struct audit_target *t, const struct shape *s);
void audit_check_fields(struct audit *a, const struct audit_target *t, const struct audit_fp *cur,
                        bool reordered);

#endif

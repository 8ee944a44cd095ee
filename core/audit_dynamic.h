/* audit_dynamic: the dynamic-content check and its compiled patterns.
 * Not an API: included only by core/audit*.c. */
#ifndef WARMD_AUDIT_DYNAMIC_H
#define WARMD_AUDIT_DYNAMIC_H

#include "audit_types.h"

struct audit;
struct audit_rx;
struct shape;

struct audit_rx *audit_rx_new(void);
void audit_rx_free(struct audit_rx *x);
void audit_check_dynamic(struct audit *a, const struct audit_target *t, const struct shape *s);

#endif

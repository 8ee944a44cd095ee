/* audit_ops: the operational checks.
 * Not an API: included only by core/audit*.c. */
#ifndef WARMD_AUDIT_OPS_H
#define WARMD_AUDIT_OPS_H

#include "audit_types.h"

struct audit;

void audit_check_operations(struct audit *a, const struct audit_target *t);

#endif

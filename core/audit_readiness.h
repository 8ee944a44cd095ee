/* audit_readiness: the production-readiness checklist.
 * Not an API: included only by core/audit*.c. */
#ifndef WARMD_AUDIT_READINESS_H
#define WARMD_AUDIT_READINESS_H

#include <json-c/json.h>
#include <stddef.h>

#include "audit_types.h"

struct tstate;

/* The checklist over the targets selected by only. */
json_object *audit_readiness_json(const struct audit_target *t, const struct tstate *st, size_t n,
                                  const char *only);

#endif

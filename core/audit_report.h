/* audit_report: the audit's answer: the names of severities, the grade of
 * a score (both part of the API: audit.h includes this header), and
 * audit_run's object put together from one run's findings. */
#ifndef WARMD_AUDIT_REPORT_H
#define WARMD_AUDIT_REPORT_H

#include <json-c/json.h>
#include <stddef.h>

#include "audit_types.h"

struct audit;
struct tstate;

const char *audit_severity_name(enum audit_severity s);
/* "A" (>= 90), "B" (>= 80), "C" (>= 70), "D" (>= 60), else "F". */
const char *audit_grade(int score);

/* audit_run's object (see audit.h). */
json_object *audit_report_json(const struct audit *a, const struct audit_target *t,
                               const struct tstate *st, size_t n, const char *only);

#endif

/* audit_report: the audit's answer: the selected findings, their counts,
 * the score and grade, the action plan and the readiness checklist. */
#include "audit.h"

#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"
#include "jsonx.h"
#include "xalloc.h"

static const char *const severity_names[] = { "critical", "high", "medium", "low" };
static const int penalties[] = { AUDIT_PENALTY_CRITICAL, AUDIT_PENALTY_HIGH, AUDIT_PENALTY_MEDIUM,
	                         AUDIT_PENALTY_LOW };

const char *audit_severity_name(enum audit_severity s)
{
	return (unsigned)s < 4 ? severity_names[s] : "unknown";
}

const char *audit_grade(int score)
{
	return score >= 90 ? "A" : score >= 80 ? "B" : score >= 70 ? "C" : score >= 60 ? "D" : "F";
}

/* A finding belongs to the report of target only: its own, or its provider's. */
static bool selected_finding(const struct finding *x, const char *only, const char *only_prov)
{
	if (!only)
		return true;
	if (x->f.target)
		return strcmp(x->f.target, only) == 0;
	return only_prov && x->f.provider && strcmp(x->f.provider, only_prov) == 0;
}

static json_object *finding_json(const struct finding *x)
{
	json_object *o = json_object_new_object();

	jsonx_add_str(o, "target", x->f.target);
	jsonx_add_str(o, "provider", x->f.provider);
	jsonx_add_str(o, "severity", audit_severity_name(x->f.severity));
	jsonx_add_str(o, "category", x->f.category);
	jsonx_add_str(o, "check", x->f.check);
	jsonx_add_str(o, "title", x->f.title);
	jsonx_add_str(o, "description", x->f.description);
	jsonx_add_str(o, "recommendation", x->f.recommendation);
	jsonx_add_str(o, "effort", x->f.effort);
	if (x->has_costs) {
		jsonx_add_usd(o, "cost_current_usd", x->cost_cur);
		jsonx_add_usd(o, "cost_alternative_usd", x->cost_alt);
	}
	return o;
}

/* Severity first, then target name (provider-wide findings after the
 * targets'), then the order the checks ran in. */
static int plan_cmp(const void *x, const void *y)
{
	const struct finding *a = *(const struct finding *const *)x;
	const struct finding *b = *(const struct finding *const *)y;
	int r;

	if (a->f.severity != b->f.severity)
		return a->f.severity < b->f.severity ? -1 : 1;
	if (!a->f.target != !b->f.target)
		return a->f.target ? -1 : 1;
	if (a->f.target && (r = strcmp(a->f.target, b->f.target)) != 0)
		return r;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static json_object *plan_json(const struct finding **sel, size_t nsel)
{
	json_object *plan = json_object_new_array();

	qsort(sel, nsel, sizeof(*sel), plan_cmp);
	for (size_t i = 0; i < nsel && i < AUDIT_ACTION_PLAN_MAX; i++) {
		json_object *o = finding_json(sel[i]);
		char prio[4] = { 'P', (char)('1' + sel[i]->f.severity), '\0' };
		jsonx_add_int(o, "rank", (int64_t)i + 1);
		jsonx_add_str(o, "priority", prio);
		json_object_array_add(plan, o);
	}
	return plan;
}

static const char *provider_of(const struct audit_target *t, size_t n, const char *only)
{
	for (size_t i = 0; only && i < n; i++)
		if (t[i].name && strcmp(t[i].name, only) == 0)
			return t[i].provider;
	return NULL;
}

json_object *audit_report_json(const struct audit *a, const struct audit_target *t,
                               const struct tstate *st, size_t n, const char *only)
{
	const char *only_prov = provider_of(t, n, only);
	const struct finding **sel = xreallocarray(NULL, a->n, sizeof(*sel));
	json_object *o = json_object_new_object(), *findings, *counts;
	unsigned count[4] = { 0 };
	size_t nsel = 0;
	int score = 100;

	findings = json_object_new_array();
	for (size_t i = 0; i < a->n; i++) {
		if (!selected_finding(&a->v[i], only, only_prov))
			continue;
		sel[nsel++] = &a->v[i];
		count[a->v[i].f.severity]++;
		score -= penalties[a->v[i].f.severity];
		json_object_array_add(findings, finding_json(&a->v[i]));
	}
	score = score < 0 ? 0 : score;
	counts = json_object_new_object();
	for (int s = 0; s < 4; s++)
		jsonx_add_int(counts, severity_names[s], count[s]);
	jsonx_add_int(o, "score", score);
	jsonx_add_str(o, "grade", audit_grade(score));
	json_object_object_add(o, "counts", counts);
	json_object_object_add(o, "findings", findings);
	json_object_object_add(o, "action_plan", plan_json(sel, nsel));
	json_object_object_add(o, "readiness", audit_readiness_json(t, st, n, only));
	free(sel);
	return o;
}

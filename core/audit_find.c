/* audit_find: the findings one run of the audit collects; every check adds
 * its own through audit_add(). */
#include "audit_find.h"

#include <stdarg.h>
#include <stdlib.h>

#include "xalloc.h"

static const char *const check_names[] = {
	"dynamic-content", "below-minimum", "unsorted-tools", "tool-order",     "image-detail",
	"fields-changed",  "cache-keys",    "key-rate",       "uncovered-gaps", "ttl-choice",
	"no-touches",      "inline-key",    "unwarmable",     "warm-writes",
};

char *audit_fmt(struct audit *a, const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	s = xvasprintf(f, ap);
	va_end(ap);
	return s;
}

struct finding *audit_add(struct audit *a, const struct audit_target *t, const char *provider,
                          enum audit_severity sev, enum check check, const char *category,
                          const char *effort, char *title, char *desc, char *rec)
{
	struct finding *x;

	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	x = &a->v[a->n];
	*x = (struct finding){ .f = { .severity = sev,
		                      .target = t ? t->name : NULL,
		                      .provider = t ? t->provider : provider,
		                      .check = check_names[check],
		                      .category = category,
		                      .title = title,
		                      .description = desc,
		                      .recommendation = rec,
		                      .effort = effort },
		               .title = title,
		               .desc = desc,
		               .rec = rec,
		               .check_id = check,
		               .seq = a->n };
	a->n++;
	if (t)
		a->mask |= BIT(check);
	return x;
}

void audit_free_findings(struct audit *a)
{
	for (size_t k = 0; k < a->n; k++) {
		free(a->v[k].title);
		free(a->v[k].desc);
		free(a->v[k].rec);
	}
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

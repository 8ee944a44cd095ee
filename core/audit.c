/* audit: runs every check over every target and collects the findings (the
 * entry points of audit.h). The checks live in audit_dynamic.c,
 * audit_prefix.c, audit_traffic.c and audit_ops.c, the template is read by
 * audit_shape.c, and the answer is put together by audit_report.c and
 * audit_readiness.c. */
#include "audit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"
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

/* Adds a finding; takes ownership of title, desc and rec. */
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

static void audit_init(struct audit *a, bool static_only)
{
	*a = (struct audit){ .static_only = static_only, .rx = audit_rx_new() };
}

static void audit_free(struct audit *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].title);
		free(a->v[i].desc);
		free(a->v[i].rec);
	}
	free(a->v);
	audit_rx_free(a->rx);
}

/* ---- per target ------------------------------------------------------------------- */

static void check_target(struct audit *a, const struct audit_target *t, const struct shape *s,
                         double now, struct tstate *st)
{
	struct audit_fp fp;
	bool reordered = false;

	a->mask = 0;
	st->parsed = s->doc != NULL;
	if (st->parsed) {
		audit_fp_from_shape(s, t->kind, &fp);
		audit_check_dynamic(a, t, s);
	}
	audit_check_minimum(a, t);
	if (st->parsed) {
		audit_check_sorted(a, t, s);
		reordered = audit_check_tool_order(a, t, s, &fp);
		audit_check_image_detail(a, t, s);
		audit_check_fields(a, t, &fp, reordered);
	}
	if (!a->static_only) {
		audit_check_key_rate(a, t, s, now);
		audit_check_gaps(a, t);
		audit_check_ttl_choice(a, t, &st->ttl_compared);
	}
	audit_check_operations(a, t);
	st->mask = a->mask;
}

/* ---- entry points ------------------------------------------------------------------- */

/* Every target's checks (one template parsed at a time: a fleet's templates
 * are never all in memory), then the provider-wide ones. st may be NULL. */
static void audit_all(struct audit *a, const struct audit_target *t, size_t n, double now,
                      struct tstate *st)
{
	char **keys = xcalloc(n, sizeof(*keys));

	for (size_t i = 0; i < n; i++) {
		struct tstate tmp = { 0 };
		struct shape s;
		/* an unparseable body leaves s empty: the body checks skip it */
		(void)audit_shape_parse(t[i].body, t[i].body_len, t[i].kind, &s);
		check_target(a, &t[i], &s, now, st ? &st[i] : &tmp);
		keys[i] = xstrdup_or_null(audit_cache_key_of(&t[i], &s));
		audit_shape_free(&s);
	}
	audit_check_cache_keys(a, t, keys, n);
	/* a provider's cache-keys finding holds back each of its targets */
	for (size_t f = 0; st && f < a->n; f++)
		for (size_t i = 0; !a->v[f].f.target && i < n; i++)
			if (t[i].provider && strcmp(t[i].provider, a->v[f].f.provider) == 0)
				st[i].mask |= BIT(a->v[f].check_id);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

json_object *audit_run(const struct audit_target *t, size_t n, double now, const char *only)
{
	struct tstate *st = xcalloc(n, sizeof(*st));
	struct audit a;
	json_object *o;

	audit_init(&a, false);
	audit_all(&a, t, n, now, st);
	o = audit_report_json(&a, t, st, n, only);
	audit_free(&a);
	free(st);
	return o;
}

int audit_static(const struct audit_target *t, size_t n, audit_emit_cb emit, void *ctx)
{
	struct audit a;
	int r;

	audit_init(&a, true);
	audit_all(&a, t, n, 0, NULL);
	for (size_t i = 0; i < a.n; i++)
		emit(&a.v[i].f, ctx);
	r = (int)a.n;
	audit_free(&a);
	return r;
}

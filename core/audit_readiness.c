/* audit_readiness: the production-readiness checklist; each item takes the
 * worst status among the selected targets. */
#include "audit.h"

#include <string.h>

#include "audit_internal.h"
#include "jsonx.h"

/* Ordered from best to worst: an item takes the worst status of its targets. */
enum rstatus { R_DONE, R_UNKNOWN, R_NOT_DONE };

static const char *const rstatus_names[] = { "done", "unknown", "not_done" };

typedef enum rstatus (*ritem_fn)(const struct audit_target *t, const struct tstate *st);

static enum rstatus r_static_first(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & BIT(C_DYNAMIC))
		return R_NOT_DONE;
	return st->parsed ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_minimum(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & BIT(C_MINIMUM))
		return R_NOT_DONE;
	if (t->hits + t->writes > 0 && t->prefix_tokens_seen > 0)
		return R_DONE; /* usage proves it is cached */
	return audit_min_cacheable(t) > 0 && t->prefix_tokens_est > 0 ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_tools(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & (BIT(C_UNSORTED) | BIT(C_TOOL_ORDER) | BIT(C_IMAGE_DETAIL)))
		return R_NOT_DONE;
	return st->parsed ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_ttl(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & BIT(C_TTL))
		return R_NOT_DONE;
	return st->ttl_compared ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_keys(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & (BIT(C_KEY_RATE) | BIT(C_CACHE_KEYS)))
		return R_NOT_DONE;
	/* keys only steer OpenAI's routing; the rate needs traffic to judge */
	return t->kind != PROVIDER_OPENAI || t->ntouch >= 2 ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_versions(const struct audit_target *t, const struct tstate *st)
{
	/* done: rollouts are explicit (blue/green), or a change was seen and the
	 * new version's cache confirmed; one version alone proves nothing */
	if (t->named_versions || (t->nversions > 1 && t->prefix_tokens_seen > 0))
		return R_DONE;
	return R_UNKNOWN;
}

static enum rstatus r_touches(const struct audit_target *t, const struct tstate *st)
{
	return t->touches > 0 || t->ntouch > 0 ? R_DONE : R_NOT_DONE;
}

static enum rstatus r_policy(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & (BIT(C_UNWARMABLE) | BIT(C_GAPS)))
		return R_NOT_DONE;
	/* manual is fine only when the traffic shows it needs no warming */
	return t->policy != POLICY_MANUAL || t->ntouch >= 2 ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_rate_limits(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & BIT(C_KEY_RATE))
		return R_NOT_DONE;
	/* a self-hosted server has no provider quota to stay under */
	return t->provider_has_rpm_limit || t->kind == PROVIDER_OPENAI_COMPAT ? R_DONE : R_NOT_DONE;
}

static enum rstatus r_retries(const struct audit_target *t, const struct tstate *st)
{
	if (t->warms == 0)
		return R_UNKNOWN;
	/* warmd retries transient failures itself; more than 1 in 10 warms
	 * still failing means the retries are not absorbing them */
	return t->errors * 10 > t->warms ? R_NOT_DONE : R_DONE;
}

static enum rstatus r_tested(const struct audit_target *t, const struct tstate *st)
{
	return t->tested ? R_DONE : R_NOT_DONE;
}

static const struct ritem {
	const char *category, *item;
	ritem_fn fn;
} ritems[] = {
	{ "prompt design", "static content first", r_static_first },
	{ "prompt design", "prefix above the minimum", r_minimum },
	{ "prompt design", "stable tools", r_tools },
	{ "cache configuration", "TTL choice", r_ttl },
	{ "cache configuration", "cache keys", r_keys },
	{ "cache configuration", "versions", r_versions },
	{ "monitoring", "touches received", r_touches },
	{ "operations", "warming policy", r_policy },
	{ "operations", "rate limits", r_rate_limits },
	{ "operations", "retries", r_retries },
	{ "testing", "verification test run", r_tested },
};

#define NRITEMS (sizeof(ritems) / sizeof(ritems[0]))

static bool selected_target(const struct audit_target *t, const char *only)
{
	return !only || (t->name && strcmp(t->name, only) == 0);
}

/* One checklist item over the selected targets; detail names the targets
 * that hold it back (the first few), null when done. */
static json_object *ritem_json(const struct ritem *ri, const struct audit_target *t,
                               const struct tstate *st, size_t n, const char *only,
                               enum rstatus *ret)
{
	enum rstatus worst = R_DONE;
	size_t nsel = 0, nworst = 0;
	struct buf d = BUF_INIT;
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < n; i++) {
		enum rstatus s;
		if (!selected_target(&t[i], only))
			continue;
		nsel++;
		s = ri->fn(&t[i], &st[i]);
		worst = s > worst ? s : worst;
	}
	if (!nsel)
		worst = R_UNKNOWN;
	for (size_t i = 0; nsel && worst != R_DONE && i < n; i++) {
		if (!selected_target(&t[i], only) || ri->fn(&t[i], &st[i]) != worst)
			continue;
		if (++nworst <= 3)
			buf_printf(&d, "%s%s", nworst > 1 ? ", " : "", t[i].name ? t[i].name : "?");
	}
	if (nworst > 3)
		buf_printf(&d, " and %zu more", nworst - 3);
	jsonx_add_str(o, "category", ri->category);
	jsonx_add_str(o, "item", ri->item);
	jsonx_add_str(o, "status", rstatus_names[worst]);
	jsonx_add_str(o, "detail", !nsel ? "no targets" : d.data);
	buf_free(&d);
	*ret = worst;
	return o;
}

json_object *audit_readiness_json(const struct audit_target *t, const struct tstate *st, size_t n,
                                  const char *only)
{
	json_object *o = json_object_new_object(), *items = json_object_new_array();
	unsigned done = 0;

	for (size_t i = 0; i < NRITEMS; i++) {
		enum rstatus s;
		json_object_array_add(items, ritem_json(&ritems[i], t, st, n, only, &s));
		done += s == R_DONE;
	}
	/* only what warmd has seen counts: unknown is not done */
	jsonx_add_int(o, "score", (done * 100 + NRITEMS / 2) / NRITEMS);
	json_object_object_add(o, "items", items);
	return o;
}

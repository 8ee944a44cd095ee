/* lanes: several versions of one target warm side by side. */
#include "lanes.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "duration.h"
#include "log.h"
#include "provider.h"
#include "xalloc.h"

void lanes_config_weight(struct target *t, const struct cfg_target *c, bool fresh)
{
	if (fresh || t->cfg_weight != c->weight) {
		t->weight = c->weight;
		t->prev_weight = -1;
	}
	t->cfg_weight = c->weight;
}

/* l takes over t's cache state (the same version's entry). */
static void take_cache(struct target *l, struct target *t)
{
	if (t->cache_name && !l->cache_name) {
		/* A managed cache has one keeper: the name moves with the entry. */
		l->cache_name = t->cache_name;
		l->cache_expire = t->cache_expire;
		t->cache_name = NULL;
		t->cache_expire = 0;
	}
	l->last_refresh = t->last_refresh;
	l->expires_at = t->expires_at;
	l->prefix_tokens = t->prefix_tokens;
	l->refreshed_by_warm = t->refreshed_by_warm;
	l->last_result = t->last_result;
	l->has_result = t->has_result;
}

struct target *lanes_keep_replaced(const struct target_set *set, struct target *t, struct tmpl *old)
{
	double now = clock_now(set->clk);
	struct target *l, *known;
	char name[160], a[32];

	/* Nothing to keep for a target warmd is not warming by itself. */
	if (t->group || t->overlap_s <= 0 || t->expires_at <= now || old->unwarmable[0] ||
	    t->paused || t->policy == POLICY_MANUAL)
		return NULL;
	snprintf(name, sizeof(name), "%s@%s", t->name, old->short_version);
	known = target_set_find(set, name);
	if (known && known->retiring) {
		/* Back to a version still kept from an earlier reload. */
		known->retire_at = now + t->overlap_s;
		if (t->expires_at > known->expires_at)
			take_cache(known, t);
		return NULL;
	}
	if (known)
		return NULL;
	l = target_new(name);
	l->prov = provider_ref(t->prov);
	l->tmpl = tmpl_ref(old);
	l->group = xstrdup(t->name);
	l->retiring = true;
	l->overlap_s = t->overlap_s;
	l->retire_at = now + t->overlap_s;
	l->ttl_s = t->ttl_s;
	l->policy = POLICY_ALWAYS;
	l->priority = t->priority;
	l->last_touch = now;
	take_cache(l, t);
	if (t->nversions) {
		/* As target_version_enter() sizes a history. */
		l->versions = xcalloc(TARGET_MAX_VERSIONS, sizeof(*l->versions));
		l->versions[0] = *target_version_current(t);
		l->nversions = 1;
	}
	log_info("%s: keeping the replaced version %s warm as %s for %s (version_overlap), "
	         "longer while touches name it",
	         t->name, old->short_version, name, duration_format(t->overlap_s, a, sizeof(a)));
	return l;
}

bool lanes_keep(struct target *l, struct target *g, double now)
{
	if (!g || g->group || g->prov != l->prov || l->retire_at <= now)
		return false;
	if (strcmp(g->tmpl->version, l->tmpl->version) == 0) {
		/* The target went back to this version: it takes the warm entry. */
		if (l->expires_at > g->expires_at)
			take_cache(g, l);
		return false;
	}
	return true;
}

void lanes_touched(struct target *t, double now)
{
	if (t->retiring && now + t->overlap_s > t->retire_at)
		t->retire_at = now + t->overlap_s;
}

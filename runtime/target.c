/* target: a named prefix to keep warm, and everything warmd knows about it. */
#include "target.h"

#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "jsonx.h"
#include "xalloc.h"

struct target *target_new(const char *name)
{
	struct target *t = xcalloc(1, sizeof(*t));

	t->name = xstrdup(name);
	t->refs = 1;
	breaker_init(&t->breaker, BREAKER_TRIP_TARGET);
	t->next_warm_at = -1;
	t->prev_weight = -1;
	t->due_idx = t->wait_idx = HEAP_NONE;
	return t;
}

struct target *target_ref(struct target *t)
{
	t->refs++;
	return t;
}

void target_unref(struct target *t)
{
	if (!t || --t->refs > 0)
		return;
	http_req_reset(&t->req);
	free(t->touch_hist);
	free(t->versions);
	free(t->windows);
	free(t->gaps);
	free(t->followers); /* its share links (share.c keeps them) */
	free(t->extended_by);
	tmpl_unref(t->tmpl);
	provider_unref(t->prov);
	free(t->group);
	free(t->vname);
	free(t->cache_key);
	free(t->cache_name);
	free(t->mc_url);
	free(t->mc_body);
	free(t->prev_fp);
	free(t->name);
	free(t);
}

void target_touch_record(struct target *t, double now)
{
	if (!t->touch_hist)
		t->touch_hist = xcalloc(TARGET_TOUCH_HISTORY, sizeof(*t->touch_hist));
	t->touch_hist[t->touch_pos] = now > 0 ? (uint32_t)now : 0;
	t->touch_pos = (t->touch_pos + 1) % TARGET_TOUCH_HISTORY;
	if (t->touch_n < TARGET_TOUCH_HISTORY)
		t->touch_n++;
}

uint32_t target_touch_at(const struct target *t, unsigned i)
{
	unsigned start = (t->touch_pos + TARGET_TOUCH_HISTORY - t->touch_n) % TARGET_TOUCH_HISTORY;

	return t->touch_hist[(start + i) % TARGET_TOUCH_HISTORY];
}

struct target_version *target_version_enter(struct target *t, const struct tmpl *tm, double now)
{
	struct target_version *v;

	if (t->nversions && strcmp(t->versions[0].version, tm->version) == 0)
		return &t->versions[0];
	target_versions_reserve(t, t->nversions + 1);
	if (t->nversions)
		t->versions[0].last_seen = now; /* retired now */
	if (t->nversions == TARGET_MAX_VERSIONS)
		t->nversions--; /* the oldest goes */
	memmove(&t->versions[1], &t->versions[0], t->nversions * sizeof(*t->versions));
	t->nversions++;
	v = &t->versions[0];
	memset(v, 0, sizeof(*v));
	text_copy(v->version, sizeof(v->version), tm->version);
	v->first_seen = v->last_seen = now;
	v->prefix_tokens = tm->prefix_tokens_est;
	return v;
}

void target_versions_reserve(struct target *t, unsigned n)
{
	unsigned cap = t->vcap ? t->vcap : 1;

	if (n > TARGET_MAX_VERSIONS)
		n = TARGET_MAX_VERSIONS;
	if (t->versions && t->vcap >= n)
		return;
	/* Grown as versions come, not 16 records up front: 1.7 KB a target. */
	while (cap < n)
		cap *= 2;
	if (cap > TARGET_MAX_VERSIONS)
		cap = TARGET_MAX_VERSIONS;
	t->versions = xreallocarray(t->versions, cap, sizeof(*t->versions));
	memset(t->versions + t->nversions, 0, (cap - t->nversions) * sizeof(*t->versions));
	t->vcap = cap;
}

struct target_version *target_version_current(struct target *t)
{
	return t->nversions ? &t->versions[0] : NULL;
}

void target_reset_version_state(struct target *t)
{
	t->last_refresh = 0;
	t->expires_at = 0;
	t->prefix_tokens = 0;
	t->has_result = false;
	t->fail_streak = 0;
	t->blocked = false;
}

bool target_out_of_rotation(const struct target *t)
{
	return t->group && t->vname && t->weight == 0 && t->rollout_holds == 0;
}

enum target_state target_state(const struct target *t, double now, bool paused_all)
{
	if (t->paused || paused_all)
		return TARGET_PAUSED;
	if (t->inflight)
		return TARGET_WARMING;
	if (target_out_of_rotation(t))
		return t->expires_at > now ? TARGET_WARM : TARGET_IDLE;
	if (t->blocked || t->fail_streak > 0 || t->prov->cred_failed || t->tmpl->unwarmable[0] ||
	    t->breaker.state != BREAKER_CLOSED)
		return TARGET_FAILING;
	if (t->expires_at > now)
		return TARGET_WARM;
	if (t->idle_limit_s > 0 && now - t->last_touch >= t->idle_limit_s)
		return TARGET_IDLE;
	return TARGET_COLD;
}

const char *target_state_name(enum target_state s)
{
	static const char *const names[] = {
		"warm", "cold", "warming", "paused", "failing", "idle"
	};
	return names[s];
}

json_object *target_status_json(const struct target *t, double now, bool paused_all)
{
	json_object *o = json_object_new_object();

	jsonx_add_str(o, "name", t->name);
	jsonx_add_str(o, "provider", t->prov->name);
	jsonx_add_str(o, "model", t->tmpl->model);
	jsonx_add_str(o, "policy", policy_name(t->policy));
	jsonx_add_str(o, "state", target_state_name(target_state(t, now, paused_all)));
	jsonx_add_str(o, "version", t->tmpl->short_version);
	jsonx_add_double(o, "ttl_s", t->ttl_s);
	jsonx_add_int(o, "prefix_tokens",
	              t->prefix_tokens ? t->prefix_tokens : t->tmpl->prefix_tokens_est);
	jsonx_add_time(o, "last_refresh", t->last_refresh);
	jsonx_add_time(o, "expires_at", t->expires_at);
	jsonx_add_time(o, "next_warm_at", t->next_warm_at);
	jsonx_add_str(o, "reason", t->reason);
	jsonx_add_int(o, "warms", (int64_t)t->warms);
	jsonx_add_int(o, "hits", (int64_t)t->hits);
	jsonx_add_int(o, "writes", (int64_t)t->writes);
	jsonx_add_int(o, "errors", (int64_t)t->errors);
	jsonx_add_int(o, "touches", (int64_t)t->touches);
	jsonx_add_str(o, "last_error", t->last_error[0] ? t->last_error : NULL);
	jsonx_add_str(o, "breaker", breaker_state_name(t->breaker.state));
	if (t->group) {
		jsonx_add_str(o, "group", t->group);
		jsonx_add_str(o, "version_name", t->vname);
		if (t->vname)
			jsonx_add_int(o, "weight", t->weight);
		else
			jsonx_add_time(o, "retire_at", t->retire_at);
	}
	/* Without a price for the model, money is unknown: null, never a made-up zero. */
	if (t->tmpl->managed) /* what applications name as cachedContent */
		jsonx_add_str(o, "cache_name",
		              t->leader && !t->cache_name ? t->leader->cache_name : t->cache_name);
	if (t->price) {
		jsonx_add_usd(o, "cost_usd", t->cost_pico);
		jsonx_add_usd(o, "saved_usd", t->saved_pico);
	} else {
		jsonx_add_str(o, "cost_usd", NULL);
		jsonx_add_str(o, "saved_usd", NULL);
	}
	return o;
}

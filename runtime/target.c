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
	if (t->session) {
		free(t->session->body);
		free(t->session->model);
		free(t->session->deployment);
		free(t->session);
	} else {
		free(t->gaps);
	}
	free(t->config_differs);
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

void target_status_write(const struct target *t, double now, bool paused_all, struct buf *out)
{
	struct jsonx_obj w;

	jsonx_obj_open(&w, out);
	jsonx_put_str(&w, "name", t->name);
	jsonx_put_str(&w, "provider", t->prov->name);
	jsonx_put_str(&w, "model", t->tmpl->model);
	jsonx_put_str(&w, "policy", policy_name(t->policy));
	jsonx_put_str(&w, "state", target_state_name(target_state(t, now, paused_all)));
	jsonx_put_str(&w, "version", t->tmpl->short_version);
	jsonx_put_double(&w, "ttl_s", t->ttl_s);
	jsonx_put_int(&w, "prefix_tokens",
	              t->prefix_tokens ? t->prefix_tokens : t->tmpl->prefix_tokens_est);
	jsonx_put_time(&w, "last_refresh", t->last_refresh);
	jsonx_put_time(&w, "expires_at", t->expires_at);
	jsonx_put_time(&w, "next_warm_at", t->next_warm_at);
	jsonx_put_str(&w, "reason", t->reason);
	jsonx_put_int(&w, "warms", (int64_t)t->warms);
	jsonx_put_int(&w, "hits", (int64_t)t->hits);
	jsonx_put_int(&w, "writes", (int64_t)t->writes);
	jsonx_put_int(&w, "errors", (int64_t)t->errors);
	jsonx_put_int(&w, "touches", (int64_t)t->touches);
	jsonx_put_str(&w, "last_error", t->last_error[0] ? t->last_error : NULL);
	jsonx_put_str(&w, "breaker", breaker_state_name(t->breaker.state));
	jsonx_put_str(&w, "owner", t->owner);
	if (t->config_differs)
		jsonx_put_str_list(&w, "config_differs", t->config_differs);
	if (t->group) {
		jsonx_put_str(&w, "group", t->group);
		jsonx_put_str(&w, "version_name", t->vname);
		if (t->vname)
			jsonx_put_int(&w, "weight", t->weight);
		else
			jsonx_put_time(&w, "retire_at", t->retire_at);
	}
	jsonx_put_bool(&w, "session", t->session != NULL);
	if (t->session) {
		jsonx_put_time(&w, "keep_until", t->session->keep_until);
		jsonx_put_double(&w, "keep_for_s", t->session->for_s);
	}
	if (t->tmpl->managed) /* what applications name as cachedContent */
		jsonx_put_str(&w, "cache_name",
		              t->leader && !t->cache_name ? t->leader->cache_name : t->cache_name);
	/* Without a price for the model, money is unknown: null, never a made-up zero. */
	if (t->price) {
		jsonx_put_usd(&w, "cost_usd", t->cost_pico);
		jsonx_put_usd(&w, "saved_usd", t->saved_pico);
	} else {
		jsonx_put_str(&w, "cost_usd", NULL);
		jsonx_put_str(&w, "saved_usd", NULL);
	}
	jsonx_obj_close(&w);
}

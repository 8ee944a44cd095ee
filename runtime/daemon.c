/* daemon: the running state of warmd and the one way it changes. */
#include "daemon.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters.h"
#include "audit.h"
#include "credentials.h"
#include "duration.h"
#include "jsonx.h"
#include "lanes.h"
#include "log.h"
#include "managed_cache.h"
#include "notify.h"
#include "pricing.h"
#include "session.h"
#include "share.h"
#include "touch_report.h"
#include "version.h"
#include "xalloc.h"

/* The STATUS= line may have changed: refresh it now. */
static void tell_status(struct daemon *d)
{
	if (d->ops.status)
		d->ops.status(d->ops_data, true);
}

void daemon_changed(struct daemon *d)
{
	tell_status(d);
	if (d->ops.changed)
		d->ops.changed(d->ops_data);
}

/* What a template says about its target that the config did not: the cache
 * TTL of its last breakpoint, and whether its prefix can be cached at all. */
static void check_template(struct diags *d, struct cfg_target *t, const struct tmpl *tm)
{
	char a[32], b[32];

	if (tm->unwarmable[0])
		diags_add(d, DIAG_WARNING, t->file, t->request_file_line,
		          "target \"%s\" cannot be warmed minimally: %s", t->name, tm->unwarmable);
	if (tm->ttl_s > 0 && !t->ttl_set)
		t->ttl_s = tm->ttl_s; /* cache_control.ttl decides */
	else if (tm->ttl_s > 0 && t->ttl_s != tm->ttl_s)
		diags_add(d, DIAG_WARNING, t->file, t->line,
		          "target \"%s\": ttl %s differs from the template's cache ttl %s; "
		          "warms follow the config",
		          t->name, duration_format(t->ttl_s, a, sizeof(a)),
		          duration_format(tm->ttl_s, b, sizeof(b)));
	if (tm->min_cacheable > 0 && tm->prefix_tokens_est < tm->min_cacheable)
		diags_add(
		        d, DIAG_WARNING, t->file, t->request_file_line,
		        "target \"%s\": the cached prefix is about %ld tokens, below %s's minimum "
		        "of %ld: the provider will not cache it",
		        t->name, tm->prefix_tokens_est, tm->model ? tm->model : "the model",
		        tm->min_cacheable);
}

/* The price table, with warmd.conf's own entries over it. */
static void stage_pricing(const struct config *cfg, struct diags *d, struct pricing **ret)
{
	const char *path = cfg->daemon.pricing_file;
	struct pricing *p = NULL;

	*ret = NULL;
	if (path && access(path, F_OK) < 0 && !cfg->daemon.pricing_file_set) {
		if (!cfg->price_overrides)
			diags_add(d, DIAG_WARNING, path, 0,
			          "no price table here: cost_usd and saved_usd stay unknown (set "
			          "daemon.pricing_file, or pricing_file = \"\" to silence this)");
	} else if (path && pricing_load(path, d, &p) < 0) {
		return;
	}
	if (cfg->price_overrides) {
		if (!p)
			p = xcalloc(1, sizeof(*p));
		pricing_add_all(p, cfg->price_overrides);
	}
	*ret = p;
}

static int stage(const char *path, bool keys, struct diags *d, struct staging **ret);

int daemon_stage(const char *path, struct diags *d, struct staging **ret)
{
	return stage(path, true, d, ret);
}

int daemon_stage_offline(const char *path, struct diags *d, struct staging **ret)
{
	return stage(path, false, d, ret);
}

static int stage(const char *path, bool keys, struct diags *d, struct staging **ret)
{
	struct staging *st;
	struct config *cfg;
	struct errmsg e;

	if (config_load(path, d, &cfg) < 0)
		return -EINVAL;
	st = xcalloc(1, sizeof(*st));
	st->cfg = cfg;
	st->creds = xcalloc(cfg->nproviders + 1, sizeof(*st->creds));
	st->tmpls = xcalloc(cfg->ntargets + 1, sizeof(*st->tmpls));
	stage_pricing(cfg, d, &st->pricing);
	for (size_t i = 0; i < cfg->nproviders; i++) {
		const struct cfg_provider *p = &cfg->providers[i];
		if (keys && cred_load(p, adapter_ops_for(p->kind), &st->creds[i], &e) < 0)
			diags_add(d, DIAG_ERROR, p->file, p->key_line, "provider \"%s\": %s",
			          p->name, e.text);
		else if (st->creds[i] && st->creds[i]->warning[0])
			diags_add(d, DIAG_WARNING, p->file, p->key_line, "provider \"%s\": %s",
			          p->name, st->creds[i]->warning);
	}
	for (size_t i = 0; i < cfg->ntargets; i++) {
		const struct cfg_target *t = &cfg->targets[i];
		const struct cfg_provider *p = &cfg->providers[t->provider_index];
		if (template_load(t, p, &st->tmpls[i], &e) < 0) {
			diags_add(d, DIAG_ERROR, t->file, t->request_file_line, "target \"%s\": %s",
			          t->name, e.text);
			continue;
		}
		check_template(d, &cfg->targets[i], st->tmpls[i]);
	}
	if (d->errors) {
		staging_free(st);
		return -EINVAL;
	}
	*ret = st;
	return 0;
}

void staging_free(struct staging *st)
{
	if (!st)
		return;
	for (size_t i = 0; st->cfg && i < st->cfg->nproviders; i++)
		cred_unref(st->creds[i]);
	for (size_t i = 0; st->cfg && i < st->cfg->ntargets; i++)
		tmpl_unref(st->tmpls[i]);
	free(st->creds);
	free(st->tmpls);
	pricing_free(st->pricing);
	config_free(st->cfg);
	free(st);
}

/* sched_ops.retire: the overlap of replaced version t is over. */
/* sched_ops.fire: a cache warmd manages is created or renewed by name,
 * any other target warmed by its request. */
static int fire_cb(void *warm_env, struct target *t)
{
	return t->tmpl->managed ? managed_cache_fire(warm_env, t) : warm_fire(warm_env, t);
}

static void retire_cb(void *warm_env, struct target *t)
{
	struct daemon *d = (struct daemon *)((char *)warm_env - offsetof(struct daemon, warm));
	char a[32];

	if (t->session) { /* its keep_until has come */
		sessions_expired(d->set.sessions, t);
		return;
	}
	log_info("%s: replaced version %s of %s retired: no touch named it for %s", t->name,
	         t->tmpl->short_version, t->group, duration_format(t->overlap_s, a, sizeof(a)));
	daemon_drop_target(d, t);
}

/* session_host.add: a new session joins the running set, in name order. */
static void add_session_cb(void *data, struct target *t)
{
	struct daemon *d = data;
	size_t lo = 0, hi = d->set.ntargets;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(d->set.targets[mid]->name, t->name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	d->set.targets =
	        xreallocarray(d->set.targets, d->set.ntargets + 2, sizeof(*d->set.targets));
	memmove(&d->set.targets[lo + 1], &d->set.targets[lo],
	        (d->set.ntargets - lo) * sizeof(*d->set.targets));
	d->set.targets[lo] = t;
	d->set.ntargets++;
	t->price = pricing_find_for(d->pricing, provider_kind_name(t->prov->kind), t->prov->region,
	                            t->tmpl->model);
	share_link(d->set.targets, d->set.ntargets);
	sched_plan(d->set.sched, t);
	/* Another session of the same entry may follow it, or extend it. */
	for (size_t k = 0; k < t->nfollowers; k++)
		sched_plan(d->set.sched, t->followers[k]);
	for (size_t k = 0; k < t->nextended_by; k++)
		sched_plan(d->set.sched, t->extended_by[k]);
	sched_rearm(d->set.sched);
	daemon_changed(d);
}

/* session_host.remove */
static void remove_session_cb(void *data, struct target *t)
{
	daemon_drop_target(data, t);
}

/* session_host.changed */
static void session_changed_cb(void *data)
{
	struct daemon *d = data;

	if (d->ops.changed)
		d->ops.changed(d->ops_data);
}

static void init_sessions(struct daemon *d)
{
	const struct session_host host = { .add = add_session_cb,
		                           .remove = remove_session_cb,
		                           .changed = session_changed_cb,
		                           .data = d };

	d->set.sessions = sessions_new(&d->set, &host);
}

/* warm_env.observe: a warm completed and the scheduler has its outcome. */
static void warm_done_cb(void *data, struct target *t)
{
	struct daemon *d = data;

	if (d->ops.warm_done)
		d->ops.warm_done(d->ops_data, t);
}

int daemon_init(struct daemon *d, uv_loop_t *loop, const char *config_path,
                const struct daemon_ops *ops, void *ops_data)
{
	static const struct sched_ops sched_ops = { .fire = fire_cb, .retire = retire_cb };
	char ua[64];
	int r;

	memset(d, 0, sizeof(*d));
	d->loop = loop;
	if (ops)
		d->ops = *ops;
	d->ops_data = ops_data;
	/* Absolute, so reloads and status do not depend on the working directory. */
	d->set.config_path = realpath(config_path, NULL);
	if (!d->set.config_path)
		d->set.config_path = xstrdup(config_path);
	d->set.clk = clock_live_new(loop);
	snprintf(ua, sizeof(ua), "warmd/%s", WARMD_VERSION);
	r = http_new(loop, ua, &d->http);
	if (r < 0)
		return r;
	d->warm.http = d->http;
	d->warm.clk = d->set.clk;
	d->warm.observe = warm_done_cb;
	d->warm.observe_data = d;
	d->set.sched = sched_new(d->set.clk, &sched_ops, &d->warm,
	                         (uint64_t)getpid() ^ (uint64_t)time(NULL));
	d->warm.sched = d->set.sched;
	d->set.started_at = clock_now(d->set.clk);
	init_sessions(d);
	return 0;
}

void daemon_init_offline(struct daemon *d, struct clock *clk, const struct sched_ops *ops,
                         void *ops_data, uint64_t seed)
{
	memset(d, 0, sizeof(*d));
	d->set.clk = clk;
	d->set.sched = sched_new(clk, ops, ops_data, seed);
	d->set.started_at = clock_now(clk);
	init_sessions(d);
}

void reload_report_init(struct reload_report *rep)
{
	rep->added = json_object_new_array();
	rep->removed = json_object_new_array();
	rep->changed = json_object_new_array();
	rep->warnings = json_object_new_array();
	rep->unchanged = 0;
}

void reload_report_free(struct reload_report *rep)
{
	json_object_put(rep->added);
	json_object_put(rep->removed);
	json_object_put(rep->changed);
	json_object_put(rep->warnings);
	memset(rep, 0, sizeof(*rep));
}

static struct provider *find_provider(struct provider **v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->name, name) == 0)
			return v[i];
	return NULL;
}

/* Takes t out of every queue and cancels its warm in flight, if any. */
static void abort_warm(struct daemon *d, struct target *t)
{
	sched_remove(d->set.sched, t);
	if (t->inflight) {
		struct sched_outcome stale = { .result = WARM_ERROR,
			                       .stale = true,
			                       .latency_s = -1 };
		sched_done(d->set.sched, t, &stale);
		warm_cancel(t);
	}
}

/* Takes t out of service for good: its in-flight warm is cancelled. */
static void retire_target(struct daemon *d, struct target *t)
{
	t->removed = true;
	abort_warm(d, t);
	managed_cache_drop(&d->warm, t); /* a cache nobody keeps any more */
	share_unlink(t);
	target_unref(t);
}

void daemon_drop_target(struct daemon *d, struct target *t)
{
	size_t i = 0, nf = t->nfollowers + t->nextended_by;
	struct target **linked;

	while (i < d->set.ntargets && d->set.targets[i] != t)
		i++;
	if (i == d->set.ntargets)
		return;
	linked = xcalloc(nf, sizeof(*linked));
	/* Whoever shared its entry or waited for it plans again without it. */
	for (size_t k = 0; k < t->nfollowers; k++)
		linked[k] = target_ref(t->followers[k]);
	for (size_t k = 0; k < t->nextended_by; k++)
		linked[t->nfollowers + k] = target_ref(t->extended_by[k]);
	memmove(&d->set.targets[i], &d->set.targets[i + 1],
	        (d->set.ntargets - i - 1) * sizeof(*d->set.targets));
	d->set.ntargets--;
	retire_target(d, t);
	share_link(d->set.targets, d->set.ntargets);
	for (size_t k = 0; k < nf; k++) {
		if (!linked[k]->removed && !linked[k]->inflight && !linked[k]->queued)
			sched_plan(d->set.sched, linked[k]);
		target_unref(linked[k]);
	}
	free(linked);
	sched_rearm(d->set.sched);
	daemon_changed(d);
}

/* ---- daemon_apply and its phases ---------------------------------------------------- */

/* One application of a staged configuration: the new lists as they are built. */
struct apply {
	struct daemon *d;
	struct staging *st;        /* consumed: its parts move into d */
	struct config *cfg;        /* st's configuration */
	struct reload_report *rep; /* or NULL */
	double now;
	bool first;              /* start-up: nothing ran before */
	struct provider **provs; /* one per cfg provider */
	struct target **targets; /* one per cfg target, then the lanes kept */
	size_t ntargets;
	struct target **kept; /* version lanes that stay: replaced versions in their overlap */
	size_t nkept;
};

static void report_name(json_object *names, const char *name)
{
	json_object_array_add(names, json_object_new_string(name));
}

static void keep_lane(struct apply *a, struct target *lane)
{
	a->kept = xreallocarray(a->kept, a->nkept + 1, sizeof(*a->kept));
	a->kept[a->nkept++] = lane;
}

/* A credential that fetches tokens starts once it serves a running
 * provider, with that provider's limits; prev is the one it replaces. */
static void start_cred(struct daemon *d, struct provider *p, struct cred *prev)
{
	struct cred_runtime rt = { .loop = d->loop,
		                   .http = d->http,
		                   .provider = p->name,
		                   .connect_timeout_ms = p->connect_timeout_ms,
		                   .timeout_ms = p->timeout_ms,
		                   .ca_file = p->ca_file,
		                   .proxy = p->proxy };

	cred_start(p->cred, prev, &rt);
}

/* Providers: one of the same name keeps its object (its breaker, queue and
 * counters) and takes the new limits and key; a new key clears a rejected
 * one. */
static void swap_providers(struct apply *a)
{
	struct daemon *d = a->d;

	a->provs = xcalloc(a->cfg->nproviders + 1, sizeof(*a->provs));
	for (size_t i = 0; i < a->cfg->nproviders; i++) {
		const struct cfg_provider *c = &a->cfg->providers[i];
		struct provider *p = find_provider(d->set.provs, d->set.nprovs, c->name);
		struct cred *prev = NULL;
		if (p) {
			provider_ref(p);
			provider_apply_config(p, c);
			if (p->cred_failed && !cred_same_key(p->cred, a->st->creds[i])) {
				p->cred_failed = false;
				log_notice("provider %s: new API key, retrying its targets",
				           p->name);
			}
			prev = p->cred;
		} else {
			p = provider_new(c);
		}
		p->cred = a->st->creds[i];
		a->st->creds[i] = NULL;
		start_cred(d, p, prev);
		cred_unref(prev);
		a->provs[i] = p;
	}
}

/* The version t is leaving, as the audit will compare the next one with it. */
static void remember_fingerprint(struct target *t)
{
	if (!t->tmpl->body)
		return;
	if (!t->prev_fp)
		t->prev_fp = xmalloc(sizeof(*t->prev_fp));
	audit_fingerprint(t->tmpl->body, t->tmpl->body_len, t->prov->kind, t->prev_fp);
}

/* A target the running set does not have yet. */
static struct target *add_target(struct apply *a, const struct cfg_target *c, struct provider *p,
                                 struct tmpl *tm)
{
	struct target *t = target_new(c->name);

	t->prov = provider_ref(p);
	t->tmpl = tm;
	t->overlap_s = c->overlap_s;
	if (a->rep)
		report_name(a->rep->added, t->name);
	if (!a->first)
		log_info("%s: new target (provider %s, version %s)", t->name, p->name,
		         tm->short_version);
	return t;
}

/* A target the running set has: the object and its counters stay; the
 * provider and template are swapped, and a version it leaves is kept warm
 * as a lane for the overlap (lanes.h). */
static struct target *update_target(struct apply *a, struct target *t, const struct cfg_target *c,
                                    struct provider *p, struct tmpl *tm)
{
	bool same_version = strcmp(t->tmpl->version, tm->version) == 0 &&
	                    strcmp(t->tmpl->url, tm->url) == 0 && t->prov == p;
	bool changed = !same_version || t->ttl_s != c->ttl_s || t->policy != c->policy ||
	               t->priority != c->priority;
	bool same_provider = t->prov == p;
	struct target *lane;

	target_ref(t);
	sched_remove(a->d->set.sched, t);
	/* "Fix it and reload": a reload is the operator's go-ahead. */
	t->blocked = false;
	if (!same_version && !same_provider)
		managed_cache_drop(&a->d->warm, t); /* deleted with its own provider's key */
	if (t->prov != p) {
		provider_unref(t->prov);
		t->prov = provider_ref(p);
	}
	t->overlap_s = c->overlap_s; /* what a replaced version is kept for */
	if (!same_version) {
		remember_fingerprint(t);
		/* The old template is built for its provider's URL: kept warm
		 * with another provider's key, it would send that key there. */
		if (same_provider && (lane = lanes_keep_replaced(&a->d->set, t, t->tmpl)))
			keep_lane(a, lane);
		managed_cache_drop(&a->d->warm, t); /* the old version's, when no lane took it */
	}
	tmpl_unref(t->tmpl);
	t->tmpl = tm;
	if (!same_version) {
		target_reset_version_state(t);
		log_info("%s: new version %s, warming it", t->name, tm->short_version);
	}
	if (a->rep && changed)
		report_name(a->rep->changed, t->name);
	else if (a->rep)
		a->rep->unchanged++;
	return t;
}

/* What the configuration says of t (c), over what t had. */
static void take_settings(struct target *t, const struct cfg_target *c, bool fresh, double now)
{
	target_version_enter(t, t->tmpl, now);
	free(t->group);
	free(t->vname);
	t->group = xstrdup_or_null(c->group);
	t->vname = xstrdup_or_null(c->vname);
	if (c->group)
		lanes_config_weight(t, c, fresh);
	free(t->cache_key);
	t->cache_key = xstrdup_or_null(c->cache_key);
	t->ttl_s = c->ttl_s;
	t->policy = c->policy;
	t->priority = c->priority;
	t->idle_limit_s = c->idle_limit_s;
	free(t->windows);
	t->windows = NULL;
	t->nwindows = 0;
	if (c->nwindows) {
		t->windows = xreallocarray(NULL, c->nwindows, sizeof(*t->windows));
		memcpy(t->windows, c->windows, c->nwindows * sizeof(*t->windows));
		t->nwindows = c->nwindows;
	}
	if (t->policy == POLICY_ADAPTIVE && !t->gaps)
		t->gaps = xcalloc(1, sizeof(*t->gaps));
	if (t->last_touch <= 0)
		t->last_touch = now; /* idle_limit counts from here */
	if (t->expires_at > 0)
		t->expires_at = t->last_refresh + t->ttl_s;
}

/* warmd.conf now has a target named as session t: the configuration wins.
 * t leaves with the old list (retire_targets() drops the set's reference). */
static void end_session_for_target(struct apply *a, struct target *t)
{
	sessions_forget(a->d->set.sessions, t, SESSION_END_TARGET,
	                "warmd.conf now has a target of that name");
	t->removed = true;
	abort_warm(a->d, t);
	share_unlink(t);
}

/* A session lives on across a reload, on its provider's new settings, or
 * ends (logged and counted). */
static bool keep_session(struct apply *a, struct target *t)
{
	enum session_end why;
	char detail[400];

	if (sessions_rebind(a->d->set.sessions, t, a->provs, a->cfg, &why, detail, sizeof(detail)) <
	    0) {
		sessions_forget(a->d->set.sessions, t, why, detail);
		return false;
	}
	keep_lane(a, t); /* the reference moves along */
	return true;
}

/* Targets, matched by name: the new list, in the set's order. */
static void diff_targets(struct apply *a)
{
	a->targets = xcalloc(a->cfg->ntargets + 1, sizeof(*a->targets));
	a->ntargets = a->cfg->ntargets;
	for (size_t i = 0; i < a->cfg->ntargets; i++) {
		const struct cfg_target *c = &a->cfg->targets[i];
		struct provider *p = a->provs[c->provider_index];
		struct tmpl *tm = a->st->tmpls[i];
		struct target *t = target_set_find(&a->d->set, c->name);
		bool fresh;

		if (t && t->session) {
			end_session_for_target(a, t);
			t = NULL;
		}
		fresh = !t;
		a->st->tmpls[i] = NULL; /* the target takes it */
		t = fresh ? add_target(a, c, p, tm) : update_target(a, t, c, p, tm);
		take_settings(t, c, fresh, a->now);
		a->targets[i] = t;
	}
	target_set_sort(a->targets, a->ntargets);
}

/* What the new list does not hold is gone, but for replaced versions still
 * in their overlap. */
static void retire_targets(struct apply *a)
{
	struct target_set next = { .targets = a->targets, .ntargets = a->ntargets };
	struct daemon *d = a->d;

	for (size_t i = 0; i < d->set.ntargets; i++) {
		struct target *t = d->set.targets[i];
		if (target_set_find(&next, t->name)) {
			target_unref(t); /* the new list holds its own reference */
		} else if (t->session) {
			if (!keep_session(a, t))
				retire_target(d, t);
		} else if (t->retiring && lanes_keep(t, target_set_find(&next, t->group), a->now)) {
			keep_lane(a, t); /* the reference moves along */
		} else {
			if (a->rep)
				report_name(a->rep->removed, t->name);
			log_info("%s: target removed", t->name);
			retire_target(d, t);
		}
	}
}

/* The new lists replace the old ones; a provider the configuration no
 * longer has is marked removed (warms in flight still hold it). */
static void install_lists(struct apply *a)
{
	struct daemon *d = a->d;

	for (size_t i = 0; i < d->set.nprovs; i++) {
		if (!find_provider(a->provs, a->cfg->nproviders, d->set.provs[i]->name))
			d->set.provs[i]->removed = true;
		provider_unref(d->set.provs[i]);
	}
	free(d->set.provs);
	free(d->set.targets);
	if (a->nkept) {
		a->targets =
		        xreallocarray(a->targets, a->ntargets + a->nkept + 1, sizeof(*a->targets));
		memcpy(a->targets + a->ntargets, a->kept, a->nkept * sizeof(*a->kept));
		a->ntargets += a->nkept;
		target_set_sort(a->targets, a->ntargets);
	}
	free(a->kept);
	d->set.provs = a->provs;
	d->set.nprovs = a->cfg->nproviders;
	d->set.targets = a->targets;
	d->set.ntargets = a->ntargets;
}

/* Settings that only a restart applies: a warning each when they changed;
 * cfg keeps the sockets that old bound, as they are the ones in use. */
static void keep_restart_only(struct config *old, struct config *cfg)
{
	static const struct {
		const char *key;
		size_t off;
	} restart_only[] = {
		{ "control_socket", offsetof(struct cfg_daemon, control_socket) },
		{ "touch_socket", offsetof(struct cfg_daemon, touch_socket) },
		{ "control_group", offsetof(struct cfg_daemon, control_group) },
		{ "state_file", offsetof(struct cfg_daemon, state_file) },
		{ "metrics_listen", offsetof(struct cfg_daemon, metrics_listen) },
		{ "metrics_textfile", offsetof(struct cfg_daemon, metrics_textfile) },
	};
	char *tmp;

	if (!old)
		return;
	for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
		const char *o = *(char **)(void *)((char *)&old->daemon + restart_only[i].off);
		const char *nv = *(char **)(void *)((char *)&cfg->daemon + restart_only[i].off);
		if (!o != !nv || (o && strcmp(o, nv) != 0))
			log_warning("%s changed to %s: takes effect at the next restart",
			            restart_only[i].key, nv ? nv : "(none)");
	}
	tmp = cfg->daemon.control_socket;
	cfg->daemon.control_socket = old->daemon.control_socket;
	old->daemon.control_socket = tmp;
	tmp = cfg->daemon.touch_socket;
	cfg->daemon.touch_socket = old->daemon.touch_socket;
	old->daemon.touch_socket = tmp;
}

/* The configuration and the price table take over; st is used up. */
static void install_config(struct apply *a)
{
	struct daemon *d = a->d;

	config_free(d->set.cfg);
	d->set.cfg = a->cfg;
	a->st->cfg = NULL;
	pricing_free(d->pricing);
	d->pricing = a->st->pricing;
	a->st->pricing = NULL;
	for (size_t i = 0; i < d->set.ntargets; i++) {
		struct target *t = d->set.targets[i];
		t->price = pricing_find_for(d->pricing, provider_kind_name(t->prov->kind),
		                            t->prov->region, t->tmpl->model);
	}
	staging_free(a->st);
	log_set_level(a->cfg->daemon.log_level);
	sched_set_max_inflight(d->set.sched, a->cfg->daemon.max_inflight);
	sessions_configure(d->set.sessions, &a->cfg->daemon);
	sched_set_providers(d->set.sched, d->set.provs, d->set.nprovs);
}

/* Shared prefixes, then every target planned: shorter prefixes first, so a
 * target that extends one sees its warm coming. */
static void replan(struct daemon *d)
{
	share_link(d->set.targets, d->set.ntargets);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < d->set.ntargets; i++)
			if (!d->set.targets[i]->extends == !pass)
				sched_plan(d->set.sched, d->set.targets[i]);
	sched_rearm(d->set.sched);
}

void daemon_apply(struct daemon *d, struct staging *st, struct reload_report *rep)
{
	struct apply a = { .d = d,
		           .st = st,
		           .cfg = st->cfg,
		           .rep = rep,
		           .now = clock_now(d->set.clk),
		           .first = !d->set.cfg };

	if (d->ops.reloading)
		d->ops.reloading(d->ops_data);
	swap_providers(&a);
	diff_targets(&a);
	retire_targets(&a);
	install_lists(&a);
	keep_restart_only(d->set.cfg, a.cfg);
	install_config(&a);
	replan(d);
	d->set.config_loaded_at = clock_now(d->set.clk);
	if (d->ops.applied)
		d->ops.applied(d->ops_data);
	daemon_changed(d);
}

int daemon_reload(struct daemon *d, struct diags *diags, struct reload_report *rep)
{
	struct staging *st;
	char first[1400];

	notify_reloading();
	log_info("reloading %s", d->set.config_path);
	if (daemon_stage(d->set.config_path, diags, &st) < 0) {
		diags_first_error(diags, first, sizeof(first));
		d->set.reloads_failed++;
		log_error("reload rejected, still running the previous configuration: %s%s", first,
		          diags->errors > 1 ? " (and more; see warmd --check-config)" : "");
		notify_ready();
		tell_status(d);
		return -EINVAL;
	}
	for (size_t i = 0; i < diags->n; i++) { /* SIGHUP (no rep) logs them too */
		char line[1400];
		diag_format(&diags->v[i], line, sizeof(line));
		if (rep)
			json_object_array_add(rep->warnings, json_object_new_string(line));
		log_warning("%s", line);
	}
	daemon_apply(d, st, rep);
	d->set.reloads_ok++;
	log_info("configuration reloaded: %zu targets, %zu providers", d->set.ntargets,
	         d->set.nprovs);
	notify_ready();
	return 0;
}

void daemon_pause_all(struct daemon *d, bool paused)
{
	d->set.paused_all = paused;
	sched_pause_all(d->set.sched, paused);
	for (size_t i = 0; i < d->set.ntargets; i++) {
		if (!paused)
			d->set.targets[i]->paused = false;
		sched_plan(d->set.sched, d->set.targets[i]);
	}
	sched_rearm(d->set.sched);
	daemon_changed(d);
}

void daemon_pause_target(struct daemon *d, struct target *t, bool paused)
{
	t->paused = paused;
	if (paused)
		sched_remove(d->set.sched, t);
	else {
		t->blocked = false;
		t->fail_streak = 0;
	}
	sched_plan(d->set.sched, t);
	sched_rearm(d->set.sched);
	daemon_changed(d);
}

/* A real request found the cache warm. Was that our doing? Only if a warm
 * made the last refresh and, without warms, the cache would have expired
 * since the previous real request: then the request read instead of paying
 * to write (or, on OpenAI, to send the prefix as plain input). */
static void credit_saving(struct daemon *d, struct target *t, const struct touch_report *rep)
{
	double now = clock_now(d->set.clk);
	int64_t tokens = rep->cached > 0 ? rep->cached : t->prefix_tokens;

	if (!t->price || rep->result == PROTO_TOUCH_MISS || !t->refreshed_by_warm ||
	    t->expires_at <= now || tokens <= 0)
		return;
	if (t->last_traffic > 0 && now - t->last_traffic <= t->ttl_s)
		return; /* the traffic alone would have kept it warm */
	if (pricing_add(&t->saved_pico, pricing_saving(t->price, tokens, t->ttl_s)))
		log_warning("%s: saved_usd reached $%.0f and stays there", t->name,
		            pricing_usd(PRICING_MAX_PICO));
}

int daemon_touch(struct daemon *d, const struct touch_report *rep)
{
	struct target *t = target_set_find(&d->set, rep->target);
	size_t first;

	if (!t && target_set_lanes(&d->set, rep->target, &first) > 0) {
		char why[300];
		snprintf(why, sizeof(why),
		         "touch for \"%s\", which has named versions: say which one, as %s",
		         rep->target, d->set.targets[first]->name);
		daemon_touch_rejected(d, why);
		return -EISDIR;
	}
	if (!t) {
		char why[200];
		snprintf(why, sizeof(why), "touch for unknown target \"%s\"", rep->target);
		daemon_touch_rejected(d, why);
		return -ENOENT;
	}
	lanes_touched(t, clock_now(d->set.clk));
	sessions_touched(d->set.sessions, t, clock_now(d->set.clk));
	credit_saving(d, t, rep);
	t->touches++;
	if (rep->result == PROTO_TOUCH_HIT)
		t->touch_hits++;
	else if (rep->result == PROTO_TOUCH_MISS)
		t->touch_misses++;
	if (rep->cached > 0)
		t->prefix_tokens = (long)rep->cached;
	sched_touch(d->set.sched, t);
	target_version_current(t)->last_seen = t->last_touch;
	if (d->ops.changed)
		d->ops.changed(d->ops_data);
	log_debug("%s: touched (%s), next warm %s", t->name,
	          rep->result == PROTO_TOUCH_HIT    ? "hit"
	          : rep->result == PROTO_TOUCH_MISS ? "miss"
	                                            : "no result",
	          t->reason);
	return 0;
}

void daemon_touch_rejected(struct daemon *d, const char *why)
{
	double now = clock_now(d->set.clk);

	d->set.touches_dropped++;
	/* A misbehaving client must not flood the log. */
	if (now - d->touch_drop_logged_at >= 10) {
		log_warning("dropped a touch datagram: %s (%llu dropped so far)", why,
		            (unsigned long long)d->set.touches_dropped);
		d->touch_drop_logged_at = now;
	}
}

void daemon_cancel_all(struct daemon *d)
{
	sched_pause_all(d->set.sched, true);
	for (size_t i = 0; i < d->set.ntargets; i++)
		abort_warm(d, d->set.targets[i]);
	managed_cache_cancel_all();
}

void daemon_fini(struct daemon *d)
{
	for (size_t i = 0; i < d->set.ntargets; i++) {
		sched_remove(d->set.sched, d->set.targets[i]);
		target_unref(d->set.targets[i]);
	}
	for (size_t i = 0; i < d->set.nprovs; i++)
		provider_unref(d->set.provs[i]);
	free(d->set.targets);
	free(d->set.provs);
	d->set.targets = NULL;
	d->set.provs = NULL;
	d->set.ntargets = d->set.nprovs = 0;
	sessions_free(d->set.sessions); /* after its targets: they use its groups */
	d->set.sessions = NULL;
	sched_free(d->set.sched);
	d->set.sched = NULL;
	http_close(d->http);
	d->http = NULL;
	if (d->loop) /* else the clock is the caller's (daemon_init_offline) */
		clock_live_close(d->set.clk);
	d->set.clk = NULL;
	config_free(d->set.cfg);
	d->set.cfg = NULL;
	pricing_free(d->pricing);
	d->pricing = NULL;
	free(d->set.config_path);
	d->set.config_path = NULL;
}

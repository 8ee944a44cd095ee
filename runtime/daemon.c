/* daemon: the running state of warmd and the one way it changes. */
#include "daemon.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "duration.h"
#include "jsonx.h"
#include "log.h"
#include "notify.h"
#include "pricing.h"
#include "probe.h"
#include "rollout.h"
#include "share.h"
#include "state.h"
#include "touch.h"
#include "version.h"

#define STATUS_EVERY_S 5.0

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
		          "target \"%s\": ttl %s differs from the template's cache_control ttl %s; "
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
		if (!p && !(p = calloc(1, sizeof(*p))))
			abort();
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
	st = calloc(1, sizeof(*st));
	if (!st)
		abort();
	st->cfg = cfg;
	st->creds = calloc(cfg->nproviders + 1, sizeof(*st->creds));
	st->tmpls = calloc(cfg->ntargets + 1, sizeof(*st->tmpls));
	if (!st->creds || !st->tmpls)
		abort();
	stage_pricing(cfg, d, &st->pricing);
	for (size_t i = 0; i < cfg->nproviders; i++) {
		const struct cfg_provider *p = &cfg->providers[i];
		if (keys && cred_load(p, provider_ops_for(p->kind), &st->creds[i], &e) < 0)
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

int daemon_init(struct daemon *d, uv_loop_t *loop, const char *config_path)
{
	static const struct sched_ops ops = { .fire = warm_fire, .retire = rollout_retire };
	char ua[64];
	int r;

	memset(d, 0, sizeof(*d));
	d->loop = loop;
	uv_timer_init(loop, &d->status_timer);
	d->status_timer.data = d;
	/* Absolute, so reloads and status do not depend on the working directory. */
	d->config_path = realpath(config_path, NULL);
	if (!d->config_path)
		d->config_path = strdup(config_path);
	d->clk = clock_live_new(loop);
	if (!d->config_path || !d->clk)
		return -ENOMEM;
	snprintf(ua, sizeof(ua), "warmd/%s", WARMD_VERSION);
	r = http_new(loop, ua, &d->http);
	if (r < 0)
		return r;
	d->warm.http = d->http;
	d->warm.clk = d->clk;
	d->sched = sched_new(d->clk, &ops, &d->warm, (uint64_t)getpid() ^ (uint64_t)time(NULL));
	if (!d->sched)
		return -ENOMEM;
	d->warm.sched = d->sched;
	d->started_at = clock_now(d->clk);
	d->route_rng = ((uint64_t)getpid() << 32 ^ (uint64_t)time(NULL)) | 1;
	return 0;
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

static int target_cmp(const void *a, const void *b)
{
	return strcmp((*(struct target *const *)a)->name, (*(struct target *const *)b)->name);
}

/* The slot of the target named name in the sorted v[0..n), or NULL. */
static struct target **find_slot(struct target **v, size_t n, const char *name)
{
	struct target key = { .name = (char *)(uintptr_t)name }, *kp = &key;

	if (n == 0 || !name)
		return NULL; /* bsearch() must not see a NULL array */
	return bsearch(&kp, v, n, sizeof(*v), target_cmp);
}

static struct target *find_target_in(struct target **v, size_t n, const char *name)
{
	struct target **hit = find_slot(v, n, name);

	return hit ? *hit : NULL;
}

struct target **daemon_find_slot(struct daemon *d, const char *name)
{
	return find_slot(d->targets, d->ntargets, name);
}

struct target *daemon_find_target(struct daemon *d, const char *name)
{
	struct target **hit = daemon_find_slot(d, name);

	return hit ? *hit : NULL;
}

/* Takes t out of every queue and cancels its warm in flight, if any. */
static void abort_warm(struct daemon *d, struct target *t)
{
	sched_remove(d->sched, t);
	if (t->inflight) {
		struct sched_outcome stale = { .result = WARM_ERROR,
			                       .stale = true,
			                       .latency_s = -1 };
		sched_done(d->sched, t, &stale);
		warm_cancel(t);
	}
}

/* Takes t out of service for good: its in-flight warm is cancelled. */
static void retire_target(struct daemon *d, struct target *t)
{
	t->removed = true;
	abort_warm(d, t);
	share_unlink(t);
	target_unref(t);
}

void daemon_drop_target(struct daemon *d, struct target *t)
{
	size_t i = 0, nf = t->nfollowers + t->nextended_by;
	struct target **linked = nf ? calloc(nf, sizeof(*linked)) : NULL;

	while (i < d->ntargets && d->targets[i] != t)
		i++;
	if (i == d->ntargets || (nf && !linked)) {
		free(linked);
		return;
	}
	/* Whoever shared its entry or waited for it plans again without it. */
	for (size_t k = 0; k < t->nfollowers; k++)
		linked[k] = target_ref(t->followers[k]);
	for (size_t k = 0; k < t->nextended_by; k++)
		linked[t->nfollowers + k] = target_ref(t->extended_by[k]);
	memmove(&d->targets[i], &d->targets[i + 1], (d->ntargets - i - 1) * sizeof(*d->targets));
	d->ntargets--;
	retire_target(d, t);
	share_link(d->targets, d->ntargets);
	for (size_t k = 0; k < nf; k++) {
		if (!linked[k]->removed && !linked[k]->inflight && !linked[k]->queued)
			sched_plan(d->sched, linked[k]);
		target_unref(linked[k]);
	}
	free(linked);
	sched_rearm(d->sched);
	daemon_update_status(d, true);
	state_changed(d->state);
}

static void apply_providers(struct daemon *d, struct staging *st, struct provider ***ret_provs)
{
	struct config *cfg = st->cfg;
	struct provider **provs = calloc(cfg->nproviders + 1, sizeof(*provs));

	if (!provs)
		abort();
	for (size_t i = 0; i < cfg->nproviders; i++) {
		const struct cfg_provider *c = &cfg->providers[i];
		struct provider *p = find_provider(d->provs, d->nprovs, c->name);
		if (p) {
			provider_ref(p);
			provider_apply_config(p, c);
			if (p->cred_failed && !cred_same_key(p->cred, st->creds[i])) {
				p->cred_failed = false;
				log_notice("provider %s: new API key, retrying its targets",
				           p->name);
			}
			cred_unref(p->cred);
		} else {
			p = provider_new(c);
			if (!p)
				abort();
		}
		p->cred = st->creds[i];
		st->creds[i] = NULL;
		provs[i] = p;
	}
	*ret_provs = provs;
}

/* The version t is leaving, as the audit will compare the next one with it. */
static void remember_fingerprint(struct target *t)
{
	if (!t->tmpl->body)
		return;
	if (!t->prev_fp && !(t->prev_fp = malloc(sizeof(*t->prev_fp))))
		abort();
	audit_fingerprint(t->tmpl->body, t->tmpl->body_len, t->prov->kind, t->prev_fp);
}

static void push_target(struct target ***v, size_t *n, struct target *t)
{
	struct target **nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (!nv)
		abort();
	nv[(*n)++] = t;
	*v = nv;
}

void daemon_apply(struct daemon *d, struct staging *st, struct reload_report *rep)
{
	struct config *cfg = st->cfg;
	struct provider **provs;
	struct target **targets, **extra = NULL, *lane;
	size_t nextra = 0, n;
	bool first = d->cfg == NULL, fresh;
	double now = clock_now(d->clk);

	if (d->waiters)
		rollout_abort_waiters(d, "the configuration was reloaded meanwhile; run it again");
	apply_providers(d, st, &provs);
	targets = calloc(cfg->ntargets + 1, sizeof(*targets));
	if (!targets)
		abort();
	for (size_t i = 0; i < cfg->ntargets; i++) {
		const struct cfg_target *c = &cfg->targets[i];
		struct provider *p = provs[c->provider_index];
		struct tmpl *tm = st->tmpls[i];
		struct target *t = daemon_find_target(d, c->name);
		bool changed;

		st->tmpls[i] = NULL;
		fresh = !t;
		if (!t) {
			t = target_new(c->name);
			if (!t)
				abort();
			t->prov = provider_ref(p);
			t->tmpl = tm;
			if (rep)
				json_object_array_add(rep->added, json_object_new_string(t->name));
			if (!first)
				log_info("%s: new target (provider %s, version %s)", t->name,
				         p->name, tm->short_version);
		} else {
			/* Same name: keep the object (and counters); swap what changed. */
			bool same_version = strcmp(t->tmpl->version, tm->version) == 0 &&
			                    strcmp(t->tmpl->url, tm->url) == 0 && t->prov == p;
			changed = !same_version || t->ttl_s != c->ttl_s || t->policy != c->policy ||
			          t->priority != c->priority;
			target_ref(t);
			sched_remove(d->sched, t);
			/* "Fix it and reload": a reload is the operator's go-ahead. */
			t->blocked = false;
			if (t->prov != p) {
				provider_unref(t->prov);
				t->prov = provider_ref(p);
			}
			t->overlap_s = c->overlap_s;
			if (!same_version)
				remember_fingerprint(t);
			if (!same_version && t->prov == p &&
			    (lane = rollout_replaced_lane(d, t, t->tmpl)))
				push_target(&extra, &nextra, lane);
			tmpl_unref(t->tmpl);
			t->tmpl = tm;
			if (!same_version) {
				target_reset_version_state(t);
				log_info("%s: new version %s, warming it", t->name,
				         tm->short_version);
			}
			if (rep && changed)
				json_object_array_add(rep->changed,
				                      json_object_new_string(t->name));
			else if (rep)
				rep->unchanged++;
		}
		target_version_enter(t, t->tmpl, now);
		free(t->group);
		free(t->vname);
		t->group = c->group ? strdup(c->group) : NULL;
		t->vname = c->vname ? strdup(c->vname) : NULL;
		if ((c->group && !t->group) || (c->vname && !t->vname))
			abort();
		t->overlap_s = c->overlap_s;
		if (c->group)
			rollout_config_weight(t, c, fresh);
		free(t->cache_key);
		t->cache_key = c->cache_key ? strdup(c->cache_key) : NULL;
		t->ttl_s = c->ttl_s;
		t->policy = c->policy;
		t->priority = c->priority;
		t->idle_limit_s = c->idle_limit_s;
		free(t->windows);
		t->windows = NULL;
		t->nwindows = 0;
		if (c->nwindows) {
			t->windows = malloc(c->nwindows * sizeof(*t->windows));
			if (!t->windows)
				abort();
			memcpy(t->windows, c->windows, c->nwindows * sizeof(*t->windows));
			t->nwindows = c->nwindows;
		}
		if (t->policy == POLICY_ADAPTIVE && !t->gaps &&
		    !(t->gaps = calloc(1, sizeof(*t->gaps))))
			abort();
		if (t->last_touch <= 0)
			t->last_touch = clock_now(d->clk); /* idle_limit counts from here */
		if (t->expires_at > 0)
			t->expires_at = t->last_refresh + t->ttl_s;
		targets[i] = t;
	}
	qsort(targets, cfg->ntargets, sizeof(*targets), target_cmp);
	/* Whatever the new list does not hold is gone, but for replaced versions
	 * still in their overlap. */
	for (size_t i = 0; i < d->ntargets; i++) {
		struct target *t = d->targets[i];
		if (cfg->ntargets &&
		    bsearch(&t, targets, cfg->ntargets, sizeof(*targets), target_cmp))
			target_unref(t); /* the new list holds its own reference */
		else if (t->retiring &&
		         rollout_keep_lane(t, find_target_in(targets, cfg->ntargets, t->group),
		                           now))
			push_target(&extra, &nextra, t); /* the reference moves along */
		else {
			if (rep)
				json_object_array_add(rep->removed,
				                      json_object_new_string(t->name));
			log_info("%s: target removed", t->name);
			retire_target(d, t);
		}
	}
	for (size_t i = 0; i < d->nprovs; i++) {
		if (!find_provider(provs, cfg->nproviders, d->provs[i]->name))
			d->provs[i]->removed = true;
		provider_unref(d->provs[i]);
	}
	free(d->provs);
	free(d->targets);
	n = cfg->ntargets;
	if (nextra) {
		targets = realloc(targets, (n + nextra + 1) * sizeof(*targets));
		if (!targets)
			abort();
		memcpy(targets + n, extra, nextra * sizeof(*extra));
		n += nextra;
		qsort(targets, n, sizeof(*targets), target_cmp);
	}
	free(extra);
	d->provs = provs;
	d->nprovs = cfg->nproviders;
	d->targets = targets;
	d->ntargets = n;

	if (d->cfg && strcmp(d->cfg->daemon.control_socket, cfg->daemon.control_socket) != 0)
		log_warning("control_socket changed to %s: takes effect at the next restart",
		            cfg->daemon.control_socket);
	if (d->cfg) {
		static const struct {
			const char *key;
			size_t off;
		} restart_only[] = {
			{ "touch_socket", offsetof(struct cfg_daemon, touch_socket) },
			{ "control_group", offsetof(struct cfg_daemon, control_group) },
			{ "state_file", offsetof(struct cfg_daemon, state_file) },
			{ "metrics_listen", offsetof(struct cfg_daemon, metrics_listen) },
			{ "metrics_textfile", offsetof(struct cfg_daemon, metrics_textfile) },
		};
		char *tmp;
		for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
			const char *o =
			        *(char **)(void *)((char *)&d->cfg->daemon + restart_only[i].off);
			const char *nv =
			        *(char **)(void *)((char *)&cfg->daemon + restart_only[i].off);
			if (!o != !nv || (o && strcmp(o, nv) != 0))
				log_warning("%s changed to %s: takes effect at the next restart",
				            restart_only[i].key, nv ? nv : "(none)");
		}
		/* Keep the sockets that are actually bound. */
		tmp = cfg->daemon.control_socket;
		cfg->daemon.control_socket = d->cfg->daemon.control_socket;
		d->cfg->daemon.control_socket = tmp;
		tmp = cfg->daemon.touch_socket;
		cfg->daemon.touch_socket = d->cfg->daemon.touch_socket;
		d->cfg->daemon.touch_socket = tmp;
	}
	config_free(d->cfg);
	d->cfg = cfg;
	st->cfg = NULL;
	pricing_free(d->pricing);
	d->pricing = st->pricing;
	st->pricing = NULL;
	for (size_t i = 0; i < d->ntargets; i++)
		d->targets[i]->price = pricing_find(d->pricing, d->targets[i]->tmpl->model);
	staging_free(st);
	log_set_level(cfg->daemon.log_level);
	sched_set_max_inflight(d->sched, cfg->daemon.max_inflight);
	sched_set_providers(d->sched, d->provs, d->nprovs);
	share_link(d->targets, d->ntargets);
	/* Shorter prefixes first, so a target that extends one sees its warm coming. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < d->ntargets; i++)
			if (!d->targets[i]->extends == !pass)
				sched_plan(d->sched, d->targets[i]);
	sched_rearm(d->sched);
	d->config_loaded_at = clock_now(d->clk);
	daemon_update_status(d, true);
	state_changed(d->state);
}

int daemon_reload(struct daemon *d, struct diags *diags, struct reload_report *rep)
{
	struct staging *st;
	char first[1400];

	notify_reloading();
	log_info("reloading %s", d->config_path);
	if (daemon_stage(d->config_path, diags, &st) < 0) {
		diags_first_error(diags, first, sizeof(first));
		d->reloads_failed++;
		log_error("reload rejected, still running the previous configuration: %s%s", first,
		          diags->errors > 1 ? " (and more; see warmd --check-config)" : "");
		notify_ready();
		daemon_update_status(d, true);
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
	d->reloads_ok++;
	log_info("configuration reloaded: %zu targets, %zu providers", d->ntargets, d->nprovs);
	notify_ready();
	return 0;
}

int daemon_status_write(struct daemon *d, struct target *const *v, size_t n, struct buf *out)
{
	json_object *dm = json_object_new_object();
	double now = clock_now(d->clk);
	bool paused_all = sched_paused_all(d->sched);
	int r;

	jsonx_add_str(dm, "version", WARMD_VERSION);
	jsonx_add_int(dm, "pid", getpid());
	jsonx_add_double(dm, "uptime_s", (double)(long long)((now - d->started_at) * 1000) / 1000);
	jsonx_add_str(dm, "config_file", d->config_path);
	jsonx_add_time(dm, "config_loaded_at", d->config_loaded_at);
	jsonx_add_int(dm, "inflight", sched_inflight(d->sched));
	jsonx_add_bool(dm, "paused_all", paused_all);
	jsonx_add_int(dm, "touches_dropped", (int64_t)d->touches_dropped);
	/* The credentials' side of things: what holds all of a provider's targets. */
	{
		json_object *provs = json_object_new_array_ext((int)d->nprovs);
		for (size_t i = 0; i < d->nprovs; i++) {
			const struct provider *p = d->provs[i];
			json_object *po = json_object_new_object();
			jsonx_add_str(po, "name", p->name);
			jsonx_add_str(po, "kind", provider_kind_name(p->kind));
			jsonx_add_int(po, "inflight", p->inflight);
			jsonx_add_str(po, "breaker", breaker_state_name(p->breaker.state));
			jsonx_add_bool(po, "credential_failed", p->cred_failed);
			jsonx_add_str(po, "credential_error",
			              p->cred_failed ? p->cred_error : NULL);
			jsonx_add_time(po, "hold_until", p->hold_until > now ? p->hold_until : 0);
			jsonx_add_double(po, "failure_rate",
			                 (double)(long)(p->fail_rate * 1000) / 1000);
			jsonx_add_double(po, "latency_p99_s",
			                 (double)(long)(p->lat_p99 * 1000) / 1000);
			json_object_array_add(provs, po);
		}
		json_object_object_add(dm, "providers", provs);
	}
	r = buf_puts(out, "{\"daemon\":");
	if (r == 0)
		r = jsonx_append(out, dm);
	json_object_put(dm);
	if (r == 0)
		r = buf_puts(out, ",\"targets\":[");
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_object *t = target_status_json(v[i], now, paused_all);
		if (i)
			r = buf_puts(out, ",");
		if (r == 0)
			r = jsonx_append(out, t);
		json_object_put(t);
	}
	return r == 0 ? buf_puts(out, "]}") : r;
}

void daemon_pause_all(struct daemon *d, bool paused)
{
	d->paused_all = paused;
	sched_pause_all(d->sched, paused);
	for (size_t i = 0; i < d->ntargets; i++) {
		if (!paused)
			d->targets[i]->paused = false;
		sched_plan(d->sched, d->targets[i]);
	}
	sched_rearm(d->sched);
	daemon_update_status(d, true);
	state_changed(d->state);
}

void daemon_pause_target(struct daemon *d, struct target *t, bool paused)
{
	t->paused = paused;
	if (paused)
		sched_remove(d->sched, t);
	else {
		t->blocked = false;
		t->fail_streak = 0;
	}
	sched_plan(d->sched, t);
	sched_rearm(d->sched);
	daemon_update_status(d, true);
	state_changed(d->state);
}

static void status_timer_cb(uv_timer_t *t)
{
	daemon_update_status(t->data, true);
}

void daemon_update_status(struct daemon *d, bool force)
{
	double now = clock_now(d->clk);
	size_t warm = 0, failing = 0, paused = 0;
	bool paused_all;

	if (!force && now - d->status_at < STATUS_EVERY_S) {
		if (!uv_is_active((uv_handle_t *)&d->status_timer))
			uv_timer_start(&d->status_timer, status_timer_cb,
			               (uint64_t)((d->status_at + STATUS_EVERY_S - now) * 1000) + 1,
			               0);
		return;
	}
	uv_timer_stop(&d->status_timer);
	d->status_at = now;
	paused_all = sched_paused_all(d->sched);
	for (size_t i = 0; i < d->ntargets; i++) {
		switch (target_state(d->targets[i], now, paused_all)) {
		case TARGET_WARM:
			warm++;
			break;
		case TARGET_FAILING:
			failing++;
			break;
		case TARGET_PAUSED:
			paused++;
			break;
		default:
			break;
		}
	}
	if (d->ntargets == 0) {
		notify_status("idle: no targets configured%s", d->stopping ? ", stopping" : "");
		return;
	}
	notify_status("%zu/%zu warm, %zu failing%s%s", warm, d->ntargets, failing,
	              paused_all ? ", all paused"
	              : paused   ? ", some paused"
	                         : "",
	              d->stopping ? ", stopping" : "");
}

/* A real request found the cache warm. Was that our doing? Only if a warm
 * made the last refresh and, without warms, the cache would have expired
 * since the previous real request: then the request read instead of paying
 * to write (or, on OpenAI, to send the prefix as plain input). */
static void credit_saving(struct daemon *d, struct target *t, const struct touch_report *rep)
{
	double now = clock_now(d->clk);
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
	struct target *t = daemon_find_target(d, rep->target);
	size_t first;

	if (!t && rollout_lanes(d, rep->target, &first) > 0) {
		char why[300];
		snprintf(why, sizeof(why),
		         "touch for \"%s\", which has named versions: say which one, as %s",
		         rep->target, d->targets[first]->name);
		daemon_touch_rejected(d, why);
		return -EISDIR;
	}
	if (!t) {
		char why[200];
		snprintf(why, sizeof(why), "touch for unknown target \"%s\"", rep->target);
		daemon_touch_rejected(d, why);
		return -ENOENT;
	}
	rollout_touched(d, t);
	credit_saving(d, t, rep);
	t->touches++;
	if (rep->result == PROTO_TOUCH_HIT)
		t->touch_hits++;
	else if (rep->result == PROTO_TOUCH_MISS)
		t->touch_misses++;
	if (rep->cached > 0)
		t->prefix_tokens = (long)rep->cached;
	sched_touch(d->sched, t);
	target_version_current(t)->last_seen = t->last_touch;
	state_changed(d->state);
	log_debug("%s: touched (%s), next warm %s", t->name,
	          rep->result == PROTO_TOUCH_HIT    ? "hit"
	          : rep->result == PROTO_TOUCH_MISS ? "miss"
	                                            : "no result",
	          t->reason);
	return 0;
}

void daemon_touch_rejected(struct daemon *d, const char *why)
{
	double now = clock_now(d->clk);

	d->touches_dropped++;
	/* A misbehaving client must not flood the log. */
	if (now - d->touch_drop_logged_at >= 10) {
		log_warning("dropped a touch datagram: %s (%llu dropped so far)", why,
		            (unsigned long long)d->touches_dropped);
		d->touch_drop_logged_at = now;
	}
}

void daemon_cancel_all(struct daemon *d)
{
	sched_pause_all(d->sched, true);
	for (size_t i = 0; i < d->ntargets; i++)
		abort_warm(d, d->targets[i]);
}

void daemon_fini(struct daemon *d)
{
	rollout_abort_waiters(d, "warmd is stopping");
	probe_abort_all(d);
	for (size_t i = 0; i < d->ntargets; i++) {
		sched_remove(d->sched, d->targets[i]);
		target_unref(d->targets[i]);
	}
	for (size_t i = 0; i < d->nprovs; i++)
		provider_unref(d->provs[i]);
	free(d->targets);
	free(d->provs);
	d->targets = NULL;
	d->provs = NULL;
	d->ntargets = d->nprovs = 0;
	sched_free(d->sched);
	d->sched = NULL;
	http_close(d->http);
	d->http = NULL;
	clock_live_close(d->clk);
	d->clk = NULL;
	config_free(d->cfg);
	d->cfg = NULL;
	pricing_free(d->pricing);
	d->pricing = NULL;
	free(d->config_path);
	d->config_path = NULL;
	if (d->status_timer.data) {
		uv_close((uv_handle_t *)&d->status_timer, NULL);
		d->status_timer.data = NULL;
	}
}

/* state: what warmd remembers across restarts (state_file). */
#include "state.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bounds.h"
#include "buf.h"
#include "clock.h"
#include "cred.h"
#include "duration.h"
#include "fileio.h"
#include "jsonx.h"
#include "log.h"
#include "policy.h"
#include "pricing.h"
#include "proto.h"
#include "sched.h"
#include "session.h"
#include "session_store.h"
#include "target.h"
#include "url.h"
#include "version.h"
#include "xalloc.h"

#define STATE_MAX_BYTES (256u * 1024 * 1024)
/* A time read back may be this much later than now (a clock stepped back
 * a little between two runs); later than that it is not believed. */
#define STATE_CLOCK_SLACK_S 300.0

/* One target as it was when the snapshot was taken (plain data: the worker
 * thread reads it while the loop goes on). */
struct rec {
	char name[130];
	struct tmpl *tmpl; /* ref, released on the loop: version and URL */
	double last_refresh, expires_at, last_touch;
	long prefix_tokens;
	uint64_t warms, hits, writes, nones, errors, touches, touch_hits, touch_misses;
	int64_t cost_pico, saved_pico;
	double last_traffic;
	bool refreshed_by_warm;
	bool paused;
	char last_error[256];
	uint32_t *hist;
	unsigned nhist;
	struct target_version *versions;
	unsigned nversions;
	struct gap_snap *gaps; /* adaptive's learned gaps, or NULL */
	bool named;            /* a blue/green version: its weights */
	int weight, cfg_weight, prev_weight;
	char *cache_name; /* a managed cache's name, or NULL */
	double cache_expire;
	bool session; /* warmctl keep's: what brings it back at start-up */
	char provider[130];
	char body_hash[65];
	char *model, *deployment; /* or NULL */
	size_t body_len;
	double keep_until, for_s, session_ttl_s;
	int priority;
};

/* A session group's learned gaps (session.h). */
struct group_rec {
	char *key;
	struct gap_snap *gaps;
};

/* A gap histogram, sparse: most of its 24 x 48 cells are empty. */
struct gap_snap {
	double ttl_s;
	uint32_t total;
	uint32_t all[POLICY_BINS];
	unsigned ncells;
	uint32_t cells[]; /* (hour * POLICY_BINS + bin) << 16 | count */
};

struct snapshot {
	uv_work_t work;
	struct state *st;
	char tmp[4200]; /* where the worker writes; renamed into place on the loop */
	double written_at;
	bool paused_all;
	struct rec *recs;
	size_t n;
	struct group_rec *groups;
	size_t ngroups;
	unsigned epoch; /* the session store's: bodies released before it may go once it lands */
	int err;
	struct errmsg e; /* what err means */
};

struct state {
	uv_loop_t *loop;
	struct target_set *set;
	char *path;
	uv_timer_t timer;
	bool dirty;
	bool writing; /* a snapshot is with a worker */
	bool closing;
	bool timer_closed;
	unsigned seq;
	double last_write;
	int last_err; /* to log a failing write once, not every time */
};

static void timer_closed_cb(uv_handle_t *h)
{
	struct state *s = h->data;

	s->timer_closed = true;
	/* A worker may still hold the state: its completion frees it then. */
	if (!s->writing) {
		free(s->path);
		free(s);
	}
}

struct state *state_open(uv_loop_t *loop, struct target_set *set, const char *path)
{
	struct state *s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->set = set;
	s->path = xstrdup_or_null(path);
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	return s;
}

/* ---- writing ---- */

static struct gap_snap *gap_snap_new(const struct gap_hist *h)
{
	unsigned n = 0;
	struct gap_snap *g;

	for (int hr = 0; hr < POLICY_HOURS; hr++)
		for (int b = 0; b < POLICY_BINS; b++)
			n += h->n[hr][b] != 0;
	g = xmalloc(sizeof(*g) + n * sizeof(g->cells[0]));
	g->ttl_s = h->ttl_s;
	g->total = h->total;
	memcpy(g->all, h->all, sizeof(g->all));
	g->ncells = 0;
	for (int hr = 0; hr < POLICY_HOURS; hr++)
		for (int b = 0; b < POLICY_BINS; b++)
			if (h->n[hr][b])
				g->cells[g->ncells++] =
				        (uint32_t)(hr * POLICY_BINS + b) << 16 | h->n[hr][b];
	return g;
}

static json_object *gap_json(const struct gap_snap *g)
{
	json_object *o = json_object_new_object(), *a;

	json_object_object_add(o, "ttl_s", json_object_new_double(g->ttl_s));
	jsonx_add_int(o, "total", g->total);
	a = json_object_new_array_ext(POLICY_BINS);
	for (int b = 0; b < POLICY_BINS; b++)
		json_object_array_add(a, json_object_new_int64(g->all[b]));
	json_object_object_add(o, "all", a);
	/* [cell, count, cell, count, ...] with cell = hour * 48 + bin */
	a = json_object_new_array_ext((int)g->ncells * 2);
	for (unsigned k = 0; k < g->ncells; k++) {
		json_object_array_add(a, json_object_new_int64(g->cells[k] >> 16));
		json_object_array_add(a, json_object_new_int64(g->cells[k] & 0xffff));
	}
	json_object_object_add(o, "cells", a);
	return o;
}

/* What brings session t back at start-up; false when nothing can (its
 * body has no file yet, or there is no store): then it is not written. */
static bool session_rec(const struct target_set *set, const struct target *t, struct rec *r)
{
	const struct target_session *ss = t->session;

	if (ss->ended || !session_store_saved(sessions_store(set->sessions), ss->body_hash))
		return false;
	r->session = true;
	text_copy(r->provider, sizeof(r->provider), t->prov->name);
	text_copy(r->body_hash, sizeof(r->body_hash), ss->body_hash);
	r->body_len = ss->body_len;
	r->keep_until = ss->keep_until;
	r->for_s = ss->for_s;
	r->session_ttl_s = ss->ttl_s;
	r->priority = t->priority;
	r->model = xstrdup_or_null(ss->model);
	r->deployment = xstrdup_or_null(ss->deployment);
	return true;
}

static void group_snap_cb(void *data, const char *key, const struct gap_hist *h);

static struct snapshot *snapshot_take(struct state *s)
{
	const struct target_set *set = s->set;
	struct snapshot *sn = xcalloc(1, sizeof(*sn));

	sn->recs = xcalloc(set->ntargets + 1, sizeof(*sn->recs));
	sn->st = s;
	sn->work.data = sn;
	snprintf(sn->tmp, sizeof(sn->tmp), "%s.tmp.%ld.%u", s->path, (long)getpid(), s->seq++);
	sn->written_at = clock_now(set->clk);
	sn->paused_all = set->paused_all;
	sn->epoch = session_store_epoch(sessions_store(set->sessions));
	sessions_each_group(set->sessions, group_snap_cb, sn);
	for (size_t i = 0; i < set->ntargets; i++) {
		const struct target *t = set->targets[i];
		struct rec *r = &sn->recs[sn->n];
		if (t->session && !session_rec(set, t, r))
			continue;
		sn->n++;
		text_copy(r->name, sizeof(r->name), t->name);
		r->tmpl = tmpl_ref(t->tmpl);
		r->last_refresh = t->last_refresh;
		r->expires_at = t->expires_at;
		r->last_touch = t->last_touch;
		r->prefix_tokens = t->prefix_tokens;
		r->warms = t->warms;
		r->hits = t->hits;
		r->writes = t->writes;
		r->nones = t->nones;
		r->errors = t->errors;
		r->touches = t->touches;
		r->touch_hits = t->touch_hits;
		r->touch_misses = t->touch_misses;
		r->cost_pico = t->cost_pico;
		r->saved_pico = t->saved_pico;
		r->last_traffic = t->last_traffic;
		r->refreshed_by_warm = t->refreshed_by_warm;
		r->paused = t->paused;
		text_copy(r->last_error, sizeof(r->last_error), t->last_error);
		if (t->nversions) {
			r->versions = xreallocarray(NULL, t->nversions, sizeof(*r->versions));
			memcpy(r->versions, t->versions, t->nversions * sizeof(*r->versions));
			r->nversions = t->nversions;
		}
		if (t->touch_n) {
			r->hist = xreallocarray(NULL, t->touch_n, sizeof(*r->hist));
			for (unsigned k = 0; k < t->touch_n; k++)
				r->hist[k] = target_touch_at(t, k);
			r->nhist = t->touch_n;
		}
		if (t->gaps && !t->session) /* a session's are its group's */
			r->gaps = gap_snap_new(t->gaps);
		r->named = t->group && t->vname;
		r->weight = t->weight;
		r->cfg_weight = t->cfg_weight;
		r->prev_weight = t->prev_weight;
		r->cache_name = xstrdup_or_null(t->cache_name);
		r->cache_expire = t->cache_expire;
	}
	return sn;
}

static void group_snap_cb(void *data, const char *key, const struct gap_hist *h)
{
	struct snapshot *sn = data;

	sn->groups = xreallocarray(sn->groups, sn->ngroups + 1, sizeof(*sn->groups));
	sn->groups[sn->ngroups].key = xstrdup(key);
	sn->groups[sn->ngroups].gaps = gap_snap_new(h);
	sn->ngroups++;
}

static void snapshot_free(struct snapshot *sn)
{
	for (size_t i = 0; i < sn->ngroups; i++) {
		free(sn->groups[i].key);
		free(sn->groups[i].gaps);
	}
	free(sn->groups);
	for (size_t i = 0; i < sn->n; i++) {
		free(sn->recs[i].gaps);
		tmpl_unref(sn->recs[i].tmpl);
		free(sn->recs[i].hist);
		free(sn->recs[i].versions);
		free(sn->recs[i].cache_name);
		free(sn->recs[i].model);
		free(sn->recs[i].deployment);
	}
	free(sn->recs);
	free(sn);
}

static json_object *rec_json(const struct rec *r)
{
	json_object *o = json_object_new_object(), *h;
	char *url;

	jsonx_add_str(o, "version", r->tmpl->version);
	url = url_redact(r->tmpl->url); /* no password from its userinfo in the file */
	jsonx_add_str(o, "url", url);
	free(url);
	jsonx_add_time(o, "last_refresh", r->last_refresh);
	jsonx_add_time(o, "expires_at", r->expires_at);
	jsonx_add_time(o, "last_touch", r->last_touch);
	jsonx_add_int(o, "prefix_tokens", r->prefix_tokens);
	jsonx_add_int(o, "warms", (int64_t)r->warms);
	jsonx_add_int(o, "hits", (int64_t)r->hits);
	jsonx_add_int(o, "writes", (int64_t)r->writes);
	jsonx_add_int(o, "nones", (int64_t)r->nones);
	jsonx_add_int(o, "errors", (int64_t)r->errors);
	jsonx_add_int(o, "touches", (int64_t)r->touches);
	jsonx_add_int(o, "touch_hits", (int64_t)r->touch_hits);
	jsonx_add_int(o, "touch_misses", (int64_t)r->touch_misses);
	jsonx_add_bool(o, "paused", r->paused);
	jsonx_add_int(o, "cost_pico_usd", r->cost_pico);
	jsonx_add_int(o, "saved_pico_usd", r->saved_pico);
	jsonx_add_time(o, "last_traffic", r->last_traffic);
	jsonx_add_bool(o, "refreshed_by_warm", r->refreshed_by_warm);
	jsonx_add_str(o, "last_error", r->last_error[0] ? r->last_error : NULL);
	if (r->cache_name) {
		/* A restart renews this cache instead of creating another. */
		jsonx_add_str(o, "cache_name", r->cache_name);
		jsonx_add_time(o, "cache_expire", r->cache_expire);
	}
	/* Touch times as the first one and the gaps after it: compact. */
	h = json_object_new_array_ext((int)r->nhist);
	for (unsigned k = 0; k < r->nhist; k++)
		json_object_array_add(
		        h, json_object_new_int64(k ? (int64_t)r->hist[k] - (int64_t)r->hist[k - 1]
		                                   : (int64_t)r->hist[0]));
	json_object_object_add(o, "touch_history", h);
	h = json_object_new_array_ext((int)r->nversions);
	for (unsigned k = 0; k < r->nversions; k++) {
		const struct target_version *v = &r->versions[k];
		json_object *vo = json_object_new_object();
		jsonx_add_str(vo, "version", v->version);
		jsonx_add_time(vo, "first_seen", v->first_seen);
		jsonx_add_time(vo, "last_seen", v->last_seen);
		jsonx_add_int(vo, "prefix_tokens", v->prefix_tokens);
		jsonx_add_int(vo, "hits", (int64_t)v->hits);
		jsonx_add_int(vo, "writes", (int64_t)v->writes);
		json_object_array_add(h, vo);
	}
	json_object_object_add(o, "versions", h);
	if (r->gaps)
		json_object_object_add(o, "gaps", gap_json(r->gaps));
	if (r->session) {
		/* Enough to build it again: its body is in the session store. */
		json_object *so = json_object_new_object();
		jsonx_add_str(so, "provider", r->provider);
		jsonx_add_str(so, "body", r->body_hash);
		jsonx_add_int(so, "body_bytes", (int64_t)r->body_len);
		jsonx_add_time(so, "keep_until", r->keep_until);
		jsonx_add_double(so, "keep_for_s", r->for_s);
		jsonx_add_double(so, "ttl_s", r->session_ttl_s);
		jsonx_add_int(so, "priority", r->priority);
		if (r->model)
			jsonx_add_str(so, "model", r->model);
		if (r->deployment)
			jsonx_add_str(so, "deployment", r->deployment);
		json_object_object_add(o, "session", so);
	}
	if (r->named) {
		/* Weights set at run time (shift, promote, rollback), and the
		 * config's weight they override while it stays the same. */
		jsonx_add_int(o, "weight", r->weight);
		jsonx_add_int(o, "cfg_weight", r->cfg_weight);
		jsonx_add_int(o, "prev_weight", r->prev_weight);
	}
	return o;
}

static int serialise(const struct snapshot *sn, struct buf *out)
{
	json_object *head = json_object_new_object();
	int r;

	jsonx_add_str(head, "format", STATE_FORMAT);
	jsonx_add_int(head, "format_version", STATE_FORMAT_VERSION);
	jsonx_add_str(head, "warmd_version", WARMD_VERSION);
	jsonx_add_time(head, "written_at", sn->written_at);
	jsonx_add_bool(head, "paused_all", sn->paused_all);
	/* The head, reopened to stream the targets one by one after it. */
	r = jsonx_append(out, head);
	json_object_put(head);
	if (r < 0)
		return r;
	out->len--; /* drop the closing brace */
	r = buf_puts(out, ",\"targets\":{");
	for (size_t i = 0; r == 0 && i < sn->n; i++) {
		json_object *name = json_object_new_string(sn->recs[i].name);
		json_object *o = rec_json(&sn->recs[i]);
		if (i)
			r = buf_puts(out, ",");
		if (r == 0)
			r = jsonx_append(out, name);
		if (r == 0)
			r = buf_puts(out, ":");
		if (r == 0)
			r = jsonx_append(out, o);
		json_object_put(name);
		json_object_put(o);
	}
	if (r == 0)
		r = buf_puts(out, "}");
	if (r == 0 && sn->ngroups) {
		/* What sessions learned, per group (session.h). */
		json_object *g = json_object_new_object();
		for (size_t i = 0; i < sn->ngroups; i++)
			json_object_object_add(g, sn->groups[i].key, gap_json(sn->groups[i].gaps));
		r = buf_puts(out, ",\"session_groups\":");
		if (r == 0)
			r = jsonx_append(out, g);
		json_object_put(g);
	}
	return r == 0 ? buf_puts(out, "}\n") : r;
}

static void snapshot_write(struct snapshot *sn)
{
	struct buf b = BUF_INIT;

	/* The worker's half of the atomic replace: temp file, write, fsync. */
	sn->err = serialise(sn, &b);
	if (sn->err < 0)
		errmsg_set(&sn->e, sn->err, "out of memory");
	else
		sn->err = fileio_write_tmp(sn->tmp, b.data, b.len, 0600, &sn->e);
	buf_free(&b);
}

static void report(struct state *s, const struct snapshot *sn)
{
	if (sn->err < 0 && sn->err != s->last_err)
		log_warning("state not saved: %s", sn->e.text);
	else if (sn->err == 0 && s->last_err < 0)
		log_notice("state saved to %s again", s->path);
	s->last_err = sn->err;
}

static void work_cb(uv_work_t *w)
{
	snapshot_write(w->data);
}

static void arm(struct state *s);

static void after_work_cb(uv_work_t *w, int status)
{
	struct snapshot *sn = w->data;
	struct state *s = sn->st;

	(void)status;
	s->writing = false;
	if (sn->err == 0 && s->closing)
		unlink(sn->tmp); /* the final flush wrote newer data already */
	else if (sn->err == 0)   /* on the loop, so the newest snapshot is the one that lands */
		sn->err = fileio_commit(sn->tmp, s->path, &sn->e);
	if (sn->err == 0 && !s->closing)
		session_store_committed(sessions_store(s->set->sessions), sn->epoch);
	report(s, sn);
	snapshot_free(sn);
	if (s->closing) {
		if (s->timer_closed) {
			free(s->path);
			free(s);
		}
		return;
	}
	if (s->dirty)
		arm(s);
}

static void timer_cb(uv_timer_t *t)
{
	struct state *s = t->data;
	struct snapshot *sn;

	if (s->writing || !s->dirty)
		return;
	sn = snapshot_take(s);
	s->dirty = false;
	s->writing = true;
	s->last_write = clock_now(s->set->clk);
	if (uv_queue_work(s->loop, &sn->work, work_cb, after_work_cb) < 0) {
		snapshot_write(sn); /* no worker: write on the loop rather than not at all */
		after_work_cb(&sn->work, 0);
	}
}

static void arm(struct state *s)
{
	double now = clock_now(s->set->clk);
	double at = now + STATE_DELAY_S;

	if (at < s->last_write + STATE_MIN_INTERVAL_S)
		at = s->last_write + STATE_MIN_INTERVAL_S;
	if (!uv_is_active((uv_handle_t *)&s->timer))
		uv_timer_start(&s->timer, timer_cb, (uint64_t)((at - now) * 1000), 0);
}

void state_changed(struct state *s)
{
	if (!s || !s->path || s->closing)
		return;
	s->dirty = true;
	if (!s->writing)
		arm(s);
}

int state_flush(struct state *s)
{
	struct snapshot *sn;
	int r;

	if (!s || !s->path)
		return 0;
	sn = snapshot_take(s);
	snapshot_write(sn);
	if (sn->err == 0)
		sn->err = fileio_commit(sn->tmp, s->path, &sn->e);
	if (sn->err == 0)
		session_store_committed(sessions_store(s->set->sessions), sn->epoch);
	report(s, sn);
	r = sn->err;
	snapshot_free(sn);
	s->dirty = false;
	return r;
}

void state_close(struct state *s)
{
	if (!s)
		return;
	s->closing = true;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, timer_closed_cb);
}

/* ---- reading ---- */

/* What was wrong with one target's entry: collected while it is read, so
 * that it makes one warning, and what stays usable is still restored. */
struct problems {
	char text[768];
	size_t len;
};

static void problem(struct problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct problems *p, const char *fmt, ...)
{
	size_t room = sizeof(p->text) - p->len;
	va_list ap;
	int n;

	if (room < 8)
		return; /* enough said */
	if (p->len) {
		memcpy(p->text + p->len, "; ", 3);
		p->len += 2;
		room -= 2;
	}
	va_start(ap, fmt);
	n = vsnprintf(p->text + p->len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len += (size_t)n < room ? (size_t)n : room - 1;
}

/* A value as the file has it, for a warning (print with %.40s). */
static const char *shown(json_object *v)
{
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* The readers below take one optional field. Absent: false and nothing said
 * (a file of an older warmd; the default stands). Present but not what a
 * warmd writes: false and a problem. Otherwise *ret and true. */

/* An integer from lo to hi. json-c keeps an integer beyond int64 as uint64,
 * read back as INT64_MAX, and a larger one as a double: both fail. */
static bool take_int(json_object *e, const char *key, int64_t lo, int64_t hi, int64_t *ret,
                     struct problems *p)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(e, key, &v))
		return false;
	if (!jsonx_is_int(v) || (n = json_object_get_int64(v)) < lo || n > hi) {
		problem(p, "%s = %.40s is not an integer from %lld to %lld", key, shown(v),
		        (long long)lo, (long long)hi);
		return false;
	}
	*ret = n;
	return true;
}

/* An event counter. */
static void take_count(json_object *e, const char *key, uint64_t *ret, struct problems *p)
{
	int64_t n;

	if (take_int(e, key, 0, BOUNDS_MAX_COUNT, &n, p))
		*ret = (uint64_t)n;
}

/* A Unix time from 0 to hi, or null (0: never). Beyond BOUNDS_MAX_TIME
 * (1e300, say) it could not even be converted to the touch history's 32 bits. */
static bool take_time(json_object *e, const char *key, double hi, double *ret, struct problems *p)
{
	json_object *v;
	double t;

	if (!json_object_object_get_ex(e, key, &v))
		return false;
	if (!v) {
		*ret = 0;
		return true;
	}
	t = json_object_get_double(v);
	if (!(json_object_is_type(v, json_type_double) || jsonx_is_int(v)) || !(t >= 0) ||
	    t > BOUNDS_MAX_TIME) {
		problem(p, "%s = %.40s is not a Unix time", key, shown(v));
		return false;
	}
	if (t > hi) {
		problem(p, "%s = %.40s is too far in the future (after %.0f)", key, shown(v), hi);
		return false;
	}
	*ret = t;
	return true;
}

static bool take_bool(json_object *e, const char *key, bool *ret, struct problems *p)
{
	json_object *v;

	if (!json_object_object_get_ex(e, key, &v))
		return false;
	if (!json_object_is_type(v, json_type_boolean)) {
		problem(p, "%s = %.40s is not true or false", key, shown(v));
		return false;
	}
	*ret = json_object_get_boolean(v);
	return true;
}

/* "touch_history": the first time, then the differences (negative after a
 * step back of the clock), every time within [0, BOUNDS_MAX_TIME]. */
static bool history_valid(json_object *h, struct problems *p)
{
	int64_t at = 0;

	if (!json_object_is_type(h, json_type_array)) {
		problem(p, "touch_history is not an array");
		return false;
	}
	for (size_t i = 0; i < json_object_array_length(h); i++) {
		json_object *v = json_object_array_get_idx(h, i);
		int64_t d = jsonx_is_int(v) ? json_object_get_int64(v) : -1;
		/* |d| <= BOUNDS_MAX_TIME keeps the sum far inside int64 */
		if (!jsonx_is_int(v) || d < -(int64_t)BOUNDS_MAX_TIME ||
		    d > (int64_t)BOUNDS_MAX_TIME || (at += d) < 0 ||
		    at > (int64_t)BOUNDS_MAX_TIME) {
			problem(p, "touch_history[%zu] = %.40s is not a time", i, shown(v));
			return false;
		}
	}
	return true;
}

/* "versions": each with a 64-character version hash, times, counts. */
static bool versions_valid(json_object *h, struct problems *p)
{
	if (!json_object_is_type(h, json_type_array)) {
		problem(p, "versions is not an array");
		return false;
	}
	for (size_t i = 0; i < json_object_array_length(h); i++) {
		json_object *v = json_object_array_get_idx(h, i);
		const char *hash = jsonx_get_str(v, "version");
		struct problems q = { .len = 0 };
		int64_t n;
		double t;

		if (!hash || strlen(hash) != 64)
			problem(&q, "no version hash");
		if (!take_time(v, "first_seen", BOUNDS_MAX_TIME, &t, &q) && !q.len)
			problem(&q, "no first_seen");
		if (!take_time(v, "last_seen", BOUNDS_MAX_TIME, &t, &q) && !q.len)
			problem(&q, "no last_seen");
		if (!take_int(v, "prefix_tokens", 0, BOUNDS_MAX_TOKENS, &n, &q) && !q.len)
			problem(&q, "no prefix_tokens");
		if (!take_int(v, "hits", 0, BOUNDS_MAX_COUNT, &n, &q) && !q.len)
			problem(&q, "no hits");
		if (!take_int(v, "writes", 0, BOUNDS_MAX_COUNT, &n, &q) && !q.len)
			problem(&q, "no writes");
		if (q.len) {
			problem(p, "versions[%zu]: %s", i, q.text);
			return false;
		}
	}
	return true;
}

/* "gaps", when present: every count in range, every cell inside the table. */
static bool gaps_valid(json_object *g)
{
	json_object *all = jsonx_get(g, "all"), *cells = jsonx_get(g, "cells"), *v;
	int64_t u;
	size_t n;

	if (!json_object_is_type(g, json_type_object) || !(v = jsonx_get(g, "ttl_s")) ||
	    !(json_object_is_type(v, json_type_double) || jsonx_is_int(v)) ||
	    !(json_object_get_double(v) > 0) || !isfinite(json_object_get_double(v)) ||
	    !jsonx_get_int64(g, "total", &u) || u < 0 || u > UINT32_MAX ||
	    !json_object_is_type(all, json_type_array) ||
	    json_object_array_length(all) != POLICY_BINS ||
	    !json_object_is_type(cells, json_type_array) || json_object_array_length(cells) % 2)
		return false;
	for (size_t b = 0; b < POLICY_BINS; b++) {
		v = json_object_array_get_idx(all, b);
		if (!jsonx_is_int(v) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > UINT32_MAX)
			return false;
	}
	n = json_object_array_length(cells);
	for (size_t k = 0; k < n; k += 2) {
		json_object *c = json_object_array_get_idx(cells, k),
		            *cnt = json_object_array_get_idx(cells, k + 1);
		if (!jsonx_is_int(c) || json_object_get_int64(c) < 0 ||
		    json_object_get_int64(c) >= POLICY_HOURS * POLICY_BINS || !jsonx_is_int(cnt) ||
		    json_object_get_int64(cnt) < 1 || json_object_get_int64(cnt) > UINT16_MAX)
			return false;
	}
	return true;
}

/* A histogram gaps_valid() accepted, into h. */
static void gaps_read(struct gap_hist *h, json_object *g)
{
	json_object *all = jsonx_get(g, "all"), *cells = jsonx_get(g, "cells");
	int64_t total = 0;

	memset(h, 0, sizeof(*h));
	h->ttl_s = json_object_get_double(jsonx_get(g, "ttl_s"));
	jsonx_get_int64(g, "total", &total);
	h->total = (uint32_t)total;
	for (size_t b = 0; b < POLICY_BINS; b++)
		h->all[b] = (uint32_t)json_object_get_int64(json_object_array_get_idx(all, b));
	for (size_t k = 0; k + 1 < json_object_array_length(cells); k += 2) {
		int64_t c = json_object_get_int64(json_object_array_get_idx(cells, k));
		h->n[c / POLICY_BINS][c % POLICY_BINS] =
		        (uint16_t)json_object_get_int64(json_object_array_get_idx(cells, k + 1));
	}
}

static void restore_gaps(struct target *t, json_object *g)
{
	if (!t->gaps)
		t->gaps = xcalloc(1, sizeof(*t->gaps));
	gaps_read(t->gaps, g);
}

/* The stored history (checked by versions_valid), with the current
 * template's version on top. */
static void restore_versions(struct target *t, json_object *arr, double now)
{
	size_t n = json_object_array_length(arr);

	if (n == 0)
		return;
	if (n > TARGET_MAX_VERSIONS)
		n = TARGET_MAX_VERSIONS;
	target_versions_reserve(t, (unsigned)n);
	t->nversions = (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		struct target_version *tv = &t->versions[i];
		struct problems ignored = { .len = 0 };
		int64_t u = 0;
		text_copy(tv->version, sizeof(tv->version), jsonx_get_str(v, "version"));
		take_time(v, "first_seen", BOUNDS_MAX_TIME, &tv->first_seen, &ignored);
		take_time(v, "last_seen", BOUNDS_MAX_TIME, &tv->last_seen, &ignored);
		take_int(v, "prefix_tokens", 0, BOUNDS_MAX_TOKENS, &u, &ignored);
		tv->prefix_tokens = (long)u;
		take_count(v, "hits", &tv->hits, &ignored);
		take_count(v, "writes", &tv->writes, &ignored);
	}
	target_version_enter(t, t->tmpl, now); /* a no-op when it is the stored one */
}

/* Weights set at run time (blue/green): all three, or none. */
static void restore_weights(struct target *t, json_object *e, struct problems *p)
{
	struct problems q = { .len = 0 };
	int64_t w = 0, c = 0, pw = 0;

	if (!jsonx_get(e, "weight") && !jsonx_get(e, "cfg_weight") && !jsonx_get(e, "prev_weight"))
		return;
	if (!take_int(e, "weight", 0, 100, &w, &q) || !take_int(e, "cfg_weight", 0, 100, &c, &q) ||
	    !take_int(e, "prev_weight", -1, 100, &pw, &q)) {
		problem(p, "weights (%s)", q.len ? q.text : "not all three of them");
		return;
	}
	/* A shift made at run time holds until the config's weight is edited. */
	if (t->vname && c == t->cfg_weight) {
		t->weight = (int)w;
		t->prev_weight = (int)pw;
	}
}

/* Is stored, an entry's "url", the endpoint url? The file keeps it without
 * its userinfo (url_redact); one written before kept it whole. */
static bool same_url(const char *stored, const char *url)
{
	char *shown;
	bool same;

	if (strcmp(stored, url) == 0)
		return true;
	shown = url_redact(url);
	same = strcmp(stored, shown) == 0;
	free(shown);
	return same;
}

/* What warmd knew of the provider's cache: only for the same version at the
 * same endpoint, and only all of it (a lone expires_at could keep a cold
 * cache looking warm). Checked before anything is set. */
static void restore_cache(struct target *t, json_object *e, double now, struct problems *p)
{
	struct problems q = { .len = 0 };
	double refresh = 0, expires = 0;
	int64_t prefix = 0;
	bool by_warm = false;
	json_object *err = NULL;
	const char *name = NULL;
	double cache_expire = 0;

	take_time(e, "last_refresh", now + STATE_CLOCK_SLACK_S, &refresh, &q);
	/* A cache never lives longer than the target's TTL from now. */
	take_time(e, "expires_at", now + t->ttl_s + STATE_CLOCK_SLACK_S, &expires, &q);
	take_int(e, "prefix_tokens", 0, BOUNDS_MAX_TOKENS, &prefix, &q);
	take_bool(e, "refreshed_by_warm", &by_warm, &q);
	if (json_object_object_get_ex(e, "last_error", &err) && err &&
	    !json_object_is_type(err, json_type_string)) {
		problem(&q, "last_error is not a string");
		err = NULL;
	}
	if (jsonx_get(e, "cache_name") &&
	    (!(name = jsonx_get_str(e, "cache_name")) || strlen(name) > 200 ||
	     strpbrk(name, "?#%\\ \"") || !*name)) {
		problem(&q, "cache_name is not a cache's name");
		name = NULL;
	}
	take_time(e, "cache_expire", now + t->ttl_s + STATE_CLOCK_SLACK_S, &cache_expire, &q);
	if (q.len) {
		problem(p, "%s (what it knew of the cache is dropped: the next warm finds out)",
		        q.text);
		return;
	}
	if (strcmp(jsonx_get_str(e, "version"), t->tmpl->version) != 0 ||
	    !same_url(jsonx_get_str(e, "url"), t->tmpl->url))
		return;
	t->last_refresh = refresh;
	t->expires_at = expires;
	t->prefix_tokens = (long)prefix;
	t->refreshed_by_warm = by_warm;
	if (err) {
		text_copy(t->last_error, sizeof(t->last_error), json_object_get_string(err));
		/* a file an older warmd wrote may hold what its scrubber missed */
		cred_scrub(t->last_error);
	}
	if (name && t->tmpl->managed) {
		free(t->cache_name);
		t->cache_name = xstrdup(name);
		t->cache_expire = cache_expire;
	}
}

/* Applies one target's entry, field by field: a field that is not what a
 * warmd writes is left at its default and noted in p. Returns false, with
 * nothing applied, when the entry as a whole is unusable. */
static bool apply_entry(const struct target_set *set, struct target *t, json_object *e, double now,
                        struct problems *p)
{
	json_object *h;

	if (!json_object_is_type(e, json_type_object)) {
		problem(p, "it is %.40s, not an object", shown(e));
		return false;
	}
	if (!jsonx_get_str(e, "version") || !jsonx_get_str(e, "url")) {
		problem(p, "it has no \"version\" and \"url\" strings");
		return false;
	}
	take_count(e, "warms", &t->warms, p);
	take_count(e, "hits", &t->hits, p);
	take_count(e, "writes", &t->writes, p);
	take_count(e, "nones", &t->nones, p);
	take_count(e, "errors", &t->errors, p);
	take_count(e, "touches", &t->touches, p);
	take_count(e, "touch_hits", &t->touch_hits, p);
	take_count(e, "touch_misses", &t->touch_misses, p);
	take_int(e, "cost_pico_usd", 0, PRICING_MAX_PICO, &t->cost_pico, p);
	take_int(e, "saved_pico_usd", 0, PRICING_MAX_PICO, &t->saved_pico, p);
	/* idle_limit counts from the last touch: one in the future would keep
	 * warming forever, so it falls back to now like a missing one. */
	take_time(e, "last_touch", now + STATE_CLOCK_SLACK_S, &t->last_touch, p);
	if (t->last_touch <= 0)
		t->last_touch = now;
	take_time(e, "last_traffic", now + STATE_CLOCK_SLACK_S, &t->last_traffic, p);
	take_bool(e, "paused", &t->paused, p);
	if ((h = jsonx_get(e, "touch_history")) && history_valid(h, p)) {
		int64_t at = 0;
		for (size_t i = 0; i < json_object_array_length(h); i++) {
			at += json_object_get_int64(json_object_array_get_idx(h, i));
			target_touch_record(t, (double)at);
		}
	}
	if ((h = jsonx_get(e, "versions")) && versions_valid(h, p))
		restore_versions(t, h, now);
	if ((h = jsonx_get(e, "gaps")) && !t->session) {
		if (gaps_valid(h))
			restore_gaps(t, h); /* adaptive keeps what it learned */
		else
			problem(p, "gaps is not a gap histogram (adaptive learns again)");
	}
	restore_weights(t, e, p);
	restore_cache(t, e, now, p);
	if (t->paused)
		sched_remove(set->sched, t);
	sched_plan(set->sched, t);
	return true;
}

/* A number of seconds from lo to hi. */
static bool take_seconds(json_object *e, const char *key, double lo, double hi, double *ret,
                         struct problems *p)
{
	json_object *v;
	double d;

	if (!json_object_object_get_ex(e, key, &v))
		return false;
	d = json_object_get_double(v);
	if (!(json_object_is_type(v, json_type_double) || jsonx_is_int(v)) || !(d >= lo) ||
	    d > hi) {
		problem(p, "%s = %.40s is not a number of seconds from %g to %g", key, shown(v), lo,
		        hi);
		return false;
	}
	*ret = d;
	return true;
}

/* The learned gaps of session groups (session.h), before the sessions
 * that learn in them come back. */
static void restore_groups(struct state *s, json_object *doc)
{
	json_object *groups = jsonx_get(doc, "session_groups");
	struct gap_hist *h;
	int bad = 0;

	if (!groups || !s->set->sessions)
		return;
	if (!json_object_is_type(groups, json_type_object)) {
		log_warning("state file %s: session_groups is not an object: sessions learn again",
		            s->path);
		return;
	}
	h = xmalloc(sizeof(*h));
	json_object_object_foreach(groups, key, g) {
		if (strlen(key) > 512 || !gaps_valid(g)) {
			bad++;
			continue;
		}
		gaps_read(h, g);
		sessions_group_restore(s->set->sessions, key, h);
	}
	free(h);
	if (bad)
		log_warning("state file %s: %d session groups are not gap histograms: they learn "
		            "again",
		            s->path, bad);
}

/* A session's "model" or "deployment" (absent: *ret stays NULL), as keep
 * takes them (proto.c): 1 to PROTO_MAX_MODEL printable ASCII characters,
 * no space. False when it is there and is not that. */
static bool take_url_name(json_object *so, const char *key, const char **ret)
{
	json_object *v = jsonx_get(so, key);
	const char *s;
	size_t len;

	if (!v)
		return true;
	if (!json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > PROTO_MAX_MODEL)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	*ret = s;
	return true;
}

/* The session an entry describes, back in the set (sessions_restore()),
 * or NULL: an entry without "session" is a target the configuration no
 * longer has; one whose session cannot come back is logged. */
static struct target *restore_session(struct state *s, const char *name, json_object *e, double now)
{
	json_object *so = json_object_is_type(e, json_type_object) ? jsonx_get(e, "session") : NULL;
	struct session_record rec = { .name = name, .priority = SESSION_DEFAULT_PRIORITY };
	struct problems p = { .len = 0 };
	int64_t prio = SESSION_DEFAULT_PRIORITY;

	if (!so || !s->set->sessions)
		return NULL;
	if (!json_object_is_type(so, json_type_object)) {
		problem(&p, "session is not an object");
	} else {
		rec.provider = jsonx_get_str(so, "provider");
		rec.body_hash = jsonx_get_str(so, "body");
		if (!config_session_name_valid(name))
			problem(&p, "it is not a session name");
		if (!rec.provider || !config_name_valid(rec.provider))
			problem(&p, "session.provider is not a provider name");
		if (!rec.body_hash || !session_store_hash_valid(rec.body_hash))
			problem(&p, "session.body is not a body's SHA-256");
		if (!take_time(so, "keep_until", now + DURATION_MAX_S + STATE_CLOCK_SLACK_S,
		               &rec.keep_until, &p) &&
		    !p.len)
			problem(&p, "session.keep_until is missing");
		if (!take_seconds(so, "keep_for_s", 0.001, DURATION_MAX_S, &rec.for_s, &p) &&
		    !p.len)
			problem(&p, "session.keep_for_s is missing");
		take_seconds(so, "ttl_s", 0, DURATION_MAX_S, &rec.ttl_s, &p);
		if (take_int(so, "priority", 0, 1000000, &prio, &p))
			rec.priority = (int)prio;
		/* Absent in a record of before keep took them: none. */
		if (!take_url_name(so, "model", &rec.model))
			problem(&p, "session.model is not a model name");
		if (!take_url_name(so, "deployment", &rec.deployment))
			problem(&p, "session.deployment is not a deployment name");
	}
	if (p.len) {
		log_warning("state file %s: session %.64s: %s; it is not restored", s->path, name,
		            p.text);
		return NULL;
	}
	return sessions_restore(s->set->sessions, &rec);
}

/* Moves a file warmd cannot use out of the way, keeping it for a look. */
static void move_aside(const char *path, const char *why)
{
	char aside[4200];

	snprintf(aside, sizeof(aside), "%s.corrupt-%ld", path, (long)time(NULL));
	if (rename(path, aside) == 0)
		log_warning("state file %s %s: moved to %s, starting fresh", path, why, aside);
	else
		log_warning("state file %s %s, and it cannot be moved aside (%s): starting fresh",
		            path, why, strerror(errno));
}

/* The whole file is unusable only when it is not a warmd state file of this
 * format: then it is moved aside. A bad entry costs only that entry (or
 * only its bad fields), with one warning naming the target. */
int state_restore(struct state *s, bool *ret_paused_all)
{
	const struct target_set *set = s->set;
	json_object *doc = NULL, *targets, *pa = NULL;
	struct errmsg e;
	double now = clock_now(set->clk);
	const char *fmt;
	char *data = NULL;
	size_t len = 0;
	int restored = 0, warm = 0, bad = 0, r;

	*ret_paused_all = false;
	if (!s->path)
		return 0;
	r = fileio_read(s->path, "state file", STATE_MAX_BYTES, &data, &len, &e);
	if (r == -ENOENT) {
		log_info("no state file %s yet: starting fresh", s->path);
		return 0;
	}
	if (r < 0) {
		move_aside(s->path, r == -EINVAL || r == -EFBIG
		                            ? "is not a regular file of sane size"
		                            : "cannot be read");
		return 0;
	}
	r = jsonx_parse(data, len, 16, &doc, &e);
	free(data);
	if (r < 0) {
		move_aside(s->path, "is not valid JSON");
		return 0;
	}
	fmt = jsonx_get_str(doc, "format");
	targets = jsonx_get(doc, "targets");
	if (!fmt || strcmp(fmt, STATE_FORMAT) != 0 ||
	    !jsonx_is_int(jsonx_get(doc, "format_version")) ||
	    json_object_get_int64(jsonx_get(doc, "format_version")) != STATE_FORMAT_VERSION ||
	    !targets || !json_object_is_type(targets, json_type_object)) {
		json_object_put(doc);
		move_aside(s->path, "is not a warmd state file of this format");
		return 0;
	}
	restore_groups(s, doc);
	json_object_object_foreach(targets, name, entry) {
		struct problems p = { .len = 0 };
		/* A session comes back, or not, whatever the configuration's
		 * targets are called now (a target of its name wins). */
		struct target *t =
		        json_object_is_type(entry, json_type_object) && jsonx_get(entry, "session")
		                ? restore_session(s, name, entry, now)
		                : target_set_find(set, name);
		if (!t)
			continue; /* a target the configuration no longer has */
		if (!apply_entry(set, t, entry, now, &p)) {
			log_warning("state file %s: target %s: entry dropped, %s; it starts fresh",
			            s->path, t->name, p.text);
			bad++;
			continue;
		}
		if (p.len) {
			log_warning("state file %s: target %s: ignored %s; the rest is restored",
			            s->path, t->name, p.text);
			bad++;
		}
		restored++;
		warm += t->expires_at > now;
	}
	if (json_object_object_get_ex(doc, "paused_all", &pa) && pa &&
	    !json_object_is_type(pa, json_type_boolean))
		log_warning("state file %s: paused_all = %.40s is not true or false: ignored",
		            s->path, shown(pa));
	else
		*ret_paused_all = json_object_get_boolean(pa);
	json_object_put(doc);
	sched_rearm(set->sched);
	log_info("state restored from %s: %d targets, %d still warm%s", s->path, restored, warm,
	         bad ? " (some entries had problems: see the warnings above)" : "");
	return restored;
}

/* rollout: several versions of one target warm side by side. */
#include "rollout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "daemon.h"
#include "duration.h"
#include "jsonx.h"
#include "log.h"
#include "sched.h"
#include "share.h"
#include "state.h"

/* A shift, promote or rollback waiting for the warms of the versions it
 * brings into rotation. */
struct rollout_waiter {
	struct rollout_waiter *next;
	struct ctl_pending *reply;
	char group[65];
	char what[160]; /* "shift green to 50%", for the answer and the log */
	size_t n;
	struct target **lanes; /* refs */
	int *weights;          /* the weights to set, per lane */
	bool *need;            /* lane i must be warm first */
	double since;
};

/* How long a change waits for its warms (retries included) before it is
 * refused; below warmctl's default 30 s, so the operator hears why. */
#define ROLLOUT_WAIT_MAX_S 25.0

void rollout_config_weight(struct target *t, const struct cfg_target *c, bool fresh)
{
	if (fresh || t->cfg_weight != c->weight) {
		t->weight = c->weight;
		t->prev_weight = -1;
	}
	t->cfg_weight = c->weight;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

/* l takes over t's cache state (the same version's entry). */
static void take_cache(struct target *l, const struct target *t)
{
	l->last_refresh = t->last_refresh;
	l->expires_at = t->expires_at;
	l->prefix_tokens = t->prefix_tokens;
	l->refreshed_by_warm = t->refreshed_by_warm;
	l->last_result = t->last_result;
	l->has_result = t->has_result;
}

struct target *rollout_replaced_lane(struct daemon *d, struct target *t, struct tmpl *old)
{
	double now = clock_now(d->clk);
	struct target *l, *known;
	char name[160], a[32];

	/* Nothing to keep for a target warmd is not warming by itself. */
	if (t->group || t->overlap_s <= 0 || t->expires_at <= now || old->unwarmable[0] ||
	    t->paused || t->policy == POLICY_MANUAL)
		return NULL;
	snprintf(name, sizeof(name), "%s@%s", t->name, old->short_version);
	known = daemon_find_target(d, name);
	if (known && known->retiring) {
		/* Back to a version still kept from an earlier reload. */
		known->retire_at = now + t->overlap_s;
		if (t->expires_at > known->expires_at)
			take_cache(known, t);
		return NULL;
	}
	if (known || !(l = target_new(name)))
		return NULL;
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
	if (t->nversions && (l->versions = malloc(sizeof(*l->versions)))) {
		l->versions[0] = *target_version_current(t);
		l->nversions = 1;
	}
	log_info("%s: keeping the replaced version %s warm as %s for %s (version_overlap), "
	         "longer while touches name it",
	         t->name, old->short_version, name, duration_format(t->overlap_s, a, sizeof(a)));
	return l;
}

bool rollout_keep_lane(struct target *l, struct target *g, double now)
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

static int lane_cmp(const char *name, const char *group, size_t glen)
{
	int c = strncmp(name, group, glen);

	return c ? c : (unsigned char)name[glen] - (unsigned char)'@';
}

size_t rollout_lanes(struct daemon *d, const char *group, size_t *ret_first)
{
	size_t lo = 0, hi = d->ntargets, glen = strlen(group), n = 0;

	/* The first name >= "GROUP@": names sort by strcmp, so lanes are a run. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (lane_cmp(d->targets[mid]->name, group, glen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo + n < d->ntargets && lane_cmp(d->targets[lo + n]->name, group, glen) == 0)
		n++;
	*ret_first = lo;
	return n;
}

void rollout_touched(struct daemon *d, struct target *t)
{
	double now = clock_now(d->clk);

	if (t->retiring && now + t->overlap_s > t->retire_at)
		t->retire_at = now + t->overlap_s;
}

void rollout_retire(void *warm_env, struct target *t)
{
	struct daemon *d = (struct daemon *)((char *)warm_env - offsetof(struct daemon, warm));
	char a[32];

	log_info("%s: replaced version %s of %s retired: no touch named it for %s", t->name,
	         t->tmpl->short_version, t->group, duration_format(t->overlap_s, a, sizeof(a)));
	daemon_drop_target(d, t);
}

/* ---- shift, promote, rollback -------------------------------------------------------- */

static void waiter_free(struct rollout_waiter *w)
{
	for (size_t i = 0; i < w->n; i++) {
		if (w->need[i] && w->lanes[i]->rollout_holds > 0)
			w->lanes[i]->rollout_holds--;
		target_unref(w->lanes[i]);
	}
	free(w->lanes);
	free(w->weights);
	free(w->need);
	free(w);
}

static void unlink_waiter(struct daemon *d, struct rollout_waiter *w)
{
	for (struct rollout_waiter **p = &d->waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			return;
		}
}

static json_object *weights_json(struct target *const *lanes, size_t n, double now, bool paused_all)
{
	json_object *arr = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		jsonx_add_str(o, "name", lanes[i]->vname);
		jsonx_add_str(o, "lane", lanes[i]->name);
		jsonx_add_str(o, "version", lanes[i]->tmpl->short_version);
		jsonx_add_int(o, "weight", lanes[i]->weight);
		jsonx_add_str(o, "state",
		              target_state_name(target_state(lanes[i], now, paused_all)));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* Sets the weights (they are all warm where they must be) and answers. */
static void apply_weights(struct daemon *d, struct target *const *lanes, const int *weights,
                          size_t n, const char *what, struct buf *out)
{
	json_object *data = json_object_new_object();
	char list[512] = "";

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(list);
		lanes[i]->prev_weight = lanes[i]->weight;
		lanes[i]->weight = weights[i];
		sched_plan(d->sched, lanes[i]);
		snprintf(list + len, sizeof(list) - len, "%s%s %d%%", i ? ", " : "",
		         lanes[i]->vname, weights[i]);
	}
	sched_rearm(d->sched);
	state_changed(d->state);
	daemon_update_status(d, true);
	log_notice("%s: %s: weights now %s", lanes[0]->group, what, list);
	jsonx_add_str(data, "target", lanes[0]->group);
	json_object_object_add(
	        data, "versions",
	        weights_json(lanes, n, clock_now(d->clk), sched_paused_all(d->sched)));
	{
		char msg[700];
		snprintf(msg, sizeof(msg), "%s: %s: %s", lanes[0]->group, what, list);
		jsonx_add_str(data, "message", msg);
	}
	proto_response_ok(out, data);
}

static void waiter_answer_error(struct daemon *d, struct rollout_waiter *w, const char *msg)
{
	struct buf out = BUF_INIT;

	log_warning("%s: %s refused: %s", w->group, w->what, msg);
	proto_response_error(&out, PROTO_E_FAILED, msg);
	unlink_waiter(d, w);
	ctl_pending_reply(w->reply, &out);
	waiter_free(w);
}

/* A warm of t failed: is it worth waiting for the scheduler's retry? */
static bool gave_up(const struct target *t)
{
	return t->blocked || t->prov->cred_failed || t->tmpl->unwarmable[0] ||
	       (t->has_result && t->last_result == WARM_NONE);
}

void rollout_warm_done(struct daemon *d, struct target *t)
{
	struct rollout_waiter *w, *next;
	double now = clock_now(d->clk);

	for (w = d->waiters; w; w = next) {
		bool waiting = false, failed = false;
		next = w->next;
		if (!ctl_pending_alive(w->reply)) {
			/* Nobody hears the answer: the operator was told nothing
			 * happened (warmctl gave up), so nothing happens. */
			log_notice("%s: %s dropped: the client went away before the warm", w->group,
			           w->what);
			unlink_waiter(d, w);
			ctl_pending_reply(w->reply, NULL);
			waiter_free(w);
			continue;
		}
		for (size_t i = 0; i < w->n; i++) {
			if (w->lanes[i] == t && w->need[i]) {
				if (t->has_result &&
				    (t->last_result == WARM_HIT || t->last_result == WARM_WRITE) &&
				    t->expires_at > now) {
					w->need[i] = false;
					t->rollout_holds--;
				} else if (gave_up(t)) {
					failed = true;
				}
			}
			waiting |= w->need[i];
		}
		if (failed || (waiting && now - w->since > ROLLOUT_WAIT_MAX_S)) {
			char msg[600];
			snprintf(msg, sizeof(msg),
			         "%s could not be warmed%s (%s); weights unchanged, so no traffic "
			         "goes to a cold version",
			         t->name, failed ? "" : " in time",
			         t->last_error[0] ? t->last_error : "no cache entry");
			waiter_answer_error(d, w, msg);
		} else if (!waiting) {
			struct buf out = BUF_INIT;
			unlink_waiter(d, w);
			apply_weights(d, w->lanes, w->weights, w->n, w->what, &out);
			ctl_pending_reply(w->reply, &out);
			waiter_free(w);
		}
	}
}

void rollout_abort_waiters(struct daemon *d, const char *why)
{
	while (d->waiters)
		waiter_answer_error(d, d->waiters, why);
}

/* The new weights for a shift of lanes[v] to pct: the others share the rest
 * in proportion to their weights now (equally if they have none), largest
 * remainders first, so that the total is exactly 100. */
static void shift_weights(struct target *const *lanes, size_t n, size_t v, int pct, int *ret)
{
	long others = 0, given = 0;
	size_t k = n - 1;
	double rem[CFG_MAX_VERSIONS];

	for (size_t i = 0; i < n; i++)
		if (i != v)
			others += lanes[i]->weight;
	for (size_t i = 0; i < n; i++) {
		double share;
		if (i == v) {
			ret[i] = pct;
			rem[i] = -1;
			continue;
		}
		share = others > 0 ? (double)(100 - pct) * lanes[i]->weight / (double)others
		                   : (double)(100 - pct) / (double)k;
		ret[i] = (int)share;
		rem[i] = share - ret[i];
		given += ret[i];
	}
	for (long left = 100 - pct - given; left > 0; left--) {
		size_t best = v;
		for (size_t i = 0; i < n; i++)
			if (i != v && (best == v || rem[i] > rem[best]))
				best = i;
		ret[best]++;
		rem[best] = -1;
	}
}

/* Why lane t cannot be warmed for a rollout now, or NULL. */
static const char *cannot_warm(struct daemon *d, const struct target *t)
{
	if (t->paused || sched_paused_all(d->sched))
		return "is paused (warmctl resume first)";
	if (t->tmpl->unwarmable[0])
		return "cannot be warmed minimally";
	if (t->prov->cred_failed)
		return "has a provider whose API key was rejected";
	return NULL;
}

void rollout_cmd_weights(struct daemon *d, const struct proto_request *req, struct conn *conn,
                         struct buf *out)
{
	size_t first, n = rollout_lanes(d, req->target, &first), v = n, need = 0;
	struct target **lanes = n ? &d->targets[first] : NULL;
	int weights[CFG_MAX_VERSIONS];
	struct rollout_waiter *w;
	double now = clock_now(d->clk);
	char msg[400], what[160];

	if (n == 0 || !lanes[0]->vname) {
		snprintf(msg, sizeof(msg),
		         "\"%.64s\" is not a target with named versions (versions = ( ... ) in "
		         "its config)",
		         req->target);
		proto_response_error(out,
		                     daemon_find_target(d, req->target) ? PROTO_E_FAILED
		                                                        : PROTO_E_NOT_FOUND,
		                     msg);
		return;
	}
	for (w = d->waiters; w; w = w->next)
		if (strcmp(w->group, req->target) == 0 && now - w->since > ROLLOUT_WAIT_MAX_S) {
			waiter_answer_error(d, w, "no warm answered in time; weights unchanged");
			break;
		}
	for (w = d->waiters; w; w = w->next)
		if (strcmp(w->group, req->target) == 0) {
			snprintf(msg, sizeof(msg), "%s: \"%s\" is still waiting for its warm",
			         req->target, w->what);
			proto_response_error(out, PROTO_E_BUSY, msg);
			return;
		}
	for (size_t i = 0; req->version && i < n; i++)
		if (strcmp(lanes[i]->vname, req->version) == 0)
			v = i;
	if (req->version && v == n) {
		snprintf(msg, sizeof(msg), "%s has no version named \"%.64s\"", req->target,
		         req->version);
		proto_response_error(out, PROTO_E_NOT_FOUND, msg);
		return;
	}
	if (req->cmd == PROTO_SHIFT) {
		shift_weights(lanes, n, v, (int)req->percent, weights);
		snprintf(what, sizeof(what), "shift %s to %d%%", req->version, (int)req->percent);
	} else if (req->cmd == PROTO_PROMOTE) {
		for (size_t i = 0; i < n; i++)
			weights[i] = i == v ? 100 : 0;
		snprintf(what, sizeof(what), "promote %s", req->version);
	} else {
		for (size_t i = 0; i < n; i++) {
			if (lanes[i]->prev_weight < 0) {
				snprintf(msg, sizeof(msg),
				         "%s: nothing to roll back (no shift or promote since the "
				         "configuration set its weights)",
				         req->target);
				proto_response_error(out, PROTO_E_FAILED, msg);
				return;
			}
			weights[i] = lanes[i]->prev_weight;
		}
		snprintf(what, sizeof(what), "rollback");
	}
	/* Every version the change puts traffic on must be warm first. */
	for (size_t i = 0; i < n; i++) {
		const char *why;
		if (weights[i] == 0 || target_state(lanes[i], now, false) == TARGET_WARM)
			continue;
		if ((why = cannot_warm(d, lanes[i]))) {
			snprintf(msg, sizeof(msg), "%s %s: refusing to send traffic to it cold",
			         lanes[i]->name, why);
			proto_response_error(out, PROTO_E_FAILED, msg);
			return;
		}
		need++;
	}
	if (need == 0) {
		apply_weights(d, lanes, weights, n, what, out);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->reply = ctl_defer(conn))) {
		free(w);
		proto_response_error(out, PROTO_E_BUSY, "cannot wait for the warm now; try again");
		return;
	}
	text_copy(w->group, sizeof(w->group), req->target);
	text_copy(w->what, sizeof(w->what), what);
	w->since = now;
	w->n = n;
	w->lanes = calloc(n, sizeof(*w->lanes));
	w->weights = calloc(n, sizeof(*w->weights));
	w->need = calloc(n, sizeof(*w->need));
	if (!w->lanes || !w->weights || !w->need)
		abort();
	for (size_t i = 0; i < n; i++) {
		w->lanes[i] = target_ref(lanes[i]);
		w->weights[i] = weights[i];
		w->need[i] = weights[i] > 0 && target_state(lanes[i], now, false) != TARGET_WARM;
		/* In rotation while we wait: the scheduler's retries and backoff apply. */
		lanes[i]->rollout_holds += w->need[i];
	}
	w->next = d->waiters;
	d->waiters = w;
	log_info("%s: %s: warming %zu version(s) first", req->target, what, need);
	for (size_t i = 0; i < n; i++)
		if (w->need[i])
			sched_warm_now(d->sched, w->lanes[i]); /* -EALREADY: one is on its way */
}

/* ---- versions and route -------------------------------------------------------------- */

static json_object *version_json(const struct target_version *v, const char *name, int weight,
                                 const char *lane, const char *state)
{
	json_object *o = json_object_new_object();
	char shortv[13];

	text_copy(shortv, sizeof(shortv), v->version);
	jsonx_add_str(o, "version", shortv);
	jsonx_add_str(o, "name", name);
	jsonx_add_int(o, "weight", weight);
	jsonx_add_time(o, "first_seen", v->first_seen);
	jsonx_add_time(o, "last_seen", v->last_seen);
	jsonx_add_int(o, "prefix_tokens", v->prefix_tokens);
	jsonx_add_int(o, "hits", (int64_t)v->hits);
	jsonx_add_int(o, "writes", (int64_t)v->writes);
	jsonx_add_str(o, "state", state);
	jsonx_add_str(o, "lane", lane);
	return o;
}

/* Is version hash the current version of one of the n targets? */
static bool is_live(struct target *const *v, size_t n, const char *hash)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->tmpl->version, hash) == 0)
			return true;
	return false;
}

void rollout_cmd_versions(struct daemon *d, const struct proto_request *req, struct buf *out)
{
	struct target *t = daemon_find_target(d, req->target);
	size_t first, n = rollout_lanes(d, req->target, &first);
	double now = clock_now(d->clk);
	bool paused_all = sched_paused_all(d->sched);
	json_object *data, *arr;

	if (!t && n == 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "no target named \"%.64s\"", req->target);
		proto_response_error(out, PROTO_E_NOT_FOUND, msg);
		return;
	}
	if (t && t->group) {
		/* A lane asked by its own name: its group answers. */
		char msg[300];
		snprintf(msg, sizeof(msg), "%s is a version of %s: warmctl versions %s", t->name,
		         t->group, t->group);
		proto_response_error(out, PROTO_E_FAILED, msg);
		return;
	}
	data = json_object_new_object();
	arr = json_object_new_array();
	jsonx_add_str(data, "target", req->target);
	if (t) {
		/* A plain target: its version, then the replaced ones still kept. */
		json_object_array_add(
		        arr, version_json(target_version_current(t), NULL, 100, t->name,
		                          target_state_name(target_state(t, now, paused_all))));
	}
	for (size_t i = 0; i < n; i++) {
		struct target *l = d->targets[first + i];
		json_object_array_add(
		        arr,
		        version_json(target_version_current(l), l->vname, l->vname ? l->weight : 0,
		                     l->name, target_state_name(target_state(l, now, paused_all))));
	}
	/* The history: versions none of them has any more. */
	for (size_t k = 0; k < (t ? 1 : n); k++) {
		const struct target *h = t ? t : d->targets[first + k];
		for (unsigned i = 1; i < h->nversions; i++) {
			const struct target_version *v = &h->versions[i];
			if ((t && strcmp(t->tmpl->version, v->version) == 0) ||
			    (n && is_live(&d->targets[first], n, v->version)))
				continue;
			json_object_array_add(arr, version_json(v, h->vname, 0, NULL, "retired"));
		}
	}
	json_object_object_add(data, "versions", arr);
	proto_response_ok(out, data);
}

void rollout_cmd_route(struct daemon *d, const struct proto_request *req, struct buf *out)
{
	struct target *t = daemon_find_target(d, req->target), *pick = NULL;
	size_t first, n = rollout_lanes(d, req->target, &first);
	json_object *data;
	long total = 0, r;

	if (t) {
		pick = t; /* one version (or a lane asked by name): it takes the traffic */
	} else if (n > 0 && d->targets[first]->vname) {
		for (size_t i = 0; i < n; i++)
			total += d->targets[first + i]->weight;
		/* xorshift64*: no need for more than an even split by weight */
		d->route_rng ^= d->route_rng >> 12;
		d->route_rng ^= d->route_rng << 25;
		d->route_rng ^= d->route_rng >> 27;
		r = total > 0 ? (long)((d->route_rng * 2685821657736338717ull) >> 33) % total : 0;
		for (size_t i = 0; i < n && !pick; i++) {
			r -= d->targets[first + i]->weight;
			if (r < 0)
				pick = d->targets[first + i];
		}
	}
	if (!pick) {
		char msg[160];
		snprintf(msg, sizeof(msg), "no target named \"%.64s\"", req->target);
		proto_response_error(out, PROTO_E_NOT_FOUND, msg);
		return;
	}
	data = json_object_new_object();
	jsonx_add_str(data, "target", req->target);
	jsonx_add_str(data, "name", pick->vname);
	jsonx_add_str(data, "version", pick->tmpl->short_version);
	jsonx_add_str(data, "lane", pick->name);
	jsonx_add_int(data, "weight", pick->vname ? pick->weight : 100);
	jsonx_add_str(data, "state",
	              target_state_name(
	                      target_state(pick, clock_now(d->clk), sched_paused_all(d->sched))));
	proto_response_ok(out, data);
}

/* rollout: several versions of one target warm side by side. */
#include "rollout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctl_reply.h"
#include "duration.h"
#include "jsonx.h"
#include "log.h"
#include "provider.h"
#include "sched.h"
#include "xalloc.h"

/* A shift, promote or rollback waiting for the warms of the versions it
 * brings into rotation. */
struct rollout_waiter {
	struct rollout_waiter *next;
	struct ctl_reply *reply;
	char group[65];
	char what[160]; /* "shift green to 50%", for the answer and the log */
	size_t n;
	struct target **lanes; /* refs */
	int *weights;          /* the weights to set, per lane */
	bool *need;            /* lane i must be warm first */
	double since;
};

struct rollout {
	struct target_set *set;
	void (*changed)(void *data);
	void *data;
	struct rollout_waiter *waiters;
	uint64_t rng; /* route's xorshift64* state */
};

/* How long a change waits for its warms (retries included) before it is
 * refused; below warmctl's default 30 s, so the operator hears why. */
#define ROLLOUT_WAIT_MAX_S 25.0

struct rollout *rollout_new(struct target_set *set, void (*changed)(void *data), void *data,
                            uint64_t seed)
{
	struct rollout *ro = xcalloc(1, sizeof(*ro));

	ro->set = set;
	ro->changed = changed;
	ro->data = data;
	ro->rng = seed | 1; /* xorshift never leaves 0 */
	return ro;
}

void rollout_free(struct rollout *ro)
{
	if (!ro)
		return;
	rollout_abort(ro, "warmd is stopping");
	free(ro);
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

static void unlink_waiter(struct rollout *ro, struct rollout_waiter *w)
{
	for (struct rollout_waiter **p = &ro->waiters; *p; p = &(*p)->next)
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
static void apply_weights(struct rollout *ro, struct target *const *lanes, const int *weights,
                          size_t n, const char *what, struct buf *out)
{
	json_object *data = json_object_new_object();
	char list[512] = "";

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(list);
		lanes[i]->prev_weight = lanes[i]->weight;
		lanes[i]->weight = weights[i];
		sched_plan(ro->set->sched, lanes[i]);
		snprintf(list + len, sizeof(list) - len, "%s%s %d%%", i ? ", " : "",
		         lanes[i]->vname, weights[i]);
	}
	sched_rearm(ro->set->sched);
	ro->changed(ro->data);
	log_notice("%s: %s: weights now %s", lanes[0]->group, what, list);
	jsonx_add_str(data, "target", lanes[0]->group);
	json_object_object_add(
	        data, "versions",
	        weights_json(lanes, n, clock_now(ro->set->clk), sched_paused_all(ro->set->sched)));
	{
		char msg[700];
		snprintf(msg, sizeof(msg), "%s: %s: %s", lanes[0]->group, what, list);
		jsonx_add_str(data, "message", msg);
	}
	proto_response_ok(out, data);
}

static void waiter_answer_error(struct rollout *ro, struct rollout_waiter *w, const char *msg)
{
	struct buf out = BUF_INIT;

	log_warning("%s: %s refused: %s", w->group, w->what, msg);
	proto_response_error(&out, PROTO_E_FAILED, msg);
	unlink_waiter(ro, w);
	ctl_reply_send(w->reply, &out);
	waiter_free(w);
}

/* A warm of t failed: is it worth waiting for the scheduler's retry? */
static bool gave_up(const struct target *t)
{
	return t->blocked || t->prov->cred_failed || t->tmpl->unwarmable[0] ||
	       (t->has_result && t->last_result == WARM_NONE);
}

void rollout_warm_done(struct rollout *ro, struct target *t)
{
	struct rollout_waiter *w, *next;
	double now = clock_now(ro->set->clk);

	for (w = ro->waiters; w; w = next) {
		bool waiting = false, failed = false;
		next = w->next;
		if (!ctl_reply_alive(w->reply)) {
			/* Nobody hears the answer: the operator was told nothing
			 * happened (warmctl gave up), so nothing happens. */
			log_notice("%s: %s dropped: the client went away before the warm", w->group,
			           w->what);
			unlink_waiter(ro, w);
			ctl_reply_send(w->reply, NULL);
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
			waiter_answer_error(ro, w, msg);
		} else if (!waiting) {
			struct buf out = BUF_INIT;
			unlink_waiter(ro, w);
			apply_weights(ro, w->lanes, w->weights, w->n, w->what, &out);
			ctl_reply_send(w->reply, &out);
			waiter_free(w);
		}
	}
}

void rollout_abort(struct rollout *ro, const char *why)
{
	while (ro->waiters)
		waiter_answer_error(ro, ro->waiters, why);
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
static const char *cannot_warm(struct rollout *ro, const struct target *t)
{
	if (t->paused || sched_paused_all(ro->set->sched))
		return "is paused (warmctl resume first)";
	if (t->tmpl->unwarmable[0])
		return "cannot be warmed minimally";
	if (t->prov->cred_failed)
		return "has a provider whose API key was rejected";
	return NULL;
}

/* The lanes of the group a weight command names (*ret_lanes, *ret_n) and
 * the version it names (*ret_v; n when none). Refuses, with an error in
 * out, a target without named versions, one with a change still waiting,
 * and an unknown version. */
static bool weights_lanes(struct rollout *ro, const struct proto_request *req, double now,
                          struct target ***ret_lanes, size_t *ret_n, size_t *ret_v, struct buf *out)
{
	size_t first, n = target_set_lanes(ro->set, req->target, &first), v = n;
	struct target **lanes = n ? &ro->set->targets[first] : NULL;
	struct rollout_waiter *w;
	char msg[400];

	if (n == 0 || !lanes[0]->vname) {
		snprintf(msg, sizeof(msg),
		         "\"%.64s\" is not a target with named versions (versions = ( ... ) in "
		         "its config)",
		         req->target);
		proto_response_error(out,
		                     target_set_find(ro->set, req->target) ? PROTO_E_FAILED
		                                                           : PROTO_E_NOT_FOUND,
		                     msg);
		return false;
	}
	for (w = ro->waiters; w; w = w->next)
		if (strcmp(w->group, req->target) == 0 && now - w->since > ROLLOUT_WAIT_MAX_S) {
			waiter_answer_error(ro, w, "no warm answered in time; weights unchanged");
			break;
		}
	for (w = ro->waiters; w; w = w->next)
		if (strcmp(w->group, req->target) == 0) {
			snprintf(msg, sizeof(msg), "%s: \"%s\" is still waiting for its warm",
			         req->target, w->what);
			proto_response_error(out, PROTO_E_BUSY, msg);
			return false;
		}
	for (size_t i = 0; req->version && i < n; i++)
		if (strcmp(lanes[i]->vname, req->version) == 0)
			v = i;
	if (req->version && v == n) {
		snprintf(msg, sizeof(msg), "%s has no version named \"%.64s\"", req->target,
		         req->version);
		proto_response_error(out, PROTO_E_NOT_FOUND, msg);
		return false;
	}
	*ret_lanes = lanes;
	*ret_n = n;
	*ret_v = v;
	return true;
}

/* The weights shift, promote or rollback ask for lanes[0..n) (v: the
 * version named), and the change in words (what). A rollback with nothing
 * to roll back is refused with an error in out. */
static bool weights_asked(const struct proto_request *req, struct target *const *lanes, size_t n,
                          size_t v, int *weights, char *what, size_t what_len, struct buf *out)
{
	char msg[400];

	if (req->cmd == PROTO_SHIFT) {
		shift_weights(lanes, n, v, (int)req->percent, weights);
		snprintf(what, what_len, "shift %s to %d%%", req->version, (int)req->percent);
		return true;
	}
	if (req->cmd == PROTO_PROMOTE) {
		for (size_t i = 0; i < n; i++)
			weights[i] = i == v ? 100 : 0;
		snprintf(what, what_len, "promote %s", req->version);
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		if (lanes[i]->prev_weight < 0) {
			snprintf(msg, sizeof(msg),
			         "%s: nothing to roll back (no shift or promote since the "
			         "configuration set its weights)",
			         req->target);
			proto_response_error(out, PROTO_E_FAILED, msg);
			return false;
		}
		weights[i] = lanes[i]->prev_weight;
	}
	snprintf(what, what_len, "rollback");
	return true;
}

/* How many of the lanes the change puts traffic on are not warm yet; -1,
 * with an error in out, when one of them cannot be warmed now. */
static int cold_lanes(struct rollout *ro, struct target *const *lanes, size_t n, const int *weights,
                      double now, struct buf *out)
{
	const char *why;
	char msg[400];
	int need = 0;

	for (size_t i = 0; i < n; i++) {
		if (weights[i] == 0 || target_state(lanes[i], now, false) == TARGET_WARM)
			continue;
		if ((why = cannot_warm(ro, lanes[i]))) {
			snprintf(msg, sizeof(msg), "%s %s: refusing to send traffic to it cold",
			         lanes[i]->name, why);
			proto_response_error(out, PROTO_E_FAILED, msg);
			return -1;
		}
		need++;
	}
	return need;
}

/* Defers the answer, warms the need cold lanes now and sets the weights
 * once they are warm (rollout_warm_done). */
static void wait_for_warms(struct rollout *ro, const char *group, struct ctl_conn *conn,
                           struct target *const *lanes, size_t n, const int *weights,
                           const char *what, int need, double now, struct buf *out)
{
	struct rollout_waiter *w = xcalloc(1, sizeof(*w));

	if (!(w->reply = ctl_reply_defer(conn))) {
		free(w);
		proto_response_error(out, PROTO_E_BUSY, "cannot wait for the warm now; try again");
		return;
	}
	text_copy(w->group, sizeof(w->group), group);
	text_copy(w->what, sizeof(w->what), what);
	w->since = now;
	w->n = n;
	w->lanes = xcalloc(n, sizeof(*w->lanes));
	w->weights = xcalloc(n, sizeof(*w->weights));
	w->need = xcalloc(n, sizeof(*w->need));
	for (size_t i = 0; i < n; i++) {
		w->lanes[i] = target_ref(lanes[i]);
		w->weights[i] = weights[i];
		w->need[i] = weights[i] > 0 && target_state(lanes[i], now, false) != TARGET_WARM;
		/* In rotation while we wait: the scheduler's retries and backoff apply. */
		lanes[i]->rollout_holds += w->need[i];
	}
	w->next = ro->waiters;
	ro->waiters = w;
	log_info("%s: %s: warming %d version(s) first", group, what, need);
	for (size_t i = 0; i < n; i++)
		if (w->need[i]) /* -EALREADY: one is on its way */
			sched_warm_now(ro->set->sched, w->lanes[i]);
}

void rollout_cmd_weights(struct rollout *ro, const struct proto_request *req, struct ctl_conn *conn,
                         struct buf *out)
{
	double now = clock_now(ro->set->clk);
	int weights[CFG_MAX_VERSIONS], need;
	struct target **lanes;
	char what[160];
	size_t n, v;

	if (!weights_lanes(ro, req, now, &lanes, &n, &v, out) ||
	    !weights_asked(req, lanes, n, v, weights, what, sizeof(what), out))
		return;
	/* Every version the change puts traffic on must be warm first. */
	need = cold_lanes(ro, lanes, n, weights, now, out);
	if (need == 0)
		apply_weights(ro, lanes, weights, n, what, out);
	else if (need > 0)
		wait_for_warms(ro, req->target, conn, lanes, n, weights, what, need, now, out);
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

void rollout_cmd_versions(struct rollout *ro, const struct proto_request *req, struct buf *out)
{
	struct target *t = target_set_find(ro->set, req->target);
	size_t first, n = target_set_lanes(ro->set, req->target, &first);
	double now = clock_now(ro->set->clk);
	bool paused_all = sched_paused_all(ro->set->sched);
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
		struct target *l = ro->set->targets[first + i];
		json_object_array_add(
		        arr,
		        version_json(target_version_current(l), l->vname, l->vname ? l->weight : 0,
		                     l->name, target_state_name(target_state(l, now, paused_all))));
	}
	/* The history: versions none of them has any more. */
	for (size_t k = 0; k < (t ? 1 : n); k++) {
		const struct target *h = t ? t : ro->set->targets[first + k];
		for (unsigned i = 1; i < h->nversions; i++) {
			const struct target_version *v = &h->versions[i];
			if ((t && strcmp(t->tmpl->version, v->version) == 0) ||
			    (n && is_live(&ro->set->targets[first], n, v->version)))
				continue;
			json_object_array_add(arr, version_json(v, h->vname, 0, NULL, "retired"));
		}
	}
	json_object_object_add(data, "versions", arr);
	proto_response_ok(out, data);
}

void rollout_cmd_route(struct rollout *ro, const struct proto_request *req, struct buf *out)
{
	struct target *t = target_set_find(ro->set, req->target), *pick = NULL;
	size_t first, n = target_set_lanes(ro->set, req->target, &first);
	json_object *data;
	long total = 0, r;

	if (t) {
		pick = t; /* one version (or a lane asked by name): it takes the traffic */
	} else if (n > 0 && ro->set->targets[first]->vname) {
		for (size_t i = 0; i < n; i++)
			total += ro->set->targets[first + i]->weight;
		/* xorshift64*: no need for more than an even split by weight */
		ro->rng ^= ro->rng >> 12;
		ro->rng ^= ro->rng << 25;
		ro->rng ^= ro->rng >> 27;
		r = total > 0 ? (long)((ro->rng * 2685821657736338717ull) >> 33) % total : 0;
		for (size_t i = 0; i < n && !pick; i++) {
			r -= ro->set->targets[first + i]->weight;
			if (r < 0)
				pick = ro->set->targets[first + i];
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
	if (pick->tmpl->managed) /* the cachedContent an application names */
		jsonx_add_str(data, "cache_name",
		              pick->leader && !pick->cache_name ? pick->leader->cache_name
		                                                : pick->cache_name);
	jsonx_add_str(data, "state",
	              target_state_name(target_state(pick, clock_now(ro->set->clk),
	                                             sched_paused_all(ro->set->sched))));
	proto_response_ok(out, data);
}

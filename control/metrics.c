/* metrics: warmd's counters and gauges in the Prometheus text format. */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "breaker.h"
#include "clock.h"
#include "cluster.h"
#include "config.h"
#include "fileio.h"
#include "log.h"
#include "pricing.h"
#include "provider.h"
#include "sched.h"
#include "session.h"
#include "target.h"
#include "version.h"
#include "xalloc.h"

struct metrics_textfile {
	uv_timer_t timer;
	const struct target_set *set;
	char *path;
	int last_err;
};

/* Does t have series of its own? The targets of warmd.conf do. Sessions
 * (warmctl keep) are counted together instead (session_metrics()): their
 * names come and go, and a series per name would pile up in Prometheus. */
static bool own_series(const struct target *t)
{
	return !t->session;
}

/* Label values: backslash, double quote and newline are escaped. */
static void label(struct buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			buf_puts(b, "\\n");
		else
			buf_append(b, v, 1);
	}
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1"[,k2="v2"]} value */
static void sample(struct buf *b, const char *name, const char *k1, const char *v1, const char *k2,
                   const char *v2, double value)
{
	buf_puts(b, name);
	if (k1) {
		buf_printf(b, "{%s=\"", k1);
		label(b, v1);
		buf_puts(b, "\"");
		if (k2) {
			buf_printf(b, ",%s=\"", k2);
			label(b, v2);
			buf_puts(b, "\"");
		}
		buf_puts(b, "}");
	}
	buf_printf(b, " %.17g\n", value);
}

static void warms_total(struct buf *b, const struct target_set *set)
{
	static const char *const results[] = { "hit", "write", "none", "error" };

	head(b, "warmd_warms_total", "counter",
	     "Warm requests by verdict (hit, write, none, error).");
	for (size_t i = 0; i < set->ntargets; i++) {
		const struct target *t = set->targets[i];
		const uint64_t n[] = { t->hits, t->writes, t->nones, t->errors };

		if (!own_series(t))
			continue;
		for (int k = 0; k < 4; k++) {
			buf_puts(b, "warmd_warms_total{target=\"");
			label(b, t->name);
			buf_puts(b, "\",provider=\"");
			label(b, t->prov->name);
			buf_printf(b, "\",result=\"%s\"} %llu\n", results[k],
			           (unsigned long long)n[k]);
		}
	}
}

static void tokens_total(struct buf *b, const struct target_set *set)
{
	static const char *const kinds[] = { "cache_read", "cache_write", "input", "output" };

	head(b, "warmd_tokens_total", "counter",
	     "Tokens the warms of a target were billed for, by kind.");
	for (size_t i = 0; i < set->ntargets; i++) {
		const struct target *t = set->targets[i];
		const uint64_t n[] = { t->tok_read, t->tok_write, t->tok_input, t->tok_output };

		if (!own_series(t))
			continue;
		for (int k = 0; k < 4; k++)
			sample(b, "warmd_tokens_total", "target", t->name, "kind", kinds[k],
			       (double)n[k]);
	}
}

static void duration_histogram(struct buf *b, const struct target_set *set)
{
	head(b, "warmd_warm_duration_seconds", "histogram",
	     "Duration of warm requests that got an answer.");
	for (size_t i = 0; i < set->nprovs; i++) {
		const struct provider *p = set->provs[i];
		uint64_t cum = 0;
		for (int k = 0; k < PROVIDER_LAT_BUCKETS; k++) {
			char le[32];
			cum += p->lat_buckets[k];
			snprintf(le, sizeof(le), "%g", provider_lat_bounds[k]);
			sample(b, "warmd_warm_duration_seconds_bucket", "provider", p->name, "le",
			       le, (double)cum);
		}
		sample(b, "warmd_warm_duration_seconds_bucket", "provider", p->name, "le", "+Inf",
		       (double)p->lat_count);
		sample(b, "warmd_warm_duration_seconds_sum", "provider", p->name, NULL, NULL,
		       p->lat_sum);
		sample(b, "warmd_warm_duration_seconds_count", "provider", p->name, NULL, NULL,
		       (double)p->lat_count);
	}
}

static void lateness_histogram(struct buf *b, const struct target_set *set)
{
	const struct sched_lateness *l = sched_lateness(set->sched);
	uint64_t cum = 0;

	head(b, "warmd_warm_lateness_seconds", "histogram",
	     "How long after its due time each scheduled warm was sent.");
	for (int k = 0; k < SCHED_LATE_BUCKETS; k++) {
		char le[32];
		cum += l->buckets[k];
		snprintf(le, sizeof(le), "%g", sched_late_bounds[k]);
		sample(b, "warmd_warm_lateness_seconds_bucket", "le", le, NULL, NULL, (double)cum);
	}
	sample(b, "warmd_warm_lateness_seconds_bucket", "le", "+Inf", NULL, NULL, (double)l->count);
	sample(b, "warmd_warm_lateness_seconds_sum", NULL, NULL, NULL, NULL, l->sum);
	sample(b, "warmd_warm_lateness_seconds_count", NULL, NULL, NULL, NULL, (double)l->count);
}

/* What the alerting rules (contrib/prometheus/) need per target: whether it
 * should be warm (policy, state), for how many TTLs it has not been, and its
 * breaker. warmd_target_state is one-hot: one series per state, 1 for the
 * current one, so that a state change never makes a series go stale. */
static void target_gauges(struct buf *b, const struct target_set *set, double now, bool paused_all)
{
	head(b, "warmd_target_info", "gauge",
	     "Always 1; the target's provider and policy are in the labels.");
	for (size_t i = 0; i < set->ntargets; i++) {
		const struct target *t = set->targets[i];

		if (!own_series(t))
			continue;
		buf_puts(b, "warmd_target_info{target=\"");
		label(b, t->name);
		buf_puts(b, "\",provider=\"");
		label(b, t->prov->name);
		buf_printf(b, "\",policy=\"%s\"} 1\n", policy_name(t->policy));
	}
	head(b, "warmd_target_state", "gauge",
	     "1 for the target's current state (warm, cold, warming, paused, failing, idle), else "
	     "0.");
	for (size_t i = 0; i < set->ntargets; i++) {
		enum target_state st = target_state(set->targets[i], now, paused_all);

		if (!own_series(set->targets[i]))
			continue;
		for (int s = 0; s <= TARGET_IDLE; s++)
			sample(b, "warmd_target_state", "target", set->targets[i]->name, "state",
			       target_state_name((enum target_state)s), s == (int)st);
	}
	head(b, "warmd_target_ttl_seconds", "gauge",
	     "The target's cache TTL: how long a refresh keeps it warm.");
	for (size_t i = 0; i < set->ntargets; i++)
		if (own_series(set->targets[i]))
			sample(b, "warmd_target_ttl_seconds", "target", set->targets[i]->name, NULL,
			       NULL, set->targets[i]->ttl_s);
	head(b, "warmd_target_last_refresh_timestamp_seconds", "gauge",
	     "Unix time the request that last refreshed the target's cache was sent (0: never).");
	for (size_t i = 0; i < set->ntargets; i++)
		if (own_series(set->targets[i]))
			sample(b, "warmd_target_last_refresh_timestamp_seconds", "target",
			       set->targets[i]->name, NULL, NULL, set->targets[i]->last_refresh);
	head(b, "warmd_target_breaker_open", "gauge",
	     "1 while the target's circuit breaker is open or half-open (its warms are held "
	     "back).");
	for (size_t i = 0; i < set->ntargets; i++)
		if (own_series(set->targets[i]))
			sample(b, "warmd_target_breaker_open", "target", set->targets[i]->name,
			       NULL, NULL, set->targets[i]->breaker.state != BREAKER_CLOSED);
}

static void provider_gauges(struct buf *b, const struct target_set *set)
{
	head(b, "warmd_provider_credential_failed", "gauge",
	     "1 while the provider's credential cannot be used (rejected with 401/403, or out of "
	     "budget): none of its targets is warmed until a reload or an operator's warm.");
	for (size_t i = 0; i < set->nprovs; i++)
		sample(b, "warmd_provider_credential_failed", "provider", set->provs[i]->name, NULL,
		       NULL, set->provs[i]->cred_failed);
	head(b, "warmd_provider_breaker_open", "gauge",
	     "1 while the provider credential's circuit breaker is open or half-open.");
	for (size_t i = 0; i < set->nprovs; i++)
		sample(b, "warmd_provider_breaker_open", "provider", set->provs[i]->name, NULL,
		       NULL, set->provs[i]->breaker.state != BREAKER_CLOSED);
}

/* Sessions together: how many, their bodies, their warms (those of the
 * sessions that ended included), keeps by outcome, ends by why. */
static void session_metrics(struct buf *b, const struct target_set *set)
{
	static const char *const results[] = { "hit", "write", "none", "error" };
	struct sessions_stats st = { 0 };
	uint64_t warms[4];

	if (set->sessions)
		sessions_get_stats(set->sessions, &st);
	warms[0] = st.past_hits;
	warms[1] = st.past_writes;
	warms[2] = st.past_nones;
	warms[3] = st.past_errors;
	for (size_t i = 0; i < set->ntargets; i++) {
		const struct target *t = set->targets[i];
		if (!t->session)
			continue;
		warms[0] += t->hits;
		warms[1] += t->writes;
		warms[2] += t->nones;
		warms[3] += t->errors;
	}
	head(b, "warmd_sessions", "gauge", "Sessions (warmctl keep) kept now.");
	sample(b, "warmd_sessions", NULL, NULL, NULL, NULL, (double)st.count);
	head(b, "warmd_session_bytes", "gauge", "Bytes of the sessions' request bodies together.");
	sample(b, "warmd_session_bytes", NULL, NULL, NULL, NULL, (double)st.bytes);
	head(b, "warmd_session_warms_total", "counter",
	     "Warm requests of sessions by verdict (hit, write, none, error).");
	for (int k = 0; k < 4; k++)
		sample(b, "warmd_session_warms_total", "result", results[k], NULL, NULL,
		       (double)warms[k]);
	head(b, "warmd_session_keeps_total", "counter",
	     "Keeps by what they did (created, new_version, same, refused).");
	for (int k = 0; k < SESSION_KEEP_COUNT; k++)
		sample(b, "warmd_session_keeps_total", "result",
		       session_keep_result_name((enum session_keep_result)k), NULL, NULL,
		       (double)st.keeps[k]);
	head(b, "warmd_session_drops_total", "counter",
	     "Sessions that ended, by reason (drop, expired, provider_removed, name_taken, "
	     "invalid).");
	for (int k = 0; k < SESSION_END_COUNT; k++)
		sample(b, "warmd_session_drops_total", "reason",
		       session_end_name((enum session_end)k), NULL, NULL, (double)st.ended[k]);
}

/* Cluster mode (docs/cluster.md): only when it is on. */
static void cluster_metrics(struct buf *b, const struct target_set *set)
{
	struct cluster_stats st;

	if (!set->cluster)
		return;
	cluster_get_stats(set->cluster, &st);
	head(b, "warmd_cluster_connected", "gauge", "1 while Redis answers.");
	sample(b, "warmd_cluster_connected", NULL, NULL, NULL, NULL, st.connected);
	head(b, "warmd_cluster_degraded", "gauge",
	     "1 while Redis cannot be used and this node warms every target (fail open).");
	sample(b, "warmd_cluster_degraded", NULL, NULL, NULL, NULL, st.degraded);
	head(b, "warmd_cluster_nodes", "gauge", "Live nodes of the cluster, this one included.");
	sample(b, "warmd_cluster_nodes", NULL, NULL, NULL, NULL, (double)st.nodes);
	head(b, "warmd_cluster_owned_targets", "gauge",
	     "Cache entries this node warms (all of its own in degraded mode).");
	sample(b, "warmd_cluster_owned_targets", NULL, NULL, NULL, NULL, (double)st.owned);
	head(b, "warmd_cluster_takeovers_total", "counter",
	     "Entries this node took over from another node.");
	sample(b, "warmd_cluster_takeovers_total", NULL, NULL, NULL, NULL, (double)st.takeovers);
	head(b, "warmd_cluster_redis_rtt_seconds", "gauge",
	     "Round-trip time of Redis commands (moving average).");
	sample(b, "warmd_cluster_redis_rtt_seconds", NULL, NULL, NULL, NULL,
	       st.rtt_s >= 0 ? st.rtt_s : 0);
	head(b, "warmd_cluster_redis_errors_total", "counter",
	     "Redis commands that timed out, were lost with their connection or refused.");
	sample(b, "warmd_cluster_redis_errors_total", NULL, NULL, NULL, NULL,
	       (double)st.redis_errors);
	head(b, "warmd_cluster_config_differs_targets", "gauge",
	     "Targets some live node's configuration gives another version.");
	sample(b, "warmd_cluster_config_differs_targets", NULL, NULL, NULL, NULL,
	       (double)st.differs);
}

int metrics_write(const struct target_set *set, struct buf *b)
{
	double now = clock_now(set->clk);
	bool paused_all = sched_paused_all(set->sched);
	size_t by_state[TARGET_IDLE + 1] = { 0 };

	head(b, "warmd_build_info", "gauge", "Always 1; the version is in the label.");
	sample(b, "warmd_build_info", "version", WARMD_VERSION, NULL, NULL, 1);
	warms_total(b, set);
	head(b, "warmd_target_warm", "gauge",
	     "1 while the target's cached prefix is believed warm.");
	for (size_t i = 0; i < set->ntargets; i++) {
		enum target_state st = target_state(set->targets[i], now, paused_all);

		if (!own_series(set->targets[i]))
			continue;
		by_state[st]++;
		sample(b, "warmd_target_warm", "target", set->targets[i]->name, NULL, NULL,
		       set->targets[i]->expires_at > now);
	}
	head(b, "warmd_target_expiry_seconds", "gauge",
	     "Seconds until the target's cached prefix expires (0 when it is cold).");
	for (size_t i = 0; i < set->ntargets; i++) {
		double left = set->targets[i]->expires_at - now;

		if (!own_series(set->targets[i]))
			continue;
		sample(b, "warmd_target_expiry_seconds", "target", set->targets[i]->name, NULL,
		       NULL, left > 0 ? left : 0);
	}
	target_gauges(b, set, now, paused_all);
	provider_gauges(b, set);
	head(b, "warmd_targets", "gauge", "Targets by state.");
	for (int s = 0; s <= TARGET_IDLE; s++)
		sample(b, "warmd_targets", "state", target_state_name((enum target_state)s), NULL,
		       NULL, (double)by_state[s]);
	duration_histogram(b, set);
	lateness_histogram(b, set);
	tokens_total(b, set);
	head(b, "warmd_cost_usd_total", "counter",
	     "What the target's warms cost, in USD (targets whose model has a price).");
	for (size_t i = 0; i < set->ntargets; i++)
		if (own_series(set->targets[i]) && set->targets[i]->price)
			sample(b, "warmd_cost_usd_total", "target", set->targets[i]->name, NULL,
			       NULL, pricing_usd(set->targets[i]->cost_pico));
	head(b, "warmd_saved_usd_total", "counter",
	     "Estimated USD real requests saved because a warm had kept the cache.");
	for (size_t i = 0; i < set->ntargets; i++)
		if (own_series(set->targets[i]) && set->targets[i]->price)
			sample(b, "warmd_saved_usd_total", "target", set->targets[i]->name, NULL,
			       NULL, pricing_usd(set->targets[i]->saved_pico));
	head(b, "warmd_touches_total", "counter", "Touches (reports of real traffic) per target.");
	for (size_t i = 0; i < set->ntargets; i++)
		if (own_series(set->targets[i]))
			sample(b, "warmd_touches_total", "target", set->targets[i]->name, NULL,
			       NULL, (double)set->targets[i]->touches);
	head(b, "warmd_touches_dropped_total", "counter", "Touch datagrams that were not valid.");
	sample(b, "warmd_touches_dropped_total", NULL, NULL, NULL, NULL,
	       (double)set->touches_dropped);
	head(b, "warmd_retries_total", "counter", "Warms retried after a retryable failure.");
	for (size_t i = 0; i < set->nprovs; i++)
		sample(b, "warmd_retries_total", "provider", set->provs[i]->name, NULL, NULL,
		       (double)set->provs[i]->retries);
	head(b, "warmd_rate_limited_total", "counter", "Warms the provider answered with 429.");
	for (size_t i = 0; i < set->nprovs; i++)
		sample(b, "warmd_rate_limited_total", "provider", set->provs[i]->name, NULL, NULL,
		       (double)set->provs[i]->rate_limited);
	head(b, "warmd_config_reloads_total", "counter", "Configuration reloads by result.");
	sample(b, "warmd_config_reloads_total", "result", "success", NULL, NULL,
	       (double)set->reloads_ok);
	sample(b, "warmd_config_reloads_total", "result", "failure", NULL, NULL,
	       (double)set->reloads_failed);
	session_metrics(b, set);
	cluster_metrics(b, set);
	head(b, "warmd_inflight", "gauge", "Warm requests in flight.");
	sample(b, "warmd_inflight", NULL, NULL, NULL, NULL, sched_inflight(set->sched));
	return b->data ? 0 : -ENOMEM;
}

/* ---- node_exporter textfile ---- */

/* Replaces the file (node_exporter ignores files not ending in .prom, so
 * it never reads the temp file, PATH.tmp). */
static int textfile_write(struct metrics_textfile *m, struct errmsg *e)
{
	struct buf b = BUF_INIT;
	int r = metrics_write(m->set, &b);

	if (r < 0)
		errmsg_set(e, r, "out of memory");
	else
		r = fileio_write_atomic(m->path, b.data, b.len, 0644, e);
	buf_free(&b);
	return r;
}

static void textfile_cb(uv_timer_t *t)
{
	struct metrics_textfile *m = t->data;
	struct errmsg e;
	int r = textfile_write(m, &e);

	if (r < 0 && r != m->last_err)
		log_warning("metrics_textfile not written: %s", e.text);
	m->last_err = r;
}

int metrics_textfile_open(uv_loop_t *loop, const struct target_set *set, const char *path,
                          double interval, struct metrics_textfile **ret, struct errmsg *e)
{
	struct metrics_textfile *m = xcalloc(1, sizeof(*m));
	uint64_t ms = (uint64_t)(interval * 1000);
	int r;

	m->path = xstrdup(path);
	m->set = set;
	r = textfile_write(m, e);
	if (r < 0) {
		free(m->path);
		free(m);
		errmsg_prefix(e, "cannot write metrics_textfile %s", path);
		return r;
	}
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	uv_timer_start(&m->timer, textfile_cb, ms, ms);
	*ret = m;
	return 0;
}

static void textfile_closed_cb(uv_handle_t *h)
{
	struct metrics_textfile *m = h->data;

	free(m->path);
	free(m);
}

void metrics_textfile_close(struct metrics_textfile *m)
{
	struct errmsg e;

	if (!m)
		return;
	textfile_write(m, &e); /* the last word, for a scrape after we are gone */
	uv_timer_stop(&m->timer);
	uv_close((uv_handle_t *)&m->timer, textfile_closed_cb);
}

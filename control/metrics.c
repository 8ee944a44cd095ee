/* metrics: warmd's counters and gauges in the Prometheus text format. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "daemon.h"
#include "log.h"
#include "pricing.h"
#include "version.h"

struct metrics_textfile {
	uv_timer_t timer;
	struct daemon *d;
	char *path;
	int last_err;
};

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

static void warms_total(struct buf *b, struct daemon *d)
{
	static const char *const results[] = { "hit", "write", "none", "error" };

	head(b, "warmd_warms_total", "counter",
	     "Warm requests by verdict (hit, write, none, error).");
	for (size_t i = 0; i < d->ntargets; i++) {
		const struct target *t = d->targets[i];
		const uint64_t n[] = { t->hits, t->writes, t->nones, t->errors };
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

static void tokens_total(struct buf *b, struct daemon *d)
{
	static const char *const kinds[] = { "cache_read", "cache_write", "input", "output" };

	head(b, "warmd_tokens_total", "counter",
	     "Tokens the warms of a target were billed for, by kind.");
	for (size_t i = 0; i < d->ntargets; i++) {
		const struct target *t = d->targets[i];
		const uint64_t n[] = { t->tok_read, t->tok_write, t->tok_input, t->tok_output };
		for (int k = 0; k < 4; k++)
			sample(b, "warmd_tokens_total", "target", t->name, "kind", kinds[k],
			       (double)n[k]);
	}
}

static void duration_histogram(struct buf *b, struct daemon *d)
{
	head(b, "warmd_warm_duration_seconds", "histogram",
	     "Duration of warm requests that got an answer.");
	for (size_t i = 0; i < d->nprovs; i++) {
		const struct provider *p = d->provs[i];
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

/* What the alerting rules (contrib/prometheus/) need per target: whether it
 * should be warm (policy, state), for how many TTLs it has not been, and its
 * breaker. warmd_target_state is one-hot: one series per state, 1 for the
 * current one, so that a state change never makes a series go stale. */
static void target_gauges(struct buf *b, struct daemon *d, double now, bool paused_all)
{
	head(b, "warmd_target_info", "gauge",
	     "Always 1; the target's provider and policy are in the labels.");
	for (size_t i = 0; i < d->ntargets; i++) {
		const struct target *t = d->targets[i];
		buf_puts(b, "warmd_target_info{target=\"");
		label(b, t->name);
		buf_puts(b, "\",provider=\"");
		label(b, t->prov->name);
		buf_printf(b, "\",policy=\"%s\"} 1\n", policy_name(t->policy));
	}
	head(b, "warmd_target_state", "gauge",
	     "1 for the target's current state (warm, cold, warming, paused, failing, idle), else "
	     "0.");
	for (size_t i = 0; i < d->ntargets; i++) {
		enum target_state st = target_state(d->targets[i], now, paused_all);
		for (int s = 0; s <= TARGET_IDLE; s++)
			sample(b, "warmd_target_state", "target", d->targets[i]->name, "state",
			       target_state_name((enum target_state)s), s == (int)st);
	}
	head(b, "warmd_target_ttl_seconds", "gauge",
	     "The target's cache TTL: how long a refresh keeps it warm.");
	for (size_t i = 0; i < d->ntargets; i++)
		sample(b, "warmd_target_ttl_seconds", "target", d->targets[i]->name, NULL, NULL,
		       d->targets[i]->ttl_s);
	head(b, "warmd_target_last_refresh_timestamp_seconds", "gauge",
	     "Unix time the request that last refreshed the target's cache was sent (0: never).");
	for (size_t i = 0; i < d->ntargets; i++)
		sample(b, "warmd_target_last_refresh_timestamp_seconds", "target",
		       d->targets[i]->name, NULL, NULL, d->targets[i]->last_refresh);
	head(b, "warmd_target_breaker_open", "gauge",
	     "1 while the target's circuit breaker is open or half-open (its warms are held "
	     "back).");
	for (size_t i = 0; i < d->ntargets; i++)
		sample(b, "warmd_target_breaker_open", "target", d->targets[i]->name, NULL, NULL,
		       d->targets[i]->breaker.state != BREAKER_CLOSED);
}

static void provider_gauges(struct buf *b, struct daemon *d)
{
	head(b, "warmd_provider_credential_failed", "gauge",
	     "1 while the provider's credential cannot be used (rejected with 401/403, or out of "
	     "budget): none of its targets is warmed until a reload or an operator's warm.");
	for (size_t i = 0; i < d->nprovs; i++)
		sample(b, "warmd_provider_credential_failed", "provider", d->provs[i]->name, NULL,
		       NULL, d->provs[i]->cred_failed);
	head(b, "warmd_provider_breaker_open", "gauge",
	     "1 while the provider credential's circuit breaker is open or half-open.");
	for (size_t i = 0; i < d->nprovs; i++)
		sample(b, "warmd_provider_breaker_open", "provider", d->provs[i]->name, NULL, NULL,
		       d->provs[i]->breaker.state != BREAKER_CLOSED);
}

int metrics_write(struct daemon *d, struct buf *b)
{
	double now = clock_now(d->clk);
	bool paused_all = sched_paused_all(d->sched);
	size_t by_state[TARGET_IDLE + 1] = { 0 };

	head(b, "warmd_build_info", "gauge", "Always 1; the version is in the label.");
	sample(b, "warmd_build_info", "version", WARMD_VERSION, NULL, NULL, 1);
	warms_total(b, d);
	head(b, "warmd_target_warm", "gauge",
	     "1 while the target's cached prefix is believed warm.");
	for (size_t i = 0; i < d->ntargets; i++) {
		enum target_state st = target_state(d->targets[i], now, paused_all);
		by_state[st]++;
		sample(b, "warmd_target_warm", "target", d->targets[i]->name, NULL, NULL,
		       d->targets[i]->expires_at > now);
	}
	head(b, "warmd_target_expiry_seconds", "gauge",
	     "Seconds until the target's cached prefix expires (0 when it is cold).");
	for (size_t i = 0; i < d->ntargets; i++) {
		double left = d->targets[i]->expires_at - now;
		sample(b, "warmd_target_expiry_seconds", "target", d->targets[i]->name, NULL, NULL,
		       left > 0 ? left : 0);
	}
	target_gauges(b, d, now, paused_all);
	provider_gauges(b, d);
	head(b, "warmd_targets", "gauge", "Targets by state.");
	for (int s = 0; s <= TARGET_IDLE; s++)
		sample(b, "warmd_targets", "state", target_state_name((enum target_state)s), NULL,
		       NULL, (double)by_state[s]);
	duration_histogram(b, d);
	tokens_total(b, d);
	head(b, "warmd_cost_usd_total", "counter",
	     "What the target's warms cost, in USD (targets whose model has a price).");
	for (size_t i = 0; i < d->ntargets; i++)
		if (d->targets[i]->price)
			sample(b, "warmd_cost_usd_total", "target", d->targets[i]->name, NULL, NULL,
			       pricing_usd(d->targets[i]->cost_pico));
	head(b, "warmd_saved_usd_total", "counter",
	     "Estimated USD real requests saved because a warm had kept the cache.");
	for (size_t i = 0; i < d->ntargets; i++)
		if (d->targets[i]->price)
			sample(b, "warmd_saved_usd_total", "target", d->targets[i]->name, NULL,
			       NULL, pricing_usd(d->targets[i]->saved_pico));
	head(b, "warmd_touches_total", "counter", "Touches (reports of real traffic) per target.");
	for (size_t i = 0; i < d->ntargets; i++)
		sample(b, "warmd_touches_total", "target", d->targets[i]->name, NULL, NULL,
		       (double)d->targets[i]->touches);
	head(b, "warmd_touches_dropped_total", "counter", "Touch datagrams that were not valid.");
	sample(b, "warmd_touches_dropped_total", NULL, NULL, NULL, NULL,
	       (double)d->touches_dropped);
	head(b, "warmd_retries_total", "counter", "Warms retried after a retryable failure.");
	for (size_t i = 0; i < d->nprovs; i++)
		sample(b, "warmd_retries_total", "provider", d->provs[i]->name, NULL, NULL,
		       (double)d->provs[i]->retries);
	head(b, "warmd_rate_limited_total", "counter", "Warms the provider answered with 429.");
	for (size_t i = 0; i < d->nprovs; i++)
		sample(b, "warmd_rate_limited_total", "provider", d->provs[i]->name, NULL, NULL,
		       (double)d->provs[i]->rate_limited);
	head(b, "warmd_config_reloads_total", "counter", "Configuration reloads by result.");
	sample(b, "warmd_config_reloads_total", "result", "success", NULL, NULL,
	       (double)d->reloads_ok);
	sample(b, "warmd_config_reloads_total", "result", "failure", NULL, NULL,
	       (double)d->reloads_failed);
	head(b, "warmd_inflight", "gauge", "Warm requests in flight.");
	sample(b, "warmd_inflight", NULL, NULL, NULL, NULL, sched_inflight(d->sched));
	return b->data ? 0 : -ENOMEM;
}

/* ---- node_exporter textfile ---- */

static int textfile_write(struct metrics_textfile *m)
{
	struct buf b = BUF_INIT;
	char tmp[4200];
	size_t off = 0;
	int fd, r = 0;

	if (metrics_write(m->d, &b) < 0) {
		buf_free(&b);
		return -ENOMEM;
	}
	/* node_exporter ignores files not ending in .prom: the temp name does not. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", m->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		r = -errno;
	while (r == 0 && off < b.len) {
		ssize_t n = write(fd, b.data + off, b.len - off);
		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	if (r == 0 && rename(tmp, m->path) < 0)
		r = -errno;
	if (r < 0 && fd >= 0)
		unlink(tmp);
	buf_free(&b);
	return r;
}

static void textfile_cb(uv_timer_t *t)
{
	struct metrics_textfile *m = t->data;
	int r = textfile_write(m);

	if (r < 0 && r != m->last_err)
		log_warning("metrics_textfile %s not written: %s", m->path, strerror(-r));
	m->last_err = r;
}

int metrics_textfile_open(struct daemon *d, const char *path, double interval,
                          struct metrics_textfile **ret, struct errmsg *e)
{
	struct metrics_textfile *m = calloc(1, sizeof(*m));
	uint64_t ms = (uint64_t)(interval * 1000);
	int r;

	if (!m || !(m->path = strdup(path))) {
		free(m);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	m->d = d;
	r = textfile_write(m);
	if (r < 0) {
		free(m->path);
		free(m);
		return errmsg_set(e, r, "cannot write metrics_textfile %s: %s", path, strerror(-r));
	}
	uv_timer_init(d->loop, &m->timer);
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
	if (!m)
		return;
	textfile_write(m); /* the last word, for a scrape after we are gone */
	uv_timer_stop(&m->timer);
	uv_close((uv_handle_t *)&m->timer, textfile_closed_cb);
}

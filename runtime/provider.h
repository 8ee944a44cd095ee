/* provider: the runtime provider object targets point at: an endpoint, a
 * credential, limits, and what the scheduler and metrics keep per provider
 * (breaker, wait queue, rate budget, latencies). What a provider kind's API
 * looks like is its adapter's business (core/adapter.h). */
#ifndef WARMD_PROVIDER_H
#define WARMD_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>

#include "adapter.h"
#include "breaker.h"
#include "config.h"
#include "heap.h"

/* Minimum samples of warm latency the margin estimate keeps. */
#define PROVIDER_LAT_SAMPLES 64

/* Upper bounds (seconds) of the warm duration histogram. */
#define PROVIDER_LAT_BUCKETS 10
extern const double provider_lat_bounds[PROVIDER_LAT_BUCKETS];

struct cred;
struct http_req;
struct provider;

/* Counts one warm duration in the histogram. */
void provider_observe_latency(struct provider *p, double seconds);

/* The runtime provider. Owned by the daemon, refcounted because in-flight
 * warms of a removed provider keep it alive until they complete. */
struct provider {
	int refs;
	char *name;
	enum provider_kind kind;
	const struct adapter_ops *ops;
	char *base_url;
	int max_inflight;
	int max_rpm;
	bool inline_key; /* its key is written in the config (the audit flags it) */
	int timeout_ms;
	int connect_timeout_ms;
	int low_speed_bps;
	int low_speed_time_ms;
	size_t max_response_bytes;
	char *ca_file;     /* or NULL */
	char *proxy;       /* or NULL */
	char *region;      /* a cloud's region, or NULL (prices may depend on it) */
	struct cred *cred; /* key + prepared headers; replaced on reload */
	bool removed;

	/* The credential cannot be used (401/403, or a spend limit): no warms
	 * until the key changes (reload) or an operator's warm. */
	bool cred_failed;
	char cred_error[256];

	/* Politeness (sched.c): nothing is sent before hold_until (a 429's
	 * retry-after, or rate-limit headers running low), nor while the
	 * credential's breaker is open. */
	double hold_until;
	struct breaker breaker;
	double fail_rate; /* moving average of failed warms, sizes the retry reserve */

	/* Scheduler state (sched.c owns these). */
	struct heap waitq; /* due targets waiting for a slot */
	int inflight;
	double rpm_tokens;
	double rpm_refill_at;
	double lat[PROVIDER_LAT_SAMPLES]; /* ring of recent warm latencies (s) */
	unsigned nlat, lat_pos;
	double lat_p99;

	/* Metrics (metrics.c reads them). */
	uint64_t retries;      /* warms scheduled again after a retryable failure */
	uint64_t rate_limited; /* 429 answers */
	uint64_t lat_buckets[PROVIDER_LAT_BUCKETS]; /* warm durations, cumulative later */
	uint64_t lat_count;
	double lat_sum;
};

struct provider *provider_new(const struct cfg_provider *c);
struct provider *provider_ref(struct provider *p);
/* Sets req's transfer limits, CA and proxy from p (every sender's request
 * to p: warms and tests). */
void provider_request_limits(const struct provider *p, struct http_req *req);
void provider_unref(struct provider *p);
/* Copies the limits and URL of c into p (reload). */
void provider_apply_config(struct provider *p, const struct cfg_provider *c);

#endif

/* provider: the adapter interface every provider kind implements, and the
 * runtime provider object (endpoint, credential, limits) targets point at.
 *
 * Adapters build warm bodies and parse responses with no I/O, so they are
 * unit-tested on canned bodies. They never log and never see a socket. */
#ifndef WARMD_PROVIDER_H
#define WARMD_PROVIDER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "errmsg.h"
#include "breaker.h"
#include "heap.h"

enum warm_result { WARM_HIT, WARM_WRITE, WARM_NONE, WARM_ERROR };

const char *warm_result_name(enum warm_result r);

#define PROVIDER_MAX_BREAKPOINTS 4

/* What a template turns into: built once per version and reused for every warm. */
struct warm_build {
	char *body; /* the warm request body (malloc'd) */
	size_t body_len;
	char *model;            /* malloc'd, or NULL */
	struct buf prefix;      /* canonical cached prefix: what the version hashes */
	long prefix_tokens_est; /* rough estimate from the prefix size */
	const char *path;       /* appended to base_url: "/v1/messages" */
	enum endpoint endpoint;
	int max_tokens;     /* the output budget the warm asks for */
	double ttl_s;       /* the cache TTL the template asks for, 0 when it does not say */
	long min_cacheable; /* the model's minimum cacheable prefix, 0 when unknown */
	/* Hashes of the canonical prefix at each cache breakpoint, in order (the
	 * last is the version): what another target's prefix may extend. */
	char bp_hashes[PROVIDER_MAX_BREAKPOINTS][65];
	int nbp;
	char unwarmable[256]; /* non-empty: no minimal warm exists, and why */
	char notes[256];      /* what the warm changed, for logs and status */
};

void warm_build_free(struct warm_build *b);

/* Usage parsed from a response. */
struct warm_usage {
	enum warm_result result;
	int64_t read;   /* tokens read from the cache */
	int64_t write;  /* tokens written to the cache */
	int64_t input;  /* uncached input tokens */
	int64_t output; /* output tokens */
};

/* One header line: "name: prefix value". value may be the API key. */
struct provider_header {
	const char *name;
	const char *prefix;
	const char *value;
};
#define PROVIDER_MAX_HEADERS 4

struct provider_ops {
	enum provider_kind kind;
	bool key_required;
	/* Builds the warm for a parsed template (which it may modify). Returns 0,
	 * or -EINVAL with e saying what in the template is wrong. */
	int (*build)(json_object *tmpl, const struct cfg_target *t, struct warm_build *ret,
	             struct errmsg *e);
	/* Fills up to PROVIDER_MAX_HEADERS headers; key may be NULL. Returns the count. */
	int (*headers)(const char *key, struct provider_header *out);
	/* Parses a 2xx body into usage. -EPROTO with e on a body that makes no sense. */
	int (*parse_ok)(const char *body, size_t len, struct warm_usage *ret, struct errmsg *e);
	/* Extracts the provider's own error text from a non-2xx body into e
	 * (type and message); leaves a generic text when the body has none. */
	void (*parse_error)(long status, const char *body, size_t len, struct errmsg *e);
};

const struct provider_ops *provider_ops_for(enum provider_kind kind);

/* Minimum samples of warm latency the margin estimate keeps. */
#define PROVIDER_LAT_SAMPLES 64

/* Upper bounds (seconds) of the warm duration histogram. */
#define PROVIDER_LAT_BUCKETS 10
extern const double provider_lat_bounds[PROVIDER_LAT_BUCKETS];

struct cred;
struct provider;

/* Counts one warm duration in the histogram. */
void provider_observe_latency(struct provider *p, double seconds);

/* The runtime provider. Owned by the daemon, refcounted because in-flight
 * warms of a removed provider keep it alive until they complete. */
struct provider {
	int refs;
	char *name;
	enum provider_kind kind;
	const struct provider_ops *ops;
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
void provider_unref(struct provider *p);
/* Copies the limits and URL of c into p (reload). */
void provider_apply_config(struct provider *p, const struct cfg_provider *c);

/* Shared by adapters: "HTTP 529 overloaded_error: Overloaded", or the start
 * of the body (printable characters only) when the body has no message. */
void provider_error_text(long status, const char *type, const char *message, const char *body,
                         size_t len, struct errmsg *e);

/* Shared by adapters: the provider's own error text from a JSON error body
 * {"error":{"message":...}}, naming the error by the first of type_keys
 * present in it (NULL-terminated); falls back to provider_error_text(). */
void provider_error_from_body(long status, const char *body, size_t len,
                              const char *const *type_keys, struct errmsg *e);

/* Shared by adapters: the hex SHA-256 of data[0..len) into out[65]. */
void provider_hash(const char *data, size_t len, char out[65]);

/* Shared by adapters: reads an optional non-negative integer usage field.
 * Absent or null gives 0; another type, a negative value or one above
 * BOUNDS_MAX_TOKENS (common/bounds.h) fails with e (and *ret is 0). */
int provider_usage_field(json_object *usage, const char *path, const char *key, int64_t *ret,
                         struct errmsg *e);

#endif

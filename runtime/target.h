/* target: a named prefix to keep warm, and everything warmd knows about it.
 *
 * The object is persistent across reloads (matched by name); its template
 * and provider can be swapped underneath. Refcounted: an in-flight warm
 * keeps a removed target alive until its completion. */
#ifndef WARMD_TARGET_H
#define WARMD_TARGET_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "breaker.h"
#include "http.h"
#include "log.h"
#include "policy.h"
#include "provider.h"
#include "template.h"

enum target_state {
	TARGET_WARM,
	TARGET_COLD,
	TARGET_WARMING,
	TARGET_PAUSED,
	TARGET_FAILING,
	TARGET_IDLE,
};

struct cred;
struct price;
struct audit_fp;
struct session_group;

/* What makes a target a session (runtime/session.c): its template came
 * over the control socket (warmctl keep), not from warmd.conf, and it is
 * kept only until keep_until. Plain data here, so that the scheduler, the
 * status and the state file read it; session.c alone changes it. */
struct target_session {
	double keep_until; /* dropped then, unless a keep or a touch moves it */
	double for_s;      /* a keep or a touch sets keep_until to its time + for_s */
	double ttl_s;      /* the keep's own TTL, 0: the body's breakpoints decide */
	char *body;        /* the request body as the application sent it */
	size_t body_len;
	char body_hash[65];          /* its SHA-256: the name of its file beside the state file */
	char *model, *deployment;    /* where the body goes (keep's), or NULL */
	struct session_group *group; /* where its gaps are learned (session.c's) */
	double created_at;           /* its first keep (or its restart) */
	bool ended;                  /* over: out of the set, or about to be */
};

struct target {
	int refs;
	char *name;
	double ttl_s;
	enum policy policy;
	int priority;
	double idle_limit_s;    /* 0: never idle */
	struct window *windows; /* policy schedule (a copy of the config's) */
	size_t nwindows;
	struct gap_hist *gaps;     /* policy adaptive: gaps between real requests, or NULL;
	                            * a session's are its group's (session.c owns them) */
	struct provider *prov;     /* ref */
	const struct price *price; /* into the daemon's price table, or NULL: unknown */
	struct tmpl *tmpl;         /* ref: the current version */
	bool removed;
	bool paused;

	/* What the cache of the current version looks like. */
	double last_refresh; /* send time of the last refreshing request, 0 = never */
	double expires_at;   /* last_refresh + ttl, 0 = unknown */
	long prefix_tokens;  /* cached tokens seen in usage, 0 = not yet */
	enum warm_result last_result;
	bool has_result;

	/* Real traffic, from touches. */
	double last_touch;   /* or when the target was created: idle_limit counts from it */
	double last_traffic; /* the last touch itself, 0 = none yet */
	uint64_t touch_hits, touch_misses;
	uint32_t *touch_hist; /* ring of the last TARGET_TOUCH_HISTORY touch times (Unix s) */
	unsigned touch_n, touch_pos;

	/* Shared prefixes (share.c), rebuilt at each config apply. */
	struct target *leader;     /* same entry: its warms refresh ours */
	struct target **followers; /* targets that lead = this one */
	size_t nfollowers;
	struct target *extends;      /* our prefix extends its entry */
	struct target **extended_by; /* targets whose prefix extends ours */
	size_t nextended_by;

	/* Versions as lanes: a blue/green target is one lane per named version
	 * (GROUP@NAME), and a replaced version is kept warm for version_overlap
	 * as GROUP@SHORTHASH (rollout.c). Plain targets have group NULL. */
	char *group;       /* the target the lane belongs to, or NULL */
	char *vname;       /* the version's name (blue/green), NULL for a replaced one */
	int weight;        /* share of traffic, 0-100 (blue/green) */
	int cfg_weight;    /* the config's weight: an edit there beats a runtime shift */
	int prev_weight;   /* before the last shift/promote (rollback), -1: none */
	int rollout_holds; /* shifts waiting for its warm: in rotation meanwhile */
	bool retiring;     /* a replaced version, kept warm until retire_at */
	double retire_at;  /* a touch naming it pushes this to now + overlap_s */
	double overlap_s;

	/* Cluster mode (runtime/cluster.c alone sets these). */
	bool foreign;         /* another node warms its entry: nothing planned here */
	const char *owner;    /* the node that warms it (cluster's string), NULL: none known */
	char *config_differs; /* live nodes whose configuration gives its name another
	                       * entry ("n2,n3"), or NULL */

	/* A session (warmctl keep), or NULL for a target of warmd.conf. */
	struct target_session *session;

	/* Version history, newest (the current one) first. */
	struct target_version *versions;
	unsigned nversions;
	unsigned vcap; /* room in versions: most targets only ever have one */

	/* Counters, kept across reloads. */
	uint64_t warms, hits, writes, nones, errors, touches;
	uint64_t tok_read, tok_write, tok_input, tok_output; /* tokens our warms used */
	int64_t cost_pico;                                   /* what our warms cost (pico-USD) */
	int64_t saved_pico;       /* what real requests saved because a warm kept the cache */
	bool refreshed_by_warm;   /* the cache's last refresh was one of our warms */
	double tested_at;         /* the last warmctl test of it, 0 = never */
	char *cache_key;          /* the config's prompt_cache_key, or NULL */
	struct audit_fp *prev_fp; /* what the audit compares a new version with */
	char last_error[256];
	struct log_repeat err_log; /* collapses repeated identical warm errors */

	/* Scheduling: owned by sched.c. */
	double next_warm_at; /* -1: none planned */
	double retry_at;
	size_t due_idx, wait_idx;
	bool inflight, queued;
	bool asked;   /* queued by sched_warm_now: goes even out of rotation */
	bool blocked; /* a permanent error: no automatic warms until reload/warm/resume */
	struct breaker breaker;
	double prefix_tokens_left; /* OpenAI per-prefix rate budget (sched.c) */
	double prefix_refill_at;
	unsigned fail_streak;
	double spread; /* this cycle's random advance, seconds */
	uint64_t rng;
	char reason[320];

	/* The warm in flight: owned by warm.c. */
	struct http_req req;
	double sent_at;
	struct tmpl *req_tmpl;
	struct cred *req_cred;

	/* A cache warmd manages (tmpl->managed): managed_cache.c owns these. */
	char *cache_name;    /* the provider's name of this version's cache, or NULL */
	double cache_expire; /* its expiry as the provider said it, 0 = unknown */
	char *mc_url;        /* the request in flight: its URL and body */
	char *mc_body;
	bool mc_creating; /* the request in flight creates the cache */
};

#define TARGET_TOUCH_HISTORY 256
#define TARGET_MAX_VERSIONS  16

/* One version a target has had (its template's prefix hash). */
struct target_version {
	char version[65];
	double first_seen, last_seen;
	long prefix_tokens;
	uint64_t hits, writes;
};

struct target *target_new(const char *name);
struct target *target_ref(struct target *t);
void target_unref(struct target *t);

/* Remembers a touch at time now in the history ring (allocated on first use). */
void target_touch_record(struct target *t, double now);
/* The i-th oldest remembered touch time, 0 <= i < t->touch_n. */
uint32_t target_touch_at(const struct target *t, unsigned i);

/* Makes tm's version the current one at time now (a no-op when it already
 * is); keeps the last TARGET_MAX_VERSIONS. Returns the current record. */
struct target_version *target_version_enter(struct target *t, const struct tmpl *tm, double now);
/* Makes room for n version records (at most TARGET_MAX_VERSIONS). */
void target_versions_reserve(struct target *t, unsigned n);
/* The record of the current version (never NULL once a version was entered). */
struct target_version *target_version_current(struct target *t);

/* Resets what depends on the version (a new template). */
void target_reset_version_state(struct target *t);

/* A blue/green version with weight 0: kept, but not warmed. */
bool target_out_of_rotation(const struct target *t);
enum target_state target_state(const struct target *t, double now, bool paused_all);
const char *target_state_name(enum target_state s);

/* Appends the status object for t (docs/protocol.md, `status`) to out,
 * written straight into it: no json-c object per field. */
void target_status_write(const struct target *t, double now, bool paused_all, struct buf *out);

#endif

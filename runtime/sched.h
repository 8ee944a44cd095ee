/* sched: the only module that decides *when* warms happen.
 *
 * Every target with a planned warm sits in one min-heap keyed by
 * next_warm_at, and a single clock alarm is armed for the earliest one (or
 * for a provider's rate budget refill), so nothing wakes up between due
 * warms and nothing scans all targets on the warm path. Due targets wait in
 * per-provider queues ordered by expiry, then priority, until the global and
 * per-provider in-flight caps and the provider's rpm budget allow them out.
 *
 * Rules (docs/scheduling.md): expiry = send time of the refreshing request + ttl;
 * the next warm fires at expiry - margin - spread, where margin = a floor
 * (1% of ttl, within [0.5 s, 5 s]) + the provider's p99 warm latency + 1 s
 * per million prefix tokens, and spread is a random 0-2% of ttl (at most
 * 2 s), always earlier, never later. Time comes only from struct clock. */
#ifndef WARMD_SCHED_H
#define WARMD_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "provider.h"
#include "sched_rules.h"
#include "target.h"

struct sched;

struct sched_ops {
	/* Starts a warm of t now. Returns 0 when started, and sched_done()
	 * must follow exactly once; -EAGAIN when the provider cannot send yet
	 * (its credential has no token: fire() has set t->prov->hold_until),
	 * and t waits for the provider without counting a failure; another
	 * <0 when it could not start (with a reason in t->last_error), and
	 * sched treats it as a retryable failure. */
	int (*fire)(void *data, struct target *t);
	/* A replaced version's overlap is over (t->retiring, retire_at has
	 * come), or a session's keep_until has come: the owner drops it. May
	 * be NULL (it is then just not warmed). */
	void (*retire)(void *data, struct target *t);
};

struct sched_outcome {
	enum warm_result result;
	double sent_at;       /* when the request was sent */
	double latency_s;     /* request duration, <0 unknown */
	bool retryable;       /* WARM_ERROR: worth retrying */
	bool auth;            /* WARM_ERROR: the provider rejected the credential */
	bool spend_limit;     /* WARM_ERROR: a 429 saying the account's spend limit is hit */
	double hold_until;    /* the provider asked for nothing before this (<= now: no ask) */
	double retry_after_s; /* from the provider, <0 when none */
	bool stale;           /* the warm was of a version the target no longer has */
};

struct sched *sched_new(struct clock *clk, const struct sched_ops *ops, void *data, uint64_t seed);
void sched_free(struct sched *s);

void sched_set_max_inflight(struct sched *s, int n);
/* The providers whose queues dispatch considers (the daemon's current set). */
void sched_set_providers(struct sched *s, struct provider **provs, size_t n);

/* Plans t's next warm (new target, changed config, touched, resumed...). */
void sched_plan(struct sched *s, struct target *t);
/* Takes t out of every queue (removed or paused). */
void sched_remove(struct sched *s, struct target *t);
/* Queues t for a warm now (warmctl warm); clears a permanent-failure block.
 * Returns 0, or -EALREADY when a warm of t is in flight. */
int sched_warm_now(struct sched *s, struct target *t);
/* Real traffic used t's cache just now: the TTL restarts from now. */
void sched_touch(struct sched *s, struct target *t);
/* A request is coming (a session's keep): the policies count it as
 * traffic, but the cache was not used, so nothing is refreshed and nothing
 * re-planned (the caller warms or plans t next). */
void sched_note_traffic(struct sched *s, struct target *t);
/* Reports the end of a warm that fire() started. */
void sched_done(struct sched *s, struct target *t, const struct sched_outcome *o);

void sched_pause_all(struct sched *s, bool paused);
bool sched_paused_all(const struct sched *s);
int sched_inflight(const struct sched *s);

/* Another node of the cluster warmed t's entry (runtime/cluster.c): t's
 * cache is as that warm left it, and its next warm is planned from it. No
 * warm of ours is counted. */
void sched_refreshed_elsewhere(struct sched *s, struct target *t, double last_refresh,
                               double expires_at, long prefix_tokens, enum warm_result r);
/* Cluster mode: every warm is planned this much earlier (a lease and a
 * cycle: a dead owner's entries are taken over before they expire). */
void sched_set_margin_extra(struct sched *s, double extra_s);

/* The margin before expiry at which t is warmed, in seconds. */
double sched_margin(const struct sched *s, const struct target *t);

/* Re-arms the alarm (after a batch of changes). */
void sched_rearm(struct sched *s);

/* How late scheduled warms left: send time minus the due time they were
 * planned for (next_warm_at), whatever held them (the alarm, a full
 * max_inflight, a rate budget). Operators' warms are not counted. */
#define SCHED_LATE_BUCKETS 8
extern const double sched_late_bounds[SCHED_LATE_BUCKETS];
struct sched_lateness {
	uint64_t buckets[SCHED_LATE_BUCKETS]; /* not cumulative */
	uint64_t count;
	double sum, max;
};
const struct sched_lateness *sched_lateness(const struct sched *s);

#endif

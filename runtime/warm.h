/* warm: one warm request from start to verdict. Takes a due target from the
 * scheduler, sends its prepared body through http, classifies the answer
 * with the provider adapter (hit / write / none / error) and hands the
 * outcome back to the scheduler. Owns the target's in-flight request. */
#ifndef WARMD_WARM_H
#define WARMD_WARM_H

#include "clock.h"
#include "http.h"
#include "sched.h"
#include "target.h"

struct warm_env {
	struct http *http;
	struct sched *sched;
	struct clock *clk;
	/* Called after each completed warm has been reported (may be NULL). */
	void (*observe)(void *data, struct target *t);
	void *observe_data;
};

/* sched_ops.fire: starts a warm of t (data is a struct warm_env). Not for a
 * template that creates a cache warmd manages: managed_cache_fire(). */
int warm_fire(void *data, struct target *t);

/* Sends t->req (its method, url and body already set) for a warm of t:
 * takes the references a warm holds (template, credential, target),
 * records t->sent_at and authorizes the request. Returns 0, and done()
 * follows once, which must end with warm_release(t); or a negative errno
 * (-EAGAIN: the credential cannot sign yet, t->prov->hold_until set), with
 * t->last_error saying why and nothing held. */
int warm_send(struct warm_env *env, struct target *t, http_done_cb done);
/* Drops what warm_send() took, and the response buffers. */
void warm_release(struct target *t);

/* Ends a warm of t with its verdict: on t's counters, version record and
 * last error, and in the log (first: the version had never been
 * refreshed); then tells the scheduler and the observer, and releases what
 * warm_send() took. */
void warm_conclude(struct warm_env *env, struct target *t, const struct sched_outcome *o,
                   const struct warm_usage *u, const struct errmsg *e, double latency_s, bool first,
                   double now);

/* The verdict on a finished warm request (its answer already scrubbed of
 * keys): o's result, retryable, auth, spend_limit, hold_until and
 * retry_after_s, the usage of a 2xx answer in u, and what went wrong in e.
 * Pure: reads req, the adapter ops and the rate-limit headers at now. */
void warm_verdict(const struct http_req *req, const struct adapter_ops *ops, double now,
                  struct sched_outcome *o, struct warm_usage *u, struct errmsg *e);

/* Cancels t's in-flight warm, if any, without reporting to the scheduler
 * (shutdown). Drops the references the warm held. */
void warm_cancel(struct target *t);

#endif

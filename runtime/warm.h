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

/* sched_ops.fire: starts a warm of t (data is a struct warm_env). */
int warm_fire(void *data, struct target *t);

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

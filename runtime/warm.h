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

/* Cancels t's in-flight warm, if any, without reporting to the scheduler
 * (shutdown). Drops the references the warm held. */
void warm_cancel(struct target *t);

#endif

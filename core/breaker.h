/* breaker: a circuit breaker, one per target and one per provider
 * credential (never a global one), so that a failing prefix or a failing
 * account stops costing requests without stopping everything else.
 *
 * closed: warms go out; failures are counted, and the count decays (a
 *   failure older than BREAKER_DECAY_S no longer counts).
 * open: after trip_after consecutive failures, nothing goes out
 *   until a cool-down has passed (BREAKER_COOLDOWN_S, doubling on each trip
 *   up to BREAKER_COOLDOWN_MAX_S).
 * half-open: after the cool-down one probe goes out; success closes the
 *   breaker, failure opens it again for longer.
 * Time is passed in by the caller (sched.c's clock), so tests drive it. */
#ifndef WARMD_BREAKER_H
#define WARMD_BREAKER_H

#include <stdbool.h>

/* A prefix that fails 8 times in a row is broken, not unlucky (at a 33%
 * failure rate that happens once in 7,500 tries); a credential needs 20
 * failures in a row across all of its targets. */
#define BREAKER_TRIP_TARGET    8
#define BREAKER_TRIP_PROVIDER  20
#define BREAKER_DECAY_S        300.0
#define BREAKER_COOLDOWN_S     10.0
#define BREAKER_COOLDOWN_MAX_S 600.0

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
	enum breaker_state state;
	unsigned trip_after; /* consecutive failures that open it */
	unsigned failures;   /* consecutive, decayed */
	double last_failure;
	double opened_at;
	double cooldown;  /* of the current (or last) opening */
	bool probe_out;   /* half-open: the one probe is in flight */
	unsigned trips;   /* times it opened, for the status */
	char reason[160]; /* why it opened */
};

const char *breaker_state_name(enum breaker_state s);
void breaker_init(struct breaker *b, unsigned trip_after);

/* May a request go out at now? In half-open, true once (the probe). */
bool breaker_allow(struct breaker *b, double now);
/* When the next request may go out (<= now: now). */
double breaker_next_allowed(const struct breaker *b, double now);
void breaker_success(struct breaker *b);
/* Counts a failure; returns true when this one opened the breaker. */
bool breaker_failure(struct breaker *b, double now, const char *why);
/* Closes it and forgets everything (operator's resume). */
void breaker_reset(struct breaker *b);

#endif

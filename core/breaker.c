/* breaker: a circuit breaker per target and per provider credential. */
#include "breaker.h"

#include <stdio.h>
#include <string.h>

const char *breaker_state_name(enum breaker_state s)
{
	static const char *const names[] = { "closed", "open", "half-open" };

	return names[s];
}

void breaker_init(struct breaker *b, unsigned trip_after)
{
	memset(b, 0, sizeof(*b));
	b->trip_after = trip_after;
}

static void half_open_if_due(struct breaker *b, double now)
{
	if (b->state == BREAKER_OPEN && now >= b->opened_at + b->cooldown) {
		b->state = BREAKER_HALF_OPEN;
		b->probe_out = false;
	}
}

bool breaker_allow(struct breaker *b, double now)
{
	half_open_if_due(b, now);
	switch (b->state) {
	case BREAKER_CLOSED:
		return true;
	case BREAKER_OPEN:
		return false;
	case BREAKER_HALF_OPEN:
		if (b->probe_out)
			return false;
		b->probe_out = true;
		return true;
	}
	return false;
}

double breaker_next_allowed(const struct breaker *b, double now)
{
	if (b->state == BREAKER_OPEN)
		return b->opened_at + b->cooldown;
	if (b->state == BREAKER_HALF_OPEN && b->probe_out)
		return now + b->cooldown; /* the probe's answer decides; this is a bound */
	return now;
}

void breaker_success(struct breaker *b)
{
	b->state = BREAKER_CLOSED;
	b->failures = 0;
	b->probe_out = false;
	b->cooldown = 0;
}

bool breaker_failure(struct breaker *b, double now, const char *why)
{
	if (b->failures && now - b->last_failure > BREAKER_DECAY_S)
		b->failures = 0; /* old trouble no longer counts */
	b->failures++;
	b->last_failure = now;
	if (b->state == BREAKER_HALF_OPEN ||
	    (b->state == BREAKER_CLOSED && b->failures >= b->trip_after)) {
		bool reopen = b->state == BREAKER_HALF_OPEN;
		b->cooldown = reopen && b->cooldown > 0 ? b->cooldown * 2 : BREAKER_COOLDOWN_S;
		if (b->cooldown > BREAKER_COOLDOWN_MAX_S)
			b->cooldown = BREAKER_COOLDOWN_MAX_S;
		b->state = BREAKER_OPEN;
		b->opened_at = now;
		b->probe_out = false;
		b->trips++;
		snprintf(b->reason, sizeof(b->reason), "%u failures in a row, last: %.120s",
		         b->failures, why ? why : "?");
		return true;
	}
	return false;
}

void breaker_reset(struct breaker *b)
{
	unsigned trips = b->trips, trip_after = b->trip_after;

	memset(b, 0, sizeof(*b));
	b->trips = trips;
	b->trip_after = trip_after;
}

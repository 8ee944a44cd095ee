/* ratelimit: what a provider's answer says about how fast warmd may go:
 * retry-after / retry-after-ms (seconds or an HTTP date), x-should-retry,
 * the rate-limit headers (anthropic-ratelimit-* with RFC 3339 resets (rfc3339.h),
 * x-ratelimit-* with duration resets), and whether a 429 is a spend limit
 * (never retried) rather than a rate limit. Parsing only, no I/O. */
#ifndef WARMD_RATELIMIT_H
#define WARMD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

/* Never wait longer than this because a header said so. */
#define RATELIMIT_MAX_WAIT_S 300.0
/* No wait or reset read from a header is taken as longer than this (a
 * longer one is this long); nothing downstream then overflows. */
#define RATELIMIT_MAX_HEADER_S 86400.0
/* Counts (limits, remaining) above this are unknown (-1): exact in a double. */
#define RATELIMIT_MAX_COUNT ((1LL << 53) - 1)

struct rl_info {
	double retry_after;      /* s from now: -1 absent, else 0..RATELIMIT_MAX_WAIT_S */
	int should_retry;        /* x-should-retry: 1 true, 0 false, -1 absent */
	long long req_limit;     /* -1 unknown, else 0..RATELIMIT_MAX_COUNT */
	long long req_remaining; /* -1 unknown, else 0..RATELIMIT_MAX_COUNT */
	double req_reset_at;     /* absolute time, <0 unknown, at most now + a day */
	long long tok_limit, tok_remaining;
	double tok_reset_at;
};

/* Parses raw response header lines (as curl collected them) at time now
 * (Unix seconds). Unknown or malformed headers are ignored. */
void ratelimit_parse(const char *headers, size_t len, double now, struct rl_info *ret);

/* Until when a provider should send nothing more, given info: the reset
 * time when fewer than ~5% (at least 1) of its requests or tokens remain,
 * else <= now. Clamped to now + RATELIMIT_MAX_WAIT_S. */
double ratelimit_hold_until(const struct rl_info *i, double now);

/* Is this 429 a spend/quota limit (retrying cannot help) rather than a rate limit? */
bool ratelimit_is_spend_limit(long status, const char *body, size_t len);

/* "1s", "6m0s", "250ms", "1h2m3.5s" (OpenAI reset durations, units
 * required; common/duration.c's grammar) → seconds, at most
 * RATELIMIT_MAX_HEADER_S (a longer one is clamped to it); -1 on error. */
double ratelimit_parse_duration(const char *s);

#endif

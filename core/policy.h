/* policy: whether a warm is worth sending, for the policies that decide
 * more than "always" or "manual".
 *
 * adaptive: an optimal-stopping rule over the target's own traffic. After a
 * real request the cache lives a TTL; each warm buys one more TTL at the
 * price of a read (r), and a request that finds the cache cold pays a write
 * instead of a read (w - r more). From the learned distribution of gaps
 * between real requests (per hour of day at which the gap began, so office
 * hours and nights are told apart), V(j) = min(w - r, r + q_j V(j+1)) is the
 * expected cost of the best plan j TTLs into a quiet spell, where q_j is the
 * probability that no request comes in the next TTL; warm iff continuing is
 * cheaper than stopping. Strictly causal: only gaps already seen count. With
 * little history it is conservative: it keeps a prefix warm for 30 minutes
 * (at least two TTLs) after a request, and never re-creates a cold cache
 * without traffic. An hour's histogram is shrunk towards the whole day's
 * (POLICY_PRIOR pseudo-gaps), so sparse hours do not overfit.
 *
 * schedule: weekly windows ("Mon-Fri 07:30-19:00 Europe/Berlin"): warm inside
 * them, let the cache go outside, and pre-warm just before a window opens. */
#ifndef WARMD_POLICY_H
#define WARMD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

#define POLICY_HOURS    24     /* gap histograms per hour of day (UTC) of the gap's start */
#define POLICY_BINS     48     /* gap length in TTLs: 0..46, and 47 for 47 TTLs or more */
#define POLICY_MIN_GAPS 8      /* below this many gaps: the conservative rule */
#define POLICY_PRIOR    100.0  /* pseudo-gaps from all hours added to an hour's own */
#define POLICY_LEARN_S  1800.0 /* while learning: keep warm this long after traffic */

struct gap_hist {
	uint16_t n[POLICY_HOURS][POLICY_BINS];
	uint32_t all[POLICY_BINS]; /* every hour together */
	uint32_t total;
	double ttl_s; /* the bin width the counts were made with */
};

/* Records a gap of gap_s seconds between real requests, the first at start (Unix s). */
void policy_gap_observe(struct gap_hist *h, double start, double gap_s, double ttl_s);

/* adaptive: should a warm go out j TTLs after the last real request (at
 * last_traffic), its cache about to expire? ratio is the cost of a write
 * over a read (w / r: 12.5 for Anthropic's 5-minute cache). reason gets the
 * numbers. h may be NULL (no history yet). */
bool policy_adaptive(const struct gap_hist *h, double last_traffic, int j, double ratio,
                     double ttl_s, char *reason, size_t n);

/* adaptive for a cache billed by the hour while it exists (Gemini's
 * explicit caches): keeping it one more TTL costs keep (its storage for a
 * TTL), letting it go costs recreate when traffic returns (creating it
 * again); the same rule, with keep as the unit (docs/economics.md). */
bool policy_adaptive_storage(const struct gap_hist *h, double last_traffic, int j, double keep,
                             double recreate, double ttl_s, char *reason, size_t n);

struct tz;

/* One weekly window; days is a bit mask (bit 0 = Sunday, as tm_wday). A
 * plain value: copies share the zone, which lives until exit (tz_get()). */
struct window {
	uint8_t days;
	int start_min, end_min; /* minutes after midnight; end <= start crosses midnight */
	char tz[64];            /* IANA zone, "" = the machine's local time */
	const struct tz *zone;  /* that zone, loaded at parse time; NULL = UTC */
};

/* Parses "Mon-Fri 07:30-19:00 [Europe/Berlin]" and loads its zone (""
 * takes the machine's local time as it is now: $TZ or /etc/localtime).
 * Returns 0, or -EINVAL / -ENOENT (unknown zone) with e. */
int policy_window_parse(const char *s, struct window *ret, struct errmsg *e);

/* Inside any of the windows at time now? If so, *ret_end is when that
 * window closes; if not, *ret_next is when the next one opens (-1: never).
 * Boundaries are wall-clock times in the window's zone; one that a DST
 * change skips is the instant of the jump, one it repeats the first
 * instant the clock shows it (tz_from_local()), and a window wholly inside
 * a skipped hour does not open that day. Reads no environment and no file:
 * safe from any thread. */
bool policy_schedule_at(const struct window *w, size_t n, double now, double *ret_end,
                        double *ret_next);

#endif

/* policy: whether a warm is worth sending (adaptive, schedule). */
#include "policy.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "duration.h"
#include "tz.h"

void policy_gap_observe(struct gap_hist *h, double start, double gap_s, double ttl_s)
{
	struct tm tm;
	time_t t = (time_t)start;
	int bin;

	if (h->ttl_s != ttl_s) {
		/* Counted in other units: start over. */
		memset(h, 0, sizeof(*h));
		h->ttl_s = ttl_s;
	}
	if (!(gap_s >= 0) || ttl_s <= 0)
		return;
	bin = gap_s / ttl_s >= POLICY_BINS - 1 ? POLICY_BINS - 1 : (int)(gap_s / ttl_s);
	gmtime_r(&t, &tm);
	if (h->n[tm.tm_hour][bin] == UINT16_MAX) {
		/* Halve this hour's counts: recent traffic keeps its weight. */
		for (int i = 0; i < POLICY_BINS; i++)
			h->n[tm.tm_hour][i] /= 2;
	}
	h->n[tm.tm_hour][bin]++;
	h->all[bin]++;
	h->total++;
}

/* Survival counts S[k] = gaps of k TTLs or more, from one histogram row. */
static uint64_t survival(const struct gap_hist *h, int hour, double S[POLICY_BINS + 1])
{
	uint64_t total = 0;

	S[POLICY_BINS] = 0;
	for (int k = POLICY_BINS - 1; k >= 0; k--) {
		double c = hour >= 0 ? h->n[hour][k] : h->all[k];
		S[k] = S[k + 1] + c;
	}
	total = (uint64_t)S[0];
	return total;
}

/* The rule, in units of what keeping the cache one more TTL costs: a cold
 * cache costs penalty of them; keep names the unit and cold the penalty in
 * the reason ("reads", "a cold request"). */
static bool adaptive(const struct gap_hist *h, double last_traffic, int j, double penalty,
                     const char *keep, const char *cold, double ttl_s, char *reason, size_t n)
{
	double S[POLICY_BINS + 1], V, q, cont;
	char win[32], quiet[32];
	const char *scope = "at this hour";
	struct tm tm;
	time_t t0 = (time_t)last_traffic;
	int hour;

	duration_format(ttl_s, win, sizeof(win));
	duration_format(j * ttl_s, quiet, sizeof(quiet));
	if (!h || h->total < POLICY_MIN_GAPS) {
		/* Too little history to trust: keep warm for a while after traffic. */
		double learn = fmax(2 * ttl_s, POLICY_LEARN_S);
		char lw[32];
		snprintf(reason, n,
		         "adaptive: learning (%u gaps seen, %d needed): keeping warm for %s after "
		         "traffic; quiet %s: %s",
		         h ? h->total : 0, POLICY_MIN_GAPS, duration_format(learn, lw, sizeof(lw)),
		         quiet, j * ttl_s <= learn ? "warming" : "letting it go cold");
		return j * ttl_s <= learn;
	}
	gmtime_r(&t0, &tm);
	hour = tm.tm_hour;
	{
		/* This hour's gaps, shrunk towards all hours' with the weight of
		 * POLICY_PRIOR pseudo-gaps: a sparse hour leans on the whole day, a
		 * busy one speaks for itself. */
		double A[POLICY_BINS + 1];
		survival(h, hour, S);
		survival(h, -1, A);
		scope = S[0] >= POLICY_PRIOR ? "at this hour" : "overall";
		for (int k = 0; k <= POLICY_BINS; k++)
			S[k] += POLICY_PRIOR * A[k] / A[0];
	}
	if (j >= POLICY_BINS || S[j] == 0) {
		snprintf(reason, n,
		         "adaptive: quiet %s is longer than any gap seen %s: letting it go cold",
		         quiet, scope);
		return false;
	}
	/* Backward induction from the longest gap bin, where only stopping is left. */
	V = penalty;
	for (int k = POLICY_BINS - 2; k > j; k--) {
		q = S[k] > 0 ? S[k + 1] / S[k] : 1;
		V = fmin(penalty, 1 + q * V);
	}
	q = S[j + 1] / S[j];
	cont = 1 + q * V;
	snprintf(reason, n,
	         "adaptive: P(traffic within %s | quiet %s) = %.2f %s (break-even %.2f); keeping "
	         "warm "
	         "costs %.2f %s against %.2f for %s: %s",
	         win, quiet, 1 - q, scope, 1 / penalty, cont, keep, penalty, cold,
	         cont < penalty ? "warming" : "letting it go cold");
	return cont < penalty;
}

bool policy_adaptive(const struct gap_hist *h, double last_traffic, int j, double ratio,
                     double ttl_s, char *reason, size_t n)
{
	return adaptive(h, last_traffic, j, ratio - 1, "reads", "a cold request", ttl_s, reason, n);
}

bool policy_adaptive_storage(const struct gap_hist *h, double last_traffic, int j, double keep,
                             double recreate, double ttl_s, char *reason, size_t n)
{
	/* No storage price: nothing to weigh, keep it like a cache that is cheap. */
	double penalty = keep > 0 ? recreate / keep : POLICY_BINS;

	return adaptive(h, last_traffic, j, penalty, "TTLs of storage", "re-creating it", ttl_s,
	                reason, n);
}

/* ---- schedule windows ---- */

static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static int day_index(const char *s, size_t len)
{
	for (int i = 0; i < 7; i++)
		if (len == 3 && strncasecmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

static int parse_days(const char *s, uint8_t *ret, struct errmsg *e)
{
	uint8_t mask = 0;

	if (strcasecmp(s, "daily") == 0 || strcmp(s, "*") == 0) {
		*ret = 0x7f;
		return 0;
	}
	while (*s) {
		size_t len = strcspn(s, ",");
		const char *dash = memchr(s, '-', len);
		int a, b;
		if (dash) {
			a = day_index(s, (size_t)(dash - s));
			b = day_index(dash + 1, len - (size_t)(dash - s) - 1);
		} else {
			a = b = day_index(s, len);
		}
		if (a < 0 || b < 0)
			return errmsg_set(e, -EINVAL,
			                  "\"%.*s\" is not a day or range of days (Mon-Fri, "
			                  "Sat,Sun, Daily)",
			                  (int)len, s);
		for (int d = a;; d = (d + 1) % 7) { /* ranges may wrap: Fri-Mon */
			mask |= (uint8_t)(1u << d);
			if (d == b)
				break;
		}
		s += len;
		if (*s == ',')
			s++;
	}
	*ret = mask;
	return 0;
}

/* Exactly "HH:MM", 00:00 to 24:00. */
static int parse_hhmm(const char *s, int *ret)
{
	int h, m;

	if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -EINVAL;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h * 60 + m > 24 * 60)
		return -EINVAL;
	*ret = h * 60 + m;
	return 0;
}

int policy_window_parse(const char *s, struct window *w, struct errmsg *e)
{
	char days[64] = "", times[32] = "", tz[64] = "", extra[8] = "", a[8], b[8];
	int n, r;

	memset(w, 0, sizeof(*w));
	n = sscanf(s, "%63s %31s %63s %7s", days, times, tz, extra);
	if (n < 2 || n > 3)
		return errmsg_set(e, -EINVAL,
		                  "schedule \"%s\" is not \"DAYS HH:MM-HH:MM [Time/Zone]\"", s);
	r = parse_days(days, &w->days, e);
	if (r < 0) {
		errmsg_prefix(e, "schedule \"%s\"", s);
		return r;
	}
	if (sscanf(times, "%7[0-9:]-%7[0-9:]", a, b) != 2 || parse_hhmm(a, &w->start_min) < 0 ||
	    parse_hhmm(b, &w->end_min) < 0 || w->start_min == w->end_min || w->start_min == 24 * 60)
		return errmsg_set(e, -EINVAL,
		                  "schedule \"%s\": \"%s\" is not a time range HH:MM-HH:MM", s,
		                  times);
	/* The zone is read now, once; evaluations only convert with it. */
	r = tz_get(tz, &w->zone, e);
	if (r < 0) {
		errmsg_prefix(e, "schedule \"%s\"", s);
		return r;
	}
	snprintf(w->tz, sizeof(w->tz), "%s", tz);
	return 0;
}

/* The instant at which the wall clock of z reads minute min of local day
 * `day` (min may be 24 * 60: the next midnight). */
static double local_at(const struct tz *z, int64_t day, int min)
{
	return (double)tz_from_local(z, day * 86400 + min * 60);
}

bool policy_schedule_at(const struct window *w, size_t n, double now, double *ret_end,
                        double *ret_next)
{
	double end = -1, next = -1;
	bool in = false;

	for (size_t i = 0; i < n && isfinite(now); i++) {
		const struct tz *z = w[i].zone ? w[i].zone : tz_utc();
		int64_t t = now > TZ_TIME_LIMIT    ? TZ_TIME_LIMIT
		            : now < -TZ_TIME_LIMIT ? -TZ_TIME_LIMIT
		                                   : (int64_t)floor(now);
		int64_t today = tz_floor_div(tz_to_local(z, t), 86400);

		/* Yesterday's window may still be open; a week and a day ahead
		 * finds the next opening even when a DST gap swallows this
		 * week's only one. */
		for (int d = -1; d <= 8; d++) {
			int64_t day = today + d;
			double start, stop;
			if (!(w[i].days & (1u << tz_weekday(day))))
				continue;
			start = local_at(z, day, w[i].start_min);
			stop = w[i].end_min > w[i].start_min ? local_at(z, day, w[i].end_min)
			                                     : local_at(z, day + 1, w[i].end_min);
			if (stop <= start)
				continue; /* all of it in a DST gap: the clock never shows it */
			if (now >= start && now < stop) {
				in = true;
				if (stop > end)
					end = stop;
			} else if (start > now && (next < 0 || start < next)) {
				next = start;
			}
		}
	}
	if (ret_end)
		*ret_end = end;
	if (ret_next)
		*ret_next = next;
	return in;
}

/* check_policy: the adaptive optimal-stopping rule and schedule windows (core/policy.c). */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

#define TTL      300.0
#define MON_NOON 1795435200.0 /* Monday 2026-11-23 12:00:00 UTC */

static char why[512];

START_TEST(test_learning_is_conservative)
{
	struct gap_hist h;

	memset(&h, 0, sizeof(h));
	/* without history: keep warm for 30 minutes after traffic, then stop */
	ck_assert(policy_adaptive(NULL, MON_NOON, 1, 12.5, TTL, why, sizeof(why)));
	ck_assert(policy_adaptive(NULL, MON_NOON, 6, 12.5, TTL, why, sizeof(why)));
	ck_assert(!policy_adaptive(NULL, MON_NOON, 7, 12.5, TTL, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "learning"));
	/* with a 1-hour TTL: two TTLs */
	ck_assert(policy_adaptive(NULL, MON_NOON, 2, 20, 3600, why, sizeof(why)));
	ck_assert(!policy_adaptive(NULL, MON_NOON, 3, 20, 3600, why, sizeof(why)));
	for (int i = 0; i < POLICY_MIN_GAPS - 1; i++)
		policy_gap_observe(&h, MON_NOON, 100 * TTL, TTL);
	ck_assert(policy_adaptive(&h, MON_NOON, 1, 12.5, TTL, why, sizeof(why)));
}
END_TEST

START_TEST(test_short_gaps_keep_it_warm)
{
	struct gap_hist h;

	memset(&h, 0, sizeof(h));
	/* requests come 1-3 TTLs apart: bridging is cheaper than re-creating */
	for (int i = 0; i < 200; i++)
		policy_gap_observe(&h, MON_NOON, (1.2 + (i % 3)) * TTL, TTL);
	ck_assert(policy_adaptive(&h, MON_NOON, 1, 12.5, TTL, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "warming"));
	ck_assert(policy_adaptive(&h, MON_NOON, 3, 12.5, TTL, why, sizeof(why)));
	/* longer than any gap seen: nothing to wait for */
	ck_assert(!policy_adaptive(&h, MON_NOON, 5, 12.5, TTL, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "longer than any gap"));
}
END_TEST

START_TEST(test_long_gaps_let_it_go)
{
	struct gap_hist h;

	memset(&h, 0, sizeof(h));
	/* requests come many hours apart: each warm is money thrown away */
	for (int i = 0; i < 200; i++)
		policy_gap_observe(&h, MON_NOON, (40 + i % 7) * TTL, TTL);
	ck_assert(!policy_adaptive(&h, MON_NOON, 1, 12.5, TTL, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "letting it go cold"));
	ck_assert_ptr_nonnull(strstr(why, "P(traffic within 5m | quiet 5m) = 0.00"));
}
END_TEST

/* A cache billed by the hour: keeping it a TTL costs its storage for a
 * TTL, letting it go costs re-creating it (docs/economics.md). */
START_TEST(test_storage_against_recreating)
{
	struct gap_hist h;

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < 200; i++)
		policy_gap_observe(&h, MON_NOON, (1.2 + (i % 3)) * TTL, TTL);
	/* Flash: $1.00 per MTok-hour, $0.30 to create; 5 minutes of storage is
	 * $0.083: re-creating costs 3.6 TTLs of it, bridging 1-3 TTL gaps pays */
	ck_assert(policy_adaptive_storage(&h, MON_NOON, 1, 1.00 * TTL / 3600, 0.30, TTL, why,
	                                  sizeof(why)));
	ck_assert_ptr_nonnull(
	        strstr(why, "TTLs of storage against 3.60 for re-creating it: warming"));
	/* a gap as long as any seen: nothing left to wait for */
	ck_assert(!policy_adaptive_storage(&h, MON_NOON, 5, 1.00 * TTL / 3600, 0.30, TTL, why,
	                                   sizeof(why)));
	/* Pro kept an hour per TTL: $4.50 of storage against $1.25 to create:
	 * never worth keeping, however likely traffic is */
	ck_assert(!policy_adaptive_storage(&h, MON_NOON, 1, 4.50 * TTL / 300, 1.25, TTL, why,
	                                   sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "letting it go cold"));
	/* storage that costs nothing: keep it while traffic may come */
	ck_assert(policy_adaptive_storage(&h, MON_NOON, 1, 0, 0.30, TTL, why, sizeof(why)));
}
END_TEST

START_TEST(test_optimal_stopping_beats_myopia)
{
	struct gap_hist h;

	memset(&h, 0, sizeof(h));
	/* Every request comes exactly 3 TTLs after the previous one: the next
	 * TTL alone never brings traffic (a myopic rule stops at once), but two
	 * warms then a read cost 3 reads against the 11.5 of a cold request. */
	for (int i = 0; i < 100; i++)
		policy_gap_observe(&h, MON_NOON, 3.5 * TTL, TTL);
	ck_assert(policy_adaptive(&h, MON_NOON, 1, 12.5, TTL, why, sizeof(why)));
	ck_assert(policy_adaptive(&h, MON_NOON, 2, 12.5, TTL, why, sizeof(why)));
	ck_assert(policy_adaptive(&h, MON_NOON, 3, 12.5, TTL, why, sizeof(why)));
	/* the same gaps with a cheap write (ratio 2): not worth it */
	ck_assert(!policy_adaptive(&h, MON_NOON, 1, 2.0, TTL, why, sizeof(why)));
}
END_TEST

START_TEST(test_hour_of_day_matters)
{
	struct gap_hist h;
	double night = MON_NOON + 10 * 3600; /* 22:00 UTC */

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < 1000; i++) {
		if (i < 200)
			policy_gap_observe(&h, MON_NOON, 1.5 * TTL, TTL); /* busy at noon */
		policy_gap_observe(&h, night, 100 * TTL, TTL);            /* quiet after 22:00 */
	}
	ck_assert(policy_adaptive(&h, MON_NOON + 86400, 1, 12.5, TTL, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "at this hour"));
	ck_assert(!policy_adaptive(&h, night + 86400, 1, 12.5, TTL, why, sizeof(why)));
	/* an hour never seen leans on every hour together */
	policy_adaptive(&h, MON_NOON + 4 * 3600, 1, 12.5, TTL, why, sizeof(why));
	ck_assert_ptr_nonnull(strstr(why, "overall"));
	/* a new TTL restarts the histogram */
	policy_gap_observe(&h, MON_NOON, 10, 60);
	ck_assert_uint_eq(h.total, 1);
}
END_TEST

START_TEST(test_window_parse)
{
	struct window w;
	struct errmsg e;

	ck_assert_int_eq(policy_window_parse("Mon-Fri 07:30-19:00 Europe/Berlin", &w, &e), 0);
	ck_assert_uint_eq(w.days, 0x3e);
	ck_assert_int_eq(w.start_min, 450);
	ck_assert_int_eq(w.end_min, 1140);
	ck_assert_str_eq(w.tz, "Europe/Berlin");
	ck_assert_int_eq(policy_window_parse("Sat,Sun 00:00-24:00", &w, &e), 0);
	ck_assert_uint_eq(w.days, 0x41);
	ck_assert_int_eq(policy_window_parse("Fri-Mon 22:00-06:00 UTC", &w, &e), 0);
	ck_assert_uint_eq(w.days, 0x63); /* Fri Sat Sun Mon */
	ck_assert_int_eq(policy_window_parse("Daily 09:00-17:00", &w, &e), 0);
	ck_assert_uint_eq(w.days, 0x7f);
	ck_assert_int_eq(policy_window_parse("Mon-Fri", &w, &e), -EINVAL);
	ck_assert_int_eq(policy_window_parse("Mon-Fri 9:00-17:00", &w, &e), -EINVAL);
	ck_assert_int_eq(policy_window_parse("Mon 10:00-10:00", &w, &e), -EINVAL);
	ck_assert_int_eq(policy_window_parse("Mon 10:00-11:00 ../../etc/passwd", &w, &e), -EINVAL);
	ck_assert_int_eq(policy_window_parse("Mon 10:00-11:00 UTC extra", &w, &e), -EINVAL);
	ck_assert_int_eq(policy_window_parse("Mon 10:60-11:00", &w, &e), -EINVAL);
	ck_assert_int_eq(policy_window_parse("Mon 10:00-24:01", &w, &e), -EINVAL);
	ck_assert_int_eq(policy_window_parse("Mon 10:00-110:0", &w, &e), -EINVAL);
	ck_assert_int_eq(policy_window_parse("Mon 00:00-24:00 UTC", &w, &e), 0);
	ck_assert_int_eq(w.end_min, 24 * 60);
}
END_TEST

START_TEST(test_schedule_at)
{
	struct window w[1];
	struct errmsg e;
	double end, next;

	/* 07:30-19:00 Berlin (UTC+1 in November): 06:30-18:00 UTC */
	ck_assert_int_eq(policy_window_parse("Mon-Fri 07:30-19:00 Europe/Berlin", &w[0], &e), 0);
	ck_assert(policy_schedule_at(w, 1, MON_NOON, &end, &next));
	ck_assert_double_eq(end, MON_NOON + 6 * 3600);
	ck_assert(!policy_schedule_at(w, 1, MON_NOON + 7 * 3600, &end, &next));
	ck_assert_double_eq(next, MON_NOON + 18.5 * 3600); /* Tuesday 06:30 UTC */
	/* Friday evening: the next window is Monday */
	ck_assert(!policy_schedule_at(w, 1, MON_NOON + 4 * 86400 + 7 * 3600, &end, &next));
	ck_assert_double_eq(next, MON_NOON + 7 * 86400 - 5.5 * 3600);
	/* across midnight */
	ck_assert_int_eq(policy_window_parse("Daily 22:00-02:00 UTC", &w[0], &e), 0);
	ck_assert(policy_schedule_at(w, 1, MON_NOON + 13 * 3600, &end, &next)); /* 01:00 */
	ck_assert_double_eq(end, MON_NOON + 14 * 3600);
}
END_TEST

/* ---- schedule windows across DST changes, on virtual time ---- */

/* Counts the calls that change the process's time zone. These definitions
 * stand in for libc's in this program (warmd_core is linked statically
 * into it), and pass each call on. */
static int env_changes;

int setenv(const char *name, const char *value, int overwrite)
{
	int (*real)(const char *, const char *, int) =
	        (int (*)(const char *, const char *, int))dlsym(RTLD_NEXT, "setenv");

	env_changes++;
	return real(name, value, overwrite);
}

int unsetenv(const char *name)
{
	int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unsetenv");

	env_changes++;
	return real(name);
}

void tzset(void)
{
	void (*real)(void) = (void (*)(void))dlsym(RTLD_NEXT, "tzset");

	env_changes++;
	real();
}

static double utc(int y, int m, int d, int h, int mi)
{
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi
	};

	return (double)timegm(&tm);
}

static void parse_ok(const char *s, struct window *w)
{
	struct errmsg e;

	ck_assert_msg(policy_window_parse(s, w, &e) == 0, "%s: %s", s, e.text);
}

/* Walks the virtual clock from `from` to `to` by the schedule's own
 * answers (inside: jump to the end; outside: jump to the next opening) and
 * compares the windows met with want[][2] (UTC opening and closing); each
 * boundary is checked a second either side. */
static void walk(const struct window *w, size_t n, double from, double to, const double (*want)[2],
                 size_t nwant)
{
	double t = from, end, next;
	size_t k = 0;

	while (t < to) {
		if (!policy_schedule_at(w, n, t, &end, &next)) {
			ck_assert_msg(next > t, "no window ahead of %.0f", t);
			t = next;
			continue;
		}
		ck_assert_msg(k < nwant, "an extra window %.0f-%.0f", t, end);
		ck_assert_msg(t == want[k][0] && end == want[k][1],
		              "window %zu: %.0f-%.0f, want %.0f-%.0f (%+.1f h, %+.1f h)", k, t, end,
		              want[k][0], want[k][1], (t - want[k][0]) / 3600,
		              (end - want[k][1]) / 3600);
		ck_assert(!policy_schedule_at(w, n, t - 1, NULL, NULL));
		ck_assert(policy_schedule_at(w, n, end - 1, NULL, NULL));
		ck_assert(!policy_schedule_at(w, n, end, NULL, NULL));
		k++;
		t = end;
	}
	ck_assert_uint_eq(k, nwant);
}

/* Berlin: CET (UTC+1) until Sunday 2026-03-29 01:00 UTC, CEST (UTC+2)
 * until Sunday 2026-10-25 01:00 UTC. 07:30-19:00 local is 06:30-18:00 UTC
 * in winter and 05:30-17:00 UTC in summer. */
START_TEST(test_schedule_berlin_dst_weeks)
{
	struct window w[1];
	double want[5][2];

	parse_ok("Mon-Fri 07:30-19:00 Europe/Berlin", &w[0]);
	/* the week of spring forward: Wed 25 to Tue 31 March */
	for (int k = 0, d = 25; d <= 27; d++, k++) {
		want[k][0] = utc(2026, 3, d, 6, 30);
		want[k][1] = utc(2026, 3, d, 18, 0);
	}
	for (int k = 3, d = 30; d <= 31; d++, k++) {
		want[k][0] = utc(2026, 3, d, 5, 30);
		want[k][1] = utc(2026, 3, d, 17, 0);
	}
	walk(w, 1, utc(2026, 3, 25, 0, 0), utc(2026, 4, 1, 0, 0), want, 5);
	/* the week of fall back: Wed 21 to Tue 27 October */
	for (int k = 0, d = 21; d <= 23; d++, k++) {
		want[k][0] = utc(2026, 10, d, 5, 30);
		want[k][1] = utc(2026, 10, d, 17, 0);
	}
	for (int k = 3, d = 26; d <= 27; d++, k++) {
		want[k][0] = utc(2026, 10, d, 6, 30);
		want[k][1] = utc(2026, 10, d, 18, 0);
	}
	walk(w, 1, utc(2026, 10, 21, 0, 0), utc(2026, 10, 28, 0, 0), want, 5);
}
END_TEST

/* New York: EST (UTC-5) until Sunday 2026-03-08 07:00 UTC, EDT (UTC-4)
 * until Sunday 2026-11-01 06:00 UTC. 07:30-19:00 local is 12:30-24:00 UTC
 * in winter and 11:30-23:00 UTC in summer. */
START_TEST(test_schedule_new_york_dst_weeks)
{
	struct window w[1];
	double want[5][2];

	parse_ok("Mon-Fri 07:30-19:00 America/New_York", &w[0]);
	for (int k = 0, d = 4; d <= 6; d++, k++) {
		want[k][0] = utc(2026, 3, d, 12, 30);
		want[k][1] = utc(2026, 3, d + 1, 0, 0);
	}
	for (int k = 3, d = 9; d <= 10; d++, k++) {
		want[k][0] = utc(2026, 3, d, 11, 30);
		want[k][1] = utc(2026, 3, d, 23, 0);
	}
	walk(w, 1, utc(2026, 3, 4, 0, 0), utc(2026, 3, 11, 0, 0), want, 5);
	for (int k = 0, d = 28; d <= 30; d++, k++) {
		want[k][0] = utc(2026, 10, d, 11, 30);
		want[k][1] = utc(2026, 10, d, 23, 0);
	}
	for (int k = 3, d = 2; d <= 3; d++, k++) {
		want[k][0] = utc(2026, 11, d, 12, 30);
		want[k][1] = utc(2026, 11, d + 1, 0, 0);
	}
	walk(w, 1, utc(2026, 10, 28, 0, 0), utc(2026, 11, 4, 0, 0), want, 5);
}
END_TEST

/* Two zones at once in the weeks their changes disagree (New York already
 * on EDT, Berlin still on CET): each window keeps its own zone's time. */
START_TEST(test_schedule_two_zones)
{
	struct window w[2];
	double end, next;

	parse_ok("Mon-Fri 07:30-19:00 Europe/Berlin", &w[0]);
	parse_ok("Mon-Fri 07:30-19:00 America/New_York", &w[1]);
	/* Mon 16 March, 12:00 UTC: inside both; the later end is New York's */
	ck_assert(policy_schedule_at(w, 2, utc(2026, 3, 16, 12, 0), &end, &next));
	ck_assert_double_eq(end, utc(2026, 3, 16, 23, 0));
	/* 06:00 UTC: before both; Berlin opens first, at 06:30 UTC (CET) */
	ck_assert(!policy_schedule_at(w, 2, utc(2026, 3, 16, 6, 0), &end, &next));
	ck_assert_double_eq(next, utc(2026, 3, 16, 6, 30));
	/* 19:00 UTC: Berlin closed at 18:00 UTC, New York open until 23:00 */
	ck_assert(policy_schedule_at(w, 2, utc(2026, 3, 16, 19, 0), &end, &next));
	ck_assert_double_eq(end, utc(2026, 3, 16, 23, 0));
}
END_TEST

/* Windows whose boundaries the clock skips or repeats: a skipped boundary
 * is the instant of the jump, a repeated one its first showing, a window
 * wholly skipped does not open; windows over the night of the change are
 * an hour shorter or longer. */
START_TEST(test_schedule_gap_and_overlap)
{
	struct window w[1];
	double end, next;

	/* spring forward in Berlin: 02:00 CET -> 03:00 CEST at 01:00 UTC */
	parse_ok("Sun 02:30-03:30 Europe/Berlin", &w[0]);
	ck_assert(!policy_schedule_at(w, 1, utc(2026, 3, 29, 0, 59), &end, &next));
	ck_assert_double_eq(next, utc(2026, 3, 29, 1, 0));
	ck_assert(policy_schedule_at(w, 1, utc(2026, 3, 29, 1, 0), &end, &next));
	ck_assert_double_eq(end, utc(2026, 3, 29, 1, 30));
	parse_ok("Sun 02:00-02:45 Europe/Berlin", &w[0]);
	ck_assert(!policy_schedule_at(w, 1, utc(2026, 3, 28, 12, 0), &end, &next));
	ck_assert_double_eq(next, utc(2026, 4, 5, 0, 0)); /* a week later, CEST */
	parse_ok("Sat 22:00-06:00 Europe/Berlin", &w[0]);
	ck_assert(policy_schedule_at(w, 1, utc(2026, 3, 28, 21, 0), &end, &next));
	ck_assert_double_eq(end, utc(2026, 3, 29, 4, 0)); /* 7 hours */
	/* fall back in Berlin: 03:00 CEST -> 02:00 CET at 01:00 UTC */
	parse_ok("Sun 02:30-03:30 Europe/Berlin", &w[0]);
	ck_assert(!policy_schedule_at(w, 1, utc(2026, 10, 25, 0, 29), &end, &next));
	ck_assert_double_eq(next, utc(2026, 10, 25, 0, 30)); /* 02:30 CEST, the first */
	ck_assert(policy_schedule_at(w, 1, utc(2026, 10, 25, 0, 30), &end, &next));
	ck_assert_double_eq(end, utc(2026, 10, 25, 2, 30)); /* 03:30 CET: 2 hours */
	parse_ok("Sun 01:00-02:30 Europe/Berlin", &w[0]);
	ck_assert(policy_schedule_at(w, 1, utc(2026, 10, 24, 23, 0), &end, &next));
	ck_assert_double_eq(end, utc(2026, 10, 25, 0, 30)); /* at the first 02:30 */
	ck_assert(!policy_schedule_at(w, 1, utc(2026, 10, 25, 1, 30), &end, &next));
	parse_ok("Sat 22:00-06:00 Europe/Berlin", &w[0]);
	ck_assert(policy_schedule_at(w, 1, utc(2026, 10, 24, 20, 0), &end, &next));
	ck_assert_double_eq(end, utc(2026, 10, 25, 5, 0)); /* 9 hours */
	/* New York: spring forward 02:00 EST -> 03:00 EDT at 07:00 UTC */
	parse_ok("Sun 02:15-03:00 America/New_York", &w[0]);
	ck_assert(!policy_schedule_at(w, 1, utc(2026, 3, 8, 6, 0), &end, &next));
	ck_assert_double_eq(next, utc(2026, 3, 15, 6, 15)); /* skipped; next Sunday, EDT */
	/* fall back 02:00 EDT -> 01:00 EST at 06:00 UTC: 01:30 shows twice */
	parse_ok("Sun 01:30-01:45 America/New_York", &w[0]);
	ck_assert(!policy_schedule_at(w, 1, utc(2026, 11, 1, 5, 0), &end, &next));
	ck_assert_double_eq(next, utc(2026, 11, 1, 5, 30));
	ck_assert(policy_schedule_at(w, 1, utc(2026, 11, 1, 5, 30), &end, &next));
	ck_assert_double_eq(end, utc(2026, 11, 1, 5, 45));
	ck_assert(!policy_schedule_at(w, 1, utc(2026, 11, 1, 6, 30), &end, &next));
	ck_assert_double_eq(next, utc(2026, 11, 8, 6, 30)); /* not again at 01:30 EST */
}
END_TEST

/* Defect: each evaluation set TZ with setenv() and called tzset(), while
 * worker threads may read the environment. Parsing loads the zone; no
 * evaluation changes the environment. */
START_TEST(test_schedule_never_touches_the_environment)
{
	struct window w[3];
	double end, next;

	setenv("TZ", "Asia/Kolkata", 1);
	parse_ok("Mon-Fri 07:30-19:00 Europe/Berlin", &w[0]);
	parse_ok("Sat,Sun 09:00-13:00 America/New_York", &w[1]);
	parse_ok("Daily 22:00-02:00", &w[2]); /* the machine's local time: Kolkata */
	env_changes = 0;
	for (int k = 0; k < 2000; k++)
		policy_schedule_at(w, 3, MON_NOON + k * 613.0, &end, &next);
	ck_assert_int_eq(env_changes, 0);
	ck_assert_str_eq(getenv("TZ"), "Asia/Kolkata");
	/* Kolkata is UTC+5:30: 22:00 local is 16:30 UTC */
	ck_assert(!policy_schedule_at(&w[2], 1, MON_NOON + 4 * 3600, &end, &next));
	ck_assert_double_eq(next, MON_NOON + 4.5 * 3600);
	unsetenv("TZ");
}
END_TEST

struct eval_job {
	const struct window *w;
	size_t n;
	const double *want_end, *want_next;
	int bad;
};

enum { EVALS = 3000 };

static void *evaluate(void *arg)
{
	struct eval_job *j = arg;

	for (int k = 0; k < EVALS; k++) {
		double end, next;
		policy_schedule_at(j->w, j->n, MON_NOON + k * 997.0, &end, &next);
		if (end != j->want_end[k] || next != j->want_next[k])
			j->bad++;
	}
	return NULL;
}

/* Zones are immutable once loaded: threads evaluate side by side and agree
 * with a single-threaded run. */
START_TEST(test_schedule_from_threads)
{
	static double want_end[EVALS], want_next[EVALS];
	struct window w[3];
	struct eval_job jobs[4];
	pthread_t th[4];

	parse_ok("Mon-Fri 07:30-19:00 Europe/Berlin", &w[0]);
	parse_ok("Mon-Fri 07:30-19:00 America/New_York", &w[1]);
	parse_ok("Daily 22:00-02:00 Australia/Sydney", &w[2]);
	for (int k = 0; k < EVALS; k++)
		policy_schedule_at(w, 3, MON_NOON + k * 997.0, &want_end[k], &want_next[k]);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct eval_job){ w, 3, want_end, want_next, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, evaluate, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_int_eq(jobs[i].bad, 0);
	}
}
END_TEST

START_TEST(test_window_zone_errors)
{
	struct window w;
	struct errmsg e;

	unsetenv("TZDIR");
	ck_assert_int_eq(policy_window_parse("Mon-Fri 07:30-19:00 Europe/Berln", &w, &e), -ENOENT);
	ck_assert_str_eq(e.text, "schedule \"Mon-Fri 07:30-19:00 Europe/Berln\": unknown time "
	                         "zone \"Europe/Berln\" (no /usr/share/zoneinfo/Europe/Berln)");
	ck_assert_int_eq(policy_window_parse("Mon 10:00-11:00 /etc/localtime", &w, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "not a time zone name"));
	ck_assert_int_eq(policy_window_parse("Mon 10:00-11:00 Europe/../../etc/passwd", &w, &e),
	                 -EINVAL);
	ck_assert_int_eq(policy_window_parse("Mon 10:00-11:00 Europe", &w, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "is a directory"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_learning_is_conservative);
	tcase_add_test(tc, test_short_gaps_keep_it_warm);
	tcase_add_test(tc, test_long_gaps_let_it_go);
	tcase_add_test(tc, test_storage_against_recreating);
	tcase_add_test(tc, test_optimal_stopping_beats_myopia);
	tcase_add_test(tc, test_hour_of_day_matters);
	tcase_add_test(tc, test_window_parse);
	tcase_add_test(tc, test_schedule_at);
	tcase_add_test(tc, test_schedule_berlin_dst_weeks);
	tcase_add_test(tc, test_schedule_new_york_dst_weeks);
	tcase_add_test(tc, test_schedule_two_zones);
	tcase_add_test(tc, test_schedule_gap_and_overlap);
	tcase_add_test(tc, test_schedule_never_touches_the_environment);
	tcase_add_test(tc, test_schedule_from_threads);
	tcase_add_test(tc, test_window_zone_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_policy: the adaptive optimal-stopping rule and schedule windows (daemon/policy.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_learning_is_conservative);
	tcase_add_test(tc, test_short_gaps_keep_it_warm);
	tcase_add_test(tc, test_long_gaps_let_it_go);
	tcase_add_test(tc, test_optimal_stopping_beats_myopia);
	tcase_add_test(tc, test_hour_of_day_matters);
	tcase_add_test(tc, test_window_parse);
	tcase_add_test(tc, test_schedule_at);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

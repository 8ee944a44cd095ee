/* check_breaker: the per-target / per-credential circuit breaker (core/breaker.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"

START_TEST(test_opens_after_consecutive_failures)
{
	struct breaker b;

	breaker_init(&b, 3);
	ck_assert(breaker_allow(&b, 0));
	ck_assert(!breaker_failure(&b, 1, "HTTP 500"));
	ck_assert(!breaker_failure(&b, 2, "HTTP 500"));
	/* a success in between starts the count again */
	breaker_success(&b);
	ck_assert(!breaker_failure(&b, 3, "HTTP 500"));
	ck_assert(!breaker_failure(&b, 4, "HTTP 500"));
	ck_assert(breaker_failure(&b, 5, "HTTP 529 overloaded"));
	ck_assert_int_eq(b.state, BREAKER_OPEN);
	ck_assert_uint_eq(b.trips, 1);
	ck_assert_ptr_nonnull(strstr(b.reason, "3 failures in a row"));
	ck_assert_ptr_nonnull(strstr(b.reason, "HTTP 529 overloaded"));
	ck_assert(!breaker_allow(&b, 6));
	ck_assert_double_eq(breaker_next_allowed(&b, 6), 5 + BREAKER_COOLDOWN_S);
}
END_TEST

START_TEST(test_half_open_probe)
{
	struct breaker b;

	breaker_init(&b, 1);
	ck_assert(breaker_failure(&b, 100, "x"));
	ck_assert(!breaker_allow(&b, 100 + BREAKER_COOLDOWN_S - 0.01));
	/* after the cool-down exactly one probe goes out */
	ck_assert(breaker_allow(&b, 100 + BREAKER_COOLDOWN_S));
	ck_assert_int_eq(b.state, BREAKER_HALF_OPEN);
	ck_assert(!breaker_allow(&b, 100 + BREAKER_COOLDOWN_S + 1));
	/* the probe fails: open again, twice as long */
	ck_assert(breaker_failure(&b, 120, "y"));
	ck_assert_int_eq(b.state, BREAKER_OPEN);
	ck_assert_double_eq(b.cooldown, 2 * BREAKER_COOLDOWN_S);
	ck_assert(breaker_allow(&b, 120 + 2 * BREAKER_COOLDOWN_S));
	/* the probe succeeds: closed, cool-down forgotten */
	breaker_success(&b);
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
	ck_assert(breaker_allow(&b, 200));
	ck_assert(breaker_failure(&b, 201, "z"));
	ck_assert_double_eq(b.cooldown, BREAKER_COOLDOWN_S);
}
END_TEST

START_TEST(test_cooldown_is_capped)
{
	struct breaker b;
	double t = 0;

	breaker_init(&b, 1);
	breaker_failure(&b, t, "x");
	for (int i = 0; i < 20; i++) {
		t += b.cooldown;
		ck_assert(breaker_allow(&b, t));
		breaker_failure(&b, t, "x");
	}
	ck_assert_double_eq(b.cooldown, BREAKER_COOLDOWN_MAX_S);
}
END_TEST

START_TEST(test_failures_decay)
{
	struct breaker b;

	breaker_init(&b, 3);
	breaker_failure(&b, 0, "x");
	breaker_failure(&b, 1, "x");
	/* a long quiet spell: old failures no longer count */
	ck_assert(!breaker_failure(&b, 1 + BREAKER_DECAY_S + 1, "x"));
	ck_assert_uint_eq(b.failures, 1);
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
}
END_TEST

START_TEST(test_reset)
{
	struct breaker b;

	breaker_init(&b, 1);
	breaker_failure(&b, 0, "x");
	breaker_reset(&b);
	ck_assert_int_eq(b.state, BREAKER_CLOSED);
	ck_assert_uint_eq(b.failures, 0);
	ck_assert_uint_eq(b.trip_after, 1);
	ck_assert_uint_eq(b.trips, 1); /* history stays */
	ck_assert(breaker_allow(&b, 0.5));
	ck_assert_str_eq(breaker_state_name(BREAKER_HALF_OPEN), "half-open");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("breaker");
	TCase *tc = tcase_create("breaker");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_opens_after_consecutive_failures);
	tcase_add_test(tc, test_half_open_probe);
	tcase_add_test(tc, test_cooldown_is_capped);
	tcase_add_test(tc, test_failures_decay);
	tcase_add_test(tc, test_reset);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

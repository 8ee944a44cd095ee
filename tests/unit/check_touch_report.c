/* check_touch_report: the touch datagram parser (core/touch_report.c). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "touch_report.h"

static int parse(const char *s, struct touch_report *r, struct errmsg *e)
{
	return touch_report_parse(s, strlen(s), r, e);
}

START_TEST(test_target_only)
{
	struct touch_report r;
	struct errmsg e;

	ck_assert_int_eq(parse("support-bot", &r, &e), 0);
	ck_assert_str_eq(r.target, "support-bot");
	ck_assert_int_eq(r.result, PROTO_TOUCH_UNKNOWN);
	ck_assert_int_eq(r.cached, -1);
	ck_assert_int_eq(r.input, -1);
	/* a trailing newline (echo | socat) is fine */
	ck_assert_int_eq(parse("support-bot\n", &r, &e), 0);
	ck_assert_str_eq(r.target, "support-bot");
}
END_TEST

START_TEST(test_full)
{
	struct touch_report r;
	struct errmsg e;

	ck_assert_int_eq(parse("a.b_c-1 hit cached=4096 input=12", &r, &e), 0);
	ck_assert_str_eq(r.target, "a.b_c-1");
	ck_assert_int_eq(r.result, PROTO_TOUCH_HIT);
	ck_assert_int_eq(r.cached, 4096);
	ck_assert_int_eq(r.input, 12);
	/* a session's name (warmctl keep) */
	ck_assert_int_eq(parse("support:42 hit cached=3057", &r, &e), 0);
	ck_assert_str_eq(r.target, "support:42");
	ck_assert_int_eq(r.cached, 3057);
	ck_assert_int_eq(parse("t  input=0\tmiss ", &r, &e), 0);
	ck_assert_int_eq(r.result, PROTO_TOUCH_MISS);
	ck_assert_int_eq(r.input, 0);
	ck_assert_int_eq(r.cached, -1);
}
END_TEST

START_TEST(test_rejects)
{
	static const struct {
		const char *in;
		const char *msg;
	} bad[] = {
		{ "", "empty datagram" },
		{ "   ", "no target name" },
		{ "bad/name", "not a target name" },
		{ "t hit miss", "given twice" },
		{ "t cached=", "non-negative integer" },
		{ "t cached=-1", "non-negative integer" },
		{ "t cached=12x", "non-negative integer" },
		{ "t cached=99999999999999999999", "at most 100000000" },
		{ "t cached=3000000000000",
		  "cached=3000000000000 is out of range: at most 100000000" },
		{ "t input=100000001", "input=100000001 is out of range: at most 100000000" },
		{ "t input=abc", "non-negative integer" },
		{ "t warm", "unknown field" },
	};
	struct touch_report r;
	struct errmsg e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(parse(bad[i].in, &r, &e), -EINVAL);
		ck_assert_msg(strstr(e.text, bad[i].msg) != NULL, "%s: %s", bad[i].in, e.text);
	}
}
END_TEST

/* Token counts are bounded where they enter, so that no product with a
 * price can overflow further on (issue 10: cached=3000000000000 wrapped the
 * savings negative). The bound itself is accepted. */
START_TEST(test_bounds)
{
	struct touch_report r;
	struct errmsg e;
	char in[64];

	snprintf(in, sizeof(in), "t hit cached=%lld input=%lld", (long long)BOUNDS_MAX_TOKENS,
	         (long long)BOUNDS_MAX_TOKENS);
	ck_assert_int_eq(parse(in, &r, &e), 0);
	ck_assert_int_eq(r.cached, BOUNDS_MAX_TOKENS);
	ck_assert_int_eq(r.input, BOUNDS_MAX_TOKENS);
	snprintf(in, sizeof(in), "t cached=%lld", (long long)BOUNDS_MAX_TOKENS + 1);
	ck_assert_int_eq(parse(in, &r, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "cached="));
	ck_assert_ptr_nonnull(strstr(e.text, "100000000"));
	/* nothing is left half-parsed for a caller that ignores the error */
	ck_assert_int_eq(parse("t input=9223372036854775807", &r, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "input="));
}
END_TEST

START_TEST(test_binary_and_long)
{
	char big[TOUCH_MAX_DATAGRAM + 2];
	struct touch_report r;
	struct errmsg e;

	ck_assert_int_eq(touch_report_parse("t\0hit", 5, &r, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "NUL"));
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(touch_report_parse(big, sizeof(big), &r, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "longer than"));
	/* a 65-character name is not a name */
	memset(big, 'a', 65);
	ck_assert_int_eq(touch_report_parse(big, 65, &r, &e), -EINVAL);
	ck_assert_int_eq(touch_report_parse(big, 64, &r, &e), 0);
	ck_assert_uint_eq(strlen(r.target), 64);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("touch");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_target_only);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_rejects);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_binary_and_long);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

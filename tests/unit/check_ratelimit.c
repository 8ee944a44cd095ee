/* check_ratelimit: retry and rate-limit headers, spend limits (daemon/ratelimit.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit.h"

#define NOW 1796000000.0 /* 2026-11-30T... */

static struct rl_info parse(const char *h)
{
	struct rl_info i;

	ratelimit_parse(h, strlen(h), NOW, &i);
	return i;
}

START_TEST(test_nothing)
{
	struct rl_info i = parse("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n");

	ck_assert_double_eq(i.retry_after, -1);
	ck_assert_int_eq(i.should_retry, -1);
	ck_assert_int_eq(i.req_remaining, -1);
	ck_assert_double_eq(ratelimit_hold_until(&i, NOW), NOW);
}
END_TEST

START_TEST(test_retry_after_forms)
{
	ck_assert_double_eq(parse("Retry-After: 7\r\n").retry_after, 7);
	ck_assert_double_eq(parse("retry-after-ms: 1500\r\nretry-after: 2\r\n").retry_after, 1.5);
	ck_assert_double_eq(parse("retry-after: 2\r\nretry-after-ms: 1500\r\n").retry_after, 1.5);
	/* an HTTP date 30 s after NOW */
	{
		char h[128];
		time_t t = (time_t)NOW + 30;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(h, sizeof(h), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		ck_assert_double_eq_tol(parse(h).retry_after, 30, 1e-6);
	}
	/* a date in the past means now; absurd waits are clamped */
	ck_assert_double_eq(parse("Retry-After: Mon, 01 Jan 2001 00:00:00 GMT\r\n").retry_after, 0);
	ck_assert_double_eq(parse("Retry-After: 99999\r\n").retry_after, RATELIMIT_MAX_WAIT_S);
	ck_assert_double_eq(parse("Retry-After: soon\r\n").retry_after, -1);
	ck_assert_int_eq(parse("x-should-retry: false\r\n").should_retry, 0);
	ck_assert_int_eq(parse("X-Should-Retry: true\r\n").should_retry, 1);
	ck_assert_int_eq(parse("x-should-retry: maybe\r\n").should_retry, -1);
}
END_TEST

START_TEST(test_anthropic_headers)
{
	struct rl_info i = parse("anthropic-ratelimit-requests-limit: 50\r\n"
	                         "anthropic-ratelimit-requests-remaining: 2\r\n"
	                         "anthropic-ratelimit-requests-reset: 2026-11-29T10:13:40Z\r\n");

	ck_assert_int_eq(i.req_limit, 50);
	ck_assert_int_eq(i.req_remaining, 2);
	ck_assert_double_eq(i.req_reset_at, ratelimit_parse_rfc3339("2026-11-29T10:13:40Z"));
	/* 2 of 50 left is under 5%: hold until the reset (in the past here: no hold) */
	ck_assert_double_eq(ratelimit_hold_until(&i, NOW), NOW);
	i.req_reset_at = NOW + 12;
	ck_assert_double_eq(ratelimit_hold_until(&i, NOW), NOW + 12);
	i.req_remaining = 10;
	ck_assert_double_eq(ratelimit_hold_until(&i, NOW), NOW);
	/* a reset too far away is clamped */
	i.req_remaining = 0;
	i.req_reset_at = NOW + 10000;
	ck_assert_double_eq(ratelimit_hold_until(&i, NOW), NOW + RATELIMIT_MAX_WAIT_S);
}
END_TEST

START_TEST(test_openai_headers)
{
	struct rl_info i = parse("x-ratelimit-limit-requests: 60\r\n"
	                         "x-ratelimit-remaining-requests: 1\r\n"
	                         "x-ratelimit-reset-requests: 6m0s\r\n"
	                         "x-ratelimit-limit-tokens: 150000\r\n"
	                         "x-ratelimit-remaining-tokens: 149984\r\n"
	                         "x-ratelimit-reset-tokens: 6ms\r\n");

	ck_assert_int_eq(i.req_remaining, 1);
	ck_assert_double_eq(i.req_reset_at, NOW + 360);
	ck_assert_double_eq_tol(i.tok_reset_at, NOW + 0.006, 1e-6);
	ck_assert_double_eq(ratelimit_hold_until(&i, NOW), NOW + 300); /* clamped 360 */
}
END_TEST

START_TEST(test_parsers)
{
	ck_assert_double_eq(ratelimit_parse_duration("1s"), 1);
	ck_assert_double_eq(ratelimit_parse_duration("6m0s"), 360);
	ck_assert_double_eq(ratelimit_parse_duration("250ms"), 0.25);
	ck_assert_double_eq(ratelimit_parse_duration("1h2m3.5s"), 3723.5);
	ck_assert_double_eq(ratelimit_parse_duration("12"), -1);
	ck_assert_double_eq(ratelimit_parse_duration(""), -1);
	ck_assert_double_eq(ratelimit_parse_duration("1x"), -1);
	ck_assert_double_eq(ratelimit_parse_rfc3339("1970-01-01T00:01:00Z"), 60);
	ck_assert_double_eq(ratelimit_parse_rfc3339("1970-01-01T00:01:00.5Z"), 60.5);
	ck_assert_double_eq(ratelimit_parse_rfc3339("1970-01-01T01:01:00+01:00"), 60);
	ck_assert_double_eq(ratelimit_parse_rfc3339("1970-01-01T00:01:00"), -1);
	ck_assert_double_eq(ratelimit_parse_rfc3339("yesterday"), -1);
}
END_TEST

START_TEST(test_spend_limit)
{
	static const char oa[] =
	        "{\"error\":{\"message\":\"You exceeded your current quota, please "
	        "check your plan and billing details.\",\"type\":\"insufficient_"
	        "quota\",\"code\":\"insufficient_quota\"}}";
	static const char an[] = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
	                         "\"message\":\"You have reached your specified API usage limits."
	                         "\"}}";
	static const char rl[] = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
	                         "\"message\":\"Number of request tokens has exceeded your "
	                         "per-minute rate limit\"}}";

	ck_assert(ratelimit_is_spend_limit(429, oa, strlen(oa)));
	ck_assert(ratelimit_is_spend_limit(429, an, strlen(an)));
	ck_assert(!ratelimit_is_spend_limit(429, rl, strlen(rl)));
	ck_assert(!ratelimit_is_spend_limit(500, oa, strlen(oa)));
	ck_assert(!ratelimit_is_spend_limit(429, "", 0));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("ratelimit");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_nothing);
	tcase_add_test(tc, test_retry_after_forms);
	tcase_add_test(tc, test_anthropic_headers);
	tcase_add_test(tc, test_openai_headers);
	tcase_add_test(tc, test_parsers);
	tcase_add_test(tc, test_spend_limit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

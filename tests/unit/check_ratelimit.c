/* check_ratelimit: retry and rate-limit headers, spend limits (core/ratelimit.c). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit.h"
#include "rfc3339.h"

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
	ck_assert_double_eq(i.req_reset_at, rfc3339_parse("2026-11-29T10:13:40Z"));
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
	ck_assert_double_eq(rfc3339_parse("1970-01-01T00:01:00Z"), 60);
	ck_assert_double_eq(rfc3339_parse("1970-01-01T00:01:00.5Z"), 60.5);
	ck_assert_double_eq(rfc3339_parse("1970-01-01T01:01:00+01:00"), 60);
	ck_assert_double_eq(rfc3339_parse("1970-01-01T00:01:00"), -1);
	ck_assert_double_eq(rfc3339_parse("yesterday"), -1);
	/* as Gemini writes a cache's expireTime */
	ck_assert_double_eq_tol(rfc3339_parse("2026-12-06T10:00:00.25Z"), 1796551200.25, 1e-6);
	ck_assert_double_eq(rfc3339_parse("2026-12-06T11:00:00+01:00"), 1796551200);
	ck_assert_double_eq(rfc3339_parse("2026-12-06T09:30:00-00:30"), 1796551200);
	ck_assert_double_eq(rfc3339_parse("2026-12-06 10:00:00Z"), -1);
	ck_assert_double_eq(rfc3339_parse("2026-13-06T10:00:00Z"), -1);
	ck_assert_double_eq(rfc3339_parse("2026-12-06T10:00:00Zjunk"), -1);
}
END_TEST

/* A copy of s in a heap block of exactly its size, so that ASan sees any
 * read past its NUL (a string literal sits among others and hides it). */
static double rfc3339_exact(const char *s)
{
	char *copy = strdup(s);
	double t;

	ck_assert_ptr_nonnull(copy);
	t = rfc3339_parse(copy);
	free(copy);
	return t;
}

/* Defect: "+1:2" passed sscanf("%2d:%2d"), then a fixed p += 6 read past
 * the end of the value; lenient strptime took "2026-1-5" and "Feb 30". */
START_TEST(test_rfc3339_malformed)
{
	static const char *const bad[] = {
		"2026-01-01T00:00:00+1:2",
		"2026-01-01T00:00:00+01:2",
		"2026-01-01T00:00:00+1:02",
		"2026-01-01T00:00:00+01",
		"2026-01-01T00:00:00+01:",
		"2026-01-01T00:00:00+0100",
		"2026-01-01T00:00:00+",
		"2026-01-01T00:00:00-",
		"2026-01-01T00:00:00+24:00",
		"2026-01-01T00:00:00+01:60",
		"2026-01-01T00:00:00+01:00:00",
		"2026-01-01T00:00:00.Z",
		"2026-01-01T00:00:00.",
		"2026-01-01T00:00:00.1234567890Z",
		"2026-01-01T00:00:00,5Z",
		"2026-01-01T00:00:00",
		"2026-01-01T00:00:0",
		"2026-01-01T00:00",
		"2026-01-01T",
		"2026-01-01",
		"2026-01-01 00:00:00Z",
		"2026-1-01T00:00:00Z",
		"2026-01-1T00:00:00Z",
		"26-01-01T00:00:00Z",
		"+2026-01-01T00:00:00Z",
		" 2026-01-01T00:00:00Z",
		"2026-01-01T00:00:00Z ",
		"2026-01-01T00:00:00ZZ",
		"2026-01-01T00:00:00Zjunk",
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-02-29T00:00:00Z",
		"2026-02-30T00:00:00Z",
		"2026-04-31T00:00:00Z",
		"2026-01-00T00:00:00Z",
		"2026-01-01T24:00:00Z",
		"2026-01-01T00:60:00Z",
		"2026-01-01T00:00:61Z",
		"1969-12-31T23:59:59Z",
		"2026-01-01T0a:00:00Z",
		"",
		"Z",
		"yesterday",
	};
	char wrong[1024] = "";

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		double t = rfc3339_exact(bad[k]);
		if (t != -1) {
			size_t l = strlen(wrong);
			snprintf(wrong + l, sizeof(wrong) - l, " \"%s\"=%.3f", bad[k], t);
		}
	}
	ck_assert_msg(wrong[0] == '\0', "accepted:%s", wrong);
}
END_TEST

START_TEST(test_rfc3339_valid)
{
	/* 2026-01-01T00:00:00Z */
	const double jan1 = 1767225600.0;

	ck_assert_double_eq(rfc3339_exact("2026-01-01T00:00:00Z"), jan1);
	ck_assert_double_eq(rfc3339_exact("2026-01-01t00:00:00z"), jan1);
	ck_assert_double_eq(rfc3339_exact("2026-01-01T01:30:00+01:30"), jan1);
	ck_assert_double_eq(rfc3339_exact("2025-12-31T18:30:00-05:30"), jan1);
	ck_assert_double_eq(rfc3339_exact("2026-01-01T00:00:00-00:00"), jan1);
	ck_assert_double_eq(rfc3339_exact("2026-01-01T00:00:00.5Z"), jan1 + 0.5);
	ck_assert_double_eq_tol(rfc3339_exact("2026-01-01T00:00:00.123456789Z"), jan1 + 0.123456789,
	                        1e-6);
	ck_assert_double_eq(rfc3339_exact("2024-02-29T00:00:00Z"), 1709164800.0);
	ck_assert_double_eq(rfc3339_exact("2000-02-29T00:00:00Z"), 951782400.0);
	ck_assert_double_eq(rfc3339_exact("2016-12-31T23:59:60Z"), 1483228800.0);
	ck_assert_double_eq(rfc3339_exact("1970-01-01T00:00:00Z"), 0);
}
END_TEST

/* Defect: strtod() read "1e3", "0x10" and "inf" in durations and waits,
 * strtoll() took "12abc" and saturated 20 digits to 2^63-1. */
START_TEST(test_numbers_are_exact)
{
	static const char *const bad_durations[] = {
		"1e3s", "0x10s", "infs",   "nans", "-1s", "+1s", "1s ", " 1s",
		"1m30", "30 s",  "1.5.5s", "s",    "ms",  "1x",  "12",  "",
	};

	for (size_t k = 0; k < sizeof(bad_durations) / sizeof(bad_durations[0]); k++)
		ck_assert_msg(ratelimit_parse_duration(bad_durations[k]) == -1, "\"%s\" = %g",
		              bad_durations[k], ratelimit_parse_duration(bad_durations[k]));
	ck_assert_double_eq(parse("Retry-After: 1e3\r\n").retry_after, -1);
	ck_assert_double_eq(parse("Retry-After: 0x10\r\n").retry_after, -1);
	ck_assert_double_eq(parse("Retry-After: -5\r\n").retry_after, -1);
	ck_assert_double_eq(parse("Retry-After: 5 seconds\r\n").retry_after, -1);
	ck_assert_double_eq(parse("retry-after-ms: 1e9\r\n").retry_after, -1);
	ck_assert_double_eq(parse("retry-after-ms: inf\r\n").retry_after, -1);
	ck_assert_double_eq(parse("retry-after-ms: nan\r\n").retry_after, -1);
	ck_assert_double_eq(parse("retry-after-ms: 1500abc\r\n").retry_after, -1);
	ck_assert_int_eq(parse("x-ratelimit-remaining-requests: 12abc\r\n").req_remaining, -1);
	ck_assert_int_eq(parse("x-ratelimit-remaining-requests: +12\r\n").req_remaining, -1);
	ck_assert_int_eq(parse("x-ratelimit-remaining-requests: -1\r\n").req_remaining, -1);
	ck_assert_int_eq(parse("x-ratelimit-remaining-requests: 0x10\r\n").req_remaining, -1);
	ck_assert_int_eq(parse("x-ratelimit-limit-tokens: 99999999999999999999\r\n").tok_limit, -1);
	ck_assert_int_eq(parse("x-ratelimit-limit-tokens: 9007199254740992\r\n").tok_limit, -1);
	ck_assert_int_eq(parse("x-ratelimit-limit-tokens: 9007199254740991\r\n").tok_limit,
	                 RATELIMIT_MAX_COUNT);
	ck_assert_int_eq(parse("x-ratelimit-remaining-tokens: 0\r\n").tok_remaining, 0);
	ck_assert_int_eq(parse("x-ratelimit-remaining-tokens: 42\t\r\n").tok_remaining, 42);
}
END_TEST

/* Nothing a header says makes the scheduler wait past its cap or hold
 * further than a day ahead, however large the number. */
START_TEST(test_waits_are_bounded)
{
	struct rl_info i;

	ck_assert_double_eq(parse("Retry-After: 86400\r\n").retry_after, RATELIMIT_MAX_WAIT_S);
	ck_assert_double_eq(parse("Retry-After: 999999999999999999999999\r\n").retry_after,
	                    RATELIMIT_MAX_WAIT_S);
	ck_assert_double_eq(parse("retry-after-ms: 99999999999999999999999999999\r\n").retry_after,
	                    RATELIMIT_MAX_WAIT_S);
	ck_assert_double_eq(parse("Retry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\n").retry_after,
	                    RATELIMIT_MAX_WAIT_S);
	ck_assert_double_eq(parse("retry-after-ms: 2.5\r\n").retry_after, 0.0025);
	ck_assert_double_eq(parse("retry-after-ms: 0\r\n").retry_after, 0);
	ck_assert_double_eq(parse("Retry-After: 1.5\r\n").retry_after, 1.5);
	i = parse("anthropic-ratelimit-requests-remaining: 0\r\n"
	          "anthropic-ratelimit-requests-reset: 9999-12-31T23:59:59Z\r\n");
	ck_assert_double_eq(i.req_reset_at, NOW + RATELIMIT_MAX_HEADER_S);
	ck_assert_double_eq(ratelimit_hold_until(&i, NOW), NOW + RATELIMIT_MAX_WAIT_S);
	i = parse("x-ratelimit-remaining-tokens: 0\r\n"
	          "x-ratelimit-reset-tokens: 99999999h\r\n");
	ck_assert_double_eq(i.tok_reset_at, NOW + RATELIMIT_MAX_HEADER_S);
	ck_assert_double_eq(ratelimit_hold_until(&i, NOW), NOW + RATELIMIT_MAX_WAIT_S);
	/* a malformed reset is unknown, not "now" or the epoch */
	i = parse("anthropic-ratelimit-requests-remaining: 0\r\n"
	          "anthropic-ratelimit-requests-reset: 2026-01-01T00:00:00+1:2\r\n");
	ck_assert_double_eq(i.req_reset_at, -1);
	ck_assert_double_eq(ratelimit_hold_until(&i, NOW), NOW);
}
END_TEST

/* The shapes OpenAI sends (Go durations) and the three HTTP-date forms. */
START_TEST(test_reset_and_date_forms)
{
	static const struct {
		const char *in;
		double want;
	} d[] = {
		{ "1m30s", 90 }, { "6ms", 0.006 },      { "2.5s", 2.5 },        { "1h0m0s", 3600 },
		{ "0s", 0 },     { "59.999s", 59.999 }, { "1h2m3.5s", 3723.5 }, { "17ms", 0.017 },
	};
	char h[160];

	for (size_t k = 0; k < sizeof(d) / sizeof(d[0]); k++) {
		snprintf(h, sizeof(h), "x-ratelimit-reset-requests: %s\r\n", d[k].in);
		ck_assert_msg(fabs(parse(h).req_reset_at - (NOW + d[k].want)) < 1e-6, "%s",
		              d[k].in);
	}
	/* NOW + 30 s in each form */
	{
		time_t t = (time_t)NOW + 30;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(h, sizeof(h), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		ck_assert_msg(fabs(parse(h).retry_after - 30) < 1e-6, "IMF-fixdate %s", h);
		{
			/* two-digit year, spelt out (strftime's %y trips -Wformat-y2k) */
			char a[64], b[32];
			strftime(a, sizeof(a), "%A, %d-%b-", &tm);
			strftime(b, sizeof(b), " %H:%M:%S GMT", &tm);
			snprintf(h, sizeof(h), "Retry-After: %s%02d%s\r\n", a, tm.tm_year % 100, b);
			ck_assert_msg(fabs(parse(h).retry_after - 30) < 1e-6, "RFC 850 %s", h);
		}
		strftime(h, sizeof(h), "Retry-After: %a %b %e %H:%M:%S %Y\r\n", &tm);
		ck_assert_msg(fabs(parse(h).retry_after - 30) < 1e-6, "asctime %s", h);
	}
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
	tcase_add_test(tc, test_rfc3339_malformed);
	tcase_add_test(tc, test_rfc3339_valid);
	tcase_add_test(tc, test_numbers_are_exact);
	tcase_add_test(tc, test_waits_are_bounded);
	tcase_add_test(tc, test_reset_and_date_forms);
	tcase_add_test(tc, test_spend_limit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

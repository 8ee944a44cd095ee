/* ratelimit: what a provider's answer says about how fast warmd may go.
 * Every value here comes from a stranger: each is read in its exact form
 * and bounded (counts below 2^53, waits and resets within a day) before the
 * scheduler does arithmetic with it. */
#include "ratelimit.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "duration.h"
#include "rfc3339.h"

/* A wait in seconds (bare numbers count in bare_unit seconds), at most a
 * day; -1 when malformed. A well-formed wait longer than a day is a day:
 * the provider asks for a long pause, and gets the longest warmd gives. */
static double parse_wait(const char *v, double bare_unit)
{
	double s;
	int r = duration_parse_bounded(v, bare_unit, RATELIMIT_MAX_HEADER_S, &s);

	if (r == -ERANGE)
		return RATELIMIT_MAX_HEADER_S;
	return r < 0 ? -1 : s;
}

double ratelimit_parse_duration(const char *s)
{
	return parse_wait(s, 0);
}

/* A count: 1 to 16 digits, below 2^53 (exact in a double, never overflows
 * a sum); -1 for anything else. */
static long long parse_count(const char *v)
{
	long long n = 0;
	size_t len = strspn(v, "0123456789");

	if (len < 1 || len > 16 || v[len] != '\0')
		return -1;
	for (size_t k = 0; k < len; k++)
		n = n * 10 + (v[k] - '0');
	return n <= RATELIMIT_MAX_COUNT ? n : -1;
}

/* An absolute reset time, never more than a day ahead; -1 when malformed. */
static double reset_at(double t, double now)
{
	if (t < 0)
		return -1;
	return t > now + RATELIMIT_MAX_HEADER_S ? now + RATELIMIT_MAX_HEADER_S : t;
}

/* Applies one "name: value" header line. */
static void header(struct rl_info *i, const char *name, const char *v, double now)
{
	if (strcasecmp(name, "retry-after-ms") == 0) {
		double sec = parse_wait(v, 0.001);
		if (sec >= 0)
			i->retry_after = sec; /* the precise one wins */
	} else if (strcasecmp(name, "retry-after") == 0) {
		double sec;
		if (i->retry_after >= 0)
			return; /* retry-after-ms came first */
		sec = parse_wait(v, 1);
		if (sec < 0 && isalpha((unsigned char)v[0])) {
			/* The HTTP-date forms, which all start with the day's name
			 * ("Wed, 21 Oct 2015 07:28:00 GMT"); curl_getdate() takes
			 * much else, so nothing else goes to it. */
			time_t t = curl_getdate(v, NULL);
			if (t != (time_t)-1)
				sec = fmin(fmax((double)t - now, 0), RATELIMIT_MAX_HEADER_S);
		}
		if (sec >= 0)
			i->retry_after = sec;
	} else if (strcasecmp(name, "x-should-retry") == 0) {
		if (strcasecmp(v, "true") == 0)
			i->should_retry = 1;
		else if (strcasecmp(v, "false") == 0)
			i->should_retry = 0;
	} else if (strcasecmp(name, "anthropic-ratelimit-requests-limit") == 0 ||
	           strcasecmp(name, "x-ratelimit-limit-requests") == 0) {
		i->req_limit = parse_count(v);
	} else if (strcasecmp(name, "anthropic-ratelimit-requests-remaining") == 0 ||
	           strcasecmp(name, "x-ratelimit-remaining-requests") == 0) {
		i->req_remaining = parse_count(v);
	} else if (strcasecmp(name, "anthropic-ratelimit-requests-reset") == 0) {
		i->req_reset_at = reset_at(rfc3339_parse(v), now);
	} else if (strcasecmp(name, "x-ratelimit-reset-requests") == 0) {
		double d = ratelimit_parse_duration(v);
		i->req_reset_at = d >= 0 ? now + d : -1;
	} else if (strcasecmp(name, "anthropic-ratelimit-input-tokens-limit") == 0 ||
	           strcasecmp(name, "x-ratelimit-limit-tokens") == 0) {
		i->tok_limit = parse_count(v);
	} else if (strcasecmp(name, "anthropic-ratelimit-input-tokens-remaining") == 0 ||
	           strcasecmp(name, "x-ratelimit-remaining-tokens") == 0) {
		i->tok_remaining = parse_count(v);
	} else if (strcasecmp(name, "anthropic-ratelimit-input-tokens-reset") == 0) {
		i->tok_reset_at = reset_at(rfc3339_parse(v), now);
	} else if (strcasecmp(name, "x-ratelimit-reset-tokens") == 0) {
		double d = ratelimit_parse_duration(v);
		i->tok_reset_at = d >= 0 ? now + d : -1;
	}
}

void ratelimit_parse(const char *headers, size_t len, double now, struct rl_info *i)
{
	const char *p = headers, *end = headers + len;

	i->retry_after = -1;
	i->should_retry = -1;
	i->req_limit = i->req_remaining = i->tok_limit = i->tok_remaining = -1;
	i->req_reset_at = i->tok_reset_at = -1;
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		char line[512], *colon, *v;

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			while (n &&
			       (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
				line[--n] = '\0';
			colon = strchr(line, ':');
			if (colon) {
				*colon = '\0';
				for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
					;
				header(i, line, v, now);
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	if (i->retry_after > RATELIMIT_MAX_WAIT_S)
		i->retry_after = RATELIMIT_MAX_WAIT_S;
}

static bool low(long long remaining, long long limit)
{
	long long water = limit > 0 ? limit / 20 : 0;

	if (water < 1)
		water = 1;
	return remaining >= 0 && remaining <= water;
}

double ratelimit_hold_until(const struct rl_info *i, double now)
{
	double until = now;

	/* Slow down before "remaining" reaches zero, not after. */
	if (low(i->req_remaining, i->req_limit) && i->req_reset_at > until)
		until = i->req_reset_at;
	if (low(i->tok_remaining, i->tok_limit) && i->tok_reset_at > until)
		until = i->tok_reset_at;
	if (until > now + RATELIMIT_MAX_WAIT_S)
		until = now + RATELIMIT_MAX_WAIT_S;
	return until;
}

bool ratelimit_is_spend_limit(long status, const char *body, size_t len)
{
	static const char *const words[] = { "insufficient_quota",
		                             "exceeded your current quota",
		                             "spend limit",
		                             "usage limits",
		                             "usage limit",
		                             "credit balance",
		                             "billing" };
	char text[4096];

	if (status != 429)
		return false;
	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	for (size_t k = 0; k < len; k++)
		text[k] = (char)tolower((unsigned char)body[k]);
	text[len] = '\0';
	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
		if (strstr(text, words[k]))
			return true;
	return false;
}

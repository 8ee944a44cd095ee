/* ratelimit: what a provider's answer says about how fast warmd may go. */
#include "ratelimit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

double ratelimit_parse_duration(const char *s)
{
	double total = 0;
	bool any = false;

	while (*s && !isspace((unsigned char)*s)) {
		char *end;
		double v = strtod(s, &end);
		if (end == s || v < 0)
			return -1;
		s = end;
		if (strncmp(s, "ms", 2) == 0) {
			total += v / 1000;
			s += 2;
		} else if (*s == 's') {
			total += v;
			s++;
		} else if (*s == 'm') {
			total += v * 60;
			s++;
		} else if (*s == 'h') {
			total += v * 3600;
			s++;
		} else {
			return -1;
		}
		any = true;
	}
	return any ? total : -1;
}

double ratelimit_parse_rfc3339(const char *s)
{
	struct tm tm;
	const char *p;
	double frac = 0, offset = 0;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		char *end;
		frac = strtod(p, &end);
		p = end;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -1;
		offset = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p && !isspace((unsigned char)*p))
		return -1;
	return (double)timegm(&tm) + frac - offset;
}

static long long parse_count(const char *v)
{
	char *end;
	long long n = strtoll(v, &end, 10);

	return end != v && n >= 0 ? n : -1;
}

/* Applies one "name: value" header line. */
static void header(struct rl_info *i, const char *name, const char *v, double now)
{
	if (strcasecmp(name, "retry-after-ms") == 0) {
		double ms = strtod(v, NULL);
		if (ms >= 0)
			i->retry_after = ms / 1000; /* the precise one wins */
	} else if (strcasecmp(name, "retry-after") == 0) {
		char *end;
		double sec = strtod(v, &end);
		if (i->retry_after >= 0)
			return; /* retry-after-ms came first */
		if (end != v && *end == '\0' && sec >= 0) {
			i->retry_after = sec;
		} else {
			struct tm tm;
			memset(&tm, 0, sizeof(tm));
			if (strptime(v, "%a, %d %b %Y %H:%M:%S", &tm))
				i->retry_after = (double)timegm(&tm) - now > 0
				                         ? (double)timegm(&tm) - now
				                         : 0;
		}
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
		i->req_reset_at = ratelimit_parse_rfc3339(v);
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
		i->tok_reset_at = ratelimit_parse_rfc3339(v);
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
			while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
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

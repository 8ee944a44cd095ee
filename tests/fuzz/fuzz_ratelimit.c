/* fuzz_ratelimit: what a provider's answer headers say about pacing
 * (core/ratelimit.c): retry-after / retry-after-ms, x-should-retry, the
 * anthropic-ratelimit-* (RFC 3339 resets) and x-ratelimit-* (duration
 * resets) headers, and the 429 spend-limit check on the body.
 *
 * The input is the header block as curl collects it ("name: value\r\n"
 * lines); each value alone also goes to the two reset parsers. */
#include "fuzz.h"
#include "ratelimit.h"
#include "rfc3339.h"

#define NOW 1767225600.0 /* 2026-01-01T00:00:00Z: a fixed clock, reproducible runs */

static void check_info(const struct rl_info *i)
{
	double until = ratelimit_hold_until(i, NOW);

	/* The scheduler trusts these bounds: absent (-1) or a wait within
	 * the cap, never NaN (every comparison with it is false). */
	if (!(i->retry_after == -1 ||
	      (i->retry_after >= 0 && i->retry_after <= RATELIMIT_MAX_WAIT_S)))
		abort();
	if (!(until >= NOW && until <= NOW + RATELIMIT_MAX_WAIT_S))
		abort();
	if (i->should_retry < -1 || i->should_retry > 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct rl_info info;
	char *s;

	ratelimit_parse(p, size, NOW, &info);
	check_info(&info);
	ratelimit_is_spend_limit(429, p, size);

	/* Each line's value on its own, NUL-terminated, as header() passes it. */
	s = fuzz_cstr(data, size);
	for (char *line = s, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		ratelimit_parse_duration(line);
		rfc3339_parse(line);
	}
	free(s);
	return 0;
}

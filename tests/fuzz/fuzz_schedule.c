/* fuzz_schedule: schedule windows (core/policy.c policy_window_parse),
 * "Mon-Fri 07:30-19:00 [Europe/Berlin]" from a target's schedule list, and
 * the evaluation of what parsed (policy_schedule_at) around a few instants:
 * a plain day, both European DST changes, and a leap day.
 *
 * Each input line is one window; all the windows that parse are evaluated
 * together, as a target with several windows is. */
#include "fuzz.h"
#include "policy.h"

#define MAX_WINDOWS 8

static const double instants[] = {
	1767225600.0, /* 2026-01-01T00:00:00Z, a Thursday */
	1774745400.0, /* 2026-03-29T00:50:00Z, ten minutes before CEST begins */
	1792889100.0, /* 2026-10-25T00:45:00Z, fifteen minutes before CET returns */
	1709208000.0, /* 2024-02-29T12:00:00Z */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct window w[MAX_WINDOWS];
	size_t n = 0;

	for (char *line = s, *next; line && n < MAX_WINDOWS; line = next) {
		struct errmsg e;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		e.text[0] = '\0';
		if (policy_window_parse(line, &w[n], &e) < 0) {
			if (!e.text[0])
				abort();
			continue;
		}
		if (!w[n].days || w[n].days > 0x7f || w[n].start_min < 0 ||
		    w[n].start_min >= 24 * 60 || w[n].end_min < 0 || w[n].end_min > 24 * 60 ||
		    w[n].start_min == w[n].end_min || !memchr(w[n].tz, '\0', sizeof(w[n].tz)))
			abort();
		n++;
	}
	for (size_t i = 0; n && i < sizeof(instants) / sizeof(instants[0]); i++) {
		double now = instants[i], end = 0, next = 0;
		if (policy_schedule_at(w, n, now, &end, &next)) {
			if (!(end > now))
				abort(); /* inside: the window closes later */
		} else if (!(next == -1 || next > now)) {
			abort(); /* outside: the next one opens later, or never */
		}
	}
	free(s);
	return 0;
}

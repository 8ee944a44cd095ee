/* duration: parsing and printing of human durations ("5m", "1h30m", "250ms", "6"). */
#include "duration.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int duration_parse_bounded(const char *s, double bare_unit, double max, double *ret)
{
	double total = 0;
	const char *p = s;
	int parts = 0;
	bool too_big = false;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		const char *end;
		char *used;
		double v, mul;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		/* Decimal digits with an optional fraction only: no hex, no exponent. */
		end = p + strspn(p, "0123456789");
		if (*end == '.')
			end += 1 + strspn(end + 1, "0123456789");
		v = strtod(p, &used);
		if (used != end || !(v >= 0))
			return -EINVAL; /* strtod saw more (or less) than the digits */
		p = end;
		if (strncmp(p, "ms", 2) == 0) {
			mul = 0.001;
			p += 2;
		} else if (*p == 's') {
			mul = 1;
			p++;
		} else if (*p == 'm') {
			mul = 60;
			p++;
		} else if (*p == 'h') {
			mul = 3600;
			p++;
		} else if (*p == 'd') {
			mul = 86400;
			p++;
		} else if (*p == '\0' && parts == 0 && bare_unit > 0) {
			mul = bare_unit; /* a bare number */
		} else {
			return -EINVAL;
		}
		/* Keep reading after an overflow: four hundred digits followed by
		 * junk are malformed (-EINVAL), not merely too long (-ERANGE). */
		if (!isfinite(v) || !isfinite(total + v * mul))
			too_big = true;
		else
			total += v * mul;
		parts++;
	}
	if (too_big || total > max)
		return -ERANGE;
	*ret = total;
	return 0;
}

int duration_parse(const char *s, double *ret)
{
	int r = duration_parse_bounded(s, 1, DURATION_MAX_S, ret);

	return r == -ERANGE ? -EINVAL : r;
}

char *duration_format(double s, char *out, size_t n)
{
	const char *sign = s < 0 ? "-" : "";
	double a = fabs(s);

	/* Round to the precision of the unit first, so a field never reads 60. */
	if (isfinite(s)) {
		if (a < 1 && round(a * 1000) >= 1000)
			a = 1;
		else if (a >= 1 && a < 60 && round(a * 10) >= 600)
			a = 60;
		else if (a >= 60 && a < 3600)
			a = round(a);
	}
	if (!isfinite(s))
		snprintf(out, n, "never");
	else if (a < 1)
		snprintf(out, n, "%s%.0fms", sign, a * 1000);
	else if (a < 60)
		snprintf(out, n, "%s%.1fs", sign, a);
	else if (a < 3600) {
		int m = (int)(a / 60);
		double r = a - m * 60;
		if (r < 0.05)
			snprintf(out, n, "%s%dm", sign, m);
		else
			snprintf(out, n, "%s%dm%.0fs", sign, m, r);
	} else {
		/* Hours in a double: a time difference read from outside (a state
		 * file, a header) may be any size, and an int would overflow. */
		double h = floor(a / 3600), rem = a - h * 3600;
		int m = rem >= 0 && rem < 3600 ? (int)(rem / 60) : 0;
		if (m)
			snprintf(out, n, "%s%.0fh%dm", sign, h, m);
		else
			snprintf(out, n, "%s%.0fh", sign, h);
	}
	return out;
}

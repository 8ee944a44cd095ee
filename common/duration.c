/* duration: parsing and printing of human durations ("5m", "1h30m", "250ms", "6"). */
#include "duration.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int duration_parse(const char *s, double *ret)
{
	double total = 0;
	const char *p = s;
	int parts = 0;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		char *end;
		double v, mul;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		/* Decimal digits with an optional fraction only: no hex, no exponent. */
		end = (char *)p + strspn(p, "0123456789");
		if (*end == '.')
			end += 1 + strspn(end + 1, "0123456789");
		v = strtod(p, NULL);
		if (end == p || !isfinite(v) || v < 0)
			return -EINVAL;
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
		} else if (*p == '\0' && parts == 0) {
			mul = 1; /* bare number: seconds */
		} else {
			return -EINVAL;
		}
		total += v * mul;
		parts++;
	}
	if (!isfinite(total) || total > 365.0 * 86400)
		return -EINVAL;
	*ret = total;
	return 0;
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
		int h = (int)(a / 3600);
		int m = (int)((a - h * 3600) / 60);
		if (m)
			snprintf(out, n, "%s%dh%dm", sign, h, m);
		else
			snprintf(out, n, "%s%dh", sign, h);
	}
	return out;
}

/* rfc3339: see rfc3339.h. */
#include "rfc3339.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

/* Exactly n decimal digits at s (stopping at the first that is not one, so
 * never reading past a NUL), or -1. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* Every field is read at its fixed position and width, in order, so a short
 * or odd string fails at its first wrong byte instead of being read past. */
double rfc3339_parse(const char *s)
{
	struct tm tm;
	const char *p;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	double frac = 0;

	if ((y = digits(s, 4)) < 0 || s[4] != '-' || (mo = digits(s + 5, 2)) < 0 || s[7] != '-' ||
	    (d = digits(s + 8, 2)) < 0 || (s[10] != 'T' && s[10] != 't') ||
	    (h = digits(s + 11, 2)) < 0 || s[13] != ':' || (mi = digits(s + 14, 2)) < 0 ||
	    s[16] != ':' || (sec = digits(s + 17, 2)) < 0)
		return -1;
	p = s + 19;
	if (*p == '.') {
		/* 1 to 9 digits (nanoseconds); more precision is not a real clock's. */
		double scale = 0.1;
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, n++, scale /= 10)
			frac += (*p - '0') * scale;
		if (n < 1 || n > 9)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if ((oh = digits(p + 1, 2)) < 0 || p[3] != ':' || (om = digits(p + 4, 2)) < 0)
			return -1;
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	/* 1970 on: the answer's -1 means "malformed". A leap second (:60) is
	 * the next minute's first. */
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (double)timegm(&tm) + frac - sign * (oh * 3600 + om * 60);
}

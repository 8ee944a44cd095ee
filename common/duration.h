/* duration: parsing and printing of human durations ("5m", "1h30m", "250ms", "6"). */
#ifndef WARMD_DURATION_H
#define WARMD_DURATION_H

#include <stddef.h>

/* The longest duration duration_parse() accepts: a year. */
#define DURATION_MAX_S (365.0 * 86400)

/* Parses "N" (seconds), or a sequence of N<unit> with units ms, s, m, h, d
 * ("1h30m", "1.5s"): decimal digits with an optional fraction, no sign, no
 * exponent, no spaces. Returns 0 and seconds in *ret, or -EINVAL (also for
 * more than DURATION_MAX_S); *ret is untouched on failure. */
int duration_parse(const char *s, double *ret);

/* The same grammar for numbers that come from outside (HTTP headers): a
 * bare number counts in units of bare_unit seconds (1 for "Retry-After: 7",
 * 0.001 for "retry-after-ms: 1500"; 0 rejects a bare number, for fields that
 * always carry units such as "1m30s"). Returns 0 and seconds in *ret; -ERANGE
 * when s is well-formed but longer than max seconds (or too long for a
 * double), so that a caller may clamp rather than ignore; -EINVAL when s is
 * malformed. *ret is untouched on failure. */
int duration_parse_bounded(const char *s, double bare_unit, double max, double *ret);

/* Prints a short form ("4m58s", "1h", "750ms", "-2.0s") into out; returns out. */
char *duration_format(double seconds, char *out, size_t n);

#endif

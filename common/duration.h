/* duration: parsing and printing of human durations ("5m", "1h30m", "250ms", "6"). */
#ifndef WARMD_DURATION_H
#define WARMD_DURATION_H

#include <stddef.h>

/* Parses "N" (seconds), or a sequence of N<unit> with units ms, s, m, h, d
 * ("1h30m", "1.5s"). Returns 0 and seconds in *ret, or -EINVAL. */
int duration_parse(const char *s, double *ret);

/* Prints a short form ("4m58s", "1h", "750ms", "-2.0s") into out; returns out. */
char *duration_format(double seconds, char *out, size_t n);

#endif

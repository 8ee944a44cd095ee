/* hex: hexadecimal digits both ways. */
#ifndef WARMD_HEX_H
#define WARMD_HEX_H

#include <stddef.h>

/* p[0..n) as 2n lower-case hex digits into out, NUL-terminated (out has
 * 2n + 1 bytes). */
void hex_encode(const unsigned char *p, size_t n, char *out);

/* The value of hex digit c (either case), or -1. */
int hex_value(char c);

#endif

/* errmsg: a fixed-size error text that functions fill instead of logging. */
#ifndef WARMD_ERRMSG_H
#define WARMD_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>

struct errmsg {
	char text[512];
};

/* Sets the text (printf-style) and returns -err_no, so that callers can
 * write `return errmsg_set(e, -EINVAL, "...")`. e may be NULL. */
int errmsg_set(struct errmsg *e, int neg_errno, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to the existing text. */
void errmsg_prefix(struct errmsg *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies src into dst[n], truncating, always NUL-terminated. */
void text_copy(char *dst, size_t n, const char *src);

#endif

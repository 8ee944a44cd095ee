/* errmsg: a fixed-size error text that functions fill instead of logging. */
#include "errmsg.h"

#include <stdio.h>
#include <string.h>

int errmsg_set(struct errmsg *e, int neg_errno, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->text, sizeof(e->text), fmt, ap);
		va_end(ap);
	}
	return neg_errno;
}

void errmsg_prefix(struct errmsg *e, const char *fmt, ...)
{
	char prefix[256], old[sizeof(e->text)], out[sizeof(prefix) + sizeof(old) + 2];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->text, sizeof(old));
	snprintf(out, sizeof(out), "%s: %s", prefix, old);
	memcpy(e->text, out, sizeof(e->text) - 1);
	e->text[sizeof(e->text) - 1] = '\0';
}

void text_copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (n == 0)
		return;
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

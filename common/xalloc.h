/* xalloc: checked allocation, and warmd's one out-of-memory policy.
 *
 * The policy: running out of memory is fatal. xmalloc() and friends never
 * return NULL; on failure they write one line to stderr and abort(), and
 * systemd restarts the service (Restart=on-failure) from its state file.
 * Callers therefore never test these for NULL, and no function returns
 * -ENOMEM for an allocation of warmd's own.
 *
 * What keeps this from being a way to crash warmd from outside is that
 * every size that comes from outside is bounded before anything is
 * allocated for it: control lines (1 MiB), unsent replies per connection and
 * in total, provider answers (max_response_bytes), templates, key files,
 * the state file, touch datagrams (see bounds.h and each parser). A bound
 * that is exceeded is an error with text, never an allocation attempt.
 *
 * Libraries that allocate on their own (json-c, libconfig, curl) report
 * failure by their own return values; the callers treat those as this
 * policy says: fatal where warmd made the request, an error where the size
 * came from outside. */
#ifndef WARMD_XALLOC_H
#define WARMD_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
/* Also checks n * size for overflow. */
void *xreallocarray(void *p, size_t n, size_t size) __attribute__((returns_nonnull));
void *xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
char *xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
char *xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
/* xstrdup(s), or NULL when s is NULL. */
char *xstrdup_or_null(const char *s) __attribute__((malloc));
/* A new string formatted as printf would. */
char *xasprintf(const char *fmt, ...)
        __attribute__((malloc, returns_nonnull, format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
        __attribute__((malloc, returns_nonnull, format(printf, 1, 0)));

/* The failure path itself (for a library call that returned NULL where warmd
 * asked for memory): writes "warmd: out of memory (what)" and aborts. */
_Noreturn void xalloc_die(const char *what);

#endif

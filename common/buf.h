/* buf: a growable byte buffer (always NUL-terminated for convenience).
 *
 * Growing never fails: running out of memory is fatal (xalloc.h). */
#ifndef WARMD_BUF_H
#define WARMD_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/* Appends n bytes. Returns 0. (The int stays for the callers that still
 * test it; there is no failure to report.) */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
/* Returns 0, or -EINVAL when fmt cannot be formatted (an invalid multibyte
 * argument); then the buffer is unchanged. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Frees the storage; b is reusable (empty) afterwards. Accepts NULL. */
void buf_free(struct buf *b);
/* Hands the storage to the caller (NUL-terminated, never NULL); b is empty afterwards. */
char *buf_steal(struct buf *b);

/* For writers that produce many small pieces (JSON): buf_space() makes room
 * for n more bytes and returns where they go, buf_wrote() then counts the
 * k <= n bytes written there. Nothing else may touch b in between. */
void buf_grow(struct buf *b, size_t n);
static inline char *buf_space(struct buf *b, size_t n)
{
	if (b->cap - b->len <= n) /* room for n and the NUL */
		buf_grow(b, n);
	return b->data + b->len;
}
static inline void buf_wrote(struct buf *b, size_t k)
{
	b->len += k;
	b->data[b->len] = '\0';
}

#endif

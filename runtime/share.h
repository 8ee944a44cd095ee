/* share: targets whose prefixes are the same cache entry, or extend one.
 *
 * Two targets with the same endpoint and version warm the same entry: one
 * (the leader) warms, the others (followers) take its refreshes. A target
 * whose prefix extends another's (that one's version is the prefix hash at
 * one of its earlier breakpoints) waits for that one's first warm, because an
 * entry becomes readable once the response that writes it begins: warmed in
 * that order, the longer prefix reads the shorter one instead of writing it
 * a second time. Rebuilt on every config apply. */
#ifndef WARMD_SHARE_H
#define WARMD_SHARE_H

#include <stddef.h>

struct target;

/* Recomputes leaders, followers and extensions for the targets v[0..n). */
void share_link(struct target **v, size_t n);
/* Forgets t's links (before it is freed or re-linked). */
void share_unlink(struct target *t);

#endif

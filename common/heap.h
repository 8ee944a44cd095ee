/* heap: an indexed binary min-heap of pointers, for O(log n) schedules.
 *
 * Each element stores its own position (a size_t the caller points us at via
 * the index_of callback), so an element can be removed or re-keyed without a
 * search. HEAP_NONE marks "not in the heap". */
#ifndef WARMD_HEAP_H
#define WARMD_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#define HEAP_NONE ((size_t)-1)

/* Returns true when a must come out before b. */
typedef bool (*heap_less_fn)(const void *a, const void *b);
/* Returns the address of the element's position field. */
typedef size_t *(*heap_index_fn)(void *elem);

struct heap {
	void **v;
	size_t n, cap;
	heap_less_fn less;
	heap_index_fn index_of;
};

void heap_init(struct heap *h, heap_less_fn less, heap_index_fn index_of);
void heap_free(struct heap *h);
/* Returns 0 (out of memory is fatal, xalloc.h; the int stays for callers
 * that still test it). The element must not already be in a heap using the
 * same index field. */
int heap_push(struct heap *h, void *e);
void *heap_top(const struct heap *h);
void *heap_pop(struct heap *h);
/* Removes e if present (no-op otherwise). */
void heap_remove(struct heap *h, void *e);
/* Restores order after e's key changed. */
void heap_update(struct heap *h, void *e);
bool heap_contains(struct heap *h, void *e);

#endif

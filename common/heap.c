/* heap: an indexed binary min-heap of pointers, for O(log n) schedules. */
#include "heap.h"

#include <stdlib.h>

#include "xalloc.h"

void heap_init(struct heap *h, heap_less_fn less, heap_index_fn index_of)
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->less = less;
	h->index_of = index_of;
}

void heap_free(struct heap *h)
{
	for (size_t i = 0; i < h->n; i++)
		*h->index_of(h->v[i]) = HEAP_NONE;
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

static void heap_set(struct heap *h, size_t i, void *e)
{
	h->v[i] = e;
	*h->index_of(e) = i;
}

static void sift_up(struct heap *h, size_t i)
{
	void *e = h->v[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!h->less(e, h->v[p]))
			break;
		heap_set(h, i, h->v[p]);
		i = p;
	}
	heap_set(h, i, e);
}

static void sift_down(struct heap *h, size_t i)
{
	void *e = h->v[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		void *best = e;
		if (l < h->n && h->less(h->v[l], best)) {
			m = l;
			best = h->v[l];
		}
		if (r < h->n && h->less(h->v[r], best))
			m = r;
		if (m == i)
			break;
		heap_set(h, i, h->v[m]);
		i = m;
	}
	heap_set(h, i, e);
}

int heap_push(struct heap *h, void *e)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		h->v = xreallocarray(h->v, cap, sizeof(*h->v));
		h->cap = cap;
	}
	h->v[h->n] = e;
	*h->index_of(e) = h->n;
	h->n++;
	sift_up(h, h->n - 1);
	return 0;
}

void *heap_top(const struct heap *h)
{
	return h->n ? h->v[0] : NULL;
}

bool heap_contains(struct heap *h, void *e)
{
	size_t i = *h->index_of(e);

	return i != HEAP_NONE && i < h->n && h->v[i] == e;
}

void heap_remove(struct heap *h, void *e)
{
	size_t i;

	if (!heap_contains(h, e))
		return;
	i = *h->index_of(e);
	*h->index_of(e) = HEAP_NONE;
	h->n--;
	if (i == h->n)
		return;
	h->v[i] = h->v[h->n];
	*h->index_of(h->v[i]) = i;
	sift_down(h, i);
	sift_up(h, i);
}

void *heap_pop(struct heap *h)
{
	void *e = heap_top(h);

	if (e)
		heap_remove(h, e);
	return e;
}

void heap_update(struct heap *h, void *e)
{
	size_t i;

	if (!heap_contains(h, e))
		return;
	i = *h->index_of(e);
	sift_down(h, i);
	sift_up(h, *h->index_of(e));
}

/* check_heap: the indexed binary min-heap (common/heap.c). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

struct item {
	int key;
	int id;
	size_t idx;
};

static bool item_less(const void *a, const void *b)
{
	return ((const struct item *)a)->key < ((const struct item *)b)->key;
}

static size_t *item_index(void *e)
{
	return &((struct item *)e)->idx;
}

/* For hot loops: Check's ck_assert_* records a mark on every success, which
 * costs a write per call; this only does work on failure. */
#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Small reproducible generator (the tests must not depend on libc's rand). */
static uint32_t rng_state;
static uint32_t rnd(void)
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return rng_state >> 8;
}

/* Heap order holds and every element knows its position. */
static void check_invariants(const struct heap *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct item *e = h->v[i];
		REQUIRE(e->idx == i, "element at %zu says %zu", i, e->idx);
		if (i > 0)
			REQUIRE(!item_less(e, h->v[(i - 1) / 2]), "order broken at %zu", i);
	}
}

static struct item *items_new(size_t n, int mod)
{
	struct item *v = calloc(n, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		v[i].key = (int)(rnd() % (uint32_t)mod);
		v[i].id = (int)i;
		v[i].idx = HEAP_NONE;
	}
	return v;
}

START_TEST(test_empty)
{
	struct heap h;
	struct item a = { 1, 0, HEAP_NONE };

	heap_init(&h, item_less, item_index);
	ck_assert_ptr_null(heap_top(&h));
	ck_assert_ptr_null(heap_pop(&h));
	ck_assert(!heap_contains(&h, &a));
	heap_remove(&h, &a); /* not in the heap: no-op */
	heap_update(&h, &a);
	ck_assert_uint_eq(a.idx, HEAP_NONE);
	ck_assert_uint_eq(h.n, 0);
	heap_free(&h);
}
END_TEST

START_TEST(test_pop_order_random)
{
	const size_t n = 2000;
	struct heap h;
	struct item *v;
	int *sorted;

	rng_state = 12345;
	v = items_new(n, 500); /* many duplicate keys */
	sorted = malloc(n * sizeof(*sorted));
	ck_assert_ptr_nonnull(sorted);
	heap_init(&h, item_less, item_index);
	for (size_t i = 0; i < n; i++) {
		REQUIRE(heap_push(&h, &v[i]) == 0, "push %zu failed", i);
		sorted[i] = v[i].key;
	}
	ck_assert_uint_eq(h.n, n);
	check_invariants(&h);
	qsort(sorted, n, sizeof(*sorted), cmp_int);
	ck_assert_int_eq(((struct item *)heap_top(&h))->key, sorted[0]);
	for (size_t i = 0; i < n; i++) {
		struct item *e = heap_pop(&h);
		ck_assert_ptr_nonnull(e);
		ck_assert_msg(e->key == sorted[i], "pop %zu: key %d, want %d", i, e->key,
		              sorted[i]);
		ck_assert_uint_eq(e->idx, HEAP_NONE);
		ck_assert(!heap_contains(&h, e));
	}
	ck_assert_ptr_null(heap_pop(&h));
	heap_free(&h);
	free(sorted);
	free(v);
}
END_TEST

START_TEST(test_remove_middle)
{
	const size_t n = 300;
	struct heap h;
	struct item *v;
	int *rest;
	size_t nrest = 0;

	rng_state = 777;
	v = items_new(n, 1000);
	rest = malloc(n * sizeof(*rest));
	ck_assert_ptr_nonnull(rest);
	heap_init(&h, item_less, item_index);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(heap_push(&h, &v[i]), 0);
	/* remove every third element, wherever it sits */
	for (size_t i = 0; i < n; i++) {
		if (i % 3 == 0) {
			ck_assert(heap_contains(&h, &v[i]));
			heap_remove(&h, &v[i]);
			ck_assert_uint_eq(v[i].idx, HEAP_NONE);
			ck_assert(!heap_contains(&h, &v[i]));
			heap_remove(&h, &v[i]); /* twice: no-op */
			check_invariants(&h);
		} else {
			rest[nrest++] = v[i].key;
		}
	}
	ck_assert_uint_eq(h.n, nrest);
	/* removing the last slot and the top also work */
	{
		struct item *top = heap_top(&h), *last = h.v[h.n - 1];
		int k_top = top->key, k_last = last->key;
		heap_remove(&h, last);
		heap_remove(&h, top);
		ck_assert_uint_eq(top->idx, HEAP_NONE);
		ck_assert_uint_eq(last->idx, HEAP_NONE);
		check_invariants(&h);
		for (size_t i = 0; i < nrest; i++)
			if (rest[i] == k_top) {
				rest[i] = rest[--nrest];
				break;
			}
		for (size_t i = 0; i < nrest; i++)
			if (rest[i] == k_last) {
				rest[i] = rest[--nrest];
				break;
			}
	}
	qsort(rest, nrest, sizeof(*rest), cmp_int);
	for (size_t i = 0; i < nrest; i++) {
		struct item *e = heap_pop(&h);
		REQUIRE(e && e->key == rest[i], "pop %zu: key %d, want %d", i, e ? e->key : -1,
		        rest[i]);
	}
	ck_assert_ptr_null(heap_pop(&h));
	heap_free(&h);
	free(rest);
	free(v);
}
END_TEST

START_TEST(test_update_key)
{
	const size_t n = 500;
	struct heap h;
	struct item *v;
	int *keys;

	rng_state = 99;
	v = items_new(n, 10000);
	keys = malloc(n * sizeof(*keys));
	ck_assert_ptr_nonnull(keys);
	heap_init(&h, item_less, item_index);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(heap_push(&h, &v[i]), 0);
	/* re-key half of them, up and down */
	for (size_t i = 0; i < n; i += 2) {
		v[i].key = (i % 4 == 0) ? v[i].key + 5000 : v[i].key - 5000;
		heap_update(&h, &v[i]);
		check_invariants(&h);
	}
	/* the smallest goes to the top at once */
	v[n - 1].key = -100000;
	heap_update(&h, &v[n - 1]);
	ck_assert_ptr_eq(heap_top(&h), &v[n - 1]);
	for (size_t i = 0; i < n; i++)
		keys[i] = v[i].key;
	qsort(keys, n, sizeof(*keys), cmp_int);
	for (size_t i = 0; i < n; i++) {
		struct item *e = heap_pop(&h);
		REQUIRE(e && e->key == keys[i], "pop %zu: key %d, want %d", i, e ? e->key : -1,
		        keys[i]);
	}
	heap_free(&h);
	free(keys);
	free(v);
}
END_TEST

START_TEST(test_contains_and_free)
{
	struct heap h, other;
	struct item a = { 3, 0, HEAP_NONE }, b = { 1, 1, HEAP_NONE }, c = { 2, 2, HEAP_NONE };
	struct item stranger = { 0, 3, 0 }; /* claims slot 0 but was never pushed */
	struct item far = { 0, 4, 1000 };   /* claims a slot past the end */

	heap_init(&h, item_less, item_index);
	heap_init(&other, item_less, item_index);
	ck_assert_int_eq(heap_push(&h, &a), 0);
	ck_assert_int_eq(heap_push(&h, &b), 0);
	ck_assert_int_eq(heap_push(&h, &c), 0);
	ck_assert(heap_contains(&h, &a));
	ck_assert(heap_contains(&h, &b));
	ck_assert(!heap_contains(&h, &stranger));
	ck_assert(!heap_contains(&h, &far));
	/* an element of h is not in another heap sharing the index field */
	ck_assert(!heap_contains(&other, &a));
	heap_remove(&h, &stranger);
	ck_assert_uint_eq(h.n, 3);
	ck_assert_ptr_eq(heap_top(&h), &b);

	/* heap_free forgets every position */
	heap_free(&h);
	ck_assert_uint_eq(a.idx, HEAP_NONE);
	ck_assert_uint_eq(b.idx, HEAP_NONE);
	ck_assert_uint_eq(c.idx, HEAP_NONE);
	ck_assert_uint_eq(h.n, 0);
	ck_assert_ptr_null(h.v);
	/* and the heap is reusable */
	ck_assert_int_eq(heap_push(&h, &c), 0);
	ck_assert_ptr_eq(heap_pop(&h), &c);
	heap_free(&h);
	heap_free(&other);
}
END_TEST

START_TEST(test_growth)
{
	const size_t n = 10000;
	struct heap h;
	struct item *v;

	v = calloc(n, sizeof(*v));
	ck_assert_ptr_nonnull(v);
	heap_init(&h, item_less, item_index);
	/* descending keys: every push sifts to the top */
	for (size_t i = 0; i < n; i++) {
		v[i].key = (int)(n - i);
		REQUIRE(heap_push(&h, &v[i]) == 0, "push %zu failed", i);
		REQUIRE(heap_top(&h) == &v[i], "push %zu: not on top", i);
	}
	ck_assert_uint_ge(h.cap, n);
	check_invariants(&h);
	for (size_t i = 0; i < n; i++) {
		struct item *e = heap_pop(&h);
		REQUIRE(e && e->key == (int)(i + 1), "pop %zu: wrong element", i);
	}
	heap_free(&h);
	free(v);
}
END_TEST

static Suite *heap_suite(void)
{
	Suite *s = suite_create("heap");
	TCase *tc = tcase_create("heap");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_pop_order_random);
	tcase_add_test(tc, test_remove_middle);
	tcase_add_test(tc, test_update_key);
	tcase_add_test(tc, test_contains_and_free);
	tcase_add_test(tc, test_growth);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(heap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_adapter: what core/adapter.c gives every adapter: the hex SHA-256
 * of a buffer, and the same hash taken along a buffer that grows (the
 * canonical prefix at each breakpoint) without hashing it again. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "buf.h"

/* Known answers: FIPS 180-2's "abc" and the empty message. */
START_TEST(test_hash_known)
{
	char out[65];

	adapter_hash("abc", 3, out);
	ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	adapter_hash("", 0, out);
	ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

/* Taken at any length, as often as wanted (twice at one length too), the
 * growing hash is the hash of the whole buffer so far. */
START_TEST(test_prefix_hash_matches)
{
	struct adapter_prefix_hash h = { 0 };
	struct buf b = { 0 };
	char want[65], got[65];

	srand(11);
	for (int step = 0; step < 300; step++) {
		int n = rand() % (step % 50 == 0 ? 5000 : 90);
		for (int i = 0; i < n; i++) {
			char c = (char)(rand() & 0xff);
			buf_append(&b, &c, 1);
		}
		if (rand() % 3 == 0)
			continue; /* appended, not taken */
		adapter_prefix_hash_take(&h, &b, got);
		adapter_hash(b.data, b.len, want);
		ck_assert_str_eq(got, want);
		if (rand() % 4 == 0) { /* again at the same length */
			adapter_prefix_hash_take(&h, &b, got);
			ck_assert_str_eq(got, want);
		}
	}
	adapter_prefix_hash_free(&h);
	adapter_prefix_hash_free(&h); /* freeing twice is harmless */
	buf_free(&b);
}
END_TEST

/* The first take of an empty buffer, and a hasher freed without a take. */
START_TEST(test_prefix_hash_edges)
{
	struct adapter_prefix_hash h = { 0 };
	struct buf b = { 0 };
	char got[65];

	adapter_prefix_hash_free(&h);
	buf_puts(&b, "");
	adapter_prefix_hash_take(&h, &b, got);
	ck_assert_str_eq(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	buf_puts(&b, "abc");
	adapter_prefix_hash_take(&h, &b, got);
	ck_assert_str_eq(got, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	adapter_prefix_hash_free(&h);
	buf_free(&b);
}
END_TEST

static Suite *adapter_suite(void)
{
	Suite *s = suite_create("adapter");
	TCase *tc = tcase_create("hash");

	tcase_add_test(tc, test_hash_known);
	tcase_add_test(tc, test_prefix_hash_matches);
	tcase_add_test(tc, test_prefix_hash_edges);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(adapter_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_strmap: common/strmap.c, names to indices, against a linear search. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

START_TEST(test_empty)
{
	struct strmap m = { 0 };

	ck_assert_uint_eq(strmap_get(&m, "x"), STRMAP_NONE);
	ck_assert_uint_eq(strmap_get(&m, ""), STRMAP_NONE);
	strmap_free(&m);
	ck_assert_uint_eq(strmap_get(&m, "x"), STRMAP_NONE);
}
END_TEST

/* The first index added under a name stays; every name is found, through
 * the growths; names never added are not. */
START_TEST(test_first_index_wins)
{
	enum { N = 5000 };
	static char names[N][16];
	struct strmap m = { 0 };

	srand(3);
	for (size_t i = 0; i < N; i++) {
		/* Some names repeat (as duplicate targets would). */
		snprintf(names[i], sizeof(names[i]), "t%d", rand() % (N / 2));
		size_t first = STRMAP_NONE;
		for (size_t j = 0; j < i && first == STRMAP_NONE; j++)
			if (strcmp(names[j], names[i]) == 0)
				first = j;
		ck_assert_uint_eq(strmap_get(&m, names[i]), first);
		ck_assert_uint_eq(strmap_add(&m, names[i], i), first == STRMAP_NONE ? i : first);
	}
	for (size_t i = 0; i < N; i++)
		ck_assert_uint_ne(strmap_get(&m, names[i]), STRMAP_NONE);
	ck_assert_uint_eq(strmap_get(&m, "t-1"), STRMAP_NONE);
	ck_assert_uint_eq(strmap_get(&m, ""), STRMAP_NONE);
	strmap_add(&m, "", 7);
	ck_assert_uint_eq(strmap_get(&m, ""), 7);
	strmap_free(&m);
}
END_TEST

static Suite *strmap_suite(void)
{
	Suite *s = suite_create("strmap");
	TCase *tc = tcase_create("map");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_first_index_wins);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(strmap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

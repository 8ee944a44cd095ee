/* check_fileio: capped file reads and atomic replacement (common/fileio.c),
 * and the checked allocators (common/xalloc.c). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "testutil.h"
#include "xalloc.h"

static char *dir;

static void setup(void)
{
	dir = tu_tmpdir();
}

static void teardown(void)
{
	tu_rmrf(dir);
	free(dir);
}

START_TEST(test_read_whole_file)
{
	char *path = tu_write(dir, "a.json", "{\"x\":1}"), *data = NULL;
	struct errmsg e = { "" };
	size_t len = 0;

	ck_assert_int_eq(fileio_read(path, "request_file", 100, &data, &len, &e), 0);
	ck_assert_uint_eq(len, 7);
	ck_assert_str_eq(data, "{\"x\":1}");
	free(data);
	/* Exactly at the cap is fine; one byte over is not. */
	ck_assert_int_eq(fileio_read(path, "request_file", 7, &data, &len, &e), 0);
	free(data);
	data = NULL;
	ck_assert_int_eq(fileio_read(path, "request_file", 6, &data, &len, &e), -EFBIG);
	ck_assert_ptr_null(data);
	ck_assert_ptr_nonnull(strstr(e.text, "request_file"));
	ck_assert_ptr_nonnull(strstr(e.text, "larger than 6 bytes"));
	free(path);
}
END_TEST

START_TEST(test_read_errors)
{
	char fifo[4200], *data = NULL, missing[4200];
	struct errmsg e = { "" };
	size_t len = 99;

	snprintf(missing, sizeof(missing), "%s/none", dir);
	ck_assert_int_eq(fileio_read(missing, "request_file", 100, &data, &len, &e), -ENOENT);
	ck_assert_ptr_nonnull(strstr(e.text, "cannot open request_file"));
	/* A FIFO must neither block nor be read. */
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(fileio_read(fifo, "request_file", 100, &data, &len, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "not a regular file"));
	ck_assert_int_eq(fileio_read(dir, "request_file", 100, &data, &len, &e), -EINVAL);
	ck_assert_ptr_null(data);
	ck_assert_uint_eq(len, 99); /* untouched on failure */
}
END_TEST

START_TEST(test_read_into)
{
	char *path = tu_write(dir, "k", "0123456789"), buf[11];
	struct errmsg e = { "" };
	struct stat st = { 0 };
	size_t len = 0;

	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(fileio_read_into(path, "api_key_file", buf, sizeof(buf), &len, &st, &e),
	                 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_int_eq(st.st_size, 10); /* what was read, for the caller's mode checks */
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(memcmp(buf, "0123456789", 10), 0);
	/* The buffer must keep room for a NUL: 10 bytes do not fit in 10. */
	ck_assert_int_eq(fileio_read_into(path, "api_key_file", buf, 10, &len, NULL, &e), -EFBIG);
	ck_assert_ptr_nonnull(strstr(e.text, "api_key_file"));
	free(path);
}
END_TEST

START_TEST(test_write_atomic)
{
	char path[4200], tmp[4300];
	struct errmsg e = { "" };
	struct stat st;
	size_t len;
	char *back;

	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_eq(fileio_write_atomic(path, "one", 3, 0600, &e), 0);
	ck_assert_int_eq(fileio_write_atomic(path, "second", 6, 0600, &e), 0);
	back = tu_read(path, &len);
	ck_assert_str_eq(back, "second");
	free(back);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(access(tmp, F_OK), -1); /* no temp file left behind */
}
END_TEST

START_TEST(test_write_failures_leave_the_old_file)
{
	char path[4200], bad[4200], link[4300];
	struct errmsg e = { "" };
	size_t len;
	char *back;

	snprintf(path, sizeof(path), "%s/state.json", dir);
	ck_assert_int_eq(fileio_write_atomic(path, "old", 3, 0600, &e), 0);
	snprintf(bad, sizeof(bad), "%s/no/such/dir/state.json", dir);
	ck_assert_int_eq(fileio_write_atomic(bad, "x", 1, 0600, &e), -ENOENT);
	ck_assert_ptr_nonnull(strstr(e.text, "cannot create"));
	/* The temp file is never written through a symlink. */
	snprintf(link, sizeof(link), "%s.tmp", path);
	ck_assert_int_eq(symlink("/dev/null", link), 0);
	ck_assert_int_eq(fileio_write_atomic(path, "new", 3, 0600, &e), -ELOOP);
	back = tu_read(path, &len);
	ck_assert_str_eq(back, "old");
	free(back);
}
END_TEST

START_TEST(test_xalloc)
{
	char *s = xstrdup("abc"), *n = xstrndup("abcdef", 2);
	int *v = xcalloc(4, sizeof(*v));

	ck_assert_str_eq(s, "abc");
	ck_assert_str_eq(n, "ab");
	ck_assert_int_eq(v[3], 0);
	v = xreallocarray(v, 8, sizeof(*v));
	v[7] = 1;
	ck_assert_ptr_null(xstrdup_or_null(NULL));
	free(s);
	free(n);
	free(v);
}
END_TEST

/* The policy: no NULL ever comes back, the process aborts instead. */
START_TEST(test_xalloc_overflow_aborts)
{
	(void)xreallocarray(NULL, SIZE_MAX / 2, 4);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fileio");
	TCase *tc = tcase_create("fileio");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read_whole_file);
	tcase_add_test(tc, test_read_errors);
	tcase_add_test(tc, test_read_into);
	tcase_add_test(tc, test_write_atomic);
	tcase_add_test(tc, test_write_failures_leave_the_old_file);
	tcase_add_test(tc, test_xalloc);
	tcase_add_test_raise_signal(tc, test_xalloc_overflow_aborts, 6 /* SIGABRT */);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_log: log levels, journald prefixes and collapsing of repeated messages (common/log.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"

static char *dir, *path;
static int saved_stderr;

/* Sends stderr to a fresh file for one test. */
static void setup(void)
{
	dir = tu_tmpdir();
	path = tu_write(dir, "err.log", "");
	fflush(stderr);
	saved_stderr = dup(2);
	ck_assert(freopen(path, "w", stderr) != NULL);
	unsetenv("JOURNAL_STREAM");
	log_init("warmd-test");
	log_set_level(LOG_INFO);
}

static void teardown(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	tu_rmrf(dir);
	free(dir);
	free(path);
}

static char *captured(void)
{
	fflush(stderr);
	return tu_read(path, NULL);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

START_TEST(test_levels)
{
	char *out;

	ck_assert_int_eq(log_level_parse("debug"), LOG_DEBUG);
	ck_assert_int_eq(log_level_parse("warning"), LOG_WARNING);
	ck_assert_int_eq(log_level_parse("verbose"), -1);
	log_debug("hidden %d", 1);
	log_info("shown %d", 2);
	log_warning("multi\nline");
	out = captured();
	ck_assert_ptr_null(strstr(out, "hidden"));
	ck_assert_ptr_nonnull(strstr(out, "info: shown 2"));
	/* one record, one line */
	ck_assert_ptr_nonnull(strstr(out, "warning: multi line\n"));
	free(out);
}
END_TEST

START_TEST(test_journal_prefix)
{
	struct stat st;
	char js[64], *out;

	fflush(stderr);
	ck_assert_int_eq(fstat(2, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init("warmd-test");
	log_error("bad");
	log_info("good");
	out = captured();
	ck_assert_str_eq(out, "<3>bad\n<6>good\n");
	free(out);
	/* A JOURNAL_STREAM that names another file is not ours. */
	setenv("JOURNAL_STREAM", "1:2", 1);
	log_init("warmd-test");
	log_info("plain");
	out = captured();
	ck_assert_ptr_nonnull(strstr(out, "warmd-test["));
	free(out);
}
END_TEST

START_TEST(test_repeat_collapse)
{
	struct log_repeat r = { { 0 }, 0, 0 };
	char *out;

	log_repeat(&r, LOG_WARNING, 100, "t: ", "HTTP 429: slow down");
	for (int i = 1; i <= 30; i++)
		log_repeat(&r, LOG_WARNING, 100 + i, "t: ", "HTTP 429: slow down");
	out = captured();
	ck_assert_int_eq(count(out, "HTTP 429: slow down"), 1);
	free(out);
	/* the window ends: one summary with the count */
	for (int i = 31; i <= 60; i++)
		log_repeat(&r, LOG_WARNING, 100 + i, "t: ", "HTTP 429: slow down");
	out = captured();
	ck_assert_int_eq(count(out, "HTTP 429: slow down"), 2);
	ck_assert_ptr_nonnull(strstr(out, "t: HTTP 429: slow down (x60 more in 60 s)"));
	free(out);
	/* a different message flushes the pending count first */
	log_repeat(&r, LOG_WARNING, 170, "t: ", "HTTP 429: slow down");
	log_repeat(&r, LOG_WARNING, 171, "t: ", "HTTP 500: oops");
	out = captured();
	ck_assert_ptr_nonnull(strstr(out, "(x1 more in 11 s)"));
	ck_assert_ptr_nonnull(strstr(out, "t: HTTP 500: oops"));
	free(out);
	/* the errors end (a success): the count is flushed and the next error is logged */
	log_repeat(&r, LOG_WARNING, 172, "t: ", "HTTP 500: oops");
	log_repeat_end(&r, LOG_WARNING, 180, "t: ");
	log_repeat(&r, LOG_WARNING, 181, "t: ", "HTTP 500: oops");
	out = captured();
	ck_assert_ptr_nonnull(strstr(out, "(x1 more in 9 s)"));
	ck_assert_int_eq(count(out, "t: HTTP 500: oops\n"), 2);
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_journal_prefix);
	tcase_add_test(tc, test_repeat_collapse);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

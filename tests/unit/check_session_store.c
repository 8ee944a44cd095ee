/* check_session_store: session bodies on disk (runtime/session_store.c),
 * on a real loop and a temporary directory: a held body's file is written
 * (0600, in a 0700 directory) once however many hold it; a released one
 * goes only after a state file committed after the release, and not if it
 * was held again meanwhile; the shutdown flush; clean() at start-up; and
 * what open() refuses. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "adapter.h"
#include "log.h"
#include "session_store.h"
#include "testutil.h"

struct fx {
	uv_loop_t loop;
	char *dir;
	char sdir[4200];
	struct session_store *s;
	unsigned saved;
	char last[65];
};

static void saved_cb(void *data, const char *hash)
{
	struct fx *f = data;

	f->saved++;
	snprintf(f->last, sizeof(f->last), "%s", hash);
}

static void fx_open(struct fx *f)
{
	struct errmsg e;

	memset(f, 0, sizeof(*f));
	log_set_level(LOG_ERR);
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->dir = tu_tmpdir();
	snprintf(f->sdir, sizeof(f->sdir), "%s/state.sessions", f->dir);
	ck_assert_msg(session_store_open(&f->loop, f->sdir, saved_cb, f, &f->s, &e) == 0, "%s",
	              e.text);
}

static void run(struct fx *f)
{
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void fx_close(struct fx *f)
{
	session_store_close(f->s);
	run(f);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	tu_rmrf(f->dir);
	free(f->dir);
}

static bool exists(const struct fx *f, const char *name)
{
	char path[8800];

	snprintf(path, sizeof(path), "%s/%s", f->sdir, name);
	return access(path, F_OK) == 0;
}

static void file_of(const char *hash, char *out, size_t n)
{
	snprintf(out, n, "%s.json", hash);
}

START_TEST(test_hold_writes_once)
{
	struct fx f;
	static const char body[] = "{\"model\":\"m\"}";
	char hash[65], name[80], path[8400], *data;
	struct stat st;
	size_t len;
	struct errmsg e;

	fx_open(&f);
	ck_assert_int_eq(stat(f.sdir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	adapter_hash(body, strlen(body), hash);
	ck_assert(session_store_hash_valid(hash));
	ck_assert(!session_store_hash_valid("abc"));
	ck_assert(!session_store_hash_valid(
	        "ABCDEF0000000000000000000000000000000000000000000000000000000000"));
	session_store_hold(f.s, hash, body, strlen(body));
	session_store_hold(f.s, hash, body, strlen(body)); /* a second session, same body */
	ck_assert(!session_store_saved(f.s, hash));        /* not before the worker is done */
	run(&f);
	ck_assert_uint_eq(f.saved, 1);
	ck_assert_str_eq(f.last, hash);
	ck_assert(session_store_saved(f.s, hash));
	file_of(hash, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", f.sdir, name);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(session_store_read(f.s, hash, 1024, &data, &len, &e), 0);
	ck_assert_uint_eq(len, strlen(body));
	ck_assert_int_eq(memcmp(data, body, len), 0);
	free(data);
	ck_assert_int_eq(session_store_read(f.s,
	                                    "0000000000000000000000000000000000000000000000000000"
	                                    "000000000000",
	                                    1024, &data, &len, &e),
	                 -ENOENT);
	fx_close(&f);
}
END_TEST

START_TEST(test_release_waits_for_a_commit)
{
	struct fx f;
	static const char a[] = "{\"a\":1}", b[] = "{\"b\":2}";
	char ha[65], hb[65], na[80], nb[80];
	unsigned before, after;

	fx_open(&f);
	adapter_hash(a, strlen(a), ha);
	adapter_hash(b, strlen(b), hb);
	file_of(ha, na, sizeof(na));
	file_of(hb, nb, sizeof(nb));
	session_store_hold(f.s, ha, a, strlen(a));
	session_store_hold(f.s, ha, a, strlen(a));
	session_store_hold(f.s, hb, b, strlen(b));
	run(&f);
	ck_assert(exists(&f, na) && exists(&f, nb));
	/* A snapshot taken before the releases: its commit deletes nothing. */
	before = session_store_epoch(f.s);
	session_store_release(f.s, ha); /* one holder left */
	session_store_release(f.s, hb);
	ck_assert(!session_store_saved(f.s, hb));
	session_store_committed(f.s, before);
	run(&f);
	ck_assert(exists(&f, na) && exists(&f, nb));
	/* One taken after: b goes, a (still held) stays. */
	after = session_store_epoch(f.s);
	session_store_committed(f.s, after);
	run(&f);
	ck_assert(exists(&f, na));
	ck_assert(!exists(&f, nb));
	/* Released, then held again before the commit: it stays. */
	session_store_release(f.s, ha);
	session_store_hold(f.s, ha, a, strlen(a));
	session_store_committed(f.s, session_store_epoch(f.s));
	run(&f);
	ck_assert(exists(&f, na));
	ck_assert(session_store_saved(f.s, ha));
	/* Deleted, then held again: written again, after the deletion. */
	session_store_release(f.s, ha);
	session_store_committed(f.s, session_store_epoch(f.s));
	session_store_hold(f.s, ha, a, strlen(a));
	run(&f);
	ck_assert(exists(&f, na));
	ck_assert(session_store_saved(f.s, ha));
	fx_close(&f);
}
END_TEST

START_TEST(test_flush_and_clean)
{
	struct fx f;
	static const char a[] = "{\"a\":1}", b[] = "{\"b\":2}";
	char ha[65], hb[65], na[80], nb[80], path[4400];

	fx_open(&f);
	adapter_hash(a, strlen(a), ha);
	adapter_hash(b, strlen(b), hb);
	file_of(ha, na, sizeof(na));
	file_of(hb, nb, sizeof(nb));
	/* Shutdown: what a worker has not written yet is written now. */
	session_store_hold(f.s, ha, a, strlen(a));
	session_store_hold(f.s, hb, b, strlen(b));
	ck_assert_int_eq(session_store_flush(f.s), 0);
	ck_assert(session_store_saved(f.s, ha) && session_store_saved(f.s, hb));
	ck_assert(exists(&f, na) && exists(&f, nb));
	run(&f);
	/* Start-up: a body nobody holds, a temp file a crash left, and a file
	 * that is not a body (left alone). */
	session_store_release(f.s, hb);
	snprintf(path, sizeof(path), "%s.tmp.1.2", na);
	free(tu_write(f.sdir, path, "partial"));
	free(tu_write(f.sdir, "notes.txt", "mine"));
	ck_assert_int_eq(session_store_clean(f.s), 2);
	ck_assert(exists(&f, na));
	ck_assert(!exists(&f, nb));
	ck_assert(!exists(&f, path));
	ck_assert(exists(&f, "notes.txt"));
	fx_close(&f);
}
END_TEST

START_TEST(test_open_refuses)
{
	uv_loop_t loop;
	char *dir = tu_tmpdir(), *file;
	struct session_store *s = NULL;
	struct errmsg e;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	file = tu_write(dir, "state.sessions", "not a directory");
	ck_assert_int_eq(session_store_open(&loop, file, NULL, NULL, &s, &e), -ENOTDIR);
	ck_assert_ptr_nonnull(strstr(e.text, "not a directory"));
	ck_assert_ptr_null(s);
	free(file);
	ck_assert_int_lt(session_store_open(&loop, "/proc/no/such/dir", NULL, NULL, &s, &e), 0);
	ck_assert_ptr_nonnull(strstr(e.text, "cannot create the session directory"));
	session_store_close(NULL);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session_store");
	TCase *tc = tcase_create("session_store");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_hold_writes_once);
	tcase_add_test(tc, test_release_waits_for_a_commit);
	tcase_add_test(tc, test_flush_and_clean);
	tcase_add_test(tc, test_open_refuses);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

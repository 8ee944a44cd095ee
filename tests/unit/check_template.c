/* check_template: loading a target's request_file (core/template.c):
 * file errors, JSON errors with their position, the warm built once per
 * version, and the refcount. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "template.h"
#include "testutil.h"

static char base_url[] = "http://127.0.0.1:9";
static char prov_name[] = "anthropic-test";
static char tgt_name[] = "support-bot";
static struct cfg_provider prov = { .name = prov_name,
	                            .kind = PROVIDER_ANTHROPIC,
	                            .base_url = base_url };

static char *tmpdir;

static void setup(void)
{
	tmpdir = tu_tmpdir();
	ck_assert_ptr_nonnull(tmpdir);
}

static void teardown(void)
{
	tu_rmrf(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
}

static struct cfg_target target_for(char *path)
{
	struct cfg_target t = {
		.name = tgt_name, .provider = prov_name, .request_file = path, .ttl_s = 300
	};
	return t;
}

static int load(const char *path, struct tmpl **ret, struct errmsg *e)
{
	char *p = strdup(path);
	struct cfg_target t = target_for(p);
	int r = template_load(&t, &prov, ret, e);

	free(p);
	return r;
}

static void fixture_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", TEST_FIXTURES, name);
}

/* Loads path and expects failure r with a message containing both needles. */
static void expect_load_err(const char *path, int want_r, const char *n1, const char *n2, int line)
{
	struct tmpl *t = (struct tmpl *)&tmpdir; /* must stay untouched */
	struct errmsg e = { { 0 } };
	int r = load(path, &t, &e);

	if (r == 0 && t != (struct tmpl *)&tmpdir)
		tmpl_unref(t);
	ck_assert_msg(r == want_r, "line %d: template_load(%s) = %d (%s), want %d", line, path, r,
	              e.text, want_r);
	ck_assert_msg(t == (struct tmpl *)&tmpdir, "line %d: *ret changed on failure", line);
	ck_assert_msg(strstr(e.text, n1) != NULL, "line %d: \"%s\" lacks \"%s\"", line, e.text, n1);
	if (n2)
		ck_assert_msg(strstr(e.text, n2) != NULL, "line %d: \"%s\" lacks \"%s\"", line,
		              e.text, n2);
}

START_TEST(test_missing_file)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/no-such-template.json", tmpdir);
	expect_load_err(path, -ENOENT, path, "No such file", __LINE__);
}
END_TEST

START_TEST(test_directory)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/templates.d", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	expect_load_err(path, -EINVAL, path, "not a regular file", __LINE__);
}
END_TEST

START_TEST(test_fifo)
{
	/* A FIFO is not a regular file either, and opening one with no writer
	 * must not block a reload: load in a child that an alarm would kill. */
	char path[512];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/pipe.json", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct tmpl *t = NULL;
		struct errmsg e = { { 0 } };
		int r;
		/* Check's own SIGALRM handler would kill the whole test group. */
		signal(SIGALRM, SIG_DFL);
		alarm(1);
		r = load(path, &t, &e);
		_exit(r == -EINVAL && strstr(e.text, "not a regular file") ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(!WIFSIGNALED(status), "template_load blocked on a FIFO (killed by signal %d)",
	              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "template_load on a FIFO did not fail with \"not a regular file\"");
}
END_TEST

START_TEST(test_too_large)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/huge.json", tmpdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	/* Sparse: costs no disk and no time. */
	ck_assert_int_eq(truncate(path, (off_t)TEMPLATE_MAX_BYTES + 1), 0);
	expect_load_err(path, -EFBIG, path, "16 MiB", __LINE__);
}
END_TEST

START_TEST(test_invalid_json_fixture)
{
	char path[512];

	fixture_path(path, sizeof(path), "template/invalid.json");
	expect_load_err(path, -EINVAL, "line 9, column 3: ", NULL, __LINE__);
}
END_TEST

START_TEST(test_invalid_json_tempfile)
{
	char *path = tu_write(tmpdir, "bad.json",
	                      "{\n  \"model\": \"claude-test\",\n  \"max_tokens\": 1,,\n}\n");

	ck_assert_ptr_nonnull(path);
	expect_load_err(path, -EINVAL, "line 3, column 19: ", NULL, __LINE__);
	free(path);
	path = tu_write(tmpdir, "empty.json", "");
	expect_load_err(path, -EINVAL, "line 1, column 1: ", NULL, __LINE__);
	free(path);
	path = tu_write(tmpdir, "cut.json", "{\n  \"model\": \"claude-te");
	expect_load_err(path, -EINVAL, "line 2, column 22: ", NULL, __LINE__);
	free(path);
}
END_TEST

START_TEST(test_out_of_range_integer)
{
	char path[512];

	fixture_path(path, sizeof(path), "template/out_of_range.json");
	expect_load_err(path, -ERANGE, "$.metadata.trace[2]", "64 bits", __LINE__);
}
END_TEST

START_TEST(test_template_error_from_adapter)
{
	char *path = tu_write(tmpdir, "nobp.json",
	                      "{\"model\":\"claude-test\",\"max_tokens\":1,"
	                      "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");

	expect_load_err(path, -EINVAL, "no cache_control breakpoint", NULL, __LINE__);
	free(path);
}
END_TEST

START_TEST(test_pretty_file_gives_compact_warm)
{
	char path[512];
	size_t wlen, clen;
	char *want, *compact;
	struct tmpl *t = NULL, *c = NULL;
	struct errmsg e = { { 0 } };

	fixture_path(path, sizeof(path), "anthropic/full.warm.json");
	want = tu_read(path, &wlen);
	ck_assert_ptr_nonnull(want);
	while (wlen && want[wlen - 1] == '\n')
		want[--wlen] = '\0';
	fixture_path(path, sizeof(path), "template/anthropic_pretty.json");
	ck_assert_msg(load(path, &t, &e) == 0, "%s", e.text);
	ck_assert_ptr_nonnull(t->body);
	ck_assert_str_eq(t->body, want);
	ck_assert_uint_eq(t->body_len, wlen);
	ck_assert_str_eq(t->url, "http://127.0.0.1:9/v1/messages");

	/* The compact file is the same request: same body, same version. */
	fixture_path(path, sizeof(path), "anthropic/full.json");
	compact = tu_read(path, &clen);
	ck_assert_ptr_nonnull(compact);
	ck_assert_int_eq(template_from_bytes(compact, clen,
	                                     &(struct cfg_target){ .name = tgt_name }, &prov, &c,
	                                     &e),
	                 0);
	ck_assert_str_eq(c->body, t->body);
	ck_assert_str_eq(c->version, t->version);
	ck_assert_str_eq(c->short_version, t->short_version);
	tmpl_unref(c);
	tmpl_unref(t);
	free(compact);
	free(want);
}
END_TEST

START_TEST(test_crlf_file)
{
	/* Windows line endings are whitespace like any other. */
	char *unix_p =
	        tu_write(tmpdir, "unix.json",
	                 "{\n\"model\": \"claude-test\",\n\"max_tokens\": 9,\n\"cache_control\": "
	                 "{\"type\": \"ephemeral\"},\n\"messages\": [{\"role\": \"user\", "
	                 "\"content\": \"Hi\"}]\n}\n");
	char *dos_p = tu_write(
	        tmpdir, "dos.json",
	        "{\r\n\"model\": \"claude-test\",\r\n\"max_tokens\": 9,\r\n\"cache_control\": "
	        "{\"type\": \"ephemeral\"},\r\n\"messages\": [{\"role\": \"user\", "
	        "\"content\": \"Hi\"}]\r\n}\r\n");
	struct tmpl *a = NULL, *b = NULL;
	struct errmsg e = { { 0 } };

	ck_assert_msg(load(unix_p, &a, &e) == 0, "%s", e.text);
	ck_assert_msg(load(dos_p, &b, &e) == 0, "%s", e.text);
	ck_assert_str_eq(a->body, "{\"model\":\"claude-test\",\"max_tokens\":0,\"cache_control\":"
	                          "{\"type\":\"ephemeral\"},\"messages\":[{\"role\":\"user\","
	                          "\"content\":\"Hi\"}]}");
	ck_assert_str_eq(b->body, a->body);
	ck_assert_str_eq(b->version, a->version);
	tmpl_unref(a);
	tmpl_unref(b);
	free(unix_p);
	free(dos_p);
}
END_TEST

START_TEST(test_two_loads_identical)
{
	char path[512];
	struct tmpl *a = NULL, *b = NULL;
	struct errmsg e = { { 0 } };

	fixture_path(path, sizeof(path), "template/anthropic_pretty.json");
	ck_assert_int_eq(load(path, &a, &e), 0);
	ck_assert_int_eq(load(path, &b, &e), 0);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_ne(a->body, b->body);
	ck_assert_uint_eq(a->body_len, b->body_len);
	ck_assert(memcmp(a->body, b->body, a->body_len) == 0);
	ck_assert_str_eq(a->version, b->version);
	ck_assert_str_eq(a->short_version, b->short_version);
	ck_assert_str_eq(a->url, b->url);
	ck_assert_str_eq(a->model, "claude-sonnet-4-5");
	ck_assert_str_eq(a->notes, b->notes);
	ck_assert_int_eq(a->prefix_tokens_est, b->prefix_tokens_est);
	ck_assert_uint_eq(strlen(a->version), 64);
	ck_assert_uint_eq(strlen(a->short_version), 12);
	ck_assert(strncmp(a->version, a->short_version, 12) == 0);
	tmpl_unref(a);
	tmpl_unref(b);
}
END_TEST

START_TEST(test_file_change_new_version)
{
	/* Editing the file before the breakpoint makes a new version on the next load. */
	const char *v1 =
	        "{\"model\":\"claude-test\",\"max_tokens\":9,\"system\":[{\"type\":\"text\","
	        "\"text\":\"Rules v1\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
	        "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
	const char *v2 =
	        "{\"model\":\"claude-test\",\"max_tokens\":9,\"system\":[{\"type\":\"text\","
	        "\"text\":\"Rules v2\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
	        "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
	char *path = tu_write(tmpdir, "t.json", v1);
	struct tmpl *a = NULL, *b = NULL;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(load(path, &a, &e), 0);
	free(tu_write(tmpdir, "t.json", v2));
	ck_assert_int_eq(load(path, &b, &e), 0);
	ck_assert_str_ne(a->version, b->version);
	ck_assert_ptr_nonnull(strstr(b->body, "Rules v2"));
	/* The old version's body is untouched: it belongs to in-flight warms. */
	ck_assert_ptr_nonnull(strstr(a->body, "Rules v1"));
	tmpl_unref(a);
	tmpl_unref(b);
	free(path);
}
END_TEST

START_TEST(test_openai_file)
{
	char path[512];
	char url[] = "http://127.0.0.1:9/v1", name[] = "openai-test";
	struct cfg_provider op = { .name = name, .kind = PROVIDER_OPENAI, .base_url = url };
	struct cfg_target t;
	struct tmpl *tm = NULL;
	struct errmsg e = { { 0 } };

	fixture_path(path, sizeof(path), "openai/full.json");
	t = target_for(path);
	ck_assert_msg(template_load(&t, &op, &tm, &e) == 0, "%s", e.text);
	ck_assert_str_eq(tm->url, "http://127.0.0.1:9/v1/chat/completions");
	ck_assert_int_eq(tm->endpoint, ENDPOINT_CHAT);
	ck_assert_int_eq(tm->max_tokens, 1);
	tmpl_unref(tm);
}
END_TEST

START_TEST(test_refcount)
{
	char path[512];
	struct tmpl *t = NULL, *r;
	struct errmsg e = { { 0 } };

	fixture_path(path, sizeof(path), "template/anthropic_pretty.json");
	ck_assert_int_eq(load(path, &t, &e), 0);
	ck_assert_int_eq(t->refs, 1);
	r = tmpl_ref(t);
	ck_assert_ptr_eq(r, t);
	ck_assert_int_eq(t->refs, 2);
	tmpl_unref(t);
	/* Still alive for the other holder (an in-flight warm). */
	ck_assert_int_eq(r->refs, 1);
	ck_assert_ptr_nonnull(r->body);
	ck_assert_uint_eq(strlen(r->body), r->body_len);
	tmpl_unref(r); /* freed here: valgrind checks nothing leaks */
	tmpl_unref(NULL);
}
END_TEST

START_TEST(test_unwarmable_loads)
{
	/* A template with no minimal warm still loads (audit reports it). */
	char *path =
	        tu_write(tmpdir, "thinking.json",
	                 "{\"model\":\"claude-test\",\"max_tokens\":3000,\"thinking\":{\"type\":"
	                 "\"enabled\",\"budget_tokens\":1024},\"cache_control\":{\"type\":"
	                 "\"ephemeral\"},\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
	struct tmpl *t = NULL;
	struct errmsg e = { { 0 } };

	ck_assert_msg(load(path, &t, &e) == 0, "%s", e.text);
	ck_assert_ptr_null(t->body);
	ck_assert_uint_eq(t->body_len, 0);
	ck_assert_ptr_nonnull(strstr(t->unwarmable, "budget_tokens 1024"));
	ck_assert_uint_eq(strlen(t->version), 64);
	tmpl_unref(t);
	free(path);
}
END_TEST

static Suite *template_suite(void)
{
	Suite *s = suite_create("template");
	TCase *tc = tcase_create("load");

	/* Unchecked: the directory is removed even when a test fails (in fork
	 * mode a failing test skips checked teardowns). Each test uses its own
	 * file names inside it. */
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_directory);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_invalid_json_fixture);
	tcase_add_test(tc, test_invalid_json_tempfile);
	tcase_add_test(tc, test_out_of_range_integer);
	tcase_add_test(tc, test_template_error_from_adapter);
	tcase_add_test(tc, test_pretty_file_gives_compact_warm);
	tcase_add_test(tc, test_crlf_file);
	tcase_add_test(tc, test_two_loads_identical);
	tcase_add_test(tc, test_file_change_new_version);
	tcase_add_test(tc, test_openai_file);
	tcase_add_test(tc, test_refcount);
	tcase_add_test(tc, test_unwarmable_loads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(template_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

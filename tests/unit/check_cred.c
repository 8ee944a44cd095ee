/* check_cred: API keys and the header lines that carry them (runtime/cred.c):
 * sources, copies wiped after reading, warnings about key files. The
 * scrubber has check_scrub.c.
 *
 * Keys here are obviously fake ("test-key-123"); every error path also checks
 * that the error text does not contain the key. */
#include <check.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters.h"
#include "config.h"
#include "cred.h"
#include "credentials.h"
#include "provider.h"
#include "testutil.h"

#define ENV_KEY "WARMD_UNIT_TEST_KEY"

static char *dir;

static void setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	unsetenv(ENV_KEY);
	unsetenv("CREDENTIALS_DIRECTORY");
	cred_env_forget();
}

static void teardown(void)
{
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
	unsetenv(ENV_KEY);
	unsetenv("CREDENTIALS_DIRECTORY");
	cred_env_forget();
}

/* A provider config with one key source; strings are static or test-owned. */
static struct cfg_provider prov_cfg(enum provider_kind kind, char *file, char *env,
                                    char *inline_key)
{
	static char name[] = "p";
	struct cfg_provider c;

	memset(&c, 0, sizeof(c));
	c.name = name;
	c.kind = kind;
	c.api_key_file = file;
	c.api_key_env = env;
	c.api_key = inline_key;
	return c;
}

static int load_file(enum provider_kind kind, const char *content, struct cred **ret,
                     struct errmsg *e, char **ret_path)
{
	char *path = tu_write(dir, "api.key", content);
	struct cfg_provider c = prov_cfg(kind, path, NULL, NULL);
	int r;

	ck_assert_ptr_nonnull(path);
	memset(e, 0, sizeof(*e));
	r = cred_load(&c, adapter_ops_for(kind), ret, e);
	if (ret_path)
		*ret_path = path;
	else
		free(path);
	return r;
}

static size_t nlines(const struct cred *c)
{
	size_t n = 0;

	while (c->lines[n])
		n++;
	return n;
}

static void assert_fingerprint(const struct cred *c, const char *key)
{
	unsigned char want[32];
	unsigned int len = 0;

	ck_assert(EVP_Digest(key, strlen(key), want, &len, EVP_sha256(), NULL) == 1);
	ck_assert_uint_eq(len, 32);
	ck_assert(memcmp(c->fingerprint, want, 32) == 0);
}

/* ---------------------------------------------------------- key files */

START_TEST(test_file_trimmed_anthropic_lines)
{
	struct cred *c = NULL;
	struct errmsg e;

	ck_assert_int_eq(load_file(PROVIDER_ANTHROPIC, "  test-key-123 \r\n\n", &c, &e, NULL), 0);
	ck_assert_ptr_nonnull(c);
	ck_assert(c->has_key);
	ck_assert_int_eq(c->refs, 1);
	ck_assert_ptr_nonnull(c->headers);
	ck_assert_uint_eq(nlines(c), 3);
	ck_assert_str_eq(c->lines[0], "content-type: application/json");
	ck_assert_str_eq(c->lines[1], "anthropic-version: 2023-06-01");
	ck_assert_str_eq(c->lines[2], "x-api-key: test-key-123");
	assert_fingerprint(c, "test-key-123");
	cred_unref(c);
}
END_TEST

START_TEST(test_file_openai_lines)
{
	struct cred *c = NULL;
	struct errmsg e;

	ck_assert_int_eq(load_file(PROVIDER_OPENAI, "test-key-123\n", &c, &e, NULL), 0);
	ck_assert_uint_eq(nlines(c), 2);
	ck_assert_str_eq(c->lines[0], "content-type: application/json");
	ck_assert_str_eq(c->lines[1], "authorization: Bearer test-key-123");
	cred_unref(c);
}
END_TEST

START_TEST(test_file_whitespace_only)
{
	struct cred *c = NULL;
	struct errmsg e;
	char *path;
	int r = load_file(PROVIDER_ANTHROPIC, " \n\t\n", &c, &e, &path);

	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(e.text, "is empty") != NULL, "error: %s", e.text);
	ck_assert_msg(strstr(e.text, path) != NULL, "error does not name %s: %s", path, e.text);
	free(path);
}
END_TEST

/* BUG (reported): a zero-byte key file is accepted as "no key" (has_key
 * false, no x-api-key header) instead of failing like a whitespace-only file:
 * check_key() only runs when keylen > 0. */
START_TEST(test_file_empty)
{
	struct cred *c = NULL;
	struct errmsg e;
	char *path;
	int r = load_file(PROVIDER_ANTHROPIC, "", &c, &e, &path);

	if (r == 0) {
		bool has_key = c->has_key;
		size_t n = nlines(c);

		/* release before failing: no-fork runs (valgrind) must not leak */
		cred_unref(c);
		free(path);
		ck_abort_msg("empty api_key_file accepted (has_key %d, %zu header lines)", has_key,
		             n);
	}
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(e.text, "empty") != NULL, "error: %s", e.text);
	free(path);
}
END_TEST

START_TEST(test_file_bad_characters)
{
	static const char *const bad[] = {
		"zzfake1 zzfake2\n",      /* embedded space */
		"zzfake1\tzzfake2\n",     /* embedded tab */
		"zzfake1\001zzfake2\n",   /* control character */
		"zzfake1\nzzfake2\n",     /* two lines */
		"zzfake1\303\251zzfake2", /* non-ASCII */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cred *c = NULL;
		struct errmsg e;
		char *path;
		int r = load_file(PROVIDER_ANTHROPIC, bad[i], &c, &e, &path);

		ck_assert_msg(r == -EINVAL, "case %zu: r = %d", i, r);
		ck_assert_ptr_null(c);
		ck_assert_msg(strstr(e.text, "contains a space, control or non-ASCII character at "
		                             "byte 8") != NULL,
		              "case %zu: %s", i, e.text);
		ck_assert_msg(strstr(e.text, path) != NULL, "case %zu: %s", i, e.text);
		ck_assert_msg(strstr(e.text, "zzfake") == NULL, "case %zu leaks the key: %s", i,
		              e.text);
		free(path);
	}
}
END_TEST

START_TEST(test_file_missing)
{
	char *path;
	struct cfg_provider c;
	struct cred *cr = NULL;
	struct errmsg e;

	ck_assert_int_ge(asprintf(&path, "%s/no-such.key", dir), 0);
	c = prov_cfg(PROVIDER_ANTHROPIC, path, NULL, NULL);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e), -ENOENT);
	ck_assert_ptr_null(cr);
	ck_assert_msg(strstr(e.text, path) != NULL, "error does not name the path: %s", e.text);
	ck_assert_msg(strstr(e.text, "No such file or directory") != NULL, "error: %s", e.text);
	free(path);
}
END_TEST

START_TEST(test_file_too_big)
{
	char *big = malloc(5001);
	struct cred *c = NULL;
	struct errmsg e;

	ck_assert_ptr_nonnull(big);
	memset(big, 'k', 5000);
	memcpy(big, "zzfake", 6);
	big[5000] = '\0';
	ck_assert_int_eq(load_file(PROVIDER_ANTHROPIC, big, &c, &e, NULL), -EFBIG);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(e.text, "larger than 4095 bytes") != NULL, "error: %s", e.text);
	ck_assert_ptr_null(strstr(e.text, "zzfake"));
	free(big);
}
END_TEST

/* ---------------------------------------------------- env and inline */

START_TEST(test_env_key)
{
	char env[] = ENV_KEY;
	struct cfg_provider c = prov_cfg(PROVIDER_OPENAI, NULL, env, NULL);
	struct cred *cr = NULL;
	struct errmsg e;

	setenv(ENV_KEY, "test-key-123\n", 1);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI), &cr, &e), 0);
	ck_assert(cr->has_key);
	ck_assert_uint_eq(nlines(cr), 2);
	ck_assert_str_eq(cr->lines[1], "authorization: Bearer test-key-123");
	assert_fingerprint(cr, "test-key-123");
	cred_unref(cr);
}
END_TEST

START_TEST(test_env_unset)
{
	char env[] = ENV_KEY;
	struct cfg_provider c = prov_cfg(PROVIDER_ANTHROPIC, NULL, env, NULL);
	struct cred *cr = NULL;
	struct errmsg e;

	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e), -ENOKEY);
	ck_assert_ptr_null(cr);
	ck_assert_msg(strstr(e.text, "environment variable " ENV_KEY " is not set") != NULL,
	              "error: %s", e.text);
	/* set but empty is the same as unset */
	setenv(ENV_KEY, "", 1);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e), -ENOKEY);
	ck_assert_ptr_null(cr);
	/* whitespace only: empty after trimming (a new process, as far as
	 * cred.c is concerned: it captures a variable once) */
	cred_env_forget();
	setenv(ENV_KEY, " \n", 1);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e), -EINVAL);
	ck_assert_msg(strstr(e.text, "environment variable " ENV_KEY " is empty") != NULL,
	              "error: %s", e.text);
	/* a key with a space is rejected without echoing it */
	cred_env_forget();
	setenv(ENV_KEY, "zzfake1 zzfake2", 1);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e), -EINVAL);
	ck_assert_ptr_null(strstr(e.text, "zzfake"));
	ck_assert_msg(strstr(e.text, ENV_KEY) != NULL, "error: %s", e.text);
}
END_TEST

START_TEST(test_keyless_provider)
{
	char env[] = ENV_KEY;
	struct cfg_provider c = prov_cfg(PROVIDER_OPENAI_COMPAT, NULL, env, NULL);
	struct cred *cr = NULL;
	struct errmsg e;

	/* openai-compatible servers often need no key */
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI_COMPAT), &cr, &e), 0);
	ck_assert(!cr->has_key);
	ck_assert_uint_eq(nlines(cr), 1);
	ck_assert_str_eq(cr->lines[0], "content-type: application/json");
	cred_unref(cr);

	c = prov_cfg(PROVIDER_OPENAI_COMPAT, NULL, NULL, NULL);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI_COMPAT), &cr, &e), 0);
	ck_assert(!cr->has_key);
	ck_assert_uint_eq(nlines(cr), 1);
	cred_unref(cr);

	/* ... and uses one when given */
	setenv(ENV_KEY, "test-key-123", 1);
	c = prov_cfg(PROVIDER_OPENAI_COMPAT, NULL, env, NULL);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI_COMPAT), &cr, &e), 0);
	ck_assert(cr->has_key);
	ck_assert_str_eq(cr->lines[1], "authorization: Bearer test-key-123");
	cred_unref(cr);

	/* kinds that need a key refuse to run without a source */
	cr = NULL;
	c = prov_cfg(PROVIDER_OPENAI, NULL, NULL, NULL);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI), &cr, &e), -ENOKEY);
	ck_assert_ptr_null(cr);
	ck_assert_msg(strstr(e.text, "no API key") != NULL, "error: %s", e.text);
}
END_TEST

/* The value's bytes where getenv() found them, all zero? */
static bool wiped(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i])
			return false;
	return true;
}

/* The environment's copy is what /proc/PID/environ shows: wiped once read;
 * the captured key serves every later load (reloads) of the process. */
START_TEST(test_env_key_captured_and_wiped)
{
	char env[] = ENV_KEY;
	struct cfg_provider c = prov_cfg(PROVIDER_OPENAI, NULL, env, NULL);
	struct cred *a = NULL, *b = NULL;
	struct errmsg e;
	char *v;

	setenv(ENV_KEY, "test-key-123", 1);
	v = getenv(ENV_KEY);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI), &a, &e), 0);
	ck_assert_str_eq(a->lines[1], "authorization: Bearer test-key-123");
	ck_assert_ptr_eq(getenv(ENV_KEY), v);
	ck_assert(wiped(v, strlen("test-key-123")));
	/* a reload: the environment says "" now, the capture still knows */
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI), &b, &e), 0);
	ck_assert(cred_same_key(a, b));
	cred_unref(b);
	/* captured once: the daemon's environment never changes anyway */
	setenv(ENV_KEY, "test-key-456", 1);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI), &b, &e), 0);
	ck_assert(cred_same_key(a, b));
	cred_unref(b);
	cred_env_forget();
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI), &b, &e), 0);
	ck_assert_str_eq(b->lines[1], "authorization: Bearer test-key-456");
	ck_assert(!cred_same_key(a, b));
	cred_unref(a);
	cred_unref(b);
}
END_TEST

START_TEST(test_inline_key)
{
	char key[] = "test-key-inline";
	struct cfg_provider c = prov_cfg(PROVIDER_ANTHROPIC, NULL, NULL, key);
	struct cred *cr = NULL;
	struct errmsg e;

	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e), 0);
	ck_assert(cr->has_key);
	ck_assert_str_eq(cr->lines[2], "x-api-key: test-key-inline");
	/* the config's copy is wiped; the pointer stays: "it was inline" */
	ck_assert(wiped(key, sizeof(key)));
	ck_assert_ptr_eq(c.api_key, key);
	cred_unref(cr);
	/* a second read finds nothing, and says so */
	cr = NULL;
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e), -ENOKEY);
	ck_assert_ptr_null(cr);
	ck_assert_msg(strstr(e.text, "inline api_key was already read") != NULL, "%s", e.text);
	/* too long: refused, and wiped all the same */
	{
		char *big = malloc(5001);
		ck_assert_ptr_nonnull(big);
		memset(big, 'k', 5000);
		big[5000] = '\0';
		c = prov_cfg(PROVIDER_ANTHROPIC, NULL, NULL, big);
		ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e),
		                 -EFBIG);
		ck_assert(wiped(big, 5000));
		free(big);
	}
}
END_TEST

/* ---------------------------------------------------- key file modes */

static void assert_mode_warning(mode_t mode, bool warned)
{
	struct cred *c = NULL;
	struct errmsg e;
	char *path, want[32];

	ck_assert_int_eq(load_file(PROVIDER_ANTHROPIC, "zzfake-key-1234\n", &c, &e, &path), 0);
	/* load_file wrote the file: chmod and load again */
	cred_unref(c);
	ck_assert_int_eq(chmod(path, mode), 0);
	{
		struct cfg_provider cfg = prov_cfg(PROVIDER_ANTHROPIC, path, NULL, NULL);
		ck_assert_int_eq(cred_load(&cfg, adapter_ops_for(PROVIDER_ANTHROPIC), &c, &e), 0);
	}
	snprintf(want, sizeof(want), "(mode %04o)", (unsigned)mode);
	if (warned) {
		ck_assert_msg(strstr(c->warning, path) != NULL, "%04o: %s", mode, c->warning);
		ck_assert_msg(strstr(c->warning, want) != NULL, "%04o: %s", mode, c->warning);
		ck_assert_ptr_nonnull(strstr(c->warning, "chmod 600"));
	} else {
		ck_assert_msg(c->warning[0] == '\0', "%04o: %s", mode, c->warning);
	}
	ck_assert_ptr_null(strstr(c->warning, "zzfake"));
	cred_unref(c);
	free(path);
}

START_TEST(test_key_file_modes)
{
	assert_mode_warning(0600, false);
	assert_mode_warning(0400, false);
	assert_mode_warning(0644, true);
	assert_mode_warning(0604, true);
	assert_mode_warning(0602, true); /* writable by others: they can swap the key */
	/* the file is ours: its group has no reason to read it */
	assert_mode_warning(0640, true);
	assert_mode_warning(0660, true);
	/* under $CREDENTIALS_DIRECTORY systemd decides, and the directory is private */
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_mode_warning(0644, false);
	setenv("CREDENTIALS_DIRECTORY", "/elsewhere", 1);
	assert_mode_warning(0644, true);
}
END_TEST

/* root:warmd 0640 is how a packaged /etc/warmd keeps a key warmd reads
 * through its group: no warning. (Needs root to give the file away.) */
START_TEST(test_key_file_read_through_group)
{
	struct cfg_provider cfg;
	struct cred *c = NULL;
	struct errmsg e;
	char *path;

	if (geteuid() != 0)
		return;
	path = tu_write(dir, "group.key", "zzfake-key-1234\n");
	ck_assert_ptr_nonnull(path);
	ck_assert_int_eq(chown(path, 65534, getegid()), 0);
	ck_assert_int_eq(chmod(path, 0640), 0);
	cfg = prov_cfg(PROVIDER_ANTHROPIC, path, NULL, NULL);
	ck_assert_int_eq(cred_load(&cfg, adapter_ops_for(PROVIDER_ANTHROPIC), &c, &e), 0);
	ck_assert_msg(c->warning[0] == '\0', "%s", c->warning);
	cred_unref(c);
	/* ...but a group that may also write it is one too many */
	ck_assert_int_eq(chmod(path, 0660), 0);
	ck_assert_int_eq(cred_load(&cfg, adapter_ops_for(PROVIDER_ANTHROPIC), &c, &e), 0);
	ck_assert_ptr_nonnull(strstr(c->warning, "(mode 0660)"));
	cred_unref(c);
	/* a group warmd is not in */
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(cred_load(&cfg, adapter_ops_for(PROVIDER_ANTHROPIC), &c, &e), 0);
	ck_assert_ptr_nonnull(strstr(c->warning, "(mode 0640)"));
	cred_unref(c);
	free(path);
}
END_TEST

/* ------------------------------------------------------ compare, scrub */

START_TEST(test_same_key)
{
	char env[] = ENV_KEY;
	struct cfg_provider c;
	struct cred *a, *b, *other, *none1, *none2;
	struct errmsg e;

	ck_assert_int_eq(load_file(PROVIDER_ANTHROPIC, "test-key-123\n", &a, &e, NULL), 0);
	setenv(ENV_KEY, " test-key-123", 1);
	c = prov_cfg(PROVIDER_OPENAI, NULL, env, NULL);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI), &b, &e), 0);
	ck_assert_int_eq(load_file(PROVIDER_ANTHROPIC, "test-key-456", &other, &e, NULL), 0);
	c = prov_cfg(PROVIDER_OPENAI_COMPAT, NULL, NULL, NULL);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI_COMPAT), &none1, &e), 0);
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_OPENAI_COMPAT), &none2, &e), 0);

	ck_assert(cred_same_key(a, b)); /* same key, whatever the source */
	ck_assert(cred_same_key(b, a));
	ck_assert(cred_same_key(a, a));
	ck_assert(!cred_same_key(a, other));
	ck_assert(!cred_same_key(a, none1));
	ck_assert(!cred_same_key(none1, a));
	ck_assert(cred_same_key(none1, none2));

	/* refcounting keeps the lines alive */
	ck_assert_ptr_eq(cred_ref(a), a);
	ck_assert_int_eq(a->refs, 2);
	cred_unref(a);
	ck_assert_str_eq(a->lines[2], "x-api-key: test-key-123");
	cred_unref(a);
	cred_unref(b);
	cred_unref(other);
	cred_unref(none1);
	cred_unref(none2);
	cred_unref(NULL);
}
END_TEST

static Suite *cred_suite(void)
{
	Suite *s = suite_create("cred");
	TCase *tc;

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_file_trimmed_anthropic_lines);
	tcase_add_test(tc, test_file_openai_lines);
	tcase_add_test(tc, test_file_whitespace_only);
	tcase_add_test(tc, test_file_empty);
	tcase_add_test(tc, test_file_bad_characters);
	tcase_add_test(tc, test_file_missing);
	tcase_add_test(tc, test_file_too_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("env");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_env_key);
	tcase_add_test(tc, test_env_unset);
	tcase_add_test(tc, test_env_key_captured_and_wiped);
	tcase_add_test(tc, test_keyless_provider);
	tcase_add_test(tc, test_inline_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("mode");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_key_file_modes);
	tcase_add_test(tc, test_key_file_read_through_group);
	suite_add_tcase(s, tc);

	tc = tcase_create("use");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_same_key);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cred_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_aws_cred: a bedrock provider's AWS credentials and their signer
 * (runtime/aws_cred.c) through cred_load() and cred_authorize(): the
 * credentials file, the environment, the signed lines (checked against
 * sigv4_sign() of the path encoded twice), rotation, expiry, the scrubber,
 * and the Bedrock API key instead.
 *
 * Credentials are obviously fake: access key ids "FAKEACCESSKEY...". */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters.h"
#include "aws_cred.h"
#include "cred.h"
#include "credentials.h"
#include "http.h"
#include "sigv4.h"
#include "testutil.h"

#define SECRET1 "fake/Secret0Key1For2Tests3Only4Not5Real6"
#define TOKEN1  "fake-Session0Token1Number2One3For4Tests5Only6"
#define SECRET2 "fake/Secret9Key8For7Tests6Only5Not4Real3"
#define TOKEN2  "fake-Session9Token8Number7Two6For5Tests4Only3-rotated"
#define URL     "http://127.0.0.1:8123/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
#define BODY    "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":0}"

static char *dir, *cred_path;
static char pname[] = "aws", region[] = "us-east-1", profile[] = "warm",
            base[] = "http://127.0.0.1:8123";
static struct cfg_provider prov;

static void setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	cred_path = NULL;
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	memset(&prov, 0, sizeof(prov));
	prov.name = pname;
	prov.kind = PROVIDER_BEDROCK;
	prov.base_url = base;
	prov.region = region;
	prov.aws_profile = profile;
}

static void teardown(void)
{
	free(cred_path);
	tu_rmrf(dir);
	free(dir);
	cred_env_forget();
}

static void write_creds(const char *text)
{
	char tmp[600];

	/* Renamed into place, as the tools that rotate it do. */
	free(tu_write(dir, "credentials.tmp", text));
	snprintf(tmp, sizeof(tmp), "%s/credentials.tmp", dir);
	free(cred_path);
	cred_path = malloc(strlen(dir) + 16);
	sprintf(cred_path, "%s/credentials", dir);
	ck_assert_int_eq(rename(tmp, cred_path), 0);
	prov.aws_credentials_file = cred_path;
}

static struct cred *load_ok(void)
{
	struct cred *c = NULL;
	struct errmsg e = { { 0 } };

	ck_assert_msg(cred_load(&prov, adapter_ops_for(PROVIDER_BEDROCK), &c, &e) == 0, "%s",
	              e.text);
	return c;
}

/* The value of the line named name in lines, or NULL. */
static const char *line_value(const struct cred_lines *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strncmp(l->v[i], name, strlen(name)) == 0 && l->v[i][strlen(name)] == ':')
			return l->v[i] + strlen(name) + 2;
	return NULL;
}

/* Signs a request with c at clock time now; checks the lines are what
 * sigv4_sign() makes with the path as sent, encoded once more. */
static void expect_signed(struct cred *c, double now, const char *akid, const char *secret,
                          const char *token, int line)
{
	struct http_req req = { .url = URL, .body = BODY, .body_len = strlen(BODY) };
	struct cred_lines l;
	struct errmsg e = { { 0 } };
	double retry = 0;
	const char *date, *auth;
	struct sigv4_header h[] = { { "host", "127.0.0.1:8123" } };
	struct sigv4_request r = {
		.method = "POST",
		.path = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
		.headers = h,
		.nheaders = 1,
		.payload = BODY,
		.payload_len = strlen(BODY),
		.region = "us-east-1",
		.service = "bedrock"
	};
	struct sigv4_credentials k = { akid, secret, token };
	struct sigv4_signature want;
	struct tm tm = { 0 };
	int rc = cred_authorize(c, &req, now, &l, &retry, &e);

	ck_assert_msg(rc == 0, "line %d: %d %s", line, rc, e.text);
	ck_assert_ptr_eq(req.extra_headers, l.v);
	date = line_value(&l, "x-amz-date");
	auth = line_value(&l, "authorization");
	ck_assert_msg(date && auth, "line %d: lines missing", line);
	ck_assert_ptr_nonnull(strptime(date, "%Y%m%dT%H%M%SZ", &tm));
	r.when = timegm(&tm);
	ck_assert(labs((long)(r.when - time(NULL))) < 5); /* the wall clock's time */
	if (token)
		ck_assert_str_eq(line_value(&l, "x-amz-security-token"), token);
	else
		ck_assert_ptr_null(line_value(&l, "x-amz-security-token"));
	ck_assert_int_eq(sigv4_sign(&r, &k, &want, NULL, &e), 0);
	ck_assert_msg(strcmp(auth, want.authorization) == 0, "line %d:\n got %s\nwant %s", line,
	              auth, want.authorization);
	cred_lines_wipe(&l);
}

/* ---- the credentials file ------------------------------------------------------------- */

START_TEST(test_parse)
{
	static const char text[] = "# comment\n"
	                           "[default]\n"
	                           "aws_access_key_id = FAKEACCESSKEY0000\n"
	                           "aws_secret_access_key = nope\n"
	                           "\n"
	                           "[profile warm]\r\n"
	                           "  AWS_ACCESS_KEY_ID=FAKEACCESSKEY1111  \r\n"
	                           "; another comment\n"
	                           "aws_secret_access_key =" SECRET1 "\n"
	                           "aws_security_token = " TOKEN1 "\n"
	                           "aws_expiration = 2026-01-05T09:00:00.123+01:00\n"
	                           "[other]\n"
	                           "aws_secret_access_key = not-this-one\n";
	struct aws_keys k;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(aws_cred_parse(text, strlen(text), "warm", &k, &e), 0);
	ck_assert_uint_eq(k.access_key_id_len, 17);
	ck_assert(strncmp(k.access_key_id, "FAKEACCESSKEY1111", 17) == 0);
	ck_assert(strncmp(k.secret_key, SECRET1 "\n", k.secret_key_len + 1) == 0);
	ck_assert(strncmp(k.session_token, TOKEN1 "\n", k.session_token_len + 1) == 0);
	ck_assert_int_eq(k.expires, 1767600000); /* 08:00:00Z */
	ck_assert_int_eq(aws_cred_parse(text, strlen(text), "default", &k, &e), 0);
	ck_assert_ptr_null(k.session_token);
	ck_assert_int_eq(k.expires, 0);
	ck_assert_int_eq(aws_cred_parse(text, strlen(text), "missing", &k, &e), -ENOENT);
	ck_assert_str_eq(e.text, "no [missing] profile in it");
	ck_assert_int_eq(aws_cred_parse(text, strlen(text), "other", &k, &e), -EINVAL);
	ck_assert_str_eq(e.text, "profile [other] has no aws_access_key_id");
}
END_TEST

START_TEST(test_parse_expiry)
{
	static const char *const ok[][2] = {
		{ "2026-01-05T09:00:00Z", "1767603600" },
		{ "2026-01-05 09:00:00+00:00", "1767603600" },
		{ "2026-01-05T10:30:00+0130", "1767603600" },
		{ "2026-01-05T07:00:00.5-02:00", "1767603600" },
	};
	static const char *const bad[] = { "tomorrow", "2026-01-05", "2026-13-05T09:00:00Z",
		                           "2026-01-05T09:00:00X", "2026-01-05T09:00:00+25:00" };
	char text[256];
	struct aws_keys k;
	struct errmsg e = { { 0 } };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text),
		         "[default]\naws_access_key_id=A\naws_secret_access_key=B\n"
		         "x_security_token_expires = %s\n",
		         ok[i][0]);
		ck_assert_msg(aws_cred_parse(text, strlen(text), "default", &k, &e) == 0, "%s: %s",
		              ok[i][0], e.text);
		ck_assert_msg(k.expires == atol(ok[i][1]), "%s: %ld", ok[i][0], (long)k.expires);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		         "[default]\naws_access_key_id=A\naws_secret_access_key=B\n"
		         "aws_expiration=%s\n",
		         bad[i]);
		ck_assert_msg(aws_cred_parse(text, strlen(text), "default", &k, &e) == -EINVAL,
		              "%s", bad[i]);
		ck_assert_str_eq(e.text,
		                 "profile [default]: aws_expiration is not an ISO 8601 time "
		                 "such as 2026-01-05T09:00:00Z");
	}
}
END_TEST

/* ---- signing -------------------------------------------------------------------------- */

START_TEST(test_sign_from_file)
{
	struct cred *c;
	char text[512];

	snprintf(text, sizeof(text),
	         "[warm]\naws_access_key_id = FAKEACCESSKEY0000\naws_secret_access_key = " SECRET1
	         "\naws_session_token = " TOKEN1 "\n");
	write_creds(text);
	c = load_ok();
	ck_assert_ptr_nonnull(c->signer);
	ck_assert(c->has_key);
	ck_assert_str_eq(c->lines[0], "content-type: application/json");
	ck_assert_ptr_null(c->lines[2]); /* no bearer token */
	expect_signed(c, 1000, "FAKEACCESSKEY0000", SECRET1, TOKEN1, __LINE__);
	cred_unref(c);
}
END_TEST

/* The scrubber knows the secret key and the token, pieces of 8 bytes too. */
START_TEST(test_secrets_scrubbed)
{
	struct cred *c;
	char text[512];

	snprintf(text, sizeof(text),
	         "[warm]\naws_access_key_id = FAKEACCESSKEY0000\naws_secret_access_key = " SECRET1
	         "\naws_session_token = " TOKEN1 "\n");
	write_creds(text);
	c = load_ok();
	snprintf(text, sizeof(text), "key %.12s token %.10s id FAKEACCESSKEY0000", SECRET1 + 9,
	         TOKEN1 + 20);
	cred_scrub(text);
	ck_assert_str_eq(text, "key [key] token [key] id FAKEACCESSKEY0000");
	cred_unref(c);
}
END_TEST

/* A rotated file is read again once the signer looks (at most every
 * AWS_CRED_CHECK_S); the old token is no longer masked, the new one is. */
START_TEST(test_rotation)
{
	struct cred *c, *c2;
	char text[512];

	snprintf(text, sizeof(text),
	         "[warm]\naws_access_key_id = FAKEACCESSKEY0000\naws_secret_access_key = " SECRET1
	         "\naws_session_token = " TOKEN1 "\n");
	write_creds(text);
	c = load_ok();
	expect_signed(c, 1000, "FAKEACCESSKEY0000", SECRET1, TOKEN1, __LINE__);
	snprintf(text, sizeof(text),
	         "[warm]\naws_access_key_id = FAKEACCESSKEY2222\naws_secret_access_key = " SECRET2
	         "\naws_session_token = " TOKEN2 "\n");
	write_creds(text);
	/* Within AWS_CRED_CHECK_S of the last look: not looked at yet. */
	expect_signed(c, 1000 + AWS_CRED_CHECK_S - 1, "FAKEACCESSKEY0000", SECRET1, TOKEN1,
	              __LINE__);
	expect_signed(c, 1000 + AWS_CRED_CHECK_S, "FAKEACCESSKEY2222", SECRET2, TOKEN2, __LINE__);
	snprintf(text, sizeof(text), "%.12s %.12s", TOKEN1 + 5, TOKEN2 + 5);
	cred_scrub(text);
	ck_assert_str_eq(text, "Session0Toke [key]");
	/* A reload loads the same file: the same key, nothing to clear. */
	c2 = load_ok();
	ck_assert(cred_same_key(c, c2));
	cred_unref(c2);
	/* A file that cannot be read keeps what was read before. */
	write_creds("[warm]\naws_access_key_id = FAKEACCESSKEY3333\n");
	expect_signed(c, 2000, "FAKEACCESSKEY2222", SECRET2, TOKEN2, __LINE__);
	cred_unref(c);
}
END_TEST

START_TEST(test_expired_token)
{
	struct cred *c;
	struct http_req req = { .url = URL, .body = BODY, .body_len = strlen(BODY) };
	struct cred_lines l;
	struct errmsg e = { { 0 } };
	double retry = 0;
	char text[512];

	snprintf(text, sizeof(text),
	         "[warm]\naws_access_key_id = FAKEACCESSKEY0000\naws_secret_access_key = " SECRET1
	         "\naws_session_token = " TOKEN1 "\naws_expiration = 2020-01-01T00:00:00Z\n");
	write_creds(text);
	c = load_ok();
	ck_assert_int_eq(cred_authorize(c, &req, 500, &l, &retry, &e), -EAGAIN);
	ck_assert_double_eq(retry, 500 + AWS_CRED_CHECK_S);
	ck_assert_msg(strstr(e.text, "[warm] expired at 2020-01-01T00:00:00Z: waiting for the file "
	                             "to hold a new one") != NULL,
	              "%s", e.text);
	ck_assert_ptr_null(req.extra_headers);
	/* Renewed: signed with the new token at the next look. */
	snprintf(text, sizeof(text),
	         "[warm]\naws_access_key_id = FAKEACCESSKEY0000\naws_secret_access_key = " SECRET1
	         "\naws_session_token = " TOKEN2 "\naws_expiration = 2999-01-01T00:00:00Z\n");
	write_creds(text);
	expect_signed(c, 500 + AWS_CRED_CHECK_S, "FAKEACCESSKEY0000", SECRET1, TOKEN2, __LINE__);
	cred_unref(c);
}
END_TEST

START_TEST(test_environment)
{
	struct cred *c;
	char text[256];

	setenv("AWS_ACCESS_KEY_ID", "FAKEACCESSKEY4444", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET2, 1);
	write_creds("[warm]\naws_access_key_id = FAKEACCESSKEY0000\naws_secret_access_key = x\n");
	c = load_ok();
	/* The environment comes first, as in the AWS SDKs, and says so. */
	ck_assert_msg(strstr(c->warning, "AWS_ACCESS_KEY_ID in the environment takes precedence "
	                                 "over aws_credentials_file") != NULL,
	              "%s", c->warning);
	expect_signed(c, 10, "FAKEACCESSKEY4444", SECRET2, NULL, __LINE__);
	/* Captured, and wiped from the environment. */
	ck_assert_str_eq(getenv("AWS_SECRET_ACCESS_KEY"), "");
	snprintf(text, sizeof(text), "%s", SECRET2);
	cred_scrub(text);
	ck_assert_str_eq(text, "[key]");
	cred_unref(c);
}
END_TEST

START_TEST(test_errors)
{
	struct cred *c = NULL;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(cred_load(&prov, adapter_ops_for(PROVIDER_BEDROCK), &c, &e), -ENOKEY);
	ck_assert_msg(strstr(e.text, "no credentials: set AWS_ACCESS_KEY_ID and "
	                             "AWS_SECRET_ACCESS_KEY") != NULL,
	              "%s", e.text);
	write_creds("[warm]\naws_access_key_id = FAKEACCESSKEY0000\n");
	ck_assert_int_eq(cred_load(&prov, adapter_ops_for(PROVIDER_BEDROCK), &c, &e), -EINVAL);
	ck_assert_msg(strstr(e.text, "credentials: profile [warm] has no aws_secret_access_key") !=
	                      NULL,
	              "%s", e.text);
	write_creds("[default]\naws_access_key_id = A\naws_secret_access_key = B\n");
	ck_assert_int_eq(cred_load(&prov, adapter_ops_for(PROVIDER_BEDROCK), &c, &e), -ENOENT);
	ck_assert(strstr(e.text, "no [warm] profile in it") != NULL);
	write_creds("[warm]\naws_access_key_id = A\naws_secret_access_key = B C\n");
	ck_assert_int_eq(cred_load(&prov, adapter_ops_for(PROVIDER_BEDROCK), &c, &e), -EINVAL);
	ck_assert_msg(strstr(e.text, "the secret access key from aws_credentials_file") != NULL,
	              "%s", e.text);
	ck_assert(strstr(e.text, "B C") == NULL);
	prov.region = NULL;
	ck_assert_int_eq(cred_load(&prov, adapter_ops_for(PROVIDER_BEDROCK), &c, &e), -EINVAL);
	ck_assert_str_eq(e.text, "AWS credentials sign each request for a region: set region");
	setenv("AWS_ACCESS_KEY_ID", "FAKEACCESSKEY4444", 1);
	prov.region = region;
	ck_assert_int_eq(cred_load(&prov, adapter_ops_for(PROVIDER_BEDROCK), &c, &e), -EINVAL);
	ck_assert_str_eq(e.text, "environment variable AWS_ACCESS_KEY_ID is set but "
	                         "AWS_SECRET_ACCESS_KEY is not: AWS credentials need both");
	ck_assert_ptr_null(c);
}
END_TEST

/* A Bedrock API key: a bearer token in the fixed lines, no signer. */
START_TEST(test_bearer_token)
{
	static char env[] = "WARMD_TEST_BEDROCK_TOKEN";
	struct http_req req = { .url = URL, .body = BODY, .body_len = strlen(BODY) };
	struct cred_lines l;
	struct errmsg e = { { 0 } };
	double retry = 0;
	struct cred *c;

	setenv(env, "fake-bedrock-api-key-0000000000", 1);
	prov.api_key_env = env;
	c = load_ok();
	ck_assert_ptr_null(c->signer);
	ck_assert_str_eq(c->lines[2], "authorization: Bearer fake-bedrock-api-key-0000000000");
	ck_assert_int_eq(cred_authorize(c, &req, 1, &l, &retry, &e), 0);
	ck_assert_ptr_null(req.extra_headers);
	cred_unref(c);
}
END_TEST

static Suite *aws_cred_suite(void)
{
	Suite *s = suite_create("aws_cred");
	TCase *tc = tcase_create("file");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_parse_expiry);
	suite_add_tcase(s, tc);

	tc = tcase_create("signer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sign_from_file);
	tcase_add_test(tc, test_secrets_scrubbed);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_expired_token);
	tcase_add_test(tc, test_environment);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_bearer_token);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(aws_cred_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

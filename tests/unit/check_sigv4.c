/* check_sigv4: AWS Signature Version 4 (core/sigv4.c).
 *
 * The first cases are AWS's published SigV4 test-suite vectors (the
 * aws-sig-v4-test-suite: get-vanilla and its variants, signed with the
 * suite's example credentials for service "service" on 2015-08-30
 * 12:36:00 UTC); the suite gives each request's path unencoded, and the
 * canonical URI encodes it once. Then the Bedrock cases: a path as sent,
 * with a model id encoded once, is encoded once more into the canonical URI
 * (the expected signature was computed independently, with Python's hmac
 * and hashlib), the signing name, the session token, and URL splitting. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

#define SUITE_TIME 1440938160 /* 20150830T123600Z */

static const struct sigv4_credentials suite_creds = {
	.access_key_id = "AKIDEXAMPLE",
	.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};

/* Signs one suite request: GET or POST of path?query to example.amazonaws.com. */
static void suite_case(const char *method, const char *path, const char *query,
                       const struct sigv4_header *extra, size_t nextra, const char *token,
                       const char *want, int line)
{
	struct sigv4_header h[4] = { { "Host", "example.amazonaws.com" } };
	struct sigv4_request r = { .method = method,
		                   .path = path,
		                   .query = query,
		                   .headers = h,
		                   .nheaders = 1 + nextra,
		                   .region = "us-east-1",
		                   .service = "service",
		                   .when = SUITE_TIME };
	struct sigv4_credentials c = suite_creds;
	struct sigv4_signature s;
	struct errmsg e = { { 0 } };
	int rc;

	for (size_t i = 0; i < nextra; i++)
		h[1 + i] = extra[i];
	c.session_token = token;
	rc = sigv4_sign(&r, &c, &s, NULL, &e);
	ck_assert_msg(rc == 0, "line %d: %s", line, e.text);
	ck_assert_msg(strcmp(s.signature, want) == 0, "line %d: signature %s, want %s", line,
	              s.signature, want);
}

START_TEST(test_get_vanilla)
{
	struct sigv4_header h[] = { { "Host", "example.amazonaws.com" } };
	struct sigv4_request r = { .method = "GET",
		                   .path = "/",
		                   .headers = h,
		                   .nheaders = 1,
		                   .region = "us-east-1",
		                   .service = "service",
		                   .when = SUITE_TIME };
	struct sigv4_signature s;
	struct buf canon = BUF_INIT;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(sigv4_sign(&r, &suite_creds, &s, &canon, &e), 0);
	ck_assert_str_eq(canon.data, "GET\n/\n\nhost:example.amazonaws.com\n"
	                             "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
	                             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
	                             "7852b855");
	ck_assert_str_eq(s.amz_date, "20150830T123600Z");
	ck_assert_str_eq(s.authorization,
	                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
	                 "aws4_request, SignedHeaders=host;x-amz-date, Signature="
	                 "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	buf_free(&canon);
}
END_TEST

START_TEST(test_suite_vectors)
{
	static const struct sigv4_header trim[] = { { "My-Header1", " value1" },
		                                    { "My-Header2", " \"a   b   c\"" } };

	suite_case("POST", "/", NULL, NULL, 0, NULL,
	           "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", __LINE__);
	/* get-vanilla-query-order-key-case: parameters sorted */
	suite_case("GET", "/", "Param2=value2&Param1=value1", NULL, 0, NULL,
	           "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", __LINE__);
	suite_case("GET", "/", "Param1=value1", NULL, 0, NULL,
	           "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb", __LINE__);
	suite_case("POST", "/", "Param1=value1", NULL, 0, NULL,
	           "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11", __LINE__);
	/* get-utf8: "/\u1234" encoded once, upper-case hex */
	suite_case("GET", "/\xe1\x88\xb4", NULL, NULL, 0, NULL,
	           "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85", __LINE__);
	suite_case("GET", "/example space/", NULL, NULL, 0, NULL,
	           "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741", __LINE__);
	/* get-header-value-trim: values trimmed, inner runs of spaces kept as one */
	suite_case("GET", "/", NULL, trim, 2, NULL,
	           "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736", __LINE__);
	suite_case("GET", "/", NULL, NULL, 0,
	           "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
	           "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8", __LINE__);
}
END_TEST

/* Bedrock: the path as sent is encoded once more, the signing name is
 * "bedrock", the session token is signed. */
START_TEST(test_bedrock_double_encoding)
{
	static const char body[] = "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":0,"
	                           "\"messages\":[{\"role\":\"user\",\"content\":\".\"}]}";
	struct sigv4_header h[] = { { "host", "bedrock-runtime.us-east-1.amazonaws.com" } };
	struct sigv4_request r = {
		.method = "POST",
		.path = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
		.headers = h,
		.nheaders = 1,
		.payload = body,
		.payload_len = sizeof(body) - 1,
		.region = "us-east-1",
		.service = "bedrock",
		.when = 1767603600
	};
	struct sigv4_credentials c = { .access_key_id = "FAKEACCESSKEY0000",
		                       .secret_key = "fake/SecretKey00000000000000000000000000",
		                       .session_token = "fake-session-token-0000" };
	struct sigv4_signature s;
	struct buf canon = BUF_INIT;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(sigv4_sign(&r, &c, &s, &canon, &e), 0);
	ck_assert(strncmp(canon.data,
	                  "POST\n/model/anthropic.claude-sonnet-4-5-20250929-v1%253A0/invoke\n\n"
	                  "host:bedrock-runtime.us-east-1.amazonaws.com\n"
	                  "x-amz-date:20260105T090000Z\n"
	                  "x-amz-security-token:fake-session-token-0000\n\n"
	                  "host;x-amz-date;x-amz-security-token\n",
	                  canon.len - 64) == 0);
	ck_assert_str_eq(s.signature,
	                 "f5bf65b0e52acdade0cc37be9f270c102810230e8777d0e5979c0bcf0ea56db6");
	ck_assert(strstr(s.authorization,
	                 "Credential=FAKEACCESSKEY0000/20260105/us-east-1/bedrock/aws4_request, "
	                 "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=f5bf") !=
	          NULL);
	/* The signing name and the encoding both count. */
	r.service = "bedrock-runtime";
	ck_assert_int_eq(sigv4_sign(&r, &c, &s, NULL, &e), 0);
	ck_assert_str_ne(s.signature,
	                 "f5bf65b0e52acdade0cc37be9f270c102810230e8777d0e5979c0bcf0ea56db6");
	r.service = "bedrock";
	r.path = "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke";
	ck_assert_int_eq(sigv4_sign(&r, &c, &s, NULL, &e), 0);
	ck_assert_str_ne(s.signature,
	                 "f5bf65b0e52acdade0cc37be9f270c102810230e8777d0e5979c0bcf0ea56db6");
	buf_free(&canon);
}
END_TEST

START_TEST(test_sign_errors)
{
	struct sigv4_header h[SIGV4_MAX_HEADERS] = { { "x-other", "1" } };
	struct sigv4_request r = { .method = "GET",
		                   .path = "/",
		                   .headers = h,
		                   .nheaders = 1,
		                   .region = "us-east-1",
		                   .service = "service",
		                   .when = SUITE_TIME };
	struct sigv4_signature s;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(sigv4_sign(&r, &suite_creds, &s, NULL, &e), -EINVAL);
	ck_assert_str_eq(e.text, "no host header to sign");
	h[0] = (struct sigv4_header){ "host", "a\r\nx-injected: 1" };
	ck_assert_int_eq(sigv4_sign(&r, &suite_creds, &s, NULL, &e), -EINVAL);
	h[0] = (struct sigv4_header){ "host", "example.amazonaws.com" };
	h[1] = (struct sigv4_header){ "X-Amz-Date", "20150830T123600Z" };
	r.nheaders = 2;
	ck_assert_int_eq(sigv4_sign(&r, &suite_creds, &s, NULL, &e), -EINVAL);
	ck_assert_str_eq(e.text, "header x-amz-date given twice");
	r.nheaders = SIGV4_MAX_HEADERS;
	ck_assert_int_eq(sigv4_sign(&r, &suite_creds, &s, NULL, &e), -EINVAL);
}
END_TEST

static void split_ok(const char *url, const char *host, const char *path, const char *query,
                     int line)
{
	char h[128];
	const char *p, *q;
	size_t plen;
	struct errmsg e = { { 0 } };

	ck_assert_msg(sigv4_url_split(url, h, sizeof(h), &p, &plen, &q, &e) == 0, "line %d: %s",
	              line, e.text);
	ck_assert_msg(strcmp(h, host) == 0, "line %d: host %s", line, h);
	ck_assert_msg(strlen(path) == plen && strncmp(p, path, plen) == 0, "line %d: path %.*s",
	              line, (int)plen, p);
	ck_assert_msg(query ? q && strcmp(q, query) == 0 : q == NULL, "line %d: query %s", line,
	              q ? q : "(none)");
}

START_TEST(test_url_split)
{
	char h[16];
	const char *p, *q;
	size_t plen;
	struct errmsg e = { { 0 } };

	split_ok("https://bedrock-runtime.us-east-1.amazonaws.com/model/m%3A0/invoke",
	         "bedrock-runtime.us-east-1.amazonaws.com", "/model/m%3A0/invoke", NULL, __LINE__);
	split_ok("http://127.0.0.1:8123/model/x/converse", "127.0.0.1:8123", "/model/x/converse",
	         NULL, __LINE__);
	split_ok("https://h.example:443/a?b=c&d", "h.example", "/a", "b=c&d", __LINE__);
	split_ok("http://h.example:80", "h.example", "/", NULL, __LINE__);
	split_ok("https://h.example:8443/", "h.example:8443", "/", NULL, __LINE__);
	split_ok("http://[::1]:9000/x", "[::1]:9000", "/x", NULL, __LINE__);
	ck_assert_int_eq(sigv4_url_split("ftp://h/", h, sizeof(h), &p, &plen, &q, &e), -EINVAL);
	ck_assert_int_eq(sigv4_url_split("https://u:p@h/", h, sizeof(h), &p, &plen, &q, &e),
	                 -EINVAL);
	ck_assert_int_eq(sigv4_url_split("https://a-very-long-host-name.example/", h, sizeof(h), &p,
	                                 &plen, &q, &e),
	                 -EINVAL);
}
END_TEST

static Suite *sigv4_suite(void)
{
	Suite *s = suite_create("sigv4");
	TCase *tc = tcase_create("sign");

	tcase_add_test(tc, test_get_vanilla);
	tcase_add_test(tc, test_suite_vectors);
	tcase_add_test(tc, test_bedrock_double_encoding);
	tcase_add_test(tc, test_sign_errors);
	tcase_add_test(tc, test_url_split);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sigv4_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

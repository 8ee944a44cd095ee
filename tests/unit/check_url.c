/* check_url: the userinfo of a URL (common/url.c): found where curl finds
 * it, its secret, and the URL as shown without it. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hex.h"
#include "url.h"

static void expect_redact(const char *in, const char *want)
{
	char *got = url_redact(in);

	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_redact)
{
	expect_redact("https://api.example.com/v1", "https://api.example.com/v1");
	expect_redact("https://user:pa55word@gw.example.com/v1", "https://***@gw.example.com/v1");
	expect_redact("https://tok3n@gw.example.com", "https://***@gw.example.com");
	expect_redact("http://u:p@127.0.0.1:8080?x=1", "http://***@127.0.0.1:8080?x=1");
	/* a password with an '@' of its own: the host follows the last one */
	expect_redact("https://u:p@ss@host/", "https://***@host/");
	/* an '@' in the path or the query is not userinfo */
	expect_redact("https://host/a@b?c@d", "https://host/a@b?c@d");
	expect_redact("https://host?q=http://x:y@z", "https://host?q=http://x:y@z");
	/* a proxy without a scheme (curl guesses http) */
	expect_redact("user:pw@proxy:3128", "***@proxy:3128");
	expect_redact("proxy:3128", "proxy:3128");
	expect_redact("", "");
	ck_assert_ptr_null(url_redact(NULL));
}
END_TEST

START_TEST(test_secret)
{
	const char *s;
	size_t n;

	ck_assert(url_secret("https://user:pa55word@host/v1", &s, &n));
	ck_assert_uint_eq(n, 8);
	ck_assert(strncmp(s, "pa55word", n) == 0);
	ck_assert(url_secret("https://tok3n@host", &s, &n)); /* no ':': all of it */
	ck_assert(n == 5 && strncmp(s, "tok3n", n) == 0);
	ck_assert(url_secret("https://u:p@ss@host", &s, &n));
	ck_assert(n == 4 && strncmp(s, "p@ss", n) == 0);
	ck_assert(!url_secret("https://user:@host", &s, &n)); /* no password */
	ck_assert(!url_secret("https://host/a@b", &s, &n));
	ck_assert(!url_secret("https://host", &s, &n));
}
END_TEST

START_TEST(test_unescape)
{
	char out[32];
	size_t n;

	n = url_unescape("p%40ss%3Aw%2fd", 14, out);
	ck_assert(n == 8 && memcmp(out, "p@ss:w/d", n) == 0);
	n = url_unescape("100%-%4g%4", 10, out); /* not escapes: kept */
	ck_assert(n == 10 && memcmp(out, "100%-%4g%4", n) == 0);
	ck_assert_uint_eq(url_unescape("", 0, out), 0);
}
END_TEST

/* Percent-encoding keeps the unreserved bytes and those asked for, as one
 * segment whatever the rest holds; hex both ways. */
START_TEST(test_escape_and_hex)
{
	struct buf b = BUF_INIT;
	static const unsigned char bytes[] = { 0x00, 0x0f, 0xa5, 0xff };
	char out[9];

	url_escape(&b, "a-Z_0.9~:/@ %?#\xc3\xa9", 17, NULL);
	ck_assert_str_eq(b.data, "a-Z_0.9~%3A%2F%40%20%25%3F%23%C3%A9");
	buf_reset(&b);
	url_escape(&b, "claude@2025/x", 13, "@");
	ck_assert_str_eq(b.data, "claude@2025%2Fx");
	buf_reset(&b);
	url_escape(&b, "a\0b", 3, "@"); /* a NUL is encoded, never "kept" */
	ck_assert_mem_eq(b.data, "a%00b", 5);
	buf_free(&b);
	hex_encode(bytes, 4, out);
	ck_assert_str_eq(out, "000fa5ff");
	ck_assert_int_eq(hex_value('7'), 7);
	ck_assert_int_eq(hex_value('b'), 11);
	ck_assert_int_eq(hex_value('F'), 15);
	ck_assert_int_eq(hex_value('g'), -1);
	ck_assert_int_eq(hex_value('\0'), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("userinfo");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_redact);
	tcase_add_test(tc, test_secret);
	tcase_add_test(tc, test_unescape);
	tcase_add_test(tc, test_escape_and_hex);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

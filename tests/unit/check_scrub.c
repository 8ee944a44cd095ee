/* check_scrub: the key scrubber of runtime/cred.c, and the provider error
 * texts it protects (runtime/provider.c).
 *
 * Keys here are obviously fake ("fake-" and letters and digits). The
 * scrubber masks pieces of every live credential's key, so each test
 * releases the credentials it loads. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters.h"
#include "config.h"
#include "cred.h"
#include "credentials.h"
#include "http.h"
#include "provider.h"
#include "testutil.h"

/* 45 characters, no 8-byte window repeated. */
#define KEY "fake-Q7wE2rT9yU4iO1pA6sD3fG8hJ5kL0zX4cV7bN2m"

static char *dir;

static void setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

static struct cred *load(const char *key, char **headers)
{
	static char name[] = "p";
	char *path = tu_write(dir, "api.key", key);
	struct cfg_provider c;
	struct cred *cr = NULL;
	struct errmsg e;

	memset(&c, 0, sizeof(c));
	c.name = name;
	c.kind = PROVIDER_ANTHROPIC;
	c.api_key_file = path;
	c.headers = headers;
	ck_assert_msg(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e) == 0, "%s",
	              e.text);
	free(path);
	return cr;
}

/* The longest piece of key that text still holds. */
static size_t longest_piece(const char *text, size_t len, const char *key)
{
	size_t klen = strlen(key), best = 0;

	for (size_t i = 0; i < len; i++)
		for (size_t k = 0; k < klen; k++) {
			size_t n = 0;
			while (i + n < len && k + n < klen && text[i + n] == key[k + n])
				n++;
			if (n > best)
				best = n;
		}
	return best;
}

static void scrub_eq(const char *in, const char *want)
{
	char text[1024];

	snprintf(text, sizeof(text), "%s", in);
	cred_scrub(text);
	ck_assert_str_eq(text, want);
}

START_TEST(test_whole_key)
{
	struct cred *c = load(KEY "\n", NULL);

	scrub_eq("HTTP 401: invalid x-api-key " KEY " (got \"" KEY "\")" KEY,
	         "HTTP 401: invalid x-api-key [key] (got \"[key]\")[key]");
	scrub_eq("nothing to hide: fake-Q7", "nothing to hide: fake-Q7");
	scrub_eq("", "");
	cred_unref(c);
	/* Released: nothing is known any more. */
	scrub_eq("x " KEY, "x " KEY);
}
END_TEST

START_TEST(test_pieces_of_eight)
{
	struct cred *c = load(KEY, NULL);
	const size_t klen = strlen(KEY);
	const size_t at[] = { 0, 1, 17, klen - 9, klen - 8 };
	char text[64], piece[64];

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		/* 8 characters of the key: masked, wherever in the key they come from. */
		snprintf(text, sizeof(text), "<%.8s>", KEY + at[i]);
		cred_scrub(text);
		ck_assert_msg(strcmp(text, "<[key]>") == 0, "piece at %zu: %s", at[i], text);
		/* 7 are not (a window of 8 cannot tell them from ordinary text). */
		snprintf(text, sizeof(text), "<%.7s>", KEY + at[i]);
		snprintf(piece, sizeof(piece), "%s", text);
		cred_scrub(text);
		ck_assert_str_eq(text, piece);
	}
	/* A piece at the very start and end of the text, and one of 30. */
	snprintf(text, sizeof(text), "%.8s and %.30s and %.9s", KEY + 3, KEY + 10, KEY + klen - 9);
	cred_scrub(text);
	ck_assert_str_eq(text, "[key] and [key] and [key]");
	/* Adjacent pieces, and a key around a piece of another: one marker. */
	snprintf(text, sizeof(text), "(%.10s%.12s)", KEY + 20, KEY + 2);
	cred_scrub(text);
	ck_assert_str_eq(text, "([key])");
	/* Case matters: keys are compared byte for byte. */
	scrub_eq("FAKE-Q7WE2RT9", "FAKE-Q7WE2RT9");
	cred_unref(c);
}
END_TEST

static const char *const type_keys[] = { "type", NULL };

/* The defect: a 401 echoing the key, cut to a 160-byte excerpt or a 512-byte
 * error text before the key was masked, left most of the key in the text.
 * The key is placed at every offset around those cuts. */
START_TEST(test_key_across_excerpt_boundaries)
{
	struct cred *c = load(KEY, NULL);
	size_t klen = strlen(KEY), len;
	char body[1024], json[1200];
	struct errmsg e;

	for (size_t off = 160 - klen - 2; off <= 160 + 2; off++) {
		/* A raw body (an HTML page): the excerpt ends inside the key. */
		memset(body, '.', sizeof(body));
		memcpy(body + off, KEY, klen);
		len = sizeof(body) - 1;
		body[len] = '\0';
		/* Text first, scrub after: no piece of 8 can survive, but up to
		 * 7 bytes before the cut do... */
		adapter_error_text(401, NULL, NULL, body, len, &e);
		cred_scrub(e.text);
		ck_assert_msg(longest_piece(e.text, strlen(e.text), KEY) < CRED_SCRUB_PIECE,
		              "offset %zu: %s", off, e.text);
		/* ...so the raw body is scrubbed first: none survives. ("ke" of the
		 * marker is a piece of "fake-".) */
		len = cred_scrub_mem(body, len);
		body[len] = '\0';
		adapter_error_text(401, NULL, NULL, body, len, &e);
		ck_assert_msg(longest_piece(e.text, strlen(e.text), KEY) <= 2, "offset %zu: %s",
		              off, e.text);
	}
	/* A JSON message longer than the error text ("HTTP 401 authentication_error: "
	 * is 31 bytes), with the key across its last byte. */
	for (size_t off = 511 - 31 - klen - 2; off <= 511 - 31 + 2; off++) {
		memset(body, '.', 700);
		memcpy(body + off, KEY, klen);
		body[700] = '\0';
		snprintf(json, sizeof(json),
		         "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
		         "\"message\":\"%s\"}}",
		         body);
		adapter_error_from_body(401, json, strlen(json), type_keys, &e);
		ck_assert_uint_eq(strlen(e.text), sizeof(e.text) - 1);
		cred_scrub(e.text);
		ck_assert_msg(longest_piece(e.text, strlen(e.text), KEY) < CRED_SCRUB_PIECE,
		              "json offset %zu: %s", off, e.text);
		len = cred_scrub_mem(json, strlen(json));
		adapter_error_from_body(401, json, len, type_keys, &e);
		ck_assert_msg(longest_piece(e.text, strlen(e.text), KEY) <= 2,
		              "json offset %zu: %s", off, e.text);
		ck_assert_ptr_nonnull(strstr(e.text, "HTTP 401 authentication_error: "));
	}
	/* A key that JSON escapes hide from the raw scrub is masked once decoded. */
	snprintf(json, sizeof(json),
	         "{\"error\":{\"message\":\"bad key \\u0066ake-Q\\u0037wE2rT\\u0039yU4\"}}");
	len = cred_scrub_mem(json, strlen(json));
	adapter_error_from_body(401, json, len, type_keys, &e);
	ck_assert_str_eq(e.text, "HTTP 401: bad key fake-Q7wE2rT9yU4");
	cred_scrub(e.text);
	ck_assert_str_eq(e.text, "HTTP 401: bad key [key]");
	cred_unref(c);
}
END_TEST

START_TEST(test_short_keys)
{
	struct cred *c4 = load("abcd", NULL), *c7;

	/* Shorter than the mask: as many '*', the text never grows. */
	scrub_eq("x abcd y abcd abc", "x **** y **** abc");
	cred_unref(c4);
	c7 = load("abcdefg", NULL);
	scrub_eq("x abcdefg y abcdef", "x [key] y abcdef");
	cred_unref(c7);
}
END_TEST

/* Keys its own mask reproduces must not send the scrubber round in circles. */
START_TEST(test_mask_like_keys)
{
	static const char *const keys[] = { "[key]", "**", "[key][key]" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct cred *c = load(keys[i], NULL);
		char text[64];
		snprintf(text, sizeof(text), "echo %s back", keys[i]);
		cred_scrub(text);
		ck_assert_msg(strlen(text) <= strlen("echo ") + strlen(keys[i]) + strlen(" back"),
		              "%s", text);
		cred_unref(c);
	}
}
END_TEST

START_TEST(test_many_repeats)
{
	struct cred *c = load(KEY, NULL);
	size_t klen = strlen(KEY), n = 2000, len;
	char *text = malloc(n * (klen + 1) + 1);

	ck_assert_ptr_nonnull(text);
	/* Back to back: one run, one marker. */
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * klen, KEY, klen);
	len = cred_scrub_mem(text, n * klen);
	ck_assert_uint_eq(len, 5);
	ck_assert(memcmp(text, "[key]", 5) == 0);
	/* Apart: one marker each. */
	for (size_t i = 0; i < n; i++) {
		memcpy(text + i * (klen + 1), KEY, klen);
		text[i * (klen + 1) + klen] = ' ';
	}
	len = cred_scrub_mem(text, n * (klen + 1));
	ck_assert_uint_eq(len, n * 6);
	for (size_t i = 0; i < n; i++)
		ck_assert(memcmp(text + i * 6, "[key] ", 6) == 0);
	free(text);
	cred_unref(c);
}
END_TEST

START_TEST(test_one_mebibyte_body)
{
	struct cred *c = load(KEY, NULL);
	size_t len = 1024 * 1024, klen = strlen(KEY), out, markers = 0;
	const size_t at[] = { 0, 160 - 20, 511 - 40, len / 2, len - klen };
	char *body = malloc(len + 1);
	unsigned seed = 12345;

	ck_assert_ptr_nonnull(body);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		body[i] = (char)(0x20 + (seed >> 16) % 95); /* printable noise, NULs below */
	}
	body[1000] = '\0';
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		memcpy(body + at[i], KEY, klen);
	out = cred_scrub_mem(body, len);
	body[out] = '\0';
	ck_assert_uint_lt(longest_piece(body, out, KEY), CRED_SCRUB_PIECE);
	for (char *p = body; (p = memmem(p, out - (size_t)(p - body), "[key]", 5)); p += 5)
		markers++;
	ck_assert_uint_eq(markers, 5);
	ck_assert_uint_eq(out, len - 5 * (klen - 5));
	free(body);
	cred_unref(c);
}
END_TEST

/* A gateway may echo another provider's key: all live credentials count. */
START_TEST(test_every_live_credential)
{
	struct cred *a = load(KEY, NULL), *b = load("fake-Other0Key1Of2The3Second4Provider5", NULL);
	char text[256];

	snprintf(text, sizeof(text), "a=%.12s b=%.12s", KEY + 6, "Other0Key1Of2The3" + 2);
	cred_scrub(text);
	ck_assert_str_eq(text, "a=[key] b=[key]");
	cred_unref(a);
	snprintf(text, sizeof(text), "a=%.12s b=%.12s", KEY + 6, "Other0Key1Of2The3" + 2);
	cred_scrub(text);
	ck_assert_str_eq(text, "a=7wE2rT9yU4iO b=[key]");
	cred_unref(b);
}
END_TEST

/* Extra headers that name a secret (a gateway's token) are masked too. */
START_TEST(test_secret_extra_headers)
{
	char h1[] = "cf-aig-authorization: Bearer fake-Gateway0Token1Of2Twenty3",
	     h2[] = "anthropic-beta: "
	            "prompt-caching-"
	            "2024-07-31",
	     h3[] = "X-Portkey-Api-Key:fake-Portkey9Key8";
	char *headers[] = { h1, h2, h3, NULL };
	struct cred *c = load(KEY, headers);

	scrub_eq("token fake-Gateway0Token1Of2Twenty3 beta prompt-caching-2024-07-31",
	         "token [key] beta prompt-caching-2024-07-31");
	scrub_eq("Gateway0Token1 / fake-Portkey9Key8 / Bearer f", "[key] / [key] / Bearer f");
	/* The lines still go out as written. */
	ck_assert_str_eq(c->lines[3], h1);
	ck_assert_str_eq(c->lines[5], h3);
	cred_unref(c);
}
END_TEST

/* The passwords of base_url and proxy too, as written and unescaped, while
 * what the provider may send back without them is left alone. */
START_TEST(test_url_passwords)
{
	static char name[] = "p",
	            base[] = "https://gw-user:fake-Url0Passw%40rd1Gateway@gw.example/v1",
	            proxy[] = "http://fake-Proxy8Token7Only6@proxy.example:3128";
	char *path = tu_write(dir, "api.key", KEY);
	struct cfg_provider c;
	struct cred *cr = NULL;
	struct errmsg e;

	memset(&c, 0, sizeof(c));
	c.name = name;
	c.kind = PROVIDER_ANTHROPIC;
	c.api_key_file = path;
	c.base_url = base;
	c.proxy = proxy;
	ck_assert_msg(cred_load(&c, adapter_ops_for(PROVIDER_ANTHROPIC), &cr, &e) == 0, "%s",
	              e.text);
	scrub_eq("basic gw-user:fake-Url0Passw@rd1Gateway denied", "basic gw-user:[key] denied");
	scrub_eq("as written: fake-Url0Passw%40rd1Gateway", "as written: [key]");
	scrub_eq("proxy: fake-Proxy8Token7Only6@proxy.example", "proxy: [key]@proxy.example");
	scrub_eq("gw.example/v1 gw-user", "gw.example/v1 gw-user");
	/* they are not sent: no header line holds them */
	for (size_t i = 0; cr->lines[i]; i++)
		ck_assert_msg(!strstr(cr->lines[i], "Passw") && !strstr(cr->lines[i], "Proxy8"),
		              "%s", cr->lines[i]);
	cred_unref(cr);
	free(path);
}
END_TEST

/* A signer's secrets (a secret key, a session token) are masked once given
 * to cred_scrub_set(), and a replaced one no longer is; the key and the
 * secret headers stay masked throughout. */
START_TEST(test_signer_secrets)
{
	char h1[] = "x-gateway-token: fake-Gateway0Token1Of2Twenty3";
	char *headers[] = { h1, NULL };
	struct cred *c = load(KEY, headers);
	static const char old_tok[] = "fake-Session0Token1Before2Rotation3";
	static const char new_tok[] = "fake-Session9Token8After7Rotation6";
	struct cred_secret s[] = { { "fake-Secret0Key1Of2Forty3Characters4Long5", 41 },
		                   { old_tok, sizeof(old_tok) - 1 } };

	scrub_eq("Secret0Key1Of2 Session0Token1", "Secret0Key1Of2 Session0Token1");
	cred_scrub_set(c, s, 2);
	scrub_eq("Secret0Key1Of2 Session0Token1 Gateway0Token1 7wE2rT9yU4",
	         "[key] [key] [key] [key]");
	s[1] = (struct cred_secret){ new_tok, sizeof(new_tok) - 1 };
	cred_scrub_set(c, s, 2);
	scrub_eq("Session0Token1 Session9Token8", "Session0Token1 [key]");
	scrub_eq("Secret0Key1Of2 Gateway0Token1 7wE2rT9yU4", "[key] [key] [key]");
	cred_unref(c);
	scrub_eq("Secret0Key1Of2 Session9Token8", "Secret0Key1Of2 Session9Token8");
}
END_TEST

/* The scrubber as its contract says, without the first look at every
 * fourth offset: a byte is masked when an 8-byte window covering it is a
 * piece of one of the secrets, and each run of masked bytes becomes one
 * mask. */
static size_t scrub_reference(char *text, size_t len, const char *const *secrets, size_t n)
{
	bool *masked = calloc(len + 1, 1);
	size_t w = 0;

	ck_assert_ptr_nonnull(masked);
	for (size_t i = 0; i + CRED_SCRUB_PIECE <= len; i++)
		for (size_t k = 0; k < n; k++)
			if (memmem(secrets[k], strlen(secrets[k]), text + i, CRED_SCRUB_PIECE)) {
				memset(masked + i, 1, CRED_SCRUB_PIECE);
				break;
			}
	for (size_t i = 0; i < len;) {
		size_t run = 0;
		if (!masked[i]) {
			text[w++] = text[i++];
			continue;
		}
		while (i + run < len && masked[i + run])
			run++;
		if (run < 5) {
			memset(text + w, '*', run);
			w += run;
		} else {
			memcpy(text + w, "[key]", 5);
			w += 5;
		}
		i += run;
	}
	free(masked);
	return w;
}

/* The first look never lets a piece of a key through: on texts built from
 * pieces of the secrets (at every alignment, of every length around a
 * window's), near misses (a piece with one byte changed), pieces of a key
 * that is not loaded and random bytes, the scrubber gives what the simple
 * algorithm gives. */
START_TEST(test_first_look_misses_nothing)
{
	static const char other[] = "fake-Other0Key1Of2The3Second4Provider5";
	static const char unloaded[] = "fake-NotLoaded7Key8Nobody9Knows0About";
	static const char *const secrets[] = { KEY, "fake-Gateway0Token1Of2Twenty3", other };
	char h1[] = "cf-aig-authorization: Bearer fake-Gateway0Token1Of2Twenty3";
	char *headers[] = { h1, NULL };
	struct cred *a = load(KEY, headers), *b = load(other, NULL);
	unsigned seed = 7;
	int changed = 0, kept = 0;

	for (int round = 0; round < 20000; round++) {
		char text[512], want[512], orig[512];
		size_t len = 0, wlen, glen;
		int pieces = 1 + rand_r(&seed) % 8;

		for (int p = 0; p < pieces && len < 400; p++) {
			const char *src;
			size_t slen, off, n;
			switch (rand_r(&seed) % 5) {
			case 0:
			case 1:
				src = secrets[rand_r(&seed) % 3];
				break;
			case 2:
				src = unloaded;
				break;
			case 3:
				src = "{\"usage\":{\"input_tokens\":4,\"cache_read_input_tokens\":"
				      "2048}}";
				break;
			default:
				src = NULL;
			}
			n = 1 + rand_r(&seed) % 20;
			if (!src) {
				for (size_t i = 0; i < n; i++)
					text[len++] =
					        (char)(rand_r(&seed) % 2 ? 'a' + rand_r(&seed) % 26
					                                 : rand_r(&seed) & 0xff);
				continue;
			}
			slen = strlen(src);
			if (n > slen)
				n = slen;
			off = rand_r(&seed) % (slen - n + 1);
			memcpy(text + len, src + off, n);
			if (rand_r(&seed) % 6 == 0) /* a near miss */
				text[len + rand_r(&seed) % n] ^= 1;
			len += n;
		}
		memcpy(want, text, len);
		memcpy(orig, text, len);
		wlen = scrub_reference(want, len, secrets, 3);
		glen = cred_scrub_mem(text, len);
		ck_assert_msg(glen == wlen && memcmp(text, want, len < wlen ? len : wlen) == 0,
		              "round %d: got %.*s\nwant %.*s", round, (int)glen, text, (int)wlen,
		              want);
		if (wlen != len || memcmp(orig, want, wlen) != 0)
			changed++;
		else
			kept++;
	}
	/* Both ways were taken: texts with pieces, and texts without. */
	ck_assert_int_gt(changed, 1000);
	ck_assert_int_gt(kept, 1000);
	cred_unref(a);
	cred_unref(b);
}
END_TEST

static void set_buf(struct buf *b, const char *s)
{
	buf_reset(b);
	ck_assert_int_eq(buf_append(b, s, strlen(s)), 0);
}

START_TEST(test_answer)
{
	/* A key that contains a header name's word: names must survive. */
	struct cred *c = load("fake-anthropic-ratelimit-Q7wE2rT9", NULL);
	struct http_req req;
	struct buf want = BUF_INIT;

	memset(&req, 0, sizeof(req));
	set_buf(&req.resp, "{\"error\":{\"message\":\"bad fake-anthropic-ratelimit-Q7wE2rT9\"}}");
	set_buf(&req.headers_in, "HTTP/1.1 401 fake-anthropic-ratelimit-Q7wE2rT9\r\n"
	                         "anthropic-ratelimit-requests-remaining: 0\r\n"
	                         "x-echo: key=fake-anthropic-ratelimit-Q7wE2rT9;\r\n"
	                         "no colon fake-anthropic-ratelimit-Q7wE2rT9\r\n"
	                         "\r\n");
	snprintf(
	        req.errtext, sizeof(req.errtext),
	        "SSL: certificate subject name 'fake-anthropic-ratelimit-Q7wE2rT9' does not match");
	cred_scrub_answer(&req);
	ck_assert_str_eq(req.resp.data, "{\"error\":{\"message\":\"bad [key]\"}}");
	ck_assert_uint_eq(req.resp.len, strlen(req.resp.data));
	ck_assert_str_eq(req.headers_in.data, "HTTP/1.1 401 [key]\r\n"
	                                      "anthropic-ratelimit-requests-remaining: 0\r\n"
	                                      "x-echo: key=[key];\r\n"
	                                      "no colon [key]\r\n"
	                                      "\r\n");
	ck_assert_uint_eq(req.headers_in.len, strlen(req.headers_in.data));
	ck_assert_str_eq(req.errtext, "SSL: certificate subject name '[key]' does not match");
	/* Binary bodies: NUL bytes are just bytes. */
	buf_reset(&req.resp);
	ck_assert_int_eq(buf_append(&req.resp, "\0fake-anthropic-rate\0", 21), 0);
	cred_scrub_answer(&req);
	ck_assert_uint_eq(req.resp.len, 7);
	ck_assert(memcmp(req.resp.data, "\0[key]\0", 7) == 0);
	http_req_reset(&req);
	buf_free(&want);
	cred_unref(c);
}
END_TEST

START_TEST(test_error_text_printable)
{
	struct errmsg e;
	const char *body = "{\"error\":{\"type\":\"x\\ny\",\"message\":\"line one\\n<3>warmd: "
	                   "forged\\r\\u00e9t\\u00e9\"}}";

	/* No forged log line, and nothing a later cut could leave half of. */
	adapter_error_from_body(400, body, strlen(body), type_keys, &e);
	ck_assert_str_eq(e.text, "HTTP 400 x y: line one <3>warmd: forged   t  ");
	adapter_error_text(502, NULL, NULL, "<html>\n\t\xc3\xa9</html>", 17, &e);
	ck_assert_str_eq(e.text, "HTTP 502: <html>    </html>");
}
END_TEST

static Suite *scrub_suite(void)
{
	Suite *s = suite_create("scrub");
	TCase *tc = tcase_create("scrub");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_whole_key);
	tcase_add_test(tc, test_pieces_of_eight);
	tcase_add_test(tc, test_key_across_excerpt_boundaries);
	tcase_add_test(tc, test_short_keys);
	tcase_add_test(tc, test_mask_like_keys);
	tcase_add_test(tc, test_many_repeats);
	tcase_add_test(tc, test_one_mebibyte_body);
	tcase_add_test(tc, test_every_live_credential);
	tcase_add_test(tc, test_secret_extra_headers);
	tcase_add_test(tc, test_url_passwords);
	tcase_add_test(tc, test_signer_secrets);
	tcase_add_test(tc, test_first_look_misses_nothing);
	tcase_add_test(tc, test_answer);
	tcase_add_test(tc, test_error_text_printable);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scrub_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

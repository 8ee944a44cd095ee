/* check_jwt: service account key files, RS256 assertions and token answers
 * (core/jwt.c). Keys are generated here at test time: none is committed.
 * An assertion is checked the way Google checks it: its signature verified
 * with the public key, its header and claims read back. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jwt.h"

static EVP_PKEY *rsa_key;
static char *rsa_pem; /* PKCS#8 */

static void make_key(void)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	/* Before the tests run: no ck_assert here. */
	rsa_key = EVP_RSA_gen(2048);
	if (!rsa_key || PEM_write_bio_PrivateKey(b, rsa_key, NULL, NULL, 0, NULL, NULL) != 1)
		abort();
	n = BIO_get_mem_data(b, &p);
	rsa_pem = strndup(p, (size_t)n);
	BIO_free(b);
}

/* The PEM as a JSON string's contents: newlines as \n. */
static char *json_escaped_pem(void)
{
	struct buf b = BUF_INIT;

	for (const char *p = rsa_pem; *p; p++)
		if (*p == '\n')
			buf_puts(&b, "\\n");
		else
			buf_append(&b, p, 1);
	return buf_steal(&b);
}

static char *sa_json(const char *extra)
{
	char *pem = json_escaped_pem(), *out;

	ck_assert_int_ge(
	        asprintf(&out,
	                 "{\n  \"type\": \"service_account\",\n"
	                 "  \"project_id\": \"example-project\",\n"
	                 "  \"private_key_id\": \"0123456789abcdef\",\n"
	                 "  \"private_key\": \"%s\",\n"
	                 "  \"client_email\": \"warmd@example-project.iam.gserviceaccount.com\",\n"
	                 "  \"client_id\": \"123456789012345678901\",\n"
	                 "  \"auth_provider_x509_cert_url\": "
	                 "\"https://www.googleapis.com/oauth2/v1/certs\",\n"
	                 "  \"universe_domain\": \"googleapis.com\"%s\n}\n",
	                 pem, extra),
	        0);
	free(pem);
	return out;
}

/* ---- base64url ------------------------------------------------------------------------- */

START_TEST(test_b64url)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} v[] = {
		{ "", 0, "" },
		{ "f", 1, "Zg" },
		{ "fo", 2, "Zm8" },
		{ "foo", 3, "Zm9v" },
		{ "foob", 4, "Zm9vYg" },
		{ "fooba", 5, "Zm9vYmE" },
		{ "\xfb\xff", 2, "-_8" },
		{ "\xff\xfe\xfd", 3, "__79" },
	};
	char out[16];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_int_eq(jwt_b64url(v[i].in, v[i].len, out, sizeof(out)),
		                 (long)strlen(v[i].out));
		ck_assert_str_eq(out, v[i].out);
	}
	ck_assert_int_eq(jwt_b64url("foo", 3, out, 4), -E2BIG); /* no room for the NUL */
	ck_assert_int_eq(jwt_b64url("foo", 3, out, 5), 4);
}
END_TEST

/* ---- key files ------------------------------------------------------------------------- */

START_TEST(test_sa_parse)
{
	char *json = sa_json(""), out[8192];
	struct jwt_sa sa;
	struct errmsg e = { { 0 } };
	EVP_PKEY *k = NULL;

	ck_assert_msg(jwt_sa_parse(json, strlen(json), out, sizeof(out), &sa, &e) == 0, "%s",
	              e.text);
	ck_assert_str_eq(sa.client_email, "warmd@example-project.iam.gserviceaccount.com");
	ck_assert_str_eq(sa.private_key_id, "0123456789abcdef");
	ck_assert_str_eq(sa.token_uri, JWT_DEFAULT_TOKEN); /* absent: Google's */
	ck_assert_str_eq(sa.private_key, rsa_pem);         /* the \n escapes decoded */
	ck_assert_uint_eq(sa.private_key_len, strlen(rsa_pem));
	ck_assert(sa.private_key >= out);
	ck_assert(sa.private_key < out + sizeof(out));
	ck_assert_int_eq(jwt_key_from_pem(sa.private_key, sa.private_key_len, &k, &e), 0);
	ck_assert_int_eq(EVP_PKEY_eq(k, rsa_key), 1);
	EVP_PKEY_free(k);
	free(json);

	json = sa_json(
	        ",\n  \"token_uri\": \"http://127.0.0.1:8080/token\", "
	        "\"nested\": {\"a\": [1, 2.5e3, true, null, {\"b\": \"\\u00e9\\ud83d\\ude80\"}]}");
	ck_assert_msg(jwt_sa_parse(json, strlen(json), out, sizeof(out), &sa, &e) == 0, "%s",
	              e.text);
	ck_assert_str_eq(sa.token_uri, "http://127.0.0.1:8080/token");
	free(json);
}
END_TEST

static void expect_sa_error(const char *json, int want, const char *needle, size_t cap)
{
	char out[8192];
	struct jwt_sa sa = { .client_email = "untouched" };
	struct errmsg e = { { 0 } };
	int r = jwt_sa_parse(json, strlen(json), out, cap ? cap : sizeof(out), &sa, &e);

	ck_assert_msg(r == want, "%d (%s), want %d for %.80s", r, e.text, want, json);
	ck_assert_msg(strstr(e.text, needle), "\"%s\" lacks \"%s\"", e.text, needle);
	ck_assert_str_eq(sa.client_email, "untouched");
	/* No secret in the text: the key's PEM never appears. */
	ck_assert_ptr_null(strstr(e.text, "MII"));
}

START_TEST(test_sa_errors)
{
	char *json;

	expect_sa_error("[]", -EINVAL, "service account key file: not a JSON object at byte 1", 0);
	expect_sa_error("{\"type\": \"authorized_user\", \"client_email\": \"a@b\"}", -EINVAL,
	                "of type \"authorized_user\", not \"service_account\"", 0);
	expect_sa_error("{\"private_key\": \"x\"}", -EINVAL, "no valid \"client_email\"", 0);
	expect_sa_error("{\"client_email\": \"a@b\"}", -EINVAL, "no \"private_key\"", 0);
	expect_sa_error("{\"client_email\": \"a@b\", \"private_key\": \"x\", \"client_email\": "
	                "\"c@d\"}",
	                -EINVAL, "\"client_email\" is given twice", 0);
	expect_sa_error("{\"client_email\": 7, \"private_key\": \"x\"}", -EINVAL,
	                "\"client_email\" must be a string", 0);
	expect_sa_error("{\"client_email\": \"a@b\", \"private_key\": \"x\", \"token_uri\": "
	                "\"http://oauth2.googleapis.com/token\"}",
	                -EINVAL, "\"token_uri\" must be an https URL", 0);
	expect_sa_error("{\"client_email\": \"a@b\", \"private_key\": \"x\", \"token_uri\": "
	                "\"http://127.0.0.1.evil.example/token\"}",
	                -EINVAL, "\"token_uri\" must be an https URL", 0);
	expect_sa_error("{\"client_email\": \"a@b\", \"private_key\": \"x\"} x", -EINVAL,
	                "text after the object", 0);
	expect_sa_error("{\"client_email\": \"a@b\", \"private_key\": \"x\\ud800\"}", -EINVAL,
	                "a lone high surrogate", 0);
	expect_sa_error("{\"client_email\": \"a@b\", \"private_key\": \"x\n\"}", -EINVAL,
	                "a control character in a string", 0);
	expect_sa_error(
	        "{\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	        -EINVAL, "nested too deep", 0);
	expect_sa_error("{\"client_email\": \"a@b\", \"private_key\": \"0123456789\"}", -E2BIG,
	                "a string is too long", 12);
	expect_sa_error("{\"client_email\": \"a@b\", \"private_key\": \"\"}", -E2BIG,
	                "a string is too long", 4);
	expect_sa_error("{\"client_email\": \"a@b\", \"private_key\": \"x\", \"n\": 01}", -EINVAL,
	                "leading zero", 0);
	json = sa_json(
	        ",\n  \"an_unknown_key_that_is_longer_than_sixty_four_characters_xxxxxxxxx\": 1");
	{
		char out[8192];
		struct jwt_sa sa;
		struct errmsg e;
		ck_assert_int_eq(jwt_sa_parse(json, strlen(json), out, sizeof(out), &sa, &e), 0);
	}
	free(json);
}
END_TEST

START_TEST(test_key_from_pem)
{
	EVP_PKEY *k = NULL, *ec = EVP_EC_gen("P-256");
	struct errmsg e = { { 0 } };
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	ck_assert_int_eq(jwt_key_from_pem("not a key", 9, &k, &e), -EINVAL);
	ck_assert_ptr_null(k);
	ck_assert_ptr_nonnull(strstr(e.text, "is not a PEM private key"));
	ck_assert_int_eq(PEM_write_bio_PrivateKey(b, ec, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &p);
	ck_assert_int_eq(jwt_key_from_pem(p, (size_t)n, &k, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "is not an RSA key"));
	BIO_free(b);
	/* An encrypted key is refused, never a passphrase asked for. */
	b = BIO_new(BIO_s_mem());
	ck_assert_int_eq(PEM_write_bio_PKCS8PrivateKey(b, rsa_key, EVP_aes_128_cbc(), NULL, 0, NULL,
	                                               (void *)"secret"),
	                 1);
	n = BIO_get_mem_data(b, &p);
	ck_assert_int_eq(jwt_key_from_pem(p, (size_t)n, &k, &e), -EINVAL);
	BIO_free(b);
	EVP_PKEY_free(ec);
}
END_TEST

/* ---- the assertion --------------------------------------------------------------------- */

static size_t b64url_decode(const char *s, size_t n, unsigned char *out)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		const char *k = strchr(tab, s[i]);
		ck_assert_msg(k && s[i], "not base64url: %c", s[i]);
		acc = acc << 6 | (uint32_t)(k - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o;
}

static json_object *decode_part(const char *s, size_t n)
{
	unsigned char buf[1024];
	size_t len = b64url_decode(s, n, buf);

	buf[len] = '\0';
	return json_tokener_parse((const char *)buf);
}

START_TEST(test_sign_verifies)
{
	struct jwt_claims c = { .iss = "warmd@example-project.iam.gserviceaccount.com",
		                .scope = JWT_SCOPE,
		                .aud = JWT_DEFAULT_TOKEN,
		                .kid = "0123456789abcdef",
		                .iat = 1790000000,
		                .exp = 1790000000 + JWT_LIFETIME_S };
	char out[2048], *dot1, *dot2;
	unsigned char sig[512];
	struct errmsg e = { { 0 } };
	json_object *h, *cl;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t siglen;
	long n = jwt_sign(rsa_key, &c, out, sizeof(out), &e);

	ck_assert_msg(n > 0, "%s", e.text);
	ck_assert_uint_eq(strlen(out), (size_t)n);
	ck_assert_ptr_null(strchr(out, '='));
	dot1 = strchr(out, '.');
	dot2 = strrchr(out, '.');
	ck_assert_ptr_nonnull(dot1);
	ck_assert_ptr_ne(dot1, dot2);
	h = decode_part(out, (size_t)(dot1 - out));
	cl = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	ck_assert_str_eq(json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN),
	                 "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"0123456789abcdef\"}");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(cl, "iss")), c.iss);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(cl, "scope")),
	                 "https://www.googleapis.com/auth/cloud-platform");
	ck_assert_str_eq(json_object_get_string(json_object_object_get(cl, "aud")),
	                 "https://oauth2.googleapis.com/token");
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(cl, "iat")), 1790000000);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(cl, "exp")), 1790003600);
	/* RS256 over "header.claims", with the public key. */
	siglen = b64url_decode(dot2 + 1, strlen(dot2 + 1), sig);
	ck_assert_uint_eq(siglen, 256);
	ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, rsa_key), 1);
	ck_assert_int_eq(
	        EVP_DigestVerify(md, sig, siglen, (unsigned char *)out, (size_t)(dot2 - out)), 1);
	/* One bit changed in the claims: no longer verifies. */
	dot1[3] ^= 1;
	ck_assert_int_ne(
	        EVP_DigestVerify(md, sig, siglen, (unsigned char *)out, (size_t)(dot2 - out)), 1);
	EVP_MD_CTX_free(md);
	json_object_put(h);
	json_object_put(cl);

	/* No kid: none in the header; too small a buffer: -E2BIG, wiped. */
	c.kid = NULL;
	n = jwt_sign(rsa_key, &c, out, sizeof(out), &e);
	ck_assert_int_gt(n, 0);
	h = decode_part(out, (size_t)(strchr(out, '.') - out));
	ck_assert_ptr_null(json_object_object_get(h, "kid"));
	json_object_put(h);
	ck_assert_int_eq(jwt_sign(rsa_key, &c, out, 300, &e), -E2BIG);
	for (size_t i = 0; i < 300; i++)
		ck_assert_int_eq(out[i], 0);
}
END_TEST

/* ---- the token answer ------------------------------------------------------------------ */

START_TEST(test_token_parse)
{
	static const char ok[] = "{\n  \"access_token\": \"ya29.c.fake-token-0123456789\",\n"
	                         "  \"expires_in\": 3599,\n  \"token_type\": \"Bearer\"\n}";
	static const char err[] =
	        "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT "
	        "Signature.\"}";
	char out[512];
	struct jwt_token t;
	struct errmsg e = { { 0 } };
#define PARSE(s) jwt_token_parse(s, strlen(s), out, sizeof(out), &t, &e)

	ck_assert_int_eq(jwt_token_parse(ok, strlen(ok), out, sizeof(out), &t, &e), 0);
	ck_assert_str_eq(t.access_token, "ya29.c.fake-token-0123456789");
	ck_assert_uint_eq(t.access_token_len, 28);
	ck_assert_int_eq(t.expires_in, 3599);
	ck_assert_ptr_null(t.error);
	ck_assert_int_eq(jwt_token_parse(err, strlen(err), out, sizeof(out), &t, &e), 0);
	ck_assert_ptr_null(t.access_token);
	ck_assert_str_eq(t.error, "invalid_grant");
	ck_assert_str_eq(t.error_description, "Invalid JWT Signature.");

	ck_assert_int_eq(PARSE("{\"access_token\":\"a b\",\"expires_in\":1}"), -EPROTO);
	ck_assert_ptr_nonnull(strstr(e.text, "no printable \"access_token\""));
	ck_assert_int_eq(PARSE("{\"access_token\":\"ab\"}"), -EPROTO);
	ck_assert_ptr_nonnull(strstr(e.text, "no positive \"expires_in\""));
	ck_assert_int_eq(PARSE("{\"access_token\":\"ab\",\"expires_in\":1.5}"), -EPROTO);
	ck_assert_ptr_nonnull(strstr(e.text, "\"expires_in\" must be an integer"));
	ck_assert_int_eq(PARSE("{\"access_token\":\"ab\",\"expires_in\":9,\"token_type\":"
	                       "\"MAC\"}"),
	                 -EPROTO);
	ck_assert_int_eq(PARSE("<html>"), -EPROTO);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jwt");
	TCase *tc = tcase_create("jwt");
	SRunner *sr;
	int failed;

	make_key();
	tcase_add_test(tc, test_b64url);
	tcase_add_test(tc, test_sa_parse);
	tcase_add_test(tc, test_sa_errors);
	tcase_add_test(tc, test_key_from_pem);
	tcase_add_test(tc, test_sign_verifies);
	tcase_add_test(tc, test_token_parse);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	EVP_PKEY_free(rsa_key);
	free(rsa_pem);
	return failed ? 1 : 0;
}

/* check_oauth: OAuth2 tokens of a Google service account (runtime/oauth.c)
 * on a real loop, with the real HTTP client and a token endpoint in this
 * test (httpstub.h): the assertion it sends verified with the public key,
 * the Authorization line each request gets, refreshes before expiry with
 * no gap, retries, a refused key becoming a rejected credential, a token
 * taken over across a reload, the scrubber knowing every secret, and a
 * credential freed mid-exchange. Every test closes its loop
 * (uv_loop_close() == 0). The RSA key is generated here at test time. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "adapters.h"
#include "buf.h"
#include "cred.h"
#include "credentials.h"
#include "http.h"
#include "httpstub.h"
#include "jwt.h"
#include "log.h"
#include "oauth.h"
#include "testutil.h"

static EVP_PKEY *rsa_key;
static char *rsa_pem;

#define TOKEN_A "ya29.c.fake-access-token-AAAAAAAAAAAAAAAAAAAAAAAA"
#define EMAIL   "warmd@example-project.iam.gserviceaccount.com"

struct fx {
	uv_loop_t loop;
	struct http *http;
	struct httpstub *stub;
	char *dir, *sa_path;
	char token_uri[128];
	struct cfg_provider cfg;
	struct cred *cred;
};

static void make_key(void)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	rsa_key = EVP_RSA_gen(2048);
	if (!rsa_key || PEM_write_bio_PrivateKey(b, rsa_key, NULL, NULL, 0, NULL, NULL) != 1)
		abort();
	n = BIO_get_mem_data(b, &p);
	rsa_pem = strndup(p, (size_t)n);
	BIO_free(b);
}

static char *write_sa(const char *dir, const char *name, const char *token_uri)
{
	struct buf b = BUF_INIT;
	char *path;

	buf_puts(&b, "{\"type\": \"service_account\", \"project_id\": \"example-project\", "
	             "\"private_key_id\": \"kid-0001\", \"private_key\": \"");
	for (const char *p = rsa_pem; *p; p++)
		buf_puts(&b, *p == '\n' ? "\\n" : (char[]){ *p, 0 });
	buf_printf(&b, "\", \"client_email\": \"%s\", \"token_uri\": \"%s\"}\n", EMAIL, token_uri);
	path = tu_write(dir, name, b.data);
	buf_free(&b);
	return path;
}

static void fx_init(struct fx *f)
{
	struct errmsg e = { "" };

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	ck_assert_int_eq(http_new(&f->loop, "warmd-test", &f->http), 0);
	f->stub = httpstub_new(&f->loop);
	snprintf(f->token_uri, sizeof(f->token_uri), "%s/token", httpstub_url(f->stub));
	f->dir = tu_tmpdir();
	f->sa_path = write_sa(f->dir, "sa.json", f->token_uri);
	f->cfg.name = (char *)"vertex";
	f->cfg.kind = PROVIDER_VERTEX;
	f->cfg.base_url = (char *)"http://127.0.0.1:1";
	f->cfg.service_account_file = f->sa_path;
	ck_assert_msg(cred_load(&f->cfg, adapter_ops_for(PROVIDER_VERTEX), &f->cred, &e) == 0, "%s",
	              e.text);
}

static void start(struct fx *f, struct cred *c, struct cred *prev)
{
	struct cred_runtime rt = { .loop = &f->loop,
		                   .http = f->http,
		                   .provider = "vertex",
		                   .connect_timeout_ms = 2000,
		                   .timeout_ms = 5000 };

	cred_start(c, prev, &rt);
}

static void fx_fini(struct fx *f)
{
	cred_unref(f->cred);
	http_close(f->http);
	httpstub_close(f->stub);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->sa_path);
}

static struct oauth_stats stats(struct cred *c)
{
	struct oauth_stats s;

	ck_assert(oauth_stats(c, &s));
	return s;
}

/* Runs the loop until pred(c) holds, at most timeout_s. */
static void run_until(struct fx *f, struct cred *c, bool (*pred)(struct cred *), double timeout_s)
{
	uint64_t end = uv_hrtime() + (uint64_t)(timeout_s * 1e9);

	while (!pred(c)) {
		ck_assert_msg(uv_hrtime() < end, "timed out");
		uv_run(&f->loop, UV_RUN_ONCE);
	}
}

static bool has_token(struct cred *c)
{
	return stats(c).has_token;
}

static bool rejected(struct cred *c)
{
	return stats(c).rejected;
}

/* cred_authorize() on a request; the Authorization line, or NULL. */
static int authorize(struct cred *c, struct cred_lines *l, double *retry_at, struct errmsg *e)
{
	struct http_req req = { .url = "http://127.0.0.1:1/x", .body = "{}", .body_len = 2 };

	*retry_at = 0;
	e->text[0] = '\0';
	return cred_authorize(c, &req, 1000.0, l, retry_at, e);
}

/* ---- the assertion, as Google checks it ---- */

static size_t b64url_decode(const char *s, size_t n, unsigned char *out)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		const char *k = strchr(tab, s[i]);
		ck_assert_msg(k && s[i], "not base64url");
		acc = acc << 6 | (uint32_t)(k - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o;
}

/* The claims of the form body's assertion, its RS256 signature verified. */
static json_object *verified_claims(const char *body)
{
	static const char prefix[] =
	        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
	const char *jwt = body + strlen(prefix), *d1, *d2;
	unsigned char sig[512], claims[1024];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t siglen, n;

	ck_assert_msg(strncmp(body, prefix, strlen(prefix)) == 0, "%s", body);
	d1 = strchr(jwt, '.');
	d2 = strrchr(jwt, '.');
	ck_assert(d1 && d2 && d1 != d2);
	siglen = b64url_decode(d2 + 1, strlen(d2 + 1), sig);
	ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, rsa_key), 1);
	ck_assert_int_eq(
	        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt)),
	        1);
	EVP_MD_CTX_free(md);
	n = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), claims);
	claims[n] = '\0';
	return json_tokener_parse((char *)claims);
}

/* ---- tests ---- */

START_TEST(test_load_errors)
{
	char *dir = tu_tmpdir(), *p;
	struct cfg_provider c = { .name = (char *)"v", .kind = PROVIDER_VERTEX };
	struct cred *cr = (struct cred *)&c; /* must stay untouched */
	struct errmsg e = { "" };

	c.service_account_file = (char *)"/nonexistent/sa.json";
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_VERTEX), &cr, &e), -ENOENT);
	ck_assert_ptr_nonnull(strstr(e.text, "/nonexistent/sa.json"));
	p = tu_write(dir, "bad.json",
	             "{\"type\": \"service_account\", \"client_email\": \"a@b\", "
	             "\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n\"}");
	c.service_account_file = p;
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_VERTEX), &cr, &e), -EINVAL);
	ck_assert_msg(strstr(e.text, "service_account_file ") && strstr(e.text, "bad.json") &&
	                      strstr(e.text, "is not a PEM private key"),
	              "%s", e.text);
	free(p);
	p = tu_write(dir, "user.json", "{\"type\": \"authorized_user\", \"client_id\": \"x\"}");
	c.service_account_file = p;
	ck_assert_int_eq(cred_load(&c, adapter_ops_for(PROVIDER_VERTEX), &cr, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "not \"service_account\""));
	ck_assert_ptr_eq(cr, (struct cred *)&c);
	free(p);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_token_and_authorize)
{
	struct fx f;
	struct cred_lines l;
	struct errmsg e;
	double retry_at;
	json_object *cl;
	int64_t now = (int64_t)time(NULL);
	char text[512];

	fx_init(&f);
	/* The fixed lines carry no secret; the key file is the key. */
	ck_assert_str_eq(f.cred->lines[0], "content-type: application/json");
	ck_assert_ptr_null(f.cred->lines[1]);
	ck_assert(f.cred->has_key);
	/* Not started: nothing sent, warms wait. */
	ck_assert_int_eq(authorize(f.cred, &l, &retry_at, &e), -EAGAIN);
	ck_assert_double_gt(retry_at, 1000.0);
	ck_assert_uint_eq(httpstub_requests(f.stub), 0);

	httpstub_answer(f.stub, 200,
	                "{\"access_token\": \"" TOKEN_A "\", \"expires_in\": 3599, "
	                "\"token_type\": \"Bearer\"}");
	start(&f, f.cred, NULL);
	start(&f, f.cred, NULL); /* twice: nothing more */
	ck_assert_int_eq(authorize(f.cred, &l, &retry_at, &e), -EAGAIN);
	ck_assert_msg(strstr(e.text, "waiting for an access token from") &&
	                      strstr(e.text, f.token_uri),
	              "%s", e.text);
	run_until(&f, f.cred, has_token, 10);
	ck_assert_uint_eq(httpstub_requests(f.stub), 1);
	ck_assert_uint_eq(stats(f.cred).exchanges, 1);
	ck_assert_double_gt(stats(f.cred).token_expires_in, 3400);

	/* What Google checks: a POST of the form, an RS256 assertion. */
	ck_assert_msg(strncmp(httpstub_last_head(f.stub), "POST /token HTTP/1.1\r\n", 22) == 0,
	              "%s", httpstub_last_head(f.stub));
	ck_assert_ptr_nonnull(
	        strcasestr(httpstub_last_head(f.stub),
	                   "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
	cl = verified_claims(httpstub_last_body(f.stub));
	ck_assert_str_eq(json_object_get_string(json_object_object_get(cl, "iss")), EMAIL);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(cl, "aud")), f.token_uri);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(cl, "scope")),
	                 "https://www.googleapis.com/auth/cloud-platform");
	ck_assert_int_le(llabs(json_object_get_int64(json_object_object_get(cl, "iat")) - now), 5);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(cl, "exp")) -
	                         json_object_get_int64(json_object_object_get(cl, "iat")),
	                 3600);
	json_object_put(cl);

	/* Each request's own line. */
	ck_assert_int_eq(authorize(f.cred, &l, &retry_at, &e), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.v[0], "Authorization: Bearer " TOKEN_A);
	cred_lines_wipe(&l);

	/* The scrubber knows the token, the assertion and the private key. */
	snprintf(text, sizeof(text), "echo: %s.", TOKEN_A + 10);
	cred_scrub(text);
	ck_assert_str_eq(text, "echo: [key].");
	snprintf(text, sizeof(text), "assertion %.40s", httpstub_last_body(f.stub) + 200);
	cred_scrub(text);
	ck_assert_str_eq(text, "assertion [key]");
	snprintf(text, sizeof(text), "key %.30s", rsa_pem + 100);
	cred_scrub(text);
	ck_assert_str_eq(text, "key [key]");
	fx_fini(&f);
}
END_TEST

/* A token of 3 s: refreshed at 2.4 s, used until 2.7 s; a request at any
 * moment finds one. */
START_TEST(test_refresh_without_gap)
{
	struct fx f;
	struct cred_lines l;
	struct errmsg e;
	double retry_at;
	uint64_t end;
	unsigned checks = 0;
	char text[128];

	fx_init(&f);
	httpstub_answer(f.stub, 200, "{\"access_token\": \"" TOKEN_A "\", \"expires_in\": 3}");
	start(&f, f.cred, NULL);
	run_until(&f, f.cred, has_token, 10);
	end = uv_hrtime() + (uint64_t)7.5e9;
	while (uv_hrtime() < end) {
		uv_run(&f.loop, UV_RUN_NOWAIT);
		ck_assert_msg(authorize(f.cred, &l, &retry_at, &e) == 0, "%s", e.text);
		cred_lines_wipe(&l);
		checks++;
		usleep(20000);
	}
	ck_assert_uint_gt(checks, 100);
	ck_assert_uint_ge(stats(f.cred).tokens, 3);
	ck_assert_uint_le(stats(f.cred).tokens, 5);
	ck_assert_uint_eq(stats(f.cred).exchanges, stats(f.cred).tokens);
	snprintf(text, sizeof(text), "%s", TOKEN_A);
	cred_scrub(text);
	ck_assert_str_eq(text, "[key]");
	fx_fini(&f);
}
END_TEST

/* A failed exchange is retried (1 s later); warms wait without failing. */
START_TEST(test_transient_failure)
{
	struct fx f;
	struct cred_lines l;
	struct errmsg e;
	double retry_at;

	fx_init(&f);
	httpstub_answer(f.stub, 503, "{\"error\": \"backend_error\"}");
	httpstub_answer(f.stub, 200, "{\"access_token\": \"" TOKEN_A "\", \"expires_in\": 3599}");
	start(&f, f.cred, NULL);
	do {
		uv_run(&f.loop, UV_RUN_ONCE);
		ck_assert_int_eq(authorize(f.cred, &l, &retry_at, &e), -EAGAIN);
	} while (!strstr(e.text, "HTTP 503"));
	ck_assert_msg(strstr(e.text, "waiting for an access token: no token from") &&
	                      strstr(e.text, "HTTP 503"),
	              "%s", e.text);
	ck_assert_double_ge(retry_at, 1000.9); /* the retry in a second, then a look */
	ck_assert_double_le(retry_at, 1001.0 + OAUTH_LOOK_AGAIN_S + 0.01);
	run_until(&f, f.cred, has_token, 10);
	ck_assert_uint_eq(stats(f.cred).exchanges, 2);
	ck_assert_uint_eq(stats(f.cred).refusals, 0);
	fx_fini(&f);
}
END_TEST

/* A wrong key: refused three times, then the credential is rejected once
 * (-EKEYREJECTED with Google's words), and asked again it tries afresh. */
START_TEST(test_refused)
{
	struct fx f;
	struct cred_lines l;
	struct errmsg e;
	double retry_at;
	unsigned long before;

	fx_init(&f);
	httpstub_answer(f.stub, 400,
	                "{\"error\": \"invalid_grant\", \"error_description\": \"Invalid JWT "
	                "Signature.\"}");
	start(&f, f.cred, NULL);
	run_until(&f, f.cred, rejected, 15);
	ck_assert_uint_eq(stats(f.cred).exchanges, OAUTH_REFUSALS_FATAL);
	ck_assert_uint_eq(stats(f.cred).refusals, OAUTH_REFUSALS_FATAL);
	ck_assert_int_eq(authorize(f.cred, &l, &retry_at, &e), -EKEYREJECTED);
	ck_assert_msg(strstr(e.text, f.token_uri) &&
	                      strstr(e.text, "refused the service account " EMAIL
	                                     ": HTTP 400 invalid_grant: Invalid JWT Signature."),
	              "%s", e.text);
	before = stats(f.cred).exchanges;
	ck_assert_int_eq(authorize(f.cred, &l, &retry_at, &e), -EAGAIN);
	ck_assert(!stats(f.cred).rejected);
	ck_assert_uint_eq(stats(f.cred).exchanges, before + 1);
	fx_fini(&f);
}
END_TEST

/* A reload with the same key file: the new credential takes the token
 * over, no exchange; another file: its own exchange. */
START_TEST(test_reload_takes_token_over)
{
	struct fx f;
	struct cred *next = NULL, *other = NULL;
	struct cred_lines l;
	struct errmsg e = { "" };
	double retry_at;
	char *p;

	fx_init(&f);
	httpstub_answer(f.stub, 200, "{\"access_token\": \"" TOKEN_A "\", \"expires_in\": 3599}");
	start(&f, f.cred, NULL);
	run_until(&f, f.cred, has_token, 10);
	ck_assert_int_eq(cred_load(&f.cfg, adapter_ops_for(PROVIDER_VERTEX), &next, &e), 0);
	ck_assert(cred_same_key(f.cred, next));
	start(&f, next, f.cred);
	ck_assert_int_eq(authorize(next, &l, &retry_at, &e), 0);
	ck_assert_str_eq(l.v[0], "Authorization: Bearer " TOKEN_A);
	cred_lines_wipe(&l);
	ck_assert_uint_eq(httpstub_requests(f.stub), 1);

	p = write_sa(f.dir, "other.json", f.token_uri); /* same key, other bytes */
	{
		FILE *fp = fopen(p, "a");
		fputs(" \n", fp);
		fclose(fp);
	}
	f.cfg.service_account_file = p;
	ck_assert_int_eq(cred_load(&f.cfg, adapter_ops_for(PROVIDER_VERTEX), &other, &e), 0);
	ck_assert(!cred_same_key(next, other));
	start(&f, other, next);
	ck_assert_int_eq(authorize(other, &l, &retry_at, &e), -EAGAIN);
	run_until(&f, other, has_token, 10);
	ck_assert_uint_eq(httpstub_requests(f.stub), 2);
	cred_unref(next);
	cred_unref(other);
	f.cfg.service_account_file = f.sa_path;
	free(p);
	fx_fini(&f);
}
END_TEST

/* A key file others can read is warned about, like an api_key_file. */
START_TEST(test_open_key_file_warning)
{
	struct fx f;
	struct cred *c = NULL;
	struct errmsg e = { "" };

	fx_init(&f);
	ck_assert_int_eq(chmod(f.sa_path, 0644), 0);
	ck_assert_int_eq(cred_load(&f.cfg, adapter_ops_for(PROVIDER_VERTEX), &c, &e), 0);
	ck_assert_msg(strstr(c->warning, "service_account_file ") &&
	                      strstr(c->warning, "is open to every user (mode 0644)"),
	              "%s", c->warning);
	cred_unref(c);
	ck_assert_int_eq(chmod(f.sa_path, 0600), 0);
	ck_assert_int_eq(cred_load(&f.cfg, adapter_ops_for(PROVIDER_VERTEX), &c, &e), 0);
	ck_assert_str_eq(c->warning, "");
	cred_unref(c);
	fx_fini(&f);
}
END_TEST

/* The last reference goes mid-exchange: the request is cancelled, the
 * timer closed, nothing fires later, the loop closes. */
START_TEST(test_free_in_flight)
{
	struct fx f;

	fx_init(&f);
	httpstub_answer(f.stub, 200, "{\"access_token\": \"" TOKEN_A "\", \"expires_in\": 3599}");
	start(&f, f.cred, NULL);
	ck_assert_uint_eq(http_active(f.http), 1);
	cred_unref(f.cred);
	f.cred = NULL;
	ck_assert_uint_eq(http_active(f.http), 0);
	uv_run(&f.loop, UV_RUN_NOWAIT);
	fx_fini(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("oauth");
	TCase *tc = tcase_create("oauth");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERR);
	make_key();
	if (http_global_init() < 0)
		return 1;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_token_and_authorize);
	tcase_add_test(tc, test_refresh_without_gap);
	tcase_add_test(tc, test_transient_failure);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_reload_takes_token_over);
	tcase_add_test(tc, test_free_in_flight);
	tcase_add_test(tc, test_open_key_file_warning);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	http_global_cleanup();
	EVP_PKEY_free(rsa_key);
	free(rsa_pem);
	return failed ? 1 : 0;
}

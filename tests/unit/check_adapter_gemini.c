/* check_adapter_gemini: the Gemini adapter (core/adapter_gemini.c) and its
 * managed caches' ops, through template_from_bytes() and the ops tables:
 * generateContent's warm body byte for byte, the prefix before the last
 * turn, a cachedContents template as a managed cache, the ttl renewal and
 * delete requests, usage, errors and times. Templates use ' for ". */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_gemini.h"
#include "adapters.h"
#include "adapterutil.h"
#include "template.h"
#include "testutil.h"

static char base_url[] = "https://generativelanguage.googleapis.com/v1beta";
static char prov_name[] = "gemini";
static char tgt_name[] = "support";
static char model[] = "gemini-2.5-flash";
static char model_pro[] = "models/gemini-2.5-pro";
static struct cfg_provider prov = { .name = prov_name,
	                            .kind = PROVIDER_GEMINI,
	                            .base_url = base_url };
static struct cfg_target tgt = {
	.name = tgt_name, .provider = prov_name, .ttl_s = 300, .model = model
};
static struct cfg_target tgt_pro = {
	.name = tgt_name, .provider = prov_name, .ttl_s = 300, .model = model_pro
};
static struct cfg_target tgt_none = { .name = tgt_name, .provider = prov_name, .ttl_s = 300 };

static const struct adapter_cache_ops *cops = &adapter_gemini_cache_ops;

/* helpers (adapterutil.h) for the targets above */
#define BUILD_OK_T(ct, tq)           au_build_ok(ct, &prov, tq, __LINE__)
#define EXPECT_ERR_T(ct, tq, needle) au_expect_err(ct, &prov, tq, -EINVAL, needle, __LINE__)

#define SYS  "'systemInstruction':{'parts':[{'text':'Sys'}]}"
#define U(x) "{'role':'user','parts':[{'text':'" x "'}]}"
#define M(x) "{'role':'model','parts':[{'text':'" x "'}]}"

START_TEST(test_registry)
{
	ck_assert_ptr_eq(adapter_ops_for(PROVIDER_GEMINI), &adapter_gemini_ops);
	ck_assert_ptr_eq(adapter_gemini_ops.cache, cops);
	ck_assert(adapter_gemini_ops.key_required);
}
END_TEST

/* The fixture ends with the model's function call: answered, after the
 * whole template, which is then all prefix; every generationConfig field
 * but the budget is kept. */
START_TEST(test_generate_fixture)
{
	struct tmpl *t = au_expect_fixture_warm(&tgt, &prov, "gemini/generate", __LINE__);

	ck_assert_str_eq(t->url, "https://generativelanguage.googleapis.com/v1beta/models/"
	                         "gemini-2.5-flash:generateContent");
	ck_assert_str_eq(t->model, "gemini-2.5-flash");
	ck_assert_int_eq(t->max_tokens, 1);
	ck_assert_int_eq(t->min_cacheable, 1024);
	ck_assert_str_eq(t->notes, "maxOutputTokens 1, appended a user turn");
	ck_assert(!t->managed);
	tmpl_unref(t);
}
END_TEST

START_TEST(test_generate_body)
{
	struct tmpl *a, *b, *c, *d;

	/* ends with a user turn: sent as it is, but for the budget */
	a = BUILD_OK_T(&tgt, "{" SYS ",'contents':[" U("q1") "]}");
	ck_assert_str_eq(a->body, Q("{" SYS ",'contents':[" U(
	                                  "q1") "],"
	                                        "'generationConfig':{'maxOutputTokens':1}}"));
	ck_assert_str_eq(a->notes, "maxOutputTokens 1");
	/* the prefix is everything before the last turn: a new question is the same version */
	b = BUILD_OK_T(&tgt, "{" SYS ",'contents':[" U("another question") "]}");
	ck_assert_str_eq(a->version, b->version);
	/* the system instruction, the model and earlier turns are in it */
	c = BUILD_OK_T(&tgt, "{'systemInstruction':{'parts':[{'text':'Other'}]},'contents':[" U(
	                             "q1") "]}");
	ck_assert_str_ne(a->version, c->version);
	d = BUILD_OK_T(&tgt_pro, "{" SYS ",'contents':[" U("q1") "]}");
	ck_assert_str_ne(a->version, d->version);
	ck_assert_str_eq(d->model, "gemini-2.5-pro");
	ck_assert_int_eq(d->min_cacheable, 4096);
	tmpl_unref(c);
	c = BUILD_OK_T(&tgt, "{" SYS ",'contents':[" U("q0") "," M("a0") "," U("q1") "]}");
	tmpl_unref(d);
	d = BUILD_OK_T(&tgt, "{" SYS ",'contents':[" U("q0") "," M("a0") "," U("q2") "]}");
	ck_assert_str_eq(c->version, d->version);
	ck_assert_str_ne(a->version, c->version);
	/* ends with the model's text: a user turn "." after it */
	tmpl_unref(d);
	d = BUILD_OK_T(&tgt,
	               "{'contents':[" U("q0") "," M("a0") "],'generationConfig':{'topK':3}}");
	ck_assert_str_eq(d->body,
	                 Q("{'contents':[" U("q0") "," M("a0") "," U(
	                         ".") "],"
	                              "'generationConfig':{'topK':3,'maxOutputTokens':1}}"));
	tmpl_unref(a);
	tmpl_unref(b);
	tmpl_unref(c);
	tmpl_unref(d);
}
END_TEST

START_TEST(test_generate_errors)
{
	EXPECT_ERR_T(&tgt_none, "{'contents':[" U("q") "]}", "needs the target's model");
	EXPECT_ERR_T(&tgt, "{'contents':[]}", "\"contents\" must not be empty");
	EXPECT_ERR_T(&tgt, "{'contents':{}}", "\"contents\" must be an array");
	EXPECT_ERR_T(&tgt, "{'contents':[{'role':'user'}]}", "contents[0] must be an object");
	EXPECT_ERR_T(&tgt, "{'contents':[" U("q") "],'generationConfig':3}",
	             "\"generationConfig\" must be an object");
	EXPECT_ERR_T(&tgt, "[1]", "must be a JSON object");
}
END_TEST

/* A cachedContents body is a cache warmd manages: created as written. */
START_TEST(test_cache_template)
{
	size_t len;
	char *tj = tu_fixture("gemini/cache.json", &len);
	struct tmpl *t = NULL, *u, *v;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(template_from_bytes(tj, len, &tgt_none, &prov, &t, &e), 0);
	ck_assert(t->managed);
	ck_assert_str_eq(t->url, "https://generativelanguage.googleapis.com/v1beta/cachedContents");
	ck_assert_uint_eq(t->body_len, strlen(t->body));
	ck_assert(strstr(t->body, "\"ttl\":\"3600s\"") && strstr(t->body, "\"displayName\""));
	ck_assert_str_eq(t->model, "gemini-2.5-flash");
	ck_assert_double_eq(t->ttl_s, 3600);
	ck_assert_int_eq(t->max_tokens, 0);
	/* the ttl and the display name are not the cache's content: the same version */
	u = BUILD_OK_T(&tgt, "{'model':'models/gemini-2.5-flash'," SYS
	                     ",'contents':[" U("doc") "],"
	                                              "'ttl':'60s'}");
	v = BUILD_OK_T(&tgt,
	               "{'model':'models/gemini-2.5-flash'," SYS ",'contents':[" U("doc") "]}");
	ck_assert_str_eq(u->version, v->version);
	ck_assert_double_eq(u->ttl_s, 60);
	ck_assert_double_eq(v->ttl_s, 3600); /* the API's default */
	ck_assert_str_eq(v->notes, "no ttl: the API's 1 hour, managed cache: created once, kept "
	                           "alive by its ttl");
	ck_assert_str_ne(t->version, u->version);
	tmpl_unref(t);
	tmpl_unref(u);
	tmpl_unref(v);
	free(tj);
	EXPECT_ERR_T(&tgt, "{'model':'gemini-2.5-flash'," SYS "}", "must be \"models/NAME\"");
	EXPECT_ERR_T(&tgt_pro, "{'model':'models/gemini-2.5-flash'," SYS "}",
	             "the template caches for models/gemini-2.5-flash, but the target's model");
	EXPECT_ERR_T(&tgt, "{'model':'models/gemini-2.5-flash'}", "\"contents\" or a");
	EXPECT_ERR_T(&tgt, "{'model':'models/gemini-2.5-flash'," SYS ",'ttl':'1h'}",
	             "\"ttl\" must be a duration");
	EXPECT_ERR_T(&tgt, "{'model':'models/gemini-2.5-flash'," SYS ",'ttl':3600}",
	             "\"ttl\" must be a duration");
	EXPECT_ERR_T(&tgt,
	             "{'model':'models/gemini-2.5-flash'," SYS
	             ",'expireTime':'2026-12-06T11:00:00Z'}",
	             "takes \"ttl\", not \"expireTime\"");
}
END_TEST

START_TEST(test_cache_requests)
{
	const char *method = NULL;
	char *path = NULL, *body = NULL;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(
	        cops->touch_request("cachedContents/8bq4v0a1x2yz", 3600, &method, &path, &body, &e),
	        0);
	ck_assert_str_eq(method, "PATCH");
	ck_assert_str_eq(path, "/cachedContents/8bq4v0a1x2yz?updateMask=ttl");
	ck_assert_str_eq(body, "{\"ttl\":\"3600s\"}");
	free(path);
	free(body);
	ck_assert_int_eq(
	        cops->touch_request("cachedContents/a_b-c", 2.5, &method, &path, &body, &e), 0);
	ck_assert_str_eq(body, "{\"ttl\":\"2.500s\"}");
	free(path);
	free(body);
	ck_assert_int_eq(cops->delete_request("cachedContents/a_b-c", &method, &path, &e), 0);
	ck_assert_str_eq(method, "DELETE");
	ck_assert_str_eq(path, "/cachedContents/a_b-c");
	free(path);
	/* a name from outside goes into a path: nothing but a cache's name */
	path = body = (char *)&e; /* must stay untouched */
	ck_assert_int_eq(cops->touch_request("cachedContents/../x", 60, &method, &path, &body, &e),
	                 -EINVAL);
	ck_assert_int_eq(cops->touch_request("files/abc", 60, &method, &path, &body, &e), -EINVAL);
	ck_assert_int_eq(cops->delete_request("cachedContents/a?b", &method, &path, &e), -EINVAL);
	ck_assert_int_eq(cops->touch_request("cachedContents/ok", 0, &method, &path, &body, &e),
	                 -EINVAL);
	ck_assert_ptr_eq(path, (char *)&e);
	ck_assert_ptr_eq(body, (char *)&e);
}
END_TEST

START_TEST(test_cache_answers)
{
	size_t len;
	char *body = tu_fixture("gemini/cache_created.json", &len), *name = NULL;
	struct warm_usage u;
	struct errmsg e = { { 0 } };
	double expire = 0;
	int64_t tokens = 0;

	ck_assert_int_eq(cops->parse_created(body, len, &name, &expire, &u, &e), 0);
	ck_assert_str_eq(name, "cachedContents/8bq4v0a1x2yz");
	ck_assert_double_eq_tol(expire, 1796554800.123456, 1e-5);
	ck_assert_int_eq(u.result, WARM_WRITE);
	ck_assert_int_eq(u.write, 32768);
	ck_assert_int_eq(u.read + u.input + u.output, 0);
	free(name);
	free(body);
	body = tu_fixture("gemini/cache_touched.json", &len);
	ck_assert_int_eq(cops->parse_touched(body, len, &expire, &tokens, &u, &e), 0);
	ck_assert_double_eq_tol(expire, 1796558395.5, 1e-6);
	ck_assert_int_eq(tokens, 32768);
	ck_assert_int_eq(u.result, WARM_HIT);
	ck_assert_int_eq(u.read + u.write + u.input + u.output, 0); /* a renewal bills nothing */
	free(body);
	/* an answer that names no cache, or a time that is not one */
	name = (char *)&e;
	ck_assert_int_eq(cops->parse_created("{\"name\":\"x/../y\"}", 17, &name, &expire, &u, &e),
	                 -EPROTO);
	ck_assert_ptr_eq(name, (char *)&e);
	ck_assert_int_eq(
	        cops->parse_touched("{\"expireTime\":\"tomorrow\"}", 25, &expire, &tokens, &u, &e),
	        -EPROTO);
	ck_assert_int_eq(cops->parse_touched("{\"usageMetadata\":{\"totalTokenCount\":-1}}", 40,
	                                     &expire, &tokens, &u, &e),
	                 -EPROTO);
	ck_assert_str_eq(e.text, "usageMetadata.totalTokenCount is negative");
	ck_assert_int_eq(cops->parse_touched("[]", 2, &expire, &tokens, &u, &e), -EPROTO);
	/* gone: 404, or Gemini's 403 for a cache it does not have */
	body = tu_fixture("gemini/error_gone.json", &len);
	ck_assert(cops->gone(403, body, len));
	ck_assert(cops->gone(404, "{}", 2));
	ck_assert(!cops->gone(403, "{\"error\":{\"message\":\"denied\"}}", 30));
	ck_assert(!cops->gone(500, body, len));
	free(body);
}
END_TEST

START_TEST(test_usage)
{
	size_t len;
	char *body = tu_fixture("gemini/response_hit.json", &len);
	struct warm_usage u;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(adapter_gemini_ops.parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_HIT);
	ck_assert_int_eq(u.read, 4096);
	ck_assert_int_eq(u.input, 4210 - 4096);
	ck_assert_int_eq(u.output, 1 + 2); /* thinking is billed as output */
	ck_assert_int_eq(u.write, 0);
	free(body);
	body = tu_fixture("gemini/response_write.json", &len);
	ck_assert_int_eq(adapter_gemini_ops.parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_WRITE);
	ck_assert_int_eq(u.write, 4210);
	ck_assert_int_eq(u.read + u.input, 0);
	free(body);
	ck_assert_int_eq(adapter_gemini_ops.parse_ok(
	                         "{\"usageMetadata\":{\"promptTokenCount\":500}}", 42, &u, &e),
	                 0);
	ck_assert_int_eq(u.result, WARM_NONE);
	ck_assert_int_eq(u.input, 500);
	ck_assert_int_eq(adapter_gemini_ops.parse_ok("{\"candidates\":[]}", 17, &u, &e), -EPROTO);
	ck_assert_str_eq(e.text, "response has no usageMetadata object");
	ck_assert_int_eq(adapter_gemini_ops.parse_ok("{\"usageMetadata\":{\"promptTokenCount\":5,"
	                                             "\"cachedContentTokenCount\":6}}",
	                                             68, &u, &e),
	                 -EPROTO);
	ck_assert_str_eq(e.text, "cachedContentTokenCount 6 exceeds promptTokenCount 5");
	ck_assert_int_eq(adapter_gemini_ops.parse_ok(
	                         "{\"usageMetadata\":{\"promptTokenCount\":\"5\"}}", 42, &u, &e),
	                 -EPROTO);
	ck_assert_int_eq(adapter_gemini_ops.parse_ok("nope", 4, &u, &e), -EPROTO);
}
END_TEST

START_TEST(test_errors_and_headers)
{
	size_t len;
	char *body = tu_fixture("gemini/error_key.json", &len);
	struct adapter_header h[ADAPTER_MAX_HEADERS];
	struct errmsg e = { { 0 } };

	adapter_gemini_ops.parse_error(400, body, len, &e);
	ck_assert_str_eq(e.text, "HTTP 400 INVALID_ARGUMENT: API key not valid. Please pass a "
	                         "valid API key.");
	/* a 400 that rejects the key is the credential's failure, not the request's */
	ck_assert(adapter_gemini_ops.auth_rejected(400, body, len));
	ck_assert(!adapter_gemini_ops.auth_rejected(
	        400, "{\"error\":{\"code\":400,\"status\":\"INVALID_ARGUMENT\"}}", 50));
	ck_assert(!adapter_gemini_ops.auth_rejected(500, body, len));
	ck_assert(!adapter_gemini_ops.auth_rejected(400, "junk", 4));
	free(body);
	ck_assert_int_eq(adapter_gemini_ops.headers("test-key-2", h), 2);
	ck_assert_str_eq(h[1].name, "x-goog-api-key");
	ck_assert_str_eq(h[1].value, "test-key-2");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("adapter_gemini");
	TCase *tc = tcase_create("gemini");

	tcase_add_checked_fixture(tc, NULL, au_teardown);
	tcase_add_test(tc, test_registry);
	tcase_add_test(tc, test_generate_fixture);
	tcase_add_test(tc, test_generate_body);
	tcase_add_test(tc, test_generate_errors);
	tcase_add_test(tc, test_cache_template);
	tcase_add_test(tc, test_cache_requests);
	tcase_add_test(tc, test_cache_answers);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_errors_and_headers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

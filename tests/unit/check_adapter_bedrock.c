/* check_adapter_bedrock: the bedrock kind's adapter (core/adapter_bedrock.c)
 * through template_from_bytes() and the ops table: InvokeModel bodies (the
 * Anthropic rules through anthropic_build_body(), byte for byte), which API
 * a template goes to, the model id in the path (encoded once), the model
 * name prices go by, usage of both APIs, error texts and headers. Converse
 * bodies have their own tests (check_adapter_converse.c).
 *
 * Templates are written with ' for " (see Q()); none contains an apostrophe. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_bedrock.h"
#include "adapters.h"
#include "adapterutil.h"
#include "template.h"
#include "testutil.h"

#define SONNET "anthropic.claude-sonnet-4-5-20250929-v1:0"

static char base_url[] = "https://bedrock-runtime.us-east-1.amazonaws.com";
static char prov_name[] = "bedrock-test";
static char region[] = "us-east-1";
static char tgt_name[] = "support-bot";
static char model[256] = SONNET;
static struct cfg_provider prov = {
	.name = prov_name, .kind = PROVIDER_BEDROCK, .base_url = base_url, .region = region
};
static struct cfg_target tgt = { .name = tgt_name, .provider = prov_name, .ttl_s = 300 };

static void setup(void)
{
	snprintf(model, sizeof(model), "%s", SONNET);
	tgt.model = model;
	tgt.endpoint = ENDPOINT_AUTO;
	tgt.allow_edit = 0;
}

/* helpers (adapterutil.h) for the target above, as setup() leaves it */
#define BUILD_OK(tq)           au_build_ok(&tgt, &prov, tq, __LINE__)
#define EXPECT_ERR(tq, needle) au_expect_err(&tgt, &prov, tq, -EINVAL, needle, __LINE__)
#define ERROR_TEXT(status, body, want)                                                             \
	au_error_text(&adapter_bedrock_ops, status, body, want, __LINE__)

#define SYS_BP                                                                                     \
	"'system':[{'type':'text','text':'Shared prefix.','cache_control':{'type':'ephemeral'}}]"
#define INVOKE(rest) "{'anthropic_version':'bedrock-2023-05-31','max_tokens':300," SYS_BP rest "}"
#define CONVERSE(rest)                                                                             \
	"{'system':[{'text':'Shared prefix.'},{'cachePoint':{'type':'default'}}]" rest "}"
#define USER_HI ",'messages':[{'role':'user','content':'Hi'}]"

/* ---- InvokeModel ------------------------------------------------------------------------ */

START_TEST(test_invoke_fixture_byte_identical)
{
	struct tmpl *t = au_expect_fixture_warm(&tgt, &prov, "bedrock/invoke", __LINE__);

	ck_assert_str_eq(t->url, "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
	                         "anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke");
	ck_assert_str_eq(t->model, SONNET);
	ck_assert_int_eq(t->endpoint, ENDPOINT_INVOKE);
	ck_assert_int_eq(t->max_tokens, 0);
	ck_assert_int_eq(t->min_cacheable, 1024);
	ck_assert_int_eq(t->nbp, 2);
	ck_assert_double_eq(t->ttl_s, 300);
	ck_assert_str_eq(t->unwarmable, "");
	ck_assert_str_eq(t->notes, "max_tokens 0, appended a user turn");
	tmpl_unref(t);
}
END_TEST

/* The Anthropic rules hold: max_tokens 1 with a forced tool, budget
 * thinking is unwarmable (and still has its URL), automatic caching. */
START_TEST(test_invoke_anthropic_rules)
{
	struct tmpl *t = BUILD_OK(INVOKE(",'tool_choice':{'type':'any'},'tools':[{'name':'x',"
	                                 "'input_schema':{'type':'object'}}]" USER_HI));

	ck_assert_int_eq(t->max_tokens, 1);
	tmpl_unref(t);
	t = BUILD_OK(INVOKE(",'thinking':{'type':'enabled','budget_tokens':2000}" USER_HI));
	ck_assert(strstr(t->unwarmable, "budget_tokens 2000") != NULL);
	ck_assert_ptr_null(t->body);
	ck_assert(strstr(t->url, "/invoke") != NULL);
	tmpl_unref(t);
	t = BUILD_OK(
	        "{'anthropic_version':'bedrock-2023-05-31','max_tokens':300,"
	        "'cache_control':{'type':'ephemeral','ttl':'1h'},"
	        "'messages':[{'role':'user','content':'Hi'},{'role':'assistant','content':'Yo'}]}");
	ck_assert_str_eq(t->body,
	                 Q("{'anthropic_version':'bedrock-2023-05-31','max_tokens':0,"
	                   "'messages':[{'role':'user','content':'Hi'},{'role':'assistant',"
	                   "'content':[{'type':'text','text':'Yo','cache_control':{'type':"
	                   "'ephemeral','ttl':'1h'}}]},{'role':'user','content':'.'}]}"));
	ck_assert_double_eq(t->ttl_s, 3600);
	tmpl_unref(t);
}
END_TEST

START_TEST(test_invoke_errors)
{
	EXPECT_ERR("{'max_tokens':300," SYS_BP USER_HI "}",
	           "\"anthropic_version\" must be \"bedrock-2023-05-31\" (Bedrock requires it");
	EXPECT_ERR(INVOKE(",'model':'claude-sonnet-4-5'" USER_HI),
	           "the body must not name a \"model\": Bedrock takes it from the URL (the "
	           "target's model = \"" SONNET "\")");
	EXPECT_ERR("{'anthropic_version':'bedrock-2023-05-31','max_tokens':300" USER_HI "}",
	           "no cache_control breakpoint");
	tgt.model = NULL;
	EXPECT_ERR(INVOKE(USER_HI), "a bedrock target needs model = ");
}
END_TEST

/* ---- which API, which path ---------------------------------------------------------------- */

START_TEST(test_endpoint_detection)
{
	struct tmpl *t = BUILD_OK(INVOKE(USER_HI));
	struct errmsg e = { { 0 } };
	const char *json;

	ck_assert_int_eq(t->endpoint, ENDPOINT_INVOKE);
	tmpl_unref(t);
	t = BUILD_OK(CONVERSE(",'messages':[{'role':'user','content':[{'text':'Hi'}]}]"));
	ck_assert_int_eq(t->endpoint, ENDPOINT_CONVERSE);
	ck_assert(strstr(t->url, "-v1%3A0/converse") != NULL);
	tmpl_unref(t);
	/* max_tokens alone says InvokeModel. */
	EXPECT_ERR("{'max_tokens':3,'messages':[{'role':'user','content':[{'text':'Hi'}]}]}",
	           "\"anthropic_version\" must be");
	tgt.endpoint = ENDPOINT_CONVERSE;
	EXPECT_ERR(INVOKE(USER_HI), "belong to an InvokeModel body");
	tgt.endpoint = ENDPOINT_INVOKE;
	EXPECT_ERR(CONVERSE(",'messages':[{'role':'user','content':[{'text':'Hi'}]}]"),
	           "\"anthropic_version\" must be");
	tgt.endpoint = ENDPOINT_MESSAGES;
	json = Q(INVOKE(USER_HI));
	ck_assert_int_eq(template_from_bytes(json, strlen(json), &tgt, &prov, &t, &e), -EINVAL);
	ck_assert_str_eq(e.text, "a bedrock target's endpoint is invoke or converse");
}
END_TEST

START_TEST(test_model_in_path)
{
	struct tmpl *t;

	snprintf(model, sizeof(model),
	         "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
	         "us.anthropic.claude-opus-4-7-20260101-v1:0");
	t = BUILD_OK(INVOKE(USER_HI));
	ck_assert_str_eq(t->url,
	                 "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
	                 "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile"
	                 "%2Fus.anthropic.claude-opus-4-7-20260101-v1%3A0/invoke");
	/* Prices and minimums go by the model's own name. */
	ck_assert_str_eq(t->model, "anthropic.claude-opus-4-7-20260101-v1:0");
	ck_assert_int_eq(t->min_cacheable, 2048);
	tmpl_unref(t);
	snprintf(model, sizeof(model), "amazon.nova-pro-v1:0");
	t = BUILD_OK(CONVERSE(",'messages':[{'role':'user','content':[{'text':'Hi'}]}]"));
	ck_assert_str_eq(t->model, "amazon.nova-pro-v1:0");
	ck_assert_int_eq(t->min_cacheable, 0); /* not an Anthropic model: unknown */
	tmpl_unref(t);
}
END_TEST

START_TEST(test_model_name)
{
	static const char *const cases[][2] = {
		{ SONNET, SONNET },
		{ "us." SONNET, SONNET },
		{ "global." SONNET, SONNET },
		{ "apac.anthropic.claude-haiku-4-5-20251001-v1:0",
		  "anthropic.claude-haiku-4-5-20251001-v1:0" },
		{ "arn:aws:bedrock:eu-west-1::foundation-model/" SONNET, SONNET },
		{ "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
		  "a1b2c3" },
		{ "us.nova", "us.nova" }, /* no model after the prefix: kept */
	};
	char out[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bedrock_model_name(cases[i][0], out, sizeof(out));
		ck_assert_msg(strcmp(out, cases[i][1]) == 0, "%s -> %s, want %s", cases[i][0], out,
		              cases[i][1]);
	}
}
END_TEST

START_TEST(test_path_segment)
{
	struct buf b = BUF_INIT;

	adapter_path_segment(&b, "a-Z_0.9~:/@ %?#\xc3\xa9", NULL);
	ck_assert_str_eq(b.data, "a-Z_0.9~%3A%2F%40%20%25%3F%23%C3%A9");
	buf_free(&b);
}
END_TEST

/* The model is part of the version: the same body to another model is
 * another cache. */
START_TEST(test_version_covers_model)
{
	struct tmpl *a = BUILD_OK(INVOKE(USER_HI)), *b;

	snprintf(model, sizeof(model), "us.%s", SONNET);
	b = BUILD_OK(INVOKE(USER_HI));
	ck_assert_str_ne(a->version, b->version);
	ck_assert_str_eq(a->model, b->model);
	tmpl_unref(a);
	tmpl_unref(b);
}
END_TEST

/* ---- answers ------------------------------------------------------------------------------ */

static void usage_of(const char *name, enum warm_result want, int64_t read, int64_t write,
                     int64_t input, int64_t output, int line)
{
	char *body = tu_fixture_chomped(name, NULL);
	const char *kept = au_keep(body);

	free(body);
	au_usage_ok(&adapter_bedrock_ops, kept, want, read, write, input, output, line);
}

START_TEST(test_usage)
{
	struct warm_usage u;
	struct errmsg e = { { 0 } };
	const char *body;

	usage_of("bedrock/invoke_response_hit.json", WARM_HIT, 2210, 0, 14, 0, __LINE__);
	usage_of("bedrock/converse_response_hit.json", WARM_HIT, 2210, 0, 9, 1, __LINE__);
	usage_of("bedrock/converse_response_write.json", WARM_WRITE, 0, 2210, 9, 1, __LINE__);
	/* Through json-c (escapes decline the fast path): the same. */
	body = Q("{'output':{'message':{'content':[{'text':'\\u0049'}]}},"
	         "'usage':{'inputTokens':9,'outputTokens':1,'cacheReadInputTokens':70}}");
	ck_assert_int_eq(adapter_bedrock_ops.parse_ok(body, strlen(body), &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_HIT);
	ck_assert_int_eq(u.read, 70);
	body = Q("{'content':[{'text':'\\u0049'}],'usage':{'input_tokens':3,"
	         "'cache_creation_input_tokens':50}}");
	ck_assert_int_eq(adapter_bedrock_ops.parse_ok(body, strlen(body), &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_WRITE);
	ck_assert_int_eq(u.write, 50);
	body = Q("{'usage':{'inputTokens':-1,'outputTokens':1}}");
	ck_assert_int_eq(adapter_bedrock_ops.parse_ok(body, strlen(body), &u, &e), -EPROTO);
	ck_assert_str_eq(e.text, "usage.inputTokens is negative");
	body = "not json";
	ck_assert_int_eq(adapter_bedrock_ops.parse_ok(body, strlen(body), &u, &e), -EPROTO);
}
END_TEST

START_TEST(test_parse_error)
{
	size_t len;
	char *body = tu_fixture_chomped("bedrock/error_signature.json", &len);

	ERROR_TEXT(403, body,
	           "HTTP 403: The request signature we calculated does not match the signature "
	           "you provided. Check your AWS Secret Access Key and signing method. Consult the "
	           "service documentation for details.");
	free(body);
	ERROR_TEXT(400,
	           Q("{'__type':'com.amazon.coral.validate#ValidationException','message':'bad'}"),
	           "HTTP 400 ValidationException: bad");
	ERROR_TEXT(429,
	           Q("{'__type':'ThrottlingException:http://internal/','Message':'slow down'}"),
	           "HTTP 429 ThrottlingException: slow down");
	ERROR_TEXT(400,
	           Q("{'type':'error','error':{'type':'invalid_request_error','message':'x'}}"),
	           "HTTP 400 invalid_request_error: x");
	ERROR_TEXT(502, "<html>Bad Gateway</html>", "HTTP 502: <html>Bad Gateway</html>");
}
END_TEST

START_TEST(test_headers)
{
	struct adapter_header h[ADAPTER_MAX_HEADERS];
	int n = adapter_bedrock_ops.headers("fake-bedrock-api-key-0000", h);

	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(h[0].name, "content-type");
	ck_assert_str_eq(h[1].name, "accept");
	ck_assert_str_eq(h[2].name, "authorization");
	ck_assert_str_eq(h[2].prefix, "Bearer ");
	ck_assert_str_eq(h[2].value, "fake-bedrock-api-key-0000");
	/* Without a key, the credential signs each request (SigV4). */
	ck_assert_int_eq(adapter_bedrock_ops.headers(NULL, h), 2);
	ck_assert(!adapter_bedrock_ops.key_required);
	ck_assert_ptr_eq(adapter_ops_for(PROVIDER_BEDROCK), &adapter_bedrock_ops);
}
END_TEST

static Suite *bedrock_suite(void)
{
	Suite *s = suite_create("adapter_bedrock");
	TCase *tc = tcase_create("invoke");

	tcase_add_checked_fixture(tc, setup, au_teardown);
	tcase_add_test(tc, test_invoke_fixture_byte_identical);
	tcase_add_test(tc, test_invoke_anthropic_rules);
	tcase_add_test(tc, test_invoke_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("route");
	tcase_add_checked_fixture(tc, setup, au_teardown);
	tcase_add_test(tc, test_endpoint_detection);
	tcase_add_test(tc, test_model_in_path);
	tcase_add_test(tc, test_model_name);
	tcase_add_test(tc, test_path_segment);
	tcase_add_test(tc, test_version_covers_model);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_checked_fixture(tc, setup, au_teardown);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_parse_error);
	tcase_add_test(tc, test_headers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bedrock_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

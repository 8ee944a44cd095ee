/* check_adapter_openai: the OpenAI chat and OpenAI-compatible adapters
 * (core/adapter_openai.c), through template_from_bytes() and the ops
 * tables: the warm body byte for byte, versions, usage and error parsing.
 *
 * Templates are written with ' for " (see Q()); none contains an apostrophe. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_openai.h"
#include "adapters.h"
#include "adapterutil.h"
#include "bounds.h"
#include "template.h"
#include "testutil.h"

static char base_url[] = "http://127.0.0.1:9/v1";
static char prov_name[] = "openai-test";
static char tgt_name[] = "support-bot";
static char cache_key[] = "support-v3";
static struct cfg_provider prov = { .name = prov_name,
	                            .kind = PROVIDER_OPENAI,
	                            .base_url = base_url };
static struct cfg_target tgt = { .name = tgt_name, .provider = prov_name, .ttl_s = 300 };
static struct cfg_target tgt_chat = {
	.name = tgt_name, .provider = prov_name, .ttl_s = 300, .endpoint = ENDPOINT_CHAT
};
static struct cfg_target tgt_responses = {
	.name = tgt_name, .provider = prov_name, .ttl_s = 300, .endpoint = ENDPOINT_RESPONSES
};
static struct cfg_target tgt_prewarm = { .name = tgt_name,
	                                 .provider = prov_name,
	                                 .ttl_s = 300,
	                                 .endpoint = ENDPOINT_AUTO,
	                                 .warm_mode = WARM_MODE_PREWARM };
static struct cfg_target tgt_key = {
	.name = tgt_name, .provider = prov_name, .ttl_s = 300, .cache_key = cache_key
};

/* ---- helpers (adapterutil.h) for the targets above ----------------------------------- */

static struct tmpl *expect_warm_t(const struct cfg_target *ct, const char *tq, const char *wq,
                                  int line)
{
	struct tmpl *t = au_expect_warm(ct, &prov, tq, wq, line);

	/* chat asks for one token, responses for the API's minimum of 16 */
	if (t->max_tokens != (t->endpoint == ENDPOINT_RESPONSES ? 16 : 1)) {
		int mt = t->max_tokens;
		tmpl_unref(t);
		ck_abort_msg("line %d: max_tokens %d", line, mt);
	}
	return t;
}
#define EXPECT_WARM(tq, wq)          expect_warm_t(&tgt, tq, wq, __LINE__)
#define EXPECT_WARM_KEY(tq, wq)      expect_warm_t(&tgt_key, tq, wq, __LINE__)
#define EXPECT_ERR_T(ct, tq, needle) au_expect_err(ct, &prov, tq, -EINVAL, needle, __LINE__)
#define EXPECT_ERR(tq, needle)       EXPECT_ERR_T(&tgt, tq, needle)
#define EXPECT_NOTES(t, needle)      au_expect_notes(t, needle, __LINE__)
#define USAGE_OK(b, res, rd, wr, in, out)                                                          \
	au_usage_ok(&adapter_openai_ops, Q(b), res, rd, wr, in, out, __LINE__)
#define COMPAT_OK(b, res, rd, wr, in, out)                                                         \
	au_usage_ok(&adapter_openai_compat_ops, Q(b), res, rd, wr, in, out, __LINE__)
#define USAGE_ERR(b, needle)  au_usage_err(&adapter_openai_ops, Q(b), needle, __LINE__)
#define COMPAT_ERR(b, needle) au_usage_err(&adapter_openai_compat_ops, Q(b), needle, __LINE__)
#define ERROR_TEXT(status, body, want)                                                             \
	au_error_text(&adapter_openai_ops, status, body, want, __LINE__)

#define MSGS_USER "'messages':[{'role':'system','content':'Sys'},{'role':'user','content':'Hi'}]"

/* ---- the warm body -------------------------------------------------------------------- */

START_TEST(test_full_template_byte_identical)
{
	struct tmpl *t = au_expect_fixture_warm(&tgt, &prov, "openai/full", __LINE__);

	ck_assert_str_eq(t->url, "http://127.0.0.1:9/v1/chat/completions");
	ck_assert_str_eq(t->model, "gpt-4.1");
	ck_assert_int_eq(t->endpoint, ENDPOINT_CHAT);
	ck_assert_int_eq(t->max_tokens, 1);
	ck_assert_str_eq(t->unwarmable, "");
	ck_assert_str_eq(t->notes, "max_tokens 1, stream false, dropped stream_options");
	ck_assert_int_gt(t->prefix_tokens_est, 100);
	tmpl_unref(t);
}
END_TEST

START_TEST(test_url)
{
	struct tmpl *t = au_build_ok(&tgt, &prov, "{'model':'gpt-4.1'," MSGS_USER "}", __LINE__);
	size_t n = strlen(t->url), s = strlen("/v1/chat/completions");

	ck_assert_uint_ge(n, s);
	ck_assert_str_eq(t->url + n - s, "/v1/chat/completions");
	ck_assert_str_eq(t->url, "http://127.0.0.1:9/v1/chat/completions");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_max_tokens_in_place)
{
	struct tmpl *t = EXPECT_WARM("{'model':'o3','max_tokens':4096," MSGS_USER ",'seed':1}",
	                             "{'model':'o3','max_tokens':1," MSGS_USER ",'seed':1}");

	ck_assert_str_eq(t->notes, "max_tokens 1");
	tmpl_unref(t);
	t = EXPECT_WARM("{'model':'gpt-4.1','max_completion_tokens':4096," MSGS_USER ",'seed':1}",
	                "{'model':'gpt-4.1','max_completion_tokens':1," MSGS_USER ",'seed':1}");
	ck_assert_str_eq(t->notes, "max_completion_tokens 1");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_max_tokens_appended)
{
	static const struct {
		const char *model, *field;
	} cases[] = {
		{ "gpt-4.1", "max_tokens" },          { "gpt-4o-mini", "max_tokens" },
		{ "o3", "max_completion_tokens" },    { "o4-mini", "max_completion_tokens" },
		{ "gpt-5", "max_completion_tokens" }, { "gpt-5-mini", "max_completion_tokens" },
	};
	char tq[512], wq[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tmpl *t;
		snprintf(tq, sizeof(tq), "{'model':'%s'," MSGS_USER ",'temperature':1.0}",
		         cases[i].model);
		snprintf(wq, sizeof(wq), "{'model':'%s'," MSGS_USER ",'temperature':1.0,'%s':1}",
		         cases[i].model, cases[i].field);
		t = expect_warm_t(&tgt, tq, wq, __LINE__);
		ck_assert_str_eq(t->notes, strcmp(cases[i].field, "max_tokens") == 0
		                                   ? "max_tokens 1"
		                                   : "max_completion_tokens 1");
		tmpl_unref(t);
		au_teardown();
	}
}
END_TEST

START_TEST(test_is_reasoning_model)
{
	static const char *const yes[] = { "o1",    "o3",         "o3-mini", "o4-mini",
		                           "gpt-5", "gpt-5-mini", "gpt-5.1" };
	static const char *const no[] = { "gpt-4.1",
		                          "gpt-4o",
		                          "gpt-4o-mini",
		                          "gpt-3.5-turbo",
		                          "chatgpt-4o-latest",
		                          "omni-moderation-latest",
		                          "o",
		                          "local-model" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(adapter_openai_is_reasoning_model(yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!adapter_openai_is_reasoning_model(no[i]), "%s", no[i]);
}
END_TEST

START_TEST(test_stream)
{
	struct tmpl *t =
	        EXPECT_WARM("{'model':'gpt-4.1','stream':true,"
	                    "'stream_options':{'include_usage':true},'max_tokens':9," MSGS_USER "}",
	                    "{'model':'gpt-4.1','stream':false,'max_tokens':1," MSGS_USER "}");

	ck_assert_str_eq(t->notes, "max_tokens 1, stream false, dropped stream_options");
	tmpl_unref(t);
	/* stream:false stays as it is. */
	t = EXPECT_WARM("{'model':'gpt-4.1','stream':false,'max_tokens':9," MSGS_USER "}",
	                "{'model':'gpt-4.1','stream':false,'max_tokens':1," MSGS_USER "}");
	ck_assert_str_eq(t->notes, "max_tokens 1");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_cache_key)
{
	struct tmpl *t;

	/* From the config when the template has none: appended at the end. */
	t = EXPECT_WARM_KEY("{'model':'gpt-4.1'," MSGS_USER "}",
	                    "{'model':'gpt-4.1'," MSGS_USER
	                    ",'max_tokens':1,'prompt_cache_key':'support-v3'}");
	EXPECT_NOTES(t, "prompt_cache_key from config");
	tmpl_unref(t);
	/* The same key in both: kept where it is, not duplicated. */
	t = EXPECT_WARM_KEY(
	        "{'model':'gpt-4.1','prompt_cache_key':'support-v3','max_tokens':50," MSGS_USER "}",
	        "{'model':'gpt-4.1','prompt_cache_key':'support-v3','max_tokens':1," MSGS_USER "}");
	ck_assert_str_eq(t->notes, "max_tokens 1");
	tmpl_unref(t);
	/* No key anywhere: none added. */
	t = EXPECT_WARM("{'model':'gpt-4.1','max_tokens':50," MSGS_USER "}",
	                "{'model':'gpt-4.1','max_tokens':1," MSGS_USER "}");
	tmpl_unref(t);
	/* A different key is an error naming both. */
	EXPECT_ERR_T(&tgt_key, "{'model':'gpt-4.1','prompt_cache_key':'other-key'," MSGS_USER "}",
	             "prompt_cache_key \"other-key\" differs from the target's cache_key "
	             "\"support-v3\"");
	EXPECT_ERR("{'model':'gpt-4.1','prompt_cache_key':7," MSGS_USER "}",
	           "\"prompt_cache_key\" must be a string");
}
END_TEST

START_TEST(test_ends_with_assistant)
{
	struct tmpl *t = EXPECT_WARM("{'model':'gpt-4.1','messages':[{'role':'user',"
	                             "'content':'Hi'},{'role':'assistant','content':'Hello!'}],"
	                             "'max_tokens':5}",
	                             "{'model':'gpt-4.1','messages':[{'role':'user',"
	                             "'content':'Hi'},{'role':'assistant','content':'Hello!'},"
	                             "{'role':'user','content':'.'}],'max_tokens':1}");

	EXPECT_NOTES(t, "appended a user turn");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_ends_with_tool_calls)
{
	struct tmpl *t = EXPECT_WARM(
	        "{'model':'gpt-4.1','messages':[{'role':'user','content':'Weather?'},"
	        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_test_01',"
	        "'type':'function','function':{'name':'get_weather',"
	        "'arguments':'{\\'location\\':\\'Paris\\'}'}},{'id':'call_test_02',"
	        "'type':'function','function':{'name':'get_weather','arguments':'{}'}}]}],"
	        "'max_tokens':5}",
	        "{'model':'gpt-4.1','messages':[{'role':'user','content':'Weather?'},"
	        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_test_01',"
	        "'type':'function','function':{'name':'get_weather',"
	        "'arguments':'{\\'location\\':\\'Paris\\'}'}},{'id':'call_test_02',"
	        "'type':'function','function':{'name':'get_weather','arguments':'{}'}}]},"
	        "{'role':'tool','tool_call_id':'call_test_01','content':'.'},{'role':'tool',"
	        "'tool_call_id':'call_test_02','content':'.'}],'max_tokens':1}");

	tmpl_unref(t);
}
END_TEST

START_TEST(test_template_errors)
{
	EXPECT_ERR_T(&tgt_chat,
	             "{'model':'gpt-4.1','input':[{'role':'user','content':'Hi'}],"
	             "'max_output_tokens':100}",
	             "Responses API");
	EXPECT_ERR_T(&tgt_responses,
	             "{'model':'gpt-4.1','messages':[{'role':'user','content':'Hi'}]}",
	             "chat completions");
	EXPECT_ERR_T(&tgt_prewarm,
	             "{'model':'gpt-4.1','messages':[{'role':'user','content':'Hi'}]}", "prewarm");
	EXPECT_ERR("{'messages':[{'role':'user','content':'Hi'}]}", "\"model\"");
	EXPECT_ERR("{'model':'','messages':[{'role':'user','content':'Hi'}]}", "\"model\"");
	EXPECT_ERR("{'model':'gpt-4.1'}", "\"messages\"");
	EXPECT_ERR("{'model':'gpt-4.1','messages':[]}", "\"messages\"");
	EXPECT_ERR("{'model':'gpt-4.1','messages':{'role':'user'}}", "\"messages\"");
	EXPECT_ERR("{'model':'gpt-4.1','messages':[{'role':'user','content':'Hi'},'oops']}",
	           "messages[1]");
	EXPECT_ERR("{'model':'gpt-4.1','messages':[{'content':'Hi'}]}", "messages[0]");
	EXPECT_ERR("{'model':'gpt-4.1','messages':[{'role':5,'content':'Hi'}]}", "messages[0]");
	EXPECT_ERR("{'model':'gpt-4.1','stream':1," MSGS_USER "}", "\"stream\"");
	EXPECT_ERR("['gpt-4.1']", "JSON object");
}
END_TEST

/* ---- versions ------------------------------------------------------------------------- */

#define VTOOLS                                                                                     \
	"'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object'}}}]"

static void version_of(const struct cfg_target *ct, const char *tq, char out[65], int line)
{
	struct tmpl *t = au_build_ok(ct, &prov, tq, line);

	ck_assert_uint_eq(strlen(t->version), 64);
	ck_assert(strncmp(t->short_version, t->version, 12) == 0 && t->short_version[12] == '\0');
	memcpy(out, t->version, 65);
	tmpl_unref(t);
}

START_TEST(test_versions)
{
	char v0[65], v[65];
	static const char *const differ[] = {
		"{'model':'gpt-4.1'," VTOOLS ",'messages':[{'role':'system','content':'Sys'},"
		"{'role':'user','content':'Hello'}]}",
		"{'model':'gpt-4.1'," VTOOLS
		",'messages':[{'role':'system','content':'Sys2'},{'role':'user','content':'Hi'}]}",
		"{'model':'gpt-4.1','tools':[{'type':'function','function':{'name':'g',"
		"'parameters':{'type':'object'}}}]," MSGS_USER "}",
		"{'model':'gpt-4.1'," MSGS_USER "}",
		"{'model':'gpt-4o'," VTOOLS "," MSGS_USER "}",
		"{'model':'gpt-4.1'," VTOOLS "," MSGS_USER
		",'response_format':{'type':'json_object'}}",
		"{'model':'gpt-4.1'," VTOOLS "," MSGS_USER ",'prompt_cache_key':'k2'}",
	};
	static const char *const same[] = {
		"{'model':'gpt-4.1'," VTOOLS "," MSGS_USER ",'max_tokens':99,'temperature':0.1}",
		"{'stream':true,'stream_options':{'include_usage':true},'model':'gpt-4.1'," VTOOLS
		"," MSGS_USER ",'metadata':{'a':'b'}}",
	};

	version_of(&tgt, "{'model':'gpt-4.1'," VTOOLS "," MSGS_USER "}", v0, __LINE__);
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		version_of(&tgt, differ[i], v, __LINE__);
		ck_assert_msg(strcmp(v, v0) != 0, "differ[%zu]: same version", i);
	}
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		version_of(&tgt, same[i], v, __LINE__);
		ck_assert_msg(strcmp(v, v0) == 0, "same[%zu]: version changed", i);
	}
	/* The target's cache key is part of the version... */
	version_of(&tgt_key, "{'model':'gpt-4.1'," VTOOLS "," MSGS_USER "}", v, __LINE__);
	ck_assert_str_ne(v, v0);
	/* ...and the same key in the template gives the same version. */
	memcpy(v0, v, sizeof(v));
	version_of(&tgt,
	           "{'model':'gpt-4.1'," VTOOLS "," MSGS_USER ",'prompt_cache_key':'support-v3'}",
	           v, __LINE__);
	ck_assert_str_eq(v, v0);
}
END_TEST

/* ---- responses ------------------------------------------------------------------------ */

START_TEST(test_responses_warm)
{
	struct tmpl *t;

	/* auto: "input" means the Responses API; 16 output tokens, the API minimum */
	t = EXPECT_WARM("{'model':'gpt-5','instructions':'Be brief.','input':[{'role':'user',"
	                "'content':[{'type':'input_text','text':'Hi'}]}],'max_output_tokens':2000,"
	                "'reasoning':{'effort':'low'},'prompt_cache_key':'k1','store':false}",
	                "{'model':'gpt-5','instructions':'Be brief.','input':[{'role':'user',"
	                "'content':[{'type':'input_text','text':'Hi'}]}],'max_output_tokens':16,"
	                "'reasoning':{'effort':'low'},'prompt_cache_key':'k1','store':false}");
	ck_assert_str_eq(t->url, "http://127.0.0.1:9/v1/responses");
	ck_assert_int_eq(t->endpoint, ENDPOINT_RESPONSES);
	ck_assert_int_eq(t->max_tokens, 16);
	tmpl_unref(t);
	/* a string input is a user turn; stream off, its options gone, budget appended */
	t = EXPECT_WARM("{'model':'gpt-4.1','input':'Hello there','stream':true,"
	                "'stream_options':{'include_obfuscation':false}}",
	                "{'model':'gpt-4.1','input':'Hello there','stream':false,"
	                "'max_output_tokens':16}");
	tmpl_unref(t);
	/* ending with the assistant: a user turn; ending with function calls: their outputs */
	t = EXPECT_WARM("{'model':'gpt-4.1','input':[{'role':'user','content':'Hi'},"
	                "{'role':'assistant','content':'Hello!'}]}",
	                "{'model':'gpt-4.1','input':[{'role':'user','content':'Hi'},"
	                "{'role':'assistant','content':'Hello!'},{'role':'user','content':'.'}],"
	                "'max_output_tokens':16}");
	tmpl_unref(t);
	t = EXPECT_WARM("{'model':'gpt-4.1','input':[{'role':'user','content':'Weather?'},"
	                "{'type':'function_call','call_id':'c1','name':'w','arguments':'{}'},"
	                "{'type':'function_call','call_id':'c2','name':'w','arguments':'{}'}]}",
	                "{'model':'gpt-4.1','input':[{'role':'user','content':'Weather?'},"
	                "{'type':'function_call','call_id':'c1','name':'w','arguments':'{}'},"
	                "{'type':'function_call','call_id':'c2','name':'w','arguments':'{}'},"
	                "{'type':'function_call_output','call_id':'c1','output':'.'},"
	                "{'type':'function_call_output','call_id':'c2','output':'.'}],"
	                "'max_output_tokens':16}");
	tmpl_unref(t);
	/* a custom tool call is answered with its own output type */
	t = EXPECT_WARM("{'model':'gpt-5','input':[{'role':'user','content':'Diff?'},"
	                "{'type':'custom_tool_call','call_id':'c9','name':'patch','input':'x'}]}",
	                "{'model':'gpt-5','input':[{'role':'user','content':'Diff?'},"
	                "{'type':'custom_tool_call','call_id':'c9','name':'patch','input':'x'},"
	                "{'type':'custom_tool_call_output','call_id':'c9','output':'.'}],"
	                "'max_output_tokens':16}");
	tmpl_unref(t);
	/* a finished server-side call needs no answer: a user turn follows it */
	t = EXPECT_WARM("{'model':'gpt-5','input':[{'role':'user','content':'News?'},"
	                "{'type':'web_search_call','id':'ws1','status':'completed'}]}",
	                "{'model':'gpt-5','input':[{'role':'user','content':'News?'},"
	                "{'type':'web_search_call','id':'ws1','status':'completed'},"
	                "{'role':'user','content':'.'}],'max_output_tokens':16}");
	tmpl_unref(t);
	/* a call only the application can answer: no minimal warm, and why */
	{
		const char *json = Q("{'model':'gpt-5','input':[{'role':'user','content':'Click'},"
		                     "{'type':'computer_call','call_id':'c3','action':{}}]}");
		struct errmsg e = { { 0 } };
		ck_assert_int_eq(template_from_bytes(json, strlen(json), &tgt, &prov, &t, &e), 0);
		ck_assert_ptr_nonnull(strstr(t->unwarmable, "pending computer_call"));
		tmpl_unref(t);
	}
	/* the native prewarm, merged into the template's own options */
	t = expect_warm_t(&tgt_prewarm,
	                  "{'model':'gpt-5.6','input':'Hi','prompt_cache_options':{'ttl':'30m'}}",
	                  "{'model':'gpt-5.6','input':'Hi','prompt_cache_options':{'ttl':'30m',"
	                  "'prewarm':true},'max_output_tokens':16}",
	                  __LINE__);
	ck_assert_ptr_nonnull(strstr(t->notes, "prewarm"));
	tmpl_unref(t);
}
END_TEST

START_TEST(test_responses_versions)
{
	struct tmpl *a = au_build_ok(&tgt, &prov,
	                             "{'model':'gpt-5','instructions':'A','input':'Hi'}", __LINE__);
	struct tmpl *b = au_build_ok(&tgt, &prov,
	                             "{'model':'gpt-5','instructions':'B','input':'Hi'}", __LINE__);
	struct tmpl *c = au_build_ok(&tgt, &prov,
	                             "{'model':'gpt-5','instructions':'A','input':'Hi',"
	                             "'max_output_tokens':999,'stream':true}",
	                             __LINE__);

	/* instructions are part of the prefix; the output budget and streaming are not */
	ck_assert_str_ne(a->version, b->version);
	ck_assert_str_eq(a->version, c->version);
	tmpl_unref(a);
	tmpl_unref(b);
	tmpl_unref(c);
}
END_TEST

/* ---- usage ---------------------------------------------------------------------------- */

START_TEST(test_usage_fixtures)
{
	size_t len;
	char *body = tu_fixture("openai/response_hit.json", &len);
	struct warm_usage u;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(adapter_openai_ops.parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_HIT);
	ck_assert_int_eq(u.read, 1920);
	ck_assert_int_eq(u.write, 0);
	ck_assert_int_eq(u.input, 2006 - 1920);
	ck_assert_int_eq(u.output, 1);
	free(body);

	body = tu_fixture("openai/response_llamacpp.json", &len);
	ck_assert_int_eq(adapter_openai_compat_ops.parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_HIT);
	ck_assert_int_eq(u.read, 800);
	ck_assert_int_eq(u.input, 12);
	/* OpenAI itself never reports timings: ignored there. */
	ck_assert_int_eq(adapter_openai_ops.parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_NONE);
	ck_assert_int_eq(u.read, 0);
	free(body);
}
END_TEST

START_TEST(test_usage_openai)
{
	USAGE_OK("{'usage':{'prompt_tokens':2000,'completion_tokens':1,"
	         "'prompt_tokens_details':{'cached_tokens':1920}}}",
	         WARM_HIT, 1920, 0, 80, 1);
	/* Nothing cached from a cacheable prompt: this request wrote it. */
	USAGE_OK("{'usage':{'prompt_tokens':2000,'completion_tokens':1,"
	         "'prompt_tokens_details':{'cached_tokens':0}}}",
	         WARM_WRITE, 0, 2000, 0, 1); /* the written tokens are not input twice */
	USAGE_OK("{'usage':{'prompt_tokens':1024,'completion_tokens':1,"
	         "'prompt_tokens_details':{'cached_tokens':0}}}",
	         WARM_WRITE, 0, 1024, 0, 1);
	/* Below 1024 tokens OpenAI caches nothing. */
	USAGE_OK("{'usage':{'prompt_tokens':1023,'completion_tokens':1,"
	         "'prompt_tokens_details':{'cached_tokens':0}}}",
	         WARM_NONE, 0, 0, 1023, 1);
	/* No details: 0 cached. */
	USAGE_OK("{'usage':{'prompt_tokens':5000,'completion_tokens':1}}", WARM_WRITE, 0, 5000, 0,
	         1);
	USAGE_OK(
	        "{'usage':{'prompt_tokens':50,'completion_tokens':1,'prompt_tokens_details':null}}",
	        WARM_NONE, 0, 0, 50, 1);
	USAGE_OK("{'usage':{'prompt_tokens':2000,'completion_tokens':1,"
	         "'prompt_tokens_details':{'cached_tokens':null}}}",
	         WARM_WRITE, 0, 2000, 0, 1); /* the written tokens are not input twice */
}
END_TEST

START_TEST(test_usage_openai_errors)
{
	USAGE_ERR("{'id':'chatcmpl-test'}", "usage");
	USAGE_ERR("{'usage':'none'}", "usage");
	USAGE_ERR("{'usage':{'prompt_tokens':2000,'prompt_tokens_details':5}}",
	          "usage.prompt_tokens_details is not an object");
	USAGE_ERR("{'usage':{'prompt_tokens':2000,'prompt_tokens_details':[]}}",
	          "usage.prompt_tokens_details is not an object");
	USAGE_ERR("{'usage':{'prompt_tokens':100,'prompt_tokens_details':{'cached_tokens':128}}}",
	          "cached_tokens 128 exceeds prompt_tokens 100");
	USAGE_ERR("{'usage':{'prompt_tokens':'2000'}}", "usage.prompt_tokens is not an integer");
	USAGE_ERR("{'usage':{'prompt_tokens':2000,'completion_tokens':'1'}}",
	          "usage.completion_tokens");
	USAGE_ERR("{'usage':{'prompt_tokens':2000,'prompt_tokens_details':{'cached_tokens':'5'}}}",
	          "usage.prompt_tokens_details.cached_tokens is not an integer");
	USAGE_ERR("{'usage':{'prompt_tokens':-3}}", "usage.prompt_tokens is negative");
	USAGE_ERR("{'usage':{'prompt_tokens':3000000000000}}",
	          "usage.prompt_tokens = 3000000000000 is more than 100000000 tokens");
	COMPAT_ERR("{'usage':{'completion_tokens':1},'timings':{'prompt_n':1,"
	           "'cache_n':9223372036854775807}}",
	           "timings.cache_n = 9223372036854775807 is more than 100000000");
	au_usage_err(&adapter_openai_ops, "data: {\"usage\":{}}\n\n", "response is not JSON",
	             __LINE__);
	au_usage_err(&adapter_openai_ops, "", "response is not JSON", __LINE__);
}
END_TEST

START_TEST(test_usage_compat)
{
	/* llama.cpp: timings.cache_n when there are no prompt_tokens_details. */
	COMPAT_OK("{'usage':{'prompt_tokens':300,'completion_tokens':1},'timings':{'prompt_n':44,"
	          "'cache_n':256}}",
	          WARM_HIT, 256, 0, 44, 1);
	/* Details win over timings when both are there. */
	COMPAT_OK("{'usage':{'prompt_tokens':300,'completion_tokens':1,"
	          "'prompt_tokens_details':{'cached_tokens':100}},'timings':{'cache_n':256}}",
	          WARM_HIT, 100, 0, 200, 1);
	/* A self-hosted server caches any prompt: 0 cached is a write, however short. */
	COMPAT_OK("{'usage':{'prompt_tokens':300,'completion_tokens':1},'timings':{'cache_n':0}}",
	          WARM_WRITE, 0, 300, 0, 1);
	COMPAT_OK("{'usage':{'prompt_tokens':20,'completion_tokens':1,"
	          "'prompt_tokens_details':{'cached_tokens':0}}}",
	          WARM_WRITE, 0, 20, 0, 1);
	COMPAT_OK("{'usage':{'prompt_tokens':20,'completion_tokens':1}}", WARM_WRITE, 0, 20, 0, 1);
	COMPAT_ERR("{'usage':{'prompt_tokens':20},'timings':{'cache_n':'x'}}", "timings.cache_n");
	COMPAT_ERR("{'usage':{'prompt_tokens':20},'timings':{'cache_n':21}}",
	           "cached_tokens 21 exceeds prompt_tokens 20");
}
END_TEST

/* ---- errors, headers ------------------------------------------------------------------ */

/* Absurd counts must not overflow: llama.cpp's cache_n + prompt_n, and the
 * plain input left after reads and writes (fuzz_response). A count beyond
 * BOUNDS_MAX_TOKENS is refused before any sum sees it; at the bound the
 * sums are exact. */
START_TEST(test_usage_overflow)
{
	COMPAT_ERR("{'usage':{'completion_tokens':1},'timings':{'cache_n':9223372036854775807,"
	           "'prompt_n':1}}",
	           "timings");
	USAGE_ERR("{'usage':{'prompt_tokens':0,'completion_tokens':1,'prompt_tokens_details':{"
	          "'cached_tokens':9223372036854775807,'cache_write_tokens':9223372036854775807}}}",
	          "cached_tokens");
	USAGE_ERR("{'usage':{'prompt_tokens':9223372036854775807,'completion_tokens':1,"
	          "'prompt_tokens_details':{'cached_tokens':1,'cache_write_tokens':1}}}",
	          "prompt_tokens");
	USAGE_OK("{'usage':{'prompt_tokens':0,'completion_tokens':1,'prompt_tokens_details':{"
	         "'cached_tokens':100000000,'cache_write_tokens':100000000}}}",
	         WARM_WRITE, BOUNDS_MAX_TOKENS, BOUNDS_MAX_TOKENS, 0, 1);
	COMPAT_OK("{'usage':{'completion_tokens':1},'timings':{'cache_n':100000000,"
	          "'prompt_n':100000000}}",
	          WARM_HIT, BOUNDS_MAX_TOKENS, 0, BOUNDS_MAX_TOKENS, 1);
}
END_TEST

START_TEST(test_usage_responses)
{
	/* older models: no write count, a cold cacheable prompt counts as a write */
	USAGE_OK("{'object':'response','usage':{'input_tokens':2048,'input_tokens_details':{"
	         "'cached_tokens':1920,'cache_write_tokens':0},'output_tokens':16,"
	         "'output_tokens_details':{'reasoning_tokens':0},'total_tokens':2064}}",
	         WARM_HIT, 1920, 0, 128, 16);
	USAGE_OK("{'usage':{'input_tokens':2048,'input_tokens_details':{'cached_tokens':0},"
	         "'output_tokens':16}}",
	         WARM_WRITE, 0, 2048, 0, 16);
	/* models that bill writes say so */
	USAGE_OK("{'usage':{'input_tokens':3000,'input_tokens_details':{'cached_tokens':1024,"
	         "'cache_write_tokens':1920},'output_tokens':0}}",
	         WARM_WRITE, 1024, 1920, 56, 0); /* 3000 = 1024 read + 1920 written + 56 */
	USAGE_OK("{'usage':{'input_tokens':500,'input_tokens_details':{'cached_tokens':0,"
	         "'cache_write_tokens':0},'output_tokens':16}}",
	         WARM_NONE, 0, 0, 500, 16);
	au_usage_err(&adapter_openai_ops,
	             Q("{'usage':{'input_tokens':10,'input_tokens_details':{'cached_tokens':20}}}"),
	             "exceeds input_tokens", __LINE__);
	au_usage_err(&adapter_openai_ops,
	             Q("{'usage':{'input_tokens':10,'input_tokens_details':{'cached_tokens':0,"
	               "'cache_write_tokens':'x'}}}"),
	             "cache_write_tokens", __LINE__);
}
END_TEST

START_TEST(test_parse_error)
{
	ERROR_TEXT(401,
	           "{\"error\":{\"message\":\"Incorrect API key provided\","
	           "\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}",
	           "HTTP 401 invalid_api_key: Incorrect API key provided");
	ERROR_TEXT(429,
	           "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
	           "\"param\":null,\"code\":null}}",
	           "HTTP 429 requests: Rate limit reached");
	ERROR_TEXT(400, "{\"error\":{\"message\":\"bad\"}}", "HTTP 400: bad");
	ERROR_TEXT(502, "Bad Gateway\n", "HTTP 502: Bad Gateway ");
	ERROR_TEXT(503, "", "HTTP 503 with an empty body");
	/* vLLM's older error shape has no "error" object. */
	ERROR_TEXT(400, "{\"object\":\"error\",\"message\":\"m\"}",
	           "HTTP 400: {\"object\":\"error\",\"message\":\"m\"}");
}
END_TEST

START_TEST(test_headers)
{
	struct adapter_header h[ADAPTER_MAX_HEADERS];
	int n = adapter_openai_ops.headers("sk-test-not-a-key", h);

	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(h[0].name, "content-type");
	ck_assert_str_eq(h[0].value, "application/json");
	ck_assert_str_eq(h[1].name, "authorization");
	ck_assert_str_eq(h[1].prefix, "Bearer ");
	ck_assert_str_eq(h[1].value, "sk-test-not-a-key");
	ck_assert_int_eq(adapter_openai_ops.headers(NULL, h), 1);
	ck_assert_str_eq(h[0].name, "content-type");
	ck_assert_int_eq(adapter_openai_compat_ops.headers(NULL, h), 1);
	ck_assert(adapter_openai_ops.key_required);
	ck_assert(!adapter_openai_compat_ops.key_required);
	ck_assert_ptr_eq(adapter_ops_for(PROVIDER_OPENAI), &adapter_openai_ops);
	ck_assert_ptr_eq(adapter_ops_for(PROVIDER_OPENAI_COMPAT), &adapter_openai_compat_ops);
}
END_TEST

static Suite *openai_suite(void)
{
	Suite *s = suite_create("adapter_openai");
	TCase *tc = tcase_create("warm");

	tcase_add_checked_fixture(tc, NULL, au_teardown);
	tcase_add_test(tc, test_full_template_byte_identical);
	tcase_add_test(tc, test_url);
	tcase_add_test(tc, test_max_tokens_in_place);
	tcase_add_test(tc, test_max_tokens_appended);
	tcase_add_test(tc, test_is_reasoning_model);
	tcase_add_test(tc, test_stream);
	tcase_add_test(tc, test_cache_key);
	tcase_add_test(tc, test_ends_with_assistant);
	tcase_add_test(tc, test_ends_with_tool_calls);
	tcase_add_test(tc, test_template_errors);
	tcase_add_test(tc, test_versions);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_checked_fixture(tc, NULL, au_teardown);
	tcase_add_test(tc, test_usage_fixtures);
	tcase_add_test(tc, test_usage_openai);
	tcase_add_test(tc, test_usage_openai_errors);
	tcase_add_test(tc, test_usage_compat);
	tcase_add_test(tc, test_usage_overflow);
	tcase_add_test(tc, test_usage_responses);
	tcase_add_test(tc, test_responses_warm);
	tcase_add_test(tc, test_responses_versions);
	tcase_add_test(tc, test_parse_error);
	tcase_add_test(tc, test_headers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(openai_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_adapter_converse: Bedrock Converse bodies (core/adapter_converse.c)
 * through template_from_bytes() with a bedrock provider: the warm body byte
 * for byte, cachePoint rules, the version (Converse's own canonical
 * prefix), thinking, and Converse usage.
 *
 * Templates are written with ' for " (see Q()); none contains an apostrophe. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_converse.h"
#include "adapterutil.h"
#include "template.h"
#include "testutil.h"

static char base_url[] = "http://127.0.0.1:9";
static char prov_name[] = "bedrock-test";
static char tgt_name[] = "support-bot";
static char model[] = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
static struct cfg_provider prov = { .name = prov_name,
	                            .kind = PROVIDER_BEDROCK,
	                            .base_url = base_url };
static struct cfg_target tgt = { .name = tgt_name, .provider = prov_name, .ttl_s = 300 };

static void setup(void)
{
	tgt.model = model;
	tgt.endpoint = ENDPOINT_CONVERSE;
	tgt.allow_edit = 0;
}

/* helpers (adapterutil.h) for the target above, as setup() leaves it */
#define BUILD_OK(tq)           au_build_ok(&tgt, &prov, tq, __LINE__)
#define EXPECT_WARM(tq, wq)    au_expect_warm(&tgt, &prov, tq, wq, __LINE__)
#define EXPECT_ERR(tq, needle) au_expect_err(&tgt, &prov, tq, -EINVAL, needle, __LINE__)

#define CP      "{'cachePoint':{'type':'default'}}"
#define CP_1H   "{'cachePoint':{'type':'default','ttl':'1h'}}"
#define SYS_CP  "'system':[{'text':'Shared prefix.'}," CP "]"
#define USER(t) "{'role':'user','content':[{'text':'" t "'}]}"

/* ---- the warm body -------------------------------------------------------------------- */

START_TEST(test_fixture_byte_identical)
{
	struct tmpl *t = au_expect_fixture_warm(&tgt, &prov, "bedrock/converse", __LINE__);

	ck_assert_str_eq(t->url, "http://127.0.0.1:9/model/"
	                         "us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse");
	ck_assert_str_eq(t->model, "anthropic.claude-haiku-4-5-20251001-v1:0");
	ck_assert_int_eq(t->endpoint, ENDPOINT_CONVERSE);
	ck_assert_int_eq(t->max_tokens, 1);
	ck_assert_int_eq(t->min_cacheable, 4096); /* Haiku 4.5's */
	ck_assert_int_eq(t->nbp, 3);
	ck_assert_double_eq(t->ttl_s, 300);
	ck_assert_str_eq(t->notes, "maxTokens 1, appended a user turn");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_minimal_budget)
{
	/* No inferenceConfig: one is added, last; a template ending with a
	 * user turn is otherwise sent as written. */
	tmpl_unref(EXPECT_WARM("{" SYS_CP ",'messages':[" USER("Hi") "]}",
	                       "{" SYS_CP
	                       ",'messages':[" USER("Hi") "],"
	                                                  "'inferenceConfig':{'maxTokens':1}}"));
	/* maxTokens replaced in place; other settings kept. */
	tmpl_unref(EXPECT_WARM("{'inferenceConfig':{'temperature':0.5,'maxTokens':900}," SYS_CP
	                       ",'messages':[" USER("Hi") "]}",
	                       "{'inferenceConfig':{'temperature':0.5,'maxTokens':1}," SYS_CP
	                       ",'messages':[" USER("Hi") "]}"));
	/* A forced tool is legal with maxTokens 1: nothing else changes. */
	tmpl_unref(EXPECT_WARM("{'toolConfig':{'tools':[{'toolSpec':{'name':'x','inputSchema':{"
	                       "'json':{}}}}," CP "],'toolChoice':{'tool':{'name':'x'}}},"
	                       "'messages':[" USER("Hi") "]}",
	                       "{'toolConfig':{'tools':[{'toolSpec':{'name':'x','inputSchema':{"
	                       "'json':{}}}}," CP "],'toolChoice':{'tool':{'name':'x'}}},"
	                       "'messages':[" USER("Hi") "],'inferenceConfig':{'maxTokens':1}}"));
}
END_TEST

START_TEST(test_appended_turn)
{
	/* Every toolUse of the last assistant turn gets its toolResult. */
	tmpl_unref(EXPECT_WARM(
	        "{" SYS_CP ",'messages':[" USER("Hi") ",{'role':'assistant','content':[{'toolUse':{"
	                                              "'toolUseId':'a','name':'x','input':{}}},{'"
	                                              "toolUse':{'toolUseId':'b','name':'y',"
	                                              "'input':{}}}]}]}",
	        "{" SYS_CP ",'messages':[" USER("Hi") ",{'role':'assistant','content':[{'toolUse':{"
	                                              "'toolUseId':'a','name':'x','input':{}}},{'"
	                                              "toolUse':{'toolUseId':'b','name':'y',"
	                                              "'input':{}}}]},{'role':'user','content':[{'"
	                                              "toolResult':{'toolUseId':'a','content':"
	                                              "[{'text':'.'}]}},{'toolResult':{'toolUseId':"
	                                              "'b','content':[{'text':'.'}]}}]}],"
	                                              "'inferenceConfig':{'maxTokens':1}}"));
	tmpl_unref(EXPECT_WARM("{" SYS_CP ",'messages':[{'role':'assistant','content':[{'text':"
	                       "'Hello'}]}]}",
	                       "{" SYS_CP ",'messages':[{'role':'assistant','content':[{'text':"
	                       "'Hello'}]},{'role':'user','content':[{'text':'.'}]}],"
	                       "'inferenceConfig':{'maxTokens':1}}"));
}
END_TEST

START_TEST(test_thinking)
{
	struct tmpl *t;

	t = BUILD_OK("{" SYS_CP ",'messages':[" USER(
	        "Hi") "],'additionalModelRequestFields':{"
	              "'thinking':{'type':'enabled','budget_tokens':4000}}}");
	ck_assert_ptr_null(t->body);
	ck_assert_msg(strstr(t->unwarmable, "budget_tokens 4000: maxTokens must exceed the budget; "
	                                    "allow_edit = [\"thinking\"]") != NULL,
	              "%s", t->unwarmable);
	tmpl_unref(t);
	tgt.allow_edit = ALLOW_EDIT_THINKING;
	t = EXPECT_WARM(
	        "{" SYS_CP ",'messages':[" USER(
	                "Hi") "],'additionalModelRequestFields':{"
	                      "'thinking':{'type':'enabled','budget_tokens':4000},'top_k':5}}",
	        "{" SYS_CP
	        ",'messages':[" USER("Hi") "],'additionalModelRequestFields':{"
	                                   "'top_k':5},'inferenceConfig':{'maxTokens':1}}");
	ck_assert(strstr(t->notes, "dropped thinking (allow_edit)") != NULL);
	tmpl_unref(t);
	/* The last cache point in the messages: the edit would move that cache. */
	t = BUILD_OK("{'messages':[{'role':'user','content':[{'text':'Hi'}," CP "]}],"
	             "'additionalModelRequestFields':{'thinking':{'type':'enabled',"
	             "'budget_tokens':4000}}}");
	ck_assert(strstr(t->unwarmable, "allow_edit cannot help") != NULL);
	tmpl_unref(t);
}
END_TEST

/* ---- rules ---------------------------------------------------------------------------- */

START_TEST(test_cache_point_rules)
{
	EXPECT_ERR("{'messages':[" USER("Hi") "]}", "no cachePoint block: Bedrock caches nothing");
	EXPECT_ERR("{'system':[" CP ",{'text':'a'}],'messages':[" USER("Hi") "]}",
	           "system[0]: a cachePoint must follow the blocks it caches");
	EXPECT_ERR("{'system':[{'text':'a'},{'cachePoint':{'type':'ephemeral'}}],'messages':[" USER(
	                   "Hi") "]}",
	           "system[1].cachePoint.type must be \"default\"");
	EXPECT_ERR("{'system':[{'text':'a'},{'cachePoint':{'type':'default','ttl':'2h'}}],"
	           "'messages':[" USER("Hi") "]}",
	           "system[1].cachePoint.ttl must be \"5m\" or \"1h\"");
	EXPECT_ERR("{'system':[{'text':'a'}," CP ",{'text':'b'}," CP_1H
	           "],'messages':[" USER("Hi") "]}",
	           "system[3]: a 1h cachePoint after a 5m one");
	EXPECT_ERR("{'system':[{'text':'a'}," CP ",{'text':'b'}," CP ",{'text':'c'}," CP
	           ",{'text':'d'}," CP ",{'text':'e'}," CP "],'messages':[" USER("Hi") "]}",
	           "5 cachePoint blocks: Bedrock allows at most 4 per request");
}
END_TEST

START_TEST(test_template_errors)
{
	EXPECT_ERR("[1]", "the request must be a JSON object");
	EXPECT_ERR("{" SYS_CP ",'messages':[{'role':'user','content':'Hi'}]}",
	           "messages[0].content must be a non-empty array of blocks (Converse takes no "
	           "string content)");
	EXPECT_ERR("{" SYS_CP ",'messages':[{'role':'system','content':[{'text':'x'}]}]}",
	           "messages[0].role must be \"user\" or \"assistant\"");
	EXPECT_ERR("{" SYS_CP ",'messages':[]}", "\"messages\" must be a non-empty array");
	EXPECT_ERR("{'modelId':'x'," SYS_CP ",'messages':[" USER("Hi") "]}",
	           "the body must not name a model: Bedrock takes it from the URL");
	EXPECT_ERR("{'system':'x','messages':[" USER("Hi") "]}",
	           "\"system\" must be an array of blocks");
	EXPECT_ERR("{" SYS_CP ",'inferenceConfig':{'maxTokens':'9'},'messages':[" USER("Hi") "]}",
	           "inferenceConfig.maxTokens must be an integer");
	EXPECT_ERR("{" SYS_CP ",'toolConfig':[],'messages':[" USER("Hi") "]}",
	           "\"toolConfig\" must be an object");
	EXPECT_ERR("{" SYS_CP ",'toolConfig':{'tools':{}},'messages':[" USER("Hi") "]}",
	           "toolConfig.tools must be an array");
	EXPECT_ERR("{'system':[{'text':'a'},'x'],'messages':[" USER("Hi") "]}",
	           "system[1] must be an object");
}
END_TEST

/* ---- the version ---------------------------------------------------------------------- */

START_TEST(test_version)
{
	struct tmpl *a = BUILD_OK("{" SYS_CP ",'messages':[" USER("Question one") "]}");
	struct tmpl *b = BUILD_OK("{" SYS_CP ",'messages':[" USER("Question two") "]}");
	struct tmpl *c = BUILD_OK("{'system':[{'text':'Another prefix.'}," CP
	                          "],'messages':[" USER("Question one") "]}");
	struct tmpl *d = BUILD_OK(
	        "{" SYS_CP
	        ",'toolConfig':{'toolChoice':{'any':{}}},'messages':[" USER("Question one") "]}");
	struct tmpl *f =
	        BUILD_OK("{'messages':[{'role':'user','content':[{'text':'Question one'}," CP
	                 "]}]," SYS_CP "}");

	/* After the last cache point: the same version; before it: another. */
	ck_assert_str_eq(a->version, b->version);
	ck_assert_str_ne(a->version, c->version);
	ck_assert_str_ne(a->version, d->version); /* toolChoice moves the cache */
	ck_assert_str_ne(a->version, f->version);
	ck_assert_int_eq(f->nbp, 2);
	/* f's first breakpoint (system) is a's prefix: f extends a. */
	ck_assert_str_eq(f->bp_hashes[0], a->version);
	ck_assert_str_eq(f->bp_hashes[1], f->version);
	tmpl_unref(a);
	tmpl_unref(b);
	tmpl_unref(c);
	tmpl_unref(d);
	tmpl_unref(f);
}
END_TEST

/* ---- usage ---------------------------------------------------------------------------- */

START_TEST(test_usage)
{
	struct warm_usage u;
	struct errmsg e = { { 0 } };
	const char *body;
	size_t len;
	char *fx = tu_fixture_chomped("bedrock/converse_response_write.json", &len);

	ck_assert_int_eq(converse_parse_ok(fx, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_WRITE);
	ck_assert_int_eq(u.write, 2210);
	free(fx);
	body = Q("{'usage':{'inputTokens':2000,'outputTokens':1,'cacheReadInputTokens':0,"
	         "'cacheWriteInputTokens':0}}");
	ck_assert_int_eq(converse_parse_ok(body, strlen(body), &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_NONE);
	ck_assert_int_eq(u.input, 2000);
	/* An Anthropic answer is not Converse's: e untouched. */
	e.text[0] = '\0';
	body = Q("{'usage':{'input_tokens':5,'cache_read_input_tokens':10}}");
	ck_assert_int_eq(converse_parse_ok(body, strlen(body), &u, &e), -ENOMSG);
	body = Q("{'usage':{'input_tokens':5,'note':'\\u0041'}}");
	ck_assert_int_eq(converse_parse_ok(body, strlen(body), &u, &e), -ENOMSG);
	ck_assert_str_eq(e.text, "");
	body = Q("{'usage':{'inputTokens':5,'cacheWriteInputTokens':'x'}}");
	ck_assert_int_eq(converse_parse_ok(body, strlen(body), &u, &e), -EPROTO);
	ck_assert_str_eq(e.text, "usage.cacheWriteInputTokens is not an integer");
	body = Q("{'output':{}}");
	ck_assert_int_eq(converse_parse_ok(body, strlen(body), &u, &e), -EPROTO);
	ck_assert_str_eq(e.text, "response has no usage object");
	body = Q("{'usage':{'inputTokens':5,'cacheReadInputTokens':200000000}}");
	ck_assert_int_eq(converse_parse_ok(body, strlen(body), &u, &e), -EPROTO);
}
END_TEST

static Suite *converse_suite(void)
{
	Suite *s = suite_create("adapter_converse");
	TCase *tc = tcase_create("warm");

	tcase_add_checked_fixture(tc, setup, au_teardown);
	tcase_add_test(tc, test_fixture_byte_identical);
	tcase_add_test(tc, test_minimal_budget);
	tcase_add_test(tc, test_appended_turn);
	tcase_add_test(tc, test_thinking);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, setup, au_teardown);
	tcase_add_test(tc, test_cache_point_rules);
	tcase_add_test(tc, test_template_errors);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(converse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

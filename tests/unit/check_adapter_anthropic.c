/* check_adapter_anthropic: the Anthropic adapter (core/adapter_anthropic.c),
 * through template_from_bytes() and the ops table: the warm body byte for
 * byte, the breakpoint rules, versions, usage and error parsing, headers.
 *
 * Templates are written with ' for " (see Q()) so they stay readable; none
 * of them contains an apostrophe. */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_anthropic.h"
#include "adapters.h"
#include "adapterutil.h"
#include "template.h"
#include "testutil.h"

static char base_url[] = "http://127.0.0.1:9";
static char prov_name[] = "anthropic-test";
static char tgt_name[] = "support-bot";
static struct cfg_provider prov = { .name = prov_name,
	                            .kind = PROVIDER_ANTHROPIC,
	                            .base_url = base_url };
static struct cfg_target tgt = { .name = tgt_name, .provider = prov_name, .ttl_s = 300 };

/* ---- helpers (adapterutil.h) for the target above ------------------------------------ */

#define BUILD_OK(tq)            au_build_ok(&tgt, &prov, tq, __LINE__)
#define EXPECT_WARM(tq, wq)     au_expect_warm(&tgt, &prov, tq, wq, __LINE__)
#define EXPECT_ERR(tq, needle)  au_expect_err(&tgt, &prov, tq, -EINVAL, needle, __LINE__)
#define EXPECT_NOTES(t, needle) au_expect_notes(t, needle, __LINE__)
#define USAGE_OK(b, res, rd, wr, in, out)                                                          \
	au_usage_ok(&adapter_anthropic_ops, Q(b), res, rd, wr, in, out, __LINE__)
#define USAGE_ERR(b, needle) au_usage_err(&adapter_anthropic_ops, Q(b), needle, __LINE__)
#define ERROR_TEXT(status, body, want)                                                             \
	au_error_text(&adapter_anthropic_ops, status, body, want, __LINE__)

/* A system prompt with one explicit 5m breakpoint. */
#define SYS_BP                                                                                     \
	"'system':[{'type':'text','text':'Shared prefix.','cache_control':{'type':'ephemeral'}}]"
#define SYS_BP_1H                                                                                  \
	"'system':[{'type':'text','text':'Shared prefix.','cache_control':{'type':'ephemeral',"    \
	"'ttl':'1h'}}]"
#define TOOL_W                                                                                     \
	"{'name':'get_weather','description':'Weather for a "                                      \
	"city','input_schema':{'type':'object',"                                                   \
	"'properties':{'location':{'type':'string'}},'required':['location']}}"

/* ---- the warm body -------------------------------------------------------------------- */

START_TEST(test_full_template_byte_identical)
{
	struct tmpl *t = au_expect_fixture_warm(&tgt, &prov, "anthropic/full", __LINE__);

	ck_assert_str_eq(t->url, "http://127.0.0.1:9/v1/messages");
	ck_assert_str_eq(t->model, "claude-sonnet-4-5");
	ck_assert_int_eq(t->endpoint, ENDPOINT_MESSAGES);
	ck_assert_int_eq(t->max_tokens, 0);
	ck_assert_str_eq(t->unwarmable, "");
	ck_assert_str_eq(t->notes, "max_tokens 0, stream false");
	ck_assert_int_gt(t->prefix_tokens_est, 100);
	ck_assert_int_eq(t->refs, 1);
	tmpl_unref(t);
}
END_TEST

START_TEST(test_ends_with_user)
{
	struct tmpl *t =
	        EXPECT_WARM("{'model':'claude-test','max_tokens':512,'temperature':1.0," SYS_BP
	                    ",'messages':[{'role':'user','content':'Hello'}],'stream':false}",
	                    "{'model':'claude-test','max_tokens':0,'temperature':1.0," SYS_BP
	                    ",'messages':[{'role':'user','content':'Hello'}],'stream':false}");

	ck_assert_str_eq(t->notes, "max_tokens 0");
	ck_assert_int_eq(t->max_tokens, 0);
	tmpl_unref(t);
}
END_TEST

START_TEST(test_ends_with_assistant)
{
	struct tmpl *t = EXPECT_WARM("{'model':'claude-test','max_tokens':512," SYS_BP
	                             ",'messages':[{'role':'user','content':'Hi'},"
	                             "{'role':'assistant','content':'Hello!'}]}",
	                             "{'model':'claude-test','max_tokens':0," SYS_BP
	                             ",'messages':[{'role':'user','content':'Hi'},"
	                             "{'role':'assistant','content':'Hello!'},{'role':'user',"
	                             "'content':'.'}]}");

	EXPECT_NOTES(t, "appended a user turn");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_ends_with_tool_use)
{
	struct tmpl *t = EXPECT_WARM(
	        "{'model':'claude-test','max_tokens':512,'tools':[" TOOL_W "]," SYS_BP
	        ",'messages':[{'role':'user','content':'Weather in Paris and Oslo?'},"
	        "{'role':'assistant','content':[{'type':'text','text':'Checking.'},"
	        "{'type':'tool_use','id':'toolu_test_01','name':'get_weather',"
	        "'input':{'location':'Paris'}},{'type':'tool_use','id':'toolu_test_02',"
	        "'name':'get_weather','input':{'location':'Oslo'}}]}]}",
	        "{'model':'claude-test','max_tokens':0,'tools':[" TOOL_W "]," SYS_BP
	        ",'messages':[{'role':'user','content':'Weather in Paris and Oslo?'},"
	        "{'role':'assistant','content':[{'type':'text','text':'Checking.'},"
	        "{'type':'tool_use','id':'toolu_test_01','name':'get_weather',"
	        "'input':{'location':'Paris'}},{'type':'tool_use','id':'toolu_test_02',"
	        "'name':'get_weather','input':{'location':'Oslo'}}]},{'role':'user',"
	        "'content':[{'type':'tool_result','tool_use_id':'toolu_test_01','content':'.'},"
	        "{'type':'tool_result','tool_use_id':'toolu_test_02','content':'.'}]}]}");

	EXPECT_NOTES(t, "appended a user turn");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_stream_true_becomes_false)
{
	struct tmpl *t = EXPECT_WARM("{'stream':true,'model':'claude-test','max_tokens':512," SYS_BP
	                             ",'messages':[{'role':'user','content':'Hi'}]}",
	                             "{'stream':false,'model':'claude-test','max_tokens':0," SYS_BP
	                             ",'messages':[{'role':'user','content':'Hi'}]}");

	ck_assert_str_eq(t->notes, "max_tokens 0, stream false");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_everything_else_survives)
{
	/* metadata, sampling, images, documents, unicode, escapes and odd numbers
	 * are passed through untouched; so is a key warmd does not know. */
	const char *rest =
	        "'metadata':{'user_id':'test-user-0002'},'temperature':0.0,'top_p':0.95,"
	        "'stop_sequences':['\\n\\nEND','</x>'],'service_tier':'auto',"
	        "'x_future_field':{'a':[1,2.50,-0.0,1e-7]},"
	        "'system':[{'type':'text',"
	        "'text':'\xc3\x89t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80"
	        " \\'q\\' \\\\ /'},"
	        "{'type':'text','text':'Docs','cache_control':{'type':'ephemeral','ttl':'1h'}}],"
	        "'messages':[{'role':'user','content':["
	        "{'type':'image','source':{'type':'url','url':'https://example.invalid/a.png'}},"
	        "{'type':'document','source':{'type':'text','media_type':'text/plain',"
	        "'data':'fake doc'},'citations':{'enabled':true}},"
	        "{'type':'text','text':'Describe \\u0001 \\t',"
	        "'cache_control':{'type':'ephemeral'}}]}]}";
	char tq[2048], wq[2048];
	struct tmpl *t;

	snprintf(tq, sizeof(tq), "{'model':'claude-test','max_tokens':8192,%s", rest);
	snprintf(wq, sizeof(wq), "{'model':'claude-test','max_tokens':0,%s", rest);
	t = EXPECT_WARM(tq, wq);
	tmpl_unref(t);
}
END_TEST

START_TEST(test_automatic_ends_with_assistant_string)
{
	/* The top-level marker moves, with its ttl, onto the template's last block
	 * (a string content becomes one text block), then the turn is appended. */
	struct tmpl *t = EXPECT_WARM("{'model':'claude-test','max_tokens':512,"
	                             "'cache_control':{'type':'ephemeral','ttl':'1h'},"
	                             "'system':'Sys','messages':[{'role':'user','content':'Hi'},"
	                             "{'role':'assistant','content':'Hello!'}]}",
	                             "{'model':'claude-test','max_tokens':0,'system':'Sys',"
	                             "'messages':[{'role':'user','content':'Hi'},"
	                             "{'role':'assistant','content':[{'type':'text',"
	                             "'text':'Hello!','cache_control':{'type':'ephemeral',"
	                             "'ttl':'1h'}}]},{'role':'user','content':'.'}]}");

	EXPECT_NOTES(t, "automatic breakpoint pinned to the last block");
	EXPECT_NOTES(t, "appended a user turn");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_automatic_ends_with_assistant_blocks)
{
	struct tmpl *t = EXPECT_WARM(
	        "{'model':'claude-test','cache_control':{'type':'ephemeral'},'max_tokens':512,"
	        "'messages':[{'role':'user','content':'Q'},{'role':'assistant',"
	        "'content':[{'type':'text','text':'A'},{'type':'tool_use','id':'toolu_test_09',"
	        "'name':'f','input':{}}]}]}",
	        "{'model':'claude-test','max_tokens':0,'messages':[{'role':'user','content':'Q'},"
	        "{'role':'assistant','content':[{'type':'text','text':'A'},{'type':'tool_use',"
	        "'id':'toolu_test_09','name':'f','input':{},"
	        "'cache_control':{'type':'ephemeral'}}]},{'role':'user',"
	        "'content':[{'type':'tool_result','tool_use_id':'toolu_test_09',"
	        "'content':'.'}]}]}");

	tmpl_unref(t);
}
END_TEST

START_TEST(test_automatic_last_block_already_marked)
{
	/* The last block's own marker is kept; the top-level one still goes. */
	struct tmpl *t = EXPECT_WARM("{'model':'claude-test','max_tokens':512,"
	                             "'cache_control':{'type':'ephemeral','ttl':'1h'},"
	                             "'messages':[{'role':'user','content':'Q'},"
	                             "{'role':'assistant','content':[{'type':'text','text':'A',"
	                             "'cache_control':{'type':'ephemeral','ttl':'1h'}}]}]}",
	                             "{'model':'claude-test','max_tokens':0,"
	                             "'messages':[{'role':'user','content':'Q'},"
	                             "{'role':'assistant','content':[{'type':'text','text':'A',"
	                             "'cache_control':{'type':'ephemeral','ttl':'1h'}}]},"
	                             "{'role':'user','content':'.'}]}");

	tmpl_unref(t);
}
END_TEST

START_TEST(test_automatic_ends_with_user_unchanged)
{
	struct tmpl *t = EXPECT_WARM(
	        "{'model':'claude-test','max_tokens':512,'cache_control':{'type':'ephemeral'},"
	        "'system':'Sys','messages':[{'role':'user','content':'Hi'},{'role':'assistant',"
	        "'content':'Hello!'},{'role':'user','content':'More'}]}",
	        "{'model':'claude-test','max_tokens':0,'cache_control':{'type':'ephemeral'},"
	        "'system':'Sys','messages':[{'role':'user','content':'Hi'},{'role':'assistant',"
	        "'content':'Hello!'},{'role':'user','content':'More'}]}");

	ck_assert_str_eq(t->notes, "max_tokens 0");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_automatic_ends_with_thinking_block)
{
	/* A thinking block cannot carry cache_control: no faithful warm exists. */
	struct tmpl *t = BUILD_OK(
	        "{'model':'claude-test','max_tokens':512,'cache_control':{'type':'ephemeral'},"
	        "'messages':[{'role':'user','content':'Q'},{'role':'assistant',"
	        "'content':[{'type':'redacted_thinking','data':'ZmFrZQ=='}]}]}");

	ck_assert_ptr_null(t->body);
	ck_assert_uint_eq(t->body_len, 0);
	ck_assert_ptr_nonnull(strstr(t->unwarmable, "redacted_thinking"));
	tmpl_unref(t);
}
END_TEST

/* ---- max_tokens ----------------------------------------------------------------------- */

static void max_tokens_case(const char *extra, int want, const char *why, int line)
{
	char tq[1024], wq[1024];
	struct tmpl *t;

	snprintf(tq, sizeof(tq),
	         "{'model':'claude-test','max_tokens':2048,%s," SYS_BP
	         ",'messages':[{'role':'user','content':'Hi'}]}",
	         extra);
	snprintf(wq, sizeof(wq),
	         "{'model':'claude-test','max_tokens':%d,%s," SYS_BP
	         ",'messages':[{'role':'user','content':'Hi'}]}",
	         want, extra);
	t = au_expect_warm(&tgt, &prov, tq, wq, line);
	ck_assert_msg(t->max_tokens == want, "line %d: tmpl max_tokens %d", line, t->max_tokens);
	if (why)
		au_expect_notes(t, why, line);
	else
		ck_assert_msg(strcmp(t->notes, "max_tokens 0") == 0, "line %d: notes %s", line,
		              t->notes);
	tmpl_unref(t);
}

START_TEST(test_max_tokens_choice)
{
	max_tokens_case("'tool_choice':{'type':'tool','name':'get_weather'},'tools':[" TOOL_W "]",
	                1, "max_tokens 1 (tool_choice forces a tool)", __LINE__);
	max_tokens_case("'tool_choice':{'type':'any'},'tools':[" TOOL_W "]", 1,
	                "max_tokens 1 (tool_choice forces a tool)", __LINE__);
	max_tokens_case("'tool_choice':{'type':'auto'},'tools':[" TOOL_W "]", 0, NULL, __LINE__);
	max_tokens_case("'tool_choice':{'type':'none'},'tools':[" TOOL_W "]", 0, NULL, __LINE__);
	max_tokens_case("'output_format':{'type':'json_schema','schema':{'type':'object'}}", 1,
	                "max_tokens 1 (structured output)", __LINE__);
	max_tokens_case(
	        "'output_config':{'format':{'type':'json_schema','schema':{'type':'object'}}}", 1,
	        "max_tokens 1 (structured output)", __LINE__);
	max_tokens_case("'output_config':{'effort':'low'}", 0, NULL, __LINE__);
	max_tokens_case("'thinking':{'type':'disabled'}", 0, NULL, __LINE__);
}
END_TEST

START_TEST(test_thinking_enabled_unwarmable)
{
	struct tmpl *t = BUILD_OK("{'model':'claude-test','max_tokens':4096,"
	                          "'thinking':{'type':'enabled','budget_tokens':2048}," SYS_BP
	                          ",'messages':[{'role':'user','content':'Hi'}]}");

	ck_assert_ptr_null(t->body);
	ck_assert_uint_eq(t->body_len, 0);
	ck_assert_int_gt(strlen(t->unwarmable), 0);
	ck_assert_ptr_nonnull(strstr(t->unwarmable, "budget_tokens 2048"));
	ck_assert_ptr_nonnull(strstr(t->unwarmable, "thinking"));
	/* Still a version and a URL: status and audit report on it. */
	ck_assert_uint_eq(strlen(t->version), 64);
	ck_assert_str_eq(t->url, "http://127.0.0.1:9/v1/messages");
	tmpl_unref(t);
}
END_TEST

/* ---- breakpoint rules and template errors ----------------------------------------------- */

#define BLK(n) "{'type':'text','text':'b" #n "','cache_control':{'type':'ephemeral'}}"

START_TEST(test_breakpoint_limits)
{
	struct tmpl *t;

	/* Four explicit breakpoints are the maximum. */
	t = BUILD_OK("{'model':'claude-test','max_tokens':1,'system':[" BLK(1) "," BLK(
	        2) "],'messages':[{'role':'user','content':[" BLK(3) "," BLK(4) "]}]}");
	ck_assert_ptr_nonnull(t->body);
	tmpl_unref(t);
	EXPECT_ERR(
	        "{'model':'claude-test','max_tokens':1,'system':[" BLK(1) "," BLK(
	                2) "],'messages':[{'role':'user','content':[" BLK(3) "," BLK(4) "," BLK(5) "]}]}",
	        "5 cache breakpoints");
	/* The automatic marker takes a slot too. */
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'cache_control':{'type':'ephemeral'},"
	           "'system':[" BLK(1) "," BLK(2) "],'messages':[{'role':'user','content':[" BLK(
	                   3) "," BLK(4) "]}]}",
	           "5 cache breakpoints");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'system':'Sys',"
	           "'messages':[{'role':'user','content':'Hi'}]}",
	           "no cache_control breakpoint");
}
END_TEST

START_TEST(test_cache_control_errors)
{
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'system':[{'type':'text','text':'S',"
	           "'cache_control':{'type':'ephemeral','ttl':'10m'}}],'messages':[{'role':'user',"
	           "'content':'Hi'}]}",
	           "system[0]: cache_control.ttl must be \"5m\" or \"1h\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'system':[{'type':'text','text':'S',"
	           "'cache_control':{'type':'ephemeral','ttl':300}}],'messages':[{'role':'user',"
	           "'content':'Hi'}]}",
	           "cache_control.ttl");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'tools':[{'name':'f','input_schema':{},"
	           "'cache_control':{'type':'persistent'}}],'messages':[{'role':'user',"
	           "'content':'Hi'}]}",
	           "tools[0]: cache_control.type must be \"ephemeral\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'messages':[{'role':'user',"
	           "'content':[{'type':'text','text':'x','cache_control':true}]}]}",
	           "messages[0].content[0]: cache_control must be an object");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'cache_control':{'type':'ephemeral',"
	           "'ttl':'2h'},'messages':[{'role':'user','content':'Hi'}]}",
	           "cache_control (automatic caching): cache_control.ttl");
}
END_TEST

START_TEST(test_ttl_order)
{
	struct tmpl *t;

	EXPECT_ERR("{'model':'claude-test','max_tokens':1," SYS_BP ",'messages':[{'role':'user',"
	           "'content':[{'type':'text','text':'x','cache_control':{'type':'ephemeral',"
	           "'ttl':'1h'}}]}]}",
	           "messages[0].content[0]: a 1h breakpoint after a 5m one");
	/* Tools come before system in cache order, whatever the key order. */
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'system':[{'type':'text','text':'S',"
	           "'cache_control':{'type':'ephemeral','ttl':'1h'}}],'tools':[{'name':'f',"
	           "'input_schema':{},'cache_control':{'type':'ephemeral','ttl':'5m'}}],"
	           "'messages':[{'role':'user','content':'Hi'}]}",
	           "system[0]: a 1h breakpoint after a 5m one");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'cache_control':{'type':'ephemeral',"
	           "'ttl':'1h'}," SYS_BP ",'messages':[{'role':'user','content':'Hi'}]}",
	           "a 1h breakpoint after a 5m one");
	/* 1h first, then 5m, is the allowed order. */
	t = BUILD_OK("{'model':'claude-test','max_tokens':1," SYS_BP_1H
	             ",'messages':[{'role':'user','content':[{'type':'text','text':'x',"
	             "'cache_control':{'type':'ephemeral','ttl':'5m'}}]}]}");
	ck_assert_ptr_nonnull(t->body);
	tmpl_unref(t);
}
END_TEST

START_TEST(test_template_errors)
{
	EXPECT_ERR("{'max_tokens':1," SYS_BP ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"model\"");
	EXPECT_ERR("{'model':'','max_tokens':1," SYS_BP
	           ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"model\"");
	EXPECT_ERR("{'model':7,'max_tokens':1," SYS_BP
	           ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"model\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1," SYS_BP "}", "\"messages\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1," SYS_BP ",'messages':[]}",
	           "\"messages\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1," SYS_BP ",'messages':{'role':'user'}}",
	           "\"messages\"");
	EXPECT_ERR("{'model':'claude-test'," SYS_BP ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"max_tokens\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':'1024'," SYS_BP
	           ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"max_tokens\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1024.0," SYS_BP
	           ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"max_tokens\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'stream':'yes'," SYS_BP
	           ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"stream\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'system':5,'messages':[{'role':'user',"
	           "'content':'Hi'}]}",
	           "\"system\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1,'tools':{}," SYS_BP
	           ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"tools\"");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1," SYS_BP
	           ",'messages':[{'role':'user','content':'Hi'},{'role':'system','content':'x'}]}",
	           "messages[1].role");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1," SYS_BP
	           ",'messages':[{'content':'Hi'}]}",
	           "messages[0].role");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1," SYS_BP
	           ",'messages':[{'role':'user','content':5}]}",
	           "messages[0].content");
	EXPECT_ERR("{'model':'claude-test','max_tokens':1," SYS_BP
	           ",'messages':[{'role':'user','content':[]}]}",
	           "messages[0].content");
	EXPECT_ERR("[{'model':'claude-test'}]", "JSON object");
	EXPECT_ERR("{'model':'claude-test',\n'max_tokens':1,,}", "line 2, column 16");
	au_expect_err(&tgt, &prov,
	              "{'model':'claude-test','max_tokens':1," SYS_BP
	              ",'metadata':{'n':99999999999999999999},'messages':[{'role':'user',"
	              "'content':'Hi'}]}",
	              -ERANGE, "$.metadata.n", __LINE__);
}
END_TEST

/* ---- versions ------------------------------------------------------------------------- */

#define VBASE_HEAD                                                                                 \
	"{'model':'claude-test','max_tokens':512,'tools':[" TOOL_W                                 \
	"],'tool_choice':{'type':'auto'},"

static void version_of(const char *tq, char out[65], int line)
{
	struct tmpl *t = au_build_ok(&tgt, &prov, tq, line);

	memcpy(out, t->version, 65);
	tmpl_unref(t);
}

START_TEST(test_version_format)
{
	struct tmpl *t =
	        BUILD_OK(VBASE_HEAD SYS_BP ",'messages':[{'role':'user','content':'Q1?'}]}");

	ck_assert_uint_eq(strlen(t->version), 64);
	for (int i = 0; i < 64; i++)
		ck_assert_msg(isxdigit((unsigned char)t->version[i]) &&
		                      !isupper((unsigned char)t->version[i]),
		              "version %s", t->version);
	ck_assert_uint_eq(strlen(t->short_version), 12);
	ck_assert(strncmp(t->short_version, t->version, 12) == 0);
	/* Not the hash of nothing. */
	ck_assert_str_ne(t->version,
	                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	tmpl_unref(t);
}
END_TEST

START_TEST(test_version_after_breakpoint_ignored)
{
	static const char *const same[] = {
		/* base */
		VBASE_HEAD SYS_BP ",'messages':[{'role':'user','content':'Question one?'}]}",
		/* a different final user message */
		VBASE_HEAD SYS_BP ",'messages':[{'role':'user','content':'Question two?'}]}",
		/* more turns after the breakpoint, ending with an assistant */
		VBASE_HEAD SYS_BP
		",'messages':[{'role':'user','content':'Q'},{'role':'assistant','content':'A'}]}",
		/* fields that do not shape the cached prefix */
		VBASE_HEAD SYS_BP
		",'messages':[{'role':'user','content':'Question one?'}],'temperature':0.2,"
		"'metadata':{'user_id':'test-user-0003'},'stream':true,'stop_sequences':['x']}",
		"{'model':'claude-test','max_tokens':100,'tools':[" TOOL_W
		"],'tool_choice':{'type':'auto'}," SYS_BP
		",'messages':[{'role':'user','content':'Question one?'}]}",
	};
	char v0[65], v[65];

	version_of(same[0], v0, __LINE__);
	for (size_t i = 1; i < sizeof(same) / sizeof(same[0]); i++) {
		version_of(same[i], v, __LINE__);
		ck_assert_msg(strcmp(v, v0) == 0, "case %zu: version changed", i);
	}
}
END_TEST

START_TEST(test_version_before_breakpoint_counts)
{
	static const char *const differ[] = {
		/* system text */
		VBASE_HEAD "'system':[{'type':'text','text':'Shared prefix!',"
		           "'cache_control':{'type':'ephemeral'}}],'messages':[{'role':'user',"
		           "'content':'Question one?'}]}",
		/* a tool */
		"{'model':'claude-test','max_tokens':512,'tools':[" TOOL_W
		",{'name':'g','input_schema':{}}],'tool_choice':{'type':'auto'}," SYS_BP
		",'messages':[{'role':'user','content':'Question one?'}]}",
		/* the model */
		"{'model':'claude-test-2','max_tokens':512,'tools':[" TOOL_W
		"],'tool_choice':{'type':'auto'}," SYS_BP
		",'messages':[{'role':'user','content':'Question one?'}]}",
		/* tool_choice */
		"{'model':'claude-test','max_tokens':512,'tools':[" TOOL_W
		"],'tool_choice':{'type':'none'}," SYS_BP
		",'messages':[{'role':'user','content':'Question one?'}]}",
		/* thinking settings */
		VBASE_HEAD "'thinking':{'type':'disabled'}," SYS_BP
		           ",'messages':[{'role':'user','content':'Question one?'}]}",
		/* the breakpoint moved onto the message: the message is now in the prefix */
		VBASE_HEAD
		"'system':[{'type':'text','text':'Shared prefix.'}],'messages':[{'role':'user',"
		"'content':[{'type':'text','text':'Question one?',"
		"'cache_control':{'type':'ephemeral'}}]}]}",
	};
	char v0[65], v[65];

	version_of(VBASE_HEAD SYS_BP ",'messages':[{'role':'user','content':'Question one?'}]}", v0,
	           __LINE__);
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		version_of(differ[i], v, __LINE__);
		ck_assert_msg(strcmp(v, v0) != 0, "case %zu: version did not change", i);
	}
}
END_TEST

START_TEST(test_version_automatic_whole_template)
{
	/* With automatic caching the whole template is the prefix. */
	char a[65], b[65];

	version_of("{'model':'claude-test','max_tokens':512,'cache_control':{'type':'ephemeral'},"
	           "'messages':[{'role':'user','content':'Question one?'}]}",
	           a, __LINE__);
	version_of("{'model':'claude-test','max_tokens':512,'cache_control':{'type':'ephemeral'},"
	           "'messages':[{'role':'user','content':'Question two?'}]}",
	           b, __LINE__);
	ck_assert_str_ne(a, b);
	version_of("{'model':'claude-test','max_tokens':64,'cache_control':{'type':'ephemeral'},"
	           "'messages':[{'role':'user','content':'Question two?'}],'temperature':0.5}",
	           a, __LINE__);
	ck_assert_str_eq(a, b);
}
END_TEST

/* ---- usage ---------------------------------------------------------------------------- */

START_TEST(test_usage_fixtures)
{
	size_t len;
	char *body = tu_fixture("anthropic/response_hit.json", &len);
	struct warm_usage u;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(adapter_anthropic_ops.parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_HIT);
	ck_assert_int_eq(u.read, 4096);
	ck_assert_int_eq(u.write, 0);
	ck_assert_int_eq(u.input, 12);
	ck_assert_int_eq(u.output, 0);
	free(body);

	body = tu_fixture("anthropic/response_write.json", &len);
	ck_assert_int_eq(adapter_anthropic_ops.parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_WRITE);
	ck_assert_int_eq(u.read, 0);
	ck_assert_int_eq(u.write, 4096);
	free(body);
}
END_TEST

START_TEST(test_usage_classes)
{
	USAGE_OK("{'usage':{'input_tokens':5,'cache_read_input_tokens':3000,"
	         "'cache_creation_input_tokens':0,'output_tokens':0}}",
	         WARM_HIT, 3000, 0, 5, 0);
	USAGE_OK("{'usage':{'input_tokens':5,'cache_read_input_tokens':0,"
	         "'cache_creation_input_tokens':3000,'output_tokens':1}}",
	         WARM_WRITE, 0, 3000, 5, 1);
	/* A partial read with a write is a write: part of the prefix was cold. */
	USAGE_OK("{'usage':{'input_tokens':5,'cache_read_input_tokens':2048,"
	         "'cache_creation_input_tokens':1024,'output_tokens':0}}",
	         WARM_WRITE, 2048, 1024, 5, 0);
	USAGE_OK("{'usage':{'input_tokens':300,'cache_read_input_tokens':0,"
	         "'cache_creation_input_tokens':0,'output_tokens':0}}",
	         WARM_NONE, 0, 0, 300, 0);
	/* Absent or null fields count as 0. */
	USAGE_OK("{'usage':{'input_tokens':7}}", WARM_NONE, 0, 0, 7, 0);
	USAGE_OK("{'usage':{'input_tokens':7,'cache_read_input_tokens':null,"
	         "'cache_creation_input_tokens':null,'output_tokens':null}}",
	         WARM_NONE, 0, 0, 7, 0);
	USAGE_OK("{'usage':{'cache_read_input_tokens':10,'cache_creation_input_tokens':null}}",
	         WARM_HIT, 10, 0, 0, 0);
	/* the bound itself is a (huge) real answer */
	USAGE_OK("{'usage':{'input_tokens':100000000,'cache_read_input_tokens':100000000,"
	         "'cache_creation_input_tokens':0,'output_tokens':100000000}}",
	         WARM_HIT, 100000000, 0, 100000000, 100000000);
}
END_TEST

START_TEST(test_usage_errors)
{
	USAGE_ERR("{'id':'msg_test','content':[]}", "usage");
	USAGE_ERR("{'usage':null}", "usage");
	USAGE_ERR("{'usage':[1]}", "usage");
	USAGE_ERR("{'usage':{'cache_read_input_tokens':'4096'}}", "usage.cache_read_input_tokens");
	USAGE_ERR("{'usage':{'cache_creation_input_tokens':-1}}",
	          "usage.cache_creation_input_tokens is negative");
	USAGE_ERR("{'usage':{'input_tokens':1.5}}", "usage.input_tokens is not an integer");
	USAGE_ERR("{'usage':{'output_tokens':true}}", "usage.output_tokens");
	/* An absurd count is the answer's fault, not a number to bill (issue 10). */
	USAGE_ERR("{'usage':{'cache_read_input_tokens':3000000000000}}",
	          "usage.cache_read_input_tokens = 3000000000000 is more than 100000000 tokens");
	USAGE_ERR("{'usage':{'input_tokens':5,'cache_creation_input_tokens':100000001}}",
	          "usage.cache_creation_input_tokens = 100000001 is more than 100000000");
	USAGE_ERR("{'usage':{'output_tokens':18446744073709551615}}",
	          "usage.output_tokens = 18446744073709551615 is more than 100000000");
	au_usage_err(&adapter_anthropic_ops, "<html>502 Bad Gateway</html>",
	             "response is not JSON: line 1, column 1", __LINE__);
	au_usage_err(&adapter_anthropic_ops, "", "response is not JSON", __LINE__);
	au_usage_err(&adapter_anthropic_ops, "{\"usage\":{\"input_tokens\":1}",
	             "response is not JSON", __LINE__);
}
END_TEST

START_TEST(test_usage_error_in_later_field)
{
	struct warm_usage u = { WARM_HIT, 1, 2, 3, 4 };
	struct errmsg e = { { 0 } };
	const char *b = "{\"usage\":{\"cache_read_input_tokens\":5,\"output_tokens\":\"x\"}}";

	ck_assert_int_eq(adapter_anthropic_ops.parse_ok(b, strlen(b), &u, &e), -EPROTO);
	ck_assert_ptr_nonnull(strstr(e.text, "usage.output_tokens"));
}
END_TEST

/* ---- the body rules for other kinds (anthropic_build_body) ----------------------------- */

/* Builds tq through anthropic_build_body() with o; returns the result in b. */
static int build_body(const char *tq, const struct anthropic_options *o, struct warm_build *b,
                      struct errmsg *e)
{
	json_object *doc = json_tokener_parse(Q(tq));
	int r;

	ck_assert_ptr_nonnull(doc);
	memset(b, 0, sizeof(*b));
	r = anthropic_build_body(doc, NULL, o, b, e);
	json_object_put(doc);
	return r;
}

START_TEST(test_body_for_another_kind)
{
	static const struct anthropic_options o = { .model = "anthropic.claude-opus-4-7-v1:0",
		                                    .family = "claude-opus-4-7-v1:0",
		                                    .version = "bedrock-2023-05-31",
		                                    .service = "Bedrock" };
	struct warm_build b, b2;
	struct errmsg e = { { 0 } };

	/* The version string in the body, no model: the same rules as the
	 * Messages API, the model the URL names, no path (the caller's). */
	ck_assert_int_eq(
	        build_body("{'anthropic_version':'bedrock-2023-05-31','max_tokens':300," SYS_BP
	                   ",'messages':[{'role':'assistant','content':'Hi'}]}",
	                   &o, &b, &e),
	        0);
	ck_assert_str_eq(b.body,
	                 Q("{'anthropic_version':'bedrock-2023-05-31','max_tokens':0," SYS_BP
	                   ",'messages':[{'role':'assistant','content':'Hi'},"
	                   "{'role':'user','content':'.'}]}"));
	ck_assert_str_eq(b.model, "anthropic.claude-opus-4-7-v1:0");
	ck_assert_ptr_null(b.path);
	ck_assert_int_eq(b.min_cacheable, 2048); /* the family's minimum */
	ck_assert_int_eq(b.nbp, 1);
	ck_assert(strstr(b.prefix.data, "M:anthropic.claude-opus-4-7-v1:0\n") == b.prefix.data);
	/* Another model in the URL: another version. */
	{
		struct anthropic_options o2 = o;
		o2.model = "anthropic.claude-sonnet-4-5-20250929-v1:0";
		o2.family = NULL;
		ck_assert_int_eq(build_body("{'anthropic_version':'bedrock-2023-05-31',"
		                            "'max_tokens':300," SYS_BP
		                            ",'messages':[{'role':'user','content':'Hi'}]}",
		                            &o2, &b2, &e),
		                 0);
		ck_assert_str_ne(b.bp_hashes[0], b2.bp_hashes[0]);
		ck_assert_int_eq(b2.min_cacheable, 1024); /* unknown name: the default */
		warm_build_free(&b2);
	}
	warm_build_free(&b);

	ck_assert_int_eq(build_body("{'max_tokens':300," SYS_BP
	                            ",'messages':[{'role':'user','content':'Hi'}]}",
	                            &o, &b, &e),
	                 -EINVAL);
	ck_assert_str_eq(e.text, "\"anthropic_version\" must be \"bedrock-2023-05-31\" (Bedrock "
	                         "requires it in the body)");
	warm_build_free(&b);
	ck_assert_int_eq(
	        build_body("{'anthropic_version':'vertex-2023-10-16','max_tokens':300," SYS_BP
	                   ",'messages':[{'role':'user','content':'Hi'}]}",
	                   &o, &b, &e),
	        -EINVAL);
	warm_build_free(&b);
	ck_assert_int_eq(build_body("{'anthropic_version':'bedrock-2023-05-31','model':'claude-x',"
	                            "'max_tokens':300," SYS_BP
	                            ",'messages':[{'role':'user','content':'Hi'}]}",
	                            &o, &b, &e),
	                 -EINVAL);
	ck_assert_msg(strstr(e.text, "must not name a \"model\": Bedrock takes it from the URL") !=
	                      NULL,
	              "%s", e.text);
	warm_build_free(&b);
}
END_TEST

/* ---- errors, headers ------------------------------------------------------------------ */

START_TEST(test_parse_error)
{
	char body[400], want[400];

	ERROR_TEXT(529,
	           "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
	           "\"message\":\"Overloaded\"}}",
	           "HTTP 529 overloaded_error: Overloaded");
	ERROR_TEXT(400,
	           "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
	           "\"message\":\"max_tokens: Field required\"},\"request_id\":\"req_test_01\"}",
	           "HTTP 400 invalid_request_error: max_tokens: Field required");
	ERROR_TEXT(500, "{\"type\":\"error\",\"error\":{\"message\":\"boom\"}}", "HTTP 500: boom");
	ERROR_TEXT(502, "<html>\r\n<body>502 Bad Gateway</body>\r\n</html>",
	           "HTTP 502: <html>  <body>502 Bad Gateway</body>  </html>");
	ERROR_TEXT(500, "", "HTTP 500 with an empty body");
	/* JSON without a message: the body's start is the text. */
	ERROR_TEXT(503, "{\"error\":{\"type\":\"x\"}}", "HTTP 503: {\"error\":{\"type\":\"x\"}}");
	/* A long body is cut at 160 printable characters. */
	memset(body, 'x', 300);
	body[300] = '\0';
	snprintf(want, sizeof(want), "HTTP 504: %.160s...", body);
	ERROR_TEXT(504, body, want);
}
END_TEST

START_TEST(test_headers)
{
	struct adapter_header h[ADAPTER_MAX_HEADERS];
	int n = adapter_anthropic_ops.headers("sk-ant-test-not-a-key", h);

	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(h[0].name, "content-type");
	ck_assert_ptr_null(h[0].prefix);
	ck_assert_str_eq(h[0].value, "application/json");
	ck_assert_str_eq(h[1].name, "anthropic-version");
	ck_assert_str_eq(h[1].value, "2023-06-01");
	ck_assert_str_eq(h[2].name, "x-api-key");
	ck_assert_ptr_null(h[2].prefix);
	ck_assert_str_eq(h[2].value, "sk-ant-test-not-a-key");

	n = adapter_anthropic_ops.headers(NULL, h);
	ck_assert_int_eq(n, 2);
	for (int i = 0; i < n; i++)
		ck_assert_str_ne(h[i].name, "x-api-key");
	ck_assert_int_eq(adapter_anthropic_ops.kind, PROVIDER_ANTHROPIC);
	ck_assert(adapter_anthropic_ops.key_required);
	ck_assert_ptr_eq(adapter_ops_for(PROVIDER_ANTHROPIC), &adapter_anthropic_ops);
}
END_TEST

static Suite *anthropic_suite(void)
{
	Suite *s = suite_create("adapter_anthropic");
	TCase *tc = tcase_create("warm");

	tcase_add_checked_fixture(tc, NULL, au_teardown);
	tcase_add_test(tc, test_full_template_byte_identical);
	tcase_add_test(tc, test_ends_with_user);
	tcase_add_test(tc, test_ends_with_assistant);
	tcase_add_test(tc, test_ends_with_tool_use);
	tcase_add_test(tc, test_stream_true_becomes_false);
	tcase_add_test(tc, test_everything_else_survives);
	tcase_add_test(tc, test_automatic_ends_with_assistant_string);
	tcase_add_test(tc, test_automatic_ends_with_assistant_blocks);
	tcase_add_test(tc, test_automatic_last_block_already_marked);
	tcase_add_test(tc, test_automatic_ends_with_user_unchanged);
	tcase_add_test(tc, test_automatic_ends_with_thinking_block);
	tcase_add_test(tc, test_max_tokens_choice);
	tcase_add_test(tc, test_thinking_enabled_unwarmable);
	tcase_add_test(tc, test_body_for_another_kind);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, NULL, au_teardown);
	tcase_add_test(tc, test_breakpoint_limits);
	tcase_add_test(tc, test_cache_control_errors);
	tcase_add_test(tc, test_ttl_order);
	tcase_add_test(tc, test_template_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("version");
	tcase_add_checked_fixture(tc, NULL, au_teardown);
	tcase_add_test(tc, test_version_format);
	tcase_add_test(tc, test_version_after_breakpoint_ignored);
	tcase_add_test(tc, test_version_before_breakpoint_counts);
	tcase_add_test(tc, test_version_automatic_whole_template);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_checked_fixture(tc, NULL, au_teardown);
	tcase_add_test(tc, test_usage_fixtures);
	tcase_add_test(tc, test_usage_classes);
	tcase_add_test(tc, test_usage_errors);
	tcase_add_test(tc, test_usage_error_in_later_field);
	tcase_add_test(tc, test_parse_error);
	tcase_add_test(tc, test_headers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(anthropic_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

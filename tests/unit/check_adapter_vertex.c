/* check_adapter_vertex: Claude on Vertex AI (core/adapter_vertex.c), through
 * template_from_bytes() and the ops table: the warm body byte for byte
 * (Anthropic's rules with anthropic_version in the body and no model), the
 * rawPredict path and its encoding, the version, usage, Google's and the
 * model's error shapes, and the fixed header lines (no secret in them).
 *
 * Templates are written with ' for " (see Q()). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_vertex.h"
#include "adapters.h"
#include "adapterutil.h"
#include "ratelimit.h"
#include "template.h"
#include "testutil.h"

static char base_url[] = "https://us-east5-aiplatform.googleapis.com";
static char prov_name[] = "vertex-test";
static char project[] = "example-project";
static char region[] = "us-east5";
static char tgt_name[] = "support-bot";
static char model[] = "claude-sonnet-4-5@20250929";
static struct cfg_provider prov = { .name = prov_name,
	                            .kind = PROVIDER_VERTEX,
	                            .base_url = base_url,
	                            .project = project,
	                            .region = region };
static struct cfg_target tgt = {
	.name = tgt_name, .provider = prov_name, .ttl_s = 300, .model = model
};

#define URL_PREFIX                                                                                 \
	"https://us-east5-aiplatform.googleapis.com/v1/projects/example-project/locations/"        \
	"us-east5/publishers/anthropic/models/"

/* ---- helpers (adapterutil.h) for the target above ------------------------------------ */

#define BUILD_OK(tq)                 au_build_ok(&tgt, &prov, tq, __LINE__)
#define EXPECT_ERR_T(ct, tq, needle) au_expect_err(ct, &prov, tq, -EINVAL, needle, __LINE__)
#define EXPECT_ERR(tq, needle)       EXPECT_ERR_T(&tgt, tq, needle)

#define V "'anthropic_version':'vertex-2023-10-16'"
#define SYS                                                                                        \
	"'system':[{'type':'text','text':'Shared prefix.','cache_control':{'type':'ephemeral'}}]"

/* ---- the warm body -------------------------------------------------------------------- */

/* Anthropic's full fixture, spelt for Vertex: the same edits, byte for byte. */
START_TEST(test_full_template_byte_identical)
{
	struct tmpl *t = au_expect_fixture_warm(&tgt, &prov, "vertex/full", __LINE__);

	ck_assert_str_eq(t->url, URL_PREFIX "claude-sonnet-4-5@20250929:rawPredict");
	ck_assert_str_eq(t->model, "claude-sonnet-4-5@20250929");
	ck_assert_int_eq(t->endpoint, ENDPOINT_MESSAGES);
	ck_assert_int_eq(t->max_tokens, 0);
	ck_assert_str_eq(t->unwarmable, "");
	ck_assert_str_eq(t->notes, "max_tokens 0, stream false");
	ck_assert_double_eq(t->ttl_s, 300);
	ck_assert_int_eq(t->nbp, 3);
	ck_assert_int_eq(t->min_cacheable, 1024); /* claude-sonnet-4-5's */
	tmpl_unref(t);
}
END_TEST

/* Every Anthropic rule holds: a turn appended after an assistant turn, the
 * automatic marker pinned first. */
START_TEST(test_anthropic_rules)
{
	struct tmpl *t = BUILD_OK("{" V ",'max_tokens':512,'cache_control':{'type':'ephemeral'},"
	                          "'messages':[{'role':'user','content':'Hi'},"
	                          "{'role':'assistant','content':'Hello!'}]}");

	ck_assert_str_eq(
	        t->body,
	        Q("{" V ",'max_tokens':0,'messages':[{'role':'user','content':'Hi'},"
	          "{'role':'assistant','content':[{'type':'text','text':'Hello!',"
	          "'cache_control':{'type':'ephemeral'}}]},{'role':'user','content':'.'}]}"));
	ck_assert_ptr_nonnull(strstr(t->notes, "automatic breakpoint pinned"));
	tmpl_unref(t);

	/* Budget thinking: no minimal warm, reported, no body. */
	t = BUILD_OK("{" V
	             ",'max_tokens':4096,'thinking':{'type':'enabled','budget_tokens':2048}," SYS
	             ",'messages':[{'role':'user','content':'Hi'}]}");
	ck_assert_ptr_null(t->body);
	ck_assert_ptr_nonnull(strstr(t->unwarmable, "thinking is enabled"));
	ck_assert_str_eq(t->url, URL_PREFIX "claude-sonnet-4-5@20250929:rawPredict");
	tmpl_unref(t);
}
END_TEST

/* The version covers the model the URL names: two models, two versions; and
 * the same template for Anthropic's API is the same prefix but for its model. */
START_TEST(test_version_follows_model)
{
	const char *tq =
	        "{" V ",'max_tokens':16," SYS ",'messages':[{'role':'user','content':'Hi'}]}";
	struct cfg_target other = tgt;
	struct tmpl *a = BUILD_OK(tq), *b;
	char opus[] = "claude-opus-4-5@20251101";

	other.model = opus;
	b = au_build_ok(&other, &prov, tq, __LINE__);
	ck_assert_str_ne(a->version, b->version);
	ck_assert_str_eq(b->model, "claude-opus-4-5@20251101");
	ck_assert_int_eq(b->min_cacheable, 4096);
	tmpl_unref(b);
	/* Only the text after the breakpoint changes: the same version. */
	b = BUILD_OK("{" V ",'max_tokens':16," SYS
	             ",'messages':[{'role':'user','content':'Bye'}]}");
	ck_assert_str_eq(a->version, b->version);
	tmpl_unref(a);
	tmpl_unref(b);
}
END_TEST

START_TEST(test_template_errors)
{
	struct cfg_target none = tgt;

	EXPECT_ERR("{'max_tokens':16," SYS ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"anthropic_version\" must be \"vertex-2023-10-16\"");
	EXPECT_ERR("{'anthropic_version':'bedrock-2023-05-31','max_tokens':16," SYS
	           ",'messages':[{'role':'user','content':'Hi'}]}",
	           "\"anthropic_version\" must be \"vertex-2023-10-16\" (Vertex AI requires it in");
	EXPECT_ERR("{" V ",'model':'claude-sonnet-4-5','max_tokens':16," SYS
	           ",'messages':[{'role':'user','content':'Hi'}]}",
	           "the body must not name a \"model\": Vertex AI takes it from the URL");
	EXPECT_ERR("{" V ",'max_tokens':16,'messages':[{'role':'user','content':'Hi'}]}",
	           "no cache_control breakpoint");
	none.model = NULL;
	EXPECT_ERR_T(&none,
	             "{" V ",'max_tokens':16," SYS ",'messages':[{'role':'user','content':'Hi'}]}",
	             "a vertex target needs \"model\"");
	EXPECT_ERR_T(NULL,
	             "{" V ",'max_tokens':16," SYS ",'messages':[{'role':'user','content':'Hi'}]}",
	             "a vertex target needs \"model\"");
}
END_TEST

/* ---- the path ------------------------------------------------------------------------- */

START_TEST(test_path)
{
	char *p = adapter_vertex_path("example-project", "global", "claude-sonnet-4-5@20250929");

	ck_assert_str_eq(p, "/v1/projects/example-project/locations/global/publishers/anthropic/"
	                    "models/claude-sonnet-4-5@20250929:rawPredict");
	free(p);
	/* Nothing in a name adds a segment, a query, a fragment or the custom
	 * method's ':'; '@', '-', '.', '_' and '~' stay. */
	p = adapter_vertex_path("example.com:proj", "us-east5", "a/b?c#d:e f%@1.2_3~");
	ck_assert_str_eq(p, "/v1/projects/example.com%3Aproj/locations/us-east5/publishers/"
	                    "anthropic/models/a%2Fb%3Fc%23d%3Ae%20f%25@1.2_3~:rawPredict");
	free(p);
	p = adapter_vertex_path("p", "r", "caf\xc3\xa9");
	ck_assert_str_eq(p, "/v1/projects/p/locations/r/publishers/anthropic/models/"
	                    "caf%C3%A9:rawPredict");
	free(p);
}
END_TEST

/* ---- answers -------------------------------------------------------------------------- */

START_TEST(test_usage)
{
	const struct adapter_ops *ops = adapter_ops_for(PROVIDER_VERTEX);
	struct warm_usage u;
	struct errmsg e = { { 0 } };
	size_t len;
	char *body = tu_fixture("vertex/response_hit.json", &len);

	ck_assert_int_eq(ops->parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_HIT);
	ck_assert_int_eq(u.read, 4096);
	ck_assert_int_eq(u.write, 0);
	ck_assert_int_eq(u.input, 14);
	ck_assert_int_eq(u.output, 0);
	free(body);
	body = tu_fixture("vertex/response_write.json", &len);
	ck_assert_int_eq(ops->parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_WRITE);
	ck_assert_int_eq(u.write, 4096);
	free(body);
	ck_assert_int_eq(ops->parse_ok("{\"id\":1}", 8, &u, &e), -EPROTO);
	ck_assert_str_eq(e.text, "response has no usage object");
}
END_TEST

static void expect_error_text(const char *file, long status, const char *want)
{
	const struct adapter_ops *ops = adapter_ops_for(PROVIDER_VERTEX);
	struct errmsg e = { { 0 } };
	size_t len;
	char *body = tu_fixture(file, &len);

	ops->parse_error(status, body, len, &e);
	ck_assert_msg(strncmp(e.text, want, strlen(want)) == 0, "%s: \"%s\", want \"%s...\"", file,
	              e.text, want);
	free(body);
}

START_TEST(test_errors)
{
	/* Google's own shape names the error by its status... */
	expect_error_text("vertex/error_401.json", 401,
	                  "HTTP 401 UNAUTHENTICATED: Request had invalid authentication");
	expect_error_text("vertex/error_404_model.json", 404,
	                  "HTTP 404 NOT_FOUND: Publisher Model `projects/example-project/");
	/* ...the model's passes through in Anthropic's. */
	expect_error_text("vertex/error_400_model.json", 400,
	                  "HTTP 400 invalid_request_error: max_tokens: 0 is not allowed");
	expect_error_text("vertex/error_429.json", 429, "HTTP 429 RESOURCE_EXHAUSTED: Quota");
}
END_TEST

/* Vertex's 429 is a per-minute quota: retried, never taken for a spend
 * limit that stops the credential. */
START_TEST(test_quota_is_not_spend_limit)
{
	size_t len;
	char *body = tu_fixture("vertex/error_429.json", &len);

	ck_assert(!ratelimit_is_spend_limit(429, body, len));
	free(body);
}
END_TEST

/* The fixed lines carry no secret: the token is each request's own. */
START_TEST(test_headers)
{
	const struct adapter_ops *ops = adapter_ops_for(PROVIDER_VERTEX);
	struct adapter_header h[ADAPTER_MAX_HEADERS];
	int n = ops->headers("ignored-key-material", h);

	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(h[0].name, "content-type");
	ck_assert_str_eq(h[0].value, "application/json");
	ck_assert(!ops->key_required);
	ck_assert(adapter_kind_breakpoints(PROVIDER_VERTEX));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("adapter_vertex");
	TCase *tc = tcase_create("vertex");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, NULL, au_teardown);
	tcase_add_test(tc, test_full_template_byte_identical);
	tcase_add_test(tc, test_anthropic_rules);
	tcase_add_test(tc, test_version_follows_model);
	tcase_add_test(tc, test_template_errors);
	tcase_add_test(tc, test_path);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_quota_is_not_spend_limit);
	tcase_add_test(tc, test_headers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

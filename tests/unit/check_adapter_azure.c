/* check_adapter_azure: the Azure OpenAI adapter (core/adapter_azure.c),
 * through template_from_bytes() and its ops table: the paths (deployments
 * with api-version, the v1 API), the warm body (OpenAI's rules), the key's
 * header, usage and error parsing. Templates are written with ' for ". */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_azure.h"
#include "adapters.h"
#include "adapterutil.h"
#include "template.h"
#include "testutil.h"

static char base_url[] = "https://res.openai.azure.com";
static char prov_name[] = "azure";
static char tgt_name[] = "support";
static char api_version[] = "2024-10-21";
static char deployment[] = "gpt-4o prod/eu";
static struct cfg_provider prov = { .name = prov_name,
	                            .kind = PROVIDER_AZURE_OPENAI,
	                            .base_url = base_url,
	                            .api_version = api_version };
static struct cfg_target tgt_v1 = { .name = tgt_name, .provider = prov_name, .ttl_s = 300 };
static struct cfg_target tgt_dep = {
	.name = tgt_name, .provider = prov_name, .ttl_s = 300, .deployment = deployment
};

/* helpers (adapterutil.h) for the targets above */
#define BUILD_OK_T(ct, tq)           au_build_ok(ct, &prov, tq, __LINE__)
#define EXPECT_ERR_T(ct, tq, needle) au_expect_err(ct, &prov, tq, -EINVAL, needle, __LINE__)

#define MSGS "'messages':[{'role':'system','content':'Sys'},{'role':'user','content':'Hi'}]"

START_TEST(test_registry)
{
	ck_assert_ptr_eq(adapter_ops_for(PROVIDER_AZURE_OPENAI), &adapter_azure_ops);
	ck_assert(adapter_azure_ops.key_required);
	ck_assert_ptr_null(adapter_azure_ops.cache);
}
END_TEST

/* The fixture: OpenAI's chat rules byte for byte, no model (the URL names
 * the deployment), the deployment and api-version encoded in the URL. */
START_TEST(test_deployment_fixture)
{
	struct tmpl *t = au_expect_fixture_warm(&tgt_dep, &prov, "azure/full", __LINE__);

	ck_assert_str_eq(t->url, "https://res.openai.azure.com/openai/deployments/"
	                         "gpt-4o%20prod%2Feu/chat/completions?api-version=2024-10-21");
	ck_assert_str_eq(t->model, "gpt-4o prod/eu");
	ck_assert_int_eq(t->endpoint, ENDPOINT_CHAT);
	ck_assert_int_eq(t->max_tokens, 1);
	ck_assert_str_eq(t->notes, "max_tokens 1, stream false, dropped stream_options");
	ck_assert(!t->managed);
	tmpl_unref(t);
}
END_TEST

START_TEST(test_paths_and_versions)
{
	struct tmpl *a, *b, *c, *r;

	/* v1: the template's model names the deployment; no api-version */
	a = BUILD_OK_T(&tgt_v1, "{'model':'gpt-4o-prod'," MSGS "}");
	ck_assert_str_eq(a->url, "https://res.openai.azure.com/openai/v1/chat/completions");
	ck_assert_str_eq(a->body, Q("{'model':'gpt-4o-prod'," MSGS ",'max_tokens':1}"));
	/* the deployments path: the same body, with or without a model */
	b = BUILD_OK_T(&tgt_dep, "{'model':'gpt-4o-prod'," MSGS "}");
	c = BUILD_OK_T(&tgt_dep, "{" MSGS "}");
	ck_assert_str_eq(c->body, Q("{" MSGS ",'max_tokens':1}"));
	/* the version follows the model: the deployment's name when the template has none */
	ck_assert_str_eq(a->version, b->version);
	ck_assert_str_ne(b->version, c->version);
	/* reasoning deployments as OpenAI's: by the model's name */
	tmpl_unref(c);
	c = BUILD_OK_T(&tgt_v1, "{'model':'o3-mini-prod'," MSGS "}");
	ck_assert(strstr(c->body, "\"max_completion_tokens\":1") != NULL);
	/* the Responses API on the v1 path */
	r = BUILD_OK_T(&tgt_v1, "{'model':'gpt-5-prod','input':'Hi','max_output_tokens':500}");
	ck_assert_str_eq(r->url, "https://res.openai.azure.com/openai/v1/responses");
	ck_assert_str_eq(r->body, Q("{'model':'gpt-5-prod','input':'Hi','max_output_tokens':16}"));
	ck_assert_int_eq(r->endpoint, ENDPOINT_RESPONSES);
	tmpl_unref(a);
	tmpl_unref(b);
	tmpl_unref(c);
	tmpl_unref(r);
}
END_TEST

START_TEST(test_template_errors)
{
	struct cfg_provider saved = prov;

	EXPECT_ERR_T(&tgt_v1, "{" MSGS "}", "\"model\" must be a non-empty string");
	EXPECT_ERR_T(&tgt_dep, "{'model':'gpt-5','input':'Hi'}",
	             "Azure's Responses API has no deployments path");
	prov.api_version = NULL;
	EXPECT_ERR_T(&tgt_dep, "{" MSGS "}",
	             "the deployments path needs the provider's api_version");
	prov = saved;
}
END_TEST

START_TEST(test_headers)
{
	struct adapter_header h[ADAPTER_MAX_HEADERS];
	int n = adapter_azure_ops.headers("test-key-1", h);

	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(h[1].name, "api-key");
	ck_assert_ptr_null(h[1].prefix);
	ck_assert_str_eq(h[1].value, "test-key-1");
	ck_assert_int_eq(adapter_azure_ops.headers(NULL, h), 1);
}
END_TEST

START_TEST(test_usage)
{
	size_t len;
	char *body = tu_fixture("azure/response_hit.json", &len);
	struct warm_usage u;
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(adapter_azure_ops.parse_ok(body, len, &u, &e), 0);
	ck_assert_int_eq(u.result, WARM_HIT);
	ck_assert_int_eq(u.read, 2176);
	ck_assert_int_eq(u.input, 2310 - 2176);
	ck_assert_int_eq(u.output, 1);
	free(body);
}
END_TEST

START_TEST(test_errors)
{
	size_t len;
	char *body = tu_fixture("azure/error_401.json", &len);
	struct errmsg e = { { 0 } };

	adapter_azure_ops.parse_error(401, body, len, &e);
	ck_assert_str_eq(e.text, "HTTP 401: Access denied due to invalid subscription key or wrong "
	                         "API endpoint. Make sure to provide a valid key for an active "
	                         "subscription and use a correct regional API endpoint for your "
	                         "resource.");
	free(body);
	body = tu_fixture("azure/error_deployment.json", &len);
	adapter_azure_ops.parse_error(404, body, len, &e);
	ck_assert(strncmp(e.text, "HTTP 404 DeploymentNotFound: The API deployment", 47) == 0);
	free(body);
	adapter_azure_ops.parse_error(502, "<html>bad gateway</html>", 24, &e);
	ck_assert_str_eq(e.text, "HTTP 502: <html>bad gateway</html>");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("adapter_azure");
	TCase *tc = tcase_create("azure");

	tcase_add_checked_fixture(tc, NULL, au_teardown);
	tcase_add_test(tc, test_registry);
	tcase_add_test(tc, test_deployment_fixture);
	tcase_add_test(tc, test_paths_and_versions);
	tcase_add_test(tc, test_template_errors);
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_errors);
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

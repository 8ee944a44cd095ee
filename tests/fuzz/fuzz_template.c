/* fuzz_template: template loading and warm-body building (core/template.c
 * and the adapters' build): a request_file is the application's request
 * body, written by whoever deploys the application, and warmd derives the
 * warm body, the version hash and the breakpoints from it.
 *
 * Each input is built for every provider kind, with the target settings
 * that change what build does (allow_edit, endpoint, warm_mode, cache_key,
 * a Bedrock target's model and API: InvokeModel or Converse, and the other
 * cloud kinds' model, project, region, deployment and api_version). */
#include "fuzz.h"
#include "jsonx.h"
#include "template.h"

struct variant {
	enum provider_kind kind;
	const char *base_url;
	enum endpoint endpoint;
	enum warm_mode mode;
	unsigned allow_edit;
	const char *cache_key;
	const char *model;                    /* the target's (the cloud kinds) */
	const char *project, *region;         /* its provider's (vertex) */
	const char *deployment, *api_version; /* azure-openai's */
};

#define BEDROCK_URL "https://bedrock-runtime.us-east-1.amazonaws.com"
#define ARN                                                                                        \
	"arn:aws:bedrock:us-east-1:123456789012:inference-profile/"                                \
	"us.anthropic.claude-haiku-4-5-20251001-v1:0"

static const struct variant variants[] = {
	{ PROVIDER_ANTHROPIC, "https://api.anthropic.com", ENDPOINT_AUTO, WARM_MODE_MINIMAL, 0,
	  NULL, NULL, NULL, NULL, NULL, NULL },
	{ PROVIDER_ANTHROPIC, "https://api.anthropic.com", ENDPOINT_MESSAGES, WARM_MODE_MINIMAL,
	  ALLOW_EDIT_THINKING | ALLOW_EDIT_TOOL_CHOICE, NULL, NULL, NULL, NULL, NULL, NULL },
	{ PROVIDER_OPENAI, "https://api.openai.com/v1", ENDPOINT_AUTO, WARM_MODE_MINIMAL, 0,
	  "fuzz-key", NULL, NULL, NULL, NULL, NULL },
	{ PROVIDER_OPENAI, "https://api.openai.com/v1", ENDPOINT_RESPONSES, WARM_MODE_PREWARM, 0,
	  NULL, NULL, NULL, NULL, NULL, NULL },
	{ PROVIDER_OPENAI_COMPAT, "http://127.0.0.1:8000/v1", ENDPOINT_CHAT, WARM_MODE_MINIMAL, 0,
	  NULL, NULL, NULL, NULL, NULL, NULL },
	{ PROVIDER_BEDROCK, BEDROCK_URL, ENDPOINT_AUTO, WARM_MODE_MINIMAL, 0, NULL,
	  "anthropic.claude-sonnet-4-5-20250929-v1:0", NULL, NULL, NULL, NULL },
	{ PROVIDER_BEDROCK, BEDROCK_URL, ENDPOINT_INVOKE, WARM_MODE_MINIMAL,
	  ALLOW_EDIT_THINKING | ALLOW_EDIT_TOOL_CHOICE, NULL, ARN, NULL, NULL, NULL, NULL },
	{ PROVIDER_BEDROCK, BEDROCK_URL, ENDPOINT_CONVERSE, WARM_MODE_MINIMAL, ALLOW_EDIT_THINKING,
	  NULL, "amazon.nova-pro-v1:0", NULL, NULL, NULL, NULL },
	{ PROVIDER_VERTEX, "https://us-east5-aiplatform.googleapis.com", ENDPOINT_AUTO,
	  WARM_MODE_MINIMAL, 0, NULL, "claude-sonnet-4-5@20250929", "example-project", "us-east5",
	  NULL, NULL },
	{ PROVIDER_VERTEX, "https://aiplatform.googleapis.com", ENDPOINT_MESSAGES,
	  WARM_MODE_MINIMAL, ALLOW_EDIT_THINKING, NULL, "a/b?c#d:e%@f", "example.com:p", "global",
	  NULL, NULL },
	{ PROVIDER_AZURE_OPENAI, "https://res.openai.azure.com", ENDPOINT_AUTO, WARM_MODE_MINIMAL,
	  0, NULL, NULL, NULL, NULL, "gpt-4o-prod", "2024-10-21" },
	{ PROVIDER_AZURE_OPENAI, "https://res.openai.azure.com", ENDPOINT_AUTO, WARM_MODE_MINIMAL,
	  0, NULL, NULL, NULL, NULL, NULL, NULL },
	{ PROVIDER_GEMINI, "https://generativelanguage.googleapis.com/v1beta", ENDPOINT_AUTO,
	  WARM_MODE_MINIMAL, 0, NULL, "gemini-2.5-flash", NULL, NULL, NULL, NULL },
};

static void check_tmpl(const struct tmpl *tm, const char *base_url)
{
	json_object *o = NULL;
	struct errmsg e;

	if (strlen(tm->version) != 64 || strspn(tm->version, "0123456789abcdef") != 64)
		abort();
	if (!tm->url || strncmp(tm->url, base_url, strlen(base_url)) != 0)
		abort();
	if (tm->nbp < 0 || tm->nbp > ADAPTER_MAX_BREAKPOINTS)
		abort();
	if (!tm->body) {
		/* No warm exists: only with the reason for it. */
		if (!tm->unwarmable[0])
			abort();
		return;
	}
	/* The warm body goes on the wire as JSON: it must be an object that
	 * reads back under warmd's own strict rules. */
	if (tm->body_len != strlen(tm->body))
		abort();
	if (jsonx_parse(tm->body, tm->body_len, JSONX_MAX_DEPTH + 2, &o, &e) < 0 ||
	    !json_object_is_type(o, json_type_object))
		abort();
	json_object_put(o);
}

/* Vertex: nothing in a name adds a path segment, a query or a fragment,
 * and the body never names a model (the URL does). */
static void check_vertex(const struct tmpl *tm, const char *base_url)
{
	const char *path = tm->url + strlen(base_url);
	json_object *o = NULL;
	struct errmsg e;
	int slashes = 0;

	for (const char *s = path; *s; s++)
		slashes += *s == '/';
	if (slashes != 9 || strpbrk(path, "?# ") ||
	    strcmp(path + strlen(path) - strlen(":rawPredict"), ":rawPredict") != 0)
		abort();
	if (!tm->body)
		return;
	if (jsonx_parse(tm->body, tm->body_len, JSONX_MAX_DEPTH + 2, &o, &e) < 0 ||
	    jsonx_get(o, "model") || !jsonx_get_str(o, "anthropic_version"))
		abort();
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		const struct variant *v = &variants[i];
		struct cfg_provider p = { .name = "fuzz", .kind = v->kind };
		struct cfg_target t = { .name = "fuzz", .provider = "fuzz" };
		struct tmpl *tm = NULL;
		struct errmsg e;

		p.base_url = (char *)v->base_url;
		t.endpoint = v->endpoint;
		t.warm_mode = v->mode;
		t.allow_edit = v->allow_edit;
		t.cache_key = (char *)v->cache_key;
		t.model = (char *)v->model;
		p.project = (char *)v->project;
		p.region = (char *)v->region;
		t.deployment = (char *)v->deployment;
		p.api_version = (char *)v->api_version;
		t.request_file = "/fuzz/request.json";
		t.ttl_s = 300;
		e.text[0] = '\0';
		if (template_from_bytes((const char *)data, size, &t, &p, &tm, &e) < 0) {
			if (!e.text[0] || tm)
				abort();
			continue;
		}
		check_tmpl(tm, v->base_url);
		if (v->kind == PROVIDER_VERTEX)
			check_vertex(tm, v->base_url);
		tmpl_unref(tm);
	}
	return 0;
}

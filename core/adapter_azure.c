/* adapter_azure: Azure OpenAI, which serves OpenAI's chat completions and
 * Responses API from a resource endpoint: the warm is OpenAI's
 * (adapter_openai_build), only the path and the key's header differ.
 *
 * A target with a deployment goes to the deployments path, which needs
 * the provider's api_version:
 *   /openai/deployments/{deployment}/chat/completions?api-version=...
 * and there the template may leave out "model" (the URL names the
 * deployment). Without a deployment it goes to the v1 API, which takes no
 * api-version and reads the deployment from the template's "model":
 *   /openai/v1/chat/completions, /openai/v1/responses
 * Azure documents the Responses API only on the v1 path (and the older
 * /openai/responses?api-version=preview), not under a deployment, so a
 * Responses template with a deployment is a configuration error.
 * The key goes in the api-key header; usage is OpenAI's, errors nearly
 * ({"error": {"code": "DeploymentNotFound", "message": ...}}). */
#include "adapter_azure.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "adapter_openai.h"
#include "buf.h"
#include "jsonx.h"

static int azure_build(json_object *t, const struct adapter_target *ct, struct warm_build *b,
                       struct errmsg *e)
{
	struct adapter_openai_opts o = {
		.chat_path = "/openai/v1/chat/completions",
		.responses_path = "/openai/v1/responses",
	};
	struct buf path = BUF_INIT;
	int r;

	if (ct && ct->deployment) {
		if (!ct->api_version)
			return errmsg_set(e, -EINVAL,
			                  "the deployments path needs the provider's api_version");
		buf_puts(&path, "/openai/deployments/");
		adapter_path_segment(&path, ct->deployment, NULL);
		buf_puts(&path, "/chat/completions?api-version=");
		adapter_path_segment(&path, ct->api_version, NULL);
		o.chat_path = path.data;
		o.responses_path = NULL;
		o.responses_none = "Azure's Responses API has no deployments path: leave out the "
		                   "target's deployment and name the deployment in the template's "
		                   "\"model\" (/openai/v1/responses)";
		o.default_model = ct->deployment;
	}
	r = adapter_openai_build(t, ct, &o, b, e);
	buf_free(&path);
	return r;
}

static int azure_headers(const char *key, struct adapter_header *h)
{
	int n = 0;

	h[n++] = (struct adapter_header){ "content-type", NULL, "application/json" };
	if (key)
		h[n++] = (struct adapter_header){ "api-key", NULL, key };
	return n;
}

static bool all_digits(const char *s)
{
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* Azure's errors name a kind in "code" ("DeploymentNotFound",
 * "BadRequest"), or repeat the status there ("401"), which says nothing. */
static void azure_parse_error(long status, const char *body, size_t len, struct errmsg *e)
{
	json_object *o = NULL, *err;
	const char *code, *msg;

	if (jsonx_parse(body, len, 0, &o, NULL) == 0 && (err = jsonx_get(o, "error")) &&
	    (msg = jsonx_get_str(err, "message"))) {
		code = jsonx_get_str(err, "code");
		adapter_error_text(status, code && !all_digits(code) ? code : NULL, msg, body, len,
		                   e);
	} else {
		adapter_openai_parse_error(status, body, len, e);
	}
	json_object_put(o);
}

const struct adapter_ops adapter_azure_ops = {
	.kind = PROVIDER_AZURE_OPENAI,
	.key_required = true,
	.build = azure_build,
	.headers = azure_headers,
	.parse_ok = adapter_openai_parse_ok,
	.parse_error = azure_parse_error,
};

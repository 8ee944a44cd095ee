/* adapter_bedrock: the bedrock kind, Amazon Bedrock Runtime (no I/O).
 *
 * The target's model (a model id, an inference profile id or an ARN) goes
 * in the path as one segment, percent-encoded once:
 * POST /model/{id}/invoke for an InvokeModel body (a Messages body with
 * "anthropic_version": "bedrock-2023-05-31" and no model, every Anthropic
 * rule applying: anthropic_build_body()), POST /model/{id}/converse for a
 * Converse body (converse_build_body()). With endpoint "auto" a template
 * that has anthropic_version or max_tokens is an InvokeModel body, any other
 * a Converse one. The two answer with different usage fields, which tell
 * them apart; errors are {"message": ...}. */
#include "adapter_bedrock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "adapter_anthropic.h"
#include "adapter_converse.h"
#include "jsonx.h"
#include "xalloc.h"

/* Inference profiles that route across a geography prefix their model id. */
static const char *const geographies[] = { "global.", "us.", "us-gov.", "eu.", "apac.",
	                                   "jp.",     "au.", "ca.",     NULL };

void bedrock_model_name(const char *id, char *out, size_t n)
{
	const char *slash = strncmp(id, "arn:", 4) == 0 ? strrchr(id, '/') : NULL;

	if (slash)
		id = slash + 1;
	for (const char *const *g = geographies; *g; g++)
		if (strncmp(id, *g, strlen(*g)) == 0 && strchr(id + strlen(*g), '.')) {
			id += strlen(*g);
			break;
		}
	snprintf(out, n, "%s", id);
}

static enum endpoint detect_endpoint(json_object *t, const struct adapter_target *ct)
{
	if (ct && ct->endpoint != ENDPOINT_AUTO)
		return ct->endpoint;
	return jsonx_get(t, "anthropic_version") || jsonx_get(t, "max_tokens") ? ENDPOINT_INVOKE
	                                                                       : ENDPOINT_CONVERSE;
}

static int bedrock_build(json_object *t, const struct adapter_target *ct, struct warm_build *b,
                         struct errmsg *e)
{
	enum endpoint ep = detect_endpoint(t, ct);
	char name[256];
	const char *family;
	struct buf path = BUF_INIT;
	int r;

	if (!ct || !ct->model || !*ct->model)
		return errmsg_set(
		        e, -EINVAL,
		        "a bedrock target needs model = \"...\" (a Bedrock model id such as "
		        "anthropic.claude-sonnet-4-5-20250929-v1:0, an inference profile "
		        "id or an ARN)");
	if (ep != ENDPOINT_INVOKE && ep != ENDPOINT_CONVERSE)
		return errmsg_set(e, -EINVAL, "a bedrock target's endpoint is invoke or converse");
	bedrock_model_name(ct->model, name, sizeof(name));
	family = strncmp(name, "anthropic.", 10) == 0 ? name + 10 : NULL;
	if (ep == ENDPOINT_INVOKE) {
		struct anthropic_options o = { .model = ct->model,
			                       .family = family,
			                       .version = BEDROCK_ANTHROPIC_VERSION,
			                       .service = "Bedrock" };
		r = anthropic_build_body(t, ct, &o, b, e);
	} else {
		struct converse_options o = { .model = ct->model, .family = family };
		r = converse_build_body(t, ct, &o, b, e);
	}
	if (r < 0)
		return r;
	/* The version hashes the model as configured; prices go by its name. */
	free(b->model);
	b->model = xstrdup(name);
	buf_puts(&path, "/model/");
	adapter_path_segment(&path, ct->model, NULL);
	buf_puts(&path, ep == ENDPOINT_INVOKE ? "/invoke" : "/converse");
	b->path = buf_steal(&path);
	b->endpoint = ep;
	return 0;
}

static int bedrock_headers(const char *key, struct adapter_header *h)
{
	int n = 0;

	h[n++] = (struct adapter_header){ "content-type", NULL, "application/json" };
	h[n++] = (struct adapter_header){ "accept", NULL, "application/json" };
	if (key) /* a Bedrock API key; without one, each request is signed */
		h[n++] = (struct adapter_header){ "authorization", "Bearer ", key };
	return n;
}

static int bedrock_parse_ok(const char *body, size_t len, struct warm_usage *u, struct errmsg *e)
{
	int r = converse_parse_ok(body, len, u, e);

	return r == -ENOMSG ? anthropic_parse_ok(body, len, u, e) : r;
}

/* {"message": "..."} (or "Message"), with "__type" in some answers
 * ("com.amazon.coral.service#ValidationException", "ThrottlingException:
 * http://..."): the exception's short name. */
static void bedrock_parse_error(long status, const char *body, size_t len, struct errmsg *e)
{
	json_object *o = NULL;
	const char *msg = NULL, *type = NULL;
	char kind[96];

	if (jsonx_parse(body, len, 0, &o, NULL) == 0) {
		msg = jsonx_get_str(o, "message");
		if (!msg)
			msg = jsonx_get_str(o, "Message");
		type = jsonx_get_str(o, "__type");
	}
	if (type) {
		const char *hash = strrchr(type, '#');
		snprintf(kind, sizeof(kind), "%.*s", (int)strcspn(hash ? hash + 1 : type, ":"),
		         hash ? hash + 1 : type);
		type = kind;
	}
	if (msg)
		adapter_error_text(status, type, msg, body, len, e);
	else if (o && jsonx_get(o, "error"))
		anthropic_parse_error(status, body, len, e); /* a model's own error */
	else
		adapter_error_text(status, NULL, NULL, body, len, e);
	json_object_put(o);
}

const struct adapter_ops adapter_bedrock_ops = {
	.kind = PROVIDER_BEDROCK,
	.key_required = false, /* without a Bedrock API key, AWS credentials sign */
	.breakpoints = true,   /* Claude's cache, through InvokeModel or Converse */
	.build = bedrock_build,
	.headers = bedrock_headers,
	.parse_ok = bedrock_parse_ok,
	.parse_error = bedrock_parse_error,
};

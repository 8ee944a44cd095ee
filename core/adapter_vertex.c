/* adapter_vertex: Claude on Google Cloud's Vertex AI (no I/O).
 *
 * Vertex serves Anthropic's Messages API at rawPredict with two changes to
 * the body: the model is named in the URL, not in the body, and the API
 * version is the body's "anthropic_version": "vertex-2023-10-16" instead of
 * a header. Caching, usage and every warm rule are Anthropic's, so the
 * body is built by the Anthropic adapter's own code. Authentication is an
 * OAuth2 bearer token that changes hourly: the credential adds it to each
 * request (runtime/oauth.h), so the fixed lines here carry no secret. */
#include "adapter_vertex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_anthropic.h"
#include "buf.h"

/* Names go in as one path segment each: '@' (a model's version:
 * claude-sonnet-4-5@20250929) as it is, the rest of what is not unreserved
 * percent-encoded, so nothing in a name can add a segment, a query or the
 * ':' that starts Google's custom method. */
#define VERTEX_KEEP "@"

char *adapter_vertex_path(const char *project, const char *region, const char *model)
{
	struct buf b = { 0 };

	buf_puts(&b, "/v1/projects/");
	adapter_path_segment(&b, project, VERTEX_KEEP);
	buf_puts(&b, "/locations/");
	adapter_path_segment(&b, region, VERTEX_KEEP);
	buf_puts(&b, "/publishers/anthropic/models/");
	adapter_path_segment(&b, model, VERTEX_KEEP);
	buf_puts(&b, ":rawPredict");
	return buf_steal(&b);
}

static int vertex_build(json_object *t, const struct adapter_target *ct, struct warm_build *b,
                        struct errmsg *e)
{
	struct anthropic_options o = { .version = VERTEX_ANTHROPIC_VERSION,
		                       .service = "Vertex AI" };
	int r;

	if (!ct || !ct->model || !*ct->model)
		return errmsg_set(e, -EINVAL,
		                  "a vertex target needs \"model\" (such as "
		                  "\"claude-sonnet-4-5@20250929\"): the URL names it");
	if (!ct->project || !*ct->project || !ct->region || !*ct->region)
		return errmsg_set(e, -EINVAL, "a vertex provider needs \"project\" and \"region\"");
	o.model = ct->model;
	r = anthropic_build_body(t, ct, &o, b, e);
	if (r == 0) {
		b->path = adapter_vertex_path(ct->project, ct->region, ct->model);
		b->endpoint = ENDPOINT_MESSAGES;
	}
	return r;
}

/* The token is this request's own line (cred_authorize). */
static int vertex_headers(const char *key, struct adapter_header *h)
{
	(void)key;
	h[0] = (struct adapter_header){ "content-type", NULL, "application/json" };
	return 1;
}

/* Google's own errors ({"error": {"code", "message", "status":
 * "UNAUTHENTICATED"}}) or the model's, passed through in Anthropic's
 * shape ({"type": "error", "error": {"type", "message"}}). */
static void vertex_parse_error(long status, const char *body, size_t len, struct errmsg *e)
{
	static const char *const type_keys[] = { "type", "status", NULL };

	adapter_error_from_body(status, body, len, type_keys, e);
}

const struct adapter_ops adapter_vertex_ops = {
	.kind = PROVIDER_VERTEX,
	.key_required = false,
	.breakpoints = true,
	.build = vertex_build,
	.headers = vertex_headers,
	.parse_ok = anthropic_parse_ok,
	.parse_error = vertex_parse_error,
};

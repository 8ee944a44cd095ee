/* adapter_anthropic: the Anthropic Messages API adapter (no I/O). */
#ifndef WARMD_ADAPTER_ANTHROPIC_H
#define WARMD_ADAPTER_ANTHROPIC_H

#include "adapter.h"

#define ANTHROPIC_VERSION "2023-06-01"

extern const struct adapter_ops adapter_anthropic_ops;

/* For the adapters of the clouds that serve the Messages API (Vertex AI's
 * rawPredict, Bedrock's InvokeModel): the same body rules, with the model
 * in the URL and the API version in the body. */
struct adapter_anthropic_body {
	/* NULL: the template's "model" (required). Else the model the URL
	 * names; the template must not have one. */
	const char *model;
	/* NULL: nothing checked (the public API takes it as a header). Else
	 * the "anthropic_version" the body must carry. */
	const char *version;
	const char *cloud; /* names the API in errors: "Vertex AI" */
};

/* Builds the warm of Messages template t (which it modifies) by every rule
 * of docs/providers.md: everything in ret but the path, which the caller
 * sets. Returns 0 (ret->unwarmable non-empty: no minimal warm, no body),
 * or -EINVAL with e saying what in the template is wrong. */
int adapter_anthropic_build_body(json_object *t, const struct adapter_target *ct,
                                 const struct adapter_anthropic_body *o, struct warm_build *ret,
                                 struct errmsg *e);

/* The usage of a 2xx Messages answer (adapter_ops.parse_ok). */
int adapter_anthropic_parse_ok(const char *body, size_t len, struct warm_usage *ret,
                               struct errmsg *e);

#endif

/* adapter_anthropic: the Anthropic Messages API adapter (no I/O), and the
 * Messages body rules for the kinds that send the same body elsewhere
 * (Bedrock InvokeModel, Vertex rawPredict). */
#ifndef WARMD_ADAPTER_ANTHROPIC_H
#define WARMD_ADAPTER_ANTHROPIC_H

#include "adapter.h"

#define ANTHROPIC_VERSION "2023-06-01"

extern const struct adapter_ops adapter_anthropic_ops;

/* How a kind that sends a Messages body differs from the Messages API. */
struct anthropic_options {
	/* NULL: the body names its model ("model", required). Else the model
	 * the URL names: the body must not have one, and this one is hashed
	 * into the version and reported (warm_build.model). */
	const char *model;
	/* The Anthropic model name inside model, whose minimum cacheable
	 * length applies ("claude-sonnet-4-5-..." in a Bedrock id), or NULL:
	 * the model itself. */
	const char *family;
	/* The "anthropic_version" the body must carry ("bedrock-2023-05-31"),
	 * or NULL: none is required (the Messages API takes it as a header). */
	const char *version;
	/* Where the body goes, for error texts ("Bedrock"); NULL: "Anthropic". */
	const char *service;
};

/* Every rule of the Messages API on a parsed template (which it edits into
 * the warm body): breakpoints, automatic caching, max_tokens 0 where legal,
 * TTLs, minimum lengths, the appended user turn. Fills everything of ret
 * but path and endpoint, which are the caller's. Returns 0 (ret->unwarmable
 * non-empty, and no body, when no minimal warm exists), or -EINVAL with e
 * saying what in the template is wrong. */
int anthropic_build_body(json_object *tmpl, const struct adapter_target *t,
                         const struct anthropic_options *o, struct warm_build *ret,
                         struct errmsg *e);

/* The Messages API's answers: usage into a verdict, and error bodies
 * ({"type":"error","error":{"type","message"}}). As adapter_ops. */
int anthropic_parse_ok(const char *body, size_t len, struct warm_usage *ret, struct errmsg *e);
void anthropic_parse_error(long status, const char *body, size_t len, struct errmsg *e);

/* The minimum cacheable prefix of an Anthropic model (by name prefix:
 * "claude-sonnet-4-5-20250929" -> 1024); 1024 for models it does not know. */
long anthropic_min_cacheable(const char *model);

#endif

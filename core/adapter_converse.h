/* adapter_converse: the rules of Amazon Bedrock's Converse API body (no
 * I/O): its cache points, its minimal budget, its usage. The bedrock kind's
 * adapter (adapter_bedrock.c) calls it for templates that are Converse
 * bodies. */
#ifndef WARMD_ADAPTER_CONVERSE_H
#define WARMD_ADAPTER_CONVERSE_H

#include "adapter.h"

#define CONVERSE_MAX_CACHE_POINTS 4

struct converse_options {
	const char *model;  /* the model the URL names: hashed into the version */
	const char *family; /* its Anthropic model name, whose minimum applies; NULL: unknown */
};

/* Builds the warm of a Converse body (which it edits into the warm body):
 * the breakpoints are {"cachePoint": {"type": "default"}} blocks in
 * toolConfig.tools, system and messages[].content; inferenceConfig.maxTokens
 * becomes 1; a user turn is appended when the last message is not one.
 * Fills everything of ret but path and endpoint, which are the caller's.
 * Returns 0 (ret->unwarmable non-empty, and no body, when no minimal warm
 * exists), or -EINVAL with e saying what in the template is wrong. */
int converse_build_body(json_object *tmpl, const struct adapter_target *t,
                        const struct converse_options *o, struct warm_build *ret, struct errmsg *e);

/* Reads a Converse answer's usage (usage.cacheReadInputTokens,
 * cacheWriteInputTokens, inputTokens, outputTokens) into a verdict.
 * Returns 0; -ENOMSG when the answer's usage has none of these fields (it
 * is not a Converse answer; e untouched); -EPROTO with e for a body that
 * makes no sense. */
int converse_parse_ok(const char *body, size_t len, struct warm_usage *ret, struct errmsg *e);

#endif

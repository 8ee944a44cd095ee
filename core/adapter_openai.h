/* adapter_openai: OpenAI chat completions and self-hosted OpenAI-compatible
 * servers (vLLM, SGLang, llama.cpp) adapters (no I/O). */
#ifndef WARMD_ADAPTER_OPENAI_H
#define WARMD_ADAPTER_OPENAI_H

#include <stdbool.h>

#include "adapter.h"

/* OpenAI caches prompts of at least this many tokens. */
#define OPENAI_MIN_CACHED_TOKENS 1024

extern const struct adapter_ops adapter_openai_ops;
extern const struct adapter_ops adapter_openai_compat_ops;

/* Reasoning models take max_completion_tokens instead of max_tokens. */
bool adapter_openai_is_reasoning_model(const char *model);

/* For kinds that serve OpenAI's API under other paths (Azure OpenAI):
 * the same warm, with their own paths, through these entry points. */
struct adapter_openai_opts {
	const char *chat_path;      /* appended to base_url, path-encoded */
	const char *responses_path; /* NULL: no Responses API there (why: responses_none) */
	const char *responses_none; /* the error for a Responses template then */
	/* The model when the template names none (an Azure deployment: the
	 * URL names it), else NULL: the template must name one. */
	const char *default_model;
};
/* adapter_ops.build with opts (OpenAI's own: "/chat/completions", "/responses"). */
int adapter_openai_build(json_object *tmpl, const struct adapter_target *t,
                         const struct adapter_openai_opts *opts, struct warm_build *ret,
                         struct errmsg *e);
/* adapter_ops.parse_ok and parse_error of kind openai. */
int adapter_openai_parse_ok(const char *body, size_t len, struct warm_usage *ret, struct errmsg *e);
void adapter_openai_parse_error(long status, const char *body, size_t len, struct errmsg *e);

#endif

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

#endif

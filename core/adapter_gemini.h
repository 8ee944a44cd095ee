/* adapter_gemini: the Gemini API's implicit and explicit caches (no I/O). */
#ifndef WARMD_ADAPTER_GEMINI_H
#define WARMD_ADAPTER_GEMINI_H

#include "adapter.h"

/* The smallest prompt Gemini caches implicitly (Flash; Pro needs 4096). */
#define GEMINI_MIN_CACHED_TOKENS 1024

extern const struct adapter_ops adapter_gemini_ops;
extern const struct adapter_cache_ops adapter_gemini_cache_ops;

/* The model's minimum cacheable prefix. */
long adapter_gemini_min_cacheable(const char *model);

#endif

/* adapters: the registry, which adapter serves each provider kind. Kept
 * apart from the interface (adapter.h) that the adapters include, so that
 * only the registry knows them all. A new kind is an entry here. */
#ifndef WARMD_ADAPTERS_H
#define WARMD_ADAPTERS_H

#include "adapter.h"

/* The adapter of kind (never NULL for a kind the configuration accepts). */
const struct adapter_ops *adapter_ops_for(enum provider_kind kind);

/* Does kind cache as Anthropic does (entries written at cache_control
 * breakpoints, a TTL per breakpoint, no per-prefix routing budget)? True
 * for Anthropic and the clouds that serve its Messages API. */
bool adapter_kind_anthropic_cache(enum provider_kind kind);

#endif

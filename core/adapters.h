/* adapters: the registry, which adapter serves each provider kind. Kept
 * apart from the interface (adapter.h) that the adapters include, so that
 * only the registry knows them all. A new kind is an entry here. */
#ifndef WARMD_ADAPTERS_H
#define WARMD_ADAPTERS_H

#include "adapter.h"

/* The adapter of kind (never NULL for a kind the configuration accepts). */
const struct adapter_ops *adapter_ops_for(enum provider_kind kind);

/* Does kind cache at explicit breakpoints (adapter_ops.breakpoints)? */
bool adapter_kind_breakpoints(enum provider_kind kind);

#endif

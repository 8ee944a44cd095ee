/* adapter_anthropic: the Anthropic Messages API adapter (no I/O). */
#ifndef WARMD_ADAPTER_ANTHROPIC_H
#define WARMD_ADAPTER_ANTHROPIC_H

#include "adapter.h"

#define ANTHROPIC_VERSION "2023-06-01"

extern const struct adapter_ops adapter_anthropic_ops;

#endif

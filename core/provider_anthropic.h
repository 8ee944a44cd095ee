/* provider_anthropic: the Anthropic Messages API adapter (no I/O). */
#ifndef WARMD_PROVIDER_ANTHROPIC_H
#define WARMD_PROVIDER_ANTHROPIC_H

#include "provider.h"

#define ANTHROPIC_VERSION "2023-06-01"

extern const struct provider_ops provider_anthropic_ops;

#endif

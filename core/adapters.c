/* adapters: the registry of provider kinds. */
#include "adapters.h"

#include <stddef.h>

#include "adapter_anthropic.h"
#include "adapter_openai.h"
#include "adapter_vertex.h"

const struct adapter_ops *adapter_ops_for(enum provider_kind kind)
{
	switch (kind) {
	case PROVIDER_ANTHROPIC:
		return &adapter_anthropic_ops;
	case PROVIDER_OPENAI:
		return &adapter_openai_ops;
	case PROVIDER_OPENAI_COMPAT:
		return &adapter_openai_compat_ops;
	case PROVIDER_VERTEX:
		return &adapter_vertex_ops;
	}
	return NULL;
}

bool adapter_kind_anthropic_cache(enum provider_kind kind)
{
	return kind == PROVIDER_ANTHROPIC || kind == PROVIDER_VERTEX;
}

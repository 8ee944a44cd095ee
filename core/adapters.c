/* adapters: the registry of provider kinds. */
#include "adapters.h"

#include <stddef.h>

#include "adapter_anthropic.h"
#include "adapter_openai.h"

const struct provider_ops *provider_ops_for(enum provider_kind kind)
{
	switch (kind) {
	case PROVIDER_ANTHROPIC:
		return &provider_anthropic_ops;
	case PROVIDER_OPENAI:
		return &provider_openai_ops;
	case PROVIDER_OPENAI_COMPAT:
		return &provider_openai_compat_ops;
	}
	return NULL;
}

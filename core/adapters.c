/* adapters: the registry of provider kinds. */
#include "adapters.h"

#include <stddef.h>

#include "adapter_anthropic.h"
#include "adapter_azure.h"
#include "adapter_gemini.h"
#include "adapter_openai.h"

const struct adapter_ops *adapter_ops_for(enum provider_kind kind)
{
	switch (kind) {
	case PROVIDER_ANTHROPIC:
		return &adapter_anthropic_ops;
	case PROVIDER_OPENAI:
		return &adapter_openai_ops;
	case PROVIDER_OPENAI_COMPAT:
		return &adapter_openai_compat_ops;
	case PROVIDER_AZURE_OPENAI:
		return &adapter_azure_ops;
	case PROVIDER_GEMINI:
		return &adapter_gemini_ops;
	}
	return NULL;
}

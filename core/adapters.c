/* adapters: the registry of provider kinds. */
#include "adapters.h"

#include <stddef.h>

#include "adapter_anthropic.h"
#include "adapter_bedrock.h"
#include "adapter_azure.h"
#include "adapter_gemini.h"
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
	case PROVIDER_BEDROCK:
		return &adapter_bedrock_ops;
	case PROVIDER_VERTEX:
		return &adapter_vertex_ops;
	case PROVIDER_AZURE_OPENAI:
		return &adapter_azure_ops;
	case PROVIDER_GEMINI:
		return &adapter_gemini_ops;
	}
	return NULL;
}

bool adapter_kind_breakpoints(enum provider_kind kind)
{
	const struct adapter_ops *ops = adapter_ops_for(kind);

	return ops && ops->breakpoints;
}

/* adapter_azure: Azure OpenAI (no I/O). */
#ifndef WARMD_ADAPTER_AZURE_H
#define WARMD_ADAPTER_AZURE_H

#include "adapter.h"

extern const struct adapter_ops adapter_azure_ops;

#endif

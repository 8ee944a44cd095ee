/* adapter_bedrock: the bedrock kind, Amazon Bedrock Runtime (no I/O):
 * InvokeModel with a Messages body, or Converse, to the model the target
 * names in the URL. Request signing (AWS SigV4) is the credential's
 * (runtime/aws_cred.c); a Bedrock API key goes out as a bearer token. */
#ifndef WARMD_ADAPTER_BEDROCK_H
#define WARMD_ADAPTER_BEDROCK_H

#include <stddef.h>

#include "adapter.h"

#define BEDROCK_ANTHROPIC_VERSION "bedrock-2023-05-31"

extern const struct adapter_ops adapter_bedrock_ops;

/* The model name prices and minimums go by, into out[n]: an ARN's resource
 * id, without an inference profile's geography prefix
 * ("arn:...:inference-profile/us.anthropic.claude-..." ->
 * "anthropic.claude-..."). */
void bedrock_model_name(const char *id, char *out, size_t n);

#endif

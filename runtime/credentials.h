/* credentials: a provider's credential whole: its key and fixed lines
 * (cred.c) and the signer its kind needs (aws_cred.c: AWS SigV4; oauth.c: a
 * service account's OAuth2 tokens). The one place that knows which kind
 * signs how, so that cred.c, which the signers build on, knows none of
 * them. */
#ifndef WARMD_CREDENTIALS_H
#define WARMD_CREDENTIALS_H

#include "cred.h"

/* cred_load_key(), then the signer of c's kind: AWS credentials for a
 * bedrock provider without a Bedrock API key, the service account of a
 * vertex provider. Returns 0, or a negative errno with e (nothing is kept). */
int cred_load(const struct cfg_provider *c, const struct adapter_ops *ops, struct cred **ret,
              struct errmsg *e);

#endif

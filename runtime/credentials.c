/* credentials: see credentials.h. */
#include "credentials.h"

#include "aws_cred.h"
#include "oauth.h"

int cred_load(const struct cfg_provider *c, const struct adapter_ops *ops, struct cred **ret,
              struct errmsg *e)
{
	struct cred *cr;
	int r;

	if ((r = cred_load_key(c, ops, &cr, e)) < 0)
		return r;
	/* Without a Bedrock API key, AWS credentials sign each request. */
	if (c->kind == PROVIDER_BEDROCK && !cr->has_key && (r = aws_cred_attach(cr, c, e)) < 0)
		goto fail;
	/* A service account signs in with OAuth2 tokens of its own. */
	if (c->service_account_file && (r = oauth_load(cr, c, e)) < 0)
		goto fail;
	*ret = cr;
	return 0;
fail:
	cred_unref(cr);
	return r;
}

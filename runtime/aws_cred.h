/* aws_cred: the AWS credentials of a bedrock provider, and the signer that
 * signs each of its requests with them (AWS Signature Version 4, signing
 * name "bedrock", core/sigv4.h).
 *
 * Where they come from, in the AWS SDKs' order: the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for session credentials,
 * AWS_SESSION_TOKEN: each captured once per process into secret memory and
 * wiped from the environment, as api_key_env), then aws_credentials_file
 * (the SDKs' INI file: the [aws_profile] section's aws_access_key_id,
 * aws_secret_access_key, aws_session_token, and the expiry some tools write
 * as aws_expiration or x_security_token_expires). The secret key and the
 * session token live in the signer's own secret mapping and are known to
 * the scrubber (cred_scrub_set()).
 *
 * Session credentials rotate: a reload reads the file again, and between
 * reloads the signer looks at the file (its inode, size and times) at most
 * every AWS_CRED_CHECK_S seconds while it signs, and reads it again when it
 * changed, so a token the file renews before the old one expires is used
 * from then on. When the token in use states an expiry that has passed and
 * the file holds nothing newer, the signer answers -EAGAIN (the provider's
 * warms wait) instead of sending a request AWS would refuse. Loop thread
 * only. */
#ifndef WARMD_AWS_CRED_H
#define WARMD_AWS_CRED_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "cred.h"
#include "errmsg.h"

#define AWS_CRED_CHECK_S  5.0   /* how often a credentials file is looked at */
#define AWS_CRED_MAX_FILE 65536 /* a larger credentials file is refused */
#define AWS_CRED_SIGNING  "bedrock"

/* One profile of a credentials file: pointers into the text parsed (NULL
 * when absent), and the stated expiry (0: none). */
struct aws_keys {
	const char *access_key_id, *secret_key, *session_token;
	size_t access_key_id_len, secret_key_len, session_token_len;
	time_t expires;
};

/* Reads section profile of the INI text[0..len) ("[profile]", or
 * "[profile NAME]" as in the SDKs' config file). Returns 0; -ENOENT when
 * the profile is not there; -EINVAL with e when it lacks a key or has an
 * expiry that is not an ISO 8601 time. e never holds a value of the file. */
int aws_cred_parse(const char *text, size_t len, const char *profile, struct aws_keys *ret,
                   struct errmsg *e);

/* Gives c (a bedrock provider's credential without a Bedrock API key) its
 * AWS credentials and the signer; p names the provider's region and file.
 * Returns 0, or a negative errno with e naming the source (never a secret):
 * no credentials anywhere, an unreadable file, a missing profile or key, no
 * region to sign for. */
int aws_cred_attach(struct cred *c, const struct cfg_provider *p, struct errmsg *e);

#endif

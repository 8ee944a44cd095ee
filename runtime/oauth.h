/* oauth: OAuth2 access tokens for a Google service account, fetched and
 * refreshed in the background, one fetcher per credential.
 *
 * oauth_load() reads the service account key file into the credential's
 * secret memory, checks it (the JSON, the RSA private key) and makes it the
 * credential's signer; nothing is sent until cred_start() (the credential
 * is applied to a running provider). Then the fetcher signs a JWT assertion
 * (core/jwt.h) and exchanges it at the key file's token_uri through the one
 * HTTP client, asynchronously; it refreshes the token well before it
 * expires (at 80% of its lifetime, or 5 minutes before the end of a long
 * one), retries a failed exchange with backoff while the old token lasts,
 * and takes an exchange the endpoint refuses OAUTH_REFUSALS_FATAL times in
 * a row (400 invalid_grant: a wrong or deleted key; 401, 403) as a
 * rejected credential.
 *
 * Each request's "Authorization: Bearer TOKEN" line comes from the signer
 * (cred_authorize()): without a usable token it answers -EAGAIN with the
 * time to look again, which holds the provider's warms without counting a
 * failure; a rejected credential answers -EKEYREJECTED once, with the
 * reason (the sender marks the provider's credential failed), and is tried
 * afresh at the next request after that (an operator's warm, a reload).
 *
 * The private key, the assertion and the tokens live in secret memory and
 * are known to the scrubber; none of them is ever logged.
 *
 * Ownership: the fetcher belongs to its credential (refcounted, so a warm
 * in flight keeps an old one alive across a reload) and stops when the
 * credential's last reference goes: its request is cancelled and its timer
 * closed, so the loop must run afterwards for the close callback. A
 * credential's last reference must go before http_close(). Loop thread
 * only. */
#ifndef WARMD_OAUTH_H
#define WARMD_OAUTH_H

#include "config.h"
#include "cred.h"
#include "errmsg.h"

#define OAUTH_REFUSALS_FATAL 3 /* refused exchanges in a row that reject the credential */
#define OAUTH_RETRY_MAX_S    60.0
#define OAUTH_LOOK_AGAIN_S   0.25 /* how long warms wait for an exchange under way */

/* Loads c->service_account_file into cr and makes the OAuth2 fetcher its
 * signer. Returns 0, or a negative errno with e naming the file (never a
 * secret); cr is then unchanged. */
int oauth_load(struct cred *cr, const struct cfg_provider *c, struct errmsg *e);

/* What a fetcher has done (tests, status): exchanges sent, tokens got. */
struct oauth_stats {
	unsigned long exchanges, tokens, refusals;
	bool has_token, rejected;
	double token_expires_in; /* seconds from now; 0 without a token */
};
/* cr's fetcher's counters; false when cr has none. */
bool oauth_stats(const struct cred *cr, struct oauth_stats *ret);

#endif

/* sigv4: AWS Signature Version 4 for one request (pure: no clock, no I/O).
 *
 * The signature covers a canonical request:
 *
 *   METHOD \n CANONICAL-URI \n CANONICAL-QUERY \n CANONICAL-HEADERS \n
 *   SIGNED-HEADERS \n hex(SHA-256(payload))
 *
 * The canonical URI is the path it is given, percent-encoded once (every
 * byte but A-Z a-z 0-9 - . _ ~ and '/'), without normalisation. Services
 * other than S3 take the path as sent on the wire and encode it once more,
 * so a caller passes the path exactly as it sends it: a Bedrock model id
 * "...-v1:0" is sent as "...-v1%3A0" and signed as "...-v1%253A0". The
 * signing key is derived from the secret key by the HMAC-SHA256 chain over
 * the date, the region, the service's signing name ("bedrock", not the
 * host's "bedrock-runtime") and "aws4_request"; its intermediate values are
 * wiped. */
#ifndef WARMD_SIGV4_H
#define WARMD_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "errmsg.h"

#define SIGV4_MAX_HEADERS 16

struct sigv4_header {
	const char *name; /* any case: signed lower-cased */
	const char *value;
};

struct sigv4_request {
	const char *method;
	const char *path;  /* encoded once into the canonical URI */
	const char *query; /* as sent, without '?', or NULL */
	/* The headers to sign besides x-amz-date and x-amz-security-token,
	 * which sigv4_sign() adds: host at least (with its port when it is not
	 * the scheme's default). */
	const struct sigv4_header *headers;
	size_t nheaders;
	const void *payload;
	size_t payload_len;
	const char *region;
	const char *service; /* the signing name */
	time_t when;         /* Unix seconds: x-amz-date */
};

struct sigv4_credentials {
	const char *access_key_id;
	const char *secret_key;
	const char *session_token; /* or NULL: long-term credentials */
};

struct sigv4_signature {
	char amz_date[17];        /* x-amz-date: "20150830T123600Z" */
	char signature[65];       /* hex */
	char authorization[1024]; /* the Authorization header's value */
};

/* Signs r with c. ret_canonical (may be NULL) receives the canonical
 * request. Returns 0, or -EINVAL with e (no secret in it) for a request it
 * cannot sign: a missing host header, too many headers, a name or value
 * that does not fit a header line, an Authorization that does not fit. */
int sigv4_sign(const struct sigv4_request *r, const struct sigv4_credentials *c,
               struct sigv4_signature *ret, struct buf *ret_canonical, struct errmsg *e);

/* Splits an http(s) URL into what a request to it sends: the Host header
 * (host, and ":port" when the URL names a port other than the scheme's
 * default) into host[n], and the path and query as written (*ret_path
 * points into url, "/" when it has none: *ret_path_len bytes; *ret_query
 * after the '?', or NULL). Returns 0 or -EINVAL with e. */
int sigv4_url_split(const char *url, char *host, size_t n, const char **ret_path,
                    size_t *ret_path_len, const char **ret_query, struct errmsg *e);

#endif

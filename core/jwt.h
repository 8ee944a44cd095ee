/* jwt: the pure half of Google's OAuth2 for service accounts: reading a
 * service account key file, signing the JWT assertion (RS256) that asks
 * for an access token, and reading the token endpoint's answer.
 *
 * Everything secret (the private key, the assertion, the token) is written
 * only into buffers the caller gives, so that it can live in locked,
 * undumpable memory it wipes (runtime/cred.c): the JSON here is read by a
 * small scanner that decodes the wanted strings straight into those
 * buffers, never through json-c's heap copies. No I/O, no logging; error
 * texts never contain secret material. */
#ifndef WARMD_JWT_H
#define WARMD_JWT_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

#define JWT_SCOPE         "https://www.googleapis.com/auth/cloud-platform"
#define JWT_DEFAULT_TOKEN "https://oauth2.googleapis.com/token"
#define JWT_GRANT_TYPE    "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define JWT_LIFETIME_S    3600 /* the longest Google accepts */

/* The largest service account key file read (Google's are about 2.3 KiB). */
#define JWT_SA_MAX_BYTES (64 * 1024)

/* A service account key file, its strings decoded into the caller's buffer. */
struct jwt_sa {
	const char *client_email; /* the JWT's iss */
	const char *private_key;  /* PEM */
	size_t private_key_len;
	const char *private_key_id; /* the JWT header's kid, or NULL */
	const char *token_uri;      /* the JWT's aud, where it is exchanged */
};

/* Reads the key file json[0..len) into ret, its strings decoded into
 * out[0..cap) (the caller's secret memory). It must be a JSON object with
 * "type": "service_account" (when present), "client_email" and
 * "private_key"; "token_uri" defaults to JWT_DEFAULT_TOKEN and must be
 * https (or http to a loopback address, for tests). Returns 0, or -EINVAL
 * (-E2BIG when out is too small) with e saying what is wrong, never what a
 * secret field holds. */
int jwt_sa_parse(const char *json, size_t len, char *out, size_t cap, struct jwt_sa *ret,
                 struct errmsg *e);

/* The RSA private key of a PEM text (PKCS#8 or PKCS#1). Returns 0 and a new
 * key in *ret (EVP_PKEY_free() it), or -EINVAL with e. */
int jwt_key_from_pem(const char *pem, size_t len, EVP_PKEY **ret, struct errmsg *e);

/* What the assertion claims. */
struct jwt_claims {
	const char *iss;   /* the service account's client_email */
	const char *scope; /* JWT_SCOPE */
	const char *aud;   /* the token_uri */
	const char *kid;   /* the key's id, or NULL */
	int64_t iat;       /* Unix seconds, now */
	int64_t exp;       /* iat + JWT_LIFETIME_S at most */
};

/* Signs header.claims with RS256 into out[0..cap) as a compact JWT
 * (base64url without padding, NUL-terminated). Returns its length, or a
 * negative errno (-E2BIG: out too small) with e. */
long jwt_sign(EVP_PKEY *key, const struct jwt_claims *c, char *out, size_t cap, struct errmsg *e);

/* base64url without padding of in[0..len) into out[0..cap), NUL-terminated.
 * Returns the length, or -E2BIG. */
long jwt_b64url(const void *in, size_t len, char *out, size_t cap);

/* The token endpoint's answer to an exchange. */
struct jwt_token {
	const char *access_token; /* in the caller's buffer; NULL in an error answer */
	size_t access_token_len;
	int64_t expires_in; /* seconds; 0 when absent */
	const char *error;  /* an error answer's "error" (invalid_grant), or NULL */
	const char *error_description;
};

/* Reads the answer json[0..len) into ret, its strings decoded into
 * out[0..cap). A success must have a printable "access_token", "token_type"
 * "Bearer" (when present) and a positive "expires_in"; an error answer has
 * "error". Returns 0 (check ret->access_token), or -EPROTO with e. */
int jwt_token_parse(const char *json, size_t len, char *out, size_t cap, struct jwt_token *ret,
                    struct errmsg *e);

#endif

/* cred: a provider's API key and the header lines that carry it.
 *
 * The key lives in one private mapping excluded from core dumps
 * (MADV_DONTDUMP), locked in RAM when the limit allows, and zeroed before it
 * is unmapped. Error texts never contain key material. Refcounted: in-flight
 * warms keep the credential they were sent with alive across a reload. */
#ifndef WARMD_CRED_H
#define WARMD_CRED_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "errmsg.h"
#include "provider.h"

struct http_headers;

struct cred {
	int refs;
	bool has_key;
	uint8_t fingerprint[32];      /* SHA-256 of the key, to notice a changed key */
	const char *const *lines;     /* NULL-terminated header lines, in the secret mapping */
	struct http_headers *headers; /* the same lines, prepared for http.c */
	void *mem;
	size_t mem_len;
};

/* Reads the key named by c (file, environment or inline) and prepares the
 * header lines of ops. Returns 0, or a negative errno with e naming the
 * source (never the key). A provider kind without a required key accepts
 * the absence of one. */
int cred_load(const struct cfg_provider *c, const struct provider_ops *ops, struct cred **ret,
              struct errmsg *e);
struct cred *cred_ref(struct cred *c);
void cred_unref(struct cred *c);
bool cred_same_key(const struct cred *a, const struct cred *b);

/* Replaces every occurrence of the key in text (NUL-terminated, edited in
 * place) with "[key]", so a provider echoing it back cannot leak it to logs. */
void cred_scrub(const struct cred *c, char *text);

#endif

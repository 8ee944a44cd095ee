/* cred: a provider's API key and the header lines that carry it, and the
 * scrubber that keeps every piece of a key out of what operators read.
 *
 * The key lives in one private mapping excluded from core dumps
 * (MADV_DONTDUMP), locked in RAM when the limit allows, and zeroed before it
 * is unmapped. Error texts never contain key material. Refcounted: in-flight
 * warms keep the credential they were sent with alive across a reload.
 *
 * Copies outside that mapping are wiped once read: an api_key_env value is
 * captured once per process into secret memory and overwritten in the
 * environment (a running process's environment never changes, so a reload
 * reuses the capture), and an inline api_key is zeroed in the parsed config.
 *
 * Every live credential's key (and the values of its extra headers that name
 * a secret: auth, key, token, secret, password) is known to the scrubber,
 * which masks any run of 8 or more bytes that is a piece of one, so a key cut
 * short by an excerpt or a truncation is still caught. Loop thread only. */
#ifndef WARMD_CRED_H
#define WARMD_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "config.h"
#include "errmsg.h"

struct http_headers;
struct http_req;

/* The shortest piece of a key the scrubber masks; a whole key shorter than
 * this is masked where it occurs in full. */
#define CRED_SCRUB_PIECE 8

struct cred {
	int refs;
	bool has_key;
	uint8_t fingerprint[32];      /* SHA-256 of the key, to notice a changed key */
	const char *const *lines;     /* NULL-terminated header lines, in the secret mapping */
	struct http_headers *headers; /* the same lines, prepared for http.c */
	void *mem;
	size_t mem_len;
	/* Non-empty: a problem with the key's source worth a warning (a key file
	 * others can read). Never contains key material. */
	char warning[256];

	/* The scrubber's view (cred.c): 8-byte windows of every secret in an
	 * open-addressed set, and their 4-byte grams in another (the cheap first
	 * look), in a second secret mapping. */
	struct cred *live_prev, *live_next;
	uint64_t *windows;
	unsigned window_bits; /* the set has 1 << window_bits slots */
	uint32_t *grams;
	unsigned gram_bits;
	size_t short_len; /* a key shorter than CRED_SCRUB_PIECE: its length, else 0 */
	void *scrub_mem;
	size_t scrub_mem_len;
};

/* Reads the key named by c (file, environment or inline) and prepares the
 * header lines of ops. Returns 0, or a negative errno with e naming the
 * source (never the key). A provider kind without a required key accepts
 * the absence of one. Wipes the inline key in c once copied (c->api_key
 * stays non-NULL, now empty: "the key was inline" is all anyone else needs). */
int cred_load(const struct cfg_provider *c, const struct adapter_ops *ops, struct cred **ret,
              struct errmsg *e);
struct cred *cred_ref(struct cred *c);
void cred_unref(struct cred *c);
bool cred_same_key(const struct cred *a, const struct cred *b);

/* Masks, in text[0..len) (edited in place, any bytes), every run of
 * CRED_SCRUB_PIECE or more bytes that is a piece of a live credential's
 * secret, and every whole key shorter than that. Each masked run becomes one
 * "[key]" (a run shorter than that becomes as many '*'), so the text never
 * grows. Returns the new length. O(len) per live credential: a look at every
 * fourth offset for a text that holds no piece of a key, every offset when
 * it may. */
size_t cred_scrub_mem(char *text, size_t len);

/* cred_scrub_mem() on a NUL-terminated text. */
void cred_scrub(char *text);

/* Scrubs everything a provider sent in a finished request, in place, before
 * anyone reads it: the body, the values of the response headers (not their
 * names, which the rate-limit parser reads) and curl's error text. */
void cred_scrub_answer(struct http_req *req);

/* Wipes and forgets the captured api_key_env values (tests; a process that
 * is done with keys). */
void cred_env_forget(void);

#endif

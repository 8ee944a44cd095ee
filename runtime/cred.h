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
 * a secret: auth, key, token, secret, password, and the passwords in its
 * provider's base_url and proxy: url.h) is known to the scrubber,
 * which masks any run of 8 or more bytes that is a piece of one, so a key cut
 * short by an excerpt or a truncation is still caught. Loop thread only. */
#ifndef WARMD_CRED_H
#define WARMD_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uv.h>

#include "adapter.h"
#include "config.h"
#include "errmsg.h"

struct http;
struct http_headers;
struct http_req;
struct cred;

/* This request's own header lines, for credentials that sign each request
 * or carry a token that changes (cred_authorize). Caller storage, on the
 * stack: http_start() copies the lines, and the caller wipes them after. */
#define CRED_MAX_EXTRA       6
#define CRED_EXTRA_MAX_BYTES 8192
struct cred_lines {
	const char *v[CRED_MAX_EXTRA + 1]; /* NULL-terminated */
	size_t n, used;
	char buf[CRED_EXTRA_MAX_BYTES];
};

/* Appends one "Name: value" line (printf-style). -E2BIG when it does not fit. */
int cred_lines_add(struct cred_lines *l, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Zeroes the lines (they may hold a token or a signature). */
void cred_lines_wipe(struct cred_lines *l);

/* What a request looks like to a credential that signs it. */
struct cred_request {
	const char *method; /* "POST", "PATCH"... */
	const char *url;
	const char *body;
	size_t body_len;
	double now; /* Unix seconds */
};

/* What a credential that fetches tokens in the background needs to run:
 * the loop, the one HTTP client, and its provider's name (for the log) and
 * transfer limits (the strings are copied). */
struct cred_runtime {
	uv_loop_t *loop;
	struct http *http;
	const char *provider;
	long connect_timeout_ms, timeout_ms;
	const char *ca_file, *proxy; /* NULL: the system's CAs; no proxy */
};

/* A credential that proves itself per request, beyond its fixed lines: a
 * signature over the request (AWS SigV4) or a token fetched and refreshed
 * in the background (OAuth2). Set by cred_load() (credentials.h) for the kinds that need
 * one; called on the loop only. */
struct cred_signer_ops {
	/* Adds this request's lines to out. -EAGAIN with *ret_retry_at (Unix
	 * seconds) when it cannot sign now (no token yet); another negative
	 * errno with e (no secret in it) when it cannot sign at all. */
	int (*authorize)(struct cred *c, const struct cred_request *r, struct cred_lines *out,
	                 double *ret_retry_at, struct errmsg *e);
	/* Frees what signer_data holds (its secrets wiped), cancelling its
	 * background work; handles it closes are freed by their close
	 * callbacks, so the loop must run once more. */
	void (*free)(struct cred *c);
	/* Optional: starts the background work (an OAuth2 token fetch) on rt.
	 * prev, when not NULL, is the credential c replaces at a reload: c
	 * may take over its token when both hold the same key. */
	void (*start)(struct cred *c, struct cred *prev, const struct cred_runtime *rt);
};

/* The shortest piece of a key the scrubber masks; a whole key shorter than
 * this is masked where it occurs in full. */
#define CRED_SCRUB_PIECE 8

/* A secret the scrubber must know besides the key and the secret header
 * lines: a signer's secret key, a session or OAuth token. */
struct cred_secret {
	const char *p;
	size_t len;
};

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
	/* The passwords of base_url and proxy, as written and unescaped, in a
	 * secret mapping of their own: never sent as lines, but masked. */
	struct cred_secret url_secrets[4];
	size_t n_url_secrets;
	void *url_mem;
	size_t url_mem_len;

	/* Per-request proof (NULL: the fixed lines are all). */
	const struct cred_signer_ops *signer;
	void *signer_data;
};

/* Reads the key named by c (file, environment or inline) and prepares the
 * header lines of ops, with no signer (cred_load() in credentials.h adds the
 * one a kind needs). Returns 0, or a negative errno with e naming the
 * source (never the key). A provider kind without a required key accepts
 * the absence of one. Wipes the inline key in c once copied (c->api_key
 * stays non-NULL, now empty: "the key was inline" is all anyone else needs). */
int cred_load_key(const struct cfg_provider *c, const struct adapter_ops *ops, struct cred **ret,
                  struct errmsg *e);
/* Starts c's background work, if its signer has any, once it is applied
 * to a running provider (a staged credential that is never applied never
 * fetches anything). prev: see cred_signer_ops.start. c may be NULL;
 * starting twice does nothing. */
void cred_start(struct cred *c, struct cred *prev, const struct cred_runtime *rt);
struct cred *cred_ref(struct cred *c);
void cred_unref(struct cred *c);
bool cred_same_key(const struct cred *a, const struct cred *b);

/* Prepares req to carry c: points req->headers at c's fixed lines and, for
 * a credential with a signer, fills lines with this request's own (the
 * signature, the token) and points req->extra_headers at them. Every sender
 * calls it right before http_start(), then cred_lines_wipe(lines).
 * Returns 0; -EAGAIN with *ret_retry_at when the credential cannot sign
 * yet; another negative errno with e. req->method NULL means POST. */
int cred_authorize(struct cred *c, struct http_req *req, double now, struct cred_lines *lines,
                   double *ret_retry_at, struct errmsg *e);

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

/* A credential without lines that only tells the scrubber of n more
 * secrets (v[i][0..len[i]), each CRED_SCRUB_PIECE bytes or longer): a
 * private key, a token that changes. Only their 8-byte windows are kept, in
 * secret memory; cred_unref() makes the scrubber forget them. */
struct cred *cred_scrub_only(const char *const *v, const size_t *len, size_t n);

/* When a key file (what: "api_key_file") is open to others, or to a group
 * that is not how warmd reads it, a warning into warn[n] (else unchanged).
 * st is the fstat() of the file read. */
void cred_key_file_warning(const char *what, const char *path, const struct stat *st, char *warn,
                           size_t n);

/* Wipes and forgets the captured api_key_env values (tests; a process that
 * is done with keys). */
void cred_env_forget(void);

/* ---- for signers (a credential's signer_data lives beside it) ---------- */

/* Memory for secrets: a private mapping of len bytes (a multiple of the
 * page size), excluded from core dumps, locked when the limit allows;
 * failing to get it is fatal (xalloc.h). Freed zeroed (NULL is fine). */
void *cred_secret_alloc(size_t len);
void cred_secret_free(void *p, size_t len);

/* The value of environment variable name, captured once per process into
 * secret memory and wiped from the environment (as api_key_env); NULL when
 * it is unset or empty. The value lives until cred_env_forget(). */
const char *cred_env_capture(const char *name);

/* Reads a file of secrets (what names it in errors and warnings:
 * "api_key_file") into out[0..cap) with fileio_read_into(); a file others
 * may read leaves a warning in warn[warn_len]; *ret_st (may be NULL) is the
 * file read. Returns 0 or a negative errno with e. */
int cred_read_secret_file(const char *what, const char *path, char *out, size_t cap,
                          size_t *ret_len, struct stat *ret_st, char *warn, size_t warn_len,
                          struct errmsg *e);

/* Rebuilds what the scrubber masks for c: its key, the secrets of its
 * secret header lines, and extra[0..n) (the bytes are not kept). A signer
 * calls it whenever its secrets change, so a token replaced by a new one
 * is masked from then on. */
void cred_scrub_set(struct cred *c, const struct cred_secret *extra, size_t n);

#endif

/* adapter: the interface every provider kind implements, and the helpers
 * adapters share.
 *
 * An adapter turns a template into a warm (build), names the headers that
 * carry a key (headers), and reads a provider's answers (parse_ok,
 * parse_error). It does no I/O and never logs, so it is unit-tested on
 * canned bodies; a new provider kind is a new adapter file with its own
 * fixtures, an entry in the registry (adapters.h) and a config kind name
 * (docs/providers.md).
 * The runtime provider object (endpoint, credential, limits) is
 * runtime/provider.h. */
#ifndef WARMD_ADAPTER_H
#define WARMD_ADAPTER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"

enum provider_kind {
	PROVIDER_ANTHROPIC,
	PROVIDER_OPENAI,
	PROVIDER_OPENAI_COMPAT,
	PROVIDER_BEDROCK,
	PROVIDER_VERTEX,
	PROVIDER_AZURE_OPENAI,
	PROVIDER_GEMINI,
};
enum endpoint {
	ENDPOINT_AUTO,
	ENDPOINT_MESSAGES,
	ENDPOINT_CHAT,
	ENDPOINT_RESPONSES,
	ENDPOINT_INVOKE,   /* Bedrock InvokeModel: a Messages body */
	ENDPOINT_CONVERSE, /* Bedrock Converse */
};
enum warm_mode { WARM_MODE_MINIMAL, WARM_MODE_PREWARM };

/* Edits a target may allow warmd to make (allow_edit), bit flags. */
#define ALLOW_EDIT_THINKING    1u
#define ALLOW_EDIT_TOOL_CHOICE 2u

enum warm_result { WARM_HIT, WARM_WRITE, WARM_NONE, WARM_ERROR };

const char *warm_result_name(enum warm_result r);

#define ADAPTER_MAX_BREAKPOINTS 4

/* What build() may know of a target beyond its template: the settings of
 * warmd.conf that change its warm (the configuration fills it from a
 * struct cfg_target; adapters do not depend on the configuration). */
struct adapter_target {
	enum endpoint endpoint;
	enum warm_mode warm_mode;
	unsigned allow_edit;   /* ALLOW_EDIT_* */
	const char *cache_key; /* OpenAI prompt_cache_key, or NULL */
	/* Where the request goes, for the kinds that name it in the URL (the
	 * cloud kinds): the target's model or deployment, its provider's
	 * region, project and api_version. NULL where not configured. */
	const char *model;
	const char *deployment;
	const char *region;
	const char *project;
	const char *api_version;
};

/* What a template turns into: built once per version and reused for every warm. */
struct warm_build {
	char *body; /* the warm request body (malloc'd) */
	size_t body_len;
	char *model;            /* malloc'd, or NULL */
	struct buf prefix;      /* canonical cached prefix: what the version hashes */
	size_t size_hint;       /* the template's size, about the body's (0: unknown) */
	long prefix_tokens_est; /* rough estimate from the prefix size */
	char *path;             /* appended to base_url (malloc'd, path-encoded): "/v1/messages" */
	enum endpoint endpoint;
	int max_tokens;     /* the output budget the warm asks for */
	double ttl_s;       /* the cache TTL the template asks for, 0 when it does not say */
	long min_cacheable; /* the model's minimum cacheable prefix, 0 when unknown */
	/* Hashes of the canonical prefix at each cache breakpoint, in order (the
	 * last is the version): what another target's prefix may extend. */
	char bp_hashes[ADAPTER_MAX_BREAKPOINTS][65];
	int nbp;
	/* The version when build already hashed the final prefix (Anthropic's
	 * last breakpoint is where its prefix ends); empty: template.c hashes
	 * the prefix. */
	char version[65];
	char unwarmable[256]; /* non-empty: no minimal warm exists, and why */
	char notes[256];      /* what the warm changed, for logs and status */
	/* The template creates a cache warmd manages (a Gemini cachedContents
	 * body): body and path create it; adapter_ops.cache keeps it alive. */
	bool managed;
};

void warm_build_free(struct warm_build *b);

/* Usage parsed from a response. */
struct warm_usage {
	enum warm_result result;
	int64_t read;   /* tokens read from the cache */
	int64_t write;  /* tokens written to the cache */
	int64_t input;  /* uncached input tokens */
	int64_t output; /* output tokens */
};

/* One header line: "name: prefix value". value may be the API key. */
struct adapter_header {
	const char *name;
	const char *prefix;
	const char *value;
};
#define ADAPTER_MAX_HEADERS 4

struct adapter_cache_ops;

struct adapter_ops {
	enum provider_kind kind;
	bool key_required;
	/* The cache is written at explicit breakpoints, Anthropic's way (a
	 * Claude model behind another API): the entry's TTL restarts on each
	 * read, a write costs more than a read by Anthropic's ratios, one
	 * prefix is not routed to one machine (no per-prefix request budget),
	 * and a prefix may extend another's entry. Else OpenAI's way. */
	bool breakpoints;
	/* Builds the warm for a parsed template (which it may modify); t may
	 * be NULL (the defaults). Returns 0, or -EINVAL with e saying what in
	 * the template is wrong. */
	int (*build)(json_object *tmpl, const struct adapter_target *t, struct warm_build *ret,
	             struct errmsg *e);
	/* Fills up to ADAPTER_MAX_HEADERS headers; key may be NULL. Returns the count. */
	int (*headers)(const char *key, struct adapter_header *out);
	/* Parses a 2xx body into usage. -EPROTO with e on a body that makes no sense. */
	int (*parse_ok)(const char *body, size_t len, struct warm_usage *ret, struct errmsg *e);
	/* Extracts the provider's own error text from a non-2xx body into e
	 * (type and message); leaves a generic text when the body has none. */
	void (*parse_error)(long status, const char *body, size_t len, struct errmsg *e);
	/* Optional: does a non-2xx answer say the credential was rejected,
	 * beyond 401 and 403 (Gemini answers a wrong key with a 400)? */
	bool (*auth_rejected)(long status, const char *body, size_t len);
	/* Optional: the caches this kind lets warmd manage (NULL: none). */
	const struct adapter_cache_ops *cache;
};

/* A cache warmd manages by name (Gemini's cachedContents): created once
 * from the template (warm_build.managed: its body and path), then kept
 * alive by updating its TTL, deleted when its version is retired. Pure,
 * like the rest of an adapter: the runtime (runtime/managed_cache.h)
 * decides which request a warm is and sends it. Names are the provider's
 * ("cachedContents/abc123"); paths are appended to base_url, path-encoded.
 * Every function returns 0 or a negative errno with e; ret_ strings are
 * malloc'd and untouched on failure. */
struct adapter_cache_ops {
	/* The request that sets the TTL of the cache called name to ttl_s
	 * from now: its method, path and body. */
	int (*touch_request)(const char *name, double ttl_s, const char **ret_method,
	                     char **ret_path, char **ret_body, struct errmsg *e);
	/* The request that deletes it. */
	int (*delete_request)(const char *name, const char **ret_method, char **ret_path,
	                      struct errmsg *e);
	/* A 2xx answer to the create (the template's body at its path): the
	 * cache's name, its expiry (Unix seconds, 0 unknown) and the tokens
	 * written (u: WARM_WRITE). */
	int (*parse_created)(const char *body, size_t len, char **ret_name, double *ret_expire,
	                     struct warm_usage *u, struct errmsg *e);
	/* A 2xx answer to touch_request: the new expiry and the cache's size
	 * (u: WARM_HIT, nothing read or billed; *ret_tokens its size). */
	int (*parse_touched)(const char *body, size_t len, double *ret_expire, int64_t *ret_tokens,
	                     struct warm_usage *u, struct errmsg *e);
	/* Does a non-2xx answer to touch_request say the cache is gone (it
	 * expired or was deleted: create it again)? */
	bool (*gone)(long status, const char *body, size_t len);
};

/* Shared by adapters: "HTTP 529 overloaded_error: Overloaded", or the start
 * of the body (printable characters only) when the body has no message. */
void adapter_error_text(long status, const char *type, const char *message, const char *body,
                        size_t len, struct errmsg *e);

/* Shared by adapters: the provider's own error text from a JSON error body
 * {"error":{"message":...}}, naming the error by the first of type_keys
 * present in it (NULL-terminated); falls back to adapter_error_text(). */
void adapter_error_from_body(long status, const char *body, size_t len,
                             const char *const *type_keys, struct errmsg *e);

/* Shared by the kinds that name a model in the URL: appends s to out as one
 * path segment, every byte but A-Z a-z 0-9 - . _ ~ and those in keep (NULL:
 * none) percent-encoded, so a model id is one segment whatever it holds
 * ("...-v1:0" -> "...-v1%3A0", an ARN's '/' -> "%2F"; '@' -> "%40" unless
 * kept, as Vertex AI's model versions are). */
void adapter_path_segment(struct buf *out, const char *s, const char *keep);
/* Shared by adapters: appends "TAG" + v's compact JSON + "\n" to a
 * canonical prefix (tag: "C:", a block's kind...). */
void adapter_prefix_put(struct buf *prefix, const char *tag, json_object *v);

/* Shared by adapters: b->body and b->body_len become t's compact JSON. */
void adapter_set_body(struct warm_build *b, json_object *t);

/* Shared by adapters: the hex SHA-256 of data[0..len) into out[65]. */
void adapter_hash(const char *data, size_t len, char out[65]);

/* Shared by adapters: the hex SHA-256 of a buffer that only grows (the
 * canonical prefix as a build appends to it), taken at any length without
 * hashing the bytes before the previous take again: one pass over the
 * prefix however many breakpoints it has. */
struct adapter_prefix_hash {
	void *ctx;  /* EVP_MD_CTX, NULL until the first take */
	size_t fed; /* bytes of the buffer hashed so far */
};
/* The hash of prefix[0..len) now; the bytes before h->fed must not have
 * changed since the last take. */
void adapter_prefix_hash_take(struct adapter_prefix_hash *h, const struct buf *prefix,
                              char out[65]);
void adapter_prefix_hash_free(struct adapter_prefix_hash *h);

/* Where an answer keeps its four counters, in one object: its name
 * ("usage"), and each counter's key in it and dotted path from the root,
 * in the order read, write (cache creation), input, output. */
struct adapter_usage_fields {
	const char *object;
	const char *key[4];
	const char *path[4];
};

/* Shared by adapters: reads those counters of a 2xx body into u (result
 * left to the caller), the usual answer without json-c (common/jsonscan.h),
 * anything else through it. *ret_any: one of the four was present. Returns
 * 0, or -EPROTO with e (not JSON, no such object, a counter out of range). */
int adapter_usage_read(const char *body, size_t len, const struct adapter_usage_fields *uf,
                       struct warm_usage *u, bool *ret_any, struct errmsg *e);

/* Shared by adapters: reads an optional non-negative integer usage field.
 * Absent or null gives 0; another type, a negative value or one above
 * BOUNDS_MAX_TOKENS (common/bounds.h) fails with e (and *ret is 0). */
int adapter_usage_field(json_object *usage, const char *path, const char *key, int64_t *ret,
                        struct errmsg *e);

#endif

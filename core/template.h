/* template: one version of a target's request, loaded from request_file.
 *
 * Built once at load (or reload) and shared, immutable and refcounted, by the
 * target and its in-flight warm: the warm body bytes, the URL, and the
 * version (SHA-256 of the canonical cached prefix). */
#ifndef WARMD_TEMPLATE_H
#define WARMD_TEMPLATE_H

#include <stddef.h>

#include "adapter.h"
#include "config.h"
#include "errmsg.h"

#define TEMPLATE_MAX_BYTES (16 * 1024 * 1024)

struct tmpl {
	int refs;
	char version[65]; /* hex SHA-256 */
	char short_version[13];
	char *model;
	char *url;
	char *body;
	size_t body_len;
	enum endpoint endpoint;
	long prefix_tokens_est;
	int max_tokens;
	double ttl_s;       /* the cache TTL the template asks for, 0 when it does not say */
	long min_cacheable; /* the model's minimum cacheable prefix, 0 when unknown */
	char bp_hashes[ADAPTER_MAX_BREAKPOINTS][65]; /* prefix hash at each breakpoint */
	int nbp;
	char unwarmable[256]; /* non-empty: no minimal warm exists */
	char notes[256];
	bool managed; /* body and url create a cache warmd manages (adapter_ops.cache) */
};

/* Reads t->request_file and builds the warm for provider p. Returns 0, or a
 * negative errno with e saying what is wrong (with a line for JSON errors). */
int template_load(const struct cfg_target *t, const struct cfg_provider *p, struct tmpl **ret,
                  struct errmsg *e);
/* Same, from bytes already in memory (tests). */
int template_from_bytes(const char *data, size_t len, const struct cfg_target *t,
                        const struct cfg_provider *p, struct tmpl **ret, struct errmsg *e);
struct tmpl *tmpl_ref(struct tmpl *t);
void tmpl_unref(struct tmpl *t);

#endif

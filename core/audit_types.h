/* audit_types: the audit's plain data: a target as the audit sees it, the
 * fingerprint a version keeps, and a finding, with the severities and the
 * limits the checks use. Included by audit.h (the entry points) and by the
 * audit's own files, which must not include audit.h: audit.c, on top,
 * includes theirs. */
#ifndef WARMD_AUDIT_TYPES_H
#define WARMD_AUDIT_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct price;

enum audit_severity { AUDIT_CRITICAL, AUDIT_HIGH, AUDIT_MEDIUM, AUDIT_LOW };

/* Score penalty per finding (the score is 100 minus their sum, floor 0). */
#define AUDIT_PENALTY_CRITICAL 25
#define AUDIT_PENALTY_HIGH     15
#define AUDIT_PENALTY_MEDIUM   7
#define AUDIT_PENALTY_LOW      3

#define AUDIT_MAX_CACHE_KEYS  50  /* distinct prompt_cache_key values per provider */
#define AUDIT_MAX_KEY_RPM     15  /* OpenAI routes a prefix+key to one machine up to ~this */
#define AUDIT_CRITICAL_CHARS  100 /* dynamic content this close to the start is critical */
#define AUDIT_ACTION_PLAN_MAX 10

/* What the audit remembers of one version, to compare the next one against:
 * the tool names in order and a hash per top-level field ahead of the
 * breakpoint. Fixed size and pointer-free, so the daemon can keep one in each
 * struct target_version (and persist it if it likes). */
#define AUDIT_FP_TOOLS  64 /* tool names remembered one by one (the order hashes cover all) */
#define AUDIT_FP_FIELDS 8
#define AUDIT_FP_NAME   20

struct audit_fp {
	bool valid;                    /* false: no fingerprint (unparseable body) */
	uint16_t ntools;               /* tools in the template, all of them */
	uint64_t tools_order;          /* hash of the tool names in order */
	uint64_t tools_set;            /* order-free hash of the same names */
	uint64_t tool[AUDIT_FP_TOOLS]; /* hash of each name, first AUDIT_FP_TOOLS in order */
	uint8_t nfields;
	struct {
		char name[AUDIT_FP_NAME]; /* "system", "tools", "messages", "model"... */
		uint64_t hash;            /* of the field's JSON up to the breakpoint */
	} field[AUDIT_FP_FIELDS];
};

/* One target as the audit sees it. Every pointer is borrowed for the call
 * only; NULL strings mean unknown/none. Zero-initialise and fill what you
 * know: a zero counter reads as "nothing observed". */
struct audit_target {
	const char *name;
	const char *provider; /* provider name: cache keys are counted per provider */
	enum provider_kind kind;
	/* The request template: the application's request_file bytes when at
	 * hand (preferred: they exist even when the template is unwarmable),
	 * else the warm body (tmpl->body; same cached prefix: warmd only adds
	 * what comes after it). NULL/0: the body checks are skipped. */
	const char *body;
	size_t body_len;
	const char *model;
	long prefix_tokens_est;  /* tmpl->prefix_tokens_est */
	long min_cacheable;      /* tmpl->min_cacheable; 0 = unknown (OpenAI: 1024 assumed) */
	long prefix_tokens_seen; /* target->prefix_tokens: from usage, 0 = not yet */
	const char *unwarmable;  /* tmpl->unwarmable: "" or NULL when warmable */
	double ttl_s;
	enum policy policy;
	double idle_limit_s;   /* 0 = never idle */
	const char *cache_key; /* prompt_cache_key in effect (config or template), or NULL */
	uint64_t warms, hits, writes, nones, errors, touches;
	const uint32_t *touch_times; /* real-traffic times, oldest first, Unix s */
	unsigned ntouch;
	const struct audit_fp *prev_fp; /* previous version's fingerprint, or NULL */
	unsigned nversions;             /* versions seen (1 = never changed) */
	bool named_versions;            /* blue/green: the target lists named versions */
	bool inline_key;                /* the provider's key is inline in the config */
	bool provider_has_rpm_limit;    /* the provider has max_rpm */
	bool tested;                    /* a `warmctl test` ran for it */
	const struct price *price;      /* pricing_find(model), or NULL: unknown */
};

/* One finding. Strings live as long as the call that hands it out. */
struct audit_finding {
	enum audit_severity severity;
	const char *target;   /* NULL: provider-wide (cache-keys) */
	const char *provider; /* the target's provider */
	const char *check;    /* stable id, see the list in audit.h */
	const char *category; /* "prompt design", "prefix stability", ... */
	const char *title;
	const char *description;
	const char *recommendation;
	const char *effort; /* "minutes" | "hours" | "days" */
};

#endif

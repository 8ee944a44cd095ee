/* audit: what is wrong with how targets use the prompt cache, and how ready
 * they are for production (the `audit` data of docs/protocol.md, issue 7).
 *
 * Pure and I/O-free: the caller copies what it knows of each target into a
 * struct audit_target (plain data, borrowed for the duration of the call) and
 * gets findings back, either as that JSON object (`warmctl audit`) or, for
 * the checks that need no runtime data, one callback per finding
 * (`warmd --check-config`). Nothing here logs, allocates past the call or
 * keeps state between calls, so it is safe to run on a worker thread over a
 * snapshot (audit_cmd.c does) and from --check-config alike.
 *
 * Checks, by id (the "check" field of a finding):
 *   dynamic-content   timestamps, dates, UUIDs, request/session ids, counters
 *                     in the cached prefix: critical in its first ~100
 *                     characters, high elsewhere before the breakpoint
 *   below-minimum     prefix under the model's minimum cacheable length,
 *                     estimated (static) or confirmed from usage: high
 *   unsorted-tools    tool names not in sorted order: medium
 *   tool-order        same tools as the previous version, other order: medium
 *   image-detail      images of one template with different `detail`: medium
 *   fields-changed    top-level fields ahead of the breakpoint that differ
 *                     from the previous version: medium
 *   cache-keys        more than 50 distinct cache keys on one provider: high
 *   key-rate          a prefix + prompt_cache_key touched above ~15/min: high
 *   uncovered-gaps    traffic gaps longer than the TTL no policy bridges: medium
 *   ttl-choice        the other Anthropic TTL (1 h vs 5 min) is cheaper for
 *                     the observed traffic, both figures in USD: medium
 *   no-touches        no real traffic ever reported: low
 *   inline-key        the provider's API key is written in the config: high
 *   unwarmable        no minimal warm exists for the template: high
 *   warm-writes       warms keep writing instead of reading: medium
 * Static subset (audit_static): dynamic-content, below-minimum (estimated),
 * unsorted-tools, tool-order, image-detail, fields-changed, cache-keys,
 * inline-key, unwarmable. */
#ifndef WARMD_AUDIT_H
#define WARMD_AUDIT_H

#include <json-c/json.h>
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
	const char *check;    /* stable id, see the list above */
	const char *category; /* "prompt design", "prefix stability", ... */
	const char *title;
	const char *description;
	const char *recommendation;
	const char *effort; /* "minutes" | "hours" | "days" */
};

typedef void (*audit_emit_cb)(const struct audit_finding *f, void *ctx);

const char *audit_severity_name(enum audit_severity s);
/* "A" (>= 90), "B" (>= 80), "C" (>= 70), "D" (>= 60), else "F". */
const char *audit_grade(int score);

/* Fills *ret with the fingerprint of a template (or warm body) of provider
 * kind. Returns 0, or -EINVAL when the body is not a JSON object (then *ret
 * is zeroed, valid false). Store it per version; pass it back as prev_fp of
 * the next version. */
int audit_fingerprint(const char *body, size_t len, enum provider_kind kind, struct audit_fp *ret);

/* Runs every check over t[0..n) at Unix time now and returns the `audit`
 * data object of docs/protocol.md: { score, grade,
 * counts{critical,high,medium,low}, findings[], action_plan[],
 * readiness{score, items[]} }. Each finding has target
 * (null when provider-wide), provider, severity, category, check, title,
 * description, recommendation, effort (ttl-choice findings add
 * cost_current_usd and cost_alternative_usd); action_plan holds the top
 * AUDIT_ACTION_PLAN_MAX findings by severity then target name, each with
 * rank (1-based) and priority ("P1" critical .. "P4" low); readiness items
 * have category, item, status (done|not_done|unknown) and detail.
 * only: NULL for all targets, else the name of one: every target is still
 * checked (cache keys count per provider), but only that target's findings,
 * its provider's provider-wide ones and its readiness are reported.
 * Returns a new object the caller owns (json_object_put), never NULL (out
 * of memory is fatal: xalloc.h). */
json_object *audit_run(const struct audit_target *t, size_t n, double now, const char *only);

/* The static subset, for --check-config: calls emit once per finding, in
 * target order (provider-wide ones last), before returning. Returns the
 * number of findings (never negative). */
int audit_static(const struct audit_target *t, size_t n, audit_emit_cb emit, void *ctx);

#endif

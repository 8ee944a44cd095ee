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
 * Static subset (audit_static, the checks that need no traffic):
 * dynamic-content, below-minimum (estimated), unsorted-tools, tool-order
 * and fields-changed (both only with prev_fp), image-detail, cache-keys,
 * inline-key, unwarmable. `warmd --check-config` (audit_cmd.c) prints
 * dynamic-content, unsorted-tools, image-detail and cache-keys of them: a
 * staged configuration has no previous version to compare, and staging
 * already reports below-minimum, inline-key and unwarmable in its own
 * words. */
#ifndef WARMD_AUDIT_H
#define WARMD_AUDIT_H

#include <json-c/json.h>
#include <stddef.h>

#include "audit_report.h" /* audit_severity_name, audit_grade */
#include "audit_types.h"

typedef void (*audit_emit_cb)(const struct audit_finding *f, void *ctx);

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

/* managed_cache: caches warmd creates and keeps alive by name (Gemini's
 * explicit cachedContents), as the warms of their targets.
 *
 * A target whose template is a cache's creation body (tmpl->managed) is
 * warmed here instead of by replaying its body: while warmd knows no cache
 * of the target's version (t->cache_name NULL), a warm creates one (the
 * template at its URL, a write); once it knows one, a warm renews its TTL
 * (the adapter's touch request: no tokens billed, a hit). A renewal that
 * finds the cache gone creates it again within the same warm (a write).
 * The scheduler decides when, and whether it pays (pricing_keep_or_recreate():
 * storage per hour against re-creating it), as for any target; a target
 * has one warm in flight at a time, so a version never has two creates at
 * once, and the name is kept in the state file, so a restart renews the
 * cache instead of creating another.
 *
 * A name belongs to its version: a lane that keeps a replaced version warm
 * takes the name with the version's cache state (lanes.c), and a cache
 * nobody keeps any more (a removed target, a retired lane, a replaced
 * version without a lane, a create answered after its version changed) is
 * deleted, by a request of its own that holds its provider and credential
 * until it completes. */
#ifndef WARMD_MANAGED_CACHE_H
#define WARMD_MANAGED_CACHE_H

#include <stdbool.h>

#include "target.h"
#include "warm.h"

/* warm_fire() for a managed target: starts the create or the renewal.
 * The same contract as sched_ops.fire (the daemon's fire calls one or the
 * other). */
int managed_cache_fire(struct warm_env *env, struct target *t);

/* t's cache is no longer kept (see above): sends its delete, if t knows
 * one, and forgets the name. Nothing is reported to the scheduler. */
void managed_cache_drop(struct warm_env *env, struct target *t);

/* For warmctl test: points req at a renewal of t's cache (the one its
 * warms renew), its URL and body in *ret_url and *ret_body (malloc'd, the
 * caller frees them after the request). Returns 0, or -ENOENT (no cache
 * yet) or another negative errno with e. A test must not create caches. */
int managed_cache_test_request(const struct target *t, struct http_req *req, char **ret_url,
                               char **ret_body, struct errmsg *e);

/* Cancels the deletes in flight (shutdown): their done callbacks never
 * fire. The caches expire on their own. */
void managed_cache_cancel_all(void);

#endif

/* rollout: several versions of one target warm side by side.
 *
 * A version is a *lane*: an ordinary target named GROUP@NAME that the
 * scheduler warms like any other. Two kinds exist:
 *
 *   - blue/green: a target listing `versions` becomes one lane per named
 *     version with a weight (share of traffic). Every lane with weight > 0
 *     is kept warm; shift, promote and rollback change the weights at run
 *     time, persist them, and are acknowledged only once every version they
 *     bring into rotation has been warmed: a rollout never starts cold.
 *     route picks a version by weight for applications that let warmd
 *     decide.
 *   - a replaced version: when a reload changes a plain target's template,
 *     the new version is warmed at once and the old one stays warm as
 *     GROUP@SHORTHASH for version_overlap, longer while touches still name
 *     it, so that applications still sending the old prompt do not go cold
 *     during a deploy. The scheduler retires it when its time comes.
 *
 * Weights set at run time survive restarts and reloads as long as the
 * config's own weight for that version is unchanged (an edit there wins). */
#ifndef WARMD_ROLLOUT_H
#define WARMD_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "proto.h"
#include "target.h"

struct daemon;
struct conn;
struct rollout_waiter;

/* daemon_apply: the config's weight for lane t (a new lane takes it; a
 * known one keeps a runtime shift unless the config's weight changed). */
void rollout_config_weight(struct target *t, const struct cfg_target *c, bool fresh);

/* daemon_apply: t's template is about to change from old to a new version.
 * Returns a new lane (one reference) that keeps old warm for t's overlap,
 * taking over t's cache state, or NULL when there is nothing to keep (no
 * overlap, nothing warm, or old cannot be warmed). */
struct target *rollout_replaced_lane(struct daemon *d, struct target *t, struct tmpl *old);

/* daemon_apply, for each replaced-version lane l of the old list: g is its
 * group's target in the new list (or NULL). Returns whether l lives on: while
 * g is a plain target of the same provider at another version and the
 * overlap lasts. When g went back to l's version, g takes l's warm entry. */
bool rollout_keep_lane(struct target *l, struct target *g, double now);

/* The lanes of group (a contiguous run of the sorted target list): *ret_first
 * and the count, 0 when group has none. */
size_t rollout_lanes(struct daemon *d, const char *group, size_t *ret_first);

/* A touch named lane t (a replaced version): it is still in use. */
void rollout_touched(struct daemon *d, struct target *t);

/* sched_ops.retire: the overlap of replaced version t is over. */
void rollout_retire(void *warm_env, struct target *t);

/* After every completed warm: shifts waiting for t's warm may now answer. */
void rollout_warm_done(struct daemon *d, struct target *t);

/* A reload or shutdown: every waiting shift is answered (refused) now. */
void rollout_abort_waiters(struct daemon *d, const char *why);

/* Control commands. */
void rollout_cmd_versions(struct daemon *d, const struct proto_request *req, struct buf *out);
void rollout_cmd_route(struct daemon *d, const struct proto_request *req, struct buf *out);
/* shift, promote and rollback; may defer the answer through conn. */
void rollout_cmd_weights(struct daemon *d, const struct proto_request *req, struct conn *conn,
                         struct buf *out);

#endif

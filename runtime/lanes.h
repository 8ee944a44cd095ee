/* lanes: several versions of one target warm side by side, as the running
 * set keeps them.
 *
 * A version is a *lane*: an ordinary target named GROUP@NAME that the
 * scheduler warms like any other. Two kinds exist:
 *
 *   - blue/green: a target listing `versions` becomes one lane per named
 *     version with a weight (its share of traffic). Every lane with weight
 *     > 0 is kept warm; the commands that change weights at run time are
 *     control/rollout.c's. A weight set at run time survives restarts and
 *     reloads as long as the config's own weight for that version is
 *     unchanged (an edit there wins).
 *   - a replaced version: when a reload changes a plain target's template,
 *     the new version is warmed at once and the old one stays warm as
 *     GROUP@SHORTHASH for version_overlap, longer while touches still name
 *     it, so that applications still sending the old prompt do not go cold
 *     during a deploy. The scheduler retires it when its time comes
 *     (sched_ops.retire).
 *
 * This is what daemon_apply() and the touch path need; nothing here logs
 * but a kept version's one line. */
#ifndef WARMD_LANES_H
#define WARMD_LANES_H

#include <stdbool.h>

#include "config.h"
#include "target.h"
#include "target_set.h"

/* The config's weight for lane t (a new lane takes it; a known one keeps a
 * runtime shift unless the config's weight changed). */
void lanes_config_weight(struct target *t, const struct cfg_target *c, bool fresh);

/* t's template is about to change from old to a new version (t->overlap_s
 * already the new configuration's). Returns a new lane (one reference) that
 * keeps old warm for the overlap, taking over t's cache state, or NULL when
 * there is nothing to keep (no overlap, nothing warm, old cannot be warmed,
 * or set already keeps old: its overlap then starts again). */
struct target *lanes_keep_replaced(const struct target_set *set, struct target *t,
                                   struct tmpl *old);

/* For each replaced-version lane l of the old list: g is its group's target
 * in the new list (or NULL). Returns whether l lives on: while g is a plain
 * target of the same provider at another version and the overlap lasts.
 * When g went back to l's version, g takes l's warm entry. */
bool lanes_keep(struct target *l, struct target *g, double now);

/* A touch named lane t at now: a replaced version still in use stays. */
void lanes_touched(struct target *t, double now);

#endif

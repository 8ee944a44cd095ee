/* tset: a target set built by hand, for the unit tests of the modules that
 * see the running set through struct target_set (state, lanes, rollout,
 * probe, status, metrics, warm): openai-compatible providers (no key
 * needed) and targets with real templates, on a virtual clock, with a
 * scheduler whose fire() only records what it was asked to warm. No
 * configuration file, no daemon. */
#ifndef WARMD_TSET_H
#define WARMD_TSET_H

#include <stdbool.h>
#include <stddef.h>

#include "provider.h"
#include "sched.h"
#include "target.h"
#include "target_set.h"

#define TSET_T0        1767225600.0 /* 2026-01-01 00:00:00 UTC */
#define TSET_MAX_FIRES 64

struct tset {
	struct target_set set;
	struct target *fired[TSET_MAX_FIRES]; /* what fire() was asked to warm */
	size_t nfired;
};

/* A set on a virtual clock at TSET_T0; set.sched's fire() records. */
struct tset *tset_new(void);
void tset_free(struct tset *x);

/* An openai-compatible provider at base_url (NULL: one nothing answers),
 * with its credential (no key). */
struct provider *tset_provider(struct tset *x, const char *name, const char *base_url);

/* A plain target of p (ttl 300 s, policy always) whose template's system
 * prompt is text: the text decides its version. */
struct target *tset_target(struct tset *x, struct provider *p, const char *name, const char *text);

/* A blue/green lane GROUP@VNAME of weight (the config's too). */
struct target *tset_lane(struct tset *x, struct provider *p, const char *group, const char *vname,
                         int weight, const char *text);

/* t's cache is warm now, as a hit would leave it. */
void tset_warm(struct tset *x, struct target *t);

/* The virtual clock, moved forward by s seconds (alarms due on the way fire). */
void tset_advance(struct tset *x, double s);

#endif

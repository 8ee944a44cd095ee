/* target_set: what warmd runs now, as the modules that read it or plan it
 * see it (state, status, metrics, rollout, probe, the audit): the providers
 * and the targets, the clock and the scheduler they run on, and the
 * daemon's figures that status and metrics show.
 *
 * A narrow view instead of struct daemon, so that each of those modules
 * can be tested on a set built by hand. The daemon owns what a set points
 * at (daemon.c): it alone adds and removes targets and providers; the
 * holders of a set read it, change a target's own fields, and plan its
 * targets through the scheduler. */
#ifndef WARMD_TARGET_SET_H
#define WARMD_TARGET_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct clock;
struct cluster;
struct config;
struct provider;
struct sched;
struct sessions;
struct target;

struct target_set {
	struct target **targets; /* sorted by name (strcmp), so lanes are runs */
	size_t ntargets;
	struct provider **provs;
	size_t nprovs;
	struct config *cfg; /* what they were built from; NULL in a set built by hand */
	struct clock *clk;
	struct sched *sched;
	struct sessions *sessions; /* warmctl keep's targets (session.h), or NULL */
	struct cluster *cluster;   /* cluster mode (cluster.h), or NULL */
	bool paused_all; /* the operator's kill switch (a shutdown pauses the scheduler only) */

	/* The daemon's own figures (status, metrics). */
	char *config_path; /* absolute */
	double started_at;
	double config_loaded_at;
	uint64_t touches_dropped;
	uint64_t reloads_ok, reloads_failed;
};

/* Sorts v[0..n) by name, as a set keeps its targets. */
void target_set_sort(struct target **v, size_t n);

/* The target named name (NULL: none), or its slot in s->targets. */
struct target *target_set_find(const struct target_set *s, const char *name);
struct target **target_set_slot(const struct target_set *s, const char *name);

/* The version lanes of group (GROUP@NAME, GROUP@HASH): a run of s->targets
 * from *ret_first. Returns the count, 0 when group has none. */
size_t target_set_lanes(const struct target_set *s, const char *group, size_t *ret_first);

#endif

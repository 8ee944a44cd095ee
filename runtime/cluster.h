/* cluster: several warmd nodes sharing their targets through one Redis
 * (docs/cluster.md), so that each cache entry is warmed by exactly one live
 * node, a dead node's entries move to the others before they lapse, and
 * every node sees the whole fleet's warmth and traffic.
 *
 * Each node heartbeats (a key that expires after the lease), publishes
 * which entries its configuration has, and claims the entries that
 * rendezvous hashing gives it among the live nodes that have them, with a
 * lease in Redis (SET NX PX, renewed and released by compare-and-set
 * scripts). The owner writes each entry's warmth after every warm; the
 * others apply it as if they had seen the warm, so a takeover knows when
 * the cache expires. Touches and rollout weights travel on channels. When
 * Redis cannot be reached the node fails open: it warms every target it
 * has until Redis answers again.
 *
 * Ownership shows in targets as t->foreign (another node warms it: the
 * scheduler plans nothing) and t->owner; cluster.c alone sets them. Redis
 * itself is runtime/redis.c's; what is stored there, core/cluster_proto.c's. */
#ifndef WARMD_CLUSTER_H
#define WARMD_CLUSTER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "errmsg.h"
#include "target_set.h"
#include "touch_report.h"

struct cluster;

struct cluster_ops {
	/* A touch published on the cluster's channel by another host (or
	 * relayed by another node): apply it like a local one. */
	void (*touch)(void *data, const struct touch_report *rep);
	/* Rollout weights changed from Redis (applied to the lanes already):
	 * what the daemon does after a change of its own. */
	void (*weights)(void *data);
};

/* Starts cluster mode for set with cfg (copied) and the Redis password (or
 * NULL; copied). Redis is connected in the background; until it answers,
 * the set's targets wait (at most a timeout, then the node fails open).
 * Returns 0, or a negative errno with e saying why. */
int cluster_open(uv_loop_t *loop, struct target_set *set, const struct cfg_cluster *cfg,
                 const char *password, size_t password_len, const struct cluster_ops *ops,
                 void *data, struct cluster **ret, struct errmsg *e);
/* The set's targets changed (start-up, reload, a session): the entries are
 * taken again and this node's configuration is published. */
void cluster_set_changed(struct cluster *c);
/* A warm of t completed: the owner publishes its warmth. */
void cluster_warmed(struct cluster *c, const struct target *t);
/* A touch arrived on this node's own socket: every other node hears it. */
void cluster_touch_relay(struct cluster *c, const struct touch_report *rep);
/* The operator changed rollout weights here: every node takes them. */
void cluster_weights_publish(struct cluster *c);
/* A clean stop: this node's leases and heartbeat are released, so the
 * others take its entries at their next cycle instead of a lease later;
 * no cycle runs after it. done(data) is called once Redis answered (or
 * failed to). Returns 0, or -ENOTCONN when there is nothing to release
 * (done is then not called). */
int cluster_leave(struct cluster *c, void (*done)(void *data), void *data);
/* Closes. Accepts NULL. */
void cluster_close(struct cluster *c);

/* For status and metrics. */
struct cluster_stats {
	bool connected, degraded;
	double degraded_since; /* 0 when not degraded */
	size_t nodes;          /* live, this one included */
	size_t owned;          /* entries this node holds */
	size_t differs;        /* targets whose entry differs on some live node */
	uint64_t takeovers;
	uint64_t redis_errors;
	double rtt_s; /* <0: none yet */
};
void cluster_get_stats(const struct cluster *c, struct cluster_stats *ret);
/* The daemon.cluster status object (docs/protocol.md). */
json_object *cluster_status_json(const struct cluster *c);

#endif

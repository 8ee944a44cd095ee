/* cluster_proto: the records cluster mode keeps in Redis, and the pure
 * decisions on them (docs/cluster.md): entry ids, rendezvous weights,
 * heartbeat and warmth records, weight messages. Everything read from
 * Redis is checked here before the daemon believes it: a record that is
 * not exactly what a warmd writes is refused with a reason. Pure. */
#ifndef WARMD_CLUSTER_PROTO_H
#define WARMD_CLUSTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h" /* enum warm_result */
#include "errmsg.h"

#define CLUSTER_NAME_MAX 64 /* node names and namespaces */

/* Is s 1..CLUSTER_NAME_MAX characters of [A-Za-z0-9._-]? */
bool cluster_name_ok(const char *s, size_t n);

/* The cache entry (provider, url, version) as a 64-bit id: the first 8
 * bytes of SHA-256(provider NUL url NUL version), big-endian (no NUL after
 * version; NULL version is "", a target without versions). */
uint64_t cluster_entry_id(const char *provider, const char *url, const char *version);
/* As 16 lower-case hex digits + NUL; parse returns 0 or -EINVAL. */
void cluster_eid_format(uint64_t eid, char out[17]);
int cluster_eid_parse(const char *s, size_t n, uint64_t *ret);

/* Rendezvous hashing: a node's seed (FNV-1a 64 of its name), its weight for
 * an entry (splitmix64(seed ^ eid): the state plus 0x9e3779b97f4a7c15, then
 * splitmix64's mix, so weight(0, 0) is 0xe220a8397b1dcdaf), and the index
 * of the winner among seeds[0..n) (highest weight; on a tie the lower
 * index), -1 when n == 0. */
uint64_t cluster_node_seed(const char *node);
uint64_t cluster_weight(uint64_t seed, uint64_t eid);
int cluster_pick(const uint64_t *seeds, size_t n, uint64_t eid);

/* The parsers below take s[0..n) (no NUL needed; a NUL inside is refused),
 * fields separated by exactly one space, "v1" first, exactly the fields
 * listed, numbers as digits only; on failure they return -EINVAL with e
 * naming the record and the field ("heartbeat: lease_ms is out of range
 * [100, 3600000]") and leave *ret untouched. The formatters return the
 * length they needed, like snprintf, and write what the parsers read back
 * to the same values.
 *
 * "v1 INSTANCE LEASE_MS OWNED DIGEST" (INSTANCE and DIGEST: 16 lower-case
 * hex digits) */
struct cluster_heartbeat {
	uint64_t instance;
	long lease_ms; /* 100 .. 3600000 */
	long owned;    /* 0 .. 100000000 */
	uint64_t digest;
};
int cluster_heartbeat_format(const struct cluster_heartbeat *h, char *out, size_t n);
int cluster_heartbeat_parse(const char *s, size_t n, struct cluster_heartbeat *ret,
                            struct errmsg *e);

/* "v1 NODE LAST_REFRESH EXPIRES_AT PREFIX_TOKENS RESULT" (times with at
 * most 3 decimals, no sign or exponent; RESULT as warm_result_name()) */
struct cluster_warmth {
	char node[CLUSTER_NAME_MAX + 1];
	double last_refresh, expires_at; /* Unix s, 0 = unknown; 0 .. 1e11, finite */
	long prefix_tokens;              /* 0 .. BOUNDS_MAX_TOKENS */
	enum warm_result result;
};
int cluster_warmth_format(const struct cluster_warmth *w, char *out, size_t n);
int cluster_warmth_parse(const char *s, size_t n, struct cluster_warmth *ret, struct errmsg *e);

/* A weights message or hash entry: "GROUP@VERSION WEIGHT", weight 0..100;
 * lane receives "GROUP@VERSION" (at most 129 characters). */
int cluster_weight_msg_parse(const char *s, size_t n, char lane[130], int *weight,
                             struct errmsg *e);

/* The digest of a node's configuration: FNV-1a 64 over the sorted
 * (name NUL eid) pairs, eid as 8 bytes big-endian, fed in order by the
 * caller starting from CLUSTER_DIGEST_INIT. */
uint64_t cluster_digest_add(uint64_t h, const char *name, uint64_t eid);
#define CLUSTER_DIGEST_INIT 0xcbf29ce484222325ULL

#endif

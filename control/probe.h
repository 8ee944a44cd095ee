/* probe: `warmctl test`, the verification test. Sends a target's minimal
 * request N times, one after another, and reports per request what the
 * provider read from and wrote to its cache and how long it took; then the
 * hit rate, the first hit, and what a hit saves over a write in latency and
 * money. Variant templates (--variant) go after the base, each reporting
 * how much of the base's cached prefix it still read: a quick way to see
 * which edits break a prompt's cache.
 *
 * The requests go straight out through http.c (an operator asked for them,
 * now); they do not touch the target's schedule or counters. */
#ifndef WARMD_PROBE_H
#define WARMD_PROBE_H

#include "buf.h"
#include "http.h"
#include "proto.h"
#include "target_set.h"

struct ctl_conn;
struct probe;

/* Where tests run: the caller fills set and http (and zeroes running). */
struct probe_env {
	struct target_set *set; /* the targets to test (cfg: for variants) */
	struct http *http;      /* where the requests go */
	struct probe *running;  /* tests in flight (probe.c's) */
};

/* The test command: answers at once on a bad request, else later (deferred
 * through conn, ctl_reply.h) when the last request has come back. */
void probe_cmd_test(struct probe_env *env, const struct proto_request *req, struct ctl_conn *conn,
                    struct buf *out);

/* Shutdown: cancels every test in flight and answers its client. */
void probe_abort_all(struct probe_env *env);

#endif

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
#include "proto.h"

struct daemon;
struct conn;

/* The test command: answers at once on a bad request, else later (deferred
 * through conn) when the last request has come back. */
void probe_cmd_test(struct daemon *d, const struct proto_request *req, struct conn *conn,
                    struct buf *out);

/* Shutdown: cancels every test in flight and answers its client. */
void probe_abort_all(struct daemon *d);

#endif

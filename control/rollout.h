/* rollout: the blue/green commands. `versions` lists a target's versions
 * (its lanes, and the ones it had), `route` picks a version by weight for
 * applications that let warmd decide, and `shift`, `promote` and
 * `rollback` change the weights at run time, persist them, and are
 * acknowledged only once every version they bring into rotation has been
 * warmed: a rollout never starts cold. What a lane is, and how the running
 * set keeps replaced versions, is runtime/lanes.h. */
#ifndef WARMD_ROLLOUT_H
#define WARMD_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "proto.h"
#include "target.h"

struct daemon;
struct ctl_conn;
struct rollout_waiter;

/* After every completed warm: shifts waiting for t's warm may now answer. */
void rollout_warm_done(struct daemon *d, struct target *t);

/* A reload or shutdown: every waiting shift is answered (refused) now. */
void rollout_abort_waiters(struct daemon *d, const char *why);

/* Control commands. */
void rollout_cmd_versions(struct daemon *d, const struct proto_request *req, struct buf *out);
void rollout_cmd_route(struct daemon *d, const struct proto_request *req, struct buf *out);
/* shift, promote and rollback; may defer the answer through conn. */
void rollout_cmd_weights(struct daemon *d, const struct proto_request *req, struct ctl_conn *conn,
                         struct buf *out);

#endif

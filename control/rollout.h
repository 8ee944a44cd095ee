/* rollout: the blue/green commands. `versions` lists a target's versions
 * (its lanes, and the ones it had), `route` picks a version by weight for
 * applications that let warmd decide, and `shift`, `promote` and
 * `rollback` change the weights at run time, persist them, and are
 * acknowledged only once every version they bring into rotation has been
 * warmed: a rollout never starts cold. What a lane is, and how the running
 * set keeps replaced versions, is runtime/lanes.h. */
#ifndef WARMD_ROLLOUT_H
#define WARMD_ROLLOUT_H

#include <stdint.h>

#include "buf.h"
#include "proto.h"
#include "target.h"
#include "target_set.h"

struct ctl_conn;
struct rollout;

/* The commands on set's lanes. changed(data) is called after weights
 * changed (STATUS= now, the state file soon); seed starts route's random
 * picks. */
struct rollout *rollout_new(struct target_set *set, void (*changed)(void *data), void *data,
                            uint64_t seed);
/* Refuses every waiting shift ("warmd is stopping") and frees ro. Accepts NULL. */
void rollout_free(struct rollout *ro);

/* After every completed warm: shifts waiting for t's warm may now answer. */
void rollout_warm_done(struct rollout *ro, struct target *t);

/* A reload or shutdown: every waiting shift is answered (refused, with why) now. */
void rollout_abort(struct rollout *ro, const char *why);

/* Control commands. */
void rollout_cmd_versions(struct rollout *ro, const struct proto_request *req, struct buf *out);
void rollout_cmd_route(struct rollout *ro, const struct proto_request *req, struct buf *out);
/* shift, promote and rollback; may defer the answer through conn
 * (ctl_reply.h) until the versions it brings into rotation are warm. */
void rollout_cmd_weights(struct rollout *ro, const struct proto_request *req, struct ctl_conn *conn,
                         struct buf *out);

#endif

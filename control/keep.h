/* keep: the session commands of the control socket, keep and drop
 * (docs/protocol.md): what proto.c decoded handed to the sessions
 * (runtime/session.h), and their verdict as one response line. Called by
 * ctl_cmd.c for a privileged peer. */
#ifndef WARMD_KEEP_H
#define WARMD_KEEP_H

#include "buf.h"
#include "proto.h"

struct sessions;

/* {"cmd":"keep","target","provider","body"[,"ttl","for","priority"]}:
 * creates or updates the session and warms it. Appends one response line
 * to out: ok with what it did, or an error whose code says which kind
 * (bad_request, not_found, rejected, limit). */
void keep_cmd_keep(struct sessions *r, const struct proto_request *req, struct buf *out);
/* {"cmd":"drop","target"}: ends the session at once. */
void keep_cmd_drop(struct sessions *r, const struct proto_request *req, struct buf *out);

#endif

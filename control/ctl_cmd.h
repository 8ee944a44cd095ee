/* ctl_cmd: what each control command does (status, warm, pause, resume,
 * reload, ping). Called by ctl.c with a decoded request from a peer already
 * allowed to run it; appends exactly one response line. */
#ifndef WARMD_CTL_CMD_H
#define WARMD_CTL_CMD_H

#include "buf.h"
#include "ctl.h"
#include "proto.h"

struct daemon;

/* conn is the requester's connection, for ctl_defer(). */
void ctl_cmd_run(struct daemon *d, const struct proto_request *req, const struct ctl_peer *peer,
                 struct conn *conn, struct buf *out);

#endif

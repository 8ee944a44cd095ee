/* ctl_cmd: what each control command does (status, warm, pause, resume,
 * reload, ping; the others through their modules: keep.h, rollout.h,
 * probe.h, audit_cmd.h). Called by ctl.c with a decoded request from a
 * peer already allowed to run it; appends exactly one response line. */
#ifndef WARMD_CTL_CMD_H
#define WARMD_CTL_CMD_H

#include "buf.h"
#include "ctl.h"
#include "proto.h"

struct audit_env;
struct daemon;
struct probe_env;
struct rollout;

/* What the commands act on (main.c fills it). */
struct ctl_cmd_env {
	struct daemon *d;
	struct rollout *rollout;
	struct probe_env *probes;
	struct audit_env *audit;
};

/* A ctl_run_fn (ctl.h): data is a struct ctl_cmd_env. conn is the
 * requester's connection, for ctl_reply_defer(). */
void ctl_cmd_run(void *data, const struct proto_request *req, const struct ctl_peer *peer,
                 struct ctl_conn *conn, struct buf *out);

#endif

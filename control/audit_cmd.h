/* audit_cmd: the caching audit wired to the daemon. audit.c judges plain
 * data and does no I/O; this file gathers that data from the running
 * targets (or from a staged configuration for --check-config) and answers.
 *
 * The audit parses every template and runs regular expressions over its
 * text, which for thousands of targets takes seconds: it runs on a worker
 * thread over a snapshot (templates are immutable and held by reference),
 * so warms stay on time, and one audit runs at a time. */
#ifndef WARMD_AUDIT_CMD_H
#define WARMD_AUDIT_CMD_H

#include <stdbool.h>
#include <uv.h>

#include "buf.h"
#include "diag.h"
#include "proto.h"
#include "target_set.h"

struct ctl_conn;
struct staging;

/* Where audits run: the caller fills loop and set (running false). */
struct audit_env {
	uv_loop_t *loop;        /* whose worker pool runs them */
	struct target_set *set; /* the targets audited */
	bool running;           /* an audit is on a worker thread */
};

/* The audit command: answers later through conn (ctl_reply.h), or at once
 * on an error. */
void audit_cmd(struct audit_env *env, const struct proto_request *req, struct ctl_conn *conn,
               struct buf *out);

/* warmd --check-config: the audit's static checks as warnings, each at the
 * line of its target (or provider) in the configuration. */
void audit_check_staging(const struct staging *st, struct diags *diags);

#endif

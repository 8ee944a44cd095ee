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

#include "buf.h"
#include "diag.h"
#include "proto.h"

struct daemon;
struct conn;
struct staging;

/* The audit command: answers later through conn, or at once on an error. */
void audit_cmd(struct daemon *d, const struct proto_request *req, struct conn *conn,
               struct buf *out);

/* warmd --check-config: the audit's static checks as warnings, each at the
 * line of its target (or provider) in the configuration. */
void audit_check_staging(const struct staging *st, struct diags *diags);

#endif

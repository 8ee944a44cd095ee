/* status: what `warmctl status` shows (docs/protocol.md), rendered from the
 * running set one target at a time, and the sd_notify STATUS= line
 * ("12/12 warm, 0 failing", or "idle: no targets configured"). */
#ifndef WARMD_STATUS_H
#define WARMD_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "target_set.h"

/* Appends the status data as JSON to out for the n targets v of set (all
 * of them: set->targets). Streams one target at a time, so 10,000 targets
 * never sit in memory as one tree. Returns 0 or -ENOMEM. */
int status_write(const struct target_set *set, struct target *const *v, size_t n, struct buf *out);

/* The STATUS= line and when it was last sent. */
struct status_line {
	double sent_at;
	bool stopping; /* warmd is stopping: the line says so */
};

/* Sends set's STATUS= line ("idle: no targets configured" when the set is
 * empty), at most every few seconds unless force. Returns 0 when it was
 * sent, else the seconds until it may be: the caller sends it then
 * (force), so the line never stays behind until the next warm, a TTL later. */
double status_line_update(struct status_line *l, const struct target_set *set, bool force);

#endif

/* metrics: warmd's counters and gauges in the Prometheus text exposition
 * format (warmd(8), METRICS), for `warmctl metrics`, the HTTP /metrics listener
 * and the node_exporter textfile. Names follow Prometheus conventions: base
 * units, _total for counters, a histogram for warm latency. */
#ifndef WARMD_METRICS_H
#define WARMD_METRICS_H

#include <uv.h>

#include "buf.h"
#include "errmsg.h"
#include "target_set.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_textfile;

/* Appends the exposition of set to out. Returns 0 or -ENOMEM. */
int metrics_write(const struct target_set *set, struct buf *out);

/* Rewrites path atomically every interval seconds (node_exporter's textfile
 * collector) with set's exposition, from a timer on loop. Returns 0 or a
 * negative errno with e. */
int metrics_textfile_open(uv_loop_t *loop, const struct target_set *set, const char *path,
                          double interval, struct metrics_textfile **ret, struct errmsg *e);
/* Stops; freed in the timer's close callback. Accepts NULL. */
void metrics_textfile_close(struct metrics_textfile *m);

#endif

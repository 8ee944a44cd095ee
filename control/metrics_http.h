/* metrics_http: the optional HTTP /metrics listener (metrics_listen), served
 * by libmicrohttpd driven from warmd's own libuv loop (no thread, no
 * hand-written HTTP parser). The text itself comes from a callback, called
 * at most once per max age (1 s): scrapes in between get the same text, so
 * a client hammering /metrics cannot make the loop render for each request.
 * At most 32 connections in all, 4 from one address. */
#ifndef WARMD_METRICS_HTTP_H
#define WARMD_METRICS_HTTP_H

#include <uv.h>

#include "buf.h"
#include "errmsg.h"

#define METRICS_HTTP_MAX_AGE_MS 1000

struct metrics_http;

/* Appends the Prometheus text exposition to out; returns 0 or -ENOMEM. */
typedef int (*metrics_render_fn)(void *data, struct buf *out);

/* Listens on listen ("HOST:PORT", "[v6]:PORT"; PORT 0 picks one) and serves
 * GET /metrics with render's text. Returns 0, or a negative errno with e
 * saying why (bad address, port in use...). */
int metrics_http_open(uv_loop_t *loop, const char *listen, metrics_render_fn render, void *data,
                      struct metrics_http **ret, struct errmsg *e);
/* How old (in loop time) the rendered text may be when served; 0 renders
 * for every request. Default METRICS_HTTP_MAX_AGE_MS. */
void metrics_http_set_max_age(struct metrics_http *m, unsigned ms);
/* The port actually bound (useful with PORT 0). */
int metrics_http_port(const struct metrics_http *m);
/* Stops listening and closes its libuv handles; freed once they have closed,
 * so the loop must run afterwards. Accepts NULL. */
void metrics_http_close(struct metrics_http *m);

#endif

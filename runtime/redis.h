/* redis: warmd's one connection to Redis (hiredis 0.14 on the daemon's
 * libuv loop), for cluster mode.
 *
 * Two connections to the same server: one for commands, one subscribed to
 * the cluster's channels. Both are opened by address (a host name is
 * resolved with uv_getaddrinfo first, so the loop never blocks in DNS),
 * authenticated (AUTH [user] password) and told the database (SELECT) before
 * the connection counts as up. hiredis 0.14 has no timeouts of its own: a uv
 * timer fails a connection attempt, or any command, that takes longer than
 * timeout_s; the connection is then dropped, every pending reply is called
 * with NULL, and reconnection starts with a backoff (0.25 s doubling to
 * 5 s). Replies that are not what a caller asked for are the caller's to
 * judge (see redis_reply_*). */
#ifndef WARMD_REDIS_H
#define WARMD_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "errmsg.h"
#include "redis_url.h" /* struct redis_addr (core/) */

struct redis;

struct redis_opts {
	struct redis_addr addr;
	const char *username; /* or NULL */
	const char *password; /* or NULL; copied into locked memory and wiped at close */
	size_t password_len;
	double timeout_s;            /* connect, AUTH/SELECT/SUBSCRIBE and each command */
	const char *const *channels; /* subscribed on the second connection; n may be 0 */
	size_t nchannels;
};

struct redis_ops {
	/* Both connections are up (authenticated, db selected, subscribed). */
	void (*up)(void *data);
	/* A connection was lost or could not be made; why says what (never a
	 * password). Called once per outage (not again for each failed retry
	 * until up() has been called again). */
	void (*down)(void *data, const char *why);
	/* A message on one of the channels. */
	void (*message)(void *data, const char *channel, const char *msg, size_t len);
};

/* A reply, or NULL with err saying why (timeout, connection lost, not
 * connected). Called exactly once per redis_cmd() that returned 0. r is
 * valid during the call only. */
typedef void (*redis_reply_cb)(void *data, const redisReply *r, const char *err);

/* Starts connecting (in the background; ops->up when ready). Returns 0, or
 * a negative errno with e saying why. */
int redis_open(uv_loop_t *loop, const struct redis_opts *o, const struct redis_ops *ops, void *data,
               struct redis **ret, struct errmsg *e);
/* Sends argv[0..argc) (binary-safe with lens). Returns 0 (cb will be called,
 * maybe with NULL), or -ENOTCONN when not up (cb is not called), or -EINVAL
 * for no cb/argv or a command that would turn the command connection into a
 * subscriber ((P|S)(UN)SUBSCRIBE, MONITOR). */
int redis_cmd(struct redis *r, redis_reply_cb cb, void *data, int argc, const char **argv,
              const size_t *lens);
bool redis_is_up(const struct redis *r);
/* Round-trip time of the last command, seconds (EWMA), <0 before any. */
double redis_rtt(const struct redis *r);
/* Commands sent and errors (timeouts, lost connections, error replies) since open. */
uint64_t redis_commands(const struct redis *r);
uint64_t redis_errors(const struct redis *r);
/* Closes both connections; pending callbacks get NULL ("closing"); the rest
 * is freed when the loop runs the close callbacks. Accepts NULL. */
void redis_close(struct redis *r);

#endif

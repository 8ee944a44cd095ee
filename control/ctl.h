/* ctl: the control socket server. A stream Unix socket (bound here, or
 * handed over by systemd socket activation), one JSON request per line and
 * one response per line. Frames lines with a hard 1 MiB limit, identifies
 * each peer with SO_PEERCRED, refuses mutating commands from unprivileged
 * peers; bad input gets an error response, never a crash or a hang.
 *
 * An operator must always get through, even past clients that flood the
 * socket and never read (a runaway script under the operator's own uid
 * looks the same as the operator, so nothing here goes by uid):
 * - backpressure: a connection with out_cap bytes of unsent answers is not
 *   read (nor are its already-read lines run) until its client reads;
 * - memory: a connection holds at most out_cap plus one answer of output,
 *   one read of unframed input and one partial line; when all connections
 *   together pass mem_max, the one that has made no progress longest is
 *   closed (never the one being served: a single big answer goes out);
 * - progress: a connection whose unsent answers have not moved for
 *   stall_ms is closed; one with nothing to do for idle_ms too (not while
 *   a deferred command works for it; the clock restarts with its answer);
 * - slots: when max_conns are open, a newcomer is served and the
 *   connection that has made no progress longest is closed to make room
 *   (first those not reading their answers, then idle ones, then those
 *   waiting for a deferred answer). */
#ifndef WARMD_CTL_H
#define WARMD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "errmsg.h"

struct buf;
struct ctl;
struct ctl_conn;
struct proto_request;

struct ctl_limits {
	unsigned max_conns; /* connections served at once */
	uint64_t idle_ms;   /* nothing asked, nothing to send, nothing pending */
	uint64_t stall_ms;  /* answers waiting and none of them taken */
	size_t out_cap;     /* unsent answers at which a connection is not read */
	size_t mem_max;     /* answers and input of all connections together */
};

/* warmd's: 64 connections of at most 256 KiB of answers plus one each fit
 * in the 32 MiB, far inside the service's MemoryMax=. */
#define CTL_LIMITS_DEFAULT                                                                         \
	{                                                                                          \
		.max_conns = 64, .idle_ms = 30000, .stall_ms = 5000, .out_cap = 256 * 1024,        \
		.mem_max = 32 * 1024 * 1024                                                        \
	}

struct ctl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool privileged; /* root, the daemon's uid, or in the socket's group */
};

/* Runs one request from peer (already allowed to run it) and appends one
 * response line to out, or leaves out empty after ctl_reply_defer(conn)
 * (ctl_reply.h) to answer later. */
typedef void (*ctl_run_fn)(void *data, const struct proto_request *req, const struct ctl_peer *peer,
                           struct ctl_conn *conn, struct buf *out);

/* Counters, for tests and diagnostics. */
struct ctl_stats {
	unsigned conns;        /* open now */
	size_t mem;            /* bytes of answers and input held now */
	unsigned long evicted; /* closed to make room for a newcomer */
	unsigned long stalled; /* closed for not reading their answers */
	unsigned long shed;    /* closed because all together held mem_max */
};

/* Listens on the stream socket systemd passed (FileDescriptorName=control,
 * or the first stream Unix socket), else binds path (mode 0660, group group
 * when it exists). The group whose members may change things is, for a
 * passed socket, the group of its file (SocketGroup=), else group; for a
 * bound one, group. lim NULL: CTL_LIMITS_DEFAULT. run is called for each
 * request with data. Returns 0, or a negative errno with e saying why. */
int ctl_listen(uv_loop_t *loop, const char *path, const char *group, const struct ctl_limits *lim,
               ctl_run_fn run, void *data, struct ctl **ret, struct errmsg *e);
void ctl_get_stats(const struct ctl *c, struct ctl_stats *ret);

/* Closes the listener and every connection; the loop must run afterwards
 * for the close callbacks, which free everything. Unlinks a socket it bound.
 * Accepts NULL. */
void ctl_close(struct ctl *c);

#endif

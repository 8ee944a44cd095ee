/* ctl: the control socket server. A stream Unix socket (bound here, or
 * handed over by systemd socket activation), one JSON request per line and
 * one response per line. Frames lines with a hard 1 MiB limit, identifies
 * each peer with SO_PEERCRED, refuses mutating commands from unprivileged
 * peers, drops idle and slow clients, and caps the number of connections;
 * bad input gets an error response, never a crash or a hang. */
#ifndef WARMD_CTL_H
#define WARMD_CTL_H

#include <stdbool.h>
#include <sys/types.h>

#include "errmsg.h"

#define CTL_MAX_CONNS       64
#define CTL_IDLE_TIMEOUT_MS 30000
#define CTL_MAX_PENDING_OUT (64u * 1024 * 1024)

struct daemon;
struct ctl;
struct conn;
struct ctl_pending;
struct buf;

struct ctl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool privileged; /* root, the daemon's uid, or in the socket's group */
};

/* Listens on path (or the socket systemd passed), mode 0660 and group group
 * when it exists. Returns 0, or a negative errno with e saying why. */
int ctl_open(struct daemon *d, const char *path, const char *group, struct ctl **ret,
             struct errmsg *e);
/* A command that answers later (it waits for a warm or sends requests)
 * takes its connection's reply slot: it leaves its output empty and calls
 * ctl_pending_reply() exactly once, even if the client has gone (the answer
 * is then dropped). Returns NULL when the slot is taken or memory is out.
 * Other requests on that connection meanwhile get a "busy" error. */
struct ctl_pending *ctl_defer(struct conn *c);
void ctl_pending_reply(struct ctl_pending *p, struct buf *out);
/* Is the client of p still there to hear the answer? (out NULL in
 * ctl_pending_reply: no answer, the connection is closed.) */
bool ctl_pending_alive(const struct ctl_pending *p);

/* Closes the listener and every connection; the loop must run afterwards
 * for the close callbacks, which free everything. Unlinks a socket it bound. */
void ctl_close(struct ctl *c);

#endif

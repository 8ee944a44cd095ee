/* sockfile: the filesystem side of warmd's Unix sockets: clearing a stale
 * socket file before bind, giving a bound one mode 0660 and the control
 * group, so that only root, warmd's user and that group reach it, and
 * finding the sockets systemd created instead (warmd.socket), whose mode
 * and group are systemd's business. */
#ifndef WARMD_SOCKFILE_H
#define WARMD_SOCKFILE_H

#include <stdbool.h>
#include <sys/types.h>

#include "errmsg.h"

#define SOCKFILE_MODE 0660
/* umask to hold around bind(): no window where the socket is wider than 0660. */
#define SOCKFILE_UMASK 0117

/* Removes a leftover socket file at path. Fails when path is something else,
 * or (for stream sockets) when a live daemon still answers on it. */
int sockfile_clear(const char *path, bool stream, struct errmsg *e);

/* chmod 0660 and, when group names an existing group, chgrp. Returns 0, or
 * a negative errno with e (the socket stays usable). */
int sockfile_set_access(const char *path, const char *group, struct errmsg *e);

/* Finds the Unix socket of type (SOCK_STREAM, listening, or SOCK_DGRAM)
 * that systemd passed for name ("control", "touch"): the one with
 * FileDescriptorName=name, else the first of that type not named for the
 * other use. Leaves $LISTEN_FDS set, so that each socket can be looked up
 * on its own ($LISTEN_PID keeps a child from taking them). Returns 1 with
 * *ret_fd, 0 with *ret_fd = -1 when there is none, or a negative errno with
 * e (a socket named name is of the wrong kind, bad $LISTEN_FDS). */
int sockfile_passed(int type, const char *name, int *ret_fd, struct errmsg *e);

/* The path a Unix socket is bound to, into buf (n bytes). Returns 0, or
 * -ENOENT for an unbound or abstract socket, or another negative errno. */
int sockfile_bound_path(int fd, char *buf, size_t n);

#endif

/* sockfile: the filesystem side of warmd's Unix sockets: clearing a stale
 * socket file before bind, and giving a bound one mode 0660 and the control
 * group, so that only root, warmd's user and that group reach it. */
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

#endif

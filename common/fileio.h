/* fileio: reading a whole file with a size cap, and replacing a file
 * atomically (temp file, write loop, fsync, rename, fsync the directory),
 * the two file jobs warmd does in several places.
 *
 * Errors come back as a negative errno with text in e naming the file (and
 * what, so the caller can say "request_file" or "api_key_file"); nothing
 * here logs. */
#ifndef WARMD_FILEIO_H
#define WARMD_FILEIO_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "errmsg.h"

/* Reads the regular file at path (what names it in error texts, e.g.
 * "request_file") into a malloc'd, NUL-terminated buffer. A file larger
 * than cap bytes fails with -EFBIG ("is larger than 16 MiB", or "than N
 * bytes" for a cap that is not whole MiB), one that is not a regular file (a FIFO,
 * a directory) with -EINVAL; opening never blocks. On success *ret_data
 * and *ret_len are set; on failure they are untouched. */
int fileio_read(const char *path, const char *what, size_t cap, char **ret_data, size_t *ret_len,
                struct errmsg *e);

/* The same into the caller's buffer buf[0..cap) (memory the caller controls,
 * e.g. a locked secret mapping): -EFBIG when the file holds cap bytes or
 * more. No NUL is added. ret_st, when not NULL, gets the fstat() of the
 * file read (the file opened, not whatever the name points at later). */
int fileio_read_into(const char *path, const char *what, char *buf, size_t cap, size_t *ret_len,
                     struct stat *ret_st, struct errmsg *e);

/* Writes data to tmp (created or truncated with mode, never through a
 * symlink) and fsyncs it; removes tmp on failure. The first half of an
 * atomic replace, for callers that write on a worker thread. */
int fileio_write_tmp(const char *tmp, const void *data, size_t len, mode_t mode, struct errmsg *e);

/* Renames tmp over path and fsyncs path's directory, so the rename itself
 * survives a crash; removes tmp on failure. The second half. */
int fileio_commit(const char *tmp, const char *path, struct errmsg *e);

/* Both halves, with tmp = path + ".tmp". */
int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        struct errmsg *e);

#endif

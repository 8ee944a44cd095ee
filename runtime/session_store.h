/* session_store: the request bodies of sessions on disk, so that sessions
 * survive a restart while the state file stays small: one file per body,
 * DIR/HASH.json (HASH the body's SHA-256, mode 0600) in a directory of
 * their own beside the state file (mode 0700). Two sessions with the same
 * body share its file.
 *
 * Writes (a temp file, fsync, rename, fsync the directory) and deletions
 * run one at a time, in the order asked, on libuv's worker pool, never on
 * the loop. A file is deleted only when no session holds it and a state
 * file that no longer names it has been committed (the epoch handshake
 * below), so a crash never leaves a state file naming a body that is gone;
 * what a crash leaves over, session_store_clean() deletes at the next
 * start. A write that fails is logged once (the session lives on, but will
 * not survive a restart). */
#ifndef WARMD_SESSION_STORE_H
#define WARMD_SESSION_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "errmsg.h"

struct session_store;

/* Called on the loop when a body's file has been written (a state file
 * may name it now). */
typedef void (*session_store_saved_fn)(void *data, const char *hash);

/* Opens dir (created 0700 when missing) on loop. saved (may be NULL) is
 * called with data after each write. Returns 0, or a negative errno with
 * e saying why. */
int session_store_open(uv_loop_t *loop, const char *dir, session_store_saved_fn saved, void *data,
                       struct session_store **ret, struct errmsg *e);
/* Closes the store. A job with a worker finishes and then frees what is
 * left, so the loop must run afterwards. Jobs not started are dropped:
 * call session_store_flush() first to keep what they would have written.
 * Accepts NULL. */
void session_store_close(struct session_store *s);

/* A session holds the body data[0..len) whose SHA-256 is hash (copied):
 * its file is written unless it is already, or about to be. */
void session_store_hold(struct session_store *s, const char *hash, const char *data, size_t len);
/* A session let hash go: its file is deleted once nobody holds it and
 * a state file committed after this call (session_store_committed()). */
void session_store_release(struct session_store *s, const char *hash);
/* Is hash held and its file written, so that a state file may name it? */
bool session_store_saved(const struct session_store *s, const char *hash);

/* The state file's side: a snapshot about to be written is numbered by
 * session_store_epoch(); once it is committed, session_store_committed()
 * with that number deletes the files released before it. */
unsigned session_store_epoch(struct session_store *s);
void session_store_committed(struct session_store *s, unsigned epoch);

/* Writes, on the loop, every held body whose file is not written yet
 * (shutdown, before the last state file). Returns 0, or the first
 * negative errno (logged). */
int session_store_flush(struct session_store *s);

/* Reads hash's file (start-up), at most cap bytes: 0, or a negative
 * errno with e (-ENOENT: there is none). */
int session_store_read(const struct session_store *s, const char *hash, size_t cap, char **ret_data,
                       size_t *ret_len, struct errmsg *e);
/* Deletes, on the loop, every file of the directory that no session holds
 * (start-up, after the state file was read: left over by a crash, or by
 * sessions that ended while warmd was down). Returns how many. */
int session_store_clean(struct session_store *s);

/* Is s a SHA-256 in lower-case hex, as files are named? */
bool session_store_hash_valid(const char *s);

#endif

/* state: what warmd remembers across restarts (state_file).
 *
 * Per target: the last refresh of its version, the counters, pause flags and
 * a compact touch history, so that a restart neither re-warms a prefix that
 * is still warm nor forgets the traffic history policies learn from. The
 * file is JSON, written atomically (temp file, fsync, rename, directory
 * fsync), debounced, and serialised in a libuv worker from a snapshot taken
 * on the loop, so a large state never stalls due warms. A file that is not
 * JSON or not a warmd state file is moved aside with a log line and warmd
 * starts fresh; within a good file, every number is checked against
 * common/bounds.h before it is used, and a bad entry (or a bad field of it)
 * is skipped alone, with one warning naming the target.
 *
 * Sessions (session.h) are in it too: each with what brings it back (its
 * provider, its body's SHA-256, keep_until, for, ttl, priority) beside the
 * same fields as a target, and the gaps each session group learned. Their
 * bodies are not: they are files of the session store (session_store.h),
 * and a session whose body's file is not written yet is left out. */
#ifndef WARMD_STATE_H
#define WARMD_STATE_H

#include <stdbool.h>
#include <uv.h>

#include "errmsg.h"
#include "target_set.h"

#define STATE_FORMAT         "warmd-state"
#define STATE_FORMAT_VERSION 1
#define STATE_DELAY_S        1.0 /* a change is written this long after it happens... */
#define STATE_MIN_INTERVAL_S 5.0 /* ...but at most this often */

struct state;

/* Prepares writing set's targets to path on loop (NULL: state disabled,
 * every call a no-op). set must outlive the state. */
struct state *state_open(uv_loop_t *loop, struct target_set *set, const char *path);
/* Reads the file and applies it to set's targets, and plans them (call
 * once, after the first config is applied). A missing file is a fresh start; one that is not JSON
 * or not a warmd state file of this format is renamed to
 * PATH.corrupt-UNIXTIME. A target entry that is not an object or lacks its
 * version and url is dropped; a field that is not what warmd writes (a
 * negative or absurd number, a time that is not one or lies in the future)
 * keeps its default. Returns the number of targets restored, and in
 * *ret_paused_all whether the file had all warming paused (the caller
 * pauses all: that is the daemon's switch). Logs what it did, one warning
 * per entry with problems. */
int state_restore(struct state *s, bool *ret_paused_all);
/* Something worth remembering changed: schedule a write. */
void state_changed(struct state *s);
/* Writes now, synchronously (shutdown). Returns 0 or a negative errno (logged). */
int state_flush(struct state *s);
/* Closes the timer; the state is freed once libuv is done with it, so the
 * loop must run afterwards. Accepts NULL. */
void state_close(struct state *s);

#endif

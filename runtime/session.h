/* session: sessions, the targets an application registers over the control
 * socket (warmctl keep) rather than in warmd.conf: a live conversation,
 * kept warm while it is in use and dropped when it is over.
 *
 * A session is an ordinary struct target of the running set with
 * t->session set, so the scheduler, warms, touches, status, the audit and
 * the state file handle it as any target. What is particular to it is
 * here:
 *
 *   - keep: creates it, or gives it a new body (a new version: the old
 *     prefix is not warmed any more), warms it at once whatever the policy
 *     (the application is about to need it; not when that very version is
 *     known warm for longer than the warm margin), and sets keep_until to
 *     now + for. A touch naming it sets keep_until the same way.
 *   - the end: at keep_until (the scheduler's alarm, sched_ops.retire), on
 *     drop, or when a reload takes its provider or its name away: logged,
 *     and counted by why; its slot is free at once.
 *   - economics: policy adaptive, whose gaps are learned per group: the
 *     provider, the model, the TTL, and the name up to its first '-' or ':'
 *     ("support:42" learns with every "support:..."; a name with neither
 *     learns alone). A session whose keep_until came without a drop is a
 *     gap that never closed, so the conversations of a group that went
 *     quiet teach the policy when to stop before keep_until (a drop says
 *     the end itself, and teaches nothing); until a group has learned
 *     POLICY_MIN_GAPS gaps, `for` alone decides. status' reason says which
 *     applied.
 *   - limits: daemon.max_sessions and daemon.max_session_bytes (the bodies
 *     together); names must not be those of configured targets.
 *   - persistence: bodies in the session store (session_store.h), the
 *     deadlines and everything else in the state file (state.c calls
 *     sessions_restore() for each); a session whose keep_until passed while
 *     warmd was down is dropped, not warmed.
 *
 * The running set is the daemon's: sessions reach it through a small host
 * table (add, remove, changed), so this module never sees struct daemon
 * and is tested on a set built by hand. */
#ifndef WARMD_SESSION_H
#define WARMD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "errmsg.h"
#include "policy.h"
#include "provider.h"
#include "sched.h"
#include "target.h"
#include "target_set.h"

#define SESSION_DEFAULT_FOR_S    1200.0 /* keep_until = now + 20 minutes, unless --for says */
#define SESSION_DEFAULT_PRIORITY 10     /* as a target of warmd.conf */
#define SESSION_MAX_GROUPS_IDLE  256    /* groups kept with no session in them (learned gaps) */

/* Why a session ended (metrics: warmd_session_drops_total{reason}). */
enum session_end {
	SESSION_END_DROP,     /* warmctl drop */
	SESSION_END_EXPIRED,  /* keep_until came (or passed while warmd was down) */
	SESSION_END_PROVIDER, /* a reload removed its provider */
	SESSION_END_TARGET,   /* a reload added a target of warmd.conf with its name */
	SESSION_END_INVALID,  /* its body no longer builds (reload), or cannot be read back */
	SESSION_END_COUNT
};

/* What a keep did (metrics: warmd_session_keeps_total{result}). */
enum session_keep_result {
	SESSION_KEEP_CREATED,     /* a new session */
	SESSION_KEEP_NEW_VERSION, /* a new body */
	SESSION_KEEP_SAME,        /* the same body: keep_until moved */
	SESSION_KEEP_REFUSED,     /* refused (bad body, name, limit...) */
	SESSION_KEEP_COUNT
};

const char *session_end_name(enum session_end why);
const char *session_keep_result_name(enum session_keep_result r);

/* What sessions need of the running set's owner. */
struct session_host {
	/* Puts t (the set takes the reference) into the running set: priced,
	 * linked with the targets it shares a prefix with, planned. */
	void (*add)(void *data, struct target *t);
	/* Takes t out of the running set for good (its warm in flight
	 * cancelled); the set's reference goes. */
	void (*remove)(void *data, struct target *t);
	/* Something the state file keeps changed. */
	void (*changed)(void *data);
	void *data;
};

struct sessions_stats {
	size_t count, bytes;                /* live sessions and their bodies */
	uint64_t ended[SESSION_END_COUNT];  /* by why */
	uint64_t keeps[SESSION_KEEP_COUNT]; /* by what they did */
	uint64_t past_hits, past_writes, past_nones, past_errors; /* warms of ended ones */
};

struct sessions;

/* The sessions of set (which must outlive them), reaching it through host
 * (copied). Limits are the defaults until sessions_configure(). */
struct sessions *sessions_new(struct target_set *set, const struct session_host *host);
/* Frees the registry (not the sessions: they are the set's targets, which
 * must be gone first). Closes the store. Accepts NULL. */
void sessions_free(struct sessions *r);

/* The configuration's limits (each apply). Sessions over a lowered limit
 * stay; new ones are refused until there is room. */
void sessions_configure(struct sessions *r, const struct cfg_daemon *c);
/* Keeps bodies in a session store beside state_file, on loop (start-up,
 * once, before the state file is restored): STATE.sessions/ for
 * STATE.json (else state_file + ".sessions"). Logs and returns a negative
 * errno when the directory cannot be used: sessions then live in memory
 * only. */
int sessions_open_store(struct sessions *r, uv_loop_t *loop, const char *state_file);
/* The store's directory for state_file, into out. */
void sessions_store_dir(const char *state_file, char *out, size_t n);
/* Writes the bodies not written yet (shutdown, before the last state
 * file). Returns 0 or a negative errno (logged). */
int sessions_flush(struct sessions *r);
/* The store, or NULL (state.c's handshake, session_store.h). */
struct session_store *sessions_store(const struct sessions *r);

/* One warmctl keep. */
struct session_keep {
	const char *name;
	const char *provider;
	const char *body; /* the request body, JSON */
	size_t body_len;
	double ttl_s; /* 0: the session's, else the body's breakpoints */
	double for_s; /* 0: the session's, else SESSION_DEFAULT_FOR_S */
	int priority; /* -1: the session's, else SESSION_DEFAULT_PRIORITY */
	/* Where the body goes, as a target's model and deployment keys (each
	 * keep says it; NULL: none): the model of a provider whose URL names
	 * it (bedrock, vertex, gemini: needed there), an azure-openai
	 * deployment. Another one makes a new version. */
	const char *model;
	const char *deployment;
};

/* What it did. */
struct session_kept {
	struct target *t; /* borrowed: the set's */
	enum session_keep_result result;
	bool warming;       /* a warm is queued or in flight */
	char warnings[512]; /* "" or what deserves a look, one per line */
};

/* Creates or updates the session k names. Returns 0 with ret filled, or
 * a negative errno with e saying why, nothing changed: -EINVAL (a bad
 * name, body or duration), -EEXIST (a target of warmd.conf has the
 * name), -ENOENT (no such provider), -EXDEV (the session runs on another
 * provider), -ENOSPC (max_sessions) or -EFBIG (max_session_bytes). */
int sessions_keep(struct sessions *r, const struct session_keep *k, struct session_kept *ret,
                  struct errmsg *e);
/* Ends the session called name at once. Returns 0, -ENOENT (no session
 * of that name) or -EPERM (a target of warmd.conf), with e. */
int sessions_drop(struct sessions *r, const char *name, struct errmsg *e);
/* A touch named session t at now: keep_until = now + for (call before
 * sched_touch(), which plans with it). */
void sessions_touched(struct sessions *r, struct target *t, double now);
/* The scheduler's alarm: t's keep_until has come. Ends it. */
void sessions_expired(struct sessions *r, struct target *t);

/* A session's end, as far as sessions are concerned: logged, counted, its
 * slot and bytes freed, its body released, its group told. The caller
 * takes t out of the set (a reload does it with the lists it builds). */
void sessions_forget(struct sessions *r, struct target *t, enum session_end why,
                     const char *detail);
/* A reload: session t under the new configuration cfg, whose providers
 * are provs (one per cfg provider). Returns 0 with t on its provider's new
 * object and its template rebuilt for the provider's new settings, or
 * the reason it cannot go on (*ret_why, and detail), t untouched. */
int sessions_rebind(struct sessions *r, struct target *t, struct provider *const *provs,
                    const struct config *cfg, enum session_end *ret_why, char *detail, size_t n);

/* One session as the state file keeps it. */
struct session_record {
	const char *name;
	const char *provider;
	const char *body_hash;
	const char *model, *deployment; /* or NULL */
	double keep_until, for_s, ttl_s;
	int priority;
};

/* Start-up: builds the session rec describes from its stored body and
 * puts it into the set. Returns the target (the set's), or NULL when it
 * cannot come back (keep_until passed, no such provider any more, its
 * body gone or no longer valid: logged, counted). */
struct target *sessions_restore(struct sessions *r, const struct session_record *rec);
/* Start-up, after the state file: restored sessions whose cache went
 * cold meanwhile are warmed, and body files nobody holds are deleted. */
void sessions_restored(struct sessions *r);

/* The learned gaps of each group, for the state file: calls fn for each
 * group that learned any (key, gaps). */
void sessions_each_group(const struct sessions *r,
                         void (*fn)(void *data, const char *key, const struct gap_hist *h),
                         void *data);
/* Start-up: what the state file remembers of group key. */
void sessions_group_restore(struct sessions *r, const char *key, const struct gap_hist *h);

void sessions_get_stats(const struct sessions *r, struct sessions_stats *ret);
int sessions_max(const struct sessions *r);
size_t sessions_max_bytes(const struct sessions *r);

/* The two rules of a session that do not need the registry, shared with
 * warmd --simulate's session hints:
 * the keep's warm of t at once (at now), unless that very version is known
 * warm for longer than the warm margin (then t is planned). Returns whether
 * a warm is queued or in flight. */
bool session_keep_warm(struct sched *s, struct target *t, double now);
/* The end of t's conversation when its keep_until came (it went quiet
 * without a drop), as its policy learns it: a gap that never closed. */
void session_end_gap(struct target *t);

/* The group a session learns in: "PROVIDER|MODEL|TTL|PREFIX" into out. */
void session_group_key(const char *provider, const char *model, double ttl_s, const char *name,
                       char *out, size_t n);

#endif

/* daemon: the running state of warmd (config, providers, targets) and the
 * one way it changes: stage a whole new configuration (templates and keys
 * included), and apply it only if all of it is valid. Start-up and reload
 * take the same path; --check-config stops after staging. */
#ifndef WARMD_DAEMON_H
#define WARMD_DAEMON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <uv.h>

#include "clock.h"
#include "config.h"
#include "cred.h"
#include "diag.h"
#include "http.h"
#include "sched.h"
#include "target.h"
#include "template.h"
#include "warm.h"

struct ctl;
struct pricing;
struct metrics_http;
struct metrics_textfile;
struct state;
struct touch;
struct touch_report;

struct rollout_waiter;
struct probe;

struct daemon {
	uv_loop_t *loop;
	char *config_path;
	struct config *cfg;
	struct pricing *pricing; /* NULL: no prices, costs unknown */
	struct clock *clk;
	struct sched *sched;
	struct http *http;
	struct warm_env warm;
	struct ctl *ctl;
	struct touch *touch;
	struct state *state; /* NULL until start-up opens it */
	uint64_t touches_dropped;
	uint64_t reloads_ok, reloads_failed;
	struct metrics_http *metrics_http;
	struct metrics_textfile *metrics_textfile;
	double touch_drop_logged_at;
	struct provider **provs;
	size_t nprovs;
	struct target **targets; /* sorted by name */
	size_t ntargets;
	double started_at;
	double config_loaded_at;
	double status_at;        /* last sd_notify STATUS= */
	uv_timer_t status_timer; /* a STATUS= update held back by the rate limit */
	bool stopping;
	bool paused_all; /* the operator's kill switch (shutdown pauses the scheduler too) */
	struct rollout_waiter *waiters; /* shifts waiting for a warm (rollout.c) */
	struct probe *probes;           /* warmctl test runs in flight (probe.c) */
	bool auditing;                  /* an audit is on a worker thread (audit_cmd.c) */
	uint64_t route_rng;
};

/* A configuration built and validated but not applied. */
struct staging {
	struct config *cfg;
	struct pricing *pricing; /* the table and warmd.conf's overrides, or NULL */
	struct cred **creds;     /* one per cfg provider */
	struct tmpl **tmpls;     /* one per cfg target */
};

/* What a reload changed: JSON arrays of target names, plus warnings. */
struct reload_report {
	json_object *added, *removed, *changed, *warnings;
	size_t unchanged;
};

/* Loads path and everything it names. Problems go to d; returns 0 and the
 * staging in *ret when there is no error, -EINVAL otherwise. */
int daemon_stage(const char *path, struct diags *d, struct staging **ret);
/* Same, without reading API keys (the simulator needs none). */
int daemon_stage_offline(const char *path, struct diags *d, struct staging **ret);
void staging_free(struct staging *st);

/* Creates the runtime on loop (clock, scheduler, HTTP). */
int daemon_init(struct daemon *d, uv_loop_t *loop, const char *config_path);
/* Swaps st in (st is consumed). Targets whose version is unchanged keep
 * their state; new and changed ones are planned at once. rep may be NULL. */
void daemon_apply(struct daemon *d, struct staging *st, struct reload_report *rep);
/* Stages the configuration file again and applies it if valid; logs the
 * verdict. Returns 0, or -EINVAL with the problems in diags. */
int daemon_reload(struct daemon *d, struct diags *diags, struct reload_report *rep);
void reload_report_init(struct reload_report *rep);
void reload_report_free(struct reload_report *rep);

struct target *daemon_find_target(struct daemon *d, const char *name);
/* The same, as its slot in d->targets (NULL: none). */
struct target **daemon_find_slot(struct daemon *d, const char *name);
/* Appends the §8 status data as JSON to out for the n targets v (all of
 * them: d->targets). Streams one target at a time, so 10,000 targets never
 * sit in memory as one tree. */
int daemon_status_write(struct daemon *d, struct target *const *v, size_t n, struct buf *out);
/* Takes t out of the running set for good (a retired version lane). */
void daemon_drop_target(struct daemon *d, struct target *t);
/* Pause / resume everything (the kill switch). */
void daemon_pause_all(struct daemon *d, bool paused);
void daemon_pause_target(struct daemon *d, struct target *t, bool paused);

/* "12/12 warm, 0 failing" (or "idle: no targets configured") for sd_notify
 * STATUS=; refreshed at most every few seconds (force: now). An update the
 * rate limit holds back is sent when the interval ends, so the line never
 * stays behind until the next warm, a TTL later. */
void daemon_update_status(struct daemon *d, bool force);

/* A touch for a target or a version lane (from the datagram socket or
 * warmctl touch). Returns 0, -ENOENT for an unknown target, or -EISDIR for
 * a target with named versions (the touch must say which); both are
 * counted as dropped. */
int daemon_touch(struct daemon *d, const struct touch_report *rep);
/* Counts a bad datagram; logs at most every few seconds. */
void daemon_touch_rejected(struct daemon *d, const char *why);

/* Stops warming and cancels in-flight warms (shutdown). */
void daemon_cancel_all(struct daemon *d);
/* Frees everything; the loop must run afterwards for the close callbacks. */
void daemon_fini(struct daemon *d);

#endif

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
#include "target_set.h"
#include "template.h"
#include "warm.h"

struct pricing;
struct touch_report;

/* What the daemon tells the features built on it without including them
 * (main.c fills it; every entry may be NULL). */
struct daemon_ops {
	/* A new configuration is about to replace the running one: what
	 * waits on the old one (a shift waiting for a warm) is answered now. */
	void (*reloading)(void *data);
	/* A warm completed and the scheduler has its outcome. */
	void (*warm_done)(void *data, struct target *t);
	/* What the sd_notify STATUS= line shows may have changed; force: send
	 * it now rather than at most every few seconds. */
	void (*status)(void *data, bool force);
	/* Something the state file keeps changed: write it soon. */
	void (*changed)(void *data);
	/* A configuration was applied (start-up, reload): the running set's
	 * targets are new. */
	void (*applied)(void *data);
};

struct daemon {
	uv_loop_t *loop;
	struct target_set set;   /* the running set, as other modules see it */
	struct pricing *pricing; /* NULL: no prices, costs unknown */
	struct http *http;
	struct warm_env warm;
	struct daemon_ops ops;
	void *ops_data;
	double touch_drop_logged_at;
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

/* Creates the runtime on loop (clock, scheduler, HTTP). ops (copied; NULL:
 * none) is called with ops_data. Returns 0, or a negative errno when the
 * HTTP client cannot start. */
int daemon_init(struct daemon *d, uv_loop_t *loop, const char *config_path,
                const struct daemon_ops *ops, void *ops_data);
/* The daemon without a loop, for warmd --simulate: nothing is sent. Its
 * scheduler runs on clk (the caller's: it must outlive the daemon) and
 * fires through ops with ops_data, drawing its spreads from seed. Apply a
 * daemon_stage_offline() staging to it; daemon_fini() frees it, not clk. */
void daemon_init_offline(struct daemon *d, struct clock *clk, const struct sched_ops *ops,
                         void *ops_data, uint64_t seed);
/* Swaps st in (st is consumed). Targets whose version is unchanged keep
 * their state; new and changed ones are planned at once. rep may be NULL. */
void daemon_apply(struct daemon *d, struct staging *st, struct reload_report *rep);
/* Stages the configuration file again and applies it if valid; logs the
 * verdict. Returns 0, or -EINVAL with the problems in diags. */
int daemon_reload(struct daemon *d, struct diags *diags, struct reload_report *rep);
void reload_report_init(struct reload_report *rep);
void reload_report_free(struct reload_report *rep);

/* Takes t out of the running set for good (a retired version lane). */
void daemon_drop_target(struct daemon *d, struct target *t);
/* Pause / resume everything (the kill switch). */
void daemon_pause_all(struct daemon *d, bool paused);
void daemon_pause_target(struct daemon *d, struct target *t, bool paused);

/* Tells ops that the running set changed as the operator (or a reload)
 * wished: STATUS= now, the state file soon. */
void daemon_changed(struct daemon *d);

/* A touch for a target or a version lane (from the datagram socket or
 * warmctl touch). Returns 0, -ENOENT for an unknown target, or -EISDIR for
 * a target with named versions (the touch must say which); both are
 * counted as dropped. */
int daemon_touch(struct daemon *d, const struct touch_report *rep);
/* Counts a bad datagram; logs at most every few seconds. */
void daemon_touch_rejected(struct daemon *d, const char *why);

/* Stops warming and cancels in-flight warms (shutdown). */
void daemon_cancel_all(struct daemon *d);
/* Frees everything; the loop (if any) must run afterwards for the close
 * callbacks. */
void daemon_fini(struct daemon *d);

#endif

/* main: warmd's command line, and the daemon's life: every part started in
 * a readable order, signals, and everything closed in reverse order from
 * one place. Wiring only: the parts are the layers' (docs/architecture.md). */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "audit_cmd.h"
#include "cluster.h"
#include "cred.h"
#include "ctl.h"
#include "ctl_cmd.h"
#include "daemon.h"
#include "diag.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "notify.h"
#include "probe.h"
#include "rollout.h"
#include "session.h"
#include "sim.h"
#include "state.h"
#include "status.h"
#include "touch.h"
#include "version.h"
#include "xalloc.h"

#define SHUTDOWN_GRACE_MS 1500

/* The running daemon, its parts in start-up order. Each is NULL (or never
 * started) until start-up gets to it; teardown() closes them in reverse. */
struct warmd {
	uv_loop_t *loop;
	uv_signal_t sighup, sigterm, sigint;
	uv_timer_t grace;        /* shutdown: how long warms in flight may take */
	struct daemon d;         /* the runtime and the running set */
	struct rollout *rollout; /* the control features on the set */
	struct probe_env probes;
	struct audit_env audit;
	struct ctl_cmd_env cmds; /* what the control commands act on */
	struct ctl *ctl;
	struct touch *touch;
	struct cluster *cluster; /* cluster mode, or NULL */
	struct metrics_http *metrics_http;
	struct state *state;
	struct metrics_textfile *metrics_textfile;
	struct status_line status;
	uv_timer_t status_timer; /* sends a STATUS= update the rate limit held back */
	bool stopping;           /* a signal asked to stop: warms in flight land */
	bool leaving;            /* stopping: the cluster's release is not answered yet */
	bool finished;           /* teardown() ran */
};

/* The command line. */
struct options {
	const char *config;
	char *config_default; /* what config points at when derived */
	bool check, json;
	const char *trace, *events;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: warmd [-c FILE] [--check-config] [--simulate TRACE [--events FILE] "
	        "[--json]]\n"
	        "             [--version] [--help]\n"
	        "\n"
	        "Keeps LLM provider prompt caches warm (see warmd(8)).\n"
	        "\n"
	        "  -c, --config FILE   configuration file (default "
	        "$CONFIGURATION_DIRECTORY/warmd.conf\n"
	        "                      under systemd, else %s)\n"
	        "      --check-config  parse and validate FILE and everything it names\n"
	        "                      (templates, keys, the price table), then run the\n"
	        "                      audit's checks that need no traffic; print problems\n"
	        "                      and findings as FILE:LINE: error|warning: text;\n"
	        "                      exit 0 if usable, 1 if not\n"
	        "      --simulate TRACE\n"
	        "                      replay real traffic (lines "
	        "unix_seconds,target[,input_tokens],\n"
	        "                      and session hints unix_seconds,target,keep=SECONDS or\n"
	        "                      unix_seconds,target,drop)\n"
	        "                      through the scheduler and policies on virtual time against "
	        "a\n"
	        "                      model of the provider cache; report warms, cold requests,\n"
	        "                      coverage and costs beside no_warming, fixed_interval "
	        "(TTL/2)\n"
	        "                      and the hindsight oracle. No network, no keys.\n"
	        "      --events FILE   with --simulate: one CSV line per warm and per request\n"
	        "                      (time,target,event,result), in time order\n"
	        "      --json          with --simulate: the report as JSON\n"
	        "  -V, --version       print the version and exit\n"
	        "  -h, --help          print this help and exit\n"
	        "\n"
	        "warmd runs in the foreground and logs to stderr (with <N> priority prefixes\n"
	        "under journald). SIGHUP reloads the configuration; SIGTERM stops it.\n"
	        "Control it with warmctl(1).\n",
	        CONFIG_DEFAULT_FILE);
}

static int check_config(const char *path)
{
	struct diags d = { 0 };
	struct staging *st = NULL;
	int r = daemon_stage(path, &d, &st);

	if (r == 0)
		audit_cmd_check_config(st->cfg, st->tmpls, &d);
	diags_print(&d, stderr);
	if (r == 0)
		printf("%s: configuration OK (%zu providers, %zu targets, %zu warnings)\n", path,
		       st->cfg->nproviders, st->cfg->ntargets, d.warnings);
	staging_free(st);
	diags_free(&d);
	return r == 0 ? 0 : 1;
}

static void grace_cb(uv_timer_t *t);

/* ---- the daemon's hooks (daemon_ops) and the control features' callbacks ---- */

static void status_timer_cb(uv_timer_t *t)
{
	struct warmd *w = t->data;

	status_line_update(&w->status, &w->d.set, true);
}

/* The STATUS= line now, or as soon as its rate limit allows. */
static void update_status(struct warmd *w, bool force)
{
	double wait = status_line_update(&w->status, &w->d.set, force);

	if (wait > 0 && !uv_is_active((uv_handle_t *)&w->status_timer))
		uv_timer_start(&w->status_timer, status_timer_cb, (uint64_t)(wait * 1000) + 1, 0);
}

/* daemon_ops.warm_done */
static void warm_done_cb(void *data, struct target *t)
{
	struct warmd *w = data;

	if (w->stopping) {
		/* We are inside http's completion path: finish on a fresh loop turn. */
		if (sched_inflight(w->d.set.sched) == 0 && !w->leaving)
			uv_timer_start(&w->grace, grace_cb, 0, 0);
		return;
	}
	rollout_warm_done(w->rollout, t);
	cluster_warmed(w->cluster, t);
	update_status(w, false);
	state_changed(w->state);
}

/* daemon_ops.reloading */
static void reloading_cb(void *data)
{
	struct warmd *w = data;

	rollout_abort(w->rollout, "the configuration was reloaded meanwhile; run it again");
}

/* daemon_ops.status */
static void status_cb(void *data, bool force)
{
	struct warmd *w = data;

	update_status(w, force);
}

/* daemon_ops.changed */
static void changed_cb(void *data)
{
	struct warmd *w = data;

	state_changed(w->state);
}

/* daemon_ops.applied */
static void applied_cb(void *data)
{
	struct warmd *w = data;

	cluster_set_changed(w->cluster);
}

/* A shift changed weights: what the daemon tells after a change of its own,
 * and the other nodes of a cluster take them. */
static void weights_changed_cb(void *data)
{
	struct warmd *w = data;

	daemon_changed(&w->d);
	cluster_weights_publish(w->cluster);
}

/* A touch on this node's socket: applied here, and heard by the cluster. */
static void touched_cb(void *data, const struct touch_report *rep)
{
	struct warmd *w = data;

	daemon_touch(&w->d, rep);
	cluster_touch_relay(w->cluster, rep);
}

static void touch_rejected_cb(void *data, const char *why)
{
	struct warmd *w = data;

	daemon_touch_rejected(&w->d, why);
}

/* cluster_ops.touch: a touch from another host, through Redis. */
static void cluster_touch_cb(void *data, const struct touch_report *rep)
{
	struct warmd *w = data;

	daemon_touch(&w->d, rep);
}

/* cluster_ops.weights: rollout weights changed on another node. */
static void cluster_weights_cb(void *data)
{
	struct warmd *w = data;

	daemon_changed(&w->d);
	update_status(w, false);
}

static int render_metrics_cb(void *data, struct buf *out)
{
	const struct daemon *d = data;

	return metrics_write(&d->set, out);
}

/* ---- start-up, in order ---- */

/* The runtime (clock, scheduler, HTTP) and the control features on it. */
static int start_runtime(struct warmd *w, const char *config)
{
	static const struct daemon_ops ops = { .reloading = reloading_cb,
		                               .warm_done = warm_done_cb,
		                               .status = status_cb,
		                               .changed = changed_cb,
		                               .applied = applied_cb };
	int r = daemon_init(&w->d, w->loop, config, &ops, w);

	if (r < 0) {
		log_error("cannot initialise: %s", strerror(-r));
		return r;
	}
	w->rollout = rollout_new(&w->d.set, weights_changed_cb, w,
	                         (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL));
	w->probes = (struct probe_env){ .set = &w->d.set, .http = w->d.http };
	w->audit = (struct audit_env){ .loop = w->loop, .set = &w->d.set };
	w->cmds = (struct ctl_cmd_env){
		.d = &w->d, .rollout = w->rollout, .probes = &w->probes, .audit = &w->audit
	};
	return 0;
}

/* The whole configuration, templates and keys included; its problems logged. */
static int stage_config(const char *config, struct staging **ret)
{
	struct diags d = { 0 };
	char line[1400];
	int r = daemon_stage(config, &d, ret);

	for (size_t i = 0; i < d.n; i++) {
		diag_format(&d.v[i], line, sizeof(line));
		log_msg(d.v[i].sev == DIAG_ERROR ? LOG_ERR : LOG_WARNING, "%s", line);
	}
	if (r < 0)
		log_error("cannot start: the configuration has %zu error(s)", d.errors);
	else
		log_set_level((*ret)->cfg->daemon.log_level);
	diags_free(&d);
	return r;
}

static int open_control(struct warmd *w, const struct cfg_daemon *c)
{
	struct errmsg e;
	int r = ctl_listen(w->loop, c->control_socket, c->control_group, NULL, ctl_cmd_run,
	                   &w->cmds, &w->ctl, &e);

	if (r < 0)
		log_error("cannot start: %s", e.text);
	return r;
}

static int open_touch(struct warmd *w, const struct cfg_daemon *c)
{
	static const struct touch_ops ops = { .touched = touched_cb,
		                              .rejected = touch_rejected_cb };
	struct errmsg e;
	int r;

	if (!c->touch_socket)
		return 0;
	r = touch_open(w->loop, c->touch_socket, c->control_group, &ops, w, &w->touch, &e);
	if (r < 0 && c->touch_socket_set) {
		log_error("cannot start: %s", e.text);
		return r;
	}
	/* A default path that cannot be bound costs touches, not the service. */
	if (r < 0)
		log_warning("%s: running without touches", e.text);
	return 0;
}

static int open_metrics_http(struct warmd *w, const struct cfg_daemon *c)
{
	struct errmsg e;
	int r;

	if (!c->metrics_listen)
		return 0;
	r = metrics_http_open(w->loop, c->metrics_listen, render_metrics_cb, &w->d,
	                      &w->metrics_http, &e);
	if (r < 0) {
		log_error("cannot start: metrics_listen: %s", e.text);
		return r;
	}
	log_info("serving /metrics on %s (port %d)", c->metrics_listen,
	         metrics_http_port(w->metrics_http));
	return 0;
}

/* Cluster mode (docs/cluster.md), when the configuration has it: Redis is
 * connected in the background; the password is read here and wiped. */
static int open_cluster(struct warmd *w, const struct config *cfg)
{
	static const struct cluster_ops ops = { .touch = cluster_touch_cb,
		                                .weights = cluster_weights_cb };
	const struct cfg_cluster *cc = &cfg->cluster;
	char *pw = NULL, warn[400] = "";
	size_t len = 0, cap = 4096;
	struct errmsg e;
	int r = 0;

	if (!cc->enabled)
		return 0;
	if (cc->password_file) {
		pw = cred_secret_alloc(cap);
		r = cred_read_secret_file("cluster.password_file", cc->password_file, pw, cap - 1,
		                          &len, NULL, warn, sizeof(warn), &e);
		while (r == 0 && len > 0 && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
			len--;
		if (r == 0 && len == 0)
			r = errmsg_set(&e, -EINVAL, "cluster.password_file %s is empty",
			               cc->password_file);
		if (warn[0])
			log_warning("%s", warn);
	}
	if (r == 0)
		r = cluster_open(w->loop, &w->d.set, cc, pw, len, &ops, w, &w->cluster, &e);
	if (pw)
		cred_secret_free(pw, cap);
	if (r < 0)
		log_error("cannot start: cluster: %s", e.text);
	else
		log_info("cluster mode: node %s, namespace %s, lease %.1f s", cc->node, cc->ns,
		         cc->lease_s);
	return r;
}

/* The configuration applied (st is used up), then what the state file
 * remembers of it. */
static void apply_config(struct warmd *w, struct staging *st)
{
	char *state_path = xstrdup_or_null(st->cfg->daemon.state_file);
	bool paused_all;

	daemon_apply(&w->d, st, NULL);
	w->state = state_open(w->loop, &w->d.set, state_path);
	if (state_path) /* sessions' bodies live beside the state file */
		sessions_open_store(w->d.set.sessions, w->loop, state_path);
	free(state_path);
	state_restore(w->state, &paused_all);
	sessions_restored(w->d.set.sessions);
	if (paused_all)
		daemon_pause_all(&w->d, true);
}

static int open_metrics_textfile(struct warmd *w, const struct cfg_daemon *c)
{
	struct errmsg e;
	int r;

	if (!c->metrics_textfile)
		return 0;
	r = metrics_textfile_open(w->loop, &w->d.set, c->metrics_textfile,
	                          c->metrics_textfile_interval, &w->metrics_textfile, &e);
	if (r < 0)
		log_error("cannot start: %s", e.text);
	return r;
}

static void signal_cb(uv_signal_t *s, int signum);

/* Signals and the grace timer exist from the start (so that teardown()
 * always closes them); signals are handled once start-up is done. */
static void init_handles(struct warmd *w)
{
	uv_signal_init(w->loop, &w->sighup);
	uv_signal_init(w->loop, &w->sigterm);
	uv_signal_init(w->loop, &w->sigint);
	uv_timer_init(w->loop, &w->grace);
	uv_timer_init(w->loop, &w->status_timer);
	w->sighup.data = w->sigterm.data = w->sigint.data = w->grace.data = w;
	w->status_timer.data = w;
}

/* Signals, the watchdog, and READY=1. */
static void announce(struct warmd *w)
{
	const struct cfg_daemon *c = &w->d.set.cfg->daemon;

	uv_signal_start(&w->sighup, signal_cb, SIGHUP);
	uv_signal_start(&w->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&w->sigint, signal_cb, SIGINT);
	notify_watchdog_start(w->loop);
	log_info("warmd %s started: %zu targets, %zu providers, control socket %s, touch socket %s",
	         WARMD_VERSION, w->d.set.ntargets, w->d.set.nprovs, c->control_socket,
	         c->touch_socket ? c->touch_socket : "(disabled)");
	notify_ready();
	status_line_update(&w->status, &w->d.set, true);
}

/* ---- shutdown, in reverse ---- */

/* Closes every part in reverse order of start-up; each accepts one that was
 * never opened. The loop then runs until the close callbacks have fired. */
static void teardown(struct warmd *w)
{
	if (w->finished)
		return;
	w->finished = true;
	notify_watchdog_stop();
	uv_close((uv_handle_t *)&w->sighup, NULL);
	uv_close((uv_handle_t *)&w->sigterm, NULL);
	uv_close((uv_handle_t *)&w->sigint, NULL);
	uv_close((uv_handle_t *)&w->grace, NULL);
	uv_close((uv_handle_t *)&w->status_timer, NULL);
	metrics_textfile_close(w->metrics_textfile);
	w->metrics_textfile = NULL;
	state_close(w->state);
	w->state = NULL;
	metrics_http_close(w->metrics_http);
	w->metrics_http = NULL;
	touch_close(w->touch);
	w->touch = NULL;
	cluster_close(w->cluster);
	w->cluster = NULL;
	ctl_close(w->ctl);
	w->ctl = NULL;
	probe_abort_all(&w->probes);
	rollout_free(w->rollout);
	w->rollout = NULL;
	daemon_fini(&w->d);
}

/* The end of a run: no more warms, the state saved, everything closed. */
static void finish(struct warmd *w)
{
	if (w->finished)
		return;
	w->status.stopping = true;
	daemon_cancel_all(&w->d);
	sessions_flush(w->d.set.sessions); /* the bodies the last state file names */
	state_flush(w->state);
	teardown(w);
	log_info("stopped");
}

static void grace_cb(uv_timer_t *t)
{
	struct warmd *w = t->data;

	if (sched_inflight(w->d.set.sched) > 0)
		log_info("cancelling %d warm(s) still in flight", sched_inflight(w->d.set.sched));
	finish(w);
}

/* cluster_leave()'s answer: the other nodes may take over now. */
static void left_cb(void *data)
{
	struct warmd *w = data;

	w->leaving = false;
	if (sched_inflight(w->d.set.sched) == 0)
		uv_timer_start(&w->grace, grace_cb, 0, 0);
}

static void stop(struct warmd *w, int signum)
{
	if (w->stopping) {
		log_info("%s again: stopping now", strsignal(signum));
		finish(w);
		return;
	}
	w->stopping = true;
	w->status.stopping = true;
	notify_stopping();
	rollout_abort(w->rollout, "warmd is stopping");
	probe_abort_all(&w->probes);
	log_info("%s: stopping (%d warm(s) in flight)", strsignal(signum),
	         sched_inflight(w->d.set.sched));
	/* No new warms; let the ones in flight land, and the cluster's nodes
	 * hear that this one leaves, briefly. */
	sched_pause_all(w->d.set.sched, true);
	w->leaving = cluster_leave(w->cluster, left_cb, w) == 0;
	if (sched_inflight(w->d.set.sched) == 0 && !w->leaving)
		finish(w);
	else
		uv_timer_start(&w->grace, grace_cb, SHUTDOWN_GRACE_MS, 0);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct warmd *w = s->data;

	if (signum == SIGHUP) {
		struct diags d = { 0 };
		if (!w->stopping)
			daemon_reload(&w->d, &d, NULL);
		diags_free(&d);
		return;
	}
	stop(w, signum);
}

/* ---- the daemon's life ---- */

/* Starts every part in order and runs until a signal stops it. A failure
 * before READY=1 unwinds what was opened and exits 1. */
static int run(const char *config)
{
	struct warmd w = { .loop = uv_default_loop() };
	struct staging *st = NULL;
	const struct cfg_daemon *c;
	int r;

	signal(SIGPIPE, SIG_IGN);
	/* Buffers of 128 KiB and more (a status answer for 10,000 targets is
	 * 5 MB) get their own mapping and go back to the system when freed. A
	 * fixed threshold turns off glibc's habit of raising it after the first
	 * such free, which would keep every later answer in the heap. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024);
	if (http_global_init() < 0) {
		log_error("cannot initialise libcurl");
		return 1;
	}
	init_handles(&w);
	if ((r = start_runtime(&w, config)) < 0 || (r = stage_config(config, &st)) < 0)
		goto out;
	c = &st->cfg->daemon;
	if ((r = open_control(&w, c)) < 0 || (r = open_touch(&w, c)) < 0 ||
	    (r = open_metrics_http(&w, c)) < 0 || (r = open_cluster(&w, st->cfg)) < 0)
		goto out;
	apply_config(&w, st);
	st = NULL;
	if ((r = open_metrics_textfile(&w, &w.d.set.cfg->daemon)) < 0)
		goto out;
	announce(&w);
	uv_run(w.loop, UV_RUN_DEFAULT); /* until finish() has closed everything */
	if ((r = uv_loop_close(w.loop)) != 0)
		log_warning("event loop closed with handles still open: %s", uv_strerror(r));
	r = 0;
out:
	staging_free(st);
	if (!w.finished) {
		teardown(&w);
		uv_run(w.loop, UV_RUN_DEFAULT);
		uv_loop_close(w.loop);
	}
	http_global_cleanup();
	return r < 0 ? 1 : 0;
}

/* Reads the command line into o. Returns -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "simulate", required_argument, NULL, 'S' },
		{ "events", required_argument, NULL, 'E' },
		{ "json", no_argument, NULL, 'J' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'C':
			o->check = true;
			break;
		case 'S':
			o->trace = optarg;
			break;
		case 'E':
			o->events = optarg;
			break;
		case 'J':
			o->json = true;
			break;
		case 'V':
			printf("warmd %s\n", WARMD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "warmd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (o->check && o->trace) {
		fprintf(stderr, "warmd: --check-config and --simulate do not go together (the "
		                "simulator checks the config first anyway)\n");
		usage(stderr);
		return 2;
	}
	if ((o->events || o->json) && !o->trace) {
		fprintf(stderr, "warmd: --events and --json go with --simulate\n");
		usage(stderr);
		return 2;
	}
	return -1;
}

/* systemd's ConfigurationDirectory= (the first one), else /etc/warmd. */
static void default_config(struct options *o)
{
	const char *dir = getenv("CONFIGURATION_DIRECTORY");

	if (o->config)
		return;
	if (!dir || !*dir) {
		o->config = CONFIG_DEFAULT_FILE;
		return;
	}
	if (asprintf(&o->config_default, "%.*s/warmd.conf", (int)strcspn(dir, ":"), dir) < 0)
		xalloc_die("asprintf");
	o->config = o->config_default;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int r;

	/* Before any key is read: no core dumps, and no ptrace or /proc/PID/mem
	 * or environ reads by other processes of the same user. Key material
	 * passes through ordinary memory too (response buffers, curl's). */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((r = parse_options(argc, argv, &o)) >= 0)
		return r;
	log_init("warmd");
	default_config(&o);
	if (o.check)
		r = check_config(o.config);
	else if (o.trace)
		r = sim_run(o.config, o.trace, o.events, o.json, stdout, stderr);
	else
		r = run(o.config);
	free(o.config_default);
	return r;
}

/* main: warmd's command line, start-up in a readable order, signals, and
 * shutdown in reverse order from one place. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "audit_cmd.h"
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
#include "sim.h"
#include "state.h"
#include "status.h"
#include "touch.h"
#include "version.h"
#include "xalloc.h"

#define SHUTDOWN_GRACE_MS 1500

struct warmd {
	uv_loop_t *loop;
	struct daemon d;
	struct ctl *ctl;
	struct touch *touch;
	struct metrics_http *metrics_http;
	struct state *state; /* NULL until start-up opens it */
	struct metrics_textfile *metrics_textfile;
	struct status_line status;
	struct rollout *rollout;
	struct probe_env probes;
	struct audit_env audit;
	struct ctl_cmd_env cmds; /* what the control commands act on */
	uv_signal_t sighup, sigterm, sigint;
	uv_timer_t grace;
	bool stopping;
	bool finished;
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
	        "                      (templates, keys); print problems as\n"
	        "                      FILE:LINE: error|warning: text; exit 0 if usable, 1 if not\n"
	        "      --simulate TRACE\n"
	        "                      replay real traffic (lines "
	        "unix_seconds,target[,input_tokens])\n"
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
		audit_check_staging(st, &d);
	diags_print(&d, stderr);
	if (r == 0)
		printf("%s: configuration OK (%zu providers, %zu targets, %zu warnings)\n", path,
		       st->cfg->nproviders, st->cfg->ntargets, d.warnings);
	staging_free(st);
	diags_free(&d);
	return r == 0 ? 0 : 1;
}

/* Closes everything in reverse order of start-up; the loop then drains. */
static void finish(struct warmd *w)
{
	if (w->finished)
		return;
	w->finished = true;
	w->status.stopping = true;
	daemon_cancel_all(&w->d);
	state_flush(w->state);
	state_close(w->state);
	w->state = NULL;
	metrics_textfile_close(w->metrics_textfile);
	w->metrics_textfile = NULL;
	metrics_http_close(w->metrics_http);
	w->metrics_http = NULL;
	ctl_close(w->ctl);
	w->ctl = NULL;
	touch_close(w->touch);
	w->touch = NULL;
	notify_watchdog_stop();
	rollout_free(w->rollout);
	w->rollout = NULL;
	probe_abort_all(&w->probes);
	uv_close((uv_handle_t *)&w->grace, NULL);
	uv_close((uv_handle_t *)&w->sighup, NULL);
	uv_close((uv_handle_t *)&w->sigterm, NULL);
	uv_close((uv_handle_t *)&w->sigint, NULL);
	daemon_fini(&w->d);
	log_info("stopped");
}

static void grace_cb(uv_timer_t *t)
{
	struct warmd *w = t->data;

	if (sched_inflight(w->d.set.sched) > 0)
		log_info("cancelling %d warm(s) still in flight", sched_inflight(w->d.set.sched));
	finish(w);
}

/* daemon_ops.warm_done */
static void warm_done_cb(void *data, struct target *t)
{
	struct warmd *w = data;

	if (w->stopping) {
		/* We are inside http's completion path: finish on a fresh loop turn. */
		if (sched_inflight(w->d.set.sched) == 0)
			uv_timer_start(&w->grace, grace_cb, 0, 0);
		return;
	}
	rollout_warm_done(w->rollout, t);
	status_line_update(&w->status, &w->d.set, false);
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

	status_line_update(&w->status, &w->d.set, force);
}

/* daemon_ops.changed */
static void changed_cb(void *data)
{
	struct warmd *w = data;

	state_changed(w->state);
}

/* A shift changed weights: what the daemon tells after a change of its own. */
static void weights_changed_cb(void *data)
{
	struct warmd *w = data;

	daemon_changed(&w->d);
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
	/* No new warms; let the ones in flight land, briefly. */
	sched_pause_all(w->d.set.sched, true);
	if (sched_inflight(w->d.set.sched) == 0)
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

static void touched_cb(void *data, const struct touch_report *rep)
{
	daemon_touch(data, rep);
}

static void touch_rejected_cb(void *data, const char *why)
{
	daemon_touch_rejected(data, why);
}

static int render_metrics_cb(void *data, struct buf *out)
{
	const struct daemon *d = data;

	return metrics_write(&d->set, out);
}

static int start(struct warmd *w, const char *config)
{
	struct diags d = { 0 };
	struct staging *st;
	struct errmsg e;
	char *state_path;
	bool paused_all;
	int r;

	static const struct daemon_ops ops = { .reloading = reloading_cb,
		                               .warm_done = warm_done_cb,
		                               .status = status_cb,
		                               .changed = changed_cb };

	r = daemon_init(&w->d, w->loop, config, &ops, w);
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
	if (daemon_stage(config, &d, &st) < 0) {
		char line[1400];
		for (size_t i = 0; i < d.n; i++) {
			diag_format(&d.v[i], line, sizeof(line));
			log_msg(d.v[i].sev == DIAG_ERROR ? LOG_ERR : LOG_WARNING, "%s", line);
		}
		log_error("cannot start: the configuration has %zu error(s)", d.errors);
		diags_free(&d);
		return -EINVAL;
	}
	for (size_t i = 0; i < d.n; i++) {
		char line[1400];
		diag_format(&d.v[i], line, sizeof(line));
		log_warning("%s", line);
	}
	diags_free(&d);
	log_set_level(st->cfg->daemon.log_level);
	r = ctl_listen(w->loop, st->cfg->daemon.control_socket, st->cfg->daemon.control_group, NULL,
	               ctl_cmd_run, &w->cmds, &w->ctl, &e);
	if (r < 0) {
		log_error("cannot start: %s", e.text);
		staging_free(st);
		return r;
	}
	if (st->cfg->daemon.touch_socket) {
		static const struct touch_ops touch_ops = { .touched = touched_cb,
			                                    .rejected = touch_rejected_cb };
		r = touch_open(w->loop, st->cfg->daemon.touch_socket, st->cfg->daemon.control_group,
		               &touch_ops, &w->d, &w->touch, &e);
		if (r < 0 && st->cfg->daemon.touch_socket_set) {
			log_error("cannot start: %s", e.text);
			staging_free(st);
			return r;
		}
		/* A default path that cannot be bound costs touches, not the service. */
		if (r < 0)
			log_warning("%s: running without touches", e.text);
	}
	if (st->cfg->daemon.metrics_listen) {
		r = metrics_http_open(w->loop, st->cfg->daemon.metrics_listen, render_metrics_cb,
		                      &w->d, &w->metrics_http, &e);
		if (r < 0) {
			log_error("cannot start: metrics_listen: %s", e.text);
			staging_free(st);
			return r;
		}
		log_info("serving /metrics on %s (port %d)", st->cfg->daemon.metrics_listen,
		         metrics_http_port(w->metrics_http));
	}
	state_path = xstrdup_or_null(st->cfg->daemon.state_file);
	daemon_apply(&w->d, st, NULL);
	w->state = state_open(w->loop, &w->d.set, state_path);
	free(state_path);
	state_restore(w->state, &paused_all);
	if (paused_all)
		daemon_pause_all(&w->d, true);
	if (w->d.set.cfg->daemon.metrics_textfile) {
		r = metrics_textfile_open(w->loop, &w->d.set, w->d.set.cfg->daemon.metrics_textfile,
		                          w->d.set.cfg->daemon.metrics_textfile_interval,
		                          &w->metrics_textfile, &e);
		if (r < 0) {
			log_error("cannot start: %s", e.text);
			return r;
		}
	}

	uv_signal_init(w->loop, &w->sighup);
	uv_signal_init(w->loop, &w->sigterm);
	uv_signal_init(w->loop, &w->sigint);
	uv_timer_init(w->loop, &w->grace);
	w->sighup.data = w->sigterm.data = w->sigint.data = w->grace.data = w;
	uv_signal_start(&w->sighup, signal_cb, SIGHUP);
	uv_signal_start(&w->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&w->sigint, signal_cb, SIGINT);
	notify_watchdog_start(w->loop);
	log_info("warmd %s started: %zu targets, %zu providers, control socket %s, touch socket %s",
	         WARMD_VERSION, w->d.set.ntargets, w->d.set.nprovs,
	         w->d.set.cfg->daemon.control_socket,
	         w->d.set.cfg->daemon.touch_socket ? w->d.set.cfg->daemon.touch_socket
	                                           : "(disabled)");
	notify_ready();
	status_line_update(&w->status, &w->d.set, true);
	return 0;
}

int main(int argc, char **argv)
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
	const char *config = NULL;
	char *config_default = NULL;
	bool check = false, json = false;
	const char *trace = NULL, *events = NULL;
	struct warmd w;
	int c, r;

	/* Before any key is read: no core dumps, and no ptrace or /proc/PID/mem
	 * or environ reads by other processes of the same user. Key material
	 * passes through ordinary memory too (response buffers, curl's). */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'S':
			trace = optarg;
			break;
		case 'E':
			events = optarg;
			break;
		case 'J':
			json = true;
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
	log_init("warmd");
	if (!config) {
		/* systemd's ConfigurationDirectory= (the first one), else /etc/warmd. */
		const char *dir = getenv("CONFIGURATION_DIRECTORY");
		if (dir && *dir) {
			if (asprintf(&config_default, "%.*s/warmd.conf", (int)strcspn(dir, ":"),
			             dir) < 0)
				xalloc_die("asprintf");
			config = config_default;
		} else {
			config = CONFIG_DEFAULT_FILE;
		}
	}
	if (check && trace) {
		fprintf(stderr, "warmd: --check-config and --simulate do not go together (the "
		                "simulator checks the config first anyway)\n");
		usage(stderr);
		free(config_default);
		return 2;
	}
	if ((events || json) && !trace) {
		fprintf(stderr, "warmd: --events and --json go with --simulate\n");
		usage(stderr);
		free(config_default);
		return 2;
	}
	if (check || trace) {
		r = check ? check_config(config)
		          : sim_run(config, trace, events, json, stdout, stderr);
		free(config_default);
		return r;
	}

	signal(SIGPIPE, SIG_IGN);
	if (http_global_init() < 0) {
		log_error("cannot initialise libcurl");
		return 1;
	}
	memset(&w, 0, sizeof(w));
	w.loop = uv_default_loop();
	r = start(&w, config);
	if (r < 0) {
		w.finished = true;
		state_close(w.state);
		metrics_textfile_close(w.metrics_textfile);
		metrics_http_close(w.metrics_http);
		ctl_close(w.ctl);
		touch_close(w.touch);
		rollout_free(w.rollout);
		daemon_fini(&w.d);
		uv_run(w.loop, UV_RUN_DEFAULT);
		uv_loop_close(w.loop);
		http_global_cleanup();
		free(config_default);
		return 1;
	}
	uv_run(w.loop, UV_RUN_DEFAULT);
	r = uv_loop_close(w.loop);
	if (r != 0)
		log_warning("event loop closed with handles still open: %s", uv_strerror(r));
	http_global_cleanup();
	free(config_default);
	return 0;
}

/* ctl_cmd: what each control command does. */
#include "ctl_cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit_cmd.h"
#include "daemon.h"
#include "jsonx.h"
#include "keep.h"
#include "log.h"
#include "metrics.h"
#include "probe.h"
#include "rollout.h"
#include "status.h"
#include "touch_report.h"
#include "version.h"

static void not_found(struct buf *out, const char *name)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "no target named \"%.64s\"", name);
	proto_response_error(out, PROTO_E_NOT_FOUND, msg);
}

/* The targets a name stands for: the target itself, or every version lane
 * of a target with named versions (a run of d->set.targets). 0: none. */
static size_t resolve(struct daemon *d, const char *name, struct target *const **ret)
{
	struct target **slot = target_set_slot(&d->set, name);
	size_t first, n;

	if (slot) {
		*ret = slot;
		return 1;
	}
	if ((n = target_set_lanes(&d->set, name, &first)) > 0)
		*ret = &d->set.targets[first];
	return n;
}

static void reply_targets(struct buf *out, json_object *names, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void reply_targets(struct buf *out, json_object *names, const char *fmt, ...)
{
	json_object *data = json_object_new_object();
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(data, "targets", names);
	jsonx_add_str(data, "message", msg);
	proto_response_ok(out, data);
}

static void cmd_ping(struct daemon *d, struct buf *out)
{
	json_object *data = json_object_new_object();
	double up = clock_now(d->set.clk) - d->set.started_at;

	jsonx_add_str(data, "version", WARMD_VERSION);
	jsonx_add_int(data, "pid", getpid());
	jsonx_add_double(data, "uptime_s", (double)(long long)(up * 1000) / 1000);
	proto_response_ok(out, data);
}

static void cmd_status(struct daemon *d, const struct proto_request *req, struct buf *out)
{
	struct target *const *v = d->set.targets;
	size_t n = d->set.ntargets;

	if (req->target && !(n = resolve(d, req->target, &v))) {
		not_found(out, req->target);
		return;
	}
	if (proto_response_ok_open(out) < 0 || status_write(&d->set, v, n, out) < 0 ||
	    proto_response_ok_close(out) < 0) {
		buf_reset(out);
		proto_response_error(out, PROTO_E_FAILED, "out of memory");
	}
}

/* Why t cannot be warmed by hand, or NULL. */
static const char *warm_refusal(struct daemon *d, struct target *t)
{
	if (t->paused || sched_paused_all(d->set.sched))
		return "is paused (warmctl resume first)";
	if (t->tmpl->unwarmable[0])
		return "cannot be warmed minimally (see its reason in warmctl status)";
	return NULL;
}

static void cmd_warm(struct daemon *d, const struct proto_request *req, struct buf *out)
{
	json_object *names = json_object_new_array();
	size_t started = 0, busy = 0;

	if (req->target) {
		struct target *const *v;
		size_t n = resolve(d, req->target, &v);
		const char *why;
		char msg[256];
		if (!n) {
			json_object_put(names);
			not_found(out, req->target);
			return;
		}
		for (size_t i = 0; i < n; i++)
			if ((why = warm_refusal(d, v[i]))) {
				json_object_put(names);
				snprintf(msg, sizeof(msg), "%s %s", v[i]->name, why);
				proto_response_error(out, PROTO_E_FAILED, msg);
				return;
			}
		for (size_t i = 0; i < n; i++) {
			/* An operator's warm is an explicit retry, credential included. */
			v[i]->prov->cred_failed = false;
			json_object_array_add(names, json_object_new_string(v[i]->name));
			if (sched_warm_now(d->set.sched, v[i]) == -EALREADY)
				busy++;
			else
				started++;
		}
		if (n == 1)
			reply_targets(out, names, "%s: %s", v[0]->name,
			              busy ? "a warm is already in flight" : "warm queued");
		else
			reply_targets(out, names,
			              "%s: warm queued for %zu versions (%zu in flight)",
			              req->target, started, busy);
		return;
	}
	for (size_t i = 0; i < d->set.ntargets; i++) {
		struct target *t = d->set.targets[i];
		if (warm_refusal(d, t) || target_out_of_rotation(t))
			continue;
		t->prov->cred_failed = false;
		if (sched_warm_now(d->set.sched, t) == -EALREADY)
			busy++;
		else
			started++;
		json_object_array_add(names, json_object_new_string(t->name));
	}
	reply_targets(out, names,
	              "warm queued for %zu targets (%zu already in flight, %zu skipped)", started,
	              busy, d->set.ntargets - started - busy);
}

static void cmd_pause(struct daemon *d, const struct proto_request *req, bool pause,
                      struct buf *out)
{
	json_object *names = json_object_new_array();
	const char *verb = pause ? "paused" : "resumed";

	if (req->all) {
		daemon_pause_all(d, pause);
		for (size_t i = 0; i < d->set.ntargets; i++)
			json_object_array_add(names,
			                      json_object_new_string(d->set.targets[i]->name));
		log_notice("all warming %s", verb);
		reply_targets(out, names, "all %zu targets %s%s", d->set.ntargets, verb,
		              pause ? " (warmctl resume --all to undo)" : "");
		return;
	}
	struct target *const *v;
	size_t n = resolve(d, req->target, &v);
	if (!n) {
		json_object_put(names);
		not_found(out, req->target);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		daemon_pause_target(d, v[i], pause);
		log_notice("%s: %s", v[i]->name, verb);
		json_object_array_add(names, json_object_new_string(v[i]->name));
	}
	if (!pause && sched_paused_all(d->set.sched))
		reply_targets(out, names,
		              "%s resumed, but all warming is still paused (resume --all)",
		              req->target);
	else
		reply_targets(out, names, "%s %s", req->target, verb);
}

static void cmd_reload(struct daemon *d, struct buf *out)
{
	struct diags diags = { 0 };
	struct reload_report rep;
	char line[1400];

	reload_report_init(&rep);
	if (daemon_reload(d, &diags, &rep) < 0) {
		json_object *details = json_object_new_array();
		for (size_t i = 0; i < diags.n; i++) {
			diag_format(&diags.v[i], line, sizeof(line));
			json_object_array_add(details, json_object_new_string(line));
		}
		snprintf(line, sizeof(line),
		         "new configuration rejected (%zu error%s); still running the previous one",
		         diags.errors, diags.errors == 1 ? "" : "s");
		proto_response_error_details(out, PROTO_E_REJECTED, line, details);
	} else {
		json_object *data = json_object_new_object();
		snprintf(line, sizeof(line),
		         "configuration reloaded: %zu added, %zu removed, %zu changed, %zu "
		         "unchanged",
		         json_object_array_length(rep.added), json_object_array_length(rep.removed),
		         json_object_array_length(rep.changed), rep.unchanged);
		jsonx_add_str(data, "message", line);
		json_object_object_add(data, "added", json_object_get(rep.added));
		json_object_object_add(data, "removed", json_object_get(rep.removed));
		json_object_object_add(data, "changed", json_object_get(rep.changed));
		json_object_object_add(data, "warnings", json_object_get(rep.warnings));
		proto_response_ok(out, data);
	}
	reload_report_free(&rep);
	diags_free(&diags);
}

static void cmd_touch(struct daemon *d, const struct proto_request *req, struct buf *out)
{
	struct touch_report rep = { .result = req->result,
		                    .cached = req->cached,
		                    .input = req->input };
	json_object *names;
	struct target *t;

	size_t first;

	text_copy(rep.target, sizeof(rep.target), req->target);
	t = target_set_find(&d->set, req->target);
	if (!t && target_set_lanes(&d->set, req->target, &first) > 0) {
		char msg[300];
		snprintf(msg, sizeof(msg),
		         "%.64s has named versions: touch the one the request used, such as %s",
		         req->target, d->set.targets[first]->name);
		proto_response_error(out, PROTO_E_BAD_REQUEST, msg);
		return;
	}
	if (!t || strlen(req->target) >= sizeof(rep.target)) {
		not_found(out, req->target);
		return;
	}
	daemon_touch(d, &rep);
	names = json_object_new_array();
	json_object_array_add(names, json_object_new_string(t->name));
	reply_targets(out, names, "%s touched: %s", t->name, t->reason);
}

static void cmd_metrics(struct daemon *d, struct buf *out)
{
	struct buf text = BUF_INIT;
	json_object *data;

	if (metrics_write(&d->set, &text) < 0) {
		buf_free(&text);
		proto_response_error(out, PROTO_E_FAILED, "out of memory");
		return;
	}
	data = json_object_new_object();
	jsonx_add_str(data, "content_type", METRICS_CONTENT_TYPE);
	json_object_object_add(data, "text", json_object_new_string_len(text.data, (int)text.len));
	buf_free(&text);
	proto_response_ok(out, data);
}

void ctl_cmd_run(void *data, const struct proto_request *req, const struct ctl_peer *peer,
                 struct ctl_conn *conn, struct buf *out)
{
	struct ctl_cmd_env *env = data;
	struct daemon *d = env->d;

	(void)peer;
	switch (req->cmd) {
	case PROTO_PING:
		cmd_ping(d, out);
		return;
	case PROTO_STATUS:
		cmd_status(d, req, out);
		return;
	case PROTO_WARM:
		cmd_warm(d, req, out);
		return;
	case PROTO_PAUSE:
		cmd_pause(d, req, true, out);
		return;
	case PROTO_RESUME:
		cmd_pause(d, req, false, out);
		return;
	case PROTO_RELOAD:
		cmd_reload(d, out);
		return;
	case PROTO_TOUCH:
		cmd_touch(d, req, out);
		return;
	case PROTO_METRICS:
		cmd_metrics(d, out);
		return;
	case PROTO_VERSIONS:
		rollout_cmd_versions(env->rollout, req, out);
		return;
	case PROTO_SHIFT:
	case PROTO_PROMOTE:
	case PROTO_ROLLBACK:
		rollout_cmd_weights(env->rollout, req, conn, out);
		return;
	case PROTO_ROUTE:
		rollout_cmd_route(env->rollout, req, out);
		return;
	case PROTO_TEST:
		probe_cmd_test(env->probes, req, conn, out);
		return;
	case PROTO_AUDIT:
		audit_cmd(env->audit, req, conn, out);
		return;
	case PROTO_KEEP:
		keep_cmd_keep(d->set.sessions, req, out);
		return;
	case PROTO_DROP:
		keep_cmd_drop(d->set.sessions, req, out);
		return;
	case PROTO_CMD_COUNT:
		break;
	}
	proto_response_error(out, PROTO_E_UNKNOWN_COMMAND, "unknown command");
}

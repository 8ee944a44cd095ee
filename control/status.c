/* status: what `warmctl status` shows, and the sd_notify STATUS= line. */
#include "status.h"

#include <stdio.h>
#include <unistd.h>

#include "breaker.h"
#include "clock.h"
#include "cluster.h"
#include "jsonx.h"
#include "notify.h"
#include "provider.h"
#include "sched.h"
#include "session.h"
#include "target.h"
#include "version.h"

#define STATUS_EVERY_S 5.0

int status_write(const struct target_set *set, struct target *const *v, size_t n, struct buf *out)
{
	json_object *dm = json_object_new_object();
	double now = clock_now(set->clk);
	bool paused_all = sched_paused_all(set->sched);
	int r;

	jsonx_add_str(dm, "version", WARMD_VERSION);
	jsonx_add_int(dm, "pid", getpid());
	jsonx_add_double(dm, "uptime_s",
	                 (double)(long long)((now - set->started_at) * 1000) / 1000);
	jsonx_add_str(dm, "config_file", set->config_path);
	jsonx_add_time(dm, "config_loaded_at", set->config_loaded_at);
	jsonx_add_int(dm, "inflight", sched_inflight(set->sched));
	jsonx_add_bool(dm, "paused_all", paused_all);
	jsonx_add_int(dm, "touches_dropped", (int64_t)set->touches_dropped);
	if (set->sessions) {
		struct sessions_stats st;
		sessions_get_stats(set->sessions, &st);
		jsonx_add_int(dm, "sessions", (int64_t)st.count);
		jsonx_add_int(dm, "max_sessions", sessions_max(set->sessions));
		jsonx_add_int(dm, "session_bytes", (int64_t)st.bytes);
		jsonx_add_int(dm, "max_session_bytes", (int64_t)sessions_max_bytes(set->sessions));
	}
	if (set->cluster)
		json_object_object_add(dm, "cluster", cluster_status_json(set->cluster));
	/* The credentials' side of things: what holds all of a provider's targets. */
	{
		json_object *provs = json_object_new_array_ext((int)set->nprovs);
		for (size_t i = 0; i < set->nprovs; i++) {
			const struct provider *p = set->provs[i];
			json_object *po = json_object_new_object();
			jsonx_add_str(po, "name", p->name);
			jsonx_add_str(po, "kind", provider_kind_name(p->kind));
			jsonx_add_int(po, "inflight", p->inflight);
			jsonx_add_str(po, "breaker", breaker_state_name(p->breaker.state));
			jsonx_add_bool(po, "credential_failed", p->cred_failed);
			jsonx_add_str(po, "credential_error",
			              p->cred_failed ? p->cred_error : NULL);
			jsonx_add_time(po, "hold_until", p->hold_until > now ? p->hold_until : 0);
			jsonx_add_double(po, "failure_rate",
			                 (double)(long)(p->fail_rate * 1000) / 1000);
			jsonx_add_double(po, "latency_p99_s",
			                 (double)(long)(p->lat_p99 * 1000) / 1000);
			json_object_array_add(provs, po);
		}
		json_object_object_add(dm, "providers", provs);
	}
	r = buf_puts(out, "{\"daemon\":");
	if (r == 0)
		r = jsonx_append(out, dm);
	json_object_put(dm);
	if (r == 0)
		r = buf_puts(out, ",\"targets\":[");
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (i)
			r = buf_puts(out, ",");
		target_status_write(v[i], now, paused_all, out);
	}
	return r == 0 ? buf_puts(out, "]}") : r;
}

double status_line_update(struct status_line *l, const struct target_set *set, bool force)
{
	double now = clock_now(set->clk);
	size_t warm = 0, failing = 0, paused = 0, sessions = 0;
	char extra[48] = "";
	bool paused_all;

	if (!force && now - l->sent_at < STATUS_EVERY_S)
		return l->sent_at + STATUS_EVERY_S - now;
	l->sent_at = now;
	if (set->ntargets == 0) {
		notify_status("idle: no targets configured%s", l->stopping ? ", stopping" : "");
		return 0;
	}
	paused_all = sched_paused_all(set->sched);
	for (size_t i = 0; i < set->ntargets; i++) {
		sessions += set->targets[i]->session != NULL;
		switch (target_state(set->targets[i], now, paused_all)) {
		case TARGET_WARM:
			warm++;
			break;
		case TARGET_FAILING:
			failing++;
			break;
		case TARGET_PAUSED:
			paused++;
			break;
		default:
			break;
		}
	}
	if (sessions)
		snprintf(extra, sizeof(extra), " (%zu of them sessions)", sessions);
	notify_status("%zu/%zu warm%s, %zu failing%s%s", warm, set->ntargets, extra, failing,
	              paused_all ? ", all paused"
	              : paused   ? ", some paused"
	                         : "",
	              l->stopping ? ", stopping" : "");
	return 0;
}

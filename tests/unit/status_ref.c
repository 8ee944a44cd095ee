/* status_ref: a target's status as a json-c tree, the way status was
 * rendered before target_status_write() wrote it straight into the answer:
 * check_status's reference for its field order and every value's text, and
 * bench_status's "before" figure. */
#include "status_ref.h"

#include <string.h>

#include "breaker.h"
#include "jsonx.h"
#include "policy.h"

json_object *status_ref_tree(const struct target *t, double now, bool paused_all)
{
	json_object *o = json_object_new_object();

	jsonx_add_str(o, "name", t->name);
	jsonx_add_str(o, "provider", t->prov->name);
	jsonx_add_str(o, "model", t->tmpl->model);
	jsonx_add_str(o, "policy", policy_name(t->policy));
	jsonx_add_str(o, "state", target_state_name(target_state(t, now, paused_all)));
	jsonx_add_str(o, "version", t->tmpl->short_version);
	jsonx_add_double(o, "ttl_s", t->ttl_s);
	jsonx_add_int(o, "prefix_tokens",
	              t->prefix_tokens ? t->prefix_tokens : t->tmpl->prefix_tokens_est);
	jsonx_add_time(o, "last_refresh", t->last_refresh);
	jsonx_add_time(o, "expires_at", t->expires_at);
	jsonx_add_time(o, "next_warm_at", t->next_warm_at);
	jsonx_add_str(o, "reason", t->reason);
	jsonx_add_int(o, "warms", (int64_t)t->warms);
	jsonx_add_int(o, "hits", (int64_t)t->hits);
	jsonx_add_int(o, "writes", (int64_t)t->writes);
	jsonx_add_int(o, "errors", (int64_t)t->errors);
	jsonx_add_int(o, "touches", (int64_t)t->touches);
	jsonx_add_str(o, "last_error", t->last_error[0] ? t->last_error : NULL);
	jsonx_add_str(o, "breaker", breaker_state_name(t->breaker.state));
	jsonx_add_str(o, "owner", t->owner);
	if (t->config_differs) {
		json_object *d = json_object_new_array();
		for (const char *p = t->config_differs; *p;) {
			size_t n = strcspn(p, ",");
			json_object_array_add(d, json_object_new_string_len(p, (int)n));
			p += n + (p[n] == ',');
		}
		json_object_object_add(o, "config_differs", d);
	}
	if (t->group) {
		jsonx_add_str(o, "group", t->group);
		jsonx_add_str(o, "version_name", t->vname);
		if (t->vname)
			jsonx_add_int(o, "weight", t->weight);
		else
			jsonx_add_time(o, "retire_at", t->retire_at);
	}
	jsonx_add_bool(o, "session", t->session != NULL);
	if (t->session) {
		jsonx_add_time(o, "keep_until", t->session->keep_until);
		jsonx_add_double(o, "keep_for_s", t->session->for_s);
	}
	if (t->price) {
		jsonx_add_usd(o, "cost_usd", t->cost_pico);
		jsonx_add_usd(o, "saved_usd", t->saved_pico);
	} else {
		jsonx_add_str(o, "cost_usd", NULL);
		jsonx_add_str(o, "saved_usd", NULL);
	}
	return o;
}

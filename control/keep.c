/* keep: the session commands of the control socket, keep and drop. */
#include "keep.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "jsonx.h"
#include "log.h"
#include "session.h"

/* The response code for a refusal with errno r. */
static const char *refusal_code(int r)
{
	switch (r) {
	case -ENOENT:
		return PROTO_E_NOT_FOUND;
	case -EEXIST:
	case -EXDEV:
	case -EPERM:
		return PROTO_E_REJECTED;
	case -ENOSPC:
	case -EFBIG:
		return PROTO_E_LIMIT;
	default:
		return PROTO_E_BAD_REQUEST;
	}
}

/* Lines as a JSON array of strings. */
static json_object *warning_list(const char *w)
{
	json_object *a = json_object_new_array();

	while (*w) {
		size_t n = strcspn(w, "\n");
		json_object_array_add(a, json_object_new_string_len(w, (int)n));
		w += n;
		if (*w == '\n')
			w++;
	}
	return a;
}

void keep_cmd_keep(struct sessions *r, const struct proto_request *req, struct buf *out)
{
	const struct session_keep k = { .name = req->target,
		                        .provider = req->provider,
		                        .body = req->body,
		                        .body_len = req->body_len,
		                        .ttl_s = req->ttl_s,
		                        .for_s = req->for_s,
		                        .priority = (int)req->priority,
		                        .model = req->model,
		                        .deployment = req->deployment };
	struct session_kept kept;
	struct errmsg e;
	json_object *data;
	char msg[512], a[32];
	const struct target *t;
	int rv = sessions_keep(r, &k, &kept, &e);

	if (rv < 0) {
		if (rv == -ENOSPC || rv == -EFBIG)
			log_warning("keep %.64s refused: %s", req->target, e.text);
		else
			log_debug("keep %.64s refused: %s", req->target, e.text);
		proto_response_error(out, refusal_code(rv), e.text);
		return;
	}
	t = kept.t;
	snprintf(msg, sizeof(msg), "%s: %s %s, %s; kept for %s", t->name,
	         kept.result == SESSION_KEEP_CREATED       ? "new session, version"
	         : kept.result == SESSION_KEEP_NEW_VERSION ? "new version"
	                                                   : "same body, version",
	         t->tmpl->short_version,
	         kept.warming ? "warming it now" : "not warmed now (see reason)",
	         duration_format(t->session->for_s, a, sizeof(a)));
	data = json_object_new_object();
	jsonx_add_str(data, "target", t->name);
	jsonx_add_bool(data, "session", true);
	jsonx_add_str(data, "result", session_keep_result_name(kept.result));
	jsonx_add_str(data, "provider", t->prov->name);
	jsonx_add_str(data, "version", t->tmpl->short_version);
	jsonx_add_double(data, "ttl_s", t->ttl_s);
	jsonx_add_double(data, "keep_for_s", t->session->for_s);
	jsonx_add_time(data, "keep_until", t->session->keep_until);
	jsonx_add_bool(data, "warming", kept.warming);
	jsonx_add_str(data, "reason", t->reason);
	json_object_object_add(data, "warnings", warning_list(kept.warnings));
	jsonx_add_str(data, "message", msg);
	proto_response_ok(out, data);
}

void keep_cmd_drop(struct sessions *r, const struct proto_request *req, struct buf *out)
{
	json_object *data;
	struct errmsg e;
	char msg[160];
	int rv = sessions_drop(r, req->target, &e);

	if (rv < 0) {
		proto_response_error(out, refusal_code(rv), e.text);
		return;
	}
	snprintf(msg, sizeof(msg), "%.64s: session dropped, no further warm", req->target);
	data = json_object_new_object();
	jsonx_add_str(data, "target", req->target);
	jsonx_add_str(data, "message", msg);
	proto_response_ok(out, data);
}

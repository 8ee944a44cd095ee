/* proto: the control-socket protocol shared by warmd and warmctl. */
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bounds.h"
#include "duration.h"
#include "jsonx.h"

static const struct proto_cmd_info cmds[PROTO_CMD_COUNT] = {
	[PROTO_PING] = { "ping", PROTO_ARGS_NONE, false },
	[PROTO_STATUS] = { "status", PROTO_ARGS_TARGET_OPT, false },
	[PROTO_WARM] = { "warm", PROTO_ARGS_TARGET_OR_ALL, true },
	[PROTO_PAUSE] = { "pause", PROTO_ARGS_TARGET_OR_ALL, true },
	[PROTO_RESUME] = { "resume", PROTO_ARGS_TARGET_OR_ALL, true },
	[PROTO_RELOAD] = { "reload", PROTO_ARGS_NONE, true },
	[PROTO_TOUCH] = { "touch", PROTO_ARGS_TOUCH, true },
	[PROTO_METRICS] = { "metrics", PROTO_ARGS_NONE, false },
	[PROTO_VERSIONS] = { "versions", PROTO_ARGS_TARGET, false },
	[PROTO_AUDIT] = { "audit", PROTO_ARGS_TARGET_OPT, false },
	[PROTO_TEST] = { "test", PROTO_ARGS_TEST, true },
	[PROTO_SHIFT] = { "shift", PROTO_ARGS_SHIFT, true },
	[PROTO_PROMOTE] = { "promote", PROTO_ARGS_VERSION, true },
	[PROTO_ROLLBACK] = { "rollback", PROTO_ARGS_TARGET, true },
	[PROTO_ROUTE] = { "route", PROTO_ARGS_TARGET, false },
	[PROTO_KEEP] = { "keep", PROTO_ARGS_KEEP, true },
	[PROTO_DROP] = { "drop", PROTO_ARGS_TARGET, true },
};

static int fail(const char **ret_code, const char *code, struct errmsg *e, const char *msg)
{
	*ret_code = code;
	return errmsg_set(e, -EINVAL, "%s", msg);
}

/* Is key one of the arguments of a command taking args? */
static bool arg_allowed(enum proto_args args, const char *key)
{
	static const char *const allowed[][9] = {
		[PROTO_ARGS_NONE] = { NULL },
		[PROTO_ARGS_TARGET_OPT] = { "target", NULL },
		[PROTO_ARGS_TARGET_OR_ALL] = { "target", "all", NULL },
		[PROTO_ARGS_TOUCH] = { "target", "result", "cached", "input", NULL },
		[PROTO_ARGS_TARGET] = { "target", NULL },
		[PROTO_ARGS_TEST] = { "target", "n", "variants", NULL },
		[PROTO_ARGS_VERSION] = { "target", "version", NULL },
		[PROTO_ARGS_SHIFT] = { "target", "version", "percent", NULL },
		[PROTO_ARGS_KEEP] = { "target", "provider", "body", "ttl", "for", "priority",
		                      "model", "deployment", NULL },
	};

	for (const char *const *k = allowed[args]; *k; k++)
		if (strcmp(*k, key) == 0)
			return true;
	return false;
}

/* test's "variants": at most PROTO_TEST_MAX_VARIANTS {"file","body"} strings. */
static bool variants_valid(json_object *v)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return false;
	n = json_object_array_length(v);
	if (n > PROTO_TEST_MAX_VARIANTS)
		return false;
	for (size_t i = 0; i < n; i++) {
		json_object *x = json_object_array_get_idx(v, i);
		if (!json_object_is_type(x, json_type_object) ||
		    json_object_object_length(x) != 2 || !jsonx_get_str(x, "file") ||
		    !jsonx_get_str(x, "body"))
			return false;
	}
	return true;
}

/* The arguments of test, shift and promote, into x (not ret: a failed
 * decode leaves ret alone). */
static int decode_extra(const struct proto_cmd_info *info, json_object *o, struct proto_request *x,
                        const char **ret_code, struct errmsg *e)
{
	json_object *v;

	x->version = NULL;
	x->percent = -1;
	x->n = PROTO_TEST_DEFAULT_N;
	x->variants = NULL;
	if (info->args == PROTO_ARGS_VERSION || info->args == PROTO_ARGS_SHIFT) {
		x->version = jsonx_get_str(o, "version");
		if (!x->version || !*x->version ||
		    strlen(x->version) !=
		            (size_t)json_object_get_string_len(jsonx_get(o, "version")))
			return fail(ret_code, PROTO_E_BAD_REQUEST, e,
			            "\"version\" must be a non-empty string");
	}
	if (info->args == PROTO_ARGS_SHIFT &&
	    (!jsonx_get_int64(o, "percent", &x->percent) || x->percent < 0 || x->percent > 100))
		return fail(ret_code, PROTO_E_BAD_REQUEST, e,
		            "\"percent\" must be an integer from 0 to 100");
	if (info->args == PROTO_ARGS_TEST) {
		if (jsonx_get(o, "n") &&
		    (!jsonx_get_int64(o, "n", &x->n) || x->n < 1 || x->n > PROTO_TEST_MAX_N))
			return fail(ret_code, PROTO_E_BAD_REQUEST, e,
			            "\"n\" must be an integer from 1 to 100");
		if ((v = jsonx_get(o, "variants"))) {
			if (!variants_valid(v))
				return fail(ret_code, PROTO_E_BAD_REQUEST, e,
				            "\"variants\" must be an array of at most 16 "
				            "{\"file\": string, \"body\": string} objects");
			x->variants = v;
		}
	}
	return 0;
}

const struct proto_cmd_info *proto_cmd_info(enum proto_cmd c)
{
	return (unsigned)c < PROTO_CMD_COUNT ? &cmds[c] : NULL;
}

int proto_cmd_lookup(const char *name)
{
	for (int i = 0; i < PROTO_CMD_COUNT; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return i;
	return -1;
}

/* touch's "cached" / "input": absent leaves *ret at -1; otherwise an integer
 * token count within BOUNDS_MAX_TOKENS. json-c keeps an integer beyond
 * int64 as uint64 (read back as INT64_MAX) and a larger one as a double:
 * both fail the same check. */
static int decode_tokens(json_object *o, const char *key, int64_t *ret, const char **ret_code,
                         struct errmsg *e)
{
	int64_t v;

	if (!jsonx_get(o, key))
		return 0;
	if (!jsonx_get_int64(o, key, &v) || v < 0 || v > BOUNDS_MAX_TOKENS) {
		*ret_code = PROTO_E_BAD_REQUEST;
		return errmsg_set(e, -EINVAL, "\"%s\" must be an integer from 0 to %lld (tokens)",
		                  key, (long long)BOUNDS_MAX_TOKENS);
	}
	*ret = v;
	return 0;
}

/* A duration of keep: seconds as a number, or text duration_parse() reads
 * ("5m"); more than 0, at most a year. Absent: *ret stays 0. */
static int decode_duration(json_object *o, const char *key, double *ret, const char **ret_code,
                           struct errmsg *e)
{
	json_object *v = jsonx_get(o, key);
	double d = -1;

	if (!v)
		return 0;
	if (json_object_is_type(v, json_type_string)) {
		if (duration_parse(json_object_get_string(v), &d) < 0)
			d = -1;
	} else if (json_object_is_type(v, json_type_int) ||
	           json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
	}
	if (!(d > 0) || d > DURATION_MAX_S) {
		*ret_code = PROTO_E_BAD_REQUEST;
		return errmsg_set(
		        e, -EINVAL,
		        "\"%s\" must be a duration such as \"5m\" or a number of seconds, "
		        "more than 0 and at most a year",
		        key);
	}
	*ret = d;
	return 0;
}

/* keep's "model" or "deployment": absent, or as warmd.conf takes them (a
 * path segment of the provider's URL): 1 to PROTO_MAX_MODEL printable
 * ASCII characters, no space. Which kinds take which is the daemon's
 * word (it knows the provider). */
static int decode_url_name(json_object *o, const char *key, const char **ret, const char **ret_code,
                           struct errmsg *e)
{
	json_object *v = jsonx_get(o, key);
	const char *s;
	size_t len;

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		*ret_code = PROTO_E_BAD_REQUEST;
		return errmsg_set(e, -EINVAL, "\"%s\" must be a string", key);
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > PROTO_MAX_MODEL) {
		*ret_code = PROTO_E_BAD_REQUEST;
		return errmsg_set(e, -EINVAL, "\"%s\" must be 1 to %d characters", key,
		                  PROTO_MAX_MODEL);
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f) {
			*ret_code = PROTO_E_BAD_REQUEST;
			return errmsg_set(e, -EINVAL,
			                  "\"%s\" contains a space, control or non-ASCII character "
			                  "(at byte %zu)",
			                  key, i);
		}
	*ret = s;
	return 0;
}

/* keep's arguments, into x. */
static int decode_keep(json_object *o, struct proto_request *x, const char **ret_code,
                       struct errmsg *e)
{
	json_object *pv = jsonx_get(o, "provider"), *bv = jsonx_get(o, "body");

	if (!pv || !json_object_is_type(pv, json_type_string) ||
	    json_object_get_string_len(pv) == 0 ||
	    strlen(json_object_get_string(pv)) != (size_t)json_object_get_string_len(pv))
		return fail(ret_code, PROTO_E_BAD_REQUEST, e,
		            "keep needs a \"provider\": the name of one of warmd.conf's providers");
	if (!bv || !json_object_is_type(bv, json_type_string) ||
	    json_object_get_string_len(bv) == 0)
		return fail(ret_code, PROTO_E_BAD_REQUEST, e,
		            "keep needs a \"body\": the request body, as a string of JSON");
	x->provider = json_object_get_string(pv);
	x->body = json_object_get_string(bv);
	x->body_len = (size_t)json_object_get_string_len(bv);
	if (decode_duration(o, "ttl", &x->ttl_s, ret_code, e) < 0 ||
	    decode_duration(o, "for", &x->for_s, ret_code, e) < 0)
		return -EINVAL;
	if (jsonx_get(o, "priority") && (!jsonx_get_int64(o, "priority", &x->priority) ||
	                                 x->priority < 0 || x->priority > 1000000))
		return fail(
		        ret_code, PROTO_E_BAD_REQUEST, e,
		        "\"priority\" must be an integer from 0 to 1000000 (lower warms first)");
	if (decode_url_name(o, "model", &x->model, ret_code, e) < 0 ||
	    decode_url_name(o, "deployment", &x->deployment, ret_code, e) < 0)
		return -EINVAL;
	return 0;
}

/* touch's arguments, into x. */
static int decode_touch(json_object *o, struct proto_request *x, const char **ret_code,
                        struct errmsg *e)
{
	const char *res = jsonx_get_str(o, "result");

	if (!x->target)
		return fail(ret_code, PROTO_E_BAD_REQUEST, e, "touch needs a \"target\"");
	if (jsonx_get(o, "result")) {
		if (res && strcmp(res, "hit") == 0)
			x->result = PROTO_TOUCH_HIT;
		else if (res && strcmp(res, "miss") == 0)
			x->result = PROTO_TOUCH_MISS;
		else
			return fail(ret_code, PROTO_E_BAD_REQUEST, e,
			            "\"result\" must be \"hit\" or \"miss\"");
	}
	if (decode_tokens(o, "cached", &x->cached, ret_code, e) < 0 ||
	    decode_tokens(o, "input", &x->input, ret_code, e) < 0)
		return -EINVAL;
	return 0;
}

/* The command and its common arguments ("target", "all"), into x. */
static int decode_cmd(json_object *o, struct proto_request *x, const char **ret_code,
                      struct errmsg *e)
{
	json_object *cmdv = jsonx_get(o, "cmd"), *tv, *av;
	const struct proto_cmd_info *info;
	int c;

	if (!json_object_is_type(o, json_type_object))
		return fail(ret_code, PROTO_E_BAD_REQUEST, e, "request must be a JSON object");
	if (!cmdv || !json_object_is_type(cmdv, json_type_string))
		return fail(ret_code, PROTO_E_BAD_REQUEST, e, "request needs a string \"cmd\"");
	/* A name with an embedded NUL must not match the command it starts with. */
	c = strlen(json_object_get_string(cmdv)) == (size_t)json_object_get_string_len(cmdv)
	            ? proto_cmd_lookup(json_object_get_string(cmdv))
	            : -1;
	if (c < 0) {
		*ret_code = PROTO_E_UNKNOWN_COMMAND;
		return errmsg_set(e, -EINVAL, "unknown command \"%.63s\"",
		                  json_object_get_string(cmdv));
	}
	info = &cmds[c];
	x->cmd = (enum proto_cmd)c;
	json_object_object_foreach(o, key, val) {
		(void)val;
		if (strcmp(key, "cmd") != 0 && !arg_allowed(info->args, key)) {
			*ret_code = PROTO_E_BAD_REQUEST;
			return errmsg_set(e, -EINVAL, "%s: unexpected argument \"%.63s\"",
			                  info->name, key);
		}
	}
	tv = jsonx_get(o, "target");
	if (tv) {
		if (!json_object_is_type(tv, json_type_string) ||
		    json_object_get_string_len(tv) == 0 ||
		    strlen(json_object_get_string(tv)) != (size_t)json_object_get_string_len(tv))
			return fail(ret_code, PROTO_E_BAD_REQUEST, e,
			            "\"target\" must be a non-empty string");
		x->target = json_object_get_string(tv);
	}
	av = jsonx_get(o, "all");
	if (av) {
		if (!json_object_is_type(av, json_type_boolean))
			return fail(ret_code, PROTO_E_BAD_REQUEST, e, "\"all\" must be a boolean");
		x->all = json_object_get_boolean(av);
	}
	if ((info->args == PROTO_ARGS_TARGET || info->args == PROTO_ARGS_TEST ||
	     info->args == PROTO_ARGS_VERSION || info->args == PROTO_ARGS_SHIFT ||
	     info->args == PROTO_ARGS_KEEP) &&
	    !x->target) {
		*ret_code = PROTO_E_BAD_REQUEST;
		return errmsg_set(e, -EINVAL, "%s needs a \"target\"", info->name);
	}
	if (info->args == PROTO_ARGS_TARGET_OR_ALL && !!x->target == x->all) {
		*ret_code = PROTO_E_BAD_REQUEST;
		return errmsg_set(e, -EINVAL, "%s needs either \"target\" or \"all\":true",
		                  info->name);
	}
	return 0;
}

int proto_request_decode(const char *line, size_t len, struct proto_request *ret,
                         const char **ret_code, struct errmsg *e)
{
	/* Decoded into x, so that a failure leaves ret alone. */
	struct proto_request x = {
		.result = PROTO_TOUCH_UNKNOWN, .cached = -1, .input = -1, .priority = -1
	};
	json_object *o = NULL;
	int r;

	r = jsonx_parse(line, len, PROTO_MAX_DEPTH, &o, e);
	if (r < 0) {
		*ret_code = PROTO_E_BAD_JSON;
		errmsg_prefix(e, "request is not valid JSON");
		goto out;
	}
	r = decode_cmd(o, &x, ret_code, e);
	if (r == 0 && cmds[x.cmd].args == PROTO_ARGS_TOUCH)
		r = decode_touch(o, &x, ret_code, e);
	if (r == 0 && cmds[x.cmd].args == PROTO_ARGS_KEEP)
		r = decode_keep(o, &x, ret_code, e);
	if (r == 0)
		r = decode_extra(&cmds[x.cmd], o, &x, ret_code, e);
	if (r < 0)
		goto out;
	x.obj = o; /* ret owns the document now */
	o = NULL;
	*ret = x;
out:
	json_object_put(o);
	return r < 0 ? -EINVAL : 0;
}

void proto_request_done(struct proto_request *r)
{
	json_object_put(r->obj);
	r->obj = NULL;
	r->target = NULL;
}

static int append_line(struct buf *out, json_object *o)
{
	size_t len;
	const char *s = jsonx_dump(o, &len);
	int r = buf_append(out, s, len);

	if (r == 0)
		r = buf_append(out, "\n", 1);
	return r;
}

int proto_request_encode(struct buf *out, enum proto_cmd cmd, const char *target, bool all)
{
	json_object *o;
	int r;

	if ((unsigned)cmd >= PROTO_CMD_COUNT)
		return -EINVAL;
	o = json_object_new_object();
	jsonx_add_str(o, "cmd", cmds[cmd].name);
	if (target)
		jsonx_add_str(o, "target", target);
	if (all)
		jsonx_add_bool(o, "all", true);
	r = append_line(out, o);
	json_object_put(o);
	return r;
}

int proto_request_encode_args(struct buf *out, enum proto_cmd cmd, const char *target,
                              const char *version, int64_t percent, int64_t n,
                              json_object *variants)
{
	json_object *o;
	int r;

	if ((unsigned)cmd >= PROTO_CMD_COUNT) {
		json_object_put(variants);
		return -EINVAL;
	}
	o = json_object_new_object();
	jsonx_add_str(o, "cmd", cmds[cmd].name);
	if (target)
		jsonx_add_str(o, "target", target);
	if (version)
		jsonx_add_str(o, "version", version);
	if (percent >= 0)
		jsonx_add_int(o, "percent", percent);
	if (n >= 0)
		jsonx_add_int(o, "n", n);
	if (variants)
		json_object_object_add(o, "variants", variants);
	r = append_line(out, o);
	json_object_put(o);
	return r;
}

int proto_request_encode_keep(struct buf *out, const char *target, const char *provider,
                              const char *body, size_t body_len, double ttl_s, double for_s,
                              int64_t priority, const char *model, const char *deployment)
{
	json_object *o;
	int r;

	if (body_len > INT32_MAX)
		return -EFBIG;
	o = json_object_new_object();
	jsonx_add_str(o, "cmd", cmds[PROTO_KEEP].name);
	jsonx_add_str(o, "target", target);
	jsonx_add_str(o, "provider", provider);
	json_object_object_add(o, "body", json_object_new_string_len(body, (int)body_len));
	if (ttl_s > 0)
		jsonx_add_double(o, "ttl", ttl_s);
	if (for_s > 0)
		jsonx_add_double(o, "for", for_s);
	if (priority >= 0)
		jsonx_add_int(o, "priority", priority);
	if (model)
		jsonx_add_str(o, "model", model);
	if (deployment)
		jsonx_add_str(o, "deployment", deployment);
	r = append_line(out, o);
	json_object_put(o);
	return r;
}

int proto_request_encode_touch(struct buf *out, const char *target, enum proto_touch_result result,
                               int64_t cached, int64_t input)
{
	json_object *o = json_object_new_object();
	int r;

	jsonx_add_str(o, "cmd", cmds[PROTO_TOUCH].name);
	jsonx_add_str(o, "target", target);
	if (result != PROTO_TOUCH_UNKNOWN)
		jsonx_add_str(o, "result", result == PROTO_TOUCH_HIT ? "hit" : "miss");
	if (cached >= 0)
		jsonx_add_int(o, "cached", cached);
	if (input >= 0)
		jsonx_add_int(o, "input", input);
	r = append_line(out, o);
	json_object_put(o);
	return r;
}

int proto_response_ok_open(struct buf *out)
{
	/* The same bytes proto_response_ok() writes before the data. */
	return buf_puts(out, "{\"ok\":true,\"data\":");
}

int proto_response_ok_close(struct buf *out)
{
	return buf_puts(out, "}\n");
}

int proto_response_ok(struct buf *out, json_object *data)
{
	json_object *o = json_object_new_object();
	int r;

	jsonx_add_bool(o, "ok", true);
	json_object_object_add(o, "data", data);
	r = append_line(out, o);
	json_object_put(o);
	return r;
}

int proto_response_error(struct buf *out, const char *code, const char *message)
{
	return proto_response_error_details(out, code, message, NULL);
}

int proto_response_error_details(struct buf *out, const char *code, const char *message,
                                 json_object *details)
{
	json_object *o = json_object_new_object(), *err = json_object_new_object();
	int r;

	jsonx_add_bool(o, "ok", false);
	jsonx_add_str(err, "code", code);
	jsonx_add_str(err, "message", message);
	if (details)
		json_object_object_add(err, "details", details);
	json_object_object_add(o, "error", err);
	r = append_line(out, o);
	json_object_put(o);
	return r;
}

int proto_response_peek(const char *line, size_t len, bool *ret_ok)
{
	static const char yes[] = "{\"ok\":true,", no[] = "{\"ok\":false,";

	if (len < sizeof(no) || line[len - 1] != '}')
		return -EPROTO;
	if (memcmp(line, yes, sizeof(yes) - 1) == 0)
		*ret_ok = true;
	else if (memcmp(line, no, sizeof(no) - 1) == 0)
		*ret_ok = false;
	else
		return -EPROTO;
	return 0;
}

int proto_response_decode(const char *line, size_t len, json_object **ret_obj, bool *ret_ok,
                          json_object **ret_data, const char **ret_code, const char **ret_message,
                          struct errmsg *e)
{
	json_object *o = NULL, *okv, *err;
	int r;

	r = jsonx_parse(line, len, 0, &o, e);
	if (r < 0) {
		errmsg_prefix(e, "daemon answered with invalid JSON");
		return r;
	}
	okv = jsonx_get(o, "ok");
	if (!okv || !json_object_is_type(okv, json_type_boolean)) {
		json_object_put(o);
		return errmsg_set(e, -EPROTO, "daemon answer has no boolean \"ok\"");
	}
	*ret_ok = json_object_get_boolean(okv);
	*ret_data = jsonx_get(o, "data");
	err = jsonx_get(o, "error");
	*ret_code = jsonx_get_str(err, "code");
	*ret_message = jsonx_get_str(err, "message");
	*ret_obj = o;
	return 0;
}

void linebuf_init(struct linebuf *lb, size_t max)
{
	memset(lb, 0, sizeof(*lb));
	lb->max = max;
}

void linebuf_free(struct linebuf *lb)
{
	buf_free(&lb->b);
}

int linebuf_feed(struct linebuf *lb, const char *p, size_t n, linebuf_cb cb, void *data)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		int r;

		if (lb->skipping) {
			if (nl)
				lb->skipping = false;
		} else if (lb->b.len + take > lb->max) {
			buf_reset(&lb->b);
			lb->skipping = nl == NULL;
			r = cb(data, NULL, 0);
			if (r < 0)
				return r;
		} else if (nl) {
			const char *line = p;
			size_t len = take;
			if (lb->b.len) {
				buf_append(&lb->b, p, take);
				line = lb->b.data;
				len = lb->b.len;
			}
			/* Tolerate CRLF from hand-typed clients (socat, nc -C). */
			if (len && line[len - 1] == '\r')
				len--;
			r = cb(data, line, len);
			buf_reset(&lb->b);
			if (r < 0)
				return r;
		} else {
			buf_append(&lb->b, p, take);
		}
		if (!nl)
			break;
		p = nl + 1;
		n -= take + 1;
	}
	return 0;
}

/* provider_openai: OpenAI chat completions and OpenAI-compatible adapters.
 *
 * OpenAI caches every prompt of 1024+ tokens automatically, in 128-token
 * steps, keyed by the exact prefix (and prompt_cache_key). The warm body is
 * the template with a 1-token output budget and stream:false; a short user
 * turn is appended only when the template does not end with one. Chat usage
 * reports only cached_tokens, so a cold warm of a cacheable prompt is
 * counted as a write (the request populated the cache). */
#include "provider_openai.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonx.h"

bool provider_openai_is_reasoning_model(const char *m)
{
	return (m[0] == 'o' && m[1] >= '1' && m[1] <= '9') || strncmp(m, "gpt-5", 5) == 0;
}

static void append_turn(json_object *msgs)
{
	json_object *last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
	json_object *calls = jsonx_get(last, "tool_calls");
	bool answered = false;

	/* An assistant turn that calls tools must be answered by tool messages. */
	if (calls && json_object_is_type(calls, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(calls); i++) {
			const char *id = jsonx_get_str(json_object_array_get_idx(calls, i), "id");
			json_object *m;
			if (!id)
				continue;
			m = json_object_new_object();
			json_object_object_add(m, "role", json_object_new_string("tool"));
			json_object_object_add(m, "tool_call_id", json_object_new_string(id));
			json_object_object_add(m, "content", json_object_new_string("."));
			json_object_array_add(msgs, m);
			answered = true;
		}
	}
	if (!answered) {
		json_object *m = json_object_new_object();
		json_object_object_add(m, "role", json_object_new_string("user"));
		json_object_object_add(m, "content", json_object_new_string("."));
		json_object_array_add(msgs, m);
	}
}

static void note(struct warm_build *b, const char *s)
{
	size_t n = strlen(b->notes);

	snprintf(b->notes + n, sizeof(b->notes) - n, "%s%s", n ? ", " : "", s);
}

static int chat_build(json_object *t, const struct cfg_target *ct, struct warm_build *b,
                      struct errmsg *e)
{
	json_object *msgs, *last, *stream, *v;
	const char *model, *role, *dump, *key;
	size_t len;

	if (!json_object_is_type(t, json_type_object))
		return errmsg_set(e, -EINVAL, "the request must be a JSON object");
	if (jsonx_get(t, "input") && !jsonx_get(t, "messages"))
		return errmsg_set(e, -EINVAL,
		                  "this is a Responses API request (\"input\"); this version of "
		                  "warmd warms chat completions (\"messages\") only");
	model = jsonx_get_str(t, "model");
	if (!model || !*model)
		return errmsg_set(e, -EINVAL, "\"model\" must be a non-empty string");
	msgs = jsonx_get(t, "messages");
	if (!msgs || !json_object_is_type(msgs, json_type_array) ||
	    json_object_array_length(msgs) == 0)
		return errmsg_set(e, -EINVAL, "\"messages\" must be a non-empty array");
	for (size_t i = 0; i < json_object_array_length(msgs); i++) {
		json_object *m = json_object_array_get_idx(msgs, i);
		if (!json_object_is_type(m, json_type_object) || !jsonx_get_str(m, "role"))
			return errmsg_set(e, -EINVAL, "messages[%zu] must be an object with a role",
			                  i);
	}
	stream = jsonx_get(t, "stream");
	if (stream && !json_object_is_type(stream, json_type_boolean))
		return errmsg_set(e, -EINVAL, "\"stream\" must be a boolean");
	key = jsonx_get_str(t, "prompt_cache_key");
	if (jsonx_get(t, "prompt_cache_key") && !key)
		return errmsg_set(e, -EINVAL, "\"prompt_cache_key\" must be a string");
	if (ct && ct->cache_key && key && strcmp(key, ct->cache_key) != 0)
		return errmsg_set(e, -EINVAL,
		                  "the template's prompt_cache_key \"%s\" differs from the "
		                  "target's cache_key \"%s\"",
		                  key, ct->cache_key);

	b->model = strdup(model);
	b->path = "/chat/completions";
	b->endpoint = ENDPOINT_CHAT;
	/* The version covers everything that shapes the cached prompt. */
	buf_printf(&b->prefix, "M:%s\n", model);
	if (ct && ct->cache_key)
		buf_printf(&b->prefix, "K:%s\n", ct->cache_key);
	else if (key)
		buf_printf(&b->prefix, "K:%s\n", key);
	for (const char *const *f = (const char *const[]){ "tools", "response_format", NULL }; *f;
	     f++) {
		if ((v = jsonx_get(t, *f))) {
			dump = jsonx_dump(v, &len);
			buf_printf(&b->prefix, "%c:%.*s\n", (*f)[0] == 't' ? 'T' : 'R', (int)len,
			           dump);
		}
	}
	for (size_t i = 0; i < json_object_array_length(msgs); i++) {
		dump = jsonx_dump(json_object_array_get_idx(msgs, i), &len);
		buf_printf(&b->prefix, "m:%.*s\n", (int)len, dump);
	}
	b->prefix_tokens_est = (long)(b->prefix.len / 4);

	/* One output token; keep whichever budget field the template uses. */
	if (jsonx_get(t, "max_completion_tokens")) {
		json_object_object_add(t, "max_completion_tokens", json_object_new_int(1));
		note(b, "max_completion_tokens 1");
	} else if (jsonx_get(t, "max_tokens")) {
		json_object_object_add(t, "max_tokens", json_object_new_int(1));
		note(b, "max_tokens 1");
	} else if (provider_openai_is_reasoning_model(model)) {
		json_object_object_add(t, "max_completion_tokens", json_object_new_int(1));
		note(b, "max_completion_tokens 1");
	} else {
		json_object_object_add(t, "max_tokens", json_object_new_int(1));
		note(b, "max_tokens 1");
	}
	b->max_tokens = 1;
	if (stream && json_object_get_boolean(stream)) {
		json_object_object_add(t, "stream", json_object_new_boolean(0));
		note(b, "stream false");
	}
	/* stream_options is only valid with stream:true. */
	if (jsonx_get(t, "stream_options")) {
		json_object_object_del(t, "stream_options");
		note(b, "dropped stream_options");
	}
	if (ct && ct->cache_key && !key) {
		json_object_object_add(t, "prompt_cache_key",
		                       json_object_new_string(ct->cache_key));
		note(b, "prompt_cache_key from config");
	}
	last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
	role = jsonx_get_str(last, "role");
	if (strcmp(role, "user") != 0) {
		append_turn(msgs);
		note(b, "appended a user turn");
	}
	dump = jsonx_dump(t, &len);
	b->body = malloc(len + 1);
	if (!b->body)
		return errmsg_set(e, -ENOMEM, "out of memory");
	memcpy(b->body, dump, len + 1);
	b->body_len = len;
	return 0;
}

static int openai_headers(const char *key, struct provider_header *h)
{
	int n = 0;

	h[n++] = (struct provider_header){ "content-type", NULL, "application/json" };
	if (key)
		h[n++] = (struct provider_header){ "authorization", "Bearer ", key };
	return n;
}

static int parse_usage(const char *body, size_t len, struct warm_usage *u, bool compat,
                       struct errmsg *e)
{
	json_object *o = NULL, *usage, *details, *timings;
	int64_t prompt = 0, completion = 0, cached = 0;
	int r;

	memset(u, 0, sizeof(*u));
	r = jsonx_parse(body, len, 0, &o, e);
	if (r < 0) {
		errmsg_prefix(e, "response is not JSON");
		return -EPROTO;
	}
	usage = jsonx_get(o, "usage");
	if (!usage || !json_object_is_type(usage, json_type_object)) {
		json_object_put(o);
		return errmsg_set(e, -EPROTO, "response has no usage object");
	}
	details = jsonx_get(usage, "prompt_tokens_details");
	timings = jsonx_get(o, "timings");
	if ((r = provider_usage_field(usage, "usage", "prompt_tokens", &prompt, e)) < 0 ||
	    (r = provider_usage_field(usage, "usage", "completion_tokens", &completion, e)) < 0)
		goto out;
	if (details && json_object_is_type(details, json_type_object)) {
		r = provider_usage_field(details, "usage.prompt_tokens_details", "cached_tokens",
		                         &cached, e);
	} else if (details) {
		r = errmsg_set(e, -EPROTO, "usage.prompt_tokens_details is not an object");
	} else if (compat && timings && json_object_is_type(timings, json_type_object)) {
		/* llama.cpp server reports reused KV cells here. */
		r = provider_usage_field(timings, "timings", "cache_n", &cached, e);
	}
	if (r < 0)
		goto out;
	if (cached > prompt) {
		r = errmsg_set(e, -EPROTO, "cached_tokens %lld exceeds prompt_tokens %lld",
		               (long long)cached, (long long)prompt);
		goto out;
	}
	u->read = cached;
	u->input = prompt - cached;
	u->output = completion;
	if (cached > 0) {
		u->result = WARM_HIT;
	} else if (compat || prompt >= OPENAI_MIN_CACHED_TOKENS) {
		/* No read: the request itself populated the cache. */
		u->result = WARM_WRITE;
		u->write = prompt;
	} else {
		u->result = WARM_NONE;
	}
out:
	json_object_put(o);
	return r;
}

static int openai_parse_ok(const char *body, size_t len, struct warm_usage *u, struct errmsg *e)
{
	return parse_usage(body, len, u, false, e);
}

static int compat_parse_ok(const char *body, size_t len, struct warm_usage *u, struct errmsg *e)
{
	return parse_usage(body, len, u, true, e);
}

static void openai_parse_error(long status, const char *body, size_t len, struct errmsg *e)
{
	static const char *const type_keys[] = { "code", "type", NULL };

	provider_error_from_body(status, body, len, type_keys, e);
}

const struct provider_ops provider_openai_ops = {
	.kind = PROVIDER_OPENAI,
	.key_required = true,
	.build = chat_build,
	.headers = openai_headers,
	.parse_ok = openai_parse_ok,
	.parse_error = openai_parse_error,
};

const struct provider_ops provider_openai_compat_ops = {
	.kind = PROVIDER_OPENAI_COMPAT,
	.key_required = false,
	.build = chat_build,
	.headers = openai_headers,
	.parse_ok = compat_parse_ok,
	.parse_error = openai_parse_error,
};

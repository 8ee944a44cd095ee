/* adapter_openai: OpenAI (chat completions and responses) and self-hosted
 * OpenAI-compatible adapters.
 *
 * OpenAI caches every prompt of 1024+ tokens automatically, in 128-token
 * steps, keyed by the exact prefix (and prompt_cache_key). The warm body is
 * the template with the smallest output budget the endpoint accepts (chat: 1
 * token, as max_completion_tokens for reasoning models; responses: 16, the
 * API's minimum, or the native prewarm option) and stream:false; a short user
 * turn is appended only when the template does not end with one (answering
 * any pending tool calls). Usage without a write count (chat, older models)
 * counts a cold warm of a cacheable prompt as a write: the request populated
 * the cache. */
#include "adapter_openai.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "jsonscan.h"
#include "jsonx.h"
#include "xalloc.h"

#define RESPONSES_MIN_OUTPUT 16

bool adapter_openai_is_reasoning_model(const char *m)
{
	return (m[0] == 'o' && m[1] >= '1' && m[1] <= '9') || strncmp(m, "gpt-5", 5) == 0;
}

static void note(struct warm_build *b, const char *s)
{
	size_t n = strlen(b->notes);

	snprintf(b->notes + n, sizeof(b->notes) - n, "%s%s", n ? ", " : "", s);
}

static json_object *text_item(const char *role)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "role", json_object_new_string(role));
	json_object_object_add(m, "content", json_object_new_string("."));
	return m;
}

/* chat: answers an assistant turn's tool_calls, else appends a user turn. */
static void chat_append_turn(json_object *msgs)
{
	json_object *last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
	json_object *calls = jsonx_get(last, "tool_calls");
	bool answered = false;

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
	if (!answered)
		json_object_array_add(msgs, text_item("user"));
}

/* The output item that answers a pending client-side call, or NULL when
 * warmd cannot answer it (the application must: a computer action, a shell
 * command, a patch, an MCP approval). Server-side calls (web_search_call,
 * file_search_call, ...) are complete in the transcript and need nothing. */
static const char *call_output_type(const char *type, bool *pending)
{
	static const char *const unanswerable[] = { "computer_call",        "local_shell_call",
		                                    "shell_call",           "apply_patch_call",
		                                    "mcp_approval_request", NULL };

	*pending = true;
	if (strcmp(type, "function_call") == 0)
		return "function_call_output";
	if (strcmp(type, "custom_tool_call") == 0)
		return "custom_tool_call_output";
	for (const char *const *u = unanswerable; *u; u++)
		if (strcmp(type, *u) == 0)
			return NULL;
	*pending = false;
	return NULL;
}

/* responses: answers trailing function and custom tool calls, else appends a
 * user turn. False (and b->unwarmable) when the template ends with a call
 * only the application can answer: a user turn after it would be rejected. */
static bool responses_append_turn(json_object *items, struct warm_build *b)
{
	size_t n = json_object_array_length(items), first = n;
	bool answered = false, pending;

	while (first > 0) {
		const char *type =
		        jsonx_get_str(json_object_array_get_idx(items, first - 1), "type");
		if (!type)
			break;
		if (!call_output_type(type, &pending)) {
			if (!pending)
				break;
			snprintf(b->unwarmable, sizeof(b->unwarmable),
			         "the template ends with a pending %s that only the application "
			         "can answer; end it with the call's output or a user turn",
			         type);
			return false;
		}
		first--;
	}
	for (size_t i = first; i < n; i++) {
		json_object *call = json_object_array_get_idx(items, i), *o;
		const char *id = jsonx_get_str(call, "call_id");
		if (!id)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "type",
		                       json_object_new_string(call_output_type(
		                               jsonx_get_str(call, "type"), &pending)));
		json_object_object_add(o, "call_id", json_object_new_string(id));
		json_object_object_add(o, "output", json_object_new_string("."));
		json_object_array_add(items, o);
		answered = true;
	}
	if (!answered)
		json_object_array_add(items, text_item("user"));
	return true;
}

/* What both endpoints share: model, stream, the cache key, and the parts of
 * the version that are not the conversation itself. */
static int common_fields(json_object *t, const struct adapter_target *ct,
                         const struct adapter_openai_opts *o, struct warm_build *b,
                         const char **ret_key, struct errmsg *e)
{
	static const char *const shaping[] = { "instructions", "tools", "response_format", "text",
		                               NULL };
	json_object *stream = jsonx_get(t, "stream"), *v;
	const char *model = jsonx_get_str(t, "model"), *key;

	if (!jsonx_get(t, "model") && o->default_model)
		model = o->default_model; /* the URL names it */
	if (!model || !*model)
		return errmsg_set(e, -EINVAL, "\"model\" must be a non-empty string");
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
	/* The version covers everything that shapes the cached prompt. */
	buf_printf(&b->prefix, "M:%s\n", model);
	if (ct && ct->cache_key)
		buf_printf(&b->prefix, "K:%s\n", ct->cache_key);
	else if (key)
		buf_printf(&b->prefix, "K:%s\n", key);
	for (const char *const *f = shaping; *f; f++) {
		if ((v = jsonx_get(t, *f))) {
			buf_printf(&b->prefix, "%s:", *f);
			jsonx_append(&b->prefix, v);
			buf_puts(&b->prefix, "\n");
		}
	}
	*ret_key = key;
	return 0;
}

/* stream:false (and its options gone), the target's cache key added. */
static void minimal_common(json_object *t, const struct adapter_target *ct, const char *key,
                           struct warm_build *b)
{
	json_object *stream = jsonx_get(t, "stream");

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
}

static int finish(json_object *t, struct warm_build *b)
{
	b->prefix_tokens_est = (long)(b->prefix.len / 4);
	adapter_set_body(b, t);
	return 0;
}

static int chat_build(json_object *t, const struct adapter_target *ct,
                      const struct adapter_openai_opts *o, struct warm_build *b, struct errmsg *e)
{
	json_object *msgs = jsonx_get(t, "messages"), *last;
	const char *role, *key;
	int r;

	if (!msgs || !json_object_is_type(msgs, json_type_array) ||
	    json_object_array_length(msgs) == 0)
		return errmsg_set(e, -EINVAL, "\"messages\" must be a non-empty array");
	for (size_t i = 0; i < json_object_array_length(msgs); i++) {
		json_object *m = json_object_array_get_idx(msgs, i);
		if (!json_object_is_type(m, json_type_object) || !jsonx_get_str(m, "role"))
			return errmsg_set(e, -EINVAL, "messages[%zu] must be an object with a role",
			                  i);
	}
	if ((r = common_fields(t, ct, o, b, &key, e)) < 0)
		return r;
	b->path = xstrdup(o->chat_path);
	b->endpoint = ENDPOINT_CHAT;
	for (size_t i = 0; i < json_object_array_length(msgs); i++) {
		adapter_prefix_put(&b->prefix, "m:", json_object_array_get_idx(msgs, i));
	}
	/* One output token; keep whichever budget fields the template uses (a
	 * self-hosted server may take both: each must be 1). */
	if (jsonx_get(t, "max_completion_tokens") || jsonx_get(t, "max_tokens")) {
		if (jsonx_get(t, "max_completion_tokens")) {
			json_object_object_add(t, "max_completion_tokens", json_object_new_int(1));
			note(b, "max_completion_tokens 1");
		}
		if (jsonx_get(t, "max_tokens")) {
			json_object_object_add(t, "max_tokens", json_object_new_int(1));
			note(b, "max_tokens 1");
		}
	} else if (adapter_openai_is_reasoning_model(b->model)) {
		json_object_object_add(t, "max_completion_tokens", json_object_new_int(1));
		note(b, "max_completion_tokens 1");
	} else {
		json_object_object_add(t, "max_tokens", json_object_new_int(1));
		note(b, "max_tokens 1");
	}
	b->max_tokens = 1;
	minimal_common(t, ct, key, b);
	last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
	role = jsonx_get_str(last, "role");
	if (strcmp(role, "user") != 0) {
		chat_append_turn(msgs);
		note(b, "appended a user turn");
	}
	return finish(t, b);
}

static bool responses_ends_with_user(json_object *input)
{
	json_object *last;
	const char *role, *type;

	if (json_object_is_type(input, json_type_string))
		return true; /* a string input is one user message */
	last = json_object_array_get_idx(input, json_object_array_length(input) - 1);
	role = jsonx_get_str(last, "role");
	type = jsonx_get_str(last, "type");
	return role && strcmp(role, "user") == 0 && (!type || strcmp(type, "message") == 0);
}

static int responses_build(json_object *t, const struct adapter_target *ct,
                           const struct adapter_openai_opts *o, struct warm_build *b,
                           struct errmsg *e)
{
	json_object *input = jsonx_get(t, "input"), *opts;
	const char *key;
	int r;

	if (!input ||
	    !(json_object_is_type(input, json_type_string) ||
	      (json_object_is_type(input, json_type_array) && json_object_array_length(input) > 0)))
		return errmsg_set(e, -EINVAL, "\"input\" must be a string or a non-empty array");
	if (!o->responses_path)
		return errmsg_set(e, -EINVAL, "%s", o->responses_none);
	if ((r = common_fields(t, ct, o, b, &key, e)) < 0)
		return r;
	b->path = xstrdup(o->responses_path);
	b->endpoint = ENDPOINT_RESPONSES;
	if (json_object_is_type(input, json_type_string)) {
		adapter_prefix_put(&b->prefix, "i:", input);
	} else {
		for (size_t i = 0; i < json_object_array_length(input); i++) {
			adapter_prefix_put(&b->prefix, "i:", json_object_array_get_idx(input, i));
		}
	}
	/* The API's smallest output budget; with prewarm the cache is filled
	 * without generating, and 16 still bounds the cost if it is ignored. */
	json_object_object_add(t, "max_output_tokens", json_object_new_int(RESPONSES_MIN_OUTPUT));
	b->max_tokens = RESPONSES_MIN_OUTPUT;
	note(b, "max_output_tokens 16");
	if (ct && ct->warm_mode == WARM_MODE_PREWARM) {
		opts = jsonx_get(t, "prompt_cache_options");
		if (opts && !json_object_is_type(opts, json_type_object))
			return errmsg_set(e, -EINVAL, "\"prompt_cache_options\" must be an object");
		if (!opts) {
			opts = json_object_new_object();
			json_object_object_add(t, "prompt_cache_options", opts);
		}
		json_object_object_add(opts, "prewarm", json_object_new_boolean(1));
		note(b, "prompt_cache_options.prewarm");
	}
	minimal_common(t, ct, key, b);
	if (!responses_ends_with_user(input)) {
		if (!responses_append_turn(input, b))
			return 0; /* b->unwarmable says why; no body */
		note(b, "appended a user turn");
	}
	return finish(t, b);
}

int adapter_openai_build(json_object *t, const struct adapter_target *ct,
                         const struct adapter_openai_opts *o, struct warm_build *b,
                         struct errmsg *e)
{
	enum endpoint ep = ct ? ct->endpoint : ENDPOINT_AUTO;
	bool has_input = jsonx_get(t, "input") != NULL, has_msgs = jsonx_get(t, "messages") != NULL;

	if (!json_object_is_type(t, json_type_object))
		return errmsg_set(e, -EINVAL, "the request must be a JSON object");
	if (ep == ENDPOINT_AUTO)
		ep = has_input && !has_msgs ? ENDPOINT_RESPONSES : ENDPOINT_CHAT;
	if (ep == ENDPOINT_CHAT && has_input && !has_msgs)
		return errmsg_set(e, -EINVAL,
		                  "endpoint chat, but the template is a Responses API request "
		                  "(\"input\", no \"messages\")");
	if (ep == ENDPOINT_RESPONSES && has_msgs && !has_input)
		return errmsg_set(e, -EINVAL,
		                  "endpoint responses, but the template is a chat completions "
		                  "request (\"messages\", no \"input\")");
	if (ct && ct->warm_mode == WARM_MODE_PREWARM && ep != ENDPOINT_RESPONSES)
		return errmsg_set(e, -EINVAL, "warm_mode prewarm needs a Responses API template");
	return ep == ENDPOINT_RESPONSES ? responses_build(t, ct, o, b, e)
	                                : chat_build(t, ct, o, b, e);
}

static int openai_build(json_object *t, const struct adapter_target *ct, struct warm_build *b,
                        struct errmsg *e)
{
	static const struct adapter_openai_opts opts = { .chat_path = "/chat/completions",
		                                         .responses_path = "/responses" };

	return adapter_openai_build(t, ct, &opts, b, e);
}

static int openai_headers(const char *key, struct adapter_header *h)
{
	int n = 0;

	h[n++] = (struct adapter_header){ "content-type", NULL, "application/json" };
	if (key)
		h[n++] = (struct adapter_header){ "authorization", "Bearer ", key };
	return n;
}

/* Chat reports prompt_tokens / prompt_tokens_details; responses reports
 * input_tokens / input_tokens_details (with cache_write_tokens on models
 * that bill writes); llama.cpp reports timings.cache_n. */
/* The usual answer, read without json-c (jsonscan declines anything else):
 * the same numbers the tree walk below would take. */
static int usage_fast(const char *body, size_t len, bool compat, int64_t *prompt,
                      int64_t *completion, int64_t *cached, int64_t *written, bool *responses)
{
	enum {
		USAGE,
		IN,
		PROMPT,
		OUT,
		COMPLETION,
		IN_DET,
		IN_CACHED,
		IN_WRITE,
		PR_DET,
		PR_CACHED,
		PR_WRITE,
		TIMINGS,
		CACHE_N,
		PROMPT_N,
		NFIELDS
	};
	struct jsonscan_field f[NFIELDS] = {
		[USAGE] = { "usage", JSONSCAN_OBJECT, false, 0 },
		[IN] = { "usage.input_tokens", JSONSCAN_INT, false, 0 },
		[PROMPT] = { "usage.prompt_tokens", JSONSCAN_INT, false, 0 },
		[OUT] = { "usage.output_tokens", JSONSCAN_INT, false, 0 },
		[COMPLETION] = { "usage.completion_tokens", JSONSCAN_INT, false, 0 },
		[IN_DET] = { "usage.input_tokens_details", JSONSCAN_OBJECT, false, 0 },
		[IN_CACHED] = { "usage.input_tokens_details.cached_tokens", JSONSCAN_INT, false,
		                0 },
		[IN_WRITE] = { "usage.input_tokens_details.cache_write_tokens", JSONSCAN_INT, false,
		               0 },
		[PR_DET] = { "usage.prompt_tokens_details", JSONSCAN_OBJECT, false, 0 },
		[PR_CACHED] = { "usage.prompt_tokens_details.cached_tokens", JSONSCAN_INT, false,
		                0 },
		[PR_WRITE] = { "usage.prompt_tokens_details.cache_write_tokens", JSONSCAN_INT,
		               false, 0 },
		[TIMINGS] = { "timings", JSONSCAN_OBJECT, false, 0 },
		[CACHE_N] = { "timings.cache_n", JSONSCAN_INT, false, 0 },
		[PROMPT_N] = { "timings.prompt_n", JSONSCAN_INT, false, 0 },
	};
	int det;

	if (jsonscan_fields(body, len, f, NFIELDS, BOUNDS_MAX_TOKENS) < 0 || !f[USAGE].found)
		return -1;
	*responses = f[IN].found && !f[PROMPT].found;
	*prompt = *responses ? f[IN].value : f[PROMPT].value;
	*completion = *responses ? f[OUT].value : f[COMPLETION].value;
	det = *responses ? IN_DET : PR_DET;
	if (f[det].found) {
		*cached = f[det + 1].value;
		if (f[det + 2].found)
			*written = f[det + 2].value;
	} else if (compat && f[TIMINGS].found) {
		*cached = f[CACHE_N].value;
		if (f[PROMPT_N].found && !f[PROMPT].found)
			*prompt = *cached + f[PROMPT_N].value;
	}
	return 0;
}

static int parse_usage(const char *body, size_t len, struct warm_usage *u, bool compat,
                       struct errmsg *e)
{
	json_object *o = NULL, *usage, *details, *timings;
	int64_t prompt = 0, completion = 0, cached = 0, written = -1, used;
	bool responses;
	const char *dpath;
	int r;

	memset(u, 0, sizeof(*u));
	if (usage_fast(body, len, compat, &prompt, &completion, &cached, &written, &responses) ==
	    0) {
		r = 0;
		goto verdict;
	}
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
	responses = jsonx_get(usage, "input_tokens") && !jsonx_get(usage, "prompt_tokens");
	details = jsonx_get(usage, responses ? "input_tokens_details" : "prompt_tokens_details");
	dpath = responses ? "usage.input_tokens_details" : "usage.prompt_tokens_details";
	timings = jsonx_get(o, "timings");
	if ((r = adapter_usage_field(usage, "usage", responses ? "input_tokens" : "prompt_tokens",
	                             &prompt, e)) < 0 ||
	    (r = adapter_usage_field(usage, "usage",
	                             responses ? "output_tokens" : "completion_tokens", &completion,
	                             e)) < 0)
		goto out;
	if (details && json_object_is_type(details, json_type_object)) {
		r = adapter_usage_field(details, dpath, "cached_tokens", &cached, e);
		if (r == 0 && jsonx_get(details, "cache_write_tokens"))
			r = adapter_usage_field(details, dpath, "cache_write_tokens", &written, e);
	} else if (details) {
		r = errmsg_set(e, -EPROTO, "%s is not an object", dpath);
	} else if (compat && timings && json_object_is_type(timings, json_type_object)) {
		/* llama.cpp server reports reused KV cells here. */
		r = adapter_usage_field(timings, "timings", "cache_n", &cached, e);
		if (r == 0 && jsonx_get(timings, "prompt_n")) {
			int64_t fresh = 0;
			r = adapter_usage_field(timings, "timings", "prompt_n", &fresh, e);
			if (r == 0 && !jsonx_get(usage, "prompt_tokens") &&
			    __builtin_add_overflow(cached, fresh, &prompt))
				r = errmsg_set(
				        e, -EPROTO,
				        "timings.cache_n + timings.prompt_n is out of range");
		}
	}
	if (r < 0)
		goto out;
verdict:
	if (cached > prompt && prompt > 0) {
		r = errmsg_set(e, -EPROTO, "cached_tokens %lld exceeds %s %lld", (long long)cached,
		               responses ? "input_tokens" : "prompt_tokens", (long long)prompt);
		goto out;
	}
	u->read = cached;
	u->input = prompt > cached ? prompt - cached : 0;
	u->output = completion;
	if (written > 0) {
		u->result = WARM_WRITE; /* the provider says it wrote */
		u->write = written;
	} else if (cached > 0) {
		u->result = WARM_HIT;
	} else if (written == 0 && !compat) {
		u->result = prompt >= OPENAI_MIN_CACHED_TOKENS ? WARM_WRITE : WARM_NONE;
		u->write = u->result == WARM_WRITE ? prompt : 0;
	} else if (compat || prompt >= OPENAI_MIN_CACHED_TOKENS) {
		/* No read: the request itself populated the cache. */
		u->result = WARM_WRITE;
		u->write = prompt;
	} else {
		u->result = WARM_NONE;
	}
	/* What is left was billed as plain input (prompt counts everything).
	 * The counts are the provider's: no sum of them may overflow. */
	if (__builtin_add_overflow(cached, u->write, &used) || used >= prompt)
		u->input = 0;
	else
		u->input = prompt - used;
out:
	json_object_put(o);
	return r;
}

int adapter_openai_parse_ok(const char *body, size_t len, struct warm_usage *u, struct errmsg *e)
{
	return parse_usage(body, len, u, false, e);
}

static int compat_parse_ok(const char *body, size_t len, struct warm_usage *u, struct errmsg *e)
{
	return parse_usage(body, len, u, true, e);
}

void adapter_openai_parse_error(long status, const char *body, size_t len, struct errmsg *e)
{
	static const char *const type_keys[] = { "code", "type", NULL };

	adapter_error_from_body(status, body, len, type_keys, e);
}

const struct adapter_ops adapter_openai_ops = {
	.kind = PROVIDER_OPENAI,
	.key_required = true,
	.build = openai_build,
	.headers = openai_headers,
	.parse_ok = adapter_openai_parse_ok,
	.parse_error = adapter_openai_parse_error,
};

const struct adapter_ops adapter_openai_compat_ops = {
	.kind = PROVIDER_OPENAI_COMPAT,
	.key_required = false,
	.build = openai_build,
	.headers = openai_headers,
	.parse_ok = compat_parse_ok,
	.parse_error = adapter_openai_parse_error,
};

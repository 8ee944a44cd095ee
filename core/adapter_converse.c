/* adapter_converse: the rules of Amazon Bedrock's Converse API body (no I/O).
 *
 * Converse marks its cache breakpoints with blocks of their own, a
 * {"cachePoint": {"type": "default"}} after the last block of a prefix, in
 * toolConfig.tools, system and messages[].content; the prefix is cached in
 * that order (tools, system, messages), as Anthropic's, whose rules apply to
 * the Claude models behind it: at most 4 breakpoints, 1-hour ones before
 * 5-minute ones, the model's minimum length. Its output budget cannot be 0,
 * so the warm asks for inferenceConfig.maxTokens 1, which a forced tool
 * choice allows too; budget thinking (additionalModelRequestFields.thinking
 * of type "enabled") needs more than its budget, so it makes the template
 * unwarmable unless allow_edit may drop it. The canonical prefix is
 * Converse's own: the model, toolConfig.toolChoice and
 * additionalModelRequestFields (whose change moves the messages-level
 * cache), then every block up to the last cache point. */
#include "adapter_converse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_anthropic.h"
#include "bounds.h"
#include "jsonx.h"
#include "xalloc.h"

enum section { SEC_NONE, SEC_TOOLS, SEC_SYSTEM, SEC_MESSAGES };

struct cp_scan {
	int n;                     /* cache points so far */
	bool seen_5m;              /* a 5-minute one: no 1-hour one may follow */
	bool any_block;            /* a block before the cache point to come */
	enum section last_section; /* where the last one sits */
	double last_ttl;           /* and its TTL */
	size_t keep;               /* the prefix's length at the last one */
	struct warm_build *b;
};

/* A cachePoint block: checks it and records the breakpoint it makes. */
static int cache_point(json_object *cp, const char *where, enum section sec, struct cp_scan *s,
                       struct errmsg *e)
{
	const char *type = jsonx_get_str(cp, "type"), *ttl = jsonx_get_str(cp, "ttl");
	bool one_hour;

	if (!json_object_is_type(cp, json_type_object))
		return errmsg_set(e, -EINVAL, "%s.cachePoint must be an object", where);
	if (!type || strcmp(type, "default") != 0)
		return errmsg_set(e, -EINVAL, "%s.cachePoint.type must be \"default\"", where);
	if (jsonx_get(cp, "ttl") && (!ttl || (strcmp(ttl, "5m") != 0 && strcmp(ttl, "1h") != 0)))
		return errmsg_set(e, -EINVAL, "%s.cachePoint.ttl must be \"5m\" or \"1h\"", where);
	if (!s->any_block)
		return errmsg_set(e, -EINVAL,
		                  "%s: a cachePoint must follow the blocks it caches (it is the "
		                  "first block of the request)",
		                  where);
	one_hour = ttl && strcmp(ttl, "1h") == 0;
	if (one_hour && s->seen_5m)
		return errmsg_set(e, -EINVAL,
		                  "%s: a 1h cachePoint after a 5m one (1h cache points must come "
		                  "first)",
		                  where);
	s->seen_5m |= !one_hour;
	if (++s->n > CONVERSE_MAX_CACHE_POINTS)
		return 0; /* counted: the error names the total */
	adapter_hash(s->b->prefix.data, s->b->prefix.len, s->b->bp_hashes[s->b->nbp++]);
	s->last_section = sec;
	s->last_ttl = one_hour ? 3600 : 300;
	s->keep = s->b->prefix.len;
	return 0;
}

/* The blocks of one array (named name in errors) in cache order: content
 * blocks into the prefix, cache points as breakpoints. */
static int scan_blocks(json_object *arr, const char *kind, const char *name, enum section sec,
                       struct cp_scan *s, struct errmsg *e)
{
	char where[96];

	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *block = json_object_array_get_idx(arr, i), *cp;
		int r;

		snprintf(where, sizeof(where), "%s[%zu]", name, i);
		if (!json_object_is_type(block, json_type_object))
			return errmsg_set(e, -EINVAL, "%s must be an object", where);
		if ((cp = jsonx_get(block, "cachePoint"))) {
			if ((r = cache_point(cp, where, sec, s, e)) < 0)
				return r;
			continue;
		}
		adapter_prefix_put(&s->b->prefix, kind, block);
		s->any_block = true;
	}
	return 0;
}

/* An optional member that must be an object when present. */
static int optional_object(json_object *t, const char *key, json_object **ret, struct errmsg *e)
{
	*ret = jsonx_get(t, key);
	if (*ret && !json_object_is_type(*ret, json_type_object))
		return errmsg_set(e, -EINVAL, "\"%s\" must be an object", key);
	return 0;
}

/* Walks toolConfig.tools, system and messages in cache order. */
static int scan_template(json_object *t, json_object *tools, json_object *msgs, struct cp_scan *s,
                         struct errmsg *e)
{
	json_object *system = jsonx_get(t, "system");
	char name[64];
	int r;

	if (tools && (r = scan_blocks(tools, "T:", "toolConfig.tools", SEC_TOOLS, s, e)) < 0)
		return r;
	if (system) {
		if (!json_object_is_type(system, json_type_array))
			return errmsg_set(e, -EINVAL, "\"system\" must be an array of blocks");
		if ((r = scan_blocks(system, "S:", "system", SEC_SYSTEM, s, e)) < 0)
			return r;
	}
	for (size_t i = 0; i < json_object_array_length(msgs); i++) {
		json_object *m = json_object_array_get_idx(msgs, i);
		json_object *content = jsonx_get(m, "content");
		const char *role = jsonx_get_str(m, "role");

		if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
			return errmsg_set(e, -EINVAL,
			                  "messages[%zu].role must be \"user\" or \"assistant\"",
			                  i);
		if (!json_object_is_type(content, json_type_array) ||
		    json_object_array_length(content) == 0)
			return errmsg_set(
			        e, -EINVAL,
			        "messages[%zu].content must be a non-empty array of blocks "
			        "(Converse takes no string content)",
			        i);
		snprintf(name, sizeof(name), "messages[%zu].content", i);
		r = scan_blocks(content, role[0] == 'a' ? "A:" : "U:", name, SEC_MESSAGES, s, e);
		if (r < 0)
			return r;
	}
	if (s->n > CONVERSE_MAX_CACHE_POINTS)
		return errmsg_set(e, -EINVAL,
		                  "%d cachePoint blocks: Bedrock allows at most %d per request",
		                  s->n, CONVERSE_MAX_CACHE_POINTS);
	if (s->n == 0)
		return errmsg_set(
		        e, -EINVAL,
		        "no cachePoint block: Bedrock caches nothing without one (add "
		        "{\"cachePoint\": {\"type\": \"default\"}} after the last block of "
		        "the shared prefix)");
	s->b->prefix.len = s->keep;
	s->b->prefix.data[s->keep] = '\0';
	return 0;
}

static void note(struct warm_build *b, const char *text)
{
	size_t n = strlen(b->notes);

	snprintf(b->notes + n, sizeof(b->notes) - n, "%s%s", n ? ", " : "", text);
}

/* Budget thinking needs maxTokens above its budget: no minimal warm, unless
 * allow_edit may drop it and the last cache point is in tools or system
 * (those levels survive the edit; the messages level does not). Returns 0,
 * or -1 with b->unwarmable set. */
static int check_thinking(json_object *extra, const struct adapter_target *ct, enum section last,
                          struct warm_build *b)
{
	json_object *thinking = jsonx_get(extra, "thinking");
	const char *type = jsonx_get_str(thinking, "type");
	unsigned allow = ct ? ct->allow_edit : 0;
	int64_t budget = 0;

	if (!type || strcmp(type, "enabled") != 0)
		return 0;
	if ((allow & ALLOW_EDIT_THINKING) && (last == SEC_TOOLS || last == SEC_SYSTEM)) {
		json_object_object_del(extra, "thinking");
		note(b, "dropped thinking (allow_edit)");
		return 0;
	}
	jsonx_get_int64(thinking, "budget_tokens", &budget);
	snprintf(b->unwarmable, sizeof(b->unwarmable),
	         "additionalModelRequestFields.thinking is enabled with budget_tokens %lld: "
	         "maxTokens must exceed the budget%s",
	         (long long)budget,
	         !(allow & ALLOW_EDIT_THINKING)
	                 ? "; allow_edit = [\"thinking\"] would let warmd drop it if the last "
	                   "cachePoint were in tools or system"
	                 : ", and allow_edit cannot help: the last cachePoint is in the "
	                   "messages, whose cache a thinking change invalidates");
	return -1;
}

/* Appends the short user turn; answers any toolUse of the final assistant turn. */
static void append_user_turn(json_object *msgs)
{
	json_object *last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
	json_object *content = jsonx_get(last, "content"), *turn = json_object_new_object();
	json_object *blocks = json_object_new_array();

	for (size_t i = 0; i < json_object_array_length(content); i++) {
		json_object *use = jsonx_get(json_object_array_get_idx(content, i), "toolUse");
		const char *id = jsonx_get_str(use, "toolUseId");
		json_object *result, *inner, *text;
		if (!id)
			continue;
		result = json_object_new_object();
		inner = json_object_new_array();
		text = json_object_new_object();
		json_object_object_add(text, "text", json_object_new_string("."));
		json_object_array_add(inner, text);
		json_object_object_add(result, "toolUseId", json_object_new_string(id));
		json_object_object_add(result, "content", inner);
		text = json_object_new_object();
		json_object_object_add(text, "toolResult", result);
		json_object_array_add(blocks, text);
	}
	if (json_object_array_length(blocks) == 0) {
		json_object *text = json_object_new_object();
		json_object_object_add(text, "text", json_object_new_string("."));
		json_object_array_add(blocks, text);
	}
	json_object_object_add(turn, "role", json_object_new_string("user"));
	json_object_object_add(turn, "content", blocks);
	json_object_array_add(msgs, turn);
}

/* The shape every Converse body has, and the fields that tell an
 * InvokeModel body sent here by mistake. */
static int check_shape(json_object *t, const struct converse_options *o, json_object **ret_msgs,
                       struct errmsg *e)
{
	json_object *msgs = jsonx_get(t, "messages");

	if (!json_object_is_type(t, json_type_object))
		return errmsg_set(e, -EINVAL, "the request must be a JSON object");
	if (jsonx_get(t, "model") || jsonx_get(t, "modelId"))
		return errmsg_set(e, -EINVAL,
		                  "the body must not name a model: Bedrock takes it from the URL "
		                  "(the target's model = \"%s\")",
		                  o->model);
	if (jsonx_get(t, "max_tokens") || jsonx_get(t, "anthropic_version"))
		return errmsg_set(
		        e, -EINVAL,
		        "\"max_tokens\" and \"anthropic_version\" belong to an InvokeModel "
		        "body: a Converse body sets inferenceConfig.maxTokens (or use "
		        "endpoint = \"invoke\")");
	if (!msgs || !json_object_is_type(msgs, json_type_array) ||
	    json_object_array_length(msgs) == 0)
		return errmsg_set(e, -EINVAL, "\"messages\" must be a non-empty array");
	*ret_msgs = msgs;
	return 0;
}

int converse_build_body(json_object *t, const struct adapter_target *ct,
                        const struct converse_options *o, struct warm_build *b, struct errmsg *e)
{
	json_object *msgs = NULL, *infer, *tool_cfg, *extra, *tools = NULL, *last;
	struct cp_scan scan = { .b = b };
	const char *role;
	int r;

	if ((r = check_shape(t, o, &msgs, e)) < 0 ||
	    (r = optional_object(t, "inferenceConfig", &infer, e)) < 0 ||
	    (r = optional_object(t, "toolConfig", &tool_cfg, e)) < 0 ||
	    (r = optional_object(t, "additionalModelRequestFields", &extra, e)) < 0)
		return r;
	if (infer && jsonx_get(infer, "maxTokens") && !jsonx_is_int(jsonx_get(infer, "maxTokens")))
		return errmsg_set(e, -EINVAL, "inferenceConfig.maxTokens must be an integer");
	if (tool_cfg && (tools = jsonx_get(tool_cfg, "tools")) &&
	    !json_object_is_type(tools, json_type_array))
		return errmsg_set(e, -EINVAL, "toolConfig.tools must be an array");

	b->model = xstrdup(o->model);
	buf_printf(&b->prefix, "M:%s\n", o->model);
	/* Changing these moves the messages-level cache: part of the version. */
	if (jsonx_get(tool_cfg, "toolChoice")) {
		adapter_prefix_put(&b->prefix, "C:", jsonx_get(tool_cfg, "toolChoice"));
	}
	if (extra) {
		adapter_prefix_put(&b->prefix, "K:", extra);
	}
	if ((r = scan_template(t, tools, msgs, &scan, e)) < 0)
		return r;
	b->prefix_tokens_est = (long)(b->prefix.len / 4);
	b->ttl_s = scan.last_ttl;
	b->min_cacheable = o->family ? anthropic_min_cacheable(o->family) : 0;
	if (check_thinking(extra, ct, scan.last_section, b) < 0)
		return 0; /* b->unwarmable says why; no body */

	if (!infer) {
		infer = json_object_new_object();
		json_object_object_add(t, "inferenceConfig", infer);
	}
	json_object_object_add(infer, "maxTokens", json_object_new_int(1));
	b->max_tokens = 1;
	note(b, "maxTokens 1");
	last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
	role = jsonx_get_str(last, "role");
	if (strcmp(role, "user") != 0) {
		append_user_turn(msgs);
		note(b, "appended a user turn");
	}
	adapter_set_body(b, t);
	return 0;
}

int converse_parse_ok(const char *body, size_t len, struct warm_usage *u, struct errmsg *e)
{
	static const struct adapter_usage_fields fields = {
		"usage",
		{ "cacheReadInputTokens", "cacheWriteInputTokens", "inputTokens", "outputTokens" },
		{ "usage.cacheReadInputTokens", "usage.cacheWriteInputTokens", "usage.inputTokens",
		  "usage.outputTokens" },
	};
	bool converse;
	int r;

	if ((r = adapter_usage_read(body, len, &fields, u, &converse, e)) < 0)
		return r;
	if (!converse)
		return -ENOMSG;
	/* A write means the cache was cold at (part of) the prefix. */
	u->result = u->write > 0 ? WARM_WRITE : u->read > 0 ? WARM_HIT : WARM_NONE;
	return 0;
}

/* adapter_anthropic: the Anthropic Messages API adapter (no I/O).
 *
 * How Anthropic's cache works decides what a correct warm is: entries are
 * written only at breakpoints (a block's cache_control, or a top-level
 * cache_control that marks the request's last block), markers are positions
 * rather than content, and max_tokens 0 runs prefill only. The warm body is
 * the template with max_tokens (0, or 1 where 0 is illegal) and stream:false;
 * a short user turn is appended only when the template does not end with
 * one, after the automatic marker has been pinned to the template's last
 * block so the write still lands where the application's requests read.
 * The kinds that send a Messages body elsewhere (Bedrock InvokeModel,
 * Vertex) call anthropic_build_body() with their own options. */
#include "adapter_anthropic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "jsonx.h"
#include "xalloc.h"

#define ANTHROPIC_MAX_BREAKPOINTS 4
/* Every breakpoint of a valid template has its hash (the last is the version). */
_Static_assert(ANTHROPIC_MAX_BREAKPOINTS <= ADAPTER_MAX_BREAKPOINTS, "breakpoint hashes");

enum section { SEC_NONE, SEC_TOOLS, SEC_SYSTEM, SEC_MESSAGES };

struct bp_scan {
	int explicit_n;
	bool automatic;
	json_object *auto_cc;
	bool seen_5m;
	double ttl;                      /* of the breakpoint just checked */
	enum section last_section;       /* where the last breakpoint sits */
	double last_ttl;                 /* and its TTL */
	struct warm_build *b;            /* where breakpoint hashes go */
	struct adapter_prefix_hash hash; /* the prefix hashed so far */
};

/* Minimum cacheable prefix per model family (a shorter prefix is silently
 * not cached). First match wins; unknown models: 1024. */
static const struct {
	const char *prefix;
	long tokens;
} min_cacheable[] = {
	{ "claude-opus-5", 512 },    { "claude-sonnet-4-5", 1024 }, { "claude-sonnet-4-6", 1024 },
	{ "claude-sonnet-5", 1024 }, { "claude-opus-4-8", 1024 },   { "claude-opus-4-7", 2048 },
	{ "claude-opus-4-5", 4096 }, { "claude-opus-4-6", 4096 },   { "claude-haiku-4-5", 4096 },
};

long anthropic_min_cacheable(const char *model)
{
	for (size_t i = 0; i < sizeof(min_cacheable) / sizeof(min_cacheable[0]); i++)
		if (strncmp(model, min_cacheable[i].prefix, strlen(min_cacheable[i].prefix)) == 0)
			return min_cacheable[i].tokens;
	return 1024;
}

/* Checks one cache_control object and the 1h-before-5m ordering rule. */
static int check_cache_control(json_object *cc, const char *where, struct bp_scan *s,
                               struct errmsg *e)
{
	const char *type, *ttl;

	if (!json_object_is_type(cc, json_type_object))
		return errmsg_set(e, -EINVAL, "%s: cache_control must be an object", where);
	type = jsonx_get_str(cc, "type");
	if (!type || strcmp(type, "ephemeral") != 0)
		return errmsg_set(e, -EINVAL, "%s: cache_control.type must be \"ephemeral\"",
		                  where);
	ttl = jsonx_get_str(cc, "ttl");
	if (jsonx_get(cc, "ttl") && (!ttl || (strcmp(ttl, "5m") != 0 && strcmp(ttl, "1h") != 0)))
		return errmsg_set(e, -EINVAL, "%s: cache_control.ttl must be \"5m\" or \"1h\"",
		                  where);
	s->ttl = ttl && strcmp(ttl, "1h") == 0 ? 3600 : 300;
	if (ttl && strcmp(ttl, "1h") == 0) {
		if (s->seen_5m)
			return errmsg_set(e, -EINVAL,
			                  "%s: a 1h breakpoint after a 5m one (1h breakpoints must "
			                  "come first)",
			                  where);
	} else {
		s->seen_5m = true;
	}
	return 0;
}

/* Appends one block to the canonical prefix and counts the breakpoints on it:
 * its own marker, and those on the blocks of a tool_result's content (the API
 * takes a marker there too; the prefix then ends with that tool_result). */
static int scan_block(json_object *block, const char *kind, const char *where, struct buf *prefix,
                      struct bp_scan *s, struct errmsg *e)
{
	enum section sec = kind[0] == 'T' ? SEC_TOOLS : kind[0] == 'S' ? SEC_SYSTEM : SEC_MESSAGES;
	json_object *cc = jsonx_get(block, "cache_control"), *inner = jsonx_get(block, "content");
	const char *type = jsonx_get_str(block, "type");
	int marks = 0, r;

	adapter_prefix_put(prefix, kind, block);
	if (type && strcmp(type, "tool_result") == 0 &&
	    json_object_is_type(inner, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(inner); i++) {
			json_object *icc =
			        jsonx_get(json_object_array_get_idx(inner, i), "cache_control");
			char iwhere[128];
			if (!icc)
				continue;
			snprintf(iwhere, sizeof(iwhere), "%s.content[%zu]", where, i);
			if ((r = check_cache_control(icc, iwhere, s, e)) < 0)
				return r;
			marks++;
		}
	}
	if (cc) {
		if ((r = check_cache_control(cc, where, s, e)) < 0)
			return r;
		marks++;
	}
	if (!marks)
		return 0;
	s->explicit_n += marks;
	for (int k = 0; k < marks && s->b->nbp < ADAPTER_MAX_BREAKPOINTS; k++, s->b->nbp++) {
		if (k == 0)
			adapter_prefix_hash_take(&s->hash, prefix, s->b->bp_hashes[s->b->nbp]);
		else /* more marks on one block: the same prefix */
			memcpy(s->b->bp_hashes[s->b->nbp], s->b->bp_hashes[s->b->nbp - 1], 65);
	}
	s->last_section = sec;
	s->last_ttl = s->ttl;
	return 1; /* a breakpoint: the prefix may end here */
}

/* Scans every block of arr (named name[i] in errors); moves *keep, the end of
 * the canonical prefix, past each breakpoint. */
static int scan_array(json_object *arr, const char *kind, const char *name, struct buf *prefix,
                      struct bp_scan *s, size_t *keep, struct errmsg *e)
{
	char where[96];

	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		int r;
		snprintf(where, sizeof(where), "%s[%zu]", name, i);
		r = scan_block(json_object_array_get_idx(arr, i), kind, where, prefix, s, e);
		if (r < 0)
			return r;
		if (r)
			*keep = prefix->len;
	}
	return 0;
}

/* Walks tools, system and messages in cache order. The canonical prefix
 * (what the version hashes) ends at the last breakpoint; with automatic
 * caching it is the whole template. */
static int scan_template(json_object *t, struct warm_build *b, struct bp_scan *s, struct errmsg *e)
{
	json_object *tools = jsonx_get(t, "tools"), *system = jsonx_get(t, "system");
	json_object *msgs = jsonx_get(t, "messages");
	size_t keep = b->prefix.len;
	char name[64];
	int r;

	if (tools) {
		if (!json_object_is_type(tools, json_type_array))
			return errmsg_set(e, -EINVAL, "\"tools\" must be an array");
		if ((r = scan_array(tools, "T:", "tools", &b->prefix, s, &keep, e)) < 0)
			return r;
	}
	if (system) {
		if (json_object_is_type(system, json_type_string))
			scan_block(system, "S:", "system", &b->prefix, s, e);
		else if (!json_object_is_type(system, json_type_array))
			return errmsg_set(e, -EINVAL, "\"system\" must be a string or an array");
		else if ((r = scan_array(system, "S:", "system", &b->prefix, s, &keep, e)) < 0)
			return r;
	}
	for (size_t i = 0; i < json_object_array_length(msgs); i++) {
		json_object *m = json_object_array_get_idx(msgs, i);
		json_object *content = jsonx_get(m, "content");
		const char *role = jsonx_get_str(m, "role");
		const char *kind = role && strcmp(role, "assistant") == 0 ? "A:" : "U:";

		if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
			return errmsg_set(e, -EINVAL,
			                  "messages[%zu].role must be \"user\" or \"assistant\"",
			                  i);
		if (json_object_is_type(content, json_type_string)) {
			scan_block(content, kind, "", &b->prefix, s, e);
		} else if (json_object_is_type(content, json_type_array) &&
		           json_object_array_length(content) > 0) {
			snprintf(name, sizeof(name), "messages[%zu].content", i);
			if ((r = scan_array(content, kind, name, &b->prefix, s, &keep, e)) < 0)
				return r;
		} else {
			return errmsg_set(e, -EINVAL,
			                  "messages[%zu].content must be a string or a non-empty "
			                  "array of blocks",
			                  i);
		}
	}
	s->auto_cc = jsonx_get(t, "cache_control");
	if (s->auto_cc) {
		int r2 = check_cache_control(s->auto_cc, "cache_control (automatic caching)", s, e);
		if (r2 < 0)
			return r2;
		s->automatic = true;
		if (b->nbp < ADAPTER_MAX_BREAKPOINTS)
			adapter_prefix_hash_take(&s->hash, &b->prefix, b->bp_hashes[b->nbp++]);
		s->last_section = SEC_MESSAGES; /* it marks the request's last block */
		s->last_ttl = s->ttl;
		keep = b->prefix.len;
	}
	if (s->explicit_n + s->automatic > ANTHROPIC_MAX_BREAKPOINTS)
		return errmsg_set(e, -EINVAL,
		                  "%d cache breakpoints: Anthropic allows at most %d per request",
		                  s->explicit_n + s->automatic, ANTHROPIC_MAX_BREAKPOINTS);
	if (s->explicit_n + s->automatic == 0)
		return errmsg_set(e, -EINVAL,
		                  "no cache_control breakpoint: Anthropic caches nothing without "
		                  "one (mark the last block of the shared prefix, or add a "
		                  "top-level cache_control for automatic caching)");
	b->prefix.len = keep;
	b->prefix.data[keep] = '\0';
	/* The prefix ends at the last breakpoint, whose hash was just taken
	 * (more than ADAPTER_MAX_BREAKPOINTS failed above): that is the version. */
	memcpy(b->version, b->bp_hashes[b->nbp - 1], sizeof(b->version));
	return 0;
}

/* Pins the automatic breakpoint onto the template's last block as an explicit
 * marker with the same TTL, so appending a turn does not move the write. */
static int pin_automatic_marker(json_object *t, json_object *msgs, struct errmsg *e)
{
	json_object *last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
	json_object *content = jsonx_get(last, "content"), *block, *cc;
	const char *btype;

	if (json_object_is_type(content, json_type_string)) {
		/* A string content is one text block; spell it as one to mark it. */
		json_object *arr = json_object_new_array(), *tb = json_object_new_object();
		json_object_object_add(tb, "type", json_object_new_string("text"));
		json_object_object_add(tb, "text", json_object_get(content));
		json_object_array_add(arr, tb);
		json_object_object_add(last, "content", arr);
		content = arr;
	}
	block = json_object_array_get_idx(content, json_object_array_length(content) - 1);
	btype = jsonx_get_str(block, "type");
	if (btype && (strcmp(btype, "thinking") == 0 || strcmp(btype, "redacted_thinking") == 0))
		return errmsg_set(e, -EINVAL,
		                  "automatic caching: the template ends with a %s block, which "
		                  "cannot carry cache_control, so a warm that appends a turn "
		                  "would cache a different prefix",
		                  btype);
	cc = jsonx_get(t, "cache_control");
	if (!jsonx_get(block, "cache_control"))
		json_object_object_add(block, "cache_control", json_object_get(cc));
	json_object_object_del(t, "cache_control");
	return 0;
}

/* Appends the short user turn; answers any tool_use in the final assistant turn. */
static void append_user_turn(json_object *msgs)
{
	json_object *last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
	json_object *content = jsonx_get(last, "content"), *turn = json_object_new_object();
	json_object *results = json_object_new_array();

	if (json_object_is_type(content, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(content); i++) {
			json_object *b = json_object_array_get_idx(content, i), *r;
			const char *type = jsonx_get_str(b, "type"), *id = jsonx_get_str(b, "id");
			if (!type || strcmp(type, "tool_use") != 0 || !id)
				continue;
			r = json_object_new_object();
			json_object_object_add(r, "type", json_object_new_string("tool_result"));
			json_object_object_add(r, "tool_use_id", json_object_new_string(id));
			json_object_object_add(r, "content", json_object_new_string("."));
			json_object_array_add(results, r);
		}
	}
	json_object_object_add(turn, "role", json_object_new_string("user"));
	if (json_object_array_length(results) > 0) {
		json_object_object_add(turn, "content", results);
	} else {
		json_object_put(results);
		json_object_object_add(turn, "content", json_object_new_string("."));
	}
	json_object_array_add(msgs, turn);
}

static void note(struct warm_build *b, const char *text)
{
	size_t n = strlen(b->notes);

	snprintf(b->notes + n, sizeof(b->notes) - n, "%s%s", n ? ", " : "", text);
}

/* max_tokens 0 runs prefill only; it is rejected with budget thinking,
 * structured output and a forced tool choice. A target may allow warmd to
 * drop thinking or tool_choice (allow_edit), but only when its last
 * breakpoint is in tools or system: those cache levels survive such an edit,
 * the messages level does not. */
static int choose_max_tokens(json_object *t, const struct adapter_target *ct, enum section last,
                             struct warm_build *b, const char **why)
{
	json_object *thinking = jsonx_get(t, "thinking"), *tc = jsonx_get(t, "tool_choice");
	const char *tt = jsonx_get_str(thinking, "type"), *tct = jsonx_get_str(tc, "type");
	unsigned allow = ct ? ct->allow_edit : 0;
	bool shallow = last == SEC_TOOLS || last == SEC_SYSTEM;
	int64_t budget = 0;

	*why = NULL;
	if (tt && strcmp(tt, "enabled") == 0) {
		jsonx_get_int64(thinking, "budget_tokens", &budget);
		if ((allow & ALLOW_EDIT_THINKING) && shallow) {
			json_object_object_del(t, "thinking");
			note(b, "dropped thinking (allow_edit)");
		} else {
			snprintf(b->unwarmable, sizeof(b->unwarmable),
			         "thinking is enabled with budget_tokens %lld: max_tokens 0 is "
			         "rejected and max_tokens must exceed the budget%s",
			         (long long)budget,
			         !(allow & ALLOW_EDIT_THINKING)
			                 ? "; allow_edit = [\"thinking\"] would let warmd drop it "
			                   "if the "
			                   "last breakpoint were in tools or system"
			                 : ", and allow_edit cannot help: the last breakpoint is "
			                   "in the "
			                   "messages, whose cache a thinking change invalidates");
			return -1;
		}
	}
	if (tct && (strcmp(tct, "tool") == 0 || strcmp(tct, "any") == 0)) {
		if ((allow & ALLOW_EDIT_TOOL_CHOICE) && shallow) {
			json_object_object_del(t, "tool_choice");
			note(b, "dropped tool_choice (allow_edit)");
		} else {
			*why = "tool_choice forces a tool";
			return 1;
		}
	}
	if (jsonx_get(t, "output_format") || jsonx_get(jsonx_get(t, "output_config"), "format")) {
		*why = "structured output";
		return 1;
	}
	return 0;
}

/* The model the version names: the body's, or the URL's (then the body has none). */
static int body_model(json_object *t, const struct anthropic_options *o, const char **ret,
                      struct errmsg *e)
{
	const char *version = jsonx_get_str(t, "anthropic_version");

	if (o->version && (!version || strcmp(version, o->version) != 0))
		return errmsg_set(
		        e, -EINVAL,
		        "\"anthropic_version\" must be \"%s\" (%s requires it in the body)",
		        o->version, o->service ? o->service : "Anthropic");
	if (!o->model) {
		*ret = jsonx_get_str(t, "model");
		if (!*ret || !**ret)
			return errmsg_set(e, -EINVAL, "\"model\" must be a non-empty string");
		return 0;
	}
	if (jsonx_get(t, "model"))
		return errmsg_set(e, -EINVAL,
		                  "the body must not name a \"model\": %s takes it from the URL "
		                  "(the target's model = \"%s\")",
		                  o->service ? o->service : "Anthropic", o->model);
	*ret = o->model;
	return 0;
}

int anthropic_build_body(json_object *t, const struct adapter_target *ct,
                         const struct anthropic_options *o, struct warm_build *b, struct errmsg *e)
{
	json_object *msgs, *last, *stream;
	struct bp_scan scan = { .b = b };
	const char *model = NULL, *role, *why;
	bool ends_with_user;
	int r, mt;

	if (!json_object_is_type(t, json_type_object))
		return errmsg_set(e, -EINVAL, "the request must be a JSON object");
	if ((r = body_model(t, o, &model, e)) < 0)
		return r;
	msgs = jsonx_get(t, "messages");
	if (!msgs || !json_object_is_type(msgs, json_type_array) ||
	    json_object_array_length(msgs) == 0)
		return errmsg_set(e, -EINVAL, "\"messages\" must be a non-empty array");
	if (!jsonx_is_int(jsonx_get(t, "max_tokens")))
		return errmsg_set(
		        e, -EINVAL,
		        "\"max_tokens\" must be an integer (the Messages API requires it)");
	stream = jsonx_get(t, "stream");
	if (stream && !json_object_is_type(stream, json_type_boolean))
		return errmsg_set(e, -EINVAL, "\"stream\" must be a boolean");

	b->model = strdup(model);
	buf_printf(&b->prefix, "M:%s\n", model);
	/* Changing these invalidates the messages-level cache: part of the version. */
	if (jsonx_get(t, "tool_choice")) {
		adapter_prefix_put(&b->prefix, "C:", jsonx_get(t, "tool_choice"));
	}
	if (jsonx_get(t, "thinking")) {
		adapter_prefix_put(&b->prefix, "K:", jsonx_get(t, "thinking"));
	}
	r = scan_template(t, b, &scan, e);
	adapter_prefix_hash_free(&scan.hash);
	if (r < 0)
		return r;
	b->prefix_tokens_est = (long)(b->prefix.len / 4);

	b->ttl_s = scan.last_ttl;
	b->min_cacheable = anthropic_min_cacheable(o->family ? o->family : model);
	mt = choose_max_tokens(t, ct, scan.last_section, b, &why);
	if (mt < 0)
		return 0; /* b->unwarmable says why; no body */
	json_object_object_add(t, "max_tokens", json_object_new_int(mt));
	b->max_tokens = mt;
	{
		char what[96];
		snprintf(what, sizeof(what), "max_tokens %d%s%s%s", mt, why ? " (" : "",
		         why ? why : "", why ? ")" : "");
		note(b, what);
	}
	if (stream && json_object_get_boolean(stream)) {
		json_object_object_add(t, "stream", json_object_new_boolean(0));
		note(b, "stream false");
	}
	last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
	role = jsonx_get_str(last, "role");
	ends_with_user = role && strcmp(role, "user") == 0;
	if (!ends_with_user) {
		if (scan.automatic) {
			r = pin_automatic_marker(t, msgs, e);
			if (r < 0) {
				text_copy(b->unwarmable, sizeof(b->unwarmable), e->text);
				return 0;
			}
			note(b, "automatic breakpoint pinned to the last block");
		}
		append_user_turn(msgs);
		note(b, "appended a user turn");
	}
	adapter_set_body(b, t);
	return 0;
}

static int anthropic_build(json_object *t, const struct adapter_target *ct, struct warm_build *b,
                           struct errmsg *e)
{
	static const struct anthropic_options messages_api = { 0 };
	int r = anthropic_build_body(t, ct, &messages_api, b, e);

	if (r < 0)
		return r;
	b->path = xstrdup("/v1/messages");
	b->endpoint = ENDPOINT_MESSAGES;
	return 0;
}

static int anthropic_headers(const char *key, struct adapter_header *h)
{
	int n = 0;

	h[n++] = (struct adapter_header){ "content-type", NULL, "application/json" };
	h[n++] = (struct adapter_header){ "anthropic-version", NULL, ANTHROPIC_VERSION };
	if (key)
		h[n++] = (struct adapter_header){ "x-api-key", NULL, key };
	return n;
}

int anthropic_parse_ok(const char *body, size_t len, struct warm_usage *u, struct errmsg *e)
{
	static const struct adapter_usage_fields fields = {
		"usage",
		{ "cache_read_input_tokens", "cache_creation_input_tokens", "input_tokens",
		  "output_tokens" },
		{ "usage.cache_read_input_tokens", "usage.cache_creation_input_tokens",
		  "usage.input_tokens", "usage.output_tokens" },
	};
	bool any;
	int r;

	if ((r = adapter_usage_read(body, len, &fields, u, &any, e)) < 0)
		return r;
	/* A write means the cache was cold at (part of) the prefix. */
	u->result = u->write > 0 ? WARM_WRITE : u->read > 0 ? WARM_HIT : WARM_NONE;
	return 0;
}

void anthropic_parse_error(long status, const char *body, size_t len, struct errmsg *e)
{
	static const char *const type_keys[] = { "type", NULL };

	adapter_error_from_body(status, body, len, type_keys, e);
}

const struct adapter_ops adapter_anthropic_ops = {
	.kind = PROVIDER_ANTHROPIC,
	.key_required = true,
	.breakpoints = true,
	.build = anthropic_build,
	.headers = anthropic_headers,
	.parse_ok = anthropic_parse_ok,
	.parse_error = anthropic_parse_error,
};

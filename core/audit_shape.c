/* audit_shape: reads a template the way its provider caches it: the cached
 * prefix as a list of elements, the tools, and the fingerprint each version
 * keeps for comparing the next one.
 *
 * The audit walks the cached prefix in the order the provider serialises it.
 * Anthropic: tools, system, then message content blocks, up to the last
 * block carrying cache_control (all of it with a top-level cache_control:
 * automatic caching); Bedrock InvokeModel bodies are Anthropic's. Bedrock
 * Converse: toolConfig.tools, system, then message content blocks, up to the
 * last cachePoint block. OpenAI: messages (chat) or instructions and input
 * items (responses), then tools; there is no explicit breakpoint, so the
 * prefix is everything but a final user turn, the part that varies per
 * request. */
#include "audit_shape.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters.h"
#include "jsonx.h"
#include "xalloc.h"

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

/* A finalizer, so that summing per-name hashes (order-free) stays well mixed. */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* ---- the cached prefix --------------------------------------------------------------- */

#define NO_INDEX ((size_t)-1)

/* Appends element v; its path is base, or base[idx]. */
static void push(struct shape *s, json_object *v, enum elem_kind k, const char *field,
                 const char *base, size_t idx)
{
	struct elem *e;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 32;
		s->e = xreallocarray(s->e, s->cap, sizeof(*s->e));
	}
	e = &s->e[s->n++];
	*e = (struct elem){ .v = v, .kind = k, .field = field };
	if (idx == NO_INDEX)
		snprintf(e->path, sizeof(e->path), "%s", base);
	else
		snprintf(e->path, sizeof(e->path), "%s[%zu]", base, idx);
}

/* A marker on the block, or on a block of a tool_result's content. */
static bool block_marked(json_object *b)
{
	json_object *inner = jsonx_get(b, "content");

	if (jsonx_get(b, "cache_control"))
		return true;
	for (size_t i = 0;
	     json_object_is_type(inner, json_type_array) && i < json_object_array_length(inner);
	     i++)
		if (jsonx_get(json_object_array_get_idx(inner, i), "cache_control"))
			return true;
	return false;
}

/* Pushes the blocks of an array (or one string) named base, and moves *bp
 * past each marked one. */
static void push_blocks(struct shape *s, json_object *v, const char *field, const char *base,
                        size_t *bp)
{
	if (json_object_is_type(v, json_type_string)) {
		push(s, v, EK_STRING, field, base, NO_INDEX);
		return;
	}
	for (size_t j = 0;
	     json_object_is_type(v, json_type_array) && j < json_object_array_length(v); j++) {
		json_object *b = json_object_array_get_idx(v, j);
		push(s, b, EK_BLOCK, field, base, j);
		if (block_marked(b))
			*bp = s->n;
	}
}

static void shape_anthropic(struct shape *s)
{
	json_object *tools = jsonx_get(s->doc, "tools"), *msgs = jsonx_get(s->doc, "messages");
	char base[48];
	size_t bp = 0;

	for (size_t i = 0;
	     json_object_is_type(tools, json_type_array) && i < json_object_array_length(tools);
	     i++) {
		json_object *tool = json_object_array_get_idx(tools, i);
		push(s, tool, EK_TOOL, "tools", "tools", i);
		if (jsonx_get(tool, "cache_control"))
			bp = s->n;
	}
	push_blocks(s, jsonx_get(s->doc, "system"), "system", "system", &bp);
	for (size_t i = 0;
	     json_object_is_type(msgs, json_type_array) && i < json_object_array_length(msgs);
	     i++) {
		snprintf(base, sizeof(base), "messages[%zu].content", i);
		push_blocks(s, jsonx_get(json_object_array_get_idx(msgs, i), "content"), "messages",
		            base, &bp);
	}
	/* Automatic caching marks the last block; without any marker nothing is
	 * cached at all (template loading reports that), so audit everything. */
	s->nprefix = jsonx_get(s->doc, "cache_control") || bp == 0 ? s->n : bp;
}

/* A Bedrock body that is not InvokeModel's (Anthropic's) is Converse's, as
 * the bedrock adapter tells them apart. */
static bool is_converse(enum provider_kind kind, json_object *doc)
{
	return kind == PROVIDER_BEDROCK && !jsonx_get(doc, "anthropic_version") &&
	       !jsonx_get(doc, "max_tokens");
}

/* Converse blocks: a text block's text is prompt text, other blocks
 * (images, tool uses and results) replayed data; a cachePoint block ends
 * the prefix at the block before it. */
static void push_converse_blocks(struct shape *s, json_object *v, const char *field,
                                 const char *base, size_t *bp)
{
	char path[48];

	for (size_t j = 0;
	     json_object_is_type(v, json_type_array) && j < json_object_array_length(v); j++) {
		json_object *b = json_object_array_get_idx(v, j), *text = jsonx_get(b, "text");
		if (jsonx_get(b, "cachePoint")) {
			*bp = s->n;
			continue;
		}
		snprintf(path, sizeof(path), "%s[%zu]", base, j);
		if (json_object_is_type(text, json_type_string)) {
			snprintf(path + strlen(path), sizeof(path) - strlen(path), ".text");
			push(s, text, EK_STRING, field, path, NO_INDEX);
		} else {
			push(s, b, EK_BLOCK, field, path, NO_INDEX);
		}
	}
}

static void shape_converse(struct shape *s)
{
	json_object *tools = jsonx_get(jsonx_get(s->doc, "toolConfig"), "tools");
	json_object *msgs = jsonx_get(s->doc, "messages");
	char base[48];
	size_t bp = 0;

	for (size_t i = 0;
	     json_object_is_type(tools, json_type_array) && i < json_object_array_length(tools);
	     i++) {
		json_object *tool = json_object_array_get_idx(tools, i);
		if (jsonx_get(tool, "cachePoint"))
			bp = s->n;
		else
			push(s, tool, EK_TOOL, "tools", "toolConfig.tools", i);
	}
	push_converse_blocks(s, jsonx_get(s->doc, "system"), "system", "system", &bp);
	for (size_t i = 0;
	     json_object_is_type(msgs, json_type_array) && i < json_object_array_length(msgs);
	     i++) {
		snprintf(base, sizeof(base), "messages[%zu].content", i);
		push_converse_blocks(s, jsonx_get(json_object_array_get_idx(msgs, i), "content"),
		                     "messages", base, &bp);
	}
	/* Without any cache point nothing is cached (template loading reports
	 * that), so audit everything. */
	s->nprefix = bp == 0 ? s->n : bp;
}

static bool is_user_turn(json_object *m)
{
	const char *role = jsonx_get_str(m, "role"), *type = jsonx_get_str(m, "type");

	return role && strcmp(role, "user") == 0 && (!type || strcmp(type, "message") == 0);
}

/* OpenAI: messages or instructions + input, then tools; the prefix is all of
 * it but a final user turn (the part that varies per request). */
static void shape_openai(struct shape *s)
{
	json_object *tools = jsonx_get(s->doc, "tools"), *instr = jsonx_get(s->doc, "instructions");
	json_object *items = jsonx_get(s->doc, "messages");
	const char *field = "messages";
	size_t n, end;

	if (!items) {
		items = jsonx_get(s->doc, "input");
		field = "input";
	}
	if (json_object_is_type(instr, json_type_string))
		push(s, instr, EK_STRING, "instructions", "instructions", NO_INDEX);
	if (json_object_is_type(items, json_type_string))
		push(s, items, EK_STRING, field, "input", NO_INDEX);
	n = json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 0;
	end = n > 1 && is_user_turn(json_object_array_get_idx(items, n - 1)) ? n - 1 : n;
	for (size_t i = 0; i < end; i++)
		push(s, json_object_array_get_idx(items, i), EK_MESSAGE, field, field, i);
	for (size_t i = 0;
	     json_object_is_type(tools, json_type_array) && i < json_object_array_length(tools);
	     i++)
		push(s, json_object_array_get_idx(tools, i), EK_TOOL, "tools", "tools", i);
	s->nprefix = s->n;
}

/* The text parts of a Gemini Content ({parts: [{text}...]}) at base. */
static void push_parts(struct shape *s, json_object *content, const char *field, const char *base)
{
	json_object *parts = jsonx_get(content, "parts");
	char path[48];

	for (size_t j = 0;
	     json_object_is_type(parts, json_type_array) && j < json_object_array_length(parts);
	     j++) {
		json_object *text = jsonx_get(json_object_array_get_idx(parts, j), "text");
		if (!json_object_is_type(text, json_type_string))
			continue;
		snprintf(path, sizeof(path), "%s.parts[%zu].text", base, j);
		push(s, text, EK_STRING, field, path, NO_INDEX);
	}
}

/* Gemini: tools' function declarations, the system instruction, then the
 * turns; the prefix is all of it but a final user turn of a
 * generateContent body (a cachedContents body, which names its model, is
 * all prefix). */
static void shape_gemini(struct shape *s)
{
	json_object *tools = jsonx_get(s->doc, "tools"), *turns = jsonx_get(s->doc, "contents");
	char base[64]; /* an element's path is cut at 47 bytes, as others' */
	size_t n, end;

	for (size_t i = 0;
	     json_object_is_type(tools, json_type_array) && i < json_object_array_length(tools);
	     i++) {
		json_object *decls =
		        jsonx_get(json_object_array_get_idx(tools, i), "functionDeclarations");
		for (size_t j = 0; json_object_is_type(decls, json_type_array) &&
		                   j < json_object_array_length(decls);
		     j++) {
			snprintf(base, sizeof(base), "tools[%zu].functionDeclarations", i);
			push(s, json_object_array_get_idx(decls, j), EK_TOOL, "tools", base, j);
		}
	}
	push_parts(s, jsonx_get(s->doc, "systemInstruction"), "systemInstruction",
	           "systemInstruction");
	n = json_object_is_type(turns, json_type_array) ? json_object_array_length(turns) : 0;
	end = n;
	if (!jsonx_get(s->doc, "model") && n > 0) {
		const char *role = jsonx_get_str(json_object_array_get_idx(turns, n - 1), "role");
		if (!role || strcmp(role, "model") != 0)
			end = n - 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (i == end)
			s->nprefix = s->n;
		snprintf(base, sizeof(base), "contents[%zu]", i);
		push_parts(s, json_object_array_get_idx(turns, i), "contents", base);
	}
	if (end == n)
		s->nprefix = s->n;
}

void audit_shape_free(struct shape *s)
{
	json_object_put(s->doc);
	free(s->e);
	memset(s, 0, sizeof(*s));
}

/* Parses body into s. -EINVAL: no body or not a JSON object (s is then
 * empty, doc NULL). */
int audit_shape_parse(const char *body, size_t len, enum provider_kind kind, struct shape *s)
{
	struct errmsg e;

	memset(s, 0, sizeof(*s));
	if (!body || !len || jsonx_parse(body, len, JSONX_MAX_DEPTH, &s->doc, &e) < 0)
		return -EINVAL;
	if (!json_object_is_type(s->doc, json_type_object)) {
		audit_shape_free(s);
		return -EINVAL;
	}
	if (is_converse(kind, s->doc))
		shape_converse(s);
	else if (adapter_kind_breakpoints(kind))
		shape_anthropic(s);
	else if (kind == PROVIDER_GEMINI)
		shape_gemini(s);
	else
		shape_openai(s);
	return 0;
}

/* ---- tools -------------------------------------------------------------------------- */

/* Chat wraps the name in "function", Converse in "toolSpec"; built-in tools
 * may only have a type. */
static const char *tool_name(json_object *tool)
{
	const char *n = jsonx_get_str(jsonx_get(tool, "function"), "name");

	if (!n)
		n = jsonx_get_str(jsonx_get(tool, "toolSpec"), "name");
	if (!n)
		n = jsonx_get_str(tool, "name");
	if (!n)
		n = jsonx_get_str(tool, "type");
	return n ? n : "";
}

/* The tools: "tools", or Converse's toolConfig.tools (whose cachePoint
 * entries are not tools). */
static json_object *tool_list(const struct shape *s)
{
	json_object *tools = jsonx_get(s->doc, "tools");

	if (!tools)
		tools = jsonx_get(jsonx_get(s->doc, "toolConfig"), "tools");
	return json_object_is_type(tools, json_type_array) ? tools : NULL;
}

size_t audit_tool_count(const struct shape *s)
{
	json_object *tools = tool_list(s);
	size_t n = 0;

	for (size_t i = 0; tools && i < json_object_array_length(tools); i++)
		n += !jsonx_get(json_object_array_get_idx(tools, i), "cachePoint");
	return n;
}

const char *audit_tool_at(const struct shape *s, size_t i)
{
	json_object *tools = tool_list(s);

	for (size_t k = 0; tools && k < json_object_array_length(tools); k++) {
		json_object *tool = json_object_array_get_idx(tools, k);
		if (jsonx_get(tool, "cachePoint"))
			continue;
		if (i-- == 0)
			return tool_name(tool);
	}
	return "";
}

/* ---- fingerprint -------------------------------------------------------------------- */

static const char *const anthropic_fields[] = { "model",  "tool_choice", "thinking", "tools",
	                                        "system", "messages",    NULL };
static const char *const converse_fields[] = { "tools", "additionalModelRequestFields", "system",
	                                       "messages", NULL };
static const char *const openai_fields[] = { "model",    "instructions",
	                                     "tools",    "response_format",
	                                     "text",     "prompt_cache_key",
	                                     "messages", NULL };

static const char *const gemini_fields[] = { "model",      "systemInstruction", "tools",
	                                     "toolConfig", "contents",          NULL };

static bool is_elem_field(const char *f)
{
	return strcmp(f, "tools") == 0 || strcmp(f, "system") == 0 || strcmp(f, "messages") == 0 ||
	       strcmp(f, "instructions") == 0 || strcmp(f, "systemInstruction") == 0 ||
	       strcmp(f, "contents") == 0;
}

/* Hashes field f: its elements inside the prefix, or its whole value. */
static bool field_hash(const struct shape *s, const char *f, uint64_t *ret)
{
	uint64_t h = FNV_INIT;
	bool any = false;
	size_t len;
	const char *dump;

	if (!is_elem_field(f)) {
		json_object *v = jsonx_get(s->doc, f);
		if (!v)
			return false;
		dump = jsonx_dump(v, &len);
		*ret = fnv(h, dump, len);
		return true;
	}
	for (size_t i = 0; i < s->nprefix; i++) {
		const char *ef = s->e[i].field;
		/* responses input counts as "messages": the same role in the prompt */
		if (strcmp(ef, f) != 0 && !(strcmp(f, "messages") == 0 && strcmp(ef, "input") == 0))
			continue;
		h = fnv(h, s->e[i].path, strlen(s->e[i].path));
		dump = jsonx_dump(s->e[i].v, &len);
		h = fnv(h, dump, len);
		any = true;
	}
	*ret = h;
	return any;
}

static void fp_tools(const struct shape *s, struct audit_fp *fp)
{
	size_t n = audit_tool_count(s);

	fp->ntools = n > UINT16_MAX ? UINT16_MAX : (uint16_t)n;
	fp->tools_order = FNV_INIT;
	for (size_t i = 0; i < n; i++) {
		const char *name = audit_tool_at(s, i);
		uint64_t h = fnv(FNV_INIT, name, strlen(name));
		fp->tools_order = fnv(fp->tools_order, name, strlen(name) + 1);
		fp->tools_set += mix(h);
		if (i < AUDIT_FP_TOOLS)
			fp->tool[i] = h;
	}
}

void audit_fp_from_shape(const struct shape *s, enum provider_kind kind, struct audit_fp *fp)
{
	const char *const *names = is_converse(kind, s->doc)        ? converse_fields
	                           : kind == PROVIDER_GEMINI        ? gemini_fields
	                           : adapter_kind_breakpoints(kind) ? anthropic_fields
	                                                            : openai_fields;

	memset(fp, 0, sizeof(*fp));
	fp->valid = true;
	fp_tools(s, fp);
	for (const char *const *f = names; *f && fp->nfields < AUDIT_FP_FIELDS; f++) {
		uint64_t h;
		if (!field_hash(s, *f, &h))
			continue;
		text_copy(fp->field[fp->nfields].name, AUDIT_FP_NAME, *f);
		fp->field[fp->nfields++].hash = h;
	}
}

/* check_audit: the caching audit (core/audit.c): each check on realistic
 * Anthropic and OpenAI templates (tests/fixtures/fidelity, contract), the
 * score and grade arithmetic, the action plan, the readiness checklist and
 * the static subset --check-config prints. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "bounds.h"
#include "jsonx.h"
#include "pricing.h"
#include "testutil.h"

#define NOW        1764493200.0 /* 2025-11-30 09:00:00 UTC */
#define AGENT      "fidelity/anthropic_agent_tools_system.json"
#define CHAT       "fidelity/openai_chat_tool_calls.json"
#define RESPONSES  "fidelity/openai_responses_function_call.json"
#define IMAGES     "contract/chat_image_url_parts.json"
#define TIMESTAMP  "2026-11-30T09:00:00Z"
#define CLOCK_LINE "Current time: " TIMESTAMP "\n"

/* $3 / MTok input, as the shipped table prices claude-sonnet-4-5 (pico-USD per token). */
static struct price sonnet = { .model = (char *)"claude-sonnet-4-5",
	                       .input = 3000000,
	                       .cache_write = 3750000,
	                       .cache_write_1h = 6000000,
	                       .cache_read = 300000,
	                       .output = 15000000,
	                       .has_write_1h = true };

/* ---- templates ---------------------------------------------------------------------- */

static json_object *load(const char *rel)
{
	char path[512];
	size_t len;
	char *text;
	json_object *o = NULL;
	struct errmsg e;

	snprintf(path, sizeof(path), "%s/%s", TEST_FIXTURES, rel);
	text = tu_read(path, &len);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	ck_assert_int_eq(jsonx_parse(text, len, JSONX_MAX_DEPTH, &o, &e), 0);
	free(text);
	return o;
}

/* The compact JSON of o (malloc'd); o is released. */
static char *dump_put(json_object *o)
{
	size_t len;
	char *s = strdup(jsonx_dump(o, &len));

	json_object_put(o);
	ck_assert_ptr_nonnull(s);
	return s;
}

static json_object *at(json_object *o, const char *key, int idx)
{
	json_object *v = jsonx_get(o, key);

	if (idx >= 0)
		v = json_object_array_get_idx(v, (size_t)idx);
	ck_assert_msg(v != NULL, "no %s[%d]", key, idx);
	return v;
}

/* Sets o[key] = pre + o[key] + post (a string). */
static void edit_text(json_object *o, const char *key, const char *pre, const char *post)
{
	const char *old = jsonx_get_str(o, key);
	char *s = NULL;

	ck_assert_ptr_nonnull(old);
	ck_assert_int_ge(asprintf(&s, "%s%s%s", pre, old, post), 0);
	json_object_object_add(o, key, json_object_new_string(s));
	free(s);
}

static void mark(json_object *block)
{
	json_object *cc = json_object_new_object();

	json_object_object_add(cc, "type", json_object_new_string("ephemeral"));
	json_object_object_add(block, "cache_control", cc);
}

static int tool_cmp(const void *x, const void *y)
{
	json_object *a = *(json_object *const *)x, *b = *(json_object *const *)y;
	const char *na = jsonx_get_str(a, "name"), *nb = jsonx_get_str(b, "name");

	if (!na)
		na = jsonx_get_str(jsonx_get(a, "function"), "name");
	if (!nb)
		nb = jsonx_get_str(jsonx_get(b, "function"), "name");
	return strcmp(na, nb);
}

static void sort_tools(json_object *doc)
{
	json_object *tools = jsonx_get(doc, "tools");

	json_object_array_sort(tools, tool_cmp);
}

/* A small Anthropic template: system text (breakpoint on it) and one user turn. */
static char *small_anthropic(const char *system, const char *tools_json)
{
	json_object *doc = json_object_new_object(), *sys = json_object_new_array();
	json_object *blk = json_object_new_object(), *msgs = json_object_new_array();
	json_object *m = json_object_new_object();
	struct errmsg e;

	json_object_object_add(doc, "model", json_object_new_string("claude-sonnet-4-5"));
	json_object_object_add(doc, "max_tokens", json_object_new_int(1024));
	if (tools_json) {
		json_object *tools = NULL;
		ck_assert_int_eq(jsonx_parse(tools_json, strlen(tools_json), 64, &tools, &e), 0);
		json_object_object_add(doc, "tools", tools);
	}
	json_object_object_add(blk, "type", json_object_new_string("text"));
	json_object_object_add(blk, "text", json_object_new_string(system));
	mark(blk);
	json_object_array_add(sys, blk);
	json_object_object_add(doc, "system", sys);
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", json_object_new_string("Where is my order?"));
	json_object_array_add(msgs, m);
	json_object_object_add(doc, "messages", msgs);
	return dump_put(doc);
}

#define STATIC_SYSTEM                                                                              \
	"You are Aria, the support assistant of Northwind Outfitters. Answer in under 180 "        \
	"words, in the customer's language, and never promise refunds above $250."

#define SORTED_TOOLS                                                                               \
	"[{\"name\":\"get_order\",\"description\":\"Look up an order\","                           \
	"\"input_schema\":{\"type\":\"object\"}},{\"name\":\"search_kb\",\"description\":"         \
	"\"Search the help center\",\"input_schema\":{\"type\":\"object\"}}]"
#define UNSORTED_TOOLS                                                                             \
	"[{\"name\":\"search_kb\",\"description\":\"Search the help center\","                     \
	"\"input_schema\":{\"type\":\"object\"}},{\"name\":\"get_order\",\"description\":"         \
	"\"Look up an order\",\"input_schema\":{\"type\":\"object\"}}]"

/* ---- targets and reports ------------------------------------------------------------ */

static struct audit_target anthropic_target(const char *name, const char *body)
{
	return (struct audit_target){ .name = name,
		                      .provider = "anthropic",
		                      .kind = PROVIDER_ANTHROPIC,
		                      .body = body,
		                      .body_len = body ? strlen(body) : 0,
		                      .model = "claude-sonnet-4-5-20250929",
		                      .prefix_tokens_est = 5000,
		                      .min_cacheable = 1024,
		                      .ttl_s = 300,
		                      .policy = POLICY_ALWAYS };
}

static struct audit_target openai_target(const char *name, const char *body)
{
	struct audit_target t = anthropic_target(name, body);

	t.provider = "openai";
	t.kind = PROVIDER_OPENAI;
	t.model = "gpt-4.1";
	t.min_cacheable = 0;
	return t;
}

static json_object *run(const struct audit_target *t, size_t n, const char *only)
{
	json_object *r = audit_run(t, n, NOW, only);

	ck_assert_ptr_nonnull(r);
	if (getenv("AUDIT_DUMP"))
		fprintf(stderr, "%s\n",
		        json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY |
		                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
	return r;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The first finding of check for target (NULL: provider-wide), or NULL. */
static json_object *find(json_object *rep, const char *target, const char *check)
{
	json_object *f = jsonx_get(rep, "findings");

	for (size_t i = 0; i < json_object_array_length(f); i++) {
		json_object *x = json_object_array_get_idx(f, i);
		if (same(jsonx_get_str(x, "target"), target) &&
		    strcmp(jsonx_get_str(x, "check"), check) == 0)
			return x;
	}
	return NULL;
}

static int count(json_object *rep, const char *check)
{
	json_object *f = jsonx_get(rep, "findings");
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(f); i++)
		n += strcmp(jsonx_get_str(json_object_array_get_idx(f, i), "check"), check) == 0;
	return n;
}

static void assert_has(json_object *f, const char *key, const char *needle)
{
	const char *v = jsonx_get_str(f, key);

	ck_assert_msg(v && strstr(v, needle), "%s \"%s\" lacks \"%s\"", key, v ? v : "(null)",
	              needle);
}

static const char *severity(json_object *f)
{
	ck_assert_ptr_nonnull(f);
	return jsonx_get_str(f, "severity");
}

static const char *num_text(json_object *o, const char *key)
{
	json_object *v = jsonx_get(o, key);

	ck_assert_msg(v != NULL, "no %s", key);
	return json_object_to_json_string(v);
}

static const char *item_status(json_object *rep, const char *item);

/* ---- dynamic content ---------------------------------------------------------------- */

START_TEST(test_timestamp_first_100_chars_critical)
{
	json_object *doc = load(AGENT), *f, *rep;
	char *clean = dump_put(load(AGENT)), *body;
	struct audit_target t;

	edit_text(at(doc, "system", 0), "text", CLOCK_LINE, "");
	body = dump_put(doc);
	t = anthropic_target("agent", body);
	rep = run(&t, 1, NULL);
	f = find(rep, "agent", "dynamic-content");
	ck_assert_str_eq(severity(f), "critical");
	ck_assert_int_eq(count(rep, "dynamic-content"), 1);
	assert_has(f, "title", "ISO 8601 timestamp");
	assert_has(f, "description", TIMESTAMP);
	assert_has(f, "description", "system[0].text, character 14 of that text");
	assert_has(f, "category", "prompt design");
	ck_assert_ptr_nonnull(jsonx_get_str(f, "recommendation"));
	ck_assert_ptr_nonnull(jsonx_get_str(f, "effort"));
	json_object_put(rep);

	/* the fixture as shipped has nothing dynamic before its breakpoint */
	t = anthropic_target("agent", clean);
	rep = run(&t, 1, NULL);
	ck_assert_ptr_null(find(rep, "agent", "dynamic-content"));
	json_object_put(rep);
	free(body);
	free(clean);
}
END_TEST

START_TEST(test_timestamp_openai_critical)
{
	json_object *doc = load(CHAT), *f, *rep;
	char *chat, *resp;
	struct audit_target t[2];

	edit_text(at(doc, "messages", 0), "content", CLOCK_LINE, "");
	chat = dump_put(doc);
	doc = load(RESPONSES);
	edit_text(doc, "instructions", "Today is Monday, November 30, 2026. ", "");
	resp = dump_put(doc);
	t[0] = openai_target("chat", chat);
	t[1] = openai_target("resp", resp);
	rep = run(t, 2, NULL);
	f = find(rep, "chat", "dynamic-content");
	ck_assert_str_eq(severity(f), "critical");
	assert_has(f, "description", "messages[0].content, character 14");
	f = find(rep, "resp", "dynamic-content");
	ck_assert_str_eq(severity(f), "critical");
	assert_has(f, "description", "\"Monday, November 30, 2026\" at instructions, character 9");
	json_object_put(rep);
	free(chat);
	free(resp);
}
END_TEST

/* OpenAI has no breakpoint: the prefix is all but a final user turn, and
 * only message text counts (not reasoning items or tool calls). */
START_TEST(test_openai_prefix)
{
	json_object *doc = load(RESPONSES), *rep, *f, *reply;
	char *resp, *last_user, *not_last;
	struct audit_target t;

	edit_text(at(at(doc, "input", 1), "content", 0), "text", "", " (session id: 7f3a9c2b11)");
	resp = dump_put(doc);
	t = openai_target("resp", resp);
	rep = run(&t, 1, NULL);
	f = find(rep, "resp", "dynamic-content");
	ck_assert_str_eq(severity(f), "high");
	assert_has(f, "description", "input[1].content[0].text");
	json_object_put(rep);

	doc = load(IMAGES);
	edit_text(at(at(doc, "messages", 1), "content", 0), "text", "", " Sent " TIMESTAMP);
	last_user = dump_put(json_object_get(doc));
	reply = json_object_new_object();
	json_object_object_add(reply, "role", json_object_new_string("assistant"));
	json_object_object_add(reply, "content", json_object_new_string("Thanks, looking."));
	json_object_array_add(jsonx_get(doc, "messages"), reply);
	not_last = dump_put(doc);
	t = openai_target("img", last_user);
	rep = run(&t, 1, NULL);
	ck_assert_int_eq(count(rep, "dynamic-content"), 0); /* the request's own turn */
	json_object_put(rep);
	t = openai_target("img", not_last);
	rep = run(&t, 1, NULL);
	assert_has(find(rep, "img", "dynamic-content"), "description",
	           "messages[1].content[0].text");
	json_object_put(rep);
	free(resp);
	free(last_user);
	free(not_last);
}
END_TEST

START_TEST(test_timestamp_after_breakpoint_ignored)
{
	json_object *doc = load(AGENT), *rep, *f;
	char *after, *before;
	struct audit_target t;

	/* messages[3] comes after the breakpoint on system[1]: not cached */
	edit_text(at(at(doc, "messages", 3), "content", 0), "text", "",
	          " Logged at " TIMESTAMP ".");
	after = dump_put(json_object_get(doc));
	/* the same block carrying a breakpoint: now it is inside the prefix, deep */
	mark(at(at(doc, "messages", 3), "content", 0));
	before = dump_put(doc);

	t = anthropic_target("agent", after);
	rep = run(&t, 1, NULL);
	ck_assert_int_eq(count(rep, "dynamic-content"), 0);
	json_object_put(rep);

	t = anthropic_target("agent", before);
	rep = run(&t, 1, NULL);
	f = find(rep, "agent", "dynamic-content");
	ck_assert_str_eq(severity(f), "high");
	assert_has(f, "description", "messages[3].content[0].text");
	json_object_put(rep);
	free(after);
	free(before);
}
END_TEST

START_TEST(test_uuid_in_system)
{
	json_object *doc = load(AGENT), *rep, *f;
	char *body;
	struct audit_target t;

	edit_text(at(doc, "system", 1), "text", "",
	          "\nWorkspace: 3f2b8c1e-9a4d-4e2b-8f1a-6c5d4e3b2a10");
	body = dump_put(doc);
	t = anthropic_target("agent", body);
	rep = run(&t, 1, NULL);
	f = find(rep, "agent", "dynamic-content");
	ck_assert_str_eq(severity(f), "high"); /* deep in the system prompt */
	assert_has(f, "title", "UUID");
	assert_has(f, "description", "3f2b8c1e-9a4d-4e2b-8f1a-6c5d4e3b2a10");
	assert_has(f, "description", "system[1].text");
	json_object_put(rep);
	free(body);
}
END_TEST

/* Bedrock bodies: InvokeModel's are audited as Anthropic's, Converse's up
 * to their last cachePoint (text blocks are prompt text, toolSpec
 * descriptions too). */
START_TEST(test_bedrock_bodies)
{
	static const char invoke[] =
	        "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":100,"
	        "\"system\":[{\"type\":\"text\",\"text\":\"Now: 2026-11-30T09:41:07Z.\","
	        "\"cache_control\":{\"type\":\"ephemeral\"}}],"
	        "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
	static const char converse[] =
	        "{\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"b_tool\","
	        "\"description\":\"Session ID: 8f3a2c91d4\",\"inputSchema\":{\"json\":{}}}},"
	        "{\"toolSpec\":{\"name\":\"a_tool\",\"inputSchema\":{\"json\":{}}}},"
	        "{\"cachePoint\":{\"type\":\"default\"}}]},"
	        "\"system\":[{\"text\":\"Now: 2026-11-30T09:41:07Z.\"},"
	        "{\"cachePoint\":{\"type\":\"default\"}}],"
	        "\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"At "
	        "2026-11-30T09:41:07Z\"}]}]}";
	struct audit_target t[2] = { anthropic_target("inv", invoke),
		                     anthropic_target("conv", converse) };
	struct audit_fp a;
	json_object *rep, *f;

	for (int i = 0; i < 2; i++) {
		t[i].provider = "bedrock";
		t[i].kind = PROVIDER_BEDROCK;
		t[i].model = "anthropic.claude-sonnet-4-5-20250929-v1:0";
	}
	rep = run(t, 2, NULL);
	f = find(rep, "inv", "dynamic-content");
	ck_assert_str_eq(severity(f), "critical");
	assert_has(f, "description", "system[0].text");
	/* In cache order: the tools, then the system text; not the question
	 * after the last cache point. */
	f = find(rep, "conv", "dynamic-content");
	assert_has(f, "description", "at toolConfig.tools[0].toolSpec.description, character 0");
	assert_has(f, "description", "Also: system[0].text (ISO 8601 timestamp");
	ck_assert(strstr(jsonx_get_str(f, "description"), "messages[") == NULL);
	ck_assert_int_eq(count(rep, "dynamic-content"), 2);
	json_object_put(rep);
	/* The system text is in the fingerprint, the text after the last
	 * cache point is not; the tools are Converse's. */
	ck_assert_int_eq(audit_fingerprint(converse, strlen(converse), PROVIDER_BEDROCK, &a), 0);
	ck_assert_uint_eq(a.ntools, 2);
	ck_assert_uint_eq(a.nfields, 2); /* tools, system: no message is in the prefix */
	ck_assert_str_eq(a.field[0].name, "tools");
}
END_TEST

/* Each line at the top of a system prompt: what the audit must call it
 * (NULL: static text it must leave alone). */
static const struct {
	const char *text, *kind;
} dyn_cases[] = {
	{ "Today is Monday, November 30, 2026.", "date" },
	{ "Date: Mon, 30 Nov 2026 09:00:00 +0000", "RFC 2822 date" },
	{ "Report for 30 November 2026:", "date" },
	{ "Due 2026-11-30.", "ISO 8601 date" },
	{ "Local clock 09:41:07 here.", "time of day" },
	{ "Current time: 09:41", "time of day" },
	{ "Generated 1764493200 by the gateway.", "Unix timestamp" },
	{ "Session ID: 8f3a2c91d4", "request or session id" },
	{ "Trace req_01HZX8K3M9QW for support.", "request or session id" },
	{ "This is request #1234 of the day.", "counter" },
	{ "We are on turn 17.", "counter" },
	{ "Nonce a3f9c2e1b4d5f6a7b8c9d0e1f2a3b4c5.", "hex token" },
	{ "Auth dGhpcyBpcyBhIHNlY3JldCB0b2tlbjEyMzQ1Njc4OTA= ok", "base64 token" },
	{ "Follow step 1, then step 2. Orders placed before 13:00 Eastern ship today.", NULL },
	{ "Retry the request 3 times. Use claude-sonnet-4-5-20250929 or gpt-4o-mini.", NULL },
	{ "Order numbers look like NW-104233; call 555-0100; version 1.2.3.", NULL },
	{ "Use the session_management and request_routing modules.", NULL },
};

START_TEST(test_dynamic_kinds)
{
	for (size_t i = 0; i < sizeof(dyn_cases) / sizeof(dyn_cases[0]); i++) {
		char *sys = NULL, *body;
		struct audit_target t;
		json_object *rep, *f;

		ck_assert_int_ge(asprintf(&sys, "%s %s", dyn_cases[i].text, STATIC_SYSTEM), 0);
		body = small_anthropic(sys, NULL);
		t = anthropic_target("bot", body);
		rep = run(&t, 1, NULL);
		f = find(rep, "bot", "dynamic-content");
		if (!dyn_cases[i].kind) {
			ck_assert_msg(f == NULL, "\"%s\": unexpected %s", dyn_cases[i].text,
			              f ? jsonx_get_str(f, "description") : "");
		} else {
			ck_assert_msg(f != NULL, "\"%s\": not found", dyn_cases[i].text);
			ck_assert_str_eq(severity(f), "critical");
			ck_assert_msg(strncmp(jsonx_get_str(f, "title"), dyn_cases[i].kind,
			                      strlen(dyn_cases[i].kind)) == 0,
			              "\"%s\": title \"%s\", want %s", dyn_cases[i].text,
			              jsonx_get_str(f, "title"), dyn_cases[i].kind);
		}
		json_object_put(rep);
		free(body);
		free(sys);
	}
}
END_TEST

/* Realistic templates: nothing in them may be rated critical. */
START_TEST(test_fixtures_no_critical)
{
	const char *dirs[] = { "fidelity", "contract" };
	int seen = 0;

	for (size_t d = 0; d < 2; d++) {
		char path[512];
		DIR *dir;
		struct dirent *de;

		snprintf(path, sizeof(path), "%s/%s", TEST_FIXTURES, dirs[d]);
		dir = opendir(path);
		ck_assert_ptr_nonnull(dir);
		while ((de = readdir(dir))) {
			size_t n = strlen(de->d_name);
			char rel[300];
			char *body;
			struct audit_target t;
			struct audit_fp fp;
			json_object *rep, *f;

			if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0 ||
			    strstr(de->d_name, ".expect.") || strcmp(de->d_name, "cases.json") == 0)
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[d], de->d_name);
			body = dump_put(load(rel));
			t = strncmp(de->d_name, "anthropic", 9) == 0 ? anthropic_target("x", body)
			                                             : openai_target("x", body);
			ck_assert_int_eq(audit_fingerprint(body, strlen(body), t.kind, &fp), 0);
			ck_assert(fp.valid);
			rep = run(&t, 1, NULL);
			f = jsonx_get(jsonx_get(rep, "counts"), "critical");
			ck_assert_msg(json_object_get_int(f) == 0, "%s: a critical finding", rel);
			json_object_put(rep);
			free(body);
			seen++;
		}
		closedir(dir);
	}
	ck_assert_int_ge(seen, 40);
}
END_TEST

/* ---- prefix length ------------------------------------------------------------------ */

START_TEST(test_below_minimum)
{
	char *body = small_anthropic(STATIC_SYSTEM, NULL);
	struct audit_target t = anthropic_target("short", body);
	json_object *rep, *f;

	t.prefix_tokens_est = 300;
	t.min_cacheable = 1024;
	rep = run(&t, 1, NULL);
	f = find(rep, "short", "below-minimum");
	ck_assert_str_eq(severity(f), "high");
	assert_has(f, "title", "estimated");
	assert_has(f, "description", "about 300 tokens");
	assert_has(f, "description", "1024");
	json_object_put(rep);

	/* confirmed: warms came back with neither read nor write */
	t.nones = 3;
	t.warms = 3;
	rep = run(&t, 1, NULL);
	f = find(rep, "short", "below-minimum");
	ck_assert_str_eq(severity(f), "high");
	assert_has(f, "title", "confirmed");
	ck_assert_int_eq(count(rep, "below-minimum"), 1);
	json_object_put(rep);

	/* usage proves it is cached: the estimate was wrong */
	t.nones = 0;
	t.hits = 4;
	t.prefix_tokens_seen = 1536;
	rep = run(&t, 1, NULL);
	ck_assert_int_eq(count(rep, "below-minimum"), 0);
	json_object_put(rep);

	/* above the minimum: nothing; OpenAI's 1024 applies without a figure */
	t = anthropic_target("long", body);
	t.prefix_tokens_est = 2000;
	rep = run(&t, 1, NULL);
	ck_assert_int_eq(count(rep, "below-minimum"), 0);
	json_object_put(rep);
	t = openai_target("oa", body);
	t.prefix_tokens_est = 700;
	rep = run(&t, 1, NULL);
	assert_has(find(rep, "oa", "below-minimum"), "description", "1024");
	json_object_put(rep);
	free(body);
}
END_TEST

/* ---- prefix stability --------------------------------------------------------------- */

START_TEST(test_unsorted_tools)
{
	json_object *doc = load(AGENT), *rep, *f;
	char *unsorted = dump_put(json_object_get(doc)), *sorted, *chat_unsorted, *chat_sorted;
	struct audit_target t[4];

	sort_tools(doc);
	sorted = dump_put(doc);
	doc = load(CHAT);
	chat_unsorted = dump_put(json_object_get(doc));
	sort_tools(doc);
	chat_sorted = dump_put(doc);
	t[0] = anthropic_target("a-unsorted", unsorted);
	t[1] = anthropic_target("a-sorted", sorted);
	t[2] = openai_target("o-unsorted", chat_unsorted);
	t[3] = openai_target("o-sorted", chat_sorted);
	rep = run(t, 4, NULL);
	f = find(rep, "a-unsorted", "unsorted-tools");
	ck_assert_str_eq(severity(f), "medium");
	assert_has(f, "description", "\"apply_patch\" comes after \"read_file\"");
	ck_assert_str_eq(severity(find(rep, "o-unsorted", "unsorted-tools")), "medium");
	ck_assert_ptr_null(find(rep, "a-sorted", "unsorted-tools"));
	ck_assert_ptr_null(find(rep, "o-sorted", "unsorted-tools"));
	ck_assert_int_eq(count(rep, "unsorted-tools"), 2);
	json_object_put(rep);
	free(unsorted);
	free(sorted);
	free(chat_unsorted);
	free(chat_sorted);
}
END_TEST

START_TEST(test_tool_order_across_versions)
{
	char *cur = small_anthropic(STATIC_SYSTEM, SORTED_TOOLS);
	char *reordered = small_anthropic(STATIC_SYSTEM, UNSORTED_TOOLS);
	char *edited = small_anthropic(STATIC_SYSTEM " Be brief.", SORTED_TOOLS);
	struct audit_fp prev;
	struct audit_target t = anthropic_target("bot", cur);
	json_object *rep, *f;

	/* the previous version had the same tools in another order */
	ck_assert_int_eq(audit_fingerprint(reordered, strlen(reordered), t.kind, &prev), 0);
	t.prev_fp = &prev;
	rep = run(&t, 1, NULL);
	f = find(rep, "bot", "tool-order");
	ck_assert_str_eq(severity(f), "medium");
	assert_has(f, "description", "\"get_order\" is tool 1 now, was tool 2");
	ck_assert_ptr_null(find(rep, "bot", "unsorted-tools"));
	ck_assert_ptr_null(find(rep, "bot", "fields-changed")); /* a reorder, nothing else */
	json_object_put(rep);

	/* the previous version had another system prompt: fields-changed names it */
	ck_assert_int_eq(audit_fingerprint(edited, strlen(edited), t.kind, &prev), 0);
	rep = run(&t, 1, NULL);
	f = find(rep, "bot", "fields-changed");
	ck_assert_str_eq(severity(f), "medium");
	assert_has(f, "description", "differ: system.");
	ck_assert_ptr_null(find(rep, "bot", "tool-order"));
	json_object_put(rep);

	/* the same version: nothing */
	ck_assert_int_eq(audit_fingerprint(cur, strlen(cur), t.kind, &prev), 0);
	rep = run(&t, 1, NULL);
	ck_assert_ptr_null(find(rep, "bot", "fields-changed"));
	ck_assert_ptr_null(find(rep, "bot", "tool-order"));
	json_object_put(rep);
	free(cur);
	free(reordered);
	free(edited);
}
END_TEST

START_TEST(test_fingerprint)
{
	json_object *doc = load(AGENT);
	char *base = dump_put(json_object_get(doc)), *after_bp, *sys;
	struct audit_fp a, b, c;

	ck_assert_int_eq(audit_fingerprint("[1,2]", 5, PROVIDER_ANTHROPIC, &a), -EINVAL);
	ck_assert(!a.valid);
	ck_assert_int_eq(audit_fingerprint(NULL, 0, PROVIDER_OPENAI, &a), -EINVAL);
	ck_assert_int_eq(audit_fingerprint(base, strlen(base), PROVIDER_ANTHROPIC, &a), 0);
	ck_assert(a.valid);
	ck_assert_uint_eq(a.ntools, 6);
	/* the last user turn is after the breakpoint: the same fingerprint */
	json_object_object_add(at(doc, "messages", 4), "content",
	                       json_object_new_string("Now fix the time-window bug too."));
	after_bp = dump_put(json_object_get(doc));
	ck_assert_int_eq(audit_fingerprint(after_bp, strlen(after_bp), PROVIDER_ANTHROPIC, &b), 0);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	/* a system edit moves the system hash, and only that */
	edit_text(at(doc, "system", 0), "text", "", " Be concise.");
	sys = dump_put(doc);
	ck_assert_int_eq(audit_fingerprint(sys, strlen(sys), PROVIDER_ANTHROPIC, &c), 0);
	ck_assert_uint_eq(a.nfields, c.nfields);
	for (unsigned i = 0; i < a.nfields; i++)
		ck_assert_msg((a.field[i].hash != c.field[i].hash) ==
		                      (strcmp(a.field[i].name, "system") == 0),
		              "field %s", a.field[i].name);
	ck_assert(a.tools_order == c.tools_order);
	free(base);
	free(after_bp);
	free(sys);
}
END_TEST

/* Gemini bodies: the system instruction's parts and the turns before the
 * last are the prefix; a date there is flagged, a new question is not a
 * new fingerprint. */
START_TEST(test_gemini)
{
	static const char *body =
	        "{\"systemInstruction\":{\"parts\":[{\"text\":\"You help shoppers. Today is "
	        "Monday, November 30, 2026.\"}]},\"tools\":[{\"functionDeclarations\":[{\"name\":"
	        "\"lookup\"},{\"name\":\"order\"}]}],\"contents\":[{\"role\":\"user\","
	        "\"parts\":[{\"text\":\"Where is my order?\"}]}]}";
	char *other = strdup(body), *q = strstr(other, "Where is my order?");
	struct audit_fp a, b, c;
	struct audit_target t;
	json_object *rep, *f;

	ck_assert_int_eq(audit_fingerprint(body, strlen(body), PROVIDER_GEMINI, &a), 0);
	memcpy(q, "What does it cost", 17);
	ck_assert_int_eq(audit_fingerprint(other, strlen(other), PROVIDER_GEMINI, &b), 0);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	memcpy(strstr(other, "shoppers"), "Shoppers", 8);
	ck_assert_int_eq(audit_fingerprint(other, strlen(other), PROVIDER_GEMINI, &c), 0);
	ck_assert_uint_eq(a.nfields, c.nfields);
	for (unsigned i = 0; i < a.nfields; i++)
		ck_assert_msg((a.field[i].hash != c.field[i].hash) ==
		                      (strcmp(a.field[i].name, "systemInstruction") == 0),
		              "field %s", a.field[i].name);
	t = openai_target("gem", body);
	t.kind = PROVIDER_GEMINI;
	t.provider = "gemini";
	t.model = "gemini-2.5-flash";
	rep = run(&t, 1, NULL);
	f = find(rep, "gem", "dynamic-content");
	ck_assert_str_eq(severity(f), "critical");
	assert_has(f, "description", "systemInstruction.parts[0].text");
	json_object_put(rep);
	free(other);
}
END_TEST

START_TEST(test_image_detail)
{
	json_object *doc = load(IMAGES), *rep, *f;
	char *mixed = dump_put(json_object_get(doc)), *same_detail;
	struct audit_target t[2];

	json_object_object_add(at(at(at(doc, "messages", 1), "content", 2), "image_url", -1),
	                       "detail", json_object_new_string("high"));
	same_detail = dump_put(doc);
	t[0] = openai_target("mixed", mixed);
	t[1] = openai_target("same", same_detail);
	rep = run(t, 2, NULL);
	f = find(rep, "mixed", "image-detail");
	ck_assert_str_eq(severity(f), "medium");
	assert_has(f, "description", "\"high\" at messages[1].content[1]");
	assert_has(f, "description", "\"low\" at messages[1].content[2]");
	ck_assert_ptr_null(find(rep, "same", "image-detail"));
	json_object_put(rep);
	free(mixed);
	free(same_detail);
}
END_TEST

/* ---- cache keys --------------------------------------------------------------------- */

static json_object *run_keys(int n_a, const char *prov_b, int n_b, const char *only)
{
	struct audit_target t[120];
	char names[120][16], keys[120][24];
	int n = n_a + n_b;

	ck_assert_int_le(n, 120);
	for (int i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "t%03d", i);
		snprintf(keys[i], sizeof(keys[i]), "tenant-%d", i);
		t[i] = openai_target(names[i], NULL);
		t[i].cache_key = keys[i];
		if (i >= n_a)
			t[i].provider = prov_b;
	}
	return run(t, (size_t)n, only);
}

START_TEST(test_cache_keys)
{
	json_object *rep = run_keys(51, NULL, 0, NULL), *f;

	f = find(rep, NULL, "cache-keys");
	ck_assert_str_eq(severity(f), "high");
	ck_assert_str_eq(jsonx_get_str(f, "provider"), "openai");
	assert_has(f, "description", "51 distinct");
	ck_assert_int_eq(count(rep, "cache-keys"), 1);
	json_object_put(rep);

	rep = run_keys(50, NULL, 0, NULL);
	ck_assert_int_eq(count(rep, "cache-keys"), 0);
	json_object_put(rep);

	/* counted per provider: 30 + 30 is fine */
	rep = run_keys(30, "openai-eu", 30, NULL);
	ck_assert_int_eq(count(rep, "cache-keys"), 0);
	json_object_put(rep);

	/* one target's report keeps its provider's finding, and its readiness shows it */
	rep = run_keys(51, NULL, 0, "t007");
	ck_assert_ptr_nonnull(find(rep, NULL, "cache-keys"));
	ck_assert_ptr_nonnull(find(rep, "t007", "no-touches"));
	ck_assert_ptr_null(find(rep, "t008", "no-touches"));
	ck_assert_str_eq(item_status(rep, "cache keys"), "not_done");
	json_object_put(rep);
}
END_TEST

START_TEST(test_key_rate)
{
	uint32_t busy[20], calm[15], old[20];
	struct audit_target t[4];
	json_object *rep, *f;

	for (int i = 0; i < 20; i++) {
		busy[i] = (uint32_t)NOW - 120 + (uint32_t)i * 3; /* 20 in one minute */
		old[i] = (uint32_t)NOW - 7200 + (uint32_t)i * 3; /* as busy, two hours ago */
	}
	for (int i = 0; i < 15; i++)
		calm[i] = (uint32_t)NOW - 120 + (uint32_t)i * 4;
	t[0] = openai_target("busy", NULL);
	t[0].cache_key = "support-v3";
	t[0].touch_times = busy;
	t[0].ntouch = 20;
	t[1] = openai_target("calm", NULL);
	t[1].touch_times = calm;
	t[1].ntouch = 15;
	t[2] = openai_target("old", NULL);
	t[2].touch_times = old;
	t[2].ntouch = 20;
	t[3] = anthropic_target("anthropic-busy", NULL);
	t[3].touch_times = busy;
	t[3].ntouch = 20;
	rep = run(t, 4, NULL);
	f = find(rep, "busy", "key-rate");
	ck_assert_str_eq(severity(f), "high");
	assert_has(f, "description", "20 requests");
	assert_has(f, "description", "\"support-v3\"");
	ck_assert_int_eq(count(rep, "key-rate"), 1);
	json_object_put(rep);
}
END_TEST

/* ---- gaps and the TTL --------------------------------------------------------------- */

START_TEST(test_uncovered_gaps)
{
	uint32_t times[3] = { (uint32_t)NOW - 4200, (uint32_t)NOW - 3600, (uint32_t)NOW };
	struct audit_target t[3];
	json_object *rep, *f;

	for (int i = 0; i < 3; i++) {
		t[i] = anthropic_target(i == 0 ? "manual" : i == 1 ? "always" : "idle", NULL);
		t[i].touch_times = times;
		t[i].ntouch = 3;
	}
	t[0].policy = POLICY_MANUAL;
	t[2].idle_limit_s = 600; /* covers the 600 s gap, not the hour */
	rep = run(t, 3, NULL);
	f = find(rep, "manual", "uncovered-gaps");
	ck_assert_str_eq(severity(f), "medium");
	assert_has(f, "description", "2 of 2 gaps");
	assert_has(f, "description", "policy manual");
	ck_assert_ptr_null(find(rep, "always", "uncovered-gaps"));
	assert_has(find(rep, "idle", "uncovered-gaps"), "description", "1 of 2 gaps");
	json_object_put(rep);
}
END_TEST

/* The hand-computed case: a 10,000-token prefix at $3/MTok (read $0.003,
 * 5 min write $0.0375, 1 h write $0.06) and a request every 1100 s (18 min
 * 20 s), 7 requests (6 gaps).
 *   5 min: each gap needs warms at 5, 10 and 15 min, then the request reads:
 *          4 x $0.003 = $0.012 (cheaper than re-writing at $0.0375), so
 *          0.0375 + 6 x 0.012 = $0.1095
 *   1 h:   each gap fits in the TTL: one read, 0.06 + 6 x 0.003 = $0.078 */
START_TEST(test_ttl_choice)
{
	uint32_t every20[7], every1[7];
	struct audit_target t[3];
	json_object *rep, *f;

	for (int i = 0; i < 7; i++) {
		every20[i] = (uint32_t)NOW - 7200 + (uint32_t)i * 1100;
		every1[i] = (uint32_t)NOW - 420 + (uint32_t)i * 60;
	}
	for (int i = 0; i < 3; i++) {
		t[i] = anthropic_target(i == 0 ? "sparse" : i == 1 ? "busy" : "busy-1h", NULL);
		t[i].price = &sonnet;
		t[i].prefix_tokens_seen = 10000;
		t[i].hits = 10;
		t[i].touch_times = i == 0 ? every20 : every1;
		t[i].ntouch = 7;
	}
	t[2].ttl_s = 3600;
	rep = run(t, 3, NULL);
	f = find(rep, "sparse", "ttl-choice");
	ck_assert_str_eq(severity(f), "medium");
	assert_has(f, "title", "1h TTL would be cheaper");
	assert_has(f, "description", "$0.109500");
	assert_has(f, "description", "$0.078000");
	ck_assert_str_eq(num_text(f, "cost_current_usd"), "0.109500");
	ck_assert_str_eq(num_text(f, "cost_alternative_usd"), "0.078000");
	/* a request a minute: 5 min is right (0.0375 + 6 x 0.003 = $0.0555) */
	ck_assert_ptr_null(find(rep, "busy", "ttl-choice"));
	/* and for the 1 h target, 5 min would be cheaper than 0.06 + 0.018 */
	f = find(rep, "busy-1h", "ttl-choice");
	assert_has(f, "title", "5m TTL would be cheaper");
	ck_assert_str_eq(num_text(f, "cost_current_usd"), "0.078000");
	ck_assert_str_eq(num_text(f, "cost_alternative_usd"), "0.055500");
	json_object_put(rep);
}
END_TEST

/* Money at the bounds (issue 10): the largest prefix a warm can report
 * (read + write, each at most BOUNDS_MAX_TOKENS) at the largest price, over
 * a full touch history of long gaps. The sums saturate; they never wrap
 * (UBSan) or print negative. */
START_TEST(test_money_at_the_bounds)
{
	static struct price top = { .model = (char *)"claude-sonnet-4-5",
		                    .input = BOUNDS_MAX_PRICE_PICO,
		                    .cache_write = BOUNDS_MAX_PRICE_PICO,
		                    .cache_write_1h = BOUNDS_MAX_PRICE_PICO,
		                    .cache_read = BOUNDS_MAX_PRICE_PICO / 10,
		                    .output = BOUNDS_MAX_PRICE_PICO,
		                    .has_write_1h = true };
	static uint32_t times[256];
	struct audit_target t = anthropic_target("huge", NULL);
	json_object *rep, *f;

	for (unsigned i = 0; i < 256; i++)
		times[i] = (uint32_t)NOW - 256 * 7000 + i * 7000;
	t.price = &top;
	t.prefix_tokens_seen = 2 * BOUNDS_MAX_TOKENS;
	t.hits = 10;
	t.policy = POLICY_MANUAL;
	t.touch_times = times;
	t.ntouch = 256;
	rep = run(&t, 1, NULL);
	f = find(rep, "huge", "uncovered-gaps");
	ck_assert_ptr_nonnull(f);
	assert_has(f, "description", "$4000000.000000 more than reads");
	f = find(rep, "huge", "ttl-choice");
	if (f) {
		ck_assert_ptr_null(strchr(num_text(f, "cost_current_usd"), '-'));
		ck_assert_ptr_null(strchr(num_text(f, "cost_alternative_usd"), '-'));
	}
	ck_assert_ptr_null(strstr(json_object_to_json_string(rep), "$-"));
	json_object_put(rep);
}
END_TEST

/* ---- operations --------------------------------------------------------------------- */

START_TEST(test_operations)
{
	struct audit_target t[4];
	json_object *rep, *f;

	t[0] = anthropic_target("keyed", NULL);
	t[0].inline_key = true;
	t[1] = anthropic_target("thinking", NULL);
	t[1].unwarmable = "thinking is enabled with budget_tokens 8000";
	t[2] = anthropic_target("drifting", NULL);
	t[2].warms = 10;
	t[2].writes = 5;
	t[2].hits = 5;
	t[3] = anthropic_target("healthy", NULL);
	t[3].warms = 10;
	t[3].writes = 1;
	t[3].hits = 9;
	t[3].touches = 4;
	rep = run(t, 4, NULL);
	/* a provider's finding, made once however many targets use it */
	ck_assert_str_eq(severity(find(rep, NULL, "inline-key")), "high");
	ck_assert_str_eq(jsonx_get_str(find(rep, NULL, "inline-key"), "provider"), "anthropic");
	ck_assert_ptr_null(find(rep, "keyed", "inline-key"));
	f = find(rep, "thinking", "unwarmable");
	ck_assert_str_eq(severity(f), "high");
	assert_has(f, "description", "budget_tokens 8000");
	f = find(rep, "drifting", "warm-writes");
	ck_assert_str_eq(severity(f), "medium");
	assert_has(f, "description", "5 of 10 warms");
	ck_assert_ptr_null(find(rep, "healthy", "warm-writes"));
	ck_assert_str_eq(severity(find(rep, "keyed", "no-touches")), "low");
	ck_assert_ptr_null(find(rep, "healthy", "no-touches"));
	json_object_put(rep);
}
END_TEST

/* ---- score, grade, plan ------------------------------------------------------------- */

START_TEST(test_grade_boundaries)
{
	ck_assert_str_eq(audit_grade(100), "A");
	ck_assert_str_eq(audit_grade(90), "A");
	ck_assert_str_eq(audit_grade(89), "B");
	ck_assert_str_eq(audit_grade(80), "B");
	ck_assert_str_eq(audit_grade(79), "C");
	ck_assert_str_eq(audit_grade(70), "C");
	ck_assert_str_eq(audit_grade(69), "D");
	ck_assert_str_eq(audit_grade(60), "D");
	ck_assert_str_eq(audit_grade(59), "F");
	ck_assert_str_eq(audit_grade(0), "F");
	ck_assert_str_eq(audit_severity_name(AUDIT_CRITICAL), "critical");
	ck_assert_str_eq(audit_severity_name(AUDIT_LOW), "low");
}
END_TEST

START_TEST(test_score)
{
	char *body = small_anthropic(CLOCK_LINE STATIC_SYSTEM, UNSORTED_TOOLS);
	struct audit_target t = anthropic_target("bot", body), many[4];
	json_object *rep, *counts;

	/* critical (clock) + high (inline key) + medium (tools) + low (no touches) */
	t.inline_key = true;
	rep = run(&t, 1, NULL);
	counts = jsonx_get(rep, "counts");
	ck_assert_int_eq(json_object_get_int(jsonx_get(counts, "critical")), 1);
	ck_assert_int_eq(json_object_get_int(jsonx_get(counts, "high")), 1);
	ck_assert_int_eq(json_object_get_int(jsonx_get(counts, "medium")), 1);
	ck_assert_int_eq(json_object_get_int(jsonx_get(counts, "low")), 1);
	ck_assert_uint_eq(json_object_array_length(jsonx_get(rep, "findings")), 4);
	ck_assert_int_eq(json_object_get_int(jsonx_get(rep, "score")), 100 - 25 - 15 - 7 - 3);
	ck_assert_str_eq(jsonx_get_str(rep, "grade"), "F");
	json_object_put(rep);

	/* one low finding: 97, A */
	t = anthropic_target("bot", NULL);
	rep = run(&t, 1, NULL);
	ck_assert_int_eq(json_object_get_int(jsonx_get(rep, "score")), 97);
	ck_assert_str_eq(jsonx_get_str(rep, "grade"), "A");
	json_object_put(rep);

	/* penalties past 100 stop at 0 */
	for (int i = 0; i < 4; i++) {
		many[i] = anthropic_target(i < 2 ? (i ? "b" : "a") : (i == 2 ? "c" : "d"), body);
		many[i].inline_key = true;
	}
	rep = run(many, 4, NULL);
	ck_assert_int_eq(json_object_get_int(jsonx_get(rep, "score")), 0);
	ck_assert_str_eq(jsonx_get_str(rep, "grade"), "F");
	json_object_put(rep);

	/* nothing to audit: a clean report */
	rep = run(NULL, 0, NULL);
	ck_assert_int_eq(json_object_get_int(jsonx_get(rep, "score")), 100);
	ck_assert_str_eq(jsonx_get_str(rep, "grade"), "A");
	ck_assert_uint_eq(json_object_array_length(jsonx_get(rep, "findings")), 0);
	ck_assert_uint_eq(json_object_array_length(jsonx_get(rep, "action_plan")), 0);
	json_object_put(rep);
	free(body);
}
END_TEST

START_TEST(test_action_plan)
{
	char *clock = small_anthropic(CLOCK_LINE STATIC_SYSTEM, SORTED_TOOLS);
	char *clean = small_anthropic(STATIC_SYSTEM, SORTED_TOOLS);
	struct audit_target t[12];
	char names[12][8];
	json_object *rep, *plan;
	/* targets are listed out of name order, to see the plan sort them */
	const int order[12] = { 11, 3, 7, 0, 9, 5, 1, 10, 2, 8, 4, 6 };

	for (int k = 0; k < 12; k++) {
		int i = order[k];
		snprintf(names[k], sizeof(names[k]), "t%02d", i);
		t[k] = anthropic_target(names[k], i == 3 || i == 9 ? clock : clean);
		t[k].unwarmable = "budget thinking"; /* high; and no touches: low */
	}
	rep = run(t, 12, NULL);
	ck_assert_uint_eq(json_object_array_length(jsonx_get(rep, "findings")), 2 + 12 + 12);
	plan = jsonx_get(rep, "action_plan");
	ck_assert_uint_eq(json_object_array_length(plan), 10);
	for (int i = 0; i < 10; i++) {
		json_object *p = json_object_array_get_idx(plan, (size_t)i);
		char want[8];
		/* the two criticals first (t03, t09), then highs by name t00.. */
		snprintf(want, sizeof(want), "t%02d", i == 0 ? 3 : i == 1 ? 9 : i - 2);
		ck_assert_int_eq(json_object_get_int(jsonx_get(p, "rank")), i + 1);
		ck_assert_str_eq(jsonx_get_str(p, "target"), want);
		ck_assert_str_eq(jsonx_get_str(p, "severity"), i < 2 ? "critical" : "high");
		ck_assert_str_eq(jsonx_get_str(p, "priority"), i < 2 ? "P1" : "P2");
		ck_assert_ptr_nonnull(jsonx_get_str(p, "recommendation"));
	}
	json_object_put(rep);

	/* only one target: its findings, its readiness */
	rep = run(t, 12, "t09");
	ck_assert_uint_eq(json_object_array_length(jsonx_get(rep, "findings")), 3);
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(jsonx_get(rep, "action_plan"), 0),
	                               "target"),
	                 "t09");
	ck_assert_int_eq(json_object_get_int(jsonx_get(rep, "score")), 100 - 25 - 15 - 3);
	json_object_put(rep);
	free(clock);
	free(clean);
}
END_TEST

/* ---- readiness ---------------------------------------------------------------------- */

static const char *item_status(json_object *rep, const char *item)
{
	json_object *items = jsonx_get(jsonx_get(rep, "readiness"), "items");

	for (size_t i = 0; i < json_object_array_length(items); i++) {
		json_object *x = json_object_array_get_idx(items, i);
		if (strcmp(jsonx_get_str(x, "item"), item) == 0)
			return jsonx_get_str(x, "status");
	}
	ck_abort_msg("no readiness item \"%s\"", item);
	return NULL;
}

START_TEST(test_readiness)
{
	static const char *const items[] = { "static content first", "prefix above the minimum",
		                             "stable tools",         "TTL choice",
		                             "cache keys",           "versions",
		                             "touches received",     "warming policy",
		                             "rate limits",          "retries",
		                             "verification test run" };
	static const char *const bare_want[] = { "unknown",  "unknown", "unknown",  "unknown",
		                                 "done",     "unknown", "not_done", "unknown",
		                                 "not_done", "unknown", "not_done" };
	json_object *doc = load(AGENT), *rep, *ready;
	char *body;
	uint32_t times[7];
	struct audit_target full, bare;

	sort_tools(doc);
	body = dump_put(doc);
	for (int i = 0; i < 7; i++)
		times[i] = (uint32_t)NOW - 420 + (uint32_t)i * 60;
	full = anthropic_target("full", body);
	full.prefix_tokens_seen = 5000;
	full.warms = 51;
	full.hits = 50;
	full.writes = 1;
	full.touches = 7;
	full.touch_times = times;
	full.ntouch = 7;
	full.nversions = 2;
	full.provider_has_rpm_limit = true;
	full.tested = true;
	full.price = &sonnet;
	rep = run(&full, 1, NULL);
	ready = jsonx_get(rep, "readiness");
	ck_assert_uint_eq(json_object_array_length(jsonx_get(ready, "items")), 11);
	for (size_t i = 0; i < 11; i++)
		ck_assert_msg(strcmp(item_status(rep, items[i]), "done") == 0, "full: %s is %s",
		              items[i], item_status(rep, items[i]));
	ck_assert_int_eq(json_object_get_int(jsonx_get(ready, "score")), 100);
	ck_assert_uint_eq(json_object_array_length(jsonx_get(rep, "findings")), 0);
	json_object_put(rep);

	bare = anthropic_target("bare", NULL);
	bare.prefix_tokens_est = 0;
	bare.policy = POLICY_MANUAL;
	rep = run(&bare, 1, NULL);
	for (size_t i = 0; i < 11; i++)
		ck_assert_msg(strcmp(item_status(rep, items[i]), bare_want[i]) == 0,
		              "bare: %s is %s, want %s", items[i], item_status(rep, items[i]),
		              bare_want[i]);
	ck_assert_int_eq(json_object_get_int(jsonx_get(jsonx_get(rep, "readiness"), "score")), 9);
	json_object_put(rep);

	/* usage shows the prefix cached: above the minimum, whatever the estimate */
	bare.hits = 3;
	bare.warms = 3;
	bare.prefix_tokens_seen = 2000;
	rep = run(&bare, 1, NULL);
	ck_assert_str_eq(item_status(rep, "prefix above the minimum"), "done");
	ck_assert_str_eq(item_status(rep, "retries"), "done");
	json_object_put(rep);
	bare.hits = bare.warms = 0;
	bare.prefix_tokens_seen = 0;

	/* together: each item takes the worse status, naming who holds it back */
	{
		struct audit_target both[2] = { full, bare };
		json_object *x;
		rep = run(both, 2, NULL);
		ck_assert_str_eq(item_status(rep, "verification test run"), "not_done");
		x = json_object_array_get_idx(jsonx_get(jsonx_get(rep, "readiness"), "items"), 10);
		ck_assert_str_eq(jsonx_get_str(x, "detail"), "bare");
		ck_assert_str_eq(jsonx_get_str(x, "category"), "testing");
		json_object_put(rep);
	}
	free(body);
}
END_TEST

/* ---- the static subset -------------------------------------------------------------- */

struct emitted {
	char checks[512];
	int n;
};

static void collect_cb(const struct audit_finding *f, void *ctx)
{
	struct emitted *e = ctx;
	size_t len = strlen(e->checks);

	snprintf(e->checks + len, sizeof(e->checks) - len, "%s/%s:%s ",
	         f->target ? f->target : f->provider, f->check, audit_severity_name(f->severity));
	e->n++;
}

START_TEST(test_static_subset)
{
	char *body = small_anthropic(CLOCK_LINE STATIC_SYSTEM, UNSORTED_TOOLS);
	struct audit_target t = anthropic_target("bot", body);
	struct emitted e = { "", 0 };
	uint32_t times[2] = { (uint32_t)NOW - 7200, (uint32_t)NOW };

	t.inline_key = true;
	t.prefix_tokens_est = 300;
	t.nones = 4; /* runtime evidence: not part of the static subset */
	t.policy = POLICY_MANUAL;
	t.touch_times = times;
	t.ntouch = 2;
	ck_assert_int_eq(audit_static(&t, 1, collect_cb, &e), 4);
	ck_assert_int_eq(e.n, 4);
	ck_assert_str_eq(e.checks, "bot/dynamic-content:critical bot/below-minimum:high "
	                           "bot/unsorted-tools:medium anthropic/inline-key:high ");
	free(body);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("audit");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_timestamp_first_100_chars_critical);
	tcase_add_test(tc, test_timestamp_openai_critical);
	tcase_add_test(tc, test_openai_prefix);
	tcase_add_test(tc, test_timestamp_after_breakpoint_ignored);
	tcase_add_test(tc, test_uuid_in_system);
	tcase_add_test(tc, test_bedrock_bodies);
	tcase_add_test(tc, test_dynamic_kinds);
	tcase_add_test(tc, test_fixtures_no_critical);
	tcase_add_test(tc, test_below_minimum);
	tcase_add_test(tc, test_unsorted_tools);
	tcase_add_test(tc, test_tool_order_across_versions);
	tcase_add_test(tc, test_fingerprint);
	tcase_add_test(tc, test_gemini);
	tcase_add_test(tc, test_image_detail);
	tcase_add_test(tc, test_cache_keys);
	tcase_add_test(tc, test_key_rate);
	tcase_add_test(tc, test_uncovered_gaps);
	tcase_add_test(tc, test_ttl_choice);
	tcase_add_test(tc, test_money_at_the_bounds);
	tcase_add_test(tc, test_operations);
	tcase_add_test(tc, test_grade_boundaries);
	tcase_add_test(tc, test_score);
	tcase_add_test(tc, test_action_plan);
	tcase_add_test(tc, test_readiness);
	tcase_add_test(tc, test_static_subset);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

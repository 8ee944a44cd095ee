/* adapter_gemini: the Gemini API (generativelanguage.googleapis.com), with
 * its two caches (no I/O).
 *
 * Implicit caching: Gemini 2.5 and later cache the prefixes of
 * generateContent requests by themselves and bill a read at a fraction of
 * input; nothing is marked and no write is reported. The warm is the
 * template (systemInstruction, tools, contents...) sent to
 * POST /models/{model}:generateContent (the target's model) with
 * generationConfig.maxOutputTokens 1 (every other generationConfig field
 * kept). The cached prefix is everything before the last turn: a template
 * that ends with a user turn is sent as it is, one that ends with the
 * model's turn gets a short user turn appended (answering its function
 * calls). The verdict comes from usageMetadata.cachedContentTokenCount.
 *
 * Explicit caching: a template that is a cachedContents creation body
 * (it names a "model"; generateContent bodies never do) is a cache warmd
 * manages: build() gives the creation request (the template as written,
 * POST /cachedContents), and adapter_gemini_cache_ops keep it alive by its
 * ttl (PATCH /cachedContents/{id}?updateMask=ttl, no tokens billed) and
 * delete it. */
#include "adapter_gemini.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bounds.h"
#include "jsonx.h"
#include "rfc3339.h"
#include "xalloc.h"

/* Explicit caches live an hour when the creation body says nothing. */
#define GEMINI_DEFAULT_CACHE_TTL_S 3600.0

static void note(struct warm_build *b, const char *s)
{
	size_t n = strlen(b->notes);

	snprintf(b->notes + n, sizeof(b->notes) - n, "%s%s", n ? ", " : "", s);
}

long adapter_gemini_min_cacheable(const char *model)
{
	/* Pro models cache from 4096 tokens, the others from 1024. */
	return model && strstr(model, "-pro") ? 4096 : GEMINI_MIN_CACHED_TOKENS;
}

/* Adds the parts of the version that are not the conversation: what shapes
 * every cached prefix of the model. */
static void version_fields(json_object *t, struct warm_build *b)
{
	static const char *const shaping[] = { "cachedContent", "systemInstruction", "tools",
		                               "toolConfig", NULL };
	for (const char *const *f = shaping; *f; f++) {
		json_object *v = jsonx_get(t, *f);
		if (v) {
			buf_printf(&b->prefix, "%s:", *f);
			adapter_prefix_put(&b->prefix, "", v);
		}
	}
}

/* contents must be an array of {role?, parts: [...]} objects; non-empty
 * unless empty is allowed (a cache of only a system instruction). */
static int check_contents(json_object *contents, bool empty_ok, struct errmsg *e)
{
	size_t n;

	if (!contents && empty_ok)
		return 0;
	if (!contents || !json_object_is_type(contents, json_type_array))
		return errmsg_set(e, -EINVAL, "\"contents\" must be an array of turns");
	n = json_object_array_length(contents);
	if (n == 0 && !empty_ok)
		return errmsg_set(e, -EINVAL, "\"contents\" must not be empty");
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(contents, i), *parts;
		json_object *role = jsonx_get(c, "role");
		if (!json_object_is_type(c, json_type_object) || !(parts = jsonx_get(c, "parts")) ||
		    !json_object_is_type(parts, json_type_array))
			return errmsg_set(e, -EINVAL,
			                  "contents[%zu] must be an object with a \"parts\" array",
			                  i);
		if (role && !json_object_is_type(role, json_type_string))
			return errmsg_set(e, -EINVAL, "contents[%zu].role must be a string", i);
	}
	return 0;
}

/* A turn is the user's unless it says "model" (a lone turn without a role
 * is the user's, as the API reads it). */
static bool is_model_turn(json_object *c)
{
	const char *role = jsonx_get_str(c, "role");

	return role && strcmp(role, "model") == 0;
}

/* Answers the function calls of the model's last turn, else appends a
 * user turn ".". */
static void append_turn(json_object *contents, json_object *last)
{
	json_object *parts = jsonx_get(last, "parts"), *turn, *answers;

	answers = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(parts); i++) {
		json_object *call = jsonx_get(json_object_array_get_idx(parts, i), "functionCall");
		const char *name = jsonx_get_str(call, "name"), *id = jsonx_get_str(call, "id");
		json_object *fr, *part, *resp;
		if (!name)
			continue;
		fr = json_object_new_object();
		if (id)
			json_object_object_add(fr, "id", json_object_new_string(id));
		json_object_object_add(fr, "name", json_object_new_string(name));
		resp = json_object_new_object();
		json_object_object_add(resp, "result", json_object_new_string("."));
		json_object_object_add(fr, "response", resp);
		part = json_object_new_object();
		json_object_object_add(part, "functionResponse", fr);
		json_object_array_add(answers, part);
	}
	if (json_object_array_length(answers) == 0) {
		json_object *text = json_object_new_object();
		json_object_object_add(text, "text", json_object_new_string("."));
		json_object_array_add(answers, text);
	}
	turn = json_object_new_object();
	json_object_object_add(turn, "role", json_object_new_string("user"));
	json_object_object_add(turn, "parts", answers);
	json_object_array_add(contents, turn);
}

static int finish(json_object *t, struct warm_build *b)
{
	b->prefix_tokens_est = (long)(b->prefix.len / 4);
	adapter_set_body(b, t);
	return 0;
}

/* generateContent, for the implicit cache. */
static int generate_build(json_object *t, const struct adapter_target *ct, struct warm_build *b,
                          struct errmsg *e)
{
	json_object *contents = jsonx_get(t, "contents"), *gc, *last;
	const char *model = ct ? ct->model : NULL;
	size_t n, nprefix;
	struct buf path = BUF_INIT;
	int r;

	if (!model || !*model)
		return errmsg_set(e, -EINVAL,
		                  "a generateContent template needs the target's model (model = "
		                  "\"gemini-2.5-flash\")");
	if (strncmp(model, "models/", 7) == 0)
		model += 7;
	if ((r = check_contents(contents, false, e)) < 0)
		return r;
	gc = jsonx_get(t, "generationConfig");
	if (gc && !json_object_is_type(gc, json_type_object))
		return errmsg_set(e, -EINVAL, "\"generationConfig\" must be an object");
	b->model = xstrdup(model);
	b->min_cacheable = adapter_gemini_min_cacheable(model);
	buf_puts(&path, "/models/");
	adapter_path_segment(&path, model, NULL);
	buf_puts(&path, ":generateContent");
	b->path = buf_steal(&path);
	buf_printf(&b->prefix, "M:%s\n", model);
	version_fields(t, b);
	/* The prefix is every turn before the last one; a template that ends
	 * with the model's turn gets a user turn after it, so all of it is. */
	n = json_object_array_length(contents);
	last = json_object_array_get_idx(contents, n - 1);
	nprefix = is_model_turn(last) ? n : n - 1;
	for (size_t i = 0; i < nprefix; i++)
		adapter_prefix_put(&b->prefix, "c:", json_object_array_get_idx(contents, i));
	if (!gc) {
		gc = json_object_new_object();
		json_object_object_add(t, "generationConfig", gc);
	}
	json_object_object_add(gc, "maxOutputTokens", json_object_new_int(1));
	b->max_tokens = 1;
	note(b, "maxOutputTokens 1");
	if (is_model_turn(last)) {
		append_turn(contents, last);
		note(b, "appended a user turn");
	}
	return finish(t, b);
}

/* A protobuf Duration as JSON writes it: "300s", "1.5s". */
static int parse_duration(const char *s, double *ret)
{
	char *end;
	double v;

	if (!s || !*s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -EINVAL;
	v = strtod(s, &end);
	if (end == s || strcmp(end, "s") != 0 || !(v >= 0) || v > 315576000000.0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* A cachedContents creation body: the cache warmd manages. */
static int cache_build(json_object *t, const struct adapter_target *ct, struct warm_build *b,
                       struct errmsg *e)
{
	const char *model = jsonx_get_str(t, "model"), *ttl = jsonx_get_str(t, "ttl"), *bare;
	json_object *contents = jsonx_get(t, "contents");
	int r;

	if (!model || strncmp(model, "models/", 7) != 0 || !model[7])
		return errmsg_set(e, -EINVAL,
		                  "a cachedContents template's \"model\" must be \"models/NAME\"");
	bare = model + 7;
	if (ct && ct->model && strcmp(ct->model, bare) != 0 && strcmp(ct->model, model) != 0)
		return errmsg_set(e, -EINVAL,
		                  "the template caches for %s, but the target's model is %s", model,
		                  ct->model);
	if ((r = check_contents(contents, true, e)) < 0)
		return r;
	if (!contents && !jsonx_get(t, "systemInstruction"))
		return errmsg_set(e, -EINVAL,
		                  "a cachedContents template must have \"contents\" or a "
		                  "\"systemInstruction\" to cache");
	if (jsonx_get(t, "expireTime"))
		return errmsg_set(
		        e, -EINVAL,
		        "a managed cache takes \"ttl\", not \"expireTime\": warmd keeps it "
		        "alive by renewing its ttl");
	if (jsonx_get(t, "ttl") && (!ttl || parse_duration(ttl, &b->ttl_s) < 0))
		return errmsg_set(e, -EINVAL, "\"ttl\" must be a duration such as \"3600s\"");
	if (!jsonx_get(t, "ttl")) {
		b->ttl_s = GEMINI_DEFAULT_CACHE_TTL_S;
		note(b, "no ttl: the API's 1 hour");
	}
	b->model = xstrdup(bare);
	b->min_cacheable = adapter_gemini_min_cacheable(bare);
	b->path = xstrdup("/cachedContents");
	b->managed = true;
	buf_printf(&b->prefix, "C:%s\n", bare);
	version_fields(t, b);
	for (size_t i = 0; contents && i < json_object_array_length(contents); i++)
		adapter_prefix_put(&b->prefix, "c:", json_object_array_get_idx(contents, i));
	note(b, "managed cache: created once, kept alive by its ttl");
	return finish(t, b);
}

static int gemini_build(json_object *t, const struct adapter_target *ct, struct warm_build *b,
                        struct errmsg *e)
{
	if (!json_object_is_type(t, json_type_object))
		return errmsg_set(e, -EINVAL, "the request must be a JSON object");
	if (ct && ct->endpoint != ENDPOINT_AUTO)
		return errmsg_set(e, -EINVAL, "gemini targets take no endpoint (auto)");
	return jsonx_get(t, "model") ? cache_build(t, ct, b, e) : generate_build(t, ct, b, e);
}

static int gemini_headers(const char *key, struct adapter_header *h)
{
	int n = 0;

	h[n++] = (struct adapter_header){ "content-type", NULL, "application/json" };
	if (key)
		h[n++] = (struct adapter_header){ "x-goog-api-key", NULL, key };
	return n;
}

static int parse_body(const char *body, size_t len, json_object **ret, struct errmsg *e)
{
	int r = jsonx_parse(body, len, 0, ret, e);

	if (r < 0) {
		errmsg_prefix(e, "response is not JSON");
		return -EPROTO;
	}
	if (!json_object_is_type(*ret, json_type_object)) {
		json_object_put(*ret);
		*ret = NULL;
		return errmsg_set(e, -EPROTO, "response is not a JSON object");
	}
	return 0;
}

static int gemini_parse_ok(const char *body, size_t len, struct warm_usage *u, struct errmsg *e)
{
	json_object *o = NULL, *um;
	int64_t prompt = 0, cached = 0, cand = 0, thoughts = 0, tool = 0;
	int r;

	memset(u, 0, sizeof(*u));
	if ((r = parse_body(body, len, &o, e)) < 0)
		return r;
	um = jsonx_get(o, "usageMetadata");
	if (!um || !json_object_is_type(um, json_type_object)) {
		json_object_put(o);
		return errmsg_set(e, -EPROTO, "response has no usageMetadata object");
	}
	if ((r = adapter_usage_field(um, "usageMetadata", "promptTokenCount", &prompt, e)) < 0 ||
	    (r = adapter_usage_field(um, "usageMetadata", "cachedContentTokenCount", &cached, e)) <
	            0 ||
	    (r = adapter_usage_field(um, "usageMetadata", "candidatesTokenCount", &cand, e)) < 0 ||
	    (r = adapter_usage_field(um, "usageMetadata", "thoughtsTokenCount", &thoughts, e)) <
	            0 ||
	    (r = adapter_usage_field(um, "usageMetadata", "toolUsePromptTokenCount", &tool, e)) < 0)
		goto out;
	if (cached > prompt) {
		r = errmsg_set(e, -EPROTO,
		               "cachedContentTokenCount %lld exceeds promptTokenCount %lld",
		               (long long)cached, (long long)prompt);
		goto out;
	}
	u->read = cached;
	u->input = prompt - cached + tool; /* the tool-use prompt is billed as input */
	u->output = cand + thoughts;       /* thinking is billed as output */
	if (cached > 0) {
		u->result = WARM_HIT;
	} else if (prompt >= GEMINI_MIN_CACHED_TOKENS) {
		/* Nothing read from a cacheable prompt: this request filled the
		 * cache (Gemini reports no write, nor bills one beyond input). */
		u->result = WARM_WRITE;
		u->write = prompt;
		u->input = tool;
	} else {
		u->result = WARM_NONE;
	}
out:
	json_object_put(o);
	return r;
}

static void gemini_parse_error(long status, const char *body, size_t len, struct errmsg *e)
{
	static const char *const type_keys[] = { "status", NULL };

	adapter_error_from_body(status, body, len, type_keys, e);
}

/* Gemini answers a key it does not know with 400 INVALID_ARGUMENT, reason
 * API_KEY_INVALID (a missing key is a 403). */
static bool gemini_auth_rejected(long status, const char *body, size_t len)
{
	json_object *o = NULL, *details;
	bool rejected = false;

	if (status != 400 || jsonx_parse(body, len, 0, &o, NULL) < 0)
		return false;
	details = jsonx_get(jsonx_get(o, "error"), "details");
	for (size_t i = 0; details && json_object_is_type(details, json_type_array) &&
	                   i < json_object_array_length(details);
	     i++) {
		const char *reason = jsonx_get_str(json_object_array_get_idx(details, i), "reason");
		if (reason && strcmp(reason, "API_KEY_INVALID") == 0)
			rejected = true;
	}
	json_object_put(o);
	return rejected;
}

/* ---- managed caches --------------------------------------------------------------------- */

/* "cachedContents/ID", the ID of letters, digits, '-' and '_': a name from
 * the provider goes into a path, so nothing else is taken. */
static bool cache_name_valid(const char *name)
{
	const char *id;

	if (!name || strncmp(name, "cachedContents/", 15) != 0)
		return false;
	id = name + 15;
	if (!*id || strlen(id) > 128)
		return false;
	for (; *id; id++)
		if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
		      (*id >= '0' && *id <= '9') || *id == '-' || *id == '_'))
			return false;
	return true;
}

static int name_path(const char *name, const char *query, char **ret, struct errmsg *e)
{
	struct buf p = BUF_INIT;

	if (!cache_name_valid(name))
		return errmsg_set(e, -EINVAL, "\"%.64s\" is not a cachedContents name", name);
	buf_puts(&p, "/cachedContents/");
	adapter_path_segment(&p, name + 15, NULL);
	if (query)
		buf_puts(&p, query);
	*ret = buf_steal(&p);
	return 0;
}

static int cache_touch_request(const char *name, double ttl_s, const char **ret_method,
                               char **ret_path, char **ret_body, struct errmsg *e)
{
	char body[64];
	int r;

	if (!(ttl_s > 0) || ttl_s > 315576000000.0)
		return errmsg_set(e, -EINVAL, "ttl %g s is out of range", ttl_s);
	if (ttl_s == floor(ttl_s))
		snprintf(body, sizeof(body), "{\"ttl\":\"%.0fs\"}", ttl_s);
	else
		snprintf(body, sizeof(body), "{\"ttl\":\"%.3fs\"}", ttl_s);
	if ((r = name_path(name, "?updateMask=ttl", ret_path, e)) < 0)
		return r;
	*ret_method = "PATCH";
	*ret_body = xstrdup(body);
	return 0;
}

static int cache_delete_request(const char *name, const char **ret_method, char **ret_path,
                                struct errmsg *e)
{
	int r = name_path(name, NULL, ret_path, e);

	if (r == 0)
		*ret_method = "DELETE";
	return r;
}

/* name (when asked), expireTime and usageMetadata.totalTokenCount of a
 * CachedContent. */
static int parse_cached_content(const char *body, size_t len, char **ret_name, double *ret_expire,
                                int64_t *ret_tokens, struct errmsg *e)
{
	json_object *o = NULL, *um;
	const char *name, *expire;
	int r;

	if ((r = parse_body(body, len, &o, e)) < 0)
		return r;
	name = jsonx_get_str(o, "name");
	expire = jsonx_get_str(o, "expireTime");
	um = jsonx_get(o, "usageMetadata");
	*ret_tokens = 0;
	if (ret_name && !cache_name_valid(name))
		r = errmsg_set(e, -EPROTO, "the cache's name is not cachedContents/ID");
	else if (expire && rfc3339_parse(expire) < 0)
		r = errmsg_set(e, -EPROTO, "expireTime \"%.40s\" is not an RFC 3339 time", expire);
	else if (um && json_object_is_type(um, json_type_object))
		r = adapter_usage_field(um, "usageMetadata", "totalTokenCount", ret_tokens, e);
	else if (um)
		r = errmsg_set(e, -EPROTO, "usageMetadata is not an object");
	if (r == 0) {
		*ret_expire = expire ? rfc3339_parse(expire) : 0;
		if (ret_name)
			*ret_name = xstrdup(name);
	}
	json_object_put(o);
	return r;
}

static int cache_parse_created(const char *body, size_t len, char **ret_name, double *ret_expire,
                               struct warm_usage *u, struct errmsg *e)
{
	int64_t tokens;
	int r;

	memset(u, 0, sizeof(*u));
	r = parse_cached_content(body, len, ret_name, ret_expire, &tokens, e);
	if (r == 0) {
		u->result = WARM_WRITE; /* the tokens are billed as input */
		u->write = tokens;
	}
	return r;
}

static int cache_parse_touched(const char *body, size_t len, double *ret_expire,
                               int64_t *ret_tokens, struct warm_usage *u, struct errmsg *e)
{
	memset(u, 0, sizeof(*u));
	u->result = WARM_HIT; /* a ttl update bills no tokens */
	return parse_cached_content(body, len, NULL, ret_expire, ret_tokens, e);
}

/* Gone: 404, or the 403 Gemini gives a cache that is not there any more
 * ("CachedContent not found (or permission denied)"). */
static bool cache_gone(long status, const char *body, size_t len)
{
	json_object *o = NULL;
	const char *msg;
	bool gone = status == 404;

	if (status == 403 && jsonx_parse(body, len, 0, &o, NULL) == 0) {
		msg = jsonx_get_str(jsonx_get(o, "error"), "message");
		gone = msg && strstr(msg, "CachedContent not found") != NULL;
		json_object_put(o);
	}
	return gone;
}

const struct adapter_cache_ops adapter_gemini_cache_ops = {
	.touch_request = cache_touch_request,
	.delete_request = cache_delete_request,
	.parse_created = cache_parse_created,
	.parse_touched = cache_parse_touched,
	.gone = cache_gone,
};

const struct adapter_ops adapter_gemini_ops = {
	.kind = PROVIDER_GEMINI,
	.key_required = true,
	.build = gemini_build,
	.headers = gemini_headers,
	.parse_ok = gemini_parse_ok,
	.parse_error = gemini_parse_error,
	.auth_rejected = gemini_auth_rejected,
	.cache = &adapter_gemini_cache_ops,
};

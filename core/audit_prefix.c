/* audit_prefix: checks of the cached prefix itself: long enough to be
 * cached at all (below-minimum), and stable between requests and versions
 * (unsorted-tools, tool-order, image-detail, fields-changed). */
#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "audit_internal.h"
#include "jsonx.h"

/* ---- prefix length ------------------------------------------------------------------ */

long audit_min_cacheable(const struct audit_target *t)
{
	if (t->min_cacheable > 0)
		return t->min_cacheable;
	return t->kind == PROVIDER_OPENAI ? 1024 : 0; /* OpenAI caches from 1024 tokens */
}

void audit_check_minimum(struct audit *a, const struct audit_target *t)
{
	long min = audit_min_cacheable(t);
	bool confirmed = !a->static_only && t->nones > 0 && t->hits == 0 && t->writes == 0;
	bool cached = t->hits + t->writes > 0 && t->prefix_tokens_seen > 0;
	char of[48] = "";

	if (min > 0)
		snprintf(of, sizeof(of), " of %ld tokens", min);

	if (!confirmed && (a->static_only || !cached) && min > 0 && t->prefix_tokens_est > 0 &&
	    t->prefix_tokens_est < min)
		audit_add(
		        a, t, NULL, AUDIT_HIGH, C_MINIMUM, "prompt design", "hours",
		        audit_fmt(a,
		                  "Prefix below the model's minimum cacheable length (estimated)"),
		        audit_fmt(a,
		                  "The cached prefix is about %ld tokens; %s caches nothing "
		                  "shorter than %ld tokens, so every request pays full input price "
		                  "and every warm is wasted.",
		                  t->prefix_tokens_est, t->model ? t->model : "the model", min),
		        audit_fmt(a,
		                  "Grow the shared prefix past %ld tokens (move stable context "
		                  "such as tool definitions, examples or reference text ahead of "
		                  "the breakpoint), or stop warming this target.",
		                  min));
	if (confirmed)
		audit_add(a, t, NULL, AUDIT_HIGH, C_MINIMUM, "prompt design", "hours",
		          audit_fmt(a, "Prefix not cached (confirmed from usage)"),
		          audit_fmt(a,
		                    "%llu warm(s) came back with neither a cache read nor a write "
		                    "and none ever cached: the prefix (about %ld tokens) is below "
		                    "%s's minimum%s.",
		                    (unsigned long long)t->nones, t->prefix_tokens_est,
		                    t->model ? t->model : "the model", of),
		          audit_fmt(a, "Grow the shared prefix past the model's minimum, or stop "
		                       "warming this target: the provider is not caching it."));
}

/* ---- prefix stability --------------------------------------------------------------- */

/* "a, b, c" of the first few tool names, in template order. */
static void tool_list(const struct shape *s, struct buf *out)
{
	size_t n = audit_tool_count(s), show = n > 8 ? 8 : n;

	for (size_t i = 0; i < show; i++)
		buf_printf(out, "%s%s", i ? ", " : "", audit_tool_at(s, i));
	if (n > show)
		buf_printf(out, ", ... (%zu in all)", n);
}

/* Unsorted is not wrong in itself, but a tool list that is not sorted is
 * usually assembled from a map or a plugin registry whose order can change
 * between processes and releases: sorting makes the prefix deterministic. */
void audit_check_sorted(struct audit *a, const struct audit_target *t, const struct shape *s)
{
	size_t n = audit_tool_count(s), i;
	struct buf list = BUF_INIT;

	for (i = 1; i < n; i++)
		if (strcmp(audit_tool_at(s, i - 1), audit_tool_at(s, i)) > 0)
			break;
	if (i >= n)
		return;
	tool_list(s, &list);
	audit_add(
	        a, t, NULL, AUDIT_MEDIUM, C_UNSORTED, "prefix stability", "minutes",
	        audit_fmt(a, "Tools are not in a stable (sorted) order"),
	        audit_fmt(
	                a,
	                "The %zu tools are in the order %s; \"%s\" comes after \"%s\". Tools are "
	                "part of the cached prefix (Anthropic puts them first): if the application "
	                "builds this list from a map, a set or a plugin registry, another order on "
	                "the next request or release re-writes the cache from there on.",
	                n, list.data ? list.data : "", audit_tool_at(s, i),
	                audit_tool_at(s, i - 1)),
	        audit_fmt(a, "Sort the tools by name (or emit them from one fixed list) wherever "
	                     "the application assembles the request."));
	buf_free(&list);
}

static int fp_tool_index(const struct audit_fp *fp, uint64_t h)
{
	for (int i = 0; i < fp->ntools && i < AUDIT_FP_TOOLS; i++)
		if (fp->tool[i] == h)
			return i;
	return -1;
}

/* Same tool set as the previous version, another order. True if reported. */
bool audit_check_tool_order(struct audit *a, const struct audit_target *t, const struct shape *s,
                            const struct audit_fp *cur)
{
	const struct audit_fp *prev = t->prev_fp;
	size_t i, lim;
	char moved[128];
	int at;

	if (!prev || !prev->valid || prev->ntools != cur->ntools || cur->ntools < 2 ||
	    prev->tools_set != cur->tools_set || prev->tools_order == cur->tools_order)
		return false;
	lim = cur->ntools < AUDIT_FP_TOOLS ? cur->ntools : AUDIT_FP_TOOLS;
	for (i = 0; i < lim && prev->tool[i] == cur->tool[i]; i++)
		;
	if (i == lim) /* the change is past what the fingerprint names */
		snprintf(moved, sizeof(moved), "the first %zu are in place", lim);
	else if ((at = fp_tool_index(prev, cur->tool[i])) >= 0)
		snprintf(moved, sizeof(moved), "\"%.60s\" is tool %zu now, was tool %d",
		         audit_tool_at(s, i), i + 1, at + 1);
	else
		snprintf(moved, sizeof(moved), "\"%.60s\" is tool %zu now", audit_tool_at(s, i),
		         i + 1);
	audit_add(a, t, NULL, AUDIT_MEDIUM, C_TOOL_ORDER, "prefix stability", "minutes",
	          audit_fmt(a, "Tool order changed between versions"),
	          audit_fmt(a,
	                    "The %u tools are the same as in the previous version but in another "
	                    "order (%s): the new version shares no cache with the old one although "
	                    "the tools did not change.",
	                    cur->ntools, moved),
	          audit_fmt(a, "Emit the tools in one deterministic order (sorted by name) in "
	                       "every release."));
	return true;
}

/* The detail of an image part, "auto" when unset (the API's default), or
 * NULL when the part is not an image. */
static const char *image_detail(json_object *part)
{
	const char *type = jsonx_get_str(part, "type"), *d = NULL;

	if (!type)
		return NULL;
	if (strcmp(type, "image_url") == 0)
		d = jsonx_get_str(jsonx_get(part, "image_url"), "detail");
	else if (strcmp(type, "input_image") == 0)
		d = jsonx_get_str(part, "detail");
	else
		return NULL;
	return d ? d : "auto";
}

/* Images tokenise by detail level: a template that mixes levels is usually
 * one whose application picks the level per request. */
void audit_check_image_detail(struct audit *a, const struct audit_target *t, const struct shape *s)
{
	json_object *items = jsonx_get(s->doc, "messages");
	const char *first = NULL, *other = NULL;
	char first_at[64] = "", other_at[64] = "";
	size_t nimg = 0;

	if (!items)
		items = jsonx_get(s->doc, "input");
	for (size_t i = 0;
	     json_object_is_type(items, json_type_array) && i < json_object_array_length(items);
	     i++) {
		json_object *c = jsonx_get(json_object_array_get_idx(items, i), "content");
		for (size_t j = 0;
		     json_object_is_type(c, json_type_array) && j < json_object_array_length(c);
		     j++) {
			const char *d = image_detail(json_object_array_get_idx(c, j));
			if (!d)
				continue;
			nimg++;
			if (!first) {
				first = d;
				snprintf(first_at, sizeof(first_at), "[%zu].content[%zu]", i, j);
			} else if (!other && strcmp(d, first) != 0) {
				other = d;
				snprintf(other_at, sizeof(other_at), "[%zu].content[%zu]", i, j);
			}
		}
	}
	if (!other)
		return;
	audit_add(a, t, NULL, AUDIT_MEDIUM, C_IMAGE_DETAIL, "prefix stability", "minutes",
	          audit_fmt(a, "Inconsistent image detail levels"),
	          audit_fmt(a,
	                    "The template's %zu images do not share one detail level: \"%s\" at "
	                    "%s%s, \"%s\" at %s%s. The detail level changes how an image is "
	                    "tokenised, so an application that picks it per request produces a "
	                    "different prefix each time.",
	                    nimg, first, jsonx_get(s->doc, "messages") ? "messages" : "input",
	                    first_at, other, jsonx_get(s->doc, "messages") ? "messages" : "input",
	                    other_at),
	          audit_fmt(a, "Set one explicit detail level (\"low\", \"high\" or \"auto\") on "
	                       "every image."));
}

static const uint64_t *fp_field(const struct audit_fp *fp, const char *name)
{
	for (unsigned i = 0; i < fp->nfields; i++)
		if (strncmp(fp->field[i].name, name, AUDIT_FP_NAME) == 0)
			return &fp->field[i].hash;
	return NULL;
}

struct names {
	const char *v[2 * AUDIT_FP_FIELDS];
	unsigned n;
};

/* Collects the fields of a that b lacks or holds with another hash. */
static void fields_diff(const struct audit_fp *a, const struct audit_fp *b, bool skip_tools,
                        struct names *out)
{
	for (unsigned i = 0; i < a->nfields; i++) {
		const char *name = a->field[i].name;
		const uint64_t *h = fp_field(b, name);
		bool dup = false;

		if ((h && *h == a->field[i].hash) || (skip_tools && strcmp(name, "tools") == 0))
			continue;
		for (unsigned j = 0; j < out->n; j++)
			dup |= strcmp(out->v[j], name) == 0;
		if (!dup)
			out->v[out->n++] = name;
	}
}

/* A version change is expected on a deliberate prompt update; what the
 * operator needs is which fields moved, to spot the ones that should not. */
void audit_check_fields(struct audit *a, const struct audit_target *t, const struct audit_fp *cur,
                        bool reordered)
{
	const struct audit_fp *prev = t->prev_fp;
	struct names diff = { .n = 0 };
	struct buf list = BUF_INIT;

	if (!prev || !prev->valid)
		return;
	fields_diff(cur, prev, reordered, &diff);
	fields_diff(prev, cur, reordered, &diff);
	for (unsigned i = 0; i < diff.n; i++)
		buf_printf(&list, "%s%s", i ? ", " : "", diff.v[i]);
	if (diff.n)
		audit_add(a, t, NULL, AUDIT_MEDIUM, C_FIELDS, "prefix stability", "hours",
		          audit_fmt(a, "Fields ahead of the breakpoint changed since the previous "
		                       "version"),
		          audit_fmt(a,
		                    "Compared with the previous version, these parts of the cached "
		                    "prefix differ: %s. The new version starts with an empty "
		                    "cache; if a field changed without anyone editing the prompt, "
		                    "something in it is generated per deploy or per process.",
		                    list.data ? list.data : ""),
		          audit_fmt(a, "If the change was deliberate, nothing to do (warmd warms "
		                       "the new version at once; keep the old one warm while "
		                       "traffic still uses it). If not, find what regenerates "
		                       "these fields and make them deterministic."));
	buf_free(&list);
}

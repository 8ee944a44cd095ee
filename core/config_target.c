/* config_target: the targets = ( ... ) list: each target's provider,
 * request file, TTL and policy, checked against its provider, and a target
 * with named versions expanded into one target per version. */
#include "adapters.h"
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"
#include "config_sections.h"
#include "sched_rules.h"
#include "strmap.h"
#include "xalloc.h"

static const char *const policy_names[] = { "always", "manual", "schedule", "adaptive", NULL };
static const char *const endpoint_names[] = { "auto",   "messages", "chat", "responses",
	                                      "invoke", "converse", NULL };
static const char *const warm_mode_names[] = { "minimal", "prewarm", NULL };
/* Accepted words that name features of later versions, so the error can say so. */
static const char *const policy_future[] = { NULL };
static const char *const endpoint_future[] = { NULL };

/* The only provider, when there is exactly one. */
static void default_provider(const struct loader *ld, const config_setting_t *g, const void *base,
                             void *field)
{
	char **dst = field;

	if (ld->c->nproviders != 1)
		return;
	free(*dst);
	*dst = xstrdup(ld->c->providers[0].name ? ld->c->providers[0].name : "");
}

/* 5 minutes (Anthropic's default cache), except on openai-compatible
 * providers, which evict by LRU: there ttl is the warm interval, and
 * required (-1: none). */
static void default_ttl(const struct loader *ld, const config_setting_t *g, const void *base,
                        void *field)
{
	const struct cfg_target *t = base;

	*(double *)field = 300;
	for (size_t j = 0; t->provider && j < ld->c->nproviders; j++)
		if (ld->c->providers[j].name &&
		    strcmp(ld->c->providers[j].name, t->provider) == 0 &&
		    (int)ld->c->providers[j].kind == PROVIDER_OPENAI_COMPAT)
			*(double *)field = -1;
}

#define T(f) offsetof(struct cfg_target, f)
/* One key per entry (clang-format would spread each over seven lines). */
/* clang-format off */
static const struct key_def target_keys[] = {
	{ .name = "name", .type = K_STR, .off = T(name), .help = "a name" },
	{ .name = "provider", .type = K_STR, .off = T(provider), .dfn = default_provider,
	  .help = "a provider name" },
	{ .name = "request_file", .type = K_PATH, .off = T(request_file), .help = "a file name" },
	{ .name = "ttl", .type = K_DURATION, .off = T(ttl_s), .dfn = default_ttl,
	  .help = "a duration such as \"5m\" or seconds" },
	{ .name = "policy", .type = K_ENUM, .off = T(policy), .enums = policy_names,
	  .future = policy_future, .def.i = POLICY_ALWAYS,
	  .help = "always, manual, schedule or adaptive" },
	{ .name = "priority", .type = K_INT, .off = T(priority), .max = 1000000, .def.i = 10,
	  .help = "a number (lower warms first)" },
	{ .name = "cache_key", .type = K_STR, .off = T(cache_key), .help = "a prompt_cache_key" },
	{ .name = "model", .type = K_STR, .off = T(model),
	  .help = "the model the request's URL names (its meaning depends on the provider's "
	          "kind: a Bedrock model id, a Vertex AI model such as "
	          "\"claude-sonnet-4-5@20250929\", a Gemini model such as \"gemini-2.5-flash\")" },
	{ .name = "deployment", .type = K_STR, .off = T(deployment),
	  .help = "an Azure OpenAI deployment name" },
	{ .name = "endpoint", .type = K_ENUM, .off = T(endpoint), .enums = endpoint_names,
	  .future = endpoint_future, .def.i = ENDPOINT_AUTO,
	  .help = "auto, messages, chat, responses, invoke or converse" },
	{ .name = "warm_mode", .type = K_ENUM, .off = T(warm_mode), .enums = warm_mode_names,
	  .def.i = WARM_MODE_MINIMAL, .help = "minimal or prewarm" },
	{ .name = "allow_edit", .type = K_STRLIST, .off = T(allow_edit_list),
	  .help = "a list of the fields warmd may drop: [\"thinking\", \"tool_choice\"]" },
	{ .name = "idle_limit", .type = K_DURATION, .off = T(idle_limit_s), .def.d = 0,
	  .help = "a duration such as \"30m\" (0 = never idle)" },
	{ .name = "schedule", .type = K_STRLIST, .off = T(schedule),
	  .help = "a list of windows such as [\"Mon-Fri 07:30-19:00\"]" },
	{ .name = "version_overlap", .type = K_DURATION, .off = T(overlap_s),
	  .def.d = CFG_VERSION_OVERLAP_S,
	  .help = "a duration such as \"10m\" (0 = drop a replaced version at once)" },
	{ .name = "versions", .type = K_CUSTOM,
	  .help = "a list of { name; request_file; weight; } groups" },
	{ .name = NULL },
};
/* clang-format on */
_Static_assert(sizeof(target_keys) / sizeof(target_keys[0]) <= CONFIG_MAX_KEYS + 1,
               "more target_keys than CONFIG_MAX_KEYS");
#undef T

#define V(f) offsetof(struct cfg_target, f)
/* A version of a target starts as a copy of it; these keys are its own.
 * (weight -1: none, it is required.) */
/* clang-format off */
static const struct key_def version_keys[] = {
	{ .name = "name", .type = K_STR, .off = V(vname), .help = "a version name" },
	{ .name = "request_file", .type = K_PATH, .off = V(request_file), .help = "a file name" },
	{ .name = "weight", .type = K_INT, .off = V(weight), .max = 100, .def.i = -1,
	  .help = "a share of traffic from 0 to 100" },
	{ .name = NULL },
};
/* clang-format on */
_Static_assert(sizeof(version_keys) / sizeof(version_keys[0]) <= CONFIG_MAX_KEYS + 1,
               "more version_keys than CONFIG_MAX_KEYS");
#undef V

const char *policy_name(enum policy p)
{
	return policy_names[p];
}

const char *endpoint_name(enum endpoint e)
{
	return endpoint_names[e];
}

static void check_allow_edit(const struct loader *ld, config_setting_t *g, struct cfg_target *t,
                             const char *where)
{
	for (size_t i = 0; t->allow_edit_list && t->allow_edit_list[i]; i++) {
		const char *f = t->allow_edit_list[i];
		if (strcmp(f, "thinking") == 0)
			t->allow_edit |= ALLOW_EDIT_THINKING;
		else if (strcmp(f, "tool_choice") == 0)
			t->allow_edit |= ALLOW_EDIT_TOOL_CHOICE;
		else
			err_at(ld, config_setting_get_member(g, "allow_edit"),
			       "%s: allow_edit \"%s\" is not an edit warmd can make (thinking, "
			       "tool_choice)",
			       where, f);
	}
}

/* policy = "schedule" needs windows; windows need that policy. */
static void check_schedule(const struct loader *ld, config_setting_t *g, struct cfg_target *t,
                           const char *where)
{
	config_setting_t *s = config_setting_get_member(g, "schedule");
	size_t n = 0;

	while (t->schedule && t->schedule[n])
		n++;
	if (n && t->policy != POLICY_SCHEDULE) {
		warn_at(ld, s, "%s: \"schedule\" is only used with policy = \"schedule\"; ignored",
		        where);
		return;
	}
	if (t->policy != POLICY_SCHEDULE)
		return;
	if (n == 0) {
		err_at(ld, s ? s : config_setting_get_member(g, "policy"),
		       "%s: policy \"schedule\" needs schedule = [\"Mon-Fri 07:30-19:00 "
		       "Europe/Berlin\", ...]",
		       where);
		return;
	}
	t->windows = xcalloc(n, sizeof(*t->windows));
	for (size_t i = 0; i < n; i++) {
		struct errmsg e;
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		if (policy_window_parse(t->schedule[i], &t->windows[i], &e) < 0)
			err_at(ld, el ? el : s, "%s: %s", where, e.text);
	}
	t->nwindows = n;
}

static char **strlist_dup(char *const *v)
{
	size_t n = 0;
	char **r;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	r = xcalloc(n + 1, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

/* A deep copy of t (every string and list its own). */
static void target_copy(struct cfg_target *dst, const struct cfg_target *t)
{
	*dst = *t;
	dst->name = xstrdup_or_null(t->name);
	dst->provider = xstrdup_or_null(t->provider);
	dst->request_file = xstrdup_or_null(t->request_file);
	dst->cache_key = xstrdup_or_null(t->cache_key);
	dst->model = xstrdup_or_null(t->model);
	dst->deployment = xstrdup_or_null(t->deployment);
	dst->schedule = strlist_dup(t->schedule);
	dst->allow_edit_list = strlist_dup(t->allow_edit_list);
	dst->file = xstrdup_or_null(t->file);
	dst->group = xstrdup_or_null(t->group);
	dst->vname = xstrdup_or_null(t->vname);
	dst->windows = NULL;
	if (t->nwindows) {
		dst->windows = xreallocarray(NULL, t->nwindows, sizeof(*t->windows));
		memcpy(dst->windows, t->windows, t->nwindows * sizeof(*t->windows));
	}
}

/* How many cfg_targets a targets list becomes (a target with versions is one
 * per version). */
static size_t count_lanes(config_setting_t *list)
{
	size_t n = 0;

	for (int i = 0; i < config_setting_length(list); i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		config_setting_t *v = config_setting_is_group(g)
		                              ? config_setting_get_member(g, "versions")
		                              : NULL;
		int m = v && (config_setting_is_list(v) || config_setting_is_array(v))
		                ? config_setting_length(v)
		                : 0;
		n += m > 0 ? (size_t)m : 1;
	}
	return n;
}

/* Turns the target at c->targets[c->ntargets - 1], whose group g lists
 * versions, into one target per version named NAME@VERSION (the versions
 * take the slots after it, which count_lanes() reserved). */
static void expand_versions(const struct loader *ld, config_setting_t *g, struct config *c,
                            const char *where)
{
	config_setting_t *vs = config_setting_get_member(g, "versions");
	struct cfg_target *base = &c->targets[c->ntargets - 1], proto;
	int m, total = 0;

	if (base->request_file) {
		err_at(ld, config_setting_get_member(g, "request_file"),
		       "%s: give either \"request_file\" or \"versions\", not both", where);
		return;
	}
	if (!config_setting_is_list(vs) && !config_setting_is_array(vs)) {
		err_at(ld, vs,
		       "%s: \"versions\" must be a list: versions = ( { name = \"blue\"; "
		       "request_file = \"...\"; weight = 100; } );",
		       where);
		return;
	}
	m = config_setting_length(vs);
	if (m < 1 || m > CFG_MAX_VERSIONS) {
		err_at(ld, vs, "%s: \"versions\" must list 1 to %d versions", where,
		       CFG_MAX_VERSIONS);
		return;
	}
	proto = *base; /* the lanes' common settings; base's strings move into it */
	c->ntargets--;
	for (int i = 0; i < m; i++) {
		config_setting_t *vg = config_setting_get_elem(vs, (unsigned)i);
		struct cfg_target *t = &c->targets[c->ntargets];
		char vwhere[160], name[160];

		target_copy(t, &proto);
		c->ntargets++;
		free(t->name);
		t->name = NULL;
		t->group = xstrdup(proto.name);
		t->line = config_line_of(vg);
		snprintf(vwhere, sizeof(vwhere), "%s: versions[%d]", where, i);
		if (!config_setting_is_group(vg)) {
			err_at(ld, vg, "%s must be a group { name; request_file; weight; }",
			       vwhere);
			continue;
		}
		config_read_group(ld, vg, version_keys, t, vwhere);
		if (!t->vname || !t->request_file || t->weight < 0) {
			err_at(ld, vg, "%s: \"name\", \"request_file\" and \"weight\" are required",
			       vwhere);
			continue;
		}
		t->request_file_line =
		        config_line_of(config_setting_get_member(vg, "request_file"));
		if (!config_name_valid(t->vname))
			err_at(ld, config_setting_get_member(vg, "name"),
			       "%s: version names may only use letters, digits, '-', '_' and '.'",
			       vwhere);
		for (size_t j = c->ntargets - 1 - (size_t)i; j + 1 < c->ntargets; j++)
			if (c->targets[j].vname && strcmp(c->targets[j].vname, t->vname) == 0)
				err_at(ld, vg, "%s: version \"%s\" is listed twice", where,
				       t->vname);
		snprintf(name, sizeof(name), "%s@%s", proto.name, t->vname);
		t->name = xstrdup(name);
		total += t->weight;
	}
	if (total == 0)
		err_at(ld, vs, "%s: every version has weight 0: at least one must take traffic",
		       where);
	/* proto's strings were copied into every lane */
	free(proto.name);
	free(proto.provider);
	free(proto.cache_key);
	free(proto.model);
	free(proto.deployment);
	config_strlist_free(proto.schedule);
	free(proto.windows);
	config_strlist_free(proto.allow_edit_list);
	free(proto.file);
}

/* The name is valid and not taken by an earlier target (or a group of
 * versions). */
static void check_name(const struct loader *ld, config_setting_t *g, const struct config *c,
                       const struct cfg_target *t, struct strmap *names, const char *where)
{
	size_t at = (size_t)(t - c->targets), first;

	if (!config_name_valid(t->name))
		err_at(ld, config_setting_get_member(g, "name"),
		       "%s: names may only use letters, digits, '-', '_' and '.' (at most 64)",
		       where);
	/* names: the first target (or group of versions) of each name. With
	 * 10,000 targets, comparing each with all before it was most of the
	 * loader's work. */
	first = strmap_add(names, t->name, at);
	if (first != at)
		err_at(ld, g, "%s: defined twice (first at line %d)", where,
		       c->targets[first].line);
}

/* The target's provider (sets provider_index), or NULL (reported). */
static const struct cfg_provider *find_provider(const struct loader *ld, config_setting_t *g,
                                                const struct config *c, struct cfg_target *t,
                                                const char *where)
{
	const struct cfg_provider *p = NULL;

	if (!t->provider && c->nproviders == 0) {
		err_at(ld, g, "%s: no provider is configured: add one to \"providers\"", where);
		return NULL;
	}
	if (!t->provider) {
		err_at(ld, g,
		       "%s: \"provider\" is required when more than one provider is configured",
		       where);
		return NULL;
	}
	for (size_t j = 0; j < c->nproviders; j++) {
		if (c->providers[j].name && strcmp(c->providers[j].name, t->provider) == 0) {
			p = &c->providers[j];
			t->provider_index = j;
		}
	}
	if (!p)
		err_at(ld, config_setting_get_member(g, "provider"), "%s: unknown provider \"%s\"",
		       where, t->provider);
	return p;
}

/* A TTL the scheduler can beat; openai-compatible providers have none by
 * default. Returns 0, or -EINVAL when there is no TTL at all. */
static int check_ttl(const struct loader *ld, config_setting_t *g, struct cfg_target *t,
                     const char *where)
{
	config_setting_t *s = config_setting_get_member(g, "ttl");

	if (t->ttl_s < 0) {
		err_at(ld, g,
		       "%s: \"ttl\" is required for openai-compatible providers (they evict by "
		       "LRU; ttl is your warm interval)",
		       where);
		return -EINVAL;
	}
	if (t->ttl_s < SCHED_MIN_TTL_S)
		err_at(ld, s,
		       "%s: ttl %gs is too short for the scheduler to beat: warms need a margin of "
		       "at least %.1fs before expiry, so ttl must be at least %gs",
		       where, t->ttl_s, SCHED_MARGIN_FLOOR_S, SCHED_MIN_TTL_S);
	t->ttl_set = s != NULL;
	return 0;
}

/* Does the endpoint exist for the kind? */
static bool endpoint_fits(enum provider_kind k, enum endpoint ep)
{
	switch (ep) {
	case ENDPOINT_AUTO:
		return true;
	case ENDPOINT_MESSAGES:
		return k == PROVIDER_ANTHROPIC || k == PROVIDER_VERTEX;
	case ENDPOINT_CHAT:
	case ENDPOINT_RESPONSES:
		return k == PROVIDER_OPENAI || k == PROVIDER_OPENAI_COMPAT ||
		       k == PROVIDER_AZURE_OPENAI;
	case ENDPOINT_INVOKE:
	case ENDPOINT_CONVERSE:
		return k == PROVIDER_BEDROCK;
	}
	return false;
}

/* warm_mode, endpoint and cache_key must fit the provider's kind. */
static void check_fits_provider(const struct loader *ld, config_setting_t *g,
                                const struct cfg_target *t, const struct cfg_provider *p,
                                const char *where)
{
	if (t->warm_mode == WARM_MODE_PREWARM &&
	    ((t->endpoint != ENDPOINT_RESPONSES && t->endpoint != ENDPOINT_AUTO) ||
	     !endpoint_fits(p->kind, ENDPOINT_RESPONSES)))
		err_at(ld, config_setting_get_member(g, "warm_mode"),
		       "%s: warm_mode \"prewarm\" needs the responses endpoint", where);
	if ((int)p->kind >= 0 && !endpoint_fits(p->kind, t->endpoint))
		err_at(ld, config_setting_get_member(g, "endpoint"),
		       "%s: endpoint \"%s\" does not match provider \"%s\" of kind %s", where,
		       endpoint_name(t->endpoint), p->name, provider_kind_name(p->kind));
}

static void check_cache_key(const struct loader *ld, config_setting_t *g,
                            const struct cfg_target *t, const struct cfg_provider *p,
                            const char *where)
{
	if (t->cache_key && (int)p->kind >= 0 &&
	    (adapter_kind_breakpoints(p->kind) || p->kind == PROVIDER_GEMINI))
		err_at(ld, config_setting_get_member(g, "cache_key"),
		       "%s: cache_key (OpenAI prompt_cache_key) does not apply to provider \"%s\" "
		       "of kind %s",
		       where, p->name, provider_kind_name(p->kind));
}

/* A name that goes into the URL (model, deployment): 1 to 2048 printable
 * ASCII characters without a space, as the control protocol's keep takes
 * them too. */
static void check_url_name(const struct loader *ld, config_setting_t *s, const char *key,
                           const char *v, const char *where)
{
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f) {
			err_at(ld, s, "%s: %s contains a space, control or non-ASCII character",
			       where, key);
			return;
		}
	if (!*v)
		err_at(ld, s, "%s: %s is empty", where, key);
	else if (strlen(v) > 2048)
		err_at(ld, s, "%s: %s is longer than 2048 characters", where, key);
}

/* What the target's model is on the kinds whose URL names it (the others
 * take it from the body), for the error that asks for one; NULL: none. */
static const char *url_model_example(enum provider_kind k)
{
	switch (k) {
	case PROVIDER_BEDROCK:
		return "a Bedrock model id such as \"anthropic.claude-sonnet-4-5-20250929-v1:0\", "
		       "an inference profile id or an ARN";
	case PROVIDER_VERTEX:
		return "a Vertex AI model such as \"claude-sonnet-4-5@20250929\"";
	case PROVIDER_GEMINI:
		return "a Gemini model such as \"gemini-2.5-flash\"";
	default:
		return NULL;
	}
}

/* model: what it means depends on the provider's kind; the kinds whose
 * URL names the model need it, the others take it from the body. */
static void check_model(const struct loader *ld, config_setting_t *g, const struct cfg_target *t,
                        const struct cfg_provider *p, const char *where)
{
	config_setting_t *s = config_setting_get_member(g, "model");
	const char *example;

	if ((int)p->kind < 0)
		return;
	if (!(example = url_model_example(p->kind))) {
		if (s)
			err_at(ld, s,
			       "%s: model does not apply to provider \"%s\" of kind %s (the "
			       "request body names its model)",
			       where, p->name, provider_kind_name(p->kind));
		return;
	}
	/* Gemini: a cachedContents template names its model in the body (its
	 * adapter says when one is missing). */
	if (!t->model && p->kind != PROVIDER_GEMINI) {
		err_at(ld, g, "%s: a target of %s provider \"%s\" needs model = \"...\" (%s)",
		       where, provider_kind_name(p->kind), p->name, example);
		return;
	}
	if (!t->model)
		return;
	check_url_name(ld, s, "model", t->model, where);
}

/* deployment names what an Azure OpenAI URL goes to; the deployments path
 * needs the provider's api_version. */
static void check_deployment(const struct loader *ld, config_setting_t *g,
                             const struct cfg_target *t, const struct cfg_provider *p,
                             const char *where)
{
	if ((int)p->kind < 0)
		return;
	if (t->deployment && p->kind != PROVIDER_AZURE_OPENAI)
		err_at(ld, config_setting_get_member(g, "deployment"),
		       "%s: \"deployment\" applies only to azure-openai providers", where);
	else if (t->deployment && !p->api_version)
		err_at(ld, config_setting_get_member(g, "deployment"),
		       "%s: the deployments path needs api_version = \"...\" on provider \"%s\" "
		       "(or leave out deployment for the v1 API)",
		       where, p->name);
	else if (t->deployment)
		check_url_name(ld, config_setting_get_member(g, "deployment"), "deployment",
		               t->deployment, where);
}

/* targets[i], the group g, into the next slot of c->targets (and, for a
 * target with versions, the slots after it). */
static void load_target(const struct loader *ld, config_setting_t *g, int i, struct config *c,
                        struct strmap *names)
{
	struct cfg_target *t = &c->targets[c->ntargets++];
	config_setting_t *rf = config_setting_get_member(g, "request_file");
	const struct cfg_provider *p;
	char where[96];

	t->file = xstrdup(config_file_of(ld, g));
	t->line = config_line_of(g);
	snprintf(where, sizeof(where), "targets[%d]", i);
	config_read_group(ld, g, target_keys, t, where);
	if (!t->name) {
		err_at(ld, g, "%s: \"name\" is required", where);
		return;
	}
	snprintf(where, sizeof(where), "target \"%s\"", t->name);
	check_name(ld, g, c, t, names, where);
	if (!(p = find_provider(ld, g, c, t, where)))
		return;
	t->request_file_line = config_line_of(rf ? rf : g);
	if (!t->request_file && !config_setting_get_member(g, "versions"))
		err_at(ld, g,
		       "%s: \"request_file\" is required (the application's request body as JSON)",
		       where);
	if (check_ttl(ld, g, t, where) < 0)
		return;
	check_allow_edit(ld, g, t, where);
	check_fits_provider(ld, g, t, p, where);
	check_schedule(ld, g, t, where);
	check_cache_key(ld, g, t, p, where);
	check_model(ld, g, t, p, where);
	check_deployment(ld, g, t, p, where);
	if (config_setting_get_member(g, "versions"))
		expand_versions(ld, g, c, where);
}

void config_load_targets(const struct loader *ld, config_t *cf, struct config *c)
{
	config_setting_t *list = config_lookup(cf, "targets");
	struct strmap names = { 0 };

	if (!list) {
		diags_add(ld->d, DIAG_WARNING, ld->path, 0,
		          "no \"targets\" list: warmd will warm only sessions (warmctl keep); "
		          "write targets = ( ); to say that is meant");
		return;
	}
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		err_at(ld, list, "\"targets\" must be a list: targets = ( { ... } );");
		return;
	}
	c->targets = xcalloc(count_lanes(list) + 1, sizeof(*c->targets));
	for (int i = 0; i < config_setting_length(list); i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (config_setting_is_group(g))
			load_target(ld, g, i, c, &names);
		else
			err_at(ld, g, "targets[%d] must be a group { ... }", i);
	}
	strmap_free(&names);
}

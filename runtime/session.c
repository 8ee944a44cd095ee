/* session: sessions, the targets an application registers over the control
 * socket. */
#include "session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "clock.h"
#include "duration.h"
#include "log.h"
#include "proto.h"
#include "sched.h"
#include "sched_rules.h"
#include "session_store.h"
#include "share.h"
#include "template.h"
#include "xalloc.h"

/* Where gaps are learned: sessions with the same provider, model, TTL and
 * name prefix. Kept while sessions learn in it, and a while after (the
 * next conversation of the group learns from the last ones). */
struct session_group {
	char *key;
	unsigned refs;  /* sessions in it */
	double left_at; /* when the last one left, for eviction */
	struct gap_hist gaps;
};

struct sessions {
	struct target_set *set;
	struct session_host host;
	struct session_store *store; /* or NULL: bodies in memory only */
	int max;
	size_t max_bytes;
	struct session_group **groups; /* sorted by key */
	size_t ngroups, gcap;
	struct sessions_stats stats;
};

static const char *const end_names[SESSION_END_COUNT] = {
	[SESSION_END_DROP] = "drop",
	[SESSION_END_EXPIRED] = "expired",
	[SESSION_END_PROVIDER] = "provider_removed",
	[SESSION_END_TARGET] = "name_taken",
	[SESSION_END_INVALID] = "invalid",
};

static const char *const keep_names[SESSION_KEEP_COUNT] = {
	[SESSION_KEEP_CREATED] = "created",
	[SESSION_KEEP_NEW_VERSION] = "new_version",
	[SESSION_KEEP_SAME] = "same",
	[SESSION_KEEP_REFUSED] = "refused",
};

const char *session_end_name(enum session_end why)
{
	return (unsigned)why < SESSION_END_COUNT ? end_names[why] : "unknown";
}

const char *session_keep_result_name(enum session_keep_result r)
{
	return (unsigned)r < SESSION_KEEP_COUNT ? keep_names[r] : "unknown";
}

static double now_of(const struct sessions *r)
{
	return clock_now(r->set->clk);
}

static void tell_changed(struct sessions *r)
{
	if (r->host.changed)
		r->host.changed(r->host.data);
}

/* session_store_saved_fn: a body's file is written; the state file may
 * name its session now. */
static void saved_cb(void *data, const char *hash)
{
	(void)hash;
	tell_changed(data);
}

struct sessions *sessions_new(struct target_set *set, const struct session_host *host)
{
	struct sessions *r = xcalloc(1, sizeof(*r));

	r->set = set;
	if (host)
		r->host = *host;
	r->max = CFG_MAX_SESSIONS;
	r->max_bytes = (size_t)CFG_MAX_SESSION_BYTES;
	return r;
}

void sessions_free(struct sessions *r)
{
	if (!r)
		return;
	session_store_close(r->store);
	for (size_t i = 0; i < r->ngroups; i++) {
		free(r->groups[i]->key);
		free(r->groups[i]);
	}
	free(r->groups);
	free(r);
}

void sessions_configure(struct sessions *r, const struct cfg_daemon *c)
{
	r->max = c->max_sessions;
	r->max_bytes = c->max_session_bytes;
}

void sessions_store_dir(const char *state_file, char *out, size_t n)
{
	size_t len = strlen(state_file);

	if (len > 5 && strcmp(state_file + len - 5, ".json") == 0)
		len -= 5;
	snprintf(out, n, "%.*s.sessions", (int)len, state_file);
}

int sessions_open_store(struct sessions *r, uv_loop_t *loop, const char *state_file)
{
	char dir[4200];
	struct errmsg e;
	int ret;

	if (r->store)
		return 0;
	sessions_store_dir(state_file, dir, sizeof(dir));
	ret = session_store_open(loop, dir, saved_cb, r, &r->store, &e);
	if (ret < 0)
		log_warning("%s: sessions will not survive a restart", e.text);
	return ret;
}

int sessions_flush(struct sessions *r)
{
	return r ? session_store_flush(r->store) : 0;
}

struct session_store *sessions_store(const struct sessions *r)
{
	return r ? r->store : NULL;
}

/* ---- groups ---- */

void session_group_key(const char *provider, const char *model, double ttl_s, const char *name,
                       char *out, size_t n)
{
	size_t len = strcspn(name, "-:");

	snprintf(out, n, "%s|%s|%g|%.*s", provider, model ? model : "", ttl_s, (int)len, name);
}

static size_t group_slot(const struct sessions *r, const char *key, bool *ret_found)
{
	size_t lo = 0, hi = r->ngroups;

	*ret_found = false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(r->groups[mid]->key, key);
		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The group of key, made when it is new. */
static struct session_group *group_get(struct sessions *r, const char *key)
{
	bool found;
	size_t i = group_slot(r, key, &found);
	struct session_group *g;

	if (found)
		return r->groups[i];
	if (r->ngroups == r->gcap) {
		r->gcap = r->gcap ? r->gcap * 2 : 16;
		r->groups = xreallocarray(r->groups, r->gcap, sizeof(*r->groups));
	}
	g = xcalloc(1, sizeof(*g));
	g->key = xstrdup(key);
	memmove(&r->groups[i + 1], &r->groups[i], (r->ngroups - i) * sizeof(*r->groups));
	r->groups[i] = g;
	r->ngroups++;
	return g;
}

/* Beyond SESSION_MAX_GROUPS_IDLE groups with no session, the one left
 * longest ago goes (names that each learn alone must not pile up). */
static void groups_trim(struct sessions *r)
{
	size_t idle = 0, oldest = 0;
	bool any = false;

	for (size_t i = 0; i < r->ngroups; i++) {
		if (r->groups[i]->refs)
			continue;
		idle++;
		if (!any || r->groups[i]->left_at < r->groups[oldest]->left_at)
			oldest = i;
		any = true;
	}
	if (idle <= SESSION_MAX_GROUPS_IDLE)
		return;
	free(r->groups[oldest]->key);
	free(r->groups[oldest]);
	memmove(&r->groups[oldest], &r->groups[oldest + 1],
	        (r->ngroups - oldest - 1) * sizeof(*r->groups));
	r->ngroups--;
}

/* t learns in the group of its provider, model, TTL and name. */
static void group_join(struct sessions *r, struct target *t)
{
	char key[512];
	struct session_group *g;

	session_group_key(t->prov->name, t->tmpl->model, t->ttl_s, t->name, key, sizeof(key));
	g = group_get(r, key);
	g->refs++;
	t->session->group = g;
	t->gaps = &g->gaps;
}

static void group_leave(struct sessions *r, struct target *t)
{
	struct session_group *g = t->session->group;

	if (!g)
		return;
	t->session->group = NULL;
	t->gaps = NULL;
	g->refs--;
	g->left_at = now_of(r);
	groups_trim(r);
}

void sessions_each_group(const struct sessions *r,
                         void (*fn)(void *data, const char *key, const struct gap_hist *h),
                         void *data)
{
	for (size_t i = 0; r && i < r->ngroups; i++)
		if (r->groups[i]->gaps.total > 0)
			fn(data, r->groups[i]->key, &r->groups[i]->gaps);
}

void sessions_group_restore(struct sessions *r, const char *key, const struct gap_hist *h)
{
	struct session_group *g = group_get(r, key);

	g->gaps = *h;
	g->left_at = now_of(r);
	groups_trim(r);
}

/* ---- building a session's template ---- */

/* The provider of the running set and of the configuration called name. */
static int find_provider(const struct sessions *r, const char *name, struct provider **ret_p,
                         const struct cfg_provider **ret_c, struct errmsg *e)
{
	const struct config *cfg = r->set->cfg;
	struct provider *p = NULL;
	const struct cfg_provider *c = NULL;

	for (size_t i = 0; i < r->set->nprovs; i++)
		if (strcmp(r->set->provs[i]->name, name) == 0)
			p = r->set->provs[i];
	for (size_t i = 0; cfg && i < cfg->nproviders; i++)
		if (strcmp(cfg->providers[i].name, name) == 0)
			c = &cfg->providers[i];
	if (!p || !c) {
		char list[256] = "";
		for (size_t i = 0; i < r->set->nprovs; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			         i ? ", " : "", r->set->provs[i]->name);
		return errmsg_set(e, -ENOENT, "no provider named \"%.64s\" (warmd.conf has: %s)",
		                  name, list[0] ? list : "none");
	}
	*ret_p = p;
	*ret_c = c;
	return 0;
}

/* What a session's model is on the kinds whose URL names it (a target of
 * warmd.conf sets model = ... there), for the error that asks for one;
 * NULL: the body names the model. */
static const char *url_model_example(enum provider_kind k)
{
	switch (k) {
	case PROVIDER_BEDROCK:
		return "a Bedrock model id such as anthropic.claude-sonnet-4-5-20250929-v1:0, an "
		       "inference profile id or an ARN";
	case PROVIDER_VERTEX:
		return "a Vertex AI model such as claude-sonnet-4-5@20250929";
	case PROVIDER_GEMINI:
		return "a Gemini model such as gemini-2.5-flash";
	default:
		return NULL;
	}
}

/* model and deployment for provider c, by the rules of a target's keys
 * (core/config_target.c): the kinds whose URL names the model need one
 * (a session's body alone cannot say where it goes; a Gemini
 * cachedContents body is a cache warmd would manage, not a
 * conversation), the others take it from the body; a deployment is
 * azure-openai's, on its deployments path, which needs api_version. The
 * charset and length were checked where they came in (proto.c, state.c). */
static int where_check(const struct cfg_provider *c, const char *model, const char *deployment,
                       struct errmsg *e)
{
	const char *example = url_model_example(c->kind);

	if (example && !model)
		return errmsg_set(e, -EINVAL,
		                  "provider \"%s\" is of kind %s, whose URL names the model: give "
		                  "it with --model (keep's \"model\"): %s",
		                  c->name, provider_kind_name(c->kind), example);
	if (!example && model)
		return errmsg_set(e, -EINVAL,
		                  "--model (keep's \"model\") does not apply to provider \"%s\" of "
		                  "kind %s: the request body names its model",
		                  c->name, provider_kind_name(c->kind));
	if (deployment && c->kind != PROVIDER_AZURE_OPENAI)
		return errmsg_set(
		        e, -EINVAL,
		        "--deployment (keep's \"deployment\") applies only to azure-openai "
		        "providers; \"%s\" is of kind %s",
		        c->name, provider_kind_name(c->kind));
	if (deployment && !c->api_version)
		return errmsg_set(
		        e, -EINVAL,
		        "--deployment: the deployments path needs api_version = \"...\" on "
		        "provider \"%s\" (or leave out --deployment for the v1 API)",
		        c->name);
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return !a == !b && (!a || strcmp(a, b) == 0);
}

static void add_warning(char *w, size_t n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void add_warning(char *w, size_t n, const char *fmt, ...)
{
	size_t len = strlen(w);
	va_list ap;

	if (len && len + 1 < n) /* one per line */
		w[len++] = '\n';
	va_start(ap, fmt);
	vsnprintf(w + len, n - len, fmt, ap);
	va_end(ap);
}

/* Where a session's body goes besides its provider: keep's model and
 * deployment (NULL: none). */
struct session_where {
	const char *model, *deployment;
};

/* The body built into a warm for provider c at w, and its TTL: given
 * (> 0), else the body's breakpoints', else the kind's default. warn
 * collects what deserves a look. */
static int build(const char *body, size_t len, const struct cfg_provider *c,
                 const struct session_where *w, double given_ttl, struct tmpl **ret,
                 double *ret_ttl, char *warn, size_t wn, struct errmsg *e)
{
	/* The adapters only read the target's strings. */
	struct cfg_target ct = { .name = "session",
		                 .provider = c->name,
		                 .model = (char *)w->model,
		                 .deployment = (char *)w->deployment };
	struct tmpl *tm = NULL;
	double ttl;
	char a[32], b[32];
	int r;

	r = where_check(c, w->model, w->deployment, e);
	if (r < 0)
		return r;
	if (len == 0)
		return errmsg_set(e, -EINVAL, "the body is empty: give the request body as JSON");
	r = template_from_bytes(body, len, &ct, c, &tm, e);
	if (r < 0) {
		errmsg_prefix(e, "body");
		return r;
	}
	if (tm->unwarmable[0]) {
		r = errmsg_set(e, -EINVAL, "the body cannot be warmed minimally: %s",
		               tm->unwarmable);
		tmpl_unref(tm);
		return r;
	}
	ttl = given_ttl > 0 ? given_ttl : tm->ttl_s;
	if (ttl <= 0 && c->kind == PROVIDER_OPENAI_COMPAT) {
		tmpl_unref(tm);
		return errmsg_set(e, -EINVAL,
		                  "provider \"%s\" is openai-compatible (it evicts by LRU): give "
		                  "--ttl, the warm interval",
		                  c->name);
	}
	if (ttl <= 0)
		ttl = 300; /* as a target of warmd.conf */
	if (ttl < SCHED_MIN_TTL_S) {
		tmpl_unref(tm);
		return errmsg_set(e, -EINVAL,
		                  "ttl %gs is too short for the scheduler to beat: at least %gs",
		                  ttl, SCHED_MIN_TTL_S);
	}
	if (given_ttl > 0 && tm->ttl_s > 0 && given_ttl != tm->ttl_s)
		add_warning(warn, wn,
		            "ttl %s differs from the body's cache ttl %s; warms follow %s",
		            duration_format(given_ttl, a, sizeof(a)),
		            duration_format(tm->ttl_s, b, sizeof(b)), a);
	if (tm->min_cacheable > 0 && tm->prefix_tokens_est < tm->min_cacheable)
		add_warning(warn, wn,
		            "the cached prefix is about %ld tokens, below %s's minimum of %ld: the "
		            "provider will not cache it",
		            tm->prefix_tokens_est, tm->model ? tm->model : "the model",
		            tm->min_cacheable);
	*ret = tm;
	*ret_ttl = ttl;
	return 0;
}

/* ---- creating, changing, ending ---- */

static struct target *new_session(struct sessions *r, const char *name, struct provider *p,
                                  const struct session_where *w, struct tmpl *tm, double ttl,
                                  double for_s, int priority, const char *body, size_t len,
                                  const char *hash)
{
	struct target *t = target_new(name);
	struct target_session *ss = xcalloc(1, sizeof(*ss));
	double now = now_of(r);

	t->prov = provider_ref(p);
	t->tmpl = tm;
	t->ttl_s = ttl;
	t->policy = POLICY_ADAPTIVE;
	t->priority = priority;
	t->last_touch = now;
	t->session = ss;
	ss->for_s = for_s;
	ss->created_at = now;
	ss->body = xmalloc(len + 1);
	memcpy(ss->body, body, len);
	ss->body[len] = '\0';
	ss->body_len = len;
	text_copy(ss->body_hash, sizeof(ss->body_hash), hash);
	ss->model = xstrdup_or_null(w->model);
	ss->deployment = xstrdup_or_null(w->deployment);
	target_version_enter(t, tm, now);
	group_join(r, t);
	r->stats.count++;
	r->stats.bytes += len;
	return t;
}

/* t's links to targets that share or extend its prefix, as they are and
 * after share_link(), planned again: t's version changed. */
static void relink(struct sessions *r, struct target *t)
{
	struct target_set *set = r->set;
	struct target **v = NULL;
	size_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		size_t want = n + t->nfollowers + t->nextended_by + 2;
		v = xreallocarray(v, want, sizeof(*v));
		if (t->leader)
			v[n++] = target_ref(t->leader);
		if (t->extends)
			v[n++] = target_ref(t->extends);
		for (size_t k = 0; k < t->nfollowers; k++)
			v[n++] = target_ref(t->followers[k]);
		for (size_t k = 0; k < t->nextended_by; k++)
			v[n++] = target_ref(t->extended_by[k]);
		if (pass == 0)
			share_link(set->targets, set->ntargets);
	}
	for (size_t k = 0; k < n; k++) {
		if (!v[k]->removed)
			sched_plan(set->sched, v[k]);
		target_unref(v[k]);
	}
	free(v);
}

/* t takes the new body (its bytes, hash, where it goes and template tm at
 * ttl): a new version unless only what follows the cached prefix changed
 * (another model or deployment is another URL, so another entry). */
static void take_body(struct sessions *r, struct target *t, const struct session_where *w,
                      struct tmpl *tm, double ttl, const char *body, size_t len, const char *hash)
{
	struct target_session *ss = t->session;
	bool same_entry =
	        strcmp(t->tmpl->version, tm->version) == 0 && strcmp(t->tmpl->url, tm->url) == 0;
	bool regroup = ttl != t->ttl_s || !t->tmpl->model != !tm->model ||
	               (tm->model && strcmp(t->tmpl->model, tm->model) != 0);
	double now = now_of(r);

	session_store_release(r->store, ss->body_hash);
	r->stats.bytes = r->stats.bytes - ss->body_len + len;
	free(ss->body);
	ss->body = xmalloc(len + 1);
	memcpy(ss->body, body, len);
	ss->body[len] = '\0';
	ss->body_len = len;
	text_copy(ss->body_hash, sizeof(ss->body_hash), hash);
	session_store_hold(r->store, hash, body, len);
	if (!same_str(ss->model, w->model)) {
		free(ss->model);
		ss->model = xstrdup_or_null(w->model);
	}
	if (!same_str(ss->deployment, w->deployment)) {
		free(ss->deployment);
		ss->deployment = xstrdup_or_null(w->deployment);
	}
	if (regroup)
		group_leave(r, t);
	tmpl_unref(t->tmpl);
	t->tmpl = tm;
	t->ttl_s = ttl;
	if (regroup)
		group_join(r, t);
	if (!same_entry) {
		/* The old prefix is not warmed any more; the new one usually
		 * extends it, so its first warm reads the old entry. */
		target_reset_version_state(t);
		target_version_enter(t, tm, now);
		relink(r, t);
	} else if (t->expires_at > 0) {
		t->expires_at = t->last_refresh + t->ttl_s;
	}
}

void sessions_forget(struct sessions *r, struct target *t, enum session_end why, const char *detail)
{
	struct target_session *ss = t->session;
	char a[32];

	if (!ss || ss->ended)
		return;
	ss->ended = true;
	r->stats.ended[why]++;
	r->stats.count--;
	r->stats.bytes -= ss->body_len;
	r->stats.past_hits += t->hits;
	r->stats.past_writes += t->writes;
	r->stats.past_nones += t->nones;
	r->stats.past_errors += t->errors;
	session_store_release(r->store, ss->body_hash);
	/* Only a conversation that went quiet without a word teaches when a
	 * quiet spell means the end: a drop says so itself (and while a keep
	 * is open, the application has not said it), and a reload's doing
	 * says nothing about conversations. */
	if (why == SESSION_END_EXPIRED)
		session_end_gap(t);
	group_leave(r, t);
	log_info("%s: session ended (%s%s%s) after %llu warms, %s after it began", t->name,
	         session_end_name(why), detail ? ": " : "", detail ? detail : "",
	         (unsigned long long)t->warms,
	         duration_format(now_of(r) - ss->created_at, a, sizeof(a)));
}

void session_end_gap(struct target *t)
{
	/* The last bin: a next request that never came, which is what teaches
	 * the policy to stop. */
	if (t->gaps && t->last_traffic > 0)
		policy_gap_observe(t->gaps, t->last_traffic, POLICY_BINS * t->ttl_s, t->ttl_s);
}

/* ---- keep ---- */

/* keep's checks and arguments: the target to update (NULL: a new one), the
 * provider, and the durations and priority in effect. */
struct keep_plan {
	struct target *t;
	struct provider *p;
	const struct cfg_provider *c;
	double given_ttl, for_s;
	int priority;
	char hash[65];
};

static int keep_check(struct sessions *r, const struct session_keep *k, struct keep_plan *kp,
                      struct errmsg *e)
{
	struct target *t;
	size_t first, bytes;
	int ret;

	if (!k->name || !config_session_name_valid(k->name))
		return errmsg_set(e, -EINVAL,
		                  "\"%.64s\" is not a session name: 1 to 64 letters, digits, '-', "
		                  "'_', '.' and ':'",
		                  k->name ? k->name : "");
	t = target_set_find(r->set, k->name);
	if (t && !t->session)
		return errmsg_set(e, -EEXIST,
		                  "\"%s\" is a target of warmd.conf: a session needs a name of its "
		                  "own",
		                  k->name);
	if (!t && target_set_lanes(r->set, k->name, &first) > 0)
		return errmsg_set(
		        e, -EEXIST,
		        "\"%s\" is a target of warmd.conf (with named versions): a session "
		        "needs a name of its own",
		        k->name);
	if (!k->provider)
		return errmsg_set(e, -EINVAL, "keep needs a provider");
	ret = find_provider(r, k->provider, &kp->p, &kp->c, e);
	if (ret < 0)
		return ret;
	if (t && t->prov != kp->p)
		return errmsg_set(
		        e, -EXDEV,
		        "session \"%s\" runs on provider %s: drop it first to move it to %s",
		        k->name, t->prov->name, kp->p->name);
	if (!t && r->max <= 0)
		return errmsg_set(e, -ENOSPC,
		                  "sessions are off here (daemon.max_sessions = 0 in warmd.conf)");
	if (!t && r->stats.count >= (size_t)r->max)
		return errmsg_set(
		        e, -ENOSPC,
		        "max_sessions reached: %zu sessions are kept already (drop one with "
		        "warmctl drop, or raise daemon.max_sessions)",
		        r->stats.count);
	bytes = r->stats.bytes - (t ? t->session->body_len : 0) + k->body_len;
	if (bytes > r->max_bytes)
		return errmsg_set(e, -EFBIG,
		                  "max_session_bytes reached: the sessions' bodies would take %zu "
		                  "bytes, over the %zu of daemon.max_session_bytes",
		                  bytes, r->max_bytes);
	if (k->ttl_s < 0 || k->ttl_s > DURATION_MAX_S || k->for_s < 0 || k->for_s > DURATION_MAX_S)
		return errmsg_set(e, -EINVAL, "ttl and for must be durations from 0 to a year");
	kp->t = t;
	kp->given_ttl = k->ttl_s > 0 ? k->ttl_s : t ? t->session->ttl_s : 0;
	kp->for_s = k->for_s > 0 ? k->for_s : t ? t->session->for_s : SESSION_DEFAULT_FOR_S;
	kp->priority = k->priority >= 0 ? k->priority : t ? t->priority : SESSION_DEFAULT_PRIORITY;
	adapter_hash(k->body ? k->body : "", k->body_len, kp->hash);
	return 0;
}

bool session_keep_warm(struct sched *s, struct target *t, double now)
{
	if (t->inflight)
		return true; /* a new version is warmed when it lands */
	if (t->expires_at - sched_margin(s, t) > now) {
		sched_plan(s, t);
		sched_rearm(s);
		return false;
	}
	sched_warm_now(s, t);
	if (!t->queued && !t->inflight)
		return false; /* paused, or cannot be warmed: the reason says */
	snprintf(t->reason, sizeof(t->reason), "keep: warming %s now",
	         t->last_refresh > 0 ? "the session" : "the session's new version");
	return true;
}

static int keep(struct sessions *r, const struct session_keep *k, struct session_kept *ret,
                struct errmsg *e)
{
	struct keep_plan kp = { 0 };
	const struct session_where w = { k->model, k->deployment };
	struct target *t;
	struct tmpl *tm = NULL;
	double ttl = 0, now = now_of(r);
	int rv;

	memset(ret, 0, sizeof(*ret));
	rv = keep_check(r, k, &kp, e);
	if (rv < 0)
		return rv;
	t = kp.t;
	if (t && strcmp(t->session->body_hash, kp.hash) == 0 &&
	    same_str(t->session->model, w.model) &&
	    same_str(t->session->deployment, w.deployment)) {
		ret->result = SESSION_KEEP_SAME;
		if (kp.given_ttl != t->session->ttl_s && kp.given_ttl > 0) {
			/* The same body at another TTL: built again for it. */
			rv = build(k->body, k->body_len, kp.c, &w, kp.given_ttl, &tm, &ttl,
			           ret->warnings, sizeof(ret->warnings), e);
			if (rv < 0)
				return rv;
			take_body(r, t, &w, tm, ttl, k->body, k->body_len, kp.hash);
		}
	} else {
		rv = build(k->body, k->body_len, kp.c, &w, kp.given_ttl, &tm, &ttl, ret->warnings,
		           sizeof(ret->warnings), e);
		if (rv < 0)
			return rv;
		if (t) {
			ret->result = SESSION_KEEP_NEW_VERSION;
			take_body(r, t, &w, tm, ttl, k->body, k->body_len, kp.hash);
		} else {
			ret->result = SESSION_KEEP_CREATED;
			t = new_session(r, k->name, kp.p, &w, tm, ttl, kp.for_s, kp.priority,
			                k->body, k->body_len, kp.hash);
			session_store_hold(r->store, kp.hash, k->body, k->body_len);
		}
	}
	t->session->ttl_s = kp.given_ttl;
	t->session->for_s = kp.for_s;
	t->priority = kp.priority;
	t->session->keep_until = now + kp.for_s;
	/* A keep is traffic (the application is about to send this body). */
	sched_note_traffic(r->set->sched, t);
	if (ret->result == SESSION_KEEP_CREATED) {
		char a[32], b[32];
		r->host.add(r->host.data, t);
		log_info("%s: new session (provider %s, version %s, ttl %s, kept for %s)", t->name,
		         t->prov->name, t->tmpl->short_version,
		         duration_format(t->ttl_s, a, sizeof(a)),
		         duration_format(kp.for_s, b, sizeof(b)));
	} else if (ret->result == SESSION_KEEP_NEW_VERSION) {
		log_info("%s: session's new version %s", t->name, t->tmpl->short_version);
	}
	ret->t = t;
	ret->warming = session_keep_warm(r->set->sched, t, now);
	if (!ret->warming && (t->paused || t->blocked || r->set->paused_all))
		add_warning(ret->warnings, sizeof(ret->warnings), "not warmed: %s", t->reason);
	tell_changed(r);
	return 0;
}

int sessions_keep(struct sessions *r, const struct session_keep *k, struct session_kept *ret,
                  struct errmsg *e)
{
	int rv = keep(r, k, ret, e);

	r->stats.keeps[rv < 0 ? SESSION_KEEP_REFUSED : ret->result]++;
	return rv;
}

int sessions_drop(struct sessions *r, const char *name, struct errmsg *e)
{
	struct target *t = target_set_find(r->set, name);

	if (t && !t->session)
		return errmsg_set(e, -EPERM,
		                  "\"%.64s\" is a target of warmd.conf, not a session: remove it "
		                  "there and reload",
		                  name);
	if (!t)
		return errmsg_set(e, -ENOENT, "no session named \"%.64s\"", name);
	sessions_forget(r, t, SESSION_END_DROP, NULL);
	r->host.remove(r->host.data, t);
	return 0;
}

void sessions_touched(struct sessions *r, struct target *t, double now)
{
	(void)r;
	if (t->session && !t->session->ended)
		t->session->keep_until = now + t->session->for_s;
}

void sessions_expired(struct sessions *r, struct target *t)
{
	char a[32], detail[80];

	snprintf(detail, sizeof(detail), "no keep or touch for %s",
	         duration_format(t->session->for_s, a, sizeof(a)));
	sessions_forget(r, t, SESSION_END_EXPIRED, detail);
	r->host.remove(r->host.data, t);
}

/* ---- reload ---- */

/* Do a and b build the same warm from a body? */
static bool same_build(const struct cfg_provider *a, const struct cfg_provider *b)
{
#define SAME(f) (!a->f == !b->f && (!a->f || strcmp(a->f, b->f) == 0))
	return a->kind == b->kind && SAME(base_url) && SAME(region) && SAME(project) &&
	       SAME(api_version);
#undef SAME
}

int sessions_rebind(struct sessions *r, struct target *t, struct provider *const *provs,
                    const struct config *cfg, enum session_end *ret_why, char *detail, size_t n)
{
	const struct cfg_provider *c = NULL, *old = NULL;
	struct provider *p = NULL;
	struct tmpl *tm = NULL;
	double ttl = t->ttl_s;
	char warn[256] = "";
	struct errmsg e;

	for (size_t i = 0; i < cfg->nproviders; i++)
		if (strcmp(cfg->providers[i].name, t->prov->name) == 0) {
			c = &cfg->providers[i];
			p = provs[i];
		}
	for (size_t i = 0; r->set->cfg && i < r->set->cfg->nproviders; i++)
		if (strcmp(r->set->cfg->providers[i].name, t->prov->name) == 0)
			old = &r->set->cfg->providers[i];
	if (!c) {
		*ret_why = SESSION_END_PROVIDER;
		snprintf(detail, n, "warmd.conf has no provider %s any more", t->prov->name);
		return -ENOENT;
	}
	if (!old || !same_build(old, c)) {
		const struct session_where w = { t->session->model, t->session->deployment };
		if (build(t->session->body, t->session->body_len, c, &w, t->session->ttl_s, &tm,
		          &ttl, warn, sizeof(warn), &e) < 0) {
			*ret_why = SESSION_END_INVALID;
			snprintf(detail, n, "provider %s changed: %s", c->name, e.text);
			return -EINVAL;
		}
	}
	if (p != t->prov) {
		provider_unref(t->prov);
		t->prov = provider_ref(p);
	}
	if (tm) {
		bool same = strcmp(t->tmpl->version, tm->version) == 0 &&
		            strcmp(t->tmpl->url, tm->url) == 0;
		if (!same)
			log_info("%s: session rebuilt for provider %s's new settings: version %s",
			         t->name, c->name, tm->short_version);
		tmpl_unref(t->tmpl);
		t->tmpl = tm;
		if (!same) {
			target_reset_version_state(t);
			target_version_enter(t, tm, now_of(r));
		}
		if (ttl != t->ttl_s) {
			group_leave(r, t);
			t->ttl_s = ttl;
			group_join(r, t);
		}
	}
	return 0;
}

/* ---- restart ---- */

static void restore_failed(struct sessions *r, const struct session_record *rec,
                           enum session_end why, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void restore_failed(struct sessions *r, const struct session_record *rec,
                           enum session_end why, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	r->stats.ended[why]++;
	log_info("%s: session not restored (%s): %s", rec->name, session_end_name(why), text);
}

struct target *sessions_restore(struct sessions *r, const struct session_record *rec)
{
	const struct session_where w = { rec->model, rec->deployment };
	double now = now_of(r), ttl = 0;
	const struct cfg_provider *c;
	struct provider *p;
	struct target *t;
	struct tmpl *tm;
	char hash[65], warn[256] = "";
	struct errmsg e;
	char *body = NULL;
	size_t len = 0;

	if (rec->keep_until <= now) {
		char a[32];
		restore_failed(r, rec, SESSION_END_EXPIRED,
		               "its keep_until passed %s ago, while warmd was down: dropped, not "
		               "warmed",
		               duration_format(now - rec->keep_until, a, sizeof(a)));
		return NULL;
	}
	if (target_set_find(r->set, rec->name)) {
		restore_failed(r, rec, SESSION_END_TARGET, "warmd.conf has a target of that name");
		return NULL;
	}
	if (find_provider(r, rec->provider, &p, &c, &e) < 0) {
		restore_failed(r, rec, SESSION_END_PROVIDER, "%s", e.text);
		return NULL;
	}
	if (!r->store) {
		restore_failed(r, rec, SESSION_END_INVALID, "its body's directory is not usable");
		return NULL;
	}
	if (session_store_read(r->store, rec->body_hash, PROTO_MAX_LINE, &body, &len, &e) < 0) {
		restore_failed(r, rec, SESSION_END_INVALID, "%s", e.text);
		return NULL;
	}
	adapter_hash(body, len, hash);
	if (strcmp(hash, rec->body_hash) != 0) {
		restore_failed(r, rec, SESSION_END_INVALID,
		               "its body's file does not hold the body it names");
		free(body);
		return NULL;
	}
	if (build(body, len, c, &w, rec->ttl_s, &tm, &ttl, warn, sizeof(warn), &e) < 0) {
		restore_failed(r, rec, SESSION_END_INVALID, "%s", e.text);
		free(body);
		return NULL;
	}
	t = new_session(r, rec->name, p, &w, tm, ttl, rec->for_s, rec->priority, body, len, hash);
	free(body);
	t->session->ttl_s = rec->ttl_s;
	t->session->keep_until = rec->keep_until;
	session_store_hold(r->store, hash, NULL, 0); /* its file is there */
	r->host.add(r->host.data, t);
	return t;
}

void sessions_restored(struct sessions *r)
{
	double now = now_of(r);
	size_t n = 0;
	int cleaned;

	for (size_t i = 0; i < r->set->ntargets; i++) {
		struct target *t = r->set->targets[i];
		if (!t->session)
			continue;
		n++;
		/* Cold because warmd was down, not because its policy let it go:
		 * the keep's word stands. */
		if (t->expires_at <= now && !t->inflight && !t->paused && !r->set->paused_all &&
		    !t->leader)
			session_keep_warm(r->set->sched, t, now);
	}
	sched_rearm(r->set->sched);
	cleaned = session_store_clean(r->store);
	if (n || cleaned)
		log_info("%zu sessions restored%s", n,
		         cleaned ? "; deleted the session bodies nobody holds any more" : "");
}

void sessions_get_stats(const struct sessions *r, struct sessions_stats *ret)
{
	*ret = r->stats;
}

int sessions_max(const struct sessions *r)
{
	return r->max;
}

size_t sessions_max_bytes(const struct sessions *r)
{
	return r->max_bytes;
}

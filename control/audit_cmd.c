/* audit_cmd: the caching audit wired to the daemon. */
#include "audit_cmd.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "audit.h"
#include "clock.h"
#include "ctl_reply.h"
#include "jsonx.h"
#include "log.h"
#include "pricing.h"
#include "provider.h"
#include "rollout.h"
#include "template.h"
#include "xalloc.h"

/* Everything one target lends the audit, owned by the job: the worker
 * thread must not see anything a reload could free meanwhile. */
struct audit_item {
	struct tmpl *tmpl; /* ref */
	char *name, *provider, *cache_key;
	uint32_t *touches;
	struct audit_fp prev_fp;
	bool has_prev_fp;
	struct price price;
	bool has_price;
};

struct audit_job {
	uv_work_t work;
	struct audit_env *env;
	struct ctl_reply *reply;
	struct audit_target *in;
	struct audit_item *items;
	size_t n;
	char *only;
	double now;
	json_object *result;
};

/* Copies what the audit needs of t into item i of job. */
static void snapshot(struct audit_job *job, size_t i, const struct target *t)
{
	struct audit_item *it = &job->items[i];
	struct audit_target *a = &job->in[i];

	it->tmpl = tmpl_ref(t->tmpl);
	it->name = xstrdup(t->name);
	it->provider = xstrdup(t->prov->name);
	it->cache_key = xstrdup_or_null(t->cache_key);
	if (t->touch_n) {
		it->touches = xreallocarray(NULL, t->touch_n, sizeof(*it->touches));
		for (unsigned k = 0; k < t->touch_n; k++)
			it->touches[k] = target_touch_at(t, k);
	}
	if (t->prev_fp) {
		it->prev_fp = *t->prev_fp;
		it->has_prev_fp = true;
	}
	if (t->price) {
		it->price = *t->price;
		/* the table's strings: not needed, not ours */
		it->price.model = it->price.kind = it->price.region = NULL;
		it->has_price = true;
	}
	a->name = it->name;
	a->provider = it->provider;
	a->kind = t->prov->kind;
	a->body = it->tmpl->body;
	a->body_len = it->tmpl->body ? it->tmpl->body_len : 0;
	a->model = it->tmpl->model;
	a->prefix_tokens_est = it->tmpl->prefix_tokens_est;
	a->min_cacheable = it->tmpl->min_cacheable;
	a->prefix_tokens_seen = t->prefix_tokens;
	a->unwarmable = it->tmpl->unwarmable;
	a->ttl_s = t->ttl_s;
	a->policy = t->policy;
	a->idle_limit_s = t->idle_limit_s;
	a->cache_key = it->cache_key;
	a->warms = t->warms;
	a->hits = t->hits;
	a->writes = t->writes;
	a->nones = t->nones;
	a->errors = t->errors;
	a->touches = t->touches;
	a->touch_times = it->touches;
	a->ntouch = t->touch_n;
	a->prev_fp = it->has_prev_fp ? &it->prev_fp : NULL;
	a->nversions = t->nversions;
	a->named_versions = t->group && t->vname;
	a->inline_key = t->prov->inline_key;
	a->provider_has_rpm_limit = t->prov->max_rpm > 0;
	a->tested = t->tested_at > 0;
	a->price = it->has_price ? &it->price : NULL;
}

static void job_free(struct audit_job *job)
{
	for (size_t i = 0; i < job->n; i++) {
		tmpl_unref(job->items[i].tmpl);
		free(job->items[i].name);
		free(job->items[i].provider);
		free(job->items[i].cache_key);
		free(job->items[i].touches);
	}
	free(job->items);
	free(job->in);
	free(job->only);
	json_object_put(job->result);
	free(job);
}

static void work_cb(uv_work_t *w)
{
	struct audit_job *job = w->data;

	job->result = audit_run(job->in, job->n, job->now, job->only);
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct audit_job *job = w->data;
	struct buf out = BUF_INIT;

	job->env->running = false;
	if (status < 0 || !job->result) {
		proto_response_error(&out, PROTO_E_FAILED,
		                     "the audit could not run (out of memory)");
	} else {
		log_info("audit%s%s: score %lld, grade %s", job->only ? " of " : "",
		         job->only ? job->only : "",
		         (long long)json_object_get_int64(
		                 json_object_object_get(job->result, "score")),
		         json_object_get_string(json_object_object_get(job->result, "grade")));
		proto_response_ok(&out, job->result);
		job->result = NULL; /* the response took it */
	}
	ctl_reply_send(job->reply, &out);
	job_free(job);
}

void audit_cmd(struct audit_env *env, const struct proto_request *req, struct ctl_conn *conn,
               struct buf *out)
{
	struct audit_job *job;

	if (req->target && !target_set_find(env->set, req->target)) {
		char msg[300];
		size_t first;
		if (target_set_lanes(env->set, req->target, &first) > 0)
			snprintf(msg, sizeof(msg),
			         "%.64s has named versions: audit one of them, such as %s, or all "
			         "targets",
			         req->target, env->set->targets[first]->name);
		else
			snprintf(msg, sizeof(msg), "no target named \"%.64s\"", req->target);
		proto_response_error(out, PROTO_E_NOT_FOUND, msg);
		return;
	}
	if (env->running) {
		proto_response_error(out, PROTO_E_BUSY, "an audit is running; try again shortly");
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->in = xcalloc(env->set->ntargets + 1, sizeof(*job->in));
	job->items = xcalloc(env->set->ntargets + 1, sizeof(*job->items));
	job->env = env;
	job->now = clock_now(env->set->clk);
	job->only = xstrdup_or_null(req->target);
	/* Every target, even for one: cache keys are counted per provider. */
	for (size_t i = 0; i < env->set->ntargets; i++) {
		snapshot(job, i, env->set->targets[i]);
		job->n++;
	}
	job->work.data = job;
	if (!(job->reply = ctl_reply_defer(conn))) {
		job_free(job);
		proto_response_error(out, PROTO_E_BUSY, "cannot wait for the audit now");
		return;
	}
	if (uv_queue_work(env->loop, &job->work, work_cb, after_work_cb) < 0) {
		struct buf err = BUF_INIT;
		proto_response_error(&err, PROTO_E_FAILED, "cannot start the audit");
		ctl_reply_send(job->reply, &err);
		job_free(job);
		return;
	}
	env->running = true;
}

/* --check-config ---------------------------------------------------------------------- */

struct emit_ctx {
	const struct config *cfg;
	struct diags *diags;
};

static void emit_cb(const struct audit_finding *f, void *data)
{
	struct emit_ctx *ctx = data;
	const char *file = ctx->cfg->file;
	int line = 0;

	/* daemon_stage() already reports these in its own words. */
	if (strcmp(f->check, "unwarmable") == 0 || strcmp(f->check, "below-minimum") == 0 ||
	    strcmp(f->check, "inline-key") == 0)
		return;
	for (size_t i = 0; f->target && i < ctx->cfg->ntargets; i++)
		if (strcmp(ctx->cfg->targets[i].name, f->target) == 0) {
			file = ctx->cfg->targets[i].file;
			line = ctx->cfg->targets[i].line;
		}
	for (size_t i = 0; !f->target && f->provider && i < ctx->cfg->nproviders; i++)
		if (strcmp(ctx->cfg->providers[i].name, f->provider) == 0) {
			file = ctx->cfg->providers[i].file;
			line = strcmp(f->check, "inline-key") == 0 ? ctx->cfg->providers[i].key_line
			                                           : ctx->cfg->providers[i].line;
		}
	diags_add(ctx->diags, DIAG_WARNING, file, line, "audit (%s, %s): %s%s%s: %s",
	          audit_severity_name(f->severity), f->category, f->target ? f->target : "",
	          f->target ? ": " : "", f->title, f->recommendation);
}

void audit_cmd_check_config(const struct config *cfg, struct tmpl *const *tmpls,
                            struct diags *diags)
{
	struct audit_target *in = xcalloc(cfg->ntargets + 1, sizeof(*in));
	struct emit_ctx ctx = { cfg, diags };

	for (size_t i = 0; i < cfg->ntargets; i++) {
		const struct cfg_target *c = &cfg->targets[i];
		const struct cfg_provider *p = &cfg->providers[c->provider_index];
		const struct tmpl *tm = tmpls[i];
		struct audit_target *a = &in[i];
		a->name = c->name;
		a->provider = p->name;
		a->kind = p->kind;
		a->body = tm->body;
		a->body_len = tm->body ? tm->body_len : 0;
		a->model = tm->model;
		a->prefix_tokens_est = tm->prefix_tokens_est;
		a->min_cacheable = tm->min_cacheable;
		a->unwarmable = tm->unwarmable;
		a->ttl_s = c->ttl_s;
		a->policy = c->policy;
		a->idle_limit_s = c->idle_limit_s;
		a->cache_key = c->cache_key;
		a->nversions = 1;
		a->named_versions = c->group != NULL;
		a->inline_key = p->api_key != NULL;
		a->provider_has_rpm_limit = p->max_rpm > 0;
	}
	if (audit_static(in, cfg->ntargets, emit_cb, &ctx) < 0)
		diags_add(diags, DIAG_WARNING, cfg->file, 0, "the audit's checks could not run");
	free(in);
}

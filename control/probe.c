/* probe: `warmctl test`, the verification test. */
#include "probe.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cred.h"
#include "ctl_reply.h"
#include "jsonx.h"
#include "log.h"
#include "managed_cache.h"
#include "pricing.h"
#include "provider.h"
#include "target.h"
#include "template.h"
#include "xalloc.h"

/* One answer of the provider. */
struct shot {
	enum warm_result result;
	int64_t read, write;
	double latency_ms;
	int64_t cost_pico; /* < 0: unknown */
	char error[256];
};

struct probe {
	struct probe *next;
	struct probe_env *env;
	struct target *t;   /* ref */
	struct cred *cred;  /* ref: the key the test started with */
	struct tmpl **body; /* ref each: n times the target's, then the variants' */
	char **file;        /* the variants' names, as the client gave them */
	size_t n, nvariants, i;
	struct shot *shots;
	struct http_req req;
	struct ctl_reply *reply;
	char *mc_url, *mc_body; /* a managed cache's renewal (managed_cache.h) */
};

static void probe_free(struct probe *p)
{
	http_req_reset(&p->req);
	for (size_t i = 0; i < p->n + p->nvariants; i++)
		tmpl_unref(p->body[i]);
	for (size_t i = 0; i < p->nvariants; i++)
		free(p->file[i]);
	free(p->body);
	free(p->file);
	free(p->shots);
	free(p->mc_url);
	free(p->mc_body);
	cred_unref(p->cred);
	target_unref(p->t);
	free(p);
}

static void unlink_probe(struct probe *p)
{
	for (struct probe **q = &p->env->running; *q; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			return;
		}
}

/* v with `digits` decimals: what the answer shows, without float noise. */
static double rounded(double v, double digits)
{
	double scale = pow(10, digits);

	return round(v * scale) / scale;
}

static void answer_error(struct probe *p, const char *msg)
{
	struct buf out = BUF_INIT;

	proto_response_error(&out, PROTO_E_FAILED, msg);
	unlink_probe(p);
	ctl_reply_send(p->reply, &out);
	probe_free(p);
}

static const char *result_name(enum warm_result r)
{
	static const char *const names[] = { [WARM_HIT] = "hit",
		                             [WARM_WRITE] = "write",
		                             [WARM_NONE] = "none",
		                             [WARM_ERROR] = "error" };
	return names[r];
}

/* The mean of the latencies (or costs) of the base's shots with result r. */
static bool mean_of(const struct probe *p, enum warm_result r, bool cost, double *ret)
{
	double sum = 0;
	size_t k = 0;

	for (size_t i = 0; i < p->n; i++) {
		if (p->shots[i].result != r || (cost && p->shots[i].cost_pico < 0))
			continue;
		sum += cost ? (double)p->shots[i].cost_pico : p->shots[i].latency_ms;
		k++;
	}
	if (k)
		*ret = sum / (double)k;
	return k > 0;
}

static void add_mean(json_object *o, const char *key, const struct probe *p, enum warm_result r,
                     bool cost)
{
	double v;

	if (!mean_of(p, r, cost, &v))
		jsonx_add_str(o, key, NULL);
	else if (cost)
		jsonx_add_usd(o, key, (int64_t)(v + 0.5));
	else
		jsonx_add_double(o, key, rounded(v, 1));
}

static void answer(struct probe *p)
{
	struct buf out = BUF_INIT;
	json_object *data = json_object_new_object(), *reqs = json_object_new_array();
	size_t hits = 0, first_hit = 0;
	int64_t base_prefix = 0;

	jsonx_add_str(data, "target", p->t->name);
	for (size_t i = 0; i < p->n; i++) {
		const struct shot *s = &p->shots[i];
		json_object *o = json_object_new_object();
		jsonx_add_int(o, "n", (int64_t)i + 1);
		jsonx_add_str(o, "result", result_name(s->result));
		jsonx_add_int(o, "cached_tokens", s->read);
		jsonx_add_int(o, "written_tokens", s->write);
		jsonx_add_double(o, "latency_ms", rounded(s->latency_ms, 1));
		if (s->error[0])
			jsonx_add_str(o, "error", s->error);
		json_object_array_add(reqs, o);
		if (s->result == WARM_HIT && hits++ == 0)
			first_hit = i + 1;
		if (s->read + s->write > base_prefix && s->result != WARM_ERROR)
			base_prefix = s->read + s->write;
	}
	json_object_object_add(data, "requests", reqs);
	jsonx_add_double(data, "hit_rate", rounded((double)hits / (double)p->n, 3));
	if (first_hit)
		jsonx_add_int(data, "first_hit", (int64_t)first_hit);
	else
		jsonx_add_str(data, "first_hit", NULL);
	add_mean(data, "latency_hit_ms", p, WARM_HIT, false);
	add_mean(data, "latency_write_ms", p, WARM_WRITE, false);
	add_mean(data, "cost_hit_usd", p, WARM_HIT, true);
	add_mean(data, "cost_write_usd", p, WARM_WRITE, true);
	jsonx_add_int(data, "prefix_tokens", base_prefix);
	if (p->nvariants) {
		json_object *vars = json_object_new_array();
		for (size_t k = 0; k < p->nvariants; k++) {
			const struct shot *s = &p->shots[p->n + k];
			json_object *o = json_object_new_object();
			jsonx_add_str(o, "file", p->file[k]);
			jsonx_add_int(o, "read_tokens", s->read);
			if (base_prefix > 0 && s->result != WARM_ERROR)
				jsonx_add_double(o, "kept_ratio",
				                 rounded((double)s->read / (double)base_prefix, 3));
			else
				jsonx_add_str(o, "kept_ratio", NULL);
			jsonx_add_str(o, "result", result_name(s->result));
			if (s->error[0])
				jsonx_add_str(o, "error", s->error);
			json_object_array_add(vars, o);
		}
		json_object_object_add(data, "variants", vars);
	}
	p->t->tested_at = clock_now(p->env->set->clk);
	log_info("%s: verification test: %zu of %zu requests hit the cache%s", p->t->name, hits,
	         p->n, p->nvariants ? ", variants reported" : "");
	proto_response_ok(&out, data);
	unlink_probe(p);
	ctl_reply_send(p->reply, &out);
	probe_free(p);
}

static void shot_done_cb(struct http_req *req);

static void send_next(struct probe *p)
{
	struct tmpl *b = p->body[p->i];
	struct errmsg e = { "" };
	struct cred_lines lines;
	double retry_at = 0;
	int r;

	http_req_reset(&p->req);
	memset(&p->req, 0, sizeof(p->req));
	p->req.url = b->url;
	p->req.body = b->body;
	p->req.body_len = b->body_len;
	free(p->mc_url);
	free(p->mc_body);
	p->mc_url = p->mc_body = NULL;
	/* A managed cache is tested by renewing it: its body would create another. */
	if (b->managed &&
	    (r = managed_cache_test_request(p->t, &p->req, &p->mc_url, &p->mc_body, &e)) < 0) {
		char msg[640];
		snprintf(msg, sizeof(msg), "%s cannot be tested: %s", p->t->name, e.text);
		answer_error(p, msg);
		return;
	}
	provider_request_limits(p->t->prov, &p->req);
	p->req.done = shot_done_cb;
	p->req.data = p;
	r = cred_authorize(p->cred, &p->req, clock_now(p->env->set->clk), &lines, &retry_at, &e);
	if (r == 0)
		r = http_start(p->env->http, &p->req);
	cred_lines_wipe(&lines);
	if (r < 0) {
		char msg[640];
		snprintf(msg, sizeof(msg), "cannot start request %zu: %s", p->i + 1,
		         e.text[0]      ? e.text
		         : r == -EAGAIN ? "the credential is not ready yet"
		                        : strerror(-r));
		answer_error(p, msg);
	}
}

static void shot_done_cb(struct http_req *req)
{
	struct probe *p = req->data;
	struct shot *s = &p->shots[p->i];
	struct warm_usage u = { 0 };
	struct errmsg e = { "" };
	const struct adapter_ops *ops = p->t->prov->ops;

	cred_scrub_answer(req); /* before anything reads it, as warm.c does */
	s->latency_ms = req->total_s * 1000;
	s->cost_pico = -1;
	if (req->error) {
		s->result = WARM_ERROR;
		text_copy(e.text, sizeof(e.text), req->errtext);
	} else if (req->status >= 200 && req->status < 300 && p->body[p->i]->managed) {
		double expire;
		int64_t tokens = 0;
		if (ops->cache->parse_touched(req->resp.data ? req->resp.data : "", req->resp.len,
		                              &expire, &tokens, &u, &e) < 0)
			s->result = WARM_ERROR;
		else
			s->result = u.result;
		u.read = tokens; /* the cache's size; a renewal bills none of it */
	} else if (req->status >= 200 && req->status < 300) {
		if (ops->parse_ok(req->resp.data ? req->resp.data : "", req->resp.len, &u, &e) < 0)
			s->result = WARM_ERROR;
		else
			s->result = u.result;
	} else {
		s->result = WARM_ERROR;
		ops->parse_error(req->status, req->resp.data ? req->resp.data : "", req->resp.len,
		                 &e);
	}
	cred_scrub(e.text); /* decoded JSON escapes */
	if (s->result == WARM_ERROR) {
		text_copy(s->error, sizeof(s->error), e.text);
	} else {
		s->read = u.read;
		s->write = u.write;
		if (p->t->price && p->body[p->i]->managed)
			s->cost_pico = 0; /* a renewal bills no tokens (its storage: the warms') */
		else if (p->t->price)
			s->cost_pico = pricing_cost(p->t->price, &u, p->t->ttl_s);
	}
	/* A rejected key or request will not get better by asking again. */
	if (s->result == WARM_ERROR && req->status >= 400 && req->status < 500 &&
	    req->status != 408 && req->status != 429) {
		char msg[400];
		snprintf(msg, sizeof(msg), "request %zu failed: %s", p->i + 1, s->error);
		answer_error(p, msg);
		return;
	}
	if (++p->i < p->n + p->nvariants)
		send_next(p);
	else
		answer(p);
}

/* The configuration a target was built from (a replaced version: its
 * group's; a session: none but its provider's, as session.c builds it,
 * into *session). */
static const struct cfg_target *cfg_of(const struct target_set *set, const struct target *t,
                                       struct cfg_target *session)
{
	const char *name = t->retiring ? t->group : t->name;

	for (size_t i = 0; t->session && set->cfg && i < set->cfg->nproviders; i++)
		if (strcmp(set->cfg->providers[i].name, t->prov->name) == 0) {
			*session = (struct cfg_target){ .name = t->name, .provider_index = i };
			return session;
		}
	for (size_t i = 0; !t->session && set->cfg && i < set->cfg->ntargets; i++)
		if (strcmp(set->cfg->targets[i].name, name) == 0)
			return &set->cfg->targets[i];
	return NULL;
}

/* Builds the variants' warm bodies as the target's own would be built. */
static int load_variants(const struct target_set *set, struct probe *p, json_object *vars,
                         char *msg, size_t n)
{
	struct cfg_target session;
	const struct cfg_target *ct = cfg_of(set, p->t, &session);

	for (size_t k = 0; k < p->nvariants; k++) {
		json_object *v = json_object_array_get_idx(vars, k);
		const char *file = jsonx_get_str(v, "file"), *body = jsonx_get_str(v, "body");
		struct errmsg e = { "" };
		struct tmpl *tm = NULL;

		p->file[k] = xstrdup(file);
		if (!ct)
			return snprintf(msg, n, "%s: the target's configuration is gone", file), -1;
		if (template_from_bytes(
		            body, (size_t)json_object_get_string_len(jsonx_get(v, "body")), ct,
		            &set->cfg->providers[ct->provider_index], &tm, &e) < 0) {
			snprintf(msg, n, "variant %s: %s", file, e.text);
			return -1;
		}
		if (tm->unwarmable[0]) {
			snprintf(msg, n, "variant %s cannot be sent minimally: %s", file,
			         tm->unwarmable);
			tmpl_unref(tm);
			return -1;
		}
		p->body[p->n + k] = tm;
	}
	return 0;
}

void probe_cmd_test(struct probe_env *env, const struct proto_request *req, struct ctl_conn *conn,
                    struct buf *out)
{
	struct target *t = target_set_find(env->set, req->target);
	size_t first, nv = req->variants ? json_object_array_length(req->variants) : 0;
	struct probe *p;
	char msg[700];

	if (!t) {
		if (target_set_lanes(env->set, req->target, &first) > 0)
			snprintf(msg, sizeof(msg), "%.64s has named versions: test one, such as %s",
			         req->target, env->set->targets[first]->name);
		else
			snprintf(msg, sizeof(msg), "no target named \"%.64s\"", req->target);
		proto_response_error(out, PROTO_E_NOT_FOUND, msg);
		return;
	}
	if (t->tmpl->unwarmable[0] || t->prov->cred_failed || !t->prov->cred) {
		snprintf(msg, sizeof(msg), "%s cannot be tested: %s", t->name,
		         t->tmpl->unwarmable[0]
		                 ? t->tmpl->unwarmable
		                 : "its provider's API key was rejected or is missing");
		proto_response_error(out, PROTO_E_FAILED, msg);
		return;
	}
	if (nv && t->tmpl->managed) {
		snprintf(msg, sizeof(msg),
		         "%s is a cache warmd manages: variants do not apply (a test renews it)",
		         t->name);
		proto_response_error(out, PROTO_E_FAILED, msg);
		return;
	}
	/* req->n and the variants are bounded by the protocol (proto.c). */
	p = xcalloc(1, sizeof(*p));
	p->body = xcalloc((size_t)req->n + nv, sizeof(*p->body));
	p->file = xcalloc(nv + 1, sizeof(*p->file));
	p->shots = xcalloc((size_t)req->n + nv, sizeof(*p->shots));
	p->env = env;
	p->t = target_ref(t);
	p->cred = cred_ref(t->prov->cred);
	p->n = (size_t)req->n;
	for (size_t i = 0; i < p->n; i++)
		p->body[i] = tmpl_ref(t->tmpl);
	p->nvariants = nv;
	if (nv && load_variants(env->set, p, req->variants, msg, sizeof(msg)) < 0) {
		proto_response_error(out, PROTO_E_FAILED, msg);
		goto fail;
	}
	if (!(p->reply = ctl_reply_defer(conn))) {
		proto_response_error(out, PROTO_E_BUSY, "cannot wait for the answers now");
		goto fail;
	}
	p->next = env->running;
	env->running = p;
	log_info("%s: verification test: %zu requests%s", t->name, p->n, nv ? " and variants" : "");
	send_next(p);
	return;
fail:
	probe_free(p);
}

void probe_abort_all(struct probe_env *env)
{
	while (env->running) {
		struct probe *p = env->running;
		http_cancel(&p->req);
		answer_error(p, "warmd is stopping");
	}
}

/* managed_cache: caches warmd creates and keeps alive by name. */
#include "managed_cache.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cred.h"
#include "log.h"
#include "pricing.h"
#include "sched.h"
#include "xalloc.h"

static void done_cb(struct http_req *req);

/* Points t->req at the create (the template at its URL) or at the renewal
 * of t's cache. Returns 0, or a negative errno with e. */
static int prepare(struct target *t, bool create, struct errmsg *e)
{
	const struct adapter_cache_ops *ops = t->prov->ops->cache;
	const char *method = NULL;
	char *path = NULL, *body = NULL;
	int r;

	free(t->mc_url);
	free(t->mc_body);
	t->mc_url = t->mc_body = NULL;
	t->mc_creating = create;
	if (create) {
		t->req.method = NULL; /* POST */
		t->req.url = t->tmpl->url;
		t->req.body = t->tmpl->body;
		t->req.body_len = t->tmpl->body_len;
		return 0;
	}
	if (!ops)
		return errmsg_set(e, -ENOTSUP, "provider %s keeps no caches by name",
		                  t->prov->name);
	r = ops->touch_request(t->cache_name, t->ttl_s, &method, &path, &body, e);
	if (r < 0)
		return r;
	if (asprintf(&t->mc_url, "%s%s", t->prov->base_url, path) < 0)
		xalloc_die("asprintf");
	free(path);
	t->mc_body = body;
	t->req.method = method;
	t->req.url = t->mc_url;
	t->req.body = t->mc_body;
	t->req.body_len = strlen(t->mc_body);
	return 0;
}

int managed_cache_fire(struct warm_env *env, struct target *t)
{
	struct errmsg e = { "" };
	bool create = !t->cache_name;
	int r;

	if ((r = prepare(t, create, &e)) < 0) {
		text_copy(t->last_error, sizeof(t->last_error), e.text);
		return r;
	}
	if ((r = warm_send(env, t, done_cb)) < 0)
		return r;
	log_debug("%s: %s version %s via %s", t->name,
	          create ? "creating the cache of" : "renewing the cache of",
	          t->req_tmpl->short_version, t->prov->name);
	return 0;
}

/* The renewal found the cache gone: the same warm creates it again (it
 * still holds what warm_send() took). Returns 0, or a negative errno with
 * t->last_error. */
static int recreate(struct warm_env *env, struct target *t)
{
	struct errmsg e = { "" };
	struct cred_lines lines;
	double retry_at = 0;
	int r;

	http_req_reset(&t->req);
	prepare(t, true, &e); /* a create cannot fail to prepare */
	t->sent_at = clock_now(env->clk);
	r = cred_authorize(t->req_cred, &t->req, t->sent_at, &lines, &retry_at, &e);
	if (r == 0)
		r = http_start(env->http, &t->req);
	cred_lines_wipe(&lines);
	if (r < 0)
		snprintf(t->last_error, sizeof(t->last_error),
		         "cannot create the cache again: %.200s",
		         e.text[0] ? e.text : strerror(-r));
	return r;
}

int managed_cache_test_request(const struct target *t, struct http_req *req, char **ret_url,
                               char **ret_body, struct errmsg *e)
{
	const struct adapter_cache_ops *ops = t->prov->ops->cache;
	const char *name = t->cache_name, *method = NULL;
	char *path = NULL, *body = NULL;
	int r;

	if (!name && t->leader)
		name = t->leader->cache_name;
	if (!name)
		return errmsg_set(e, -ENOENT, "it has no cache yet (warmctl warm %s creates it)",
		                  t->name);
	if (!ops)
		return errmsg_set(e, -ENOTSUP, "provider %s keeps no caches by name",
		                  t->prov->name);
	if ((r = ops->touch_request(name, t->ttl_s, &method, &path, &body, e)) < 0)
		return r;
	if (asprintf(ret_url, "%s%s", t->prov->base_url, path) < 0)
		xalloc_die("asprintf");
	free(path);
	*ret_body = body;
	req->method = method;
	req->url = *ret_url;
	req->body = body;
	req->body_len = strlen(body);
	return 0;
}

/* ---- deletes: requests of their own ------------------------------------------------- */

struct deletion {
	struct deletion *next;
	struct http_req req;
	struct provider *prov; /* ref */
	struct cred *cred;     /* ref */
	char *url, *name;
};

static struct deletion *deletions; /* in flight */

static void deletion_free(struct deletion *d)
{
	for (struct deletion **p = &deletions; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			break;
		}
	http_req_reset(&d->req);
	provider_unref(d->prov);
	cred_unref(d->cred);
	free(d->url);
	free(d->name);
	free(d);
}

static void deletion_done_cb(struct http_req *req)
{
	struct deletion *d = (struct deletion *)((char *)req - offsetof(struct deletion, req));
	const struct adapter_cache_ops *ops = d->prov->ops->cache;
	struct errmsg e = { "" };

	cred_scrub_answer(req);
	if (!req->error && req->status >= 200 && req->status < 300) {
		log_info("provider %s: deleted cache %s", d->prov->name, d->name);
	} else if (!req->error &&
	           ops->gone(req->status, req->resp.data ? req->resp.data : "", req->resp.len)) {
		log_info("provider %s: cache %s was already gone", d->prov->name, d->name);
	} else {
		if (req->error)
			text_copy(e.text, sizeof(e.text), req->errtext);
		else
			d->prov->ops->parse_error(req->status, req->resp.data ? req->resp.data : "",
			                          req->resp.len, &e);
		cred_scrub(e.text);
		log_warning("provider %s: deleting cache %s failed (%s): it expires on its own",
		            d->prov->name, d->name, e.text);
	}
	deletion_free(d);
}

/* Sends the delete of name with prov's credential cred. */
static void delete_name(struct warm_env *env, struct provider *prov, struct cred *cred,
                        const char *name)
{
	const struct adapter_cache_ops *ops = prov->ops->cache;
	struct deletion *d;
	struct errmsg e = { "" };
	struct cred_lines lines;
	const char *method = NULL;
	char *path = NULL;
	double retry_at = 0;
	int r;

	if (!ops || !cred || ops->delete_request(name, &method, &path, &e) < 0) {
		log_warning("provider %s: cannot delete cache %s (%s): it expires on its own",
		            prov->name, name, e.text[0] ? e.text : "no credential");
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->prov = provider_ref(prov);
	d->cred = cred_ref(cred);
	d->name = xstrdup(name);
	if (asprintf(&d->url, "%s%s", prov->base_url, path) < 0)
		xalloc_die("asprintf");
	free(path);
	d->req.method = method;
	d->req.url = d->url;
	d->req.body = "";
	provider_request_limits(prov, &d->req);
	d->req.done = deletion_done_cb;
	d->next = deletions;
	deletions = d;
	r = cred_authorize(cred, &d->req, clock_now(env->clk), &lines, &retry_at, &e);
	if (r == 0)
		r = http_start(env->http, &d->req);
	cred_lines_wipe(&lines);
	if (r < 0) {
		log_warning("provider %s: cannot delete cache %s (%s): it expires on its own",
		            prov->name, name, e.text[0] ? e.text : strerror(-r));
		deletion_free(d);
	}
}

void managed_cache_drop(struct warm_env *env, struct target *t)
{
	double now = clock_now(env->clk);
	long tokens = t->prefix_tokens;

	if (!t->cache_name)
		return;
	log_info("%s: its cache %s is no longer kept: deleting it", t->name, t->cache_name);
	delete_name(env, t->prov, t->prov->cred, t->cache_name);
	/* The storage charged up to its expiry that it will not use. */
	if (t->price && t->cache_expire > now && tokens > 0) {
		int64_t unused = pricing_storage(t->price, tokens, t->cache_expire - now);
		t->cost_pico = t->cost_pico > unused ? t->cost_pico - unused : 0;
	}
	free(t->cache_name);
	t->cache_name = NULL;
	t->cache_expire = 0;
}

void managed_cache_cancel_all(void)
{
	while (deletions) {
		http_cancel(&deletions->req);
		deletion_free(deletions);
	}
}

/* ---- the answer to a warm ----------------------------------------------------------- */

/* What the warm cost: the create's tokens at the write price (Gemini bills
 * them as input), and the storage it adds: from the later of now and the
 * known expiry to the new one. */
static void count(struct target *t, const struct warm_usage *u, long tokens, double until)
{
	double from = t->cache_expire > t->sent_at ? t->cache_expire : t->sent_at;
	int64_t c = 0;

	if (u->result == WARM_WRITE) {
		from = t->sent_at; /* a new cache */
		t->tok_write += (uint64_t)u->write;
	}
	if (t->price) {
		c = pricing_cost(t->price, u, t->ttl_s);
		c = pricing_sum(c, pricing_storage(t->price, tokens, until - from));
		if (pricing_add(&t->cost_pico, c))
			log_warning("%s: cost_usd reached $%.0f and stays there", t->name,
			            pricing_usd(PRICING_MAX_PICO));
	}
}

static void done_cb(struct http_req *req)
{
	struct target *t = (struct target *)((char *)req - offsetof(struct target, req));
	struct warm_env *env = req->data;
	const struct adapter_ops *ops = t->prov->ops;
	struct sched_outcome o = { .sent_at = t->sent_at, .latency_s = req->total_s };
	const char *body = req->resp.data ? req->resp.data : "";
	struct warm_usage u = { 0 }, seen;
	struct errmsg e = { "" };
	double now = clock_now(env->clk), expire = 0, until;
	bool first = t->last_refresh <= 0, stale = t->removed || t->req_tmpl != t->tmpl;
	int64_t tokens = 0;
	char *name = NULL;

	cred_scrub_answer(req);
	if (!req->error && req->status >= 200 && req->status < 300) {
		int r = t->mc_creating ? ops->cache->parse_created(body, req->resp.len, &name,
		                                                   &expire, &u, &e)
		                       : ops->cache->parse_touched(body, req->resp.len, &expire,
		                                                   &tokens, &u, &e);
		o.result = r < 0 ? WARM_ERROR : u.result;
		o.retryable = r < 0; /* a garbled answer may be a one-off */
		if (r < 0)
			errmsg_prefix(&e, "HTTP %ld but unusable body", req->status);
	} else if (!req->error && !t->mc_creating && !stale &&
	           ops->cache->gone(req->status, body, req->resp.len)) {
		log_info("%s: cache %s is gone (HTTP %ld): creating it again", t->name,
		         t->cache_name, req->status);
		free(t->cache_name);
		t->cache_name = NULL;
		t->cache_expire = 0;
		if (recreate(env, t) == 0)
			return; /* the create's answer finishes this warm */
		o.result = WARM_ERROR;
		o.retryable = true;
		text_copy(e.text, sizeof(e.text), t->last_error);
	} else {
		warm_verdict(req, ops, now, &o, &u, &e);
	}
	cred_scrub(e.text);
	t->warms++;
	if (!req->error)
		provider_observe_latency(t->prov, req->total_s);
	if (req->status == 429)
		t->prov->rate_limited++;
	o.sent_at = t->sent_at;
	if (stale) {
		struct sched_outcome so = { .result = o.result, .stale = true, .latency_s = -1 };
		/* A cache made for a version the target no longer has: nobody keeps it. */
		if (name)
			delete_name(env, t->prov, t->req_cred, name);
		free(name);
		sched_done(env->sched, t, &so);
		warm_release(t);
		return;
	}
	seen = u;
	if (o.result == WARM_WRITE) {
		free(t->cache_name);
		t->cache_name = name;
		name = NULL;
		tokens = u.write;
		log_info("%s: created cache %s (%lld tokens)", t->name, t->cache_name,
		         (long long)tokens);
	} else if (o.result == WARM_HIT) {
		seen.read = tokens; /* the cache's size, for the version's record */
	}
	free(name);
	if (o.result == WARM_HIT || o.result == WARM_WRITE) {
		/* Counted on warmd's clock, from the send (as the scheduler's
		 * expiry): the provider's expireTime is on its clock. */
		until = t->sent_at + t->ttl_s;
		count(t, &u, (long)tokens, until);
		t->cache_expire = until;
	}
	warm_conclude(env, t, &o, &seen, &e, req->total_s, first, now);
}

/* warm: one warm request from start to verdict. */
#include "warm.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cred.h"
#include "log.h"
#include "pricing.h"
#include "ratelimit.h"

static void warm_done_cb(struct http_req *req);

int warm_send(struct warm_env *env, struct target *t, http_done_cb done)
{
	struct http_req *req = &t->req;
	struct errmsg e = { "" };
	struct cred_lines lines;
	double retry_at = 0;
	int r;

	t->req_tmpl = tmpl_ref(t->tmpl);
	t->req_cred = cred_ref(t->prov->cred);
	provider_request_limits(t->prov, req);
	req->done = done;
	req->data = env;
	/* The TTL runs from request start: record the send time before sending. */
	t->sent_at = clock_now(env->clk);
	r = cred_authorize(t->req_cred, req, t->sent_at, &lines, &retry_at, &e);
	if (r == 0)
		r = http_start(env->http, req);
	cred_lines_wipe(&lines);
	if (r < 0) {
		if (r == -EAGAIN && retry_at > t->prov->hold_until)
			t->prov->hold_until = retry_at;
		if (r == -EKEYREJECTED) { /* a token endpoint refused the credential */
			t->prov->cred_failed = true;
			text_copy(t->prov->cred_error, sizeof(t->prov->cred_error), e.text);
		}
		if (e.text[0])
			text_copy(t->last_error, sizeof(t->last_error), e.text);
		else
			snprintf(t->last_error, sizeof(t->last_error), "cannot start request: %s",
			         strerror(-r));
		tmpl_unref(t->req_tmpl);
		cred_unref(t->req_cred);
		t->req_tmpl = NULL;
		t->req_cred = NULL;
		return r;
	}
	target_ref(t);
	return 0;
}

int warm_fire(void *data, struct target *t)
{
	struct warm_env *env = data;
	int r;

	t->req.method = NULL;
	t->req.url = t->tmpl->url;
	t->req.body = t->tmpl->body;
	t->req.body_len = t->tmpl->body_len;
	if ((r = warm_send(env, t, warm_done_cb)) < 0)
		return r;
	log_debug("%s: warming version %s via %s (%s)", t->name, t->req_tmpl->short_version,
	          t->prov->name, t->req_tmpl->notes);
	return 0;
}

void warm_release(struct target *t)
{
	/* 10,000 idle targets should not each hold a response buffer. */
	http_req_reset(&t->req);
	tmpl_unref(t->req_tmpl);
	cred_unref(t->req_cred);
	t->req_tmpl = NULL;
	t->req_cred = NULL;
	target_unref(t);
}

void warm_cancel(struct target *t)
{
	if (!t->req.easy)
		return;
	http_cancel(&t->req);
	warm_release(t);
}

/* Which failures are worth retrying (docs/scheduling.md, "Failures and retries"). */
static void classify_status(long status, const struct http_req *req, const struct rl_info *rl,
                            double now, struct sched_outcome *o)
{
	const char *body = req->resp.data ? req->resp.data : "";

	o->auth = status == 401 || status == 403;
	o->retryable = status == 408 || status == 409 || status == 429 || status >= 500;
	if (status == 429 && ratelimit_is_spend_limit(status, body, req->resp.len)) {
		/* Retrying cannot help: the whole credential is out of budget. */
		o->spend_limit = true;
		o->retryable = false;
		return;
	}
	if (status == 429) /* a rate limit is the credential's: hold all its targets */
		o->hold_until = now + (rl->retry_after >= 0 ? rl->retry_after : 1.0);
	/* The provider's own verdict on retrying wins over the status code. */
	if (rl->should_retry == 1 && !o->auth)
		o->retryable = true;
	else if (rl->should_retry == 0 && o->retryable && o->retry_after_s < SCHED_RETRY_MAX_S)
		o->retry_after_s = SCHED_RETRY_MAX_S; /* not now: a long pause instead */
}

/* A warm refreshed the current version: its record learns it. */
static void version_seen(struct target *t, long tokens, bool write)
{
	struct target_version *v = target_version_current(t);

	v->last_seen = t->sent_at;
	v->prefix_tokens = tokens;
	if (write)
		v->writes++;
	else
		v->hits++;
}

void warm_verdict(const struct http_req *req, const struct adapter_ops *ops, double now,
                  struct sched_outcome *o, struct warm_usage *u, struct errmsg *e)
{
	const char *body = req->resp.data ? req->resp.data : "";
	struct rl_info rl;

	ratelimit_parse(req->headers_in.data ? req->headers_in.data : "", req->headers_in.len, now,
	                &rl);
	o->hold_until = ratelimit_hold_until(&rl, now);
	o->retry_after_s = rl.retry_after;
	if (req->error) {
		o->result = WARM_ERROR;
		o->retryable = true;
		text_copy(e->text, sizeof(e->text), req->errtext);
	} else if (req->status >= 200 && req->status < 300) {
		if (ops->parse_ok(body, req->resp.len, u, e) < 0) {
			o->result = WARM_ERROR;
			o->retryable = true; /* a garbled answer may be a one-off */
			errmsg_prefix(e, "HTTP %ld but unusable body", req->status);
		} else {
			o->result = u->result;
		}
	} else {
		o->result = WARM_ERROR;
		ops->parse_error(req->status, body, req->resp.len, e);
		classify_status(req->status, req, &rl, now, o);
		if (ops->auth_rejected && ops->auth_rejected(req->status, body, req->resp.len)) {
			o->auth = true; /* a key the provider does not know, said otherwise */
			o->retryable = false;
		}
	}
}

/* What the warm used and cost, on t's counters and its provider's. */
static void count_usage(struct target *t, const struct http_req *req, const struct warm_usage *u)
{
	if (t->price && pricing_add(&t->cost_pico, pricing_cost(t->price, u, t->ttl_s)))
		log_warning("%s: cost_usd reached $%.0f and stays there", t->name,
		            pricing_usd(PRICING_MAX_PICO));
	t->tok_read += (uint64_t)u->read;
	t->tok_write += (uint64_t)u->write;
	t->tok_input += (uint64_t)u->input;
	t->tok_output += (uint64_t)u->output;
	if (req->status == 429)
		t->prov->rate_limited++;
	if (!req->error)
		provider_observe_latency(t->prov, req->total_s);
}

/* A failed warm: counted, and logged once however often it repeats. */
static void record_error(struct target *t, const struct sched_outcome *o, const struct errmsg *e,
                         double now)
{
	char msg[640], prefix[96];

	t->errors++;
	text_copy(t->last_error, sizeof(t->last_error), e->text);
	snprintf(prefix, sizeof(prefix), "%s: ", t->name);
	snprintf(msg, sizeof(msg), "warm via %s failed: %s%s", t->prov->name, e->text,
	         o->auth          ? " (credential rejected)"
	         : o->spend_limit ? " (spend limit: not retried)"
	         : o->retryable   ? ""
	                          : " (not retried)");
	log_repeat(&t->err_log, LOG_WARNING, now, prefix, msg);
}

/* The verdict on t's counters, version record and last error, and in the log. */
static void record(struct target *t, const struct sched_outcome *o, const struct warm_usage *u,
                   const struct errmsg *e, double latency_s, bool first, double now)
{
	char prefix[96];

	switch (o->result) {
	case WARM_HIT:
		t->hits++;
		version_seen(t, (long)u->read, false);
		t->prefix_tokens = (long)u->read;
		t->last_error[0] = '\0';
		log_debug("%s: hit, read %lld tokens in %.0f ms", t->name, (long long)u->read,
		          latency_s * 1000);
		break;
	case WARM_WRITE:
		t->writes++;
		version_seen(t, (long)(u->read + u->write), true);
		t->prefix_tokens = (long)(u->read + u->write);
		t->last_error[0] = '\0';
		if (first)
			log_info("%s: wrote %lld tokens of version %s to the %s cache (%.0f ms)",
			         t->name, (long long)u->write, t->tmpl->short_version,
			         t->prov->name, latency_s * 1000);
		else
			log_warning("%s: warm wrote %lld tokens instead of reading: the cache had "
			            "expired or was evicted",
			            t->name, (long long)u->write);
		break;
	case WARM_NONE:
		t->nones++;
		snprintf(t->last_error, sizeof(t->last_error),
		         "not cacheable: the provider reported no cache read or write for %lld "
		         "input tokens (prefix below the model's minimum, or no breakpoint)",
		         (long long)u->input);
		log_warning("%s: %s", t->name, t->last_error);
		break;
	case WARM_ERROR:
		record_error(t, o, e, now);
		return;
	}
	/* Only a stream of errors has anything to flush: no prefix to format
	 * on every good warm. */
	if (t->err_log.last[0]) {
		snprintf(prefix, sizeof(prefix), "%s: ", t->name);
		log_repeat_end(&t->err_log, LOG_WARNING, now, prefix);
	}
}

static void warm_done_cb(struct http_req *req)
{
	struct target *t = (struct target *)((char *)req - offsetof(struct target, req));
	struct warm_env *env = req->data;
	struct sched_outcome o = { .sent_at = t->sent_at, .latency_s = req->total_s };
	struct warm_usage u = { 0 };
	struct errmsg e = { "" };
	double now = clock_now(env->clk);
	bool first = t->last_refresh <= 0;

	/* Before anything reads the answer: no excerpt, message or truncation
	 * below can cut a key short of the scrubber. */
	cred_scrub_answer(req);
	t->warms++;
	warm_verdict(req, t->prov->ops, now, &o, &u, &e);
	/* Again on the final text: JSON escapes in a message ("\u0073k-...")
	 * only become a key once decoded. */
	cred_scrub(e.text);
	if (t->removed || t->req_tmpl != t->tmpl) {
		/* Removed, or the template changed during the flight: the answer
		 * says nothing about the current version. */
		struct sched_outcome stale = { .result = o.result, .stale = true, .latency_s = -1 };
		log_debug("%s: discarding the answer of a warm of an older version", t->name);
		sched_done(env->sched, t, &stale);
		warm_release(t);
		return;
	}
	count_usage(t, req, &u);
	warm_conclude(env, t, &o, &u, &e, req->total_s, first, now);
}

void warm_conclude(struct warm_env *env, struct target *t, const struct sched_outcome *o,
                   const struct warm_usage *u, const struct errmsg *e, double latency_s, bool first,
                   double now)
{
	record(t, o, u, e, latency_s, first, now);
	t->last_result = o->result;
	t->has_result = true;
	sched_done(env->sched, t, o);
	if (env->observe)
		env->observe(env->observe_data, t);
	warm_release(t);
}

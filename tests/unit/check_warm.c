/* check_warm: one warm from start to verdict (runtime/warm.c).
 *
 * warm_verdict() on hand-made answers: which answers are hits, writes or
 * errors, which errors are retried, a rejected key, a spend limit, a
 * provider's hold and its own word on retrying. Then warm_fire() for real:
 * the scheduler on a live clock fires it, the HTTP client sends it to a
 * small server in this test (httpstub.h), and the completion reaches the
 * scheduler, the counters and the observer, and lets go of the request. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "adapters.h"
#include "cred.h"
#include "http.h"
#include "httpstub.h"
#include "log.h"
#include "tset.h"
#include "warm.h"

#define NOW 1767225600.0

/* ---- the verdict ---- */

struct answer {
	struct http_req req;
	struct sched_outcome o;
	struct warm_usage u;
	struct errmsg e;
};

/* The verdict of the Anthropic adapter on status, body and header lines. */
static void verdict(struct answer *a, long status, const char *body, const char *headers)
{
	memset(a, 0, sizeof(*a));
	a->req.status = status;
	ck_assert_int_eq(buf_puts(&a->req.resp, body), 0);
	ck_assert_int_eq(buf_puts(&a->req.headers_in, headers ? headers : ""), 0);
	a->o.retry_after_s = -1;
	warm_verdict(&a->req, adapter_ops_for(PROVIDER_ANTHROPIC), NOW, &a->o, &a->u, &a->e);
	buf_free(&a->req.resp);
	buf_free(&a->req.headers_in);
}

#define USAGE(read, write)                                                                         \
	"{\"usage\":{\"input_tokens\":4,\"cache_creation_input_tokens\":" #write                   \
	",\"cache_read_input_tokens\":" #read ",\"output_tokens\":0}}"

START_TEST(test_hit_write_none)
{
	struct answer a;

	verdict(&a, 200, USAGE(2048, 0), NULL);
	ck_assert_int_eq(a.o.result, WARM_HIT);
	ck_assert_int_eq(a.u.read, 2048);
	ck_assert(!a.o.retryable);
	verdict(&a, 200, USAGE(0, 2048), NULL);
	ck_assert_int_eq(a.o.result, WARM_WRITE);
	ck_assert_int_eq(a.u.write, 2048);
	verdict(&a, 200, USAGE(0, 0), NULL);
	ck_assert_int_eq(a.o.result, WARM_NONE);
	/* a 2xx that makes no sense: an error, worth another try */
	verdict(&a, 200, "<html>gateway</html>", NULL);
	ck_assert_int_eq(a.o.result, WARM_ERROR);
	ck_assert(a.o.retryable);
	ck_assert_ptr_nonnull(strstr(a.e.text, "HTTP 200 but unusable body"));
}
END_TEST

START_TEST(test_errors)
{
	struct answer a;

	/* transport: retried, curl's words */
	memset(&a, 0, sizeof(a));
	a.req.error = -ETIMEDOUT;
	snprintf(a.req.errtext, sizeof(a.req.errtext), "Operation timed out after 30000 ms");
	warm_verdict(&a.req, adapter_ops_for(PROVIDER_ANTHROPIC), NOW, &a.o, &a.u, &a.e);
	ck_assert_int_eq(a.o.result, WARM_ERROR);
	ck_assert(a.o.retryable);
	ck_assert_str_eq(a.e.text, "Operation timed out after 30000 ms");
	/* overloaded: retried, with the provider's own message */
	verdict(&a, 529,
	        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
	        "\"Overloaded\"}}",
	        NULL);
	ck_assert_int_eq(a.o.result, WARM_ERROR);
	ck_assert(a.o.retryable);
	ck_assert(!a.o.auth);
	ck_assert_str_eq(a.e.text, "HTTP 529 overloaded_error: Overloaded");
	/* a rejected key: not retried, the credential's */
	verdict(&a, 401,
	        "{\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key\"}}",
	        NULL);
	ck_assert(a.o.auth);
	ck_assert(!a.o.retryable);
	/* a bad request: permanent */
	verdict(&a, 400, "{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad\"}}",
	        NULL);
	ck_assert(!a.o.retryable);
	ck_assert(!a.o.auth);
}
END_TEST

START_TEST(test_rate_limits)
{
	struct answer a;

	/* 429: retried, and the whole credential holds for retry-after */
	verdict(&a, 429, "{\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}",
	        "retry-after: 7\r\n");
	ck_assert(a.o.retryable);
	ck_assert(!a.o.spend_limit);
	ck_assert_double_eq(a.o.hold_until, NOW + 7);
	ck_assert_double_eq(a.o.retry_after_s, 7);
	/* without retry-after: a second */
	verdict(&a, 429, "{\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}", NULL);
	ck_assert_double_eq(a.o.hold_until, NOW + 1);
	/* a spend limit: retrying cannot help */
	verdict(&a, 429,
	        "{\"error\":{\"type\":\"rate_limit_error\",\"message\":\"You have reached your "
	        "specified API usage limits\"}}",
	        "retry-after: 7\r\n");
	ck_assert(a.o.spend_limit);
	ck_assert(!a.o.retryable);
	/* the provider's own word on retrying wins over the status */
	verdict(&a, 400, "{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"x\"}}",
	        "x-should-retry: true\r\n");
	ck_assert(a.o.retryable);
	verdict(&a, 503, "{\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}",
	        "x-should-retry: false\r\n");
	ck_assert(a.o.retryable);
	ck_assert_double_eq(a.o.retry_after_s, SCHED_RETRY_MAX_S); /* later, not now */
}
END_TEST

/* ---- a warm, for real ---- */

struct fx {
	uv_loop_t loop;
	struct httpstub *stub;
	struct http *http;
	struct clock *clk;
	struct sched *sched;
	struct warm_env env;
	struct tset *x; /* builds the provider and target */
	struct target *t;
	int observed;
};

static void observe_cb(void *data, struct target *t)
{
	struct fx *f = data;

	ck_assert_ptr_eq(t, f->t);
	ck_assert(!t->inflight); /* the scheduler has the outcome already */
	f->observed++;
}

static void fx_init(struct fx *f)
{
	static const struct sched_ops ops = { .fire = warm_fire };

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->stub = httpstub_new(&f->loop);
	ck_assert_int_eq(http_new(&f->loop, "warmd-test", &f->http), 0);
	f->clk = clock_live_new(&f->loop);
	f->env = (struct warm_env){
		.http = f->http, .clk = f->clk, .observe = observe_cb, .observe_data = f
	};
	f->sched = sched_new(f->clk, &ops, &f->env, 1);
	f->env.sched = f->sched;
	f->x = tset_new();
	tset_provider(f->x, "local", httpstub_url(f->stub));
	f->t = tset_target(f->x, f->x->set.provs[0], "support", "You answer support questions.");
	sched_set_providers(f->sched, f->x->set.provs, f->x->set.nprovs);
}

static void fx_fini(struct fx *f)
{
	sched_remove(f->sched, f->t);
	sched_free(f->sched);
	clock_live_close(f->clk);
	http_close(f->http);
	httpstub_close(f->stub);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	tset_free(f->x);
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Asks for a warm now and runs the loop until it is observed (at most 5 s). */
static void warm_now(struct fx *f)
{
	int before = f->observed, spins = 0;
	uv_timer_t tick;

	ck_assert_int_eq(sched_warm_now(f->sched, f->t), 0);
	sched_rearm(f->sched);
	uv_timer_init(&f->loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while (f->observed == before && spins++ < 500)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	ck_assert_msg(f->observed == before + 1, "no warm completed after 5 s");
}

START_TEST(test_fire_and_done)
{
	struct fx f;

	fx_init(&f);
	httpstub_answer(f.stub, 200,
	                "{\"usage\":{\"prompt_tokens\":2048,\"completion_tokens\":1}}"); /* write */
	httpstub_answer(f.stub, 200,
	                "{\"usage\":{\"prompt_tokens\":2048,\"completion_tokens\":1,"
	                "\"prompt_tokens_details\":{\"cached_tokens\":2048}}}");
	warm_now(&f);
	ck_assert_uint_eq(httpstub_requests(f.stub), 1);
	ck_assert_uint_eq(f.t->warms, 1);
	ck_assert_uint_eq(f.t->writes, 1);
	ck_assert_int_eq(f.t->last_result, WARM_WRITE);
	ck_assert_uint_eq(f.t->tok_write, 2048);
	ck_assert_double_gt(f.t->expires_at, f.t->sent_at); /* the TTL runs from the send */
	ck_assert_uint_eq(f.t->prov->lat_count, 1);
	/* the warm let go of what it held */
	ck_assert_ptr_null(f.t->req_tmpl);
	ck_assert_ptr_null(f.t->req_cred);
	ck_assert_int_eq(f.t->refs, 1);
	ck_assert_int_eq(f.t->tmpl->refs, 1);
	warm_now(&f);
	ck_assert_uint_eq(f.t->hits, 1);
	ck_assert_int_eq(f.t->last_result, WARM_HIT);
	ck_assert_int_eq(f.t->prefix_tokens, 2048);
	ck_assert_str_eq(f.t->last_error, "");
	fx_fini(&f);
}
END_TEST

/* A failed warm: counted and kept as last_error, and the scheduler plans
 * a retry rather than the next regular warm. */
START_TEST(test_fire_error)
{
	struct fx f;

	fx_init(&f);
	httpstub_answer(f.stub, 500,
	                "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}");
	warm_now(&f);
	ck_assert_uint_eq(f.t->errors, 1);
	ck_assert_int_eq(f.t->last_result, WARM_ERROR);
	ck_assert_ptr_nonnull(strstr(f.t->last_error, "boom"));
	ck_assert_double_eq(f.t->expires_at, 0);
	ck_assert_uint_eq(f.t->fail_streak, 1);
	ck_assert_ptr_null(f.t->req_tmpl);
	fx_fini(&f);
}
END_TEST

/* ---- a credential that signs each request (cred_authorize) ---- */

static int signer_calls;
static double signer_retry_at; /* > 0: "not ready until then" */
static bool signer_rejects;    /* a token endpoint refused the credential */

static int test_authorize(struct cred *c, const struct cred_request *r, struct cred_lines *out,
                          double *ret_retry_at, struct errmsg *e)
{
	(void)c;
	signer_calls++;
	if (signer_rejects)
		return errmsg_set(e, -EKEYREJECTED, "the token endpoint refused the key");
	if (signer_retry_at > 0) {
		*ret_retry_at = signer_retry_at;
		return errmsg_set(e, -EAGAIN, "waiting for an access token");
	}
	ck_assert_int_eq(cred_lines_add(out, "x-test-signature: %s %zu", r->method, r->body_len),
	                 0);
	ck_assert_int_eq(cred_lines_add(out, "x-test-date: %.0f", r->now > 0 ? 1.0 : 0.0), 0);
	return 0;
}

static void test_signer_free(struct cred *c)
{
	c->signer_data = NULL;
}

static const struct cred_signer_ops test_signer = { .authorize = test_authorize,
	                                            .free = test_signer_free };

/* The signer's lines go out with the request, after the fixed ones. */
START_TEST(test_signed_request)
{
	struct fx f;
	const char *head;

	fx_init(&f);
	f.t->prov->cred->signer = &test_signer;
	signer_calls = 0;
	signer_retry_at = 0;
	httpstub_answer(f.stub, 200,
	                "{\"usage\":{\"prompt_tokens\":2048,\"completion_tokens\":1}}");
	warm_now(&f);
	ck_assert_int_eq(signer_calls, 1);
	head = httpstub_last_head(f.stub);
	ck_assert_msg(strncmp(head, "POST ", 5) == 0, "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "\r\nx-test-date: 1\r\n"));
	{
		char want[64];
		snprintf(want, sizeof(want), "\r\nx-test-signature: POST %zu\r\n",
		         f.t->tmpl->body_len);
		ck_assert_msg(strstr(head, want) != NULL, "%s", head);
	}
	ck_assert_uint_eq(f.t->writes, 1);
	fx_fini(&f);
}
END_TEST

/* A credential that cannot sign yet holds its provider: no request, no
 * failure counted, the reason in last_error, and the warm waits. */
START_TEST(test_signer_not_ready)
{
	struct fx f;
	int spins = 0;

	fx_init(&f);
	f.t->prov->cred->signer = &test_signer;
	signer_calls = 0;
	signer_retry_at = clock_now(f.clk) + 3600;
	ck_assert_int_eq(sched_warm_now(f.sched, f.t), 0);
	sched_rearm(f.sched);
	while (signer_calls == 0 && spins++ < 100)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(signer_calls, 1);
	ck_assert_uint_eq(httpstub_requests(f.stub), 0);
	ck_assert_uint_eq(f.t->errors, 0);
	ck_assert_uint_eq(f.t->fail_streak, 0);
	ck_assert(!f.t->inflight);
	ck_assert_double_eq(f.t->prov->hold_until, signer_retry_at);
	ck_assert_str_eq(f.t->last_error, "waiting for an access token");
	ck_assert_ptr_null(f.t->req_cred); /* nothing held */
	fx_fini(&f);
}
END_TEST

/* A credential its token endpoint refused: no request, one failure, the
 * provider's credential marked failed with the reason (status shows it),
 * and its targets stop. */
START_TEST(test_signer_rejected)
{
	struct fx f;
	int spins = 0;

	fx_init(&f);
	f.t->prov->cred->signer = &test_signer;
	signer_calls = 0;
	signer_retry_at = 0;
	signer_rejects = true;
	ck_assert_int_eq(sched_warm_now(f.sched, f.t), 0);
	sched_rearm(f.sched);
	while (signer_calls == 0 && spins++ < 100)
		uv_run(&f.loop, UV_RUN_NOWAIT);
	signer_rejects = false;
	ck_assert_int_eq(signer_calls, 1);
	ck_assert_uint_eq(httpstub_requests(f.stub), 0);
	ck_assert(f.t->prov->cred_failed);
	ck_assert_str_eq(f.t->prov->cred_error, "the token endpoint refused the key");
	ck_assert_str_eq(f.t->last_error, "the token endpoint refused the key");
	ck_assert_uint_eq(f.t->errors, 1);
	ck_assert_int_eq(target_state(f.t, clock_now(f.clk), false), TARGET_FAILING);
	ck_assert_ptr_null(f.t->req_cred);
	fx_fini(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("warm");
	TCase *verdicts = tcase_create("verdict"), *real = tcase_create("fire");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERR);
	if (http_global_init() < 0)
		return 1;
	tcase_add_test(verdicts, test_hit_write_none);
	tcase_add_test(verdicts, test_errors);
	tcase_add_test(verdicts, test_rate_limits);
	tcase_set_timeout(real, 30);
	tcase_add_test(real, test_fire_and_done);
	tcase_add_test(real, test_fire_error);
	tcase_add_test(real, test_signed_request);
	tcase_add_test(real, test_signer_not_ready);
	tcase_add_test(real, test_signer_rejected);
	suite_add_tcase(s, verdicts);
	suite_add_tcase(s, real);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	http_global_cleanup();
	return failed ? 1 : 0;
}

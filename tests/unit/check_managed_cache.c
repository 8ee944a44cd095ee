/* check_managed_cache: caches warmd creates and keeps alive by name
 * (runtime/managed_cache.c), for real: the scheduler on a live clock fires
 * the warms of a Gemini cachedContents target, the HTTP client sends them
 * to a small server in this test (httpstub.h). The first warm creates the
 * cache, the next renew its ttl, a renewal that finds it gone creates it
 * again in the same warm, and a cache nobody keeps is deleted. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "adapters.h"
#include "clock.h"
#include "cred.h"
#include "credentials.h"
#include "http.h"
#include "httpstub.h"
#include "managed_cache.h"
#include "pricing.h"
#include "target.h"
#include "warm.h"

#define CACHE_BODY                                                                                 \
	"{\"model\":\"models/gemini-2.5-flash\",\"systemInstruction\":{\"parts\":[{\"text\":"      \
	"\"The manual.\"}]},\"ttl\":\"60s\"}"
#define CREATED(id, tokens)                                                                        \
	"{\"name\":\"cachedContents/" id "\",\"model\":\"models/gemini-2.5-flash\","               \
	"\"expireTime\":\"2099-01-01T00:00:00Z\",\"usageMetadata\":{\"totalTokenCount\":" #tokens  \
	"}}"

struct fx {
	uv_loop_t loop;
	struct httpstub *stub;
	struct http *http;
	struct clock *clk;
	struct sched *sched;
	struct warm_env env;
	struct provider *prov;
	struct target *t;
	struct price price;
	int observed;
};

static void observe_cb(void *data, struct target *t)
{
	struct fx *f = data;

	(void)t;
	f->observed++;
}

/* The daemon's fire for a managed target. */
static int fire(void *data, struct target *t)
{
	return managed_cache_fire(data, t);
}

static void fx_init(struct fx *f)
{
	static const struct sched_ops ops = { .fire = fire };
	char key[] = "test-gemini-key-0", name[] = "gemini";
	struct cfg_provider c = { .name = name,
		                  .kind = PROVIDER_GEMINI,
		                  .api_key = key,
		                  .max_inflight = 4,
		                  .timeout_ms = 5000,
		                  .connect_timeout_ms = 2000,
		                  .max_response_bytes = 1024 * 1024 };
	struct errmsg e;
	struct tmpl *tm = NULL;

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
	c.base_url = (char *)httpstub_url(f->stub);
	f->prov = provider_new(&c);
	ck_assert_msg(cred_load(&c, adapter_ops_for(c.kind), &f->prov->cred, &e) == 0, "%s",
	              e.text);
	sched_set_providers(f->sched, &f->prov, 1);
	ck_assert_msg(template_from_bytes(CACHE_BODY, strlen(CACHE_BODY), NULL, &c, &tm, &e) == 0,
	              "%s", e.text);
	ck_assert(tm->managed);
	f->t = target_new("manual");
	f->t->prov = provider_ref(f->prov);
	f->t->tmpl = tm;
	f->t->ttl_s = 60;
	f->t->last_touch = clock_now(f->clk);
	target_version_enter(f->t, tm, clock_now(f->clk));
	/* $0.30 per MTok to create, $1 per MTok-hour to keep */
	f->price = (struct price){ .input = 300000,
		                   .cache_write = 300000,
		                   .cache_read = 30000,
		                   .storage = 1000000,
		                   .has_storage = true };
	f->t->price = &f->price;
}

static void spin(struct fx *f, bool (*done)(struct fx *f))
{
	int spins = 0;

	while (!done(f) && spins++ < 500)
		uv_run(&f->loop, UV_RUN_ONCE);
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

static bool observed_one(struct fx *f)
{
	return f->observed > 0;
}

/* Asks for a warm now and runs the loop until it is observed. */
static void warm_now(struct fx *f)
{
	uv_timer_t tick;

	f->observed = 0;
	ck_assert_int_eq(sched_warm_now(f->sched, f->t), 0);
	uv_timer_init(&f->loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	spin(f, observed_one);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	ck_assert_msg(f->observed == 1, "no warm completed after 5 s");
}

static void fx_fini(struct fx *f)
{
	sched_remove(f->sched, f->t);
	managed_cache_cancel_all();
	sched_free(f->sched);
	target_unref(f->t);
	provider_unref(f->prov);
	clock_live_close(f->clk);
	http_close(f->http);
	httpstub_close(f->stub);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void expect_head(struct fx *f, const char *line)
{
	const char *head = httpstub_last_head(f->stub);

	ck_assert_msg(strncmp(head, line, strlen(line)) == 0, "want %s, got %s", line, head);
	ck_assert_msg(strstr(head, "\r\nx-goog-api-key: test-gemini-key-0\r\n"), "%s", head);
}

START_TEST(test_create_then_renew)
{
	struct fx f;
	int64_t cost;

	fx_init(&f);
	httpstub_answer(f.stub, 200, CREATED("abc123", 40000));
	warm_now(&f);
	expect_head(&f, "POST /cachedContents HTTP/1.1");
	ck_assert_str_eq(f.t->cache_name, "cachedContents/abc123");
	ck_assert_uint_eq(f.t->writes, 1);
	ck_assert_int_eq(f.t->prefix_tokens, 40000);
	ck_assert_double_gt(f.t->expires_at, f.t->sent_at);
	/* created: 40,000 tokens as input ($0.012) and a minute of their storage */
	ck_assert_int_eq(f.t->cost_pico, 12000000000LL + pricing_storage(&f.price, 40000, 60));
	cost = f.t->cost_pico;
	ck_assert_ptr_null(f.t->req_tmpl);
	ck_assert_int_eq(f.t->refs, 1);

	httpstub_answer(f.stub, 200, CREATED("abc123", 40000));
	warm_now(&f);
	expect_head(&f, "PATCH /cachedContents/abc123?updateMask=ttl HTTP/1.1");
	ck_assert_uint_eq(httpstub_requests(f.stub), 2);
	ck_assert_uint_eq(f.t->hits, 1);
	ck_assert_uint_eq(f.t->writes, 1);
	ck_assert_int_eq(f.t->last_result, WARM_HIT);
	ck_assert_int_eq(f.t->prefix_tokens, 40000);
	ck_assert_str_eq(f.t->cache_name, "cachedContents/abc123");
	/* the storage of the time the renewal added: a few milliseconds' */
	ck_assert_int_gt(f.t->cost_pico, cost);
	ck_assert_int_lt(f.t->cost_pico, cost + pricing_storage(&f.price, 40000, 1));
	ck_assert_uint_eq(f.t->tok_read, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(test_gone_is_created_again)
{
	struct fx f;

	fx_init(&f);
	f.t->cache_name = strdup("cachedContents/old1");
	httpstub_answer(f.stub, 404,
	                "{\"error\":{\"code\":404,\"message\":\"CachedContent not found (or "
	                "permission denied)\",\"status\":\"NOT_FOUND\"}}");
	httpstub_answer(f.stub, 200, CREATED("new2", 40000));
	warm_now(&f);
	ck_assert_uint_eq(httpstub_requests(f.stub), 2);
	expect_head(&f, "POST /cachedContents HTTP/1.1");
	ck_assert_str_eq(f.t->cache_name, "cachedContents/new2");
	ck_assert_uint_eq(f.t->warms, 1);
	ck_assert_uint_eq(f.t->writes, 1);
	ck_assert_uint_eq(f.t->errors, 0);
	ck_assert_int_eq(f.t->last_result, WARM_WRITE);
	fx_fini(&f);
}
END_TEST

START_TEST(test_errors)
{
	struct fx f;

	fx_init(&f);
	/* a rejected key: the credential's failure, no cache */
	httpstub_answer(f.stub, 400,
	                "{\"error\":{\"code\":400,\"message\":\"API key not valid.\",\"status\":"
	                "\"INVALID_ARGUMENT\",\"details\":[{\"reason\":\"API_KEY_INVALID\"}]}}");
	warm_now(&f);
	ck_assert(f.prov->cred_failed);
	ck_assert_ptr_null(f.t->cache_name);
	ck_assert_str_eq(f.t->last_error, "HTTP 400 INVALID_ARGUMENT: API key not valid.");
	f.prov->cred_failed = false;
	/* an answer that names no cache: a retryable error, still no name */
	httpstub_answer(f.stub, 200, "{\"name\":\"elsewhere/x\"}");
	warm_now(&f);
	ck_assert_ptr_null(f.t->cache_name);
	ck_assert_uint_eq(f.t->errors, 2);
	ck_assert_uint_eq(f.t->fail_streak, 1);
	fx_fini(&f);
}
END_TEST

static bool two_requests(struct fx *f)
{
	return httpstub_requests(f->stub) >= 2;
}

START_TEST(test_drop_deletes)
{
	struct fx f;
	uv_timer_t tick;

	fx_init(&f);
	httpstub_answer(f.stub, 200, CREATED("abc123", 40000));
	warm_now(&f);
	httpstub_answer(f.stub, 200, "{}");
	managed_cache_drop(&f.env, f.t);
	ck_assert_ptr_null(f.t->cache_name);
	uv_timer_init(&f.loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	spin(&f, two_requests);
	uv_close((uv_handle_t *)&tick, NULL);
	ck_assert_uint_eq(httpstub_requests(f.stub), 2);
	expect_head(&f, "DELETE /cachedContents/abc123 HTTP/1.1");
	/* nothing to drop any more: no request */
	managed_cache_drop(&f.env, f.t);
	fx_fini(&f);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("managed_cache");
	TCase *tc = tcase_create("managed_cache");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_create_then_renew);
	tcase_add_test(tc, test_gone_is_created_again);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_drop_deletes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

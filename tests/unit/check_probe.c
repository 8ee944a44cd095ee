/* check_probe: `warmctl test` (control/probe.c) with the real HTTP client
 * on a real loop, against a small HTTP server in this test (httpstub.h),
 * on a target set built by hand: the requests it sends one after another,
 * the report it answers with (per request, hit rate, first hit, variants'
 * kept prefix), a rejected request ending the test early, and shutdown
 * answering a test in flight. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "fakeconn.h"
#include "http.h"
#include "httpstub.h"
#include "jsonx.h"
#include "log.h"
#include "probe.h"
#include "tset.h"

#define WRITE_2048 "{\"usage\":{\"prompt_tokens\":2048,\"completion_tokens\":1}}"
#define HIT(n)                                                                                     \
	"{\"usage\":{\"prompt_tokens\":2048,\"completion_tokens\":1,"                              \
	"\"prompt_tokens_details\":{\"cached_tokens\":" #n "}}}"

struct fx {
	uv_loop_t loop;
	struct httpstub *stub;
	struct http *http;
	struct tset *x;
	struct provider *p;
	struct target *t;
	struct probe_env env;
	struct fakeconn conn;
	struct buf out;
	/* a configuration for the variants: one provider, one target */
	struct cfg_provider cp;
	struct cfg_target ct;
	struct config cfg;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->stub = httpstub_new(&f->loop);
	ck_assert_int_eq(http_new(&f->loop, "warmd-test", &f->http), 0);
	f->x = tset_new();
	f->p = tset_provider(f->x, "local", httpstub_url(f->stub));
	f->t = tset_target(f->x, f->p, "support", "You answer support questions.");
	tset_lane(f->x, f->p, "billing", "blue", 100, "Billing.");
	f->cp = (struct cfg_provider){ .name = "local",
		                       .kind = PROVIDER_OPENAI_COMPAT,
		                       .base_url = f->p->base_url };
	f->ct = (struct cfg_target){ .name = "support", .provider_index = 0 };
	f->cfg = (struct config){
		.providers = &f->cp, .nproviders = 1, .targets = &f->ct, .ntargets = 1
	};
	f->x->set.cfg = &f->cfg;
	f->env = (struct probe_env){ .set = &f->x->set, .http = f->http };
	fakeconn_init(&f->conn);
}

static void fx_fini(struct fx *f)
{
	probe_abort_all(&f->env);
	http_close(f->http);
	httpstub_close(f->stub);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	f->x->set.cfg = NULL;
	tset_free(f->x);
	fakeconn_free(&f->conn);
	buf_free(&f->out);
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until the test has answered (at most 5 s). */
static void run_until_answered(struct fx *f)
{
	uv_timer_t tick;
	int spins = 0;

	uv_timer_init(&f->loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while (f->conn.sent + f->conn.dropped == 0 && spins++ < 500)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT); /* tick lives on this stack: its close ends here */
	ck_assert_msg(f->conn.sent == 1, "no answer after 5 s");
}

static void start(struct fx *f, const char *target, int64_t n, json_object *variants)
{
	struct proto_request r = {
		.cmd = PROTO_TEST, .target = (char *)target, .n = n, .variants = variants
	};

	probe_cmd_test(&f->env, &r, &f->conn.base, &f->out);
}

START_TEST(test_report)
{
	json_object *o, *data, *reqs;
	struct fx f;
	bool ok;

	fx_init(&f);
	httpstub_answer(f.stub, 200, WRITE_2048);
	httpstub_answer(f.stub, 200, HIT(2048));
	start(&f, "support", 3, NULL);
	ck_assert_uint_eq(f.out.len, 0);
	ck_assert(f.conn.deferred);
	run_until_answered(&f);
	ck_assert_uint_eq(httpstub_requests(f.stub), 3);
	o = response_of(f.conn.answer.data, f.conn.answer.len, &ok, &data, NULL);
	ck_assert(ok);
	reqs = jsonx_get(data, "requests");
	ck_assert_uint_eq(json_object_array_length(reqs), 3);
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(reqs, 0), "result"), "write");
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(reqs, 1), "result"), "hit");
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(reqs, 2), "result"), "hit");
	ck_assert_double_eq_tol(json_object_get_double(jsonx_get(data, "hit_rate")), 0.667, 1e-9);
	ck_assert_int_eq(json_object_get_int(jsonx_get(data, "first_hit")), 2);
	ck_assert_int_eq(json_object_get_int(jsonx_get(data, "prefix_tokens")), 2048);
	json_object_put(o);
	ck_assert_double_gt(f.t->tested_at, 0);
	ck_assert_uint_eq(f.t->warms, 0); /* a test is not a warm: the counters stay */
	fx_fini(&f);
}
END_TEST

/* A variant reports how much of the base's cached prefix it still read. */
START_TEST(test_variant_kept_ratio)
{
	json_object *o, *data, *vars, *v;
	struct fx f;
	bool ok;

	fx_init(&f);
	httpstub_answer(f.stub, 200, WRITE_2048);
	httpstub_answer(f.stub, 200, HIT(1024));
	vars = json_object_new_array();
	v = json_object_new_object();
	json_object_object_add(v, "file", json_object_new_string("edited.json"));
	json_object_object_add(
	        v, "body",
	        json_object_new_string("{\"model\":\"test-model\",\"messages\":[{\"role\":"
	                               "\"system\",\"content\":\"Edited.\"},{\"role\":\"user\","
	                               "\"content\":\"hi\"}]}"));
	json_object_array_add(vars, v);
	start(&f, "support", 1, vars);
	run_until_answered(&f);
	json_object_put(vars);
	ck_assert_uint_eq(httpstub_requests(f.stub), 2);
	o = response_of(f.conn.answer.data, f.conn.answer.len, &ok, &data, NULL);
	ck_assert(ok);
	v = json_object_array_get_idx(jsonx_get(data, "variants"), 0);
	ck_assert_str_eq(jsonx_get_str(v, "file"), "edited.json");
	ck_assert_int_eq(json_object_get_int(jsonx_get(v, "read_tokens")), 1024);
	ck_assert_double_eq_tol(json_object_get_double(jsonx_get(v, "kept_ratio")), 0.5, 1e-9);
	json_object_put(o);
	fx_fini(&f);
}
END_TEST

/* A rejected request will not get better by asking again: the test ends. */
START_TEST(test_rejected_ends_early)
{
	const char *code;
	json_object *o;
	struct fx f;
	bool ok;

	fx_init(&f);
	httpstub_answer(f.stub, 401,
	                "{\"error\":{\"message\":\"bad key\",\"type\":\"invalid_request_error\"}}");
	start(&f, "support", 5, NULL);
	run_until_answered(&f);
	ck_assert_uint_eq(httpstub_requests(f.stub), 1);
	o = response_of(f.conn.answer.data, f.conn.answer.len, &ok, NULL, &code);
	ck_assert(!ok);
	ck_assert_str_eq(code, PROTO_E_FAILED);
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "request 1 failed"));
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "bad key"));
	json_object_put(o);
	fx_fini(&f);
}
END_TEST

/* Shutdown answers a test in flight at once, and no callback fires later. */
START_TEST(test_abort_in_flight)
{
	struct fx f;

	fx_init(&f);
	httpstub_answer(f.stub, 200, WRITE_2048);
	start(&f, "support", 3, NULL);
	ck_assert(f.conn.deferred);
	probe_abort_all(&f.env);
	ck_assert_int_eq(f.conn.sent, 1);
	ck_assert_ptr_nonnull(strstr(f.conn.answer.data, "warmd is stopping"));
	ck_assert_ptr_null(f.env.running);
	fx_fini(&f); /* runs the loop dry: a late completion would touch freed memory */
	ck_assert_int_eq(f.conn.sent, 1);
}
END_TEST

START_TEST(test_refusals)
{
	const char *code;
	json_object *o;
	struct fx f;
	bool ok;

	fx_init(&f);
	start(&f, "nobody", 1, NULL);
	o = response_of(f.out.data, f.out.len, &ok, NULL, &code);
	ck_assert_str_eq(code, PROTO_E_NOT_FOUND);
	json_object_put(o);
	buf_reset(&f.out);
	start(&f, "billing", 1, NULL);
	o = response_of(f.out.data, f.out.len, &ok, NULL, &code);
	ck_assert_str_eq(code, PROTO_E_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "billing@blue"));
	json_object_put(o);
	buf_reset(&f.out);
	f.p->cred_failed = true;
	start(&f, "support", 1, NULL);
	o = response_of(f.out.data, f.out.len, &ok, NULL, &code);
	ck_assert_str_eq(code, PROTO_E_FAILED);
	json_object_put(o);
	ck_assert(!f.conn.deferred);
	ck_assert_uint_eq(httpstub_requests(f.stub), 0);
	fx_fini(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("probe");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERR);
	if (http_global_init() < 0)
		return 1;
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_report);
	tcase_add_test(tc, test_variant_kept_ratio);
	tcase_add_test(tc, test_rejected_ends_early);
	tcase_add_test(tc, test_abort_in_flight);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	http_global_cleanup();
	return failed ? 1 : 0;
}

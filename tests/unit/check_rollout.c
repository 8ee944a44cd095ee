/* check_rollout: the blue/green commands (control/rollout.c) on a target
 * set built by hand, with a connection of the test's own for the answers
 * that wait for a warm: versions, route, shift, promote, rollback, their
 * waiters and how they end. No daemon, no socket, no network: the
 * scheduler's fire() only records, and the tests decide each warm's end. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "fakeconn.h"
#include "jsonx.h"
#include "log.h"
#include "proto.h"
#include "rollout.h"
#include "tset.h"

struct fx {
	struct tset *x;
	struct provider *p;
	struct target *blue, *green; /* billing@blue 90, billing@green 10 */
	struct target *plain;        /* support */
	struct rollout *ro;
	int changed;
	struct fakeconn conn;
	struct buf out;
};

static void changed_cb(void *data)
{
	((struct fx *)data)->changed++;
}

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->x = tset_new();
	f->p = tset_provider(f->x, "local", NULL);
	f->blue = tset_lane(f->x, f->p, "billing", "blue", 90, "You answer billing questions.");
	f->green = tset_lane(f->x, f->p, "billing", "green", 10, "You answer billing questions!");
	f->plain = tset_target(f->x, f->p, "support", "You answer support questions.");
	f->ro = rollout_new(&f->x->set, changed_cb, f, 42);
	fakeconn_init(&f->conn);
}

static void fx_fini(struct fx *f)
{
	rollout_free(f->ro);
	fakeconn_free(&f->conn);
	buf_free(&f->out);
	tset_free(f->x);
}

static struct proto_request req(enum proto_cmd cmd, const char *target, const char *version,
                                int64_t percent)
{
	struct proto_request r = {
		.cmd = cmd, .target = (char *)target, .version = (char *)version, .percent = percent
	};
	return r;
}

/* The answer in out: ok or not, the data, the error code. */
static json_object *answer(struct fx *f, bool *ok, json_object **data, const char **code)
{
	json_object *o = response_of(f->out.data, f->out.len, ok, data, code);

	buf_reset(&f->out);
	return o;
}

static void expect_error(struct fx *f, const char *code, const char *needle)
{
	const char *got = NULL, *msg;
	bool ok = true;
	json_object *o = answer(f, &ok, NULL, &got);

	ck_assert(!ok);
	ck_assert_str_eq(got, code);
	msg = jsonx_get_str(jsonx_get(o, "error"), "message");
	ck_assert_msg(msg && strstr(msg, needle), "message \"%s\" lacks \"%s\"", msg, needle);
	json_object_put(o);
}

START_TEST(test_versions)
{
	struct fx f;
	json_object *o, *data, *v;
	bool ok;

	fx_init(&f);
	/* a plain target: its one version, named by nothing, all the traffic */
	struct proto_request r = req(PROTO_VERSIONS, "support", NULL, -1);
	rollout_cmd_versions(f.ro, &r, &f.out);
	o = answer(&f, &ok, &data, NULL);
	ck_assert(ok);
	v = jsonx_get(data, "versions");
	ck_assert_uint_eq(json_object_array_length(v), 1);
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(v, 0), "version"),
	                 f.plain->tmpl->short_version);
	json_object_put(o);
	/* a target with named versions: its lanes and their weights */
	r = req(PROTO_VERSIONS, "billing", NULL, -1);
	rollout_cmd_versions(f.ro, &r, &f.out);
	o = answer(&f, &ok, &data, NULL);
	ck_assert(ok);
	v = jsonx_get(data, "versions");
	ck_assert_uint_eq(json_object_array_length(v), 2);
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(v, 0), "name"), "blue");
	ck_assert_int_eq(json_object_get_int(jsonx_get(json_object_array_get_idx(v, 0), "weight")),
	                 90);
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(v, 1), "lane"), "billing@green");
	json_object_put(o);
	/* a lane by its own name, and a name nobody has */
	r = req(PROTO_VERSIONS, "billing@blue", NULL, -1);
	rollout_cmd_versions(f.ro, &r, &f.out);
	expect_error(&f, PROTO_E_FAILED, "is a version of billing");
	r = req(PROTO_VERSIONS, "nobody", NULL, -1);
	rollout_cmd_versions(f.ro, &r, &f.out);
	expect_error(&f, PROTO_E_NOT_FOUND, "no target named");
	fx_fini(&f);
}
END_TEST

START_TEST(test_route_by_weight)
{
	struct proto_request r = req(PROTO_ROUTE, "billing", NULL, -1);
	int blue = 0, green = 0;
	json_object *o, *data;
	struct fx f;
	bool ok;

	fx_init(&f);
	for (int i = 0; i < 1000; i++) {
		rollout_cmd_route(f.ro, &r, &f.out);
		o = answer(&f, &ok, &data, NULL);
		ck_assert(ok);
		if (strcmp(jsonx_get_str(data, "name"), "blue") == 0)
			blue++;
		else
			green++;
		json_object_put(o);
	}
	/* 90/10 by weight: 900 expected, far from both 1000 and 500 */
	ck_assert_msg(blue > 820 && blue < 970, "blue %d of 1000", blue);
	ck_assert_int_eq(blue + green, 1000);
	/* weight 0 never gets traffic */
	f.blue->weight = 100;
	f.green->weight = 0;
	for (int i = 0; i < 100; i++) {
		rollout_cmd_route(f.ro, &r, &f.out);
		o = answer(&f, &ok, &data, NULL);
		ck_assert_str_eq(jsonx_get_str(data, "lane"), "billing@blue");
		json_object_put(o);
	}
	/* a plain target takes all of it; an unknown one is not found */
	r = req(PROTO_ROUTE, "support", NULL, -1);
	rollout_cmd_route(f.ro, &r, &f.out);
	o = answer(&f, &ok, &data, NULL);
	ck_assert(ok);
	ck_assert_int_eq(json_object_get_int(jsonx_get(data, "weight")), 100);
	json_object_put(o);
	r = req(PROTO_ROUTE, "nobody", NULL, -1);
	rollout_cmd_route(f.ro, &r, &f.out);
	expect_error(&f, PROTO_E_NOT_FOUND, "no target named");
	fx_fini(&f);
}
END_TEST

/* Both versions warm: a shift answers at once, and rollback undoes it. */
START_TEST(test_shift_warm_and_rollback)
{
	struct proto_request r = req(PROTO_SHIFT, "billing", "green", 30);
	json_object *o, *data;
	struct fx f;
	bool ok;

	fx_init(&f);
	tset_warm(f.x, f.blue);
	tset_warm(f.x, f.green);
	/* nothing to roll back yet */
	struct proto_request back = req(PROTO_ROLLBACK, "billing", NULL, -1);
	rollout_cmd_weights(f.ro, &back, &f.conn.base, &f.out);
	expect_error(&f, PROTO_E_FAILED, "nothing to roll back");
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	ck_assert(!f.conn.deferred);
	o = answer(&f, &ok, &data, NULL);
	ck_assert(ok);
	ck_assert_ptr_nonnull(strstr(jsonx_get_str(data, "message"), "green 30%"));
	json_object_put(o);
	ck_assert_int_eq(f.green->weight, 30);
	ck_assert_int_eq(f.blue->weight, 70);
	ck_assert_int_eq(f.green->prev_weight, 10);
	ck_assert_int_eq(f.changed, 1);
	rollout_cmd_weights(f.ro, &back, &f.conn.base, &f.out);
	o = answer(&f, &ok, NULL, NULL);
	ck_assert(ok);
	json_object_put(o);
	ck_assert_int_eq(f.green->weight, 10);
	ck_assert_int_eq(f.blue->weight, 90);
	ck_assert_int_eq(f.changed, 2);
	/* an unknown version, a target without versions */
	r = req(PROTO_SHIFT, "billing", "purple", 30);
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	expect_error(&f, PROTO_E_NOT_FOUND, "no version named");
	r = req(PROTO_SHIFT, "support", "green", 30);
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	expect_error(&f, PROTO_E_FAILED, "not a target with named versions");
	fx_fini(&f);
}
END_TEST

/* A cold version is warmed first; the answer waits for its warm, and other
 * changes of the same target are busy meanwhile. */
START_TEST(test_promote_waits_for_the_warm)
{
	struct proto_request r = req(PROTO_PROMOTE, "billing", "green", -1);
	struct fakeconn other;
	json_object *o, *data;
	struct fx f;
	bool ok;

	fx_init(&f);
	tset_warm(f.x, f.blue);
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	ck_assert_uint_eq(f.out.len, 0);
	ck_assert(f.conn.deferred);
	ck_assert_int_eq(f.green->rollout_holds, 1); /* in rotation while it waits */
	ck_assert_int_eq(f.green->weight, 10);       /* not yet */
	/* the scheduler was asked for green's warm, now */
	tset_advance(f.x, 0.001);
	ck_assert_uint_eq(f.x->nfired, 1);
	ck_assert_ptr_eq(f.x->fired[0], f.green);
	/* another change of billing meanwhile: busy */
	fakeconn_init(&other);
	r = req(PROTO_SHIFT, "billing", "blue", 50);
	rollout_cmd_weights(f.ro, &r, &other.base, &f.out);
	expect_error(&f, PROTO_E_BUSY, "still waiting for its warm");
	/* a warm of another target answers nothing */
	rollout_warm_done(f.ro, f.plain);
	ck_assert_int_eq(f.conn.sent, 0);
	/* green's warm lands */
	tset_warm(f.x, f.green);
	rollout_warm_done(f.ro, f.green);
	ck_assert_int_eq(f.conn.sent, 1);
	o = response_of(f.conn.answer.data, f.conn.answer.len, &ok, &data, NULL);
	ck_assert(ok);
	ck_assert_ptr_nonnull(strstr(jsonx_get_str(data, "message"), "promote green"));
	json_object_put(o);
	ck_assert_int_eq(f.green->weight, 100);
	ck_assert_int_eq(f.blue->weight, 0);
	ck_assert_int_eq(f.green->rollout_holds, 0);
	ck_assert_int_eq(f.changed, 1);
	fakeconn_free(&other);
	fx_fini(&f);
}
END_TEST

/* A version that cannot be warmed is refused at once; one whose warm fails
 * for good refuses the waiting change; weights stay. */
START_TEST(test_cold_versions_refused)
{
	struct proto_request r = req(PROTO_PROMOTE, "billing", "green", -1);
	const char *code;
	json_object *o;
	struct fx f;
	bool ok;

	fx_init(&f);
	f.green->paused = true;
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	expect_error(&f, PROTO_E_FAILED, "is paused");
	ck_assert(!f.conn.deferred);
	f.green->paused = false;
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	ck_assert(f.conn.deferred);
	/* the warm failed and the scheduler gave up on it */
	f.green->blocked = true;
	snprintf(f.green->last_error, sizeof(f.green->last_error), "HTTP 400: bad template");
	rollout_warm_done(f.ro, f.green);
	ck_assert_int_eq(f.conn.sent, 1);
	o = response_of(f.conn.answer.data, f.conn.answer.len, &ok, NULL, &code);
	ck_assert(!ok);
	ck_assert_str_eq(code, PROTO_E_FAILED);
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "could not be warmed"));
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "bad template"));
	json_object_put(o);
	ck_assert_int_eq(f.green->weight, 10);
	ck_assert_int_eq(f.green->rollout_holds, 0);
	ck_assert_int_eq(f.changed, 0);
	fx_fini(&f);
}
END_TEST

/* A client that left hears nothing and changes nothing; a reload or a
 * shutdown refuses what waits; a connection already waiting is busy. */
START_TEST(test_waiters_end)
{
	struct proto_request r = req(PROTO_PROMOTE, "billing", "green", -1);
	const char *code;
	json_object *o;
	struct fx f;
	bool ok;

	fx_init(&f);
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	ck_assert(f.conn.deferred);
	f.conn.gone = true;
	tset_warm(f.x, f.green);
	rollout_warm_done(f.ro, f.green);
	ck_assert_int_eq(f.conn.dropped, 1);
	ck_assert_int_eq(f.green->weight, 10);
	ck_assert_int_eq(f.changed, 0);

	f.conn.gone = false;
	f.green->expires_at = 0; /* cold again */
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	ck_assert(f.conn.deferred);
	rollout_abort(f.ro, "the configuration was reloaded meanwhile");
	o = response_of(f.conn.answer.data, f.conn.answer.len, &ok, NULL, &code);
	ck_assert(!ok);
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(o), "reloaded meanwhile"));
	json_object_put(o);

	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	ck_assert(f.conn.deferred);
	rollout_free(f.ro); /* shutdown */
	f.ro = NULL;
	ck_assert_int_eq(f.conn.sent, 2);
	ck_assert_ptr_nonnull(strstr(f.conn.answer.data, "warmd is stopping"));
	ck_assert_int_eq(f.green->rollout_holds, 0);

	f.ro = rollout_new(&f.x->set, changed_cb, &f, 1);
	f.conn.busy = true;
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	expect_error(&f, PROTO_E_BUSY, "cannot wait");
	fx_fini(&f);
}
END_TEST

/* shift's arithmetic: the others share the rest in proportion, exactly 100. */
START_TEST(test_shift_shares)
{
	struct proto_request r = req(PROTO_SHIFT, "billing", "green", 33);
	struct target *red;
	json_object *o;
	struct fx f;
	bool ok;

	fx_init(&f);
	red = tset_lane(f.x, f.p, "billing", "red", 0, "Red.");
	f.blue->weight = 60;
	f.green->weight = 20;
	red->weight = 20;
	tset_warm(f.x, f.blue);
	tset_warm(f.x, f.green);
	tset_warm(f.x, red);
	rollout_cmd_weights(f.ro, &r, &f.conn.base, &f.out);
	o = answer(&f, &ok, NULL, NULL);
	ck_assert(ok);
	json_object_put(o);
	ck_assert_int_eq(f.green->weight, 33);
	/* 67 shared 60:20 -> 50.25 and 16.75: the larger remainder gets the odd one */
	ck_assert_int_eq(f.blue->weight, 50);
	ck_assert_int_eq(red->weight, 17);
	fx_fini(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rollout");
	TCase *tc = tcase_create("commands");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERR);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_route_by_weight);
	tcase_add_test(tc, test_shift_warm_and_rollback);
	tcase_add_test(tc, test_promote_waits_for_the_warm);
	tcase_add_test(tc, test_cold_versions_refused);
	tcase_add_test(tc, test_waiters_end);
	tcase_add_test(tc, test_shift_shares);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* check_status: what `warmctl status` shows and the sd_notify STATUS= line
 * (control/status.c), rendered from a target set built by hand. The
 * STATUS= line goes to a datagram socket of this test named by
 * $NOTIFY_SOCKET, as systemd's would. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "breaker.h"
#include "jsonx.h"
#include "policy.h"
#include "log.h"
#include "status.h"
#include "status_ref.h"
#include "testutil.h"
#include "tset.h"

START_TEST(test_status_json)
{
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct target *a = tset_target(x, p, "alpha", "A."), *b = tset_target(x, p, "beta", "B.");
	json_object *o = NULL, *d, *t;
	struct buf out = BUF_INIT;
	struct errmsg e;

	x->set.config_path = "/etc/warmd/warmd.conf";
	x->set.touches_dropped = 3;
	tset_warm(x, a);
	a->hits = 5;
	p->cred_failed = false;
	ck_assert_int_eq(status_write(&x->set, x->set.targets, x->set.ntargets, &out), 0);
	ck_assert_msg(jsonx_parse(out.data, out.len, 0, &o, &e) == 0, "%s: %s", e.text, out.data);
	d = jsonx_get(o, "daemon");
	ck_assert_str_eq(jsonx_get_str(d, "config_file"), "/etc/warmd/warmd.conf");
	ck_assert_int_eq(json_object_get_int(jsonx_get(d, "touches_dropped")), 3);
	ck_assert_str_eq(
	        jsonx_get_str(json_object_array_get_idx(jsonx_get(d, "providers"), 0), "name"),
	        "local");
	t = jsonx_get(o, "targets");
	ck_assert_uint_eq(json_object_array_length(t), 2);
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(t, 0), "name"), "alpha");
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(t, 0), "state"), "warm");
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(t, 1), "state"), "cold");
	json_object_put(o);
	/* one target: only that one */
	buf_reset(&out);
	ck_assert_int_eq(status_write(&x->set, &x->set.targets[1], 1, &out), 0);
	ck_assert_int_eq(jsonx_parse(out.data, out.len, 0, &o, &e), 0);
	t = jsonx_get(o, "targets");
	ck_assert_uint_eq(json_object_array_length(t), 1);
	ck_assert_str_eq(jsonx_get_str(json_object_array_get_idx(t, 0), "name"), b->name);
	json_object_put(o);
	buf_free(&out);
	x->set.config_path = NULL;
	tset_free(x);
}
END_TEST

/* target_status_write() gives the reference's bytes, for targets in every
 * state, lanes plain and replaced, with and without a price, and texts and
 * numbers of every kind. */
START_TEST(test_status_write_matches_tree)
{
	static const char *const texts[] = { "",
		                             "plain",
		                             "quote \" and \\ backslash",
		                             "line\nbreak\ttab",
		                             "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5",
		                             "ctl \x01\x1f del \x7f" };
	static const double times[] = {
		0,    -5,        TSET_T0,       TSET_T0 + 0.0005, TSET_T0 + 299.9994,
		1e16, 1.0 / 0.0, TSET_T0 - 1e-9
	};
	static const double ttls[] = { 300, 3600, 299.5, 0.1, 1e15, 1e300, -0.0, 12345.678 };
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct target *plain = tset_target(x, p, "alpha", "A.");
	struct target *lane = tset_lane(x, p, "grp", "blue", 60, "B.");
	struct buf got = BUF_INIT, want = BUF_INIT;
	unsigned seed = 5;

	for (int round = 0; round < 3000; round++) {
		struct target *t = round % 2 ? lane : plain;
		json_object *o;
		bool paused_all = rand_r(&seed) % 7 == 0;

		t->policy = (enum policy)(rand_r(&seed) % 4);
		t->ttl_s = ttls[rand_r(&seed) % 8];
		t->prefix_tokens = rand_r(&seed) % 3 ? rand_r(&seed) : 0;
		t->last_refresh = times[rand_r(&seed) % 8];
		t->expires_at = times[rand_r(&seed) % 8];
		t->next_warm_at = times[rand_r(&seed) % 8];
		snprintf(t->reason, sizeof(t->reason), "%s", texts[rand_r(&seed) % 6]);
		snprintf(t->last_error, sizeof(t->last_error), "%s", texts[rand_r(&seed) % 6]);
		t->warms = (uint64_t)rand_r(&seed) << (rand_r(&seed) % 40);
		t->hits = rand_r(&seed);
		t->writes = rand_r(&seed) % 3;
		t->errors = rand_r(&seed) % 5 ? 0 : UINT64_MAX / (1 + rand_r(&seed) % 3);
		t->touches = rand_r(&seed);
		t->paused = rand_r(&seed) % 5 == 0;
		t->fail_streak = rand_r(&seed) % 4 == 0;
		t->breaker.state = (enum breaker_state)(rand_r(&seed) % 3);
		t->price = rand_r(&seed) % 2 ? (const struct price *)t
		                             : NULL; /* only tested for NULL */
		t->cost_pico =
		        ((int64_t)rand_r(&seed) << 20) - (rand_r(&seed) % 2 ? 0 : INT64_MAX / 3);
		t->saved_pico = rand_r(&seed) % 9 ? (int64_t)rand_r(&seed) * 1000003 : INT64_MIN;
		/* cluster mode now and then: owner, config_differs */
		t->owner = rand_r(&seed) % 3 ? NULL : rand_r(&seed) % 2 ? "n1" : "node-b.x";
		free(t->config_differs);
		t->config_differs = rand_r(&seed) % 4   ? NULL
		                    : rand_r(&seed) % 2 ? strdup("n2")
		                                        : strdup("n2,host-c");
		if (t == plain && rand_r(&seed) % 3 == 0) {
			/* a session now and then: session, keep_until, keep_for_s */
			if (!t->session)
				t->session = calloc(1, sizeof(*t->session));
			t->session->keep_until = times[rand_r(&seed) % 8];
			t->session->for_s = ttls[rand_r(&seed) % 8];
		} else if (t == plain && t->session) {
			free(t->session);
			t->session = NULL;
		}
		if (t == lane) {
			bool replaced = rand_r(&seed) % 2;
			free(t->vname);
			t->vname = replaced ? NULL : strdup("blue");
			t->weight = rand_r(&seed) % 101;
			t->retire_at = times[rand_r(&seed) % 8];
		}
		buf_reset(&got);
		buf_reset(&want);
		target_status_write(t, TSET_T0 + 10, paused_all, &got);
		o = status_ref_tree(t, TSET_T0 + 10, paused_all);
		jsonx_append(&want, o);
		json_object_put(o);
		ck_assert_msg(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
		              "round %d:\n got %s\nwant %s", round, got.data, want.data);
	}
	plain->price = lane->price = NULL;
	free(plain->session);
	plain->session = NULL;
	free(lane->vname);
	lane->vname = strdup("blue");
	buf_free(&got);
	buf_free(&want);
	tset_free(x);
}
END_TEST

/* The next datagram on fd ("" when none comes). */
static void receive(int fd, char *buf, size_t n)
{
	ssize_t r = recv(fd, buf, n - 1, MSG_DONTWAIT);

	buf[r > 0 ? r : 0] = '\0';
}

START_TEST(test_status_line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct status_line line = { 0 };
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct target *a = tset_target(x, p, "alpha", "A.");
	char *dir = tu_tmpdir(), got[256];
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	tset_target(x, p, "beta", "B.");
	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	tset_warm(x, a);
	status_line_update(&line, &x->set, true);
	receive(fd, got, sizeof(got));
	ck_assert_str_eq(got, "STATUS=1/2 warm, 0 failing");
	/* at most every few seconds, unless forced */
	a->paused = true;
	status_line_update(&line, &x->set, false);
	receive(fd, got, sizeof(got));
	ck_assert_str_eq(got, "");
	tset_advance(x, 6);
	status_line_update(&line, &x->set, false);
	receive(fd, got, sizeof(got));
	ck_assert_str_eq(got, "STATUS=0/2 warm, 0 failing, some paused");
	line.stopping = true;
	x->set.paused_all = true;
	sched_pause_all(x->set.sched, true);
	status_line_update(&line, &x->set, true);
	receive(fd, got, sizeof(got));
	ck_assert_str_eq(got, "STATUS=0/2 warm, 0 failing, all paused, stopping");
	unsetenv("NOTIFY_SOCKET");
	close(fd);
	tu_rmrf(dir);
	free(dir);
	tset_free(x);
}
END_TEST

/* No target: the line says idle; a held-back update says when it may go. */
START_TEST(test_status_line_idle_and_held_back)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct status_line line = { 0 };
	struct tset *x = tset_new();
	char *dir = tu_tmpdir(), got[256];
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct provider *p;
	struct target *a;

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	ck_assert(status_line_update(&line, &x->set, true) == 0);
	receive(fd, got, sizeof(got));
	ck_assert_str_eq(got, "STATUS=idle: no targets configured");
	/* a target arrives and warms 2 s later: held back for the 3 s left */
	p = tset_provider(x, "local", NULL);
	a = tset_target(x, p, "alpha", "A.");
	tset_advance(x, 2);
	tset_warm(x, a);
	ck_assert_double_eq_tol(status_line_update(&line, &x->set, false), 3.0, 1e-6);
	receive(fd, got, sizeof(got));
	ck_assert_str_eq(got, "");
	/* the caller sends it when that time has come */
	tset_advance(x, 3);
	ck_assert(status_line_update(&line, &x->set, false) == 0);
	receive(fd, got, sizeof(got));
	ck_assert_str_eq(got, "STATUS=1/1 warm, 0 failing");
	unsetenv("NOTIFY_SOCKET");
	close(fd);
	tu_rmrf(dir);
	free(dir);
	tset_free(x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("status");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERR);
	tcase_add_test(tc, test_status_json);
	tcase_add_test(tc, test_status_write_matches_tree);
	tcase_add_test(tc, test_status_line);
	tcase_add_test(tc, test_status_line_idle_and_held_back);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

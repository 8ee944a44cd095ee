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

#include "jsonx.h"
#include "log.h"
#include "status.h"
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
	tcase_add_test(tc, test_status_line);
	tcase_add_test(tc, test_status_line_idle_and_held_back);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

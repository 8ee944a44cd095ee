/* check_metrics: the Prometheus exposition (control/metrics.c) of a target
 * set built by hand, and the node_exporter textfile written from it on a
 * real loop (atomically: no temp file left, mode 0644). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "breaker.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "testutil.h"
#include "tset.h"

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define ASSERT_LINE(text, line)                                                                    \
	ck_assert_msg(has_line(text, line), "no line \"%s\" in:\n%s", line, text)

START_TEST(test_exposition)
{
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct target *a = tset_target(x, p, "alpha", "A."), *q;
	struct buf out = BUF_INIT;

	q = tset_lane(x, p, "billing", "green", 10, "B.");
	a->hits = 3;
	a->errors = 1;
	a->tok_read = 2048;
	a->touches = 7;
	tset_warm(x, a);
	q->paused = true;
	p->retries = 2;
	x->set.touches_dropped = 4;
	x->set.reloads_ok = 5;
	provider_observe_latency(p, 0.2);
	ck_assert_int_eq(metrics_write(&x->set, &out), 0);
	ASSERT_LINE(out.data,
	            "warmd_warms_total{target=\"alpha\",provider=\"local\",result=\"hit\"} 3");
	ASSERT_LINE(out.data,
	            "warmd_warms_total{target=\"alpha\",provider=\"local\",result=\"error\"} 1");
	ASSERT_LINE(out.data, "warmd_tokens_total{target=\"alpha\",kind=\"cache_read\"} 2048");
	ASSERT_LINE(out.data, "warmd_target_warm{target=\"alpha\"} 1");
	ASSERT_LINE(out.data, "warmd_target_warm{target=\"billing@green\"} 0");
	ASSERT_LINE(out.data, "warmd_targets{state=\"warm\"} 1");
	ASSERT_LINE(out.data, "warmd_targets{state=\"paused\"} 1");
	ASSERT_LINE(out.data, "warmd_touches_total{target=\"alpha\"} 7");
	ASSERT_LINE(out.data, "warmd_touches_dropped_total 4");
	ASSERT_LINE(out.data, "warmd_retries_total{provider=\"local\"} 2");
	ASSERT_LINE(out.data, "warmd_config_reloads_total{result=\"success\"} 5");
	ASSERT_LINE(out.data,
	            "warmd_warm_duration_seconds_bucket{provider=\"local\",le=\"0.1\"} 0");
	ASSERT_LINE(out.data,
	            "warmd_warm_duration_seconds_bucket{provider=\"local\",le=\"0.25\"} 1");
	ASSERT_LINE(out.data, "warmd_warm_duration_seconds_count{provider=\"local\"} 1");
	ASSERT_LINE(out.data, "warmd_inflight 0");
	buf_free(&out);
	tset_free(x);
}
END_TEST

/* The gauges the alerting rules (contrib/prometheus/) are written against. */
/* A session (warmctl keep) has no series of its own: it is counted in the
 * warmd_session_* series, its warms with those of the sessions that ended. */
START_TEST(test_sessions)
{
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct target *s = tset_target(x, p, "chat:1", "S.");
	struct buf out = BUF_INIT;

	tset_target(x, p, "alpha", "A.");
	s->session = calloc(1, sizeof(*s->session));
	ck_assert_ptr_nonnull(s->session);
	s->hits = 4;
	s->writes = 1;
	s->touches = 2;
	ck_assert_int_eq(metrics_write(&x->set, &out), 0);
	ck_assert_ptr_null(strstr(out.data, "chat:1"));
	ASSERT_LINE(out.data, "warmd_target_warm{target=\"alpha\"} 0");
	ASSERT_LINE(out.data, "warmd_session_warms_total{result=\"hit\"} 4");
	ASSERT_LINE(out.data, "warmd_session_warms_total{result=\"write\"} 1");
	ASSERT_LINE(out.data, "warmd_session_drops_total{reason=\"expired\"} 0");
	ASSERT_LINE(out.data, "warmd_session_keeps_total{result=\"refused\"} 0");
	ASSERT_LINE(out.data, "warmd_targets{state=\"cold\"} 1"); /* alpha only */
	free(s->session);
	s->session = NULL;
	buf_free(&out);
	tset_free(x);
}
END_TEST

START_TEST(test_alert_gauges)
{
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct provider *q = tset_provider(x, "backup", NULL);
	struct target *a = tset_target(x, p, "alpha", "A.");
	struct target *c;
	struct buf out = BUF_INIT;

	tset_target(x, q, "beta", "B.");
	c = tset_target(x, p, "gamma", "C.");
	tset_warm(x, a);
	c->policy = POLICY_SCHEDULE;
	/* beta's provider: key rejected, breaker open */
	q->cred_failed = true;
	breaker_init(&q->breaker, 1);
	ck_assert(breaker_failure(&q->breaker, clock_now(x->set.clk), "HTTP 401"));
	ck_assert_int_eq(metrics_write(&x->set, &out), 0);
	ASSERT_LINE(out.data,
	            "warmd_target_info{target=\"alpha\",provider=\"local\",policy=\"always\"} 1");
	ASSERT_LINE(out.data,
	            "warmd_target_info{target=\"gamma\",provider=\"local\",policy=\"schedule\"} 1");
	/* one-hot: the current state 1, every other 0, every series there */
	ASSERT_LINE(out.data, "warmd_target_state{target=\"alpha\",state=\"warm\"} 1");
	ASSERT_LINE(out.data, "warmd_target_state{target=\"alpha\",state=\"cold\"} 0");
	ASSERT_LINE(out.data, "warmd_target_state{target=\"gamma\",state=\"cold\"} 1");
	ASSERT_LINE(out.data, "warmd_target_state{target=\"gamma\",state=\"idle\"} 0");
	ASSERT_LINE(out.data, "warmd_target_state{target=\"beta\",state=\"failing\"} 1");
	ASSERT_LINE(out.data, "warmd_target_state{target=\"beta\",state=\"cold\"} 0");
	ASSERT_LINE(out.data, "warmd_target_ttl_seconds{target=\"alpha\"} 300");
	ASSERT_LINE(out.data,
	            "warmd_target_last_refresh_timestamp_seconds{target=\"alpha\"} 1767225600");
	ASSERT_LINE(out.data, "warmd_target_last_refresh_timestamp_seconds{target=\"gamma\"} 0");
	ASSERT_LINE(out.data, "warmd_target_breaker_open{target=\"alpha\"} 0");
	ASSERT_LINE(out.data, "warmd_provider_credential_failed{provider=\"local\"} 0");
	ASSERT_LINE(out.data, "warmd_provider_credential_failed{provider=\"backup\"} 1");
	ASSERT_LINE(out.data, "warmd_provider_breaker_open{provider=\"local\"} 0");
	ASSERT_LINE(out.data, "warmd_provider_breaker_open{provider=\"backup\"} 1");
	buf_free(&out);

	/* a target's own breaker; a new key and a success clear the provider's */
	breaker_init(&c->breaker, 1);
	ck_assert(breaker_failure(&c->breaker, clock_now(x->set.clk), "HTTP 500"));
	q->cred_failed = false;
	breaker_success(&q->breaker);
	ck_assert_int_eq(metrics_write(&x->set, &out), 0);
	ASSERT_LINE(out.data, "warmd_target_breaker_open{target=\"gamma\"} 1");
	ASSERT_LINE(out.data, "warmd_target_state{target=\"gamma\",state=\"failing\"} 1");
	ASSERT_LINE(out.data, "warmd_provider_credential_failed{provider=\"backup\"} 0");
	ASSERT_LINE(out.data, "warmd_provider_breaker_open{provider=\"backup\"} 0");
	ASSERT_LINE(out.data, "# TYPE warmd_target_state gauge");
	buf_free(&out);
	tset_free(x);
}
END_TEST

START_TEST(test_textfile)
{
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct metrics_textfile *m = NULL;
	char *dir = tu_tmpdir(), path[4200], tmp[4300], *text;
	struct errmsg e;
	struct stat st;
	uv_loop_t loop;
	size_t len;

	tset_target(x, p, "alpha", "A.");
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	snprintf(path, sizeof(path), "%s/warmd.prom", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_msg(metrics_textfile_open(&loop, &x->set, path, 60, &m, &e) == 0, "%s", e.text);
	text = tu_read(path, &len); /* written at once */
	ck_assert_ptr_nonnull(text);
	ck_assert(has_line(text, "warmd_touches_total{target=\"alpha\"} 0"));
	free(text);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	x->set.targets[0]->touches = 9;
	metrics_textfile_close(m); /* the last word */
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	text = tu_read(path, &len);
	ck_assert(has_line(text, "warmd_touches_total{target=\"alpha\"} 9"));
	free(text);
	/* a directory that is not there: refused, with the file named */
	snprintf(path, sizeof(path), "%s/none/warmd.prom", dir);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_lt(metrics_textfile_open(&loop, &x->set, path, 60, &m, &e), 0);
	ck_assert_ptr_nonnull(strstr(e.text, path));
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	tu_rmrf(dir);
	free(dir);
	tset_free(x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERR);
	tcase_add_test(tc, test_exposition);
	tcase_add_test(tc, test_sessions);
	tcase_add_test(tc, test_alert_gauges);
	tcase_add_test(tc, test_textfile);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

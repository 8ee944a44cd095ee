/* check_metrics: the Prometheus exposition (daemon/metrics.c), on a daemon
 * assembled by hand on a virtual clock: the per-target and per-provider
 * gauges the alerting rules in contrib/prometheus/ are written against. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "metrics.h"
#include "provider.h"
#include "sched.h"
#include "target.h"
#include "template.h"

#define T0 1.8e9

static int fire_never(void *data, struct target *t)
{
	ck_abort_msg("no warm should fire in check_metrics");
	return -1;
}

static const struct sched_ops ops = { .fire = fire_never };

struct fixture {
	struct daemon d;
	struct provider *provs[2];
	struct target *targets[3];
};

static struct provider *provider(const char *name)
{
	struct cfg_provider cp = { .name = (char *)name,
		                   .kind = PROVIDER_ANTHROPIC,
		                   .base_url = (char *)"http://127.0.0.1:9",
		                   .max_inflight = 8 };
	return provider_new(&cp);
}

static struct target *target(const char *name, struct provider *p, enum policy policy)
{
	struct target *t = target_new(name);
	struct tmpl *tm = calloc(1, sizeof(*tm));

	ck_assert_ptr_nonnull(tm);
	tm->refs = 1;
	tm->model = strdup("claude-sonnet-4-5");
	t->tmpl = tm;
	t->prov = provider_ref(p);
	t->policy = policy;
	t->ttl_s = 300;
	breaker_init(&t->breaker, BREAKER_TRIP_TARGET);
	return t;
}

/* anthropic: "support-bot" warm, "faq" never warmed; "nightly" on the
 * second provider, whose credential was rejected and breaker opened. */
static void setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->d.clk = clock_virtual_new(T0);
	f->d.sched = sched_new(f->d.clk, &ops, NULL, 1);
	ck_assert_ptr_nonnull(f->d.sched);
	f->provs[0] = provider("anthropic");
	f->provs[1] = provider("backup");
	f->targets[0] = target("faq", f->provs[0], POLICY_ALWAYS);
	f->targets[1] = target("nightly", f->provs[1], POLICY_SCHEDULE);
	f->targets[2] = target("support-bot", f->provs[0], POLICY_ALWAYS);
	f->targets[2]->last_refresh = T0 - 100;
	f->targets[2]->expires_at = T0 + 200;
	f->targets[2]->ttl_s = 3600;
	f->provs[1]->cred_failed = true;
	breaker_init(&f->provs[1]->breaker, 1);
	ck_assert(breaker_failure(&f->provs[1]->breaker, T0 - 1, "HTTP 401"));
	f->d.provs = f->provs;
	f->d.nprovs = 2;
	f->d.targets = f->targets;
	f->d.ntargets = 3;
}

static void teardown(struct fixture *f)
{
	for (int i = 0; i < 3; i++)
		target_unref(f->targets[i]);
	for (int i = 0; i < 2; i++)
		provider_unref(f->provs[i]);
	sched_free(f->d.sched);
	clock_virtual_free(f->d.clk);
}

static char *render(struct fixture *f)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(metrics_write(&f->d, &b), 0);
	return b.data; /* NUL-terminated, caller frees */
}

static void has(const char *text, const char *line)
{
	ck_assert_msg(strstr(text, line) != NULL, "missing: %s\nin:\n%s", line, text);
}

START_TEST(test_target_gauges)
{
	struct fixture f;
	char *text;

	setup(&f);
	text = render(&f);
	has(text, "# TYPE warmd_target_info gauge\n");
	has(text, "warmd_target_info{target=\"support-bot\",provider=\"anthropic\",policy="
	          "\"always\"} 1\n");
	has(text,
	    "warmd_target_info{target=\"nightly\",provider=\"backup\",policy=\"schedule\"} 1\n");
	/* one-hot: the current state 1, the others 0, every series always there */
	has(text, "warmd_target_state{target=\"support-bot\",state=\"warm\"} 1\n");
	has(text, "warmd_target_state{target=\"support-bot\",state=\"cold\"} 0\n");
	has(text, "warmd_target_state{target=\"faq\",state=\"cold\"} 1\n");
	has(text, "warmd_target_state{target=\"faq\",state=\"warm\"} 0\n");
	/* a target of a provider whose credential failed is failing */
	has(text, "warmd_target_state{target=\"nightly\",state=\"failing\"} 1\n");
	has(text, "warmd_target_state{target=\"nightly\",state=\"idle\"} 0\n");
	has(text, "warmd_target_ttl_seconds{target=\"support-bot\"} 3600\n");
	has(text, "warmd_target_ttl_seconds{target=\"faq\"} 300\n");
	has(text,
	    "warmd_target_last_refresh_timestamp_seconds{target=\"support-bot\"} 1799999900\n");
	has(text, "warmd_target_last_refresh_timestamp_seconds{target=\"faq\"} 0\n");
	has(text, "warmd_target_breaker_open{target=\"faq\"} 0\n");
	free(text);

	/* paused by the kill switch: every target says paused */
	sched_pause_all(f.d.sched, true);
	text = render(&f);
	has(text, "warmd_target_state{target=\"support-bot\",state=\"paused\"} 1\n");
	has(text, "warmd_target_state{target=\"support-bot\",state=\"warm\"} 0\n");
	free(text);

	/* a target's own breaker */
	breaker_init(&f.targets[0]->breaker, 1);
	ck_assert(breaker_failure(&f.targets[0]->breaker, T0, "HTTP 500"));
	text = render(&f);
	has(text, "warmd_target_breaker_open{target=\"faq\"} 1\n");
	free(text);
	teardown(&f);
}
END_TEST

START_TEST(test_provider_gauges)
{
	struct fixture f;
	char *text;

	setup(&f);
	text = render(&f);
	has(text, "# TYPE warmd_provider_credential_failed gauge\n");
	has(text, "warmd_provider_credential_failed{provider=\"anthropic\"} 0\n");
	has(text, "warmd_provider_credential_failed{provider=\"backup\"} 1\n");
	has(text, "# TYPE warmd_provider_breaker_open gauge\n");
	has(text, "warmd_provider_breaker_open{provider=\"anthropic\"} 0\n");
	has(text, "warmd_provider_breaker_open{provider=\"backup\"} 1\n");
	free(text);

	/* a reload with a new key clears it; the breaker closes on a success */
	f.provs[1]->cred_failed = false;
	breaker_success(&f.provs[1]->breaker);
	text = render(&f);
	has(text, "warmd_provider_credential_failed{provider=\"backup\"} 0\n");
	has(text, "warmd_provider_breaker_open{provider=\"backup\"} 0\n");
	free(text);
	teardown(&f);
}
END_TEST

START_TEST(test_every_metric_has_help_and_type)
{
	struct fixture f;
	char *text, *all, *line, *save = NULL;

	setup(&f);
	text = render(&f);
	all = strdup(text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], type[160];
		size_t n = strcspn(line, "{ ");
		const char *base = name;

		if (line[0] == '#')
			continue;
		ck_assert_uint_lt(n, sizeof(name));
		memcpy(name, line, n);
		name[n] = '\0';
		/* histogram series share their family's TYPE line */
		if (strstr(name, "warmd_warm_duration_seconds_"))
			base = "warmd_warm_duration_seconds";
		snprintf(type, sizeof(type), "# TYPE %s ", base);
		ck_assert_msg(strstr(all, type) != NULL, "no TYPE line for %s", name);
	}
	free(all);
	free(text);
	teardown(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_target_gauges);
	tcase_add_test(tc, test_provider_gauges);
	tcase_add_test(tc, test_every_metric_has_help_and_type);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

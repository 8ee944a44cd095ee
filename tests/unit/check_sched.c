/* check_sched: the scheduler (runtime/sched.c) and the virtual clock
 * (runtime/clock.c), on virtual time with hand-built targets and no network.
 *
 * fire() only records which target fired and when; each test completes warms
 * itself with sched_done(), so every decision the scheduler makes is observed
 * at an exact virtual time. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters.h"
#include "clock.h"
#include "heap.h"
#include "provider.h"
#include "sched.h"
#include "share.h"
#include "target.h"
#include "template.h"

#define T0          1000.0
#define EPS         1e-9
#define MAX_FIRES   8192
#define MAX_TARGETS 64
#define MAX_PROVS   4

struct fire_rec {
	struct target *t;
	double at;
};

struct fx {
	struct clock *clk;
	struct sched *s;
	struct provider *provs[MAX_PROVS];
	size_t nprovs;
	struct target *tg[MAX_TARGETS];
	size_t ntg;
	struct fire_rec fires[MAX_FIRES];
	size_t nfires;
	int fire_ret;   /* what fire() returns */
	bool sync_done; /* fire() completes the warm itself with a hit */
};

static int fire_cb(void *data, struct target *t)
{
	struct fx *f = data;

	ck_assert_uint_lt(f->nfires, MAX_FIRES);
	/* sched marks the target in flight before it calls fire(). */
	ck_assert(t->inflight);
	f->fires[f->nfires].t = t;
	f->fires[f->nfires].at = clock_now(f->clk);
	f->nfires++;
	if (f->fire_ret < 0) {
		snprintf(t->last_error, sizeof(t->last_error), "cannot start request: test");
		return f->fire_ret;
	}
	if (f->sync_done) {
		struct sched_outcome o = { .result = WARM_HIT,
			                   .sent_at = clock_now(f->clk),
			                   .latency_s = -1,
			                   .retry_after_s = -1 };
		sched_done(f->s, t, &o);
	}
	return 0;
}

static const struct sched_ops fx_ops = { .fire = fire_cb };

/* Fixtures still alive, so that a failed assertion (which leaves the test
 * function early) does not leak them: teardown frees what is left. */
static struct fx *live[8];
static size_t nlive;

static struct fx *fx_new(uint64_t seed)
{
	struct fx *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	f->clk = clock_virtual_new(T0);
	ck_assert_ptr_nonnull(f->clk);
	f->s = sched_new(f->clk, &fx_ops, f, seed);
	ck_assert_ptr_nonnull(f->s);
	ck_assert_uint_lt(nlive, sizeof(live) / sizeof(live[0]));
	live[nlive++] = f;
	return f;
}

static struct provider *fx_provider(struct fx *f, const char *name, int max_inflight, int max_rpm)
{
	char nm[64], url[] = "http://127.0.0.1:1";
	struct cfg_provider c;
	struct provider *p;

	memset(&c, 0, sizeof(c));
	snprintf(nm, sizeof(nm), "%s", name);
	c.name = nm;
	c.kind = PROVIDER_ANTHROPIC;
	c.base_url = url;
	c.max_inflight = max_inflight;
	c.max_rpm = max_rpm;
	c.timeout_ms = 30000;
	c.connect_timeout_ms = 10000;
	p = provider_new(&c);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_lt(f->nprovs, MAX_PROVS);
	f->provs[f->nprovs++] = p;
	sched_set_providers(f->s, f->provs, f->nprovs);
	return p;
}

static struct target *fx_target(struct fx *f, struct provider *p, const char *name, double ttl,
                                enum policy pol, int prio)
{
	struct tmpl *tm = calloc(1, sizeof(*tm));
	struct target *t;

	ck_assert_ptr_nonnull(tm);
	tm->refs = 1;
	snprintf(tm->version, sizeof(tm->version), "%064d", 7);
	snprintf(tm->short_version, sizeof(tm->short_version), "000000000007");
	tm->prefix_tokens_est = 0;
	tm->unwarmable[0] = '\0';
	t = target_new(name);
	ck_assert_ptr_nonnull(t);
	t->prov = provider_ref(p);
	t->tmpl = tm;
	t->ttl_s = ttl;
	t->policy = pol;
	t->priority = prio;
	ck_assert_uint_lt(f->ntg, MAX_TARGETS);
	f->tg[f->ntg++] = t;
	return t;
}

static void fx_free(struct fx *f)
{
	/* Out of every heap first: freeing a provider clears its wait queue's
	 * index fields, which live in the targets. */
	for (size_t i = 0; i < f->ntg; i++)
		sched_remove(f->s, f->tg[i]);
	sched_free(f->s);
	for (size_t i = 0; i < f->ntg; i++)
		target_unref(f->tg[i]);
	for (size_t i = 0; i < f->nprovs; i++)
		provider_unref(f->provs[i]);
	clock_virtual_free(f->clk);
	for (size_t i = 0; i < nlive; i++) {
		if (live[i] == f) {
			live[i] = live[--nlive];
			break;
		}
	}
	free(f);
}

static void fx_teardown(void)
{
	while (nlive > 0)
		fx_free(live[nlive - 1]);
}

static double fx_now(struct fx *f)
{
	return clock_now(f->clk);
}

static void fx_plan_all(struct fx *f)
{
	for (size_t i = 0; i < f->ntg; i++)
		sched_plan(f->s, f->tg[i]);
	sched_rearm(f->s);
}

static void fx_done_full(struct fx *f, struct target *t, enum warm_result r, double sent_at,
                         double lat, bool retryable, bool auth, double retry_after)
{
	struct sched_outcome o = { .result = r,
		                   .sent_at = sent_at,
		                   .latency_s = lat,
		                   .retryable = retryable,
		                   .auth = auth,
		                   .retry_after_s = retry_after };

	sched_done(f->s, t, &o);
}

static void fx_done(struct fx *f, struct target *t, enum warm_result r, double sent_at, double lat)
{
	fx_done_full(f, t, r, sent_at, lat, false, false, -1);
}

static size_t fx_count(struct fx *f, struct target *t)
{
	size_t n = 0;

	for (size_t i = 0; i < f->nfires; i++)
		n += f->fires[i].t == t;
	return n;
}

/* Time of t's last fire, or -1. */
static double fx_last_fire(struct fx *f, struct target *t)
{
	for (size_t i = f->nfires; i-- > 0;)
		if (f->fires[i].t == t)
			return f->fires[i].at;
	return -1;
}

/* ---------------------------------------------------------------- clock */

static int alarms_seen;
static void count_alarm_cb(void *data)
{
	(void)data;
	alarms_seen++;
}

START_TEST(test_clock_virtual)
{
	struct clock *c = clock_virtual_new(T0);

	alarms_seen = 0;
	clock_on_alarm(c, count_alarm_cb, NULL);
	ck_assert_double_eq(clock_now(c), T0);
	ck_assert(!clock_virtual_step(c)); /* disarmed */
	ck_assert_int_eq(clock_virtual_advance(c, T0 + 10), 0);
	ck_assert_double_eq(clock_now(c), T0 + 10);

	clock_arm(c, T0 + 15);
	ck_assert_double_eq(c->armed_at, T0 + 15);
	ck_assert_int_eq(clock_virtual_advance(c, T0 + 14.5), 0);
	ck_assert_double_eq(clock_now(c), T0 + 14.5);
	ck_assert_int_eq(clock_virtual_advance(c, T0 + 20), 1);
	ck_assert_int_eq(alarms_seen, 1);
	ck_assert_double_eq(clock_now(c), T0 + 20);
	ck_assert_double_eq(c->armed_at, -1);

	/* step jumps to the alarm and fires it exactly once per arm */
	clock_arm(c, T0 + 30);
	ck_assert(clock_virtual_step(c));
	ck_assert_double_eq(clock_now(c), T0 + 30);
	ck_assert_int_eq(alarms_seen, 2);
	ck_assert(!clock_virtual_step(c));

	/* an alarm in the past fires without moving time backwards */
	clock_arm(c, T0 + 5);
	ck_assert(clock_virtual_step(c));
	ck_assert_double_eq(clock_now(c), T0 + 30);
	ck_assert_int_eq(alarms_seen, 3);

	/* disarming */
	clock_arm(c, T0 + 40);
	clock_arm(c, -1);
	ck_assert_int_eq(clock_virtual_advance(c, T0 + 100), 0);
	ck_assert_int_eq(alarms_seen, 3);
	clock_virtual_free(c);
}
END_TEST

static struct clock *rearm_clk;
static int rearm_left;
static void rearm_alarm_cb(void *data)
{
	(void)data;
	alarms_seen++;
	if (--rearm_left > 0)
		clock_arm(rearm_clk, clock_now(rearm_clk) + 1);
}

START_TEST(test_clock_advance_rearm)
{
	struct clock *c = clock_virtual_new(T0);

	/* An alarm callback that re-arms is fired again on the same advance. */
	alarms_seen = 0;
	rearm_clk = c;
	rearm_left = 5;
	clock_on_alarm(c, rearm_alarm_cb, NULL);
	clock_arm(c, T0 + 1);
	ck_assert_int_eq(clock_virtual_advance(c, T0 + 3.5), 3);
	ck_assert_double_eq(c->armed_at, T0 + 4);
	ck_assert_int_eq(clock_virtual_advance(c, T0 + 100), 2);
	ck_assert_int_eq(alarms_seen, 5);
	ck_assert_double_eq(c->armed_at, -1);
	clock_virtual_free(c);
}
END_TEST

/* ------------------------------------------------------------- firing */

START_TEST(test_first_warm_fires_at_start)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);

	fx_plan_all(f);
	ck_assert_uint_eq(f->nfires, 0); /* planning never fires by itself */
	ck_assert_double_eq(t->next_warm_at, T0);
	ck_assert_double_eq(f->clk->armed_at, T0);
	ck_assert_msg(strstr(t->reason, "first warm") != NULL, "reason: %s", t->reason);
	ck_assert_msg(strstr(t->reason, "000000000007") != NULL, "reason: %s", t->reason);

	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert_ptr_eq(f->fires[0].t, t);
	ck_assert_double_eq(f->fires[0].at, T0);
	ck_assert(t->inflight);
	ck_assert_int_eq(sched_inflight(f->s), 1);
	ck_assert_int_eq(p->inflight, 1);
	ck_assert_int_eq(target_state(t, fx_now(f), false), TARGET_WARMING);
	ck_assert_double_eq(t->next_warm_at, -1);
	/* nothing else to do: no alarm */
	ck_assert_double_eq(f->clk->armed_at, -1);

	fx_done(f, t, WARM_WRITE, T0, 0.4);
	ck_assert_int_eq(sched_inflight(f->s), 0);
	ck_assert_int_eq(p->inflight, 0);
	ck_assert(!t->inflight);
	ck_assert_int_eq(target_state(t, fx_now(f), false), TARGET_WARM);
	fx_free(f);
}
END_TEST

START_TEST(test_manual_policy)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "m", 300, POLICY_MANUAL, 10);

	fx_plan_all(f);
	ck_assert_double_eq(t->next_warm_at, -1);
	ck_assert_double_eq(f->clk->armed_at, -1);
	ck_assert_msg(strstr(t->reason, "manual") != NULL, "reason: %s", t->reason);
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 5000), 0);
	ck_assert_uint_eq(f->nfires, 0);

	ck_assert_int_eq(sched_warm_now(f->s, t), 0);
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert_double_eq(f->fires[0].at, T0 + 5000);
	ck_assert_int_eq(sched_warm_now(f->s, t), -EALREADY);
	ck_assert_uint_eq(f->nfires, 1);

	fx_done(f, t, WARM_HIT, T0 + 5000, 0.2);
	ck_assert_double_eq(t->expires_at, T0 + 5300);
	/* still manual: no automatic refresh before (or after) expiry */
	ck_assert_double_eq(t->next_warm_at, -1);
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 20000), 0);
	ck_assert_uint_eq(f->nfires, 1);
	fx_free(f);
}
END_TEST

START_TEST(test_margin_values)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 6, POLICY_ALWAYS, 10);

	/* floor: 1% of ttl within [0.5 s, 5 s] */
	ck_assert_double_eq_tol(sched_margin(f->s, t), SCHED_MARGIN_FLOOR_S, EPS);
	t->ttl_s = 30;
	ck_assert_double_eq_tol(sched_margin(f->s, t), 0.5, EPS);
	t->ttl_s = 300;
	ck_assert_double_eq_tol(sched_margin(f->s, t), 3.0, EPS);
	t->ttl_s = 3600;
	ck_assert_double_eq_tol(sched_margin(f->s, t), SCHED_MARGIN_FLOOR_MAX_S, EPS);
	t->ttl_s = 86400;
	ck_assert_double_eq_tol(sched_margin(f->s, t), 5.0, EPS);
	/* + p99 latency */
	t->ttl_s = 300;
	p->lat_p99 = 1.25;
	ck_assert_double_eq_tol(sched_margin(f->s, t), 4.25, EPS);
	/* + 1 s per million prefix tokens: the estimate until usage says better */
	t->tmpl->prefix_tokens_est = 2000000;
	ck_assert_double_eq_tol(sched_margin(f->s, t), 6.25, EPS);
	t->prefix_tokens = 500000;
	ck_assert_double_eq_tol(sched_margin(f->s, t), 4.75, EPS);
	p->lat_p99 = 0;
	fx_free(f);
}
END_TEST

/* Completes the first warm of t at T0 (hit, given latency) and returns the
 * time of the next fire the scheduler plans. */
static double refresh_cycle(struct fx *f, struct target *t, double lat)
{
	size_t before;
	double at;

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_ptr_eq(f->fires[f->nfires - 1].t, t);
	clock_virtual_advance(f->clk, T0 + lat);
	fx_done(f, t, WARM_HIT, T0, lat);
	at = t->next_warm_at;
	ck_assert_double_eq(f->clk->armed_at, at);
	before = f->nfires;
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, before + 1);
	ck_assert_ptr_eq(f->fires[before].t, t);
	ck_assert_double_eq(f->fires[before].at, at);
	return at;
}

START_TEST(test_next_fire_small_ttl)
{
	struct fx *f = fx_new(7);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 6, POLICY_ALWAYS, 10);
	double at, margin;

	at = refresh_cycle(f, t, 0.2);
	ck_assert_double_eq_tol(p->lat_p99, 0.2, EPS);
	margin = sched_margin(f->s, t);
	ck_assert_double_eq_tol(margin, 0.5 + 0.2, EPS);
	ck_assert_double_eq(t->expires_at, T0 + 6);
	/* fires before expiry minus the floor, earlier by at most 2% of ttl */
	ck_assert_msg(at < T0 + 6 - SCHED_MARGIN_FLOOR_S, "fired at %.6f", at);
	ck_assert_msg(at <= T0 + 6 - margin + EPS, "fired at %.6f", at);
	ck_assert_msg(at >= T0 + 6 - margin - 0.02 * 6 - EPS, "fired at %.6f", at);
	ck_assert_double_eq_tol(at, T0 + 6 - margin - t->spread, EPS);
	ck_assert_msg(strstr(t->reason, "first") == NULL, "reason: %s", t->reason);
	fx_free(f);
}
END_TEST

START_TEST(test_next_fire_ttl_300)
{
	struct fx *f = fx_new(7);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);
	double at;

	at = refresh_cycle(f, t, 0.5);
	ck_assert_double_eq_tol(sched_margin(f->s, t), 3.0 + 0.5, EPS);
	ck_assert_msg(at < T0 + 300 - 3.0, "fired at %.6f", at);
	ck_assert_msg(at <= T0 + 300 - 3.5 + EPS, "fired at %.6f", at);
	/* spread: 2% of ttl, at most 2 s */
	ck_assert_msg(at >= T0 + 300 - 3.5 - 2.0 - EPS, "fired at %.6f", at);
	ck_assert(t->spread >= 0 && t->spread <= 2.0);
	fx_free(f);
}
END_TEST

START_TEST(test_next_fire_ttl_3600)
{
	struct fx *f = fx_new(7);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 3600, POLICY_ALWAYS, 10);
	double at;

	at = refresh_cycle(f, t, 1.0);
	ck_assert_double_eq_tol(sched_margin(f->s, t), 5.0 + 1.0, EPS);
	ck_assert_msg(at < T0 + 3600 - 5.0, "fired at %.6f", at);
	ck_assert_msg(at <= T0 + 3600 - 6.0 + EPS, "fired at %.6f", at);
	ck_assert_msg(at >= T0 + 3600 - 6.0 - 2.0 - EPS, "fired at %.6f", at);
	ck_assert_msg(strstr(t->reason, "warm in flight") != NULL, "reason: %s", t->reason);
	fx_free(f);
}
END_TEST

START_TEST(test_expiry_from_send_time)
{
	struct fx *f = fx_new(3);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	/* a slow warm: completes 25 s after it was sent */
	clock_virtual_advance(f->clk, T0 + 25);
	fx_done(f, t, WARM_WRITE, T0, 25);
	ck_assert_double_eq(t->last_refresh, T0);
	ck_assert_double_eq(t->expires_at, T0 + 300);
	ck_assert_double_eq_tol(p->lat_p99, 25, EPS);
	/* margin = 3 s floor + 25 s p99: plans before the send-time expiry */
	ck_assert_msg(t->next_warm_at <= T0 + 300 - 28 + EPS, "next %.6f", t->next_warm_at);
	ck_assert_msg(t->next_warm_at >= T0 + 300 - 28 - 2 - EPS, "next %.6f", t->next_warm_at);
	fx_free(f);
}
END_TEST

/* Warms of t manually, each with the given latency. */
static void manual_warm(struct fx *f, struct target *t, double lat)
{
	size_t before = f->nfires;

	ck_assert_int_eq(sched_warm_now(f->s, t), 0);
	ck_assert_uint_eq(f->nfires, before + 1);
	fx_done(f, t, WARM_HIT, fx_now(f), lat);
}

START_TEST(test_p99_feeds_margin)
{
	struct fx *f = fx_new(3);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *m = fx_target(f, p, "m", 300, POLICY_MANUAL, 10);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);
	double at;

	/* latencies of one target feed the provider's p99, used for all */
	manual_warm(f, m, 2.5);
	ck_assert_uint_eq(p->nlat, 1);
	ck_assert_double_eq_tol(p->lat_p99, 2.5, EPS);
	for (int i = 1; i <= 9; i++)
		manual_warm(f, m, 0.1 * i);
	ck_assert_uint_eq(p->nlat, 10);
	/* p99 of 10 samples is the largest */
	ck_assert_double_eq_tol(p->lat_p99, 2.5, EPS);
	/* errors and unknown latencies do not count */
	ck_assert_int_eq(sched_warm_now(f->s, m), 0);
	fx_done_full(f, m, WARM_ERROR, fx_now(f), 99, true, false, -1);
	ck_assert_uint_eq(p->nlat, 10);
	manual_warm(f, m, -1);
	ck_assert_uint_eq(p->nlat, 10);
	ck_assert_double_eq_tol(p->lat_p99, 2.5, EPS);
	/* a ring of 64: the 2.5 s outlier ages out after 64 newer samples */
	for (int i = 0; i < PROVIDER_LAT_SAMPLES; i++)
		manual_warm(f, m, 0.2 + (i == 10 ? 0.7 : 0.0));
	ck_assert_uint_eq(p->nlat, PROVIDER_LAT_SAMPLES);
	ck_assert_double_eq_tol(p->lat_p99, 0.9, EPS);
	for (int i = 0; i < PROVIDER_LAT_SAMPLES; i++)
		manual_warm(f, m, 0.3);
	ck_assert_double_eq_tol(p->lat_p99, 0.3, EPS);

	/* the p99 moves the other target's warm earlier */
	for (int i = 0; i < 4; i++)
		manual_warm(f, m, 4.0);
	ck_assert_double_eq_tol(p->lat_p99, 4.0, EPS); /* ceil(0.99*64) = 64th */
	ck_assert_double_eq_tol(sched_margin(f->s, t), 3.0 + 4.0, EPS);
	sched_plan(f->s, t);
	sched_rearm(f->s);
	{
		double start = fx_now(f);
		ck_assert(clock_virtual_step(f->clk));
		ck_assert_ptr_eq(f->fires[f->nfires - 1].t, t);
		fx_done(f, t, WARM_HIT, start, 4.0);
		at = t->next_warm_at;
		ck_assert_msg(at <= start + 300 - 7.0 + EPS, "next %.6f", at);
		ck_assert_msg(at >= start + 300 - 7.0 - 2.0 - EPS, "next %.6f", at);
		ck_assert_msg(strstr(t->reason, "p99 latency 4.0s") != NULL, "reason: %s",
		              t->reason);
	}
	fx_free(f);
}
END_TEST

/* Completes every warm in flight with a hit, sent at its fire time. */
static void complete_inflight(struct fx *f, size_t from)
{
	/* newest first: a target's latest fire is the one in flight */
	for (size_t i = f->nfires; i-- > from;)
		if (f->fires[i].t->inflight)
			fx_done(f, f->fires[i].t, WARM_HIT, f->fires[i].at, 0.05);
}

START_TEST(test_no_idle_wakeups)
{
	static const double ttls[] = { 6, 7, 9, 13, 20, 31, 300 };
	struct fx *f = fx_new(11);
	struct provider *p = fx_provider(f, "p", 64, 0);
	int alarms = 0;

	for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
		char name[16];
		snprintf(name, sizeof(name), "t%zu", i);
		fx_target(f, p, name, ttls[i], POLICY_ALWAYS, 10);
	}
	fx_plan_all(f);
	while (fx_now(f) < T0 + 600) {
		size_t before = f->nfires;
		if (!clock_virtual_step(f->clk))
			break;
		alarms++;
		ck_assert_msg(f->nfires > before, "alarm at %.6f fired no warm", fx_now(f));
		complete_inflight(f, before);
	}
	ck_assert_int_gt(alarms, 100);
	/* each target was refreshed before every expiry (never late) */
	for (size_t i = 0; i < f->ntg; i++) {
		struct target *t = f->tg[i];
		double prev = -1;
		size_t n = 0;
		for (size_t j = 0; j < f->nfires; j++) {
			if (f->fires[j].t != t)
				continue;
			if (prev >= 0)
				ck_assert_msg(f->fires[j].at - prev <
				                      t->ttl_s - SCHED_MARGIN_FLOOR_S,
				              "%s: gap %.6f", t->name, f->fires[j].at - prev);
			prev = f->fires[j].at;
			n++;
		}
		ck_assert_uint_ge(n, (size_t)(600 / t->ttl_s) + 1);
	}
	fx_free(f);
}
END_TEST

START_TEST(test_spread_breaks_lockstep)
{
	struct fx *f = fx_new(5);
	struct provider *p = fx_provider(f, "p", 64, 0);
	int distinct = 0;

	for (int i = 0; i < 10; i++) {
		char name[16];
		snprintf(name, sizeof(name), "same-%d", i);
		fx_target(f, p, name, 300, POLICY_ALWAYS, 10);
	}
	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 10);
	complete_inflight(f, 0);
	for (size_t i = 0; i < f->ntg; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= fabs(f->tg[j]->next_warm_at - f->tg[i]->next_warm_at) < 1e-6;
		distinct += !seen;
		/* always earlier, never later */
		ck_assert(f->tg[i]->next_warm_at <= T0 + 300 - sched_margin(f->s, f->tg[i]) + EPS);
	}
	ck_assert_int_ge(distinct, 9);
	fx_free(f);
}
END_TEST

/* ---------------------------------------------------------- contention */

/* Makes t look refreshed long ago so that it expires at `expires`. */
static void set_expiry(struct target *t, double expires)
{
	t->last_refresh = expires - t->ttl_s;
	t->expires_at = expires;
}

START_TEST(test_global_cap)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *a = fx_target(f, p, "a", 300, POLICY_ALWAYS, 5);
	struct target *b = fx_target(f, p, "b", 300, POLICY_ALWAYS, 1);
	struct target *c = fx_target(f, p, "c", 300, POLICY_ALWAYS, 3);

	sched_set_max_inflight(f->s, 1);
	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	/* never warmed: all expire "at 0", so the lowest priority number first */
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert_ptr_eq(f->fires[0].t, b);
	ck_assert_int_eq(sched_inflight(f->s), 1);
	ck_assert(a->queued && c->queued);
	/* nothing moves while the slot is taken */
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 50), 0);
	ck_assert_uint_eq(f->nfires, 1);

	fx_done(f, b, WARM_WRITE, T0, 50);
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert_ptr_eq(f->fires[1].t, c);
	ck_assert_double_eq(f->fires[1].at, T0 + 50);
	ck_assert_int_eq(sched_inflight(f->s), 1);

	clock_virtual_advance(f->clk, T0 + 51);
	fx_done(f, c, WARM_WRITE, T0 + 50, 1);
	ck_assert_uint_eq(f->nfires, 3);
	ck_assert_ptr_eq(f->fires[2].t, a);
	ck_assert_double_eq(f->fires[2].at, T0 + 51);
	fx_done(f, a, WARM_WRITE, T0 + 51, 1);
	ck_assert_int_eq(sched_inflight(f->s), 0);
	ck_assert_uint_eq(f->nfires, 3);
	fx_free(f);
}
END_TEST

/* Lateness is send time minus due time, whatever held the warm back; an
 * operator's warm has no due time and is not counted. */
START_TEST(test_lateness)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *a = fx_target(f, p, "a", 300, POLICY_ALWAYS, 5);
	struct target *b = fx_target(f, p, "b", 300, POLICY_ALWAYS, 1);
	const struct sched_lateness *l = sched_lateness(f->s);
	uint64_t in_buckets = 0;

	sched_set_max_inflight(f->s, 1);
	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(l->count, 1); /* b, on time */
	ck_assert_uint_eq(l->buckets[0], 1);
	clock_virtual_advance(f->clk, T0 + 0.003);
	fx_done(f, b, WARM_WRITE, T0, 0.003);
	ck_assert_ptr_eq(f->fires[1].t, a); /* a waited for the slot: 3 ms late */
	ck_assert_uint_eq(l->count, 2);
	ck_assert_uint_eq(l->buckets[2], 1);
	ck_assert_double_eq_tol(l->max, 0.003, EPS);
	ck_assert_double_eq_tol(l->sum, 0.003, EPS);
	fx_done(f, a, WARM_WRITE, T0 + 0.003, 0);
	ck_assert_int_eq(sched_warm_now(f->s, a), 0);
	ck_assert_uint_eq(f->nfires, 3);
	ck_assert_uint_eq(l->count, 2);
	for (int k = 0; k < SCHED_LATE_BUCKETS; k++)
		in_buckets += l->buckets[k];
	ck_assert_uint_eq(in_buckets, 2);
	fx_done(f, a, WARM_HIT, T0 + 0.003, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_provider_cap)
{
	struct fx *f = fx_new(1);
	struct provider *p1 = fx_provider(f, "p1", 1, 0);
	struct provider *p2 = fx_provider(f, "p2", 5, 0);
	struct target *a = fx_target(f, p1, "a", 300, POLICY_ALWAYS, 1);
	struct target *b = fx_target(f, p1, "b", 300, POLICY_ALWAYS, 2);
	struct target *c = fx_target(f, p1, "c", 300, POLICY_ALWAYS, 3);
	struct target *d = fx_target(f, p2, "d", 300, POLICY_ALWAYS, 9);

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	/* one per p1, and p2 is not held back by p1's cap */
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert_uint_eq(fx_count(f, a), 1);
	ck_assert_uint_eq(fx_count(f, d), 1);
	ck_assert_int_eq(p1->inflight, 1);
	ck_assert_int_eq(p2->inflight, 1);
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 10), 0);
	ck_assert_uint_eq(f->nfires, 2);

	/* a p2 completion does not release p1 */
	fx_done(f, d, WARM_WRITE, T0, 10);
	ck_assert_uint_eq(f->nfires, 2);
	fx_done(f, a, WARM_WRITE, T0, 10);
	ck_assert_uint_eq(f->nfires, 3);
	ck_assert_ptr_eq(f->fires[2].t, b);
	ck_assert_double_eq(f->fires[2].at, T0 + 10);
	clock_virtual_advance(f->clk, T0 + 12);
	fx_done(f, b, WARM_WRITE, T0 + 10, 2);
	ck_assert_uint_eq(f->nfires, 4);
	ck_assert_ptr_eq(f->fires[3].t, c);
	ck_assert_double_eq(f->fires[3].at, T0 + 12);
	fx_done(f, c, WARM_WRITE, T0 + 12, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_waiting_reason_slot_taken)
{
	struct fx *f = fx_new(1);
	struct provider *p1 = fx_provider(f, "p1", 1, 0);
	struct provider *p2 = fx_provider(f, "p2", 8, 0);
	struct target *a = fx_target(f, p1, "a", 300, POLICY_ALWAYS, 1);
	struct target *b = fx_target(f, p1, "b", 300, POLICY_ALWAYS, 2);
	struct target *c = fx_target(f, p2, "c", 300, POLICY_ALWAYS, 3);

	/* b and c fall due while a's warm holds the only slot */
	set_expiry(b, T0 + 13);
	set_expiry(c, T0 + 13);
	fx_plan_all(f);
	ck_assert_double_eq(b->next_warm_at, T0 + 10);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert_ptr_eq(f->fires[0].t, a);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_double_eq(fx_now(f), T0 + 10);
	ck_assert_uint_eq(f->nfires, 2); /* c: p2 has room */
	ck_assert_ptr_eq(f->fires[1].t, c);
	ck_assert(b->queued);
	ck_assert_msg(strstr(b->reason, "provider p1 max_inflight 1") != NULL, "reason: %s",
	              b->reason);
	fx_done(f, a, WARM_WRITE, T0, 10);
	ck_assert_uint_eq(f->nfires, 3);
	ck_assert_ptr_eq(f->fires[2].t, b);

	/* the global cap */
	fx_done(f, b, WARM_HIT, T0 + 10, 0);
	fx_done(f, c, WARM_HIT, T0 + 10, 0);
	sched_set_max_inflight(f->s, 1);
	ck_assert_int_eq(sched_warm_now(f->s, c), 0);
	ck_assert_uint_eq(f->nfires, 4);
	set_expiry(b, T0 + 20);
	sched_plan(f->s, b);
	sched_rearm(f->s);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert(b->queued);
	ck_assert_msg(strstr(b->reason, "waiting for a free slot (max_inflight 1,") != NULL,
	              "reason: %s", b->reason);
	fx_free(f);
}
END_TEST

/* BUG (reported): targets that fall due in the same alarm are queued before
 * dispatch runs, so those that lose the race for the slot keep the reason
 * they were planned with ("first warm of version ...") instead of saying
 * they wait for a slot. */
START_TEST(test_waiting_reason_same_alarm)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *a = fx_target(f, p, "a", 300, POLICY_ALWAYS, 1);
	struct target *b = fx_target(f, p, "b", 300, POLICY_ALWAYS, 2);

	sched_set_max_inflight(f->s, 1);
	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert(a->inflight);
	ck_assert(b->queued);
	ck_assert_msg(strstr(b->reason, "waiting for a free slot") != NULL, "reason: %s",
	              b->reason);
	fx_free(f);
}
END_TEST

START_TEST(test_contention_order)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *a = fx_target(f, p, "a", 300, POLICY_ALWAYS, 1);
	struct target *b = fx_target(f, p, "b", 300, POLICY_ALWAYS, 9);
	struct target *d = fx_target(f, p, "d", 300, POLICY_ALWAYS, 5);
	struct target *e = fx_target(f, p, "e", 300, POLICY_ALWAYS, 0);

	/* all due now (inside the 3 s margin); e is already gone */
	set_expiry(a, T0 + 2.5);
	set_expiry(b, T0 + 1.2);
	set_expiry(d, T0 + 1.7); /* same second as b: priority decides */
	set_expiry(e, T0 + 300); /* not due yet */
	sched_set_max_inflight(f->s, 1);
	fx_plan_all(f);
	ck_assert_double_eq(a->next_warm_at, T0);
	ck_assert_msg(strstr(a->reason, "inside the") != NULL, "reason: %s", a->reason);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert_ptr_eq(f->fires[0].t, d);
	fx_done(f, d, WARM_HIT, T0, 0);
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert_ptr_eq(f->fires[1].t, b);
	fx_done(f, b, WARM_HIT, T0, 0);
	ck_assert_uint_eq(f->nfires, 3);
	ck_assert_ptr_eq(f->fires[2].t, a);
	fx_done(f, a, WARM_HIT, T0, 0);
	ck_assert_uint_eq(f->nfires, 3);
	ck_assert_uint_eq(fx_count(f, e), 0);
	fx_free(f);
}
END_TEST

START_TEST(test_rpm_budget)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 100, 60);
	const int n = 40, burst = 15; /* ceil(60 / 4) */
	double prev;

	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "r%02d", i);
		fx_target(f, p, name, 300, POLICY_ALWAYS, 10);
	}
	sched_set_max_inflight(f->s, 100);
	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, (size_t)burst);
	for (int i = 0; i < burst; i++)
		ck_assert_double_eq(f->fires[i].at, T0);
	/* the alarm waits for the budget to refill one request */
	ck_assert_double_eq_tol(f->clk->armed_at, T0 + 1.0, 1e-6);
	ck_assert_msg(strstr(f->tg[n - 1]->reason, "max_rpm 60") != NULL, "reason: %s",
	              f->tg[n - 1]->reason);
	prev = T0;
	while (f->nfires < (size_t)n) {
		size_t before = f->nfires;
		ck_assert(clock_virtual_step(f->clk));
		ck_assert_uint_eq(f->nfires, before + 1);
		ck_assert_msg(f->fires[before].at - prev >= 1.0 - 1e-6, "spacing %.9f",
		              f->fires[before].at - prev);
		prev = f->fires[before].at;
	}
	ck_assert_double_eq_tol(prev, T0 + (n - burst), 1e-6);
	/* never more than burst + rpm in any minute */
	for (size_t i = 0; i < f->nfires; i++) {
		size_t in = 0;
		for (size_t j = i; j < f->nfires && f->fires[j].at < f->fires[i].at + 60; j++)
			in++;
		ck_assert_uint_le(in, (size_t)(burst + 60));
	}
	/* all sent: nothing left to wake up for */
	ck_assert_double_eq(f->clk->armed_at, -1);
	fx_free(f);
}
END_TEST

START_TEST(test_rpm_budget_small)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 100, 10);
	const int n = 7, burst = 3; /* ceil(10 / 4) */
	int alarms = 0;

	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "r%d", i);
		fx_target(f, p, name, 300, POLICY_ALWAYS, 10);
	}
	fx_plan_all(f);
	while (f->nfires < (size_t)n && clock_virtual_step(f->clk)) {
		alarms++;
		ck_assert_int_lt(alarms, 50);
	}
	ck_assert_uint_eq(f->nfires, (size_t)n);
	for (int i = 0; i < burst; i++)
		ck_assert_double_eq(f->fires[i].at, T0);
	for (int i = burst; i < n; i++)
		ck_assert_double_eq_tol(f->fires[i].at - f->fires[i - 1].at, 6.0, 1e-6);
	/* one alarm for the burst, one per refill: no empty wake-ups */
	ck_assert_int_eq(alarms, 1 + (n - burst));
	fx_free(f);
}
END_TEST

/* ------------------------------------------------------------ failures */

START_TEST(test_retry_backoff)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);
	double now, wait, at;

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	snprintf(t->last_error, sizeof(t->last_error), "HTTP 529 overloaded_error: Overloaded");
	fx_done_full(f, t, WARM_ERROR, T0, 0.3, true, false, -1);
	ck_assert_uint_eq(t->fail_streak, 1);
	wait = t->retry_at - T0;
	ck_assert_msg(wait >= 0.1 && wait <= 1.1, "first retry after %.6f s", wait);
	ck_assert_double_eq(t->next_warm_at, t->retry_at);
	ck_assert_double_eq(f->clk->armed_at, t->retry_at);
	ck_assert_int_eq(target_state(t, T0, false), TARGET_FAILING);
	ck_assert_msg(strstr(t->reason, "retry 1") != NULL, "reason: %s", t->reason);
	ck_assert_msg(strstr(t->reason, "HTTP 529") != NULL, "reason: %s", t->reason);
	ck_assert_double_eq(t->expires_at, 0); /* an error refreshes nothing */

	/* the retry fires exactly at retry_at */
	at = t->retry_at;
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert_double_eq(f->fires[1].at, at);
	now = fx_now(f);
	fx_done_full(f, t, WARM_ERROR, now, 0.3, true, false, -1);
	ck_assert_uint_eq(t->fail_streak, 2);
	wait = t->retry_at - now;
	ck_assert_msg(wait >= 0.1 && wait <= 2.1, "second retry after %.6f s", wait);

	/* retry-after larger than the backoff wins */
	ck_assert(clock_virtual_step(f->clk));
	now = fx_now(f);
	fx_done_full(f, t, WARM_ERROR, now, 0.3, true, false, 30);
	ck_assert_uint_eq(t->fail_streak, 3);
	ck_assert_double_eq_tol(t->retry_at, now + 30, EPS);
	ck_assert_int_eq(clock_virtual_advance(f->clk, now + 29.9), 0);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_double_eq_tol(fx_last_fire(f, t), now + 30, EPS);

	/* a smaller retry-after does not shorten the backoff floor */
	now = fx_now(f);
	fx_done_full(f, t, WARM_ERROR, now, 0.3, true, false, 0.01);
	ck_assert_uint_eq(t->fail_streak, 4);
	ck_assert(t->retry_at - now >= 0.1);
	ck_assert(t->retry_at - now <= 0.1 + 8.0);

	/* a later hit clears the streak and the failing state */
	ck_assert(clock_virtual_step(f->clk));
	now = fx_now(f);
	fx_done(f, t, WARM_HIT, now, 0.3);
	ck_assert_uint_eq(t->fail_streak, 0);
	ck_assert_double_eq(t->expires_at, now + 300);
	ck_assert_int_eq(target_state(t, now, false), TARGET_WARM);
	ck_assert(t->next_warm_at > now + 290);
	fx_free(f);
}
END_TEST

START_TEST(test_retry_after_capped)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	fx_done_full(f, t, WARM_ERROR, T0, 0.3, true, false, 100000);
	ck_assert_double_eq_tol(t->retry_at, T0 + 300, EPS);
	fx_free(f);
}
END_TEST

START_TEST(test_retry_backoff_grows)
{
	double max_wait[7] = { 0 };

	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct fx *f = fx_new(seed);
		struct provider *p = fx_provider(f, "p", 8, 0);
		struct target *t = fx_target(f, p, "t", 3600, POLICY_ALWAYS, 10);

		fx_plan_all(f);
		for (unsigned k = 1; k <= 6; k++) {
			double now, wait;
			ck_assert(clock_virtual_step(f->clk));
			ck_assert_uint_eq(f->nfires, k);
			now = fx_now(f);
			fx_done_full(f, t, WARM_ERROR, now, -1, true, false, -1);
			ck_assert_uint_eq(t->fail_streak, k);
			wait = t->retry_at - now;
			/* full jitter under a cap of 2^(k-1) s, plus the 0.1 s floor */
			ck_assert_msg(wait >= 0.1 - EPS &&
			                      wait <= 0.1 + ldexp(1.0, (int)k - 1) + EPS,
			              "retry %u after %.6f s", k, wait);
			if (wait > max_wait[k])
				max_wait[k] = wait;
		}
		fx_free(f);
	}
	ck_assert_msg(max_wait[6] > 1.1 + EPS, "backoff did not grow: %.6f", max_wait[6]);
	ck_assert_msg(max_wait[4] > 1.1 + EPS, "backoff did not grow: %.6f", max_wait[4]);
}
END_TEST

START_TEST(test_fire_failure_is_retried)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);
	double wait;

	f->fire_ret = -EIO;
	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert(!t->inflight);
	ck_assert_int_eq(sched_inflight(f->s), 0);
	ck_assert_int_eq(p->inflight, 0);
	ck_assert_uint_eq(t->fail_streak, 1);
	ck_assert_uint_eq(t->errors, 1);
	wait = t->retry_at - T0;
	ck_assert_msg(wait >= 0.1 && wait <= 1.1, "retry after %.6f s", wait);
	ck_assert_double_eq(f->clk->armed_at, t->retry_at);
	f->fire_ret = 0;
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert(t->inflight);
	fx_free(f);
}
END_TEST

START_TEST(test_sync_completion)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);

	fx_target(f, p, "a", 300, POLICY_ALWAYS, 1);
	fx_target(f, p, "b", 300, POLICY_ALWAYS, 2);
	fx_target(f, p, "c", 300, POLICY_ALWAYS, 3);
	sched_set_max_inflight(f->s, 1);
	f->sync_done = true;
	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	/* each completion inside fire() frees the slot for the next */
	ck_assert_uint_eq(f->nfires, 3);
	ck_assert_int_eq(sched_inflight(f->s), 0);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_ptr_eq(f->fires[i].t, f->tg[i]);
		ck_assert_double_eq(f->tg[i]->expires_at, T0 + 300);
		ck_assert(f->tg[i]->next_warm_at > T0 + 290);
	}
	fx_free(f);
}
END_TEST

START_TEST(test_permanent_error_blocks)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	snprintf(t->last_error, sizeof(t->last_error),
	         "HTTP 400 invalid_request_error: prompt is too long");
	fx_done_full(f, t, WARM_ERROR, T0, 0.3, false, false, -1);
	ck_assert(t->blocked);
	ck_assert_uint_eq(t->fail_streak, 0);
	ck_assert_double_eq(t->next_warm_at, -1);
	ck_assert_double_eq(f->clk->armed_at, -1);
	ck_assert_int_eq(target_state(t, T0, false), TARGET_FAILING);
	ck_assert_msg(strstr(t->reason, "HTTP 400 invalid_request_error: prompt is too long"),
	              "reason: %s", t->reason);
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 10000), 0);
	ck_assert_uint_eq(f->nfires, 1);

	/* warmctl warm unblocks and fires now */
	ck_assert_int_eq(sched_warm_now(f->s, t), 0);
	ck_assert(!t->blocked);
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert_double_eq(f->fires[1].at, T0 + 10000);
	fx_done(f, t, WARM_HIT, T0 + 10000, 0.3);
	ck_assert(t->next_warm_at > T0 + 10000 + 290);
	fx_free(f);
}
END_TEST

START_TEST(test_none_blocks)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	fx_done(f, t, WARM_NONE, T0, 0.3);
	ck_assert(t->blocked);
	ck_assert_double_eq(t->next_warm_at, -1);
	ck_assert_double_eq(t->expires_at, 0); /* nothing was cached */
	ck_assert_int_eq(target_state(t, T0, false), TARGET_FAILING);
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 10000), 0);
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert_int_eq(sched_warm_now(f->s, t), 0);
	ck_assert_uint_eq(f->nfires, 2);
	fx_done(f, t, WARM_WRITE, T0 + 10000, 0.3);
	ck_assert(!t->blocked);
	fx_free(f);
}
END_TEST

START_TEST(test_auth_failure_stops_provider)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 1, 0);
	struct provider *q = fx_provider(f, "q", 8, 0);
	struct target *a = fx_target(f, p, "a", 60, POLICY_ALWAYS, 1);
	struct target *b = fx_target(f, p, "b", 60, POLICY_ALWAYS, 2);
	struct target *c = fx_target(f, q, "c", 60, POLICY_ALWAYS, 3);

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 2); /* a and c; b waits for p's slot */
	ck_assert(b->queued);
	snprintf(a->last_error, sizeof(a->last_error),
	         "HTTP 401 authentication_error: invalid x-api-key");
	fx_done_full(f, a, WARM_ERROR, T0, 0.2, false, true, -1);
	ck_assert(p->cred_failed);
	ck_assert_str_eq(p->cred_error, "HTTP 401 authentication_error: invalid x-api-key");
	ck_assert(!q->cred_failed);
	/* b was next in p's queue: it must not fire with a rejected key */
	ck_assert_uint_eq(fx_count(f, b), 0);
	ck_assert(!b->queued);
	ck_assert_double_eq(b->next_warm_at, -1);
	ck_assert_msg(strstr(b->reason, "rejected the API key") != NULL, "reason: %s", b->reason);
	ck_assert_int_eq(target_state(a, T0, false), TARGET_FAILING);
	ck_assert_int_eq(target_state(b, T0, false), TARGET_FAILING);
	fx_done(f, c, WARM_HIT, T0, 0.2);

	/* the other provider keeps warming; p's targets never do */
	while (fx_now(f) < T0 + 600 && clock_virtual_step(f->clk))
		complete_inflight(f, 0);
	ck_assert_uint_eq(fx_count(f, a), 1);
	ck_assert_uint_eq(fx_count(f, b), 0);
	ck_assert_uint_ge(fx_count(f, c), 10);
	fx_free(f);
}
END_TEST

/* --------------------------------------------------------------- pause */

START_TEST(test_pause_target)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 60, POLICY_ALWAYS, 10);
	double resume_at;

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	fx_done(f, t, WARM_HIT, T0, 0.1);
	ck_assert(t->next_warm_at > T0);

	/* what daemon_pause_target does */
	t->paused = true;
	sched_remove(f->s, t);
	sched_plan(f->s, t);
	sched_rearm(f->s);
	ck_assert_double_eq(t->next_warm_at, -1);
	ck_assert_double_eq(f->clk->armed_at, -1);
	ck_assert_msg(strstr(t->reason, "paused") != NULL, "reason: %s", t->reason);
	ck_assert_int_eq(target_state(t, T0, false), TARGET_PAUSED);
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 1000), 0);
	ck_assert_uint_eq(f->nfires, 1);
	/* warmctl warm of a paused target does not fire either */
	ck_assert_int_eq(sched_warm_now(f->s, t), 0);
	ck_assert_uint_eq(f->nfires, 1);

	/* resume: the cache expired meanwhile, so it warms at once */
	t->paused = false;
	sched_plan(f->s, t);
	sched_rearm(f->s);
	ck_assert_msg(strstr(t->reason, "expired") != NULL, "reason: %s", t->reason);
	resume_at = fx_now(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert_double_eq(f->fires[1].at, resume_at);
	fx_free(f);
}
END_TEST

START_TEST(test_pause_all)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *a = fx_target(f, p, "a", 60, POLICY_ALWAYS, 1);
	struct target *b = fx_target(f, p, "b", 90, POLICY_ALWAYS, 2);

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 2);
	complete_inflight(f, 0);

	sched_pause_all(f->s, true);
	ck_assert(sched_paused_all(f->s));
	ck_assert_double_eq(f->clk->armed_at, -1);
	ck_assert_int_eq(target_state(a, T0, true), TARGET_PAUSED);
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 500), 0);
	ck_assert_uint_eq(f->nfires, 2);
	/* warmctl warm does not get through a global pause */
	ck_assert_int_eq(sched_warm_now(f->s, a), 0);
	ck_assert_uint_eq(f->nfires, 2);

	sched_pause_all(f->s, false);
	ck_assert(!sched_paused_all(f->s));
	/* a was queued by warm_now: it goes at once; b is overdue: next alarm */
	ck_assert_uint_eq(fx_count(f, a), 2);
	ck_assert_double_eq(fx_last_fire(f, a), T0 + 500);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(fx_count(f, b), 2);
	ck_assert_double_eq(fx_last_fire(f, b), T0 + 500);
	fx_free(f);
}
END_TEST

START_TEST(test_pause_all_with_warm_in_flight)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *a = fx_target(f, p, "a", 60, POLICY_ALWAYS, 1);
	size_t i;

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	sched_pause_all(f->s, true);
	fx_done(f, a, WARM_HIT, T0, 0.1);
	ck_assert_int_eq(sched_inflight(f->s), 0);
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 500), 0);
	ck_assert_uint_eq(f->nfires, 1);
	/* the daemon re-plans every target on resume (daemon_pause_all) */
	sched_pause_all(f->s, false);
	for (i = 0; i < f->ntg; i++)
		sched_plan(f->s, f->tg[i]);
	sched_rearm(f->s);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert_double_eq(f->fires[1].at, T0 + 500);
	fx_free(f);
}
END_TEST

/* ---------------------------------------------------- removal, staleness */

START_TEST(test_removed_in_flight)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *a = fx_target(f, p, "a", 300, POLICY_ALWAYS, 1);
	struct target *b = fx_target(f, p, "b", 300, POLICY_ALWAYS, 2);

	sched_set_max_inflight(f->s, 1);
	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert_ptr_eq(f->fires[0].t, a);

	/* the daemon drops a from its config while its warm is in flight */
	a->removed = true;
	sched_remove(f->s, a);
	clock_virtual_advance(f->clk, T0 + 2);
	fx_done(f, a, WARM_HIT, T0, 2);
	ck_assert_int_eq(sched_inflight(f->s), 1); /* b took the freed slot */
	ck_assert(!a->inflight);
	ck_assert_double_eq(a->expires_at, 0);
	ck_assert_double_eq(a->next_warm_at, -1);
	ck_assert_uint_eq(a->due_idx, HEAP_NONE);
	ck_assert_uint_eq(a->wait_idx, HEAP_NONE);
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert_ptr_eq(f->fires[1].t, b);
	ck_assert_double_eq(f->fires[1].at, T0 + 2);
	fx_done(f, b, WARM_HIT, T0 + 2, 0);
	ck_assert_int_eq(sched_inflight(f->s), 0);
	ck_assert_int_eq(p->inflight, 0);
	/* a is gone for good */
	while (fx_now(f) < T0 + 1000 && clock_virtual_step(f->clk))
		complete_inflight(f, 0);
	ck_assert_uint_eq(fx_count(f, a), 1);
	ck_assert_uint_ge(fx_count(f, b), 3);
	fx_free(f);
}
END_TEST

START_TEST(test_stale_outcome)
{
	struct fx *f = fx_new(9);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);
	struct sched_outcome o = {
		.result = WARM_HIT, .latency_s = 9.0, .retry_after_s = -1, .stale = true
	};
	double p99;

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	fx_done(f, t, WARM_HIT, T0, 0.2);
	p99 = p->lat_p99;
	ck_assert(clock_virtual_step(f->clk)); /* the next refresh */
	ck_assert_uint_eq(f->nfires, 2);
	o.sent_at = fx_now(f);
	sched_done(f->s, t, &o);
	ck_assert_double_eq(t->last_refresh, T0);
	ck_assert_double_eq(t->expires_at, T0 + 300);
	ck_assert_double_eq(p->lat_p99, p99);
	ck_assert_uint_eq(p->nlat, 1);
	ck_assert_int_eq(sched_inflight(f->s), 0);
	/* still inside the margin of the old expiry: warms again right away */
	ck_assert_double_eq(t->next_warm_at, fx_now(f));

	/* a stale permanent error does not block the new version either */
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 3);
	o.result = WARM_ERROR;
	o.retryable = false;
	sched_done(f->s, t, &o);
	ck_assert(!t->blocked);
	ck_assert_uint_eq(t->fail_streak, 0);
	ck_assert_double_eq(t->expires_at, T0 + 300);
	fx_free(f);
}
END_TEST

/* ---------------------------------------------------------- determinism */

/* Runs 5 targets for 30 virtual minutes; fills times[] and returns the count. */
static size_t run_seeded(uint64_t seed, double *times, size_t cap, double *spread0)
{
	struct fx *f = fx_new(seed);
	struct provider *p = fx_provider(f, "p", 64, 0);
	size_t n;

	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "det-%d", i);
		fx_target(f, p, name, 60 + 10 * i, POLICY_ALWAYS, 10);
	}
	fx_plan_all(f);
	while (fx_now(f) < T0 + 1800) {
		size_t before = f->nfires;
		if (!clock_virtual_step(f->clk))
			break;
		complete_inflight(f, before);
	}
	*spread0 = f->tg[0]->spread;
	n = f->nfires < cap ? f->nfires : cap;
	for (size_t i = 0; i < n; i++)
		times[i] = f->fires[i].at;
	fx_free(f);
	return n;
}

START_TEST(test_deterministic_seed)
{
	static double a[1024], b[1024], c[1024];
	double sa, sb, sc;
	size_t na = run_seeded(42, a, 1024, &sa);
	size_t nb = run_seeded(42, b, 1024, &sb);
	size_t nc = run_seeded(43, c, 1024, &sc);
	bool differ = na != nc;

	ck_assert_uint_gt(na, 100);
	ck_assert_uint_eq(na, nb);
	for (size_t i = 0; i < na; i++)
		ck_assert_msg(a[i] == b[i], "fire %zu: %.9f vs %.9f", i, a[i], b[i]);
	ck_assert(sa == sb);
	ck_assert(sa != sc);
	for (size_t i = 0; !differ && i < na; i++)
		differ = a[i] != c[i];
	ck_assert(differ);
}
END_TEST

/* ---- reliability: breakers, provider holds, retries before expiry ---- */

static void fx_fail(struct fx *f, struct target *t, double retry_after, double hold_until)
{
	struct sched_outcome o = { .result = WARM_ERROR,
		                   .sent_at = fx_now(f),
		                   .latency_s = 0.05,
		                   .retryable = true,
		                   .retry_after_s = retry_after,
		                   .hold_until = hold_until };

	snprintf(t->last_error, sizeof(t->last_error), "HTTP 500 api_error: boom");
	sched_done(f->s, t, &o);
}

START_TEST(test_target_breaker_opens_and_probes)
{
	struct fx *f = fx_new(11);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);

	fx_plan_all(f);
	for (int i = 0; i < BREAKER_TRIP_TARGET; i++) {
		ck_assert(clock_virtual_step(f->clk));
		ck_assert_uint_eq(fx_count(f, t), (size_t)i + 1);
		fx_fail(f, t, -1, 0);
	}
	ck_assert_int_eq(t->breaker.state, BREAKER_OPEN);
	ck_assert_int_eq(target_state(t, fx_now(f), false), TARGET_FAILING);
	ck_assert_ptr_nonnull(strstr(t->reason, "breaker open"));
	/* nothing until the cool-down is over, then exactly one probe */
	ck_assert_double_eq_tol(t->next_warm_at, t->breaker.opened_at + BREAKER_COOLDOWN_S, 1e-9);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(fx_count(f, t), BREAKER_TRIP_TARGET + 1);
	ck_assert_double_eq_tol(fx_last_fire(f, t), t->breaker.opened_at + BREAKER_COOLDOWN_S,
	                        1e-6);
	fx_done(f, t, WARM_WRITE, fx_now(f), 0.05);
	ck_assert_int_eq(t->breaker.state, BREAKER_CLOSED);
	ck_assert_uint_eq(t->fail_streak, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_provider_hold_from_a_429)
{
	struct fx *f = fx_new(12);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *a = fx_target(f, p, "a", 300, POLICY_ALWAYS, 10);
	struct target *b = fx_target(f, p, "b", 300, POLICY_ALWAYS, 10);

	sched_plan(f->s, a);
	sched_rearm(f->s);
	ck_assert(clock_virtual_step(f->clk));
	/* a's warm gets a 429 asking for 7 s: the whole credential waits */
	fx_fail(f, a, 7, fx_now(f) + 7);
	ck_assert_double_eq(p->hold_until, T0 + 7);
	sched_plan(f->s, b);
	sched_rearm(f->s);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(fx_count(f, b), 0);
	ck_assert(b->queued);
	ck_assert_ptr_nonnull(strstr(b->reason, "slow down"));
	/* both go when the hold ends, not before */
	while (fx_count(f, b) == 0 || fx_count(f, a) < 2)
		ck_assert(clock_virtual_step(f->clk));
	ck_assert_double_ge(fx_last_fire(f, b), T0 + 7);
	ck_assert_double_ge(fx_last_fire(f, a), T0 + 7);
	fx_free(f);
}
END_TEST

START_TEST(test_spend_limit_stops_the_credential)
{
	struct fx *f = fx_new(13);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *a = fx_target(f, p, "a", 300, POLICY_ALWAYS, 10);
	struct target *b = fx_target(f, p, "b", 300, POLICY_ALWAYS, 10);
	struct sched_outcome o = { .result = WARM_ERROR, .sent_at = T0, .spend_limit = true };

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	fx_done(f, b, WARM_HIT, T0, 0.01);
	snprintf(a->last_error, sizeof(a->last_error), "HTTP 429 insufficient_quota: quota");
	sched_done(f->s, a, &o);
	ck_assert(p->cred_failed);
	ck_assert_ptr_nonnull(strstr(p->cred_error, "insufficient_quota"));
	sched_plan(f->s, b);
	ck_assert_double_eq(b->next_warm_at, -1);
	ck_assert_int_eq(target_state(b, fx_now(f), false), TARGET_FAILING);
	ck_assert_uint_eq(a->fail_streak, 0); /* not retried */
	fx_free(f);
}
END_TEST

START_TEST(test_retry_lands_before_expiry)
{
	struct fx *f = fx_new(14);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 8, POLICY_ALWAYS, 10);

	fx_plan_all(f);
	ck_assert(clock_virtual_step(f->clk));
	fx_done(f, t, WARM_WRITE, T0, 0.01);
	ck_assert(clock_virtual_step(f->clk)); /* the refresh, near the end of the TTL */
	/* failure after failure: every retry still lands before expiry */
	for (int i = 0; i < 3; i++) {
		fx_fail(f, t, -1, 0);
		/* before expiry, unless less than 0.2 s were left: then at once */
		ck_assert_msg(t->retry_at <= t->expires_at - 0.1 + 1e-9 ||
		                      t->retry_at <= fx_now(f) + 0.1 + 1e-9,
		              "retry %d at %.3f, expiry %.3f", i, t->retry_at, t->expires_at);
		ck_assert(clock_virtual_step(f->clk));
	}
	fx_done(f, t, WARM_HIT, fx_now(f), 0.01);
	ck_assert_double_gt(t->expires_at, T0 + 8);
	fx_free(f);
}
END_TEST

START_TEST(test_failures_widen_the_margin)
{
	struct fx *f = fx_new(15);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);
	double calm = sched_margin(f->s, t), stormy;

	p->fail_rate = 0.33;
	stormy = sched_margin(f->s, t);
	/* room for 3 more attempts: a 1-in-100 chance that all of them fail */
	ck_assert_double_eq_tol(stormy - calm, 3 * 0.5, 1e-9);
	p->fail_rate = 0.9;
	ck_assert_double_le(sched_margin(f->s, t), 300.0 / 3);
	fx_free(f);
}
END_TEST

/* A cache warmd manages (Gemini cachedContents): reading it does not make
 * it live longer, so a touch leaves its expiry alone; with the adaptive
 * policy, traffic that comes back to it expired makes warmd create it at
 * once (the request does not), and no traffic keeps it cold. */
START_TEST(test_managed_cache)
{
	struct fx *f = fx_new(1);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "manual", 300, POLICY_ADAPTIVE, 10);
	struct target *plain = fx_target(f, p, "plain", 300, POLICY_ALWAYS, 10);

	p->kind = PROVIDER_GEMINI;
	p->ops = adapter_ops_for(PROVIDER_GEMINI);
	t->tmpl->managed = true;
	t->gaps = calloc(1, sizeof(*t->gaps));
	ck_assert_ptr_nonnull(t->gaps);
	sched_plan(f->s, t);
	ck_assert_double_eq(t->next_warm_at, -1);
	ck_assert_msg(strstr(t->reason, "makes warmd re-create it"), "reason: %s", t->reason);
	/* traffic: the cache is created now */
	sched_touch(f->s, t);
	ck_assert_double_eq(t->expires_at, 0);
	ck_assert_double_eq(t->next_warm_at, T0);
	ck_assert_msg(strstr(t->reason, ": warming"), "reason: %s",
	              t->reason); /* the policy's say */
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_ptr_eq(f->fires[f->nfires - 1].t, t);
	fx_done(f, t, WARM_WRITE, T0, 0.1);
	ck_assert_double_eq(t->expires_at, T0 + 300);
	/* a later touch is traffic, not a refresh; a plain target's is both */
	ck_assert_int_eq(clock_virtual_advance(f->clk, T0 + 100), 0);
	sched_touch(f->s, t);
	ck_assert_double_eq(t->expires_at, T0 + 300);
	ck_assert_double_eq(t->last_traffic, T0 + 100);
	sched_touch(f->s, plain);
	ck_assert_double_eq(plain->expires_at, T0 + 100 + 300);
	/* the rule in storage units: 5 minutes of Flash storage against creating it */
	ck_assert_msg(t->next_warm_at > T0 + 100 && t->next_warm_at < T0 + 300, "next %f",
	              t->next_warm_at);
	ck_assert_msg(strstr(t->reason, "adaptive: learning"), "reason: %s", t->reason);
	fx_free(f);
}
END_TEST

START_TEST(test_openai_prefix_rate)
{
	struct fx *f = fx_new(16);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *t = fx_target(f, p, "t", 300, POLICY_ALWAYS, 10);
	double first;

	p->kind = PROVIDER_OPENAI;
	fx_plan_all(f);
	/* a target that always wants to warm at once (its answers say the cache
	 * expired long ago): one prefix still gets at most 15 requests a minute */
	for (int i = 0; i < 12; i++) {
		ck_assert(clock_virtual_step(f->clk));
		fx_done(f, t, WARM_HIT, fx_now(f) - 1000, 0.01);
	}
	first = f->fires[0].at;
	/* a burst of 3, then no more than one every 4 s */
	ck_assert_double_ge(fx_last_fire(f, t) - first, (12 - 3) * 60.0 / 15 - 1e-6);
	ck_assert_double_le(fx_last_fire(f, t) - first, (12 - 3) * 60.0 / 15 + 1e-3);
	/* failed requests were not served: they do not use the budget */
	t->prefix_tokens_left = 0;
	ck_assert(clock_virtual_step(f->clk));
	fx_fail(f, t, 0.0, 0);
	ck_assert_double_ge(t->prefix_tokens_left, 1);
	fx_free(f);
}
END_TEST

/* ---- shared prefixes ---- */

static void fx_prefix(struct target *t, const char *url, const char *version, const char *earlier)
{
	free(t->tmpl->url);
	t->tmpl->url = strdup(url);
	snprintf(t->tmpl->version, sizeof(t->tmpl->version), "%s", version);
	t->tmpl->nbp = 0;
	if (earlier)
		snprintf(t->tmpl->bp_hashes[t->tmpl->nbp++], 65, "%s", earlier);
	snprintf(t->tmpl->bp_hashes[t->tmpl->nbp++], 65, "%s", version);
}

START_TEST(test_identical_prefixes_share_one_warm)
{
	struct fx *f = fx_new(21);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *b = fx_target(f, p, "b", 300, POLICY_ALWAYS, 10);
	struct target *a = fx_target(f, p, "a", 300, POLICY_ALWAYS, 10);
	struct target *m = fx_target(f, p, "m", 300, POLICY_MANUAL, 10);

	/* the same url and prefix through another credential: another org's cache */
	struct provider *q = fx_provider(f, "q", 8, 0);
	struct target *other = fx_target(f, q, "0-other", 300, POLICY_ALWAYS, 10);

	fx_prefix(a, "u", "v1", NULL);
	fx_prefix(b, "u", "v1", NULL);
	fx_prefix(m, "u", "v1", NULL);
	fx_prefix(other, "u", "v1", NULL);
	share_link(f->tg, f->ntg);
	ck_assert_ptr_null(a->leader); /* by name, and not the manual one */
	ck_assert_ptr_eq(b->leader, a);
	ck_assert_ptr_eq(m->leader, a);
	ck_assert_uint_eq(a->nfollowers, 2);
	ck_assert_ptr_null(other->leader);
	ck_assert_uint_eq(other->nfollowers, 0);
	other->paused = true; /* out of the way of the firing order below */
	sched_remove(f->s, other);
	fx_plan_all(f);
	ck_assert_ptr_nonnull(strstr(b->reason, "shares the warms of a"));
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert_ptr_eq(f->fires[0].t, a);
	fx_done(f, a, WARM_WRITE, T0, 0.01);
	/* the followers took the refresh */
	ck_assert_double_eq(b->expires_at, T0 + 300);
	ck_assert_double_eq(m->expires_at, T0 + 300);
	ck_assert_int_eq(target_state(b, fx_now(f), false), TARGET_WARM);
	/* a paused leader does not speak for the others: b warms itself */
	a->paused = true;
	sched_remove(f->s, a);
	sched_plan(f->s, b);
	ck_assert_double_ge(b->next_warm_at, 0);
	fx_free(f);
}
END_TEST

START_TEST(test_extension_waits_for_its_base)
{
	struct fx *f = fx_new(22);
	struct provider *p = fx_provider(f, "p", 8, 0);
	struct target *longer = fx_target(f, p, "longer", 300, POLICY_ALWAYS, 10);
	struct target *base = fx_target(f, p, "base", 300, POLICY_ALWAYS, 10);

	fx_prefix(base, "u", "b1", NULL);
	fx_prefix(longer, "u", "l1", "b1"); /* its first breakpoint is base's whole prefix */
	share_link(f->tg, f->ntg);
	ck_assert_ptr_eq(longer->extends, base);
	ck_assert_uint_eq(base->nextended_by, 1);
	sched_plan(f->s, base);
	sched_plan(f->s, longer);
	sched_rearm(f->s);
	ck_assert_ptr_nonnull(strstr(longer->reason, "waits for base"));
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 1);
	ck_assert_ptr_eq(f->fires[0].t, base);
	/* base's entry is written: now the longer prefix goes, and reads it */
	fx_done(f, base, WARM_WRITE, T0, 0.2);
	ck_assert(clock_virtual_step(f->clk));
	ck_assert_uint_eq(f->nfires, 2);
	ck_assert_ptr_eq(f->fires[1].t, longer);
	/* a failing base does not hold the other back */
	fx_done(f, longer, WARM_WRITE, fx_now(f), 0.2);
	fx_free(f);
}
END_TEST

static Suite *sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc;

	tc = tcase_create("clock");
	tcase_add_test(tc, test_clock_virtual);
	tcase_add_test(tc, test_clock_advance_rearm);
	suite_add_tcase(s, tc);

	tc = tcase_create("timing");
	tcase_add_checked_fixture(tc, NULL, fx_teardown);
	tcase_add_test(tc, test_first_warm_fires_at_start);
	tcase_add_test(tc, test_manual_policy);
	tcase_add_test(tc, test_margin_values);
	tcase_add_test(tc, test_next_fire_small_ttl);
	tcase_add_test(tc, test_next_fire_ttl_300);
	tcase_add_test(tc, test_next_fire_ttl_3600);
	tcase_add_test(tc, test_expiry_from_send_time);
	tcase_add_test(tc, test_p99_feeds_margin);
	tcase_add_test(tc, test_no_idle_wakeups);
	tcase_add_test(tc, test_spread_breaks_lockstep);
	tcase_add_test(tc, test_deterministic_seed);
	suite_add_tcase(s, tc);

	tc = tcase_create("contention");
	tcase_add_checked_fixture(tc, NULL, fx_teardown);
	tcase_add_test(tc, test_global_cap);
	tcase_add_test(tc, test_lateness);
	tcase_add_test(tc, test_provider_cap);
	tcase_add_test(tc, test_contention_order);
	tcase_add_test(tc, test_waiting_reason_slot_taken);
	tcase_add_test(tc, test_waiting_reason_same_alarm);
	tcase_add_test(tc, test_rpm_budget);
	tcase_add_test(tc, test_rpm_budget_small);
	tcase_add_test(tc, test_sync_completion);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_checked_fixture(tc, NULL, fx_teardown);
	tcase_add_test(tc, test_retry_backoff);
	tcase_add_test(tc, test_retry_after_capped);
	tcase_add_test(tc, test_retry_backoff_grows);
	tcase_add_test(tc, test_fire_failure_is_retried);
	tcase_add_test(tc, test_permanent_error_blocks);
	tcase_add_test(tc, test_none_blocks);
	tcase_add_test(tc, test_auth_failure_stops_provider);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, NULL, fx_teardown);
	tcase_add_test(tc, test_pause_target);
	tcase_add_test(tc, test_pause_all);
	tcase_add_test(tc, test_pause_all_with_warm_in_flight);
	tcase_add_test(tc, test_removed_in_flight);
	tcase_add_test(tc, test_stale_outcome);
	suite_add_tcase(s, tc);

	tc = tcase_create("reliability");
	tcase_add_checked_fixture(tc, NULL, fx_teardown);
	tcase_add_test(tc, test_target_breaker_opens_and_probes);
	tcase_add_test(tc, test_provider_hold_from_a_429);
	tcase_add_test(tc, test_spend_limit_stops_the_credential);
	tcase_add_test(tc, test_retry_lands_before_expiry);
	tcase_add_test(tc, test_failures_widen_the_margin);
	tcase_add_test(tc, test_openai_prefix_rate);
	tcase_add_test(tc, test_managed_cache);
	suite_add_tcase(s, tc);

	tc = tcase_create("share");
	tcase_add_checked_fixture(tc, NULL, fx_teardown);
	tcase_add_test(tc, test_identical_prefixes_share_one_warm);
	tcase_add_test(tc, test_extension_waits_for_its_base);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sched_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

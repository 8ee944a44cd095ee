/* sched: the only module that decides *when* warms happen. */
#include "adapters.h"
#include "sched.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters.h"
#include "duration.h"
#include "log.h"
#include "policy.h"
#include "pricing.h"
#include "share.h"
#include "xalloc.h"

/* Due within this much of now counts as due (timer granularity is 1 ms). */
#define SCHED_EPSILON_S 0.001

struct sched {
	struct clock *clk;
	const struct sched_ops *ops;
	void *data;
	struct heap due;
	struct provider **provs;
	size_t nprovs;
	int max_inflight;
	int inflight;
	bool paused_all;
	bool dispatching;
	uint64_t seed;
	double margin_extra; /* cluster mode: a lease and a cycle */
	struct sched_lateness late;
};

const double sched_late_bounds[SCHED_LATE_BUCKETS] = {
	0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1, 5
};

static bool due_less(const void *a, const void *b)
{
	const struct target *x = a, *y = b;

	return x->next_warm_at < y->next_warm_at;
}

static size_t *due_index(void *e)
{
	return &((struct target *)e)->due_idx;
}

/* Under contention, the earliest expiry (to the second) goes first, then the
 * lowest priority number. Never-warmed targets have expiry 0: first. */
static bool wait_less(const void *a, const void *b)
{
	const struct target *x = a, *y = b;
	double ex = floor(x->expires_at), ey = floor(y->expires_at);

	if (ex != ey)
		return ex < ey;
	if (x->priority != y->priority)
		return x->priority < y->priority;
	return x->next_warm_at < y->next_warm_at;
}

static size_t *wait_index(void *e)
{
	return &((struct target *)e)->wait_idx;
}

/* xorshift64*: small, seeded, reproducible (the simulator relies on it). */
static double rand_unit(struct target *t)
{
	uint64_t x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void seed_target(struct sched *s, struct target *t)
{
	uint64_t h = 1469598103934665603ULL ^ s->seed;

	if (t->rng)
		return;
	for (const char *p = t->name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	t->rng = h ? h : 1;
}

static void alarm_cb(void *data);

struct sched *sched_new(struct clock *clk, const struct sched_ops *ops, void *data, uint64_t seed)
{
	struct sched *s = xcalloc(1, sizeof(*s));

	s->clk = clk;
	s->ops = ops;
	s->data = data;
	s->max_inflight = 64;
	s->seed = seed;
	heap_init(&s->due, due_less, due_index);
	clock_on_alarm(clk, alarm_cb, s);
	return s;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	clock_arm(s->clk, -1);
	clock_on_alarm(s->clk, NULL, NULL);
	heap_free(&s->due);
	free(s);
}

void sched_set_max_inflight(struct sched *s, int n)
{
	s->max_inflight = n;
}

void sched_set_providers(struct sched *s, struct provider **provs, size_t n)
{
	s->provs = provs;
	s->nprovs = n;
	for (size_t i = 0; i < n; i++)
		if (!provs[i]->waitq.less)
			heap_init(&provs[i]->waitq, wait_less, wait_index);
}

static double ttl_floor(double ttl)
{
	double f = ttl * 0.01;

	return f < SCHED_MARGIN_FLOOR_S       ? SCHED_MARGIN_FLOOR_S
	       : f > SCHED_MARGIN_FLOOR_MAX_S ? SCHED_MARGIN_FLOOR_MAX_S
	                                      : f;
}

/* Time kept before expiry for retries, when the provider has been failing:
 * enough attempts that all of them failing is a 1-in-100 event (at most 3
 * retries), each a p99 latency plus a short backoff. */
static double retry_reserve(const struct provider *p)
{
	double f = p->fail_rate;
	double k;

	if (f < 0.05)
		return 0;
	k = ceil(log(0.01) / log(f)) - 1;
	if (k > 3 || !(k >= 0))
		k = 3;
	return k * (p->lat_p99 + 0.5);
}

double sched_margin(const struct sched *s, const struct target *t)
{
	long tokens = t->prefix_tokens ? t->prefix_tokens : t->tmpl->prefix_tokens_est;
	double m = ttl_floor(t->ttl_s) + t->prov->lat_p99 + (double)tokens / 1e6 +
	           retry_reserve(t->prov);

	/* Never so early that warms come more than about 1.5 per TTL; in a
	 * cluster, a takeover's time comes on top (at most half the TTL). */
	m = m > t->ttl_s / 3 ? t->ttl_s / 3 : m;
	m += s->margin_extra;
	return m > t->ttl_s / 2 ? t->ttl_s / 2 : m;
}

void sched_set_margin_extra(struct sched *s, double extra_s)
{
	s->margin_extra = extra_s > 0 ? extra_s : 0;
}

static double spread_max(double ttl)
{
	double m = ttl * 0.02;

	return m > 2.0 ? 2.0 : m;
}

static void reason(struct target *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(struct target *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
	va_end(ap);
}

/* Whether t cannot be warmed at all right now; if so, t->reason says why. */
static bool blocked_reason(struct sched *s, struct target *t)
{
	if (t->paused) {
		reason(t, "paused by operator (warmctl resume %s)", t->name);
		return true;
	}
	if (s->paused_all) {
		reason(t, "all warming paused (warmctl resume --all)");
		return true;
	}
	if (t->prov->cred_failed) {
		reason(t, "provider %s rejected the API key (%s): fix the key and reload",
		       t->prov->name, t->prov->cred_error);
		return true;
	}
	if (t->tmpl->unwarmable[0]) {
		reason(t, "cannot be warmed minimally: %s", t->tmpl->unwarmable);
		return true;
	}
	if (target_out_of_rotation(t) && !t->asked) {
		reason(t,
		       "version %s of %s has weight 0: not in rotation, not warmed (warmctl "
		       "shift %s %s PERCENT brings it back, warmed first)",
		       t->vname, t->group, t->group, t->vname);
		return true;
	}
	if (t->blocked) {
		reason(t,
		       "stopped after a permanent error (%s): fix it and reload, or warmctl warm "
		       "%s to retry",
		       t->last_error, t->name);
		return true;
	}
	if (t->foreign && t->rollout_holds == 0 && !t->asked) {
		/* Cluster mode: another node warms the entry (an operator's warm,
		 * or a rollout waiting for this version's warm, goes here once). */
		if (t->owner)
			reason(t, "cluster: node %s keeps it warm", t->owner);
		else
			reason(t, "cluster: waiting for Redis to say which node warms it");
		return true;
	}
	return false;
}

/* Does leader l warm by itself, so that its followers need not? */
static bool leads(const struct sched *s, const struct target *l)
{
	return !l->removed && !l->paused && !s->paused_all && !l->blocked &&
	       !l->prov->cred_failed && l->policy != POLICY_MANUAL && !l->tmpl->unwarmable[0];
}

/* Is base's first warm (or re-creation) about to happen, so that a target
 * extending its prefix should wait for it and then read it? */
static bool about_to_warm(const struct sched *s, const struct target *base, double now)
{
	return leads(s, base) && base->expires_at <= now && base->fail_streak == 0 &&
	       base->breaker.state == BREAKER_CLOSED &&
	       (base->inflight || base->queued ||
	        (base->next_warm_at >= 0 && base->next_warm_at <= now + SCHED_EPSILON_S));
}

/* OpenAI routes a prefix + prompt_cache_key to one machine; more than about
 * 15 requests a minute spill to others (and miss). When may t go next? */
static double prefix_ready_at(struct target *t, double now)
{
	if (adapter_kind_breakpoints(t->prov->kind))
		return now;
	if (t->prefix_refill_at <= 0) {
		t->prefix_tokens_left = SCHED_PREFIX_BURST;
	} else if (now > t->prefix_refill_at) {
		t->prefix_tokens_left += (now - t->prefix_refill_at) * SCHED_PREFIX_RPM / 60;
		if (t->prefix_tokens_left > SCHED_PREFIX_BURST)
			t->prefix_tokens_left = SCHED_PREFIX_BURST;
	}
	t->prefix_refill_at = now;
	return t->prefix_tokens_left >= 1
	               ? now
	               : now + (1 - t->prefix_tokens_left) * 60 / SCHED_PREFIX_RPM;
}

/* What a write costs over a read for t: the price table's, else the usual
 * ratios (Anthropic 5-minute writes 1.25x and reads 0.1x of input; 1-hour
 * writes 2x; OpenAI's cached input is about a tenth of plain input). */
static double write_read_ratio(const struct target *t)
{
	if (t->price && t->price->cache_read > 0)
		return (double)(t->ttl_s > 300 ? t->price->cache_write_1h : t->price->cache_write) /
		       (double)t->price->cache_read;
	if (adapter_kind_breakpoints(t->prov->kind))
		return t->ttl_s > 300 ? 20.0 : 12.5;
	return 10.0;
}

/* The adaptive and schedule policies' say on a warm planned at *next (they
 * may move it). Returns false (with the reason set) when no warm is planned. */
static bool policy_allows(struct sched *s, struct target *t, double now, double margin,
                          double *next)
{
	char a[32], b[32];

	(void)s;
	if (t->session && t->policy == POLICY_ADAPTIVE &&
	    (!t->gaps || t->gaps->total < POLICY_MIN_GAPS)) {
		/* Nothing learned yet: the application's own word (for) rules. */
		reason(t,
		       "adaptive: learning (its session group has seen %u gaps, %d needed), so "
		       "the keep's --for decides: warming",
		       t->gaps ? t->gaps->total : 0, POLICY_MIN_GAPS);
		return true;
	}
	if (t->policy == POLICY_ADAPTIVE) {
		int j = t->last_traffic > 0
		                ? (int)lround((t->expires_at - t->last_traffic) / t->ttl_s)
		                : POLICY_BINS;
		double keep, recreate;
		if (t->tmpl->managed && t->prov->ops->cache) { /* billed by the hour */
			pricing_keep_or_recreate(t->price, t->ttl_s, &keep, &recreate);
			return policy_adaptive_storage(t->gaps, t->last_traffic, j < 1 ? 1 : j,
			                               keep, recreate, t->ttl_s, t->reason,
			                               sizeof(t->reason));
		}
		return policy_adaptive(t->gaps, t->last_traffic, j < 1 ? 1 : j, write_read_ratio(t),
		                       t->ttl_s, t->reason, sizeof(t->reason));
	}
	if (t->policy == POLICY_SCHEDULE) {
		double end, open, lead = margin + 1.0, end2, open2;
		bool warm_at_open;
		if (policy_schedule_at(t->windows, t->nwindows, now, &end, &open)) {
			if (*next < end) {
				/* Inside a window: like always, and it says so. */
				char rest[sizeof(t->reason)];
				text_copy(rest, sizeof(rest),
				          strncmp(t->reason, "always: ", 8) == 0 ? t->reason + 8
				                                                 : t->reason);
				reason(t, "schedule: inside a window for %s more; %s",
				       duration_format(end - now, a, sizeof(a)), rest);
				return true;
			}
			/* The window closes first: let it go, and pre-warm for the next. */
			if (policy_schedule_at(t->windows, t->nwindows, end + 0.5, &end2, &open2))
				return true; /* another window follows at once */
			open = open2;
		}
		if (open < 0) {
			reason(t, "schedule: no window ahead");
			return false;
		}
		warm_at_open = t->expires_at - margin > open;
		if (!warm_at_open)
			*next = open - lead > now ? open - lead : now;
		reason(t, "schedule: outside the windows; %s before the window opens in %s",
		       warm_at_open ? "the cache is still warm" : "pre-warming",
		       duration_format(open - now, a, sizeof(a)));
		if (!warm_at_open)
			snprintf(t->reason + strlen(t->reason),
			         sizeof(t->reason) - strlen(t->reason), " (in %s)",
			         duration_format(*next - now, b, sizeof(b)));
		return true;
	}
	return true;
}

/* Plans t's next warm by the rules, its policy and what holds it. */
static void plan(struct sched *s, struct target *t)
{
	double now = clock_now(s->clk), next = -1, margin;
	char a[32], b[32], c[32], d[32], f[32];

	heap_remove(&s->due, t);
	if (t->removed || t->inflight || t->queued)
		return;
	seed_target(s, t);
	t->next_warm_at = -1;
	if (blocked_reason(s, t))
		return;
	if (t->policy == POLICY_MANUAL) {
		reason(t, "manual policy: warms only on warmctl warm %s", t->name);
		return;
	}
	if (t->leader && leads(s, t->leader)) {
		reason(t, "shares the warms of %s (the same prefix at the same endpoint)",
		       t->leader->name);
		return;
	}
	margin = sched_margin(s, t);
	if (t->idle_limit_s > 0 && now - t->last_touch >= t->idle_limit_s) {
		reason(t, "idle: no traffic for %s (idle_limit %s); a touch resumes warming",
		       duration_format(now - t->last_touch, a, sizeof(a)),
		       duration_format(t->idle_limit_s, b, sizeof(b)));
		return;
	}
	if (t->breaker.state == BREAKER_OPEN) {
		next = breaker_next_allowed(&t->breaker, now);
		reason(t, "breaker open (%s): next probe in %s", t->breaker.reason,
		       duration_format(next - now, a, sizeof(a)));
	} else if (t->fail_streak > 0) {
		next = t->retry_at;
		reason(t, "retry %u in %s after: %s", t->fail_streak,
		       duration_format(next - now, a, sizeof(a)), t->last_error);
	} else if (t->policy == POLICY_ADAPTIVE && t->expires_at <= now && t->tmpl->managed &&
	           t->last_traffic > t->expires_at) {
		/* A managed cache is warmd's to create: requests only read it. */
		next = now;
		reason(t, "adaptive: traffic came back to the expired cache: re-creating it");
	} else if (t->policy == POLICY_ADAPTIVE && t->expires_at <= now &&
	           !(t->session && t->last_refresh <= 0)) {
		/* Re-creating now would cost the same write the next request will pay
		 * (but a session's new version is warmed: its keep asked for it). */
		reason(t, t->tmpl->managed
		                  ? "adaptive: cold; the next real request makes warmd re-create it"
		                  : "adaptive: cold; the next real request re-creates the cache");
		return;
	} else if (t->last_refresh <= 0) {
		next = now;
		reason(t, "first warm of version %s", t->tmpl->short_version);
	} else if (t->expires_at - margin <= now) {
		next = now;
		if (t->expires_at <= now)
			reason(t, "cache expired %s ago: re-creating it",
			       duration_format(now - t->expires_at, a, sizeof(a)));
		else
			reason(t, "expires in %s, inside the %s margin: warming now",
			       duration_format(t->expires_at - now, a, sizeof(a)),
			       duration_format(margin, b, sizeof(b)));
	} else {
		next = t->expires_at - margin - t->spread;
		reason(t,
		       "always: warm %s before expiry (margin %s = floor %s + p99 latency %s, "
		       "spread %s)",
		       duration_format(margin + t->spread, a, sizeof(a)),
		       duration_format(margin, b, sizeof(b)),
		       duration_format(ttl_floor(t->ttl_s), c, sizeof(c)),
		       duration_format(t->prov->lat_p99, d, sizeof(d)),
		       duration_format(t->spread, f, sizeof(f)));
	}
	if (t->fail_streak == 0 && t->breaker.state == BREAKER_CLOSED &&
	    !policy_allows(s, t, now, margin, &next))
		return;
	if (next <= now && t->extends && about_to_warm(s, t->extends, now)) {
		reason(t,
		       "waits for %s's warm: this prefix extends its entry, so it will read it "
		       "instead of writing it a second time",
		       t->extends->name);
		return;
	}
	if (next >= 0 && next < prefix_ready_at(t, now))
		next = prefix_ready_at(t, now);
	if (t->retiring && (next < 0 || next >= t->retire_at)) {
		/* The overlap ends before the next warm: the alarm retires it then. */
		reason(t,
		       "replaced version of %s, kept warm for its overlap: retired in %s unless "
		       "a touch names it",
		       t->group, duration_format(t->retire_at - now, a, sizeof(a)));
		t->next_warm_at = t->retire_at > now ? t->retire_at : now;
		if (heap_push(&s->due, t) < 0)
			xalloc_die("heap");
		return;
	}
	if (t->idle_limit_s > 0 && next > t->last_touch + t->idle_limit_s) {
		/* The warm would come after traffic stopped for idle_limit: let it go cold. */
		reason(t, "no warm after %s without traffic (idle_limit); expires in %s",
		       duration_format(t->idle_limit_s, a, sizeof(a)),
		       duration_format(t->expires_at - now, b, sizeof(b)));
		return;
	}
	t->next_warm_at = next;
	if (heap_push(&s->due, t) < 0)
		xalloc_die("heap");
}

/* text, then what t->reason said. */
static void reason_prefix(struct target *t, const char *text)
{
	char rest[sizeof(t->reason)];
	size_t tl = strlen(text), rl;

	/* What does not fit is cut from the end, as any reason is. */
	text_copy(rest, sizeof(rest), t->reason);
	if (tl > sizeof(t->reason) - 1)
		tl = sizeof(t->reason) - 1;
	rl = strlen(rest);
	if (rl > sizeof(t->reason) - 1 - tl)
		rl = sizeof(t->reason) - 1 - tl;
	memcpy(t->reason, text, tl);
	memcpy(t->reason + tl, rest, rl);
	t->reason[tl + rl] = '\0';
}

/* A session ends at keep_until, whatever else holds it: a warm planned
 * before then stands; otherwise the alarm comes at keep_until, and the
 * owner drops it (sched_ops.retire). The reason says which applied. */
static void plan_session_end(struct sched *s, struct target *t)
{
	double now = clock_now(s->clk), end = t->session->keep_until;
	char a[32], text[96];

	if (t->next_warm_at >= 0 && t->next_warm_at < end) {
		snprintf(text, sizeof(text), "session kept %s more (keep_until); ",
		         duration_format(end - now, a, sizeof(a)));
		reason_prefix(t, text);
		return;
	}
	heap_remove(&s->due, t);
	snprintf(text, sizeof(text), "session ends in %s (keep_until)%s; ",
	         duration_format(end > now ? end - now : 0, a, sizeof(a)),
	         t->next_warm_at >= 0 ? ", before its next warm" : " with no warm before");
	reason_prefix(t, text);
	t->next_warm_at = end > now ? end : now;
	if (heap_push(&s->due, t) < 0)
		xalloc_die("heap");
}

void sched_plan(struct sched *s, struct target *t)
{
	plan(s, t);
	if (t->session && !t->removed && !t->inflight && !t->queued)
		plan_session_end(s, t);
}

/* Has t's time as a session run out (the owner drops it)? */
static bool session_over(const struct target *t, double now)
{
	return t->session && now + SCHED_EPSILON_S >= t->session->keep_until;
}

/* After t's cache changed (a warm answered, a touch): its followers take the
 * refresh, and the prefixes that extend it may go now. */
static void share_refresh(struct sched *s, struct target *t)
{
	for (size_t i = 0; i < t->nfollowers; i++) {
		struct target *f = t->followers[i];
		if (f->inflight || f->queued)
			continue;
		if (t->expires_at > f->expires_at) {
			f->last_refresh = t->last_refresh;
			f->expires_at = t->last_refresh + f->ttl_s;
			if (t->prefix_tokens)
				f->prefix_tokens = t->prefix_tokens;
		}
		sched_plan(s, f);
	}
	for (size_t i = 0; i < t->nextended_by; i++)
		if (!t->extended_by[i]->inflight && !t->extended_by[i]->queued)
			sched_plan(s, t->extended_by[i]);
}

/* Real traffic at now, as the policies learn it. */
static void note_traffic(struct sched *s, struct target *t, double now)
{
	seed_target(s, t);
	if (t->gaps && t->last_traffic > 0)
		policy_gap_observe(t->gaps, t->last_traffic, now - t->last_traffic, t->ttl_s);
	t->last_traffic = now;
	t->last_touch = now;
	target_touch_record(t, now);
}

void sched_note_traffic(struct sched *s, struct target *t)
{
	note_traffic(s, t, clock_now(s->clk));
}

void sched_touch(struct sched *s, struct target *t)
{
	double now = clock_now(s->clk);

	note_traffic(s, t, now);
	/* Reading a managed cache does not make it live longer: only warmd's
	 * ttl updates do. */
	if (!t->tmpl->managed && now + t->ttl_s > t->expires_at) {
		t->last_refresh = now;
		t->expires_at = now + t->ttl_s;
		t->spread = rand_unit(t) * spread_max(t->ttl_s);
		t->refreshed_by_warm = false;
	}
	if (t->queued) {
		/* Traffic just refreshed it: the queued warm is no longer due. */
		heap_remove(&t->prov->waitq, t);
		t->queued = false;
	}
	if (t->leader) /* the same cache: the leader was refreshed too */
		sched_touch(s, t->leader);
	if (!t->inflight) {
		sched_plan(s, t);
		share_refresh(s, t);
		sched_rearm(s);
	}
}

void sched_refreshed_elsewhere(struct sched *s, struct target *t, double last_refresh,
                               double expires_at, long prefix_tokens, enum warm_result r)
{
	if (t->inflight || !(expires_at > t->expires_at) || !(last_refresh > 0))
		return;
	t->last_refresh = last_refresh;
	t->expires_at = expires_at;
	if (prefix_tokens > 0)
		t->prefix_tokens = prefix_tokens;
	t->last_result = r;
	t->has_result = true;
	/* Not our warm: what real requests save on it is the owner's to count. */
	t->refreshed_by_warm = false;
	if (t->queued) {
		heap_remove(&t->prov->waitq, t);
		t->queued = false;
	}
	sched_plan(s, t);
	share_refresh(s, t);
}

void sched_remove(struct sched *s, struct target *t)
{
	heap_remove(&s->due, t);
	if (t->queued) {
		heap_remove(&t->prov->waitq, t);
		t->queued = false;
	}
	t->asked = false;
	t->next_warm_at = -1;
}

static void refill(struct provider *p, double now)
{
	double burst;

	if (p->max_rpm <= 0)
		return;
	/* Allow a quarter minute's worth at once; refill continuously. */
	burst = ceil(p->max_rpm / 4.0);
	if (p->rpm_refill_at <= 0) {
		p->rpm_tokens = burst;
	} else if (now > p->rpm_refill_at) {
		p->rpm_tokens += (now - p->rpm_refill_at) * p->max_rpm / 60.0;
		if (p->rpm_tokens > burst)
			p->rpm_tokens = burst;
	}
	p->rpm_refill_at = now;
}

/* When provider p may send its next request (<= now: now). */
static double rpm_ready_at(struct provider *p, double now)
{
	if (p->max_rpm <= 0)
		return now;
	refill(p, now);
	if (p->rpm_tokens >= 1)
		return now;
	return now + (1 - p->rpm_tokens) * 60.0 / p->max_rpm;
}

/* When provider p may send again: its rpm budget, a hold the provider asked
 * for (429, rate-limit headers) and its credential's breaker. */
static double provider_ready_at(struct provider *p, double now)
{
	double r = rpm_ready_at(p, now), b = breaker_next_allowed(&p->breaker, now);

	if (p->hold_until > r)
		r = p->hold_until;
	return b > r ? b : r;
}

static void enqueue(struct sched *s, struct target *t)
{
	struct provider *p = t->prov;

	heap_remove(&s->due, t);
	t->queued = true;
	if (heap_push(&p->waitq, t) < 0)
		xalloc_die("heap");
	/* Which limit holds it back changes as slots free up; name them all. */
	if (p->breaker.state != BREAKER_CLOSED)
		reason(t, "due: provider %s's breaker is %s (%s)", p->name,
		       breaker_state_name(p->breaker.state), p->breaker.reason);
	else if (p->hold_until > clock_now(s->clk))
		reason(t, "due: provider %s asked to slow down (rate limit); waiting %.1fs",
		       p->name, p->hold_until - clock_now(s->clk));
	else if (p->max_rpm > 0)
		reason(t,
		       "due: waiting for a free slot (max_inflight %d, provider %s max_inflight "
		       "%d, "
		       "max_rpm %d)",
		       s->max_inflight, p->name, p->max_inflight, p->max_rpm);
	else
		reason(t,
		       "due: waiting for a free slot (max_inflight %d, provider %s max_inflight "
		       "%d)",
		       s->max_inflight, p->name, p->max_inflight);
}

static void fire_failed(struct sched *s, struct target *t);
static void fire_deferred(struct sched *s, struct target *t);

static void observe_lateness(struct sched *s, double late)
{
	int k = 0;

	if (late < 0)
		late = 0; /* due within SCHED_EPSILON_S counts as due */
	while (k < SCHED_LATE_BUCKETS && late > sched_late_bounds[k])
		k++;
	if (k < SCHED_LATE_BUCKETS)
		s->late.buckets[k]++;
	s->late.count++;
	s->late.sum += late;
	if (late > s->late.max)
		s->late.max = late;
}

const struct sched_lateness *sched_lateness(const struct sched *s)
{
	return &s->late;
}

static void dispatch(struct sched *s)
{
	double now = clock_now(s->clk);

	if (s->dispatching)
		return; /* fire() may complete synchronously and call back in */
	s->dispatching = true;
	while (!s->paused_all && s->inflight < s->max_inflight) {
		struct target *best = NULL;
		struct provider *p;

		for (size_t i = 0; i < s->nprovs; i++) {
			struct target *cand = heap_top(&s->provs[i]->waitq);
			p = s->provs[i];
			if (!cand || p->inflight >= p->max_inflight ||
			    provider_ready_at(p, now) > now)
				continue;
			if (!best || wait_less(cand, best))
				best = cand;
		}
		if (!best)
			break;
		p = best->prov;
		heap_remove(&p->waitq, best);
		best->queued = false;
		if (blocked_reason(s, best) || !breaker_allow(&best->breaker, now) ||
		    session_over(best, now)) {
			sched_plan(s, best); /* a session past keep_until: dropped at once */
			continue;
		}
		if (!breaker_allow(&p->breaker, now)) {
			/* Half-open and its probe already out: wait for the verdict. */
			enqueue(s, best);
			break;
		}
		if (p->max_rpm > 0)
			p->rpm_tokens -= 1;
		if (prefix_ready_at(best, now) <= now && !adapter_kind_breakpoints(p->kind))
			best->prefix_tokens_left -= 1;
		if (!best->asked && best->next_warm_at > 0)
			observe_lateness(s, clock_now(s->clk) - best->next_warm_at);
		s->inflight++;
		p->inflight++;
		best->inflight = true;
		best->asked = false;
		best->next_warm_at = -1;
		reason(best, "warm in flight to %s", p->name);
		int r = s->ops->fire(s->data, best);
		if (r == -EAGAIN)
			fire_deferred(s, best);
		else if (r < 0)
			fire_failed(s, best);
	}
	s->dispatching = false;
}

void sched_rearm(struct sched *s)
{
	struct target *t = heap_top(&s->due);
	double now, at = t ? t->next_warm_at : -1;

	if (s->paused_all) {
		clock_arm(s->clk, -1);
		return;
	}
	/* Queued work blocked only by a rate budget needs a wake-up too. */
	now = clock_now(s->clk);
	if (s->inflight < s->max_inflight) {
		for (size_t i = 0; i < s->nprovs; i++) {
			struct provider *p = s->provs[i];
			double r;
			if (!heap_top(&p->waitq) || p->inflight >= p->max_inflight)
				continue;
			r = provider_ready_at(p, now);
			if (r > now && (at < 0 || r < at))
				at = r;
		}
	}
	if (at != s->clk->armed_at)
		clock_arm(s->clk, at);
}

static void alarm_cb(void *data)
{
	struct sched *s = data;
	double now = clock_now(s->clk);
	struct target *t;

	while (!s->paused_all && (t = heap_top(&s->due)) &&
	       t->next_warm_at <= now + SCHED_EPSILON_S) {
		heap_pop(&s->due);
		if ((t->retiring && now + SCHED_EPSILON_S >= t->retire_at) ||
		    session_over(t, now)) {
			t->next_warm_at = -1;
			if (s->ops->retire)
				s->ops->retire(s->data, t);
			continue;
		}
		enqueue(s, t);
	}
	dispatch(s);
	sched_rearm(s);
}

int sched_warm_now(struct sched *s, struct target *t)
{
	if (t->inflight)
		return -EALREADY;
	t->blocked = false;
	t->fail_streak = 0;
	t->asked = true;
	breaker_reset(&t->breaker);
	if (!t->queued) {
		enqueue(s, t);
		t->next_warm_at = clock_now(s->clk);
		reason(t, "warm requested by operator");
	}
	dispatch(s);
	sched_rearm(s);
	return 0;
}

static void add_latency(struct provider *p, double lat)
{
	double sorted[PROVIDER_LAT_SAMPLES];
	unsigned n;

	p->lat[p->lat_pos] = lat;
	p->lat_pos = (p->lat_pos + 1) % PROVIDER_LAT_SAMPLES;
	if (p->nlat < PROVIDER_LAT_SAMPLES)
		p->nlat++;
	n = p->nlat;
	if ((unsigned)ceil(0.99 * n) == n) {
		/* Fewer than 100 samples: the p99 is the largest, no sort needed. */
		double max = p->lat[0];
		for (unsigned i = 1; i < n; i++)
			if (p->lat[i] > max)
				max = p->lat[i];
		p->lat_p99 = max;
		return;
	}
	memcpy(sorted, p->lat, n * sizeof(double));
	/* Insertion sort: at most 64 samples, once per warm. */
	for (unsigned i = 1; i < n; i++) {
		double v = sorted[i];
		unsigned j = i;
		while (j > 0 && sorted[j - 1] > v) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = v;
	}
	p->lat_p99 = sorted[(unsigned)ceil(0.99 * n) - 1];
}

static void schedule_retry(struct sched *s, struct target *t, double retry_after)
{
	double now = clock_now(s->clk), cap, wait, window;

	t->fail_streak++;
	t->prov->retries++;
	cap = SCHED_RETRY_BASE_S * pow(2, t->fail_streak - 1);
	if (cap > SCHED_RETRY_MAX_S)
		cap = SCHED_RETRY_MAX_S;
	/* Full jitter, with a small floor so a burst of failures never spins.
	 * While the cache is still warm the retry must land before it expires:
	 * the jitter is drawn within what is left. */
	window = t->expires_at - now - 0.1;
	if (t->expires_at > now && cap > window)
		cap = window > 0.1 ? window : 0.1;
	wait = 0.1 + rand_unit(t) * (cap - 0.1 > 0 ? cap - 0.1 : 0);
	if (retry_after > wait)
		wait = retry_after > 300 ? 300 : retry_after;
	t->retry_at = now + wait;
}

static void fire_failed(struct sched *s, struct target *t)
{
	s->inflight--;
	t->prov->inflight--;
	t->inflight = false;
	t->errors++;
	schedule_retry(s, t, -1);
	sched_plan(s, t);
}

/* The provider cannot send yet (hold_until is set): t waits in its queue. */
static void fire_deferred(struct sched *s, struct target *t)
{
	s->inflight--;
	t->prov->inflight--;
	t->inflight = false;
	sched_plan(s, t);
}

void sched_done(struct sched *s, struct target *t, const struct sched_outcome *o)
{
	s->inflight--;
	t->prov->inflight--;
	t->inflight = false;
	if (!t->removed && !o->stale) {
		struct provider *p = t->prov;
		double now = clock_now(s->clk);
		bool failed = o->result == WARM_ERROR && o->retryable;

		if (o->latency_s >= 0 && o->result != WARM_ERROR)
			add_latency(p, o->latency_s);
		if (o->hold_until > p->hold_until)
			p->hold_until = o->hold_until;
		p->fail_rate = 0.9 * p->fail_rate + (failed ? 0.1 : 0);
		switch (o->result) {
		case WARM_HIT:
		case WARM_WRITE:
			t->last_refresh = o->sent_at;
			t->expires_at = o->sent_at + t->ttl_s;
			t->fail_streak = 0;
			t->blocked = false;
			t->spread = rand_unit(t) * spread_max(t->ttl_s);
			t->refreshed_by_warm = true;
			breaker_success(&t->breaker);
			breaker_success(&p->breaker);
			break;
		case WARM_NONE:
			t->fail_streak = 0;
			t->blocked = true;
			breaker_success(&p->breaker); /* the credential works */
			break;
		case WARM_ERROR:
			/* A failed request was not served: it does not count against the
			 * prefix's routing budget (or a retry could miss the expiry). */
			if (!adapter_kind_breakpoints(p->kind) &&
			    t->prefix_tokens_left < SCHED_PREFIX_BURST)
				t->prefix_tokens_left += 1;
			if (o->auth || o->spend_limit) {
				p->cred_failed = true;
				text_copy(p->cred_error, sizeof(p->cred_error), t->last_error);
			} else if (!o->retryable) {
				t->blocked = true;
			} else {
				if (breaker_failure(&t->breaker, now, t->last_error))
					log_warning("%s: breaker open for %.0fs: %s", t->name,
					            t->breaker.cooldown, t->breaker.reason);
				if (breaker_failure(&p->breaker, now, t->last_error))
					log_warning("provider %s: breaker open for %.0fs: %s",
					            p->name, p->breaker.cooldown,
					            p->breaker.reason);
				schedule_retry(s, t, o->retry_after_s);
			}
			break;
		}
	}
	if (!t->removed) {
		sched_plan(s, t);
		share_refresh(s, t);
	}
	dispatch(s);
	sched_rearm(s);
}

void sched_pause_all(struct sched *s, bool paused)
{
	s->paused_all = paused;
	if (!paused)
		dispatch(s);
	sched_rearm(s);
}

bool sched_paused_all(const struct sched *s)
{
	return s->paused_all;
}

int sched_inflight(const struct sched *s)
{
	return s->inflight;
}

/* check_session: sessions (runtime/session.c) on a target set built by
 * hand and a virtual clock: keep creates, renews and replaces; the keep's
 * warm; keep_until moved by keeps and touches, and the end at keep_until
 * through the scheduler's alarm; drop; every refusal and the limits (a
 * freed slot is free at once); groups and what an end teaches them; the
 * adaptive policy stopping before keep_until once a group has learned;
 * a reload's rebind; a restart's restore from the session store; and the
 * model or deployment of the kinds whose URL names them. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "log.h"
#include "session.h"
#include "session_store.h"
#include "share.h"
#include "testutil.h"
#include "tset.h"

#define TTL 300.0

/* The fixture: a set with two providers, their configuration, sessions
 * whose host is the set itself, and a scheduler whose retire() ends a
 * session the way the daemon's does. */
struct fx {
	struct tset *x;
	struct provider *p, *q;
	struct cfg_provider cprov[4];
	struct config cfg;
	struct sessions *r;
	unsigned retired;
};

static struct fx F;

static int fire_cb(void *data, struct target *t)
{
	struct fx *f = data;

	ck_assert_uint_lt(f->x->nfired, TSET_MAX_FIRES);
	f->x->fired[f->x->nfired++] = t;
	return 0;
}

static void retire_cb(void *data, struct target *t)
{
	struct fx *f = data;

	f->retired++;
	ck_assert_ptr_nonnull(t->session);
	sessions_expired(f->r, t);
}

static const struct sched_ops ops = { .fire = fire_cb, .retire = retire_cb };

/* session_host.add: into the set in name order, linked, planned. */
static void host_add(void *data, struct target *t)
{
	struct fx *f = data;
	struct target_set *s = &f->x->set;

	s->targets = realloc(s->targets, (s->ntargets + 1) * sizeof(*s->targets));
	ck_assert_ptr_nonnull(s->targets);
	s->targets[s->ntargets++] = t;
	target_set_sort(s->targets, s->ntargets);
	share_link(s->targets, s->ntargets);
	sched_plan(s->sched, t);
	sched_rearm(s->sched);
}

/* session_host.remove */
static void host_remove(void *data, struct target *t)
{
	struct fx *f = data;
	struct target_set *s = &f->x->set;
	size_t i = 0;

	while (i < s->ntargets && s->targets[i] != t)
		i++;
	ck_assert_uint_lt(i, s->ntargets);
	memmove(&s->targets[i], &s->targets[i + 1], (s->ntargets - i - 1) * sizeof(*s->targets));
	s->ntargets--;
	t->removed = true;
	sched_remove(s->sched, t);
	share_unlink(t);
	share_link(s->targets, s->ntargets);
	target_unref(t);
}

static void cfg_of(struct cfg_provider *c, const struct provider *p)
{
	memset(c, 0, sizeof(*c));
	c->name = p->name;
	c->kind = PROVIDER_OPENAI_COMPAT;
	c->base_url = p->base_url;
	c->max_inflight = 4;
}

static void setup(void)
{
	const struct session_host host = { .add = host_add, .remove = host_remove, .data = &F };
	struct cfg_daemon cd = { .max_sessions = 3, .max_session_bytes = 4096 };

	log_set_level(LOG_ERR);
	memset(&F, 0, sizeof(F));
	F.x = tset_new();
	/* A scheduler that retires, before any provider is known to it. */
	sched_free(F.x->set.sched);
	F.x->set.sched = sched_new(F.x->set.clk, &ops, &F, 1);
	F.p = tset_provider(F.x, "local", "http://127.0.0.1:9/one");
	F.q = tset_provider(F.x, "other", "http://127.0.0.1:9/two");
	cfg_of(&F.cprov[0], F.p);
	cfg_of(&F.cprov[1], F.q);
	F.cfg.providers = F.cprov;
	F.cfg.nproviders = 2;
	F.x->set.cfg = &F.cfg;
	F.r = sessions_new(&F.x->set, &host);
	F.x->set.sessions = F.r;
	sessions_configure(F.r, &cd);
}

static void teardown(void)
{
	tset_free(F.x);
	sessions_free(F.r);
}

/* A chat body: system prompt text, then turns user messages. */
static const char *body_of(const char *text, int turns)
{
	static char b[2048];
	size_t n = (size_t)snprintf(b, sizeof(b),
	                            "{\"model\":\"test-model\",\"messages\":[{\"role\":\"system\","
	                            "\"content\":\"%s\"}",
	                            text);

	for (int i = 0; i < turns; i++)
		n += (size_t)snprintf(b + n, sizeof(b) - n,
		                      ",{\"role\":\"user\",\"content\":\"turn %d\"}", i);
	snprintf(b + n, sizeof(b) - n, "]}");
	return b;
}

/* A keep at model and deployment (NULL: none). */
static int keep_at(const char *name, const char *provider, const char *model,
                   const char *deployment, const char *body, double ttl, double for_s,
                   struct session_kept *ret, struct errmsg *e)
{
	const struct session_keep k = { .name = name,
		                        .provider = provider,
		                        .body = body,
		                        .body_len = body ? strlen(body) : 0,
		                        .ttl_s = ttl,
		                        .for_s = for_s,
		                        .priority = -1,
		                        .model = model,
		                        .deployment = deployment };

	return sessions_keep(F.r, &k, ret, e);
}

static int keep(const char *name, const char *provider, const char *body, double ttl, double for_s,
                struct session_kept *ret, struct errmsg *e)
{
	return keep_at(name, provider, NULL, NULL, body, ttl, for_s, ret, e);
}

static struct target *keep_ok(const char *name, const char *body, double for_s,
                              enum session_keep_result want)
{
	struct session_kept k;
	struct errmsg e = { "" };
	int r = keep(name, "local", body, TTL, for_s, &k, &e);

	ck_assert_msg(r == 0, "keep %s: %d %s", name, r, e.text);
	ck_assert_int_eq(k.result, want);
	ck_assert_ptr_nonnull(k.t);
	return k.t;
}

static double now(void)
{
	return clock_now(F.x->set.clk);
}

/* The warm fire() was last asked for lands as a hit (or write). */
static void land(struct target *t, enum warm_result res)
{
	struct sched_outcome o = { .result = res, .sent_at = now(), .latency_s = 0.05 };

	ck_assert(t->inflight);
	t->warms++;
	sched_done(F.x->set.sched, t, &o);
}

/* The clock to t, a second at a time; every warm fired on the way lands. */
static void run_until(double t)
{
	while (now() < t) {
		size_t before = F.x->nfired;
		tset_advance(F.x, 1);
		for (size_t i = before; i < F.x->nfired; i++)
			if (F.x->fired[i]->inflight)
				land(F.x->fired[i], WARM_HIT);
	}
}

static struct sessions_stats stats(void)
{
	struct sessions_stats st;

	sessions_get_stats(F.r, &st);
	return st;
}

START_TEST(test_keep_creates_and_warms)
{
	const char *b = body_of("You are a careful agent.", 1);
	struct target *t = keep_ok("support:1", b, 600, SESSION_KEEP_CREATED);

	ck_assert_ptr_eq(target_set_find(&F.x->set, "support:1"), t);
	ck_assert_ptr_nonnull(t->session);
	ck_assert_int_eq(t->policy, POLICY_ADAPTIVE);
	ck_assert_double_eq(t->ttl_s, TTL);
	ck_assert_double_eq(t->session->keep_until, TSET_T0 + 600);
	ck_assert_double_eq(t->session->for_s, 600);
	ck_assert_uint_eq(t->session->body_len, strlen(b));
	ck_assert_int_eq(memcmp(t->session->body, b, strlen(b)), 0);
	ck_assert(session_store_hash_valid(t->session->body_hash));
	ck_assert_int_eq(t->priority, SESSION_DEFAULT_PRIORITY);
	/* A keep is traffic, and warms at once. */
	ck_assert_double_eq(t->last_traffic, TSET_T0);
	ck_assert_uint_eq(F.x->nfired, 1);
	ck_assert_ptr_eq(F.x->fired[0], t);
	ck_assert_uint_eq(stats().count, 1);
	ck_assert_uint_eq(stats().bytes, strlen(b));
	ck_assert_uint_eq(stats().keeps[SESSION_KEEP_CREATED], 1);
	land(t, WARM_WRITE);
	ck_assert_double_eq(t->expires_at, TSET_T0 + TTL);
	/* Learning: --for decides; the next warm is before expiry. */
	ck_assert_ptr_nonnull(strstr(t->reason, "session kept"));
	ck_assert_ptr_nonnull(strstr(t->reason, "learning"));
	ck_assert_double_lt(t->next_warm_at, TSET_T0 + TTL);
	/* Without --for: 20 minutes. */
	t = keep_ok("other-one", body_of("B", 1), 0, SESSION_KEEP_CREATED);
	ck_assert_double_eq(t->session->keep_until, TSET_T0 + SESSION_DEFAULT_FOR_S);
}
END_TEST

START_TEST(test_keep_again_same_and_new_version)
{
	const char *b1 = body_of("Agent prompt.", 1);
	struct target *t = keep_ok("agent:7", b1, 600, SESSION_KEEP_CREATED);
	char v1[65], h1[65];

	land(t, WARM_WRITE);
	memcpy(v1, t->tmpl->version, sizeof(v1));
	memcpy(h1, t->session->body_hash, sizeof(h1));
	/* The same body a minute later: keep_until moves, no warm (warm for longer
	 * than the margin), and keep_until is not cumulative. */
	tset_advance(F.x, 60);
	ck_assert_ptr_eq(keep_ok("agent:7", b1, 0, SESSION_KEEP_SAME), t);
	ck_assert_double_eq(t->session->keep_until, TSET_T0 + 60 + 600);
	ck_assert_uint_eq(F.x->nfired, 1);
	/* Cold (as when the policy let it go): the same keep warms it now. */
	tset_advance(F.x, 10);
	t->expires_at = now() - 1;
	keep_ok("agent:7", b1, 0, SESSION_KEEP_SAME);
	ck_assert_uint_eq(F.x->nfired, 2);
	land(t, WARM_HIT);
	/* A longer conversation: a new version, warmed at once, the old one
	 * not any more. */
	tset_advance(F.x, 10);
	ck_assert_ptr_eq(
	        keep_ok("agent:7", body_of("Agent prompt.", 3), 0, SESSION_KEEP_NEW_VERSION), t);
	ck_assert_str_ne(t->tmpl->version, v1);
	ck_assert_str_ne(t->session->body_hash, h1);
	ck_assert_uint_eq(t->nversions, 2);
	ck_assert_str_eq(t->versions[1].version, v1);
	ck_assert_uint_eq(F.x->nfired, 3);
	ck_assert_ptr_eq(F.x->fired[2], t);
	ck_assert_double_eq(t->last_refresh, 0); /* the new version's entry is unknown */
	ck_assert_uint_eq(stats().bytes, strlen(body_of("Agent prompt.", 3)));
	ck_assert_uint_eq(stats().keeps[SESSION_KEEP_NEW_VERSION], 1);
	ck_assert_uint_eq(stats().keeps[SESSION_KEEP_SAME], 2);
	ck_assert_uint_eq(stats().count, 1);
}
END_TEST

/* A new body while the old version's warm is in flight: the new version is
 * warmed when that warm lands. */
START_TEST(test_new_version_during_a_warm)
{
	struct target *t = keep_ok("a", body_of("P.", 1), 600, SESSION_KEEP_CREATED);
	struct session_kept k;
	struct errmsg e;

	ck_assert(t->inflight);
	ck_assert_int_eq(keep("a", "local", body_of("P.", 2), 0, 0, &k, &e), 0);
	ck_assert(k.warming);
	ck_assert_uint_eq(F.x->nfired, 1);
	/* The old version's answer lands as warm.c reports one: stale. */
	{
		struct sched_outcome o = { .result = WARM_WRITE, .stale = true, .latency_s = -1 };
		sched_done(F.x->set.sched, t, &o);
	}
	ck_assert_double_eq(t->last_refresh, 0);
	ck_assert_double_eq(t->next_warm_at, now());
	tset_advance(F.x, 0.01);
	ck_assert_uint_eq(F.x->nfired, 2);
	ck_assert_ptr_eq(F.x->fired[1], t);
}
END_TEST

START_TEST(test_refusals)
{
	static const struct {
		const char *name, *provider, *body;
		double ttl;
		int err;
		const char *needle;
	} bad[] = {
		{ "bad name", "local", NULL, TTL, -EINVAL, "not a session name" },
		{ "a@b", "local", NULL, TTL, -EINVAL, "not a session name" },
		{ "x", "local", NULL, TTL, -EEXIST, "is a target of warmd.conf" },
		{ "grp", "local", NULL, TTL, -EEXIST, "named versions" },
		{ "s", "nope", NULL, TTL, -ENOENT,
		  "no provider named \"nope\" (warmd.conf has: "
		  "local, other)" },
		{ "s", "local", "", TTL, -EINVAL, "the body is empty" },
		{ "s", "local", "{\"model\":", TTL, -EINVAL, "body: " },
		{ "s", "local", "[1,2]", TTL, -EINVAL, "body" },
		{ "s", "local", NULL, 0, -EINVAL, "give --ttl" },
		{ "s", "local", NULL, 1, -EINVAL, "too short" },
		{ "s", "local", NULL, 1e12, -EINVAL, "from 0 to a year" },
	};
	struct session_kept k;
	struct errmsg e;

	tset_target(F.x, F.p, "x", "Configured.");
	tset_lane(F.x, F.p, "grp", "blue", 100, "Lane.");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *b = bad[i].body ? bad[i].body : body_of("S.", 1);
		int r = keep(bad[i].name, bad[i].provider, b, bad[i].ttl, 60, &k, &e);
		ck_assert_msg(r == bad[i].err, "%zu: %d, want %d (%s)", i, r, bad[i].err, e.text);
		ck_assert_msg(strstr(e.text, bad[i].needle), "%zu: \"%s\" lacks \"%s\"", i, e.text,
		              bad[i].needle);
	}
	ck_assert_uint_eq(stats().count, 0);
	ck_assert_uint_eq(stats().keeps[SESSION_KEEP_REFUSED], sizeof(bad) / sizeof(bad[0]));
	ck_assert_uint_eq(F.x->set.ntargets, 2);
	ck_assert_uint_eq(F.x->nfired, 0);
	/* A session stays on its provider. */
	keep_ok("s", body_of("S.", 1), 60, SESSION_KEEP_CREATED);
	ck_assert_int_eq(keep("s", "other", body_of("S.", 1), TTL, 60, &k, &e), -EXDEV);
	ck_assert_ptr_nonnull(strstr(e.text, "drop it first"));
}
END_TEST

START_TEST(test_limits)
{
	struct session_kept k;
	struct errmsg e;
	char big[5000];
	struct cfg_daemon off = { .max_sessions = 0, .max_session_bytes = 4096 };
	int n;

	keep_ok("s1", body_of("One.", 1), 60, SESSION_KEEP_CREATED);
	keep_ok("s2", body_of("Two.", 1), 60, SESSION_KEEP_CREATED);
	keep_ok("s3", body_of("Three.", 1), 60, SESSION_KEEP_CREATED);
	/* The (max+1)th is refused; the others are untouched. */
	ck_assert_int_eq(keep("s4", "local", body_of("Four.", 1), TTL, 60, &k, &e), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(e.text, "max_sessions"));
	ck_assert_uint_eq(stats().count, 3);
	/* ...but a keep of one that exists is not a new slot. */
	keep_ok("s3", body_of("Three.", 2), 60, SESSION_KEEP_NEW_VERSION);
	/* A freed slot is free at once. */
	ck_assert_int_eq(sessions_drop(F.r, "s1", &e), 0);
	ck_assert_ptr_null(target_set_find(&F.x->set, "s1"));
	keep_ok("s4", body_of("Four.", 1), 60, SESSION_KEEP_CREATED);
	/* Bytes: a body that would pass max_session_bytes. */
	n = snprintf(big, sizeof(big),
	             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	             "\"content\":\"");
	memset(big + n, 'x', sizeof(big) - (size_t)n - 5);
	memcpy(big + sizeof(big) - 5, "\"}]}", 5);
	ck_assert_int_eq(sessions_drop(F.r, "s4", &e), 0);
	ck_assert_int_eq(keep("s5", "local", big, TTL, 60, &k, &e), -EFBIG);
	ck_assert_ptr_nonnull(strstr(e.text, "max_session_bytes"));
	ck_assert_uint_eq(stats().count, 2);
	/* max_sessions = 0: sessions are off. */
	sessions_configure(F.r, &off);
	ck_assert_int_eq(keep("s6", "local", body_of("Six.", 1), TTL, 60, &k, &e), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(e.text, "max_sessions = 0"));
	keep_ok("s2", body_of("Two.", 1), 60, SESSION_KEEP_SAME); /* the kept ones live on */
}
END_TEST

START_TEST(test_drop)
{
	struct target *t = keep_ok("d:1", body_of("Drop me.", 1), 600, SESSION_KEEP_CREATED);
	struct errmsg e;

	land(t, WARM_WRITE);
	tset_target(F.x, F.p, "configured", "C.");
	ck_assert_int_eq(sessions_drop(F.r, "configured", &e), -EPERM);
	ck_assert_ptr_nonnull(strstr(e.text, "not a session"));
	ck_assert_int_eq(sessions_drop(F.r, "nope", &e), -ENOENT);
	ck_assert_int_eq(sessions_drop(F.r, "d:1", &e), 0);
	ck_assert_ptr_null(target_set_find(&F.x->set, "d:1"));
	ck_assert_uint_eq(stats().count, 0);
	ck_assert_uint_eq(stats().bytes, 0);
	ck_assert_uint_eq(stats().ended[SESSION_END_DROP], 1);
	ck_assert_uint_eq(stats().past_writes, 0); /* land() counts warms only */
	/* No warm after a drop, however long the clock runs. */
	tset_advance(F.x, 3600);
	ck_assert_uint_eq(F.x->nfired, 1);
	ck_assert_int_eq(sessions_drop(F.r, "d:1", &e), -ENOENT);
}
END_TEST

/* Kept for N seconds: warmed before every expiry inside the window, never
 * after it; then dropped by the alarm at keep_until. Touches extend. */
START_TEST(test_keep_until_and_touches)
{
	struct target *t = keep_ok("w:1", body_of("Window.", 1), 1000, SESSION_KEEP_CREATED);
	double end;

	land(t, WARM_WRITE);
	/* Drive the clock; every warm lands at once. */
	while (now() < TSET_T0 + 900) {
		size_t before = F.x->nfired;
		tset_advance(F.x, 1);
		if (F.x->nfired > before)
			land(t, WARM_HIT);
		ck_assert_double_gt(t->expires_at, now()); /* never cold inside the window */
	}
	/* A touch at T0+900 moves keep_until to T0+1900 (not cumulative). */
	sessions_touched(F.r, t, now());
	sched_touch(F.x->set.sched, t);
	ck_assert_double_eq(t->session->keep_until, TSET_T0 + 1900);
	end = t->session->keep_until;
	while (now() < end - 1) {
		size_t before = F.x->nfired;
		tset_advance(F.x, 1);
		if (F.x->nfired > before) {
			ck_assert_double_lt(now(), end);
			land(t, WARM_HIT);
		}
	}
	ck_assert_ptr_nonnull(target_set_find(&F.x->set, "w:1"));
	ck_assert_ptr_nonnull(strstr(t->reason, "session"));
	tset_advance(F.x, 2);
	ck_assert_uint_eq(F.retired, 1);
	ck_assert_ptr_null(target_set_find(&F.x->set, "w:1"));
	ck_assert_uint_eq(stats().ended[SESSION_END_EXPIRED], 1);
	ck_assert_uint_eq(stats().count, 0);
}
END_TEST

START_TEST(test_groups)
{
	struct cfg_daemon more = { .max_sessions = 10, .max_session_bytes = 4096 };
	struct target *a = keep_ok("support:1", body_of("G.", 1), 600, SESSION_KEEP_CREATED);
	struct target *b = keep_ok("support-2", body_of("G2.", 1), 600, SESSION_KEEP_CREATED);
	struct target *c = keep_ok("loner", body_of("L.", 1), 600, SESSION_KEEP_CREATED);
	struct target *d;
	struct gap_hist *g;
	char key[256];
	struct errmsg e;

	sessions_configure(F.r, &more);
	d = keep_ok("supportx", body_of("D.", 1), 600, SESSION_KEEP_CREATED);

	session_group_key("local", "test-model", 300, "support:42", key, sizeof(key));
	ck_assert_str_eq(key, "local|test-model|300|support");
	session_group_key("local", NULL, 5, "plain", key, sizeof(key));
	ck_assert_str_eq(key, "local||5|plain");
	/* "support:1" and "support-2" learn together; the others alone. */
	ck_assert_ptr_eq(a->gaps, b->gaps);
	ck_assert_ptr_ne(a->gaps, c->gaps);
	ck_assert_ptr_ne(a->gaps, d->gaps);
	g = a->gaps;
	for (size_t i = 0; i < F.x->nfired; i++) /* the keeps' warms land */
		land(F.x->fired[i], WARM_WRITE);
	/* A keep a minute later is a gap; a drop teaches nothing (it says the
	 * end itself)... */
	tset_advance(F.x, 60);
	keep_ok("support:1", body_of("G.", 1), 0, SESSION_KEEP_SAME);
	ck_assert_uint_eq(g->total, 1);
	ck_assert_uint_eq(g->all[0], 1);
	ck_assert_int_eq(sessions_drop(F.r, "support:1", &e), 0);
	ck_assert_uint_eq(g->total, 1);
	/* ...but a session that went quiet until keep_until is a gap that
	 * never closed. b still learns there. */
	ck_assert_ptr_eq(b->gaps, g);
	run_until(TSET_T0 + 601);
	ck_assert_ptr_null(target_set_find(&F.x->set, "support-2"));
	ck_assert_uint_eq(g->total, 2);
	ck_assert_uint_eq(g->all[POLICY_BINS - 1], 1);
	ck_assert_uint_eq(stats().ended[SESSION_END_EXPIRED], 3); /* b, c and d */
}
END_TEST

static void learned(const char *key, int bin, unsigned n)
{
	struct gap_hist h = { .ttl_s = TTL };

	for (unsigned i = 0; i < n; i++)
		policy_gap_observe(&h, TSET_T0 - 86400 + i * 600, bin * TTL + 1, TTL);
	sessions_group_restore(F.r, key, &h);
}

/* Once a group has learned that its conversations end after a request,
 * the policy stops before keep_until; the session still ends then. */
START_TEST(test_adaptive_stops_before_keep_until)
{
	struct target *t, *done;
	char key[256];

	session_group_key("local", "test-model", TTL, "done:1", key, sizeof(key));
	learned(key, POLICY_BINS - 1, 40);
	t = done = target_ref(keep_ok("done:1", body_of("Ends.", 1), 3000, SESSION_KEEP_CREATED));
	ck_assert_uint_eq(t->gaps->total, 40);
	ck_assert_uint_eq(F.x->nfired, 1); /* the keep's warm, whatever the policy */
	land(t, WARM_WRITE);
	ck_assert_ptr_nonnull(strstr(t->reason, "letting it go cold"));
	ck_assert_ptr_nonnull(strstr(t->reason, "session ends in"));
	ck_assert_double_eq(t->next_warm_at, TSET_T0 + 3000);
	/* And a group whose conversations come back two TTLs later keeps warming. */
	session_group_key("local", "test-model", TTL, "busy:1", key, sizeof(key));
	learned(key, 2, 40);
	t = keep_ok("busy:1", body_of("Busy.", 1), 3000, SESSION_KEEP_CREATED);
	land(t, WARM_WRITE);
	ck_assert_ptr_nonnull(strstr(t->reason, "warming"));
	ck_assert_double_lt(t->next_warm_at, TSET_T0 + TTL);
	/* No warm of done:1 until it ends at keep_until. */
	tset_advance(F.x, 3001);
	ck_assert_ptr_null(target_set_find(&F.x->set, "done:1"));
	ck_assert(done->removed);
	for (size_t i = 1; i < F.x->nfired; i++)
		ck_assert_ptr_ne(F.x->fired[i], done);
	target_unref(done);
}
END_TEST

START_TEST(test_rebind)
{
	struct target *t = keep_ok("r:1", body_of("Rebind.", 1), 600, SESSION_KEEP_CREATED);
	struct provider *provs[2] = { F.p, F.q };
	struct cfg_provider moved[2];
	struct config cfg = { .providers = moved, .nproviders = 2 };
	enum session_end why;
	char detail[256], url[256];

	land(t, WARM_WRITE);
	snprintf(url, sizeof(url), "%s", t->tmpl->url);
	/* The same provider settings: nothing to rebuild. */
	memcpy(moved, F.cprov, sizeof(moved));
	ck_assert_int_eq(sessions_rebind(F.r, t, provs, &cfg, &why, detail, sizeof(detail)), 0);
	ck_assert_str_eq(t->tmpl->url, url);
	ck_assert_double_gt(t->expires_at, 0);
	/* A new base_url: rebuilt, warmed again from scratch. */
	moved[0].base_url = "http://127.0.0.1:9/moved";
	ck_assert_int_eq(sessions_rebind(F.r, t, provs, &cfg, &why, detail, sizeof(detail)), 0);
	ck_assert_ptr_nonnull(strstr(t->tmpl->url, "/moved"));
	ck_assert_double_eq(t->expires_at, 0);
	/* Its provider gone: the reason, t untouched. */
	cfg.nproviders = 1;
	moved[0] = F.cprov[1];
	provs[0] = F.q;
	ck_assert_int_eq(sessions_rebind(F.r, t, provs, &cfg, &why, detail, sizeof(detail)),
	                 -ENOENT);
	ck_assert_int_eq(why, SESSION_END_PROVIDER);
	ck_assert_ptr_nonnull(strstr(detail, "no provider local"));
	ck_assert_ptr_eq(t->prov, F.p);
	/* The reload's forget counts it; no end gap for the group. */
	sessions_forget(F.r, t, why, detail);
	ck_assert_uint_eq(stats().ended[SESSION_END_PROVIDER], 1);
	ck_assert_uint_eq(stats().count, 0);
}
END_TEST

/* ---- the store and a restart ---- */

static void run_loop(uv_loop_t *loop)
{
	for (int i = 0; i < 100; i++)
		uv_run(loop, UV_RUN_NOWAIT);
	uv_run(loop, UV_RUN_DEFAULT);
}

START_TEST(test_restore)
{
	uv_loop_t loop;
	char *dir = tu_tmpdir(), state[4200], sdir[4200], path[4400];
	const char *b = body_of("Restored.", 2);
	struct target *t;
	struct session_record rec;
	struct stat st;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	snprintf(state, sizeof(state), "%s/state.json", dir);
	sessions_store_dir(state, sdir, sizeof(sdir));
	snprintf(path, sizeof(path), "%s/state.sessions", dir);
	ck_assert_str_eq(sdir, path);
	ck_assert_int_eq(sessions_open_store(F.r, &loop, state), 0);
	t = keep_ok("back:1", b, 600, SESSION_KEEP_CREATED);
	run_loop(&loop);
	ck_assert(session_store_saved(sessions_store(F.r), t->session->body_hash));
	snprintf(path, sizeof(path), "%s/%s.json", sdir, t->session->body_hash);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(sdir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	rec = (struct session_record){ .name = "back:1",
		                       .provider = "local",
		                       .body_hash = t->session->body_hash,
		                       .keep_until = TSET_T0 + 600,
		                       .for_s = 600,
		                       .ttl_s = TTL,
		                       .priority = 7 };

	/* "Restart": the same store, a set without the session. */
	{
		char hash[65];
		memcpy(hash, t->session->body_hash, sizeof(hash));
		rec.body_hash = hash;
		host_remove(&F, t); /* not an end: the process went away */
		tset_advance(F.x, 100);
		t = sessions_restore(F.r, &rec);
		ck_assert_ptr_nonnull(t);
		ck_assert_ptr_eq(target_set_find(&F.x->set, "back:1"), t);
		ck_assert_double_eq(t->session->keep_until, TSET_T0 + 600);
		ck_assert_double_eq(t->ttl_s, TTL);
		ck_assert_int_eq(t->priority, 7);
		ck_assert_uint_eq(t->session->body_len, strlen(b));
		ck_assert_int_eq(memcmp(t->session->body, b, strlen(b)), 0);
		/* Cold meanwhile: warmed now. */
		sessions_restored(F.r);
		ck_assert_ptr_eq(F.x->fired[F.x->nfired - 1], t);
		/* Its keep_until passed while down: dropped, not warmed. */
		rec.name = "late:1";
		rec.keep_until = now() - 1;
		ck_assert_ptr_null(sessions_restore(F.r, &rec));
		ck_assert_uint_eq(stats().ended[SESSION_END_EXPIRED], 1);
		/* Its body gone (or not the body it names): not restored. */
		rec.name = "gone:1";
		rec.keep_until = now() + 60;
		rec.body_hash = "0000000000000000000000000000000000000000000000000000000000000000";
		ck_assert_ptr_null(sessions_restore(F.r, &rec));
		ck_assert_uint_eq(stats().ended[SESSION_END_INVALID], 1);
		/* A provider warmd.conf no longer has. */
		rec.body_hash = hash;
		rec.provider = "gone";
		ck_assert_ptr_null(sessions_restore(F.r, &rec));
		ck_assert_uint_eq(stats().ended[SESSION_END_PROVIDER], 1);
		/* A configured target took the name. */
		tset_target(F.x, F.p, "taken", "T.");
		rec.name = "taken";
		rec.provider = "local";
		ck_assert_ptr_null(sessions_restore(F.r, &rec));
		ck_assert_uint_eq(stats().ended[SESSION_END_TARGET], 1);
	}
	/* The store's files are cleaned at the end of the test's loop. */
	tset_free(F.x);
	F.x = NULL;
	sessions_free(F.r);
	F.r = NULL;
	run_loop(&loop);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	tu_rmrf(dir);
	free(dir);
	/* teardown() has nothing left to free */
	F.x = tset_new();
	F.r = sessions_new(&F.x->set, NULL);
}
END_TEST

/* The kinds whose URL names the model: keep gives it (and azure-openai's
 * deployment), as a target's keys do; another one is a new version at
 * another URL; a reload's rebuild and a restart keep it. */
START_TEST(test_model_and_deployment)
{
	static const char inv[] =
	        "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":100,\"system\":[{"
	        "\"type\":\"text\",\"text\":\"Bedrock.\",\"cache_control\":{\"type\":"
	        "\"ephemeral\"}}],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
	static const char m1[] = "anthropic.claude-sonnet-4-5-20250929-v1:0";
	static const char m2[] = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
	static const char chat[] = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\","
	                           "\"content\":\"Azure.\"},{\"role\":\"user\",\"content\":"
	                           "\"hi\"}]}";
	static const struct {
		const char *provider, *model, *deployment;
		int err;
		const char *needle;
	} bad[] = {
		{ "bed", NULL, NULL, -EINVAL, "whose URL names the model: give it with --model" },
		{ "bed", NULL, NULL, -EINVAL, "Bedrock model id" },
		{ "bed", m1, "dep", -EINVAL,
		  "--deployment (keep's \"deployment\") applies only to "
		  "azure-openai" },
		{ "local", "gpt-4o", NULL, -EINVAL, "does not apply to provider \"local\"" },
		{ "az", "gpt-4o", NULL, -EINVAL, "does not apply to provider \"az\"" },
	};
	struct provider *bed, *az;
	struct session_kept k;
	struct errmsg e;
	struct target *t;
	char url1[512];
	enum session_end why;
	char detail[256];

	bed = tset_provider(F.x, "bed", "http://127.0.0.1:9/bed");
	az = tset_provider(F.x, "az", "http://127.0.0.1:9/az");
	memset(&F.cprov[2], 0, sizeof(F.cprov[2]));
	F.cprov[2].name = bed->name;
	F.cprov[2].kind = PROVIDER_BEDROCK;
	F.cprov[2].base_url = bed->base_url;
	F.cprov[2].region = "us-east-1";
	memset(&F.cprov[3], 0, sizeof(F.cprov[3]));
	F.cprov[3].name = az->name;
	F.cprov[3].kind = PROVIDER_AZURE_OPENAI;
	F.cprov[3].base_url = az->base_url;
	F.cfg.nproviders = 4;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *b = strcmp(bad[i].provider, "bed") == 0 ? inv : chat;
		int r = keep_at("m:1", bad[i].provider, bad[i].model, bad[i].deployment, b, TTL, 60,
		                &k, &e);
		ck_assert_msg(r == bad[i].err, "%zu: %d, want %d (%s)", i, r, bad[i].err, e.text);
		ck_assert_msg(strstr(e.text, bad[i].needle), "%zu: \"%s\" lacks \"%s\"", i, e.text,
		              bad[i].needle);
	}
	/* The deployments path needs the provider's api_version. */
	ck_assert_int_eq(keep_at("m:1", "az", NULL, "dep", chat, TTL, 60, &k, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "needs api_version"));
	ck_assert_uint_eq(stats().count, 0);

	/* Bedrock: the model in the URL, path-encoded; status' model is the
	 * one prices go by, as for a target of warmd.conf. */
	ck_assert_int_eq(keep_at("m:1", "bed", m1, NULL, inv, 0, 60, &k, &e), 0);
	t = k.t;
	ck_assert_int_eq(k.result, SESSION_KEEP_CREATED);
	ck_assert_str_eq(t->tmpl->url, "http://127.0.0.1:9/bed/model/"
	                               "anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke");
	ck_assert_str_eq(t->tmpl->model, m1);
	ck_assert_str_eq(t->session->model, m1);
	ck_assert_ptr_null(t->session->deployment);
	snprintf(url1, sizeof(url1), "%s", t->tmpl->url);
	/* Again with the same model: the same session. */
	ck_assert_int_eq(keep_at("m:1", "bed", m1, NULL, inv, 0, 60, &k, &e), 0);
	ck_assert_int_eq(k.result, SESSION_KEEP_SAME);
	/* The same body at another model: a new version at another URL. */
	ck_assert_int_eq(keep_at("m:1", "bed", m2, NULL, inv, 0, 60, &k, &e), 0);
	ck_assert_int_eq(k.result, SESSION_KEEP_NEW_VERSION);
	ck_assert_ptr_eq(k.t, t);
	ck_assert_str_ne(t->tmpl->url, url1);
	ck_assert_ptr_nonnull(strstr(t->tmpl->url, "/model/us.anthropic.claude-haiku"));
	ck_assert_str_eq(t->tmpl->model, "anthropic.claude-haiku-4-5-20251001-v1:0");
	ck_assert_str_eq(t->session->model, m2);
	/* Without it now: refused, the session unchanged. */
	ck_assert_int_eq(keep_at("m:1", "bed", NULL, NULL, inv, 0, 60, &k, &e), -EINVAL);
	ck_assert_str_eq(t->session->model, m2);
	/* A reload that changes the provider rebuilds at the session's model. */
	{
		struct cfg_provider nc[4];
		struct config cfg2 = { .providers = nc, .nproviders = 4 };
		struct provider *provs[4] = { F.p, F.q, bed, az };
		memcpy(nc, F.cprov, sizeof(nc));
		nc[2].base_url = "http://127.0.0.1:9/bed2";
		ck_assert_int_eq(
		        sessions_rebind(F.r, t, provs, &cfg2, &why, detail, sizeof(detail)), 0);
		ck_assert_ptr_nonnull(
		        strstr(t->tmpl->url, "/bed2/model/us.anthropic.claude-haiku"));
	}

	/* Azure OpenAI: a deployment, on the deployments path. */
	F.cprov[3].api_version = "2024-10-21";
	ck_assert_int_eq(keep_at("a:1", "az", NULL, "chat-dep", chat, 0, 60, &k, &e), 0);
	ck_assert_str_eq(k.t->tmpl->url, "http://127.0.0.1:9/az/openai/deployments/chat-dep/chat/"
	                                 "completions?api-version=2024-10-21");
	ck_assert_str_eq(k.t->session->deployment, "chat-dep");
	/* Without it, the v1 API; a new version. */
	ck_assert_int_eq(keep_at("a:1", "az", NULL, NULL, chat, 0, 60, &k, &e), 0);
	ck_assert_int_eq(k.result, SESSION_KEEP_NEW_VERSION);
	ck_assert_str_eq(k.t->tmpl->url, "http://127.0.0.1:9/az/openai/v1/chat/completions");
	ck_assert_ptr_null(k.t->session->deployment);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("session");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_keep_creates_and_warms);
	tcase_add_test(tc, test_keep_again_same_and_new_version);
	tcase_add_test(tc, test_new_version_during_a_warm);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_drop);
	tcase_add_test(tc, test_keep_until_and_touches);
	tcase_add_test(tc, test_groups);
	tcase_add_test(tc, test_adaptive_stops_before_keep_until);
	tcase_add_test(tc, test_rebind);
	tcase_add_test(tc, test_restore);
	tcase_add_test(tc, test_model_and_deployment);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

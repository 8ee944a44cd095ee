/* check_daemon: the running set and the one way it changes
 * (runtime/daemon.c): a configuration staged from files and applied, then
 * reloads. What a reload reports (added, removed, changed, unchanged), that
 * a target keeps its object and counters across it, that a replaced
 * version is kept warm as a lane of the same provider, and that a change
 * of provider keeps none (the old template's URL is the old provider's).
 * A real loop; providers that nothing answers, so nothing is sent; but for
 * a service account's token endpoint, a server in this test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <openssl/pem.h>

#include "daemon.h"
#include "httpstub.h"
#include "log.h"
#include "oauth.h"
#include "session.h"
#include "testutil.h"

/* One target of warmd.conf. */
#define TARGET(name, provider, file)                                                               \
	"{ name = \"" name "\"; provider = \"" provider "\"; request_file = \"" file               \
	"\"; ttl = \"5m\"; }"

struct fx {
	uv_loop_t loop;
	char *dir;
	char conf[4200];
	struct daemon d;
	struct reload_report rep;
};

static void write_template(struct fx *f, const char *name, const char *text)
{
	char body[512];

	snprintf(body, sizeof(body),
	         "{\"model\":\"test-model\",\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
	         "{\"role\":\"user\",\"content\":\"hi\"}]}",
	         text);
	free(tu_write(f->dir, name, body));
}

static char extra_providers[512]; /* ",\n  { ... }" after p2, or "" */

/* warmd.conf with providers p1 and p2 (and extra_providers) and the
 * targets given (libconfig). */
static void write_config(struct fx *f, const char *targets)
{
	char text[4096];

	snprintf(text, sizeof(text),
	         "daemon = { control_socket = \"%s/control.sock\"; touch_socket = \"\";\n"
	         "  state_file = \"\"; pricing_file = \"\"; log_level = \"error\"; };\n"
	         "providers = (\n"
	         "  { name = \"p1\"; kind = \"openai-compatible\"; base_url = "
	         "\"http://127.0.0.1:9/one\"; },\n"
	         "  { name = \"p2\"; kind = \"openai-compatible\"; base_url = "
	         "\"http://127.0.0.1:9/two\"; }%s\n"
	         ");\ntargets = ( %s );\n",
	         f->dir, extra_providers, targets);
	free(tu_write(f->dir, "warmd.conf", text));
}

/* The loop and the directory, before anything is applied. */
static void fx_setup(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->dir = tu_tmpdir();
	ck_assert_ptr_nonnull(f->dir);
	snprintf(f->conf, sizeof(f->conf), "%s/warmd.conf", f->dir);
}

static void fx_apply(struct fx *f, const char *targets)
{
	struct diags diags = { 0 };
	struct staging *st = NULL;

	write_template(f, "a.json", "Prompt A.");
	write_template(f, "b.json", "Prompt B.");
	write_config(f, targets);
	ck_assert_int_eq(daemon_init(&f->d, &f->loop, f->conf, NULL, NULL), 0);
	if (daemon_stage(f->conf, &diags, &st) < 0) {
		char line[1400];
		diag_format(&diags.v[0], line, sizeof(line));
		ck_abort_msg("%s", line);
	}
	diags_free(&diags);
	daemon_apply(&f->d, st, NULL);
	sched_pause_all(f->d.set.sched, true); /* nothing is sent */
	reload_report_init(&f->rep);
}

static void fx_init(struct fx *f, const char *targets)
{
	fx_setup(f);
	fx_apply(f, targets);
}

static void fx_fini(struct fx *f)
{
	reload_report_free(&f->rep);
	daemon_cancel_all(&f->d);
	daemon_fini(&f->d);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	tu_rmrf(f->dir);
	free(f->dir);
}

static void reload(struct fx *f)
{
	struct diags diags = { 0 };

	reload_report_free(&f->rep);
	reload_report_init(&f->rep);
	ck_assert_int_eq(daemon_reload(&f->d, &diags, &f->rep), 0);
	diags_free(&diags);
}

static bool reported(json_object *names, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(names); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(names, i)), name) == 0)
			return true;
	return false;
}

/* The target is warm now, as a hit would leave it. */
static void warm(struct fx *f, struct target *t)
{
	double now = clock_now(f->d.set.clk);

	t->has_result = true;
	t->last_result = WARM_HIT;
	t->last_refresh = now;
	t->expires_at = now + t->ttl_s;
}

START_TEST(test_reload_report)
{
	struct target *a, *c;
	struct fx f;

	fx_init(&f, TARGET("a", "p1", "a.json") ",\n" TARGET("b", "p1", "b.json") ",\n" TARGET(
	                    "keep", "p1", "b.json"));
	ck_assert_uint_eq(f.d.set.ntargets, 3);
	a = target_set_find(&f.d.set, "a");
	a->hits = 11;
	write_template(&f, "c.json", "Prompt C.");
	write_template(&f, "a.json", "Prompt A, reworded.");
	write_config(&f, TARGET("a", "p1", "a.json") ",\n" TARGET("c", "p1", "c.json") ",\n" TARGET(
	                         "keep", "p1", "b.json"));
	reload(&f);
	ck_assert(reported(f.rep.added, "c"));
	ck_assert(reported(f.rep.removed, "b"));
	ck_assert(reported(f.rep.changed, "a"));
	ck_assert_uint_eq(json_object_array_length(f.rep.added), 1);
	ck_assert_uint_eq(json_object_array_length(f.rep.removed), 1);
	ck_assert_uint_eq(json_object_array_length(f.rep.changed), 1);
	ck_assert_uint_eq(f.rep.unchanged, 1);
	ck_assert_ptr_eq(target_set_find(&f.d.set, "a"), a); /* the same object */
	ck_assert_uint_eq(a->hits, 11);                      /* and its counters */
	ck_assert_uint_eq(a->nversions, 2);
	ck_assert_ptr_null(target_set_find(&f.d.set, "b"));
	c = target_set_find(&f.d.set, "c");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->prov->name, "p1");
	ck_assert_uint_eq(f.d.set.ntargets, 3); /* a was cold: no lane for its old version */
	ck_assert_uint_eq(f.d.set.reloads_ok, 1);
	fx_fini(&f);
}
END_TEST

/* A warm target whose template changes keeps its old version warm as a
 * lane, of the same provider. */
START_TEST(test_replaced_version_lane)
{
	struct target *a, *lane;
	char name[160];
	struct fx f;

	fx_init(&f, TARGET("a", "p1", "a.json"));
	a = target_set_find(&f.d.set, "a");
	warm(&f, a);
	snprintf(name, sizeof(name), "a@%s", a->tmpl->short_version);
	write_template(&f, "a.json", "Prompt A, reworded.");
	reload(&f);
	lane = target_set_find(&f.d.set, name);
	ck_assert_ptr_nonnull(lane);
	ck_assert(lane->retiring);
	ck_assert_ptr_eq(lane->prov, a->prov);
	ck_assert_double_eq(a->expires_at, 0); /* the new version starts cold */
	ck_assert_double_gt(lane->expires_at, 0);
	fx_fini(&f);
}
END_TEST

/* A target that moves to another provider keeps no lane: the old template
 * was built for the old provider's URL, and the new provider's key must
 * not be sent there. */
START_TEST(test_provider_change_keeps_no_lane)
{
	struct target *a;
	struct fx f;

	fx_init(&f, TARGET("a", "p1", "a.json"));
	a = target_set_find(&f.d.set, "a");
	warm(&f, a);
	write_config(&f, TARGET("a", "p2", "a.json"));
	reload(&f);
	ck_assert_str_eq(a->prov->name, "p2");
	ck_assert_ptr_nonnull(strstr(a->tmpl->url, "/two/"));
	for (size_t i = 0; i < f.d.set.ntargets; i++) {
		const struct target *t = f.d.set.targets[i];
		ck_assert_msg(strstr(t->tmpl->url, "/two/") || strcmp(t->prov->name, "p2") != 0,
		              "%s warms %s with provider %s's key", t->name, t->tmpl->url,
		              t->prov->name);
	}
	ck_assert_uint_eq(f.d.set.ntargets, 1);
	fx_fini(&f);
}
END_TEST

static struct target *keep_session(struct fx *f, const char *name, const char *provider)
{
	static const char body[] = "{\"model\":\"test-model\",\"messages\":[{\"role\":"
	                           "\"system\",\"content\":\"Session.\"},{\"role\":\"user\","
	                           "\"content\":\"hi\"}]}";
	const struct session_keep k = { .name = name,
		                        .provider = provider,
		                        .body = body,
		                        .body_len = sizeof(body) - 1,
		                        .ttl_s = 300,
		                        .for_s = 600,
		                        .priority = -1 };
	struct session_kept kept;
	struct errmsg e;

	ck_assert_msg(sessions_keep(f->d.set.sessions, &k, &kept, &e) == 0, "%s", e.text);
	return kept.t;
}

/* Sessions are not in warmd.conf: a reload keeps them (in the set's name
 * order, on their provider's new object), ends those whose provider went,
 * and the configuration wins a name. */
START_TEST(test_sessions_across_reload)
{
	struct target *s1, *s2, *s3;
	struct sessions_stats st;
	struct fx f;

	fx_init(&f, TARGET("a", "p1", "a.json"));
	s1 = keep_session(&f, "chat:1", "p1");
	s2 = keep_session(&f, "chat:2", "p2");
	s3 = keep_session(&f, "b", "p1");
	ck_assert_uint_eq(f.d.set.ntargets, 4);
	for (size_t i = 1; i < f.d.set.ntargets; i++) /* kept in name order */
		ck_assert_int_lt(strcmp(f.d.set.targets[i - 1]->name, f.d.set.targets[i]->name), 0);
	warm(&f, s1);
	reload(&f);
	ck_assert_ptr_eq(target_set_find(&f.d.set, "chat:1"), s1);
	ck_assert_ptr_eq(target_set_find(&f.d.set, "chat:2"), s2);
	ck_assert_double_gt(s1->expires_at, 0); /* nothing rebuilt: still warm */
	ck_assert_uint_eq(f.rep.unchanged, 1);
	ck_assert_uint_eq(json_object_array_length(f.rep.removed), 0);
	/* p2 goes; a target "b" comes. */
	{
		char text[1024];
		/* the configuration without p2 */
		snprintf(text, sizeof(text),
		         "daemon = { control_socket = \"%s/control.sock\"; touch_socket = \"\";\n"
		         "  state_file = \"\"; pricing_file = \"\"; log_level = \"error\"; };\n"
		         "providers = (\n"
		         "  { name = \"p1\"; kind = \"openai-compatible\"; base_url = "
		         "\"http://127.0.0.1:9/one\"; }\n);\n"
		         "targets = ( %s );\n",
		         f.dir, TARGET("a", "p1", "a.json") ",\n" TARGET("b", "p1", "b.json"));
		free(tu_write(f.dir, "warmd.conf", text));
	}
	target_ref(s3);
	reload(&f);
	ck_assert_ptr_eq(target_set_find(&f.d.set, "chat:1"), s1);
	ck_assert_ptr_null(target_set_find(&f.d.set, "chat:2"));
	ck_assert_ptr_nonnull(target_set_find(&f.d.set, "b"));
	ck_assert_ptr_ne(target_set_find(&f.d.set, "b"), s3);
	ck_assert_ptr_null(target_set_find(&f.d.set, "b")->session);
	ck_assert(s3->removed);
	target_unref(s3);
	ck_assert(reported(f.rep.added, "b"));
	sessions_get_stats(f.d.set.sessions, &st);
	ck_assert_uint_eq(st.count, 1);
	ck_assert_uint_eq(st.ended[SESSION_END_PROVIDER], 1);
	ck_assert_uint_eq(st.ended[SESSION_END_TARGET], 1);
	ck_assert_uint_eq(f.d.set.ntargets, 3);
	fx_fini(&f);
}
END_TEST

/* sched_ops.fire of the offline daemon: a hit at once, counted. */
static int offline_fire(void *data, struct target *t)
{
	struct daemon *d = data;
	struct sched_outcome o = { .result = WARM_HIT, .sent_at = clock_now(d->set.clk) };

	t->warms++;
	sched_done(d->set.sched, t, &o);
	return 0;
}

/* warmd --simulate's daemon: no loop, the caller's virtual clock, its own
 * fire; daemon_fini() frees what it built and leaves the clock alone. */
START_TEST(test_offline)
{
	static const struct sched_ops ops = { .fire = offline_fire };
	struct clock *clk = clock_virtual_new(1000);
	struct diags diags = { 0 };
	struct staging *st = NULL;
	struct daemon d;
	struct fx f;

	memset(&f, 0, sizeof(f));
	f.dir = tu_tmpdir();
	snprintf(f.conf, sizeof(f.conf), "%s/warmd.conf", f.dir);
	write_template(&f, "a.json", "Prompt A.");
	write_config(&f, TARGET("a", "p1", "a.json"));
	daemon_init_offline(&d, clk, &ops, &d, 1);
	ck_assert_int_eq(daemon_stage_offline(f.conf, &diags, &st), 0);
	diags_free(&diags);
	daemon_apply(&d, st, NULL);
	ck_assert_ptr_eq(d.set.clk, clk);
	ck_assert_uint_eq(d.set.ntargets, 1);
	ck_assert_int_gt(clock_virtual_advance(clk, 1000 + 3600), 0);
	ck_assert_uint_ge(d.set.targets[0]->warms, 10); /* every ~5 min minus the margin */
	daemon_fini(&d);
	ck_assert_double_eq(clock_now(clk), 1000 + 3600); /* still the caller's */
	clock_virtual_free(clk);
	tu_rmrf(f.dir);
	free(f.dir);
}
END_TEST

/* A service account key file (a key made now) whose token_uri is uri. */
static void write_sa(struct fx *f, const char *uri, const char *trailer)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	BIO *b = BIO_new(BIO_s_mem());
	struct buf j = BUF_INIT;
	char *pem;
	long n;

	ck_assert_int_eq(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &pem);
	buf_puts(&j, "{\"type\": \"service_account\", \"private_key\": \"");
	for (long i = 0; i < n; i++)
		buf_puts(&j, pem[i] == '\n' ? "\\n" : (char[]){ pem[i], 0 });
	buf_printf(&j,
	           "\", \"client_email\": \"w@p.iam.gserviceaccount.com\", "
	           "\"token_uri\": \"%s\"}%s\n",
	           uri, trailer);
	free(tu_write(f->dir, "sa.json", j.data));
	buf_free(&j);
	BIO_free(b);
	EVP_PKEY_free(k);
}

static struct oauth_stats token_stats(struct fx *f)
{
	struct oauth_stats s;
	struct provider *p = f->d.set.provs[2];

	ck_assert_str_eq(p->name, "g");
	ck_assert(oauth_stats(p->cred, &s));
	return s;
}

/* A service account's fetcher starts when its provider is applied, hands
 * its token to the credential a reload brings when the key file is the
 * same, fetches anew when it changed, and stops at shutdown (the loop
 * closes with its timer). */
START_TEST(test_service_account_fetcher)
{
	struct httpstub *stub;
	struct cred *before;
	char uri[128];
	struct fx f;
	int spins = 0;

	fx_setup(&f);
	stub = httpstub_new(&f.loop);
	httpstub_answer(stub, 200,
	                "{\"access_token\": \"ya29.fake-token-0123456789\", "
	                "\"expires_in\": 3599}");
	snprintf(uri, sizeof(uri), "%s/token", httpstub_url(stub));
	snprintf(extra_providers, sizeof(extra_providers),
	         ",\n  { name = \"g\"; kind = \"vertex\"; project = \"p\"; region = \"global\";\n"
	         "    base_url = \"http://127.0.0.1:9\"; service_account_file = \"sa.json\"; }");
	write_sa(&f, uri, "");
	fx_apply(&f, TARGET("a", "p1", "a.json"));
	while (!token_stats(&f).has_token && spins++ < 500)
		uv_run(&f.loop, UV_RUN_ONCE);
	ck_assert(token_stats(&f).has_token);
	ck_assert_uint_eq(httpstub_requests(stub), 1);

	before = f.d.set.provs[2]->cred;
	reload(&f);
	ck_assert_ptr_ne(f.d.set.provs[2]->cred, before);
	ck_assert(token_stats(&f).has_token); /* taken over: no wait, no exchange */
	ck_assert_uint_eq(httpstub_requests(stub), 1);

	write_sa(&f, uri, " ");
	reload(&f);
	ck_assert(!token_stats(&f).has_token);
	spins = 0;
	while (!token_stats(&f).has_token && spins++ < 500)
		uv_run(&f.loop, UV_RUN_ONCE);
	ck_assert_uint_eq(httpstub_requests(stub), 2);
	extra_providers[0] = '\0';
	httpstub_close(stub);
	fx_fini(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("apply");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERR);
	unsetenv("NOTIFY_SOCKET");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_reload_report);
	tcase_add_test(tc, test_replaced_version_lane);
	tcase_add_test(tc, test_provider_change_keeps_no_lane);
	tcase_add_test(tc, test_sessions_across_reload);
	tcase_add_test(tc, test_offline);
	tcase_add_test(tc, test_service_account_fetcher);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

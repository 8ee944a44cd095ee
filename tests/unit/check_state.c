/* check_state: the state file (runtime/state.c) on a target set built by
 * hand and a real loop: what is written reads back into a fresh set (the
 * restart), a changed version keeps its counters but not its cache, a bad
 * entry or field costs only itself, a file that is not a state file is
 * moved aside, and a change is written a little later on its own. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "adapters.h"
#include "cred.h"
#include "credentials.h"
#include "log.h"
#include "policy.h"
#include "session.h"
#include "session_store.h"
#include "share.h"
#include "state.h"
#include "testutil.h"
#include "tset.h"

struct fx {
	uv_loop_t loop;
	char *dir;
	char path[4200];
	struct tset *x;
	struct target *support, *blue, *notes;
	struct state *st;
	const char *base_url; /* the provider's (NULL: tset's default) */
};

/* The same three targets as every run of warmd with this configuration:
 * the support bot, a blue/green lane and an adaptive one. */
static void fx_set(struct fx *f, const char *support_text)
{
	struct provider *p;

	f->x = tset_new();
	p = tset_provider(f->x, "local", f->base_url);
	f->support = tset_target(f->x, p, "support", support_text);
	f->blue = tset_lane(f->x, p, "billing", "blue", 90, "Billing.");
	f->notes = tset_target(f->x, p, "notes", "Release notes.");
	f->notes->policy = POLICY_ADAPTIVE;
	f->notes->gaps = calloc(1, sizeof(*f->notes->gaps));
	ck_assert_ptr_nonnull(f->notes->gaps);
	f->st = state_open(&f->loop, &f->x->set, f->path);
}

static void fx_init_at(struct fx *f, const char *base_url)
{
	memset(f, 0, sizeof(*f));
	f->base_url = base_url;
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->dir = tu_tmpdir();
	ck_assert_ptr_nonnull(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/state.json", f->dir);
	fx_set(f, "Support.");
}

static void fx_init(struct fx *f)
{
	fx_init_at(f, NULL);
}

/* A restart: the state closed, a fresh set of the same configuration. */
static void fx_restart(struct fx *f, const char *support_text)
{
	state_close(f->st);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	tset_free(f->x);
	fx_set(f, support_text);
}

static void fx_fini(struct fx *f)
{
	state_close(f->st);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	tset_free(f->x);
	tu_rmrf(f->dir);
	free(f->dir);
}

static int corrupt_files(const struct fx *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		n += strncmp(de->d_name, "state.json.corrupt-", 19) == 0;
	closedir(d);
	return n;
}

START_TEST(test_round_trip)
{
	double now = TSET_T0;
	bool paused_all = false;
	struct fx f;

	fx_init(&f);
	f.support->warms = 40;
	f.support->hits = 30;
	f.support->writes = 9;
	f.support->errors = 1;
	f.support->touches = 12;
	f.support->cost_pico = 1234567;
	f.support->saved_pico = 7654321;
	f.support->prefix_tokens = 2048;
	tset_warm(f.x, f.support);
	snprintf(f.support->last_error, sizeof(f.support->last_error), "HTTP 529 overloaded");
	for (int k = 0; k < 5; k++)
		target_touch_record(f.support, now - 600 + 100 * k);
	f.blue->weight = 40;
	f.blue->prev_weight = 90;
	f.blue->paused = true;
	for (int k = 0; k < 20; k++)
		policy_gap_observe(f.notes->gaps, now - 86400 + 3000 * k, 60 * k, 300);
	f.x->set.paused_all = true;
	ck_assert_int_eq(state_flush(f.st), 0);

	fx_restart(&f, "Support.");
	ck_assert_int_eq(state_restore(f.st, &paused_all), 3);
	ck_assert(paused_all);
	ck_assert_uint_eq(f.support->warms, 40);
	ck_assert_uint_eq(f.support->hits, 30);
	ck_assert_uint_eq(f.support->writes, 9);
	ck_assert_uint_eq(f.support->errors, 1);
	ck_assert_uint_eq(f.support->touches, 12);
	ck_assert_int_eq(f.support->cost_pico, 1234567);
	ck_assert_int_eq(f.support->saved_pico, 7654321);
	ck_assert_int_eq(f.support->prefix_tokens, 2048);
	ck_assert_double_eq(f.support->expires_at, now + 300); /* still warm: not warmed again */
	ck_assert(f.support->refreshed_by_warm);
	ck_assert_str_eq(f.support->last_error, "HTTP 529 overloaded");
	ck_assert_uint_eq(f.support->touch_n, 5);
	ck_assert_uint_eq(target_touch_at(f.support, 4), (uint32_t)(now - 200));
	ck_assert_uint_eq(f.support->nversions, 1);
	ck_assert_int_eq(f.blue->weight, 40); /* a shift survives while the config's weight stays */
	ck_assert_int_eq(f.blue->prev_weight, 90);
	ck_assert(f.blue->paused);
	ck_assert_uint_eq(f.notes->gaps->total, 20);
	fx_fini(&f);
}
END_TEST

/* The support bot's template changed meanwhile: its counters stay, what
 * warmd knew of the old version's cache does not. */
START_TEST(test_new_version_starts_cold)
{
	bool paused_all = true;
	struct fx f;

	fx_init(&f);
	f.support->hits = 7;
	tset_warm(f.x, f.support);
	ck_assert_int_eq(state_flush(f.st), 0);
	fx_restart(&f, "Support, reworded.");
	ck_assert_int_eq(state_restore(f.st, &paused_all), 3);
	ck_assert(!paused_all);
	ck_assert_uint_eq(f.support->hits, 7);
	ck_assert_double_eq(f.support->expires_at, 0);
	ck_assert_double_eq(f.support->last_refresh, 0);
	ck_assert_uint_eq(f.support->nversions, 2); /* the old one in the history */
	fx_fini(&f);
}
END_TEST

/* text with every from replaced by to (malloc'd). */
static char *replace_all(const char *text, const char *from, const char *to)
{
	char *out = calloc(1, strlen(text) * (strlen(to) + 1) + 1), *o = out;
	const char *p;

	ck_assert_ptr_nonnull(out);
	while ((p = strstr(text, from))) {
		memcpy(o, text, (size_t)(p - text));
		o += p - text;
		o = stpcpy(o, to);
		text = p + strlen(from);
	}
	strcpy(o, text);
	return out;
}

/* A password in the provider's URL stays out of the file, and the cache
 * state still comes back; so it does from a file that kept the URL whole. */
START_TEST(test_url_password_not_kept)
{
	const char *pw = "s3cret-url-password";
	double now = TSET_T0;
	char *text, *raw_url, *old;
	bool paused_all;
	struct fx f;

	fx_init_at(&f, "http://gw:s3cret-url-password@127.0.0.1:1");
	raw_url = strdup(f.support->tmpl->url);
	ck_assert_ptr_nonnull(strstr(raw_url, pw));
	tset_warm(f.x, f.support);
	ck_assert_int_eq(state_flush(f.st), 0);
	text = tu_read(f.path, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(!strstr(text, pw), "%s", text);
	ck_assert_ptr_nonnull(strstr(text, "\"http://***@127.0.0.1:1/"));
	fx_restart(&f, "Support.");
	ck_assert_int_eq(state_restore(f.st, &paused_all), 3);
	ck_assert_double_eq(f.support->expires_at, now + 300);

	/* as an older warmd wrote it: every "url" whole */
	fx_restart(&f, "Support.");
	old = replace_all(text, "http://***@127.0.0.1:1",
	                  "http://gw:s3cret-url-password@127.0.0.1:1");
	free(tu_write(f.dir, "state.json", old));
	free(old);
	ck_assert_int_eq(state_restore(f.st, &paused_all), 3);
	ck_assert_double_eq(f.support->expires_at, now + 300);
	free(text);
	free(raw_url);
	fx_fini(&f);
}
END_TEST

/* A last_error from a file that an older warmd wrote, with a key its
 * scrubber missed, comes back scrubbed. */
START_TEST(test_last_error_scrubbed)
{
	static char name[] = "p", key[] = "fake-State0Key1Missed2By3An4Older5Warmd";
	struct cfg_provider c = { .name = name, .kind = PROVIDER_OPENAI_COMPAT, .api_key = key };
	struct cred *cr = NULL;
	bool paused_all;
	struct errmsg e;
	struct fx f;

	fx_init(&f);
	tset_warm(f.x, f.support);
	snprintf(f.support->last_error, sizeof(f.support->last_error),
	         "HTTP 401: bad key fake-State0Key1Missed2By3An4Older5Warmd");
	ck_assert_int_eq(state_flush(f.st), 0);
	ck_assert_msg(cred_load(&c, adapter_ops_for(c.kind), &cr, &e) == 0, "%s", e.text);
	fx_restart(&f, "Support.");
	ck_assert_int_eq(state_restore(f.st, &paused_all), 3);
	ck_assert_str_eq(f.support->last_error, "HTTP 401: bad key [key]");
	cred_unref(cr);
	fx_fini(&f);
}
END_TEST

/* A bad entry costs that entry, a bad field that field. */
START_TEST(test_bad_entries)
{
	char text[2048];
	bool paused_all;
	struct fx f;
	FILE *fp;

	fx_init(&f);
	snprintf(text, sizeof(text),
	         "{\"format\":\"warmd-state\",\"format_version\":1,\"targets\":{"
	         "\"support\":42,"
	         "\"notes\":{\"url\":\"%s\"},"
	         "\"billing@blue\":{\"version\":\"%s\",\"url\":\"%s\",\"warms\":-5,\"hits\":3,"
	         "\"expires_at\":1e300,\"paused\":\"yes\"},"
	         "\"gone\":{\"version\":\"x\",\"url\":\"y\",\"hits\":1}}}",
	         f.notes->tmpl->url, f.blue->tmpl->version, f.blue->tmpl->url);
	fp = fopen(f.path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	ck_assert_int_eq(state_restore(f.st, &paused_all), 1);
	ck_assert_uint_eq(f.blue->hits, 3);
	ck_assert_uint_eq(f.blue->warms, 0);        /* -5 is no count */
	ck_assert_double_eq(f.blue->expires_at, 0); /* nor 1e300 a time */
	ck_assert(!f.blue->paused);
	ck_assert_uint_eq(f.support->hits, 0);
	ck_assert_int_eq(corrupt_files(&f), 0); /* the file itself was fine */
	fx_fini(&f);
}
END_TEST

START_TEST(test_not_a_state_file)
{
	bool paused_all;
	struct fx f;
	char *p;

	fx_init(&f);
	ck_assert_int_eq(state_restore(f.st, &paused_all), 0); /* none yet: a fresh start */
	ck_assert_int_eq(corrupt_files(&f), 0);
	p = tu_write(f.dir, "state.json", "{\"format\":\"something else\"}");
	free(p);
	ck_assert_int_eq(state_restore(f.st, &paused_all), 0);
	ck_assert_int_eq(corrupt_files(&f), 1);
	ck_assert_int_eq(access(f.path, F_OK), -1);
	p = tu_write(f.dir, "state.json", "not JSON at all");
	free(p);
	ck_assert_int_eq(state_restore(f.st, &paused_all), 0);
	ck_assert_int_ge(corrupt_files(&f), 1);
	ck_assert_int_eq(access(f.path, F_OK), -1);
	fx_fini(&f);
}
END_TEST

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* state_changed() writes the file soon, from a worker, on its own. */
START_TEST(test_changed_is_written_later)
{
	bool paused_all;
	uv_timer_t tick;
	struct fx f;
	int spins = 0;

	fx_init(&f);
	f.support->hits = 5;
	state_changed(f.st);
	ck_assert_int_eq(access(f.path, F_OK), -1); /* not at once */
	uv_timer_init(&f.loop, &tick);
	uv_timer_start(&tick, tick_cb, 50, 50);
	while (access(f.path, F_OK) != 0 && spins++ < 100) /* at most 5 s */
		uv_run(&f.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&f.loop, UV_RUN_NOWAIT); /* tick lives on this stack: its close ends here */
	ck_assert_int_eq(access(f.path, F_OK), 0);
	fx_restart(&f, "Support.");
	ck_assert_int_eq(state_restore(f.st, &paused_all), 3);
	ck_assert_uint_eq(f.support->hits, 5);
	fx_fini(&f);
}
END_TEST

/* ---- sessions ---- */

/* Sessions on f's set: its host puts them into the set; the provider's
 * configuration is the set's "local". */
struct sfx {
	struct sessions *r;
	struct cfg_provider cp;
	struct config cfg;
};

static void host_add(void *data, struct target *t)
{
	struct fx *f = data;
	struct target_set *s = &f->x->set;

	s->targets = realloc(s->targets, (s->ntargets + 1) * sizeof(*s->targets));
	ck_assert_ptr_nonnull(s->targets);
	s->targets[s->ntargets++] = t;
	target_set_sort(s->targets, s->ntargets);
	sched_plan(s->sched, t);
}

static void host_remove(void *data, struct target *t)
{
	struct fx *f = data;
	struct target_set *s = &f->x->set;
	size_t i = 0;

	while (s->targets[i] != t)
		i++;
	memmove(&s->targets[i], &s->targets[i + 1], (s->ntargets - i - 1) * sizeof(*s->targets));
	s->ntargets--;
	t->removed = true;
	sched_remove(s->sched, t);
	target_unref(t);
}

static void sfx_attach(struct sfx *sf, struct fx *f)
{
	const struct session_host host = { .add = host_add, .remove = host_remove, .data = f };
	struct provider *p = f->x->set.provs[0];

	memset(sf, 0, sizeof(*sf));
	sf->cp = (struct cfg_provider){ .name = p->name,
		                        .kind = PROVIDER_OPENAI_COMPAT,
		                        .base_url = p->base_url };
	sf->cfg.providers = &sf->cp;
	sf->cfg.nproviders = 1;
	f->x->set.cfg = &sf->cfg;
	sf->r = sessions_new(&f->x->set, &host);
	f->x->set.sessions = sf->r;
	ck_assert_int_eq(sessions_open_store(sf->r, &f->loop, f->path), 0);
}

static void sfx_detach(struct sfx *sf, struct fx *f)
{
	sessions_free(sf->r);
	f->x->set.sessions = NULL;
	uv_run(&f->loop, UV_RUN_DEFAULT); /* the store's last job */
}

static struct target *keep(struct sfx *sf, const char *name, const char *text, double for_s)
{
	char body[256];
	struct session_keep k = { .name = name,
		                  .provider = "local",
		                  .body = body,
		                  .ttl_s = 300,
		                  .for_s = for_s,
		                  .priority = 3 };
	struct session_kept kept;
	struct errmsg e;

	snprintf(body, sizeof(body),
	         "{\"model\":\"test-model\",\"messages\":[{\"role\":\"system\",\"content\":"
	         "\"%s\"},{\"role\":\"user\",\"content\":\"hi\"}]}",
	         text);
	k.body_len = strlen(body);
	ck_assert_msg(sessions_keep(sf->r, &k, &kept, &e) == 0, "%s", e.text);
	return kept.t;
}

static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Sessions come back after a restart: their deadlines and settings from
 * the state file, their bodies from the store, their cache if still warm,
 * their group's gaps; one whose keep_until passed meanwhile does not, and
 * its body's file goes. A session whose body is not written yet is left
 * out of the state file; a dropped one's file goes once a state file
 * without it has landed. */
START_TEST(test_sessions_round_trip)
{
	struct fx f;
	struct sfx sf;
	struct target *a, *b, *c;
	char sdir[4300], ha[65];
	bool paused_all;
	struct errmsg e;
	char *text;

	fx_init(&f);
	sfx_attach(&sf, &f);
	sessions_store_dir(f.path, sdir, sizeof(sdir));
	a = keep(&sf, "chat:1", "Alpha.", 1200);
	b = keep(&sf, "chat:2", "Beta.", 60);
	/* Not written yet: the state file leaves them out. */
	ck_assert_int_eq(state_flush(f.st), 0);
	text = tu_read(f.path, NULL);
	ck_assert_ptr_null(strstr(text, "chat:1"));
	free(text);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(files_in(sdir), 2);
	tset_warm(f.x, a);
	a->warms = a->hits = 4;
	memcpy(ha, a->session->body_hash, sizeof(ha));
	/* chat:1 kept again a minute later: a gap its group learns. */
	clock_virtual_advance(f.x->set.clk, TSET_T0 + 60);
	ck_assert_ptr_eq(keep(&sf, "chat:1", "Alpha.", 1200), a);
	/* A third one, dropped: its file goes after the next state file. */
	c = keep(&sf, "chat:3", "Gamma.", 600);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(files_in(sdir), 3);
	ck_assert_int_eq(sessions_drop(sf.r, "chat:3", &e), 0);
	(void)c;
	ck_assert_int_eq(files_in(sdir), 3);
	ck_assert_int_eq(state_flush(f.st), 0);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(files_in(sdir), 2);
	text = tu_read(f.path, NULL);
	ck_assert_ptr_nonnull(strstr(text, "\"session_groups\""));
	ck_assert_ptr_nonnull(strstr(text, "\"keep_until\""));
	free(text);
	(void)b;

	/* The restart, 100 s later: chat:2 (kept 60 s) is over. */
	sfx_detach(&sf, &f);
	fx_restart(&f, "Support.");
	clock_virtual_advance(f.x->set.clk, TSET_T0 + 100);
	sfx_attach(&sf, &f);
	ck_assert_int_eq(state_restore(f.st, &paused_all), 4);
	sessions_restored(sf.r);
	a = target_set_find(&f.x->set, "chat:1");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(a->session);
	ck_assert_str_eq(a->session->body_hash, ha);
	ck_assert_double_eq(a->session->keep_until, TSET_T0 + 60 + 1200);
	ck_assert_double_eq(a->session->for_s, 1200);
	ck_assert_double_eq(a->session->ttl_s, 300);
	ck_assert_int_eq(a->priority, 3);
	ck_assert_uint_eq(a->warms, 4);
	ck_assert_double_eq(a->expires_at, TSET_T0 + 300); /* still warm: not warmed again */
	ck_assert_ptr_nonnull(a->gaps);
	ck_assert_uint_eq(a->gaps->total, 1); /* the minute between its keeps */
	ck_assert_uint_eq(a->gaps->all[0], 1);
	ck_assert_ptr_null(target_set_find(&f.x->set, "chat:2"));
	ck_assert_ptr_null(target_set_find(&f.x->set, "chat:3"));
	{
		struct sessions_stats st;
		sessions_get_stats(sf.r, &st);
		ck_assert_uint_eq(st.count, 1);
		ck_assert_uint_eq(st.ended[SESSION_END_EXPIRED], 1);
	}
	ck_assert_int_eq(files_in(sdir), 1); /* chat:2's went at start-up */
	sfx_detach(&sf, &f);
	fx_fini(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("state");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERR);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_new_version_starts_cold);
	tcase_add_test(tc, test_url_password_not_kept);
	tcase_add_test(tc, test_last_error_scrubbed);
	tcase_add_test(tc, test_bad_entries);
	tcase_add_test(tc, test_not_a_state_file);
	tcase_add_test(tc, test_changed_is_written_later);
	tcase_add_test(tc, test_sessions_round_trip);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

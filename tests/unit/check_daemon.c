/* check_daemon: the running set and the one way it changes
 * (runtime/daemon.c): a configuration staged from files and applied, then
 * reloads. What a reload reports (added, removed, changed, unchanged), that
 * a target keeps its object and counters across it, that a replaced
 * version is kept warm as a lane of the same provider, and that a change
 * of provider keeps none (the old template's URL is the old provider's).
 * A real loop; providers that nothing answers, so nothing is sent. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "daemon.h"
#include "log.h"
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

/* warmd.conf with providers p1 and p2 and the targets given (libconfig). */
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
	         "\"http://127.0.0.1:9/two\"; }\n"
	         ");\ntargets = ( %s );\n",
	         f->dir, targets);
	free(tu_write(f->dir, "warmd.conf", text));
}

static void fx_init(struct fx *f, const char *targets)
{
	struct diags diags = { 0 };
	struct staging *st = NULL;

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->dir = tu_tmpdir();
	ck_assert_ptr_nonnull(f->dir);
	snprintf(f->conf, sizeof(f->conf), "%s/warmd.conf", f->dir);
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
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

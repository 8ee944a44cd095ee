/* check_lanes: version lanes as the running set keeps them (runtime/lanes.c),
 * on a target set built by hand: a replaced version kept warm for its
 * overlap, whether an old lane lives on after a reload, a touch keeping it,
 * and the config's weight against a runtime shift. */
#include <check.h>
#include <string.h>

#include "lanes.h"
#include "log.h"
#include "tset.h"

static struct tmpl *new_version(struct tset *x, struct target *t, const char *text)
{
	struct target *tmp = tset_target(x, t->prov, "scratch", text);

	return tmpl_ref(tmp->tmpl);
}

START_TEST(test_replaced_version_kept)
{
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct target *t = tset_target(x, p, "support", "Old prompt."), *l;
	char name[160];

	t->overlap_s = 600;
	/* cold: nothing to keep */
	ck_assert_ptr_null(lanes_keep_replaced(&x->set, t, t->tmpl));
	tset_warm(x, t);
	t->prefix_tokens = 2048;
	/* manual or paused: warmd does not warm it by itself */
	t->policy = POLICY_MANUAL;
	ck_assert_ptr_null(lanes_keep_replaced(&x->set, t, t->tmpl));
	t->policy = POLICY_ALWAYS;
	t->paused = true;
	ck_assert_ptr_null(lanes_keep_replaced(&x->set, t, t->tmpl));
	t->paused = false;
	t->overlap_s = 0;
	ck_assert_ptr_null(lanes_keep_replaced(&x->set, t, t->tmpl));
	t->overlap_s = 600;
	l = lanes_keep_replaced(&x->set, t, t->tmpl);
	ck_assert_ptr_nonnull(l);
	snprintf(name, sizeof(name), "support@%s", t->tmpl->short_version);
	ck_assert_str_eq(l->name, name);
	ck_assert_str_eq(l->group, "support");
	ck_assert_ptr_null(l->vname);
	ck_assert(l->retiring);
	ck_assert_double_eq(l->retire_at, TSET_T0 + 600);
	ck_assert_ptr_eq(l->tmpl, t->tmpl);
	ck_assert_ptr_eq(l->prov, p);
	ck_assert_double_eq(l->expires_at, t->expires_at); /* the same cache entry */
	ck_assert_int_eq(l->prefix_tokens, 2048);
	ck_assert_uint_eq(l->nversions, 1);
	target_unref(l);
	tset_free(x);
}
END_TEST

/* Back to a version an earlier reload still keeps: its overlap starts again. */
START_TEST(test_back_to_a_kept_version)
{
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct target *t = tset_target(x, p, "support", "Prompt A."), *kept;
	char name[160];

	snprintf(name, sizeof(name), "support@%s", t->tmpl->short_version);
	kept = tset_target(x, p, name, "Prompt A.");
	kept->retiring = true;
	kept->retire_at = TSET_T0 + 5;
	t->overlap_s = 600;
	tset_warm(x, t);
	ck_assert_ptr_null(lanes_keep_replaced(&x->set, t, t->tmpl));
	ck_assert_double_eq(kept->retire_at, TSET_T0 + 600);
	ck_assert_double_eq(kept->expires_at, t->expires_at); /* the fresher cache state */
	tset_free(x);
}
END_TEST

START_TEST(test_keep_after_reload)
{
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL), *q = tset_provider(x, "other", NULL);
	struct target *g = tset_target(x, p, "support", "New prompt.");
	struct target *l = tset_target(x, p, "support@old", "Old prompt.");
	struct tmpl *same;

	l->group = strdup("support");
	l->retiring = true;
	l->retire_at = TSET_T0 + 100;
	tset_warm(x, l);
	ck_assert(lanes_keep(l, g, TSET_T0));
	ck_assert(!lanes_keep(l, NULL, TSET_T0));    /* the target is gone */
	ck_assert(!lanes_keep(l, g, TSET_T0 + 100)); /* the overlap is over */
	provider_unref(g->prov);
	g->prov = provider_ref(q);
	ck_assert(!lanes_keep(l, g, TSET_T0)); /* another provider's cache */
	provider_unref(g->prov);
	g->prov = provider_ref(p);
	/* the target went back to the lane's version: it takes the warm entry */
	same = new_version(x, g, "Old prompt.");
	tmpl_unref(g->tmpl);
	g->tmpl = same;
	ck_assert_double_eq(g->expires_at, 0);
	ck_assert(!lanes_keep(l, g, TSET_T0));
	ck_assert_double_eq(g->expires_at, l->expires_at);
	tset_free(x);
}
END_TEST

START_TEST(test_touch_and_weights)
{
	struct tset *x = tset_new();
	struct provider *p = tset_provider(x, "local", NULL);
	struct target *l = tset_lane(x, p, "billing", "green", 10, "Green.");
	struct cfg_target c = { .weight = 10 };

	/* a touch keeps a replaced version for another overlap, never shorter */
	l->retiring = true;
	l->overlap_s = 600;
	l->retire_at = TSET_T0 + 100;
	lanes_touched(l, TSET_T0 + 50);
	ck_assert_double_eq(l->retire_at, TSET_T0 + 650);
	lanes_touched(l, TSET_T0 + 10);
	ck_assert_double_eq(l->retire_at, TSET_T0 + 650);
	/* a runtime shift holds while the config's weight stays */
	l->weight = 40;
	l->prev_weight = 10;
	lanes_config_weight(l, &c, false);
	ck_assert_int_eq(l->weight, 40);
	ck_assert_int_eq(l->prev_weight, 10);
	c.weight = 25; /* an edit there wins, and leaves nothing to roll back */
	lanes_config_weight(l, &c, false);
	ck_assert_int_eq(l->weight, 25);
	ck_assert_int_eq(l->prev_weight, -1);
	ck_assert_int_eq(l->cfg_weight, 25);
	l->weight = 40;
	lanes_config_weight(l, &c, true); /* a new lane takes the config's */
	ck_assert_int_eq(l->weight, 25);
	tset_free(x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lanes");
	TCase *tc = tcase_create("lanes");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERR);
	tcase_add_test(tc, test_replaced_version_kept);
	tcase_add_test(tc, test_back_to_a_kept_version);
	tcase_add_test(tc, test_keep_after_reload);
	tcase_add_test(tc, test_touch_and_weights);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

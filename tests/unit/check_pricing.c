/* check_pricing: the price table and exact money arithmetic (core/pricing.c). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "jsonx.h"
#include "pricing.h"
#include "testutil.h"

static struct pricing *load_text(const char *text, struct diags *d, int *rc)
{
	char *dir = tu_tmpdir(), *path = tu_write(dir, "pricing.conf", text);
	struct pricing *p = NULL;

	*rc = pricing_load(path, d, &p);
	tu_rmrf(dir);
	free(dir);
	free(path);
	return p;
}

START_TEST(test_shipped_table)
{
	struct diags d = { 0 };
	struct pricing *p = NULL;
	const struct price *pr;

	ck_assert_int_eq(pricing_load(TEST_SOURCE_DIR "/config/pricing.conf", &d, &p), 0);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_ptr_nonnull(p->as_of);
	/* the longest prefix wins: a dated snapshot finds its family */
	pr = pricing_find(p, "claude-sonnet-4-5-20250929");
	ck_assert_ptr_nonnull(pr);
	ck_assert_str_eq(pr->model, "claude-sonnet-4-5");
	ck_assert_int_eq(pr->input, 3000000);          /* $3 / MTok */
	ck_assert_int_eq(pr->cache_write, 3750000);    /* 1.25x */
	ck_assert_int_eq(pr->cache_write_1h, 6000000); /* 2x */
	ck_assert_int_eq(pr->cache_read, 300000);      /* 0.1x */
	ck_assert_str_eq(pricing_find(p, "gpt-4.1-mini-2025")->model, "gpt-4.1-mini");
	ck_assert_str_eq(pricing_find(p, "gpt-4.1")->model, "gpt-4.1");
	ck_assert_ptr_null(pricing_find(p, "llama-3-70b"));
	/* OpenAI without a write price: a write costs plain input */
	pr = pricing_find(p, "gpt-4.1");
	ck_assert_int_eq(pr->cache_write, pr->input);
	/* Claude on Bedrock by its model id, priced like Anthropic's own */
	pr = pricing_find(p, "anthropic.claude-sonnet-4-5-20250929-v1:0");
	ck_assert_ptr_nonnull(pr);
	ck_assert_str_eq(pr->model, "anthropic.claude-sonnet-4-5");
	ck_assert_int_eq(pr->input, pricing_find(p, "claude-sonnet-4-5")->input);
	ck_assert_int_eq(pr->cache_write_1h, pricing_find(p, "claude-sonnet-4-5")->cache_write_1h);
	ck_assert_int_eq(pr->cache_read, pricing_find(p, "claude-sonnet-4-5")->cache_read);
	ck_assert_str_eq(pricing_find(p, "anthropic.claude-haiku-4-5-20251001-v1:0")->model,
	                 "anthropic.claude-haiku-4-5");
	pricing_free(p);
	diags_free(&d);
}
END_TEST

/* Claude on Vertex AI: Anthropic's prices at the global endpoint, 10% more
 * at a regional one for Sonnet 4.5 and later; older models the same
 * everywhere; another kind never sees a scoped entry. */
START_TEST(test_scoped_entries)
{
	struct diags d = { 0 };
	struct pricing *p = NULL;
	const struct price *pr;
	int rc;

	ck_assert_int_eq(pricing_load(TEST_SOURCE_DIR "/config/pricing.conf", &d, &p), 0);
	pr = pricing_find_for(p, "vertex", "global", "claude-sonnet-4-5@20250929");
	ck_assert_str_eq(pr->kind, "vertex");
	ck_assert_str_eq(pr->region, "global");
	ck_assert_int_eq(pr->input, 3000000);
	pr = pricing_find_for(p, "vertex", "us-east5", "claude-sonnet-4-5@20250929");
	ck_assert_str_eq(pr->kind, "vertex");
	ck_assert_ptr_null(pr->region);
	ck_assert_int_eq(pr->input, 3300000);
	ck_assert_int_eq(pr->cache_write, 4125000);
	ck_assert_int_eq(pr->cache_write_1h, 6600000);
	ck_assert_int_eq(pr->cache_read, 330000);
	ck_assert_int_eq(pr->output, 16500000);
	pr = pricing_find_for(p, "vertex", "europe-west1", "claude-haiku-4-5@20251001");
	ck_assert_int_eq(pr->input, 1100000);
	pr = pricing_find_for(p, "vertex", "us-east5", "claude-opus-4-1@20250805");
	ck_assert_ptr_null(pr->kind); /* no regional premium: Anthropic's entry */
	ck_assert_int_eq(pr->input, 15000000);
	pr = pricing_find_for(p, "anthropic", NULL, "claude-sonnet-4-5-20250929");
	ck_assert_ptr_null(pr->kind);
	ck_assert_int_eq(pr->input, 3000000);
	ck_assert_ptr_null(pricing_find(p, "claude-sonnet-4-5@20250929")->kind);
	pricing_free(p);
	diags_free(&d);

	/* The longest prefix first, then the most specific; the same scope and
	 * model replace each other; kind and region must be strings. */
	p = load_text("pricing = (\n"
	              "  { model = \"m\"; input = 1.0; cache_read = 0.1; },\n"
	              "  { model = \"m-1\"; input = 2.0; cache_read = 0.1; },\n"
	              "  { kind = \"k\"; model = \"m\"; input = 3.0; cache_read = 0.1; },\n"
	              "  { kind = \"k\"; region = \"r\"; model = \"m\"; input = 4.0; cache_read = "
	              "0.1; },\n"
	              "  { kind = \"k\"; region = \"r\"; model = \"m\"; input = 5.0; cache_read = "
	              "0.1; }\n"
	              ");\n",
	              &d, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(p->n, 4);
	ck_assert_int_eq(pricing_find_for(p, "k", "r", "m-2")->input, 5000000);
	ck_assert_int_eq(pricing_find_for(p, "k", "q", "m-2")->input, 3000000);
	ck_assert_int_eq(pricing_find_for(p, "j", "r", "m-2")->input, 1000000);
	ck_assert_int_eq(pricing_find_for(p, "k", "r", "m-1")->input, 2000000);
	pricing_free(p);
	diags_free(&d);
	p = load_text("pricing = ( { kind = 3; region = \"\"; model = \"m\"; input = 1.0; "
	              "cache_read = 0.1; } );\n",
	              &d, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(d.errors, 2);
	ck_assert_ptr_nonnull(
	        strstr(d.v[0].text, "pricing \"m\": kind must be a non-empty string"));
	diags_free(&d);
}
END_TEST

START_TEST(test_exact_money)
{
	struct price pr = { .input = 3000000,
		            .cache_write = 3750000,
		            .cache_write_1h = 6000000,
		            .cache_read = 300000,
		            .output = 15000000 };
	struct warm_usage u = { .read = 3057, .write = 0, .input = 12, .output = 0 };
	json_object *o = json_object_new_object();
	int64_t sum = 0;

	ck_assert_int_eq(pricing_cost(&pr, &u, 300), 3057LL * 300000 + 12LL * 3000000);
	u.read = 0;
	u.write = 3057;
	ck_assert_int_eq(pricing_cost(&pr, &u, 300), 3057LL * 3750000 + 12LL * 3000000);
	ck_assert_int_eq(pricing_cost(&pr, &u, 3600), 3057LL * 6000000 + 12LL * 3000000);
	/* a million warms of a tenth of a cent add up exactly */
	for (int i = 0; i < 1000000; i++)
		sum += pricing_read(&pr, 3333);
	ck_assert_int_eq(sum, 1000000LL * 3333 * 300000);
	jsonx_add_usd(o, "a", sum);
	jsonx_add_usd(o, "b", 11463750000LL); /* $0.01146375 -> 0.011464 */
	jsonx_add_usd(o, "c", 0);
	jsonx_add_usd(o, "d", -1500000);
	ck_assert_str_eq(jsonx_dump(o, NULL),
	                 "{\"a\":999.900000,\"b\":0.011464,\"c\":0.000000,\"d\":-0.000002}");
	json_object_put(o);
	ck_assert(pricing_usd(PICO_PER_USD) == 1.0);
}
END_TEST

START_TEST(test_bad_tables)
{
	struct diags d = { 0 };
	int rc;
	struct pricing *p =
	        load_text("pricing = (\n"
	                  "  { model = \"m1\"; input = 1.0; cache_read = 0.1; },\n"
	                  "  { model = \"m2\"; input = \"cheap\"; cache_read = 0.1; },\n"
	                  "  { model = \"m3\"; input = -1.0; cache_read = 0.1; },\n"
	                  "  { model = \"m4\"; cache_read = 0.1; },\n"
	                  "  { model = \"m5\"; input = 1.0; cache_read = 0.1; discount = 2; },\n"
	                  "  { input = 1.0; }\n"
	                  ");\n",
	                  &d, &rc);

	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(d.errors, 5);
	ck_assert_int_eq(d.v[0].line, 3);
	ck_assert_ptr_nonnull(strstr(d.v[0].text, "input must be a number"));
	ck_assert_int_eq(d.v[1].line, 4);
	ck_assert_ptr_nonnull(strstr(d.v[1].text, "out of range"));
	ck_assert_ptr_nonnull(strstr(d.v[2].text, "input and cache_read are required"));
	ck_assert_ptr_nonnull(strstr(d.v[3].text, "unknown key \"discount\""));
	ck_assert_ptr_nonnull(strstr(d.v[4].text, "needs a model"));
	diags_free(&d);
	p = load_text("pricing = ( { model = \"x\"; input = 2; cache_read = 0.5; } );\n", &d, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(p->v[0].input, 2000000); /* integers are fine */
	pricing_free(p);
	diags_free(&d);
}
END_TEST

/* Issue 10: a touch reporting cached=3000000000000 made the saving
 * overflow (UBSan in pricing_write) and go negative. Every product and sum
 * of money is checked: it saturates at $4,000,000, never wraps. */
START_TEST(test_absurd_counts_saturate)
{
	struct price sonnet = { .input = 3000000,
		                .cache_write = 3750000,
		                .cache_write_1h = 6000000,
		                .cache_read = 300000,
		                .output = 15000000 };
	struct warm_usage u = {
		.read = INT64_MAX, .write = INT64_MAX, .input = INT64_MAX, .output = INT64_MAX
	};
	const int64_t max = 4000000000000000000LL; /* $4,000,000 */
	int64_t w, r;

	w = pricing_write(&sonnet, 3000000000000LL, 300);
	r = pricing_read(&sonnet, 3000000000000LL);
	ck_assert_int_ge(w, 0);
	ck_assert_int_ge(r, 0);
	ck_assert_int_ge(w - r, 0);
	ck_assert_int_le(w, max);
	ck_assert_int_eq(pricing_cost(&sonnet, &u, 3600), max);
	ck_assert_int_eq(pricing_read(&sonnet, INT64_MAX), max);
	u.read = u.write = u.input = u.output = -5; /* never a credit */
	ck_assert_int_eq(pricing_cost(&sonnet, &u, 300), 0);
}
END_TEST

START_TEST(test_checked_money)
{
	struct price top = { .input = BOUNDS_MAX_PRICE_PICO,
		             .cache_write = BOUNDS_MAX_PRICE_PICO,
		             .cache_write_1h = BOUNDS_MAX_PRICE_PICO,
		             .cache_read = BOUNDS_MAX_PRICE_PICO,
		             .output = BOUNDS_MAX_PRICE_PICO };
	struct warm_usage u = { .read = BOUNDS_MAX_TOKENS,
		                .write = BOUNDS_MAX_TOKENS,
		                .input = BOUNDS_MAX_TOKENS,
		                .output = BOUNDS_MAX_TOKENS };
	struct price odd = { .cache_read = 5, .cache_write = 3, .cache_write_1h = 3 };
	json_object *o = json_object_new_object();
	int64_t acc;

	/* at the bounds everything is still exact, far below saturation */
	ck_assert_int_eq(pricing_cost(&top, &u, 300),
	                 4 * BOUNDS_MAX_TOKENS * BOUNDS_MAX_PRICE_PICO);
	ck_assert_int_lt(pricing_cost(&top, &u, 300), PRICING_MAX_PICO / 8);
	ck_assert_int_eq(pricing_mul(BOUNDS_MAX_TOKENS, BOUNDS_MAX_PRICE_PICO),
	                 100000000000000000LL);
	ck_assert_int_eq(pricing_mul(INT64_MAX, INT64_MAX), PRICING_MAX_PICO);
	ck_assert_int_eq(pricing_mul(-1, 5), 0);
	ck_assert_int_eq(pricing_sum(PRICING_MAX_PICO, INT64_MAX), PRICING_MAX_PICO);
	ck_assert_int_eq(pricing_sum(-PRICING_MAX_PICO, INT64_MIN), -PRICING_MAX_PICO);
	ck_assert_int_eq(pricing_sum(INT64_MAX, 1), PRICING_MAX_PICO);
	ck_assert_int_eq(pricing_sum(7, -9), -2);
	/* a saving is never negative, even with reads dearer than writes */
	ck_assert_int_eq(pricing_saving(&odd, 1000, 300), 0);
	ck_assert_int_eq(pricing_saving(&top, 1000, 300), 0);
	odd.cache_write = 8;
	ck_assert_int_eq(pricing_saving(&odd, 1000, 300), 3000);
	/* an accumulator saturates and says so once */
	acc = PRICING_MAX_PICO - 10;
	ck_assert(!pricing_add(&acc, 9));
	ck_assert_int_eq(acc, PRICING_MAX_PICO - 1);
	ck_assert(pricing_add(&acc, 11));
	ck_assert_int_eq(acc, PRICING_MAX_PICO);
	ck_assert(!pricing_add(&acc, INT64_MAX));
	ck_assert(!pricing_add(&acc, 1));
	ck_assert_int_eq(acc, PRICING_MAX_PICO);
	/* and prints as it is */
	jsonx_add_usd(o, "max", acc);
	jsonx_add_usd(o, "min", -acc);
	ck_assert_str_eq(jsonx_dump(o, NULL), "{\"max\":4000000.000000,\"min\":-4000000.000000}");
	json_object_put(o);
}
END_TEST

START_TEST(test_price_bound)
{
	struct diags d = { 0 };
	int rc;
	struct pricing *p = load_text("pricing = (\n"
	                              "  { model = \"a\"; input = 1000.0; cache_read = 1000; },\n"
	                              "  { model = \"b\"; input = 1.0; cache_read = 0.1; "
	                              "output = 1000.5; },\n"
	                              "  { model = \"c\"; input = 1e300; cache_read = 0.1; }\n"
	                              ");\n",
	                              &d, &rc);

	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(d.errors, 2);
	ck_assert_int_eq(d.v[0].line, 3);
	ck_assert_msg(
	        strstr(d.v[0].text,
	               "output = 1000.5 is out of range: from 0 to 1000 USD per million tokens"),
	        "%s", d.v[0].text);
	ck_assert_int_eq(d.v[1].line, 4);
	ck_assert_ptr_nonnull(strstr(d.v[1].text, "input = 1e+300 is out of range"));
	diags_free(&d);
	p = load_text("pricing = ( { model = \"a\"; input = 1000; cache_read = 1000.0; } );\n", &d,
	              &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(p->v[0].input, BOUNDS_MAX_PRICE_PICO);
	pricing_free(p);
	diags_free(&d);
}
END_TEST

/* Gemini's explicit caches: storage per million tokens per hour, prorated;
 * a cloud's own entry (kind = "azure-openai") before the model's. */
START_TEST(test_storage_and_kind_entries)
{
	struct diags d = { 0 };
	struct pricing *p = NULL;
	const struct price *pr;
	int rc;

	ck_assert_int_eq(pricing_load(TEST_SOURCE_DIR "/config/pricing.conf", &d, &p), 0);
	pr = pricing_find_for(p, "gemini", NULL, "gemini-2.5-flash-001");
	ck_assert_str_eq(pr->model, "gemini-2.5-flash");
	ck_assert(pr->has_storage);
	ck_assert_int_eq(pr->storage, 1000000);       /* $1 / MTok / hour */
	ck_assert_int_eq(pr->cache_write, pr->input); /* creating bills input */
	ck_assert_str_eq(pricing_find(p, "gemini-2.5-flash-lite")->model, "gemini-2.5-flash-lite");
	/* 32,768 tokens kept 5 minutes: 32768 * $1e-6 / 12 */
	ck_assert_int_eq(pricing_storage(pr, 32768, 300), 2730666667);
	ck_assert_int_eq(pricing_storage(pr, 32768, 0), 0);
	ck_assert_int_eq(pricing_storage(pr, -1, 300), 0);
	{
		struct price top = { .storage = (int64_t)BOUNDS_MAX_USD_PER_MTOK * 1000000 };
		ck_assert_int_eq(pricing_storage(&top, BOUNDS_MAX_TOKENS, 365 * 86400.0),
		                 PRICING_MAX_PICO); /* a year at the bounds saturates */
	}
	pr = pricing_find_for(p, "azure-openai", NULL, "gpt-4o-support");
	ck_assert_str_eq(pr->model, "gpt-4o");
	ck_assert_str_eq(pr->kind, "azure-openai");
	ck_assert_ptr_null(pricing_find_for(p, "openai", NULL, "gpt-4o-2024")->kind);
	ck_assert_ptr_null(pricing_find_for(p, NULL, NULL, "gpt-4o")->kind);
	ck_assert_ptr_null(pricing_find_for(p, "azure-openai", NULL, "llama"));
	ck_assert(!pricing_find(p, "gpt-4.1")->has_storage);
	pricing_free(p);
	diags_free(&d);
	p = load_text("pricing = ( { model = \"gpt-4o\"; input = 2.5; cache_read = 1.25; "
	              "storage = 0.5; } );\n",
	              &d, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(pricing_find(p, "gpt-4o")->storage, 500000);
	pricing_free(p);
	diags_free(&d);
	p = load_text(
	        "pricing = ( { model = \"g\"; input = 1.0; cache_read = 0.1; storage = -1; } );\n",
	        &d, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_null(p);
	diags_free(&d);
}
END_TEST

/* A cache billed by the hour: storage for a TTL against creating it again,
 * per token, from the price or Gemini Flash's usual prices. */
START_TEST(test_keep_or_recreate)
{
	struct price pr = { .input = 300000, .storage = 1000000, .has_storage = true };
	double keep, recreate;

	pricing_keep_or_recreate(&pr, 60, &keep, &recreate);
	ck_assert_double_eq_tol(keep, 1000000.0 * 60 / 3600, 1e-6); /* a minute of storage */
	ck_assert_double_eq_tol(recreate, 300000.0, 1e-6);
	pricing_keep_or_recreate(NULL, 60, &keep, &recreate); /* USD per MTok */
	ck_assert_double_eq_tol(keep / recreate, (1.00 * 60 / 3600) / 0.30, 1e-9);
	pr.has_storage = false;
	pricing_keep_or_recreate(&pr, 3600, &keep, &recreate);
	ck_assert_double_eq_tol(keep / recreate, 1.00 / 0.30, 1e-9);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pricing");
	TCase *tc = tcase_create("pricing");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_shipped_table);
	tcase_add_test(tc, test_scoped_entries);
	tcase_add_test(tc, test_exact_money);
	tcase_add_test(tc, test_storage_and_kind_entries);
	tcase_add_test(tc, test_keep_or_recreate);
	tcase_add_test(tc, test_bad_tables);
	tcase_add_test(tc, test_absurd_counts_saturate);
	tcase_add_test(tc, test_checked_money);
	tcase_add_test(tc, test_price_bound);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

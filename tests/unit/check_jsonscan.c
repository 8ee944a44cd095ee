/* check_jsonscan: common/jsonscan.c, the tree-less reader of usage fields,
 * and the adapters' parse_ok(), which use it before json-c.
 *
 * The scanner may decline anything, but what it answers must be what
 * json-c's tree holds, and parse_ok() must give the same verdict either
 * way. Both are checked on the fixtures and on many random bodies, built
 * from the keys answers use, with broken numbers, strings, nesting and
 * bytes mixed in. The oracle for parse_ok() is the same body disguised so
 * that the scanner declines it (an escaped key in front, which json-c reads
 * as one more unrelated field). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "buf.h"
#include "jsonscan.h"
#include "jsonx.h"
#include "adapter_anthropic.h"
#include "adapter_openai.h"
#include "testutil.h"

static struct jsonscan_field anthropic_fields[] = {
	{ "usage", JSONSCAN_OBJECT, false, 0 },
	{ "usage.cache_read_input_tokens", JSONSCAN_INT, false, 0 },
	{ "usage.cache_creation_input_tokens", JSONSCAN_INT, false, 0 },
	{ "usage.input_tokens", JSONSCAN_INT, false, 0 },
	{ "usage.output_tokens", JSONSCAN_INT, false, 0 },
};

static struct jsonscan_field openai_fields[] = {
	{ "usage", JSONSCAN_OBJECT, false, 0 },
	{ "usage.prompt_tokens", JSONSCAN_INT, false, 0 },
	{ "usage.prompt_tokens_details", JSONSCAN_OBJECT, false, 0 },
	{ "usage.prompt_tokens_details.cached_tokens", JSONSCAN_INT, false, 0 },
	{ "timings", JSONSCAN_OBJECT, false, 0 },
	{ "timings.cache_n", JSONSCAN_INT, false, 0 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int scan(const char *s, struct jsonscan_field *f, size_t n)
{
	return jsonscan_fields(s, strlen(s), f, n, BOUNDS_MAX_TOKENS);
}

START_TEST(test_plain_answer)
{
	const char *s = "{\"id\":\"msg_1\",\"content\":[],\"stop_sequence\":null,\"usage\":"
	                "{\"input_tokens\":4,\"cache_creation_input_tokens\":0,"
	                "\"cache_read_input_tokens\":2048,\"cache_creation\":"
	                "{\"ephemeral_5m_input_tokens\":0},\"output_tokens\":null,"
	                "\"x\":[1.5,-2,true,false,{}]}}\n";
	struct jsonscan_field *f = anthropic_fields;

	ck_assert_int_eq(scan(s, f, N(anthropic_fields)), 0);
	ck_assert(f[0].found);
	ck_assert(f[1].found && f[1].value == 2048);
	ck_assert(f[2].found && f[2].value == 0);
	ck_assert(f[3].found && f[3].value == 4);
	ck_assert(!f[4].found); /* null reads as absent */
}
END_TEST

START_TEST(test_declines)
{
	static const char *const docs[] = {
		"",
		"[]",
		"{\"usage\":{}} x",
		"{\"usage\":{\"input_tokens\":1}",
		"{\"usage\":{\"input_tokens\":1},\"usage\":{}}",              /* last wins */
		"{\"usage\":{\"input_tokens\":1,\"input_tokens\":2}}",        /* last wins */
		"{\"usag\\u0065\":{\"input_tokens\":1}}",                     /* an escape */
		"{\"m\":\"caf\xc3\xa9\",\"usage\":{}}",                       /* not ASCII */
		"{\"usage\":{\"input_tokens\":1e3}}",                         /* exponent */
		"{\"usage\":{\"input_tokens\":1.0}}",                         /* a double */
		"{\"usage\":{\"input_tokens\":-1}}",                          /* negative */
		"{\"usage\":{\"input_tokens\":-0}}",                          /* negative zero */
		"{\"usage\":{\"input_tokens\":01}}",                          /* leading zero */
		"{\"usage\":{\"input_tokens\":100000001}}",                   /* over the bound */
		"{\"usage\":{\"input_tokens\":1234567890123456}}",            /* 16 digits */
		"{\"usage\":{\"input_tokens\":\"4\"}}",                       /* a string */
		"{\"usage\":{\"input_tokens\":true}}",                        /* a boolean */
		"{\"usage\":[]}",                                             /* not an object */
		"{\"usage\":{\"input_tokens\":1},}",                          /* trailing comma */
		"{\"a\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]],\"usage\":{}}", /* deep */
		"{\"a\":tru,\"usage\":{}}",
		"{\"a\":\"\t\",\"usage\":{}}", /* control char */
	};

	for (size_t i = 0; i < N(docs); i++)
		ck_assert_msg(scan(docs[i], anthropic_fields, N(anthropic_fields)) < 0,
		              "accepted %s", docs[i]);
	/* A path whose container is not asked for is refused outright. */
	{
		struct jsonscan_field f[] = { { "usage.input_tokens", JSONSCAN_INT, false, 0 } };
		ck_assert_int_lt(scan("{\"usage\":{\"input_tokens\":1}}", f, 1), 0);
	}
}
END_TEST

/* ---- random bodies -------------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const keys[] = {
	"usage",
	"input_tokens",
	"cache_read_input_tokens",
	"output_tokens",
	"cache_creation_input_tokens",
	"prompt_tokens",
	"completion_tokens",
	"prompt_tokens_details",
	"input_tokens_details",
	"cached_tokens",
	"cache_write_tokens",
	"timings",
	"cache_n",
	"prompt_n",
	"id",
	"x",
};
static const char *const numbers[] = {
	"0",
	"1",
	"7",
	"2048",
	"4096",
	"100000000",
	"100000001",
	"3000000000000",
	"-1",
	"-0",
	"1.5",
	"1e3",
	"01",
	"18446744073709551615",
	"1234567890123456",
	"12",
	"300",
	"1024",
	"2.0",
	"99999",
	"5",
};
static const char *const strings[] = {
	"\"msg\"", "\"\"", "\"caf\xc3\xa9\"", "\"a\\u0073b\"", "\"\\n\"", "\"bad\xff\"",
};

static void gen_value(struct buf *b, int depth);

static void gen_object(struct buf *b, int depth)
{
	unsigned n = rnd(5);

	buf_puts(b, "{");
	for (unsigned i = 0; i < n; i++) {
		if (i)
			buf_puts(b, rnd(40) ? "," : " , ");
		buf_printf(b, "\"%s\":", keys[rnd(N(keys))]);
		gen_value(b, depth + 1);
	}
	buf_puts(b, "}");
}

static void gen_value(struct buf *b, int depth)
{
	unsigned k = rnd(depth > 4 ? 6 : 10);

	if (k < 3)
		buf_puts(b, numbers[rnd(N(numbers))]);
	else if (k == 3)
		buf_puts(b, strings[rnd(N(strings))]);
	else if (k == 4)
		buf_puts(b, rnd(3) == 0 ? "true" : rnd(2) ? "null" : "false");
	else if (k == 5)
		buf_puts(b, "[]");
	else if (k < 9)
		gen_object(b, depth);
	else {
		buf_puts(b, "[");
		gen_value(b, depth + 1);
		buf_puts(b, "]");
	}
}

/* Mostly answer-shaped: {"id":..,"usage":{...}}, sometimes broken. */
static void gen_body(struct buf *b)
{
	buf_reset(b);
	if (rnd(20) == 0) {
		gen_value(b, 0);
	} else {
		buf_puts(b, rnd(10) == 0 ? " {" : "{");
		if (rnd(2))
			buf_puts(b, "\"id\":\"msg_1\",");
		buf_puts(b, "\"usage\":");
		gen_object(b, 1);
		if (rnd(3) == 0) {
			buf_printf(b, ",\"%s\":", keys[rnd(N(keys))]);
			gen_object(b, 1);
		}
		buf_puts(b, rnd(10) == 0 ? "}\n" : "}");
	}
	switch (rnd(12)) {
	case 0:
		if (b->len > 1)
			b->len = rnd((unsigned)b->len); /* truncated */
		break;
	case 1:
		if (b->len)
			b->data[rnd((unsigned)b->len)] ^= (char)(1u << rnd(8)); /* a flipped bit */
		break;
	default:
		break;
	}
	buf_puts(b, ""); /* NUL-terminated for the adapters' callers */
}

static json_object *tree_get(json_object *o, const char *path)
{
	char key[64];

	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		o = jsonx_get(o, key);
		path += n + (dot ? 1 : 0);
	}
	return o;
}

/* Whatever the scanner answers, json-c's tree holds the same. */
static int check_against_tree(const struct buf *b, struct jsonscan_field *f, size_t n)
{
	json_object *doc = NULL;
	struct errmsg e;

	if (jsonscan_fields(b->data, b->len, f, n, BOUNDS_MAX_TOKENS) < 0)
		return 0;
	ck_assert_msg(jsonx_parse(b->data, b->len, 0, &doc, &e) == 0, "scanned, json-c says %s: %s",
	              e.text, b->data);
	for (size_t i = 0; i < n; i++) {
		json_object *v = tree_get(doc, f[i].path);
		ck_assert_msg(f[i].found == (v != NULL), "%s found %d in %s", f[i].path, f[i].found,
		              b->data);
		if (v && f[i].kind == JSONSCAN_INT)
			ck_assert_msg(json_object_is_type(v, json_type_int) &&
			                      json_object_get_int64(v) == f[i].value,
			              "%s = %lld in %s", f[i].path, (long long)f[i].value, b->data);
		if (v && f[i].kind == JSONSCAN_OBJECT)
			ck_assert(json_object_is_type(v, json_type_object));
	}
	json_object_put(doc);
	return 1;
}

/* parse_ok() on b and on b disguised gives the same verdict. */
static void check_adapter(const struct adapter_ops *ops, const struct buf *b)
{
	struct warm_usage u1, u2;
	struct errmsg e1 = { "" }, e2 = { "" };
	struct buf d = BUF_INIT;
	size_t lead = 0;
	int r1, r2;

	while (lead < b->len && strchr(" \t\r\n", b->data[lead]))
		lead++;
	if (lead >= b->len || b->data[lead] != '{')
		return; /* not an object: the scanner declines it anyway */
	buf_append(&d, b->data, lead + 1);
	buf_puts(&d, "\"\\u0078\":0");
	{
		size_t k = lead + 1;
		while (k < b->len && strchr(" \t\r\n", b->data[k]))
			k++;
		if (k < b->len && b->data[k] != '}')
			buf_puts(&d, ",");
	}
	buf_append(&d, b->data + lead + 1, b->len - lead - 1);
	r1 = ops->parse_ok(b->data, b->len, &u1, &e1);
	r2 = ops->parse_ok(d.data, d.len, &u2, &e2);
	ck_assert_msg(r1 == r2, "%d vs %d (%s / %s) for %s", r1, r2, e1.text, e2.text, b->data);
	if (r1 == 0)
		ck_assert_msg(u1.result == u2.result && u1.read == u2.read &&
		                      u1.write == u2.write && u1.input == u2.input &&
		                      u1.output == u2.output,
		              "usage differs for %s", b->data);
	else if (!strstr(e1.text, "not JSON"))
		ck_assert_str_eq(e1.text, e2.text);
	buf_free(&d);
}

static const struct adapter_ops *const all_ops[] = {
	&adapter_anthropic_ops,
	&adapter_openai_ops,
	&adapter_openai_compat_ops,
};

START_TEST(test_fixtures_both_ways)
{
	static const char *const files[] = {
		"anthropic/response_hit.json",
		"anthropic/response_write.json",
		"openai/response_hit.json",
		"openai/response_llamacpp.json",
	};
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < N(files); i++) {
		size_t len;
		char *data = tu_fixture(files[i], &len);
		buf_reset(&b);
		buf_append(&b, data, len);
		buf_puts(&b, "");
		free(data);
		for (size_t k = 0; k < N(all_ops); k++)
			check_adapter(all_ops[k], &b);
		/* the fixtures are answers of the plain kind: the scanner reads them */
		ck_assert_int_eq(check_against_tree(&b, anthropic_fields, N(anthropic_fields)) +
		                         check_against_tree(&b, openai_fields, N(openai_fields)),
		                 2);
	}
	buf_free(&b);
}
END_TEST

START_TEST(test_random_bodies)
{
	struct buf b = BUF_INIT;
	unsigned scanned = 0, total = 30000;

	for (unsigned i = 0; i < total; i++) {
		gen_body(&b);
		scanned += (unsigned)check_against_tree(&b, anthropic_fields, N(anthropic_fields));
		check_against_tree(&b, openai_fields, N(openai_fields));
		for (size_t k = 0; k < N(all_ops); k++)
			check_adapter(all_ops[k], &b);
	}
	/* Both paths were exercised: neither almost always nor almost never. */
	ck_assert_uint_gt(scanned, total / 10);
	ck_assert_uint_lt(scanned, total * 9 / 10);
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jsonscan");
	TCase *tc = tcase_create("jsonscan");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_plain_answer);
	tcase_add_test(tc, test_declines);
	tcase_add_test(tc, test_fixtures_both_ways);
	tcase_add_test(tc, test_random_bodies);
	suite_add_tcase(s, tc);
	{
		SRunner *sr = srunner_create(s);
		int failed;
		srunner_run_all(sr, CK_NORMAL);
		failed = srunner_ntests_failed(sr);
		srunner_free(sr);
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;
	}
}

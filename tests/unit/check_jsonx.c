/* check_jsonx: round-trip fidelity and strictness of common/jsonx.c (json-c).
 *
 * warmd sends the application's template back byte-for-byte except for the
 * fields it must change, so these tests pin the exact bytes json-c re-emits
 * and the exact places where the strict parser says no. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonx.h"
#include "testutil.h"

/* A pointer value the parser must leave alone when it fails. */
static json_object *const UNTOUCHED = (json_object *)&UNTOUCHED;

static json_object *parse_ok(const char *s, size_t len, int max_depth, int line)
{
	struct errmsg e = { { 0 } };
	json_object *o = NULL;
	int r = jsonx_parse(s, len, max_depth, &o, &e);

	ck_assert_msg(r == 0, "line %d: jsonx_parse(%.80s) = %d (%s), expected success", line, s, r,
	              e.text);
	ck_assert_msg(o != NULL, "line %d: no object", line);
	return o;
}

/* Parses compact JSON and checks that jsonx_dump gives the same bytes back. */
static void roundtrip(const char *s, int line)
{
	json_object *o = parse_ok(s, strlen(s), 0, line);
	size_t len = 0;
	const char *out = jsonx_dump(o, &len);
	bool same = len == strlen(s) && memcmp(out, s, len) == 0 && strlen(out) == len;
	char got[1024];

	/* Free before asserting, so that a failure leaks nothing under valgrind. */
	snprintf(got, sizeof(got), "%s", out);
	json_object_put(o);
	ck_assert_msg(same, "line %d: round trip changed the bytes:\n in: %s\nout: %s (len %zu)",
	              line, s, got, len);
}
#define ROUNDTRIP(s) roundtrip(s, __LINE__)

/* ---- round trip ------------------------------------------------------------------ */

START_TEST(test_roundtrip_floats)
{
	ROUNDTRIP("[0.1,1.0,1e-7,-0.0,2.50,3.141592653589793238]");
	ROUNDTRIP("{\"a\":0.1,\"b\":1.0,\"c\":1e-7,\"d\":-0.0,\"e\":2.50}");
	ROUNDTRIP("[1E+2,1.5e3,-2.0e-10,0.30000000000000004,100.000]");
	ROUNDTRIP("[0,1,-1,0.0,-0.0]");
}
END_TEST

START_TEST(test_roundtrip_floats_values)
{
	/* The text is kept, and the value is still the number it spells. */
	const char *in = "[0.1,1.0,1e-7,-0.0,2.50]";
	json_object *o = parse_ok(in, strlen(in), 0, __LINE__);

	ck_assert(json_object_is_type(json_object_array_get_idx(o, 0), json_type_double));
	ck_assert(json_object_get_double(json_object_array_get_idx(o, 0)) == 0.1);
	ck_assert(json_object_get_double(json_object_array_get_idx(o, 1)) == 1.0);
	ck_assert(json_object_get_double(json_object_array_get_idx(o, 2)) == 1e-7);
	ck_assert(signbit(json_object_get_double(json_object_array_get_idx(o, 3))));
	ck_assert(json_object_get_double(json_object_array_get_idx(o, 4)) == 2.5);
	json_object_put(o);
}
END_TEST

START_TEST(test_roundtrip_integers)
{
	const char *big = "[9223372036854775807,18446744073709551614,-9223372036854775807]";
	json_object *o, *v;

	ROUNDTRIP("[9223372036854775807,-9223372036854775808,18446744073709551614]");
	ROUNDTRIP("{\"max_tokens\":4096,\"seed\":-1,\"n\":0}");

	o = parse_ok(big, strlen(big), 0, __LINE__);
	v = json_object_array_get_idx(o, 0);
	ck_assert(json_object_is_type(v, json_type_int));
	ck_assert(json_object_get_int64(v) == INT64_MAX);
	v = json_object_array_get_idx(o, 1);
	ck_assert(json_object_is_type(v, json_type_int));
	ck_assert(json_object_get_uint64(v) == UINT64_MAX - 1);
	v = json_object_array_get_idx(o, 2);
	ck_assert(json_object_get_int64(v) == -INT64_MAX);
	json_object_put(o);
}
END_TEST

START_TEST(test_roundtrip_unicode)
{
	/* Raw UTF-8 stays raw: é (2 bytes), ☕ (3), 日本語 (3 each), 😀 (4). */
	ROUNDTRIP("[\"caf\xc3\xa9\",\"\xe2\x98\x95\",\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\","
	          "\"\xf0\x9f\x98\x80\"]");
	ROUNDTRIP("{\"\xc3\xa9t\xc3\xa9\":\"\xf0\x9f\x9a\x80 \xe4\xb8\xad\"}");
}
END_TEST

START_TEST(test_roundtrip_escapes)
{
	ROUNDTRIP("[\"a\\nb\",\"say \\\"hi\\\"\",\"back\\\\slash\",\"\\u0001\",\"\\t\\r\\b\\f\"]");
	/* '/' is not escaped on output. */
	ROUNDTRIP("[\"https://example.invalid/a/b\",\"</script>\"]");
	ROUNDTRIP("{\"k\\\"ey\":\"\\u001f\"}");
}
END_TEST

START_TEST(test_escape_normalisation)
{
	/* Escapes that are not needed are written as the character itself, and
	 * the integer -0 (json-c keeps no sign on integers) as 0: the only
	 * places where the output differs from valid input. */
	const char *in = "[\"\\/\",\"\\u00e9\",\"\\u0041\",-0]";
	json_object *o = parse_ok(in, strlen(in), 0, __LINE__);

	ck_assert_str_eq(jsonx_dump(o, NULL), "[\"/\",\"\xc3\xa9\",\"A\",0]");
	json_object_put(o);
}
END_TEST

START_TEST(test_roundtrip_order_and_nesting)
{
	ROUNDTRIP("{\"z\":1,\"a\":2,\"m\":3,\"b\":{\"y\":[],\"x\":{}}}");
	ROUNDTRIP("[[[1,[2,[3]]],{\"a\":[{\"b\":[{\"c\":null}]}]}],true,false,null,\"\"]");
	ROUNDTRIP("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
	          "\"x\",\"cache_control\":{\"type\":\"ephemeral\"}}]}],\"max_tokens\":1}");
}
END_TEST

START_TEST(test_replace_in_place_keeps_position)
{
	const char *in =
	        "{\"model\":\"m\",\"max_tokens\":1024,\"stream\":true,\"temperature\":0.7}";
	json_object *o = parse_ok(in, strlen(in), 0, __LINE__);

	json_object_object_add(o, "max_tokens", json_object_new_int(0));
	json_object_object_add(o, "stream", json_object_new_boolean(0));
	ck_assert_str_eq(jsonx_dump(o, NULL),
	                 "{\"model\":\"m\",\"max_tokens\":0,\"stream\":false,\"temperature\":0.7}");
	/* A new key goes to the end; a deleted one disappears. */
	json_object_object_add(o, "prompt_cache_key", json_object_new_string("k"));
	json_object_object_del(o, "stream");
	ck_assert_str_eq(jsonx_dump(o, NULL),
	                 "{\"model\":\"m\",\"max_tokens\":0,\"temperature\":0.7,"
	                 "\"prompt_cache_key\":\"k\"}");
	json_object_put(o);
}
END_TEST

START_TEST(test_pretty_equals_compact)
{
	const char *compact = "{\"model\":\"m\",\"t\":1.0,\"a\":[1,2.50,{\"k\":\"v \xc3\xa9\"}],"
	                      "\"o\":{},\"e\":[]}";
	const char *pretty = "{\n"
	                     "  \"model\": \"m\",\n"
	                     "  \"t\" : 1.0,\r\n"
	                     "\t\"a\": [\n    1,\n    2.50,\n    { \"k\": \"v \xc3\xa9\" }\n  ],\n"
	                     "  \"o\": { },\n"
	                     "  \"e\": [ ]\n"
	                     "}\n\n";
	json_object *c = parse_ok(compact, strlen(compact), 0, __LINE__);
	json_object *p = parse_ok(pretty, strlen(pretty), 0, __LINE__);

	ck_assert(json_object_equal(c, p));
	ck_assert_str_eq(jsonx_dump(p, NULL), compact);
	json_object_put(c);
	json_object_put(p);
}
END_TEST

START_TEST(test_dump_len)
{
	const char *in = "{\"a\":\"\xc3\xa9\"}";
	json_object *o = parse_ok(in, strlen(in), 0, __LINE__);
	size_t len = 0;
	const char *s = jsonx_dump(o, &len);

	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(s, "{\"a\":\"\xc3\xa9\"}");
	json_object_put(o);
}
END_TEST

START_TEST(test_parse_respects_len)
{
	/* Only s[0..len) is read: the rest of the buffer is not part of the document. */
	const char *s = "[1,2] garbage";
	json_object *o = parse_ok(s, 5, 0, __LINE__);

	ck_assert_str_eq(jsonx_dump(o, NULL), "[1,2]");
	json_object_put(o);
}
END_TEST

START_TEST(test_top_level_scalars)
{
	/* RFC 8259: any value is a JSON text, a bare number included. */
	static const char *const in[] = { "\"s\"", "true", "null", "[]", "{}", "42", "-0.5" };
	const char *s = in[_i];
	struct errmsg e = { { 0 } };
	json_object *o = UNTOUCHED;
	int r = jsonx_parse(s, strlen(s), 0, &o, &e);

	ck_assert_msg(r == 0, "jsonx_parse(%s) = %d (%s), expected success", s, r, e.text);
	/* json-c spells null as a NULL object. */
	ck_assert(strcmp(s, "null") == 0 ? o == NULL : o != NULL);
	ck_assert_str_eq(jsonx_dump(o, NULL), s);
	json_object_put(o);
}
END_TEST

/* ---- strict parsing ----------------------------------------------------------------- */

struct bad_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	int line, col;
};

/* Rejected by RFC 8259, with the position of the first offending character
 * (or of the end of the input when it stops inside a value). */
static const struct bad_case bad_cases[] = {
	{ "[1,]", 0, 1, 4 },                        /* trailing comma in an array */
	{ "{\"a\":1,}", 0, 1, 8 },                  /* trailing comma in an object */
	{ "[1]//c", 0, 1, 4 },                      /* line comment */
	{ "/*c*/[1]", 0, 1, 1 },                    /* block comment */
	{ "{\"a\":/*c*/1}", 0, 1, 6 },              /* comment inside */
	{ "['a']", 0, 1, 2 },                       /* single quotes */
	{ "{'a':1}", 0, 1, 2 },                     /* single-quoted key */
	{ "[1] x", 0, 1, 5 },                       /* trailing garbage */
	{ "{\"a\":1}{}", 0, 1, 8 },                 /* two documents */
	{ "[1]\n\n  x", 0, 3, 3 },                  /* garbage lines later */
	{ "[\"\xff\"]", 0, 1, 3 },                  /* invalid UTF-8 byte */
	{ "[\"\xc3\"]", 0, 1, 3 },                  /* truncated UTF-8 sequence */
	{ "[\"abc", 0, 1, 6 },                      /* unterminated string */
	{ "{\"a\":\n[1,\n2", 0, 3, 2 },             /* unterminated, multi-line */
	{ "", 0, 1, 1 },                            /* empty */
	{ "   ", 0, 1, 4 },                         /* only whitespace */
	{ "[1,\n 2,\n 3}", 0, 3, 3 },               /* wrong closer */
	{ "{\"k\":\n  [true,\n   nul]}", 0, 3, 7 }, /* bad literal */
	{ "[TRUE]", 0, 1, 2 },                      /* literals are lower case */
	{ "[+1]", 0, 1, 2 },                        /* no plus sign */
	{ "[.5]", 0, 1, 2 },                        /* no bare fraction */
	{ "[0x10]", 0, 1, 3 },                      /* no hex */
	{ "[\"\\x\"]", 0, 1, 4 },                   /* bad escape */
	{ "[1]\0", 4, 1, 4 },                       /* NUL after the value */
	/* Below: also RFC 8259, and json-c 0.16 in strict mode lets them through. */
	{ "[NaN]", 0, 1, 2 },
	{ "[Infinity]", 0, 1, 2 },
	{ "[-Infinity]", 0, 1, 3 },
	{ "{\"temperature\":\n  NaN}", 0, 2, 3 },
	{ "[1.]", 0, 1, 4 },               /* a digit must follow the point */
	{ "[-01]", 0, 1, 4 },              /* leading zero */
	{ "[\"a\nb\"]", 0, 1, 4 },         /* raw control character in a string */
	{ "[\"\x01\"]", 0, 1, 3 },         /* raw control character in a string */
	{ "[\"\xc0\xaf\"]", 0, 1, 3 },     /* overlong UTF-8 for '/' */
	{ "[\"\xed\xa0\x80\"]", 0, 1, 3 }, /* UTF-8 encoded surrogate U+D800 */
};

START_TEST(test_strict_rejects)
{
	const struct bad_case *c = &bad_cases[_i];
	size_t len = c->len ? c->len : strlen(c->in);
	struct errmsg e = { { 0 } };
	json_object *o = UNTOUCHED;
	char want[64];
	int r = jsonx_parse(c->in, len, 0, &o, &e);

	if (r == 0) {
		char got[256];
		snprintf(got, sizeof(got), "%s", jsonx_dump(o, NULL));
		json_object_put(o);
		ck_abort_msg("case %d (%s): accepted, parsed as %s", _i, c->in, got);
	}
	ck_assert_msg(r == -EINVAL, "case %d (%s): jsonx_parse = %d, expected -EINVAL", _i, c->in,
	              r);
	ck_assert_msg(o == UNTOUCHED, "case %d: *ret changed on failure", _i);
	snprintf(want, sizeof(want), "line %d, column %d: ", c->line, c->col);
	ck_assert_msg(strncmp(e.text, want, strlen(want)) == 0,
	              "case %d (%s): message \"%s\", expected it to start with \"%s\"", _i, c->in,
	              e.text, want);
	ck_assert_msg(strlen(e.text) > strlen(want), "case %d: no reason after the position", _i);
}
END_TEST

static char *nested(int depth, int *ret_len)
{
	char *s = malloc((size_t)depth * 2 + 2);
	int n = 0;

	for (int i = 0; i < depth; i++)
		s[n++] = '[';
	s[n++] = '1';
	for (int i = 0; i < depth; i++)
		s[n++] = ']';
	s[n] = '\0';
	*ret_len = n;
	return s;
}

START_TEST(test_depth_huge_rejected)
{
	size_t n = 100000;
	char *s = malloc(n);
	struct errmsg e = { { 0 } };
	json_object *o = UNTOUCHED;
	char want[64];
	int r;

	memset(s, '[', n);
	r = jsonx_parse(s, n, 0, &o, &e);
	free(s);
	if (r == 0)
		json_object_put(o);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_eq(o, UNTOUCHED);
	/* The default limit stops it at the first bracket too deep. */
	snprintf(want, sizeof(want), "line 1, column %d: ", JSONX_MAX_DEPTH + 1);
	ck_assert_msg(strncmp(e.text, want, strlen(want)) == 0, "message: %s", e.text);
	ck_assert_ptr_nonnull(strstr(e.text, "deep"));
}
END_TEST

START_TEST(test_depth_default_limit)
{
	/* max_depth <= 0 means JSONX_MAX_DEPTH: far below it parses. */
	int len, r;
	char *s = nested(JSONX_MAX_DEPTH / 2, &len);
	struct errmsg e = { { 0 } };
	json_object *o = NULL;
	bool same;

	r = jsonx_parse(s, (size_t)len, 0, &o, &e);
	same = r == 0 && strcmp(jsonx_dump(o, NULL), s) == 0;
	json_object_put(o);
	free(s);
	ck_assert_msg(r == 0, "%d levels: %s", JSONX_MAX_DEPTH / 2, e.text);
	ck_assert(same);
}
END_TEST

START_TEST(test_depth_limit_honoured)
{
	/* A document nested exactly max_depth deep parses, one more level does not. */
	static const int depths[] = { 2, 5, 32 };
	int d = depths[_i], len;
	char *ok = nested(d, &len), *deep, want[64];
	struct errmsg e = { { 0 } };
	json_object *o = NULL;
	int r = jsonx_parse(ok, (size_t)len, d, &o, &e);

	free(ok);
	if (r == 0)
		json_object_put(o);
	ck_assert_msg(r == 0, "max_depth %d: %d levels rejected: %s", d, d, e.text);

	deep = nested(d + 1, &len);
	o = UNTOUCHED;
	r = jsonx_parse(deep, (size_t)len, d, &o, &e);
	free(deep);
	if (r == 0)
		json_object_put(o);
	ck_assert_msg(r == -EINVAL, "max_depth %d: %d levels accepted", d, d + 1);
	ck_assert_ptr_eq(o, UNTOUCHED);
	/* The bracket one level too deep is at column d + 1. */
	snprintf(want, sizeof(want), "line 1, column %d: ", d + 1);
	ck_assert_msg(strncmp(e.text, want, strlen(want)) == 0, "message: %s", e.text);
}
END_TEST

/* ---- ranges ------------------------------------------------------------------------ */

static int ranges(const char *s, struct errmsg *e)
{
	json_object *o = parse_ok(s, strlen(s), 0, __LINE__);
	int r = jsonx_check_ranges(o, e);

	json_object_put(o);
	return r;
}

START_TEST(test_ranges_reject_clamped)
{
	struct errmsg e = { { 0 } };
	json_object *o;

	ck_assert_int_eq(ranges("[99999999999999999999]", &e), -ERANGE);
	ck_assert_msg(strncmp(e.text, "$[0]: ", 6) == 0, "message: %s", e.text);
	ck_assert_ptr_nonnull(strstr(e.text, "64 bits"));

	ck_assert_int_eq(ranges("{\"a\":-99999999999999999999}", &e), -ERANGE);
	ck_assert_msg(strncmp(e.text, "$.a: ", 5) == 0, "message: %s", e.text);

	ck_assert_int_eq(ranges("{\"metadata\":{\"ids\":[1,2,{\"n\":18446744073709551616}]}}", &e),
	                 -ERANGE);
	ck_assert_msg(strncmp(e.text, "$.metadata.ids[2].n: ", 21) == 0, "message: %s", e.text);

	/* A top-level integer is named "$" (json_tokener_parse: a bare number). */
	o = json_tokener_parse("123456789012345678901234567890");
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(jsonx_check_ranges(o, &e), -ERANGE);
	ck_assert_msg(strncmp(e.text, "$: ", 3) == 0, "message: %s", e.text);
	json_object_put(o);
}
END_TEST

START_TEST(test_ranges_accept_in_range)
{
	struct errmsg e = { { 0 } };

	ck_assert_int_eq(ranges("{\"a\":[0,1,-1,4096,1e300,-1e300,\"99999999999999999999\"],"
	                        "\"b\":{\"c\":-9223372036854775807}}",
	                        &e),
	                 0);
	/* The largest integers that fit are not mistaken for clamped ones. */
	ck_assert_msg(ranges("[18446744073709551614]", &e) == 0, "UINT64_MAX-1: %s", e.text);
	ck_assert_msg(ranges("[9223372036854775807]", &e) == 0, "INT64_MAX: %s", e.text);
}
END_TEST

START_TEST(test_ranges_long_path)
{
	/* A path longer than the internal buffer is cut, not overflowed. */
	char key[300], doc[400];
	struct errmsg e = { { 0 } };

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	snprintf(doc, sizeof(doc), "{\"%s\":[99999999999999999999]}", key);
	ck_assert_int_eq(ranges(doc, &e), -ERANGE);
	ck_assert_msg(strncmp(e.text, "$.kkkk", 6) == 0, "message: %.40s", e.text);
}
END_TEST

/* ---- building values ------------------------------------------------------------------ */

static void double_text(double v, const char *want, int line)
{
	json_object *d = jsonx_new_double(v);

	ck_assert_msg(d != NULL, "line %d: NULL", line);
	ck_assert_msg(strcmp(json_object_to_json_string(d), want) == 0,
	              "line %d: %.17g -> %s, want %s", line, v, json_object_to_json_string(d),
	              want);
	ck_assert_msg(json_object_get_double(d) == v, "line %d: value changed", line);
	json_object_put(d);
}

START_TEST(test_new_double)
{
	double_text(0.1, "0.1", __LINE__);
	double_text(6, "6.0", __LINE__);
	double_text(100, "100.0", __LINE__);
	double_text(2.5, "2.5", __LINE__);
	double_text(-0.0, "-0.0", __LINE__);
	double_text(1.5e-7, "1.5e-07", __LINE__);
	double_text(0.30000000000000004, "0.30000000000000004", __LINE__);
	double_text(1e21, "1e+21", __LINE__);
	ck_assert_ptr_null(jsonx_new_double(NAN));
	ck_assert_ptr_null(jsonx_new_double(INFINITY));
	ck_assert_ptr_null(jsonx_new_double(-INFINITY));
}
END_TEST

START_TEST(test_add_helpers)
{
	json_object *o = json_object_new_object();

	jsonx_add_time(o, "t", 1700000000.5);
	jsonx_add_time(o, "zero", 0);
	jsonx_add_time(o, "neg", -1);
	jsonx_add_time(o, "nan", NAN);
	jsonx_add_double(o, "d", 6);
	jsonx_add_double(o, "inf", INFINITY);
	jsonx_add_int(o, "i", INT64_MIN);
	jsonx_add_str(o, "s", "\xc3\xa9/\"");
	jsonx_add_str(o, "null", NULL);
	jsonx_add_bool(o, "b", true);
	ck_assert_str_eq(jsonx_dump(o, NULL),
	                 "{\"t\":1700000000.500,\"zero\":null,\"neg\":null,\"nan\":null,\"d\":6.0,"
	                 "\"inf\":null,\"i\":-9223372036854775808,\"s\":\"\xc3\xa9/\\\"\","
	                 "\"null\":null,\"b\":true}");
	json_object_put(o);

	o = json_object_new_object();
	jsonx_add_time(o, "ms", 1700000000.1234);
	ck_assert_str_eq(jsonx_dump(o, NULL), "{\"ms\":1700000000.123}");
	json_object_put(o);
}
END_TEST

/* Found by fuzz_jsonx: a time beyond what milliseconds in a long long hold
 * printed digits computed from a saturated llround() ("-(..."), so a state
 * file or a status with such a time was not JSON. */
START_TEST(test_add_time_huge)
{
	static const double v[] = { 1e300, 9.3e15, 9.2233720368547758e15, DBL_MAX };
	static const char *const keys[] = { "t0", "t1", "t2", "t3" };
	json_object *o = json_object_new_object(), *back = NULL;
	struct errmsg e;
	size_t len;
	const char *s;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		jsonx_add_time(o, keys[i], v[i]);
	jsonx_add_time(o, "inf", INFINITY);
	s = jsonx_dump(o, &len);
	ck_assert_msg(jsonx_parse(s, len, 0, &back, &e) == 0, "%s: %s", s, e.text);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ck_assert_msg(json_object_get_double(jsonx_get(back, keys[i])) == v[i], "%s in %s",
		              keys[i], s);
	ck_assert_ptr_null(jsonx_get(back, "inf"));
	json_object_put(back);
	json_object_put(o);
}
END_TEST

/* Found by fuzz_jsonx: rounding added half a micro-dollar before dividing,
 * which overflowed for amounts near INT64_MAX (a restored cost_pico_usd). */
START_TEST(test_add_usd_extremes)
{
	json_object *o = json_object_new_object();

	jsonx_add_usd(o, "max", INT64_MAX);
	jsonx_add_usd(o, "min", INT64_MIN);
	jsonx_add_usd(o, "half", 500000);
	jsonx_add_usd(o, "nhalf", -500000);
	jsonx_add_usd(o, "below", 499999);
	jsonx_add_usd(o, "nbelow", -499999);
	jsonx_add_usd(o, "cents", 12345678901234);
	ck_assert_str_eq(jsonx_dump(o, NULL),
	                 "{\"max\":9223372.036855,\"min\":-9223372.036855,\"half\":0.000001,"
	                 "\"nhalf\":-0.000001,\"below\":0.000000,\"nbelow\":0.000000,"
	                 "\"cents\":12.345679}");
	json_object_put(o);
}
END_TEST

START_TEST(test_getters)
{
	const char *s = "{\"s\":\"x\",\"i\":-5,\"d\":1.0,\"n\":null,\"b\":true}";
	json_object *o = parse_ok(s, strlen(s), 0, __LINE__);
	int64_t v = 7;

	ck_assert_str_eq(jsonx_get_str(o, "s"), "x");
	ck_assert_ptr_null(jsonx_get_str(o, "i"));
	ck_assert_ptr_null(jsonx_get_str(o, "missing"));
	ck_assert(jsonx_get_int64(o, "i", &v) && v == -5);
	v = 7;
	ck_assert(!jsonx_get_int64(o, "d", &v) && v == 7);
	ck_assert(!jsonx_get_int64(o, "s", &v) && v == 7);
	ck_assert_ptr_null(jsonx_get(o, "n"));
	ck_assert_ptr_nonnull(jsonx_get(o, "b"));
	ck_assert_ptr_null(jsonx_get(NULL, "s"));
	ck_assert_ptr_null(jsonx_get(jsonx_get(o, "s"), "s"));
	ck_assert(jsonx_is_int(jsonx_get(o, "i")));
	ck_assert(!jsonx_is_int(jsonx_get(o, "d")));
	ck_assert(!jsonx_is_int(NULL));
	json_object_put(o);
}
END_TEST

/* ---- jsonx_append: json-c's bytes, written without json-c ------------------------- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Bytes that take every path of the escaper: each escape, the other control
 * characters, '/', DEL, bytes above 0x7f, and long plain runs around them. */
static size_t random_text(char *s, size_t cap)
{
	static const char special[] = "\"\\/\b\t\n\f\r\x01\x1f\x7f\x80\xff\x00 a";
	size_t n = rnd() % 4 == 0 ? rnd() % cap : rnd() % 24;

	for (size_t i = 0; i < n; i++) {
		uint64_t k = rnd() % 10;
		s[i] = k < 6   ? (char)('a' + rnd() % 26)
		       : k < 9 ? special[rnd() % (sizeof(special) - 1)]
		               : (char)(rnd() & 0xff);
	}
	s[n] = '\0';
	return n;
}

static json_object *random_scalar(void)
{
	static const int64_t ints[] = { 0,
		                        1,
		                        -1,
		                        9,
		                        10,
		                        -10,
		                        INT64_MAX,
		                        INT64_MIN,
		                        INT64_MAX - 1,
		                        INT64_MIN + 1,
		                        1234567890123 };
	static const double doubles[] = { 0.0, -0.0, 0.1, 1.0, 1e300, -2.5e-7, 3.0, 1e21, 123.456 };
	char text[300];
	size_t n;

	switch (rnd() % 9) {
	case 0:
		return NULL;
	case 1:
		return json_object_new_boolean(rnd() & 1);
	case 2:
		return json_object_new_int64(ints[rnd() % (sizeof(ints) / sizeof(ints[0]))]);
	case 3:
		return json_object_new_int64((int64_t)rnd());
	case 4:
		return json_object_new_uint64(rnd() % 2 ? UINT64_MAX
		                                        : (uint64_t)INT64_MAX + rnd() % 9);
	case 5:
		return json_object_new_double(
		        doubles[rnd() % (sizeof(doubles) / sizeof(doubles[0]))]);
	case 6:
		return json_object_new_double_s(1.5, rnd() % 2 ? "1.50" : "15e-1");
	default:
		n = random_text(text, sizeof(text) - 1);
		return json_object_new_string_len(text, (int)n);
	}
}

static json_object *random_tree(int depth)
{
	json_object *o;
	char key[300];
	size_t n;

	if (depth <= 0 || rnd() % 3 == 0)
		return random_scalar();
	if (rnd() % 2) {
		o = json_object_new_array();
		for (n = rnd() % 5; n > 0; n--)
			json_object_array_add(o, random_tree(depth - 1));
		return o;
	}
	o = json_object_new_object();
	for (n = rnd() % 5; n > 0; n--) {
		random_text(key, 40); /* a NUL inside ends the key, as json-c keeps it */
		json_object_object_add(o, key, random_tree(depth - 1));
	}
	return o;
}

/* What jsonx_append writes is what jsonx_dump (json-c) gives, appended to
 * what the buffer held, on random trees built by hand and on the same trees
 * parsed back from json-c's own text (doubles then keep their text). */
START_TEST(test_append_matches_dump)
{
	struct buf b = { 0 };

	for (int round = 0; round < 4000; round++) {
		json_object *o = random_tree(1 + (int)(rnd() % 5)), *p = NULL;
		size_t len;
		const char *want = jsonx_dump(o, &len);

		buf_reset(&b);
		buf_puts(&b, "head:");
		jsonx_append(&b, o);
		ck_assert_uint_eq(b.len, len + 5);
		ck_assert_msg(memcmp(b.data + 5, want, len) == 0, "round %d: %s\nwant %s", round,
		              b.data + 5, want);
		if (jsonx_parse(want, len, 0, &p, NULL) == 0) { /* not when it holds bad UTF-8 */
			want = jsonx_dump(p, &len);
			buf_reset(&b);
			jsonx_append(&b, p);
			ck_assert_uint_eq(b.len, len);
			ck_assert_msg(memcmp(b.data, want, len) == 0, "round %d (parsed)", round);
			json_object_put(p);
		}
		json_object_put(o);
	}
	buf_free(&b);
}
END_TEST

/* Every byte value alone and at every position of an 8-byte word (the
 * escaper reads 8 at a time). */
START_TEST(test_append_every_byte)
{
	struct buf b = { 0 };
	char text[20];

	for (int c = 0; c < 256; c++) {
		for (int at = 0; at < 17; at++) {
			json_object *o;
			size_t len;
			const char *want;

			memset(text, 'x', sizeof(text));
			text[at] = (char)c;
			o = json_object_new_string_len(text, 17);
			want = jsonx_dump(o, &len);
			buf_reset(&b);
			jsonx_append(&b, o);
			ck_assert_msg(b.len == len && memcmp(b.data, want, len) == 0,
			              "byte 0x%02x at %d: %s, want %s", c, at, b.data, want);
			json_object_put(o);
		}
	}
	buf_free(&b);
}
END_TEST

/* ---- objects written member by member ---------------------------------------------- */

static double random_double(void)
{
	static const double special[] = { 0.0,
		                          -0.0,
		                          1.0,
		                          -1.0,
		                          300.0,
		                          0.5,
		                          1e15,
		                          1e15 - 1,
		                          9e15,
		                          9e15 - 1,
		                          1e300,
		                          -1e300,
		                          1.8e9,
		                          1.8e9 + 0.0005,
		                          1.8e9 + 0.0015,
		                          123.4565,
		                          4503599627370496.5,
		                          1e-300 };
	uint64_t bits;
	double d;

	switch (rnd() % 4) {
	case 0:
		return special[rnd() % (sizeof(special) / sizeof(special[0]))];
	case 1:
		bits = rnd(); /* any double: NaN and infinities too */
		memcpy(&d, &bits, sizeof(d));
		return d;
	case 2:
		return (double)(int64_t)(rnd() % 2000000) - 1000000;
	default:
		return 1.7e9 + (double)(rnd() % 100000000) / 1000.0;
	}
}

/* Each jsonx_put_* writes what jsonx_add_* of the same value puts in a tree
 * that jsonx_append() then writes. */
START_TEST(test_put_matches_add)
{
	struct buf got = { 0 }, want = { 0 };
	char text[64];

	for (int round = 0; round < 20000; round++) {
		json_object *o = json_object_new_object();
		struct jsonx_obj w;
		int64_t i = (int64_t)rnd();
		double d = random_double();

		if (rnd() % 4 == 0)
			i = rnd() % 2   ? INT64_MIN
			    : rnd() % 2 ? INT64_MAX
			                : (int64_t)(rnd() % 2000) - 1000;
		random_text(text, sizeof(text) - 1);
		buf_reset(&got);
		buf_reset(&want);
		jsonx_obj_open(&w, &got);
		switch (rnd() % 7) {
		case 0:
			jsonx_add_str(o, "s", i % 5 ? text : NULL);
			jsonx_put_str(&w, "s", i % 5 ? text : NULL);
			break;
		case 1:
			jsonx_add_time(o, "t", d);
			jsonx_put_time(&w, "t", d);
			break;
		case 2:
			jsonx_add_int(o, "i", i);
			jsonx_put_int(&w, "i", i);
			break;
		case 3:
			jsonx_add_double(o, "d", d);
			jsonx_put_double(&w, "d", d);
			break;
		case 4:
			jsonx_add_bool(o, "b", i & 1);
			jsonx_put_bool(&w, "b", i & 1);
			break;
		case 5:
			jsonx_add_usd(o, "u", i);
			jsonx_put_usd(&w, "u", i);
			break;
		default: /* several members: the commas */
			jsonx_add_int(o, "a", i);
			jsonx_add_double(o, "b", d);
			jsonx_add_str(o, "c", "x\"y");
			jsonx_put_int(&w, "a", i);
			jsonx_put_double(&w, "b", d);
			jsonx_put_str(&w, "c", "x\"y");
		}
		jsonx_obj_close(&w);
		jsonx_append(&want, o);
		json_object_put(o);
		ck_assert_msg(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
		              "round %d: %s, want %s", round, got.data, want.data);
	}
	buf_free(&got);
	buf_free(&want);
}
END_TEST

START_TEST(test_put_empty_object)
{
	struct buf b = { 0 };
	struct jsonx_obj w;

	jsonx_obj_open(&w, &b);
	jsonx_obj_close(&w);
	ck_assert_str_eq(b.data, "{}");
	buf_free(&b);
}
END_TEST

/* ---- the fast path against json-c's tokenizer ------------------------------------- */

/* Same tree: types, values, key order, and each double's text. */
static bool same_tree(json_object *a, json_object *b)
{
	struct json_object_iterator ia, ea, ib;

	if (json_object_get_type(a) != json_object_get_type(b))
		return false;
	switch (json_object_get_type(a)) {
	case json_type_null:
		return true;
	case json_type_boolean:
		return json_object_get_boolean(a) == json_object_get_boolean(b);
	case json_type_int:
		return json_object_get_int64(a) == json_object_get_int64(b) &&
		       json_object_get_uint64(a) == json_object_get_uint64(b);
	case json_type_double:
		return memcmp(&(double){ json_object_get_double(a) },
		              &(double){ json_object_get_double(b) }, sizeof(double)) == 0 &&
		       strcmp(jsonx_dump(a, NULL), jsonx_dump(b, NULL)) == 0;
	case json_type_string:
		return json_object_get_string_len(a) == json_object_get_string_len(b) &&
		       memcmp(json_object_get_string(a), json_object_get_string(b),
		              (size_t)json_object_get_string_len(a)) == 0;
	case json_type_array:
		if (json_object_array_length(a) != json_object_array_length(b))
			return false;
		for (size_t i = 0; i < json_object_array_length(a); i++)
			if (!same_tree(json_object_array_get_idx(a, i),
			               json_object_array_get_idx(b, i)))
				return false;
		return true;
	case json_type_object:
		if (json_object_object_length(a) != json_object_object_length(b))
			return false;
		ia = json_object_iter_begin(a);
		ea = json_object_iter_end(a);
		ib = json_object_iter_begin(b);
		for (; !json_object_iter_equal(&ia, &ea);
		     json_object_iter_next(&ia), json_object_iter_next(&ib))
			if (strcmp(json_object_iter_peek_name(&ia),
			           json_object_iter_peek_name(&ib)) != 0 ||
			    !same_tree(json_object_iter_peek_value(&ia),
			               json_object_iter_peek_value(&ib)))
				return false;
		return true;
	}
	return false;
}

/* jsonx_parse() gives what json-c's path gives (the same tree, or the same
 * error), and whatever the fast path takes json-c takes, as the same tree.
 * Returns whether the fast path took it. */
static bool compare_paths(const char *s, size_t len, int max_depth)
{
	json_object *fast = NULL, *slow = NULL, *both = NULL;
	struct errmsg es = { { 0 } }, eb = { { 0 } };
	int rf = jsonx_parse_fast(s, len, max_depth, &fast);
	int rs = jsonx_parse_json_c(s, len, max_depth, &slow, &es);
	int rb = jsonx_parse(s, len, max_depth, &both, &eb);
	bool ok = rb == rs && (rs < 0 ? strcmp(es.text, eb.text) == 0 : same_tree(both, slow)) &&
	          (rf < 0 || (rs == 0 && same_tree(fast, slow)));

	ck_assert_msg(ok, "fast %d, json-c %d (%s), jsonx_parse %d (%s) on %.*s", rf, rs, es.text,
	              rb, eb.text, (int)(len < 300 ? len : 300), s);
	json_object_put(fast);
	json_object_put(slow);
	json_object_put(both);
	return rf == 0;
}

/* Random JSON text: spacing, escapes (\u in either case, pairs, lone
 * halves, \u0000), numbers of every shape and size, literals, nesting. */
static void random_json(struct buf *b, int depth)
{
	static const char *const numbers[] = {
		"0",
		"-0",
		"7",
		"-12",
		"1.0",
		"0.1",
		"-0.5",
		"1e5",
		"1E+2",
		"2.5e-3",
		"10.50",
		"123456789012345678",
		"-123456789012345678",
		"1234567890123456789",
		"9223372036854775807",
		"-9223372036854775808",
		"18446744073709551615",
		"1e400",
		"1e-400",
		"01",
		"1.",
		".5",
		"-",
		"1e",
		"+1",
		"0x1",
	};
	static const char *const pieces[] = {
		"a",
		"hello world",
		"\\n",
		"\\t",
		"\\\"",
		"\\\\",
		"\\/",
		"\\b\\f\\r",
		"\\u00e9",
		"\\u00E9",
		"\\ud83d\\ude00",
		"\\ud83d",
		"\\ude00",
		"\\u0000",
		"\\u0041",
		"\\x",
		"\xc3\xa9",
		"\xe6\x97\xa5",
		"\xf0\x9f\x98\x80",
		"\xc3",
		"\xed\xa0\x80",
		"\x7f",
		"\x01",
		"\\u12",
		"\t",
		"long text of a prompt that goes on for a while ",
	};
	static const char *const spaces[] = { "", "", " ", "\n  ", "\t", "\r\n" };
	uint64_t k = rnd() % 10;

	buf_puts(b, spaces[rnd() % 6]);
	if (depth <= 0 || k < 4) {
		switch (rnd() % 5) {
		case 0:
			buf_puts(b, numbers[rnd() % (sizeof(numbers) / sizeof(numbers[0]))]);
			break;
		case 1:
			buf_puts(b, rnd() % 2 ? "true" : rnd() % 2 ? "false" : "null");
			break;
		default:
			buf_puts(b, "\"");
			for (uint64_t n = rnd() % 6; n > 0; n--)
				buf_puts(b, pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))]);
			buf_puts(b, "\"");
		}
	} else if (k < 7) {
		buf_puts(b, "[");
		for (uint64_t n = rnd() % 4, i = 0; i < n; i++) {
			if (i)
				buf_puts(b, ",");
			random_json(b, depth - 1);
		}
		buf_puts(b, "]");
	} else {
		buf_puts(b, "{");
		for (uint64_t n = rnd() % 4, i = 0; i < n; i++) {
			if (i)
				buf_puts(b, ",");
			buf_puts(b, rnd() % 8 ? "\"key" : "\"k\\u00e9");
			buf_printf(b, "%d\"", (int)(rnd() % 3)); /* repeats, sometimes */
			buf_puts(b, spaces[rnd() % 6]);
			buf_puts(b, ":");
			random_json(b, depth - 1);
		}
		buf_puts(b, "}");
	}
	buf_puts(b, spaces[rnd() % 6]);
}

START_TEST(test_fast_path_random)
{
	struct buf b = { 0 };
	int taken = 0;

	for (int round = 0; round < 20000; round++) {
		buf_reset(&b);
		random_json(&b, 1 + (int)(rnd() % 6));
		if (rnd() % 5 == 0 && b.len) { /* broken: cut short, or a byte changed */
			size_t at = rnd() % b.len;
			if (rnd() % 2)
				b.len = at;
			else
				b.data[at] = "x,]}\"\\:0\x80"[rnd() % 9];
		}
		taken += compare_paths(b.data ? b.data : "", b.len, 1 + (int)(rnd() % 8));
	}
	/* The fast path is used, not only declined. */
	ck_assert_int_gt(taken, 2000);
	buf_free(&b);
}
END_TEST

/* Every fixture: the same either way; and an ordinary template takes the
 * fast path. */
START_TEST(test_fast_path_fixtures)
{
	static const char *const dirs[] = { "anthropic", "openai", "fidelity", "contract",
		                            "template" };
	char path[1024];
	int taken = 0;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d;
		struct dirent *de;

		snprintf(path, sizeof(path), "%s/%s", TEST_FIXTURES, dirs[i]);
		d = opendir(path);
		ck_assert_ptr_nonnull(d);
		while ((de = readdir(d))) {
			size_t len;
			char *text;
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/%s", TEST_FIXTURES, dirs[i],
			         de->d_name);
			text = tu_read(path, &len);
			ck_assert_ptr_nonnull(text);
			taken += compare_paths(text, len, 0);
			free(text);
		}
		closedir(d);
	}
	ck_assert_int_gt(taken, 50);
	snprintf(path, sizeof(path), "%s/../../config/examples/support-bot.json", TEST_FIXTURES);
	{
		size_t len;
		char *text = tu_read(path, &len);
		json_object *o = NULL;
		ck_assert_ptr_nonnull(text);
		ck_assert_int_eq(jsonx_parse_fast(text, len, 0, &o), 0);
		json_object_put(o);
		free(text);
	}
}
END_TEST

static Suite *jsonx_suite(void)
{
	Suite *s = suite_create("jsonx");
	TCase *tc = tcase_create("roundtrip");

	tcase_add_test(tc, test_roundtrip_floats);
	tcase_add_test(tc, test_roundtrip_floats_values);
	tcase_add_test(tc, test_roundtrip_integers);
	tcase_add_test(tc, test_roundtrip_unicode);
	tcase_add_test(tc, test_roundtrip_escapes);
	tcase_add_test(tc, test_escape_normalisation);
	tcase_add_test(tc, test_roundtrip_order_and_nesting);
	tcase_add_test(tc, test_replace_in_place_keeps_position);
	tcase_add_test(tc, test_pretty_equals_compact);
	tcase_add_test(tc, test_dump_len);
	tcase_add_test(tc, test_parse_respects_len);
	tcase_add_loop_test(tc, test_top_level_scalars, 0, 7);
	suite_add_tcase(s, tc);

	tc = tcase_create("strict");
	tcase_add_loop_test(tc, test_strict_rejects, 0,
	                    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_depth_huge_rejected);
	tcase_add_test(tc, test_depth_default_limit);
	tcase_add_loop_test(tc, test_depth_limit_honoured, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("ranges");
	tcase_add_test(tc, test_ranges_reject_clamped);
	tcase_add_test(tc, test_ranges_accept_in_range);
	tcase_add_test(tc, test_ranges_long_path);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_test(tc, test_new_double);
	tcase_add_test(tc, test_add_helpers);
	tcase_add_test(tc, test_add_time_huge);
	tcase_add_test(tc, test_add_usd_extremes);
	tcase_add_test(tc, test_getters);
	suite_add_tcase(s, tc);

	tc = tcase_create("append");
	tcase_add_test(tc, test_append_matches_dump);
	tcase_add_test(tc, test_append_every_byte);
	suite_add_tcase(s, tc);

	tc = tcase_create("put");
	tcase_add_test(tc, test_put_matches_add);
	tcase_add_test(tc, test_put_empty_object);
	suite_add_tcase(s, tc);

	tc = tcase_create("fast");
	tcase_add_test(tc, test_fast_path_random);
	tcase_add_test(tc, test_fast_path_fixtures);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jsonx_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_proto: the control-socket protocol (common/proto.c): request
 * decoding and its error codes, request and response encoding, and line
 * framing with its hard limit. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "jsonx.h"
#include "proto.h"

/* ---- request decoding ---------------------------------------------------------------- */

static void decode_ok(const char *line, enum proto_cmd cmd, const char *target, bool all, int ln)
{
	struct proto_request req;
	struct errmsg e = { { 0 } };
	const char *code = NULL;
	int r = proto_request_decode(line, strlen(line), &req, &code, &e);

	ck_assert_msg(r == 0, "line %d: decode(%s) = %d [%s] %s", ln, line, r, code ? code : "-",
	              e.text);
	ck_assert_msg(req.cmd == cmd, "line %d: cmd %d, want %d", ln, req.cmd, cmd);
	if (target)
		ck_assert_msg(req.target && strcmp(req.target, target) == 0,
		              "line %d: target %s, want %s", ln, req.target ? req.target : "NULL",
		              target);
	else
		ck_assert_msg(req.target == NULL, "line %d: target %s, want NULL", ln, req.target);
	ck_assert_msg(req.all == all, "line %d: all %d, want %d", ln, req.all, all);
	ck_assert_msg(req.obj != NULL, "line %d: no obj", ln);
	proto_request_done(&req);
	ck_assert_ptr_null(req.obj);
	ck_assert_ptr_null(req.target);
}
#define DECODE_OK(line, cmd, target, all) decode_ok(line, cmd, target, all, __LINE__)

/* Decodes line (len bytes) and expects code and a message containing needle. */
static void decode_err_len(const char *line, size_t len, const char *want_code, const char *needle,
                           int ln)
{
	struct proto_request req;
	struct errmsg e = { { 0 } };
	const char *code = NULL;
	int r;

	/* ret must be left alone on failure. */
	memset(&req, 0xa5, sizeof(req));
	r = proto_request_decode(line, len, &req, &code, &e);
	if (r == 0) {
		proto_request_done(&req);
		ck_abort_msg("line %d: decode(%.*s) accepted", ln, (int)len, line);
	}
	ck_assert_msg(r == -EINVAL, "line %d: decode(%.*s) = %d, want -EINVAL", ln, (int)len, line,
	              r);
	ck_assert_msg(code && strcmp(code, want_code) == 0, "line %d: code %s, want %s", ln,
	              code ? code : "NULL", want_code);
	ck_assert_msg(strstr(e.text, needle) != NULL, "line %d: message \"%s\" lacks \"%s\"", ln,
	              e.text, needle);
	for (size_t i = 0; i < sizeof(req); i++)
		ck_assert_msg(((unsigned char *)&req)[i] == 0xa5, "line %d: ret written on failure",
		              ln);
}
#define DECODE_ERR(line, code, needle) decode_err_len(line, strlen(line), code, needle, __LINE__)

START_TEST(test_decode_every_command)
{
	DECODE_OK("{\"cmd\":\"ping\"}", PROTO_PING, NULL, false);
	DECODE_OK("{\"cmd\":\"status\"}", PROTO_STATUS, NULL, false);
	DECODE_OK("{\"cmd\":\"status\",\"target\":\"support-bot\"}", PROTO_STATUS, "support-bot",
	          false);
	DECODE_OK("{\"cmd\":\"warm\",\"target\":\"support-bot\"}", PROTO_WARM, "support-bot",
	          false);
	DECODE_OK("{\"cmd\":\"warm\",\"all\":true}", PROTO_WARM, NULL, true);
	DECODE_OK("{\"target\":\"t1\",\"cmd\":\"warm\",\"all\":false}", PROTO_WARM, "t1", false);
	DECODE_OK("{\"cmd\":\"pause\",\"target\":\"t\"}", PROTO_PAUSE, "t", false);
	DECODE_OK("{\"cmd\":\"pause\",\"all\":true}", PROTO_PAUSE, NULL, true);
	DECODE_OK("{\"cmd\":\"resume\",\"target\":\"t\"}", PROTO_RESUME, "t", false);
	DECODE_OK("{\"cmd\":\"resume\",\"all\":true}", PROTO_RESUME, NULL, true);
	DECODE_OK("{\"cmd\":\"reload\"}", PROTO_RELOAD, NULL, false);
	/* Whitespace around and inside is fine; so is a unicode target. */
	DECODE_OK("  { \"cmd\" : \"status\" , \"target\" : \"bot-\xc3\xa9\" }  ", PROTO_STATUS,
	          "bot-\xc3\xa9", false);
}
END_TEST

START_TEST(test_decode_respects_len)
{
	/* The line is not NUL-terminated where the request ends. */
	const char *buf = "{\"cmd\":\"ping\"}{\"cmd\":\"reload\"}";
	struct proto_request req;
	struct errmsg e = { { 0 } };
	const char *code = NULL;

	ck_assert_int_eq(proto_request_decode(buf, 14, &req, &code, &e), 0);
	ck_assert_int_eq(req.cmd, PROTO_PING);
	proto_request_done(&req);
	decode_err_len(buf, strlen(buf), PROTO_E_BAD_JSON, "line 1, column 15", __LINE__);
}
END_TEST

START_TEST(test_cmd_table)
{
	static const struct {
		enum proto_cmd c;
		const char *name;
		enum proto_args args;
		bool mutating;
	} want[] = {
		{ PROTO_PING, "ping", PROTO_ARGS_NONE, false },
		{ PROTO_STATUS, "status", PROTO_ARGS_TARGET_OPT, false },
		{ PROTO_WARM, "warm", PROTO_ARGS_TARGET_OR_ALL, true },
		{ PROTO_PAUSE, "pause", PROTO_ARGS_TARGET_OR_ALL, true },
		{ PROTO_RESUME, "resume", PROTO_ARGS_TARGET_OR_ALL, true },
		{ PROTO_RELOAD, "reload", PROTO_ARGS_NONE, true },
		{ PROTO_TOUCH, "touch", PROTO_ARGS_TOUCH, true },
		{ PROTO_METRICS, "metrics", PROTO_ARGS_NONE, false },
		{ PROTO_VERSIONS, "versions", PROTO_ARGS_TARGET, false },
		{ PROTO_AUDIT, "audit", PROTO_ARGS_TARGET_OPT, false },
		{ PROTO_TEST, "test", PROTO_ARGS_TEST, true },
		{ PROTO_SHIFT, "shift", PROTO_ARGS_SHIFT, true },
		{ PROTO_PROMOTE, "promote", PROTO_ARGS_VERSION, true },
		{ PROTO_ROLLBACK, "rollback", PROTO_ARGS_TARGET, true },
		{ PROTO_ROUTE, "route", PROTO_ARGS_TARGET, false },
		{ PROTO_KEEP, "keep", PROTO_ARGS_KEEP, true },
		{ PROTO_DROP, "drop", PROTO_ARGS_TARGET, true },
	};

	ck_assert_int_eq(PROTO_CMD_COUNT, 17);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct proto_cmd_info *info = proto_cmd_info(want[i].c);
		ck_assert_ptr_nonnull(info);
		ck_assert_str_eq(info->name, want[i].name);
		ck_assert_int_eq(info->args, want[i].args);
		ck_assert_int_eq(info->mutating, want[i].mutating);
		ck_assert_int_eq(proto_cmd_lookup(want[i].name), (int)want[i].c);
	}
	ck_assert_ptr_null(proto_cmd_info(PROTO_CMD_COUNT));
	ck_assert_ptr_null(proto_cmd_info((enum proto_cmd) - 1));
	ck_assert_int_eq(proto_cmd_lookup("PING"), -1);
	ck_assert_int_eq(proto_cmd_lookup(""), -1);
	ck_assert_int_eq(proto_cmd_lookup("pin"), -1);
}
END_TEST

START_TEST(test_touch_decode)
{
	struct proto_request r;
	const char *code = NULL;
	struct errmsg e;
	struct buf b = BUF_INIT;
	static const char *const bad[] = {
		"{\"cmd\":\"touch\"}",
		"{\"cmd\":\"touch\",\"target\":\"t\",\"result\":\"warm\"}",
		"{\"cmd\":\"touch\",\"target\":\"t\",\"result\":1}",
		"{\"cmd\":\"touch\",\"target\":\"t\",\"cached\":-1}",
		"{\"cmd\":\"touch\",\"target\":\"t\",\"cached\":\"5\"}",
		"{\"cmd\":\"touch\",\"target\":\"t\",\"input\":1.5}",
		"{\"cmd\":\"touch\",\"target\":\"t\",\"all\":true}",
		"{\"cmd\":\"status\",\"cached\":5}",
	};

	ck_assert_int_eq(proto_request_encode_touch(&b, "t", PROTO_TOUCH_HIT, 4096, -1), 0);
	ck_assert_str_eq(b.data, "{\"cmd\":\"touch\",\"target\":\"t\",\"result\":\"hit\","
	                         "\"cached\":4096}\n");
	ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &r, &code, &e), 0);
	ck_assert_int_eq(r.cmd, PROTO_TOUCH);
	ck_assert_str_eq(r.target, "t");
	ck_assert_int_eq(r.result, PROTO_TOUCH_HIT);
	ck_assert_int_eq(r.cached, 4096);
	ck_assert_int_eq(r.input, -1);
	proto_request_done(&r);
	buf_reset(&b);
	ck_assert_int_eq(proto_request_encode_touch(&b, "t", PROTO_TOUCH_UNKNOWN, -1, 7), 0);
	ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &r, &code, &e), 0);
	ck_assert_int_eq(r.result, PROTO_TOUCH_UNKNOWN);
	ck_assert_int_eq(r.input, 7);
	proto_request_done(&r);
	buf_free(&b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(proto_request_decode(bad[i], strlen(bad[i]), &r, &code, &e) ==
		                      -EINVAL,
		              "accepted %s", bad[i]);
		ck_assert_str_eq(code, PROTO_E_BAD_REQUEST);
	}
}
END_TEST

/* Numbers from a client are bounded at the decoder, with a message naming
 * the field and its bound (issue 10: a touch with cached=3000000000000
 * overflowed the savings), and a failed decode leaves ret alone. */
START_TEST(test_touch_bounds)
{
	struct proto_request r;
	const char *code = NULL;
	struct errmsg e;
	struct buf b = BUF_INIT;

	ck_assert_int_eq(proto_request_encode_touch(&b, "t", PROTO_TOUCH_HIT, BOUNDS_MAX_TOKENS,
	                                            BOUNDS_MAX_TOKENS),
	                 0);
	ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &r, &code, &e), 0);
	ck_assert_int_eq(r.cached, BOUNDS_MAX_TOKENS);
	ck_assert_int_eq(r.input, BOUNDS_MAX_TOKENS);
	proto_request_done(&r);
	buf_free(&b);
	DECODE_ERR("{\"cmd\":\"touch\",\"target\":\"t\",\"cached\":3000000000000}",
	           PROTO_E_BAD_REQUEST, "\"cached\" must be an integer from 0 to 100000000");
	DECODE_ERR("{\"cmd\":\"touch\",\"target\":\"t\",\"input\":100000001}", PROTO_E_BAD_REQUEST,
	           "\"input\" must be an integer from 0 to 100000000");
	/* beyond int64 (json-c keeps it as uint64) and beyond uint64 (a double) */
	DECODE_ERR("{\"cmd\":\"touch\",\"target\":\"t\",\"cached\":18446744073709551615}",
	           PROTO_E_BAD_REQUEST, "\"cached\" must be an integer from 0 to 100000000");
	DECODE_ERR("{\"cmd\":\"touch\",\"target\":\"t\",\"cached\":1e300}", PROTO_E_BAD_REQUEST,
	           "\"cached\" must be an integer from 0 to 100000000");
	DECODE_ERR("{\"cmd\":\"touch\",\"target\":\"t\",\"cached\":-1}", PROTO_E_BAD_REQUEST,
	           "\"cached\" must be an integer from 0 to 100000000");
	DECODE_ERR("{\"cmd\":\"touch\",\"target\":\"t\",\"result\":\"warm\"}", PROTO_E_BAD_REQUEST,
	           "\"result\" must be");
	/* the other numbers keep their own bounds, and say so */
	DECODE_ERR("{\"cmd\":\"shift\",\"target\":\"t\",\"version\":\"g\","
	           "\"percent\":9223372036854775808}",
	           PROTO_E_BAD_REQUEST, "\"percent\" must be an integer from 0 to 100");
	DECODE_ERR("{\"cmd\":\"test\",\"target\":\"t\",\"n\":18446744073709551615}",
	           PROTO_E_BAD_REQUEST, "\"n\" must be an integer from 1 to 100");
}
END_TEST

START_TEST(test_rollout_and_test_decode)
{
	struct proto_request r;
	const char *code = NULL;
	struct errmsg e;
	struct buf b = BUF_INIT;
	json_object *vars = json_object_new_array(), *v = json_object_new_object();
	static const char *const bad[] = {
		"{\"cmd\":\"shift\",\"target\":\"t\",\"version\":\"green\"}",
		"{\"cmd\":\"shift\",\"target\":\"t\",\"version\":\"green\",\"percent\":101}",
		"{\"cmd\":\"shift\",\"target\":\"t\",\"version\":\"green\",\"percent\":-1}",
		"{\"cmd\":\"shift\",\"target\":\"t\",\"version\":\"green\",\"percent\":\"5\"}",
		"{\"cmd\":\"shift\",\"target\":\"t\",\"version\":\"\",\"percent\":5}",
		"{\"cmd\":\"shift\",\"version\":\"g\",\"percent\":5}",
		"{\"cmd\":\"promote\",\"target\":\"t\"}",
		"{\"cmd\":\"promote\",\"target\":\"t\",\"version\":7}",
		"{\"cmd\":\"promote\",\"target\":\"t\",\"version\":\"g\",\"percent\":5}",
		"{\"cmd\":\"rollback\"}",
		"{\"cmd\":\"rollback\",\"target\":\"t\",\"version\":\"g\"}",
		"{\"cmd\":\"route\"}",
		"{\"cmd\":\"test\",\"target\":\"t\",\"n\":0}",
		"{\"cmd\":\"test\",\"target\":\"t\",\"n\":101}",
		"{\"cmd\":\"test\",\"target\":\"t\",\"variants\":{}}",
		"{\"cmd\":\"test\",\"target\":\"t\",\"variants\":[{\"file\":\"a\"}]}",
		"{\"cmd\":\"test\",\"target\":\"t\",\"variants\":[{\"file\":\"a\",\"body\":1}]}",
		"{\"cmd\":\"test\",\"target\":\"t\",\"variants\":[{\"file\":\"a\",\"body\":\"{}\","
		"\"x\":1}]}",
		"{\"cmd\":\"audit\",\"version\":\"x\"}",
	};

	ck_assert_int_eq(proto_request_encode_args(&b, PROTO_SHIFT, "t", "green", 50, -1, NULL), 0);
	ck_assert_str_eq(b.data, "{\"cmd\":\"shift\",\"target\":\"t\",\"version\":\"green\","
	                         "\"percent\":50}\n");
	ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &r, &code, &e), 0);
	ck_assert_int_eq(r.cmd, PROTO_SHIFT);
	ck_assert_str_eq(r.version, "green");
	ck_assert_int_eq(r.percent, 50);
	proto_request_done(&r);
	buf_reset(&b);
	jsonx_add_str(v, "file", "v1.json");
	jsonx_add_str(v, "body", "{\"model\":\"m\"}");
	json_object_array_add(vars, v);
	ck_assert_int_eq(proto_request_encode_args(&b, PROTO_TEST, "t", NULL, -1, 7, vars), 0);
	ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &r, &code, &e), 0);
	ck_assert_int_eq(r.cmd, PROTO_TEST);
	ck_assert_int_eq(r.n, 7);
	ck_assert_int_eq(json_object_array_length(r.variants), 1);
	proto_request_done(&r);
	buf_reset(&b);
	/* test without -n: the default */
	ck_assert_int_eq(proto_request_encode_args(&b, PROTO_TEST, "t", NULL, -1, -1, NULL), 0);
	ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &r, &code, &e), 0);
	ck_assert_int_eq(r.n, PROTO_TEST_DEFAULT_N);
	ck_assert_ptr_null(r.variants);
	proto_request_done(&r);
	buf_free(&b);
	DECODE_OK("{\"cmd\":\"rollback\",\"target\":\"t\"}", PROTO_ROLLBACK, "t", false);
	DECODE_OK("{\"cmd\":\"route\",\"target\":\"t\"}", PROTO_ROUTE, "t", false);
	DECODE_OK("{\"cmd\":\"audit\"}", PROTO_AUDIT, NULL, false);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(proto_request_decode(bad[i], strlen(bad[i]), &r, &code, &e) ==
		                      -EINVAL,
		              "accepted %s", bad[i]);
		ck_assert_str_eq(code, PROTO_E_BAD_REQUEST);
	}
}
END_TEST

/* keep: the body is a string of JSON; durations are seconds or "5m";
 * drop takes the session's name. */
START_TEST(test_keep_decode)
{
	struct proto_request r;
	const char *code = NULL;
	struct errmsg e;
	struct buf b = BUF_INIT;
	static const char body[] = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	                           "\"content\":\"a \\\"quote\\\" \\u0001\"}]}";
	static const struct {
		const char *line, *needle;
	} bad[] = {
		{ "{\"cmd\":\"keep\",\"provider\":\"p\",\"body\":\"{}\"}", "needs a \"target\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"body\":\"{}\"}", "\"provider\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"\",\"body\":\"{}\"}",
		  "\"provider\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\"}", "\"body\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"\"}",
		  "\"body\"" },
		/* the body as an object: it must be the exact text, a string */
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":{}}",
		  "\"body\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\",\"ttl\":"
		  "0}",
		  "\"ttl\" must be a duration" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\",\"ttl\":-"
		  "5}",
		  "\"ttl\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\",\"for\":"
		  "\"5 m\"}",
		  "\"for\" must be a duration" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\",\"for\":"
		  "1e300}",
		  "at most a year" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\",\"for\":"
		  "true}",
		  "\"for\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\","
		  "\"priority\":-1}",
		  "\"priority\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\","
		  "\"priority\":1.5}",
		  "\"priority\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\",\"all\":"
		  "true}",
		  "unexpected argument \"all\"" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\","
		  "\"model\":\"\"}",
		  "\"model\" must be 1 to 2048 characters" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\","
		  "\"model\":42}",
		  "\"model\" must be a string" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\","
		  "\"model\":\"claude sonnet\"}",
		  "\"model\" contains a space, control or non-ASCII character (at byte 6)" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\","
		  "\"model\":\"m\\u0000x\"}",
		  "\"model\" contains a space" },
		{ "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":\"{}\","
		  "\"deployment\":\"d\u00e9p\"}",
		  "\"deployment\" contains a space, control or non-ASCII character" },
		{ "{\"cmd\":\"drop\"}", "drop needs a \"target\"" },
		{ "{\"cmd\":\"drop\",\"target\":\"s\",\"body\":\"{}\"}", "unexpected argument" },
	};

	/* Encoded and decoded back, escapes and all: the same bytes. */
	ck_assert_int_eq(proto_request_encode_keep(&b, "support:42", "anthropic", body,
	                                           sizeof(body) - 1, 6, 1200, 3, NULL, NULL),
	                 0);
	ck_assert_int_eq(b.data[b.len - 1], '\n');
	ck_assert_ptr_null(memchr(b.data, '\n', b.len - 1));
	ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &r, &code, &e), 0);
	ck_assert_int_eq(r.cmd, PROTO_KEEP);
	ck_assert_str_eq(r.target, "support:42");
	ck_assert_str_eq(r.provider, "anthropic");
	ck_assert_uint_eq(r.body_len, sizeof(body) - 1);
	ck_assert_int_eq(memcmp(r.body, body, r.body_len), 0);
	ck_assert_double_eq(r.ttl_s, 6);
	ck_assert_double_eq(r.for_s, 1200);
	ck_assert_int_eq(r.priority, 3);
	ck_assert(proto_cmd_info(r.cmd)->mutating);
	proto_request_done(&r);
	/* Left out: absent, and the daemon's defaults apply. */
	buf_reset(&b);
	ck_assert_int_eq(proto_request_encode_keep(&b, "s", "p", "{}", 2, 0, -1, -1, NULL, NULL),
	                 0);
	ck_assert_str_eq(b.data, "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\",\"body\":"
	                         "\"{}\"}\n");
	ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &r, &code, &e), 0);
	ck_assert_double_eq(r.ttl_s, 0);
	ck_assert_double_eq(r.for_s, 0);
	ck_assert_int_eq(r.priority, -1);
	ck_assert_ptr_null(r.model);
	ck_assert_ptr_null(r.deployment);
	proto_request_done(&r);
	/* A model and a deployment: as given (which kind takes which is the
	 * daemon's word). */
	buf_reset(&b);
	ck_assert_int_eq(proto_request_encode_keep(&b, "s", "p", "{}", 2, 0, -1, -1,
	                                           "anthropic.claude-sonnet-4-5-20250929-v1:0",
	                                           "chat-dep"),
	                 0);
	ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &r, &code, &e), 0);
	ck_assert_str_eq(r.model, "anthropic.claude-sonnet-4-5-20250929-v1:0");
	ck_assert_str_eq(r.deployment, "chat-dep");
	proto_request_done(&r);
	/* The longest model: 2048 characters, as warmd.conf's. */
	{
		char line[2300];
		int n = snprintf(line, sizeof(line),
		                 "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\","
		                 "\"body\":\"{}\",\"model\":\"");
		memset(line + n, 'm', PROTO_MAX_MODEL);
		snprintf(line + n + PROTO_MAX_MODEL, sizeof(line) - (size_t)n - PROTO_MAX_MODEL,
		         "\"}");
		ck_assert_int_eq(proto_request_decode(line, strlen(line), &r, &code, &e), 0);
		ck_assert_uint_eq(strlen(r.model), PROTO_MAX_MODEL);
		proto_request_done(&r);
		memset(line + n, 'm', PROTO_MAX_MODEL + 1);
		snprintf(line + n + PROTO_MAX_MODEL + 1,
		         sizeof(line) - (size_t)n - PROTO_MAX_MODEL - 1, "\"}");
		decode_err_len(line, strlen(line), PROTO_E_BAD_REQUEST,
		               "\"model\" must be 1 to 2048 characters", __LINE__);
	}
	buf_free(&b);
	/* Durations as text, as warmd.conf writes them. */
	static const char text[] = "{\"cmd\":\"keep\",\"target\":\"s\",\"provider\":\"p\","
	                           "\"body\":\"{}\",\"ttl\":\"1h\",\"for\":\"1h30m\"}";
	ck_assert_int_eq(proto_request_decode(text, strlen(text), &r, &code, &e), 0);
	ck_assert_double_eq(r.ttl_s, 3600);
	ck_assert_double_eq(r.for_s, 5400);
	proto_request_done(&r);
	DECODE_OK("{\"cmd\":\"drop\",\"target\":\"support:42\"}", PROTO_DROP, "support:42", false);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		decode_err_len(bad[i].line, strlen(bad[i].line), PROTO_E_BAD_REQUEST, bad[i].needle,
		               __LINE__);
}
END_TEST

START_TEST(test_decode_bad_json)
{
	DECODE_ERR("{\"cmd\":", PROTO_E_BAD_JSON, "request is not valid JSON: line 1, column 8: ");
	DECODE_ERR("{\"cmd\":\"ping\",}", PROTO_E_BAD_JSON, "line 1, column 15: ");
	DECODE_ERR("{\"cmd\":\"ping\"} x", PROTO_E_BAD_JSON, "line 1, column 16: ");
	DECODE_ERR("", PROTO_E_BAD_JSON, "line 1, column 1: ");
	DECODE_ERR("\xff", PROTO_E_BAD_JSON, "request is not valid JSON");
}
END_TEST

START_TEST(test_decode_not_object)
{
	DECODE_ERR("[{\"cmd\":\"ping\"}]", PROTO_E_BAD_REQUEST, "must be a JSON object");
	DECODE_ERR("\"ping\"", PROTO_E_BAD_REQUEST, "must be a JSON object");
}
END_TEST

START_TEST(test_decode_bad_cmd)
{
	DECODE_ERR("{}", PROTO_E_BAD_REQUEST, "\"cmd\"");
	DECODE_ERR("{\"target\":\"t\"}", PROTO_E_BAD_REQUEST, "\"cmd\"");
	DECODE_ERR("{\"cmd\":5}", PROTO_E_BAD_REQUEST, "\"cmd\"");
	DECODE_ERR("{\"cmd\":null}", PROTO_E_BAD_REQUEST, "\"cmd\"");
	DECODE_ERR("{\"cmd\":[\"ping\"]}", PROTO_E_BAD_REQUEST, "\"cmd\"");
	DECODE_ERR("{\"cmd\":\"frobnicate\"}", PROTO_E_UNKNOWN_COMMAND,
	           "unknown command \"frobnicate\"");
	DECODE_ERR("{\"cmd\":\"Ping\"}", PROTO_E_UNKNOWN_COMMAND, "\"Ping\"");
	DECODE_ERR("{\"cmd\":\"\"}", PROTO_E_UNKNOWN_COMMAND, "unknown command \"\"");
}
END_TEST

START_TEST(test_decode_long_unknown_command)
{
	char line[400], name[301];

	memset(name, 'x', 300);
	name[300] = '\0';
	snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}", name);
	/* The name is cut in the message, not overflowed. */
	DECODE_ERR(line, PROTO_E_UNKNOWN_COMMAND, "unknown command \"xxxxxxxxxxxxxxxx");
}
END_TEST

START_TEST(test_decode_embedded_nul)
{
	/* "ping\0x" is not "ping", and a target "a\0b" is not target "a". */
	DECODE_ERR("{\"cmd\":\"ping\\u0000x\"}", PROTO_E_UNKNOWN_COMMAND, "unknown command");
	DECODE_ERR("{\"cmd\":\"warm\",\"target\":\"a\\u0000b\"}", PROTO_E_BAD_REQUEST, "target");
}
END_TEST

START_TEST(test_decode_extra_argument)
{
	DECODE_ERR("{\"cmd\":\"ping\",\"x\":1}", PROTO_E_BAD_REQUEST,
	           "ping: unexpected argument \"x\"");
	DECODE_ERR("{\"cmd\":\"ping\",\"target\":\"t\"}", PROTO_E_BAD_REQUEST,
	           "ping: unexpected argument \"target\"");
	DECODE_ERR("{\"cmd\":\"reload\",\"all\":true}", PROTO_E_BAD_REQUEST,
	           "reload: unexpected argument \"all\"");
	DECODE_ERR("{\"cmd\":\"status\",\"all\":true}", PROTO_E_BAD_REQUEST,
	           "status: unexpected argument \"all\"");
	DECODE_ERR("{\"cmd\":\"warm\",\"target\":\"t\",\"force\":true}", PROTO_E_BAD_REQUEST,
	           "warm: unexpected argument \"force\"");
	DECODE_ERR("{\"cmd\":\"pause\",\"Target\":\"t\"}", PROTO_E_BAD_REQUEST, "\"Target\"");
}
END_TEST

START_TEST(test_decode_bad_target_or_all)
{
	DECODE_ERR("{\"cmd\":\"warm\",\"target\":5}", PROTO_E_BAD_REQUEST,
	           "\"target\" must be a non-empty string");
	DECODE_ERR("{\"cmd\":\"warm\",\"target\":\"\"}", PROTO_E_BAD_REQUEST,
	           "\"target\" must be a non-empty string");
	DECODE_ERR("{\"cmd\":\"status\",\"target\":[\"t\"]}", PROTO_E_BAD_REQUEST,
	           "\"target\" must be a non-empty string");
	DECODE_ERR("{\"cmd\":\"status\",\"target\":\"\"}", PROTO_E_BAD_REQUEST, "\"target\"");
	DECODE_ERR("{\"cmd\":\"warm\",\"all\":1}", PROTO_E_BAD_REQUEST,
	           "\"all\" must be a boolean");
	DECODE_ERR("{\"cmd\":\"warm\",\"all\":\"true\"}", PROTO_E_BAD_REQUEST,
	           "\"all\" must be a boolean");
}
END_TEST

START_TEST(test_decode_target_xor_all)
{
	static const char *const cmds[] = { "warm", "pause", "resume" };
	const char *c = cmds[_i];
	char line[128], want[64];

	snprintf(want, sizeof(want), "%s needs either \"target\" or \"all\":true", c);
	snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}", c);
	DECODE_ERR(line, PROTO_E_BAD_REQUEST, want);
	snprintf(line, sizeof(line), "{\"cmd\":\"%s\",\"all\":false}", c);
	DECODE_ERR(line, PROTO_E_BAD_REQUEST, want);
	snprintf(line, sizeof(line), "{\"cmd\":\"%s\",\"target\":\"t\",\"all\":true}", c);
	DECODE_ERR(line, PROTO_E_BAD_REQUEST, want);
}
END_TEST

static const char *deep_request(int levels)
{
	/* {"cmd":"ping","x":[[...[1]...]]}: the object is one level, the arrays
	 * the rest (with a value inside: json-c does not count an empty one). */
	static char s[4096];
	size_t n = 0;

	ck_assert_int_lt(levels * 2 + 32, (int)sizeof(s));
	n += (size_t)snprintf(s, sizeof(s), "{\"cmd\":\"ping\",\"x\":");
	for (int i = 1; i < levels; i++)
		s[n++] = '[';
	s[n++] = '1';
	for (int i = 1; i < levels; i++)
		s[n++] = ']';
	s[n++] = '}';
	s[n] = '\0';
	return s;
}

START_TEST(test_decode_deep_nesting)
{
	DECODE_ERR(deep_request(PROTO_MAX_DEPTH + 1), PROTO_E_BAD_JSON, "nesting too deep");
	DECODE_ERR(deep_request(1000), PROTO_E_BAD_JSON, "nesting too deep");
	/* Shallower nesting parses; the request is then refused for its argument. */
	DECODE_ERR(deep_request(PROTO_MAX_DEPTH / 2), PROTO_E_BAD_REQUEST,
	           "unexpected argument \"x\"");
}
END_TEST

/* ---- request encoding ------------------------------------------------------------- */

static void encode_roundtrip(enum proto_cmd cmd, const char *target, bool all, const char *want,
                             int ln)
{
	struct buf b = BUF_INIT;

	ck_assert_msg(proto_request_encode(&b, cmd, target, all) == 0, "line %d: encode", ln);
	ck_assert_msg(b.len == strlen(want) && strcmp(b.data, want) == 0,
	              "line %d: encoded %s, want %s", ln, b.data, want);
	/* The decoder gets the line without its newline. */
	decode_ok(b.data, cmd, target, all, ln);
	{
		struct proto_request req;
		struct errmsg e = { { 0 } };
		const char *code = NULL;
		ck_assert_int_eq(proto_request_decode(b.data, b.len - 1, &req, &code, &e), 0);
		ck_assert_int_eq(req.cmd, cmd);
		proto_request_done(&req);
	}
	buf_free(&b);
}

START_TEST(test_encode_roundtrip)
{
	encode_roundtrip(PROTO_PING, NULL, false, "{\"cmd\":\"ping\"}\n", __LINE__);
	encode_roundtrip(PROTO_STATUS, NULL, false, "{\"cmd\":\"status\"}\n", __LINE__);
	encode_roundtrip(PROTO_STATUS, "support-bot", false,
	                 "{\"cmd\":\"status\",\"target\":\"support-bot\"}\n", __LINE__);
	encode_roundtrip(PROTO_WARM, "support-bot", false,
	                 "{\"cmd\":\"warm\",\"target\":\"support-bot\"}\n", __LINE__);
	encode_roundtrip(PROTO_WARM, NULL, true, "{\"cmd\":\"warm\",\"all\":true}\n", __LINE__);
	encode_roundtrip(PROTO_PAUSE, NULL, true, "{\"cmd\":\"pause\",\"all\":true}\n", __LINE__);
	encode_roundtrip(PROTO_RESUME, "a/b \"c\" \xc3\xa9", false,
	                 "{\"cmd\":\"resume\",\"target\":\"a/b \\\"c\\\" \xc3\xa9\"}\n", __LINE__);
	encode_roundtrip(PROTO_RELOAD, NULL, false, "{\"cmd\":\"reload\"}\n", __LINE__);
}
END_TEST

START_TEST(test_encode_appends_and_rejects)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(proto_request_encode(&b, PROTO_PING, NULL, false), 0);
	ck_assert_int_eq(proto_request_encode(&b, PROTO_RELOAD, NULL, false), 0);
	ck_assert_str_eq(b.data, "{\"cmd\":\"ping\"}\n{\"cmd\":\"reload\"}\n");
	ck_assert_int_eq(proto_request_encode(&b, PROTO_CMD_COUNT, NULL, false), -EINVAL);
	ck_assert_int_eq(proto_request_encode(&b, (enum proto_cmd) - 1, "t", false), -EINVAL);
	ck_assert_uint_eq(b.len, 32);
	buf_free(&b);
}
END_TEST

/* ---- responses ------------------------------------------------------------------------ */

struct resp {
	json_object *obj;
	bool ok;
	json_object *data;
	const char *code, *message;
};

static void resp_decode(struct buf *b, struct resp *r, int ln)
{
	struct errmsg e = { { 0 } };
	int rc;

	ck_assert_msg(b->len > 0 && b->data[b->len - 1] == '\n', "line %d: no newline", ln);
	ck_assert_msg(memchr(b->data, '\n', b->len - 1) == NULL, "line %d: two lines", ln);
	r->code = r->message = (const char *)"unset";
	rc = proto_response_decode(b->data, b->len - 1, &r->obj, &r->ok, &r->data, &r->code,
	                           &r->message, &e);
	ck_assert_msg(rc == 0, "line %d: decode = %d %s", ln, rc, e.text);
}

START_TEST(test_response_ok_null)
{
	struct buf b = BUF_INIT;
	struct resp r;

	ck_assert_int_eq(proto_response_ok(&b, NULL), 0);
	ck_assert_str_eq(b.data, "{\"ok\":true,\"data\":null}\n");
	resp_decode(&b, &r, __LINE__);
	ck_assert(r.ok);
	ck_assert_ptr_null(r.data);
	ck_assert_ptr_null(r.code);
	ck_assert_ptr_null(r.message);
	json_object_put(r.obj);
	buf_free(&b);
}
END_TEST

START_TEST(test_response_ok_data)
{
	struct buf b = BUF_INIT;
	json_object *d = json_object_new_object(), *arr = json_object_new_array(),
	            *t = json_object_new_object();
	struct resp r;
	const char *want_data = "{\"targets\":[{\"name\":\"bot\",\"ttl_s\":300.0,\"last_refresh\":"
	                        "1700000000.500,\"expires_at\":null}],\"paused_all\":false}";

	jsonx_add_str(t, "name", "bot");
	jsonx_add_double(t, "ttl_s", 300);
	jsonx_add_time(t, "last_refresh", 1700000000.5);
	jsonx_add_time(t, "expires_at", 0);
	json_object_array_add(arr, t);
	json_object_object_add(d, "targets", arr);
	jsonx_add_bool(d, "paused_all", false);
	ck_assert_int_eq(proto_response_ok(&b, d), 0);
	ck_assert_str_eq(b.data, "{\"ok\":true,\"data\":{\"targets\":[{\"name\":\"bot\",\"ttl_s\":"
	                         "300.0,\"last_refresh\":1700000000.500,\"expires_at\":null}],"
	                         "\"paused_all\":false}}\n");
	resp_decode(&b, &r, __LINE__);
	ck_assert(r.ok);
	ck_assert_ptr_nonnull(r.data);
	ck_assert_str_eq(jsonx_dump(r.data, NULL), want_data);
	ck_assert_ptr_null(r.code);
	ck_assert_ptr_null(r.message);
	json_object_put(r.obj);
	buf_free(&b);
}
END_TEST

START_TEST(test_response_error)
{
	struct buf b = BUF_INIT;
	struct resp r;

	ck_assert_int_eq(proto_response_error(&b, PROTO_E_NOT_FOUND, "no target \"x/y\""), 0);
	ck_assert_str_eq(b.data, "{\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":"
	                         "\"no target \\\"x/y\\\"\"}}\n");
	resp_decode(&b, &r, __LINE__);
	ck_assert(!r.ok);
	ck_assert_ptr_null(r.data);
	ck_assert_str_eq(r.code, "not_found");
	ck_assert_str_eq(r.message, "no target \"x/y\"");
	ck_assert_ptr_null(jsonx_get(jsonx_get(r.obj, "error"), "details"));
	json_object_put(r.obj);
	buf_free(&b);
}
END_TEST

START_TEST(test_response_error_details)
{
	struct buf b = BUF_INIT;
	json_object *details = json_object_new_array(), *dv;
	struct resp r;

	json_object_array_add(details, json_object_new_string("warmd.conf:3: error: bad ttl"));
	json_object_array_add(details, json_object_new_string("warmd.conf:9: warning: \xc3\xa9"));
	ck_assert_int_eq(
	        proto_response_error_details(&b, PROTO_E_REJECTED, "config rejected", details), 0);
	ck_assert_str_eq(b.data,
	                 "{\"ok\":false,\"error\":{\"code\":\"rejected\",\"message\":"
	                 "\"config rejected\",\"details\":[\"warmd.conf:3: error: bad ttl\","
	                 "\"warmd.conf:9: warning: \xc3\xa9\"]}}\n");
	resp_decode(&b, &r, __LINE__);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.code, "rejected");
	ck_assert_str_eq(r.message, "config rejected");
	dv = jsonx_get(jsonx_get(r.obj, "error"), "details");
	ck_assert_ptr_nonnull(dv);
	ck_assert_uint_eq(json_object_array_length(dv), 2);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(dv, 1)),
	                 "warmd.conf:9: warning: \xc3\xa9");
	json_object_put(r.obj);
	buf_free(&b);

	/* NULL details: the same as proto_response_error. */
	ck_assert_int_eq(proto_response_error_details(&b, PROTO_E_BUSY, "busy", NULL), 0);
	ck_assert_str_eq(b.data,
	                 "{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"busy\"}}\n");
	buf_free(&b);
}
END_TEST

START_TEST(test_response_streamed_and_peek)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	json_object *data = json_object_new_object();
	bool ok = false;

	json_object_object_add(data, "x", json_object_new_int(1));
	ck_assert_int_eq(proto_response_ok(&a, data), 0);
	/* the streamed form writes the very same bytes */
	ck_assert_int_eq(proto_response_ok_open(&b), 0);
	buf_puts(&b, "{\"x\":1}");
	ck_assert_int_eq(proto_response_ok_close(&b), 0);
	ck_assert_str_eq(a.data, b.data);
	ck_assert_int_eq(proto_response_peek(a.data, a.len - 1, &ok), 0);
	ck_assert(ok);
	buf_reset(&a);
	proto_response_error(&a, PROTO_E_NOT_FOUND, "no");
	ck_assert_int_eq(proto_response_peek(a.data, a.len - 1, &ok), 0);
	ck_assert(!ok);
	ck_assert_int_eq(proto_response_peek("{\"data\":1,\"ok\":true}", 21, &ok), -EPROTO);
	ck_assert_int_eq(proto_response_peek("{\"ok\":true,\"data\":1", 20, &ok), -EPROTO);
	ck_assert_int_eq(proto_response_peek("garbage", 7, &ok), -EPROTO);
	ck_assert_int_eq(proto_response_peek("", 0, &ok), -EPROTO);
	buf_free(&a);
	buf_free(&b);
}
END_TEST

START_TEST(test_response_decode_errors)
{
	static const char *const bad[] = { "{\"ok\":1}", "{\"data\":{}}", "[]", "{\"ok\":null}",
		                           "{\"ok\":\"true\"}" };
	json_object *obj = NULL, *data = NULL;
	const char *code = NULL, *msg = NULL;
	struct errmsg e = { { 0 } };
	bool ok = false;
	const char *junk = "{\"ok\":tru";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(proto_response_decode(bad[i], strlen(bad[i]), &obj, &ok, &data,
		                                       &code, &msg, &e),
		                 -EPROTO);
		ck_assert_ptr_null(obj);
		ck_assert_ptr_nonnull(strstr(e.text, "\"ok\""));
	}
	ck_assert_int_lt(
	        proto_response_decode(junk, strlen(junk), &obj, &ok, &data, &code, &msg, &e), 0);
	ck_assert_ptr_null(obj);
	ck_assert_msg(
	        strncmp(e.text, "daemon answered with invalid JSON: line 1, column 10: ", 54) == 0,
	        "message: %s", e.text);
}
END_TEST

/* ---- line framing --------------------------------------------------------------------- */

struct coll {
	struct buf out; /* "[line]" per line, "<LONG>" per oversized one */
	int calls;
	int stop_at; /* return -ECANCELED from this call (1-based), 0: never */
};

static int collect_cb(void *data, const char *line, size_t len)
{
	struct coll *c = data;

	c->calls++;
	if (!line) {
		ck_assert_uint_eq(len, 0);
		buf_puts(&c->out, "<LONG>");
	} else {
		buf_puts(&c->out, "[");
		buf_append(&c->out, line, len);
		buf_puts(&c->out, "]");
	}
	return c->stop_at && c->calls == c->stop_at ? -ECANCELED : 0;
}

static int feed(struct linebuf *lb, struct coll *c, const char *s)
{
	return linebuf_feed(lb, s, strlen(s), collect_cb, c);
}

static const char *got(struct coll *c)
{
	return c->out.data ? c->out.data : "";
}

START_TEST(test_linebuf_split_across_feeds)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };
	const char *all = "{\"cmd\":\"ping\"}\nsecond line\n";

	linebuf_init(&lb, 64);
	ck_assert_int_eq(feed(&lb, &c, "{\"cmd\""), 0);
	ck_assert_str_eq(got(&c), "");
	ck_assert_int_eq(feed(&lb, &c, ":\"ping\"}"), 0);
	ck_assert_str_eq(got(&c), "");
	ck_assert_int_eq(feed(&lb, &c, "\nsec"), 0);
	ck_assert_str_eq(got(&c), "[{\"cmd\":\"ping\"}]");
	ck_assert_int_eq(feed(&lb, &c, "ond line\n"), 0);
	ck_assert_str_eq(got(&c), "[{\"cmd\":\"ping\"}][second line]");
	buf_free(&c.out);

	/* One byte at a time gives the same lines. */
	for (size_t i = 0; i < strlen(all); i++)
		ck_assert_int_eq(linebuf_feed(&lb, all + i, 1, collect_cb, &c), 0);
	ck_assert_str_eq(got(&c), "[{\"cmd\":\"ping\"}][second line]");
	ck_assert_int_eq(c.calls, 4);
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_several_in_one_feed)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };

	linebuf_init(&lb, 64);
	ck_assert_int_eq(feed(&lb, &c, "a\nbb\nccc\ndd"), 0);
	ck_assert_str_eq(got(&c), "[a][bb][ccc]");
	ck_assert_int_eq(feed(&lb, &c, "d\ne\n"), 0);
	ck_assert_str_eq(got(&c), "[a][bb][ccc][ddd][e]");
	ck_assert_int_eq(c.calls, 5);
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_crlf)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };

	linebuf_init(&lb, 64);
	ck_assert_int_eq(feed(&lb, &c, "a\r\nb\r\n"), 0);
	ck_assert_str_eq(got(&c), "[a][b]");
	/* CR and LF in different feeds. */
	ck_assert_int_eq(feed(&lb, &c, "xy\r"), 0);
	ck_assert_int_eq(feed(&lb, &c, "\n"), 0);
	ck_assert_str_eq(got(&c), "[a][b][xy]");
	/* Only the CR right before the LF is dropped. */
	ck_assert_int_eq(feed(&lb, &c,
	                      "p\rq\n"
	                      "z\r\r\n"),
	                 0);
	ck_assert_str_eq(got(&c), "[a][b][xy][p\rq][z\r]");
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

struct empty_coll {
	int calls;
	int empty_nonnull;
};

static int empty_cb(void *data, const char *line, size_t len)
{
	struct empty_coll *c = data;

	c->calls++;
	if (line && len == 0)
		c->empty_nonnull++;
	return 0;
}

START_TEST(test_linebuf_empty_line)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };
	struct empty_coll ec = { 0, 0 };

	linebuf_init(&lb, 8);
	ck_assert_int_eq(feed(&lb, &c, "\n\r\nx\n\n"), 0);
	ck_assert_str_eq(got(&c), "[][][x][]");
	/* Empty lines come with a pointer (NULL means "too long"). */
	ck_assert_int_eq(linebuf_feed(&lb, "\n\r\n", 3, empty_cb, &ec), 0);
	ck_assert_int_eq(ec.calls, 2);
	ck_assert_int_eq(ec.empty_nonnull, 2);
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_too_long_one_feed)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };

	linebuf_init(&lb, 8);
	/* Exactly max bytes is fine; one more is too long. */
	ck_assert_int_eq(feed(&lb, &c, "01234567\n012345678\nok\n"), 0);
	ck_assert_str_eq(got(&c), "[01234567]<LONG>[ok]");
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_too_long_buffered_then_newline)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };

	linebuf_init(&lb, 8);
	ck_assert_int_eq(feed(&lb, &c, "012345"), 0);
	ck_assert_int_eq(feed(&lb, &c, "6789\nok\n"), 0);
	ck_assert_str_eq(got(&c), "<LONG>[ok]");
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_too_long_many_feeds)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };

	linebuf_init(&lb, 8);
	ck_assert_int_eq(feed(&lb, &c, "first\n0123"), 0);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(feed(&lb, &c, "abcd"), 0);
	/* Reported once, as soon as it is known, and nothing of it delivered. */
	ck_assert_str_eq(got(&c), "[first]<LONG>");
	ck_assert_int_eq(feed(&lb, &c, "tail-of-the-long-line"), 0);
	ck_assert_int_eq(feed(&lb, &c, "end\nnext\n"), 0);
	ck_assert_str_eq(got(&c), "[first]<LONG>[next]");
	/* Then lines work again, split or not, and a second long line is reported too. */
	ck_assert_int_eq(feed(&lb, &c, "ne"), 0);
	ck_assert_int_eq(feed(&lb, &c, "xt2\n0123456789ABCDEF\n"), 0);
	ck_assert_str_eq(got(&c), "[first]<LONG>[next][next2]<LONG>");
	ck_assert_int_eq(c.calls, 5);
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_long_line_newline_alone)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };

	linebuf_init(&lb, 4);
	ck_assert_int_eq(feed(&lb, &c, "abcdefgh"), 0);
	ck_assert_int_eq(feed(&lb, &c, "\n"), 0);
	ck_assert_int_eq(feed(&lb, &c, "ok\n"), 0);
	ck_assert_str_eq(got(&c), "<LONG>[ok]");
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_proto_max_line)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };
	static char big[PROTO_MAX_LINE + 2];
	size_t n = PROTO_MAX_LINE;

	memset(big, 'x', n + 1);
	big[n] = '\n';
	linebuf_init(&lb, PROTO_MAX_LINE);
	/* A 1 MiB line in two halves is delivered whole. */
	ck_assert_int_eq(linebuf_feed(&lb, big, n / 2, collect_cb, &c), 0);
	ck_assert_int_eq(linebuf_feed(&lb, big + n / 2, n / 2 + 1, collect_cb, &c), 0);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_uint_eq(c.out.len, n + 2);
	buf_free(&c.out);
	/* One byte more is reported as too long. */
	big[n] = 'x';
	big[n + 1] = '\n';
	ck_assert_int_eq(linebuf_feed(&lb, big, n + 2, collect_cb, &c), 0);
	ck_assert_str_eq(got(&c), "<LONG>");
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_callback_stops)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 2 };

	linebuf_init(&lb, 8);
	ck_assert_int_eq(feed(&lb, &c, "a\nb\nc\nd\n"), -ECANCELED);
	ck_assert_str_eq(got(&c), "[a][b]");
	ck_assert_int_eq(c.calls, 2);
	buf_free(&c.out);
	linebuf_free(&lb);

	/* Stopping on the too-long report works the same. */
	c.calls = 0;
	c.stop_at = 1;
	linebuf_init(&lb, 4);
	ck_assert_int_eq(feed(&lb, &c, "123456\nok\n"), -ECANCELED);
	ck_assert_str_eq(got(&c), "<LONG>");
	ck_assert_int_eq(c.calls, 1);
	buf_free(&c.out);
	linebuf_free(&lb);

	/* And on a line completed from buffered bytes. */
	c.calls = 0;
	c.stop_at = 1;
	linebuf_init(&lb, 16);
	ck_assert_int_eq(feed(&lb, &c, "par"), 0);
	ck_assert_int_eq(feed(&lb, &c, "tial\nmore\n"), -ECANCELED);
	ck_assert_str_eq(got(&c), "[partial]");
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_free_twice_and_reuse)
{
	struct linebuf lb;
	struct coll c = { BUF_INIT, 0, 0 };

	linebuf_init(&lb, 8);
	ck_assert_int_eq(feed(&lb, &c, "partial"), 0);
	linebuf_free(&lb);
	linebuf_free(&lb);
	linebuf_init(&lb, 8);
	ck_assert_int_eq(feed(&lb, &c, "new\n"), 0);
	ck_assert_str_eq(got(&c), "[new]");
	buf_free(&c.out);
	linebuf_free(&lb);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("request");

	tcase_add_test(tc, test_decode_every_command);
	tcase_add_test(tc, test_decode_respects_len);
	tcase_add_test(tc, test_cmd_table);
	tcase_add_test(tc, test_touch_decode);
	tcase_add_test(tc, test_touch_bounds);
	tcase_add_test(tc, test_rollout_and_test_decode);
	tcase_add_test(tc, test_keep_decode);
	tcase_add_test(tc, test_decode_bad_json);
	tcase_add_test(tc, test_decode_not_object);
	tcase_add_test(tc, test_decode_bad_cmd);
	tcase_add_test(tc, test_decode_long_unknown_command);
	tcase_add_test(tc, test_decode_embedded_nul);
	tcase_add_test(tc, test_decode_extra_argument);
	tcase_add_test(tc, test_decode_bad_target_or_all);
	tcase_add_loop_test(tc, test_decode_target_xor_all, 0, 3);
	tcase_add_test(tc, test_decode_deep_nesting);
	tcase_add_test(tc, test_encode_roundtrip);
	tcase_add_test(tc, test_encode_appends_and_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_test(tc, test_response_ok_null);
	tcase_add_test(tc, test_response_ok_data);
	tcase_add_test(tc, test_response_error);
	tcase_add_test(tc, test_response_error_details);
	tcase_add_test(tc, test_response_decode_errors);
	tcase_add_test(tc, test_response_streamed_and_peek);
	suite_add_tcase(s, tc);

	tc = tcase_create("linebuf");
	tcase_add_test(tc, test_linebuf_split_across_feeds);
	tcase_add_test(tc, test_linebuf_several_in_one_feed);
	tcase_add_test(tc, test_linebuf_crlf);
	tcase_add_test(tc, test_linebuf_empty_line);
	tcase_add_test(tc, test_linebuf_too_long_one_feed);
	tcase_add_test(tc, test_linebuf_too_long_buffered_then_newline);
	tcase_add_test(tc, test_linebuf_too_long_many_feeds);
	tcase_add_test(tc, test_linebuf_long_line_newline_alone);
	tcase_add_test(tc, test_linebuf_proto_max_line);
	tcase_add_test(tc, test_linebuf_callback_stops);
	tcase_add_test(tc, test_linebuf_free_twice_and_reuse);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

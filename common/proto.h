/* proto: the control-socket protocol shared by warmd and warmctl.
 *
 * One request per line, one JSON object: {"cmd":"status","target":"x"}.
 * One response per line: {"ok":true,"data":{...}} or
 * {"ok":false,"error":{"code":"...","message":"..."}}.
 * The command table is append-only; codes and field names are the contract
 * (docs/protocol.md). Nothing here does I/O. */
#ifndef WARMD_PROTO_H
#define WARMD_PROTO_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"

#define PROTO_MAX_LINE  (1024 * 1024) /* bytes, newline excluded */
#define PROTO_MAX_DEPTH 32            /* JSON nesting accepted on the socket */

enum proto_cmd {
	PROTO_PING,
	PROTO_STATUS,
	PROTO_WARM,
	PROTO_PAUSE,
	PROTO_RESUME,
	PROTO_RELOAD,
	PROTO_TOUCH,
	PROTO_METRICS,
	PROTO_VERSIONS,
	PROTO_AUDIT,
	PROTO_TEST,
	PROTO_SHIFT,
	PROTO_PROMOTE,
	PROTO_ROLLBACK,
	PROTO_ROUTE,
	PROTO_KEEP,
	PROTO_DROP,
	PROTO_CMD_COUNT
};

/* What a command takes besides "cmd". */
enum proto_args {
	PROTO_ARGS_NONE,          /* nothing */
	PROTO_ARGS_TARGET_OPT,    /* optional "target" */
	PROTO_ARGS_TARGET_OR_ALL, /* "target" or "all":true, exactly one */
	PROTO_ARGS_TOUCH,         /* "target", optional "result", "cached", "input" */
	PROTO_ARGS_TARGET,        /* "target", required */
	PROTO_ARGS_TEST,          /* "target", optional "n" and "variants" */
	PROTO_ARGS_VERSION,       /* "target" and "version" */
	PROTO_ARGS_SHIFT,         /* "target", "version" and "percent" */
	PROTO_ARGS_KEEP, /* "target", "provider", "body"; optional "ttl", "for", "priority",
	                    "model", "deployment" */
};

#define PROTO_MAX_MODEL         2048 /* keep's model and deployment: bytes, as warmd.conf's */
#define PROTO_TEST_MAX_N        100  /* requests one test may send */
#define PROTO_TEST_DEFAULT_N    5
#define PROTO_TEST_MAX_VARIANTS 16

/* What real traffic reported about the cache (touch). */
enum proto_touch_result { PROTO_TOUCH_UNKNOWN = -1, PROTO_TOUCH_MISS = 0, PROTO_TOUCH_HIT = 1 };

struct proto_cmd_info {
	const char *name;
	enum proto_args args;
	bool mutating; /* needs a privileged peer */
};

const struct proto_cmd_info *proto_cmd_info(enum proto_cmd c);
/* Returns the command with that name, or -1. */
int proto_cmd_lookup(const char *name);

/* Error codes carried in responses. */
#define PROTO_E_BAD_JSON        "bad_json"
#define PROTO_E_BAD_REQUEST     "bad_request"
#define PROTO_E_UNKNOWN_COMMAND "unknown_command"
#define PROTO_E_NOT_FOUND       "not_found"
#define PROTO_E_FORBIDDEN       "forbidden"
#define PROTO_E_TOO_LONG        "line_too_long"
#define PROTO_E_FAILED          "failed"
#define PROTO_E_REJECTED        "rejected"
#define PROTO_E_BUSY            "busy"
#define PROTO_E_LIMIT           "limit"

struct proto_request {
	enum proto_cmd cmd;
	const char *target; /* points into obj, or NULL */
	bool all;
	enum proto_touch_result result; /* touch: hit/miss, or unknown */
	int64_t cached;                 /* touch: cached tokens, <= BOUNDS_MAX_TOKENS, -1 absent */
	int64_t input;                  /* touch: input tokens, <= BOUNDS_MAX_TOKENS, -1 absent */
	const char *version;            /* shift/promote: a version name, or NULL */
	int64_t percent;                /* shift: 0-100, -1 if absent */
	int64_t n;                      /* test: requests to send */
	json_object *variants;          /* test: [{"file","body"}] (borrowed from obj), or NULL */
	const char *provider;           /* keep: a provider name, or NULL */
	const char *body;               /* keep: the request body as JSON text (in obj), or NULL */
	size_t body_len;
	double ttl_s, for_s; /* keep: seconds, 0 when absent */
	int64_t priority;    /* keep: 0-1000000, -1 when absent */
	const char *model;   /* keep: the model the URL names (bedrock, vertex, gemini), or NULL */
	const char *deployment; /* keep: an azure-openai deployment, or NULL */
	json_object *obj;       /* the parsed request; owned, free with proto_request_done */
};

/* Decodes one request line (without its newline). Every number is checked
 * against its bound (touch's counts against BOUNDS_MAX_TOKENS of
 * common/bounds.h). On failure returns -EINVAL, sets *ret_code to one of the
 * PROTO_E_* codes and e to a message naming what is wrong (and the bound);
 * ret is left alone and nothing is allocated then. */
int proto_request_decode(const char *line, size_t len, struct proto_request *ret,
                         const char **ret_code, struct errmsg *e);
void proto_request_done(struct proto_request *r);

/* Encodes a request line, newline included. target may be NULL. */
int proto_request_encode(struct buf *out, enum proto_cmd cmd, const char *target, bool all);
/* Encodes a command with its own arguments: version may be NULL, percent
 * and n < 0 are left out, variants (taken over) may be NULL. */
int proto_request_encode_args(struct buf *out, enum proto_cmd cmd, const char *target,
                              const char *version, int64_t percent, int64_t n,
                              json_object *variants);
/* Encodes a keep: ttl_s and for_s <= 0, priority < 0 and a NULL model
 * or deployment are left out. The body travels as a JSON string, escaped: a body of n bytes may take
 * up to 6n on the line (a control character is \u00XX), so the caller
 * checks the line against PROTO_MAX_LINE. */
int proto_request_encode_keep(struct buf *out, const char *target, const char *provider,
                              const char *body, size_t body_len, double ttl_s, double for_s,
                              int64_t priority, const char *model, const char *deployment);
/* Encodes a touch; cached / input < 0 are left out. */
int proto_request_encode_touch(struct buf *out, const char *target, enum proto_touch_result result,
                               int64_t cached, int64_t input);

/* Streams a large ok response: _open appends `{"ok":true,"data":`, the caller
 * appends the data as JSON, _close ends the line. */
int proto_response_ok_open(struct buf *out);
int proto_response_ok_close(struct buf *out);

/* Appends a response line (newline included). ok_response takes ownership of data (may be NULL). */
int proto_response_ok(struct buf *out, json_object *data);
int proto_response_error(struct buf *out, const char *code, const char *message);
/* Same, with a "details" array of strings (takes ownership; may be NULL). */
int proto_response_error_details(struct buf *out, const char *code, const char *message,
                                 json_object *details);

/* Reads only the verdict of a response line: warmd always writes "ok" first
 * ({"ok":true,... or {"ok":false,...}), so a client that passes the line on
 * unchanged (warmctl --json) need not parse megabytes of status. Returns 0,
 * or -EPROTO when the line does not have that shape. */
int proto_response_peek(const char *line, size_t len, bool *ret_ok);

/* Decodes a response line. On success *ret_obj owns the whole response; *ret_ok,
 * *ret_data (borrowed from obj), *ret_code and *ret_message (borrowed) are set. */
int proto_response_decode(const char *line, size_t len, json_object **ret_obj, bool *ret_ok,
                          json_object **ret_data, const char **ret_code, const char **ret_message,
                          struct errmsg *e);

/* Line framing with a hard limit. Feed bytes; complete lines are handed to cb
 * without their newline. A line longer than max is reported once through
 * cb with line == NULL, and its bytes are skipped up to the next newline.
 * cb returns 0 to continue, <0 to stop (feed then returns that value). */
struct linebuf {
	struct buf b;
	size_t max;
	bool skipping;
};
typedef int (*linebuf_cb)(void *data, const char *line, size_t len);
void linebuf_init(struct linebuf *lb, size_t max);
int linebuf_feed(struct linebuf *lb, const char *p, size_t n, linebuf_cb cb, void *data);
void linebuf_free(struct linebuf *lb);

#endif

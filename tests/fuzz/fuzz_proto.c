/* fuzz_proto: the control protocol (common/proto.c) as both ends read it.
 *
 * The daemon's side is the one that matters: any local client may send a
 * request line. The input is decoded as one request (what ctl.c hands over),
 * framed by linebuf as a socket stream delivers it (in chunks, with a small
 * line limit so the over-long path runs too, each line decoded), and read
 * as a response line the way warmctl reads the daemon's answers. */
#include <stdbool.h>

#include "fuzz.h"
#include "proto.h"

/* What ctl.c relies on after a successful decode. */
static void check_request(const struct proto_request *r)
{
	const struct proto_cmd_info *info = proto_cmd_info(r->cmd);

	if (!info || !r->obj)
		abort();
	if (r->target && !r->target[0])
		abort();
	switch (info->args) {
	case PROTO_ARGS_TARGET:
	case PROTO_ARGS_TOUCH:
		if (!r->target)
			abort();
		break;
	case PROTO_ARGS_TARGET_OR_ALL:
		if (!r->target == !r->all)
			abort();
		break;
	case PROTO_ARGS_TEST:
		if (!r->target || r->n < 1 || r->n > PROTO_TEST_MAX_N)
			abort();
		break;
	case PROTO_ARGS_SHIFT:
		if (r->percent < 0 || r->percent > 100)
			abort();
		/* fall through */
	case PROTO_ARGS_VERSION:
		if (!r->target || !r->version || !r->version[0])
			abort();
		break;
	default:
		break;
	}
	if (info->args == PROTO_ARGS_TOUCH && (r->cached < -1 || r->input < -1))
		abort();
}

static void decode(const char *line, size_t len)
{
	struct proto_request req;
	const char *code = NULL;
	struct errmsg e;

	memset(&req, 0, sizeof(req));
	e.text[0] = '\0';
	if (proto_request_decode(line, len, &req, &code, &e) == 0) {
		check_request(&req);
		proto_request_done(&req);
	} else if (!code || !e.text[0]) {
		abort(); /* every refusal carries a code and a message */
	}
}

static int line_cb(void *data, const char *line, size_t len)
{
	unsigned *lines = data;

	(*lines)++;
	if (line)
		decode(line, len);
	return 0;
}

static void response(const char *line, size_t len)
{
	json_object *obj = NULL, *d = NULL;
	const char *code = NULL, *msg = NULL;
	bool ok = false, peek_ok = false;
	struct errmsg e;
	int peek = proto_response_peek(line, len, &peek_ok);

	if (proto_response_decode(line, len, &obj, &ok, &d, &code, &msg, &e) == 0) {
		/* A well-formed answer with "ok" first must peek the same way. */
		if (peek == 0 && peek_ok != ok)
			abort();
		json_object_put(obj);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct linebuf lb;
	unsigned lines = 0;
	size_t off = 0, chunk = size ? (size_t)data[0] % 7 + 1 : 1;

	decode(p, size);
	response(p, size);

	linebuf_init(&lb, 128);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (linebuf_feed(&lb, p + off, n, line_cb, &lines) < 0)
			abort();
		off += n;
		chunk = chunk * 3 % 61 + 1; /* uneven reads, as a socket gives them */
	}
	if (lines > size)
		abort(); /* at most one callback per newline */
	linebuf_free(&lb);
	return 0;
}

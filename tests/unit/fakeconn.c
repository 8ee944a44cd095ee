/* fakeconn: a control connection of the tests' own. */
#include "fakeconn.h"

#include <check.h>
#include <string.h>

#include "proto.h"

static struct ctl_reply *fc_defer(struct ctl_conn *c)
{
	struct fakeconn *fc = (struct fakeconn *)c;

	if (fc->busy || fc->deferred)
		return NULL;
	fc->deferred = true;
	return &fc->reply;
}

static void fc_send(struct ctl_reply *r, struct buf *out)
{
	struct fakeconn *fc = (struct fakeconn *)((char *)r - offsetof(struct fakeconn, reply));

	ck_assert_msg(fc->deferred, "send() without defer()");
	fc->deferred = false;
	if (!out) {
		fc->dropped++;
		return;
	}
	fc->sent++;
	buf_free(&fc->answer);
	fc->answer = *out;
	*out = (struct buf)BUF_INIT;
}

static bool fc_alive(const struct ctl_reply *r)
{
	const struct fakeconn *fc =
	        (const struct fakeconn *)((const char *)r - offsetof(struct fakeconn, reply));

	return !fc->gone;
}

static const struct ctl_reply_ops fc_ops = { .defer = fc_defer,
	                                     .send = fc_send,
	                                     .alive = fc_alive };

void fakeconn_init(struct fakeconn *fc)
{
	memset(fc, 0, sizeof(*fc));
	fc->base.ops = &fc_ops;
	fc->reply.ops = &fc_ops;
}

void fakeconn_free(struct fakeconn *fc)
{
	buf_free(&fc->answer);
}

json_object *response_of(const char *line, size_t len, bool *ret_ok, json_object **ret_data,
                         const char **ret_code)
{
	json_object *obj = NULL, *data = NULL;
	const char *code = NULL, *msg = NULL;
	struct errmsg e;

	ck_assert_msg(len > 0 && line[len - 1] == '\n', "not one response line: %.*s", (int)len,
	              line ? line : "");
	ck_assert_msg(proto_response_decode(line, len - 1, &obj, ret_ok, &data, &code, &msg, &e) ==
	                      0,
	              "%s: %.*s", e.text, (int)len, line);
	if (ret_data)
		*ret_data = data;
	if (ret_code)
		*ret_code = code;
	return obj;
}

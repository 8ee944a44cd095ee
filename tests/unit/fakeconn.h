/* fakeconn: a control connection of the tests' own (ctl_reply.h), for the
 * unit tests of commands that answer later: it records whether a command
 * deferred its reply, the answer it sent, and can pretend its client left. */
#ifndef WARMD_FAKECONN_H
#define WARMD_FAKECONN_H

#include <json-c/json.h>
#include <stdbool.h>

#include "buf.h"
#include "ctl_reply.h"

struct fakeconn {
	struct ctl_conn base;
	struct ctl_reply reply;
	bool deferred; /* the slot is taken */
	bool busy;     /* defer() refuses, as a connection already waiting does */
	bool gone;     /* the client left: alive() says so */
	int sent;      /* answers sent (send() with an answer) */
	int dropped;   /* send() with no answer: the connection would close */
	struct buf answer;
};

void fakeconn_init(struct fakeconn *fc);
void fakeconn_free(struct fakeconn *fc);

/* A response line as JSON: *ret_ok and its data or error code (borrowed
 * from the returned object, which the caller puts). Fails the test on a
 * line that is not a warmd response. */
json_object *response_of(const char *line, size_t len, bool *ret_ok, json_object **ret_data,
                         const char **ret_code);

#endif

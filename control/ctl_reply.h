/* ctl_reply: how a control command answers later.
 *
 * A command that cannot answer at once (it waits for a warm, sends requests
 * of its own, or runs on a worker thread) takes the reply slot of the
 * connection its request came on with ctl_reply_defer(), leaves its output
 * empty, and later calls ctl_reply_send() exactly once, even when the
 * client has gone (the answer is then dropped). Meanwhile other requests on
 * that connection get a "busy" error. ctl_reply_alive() tells whether the
 * client is still there to hear the answer.
 *
 * The control socket server (ctl.c) implements this table; a test of a
 * command implements it with a connection of its own. */
#ifndef WARMD_CTL_REPLY_H
#define WARMD_CTL_REPLY_H

#include <stdbool.h>

struct buf;
struct ctl_conn;
struct ctl_reply;

struct ctl_reply_ops {
	/* Takes c's reply slot; NULL when it is taken already. */
	struct ctl_reply *(*defer)(struct ctl_conn *c);
	/* Sends out (taken over) as the answer; with out NULL, no answer: the
	 * connection is closed. r is gone afterwards. */
	void (*send)(struct ctl_reply *r, struct buf *out);
	/* Is the client of r still there to hear the answer? */
	bool (*alive)(const struct ctl_reply *r);
};

/* The connection a request came on, as a command sees it. */
struct ctl_conn {
	const struct ctl_reply_ops *ops;
};

/* A reply slot taken for later. */
struct ctl_reply {
	const struct ctl_reply_ops *ops;
};

static inline struct ctl_reply *ctl_reply_defer(struct ctl_conn *c)
{
	return c->ops->defer(c);
}

static inline void ctl_reply_send(struct ctl_reply *r, struct buf *out)
{
	r->ops->send(r, out);
}

static inline bool ctl_reply_alive(const struct ctl_reply *r)
{
	return r->ops->alive(r);
}

#endif

/* redis: cluster mode's two hiredis connections (commands, subscriber) on
 * the daemon's libuv loop: connecting (host names resolved off the loop),
 * the handshake (AUTH, SELECT, PING, SUBSCRIBE), one uv timer that times out
 * connects and commands (hiredis 0.14 has no async timeouts), dropping both
 * connections on any failure and reconnecting with a backoff.
 *
 * hiredis 0.14 lifetime rules this file relies on (async.c):
 * - A reply callback runs with REDIS_IN_CALLBACK set; the connect and
 *   disconnect callbacks do not, and hiredis frees the context right after
 *   them (connect with an error status, disconnect), so redisAsyncFree()
 *   must never be called from those two, and not while the context is
 *   inside redisAsyncHandleRead/Write. This file only frees a context when
 *   none of its callbacks is on the stack (conn.nest == 0); otherwise it
 *   marks the context and the timer frees it at the loop's top level.
 * - Freeing a context calls every pending reply callback (and each channel's
 *   subscribe callback) with a NULL reply, then the disconnect callback if
 *   it had connected, then frees it. A NULL reply therefore always means
 *   "this context is being freed".
 * - Our own command records (struct pending) are what the callers see: they
 *   are failed (callback with NULL and a reason) by this file, before the
 *   context is freed; hiredis's later NULL call only frees the record.
 * - struct redis outlives both contexts: it is freed only in the timer's
 *   close callback, after both are gone. */
#include "redis.h"

#include <errno.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cred.h" /* cred_secret_alloc/free: the password's locked mapping */
#include "xalloc.h"

#define BACKOFF_MIN_S 0.25
#define BACKOFF_MAX_S 5.0
/* The largest reply accepted (bytes of strings plus reply objects). The
 * cluster's biggest reads are a node's config hash and the warmth records:
 * tens of bytes per target, so about a megabyte for 10,000 targets. A reply
 * beyond this is a Redis gone wrong (or not Redis): the connection drops. */
#define REPLY_MAX      (32u << 20)
#define REPLY_MAX_TEXT "32 MiB"
/* hiredis 0.14's maxbuf is not a reply limit: it is how large an emptied
 * read buffer may stay allocated. 64 KiB keeps steady-state reads from
 * reallocating while a burst does not keep its memory. */
#define READER_MAXBUF (64u << 10)
#define WHY_MAX       640 /* where (300) + Redis's text (200) + ours */
#define NS_PER_S      1000000000.0
#define RTT_WEIGHT    0.2 /* of a new sample in the EWMA */

enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_UP };

struct conn {
	struct redis *r;
	redisAsyncContext *ac; /* NULL when idle */
	enum cstate state;
	bool sub;             /* the subscriber connection */
	bool dying;           /* ac is being freed (by hiredis or us) or will be by the timer */
	bool kill;            /* the timer frees ac (asked while one of its callbacks ran) */
	int nest;             /* our callbacks for ac on the stack */
	uint64_t t0;          /* when the connect started (uv_hrtime) */
	unsigned hs_left;     /* handshake replies still due */
	size_t subs_left;     /* SUBSCRIBE confirmations still due */
	const char *hs_step;  /* the handshake command being answered (for errors) */
	size_t reply_bytes;   /* of the reply being parsed */
	char reader_why[160]; /* why our reader functions refused a reply */
};

struct pending {
	struct pending *prev, *next;
	redis_reply_cb cb; /* NULL once answered (closing, timeout, lost) */
	void *data;
	uint64_t sent; /* uv_hrtime */
	bool linked;
};

/* A name lookup in flight. Orphaned (r = NULL) when the attempt is given up:
 * the lookup's callback then only frees it, so nothing waits for the pool. */
struct resolve {
	uv_getaddrinfo_t req;
	struct redis *r;
};

struct redis {
	uv_loop_t *loop;
	struct redis_addr addr;
	char where[300]; /* "unix:///path" or "host:port": for messages, no secret */
	char *username;  /* or NULL */
	char *pass;      /* cred_secret_alloc'd, pass_cap bytes; NULL when none */
	size_t pass_len, pass_cap;
	char **channels;
	size_t nchannels;
	double timeout_s;
	uint64_t timeout_ns;
	struct redis_ops ops;
	void *data;
	struct conn conns[2]; /* [0] commands, [1] subscriber (when channels) */
	size_t nconns;
	uv_timer_t timer;
	bool timer_closing;
	struct resolve *resolving;
	uint64_t t_resolve;
	char ip[INET6_ADDRSTRLEN];
	struct pending *head, *tail; /* commands sent, oldest first */
	bool up, down_told, closing;
	double backoff_s;
	uint64_t retry_at;
	double rtt;
	uint64_t ncmd, nerr;
};

static void timer_cb(uv_timer_t *t);
static void redis_failed(struct redis *r, const char *why);

/* Handshake steps, passed as the reply callback's privdata. */
static char step_auth[] = "AUTH", step_select[] = "SELECT", step_ping[] = "PING";

/* Copies Redis's (or hiredis's) text into a reason: printable ASCII only,
 * so a log line stays one line whatever the server sent. */
static void clean_copy(char *dst, size_t n, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < n; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static void kick(struct redis *r)
{
	if (!r->timer_closing)
		uv_timer_start(&r->timer, timer_cb, 0, 0);
}

/* ---- the timer ---------------------------------------------------------- */

static bool all_idle(const struct redis *r)
{
	for (size_t i = 0; i < r->nconns; i++)
		if (r->conns[i].ac)
			return false;
	return !r->resolving;
}

/* Arms the timer for the earliest deadline: a connect or handshake, the
 * oldest command, a lookup, the next attempt. Firing early is harmless (the
 * callback re-arms), so replies do not re-arm it. */
static void arm(struct redis *r)
{
	uint64_t now = uv_hrtime(), next = UINT64_MAX;

	if (r->closing || r->timer_closing)
		return;
	for (size_t i = 0; i < r->nconns; i++) {
		const struct conn *c = &r->conns[i];

		if (c->kill)
			next = now;
		else if (c->ac && !c->dying &&
		         (c->state == C_CONNECTING || c->state == C_HANDSHAKE))
			next = c->t0 + r->timeout_ns < next ? c->t0 + r->timeout_ns : next;
	}
	if (r->head && r->head->sent + r->timeout_ns < next)
		next = r->head->sent + r->timeout_ns;
	if (r->resolving && r->t_resolve + r->timeout_ns < next)
		next = r->t_resolve + r->timeout_ns;
	if (!r->up && all_idle(r) && r->retry_at < next)
		next = r->retry_at;
	if (next == UINT64_MAX) {
		uv_timer_stop(&r->timer);
		return;
	}
	uv_timer_start(&r->timer, timer_cb, next > now ? (next - now + 999999) / 1000000 : 0, 0);
}

/* ---- command records ---------------------------------------------------- */

static void pending_unlink(struct redis *r, struct pending *p)
{
	if (!p->linked)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		r->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		r->tail = p->prev;
	p->prev = p->next = NULL;
	p->linked = false;
}

/* Calls every outstanding command's callback with NULL. A callback may call
 * redis_cmd (refused: not up) or redis_close (which finds the rest). */
static void fail_all(struct redis *r, const char *why)
{
	struct pending *p;

	while ((p = r->head)) {
		redis_reply_cb cb = p->cb;

		pending_unlink(r, p);
		p->cb = NULL;
		if (cb)
			cb(p->data, NULL, why);
	}
}

/* ---- dropping ----------------------------------------------------------- */

/* Frees c's context now when none of its callbacks is running, else has the
 * timer do it (see the lifetime rules at the top). */
static void conn_drop(struct conn *c)
{
	redisAsyncContext *ac = c->ac;

	if (!ac || c->dying)
		return;
	c->dying = true;
	if (c->nest > 0) {
		c->kill = true;
		kick(c->r);
		return;
	}
	redisAsyncFree(ac);
	c->ac = NULL;
	c->state = C_IDLE;
	c->dying = c->kill = false;
}

/* The timer's share of conn_drop: contexts whose callbacks were running. */
static void reap(struct redis *r)
{
	for (size_t i = 0; i < r->nconns; i++) {
		struct conn *c = &r->conns[i];
		redisAsyncContext *ac = c->ac;

		if (!c->kill || c->nest > 0)
			continue;
		c->kill = false;
		if (!ac)
			continue;
		redisAsyncFree(ac);
		c->ac = NULL;
		c->state = C_IDLE;
		c->dying = false;
	}
}

static void orphan_resolve(struct redis *r)
{
	if (r->resolving) {
		r->resolving->r = NULL;
		uv_cancel((uv_req_t *)&r->resolving->req); /* best effort */
		r->resolving = NULL;
	}
}

/* Any failure: both connections go (one alone is no use to the cluster),
 * the commands in flight fail, down() once per outage, retry later. */
static void redis_failed(struct redis *r, const char *why)
{
	if (r->closing)
		return;
	r->up = false;
	r->nerr++;
	fail_all(r, why);
	if (r->closing) /* a callback closed us */
		return;
	for (size_t i = 0; i < r->nconns; i++)
		conn_drop(&r->conns[i]);
	orphan_resolve(r);
	r->retry_at = uv_hrtime() + (uint64_t)(r->backoff_s * NS_PER_S);
	r->backoff_s = r->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : r->backoff_s * 2;
	arm(r);
	if (!r->down_told) {
		r->down_told = true;
		if (r->ops.down)
			r->ops.down(r->data, why); /* last: it may close r */
	}
}

/* Why hiredis gave up on ac (it is being freed): our reader's refusal, a
 * protocol error, an error the server sent unasked, or the socket. */
static void lost_reason(const struct conn *c, const redisAsyncContext *ac, char *why, size_t n)
{
	char text[200];

	clean_copy(text, sizeof(text), ac->err ? ac->errstr : ac->c.errstr);
	if (c->reader_why[0])
		snprintf(why, n, "bad reply from Redis at %s: %s", c->r->where, c->reader_why);
	else if (ac->err == REDIS_ERR_PROTOCOL || ac->c.err == REDIS_ERR_PROTOCOL)
		snprintf(why, n, "bad reply from Redis at %s: %s", c->r->where, text);
	else if (ac->err == REDIS_ERR_OTHER && c->sub && c->state == C_HANDSHAKE)
		snprintf(why, n, "SUBSCRIBE refused: %s", text);
	else if (ac->err == REDIS_ERR_OTHER)
		snprintf(why, n, "Redis at %s closed the connection: %s", c->r->where, text);
	else
		snprintf(why, n, "connection to Redis at %s lost: %s", c->r->where,
		         text[0] ? text : "closed");
}

/* A NULL reply: hiredis is freeing c's context on its own (EOF, a reset, a
 * bad reply), unless we are (c->dying). */
static void conn_lost(struct conn *c, const redisAsyncContext *ac)
{
	char why[WHY_MAX];

	if (c->dying)
		return;
	c->dying = true;
	lost_reason(c, ac, why, sizeof(why));
	redis_failed(c->r, why);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct conn *c = ac->data;
	char why[WHY_MAX];
	bool ours = c->dying;

	(void)status;
	if (!ours)
		lost_reason(c, ac, why, sizeof(why));
	c->ac = NULL; /* hiredis frees it when we return */
	c->state = C_IDLE;
	c->dying = c->kill = false;
	if (!ours)
		redis_failed(c->r, why);
	else
		arm(c->r); /* idle now: the retry may be due */
}

/* ---- being up ----------------------------------------------------------- */

static void check_up(struct redis *r)
{
	for (size_t i = 0; i < r->nconns; i++)
		if (r->conns[i].state != C_UP || r->conns[i].dying)
			return;
	if (r->up || r->closing)
		return;
	r->up = true;
	r->down_told = false;
	r->backoff_s = BACKOFF_MIN_S;
	arm(r);
	if (r->ops.up)
		r->ops.up(r->data);
}

static void sub_cb(redisAsyncContext *ac, void *reply_, void *privdata)
{
	struct conn *c = privdata;
	struct redis *r = c->r;
	const redisReply *m = reply_;

	c->nest++;
	if (!m)
		conn_lost(c, ac);
	else if (!c->dying && m->type == REDIS_REPLY_ARRAY && m->elements == 3) {
		const redisReply *ch = m->element[1], *body = m->element[2];

		/* Our reader functions let only "message" and "subscribe" here. */
		if (strcmp(m->element[0]->str, "subscribe") == 0) {
			if (c->subs_left > 0 && --c->subs_left == 0) {
				c->state = C_UP;
				check_up(r);
			}
		} else if (body->type == REDIS_REPLY_STRING && !r->closing && r->ops.message)
			r->ops.message(r->data, ch->str, body->str, body->len);
	}
	c->nest--;
}

static void subscribe(struct conn *c)
{
	struct redis *r = c->r;
	size_t n = r->nchannels + 1;
	const char **argv = xcalloc(n, sizeof(*argv));

	argv[0] = "SUBSCRIBE";
	for (size_t i = 0; i < r->nchannels; i++)
		argv[i + 1] = r->channels[i];
	c->hs_step = "SUBSCRIBE";
	c->subs_left = r->nchannels;
	if (redisAsyncCommandArgv(c->ac, sub_cb, c, (int)n, argv, NULL) != REDIS_OK)
		redis_failed(r, "cannot send SUBSCRIBE");
	free(argv);
}

/* An error reply in the handshake: Redis's text says why (WRONGPASS,
 * NOAUTH, a db out of range); it never contains the password. */
static void refused(struct conn *c, const char *step, const redisReply *rep)
{
	char text[200], why[WHY_MAX];

	clean_copy(text, sizeof(text), rep->str);
	if (strncmp(text, "NOAUTH", 6) == 0)
		snprintf(why, sizeof(why), "Redis at %s requires a password: %s", c->r->where,
		         text);
	else if (step == step_select)
		snprintf(why, sizeof(why), "SELECT %ld refused: %s", c->r->addr.db, text);
	else
		snprintf(why, sizeof(why), "%s refused: %s", step, text);
	redis_failed(c->r, why);
}

static void hs_reply_cb(redisAsyncContext *ac, void *reply_, void *privdata)
{
	struct conn *c = ac->data;
	const redisReply *rep = reply_;

	c->nest++;
	if (!rep)
		conn_lost(c, ac);
	else if (c->dying)
		; /* being dropped: later replies do not matter */
	else if (rep->type == REDIS_REPLY_ERROR)
		refused(c, privdata, rep);
	else if (--c->hs_left == 0) {
		if (c->sub)
			subscribe(c);
		else {
			c->state = C_UP;
			check_up(c->r);
		}
	}
	c->nest--;
}

/* AUTH [user] password, formatted by hand in a locked mapping and wiped
 * after: hiredis's own formatter would leave copies in freed heap memory
 * (its output buffer still gets one: that much is hiredis's). */
static int send_auth(struct conn *c)
{
	struct redis *r = c->r;
	size_t ulen = r->username ? strlen(r->username) : 0;
	size_t cap = 80 + ulen + r->pass_len;
	char *buf = cred_secret_alloc(cap);
	int n, rc;

	if (r->username)
		n = snprintf(buf, cap, "*3\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n$%zu\r\n", ulen,
		             r->username, r->pass_len);
	else
		n = snprintf(buf, cap, "*2\r\n$4\r\nAUTH\r\n$%zu\r\n", r->pass_len);
	memcpy(buf + n, r->pass, r->pass_len);
	memcpy(buf + n + r->pass_len, "\r\n", 2);
	rc = redisAsyncFormattedCommand(c->ac, hs_reply_cb, step_auth, buf,
	                                (size_t)n + r->pass_len + 2);
	cred_secret_free(buf, cap);
	return rc;
}

/* [AUTH] [SELECT] PING, pipelined. The PING makes every connection prove
 * the server answers (a stopped server still accepts connections) and puts
 * the subscriber's SUBSCRIBE after any NOAUTH. */
static void handshake(struct conn *c)
{
	struct redis *r = c->r;
	char db[24];
	int rc = REDIS_OK;

	c->state = C_HANDSHAKE;
	c->hs_step = "handshake";
	c->hs_left = 0;
	if (r->pass) {
		rc |= send_auth(c);
		c->hs_left++;
	}
	if (r->addr.db != 0) {
		snprintf(db, sizeof(db), "%ld", r->addr.db);
		rc |= redisAsyncCommand(c->ac, hs_reply_cb, step_select, "SELECT %s", db);
		c->hs_left++;
	}
	rc |= redisAsyncCommand(c->ac, hs_reply_cb, step_ping, "PING");
	c->hs_left++;
	if (rc != REDIS_OK)
		redis_failed(r, "cannot send the handshake to Redis");
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
	struct conn *c = ac->data;
	char why[WHY_MAX], text[200];

	if (status != REDIS_OK) {
		bool ours = c->dying;

		c->ac = NULL; /* hiredis frees it when we return */
		c->state = C_IDLE;
		c->dying = c->kill = false;
		if (ours) {
			arm(c->r);
			return;
		}
		clean_copy(text, sizeof(text), ac->c.errstr);
		snprintf(why, sizeof(why), "cannot connect to Redis at %s: %s", c->r->where, text);
		redis_failed(c->r, why);
		return;
	}
	c->nest++;
	if (!c->dying)
		handshake(c);
	c->nest--;
}

/* ---- reply checks ------------------------------------------------------- */

/* hiredis 0.14 asserts (aborts the daemon) on a reply nobody asked for that
 * is not an error, and on a subscriber message that is not an array of
 * strings; and it would build a reply of any size. These wrap its reply
 * functions to refuse such replies first: a refusal is a reader error, so
 * hiredis drops the connection (reason in conn.reader_why). */
static redisReplyObjectFunctions *lib_fns;

static void *refuse(struct conn *c, const char *why)
{
	text_copy(c->reader_why, sizeof(c->reader_why), why);
	return NULL;
}

static bool subscribed(const struct conn *c)
{
	return c->ac && (c->ac->c.flags & REDIS_SUBSCRIBED);
}

/* Checks an object about to be made; NULL when fine, else the refusal. */
static const char *check_obj(struct conn *c, const redisReadTask *t, size_t bytes, long elements)
{
	if (!c) /* not one of ours: hiredis did not pass the reader's privdata */
		return NULL;
	if (!t->parent) {
		c->reply_bytes = 0;
		if (subscribed(c) && t->type != REDIS_REPLY_ERROR &&
		    (t->type != REDIS_REPLY_ARRAY || elements != 3))
			return "unexpected reply on the subscriber connection";
		if (!subscribed(c) && t->type != REDIS_REPLY_ERROR && c->ac && !c->ac->replies.head)
			return "a reply nobody asked for";
	} else if (subscribed(c) && !t->parent->parent && t->idx < 2 &&
	           t->type != REDIS_REPLY_STRING)
		return "unexpected reply on the subscriber connection";
	if (elements < -1)
		return "negative array length";
	c->reply_bytes += bytes;
	if (c->reply_bytes > REPLY_MAX)
		return "reply larger than " REPLY_MAX_TEXT;
	return NULL;
}

static void *chk_string(const redisReadTask *t, char *s, size_t len)
{
	struct conn *c = t->privdata;
	const char *no = check_obj(c, t, len + sizeof(redisReply), 0);

	if (!no && c && subscribed(c) && t->parent && !t->parent->parent && t->idx == 0 &&
	    !(len == 7 && memcmp(s, "message", 7) == 0) &&
	    !(len == 9 && memcmp(s, "subscribe", 9) == 0))
		no = "unexpected reply on the subscriber connection";
	if (no)
		return refuse(c, no);
	return lib_fns->createString(t, s, len);
}

static void *chk_array(const redisReadTask *t, int n)
{
	struct conn *c = t->privdata;
	size_t bytes = sizeof(redisReply) +
	               (n > 0 ? (size_t)n * (sizeof(redisReply *) + sizeof(redisReply)) : 0);
	const char *no = check_obj(c, t, bytes, n);

	return no ? refuse(c, no) : lib_fns->createArray(t, n);
}

static void *chk_integer(const redisReadTask *t, long long v)
{
	struct conn *c = t->privdata;
	const char *no = check_obj(c, t, sizeof(redisReply), 0);

	return no ? refuse(c, no) : lib_fns->createInteger(t, v);
}

static void *chk_nil(const redisReadTask *t)
{
	struct conn *c = t->privdata;
	const char *no = check_obj(c, t, sizeof(redisReply), 0);

	return no ? refuse(c, no) : lib_fns->createNil(t);
}

static void chk_free(void *obj)
{
	lib_fns->freeObject(obj);
}

static redisReplyObjectFunctions checked_fns = { chk_string, chk_array, chk_integer, chk_nil,
	                                         chk_free };

/* ---- the libuv adapter -------------------------------------------------- */

/* hiredis 0.14's libuv adapter ignores a poll error (status < 0): libuv
 * reports a refused or reset TCP connection that way and stops the handle,
 * so hiredis would never learn of it and the connection would hang until
 * our timeout. These hooks keep the adapter (attach, handle, cleanup) and
 * only restart its handle with a callback that hands errors to hiredis, as
 * later hiredis versions do. */
static void poll_cb(uv_poll_t *h, int status, int events)
{
	redisLibuvEvents *p = h->data;
	redisAsyncContext *ac;

	if (status < 0)
		events = UV_READABLE | UV_WRITABLE; /* hiredis reads the error */
	if (p->context && (events & UV_READABLE))
		redisAsyncHandleRead(p->context);
	if (p->context && (events & UV_WRITABLE))
		redisAsyncHandleWrite(p->context);
	/* A reply still arriving: each read adds at most 16 KiB, so checking
	 * after each keeps the buffer within the bound. */
	ac = p->context;
	if (ac && ac->data) {
		struct conn *c = ac->data;

		if (!c->dying && ac->c.reader->len - ac->c.reader->pos > REPLY_MAX) {
			char why[WHY_MAX];

			refuse(c, "reply larger than " REPLY_MAX_TEXT);
			snprintf(why, sizeof(why), "bad reply from Redis at %s: %s", c->r->where,
			         c->reader_why);
			redis_failed(c->r, why); /* frees ac: no hiredis frame is on the stack */
		}
	}
}

static void repoll(void *privdata)
{
	redisLibuvEvents *p = privdata;

	if (uv_is_active((uv_handle_t *)&p->handle))
		uv_poll_start(&p->handle, p->events, poll_cb);
}

static void ev_add_read(void *p)
{
	redisLibuvAddRead(p);
	repoll(p);
}

static void ev_del_read(void *p)
{
	redisLibuvDelRead(p);
	repoll(p);
}

static void ev_add_write(void *p)
{
	redisLibuvAddWrite(p);
	repoll(p);
}

static void ev_del_write(void *p)
{
	redisLibuvDelWrite(p);
	repoll(p);
}

/* ---- connecting --------------------------------------------------------- */

/* Opens c's context to ip (NULL: the unix socket). Returns 0, or -1 with
 * why filled. */
static int conn_open(struct conn *c, const char *ip, char *why, size_t n)
{
	struct redis *r = c->r;
	redisAsyncContext *ac;
	char text[200];

	ac = r->addr.unix_socket ? redisAsyncConnectUnix(r->addr.host)
	                         : redisAsyncConnect(ip, r->addr.port);
	if (!ac)
		xalloc_die("hiredis context");
	if (ac->err) {
		clean_copy(text, sizeof(text), ac->errstr);
		snprintf(why, n, "cannot connect to Redis at %s: %s", r->where, text);
		redisAsyncFree(ac);
		return -1;
	}
	if (!lib_fns)
		lib_fns = ac->c.reader->fn;
	ac->c.reader->fn = &checked_fns;
	ac->c.reader->privdata = c;
	ac->c.reader->maxbuf = READER_MAXBUF;
	if (!r->addr.unix_socket)
		(void)redisEnableKeepAlive(&ac->c); /* a half-open TCP link is found in time */
	if (redisLibuvAttach(ac, r->loop) != REDIS_OK) {
		snprintf(why, n, "cannot watch the connection to Redis at %s", r->where);
		redisAsyncFree(ac);
		return -1;
	}
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->data = c;
	c->ac = ac;
	c->state = C_CONNECTING;
	c->t0 = uv_hrtime();
	c->dying = c->kill = false;
	c->reader_why[0] = '\0';
	c->hs_step = "connect";
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	redisAsyncSetConnectCallback(ac, connect_cb); /* starts watching for writable */
	return 0;
}

static void conns_open(struct redis *r, const char *ip)
{
	char why[WHY_MAX];

	for (size_t i = 0; i < r->nconns; i++)
		if (conn_open(&r->conns[i], ip, why, sizeof(why)) < 0) {
			redis_failed(r, why);
			return;
		}
	arm(r);
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	struct resolve *res = (struct resolve *)req;
	struct redis *r = res->r;
	char why[WHY_MAX];
	int rc = status;

	free(res);
	if (!r) { /* given up: timed out or closed */
		uv_freeaddrinfo(ai);
		return;
	}
	r->resolving = NULL;
	if (rc == 0 && ai->ai_family == AF_INET)
		rc = uv_ip4_name((struct sockaddr_in *)ai->ai_addr, r->ip, sizeof(r->ip));
	else if (rc == 0 && ai->ai_family == AF_INET6)
		rc = uv_ip6_name((struct sockaddr_in6 *)ai->ai_addr, r->ip, sizeof(r->ip));
	else if (rc == 0)
		rc = UV_EAI_FAMILY;
	uv_freeaddrinfo(ai);
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot resolve %s: %s", r->addr.host, uv_strerror(rc));
		redis_failed(r, why);
		return;
	}
	conns_open(r, r->ip);
}

/* One attempt: a unix socket or an address connects at once; a host name
 * is looked up on libuv's thread pool first (never block the loop in DNS),
 * again each attempt, as a failover may have moved the name. */
static void attempt(struct redis *r)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	unsigned char bin[sizeof(struct in6_addr)];
	char port[8], why[WHY_MAX];
	struct resolve *res;
	int rc;

	if (r->addr.unix_socket) {
		conns_open(r, NULL);
		return;
	}
	if (uv_inet_pton(AF_INET, r->addr.host, bin) == 0 ||
	    uv_inet_pton(AF_INET6, r->addr.host, bin) == 0) {
		conns_open(r, r->addr.host);
		return;
	}
	snprintf(port, sizeof(port), "%d", r->addr.port);
	res = xcalloc(1, sizeof(*res));
	res->r = r;
	rc = uv_getaddrinfo(r->loop, &res->req, resolved_cb, r->addr.host, port, &hints);
	if (rc < 0) {
		free(res);
		snprintf(why, sizeof(why), "cannot resolve %s: %s", r->addr.host, uv_strerror(rc));
		redis_failed(r, why);
		return;
	}
	r->resolving = res;
	r->t_resolve = uv_hrtime();
	arm(r);
}

/* ---- timeouts ----------------------------------------------------------- */

/* Fails the first thing past its deadline. Returns true when it did. */
static bool timed_out(struct redis *r, uint64_t now)
{
	char why[WHY_MAX];

	for (size_t i = 0; i < r->nconns; i++) {
		const struct conn *c = &r->conns[i];

		if (c->ac && !c->dying && (c->state == C_CONNECTING || c->state == C_HANDSHAKE) &&
		    now - c->t0 >= r->timeout_ns) {
			snprintf(why, sizeof(why),
			         "timeout after %gs connecting to Redis at %s (%s)", r->timeout_s,
			         r->where, c->hs_step);
			redis_failed(r, why);
			return true;
		}
	}
	if (r->head && now - r->head->sent >= r->timeout_ns) {
		snprintf(why, sizeof(why), "timeout after %gs waiting for Redis at %s",
		         r->timeout_s, r->where);
		redis_failed(r, why);
		return true;
	}
	if (r->resolving && now - r->t_resolve >= r->timeout_ns) {
		snprintf(why, sizeof(why), "timeout after %gs resolving %s", r->timeout_s,
		         r->addr.host);
		redis_failed(r, why);
		return true;
	}
	return false;
}

static void timer_close_cb(uv_handle_t *h)
{
	struct redis *r = h->data;

	for (size_t i = 0; i < r->nchannels; i++)
		free(r->channels[i]);
	free(r->channels);
	free(r->username);
	free(r);
}

/* The end of redis_close, once no hiredis callback of ours is on the stack. */
static void close_finish(struct redis *r)
{
	if (r->timer_closing)
		return;
	reap(r);
	for (size_t i = 0; i < r->nconns; i++)
		if (r->conns[i].ac) {
			kick(r);
			return;
		}
	r->timer_closing = true;
	uv_close((uv_handle_t *)&r->timer, timer_close_cb);
}

static void timer_cb(uv_timer_t *t)
{
	struct redis *r = t->data;

	reap(r);
	if (!r->closing && !timed_out(r, uv_hrtime()) && !r->up && all_idle(r) &&
	    uv_hrtime() >= r->retry_at)
		attempt(r);
	if (r->closing)
		close_finish(r);
	else
		arm(r);
}

/* ---- the API ------------------------------------------------------------ */

static int check_opts(const struct redis_opts *o, struct errmsg *e)
{
	if (!(o->timeout_s > 0 && o->timeout_s <= 3600))
		return errmsg_set(e, -EINVAL, "redis: timeout must be in (0, 3600] s");
	if (!o->addr.host[0])
		return errmsg_set(e, -EINVAL, "redis: no host or socket path");
	if (o->addr.unix_socket &&
	    strlen(o->addr.host) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return errmsg_set(e, -EINVAL, "redis: socket path longer than %zu bytes",
		                  sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (!o->addr.unix_socket && (o->addr.port < 1 || o->addr.port > 65535))
		return errmsg_set(e, -EINVAL, "redis: port %d out of range", o->addr.port);
	if (o->addr.db < 0 || o->addr.db > 100000)
		return errmsg_set(e, -EINVAL, "redis: database %ld out of range", o->addr.db);
	if ((o->username || o->addr.user[0]) && !o->password)
		return errmsg_set(e, -EINVAL, "redis: a user name needs a password");
	if (o->password && (o->password_len == 0 || o->password_len > 4096))
		return errmsg_set(e, -EINVAL, "redis: the password must be 1 to 4096 bytes");
	for (size_t i = 0; i < o->nchannels; i++)
		if (!o->channels[i] || !o->channels[i][0])
			return errmsg_set(e, -EINVAL, "redis: channel %zu is empty", i);
	return 0;
}

static void copy_opts(struct redis *r, const struct redis_opts *o)
{
	r->addr = o->addr;
	if (o->addr.unix_socket)
		snprintf(r->where, sizeof(r->where), "unix://%s", o->addr.host);
	else if (strchr(o->addr.host, ':'))
		snprintf(r->where, sizeof(r->where), "[%s]:%d", o->addr.host, o->addr.port);
	else
		snprintf(r->where, sizeof(r->where), "%s:%d", o->addr.host, o->addr.port);
	r->username = xstrdup_or_null(o->username ? o->username
	                                          : (o->addr.user[0] ? o->addr.user : NULL));
	if (o->password) {
		r->pass_cap = o->password_len;
		r->pass_len = o->password_len;
		r->pass = cred_secret_alloc(r->pass_cap);
		memcpy(r->pass, o->password, o->password_len);
	}
	r->nchannels = o->nchannels;
	r->channels = xcalloc(o->nchannels + 1, sizeof(char *));
	for (size_t i = 0; i < o->nchannels; i++)
		r->channels[i] = xstrdup(o->channels[i]);
	r->timeout_s = o->timeout_s;
	r->timeout_ns = (uint64_t)(o->timeout_s * NS_PER_S);
}

int redis_open(uv_loop_t *loop, const struct redis_opts *o, const struct redis_ops *ops, void *data,
               struct redis **ret, struct errmsg *e)
{
	struct redis *r;
	int rc = check_opts(o, e);

	if (rc < 0)
		return rc;
	r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	copy_opts(r, o);
	r->ops = *ops;
	r->data = data;
	r->nconns = o->nchannels > 0 ? 2 : 1; /* no channels: no subscriber */
	for (size_t i = 0; i < r->nconns; i++) {
		r->conns[i].r = r;
		r->conns[i].sub = i == 1;
	}
	r->backoff_s = BACKOFF_MIN_S;
	r->rtt = -1;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	kick(r); /* the first attempt from the loop: no callback before we return */
	*ret = r;
	return 0;
}

/* A command's reply, or NULL when its context is being freed. */
static void cmd_reply_cb(redisAsyncContext *ac, void *reply_, void *privdata)
{
	struct conn *c = ac->data;
	struct redis *r = c->r;
	struct pending *p = privdata;
	const redisReply *rep = reply_;
	redis_reply_cb cb;

	c->nest++;
	if (!rep)
		conn_lost(c, ac); /* fails every command, p's too */
	cb = p->cb;
	pending_unlink(r, p);
	p->cb = NULL;
	if (cb && rep) {
		double s = (double)(uv_hrtime() - p->sent) / NS_PER_S;

		r->rtt = r->rtt < 0 ? s : r->rtt + RTT_WEIGHT * (s - r->rtt);
		if (rep->type == REDIS_REPLY_ERROR)
			r->nerr++;
		cb(p->data, rep, NULL);
	} else if (cb) { /* not expected: conn_lost failed them all */
		cb(p->data, NULL, "connection to Redis lost");
	}
	free(p);
	c->nest--;
}

static bool is_pubsub(const char *cmd)
{
	static const char *const no[] = { "SUBSCRIBE",   "PSUBSCRIBE",   "SSUBSCRIBE",
		                          "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
		                          "MONITOR" };

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(cmd, no[i]) == 0)
			return true;
	return false;
}

int redis_cmd(struct redis *r, redis_reply_cb cb, void *data, int argc, const char **argv,
              const size_t *lens)
{
	struct conn *c = &r->conns[0];
	struct pending *p;

	if (!r->up || r->closing || !c->ac || c->dying)
		return -ENOTCONN;
	/* These change what hiredis expects of the command connection. */
	if (!cb || argc < 1 || !argv || !argv[0] || is_pubsub(argv[0]))
		return -EINVAL;
	p = xcalloc(1, sizeof(*p));
	p->cb = cb;
	p->data = data;
	p->sent = uv_hrtime();
	if (redisAsyncCommandArgv(c->ac, cmd_reply_cb, p, argc, argv, lens) != REDIS_OK) {
		free(p);
		return -ENOTCONN;
	}
	p->prev = r->tail;
	if (r->tail)
		r->tail->next = p;
	else
		r->head = p;
	r->tail = p;
	p->linked = true;
	r->ncmd++;
	if (r->head == p)
		arm(r);
	return 0;
}

bool redis_is_up(const struct redis *r)
{
	return r && r->up;
}

double redis_rtt(const struct redis *r)
{
	return r->rtt;
}

uint64_t redis_commands(const struct redis *r)
{
	return r->ncmd;
}

uint64_t redis_errors(const struct redis *r)
{
	return r->nerr;
}

void redis_close(struct redis *r)
{
	bool nested = false;

	if (!r || r->closing)
		return;
	r->closing = true;
	r->up = false;
	fail_all(r, "closing");
	if (r->pass) { /* not needed any more: wipe it now, not when the loop runs */
		cred_secret_free(r->pass, r->pass_cap);
		r->pass = NULL;
	}
	for (size_t i = 0; i < r->nconns; i++) {
		conn_drop(&r->conns[i]);
		nested |= r->conns[i].nest > 0;
	}
	orphan_resolve(r);
	if (nested)
		kick(r);
	else
		close_finish(r);
}

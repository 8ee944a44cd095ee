/* ctl: the control socket server. */
#include "ctl.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "ctl_reply.h"
#include "log.h"
#include "proto.h"
#include "sockfile.h"
#include "xalloc.h"

struct conn {
	struct ctl_conn base; /* what a command sees: ctl_reply_defer() */
	uv_pipe_t pipe;
	uv_timer_t timer; /* the stall or the idle deadline, whichever applies */
	struct ctl *ctl;
	struct linebuf lb;
	/* Bytes read but not yet framed: the rest of a read, kept while the
	 * connection waits for its client to take its answers. */
	char *in;
	size_t in_len, in_off;
	size_t out;           /* bytes allocated for answers libuv has not written yet */
	size_t mem;           /* what this connection counts in ctl->mem */
	size_t unsent_seen;   /* libuv's unwritten bytes when last looked at */
	uint64_t progress_at; /* uv_now() of the last request, or answer bytes taken */
	struct ctl_peer peer;
	int open_handles;
	bool closing;
	bool reading;
	bool eof;                /* the client has finished sending */
	struct pending *pending; /* a reply a command will send later */
	struct conn *prev, *next;
};

/* A deferred reply; outlives its connection if the client goes away. */
struct pending {
	struct ctl_reply base;
	struct conn *c; /* NULL once the connection is gone */
};

struct ctl {
	uv_loop_t *loop;
	struct ctl_limits lim;
	ctl_run_fn run;
	void *run_data;
	uv_pipe_t server;
	char *path; /* set when we bound it (and must unlink it) */
	gid_t sock_gid;
	struct conn *conns;
	unsigned nconns;
	size_t mem; /* sum of the open connections' mem */
	unsigned long evicted, stalled, shed;
	/* One read: what a connection may hold unframed while it waits. */
	char rbuf[16384];
};

struct wreq {
	uv_write_t w;
	size_t size; /* of the allocation, as counted in the conn's out */
	char *data;  /* a response taken over from its buf */
};

static void conn_close(struct conn *c);
static void conn_resume(struct conn *c);

/* Counts what c holds now (answers queued, input kept, a partial line)
 * in the total the memory bound applies to. */
static void conn_account(struct conn *c)
{
	size_t m;

	if (c->closing)
		return;
	m = c->out + c->in_len + c->lb.b.cap;
	c->ctl->mem = c->ctl->mem - c->mem + m;
	c->mem = m;
}

/* Notes progress when libuv has written some of c's answers since the last
 * look (a big answer is one write request, so completions alone would not
 * show a client that reads it slowly but steadily). */
static void conn_see_progress(struct conn *c)
{
	size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);

	if (q < c->unsent_seen)
		c->progress_at = uv_now(c->ctl->loop);
	c->unsent_seen = q;
}

static void timer_cb(uv_timer_t *t);

/* (Re)arms c's one timer: the stall deadline while answers wait, nothing
 * while a deferred command works for it, else the idle deadline; both count
 * from the last progress. */
static void conn_arm(struct conn *c)
{
	uint64_t now, due, ms;

	if (c->closing)
		return;
	if (c->out > 0) {
		ms = c->ctl->lim.stall_ms;
	} else if (c->pending) {
		uv_timer_stop(&c->timer);
		return;
	} else {
		ms = c->ctl->lim.idle_ms;
	}
	now = uv_now(c->ctl->loop);
	due = c->progress_at + ms;
	uv_timer_start(&c->timer, timer_cb, due > now ? due - now : 0, 0);
}

/* May c run another request now? Not while its client lets out_cap of
 * answers pile up, nor, once all connections hold mem_max, while it has any
 * (one that has taken all its answers is always served: the operator). */
static bool conn_may_run(const struct conn *c)
{
	const struct ctl *ctl = c->ctl;

	if (c->closing || c->out >= ctl->lim.out_cap)
		return false;
	return c->out == 0 || ctl->mem < ctl->lim.mem_max;
}

/* The connection that has made no progress longest, other than skip: first
 * those with answers waiting (their client does not read), then idle ones,
 * then those waiting for a deferred answer (warmd is the slow one there).
 * With holding, only connections that hold memory. */
static struct conn *ctl_stalest(struct ctl *ctl, const struct conn *skip, bool holding)
{
	struct conn *best = NULL;
	int best_rank = 0;

	for (struct conn *c = ctl->conns; c; c = c->next) {
		int rank = c->out > 0 ? 0 : c->pending ? 2 : 1;

		if (c == skip || (holding && c->mem == 0))
			continue;
		if (!best || rank < best_rank ||
		    (rank == best_rank && c->progress_at < best->progress_at)) {
			best = c;
			best_rank = rank;
		}
	}
	return best;
}

static double since_s(const struct conn *c)
{
	return (double)(uv_now(c->ctl->loop) - c->progress_at) / 1000.0;
}

/* Closes the stalest connections until all together hold less than
 * mem_max; never serving (the one whose answer is going out now). */
static void ctl_shed(struct ctl *ctl, const struct conn *serving)
{
	while (ctl->mem > ctl->lim.mem_max) {
		struct conn *v = ctl_stalest(ctl, serving, true);

		if (!v)
			return;
		log_warning(
		        "control: %zu KiB held for control clients (limit %zu KiB): closing the "
		        "connection of pid %ld (uid %u), which has made no progress for %.1f s",
		        ctl->mem / 1024, ctl->lim.mem_max / 1024, (long)v->peer.pid,
		        (unsigned)v->peer.uid, since_s(v));
		ctl->shed++;
		conn_close(v);
	}
}

static void conn_handle_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles > 0)
		return;
	linebuf_free(&c->lb);
	free(c->in);
	free(c);
}

/* Takes c out of the books at once; its handles close (and its queued
 * writes are cancelled) on the next loop turn, which touches c only. */
static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->pending) {
		c->pending->c = NULL; /* the command answers into the void */
		c->pending = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		c->ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->ctl->nconns--;
	c->ctl->mem -= c->mem;
	c->mem = 0;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&c->pipe, conn_handle_closed_cb);
}

static void write_cb(uv_write_t *w, int status)
{
	struct wreq *r = (struct wreq *)w;
	struct conn *c = w->handle->data;

	c->out -= r->size;
	free(r->data);
	free(r);
	if (c->closing)
		return; /* cancelled by the close, or the last write before it */
	if (status < 0) {
		conn_close(c);
		return;
	}
	c->progress_at = uv_now(c->ctl->loop);
	c->unsent_seen = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
	conn_account(c);
	conn_resume(c);
	conn_arm(c);
}

static void shutdown_cb(uv_shutdown_t *s, int status)
{
	struct conn *c = s->data;

	(void)status;
	free(s);
	conn_close(c);
}

/* Queues the response in out (taking its storage over, so a status of several
 * MiB is never copied). */
static void conn_send(struct conn *c, struct buf *out)
{
	struct wreq *w;
	uv_buf_t b;
	size_t n = out->len, size = out->cap;

	if (c->closing || n == 0) {
		buf_free(out);
		return;
	}
	if (n > UINT_MAX) {
		buf_free(out);
		conn_close(c);
		return;
	}
	w = xmalloc(sizeof(*w));
	if (!(w->data = buf_steal(out))) {
		free(w);
		buf_free(out);
		conn_close(c);
		return;
	}
	w->size = size;
	conn_see_progress(c);
	if (c->out == 0)
		c->progress_at = uv_now(c->ctl->loop); /* the stall clock starts now */
	b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->w, (uv_stream_t *)&c->pipe, &b, 1, write_cb) < 0) {
		free(w->data);
		free(w);
		conn_close(c);
		return;
	}
	c->out += size;
	c->unsent_seen = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
	conn_account(c);
	ctl_shed(c->ctl, c);
}

static void send_error(struct conn *c, const char *code, const char *msg)
{
	struct buf out = BUF_INIT;

	proto_response_error(&out, code, msg);
	conn_send(c, &out);
}

/* Is the peer on fd a member of gid? SO_PEERGROUPS gives its supplementary
 * groups as of connect() (works under ProtectProc=, unlike /proc). */
static bool peer_in_group(int fd, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static int line_cb(void *data, const char *line, size_t len)
{
	struct conn *c = data;
	struct proto_request req;
	const struct proto_cmd_info *info;
	struct errmsg e;
	const char *code;
	struct buf out = BUF_INIT;

	if (c->closing)
		return -ECONNRESET;
	c->progress_at = uv_now(c->ctl->loop);
	if (!line) {
		char msg[160];
		snprintf(msg, sizeof(msg),
		         "request line longer than %d bytes (a keep's body counts JSON-escaped)",
		         PROTO_MAX_LINE);
		send_error(c, PROTO_E_TOO_LONG, msg);
		return c->closing ? -ECONNRESET : 0;
	}
	if (len == 0)
		return 0; /* blank lines are harmless */
	if (c->pending) {
		send_error(c, PROTO_E_BUSY,
		           "one request at a time: the previous one is still being answered");
		return c->closing ? -ECONNRESET : 0;
	}
	if (proto_request_decode(line, len, &req, &code, &e) < 0) {
		send_error(c, code, e.text);
		return c->closing ? -ECONNRESET : 0;
	}
	info = proto_cmd_info(req.cmd);
	if (info->mutating && !c->peer.privileged) {
		char msg[160];
		snprintf(msg, sizeof(msg),
		         "%s needs root, the daemon's user or membership in the socket's group "
		         "(you are uid %u)",
		         info->name, (unsigned)c->peer.uid);
		log_notice("control: refused %s from pid %ld uid %u", info->name, (long)c->peer.pid,
		           (unsigned)c->peer.uid);
		send_error(c, PROTO_E_FORBIDDEN, msg);
		proto_request_done(&req);
		return c->closing ? -ECONNRESET : 0;
	}
	if (info->mutating)
		log_info("control: %s%s%s from pid %ld uid %u", info->name,
		         req.target ? " "
		         : req.all  ? " --all"
		                    : "",
		         req.target ? req.target : "", (long)c->peer.pid, (unsigned)c->peer.uid);
	c->ctl->run(c->ctl->run_data, &req, &c->peer, &c->base, &out);
	proto_request_done(&req);
	/* Empty: deferred, or already answered through ctl_reply_send(). */
	conn_send(c, &out);
	return c->closing ? -ECONNRESET : 0;
}

/* Frames and runs the requests in p[0..n) one line at a time for as long as
 * c may run more; returns how many bytes it took (the rest waits). */
static size_t conn_feed(struct conn *c, const char *p, size_t n)
{
	size_t done = 0;

	while (done < n && conn_may_run(c)) {
		const char *nl = memchr(p + done, '\n', n - done);
		size_t k = nl ? (size_t)(nl - (p + done)) + 1 : n - done;
		int r = linebuf_feed(&c->lb, p + done, k, line_cb, c);

		done += k;
		if (r < 0) {
			conn_close(c); /* out of memory, or closed while answering */
			break;
		}
	}
	if (!c->closing) {
		conn_account(c);
		ctl_shed(c->ctl, c);
		conn_arm(c);
	}
	return done;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct conn *c = h->data;

	(void)suggested;
	*b = uv_buf_init(c->ctl->rbuf, sizeof(c->ctl->rbuf));
}

static void finish_eof(struct conn *c)
{
	uv_shutdown_t *sh = xmalloc(sizeof(*sh));

	sh->data = c;
	if (uv_shutdown(sh, (uv_stream_t *)&c->pipe, shutdown_cb) == 0)
		return; /* once the answers are out; the stall timer if never */
	free(sh);
	conn_close(c);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void conn_read(struct conn *c, bool on)
{
	if (on == c->reading || c->closing)
		return;
	if (on ? uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb) < 0
	       : uv_read_stop((uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	c->reading = on;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	size_t used;

	if (c->closing)
		return;
	if (n < 0) {
		if (n == UV_EOF) {
			/* Flush what is queued (and what is still to come), then close. */
			conn_read(c, false);
			c->eof = true;
			if (!c->pending && !c->closing)
				finish_eof(c);
			return;
		}
		conn_close(c);
		return;
	}
	used = conn_feed(c, b->base, (size_t)n);
	if (c->closing)
		return;
	if (used < (size_t)n) {
		c->in_len = (size_t)n - used;
		c->in_off = 0;
		c->in = xmalloc(c->in_len); /* at most one read (rbuf) */
		memcpy(c->in, b->base + used, c->in_len);
	}
	if (!conn_may_run(c) || c->in) {
		/* Backpressure: no more reading until the client takes answers. */
		conn_read(c, false);
		conn_account(c);
		ctl_shed(c->ctl, c);
	}
}

/* After c's client took answers: runs the requests already read, then
 * reads again once they are all done. */
static void conn_resume(struct conn *c)
{
	if (!conn_may_run(c))
		return;
	if (c->in) {
		c->in_off += conn_feed(c, c->in + c->in_off, c->in_len - c->in_off);
		if (c->closing || c->in_off < c->in_len)
			return;
		free(c->in);
		c->in = NULL;
		c->in_len = c->in_off = 0;
		conn_account(c);
	}
	if (!c->eof && conn_may_run(c))
		conn_read(c, true);
}

/* ---- ctl_reply.h, for the commands ---- */

static struct ctl_reply *conn_defer(struct ctl_conn *cc)
{
	struct conn *c = (struct conn *)cc;
	struct pending *p;

	if (c->pending)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->base.ops = cc->ops;
	p->c = c;
	c->pending = p;
	return &p->base;
}

static bool pending_alive(const struct ctl_reply *r)
{
	const struct pending *p = (const struct pending *)r;

	return p->c && !p->c->closing && !p->c->eof; /* warmctl never half-closes */
}

static void pending_send(struct ctl_reply *r, struct buf *out)
{
	struct pending *p = (struct pending *)r;
	struct conn *c = p->c;

	free(p);
	if (!c) {
		if (out)
			buf_free(out);
		return;
	}
	c->pending = NULL;
	if (!out) {
		conn_close(c); /* no answer: the client is gone anyway */
		return;
	}
	/* The clock restarts with the answer (conn_send) or, when answers
	 * were already waiting unread, keeps running. */
	conn_send(c, out);
	if (c->closing)
		return;
	if (c->eof)
		finish_eof(c);
	conn_arm(c);
}

static const struct ctl_reply_ops reply_ops = {
	.defer = conn_defer,
	.send = pending_send,
	.alive = pending_alive,
};

static void timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	struct ctl *ctl = c->ctl;

	if (c->out > 0) {
		conn_see_progress(c);
		if (uv_now(ctl->loop) - c->progress_at < ctl->lim.stall_ms) {
			conn_arm(c); /* it reads a big answer, slowly */
			return;
		}
		log_warning("control: closing the connection of pid %ld (uid %u): it has not "
		            "read its answers for %.1f s (%zu bytes waiting)",
		            (long)c->peer.pid, (unsigned)c->peer.uid, since_s(c), c->out);
		ctl->stalled++;
	} else {
		log_debug("control: closing idle connection of pid %ld", (long)c->peer.pid);
	}
	conn_close(c);
}

static void peer_identify(struct ctl *ctl, struct conn *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	uv_os_fd_t fd;

	c->peer.uid = (uid_t)-1;
	c->peer.gid = (gid_t)-1;
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return;
	c->peer.pid = uc.pid;
	c->peer.uid = uc.uid;
	c->peer.gid = uc.gid;
	c->peer.privileged = uc.uid == 0 || uc.uid == geteuid() || uc.gid == ctl->sock_gid ||
	                     peer_in_group(fd, ctl->sock_gid);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct ctl *ctl = server->data;
	struct conn *c;

	if (status < 0) {
		log_warning("control: accept failed: %s", uv_strerror(status));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->base.ops = &reply_ops;
	c->ctl = ctl;
	linebuf_init(&c->lb, PROTO_MAX_LINE);
	uv_pipe_init(ctl->loop, &c->pipe, 0);
	uv_timer_init(ctl->loop, &c->timer);
	c->pipe.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->progress_at = uv_now(ctl->loop);
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	ctl->nconns++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	peer_identify(ctl, c);
	if (ctl->nconns > ctl->lim.max_conns) {
		/* Refusing the newcomer would let clients that never read lock
		 * the operator out; make room instead. */
		struct conn *v = ctl_stalest(ctl, c, false);

		if (v) {
			log_notice("control: %u connections: closing the one of pid %ld (uid %u), "
			           "which has made no progress for %.1f s, to serve pid %ld",
			           ctl->lim.max_conns, (long)v->peer.pid, (unsigned)v->peer.uid,
			           since_s(v), (long)c->peer.pid);
			ctl->evicted++;
			conn_close(v);
		}
	}
	conn_arm(c);
	conn_read(c, true);
}

static void server_closed_cb(uv_handle_t *h)
{
	struct ctl *ctl = h->data;

	free(ctl->path);
	free(ctl);
}

/* Undoes a half-done ctl_listen; ctl is freed once the loop closes the handle. */
static int open_failed(struct ctl *ctl, int r)
{
	if (ctl->path)
		unlink(ctl->path);
	uv_close((uv_handle_t *)&ctl->server, server_closed_cb);
	return r;
}

/* The group whose members may change things through a socket systemd
 * passed: that of the socket file (SocketGroup=), reached through the path
 * the socket is bound to. (fstat() of the fd would describe the socket's
 * own inode, owned by whoever created it: root's under systemd.) */
static gid_t passed_socket_gid(int fd, const char *group)
{
	struct group *gr = group ? getgrnam(group) : NULL;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;

	if (sockfile_bound_path(fd, path, sizeof(path)) == 0 && stat(path, &st) == 0 &&
	    S_ISSOCK(st.st_mode)) {
		if (gr && gr->gr_gid != st.st_gid) {
			struct group *sg = getgrgid(st.st_gid);
			char num[16];

			snprintf(num, sizeof(num), "%u", (unsigned)st.st_gid);
			log_warning("control socket %s from systemd belongs to group %s, not to "
			            "control_group %s: members of %s may change things; make "
			            "SocketGroup= and control_group the same",
			            path, sg ? sg->gr_name : num, group, sg ? sg->gr_name : num);
		}
		return st.st_gid;
	}
	if (gr)
		return gr->gr_gid;
	log_warning("cannot tell the group of the control socket systemd passed, and "
	            "control_group %s does not exist: only root and warmd's user may change "
	            "things",
	            group ? group : "(none)");
	return (gid_t)-1;
}

int ctl_listen(uv_loop_t *loop, const char *path, const char *group, const struct ctl_limits *lim,
               ctl_run_fn run, void *data, struct ctl **ret, struct errmsg *e)
{
	static const struct ctl_limits defaults = CTL_LIMITS_DEFAULT;
	struct ctl *ctl = xcalloc(1, sizeof(*ctl));
	struct stat st;
	int r, fd;

	ctl->loop = loop;
	ctl->lim = lim ? *lim : defaults;
	ctl->run = run;
	ctl->run_data = data;
	uv_pipe_init(loop, &ctl->server, 0);
	ctl->server.data = ctl;
	r = sockfile_passed(SOCK_STREAM, "control", &fd, e);
	if (r < 0)
		return open_failed(ctl, r);
	if (r > 0) {
		r = uv_pipe_open(&ctl->server, fd);
		if (r < 0)
			return open_failed(ctl, errmsg_set(e, r,
			                                   "cannot use the socket systemd "
			                                   "passed: %s",
			                                   uv_strerror(r)));
		ctl->sock_gid = passed_socket_gid(fd, group);
		log_info("control socket from systemd (socket activation)");
	} else {
		mode_t old;
		if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return open_failed(ctl,
			                   errmsg_set(e, -ENAMETOOLONG,
			                              "control_socket path too long: %s", path));
		r = sockfile_clear(path, true, e);
		if (r < 0)
			return open_failed(ctl, r);
		old = umask(SOCKFILE_UMASK);
		r = uv_pipe_bind(&ctl->server, path);
		umask(old);
		if (r < 0)
			return open_failed(
			        ctl, errmsg_set(e, r, "cannot bind %s: %s", path, uv_strerror(r)));
		ctl->path = xstrdup(path);
		if (sockfile_set_access(path, group, e) < 0)
			log_warning("control socket: %s", e->text);
		ctl->sock_gid = stat(path, &st) == 0 ? st.st_gid : getegid();
	}
	r = uv_listen((uv_stream_t *)&ctl->server, 128, connection_cb);
	if (r < 0)
		return open_failed(
		        ctl, errmsg_set(e, r, "cannot listen on %s: %s", path, uv_strerror(r)));
	*ret = ctl;
	return 0;
}

void ctl_get_stats(const struct ctl *ctl, struct ctl_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->conns = ctl->nconns;
	ret->mem = ctl->mem;
	ret->evicted = ctl->evicted;
	ret->stalled = ctl->stalled;
	ret->shed = ctl->shed;
}

void ctl_close(struct ctl *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns)
		conn_close(ctl->conns);
	if (ctl->path)
		unlink(ctl->path);
	uv_close((uv_handle_t *)&ctl->server, server_closed_cb);
}

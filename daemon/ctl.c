/* ctl: the control socket server. */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "ctl_cmd.h"
#include "daemon.h"
#include "log.h"
#include "proto.h"
#include "sockfile.h"

struct conn {
	uv_pipe_t pipe;
	uv_timer_t idle;
	struct ctl *ctl;
	struct linebuf lb;
	struct ctl_peer peer;
	int open_handles;
	bool closing;
	bool eof;                    /* the client has finished sending */
	struct ctl_pending *pending; /* a reply a command will send later */
	struct conn *prev, *next;
};

/* A deferred reply; outlives its connection if the client goes away. */
struct ctl_pending {
	struct conn *c; /* NULL once the connection is gone */
};

struct ctl {
	struct daemon *d;
	uv_pipe_t server;
	char *path; /* set when we bound it (and must unlink it) */
	gid_t sock_gid;
	struct conn *conns;
	unsigned nconns;
	char rbuf[65536];
};

struct wreq {
	uv_write_t w;
	char *data; /* a response taken over from its buf */
};

static void conn_close(struct conn *c);

static void conn_handle_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles > 0)
		return;
	linebuf_free(&c->lb);
	free(c);
}

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
	uv_timer_stop(&c->idle);
	uv_close((uv_handle_t *)&c->idle, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&c->pipe, conn_handle_closed_cb);
}

static void write_cb(uv_write_t *w, int status)
{
	struct wreq *r = (struct wreq *)w;

	(void)status;
	free(r->data);
	free(r);
}

static void shutdown_cb(uv_shutdown_t *s, int status)
{
	struct conn *c = s->data;

	(void)status;
	free(s);
	conn_close(c);
}

/* Queues the response in out (taking its storage over, so a status of several
 * MiB is never copied); drops a client that lets replies pile up unread. */
static void conn_send(struct conn *c, struct buf *out)
{
	struct wreq *w;
	uv_buf_t b;
	size_t n = out->len;

	if (c->closing) {
		buf_free(out);
		return;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) + n > CTL_MAX_PENDING_OUT) {
		log_warning("control: dropping pid %ld (uid %u): it does not read its answers",
		            (long)c->peer.pid, (unsigned)c->peer.uid);
		buf_free(out);
		conn_close(c);
		return;
	}
	w = malloc(sizeof(*w));
	if (!w || !(w->data = buf_steal(out))) {
		free(w);
		buf_free(out);
		conn_close(c);
		return;
	}
	b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->w, (uv_stream_t *)&c->pipe, &b, 1, write_cb) < 0) {
		free(w->data);
		free(w);
		conn_close(c);
	}
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
	if (!line) {
		char msg[96];
		snprintf(msg, sizeof(msg), "request line longer than %d bytes", PROTO_MAX_LINE);
		send_error(c, PROTO_E_TOO_LONG, msg);
		return 0;
	}
	uv_timer_again(&c->idle);
	if (len == 0)
		return 0; /* blank lines are harmless */
	if (c->pending) {
		send_error(c, PROTO_E_BUSY,
		           "one request at a time: the previous one is still being answered");
		return 0;
	}
	if (proto_request_decode(line, len, &req, &code, &e) < 0) {
		send_error(c, code, e.text);
		return 0;
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
		return 0;
	}
	if (info->mutating)
		log_info("control: %s%s%s from pid %ld uid %u", info->name,
		         req.target ? " "
		         : req.all  ? " --all"
		                    : "",
		         req.target ? req.target : "", (long)c->peer.pid, (unsigned)c->peer.uid);
	ctl_cmd_run(c->ctl->d, &req, &c->peer, c, &out);
	proto_request_done(&req);
	if (out.len == 0) {
		/* Deferred (or already answered through ctl_pending_reply). */
		if (c->pending)
			uv_timer_stop(&c->idle); /* no idle timeout while warmd works on it */
		buf_free(&out);
		return c->closing ? -ECONNRESET : 0;
	}
	conn_send(c, &out);
	return c->closing ? -ECONNRESET : 0;
}

struct ctl_pending *ctl_defer(struct conn *c)
{
	struct ctl_pending *p;

	if (c->pending || !(p = calloc(1, sizeof(*p))))
		return NULL;
	p->c = c;
	c->pending = p;
	return p;
}

static void finish_eof(struct conn *c)
{
	uv_shutdown_t *sh = malloc(sizeof(*sh));

	if (sh) {
		sh->data = c;
		if (uv_shutdown(sh, (uv_stream_t *)&c->pipe, shutdown_cb) == 0)
			return;
		free(sh);
	}
	conn_close(c);
}

bool ctl_pending_alive(const struct ctl_pending *p)
{
	return p->c && !p->c->closing && !p->c->eof; /* warmctl never half-closes */
}

void ctl_pending_reply(struct ctl_pending *p, struct buf *out)
{
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
	conn_send(c, out);
	if (c->closing)
		return;
	if (c->eof)
		finish_eof(c);
	else
		uv_timer_again(&c->idle);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct conn *c = h->data;

	(void)suggested;
	*b = uv_buf_init(c->ctl->rbuf, sizeof(c->ctl->rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;

	if (n < 0) {
		if (n == UV_EOF && !c->closing) {
			/* Flush what is queued (and what is still to come), then close. */
			uv_read_stop(s);
			c->eof = true;
			if (!c->pending)
				finish_eof(c);
			return;
		}
		conn_close(c);
		return;
	}
	if (n > 0 && linebuf_feed(&c->lb, b->base, (size_t)n, line_cb, c) == -ENOMEM)
		conn_close(c);
}

static void idle_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	log_debug("control: closing idle connection of pid %ld", (long)c->peer.pid);
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
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	linebuf_init(&c->lb, PROTO_MAX_LINE);
	uv_pipe_init(ctl->d->loop, &c->pipe, 0);
	uv_timer_init(ctl->d->loop, &c->idle);
	c->pipe.data = c;
	c->idle.data = c;
	c->open_handles = 2;
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
	if (ctl->nconns > CTL_MAX_CONNS) {
		log_warning("control: too many connections (%u), refusing pid %ld", ctl->nconns - 1,
		            (long)c->peer.pid);
		send_error(c, PROTO_E_BUSY, "too many control connections; try again later");
		conn_close(c);
		return;
	}
	uv_timer_start(&c->idle, idle_cb, CTL_IDLE_TIMEOUT_MS, CTL_IDLE_TIMEOUT_MS);
	uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

static void server_closed_cb(uv_handle_t *h)
{
	struct ctl *ctl = h->data;

	free(ctl->path);
	free(ctl);
}

/* Undoes a half-done ctl_open; ctl is freed once the loop closes the handle. */
static int open_failed(struct ctl *ctl, int r)
{
	if (ctl->path)
		unlink(ctl->path);
	uv_close((uv_handle_t *)&ctl->server, server_closed_cb);
	return r;
}

int ctl_open(struct daemon *d, const char *path, const char *group, struct ctl **ret,
             struct errmsg *e)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));
	struct stat st;
	int r, n;

	if (!ctl)
		return errmsg_set(e, -ENOMEM, "out of memory");
	ctl->d = d;
	uv_pipe_init(d->loop, &ctl->server, 0);
	ctl->server.data = ctl;
	n = sd_listen_fds(1);
	if (n > 0 && sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) > 0) {
		r = uv_pipe_open(&ctl->server, SD_LISTEN_FDS_START);
		if (r < 0)
			return open_failed(ctl, errmsg_set(e, r,
			                                   "cannot use the socket systemd "
			                                   "passed: %s",
			                                   uv_strerror(r)));
		ctl->sock_gid = fstat(SD_LISTEN_FDS_START, &st) == 0 ? st.st_gid : getegid();
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
		ctl->path = strdup(path);
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

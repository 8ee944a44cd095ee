/* metrics_http: serves GET /metrics over HTTP with libmicrohttpd, driven from
 * warmd's libuv loop through MHD's epoll fd (external polling, no threads). */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "xalloc.h"

/* A scrape is one small request; a few dozen slots leave room for several
 * Prometheus servers and a curl without letting a client pile up sockets. */
#define METRICS_HTTP_MAX_CONNS 32
/* One scraper keeps one connection; a second (an HA pair, a curl) comes
 * from elsewhere or briefly. More from one address is a client gone wrong,
 * and must not take every slot. */
#define METRICS_HTTP_MAX_CONNS_PER_IP 4
/* Seconds an idle (keep-alive or stalled) connection may hold a slot. */
#define METRICS_HTTP_CONN_TIMEOUT 10
/* Per-connection pool for the request line, headers and I/O buffers; the body
 * we send lives in its own allocation, so this only bounds what a client can
 * make us hold. */
#define METRICS_HTTP_CONN_MEMORY (16 * 1024)

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
	struct MHD_Daemon *mhd;
	uv_loop_t *loop;
	uv_poll_t poll;   /* MHD's epoll fd: readable = MHD has work */
	uv_timer_t timer; /* MHD_get_timeout(): pending data, idle timeouts */
	metrics_render_fn render;
	void *data;
	/* The last rendering, shared by the scrapes of one max_age (MHD counts
	 * the connections still sending it) */
	struct MHD_Response *cached;
	uint64_t cached_at; /* uv_now() */
	unsigned max_age_ms;
	int port;
	int open_handles;
	bool in_run;        /* inside MHD_run(), i.e. inside render */
	bool close_pending; /* metrics_http_close() was called from there */
	/* The last thing MHD wanted to log: only read when MHD_start_daemon
	 * fails, so that the error says why; otherwise MHD's chatter about odd
	 * clients goes nowhere (the daemon logs, modules do not). */
	char mhd_err[256];
};

/* ---- address parsing ---- */

/* Parses PORT: decimal 0..65535, nothing else. */
static int parse_port(const char *s, int *ret_port)
{
	long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
		if (v > 65535)
			return -EINVAL;
	}
	*ret_port = (int)v;
	return 0;
}

/* Turns "HOST:PORT" or "[V6]:PORT" into a socket address. HOST may be a
 * numeric IPv4 address or a name such as localhost (resolved once, here; the
 * first answer wins). */
static int parse_listen(const char *listen, struct sockaddr_storage *ret_ss, struct errmsg *e)
{
	char host[256];
	const char *colon, *hs;
	size_t hl;
	int port, r;
	struct sockaddr_in *sin = (struct sockaddr_in *)ret_ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ret_ss;

	memset(ret_ss, 0, sizeof(*ret_ss));
	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');

		if (!rb || rb[1] != ':')
			return errmsg_set(e, -EINVAL,
			                  "metrics listen address \"%s\" is not [IPV6]:PORT",
			                  listen);
		hs = listen + 1;
		hl = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return errmsg_set(e, -EINVAL,
			                  "metrics listen address \"%s\" is not HOST:PORT", listen);
		hs = listen;
		hl = (size_t)(colon - listen);
		if (memchr(hs, ':', hl))
			return errmsg_set(e, -EINVAL,
			                  "metrics listen address \"%s\": write IPv6 addresses "
			                  "as [ADDR]:PORT",
			                  listen);
	}
	if (parse_port(colon + 1, &port) < 0)
		return errmsg_set(e, -EINVAL,
		                  "metrics listen address \"%s\": port must be 0..65535", listen);
	if (hl == 0)
		return errmsg_set(e, -EINVAL,
		                  "metrics listen address \"%s\" has no host (use 0.0.0.0 or [::] "
		                  "for all interfaces)",
		                  listen);
	if (hl >= sizeof(host))
		return errmsg_set(e, -EINVAL, "metrics listen address \"%s\": host too long",
		                  listen);
	memcpy(host, hs, hl);
	host[hl] = '\0';

	if (listen[0] == '[') {
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return errmsg_set(e, -EINVAL,
			                  "metrics listen address \"%s\": \"%s\" is not an IPv6 "
			                  "address",
			                  listen, host);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}

	/* A name. Blocking, but only at startup or reload, and for the local
	 * name of an interface (normally /etc/hosts). */
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
	struct addrinfo *ai = NULL;

	r = getaddrinfo(host, NULL, &hints, &ai);
	if (r != 0 || !ai) {
		int err = r == EAI_MEMORY                ? -ENOMEM
		          : r == EAI_AGAIN               ? -EAGAIN
		          : r == EAI_SYSTEM && errno > 0 ? -errno
		                                         : -EINVAL;
		const char *why = r == 0 ? "no address" : gai_strerror(r);

		if (ai)
			freeaddrinfo(ai);
		return errmsg_set(e, err, "metrics listen address \"%s\": cannot resolve %s: %s",
		                  listen, host, why);
	}
	if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
		freeaddrinfo(ai);
		return errmsg_set(e, -EINVAL,
		                  "metrics listen address \"%s\": %s is not an IP address", listen,
		                  host);
	}
	memcpy(ret_ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (ret_ss->ss_family == AF_INET)
		sin->sin_port = htons((uint16_t)port);
	else
		sin6->sin6_port = htons((uint16_t)port);
	return 0;
}

/* ---- request handling ---- */

/* Gives resp its headers; on failure destroys it and returns NULL. */
static struct MHD_Response *with_headers(struct MHD_Response *resp, unsigned int status,
                                         const char *content_type)
{
	if (!resp)
		return NULL;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
                             struct MHD_Response *resp, const char *content_type)
{
	enum MHD_Result ret;

	resp = with_headers(resp, status, content_type);
	if (!resp)
		return MHD_NO; /* out of memory: MHD drops the connection */
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp); /* MHD holds its own reference until sent */
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
                                  const char *text)
{
	/* PERSISTENT: the literal outlives the response, so MHD neither copies
	 * nor frees it. */
	return reply(
	        conn, status,
	        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT),
	        "text/plain; charset=utf-8");
}

/* Renders into a new cached response; on failure the old one (if any)
 * stays, unused. Returns 0 or -ENOMEM/the render's error. */
static int render_cached(struct metrics_http *m)
{
	struct buf out = BUF_INIT;
	struct MHD_Response *resp;
	size_t len;
	char *body;
	int r;

	r = m->render(m->data, &out);
	if (r < 0) {
		buf_free(&out);
		return r;
	}
	len = out.len;
	body = buf_steal(&out);
	if (!body)
		return -ENOMEM;
	/* The response takes the rendered text over (no second copy) and frees
	 * it once the last connection using it is done. */
	resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (!resp) {
		free(body);
		return -ENOMEM;
	}
	resp = with_headers(resp, MHD_HTTP_OK, METRICS_CONTENT_TYPE);
	if (!resp)
		return -ENOMEM;
	if (m->cached)
		MHD_destroy_response(m->cached); /* connections sending it keep it */
	m->cached = resp;
	m->cached_at = uv_now(m->loop);
	return 0;
}

static enum MHD_Result reply_metrics(struct metrics_http *m, struct MHD_Connection *conn)
{
	/* HEAD is served the same: its Content-Length must match what GET
	 * would send. */
	if (!m->cached || uv_now(m->loop) - m->cached_at >= m->max_age_ms) {
		int r = render_cached(m);

		if (r < 0)
			return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			                  r == -ENOMEM ? "out of memory\n"
			                               : "cannot render metrics\n");
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, m->cached);
}

/* MHD calls this once the headers are in, then per chunk of request body,
 * then once more when the request is complete. A reply queued before that
 * last call makes MHD close the connection after it: fine for 404 and 405,
 * which are answered at once so that their bodies are never read, but a
 * scrape waits for the end of its request so that its connection stays
 * usable for the next one. */
static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
	struct metrics_http *m = cls;

	(void)version;
	(void)upload_data;
	if (!*req_cls) {
		if (strcmp(url, "/metrics") != 0)
			return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
			return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			                  "method not allowed\n");
		*req_cls = m; /* any non-NULL mark: "headers seen" */
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a GET with a body: ignore the body */
		return MHD_YES;
	}
	return reply_metrics(m, conn);
}

__attribute__((format(printf, 2, 0))) static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
	struct metrics_http *m = cls;
	size_t n;

	vsnprintf(m->mhd_err, sizeof(m->mhd_err), fmt, ap);
	n = strlen(m->mhd_err);
	while (n > 0 && (m->mhd_err[n - 1] == '\n' || m->mhd_err[n - 1] == '.'))
		m->mhd_err[--n] = '\0';
}

/* ---- libuv integration ---- */

static void timer_cb(uv_timer_t *t);
static void close_handles(struct metrics_http *m);

/* Lets MHD do whatever is ready (accept, read, answer, time out; it never
 * blocks), then asks it when it next needs to run even if its epoll fd stays
 * quiet: 0 when it still holds ready sockets of its edge-triggered set,
 * otherwise the nearest connection timeout; MHD_NO when nothing is pending. */
static void drive(struct metrics_http *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	m->in_run = true;
	MHD_run(m->mhd);
	m->in_run = false;
	if (m->close_pending) {
		close_handles(m);
		return;
	}
	if (MHD_get_timeout(m->mhd, &ms) == MHD_YES)
		uv_timer_start(&m->timer, timer_cb, (uint64_t)ms, 0);
	else
		uv_timer_stop(&m->timer);
}

static void timer_cb(uv_timer_t *t)
{
	drive(t->data);
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
	/* An epoll fd does not report errors; should libuv still pass one (it
	 * then stops the poll), the timer keeps MHD going for connections it
	 * already has. */
	(void)status;
	(void)events;
	drive(p->data);
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct metrics_http *m = h->data;

	if (--m->open_handles == 0)
		free(m);
}

/* Closes whatever handles are open; m is freed in the last close callback. */
static void close_handles(struct metrics_http *m)
{
	uv_poll_stop(&m->poll);
	uv_timer_stop(&m->timer);
	/* Stop polling MHD's epoll fd before MHD closes it, or libuv would hold a
	 * dead (and soon reused) fd number. */
	if (m->mhd) {
		MHD_stop_daemon(m->mhd);
		m->mhd = NULL;
	}
	if (m->cached) {
		MHD_destroy_response(m->cached);
		m->cached = NULL;
	}
	uv_close((uv_handle_t *)&m->poll, handle_closed_cb);
	uv_close((uv_handle_t *)&m->timer, handle_closed_cb);
}

int metrics_http_open(uv_loop_t *loop, const char *listen, metrics_render_fn render, void *data,
                      struct metrics_http **ret, struct errmsg *e)
{
	struct sockaddr_storage ss;
	struct metrics_http *m;
	const union MHD_DaemonInfo *info;
	unsigned int flags;
	int r, epfd;

	if (!loop || !listen || !render || !ret)
		return errmsg_set(e, -EINVAL, "metrics listener: missing argument");
	r = parse_listen(listen, &ss, e);
	if (r < 0)
		return r;

	m = xcalloc(1, sizeof(*m));
	m->render = render;
	m->data = data;
	m->loop = loop;
	m->max_age_ms = METRICS_HTTP_MAX_AGE_MS;

	/* External polling (no MHD_USE_INTERNAL_POLLING_THREAD) with epoll: MHD
	 * creates no thread and hands us one fd to watch. No
	 * MHD_OPTION_SIGPIPE_HANDLED_BY_APP: it only lets MHD use sendfile() for
	 * file responses, which we never send; MHD writes with MSG_NOSIGNAL. The
	 * error log goes to mhd_log_cb, which only keeps the last line. */
	flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	/* MHD 0.9.75 sizes the SOCK_ADDR from this flag. IPv6 alone means
	 * IPV6_V6ONLY: "[::]:PORT" does not take IPv4 too. */
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	m->mhd = MHD_start_daemon(
	        flags, 0, NULL, NULL, access_cb, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_HTTP_MAX_CONNS,
	        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)METRICS_HTTP_MAX_CONNS_PER_IP,
	        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_HTTP_CONN_TIMEOUT,
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_HTTP_CONN_MEMORY,
	        MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, m, MHD_OPTION_END);
	if (!m->mhd) {
		/* MHD leaves the errno of the call that failed (bind, listen,
		 * epoll_create...); its own log line is the fallback text. */
		int err = errno;

		r = err > 0 ? -err : -EIO;
		errmsg_set(e, r, "cannot listen for metrics on %s: %s", listen,
		           err > 0 || !m->mhd_err[0] ? strerror(err) : m->mhd_err);
		free(m);
		return r;
	}

	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	epfd = info ? info->epoll_fd : -1;
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? (int)info->port : 0;
	if (epfd < 0) {
		MHD_stop_daemon(m->mhd);
		free(m);
		return errmsg_set(e, -ENOTSUP, "metrics listener: libmicrohttpd has no epoll fd");
	}
	r = uv_poll_init(loop, &m->poll, epfd);
	if (r < 0) {
		MHD_stop_daemon(m->mhd);
		free(m);
		return errmsg_set(e, r, "metrics listener: cannot watch libmicrohttpd: %s",
		                  uv_strerror(r));
	}
	m->poll.data = m;
	m->open_handles++;
	uv_timer_init(loop, &m->timer); /* cannot fail */
	m->timer.data = m;
	m->open_handles++;

	r = uv_poll_start(&m->poll, UV_READABLE, poll_cb);
	if (r < 0) {
		errmsg_set(e, r, "metrics listener: cannot watch libmicrohttpd: %s",
		           uv_strerror(r));
		close_handles(m); /* frees m once the loop runs */
		return r;
	}
	m->mhd_err[0] = '\0';
	/* Nothing is pending yet, but this settles the timer the same way every
	 * later run does. */
	drive(m);
	*ret = m;
	return 0;
}

void metrics_http_set_max_age(struct metrics_http *m, unsigned ms)
{
	m->max_age_ms = ms;
}

int metrics_http_port(const struct metrics_http *m)
{
	return m ? m->port : 0;
}

void metrics_http_close(struct metrics_http *m)
{
	if (!m)
		return;
	if (m->in_run) {
		/* Called from render: MHD must not be stopped from inside its
		 * own run; drive() finishes the job when MHD_run() returns. */
		m->close_pending = true;
		return;
	}
	close_handles(m);
}

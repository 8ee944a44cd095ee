/* http: the one place that touches curl (multi handle on libuv).
 *
 * Follows curl's docs/examples/multi-uv.c and the contracts in
 * CURLMOPT_SOCKETFUNCTION.md / CURLMOPT_TIMERFUNCTION.md: a 0 ms curl
 * timeout becomes a 0 ms uv timer rather than a recursive call; completed
 * transfers are drained with curl_multi_info_read after every socket action
 * and removed only there, never inside a curl callback.
 *
 * One uv_poll_t per socket for the socket's whole life, not per transfer:
 * it is created the first time curl asks to watch the socket and closed
 * only when curl closes the socket (CURLOPT_CLOSESOCKETFUNCTION), so the
 * handle is always gone before the descriptor is, and a reused descriptor
 * number can never meet a handle that is still closing. A CURL_POLL_REMOVE
 * (the connection went back to curl's cache) leaves the handle watching for
 * readability: the next warm on that connection wants exactly that, and
 * libuv's uv_poll_start() always costs an epoll_ctl pair (ADD failing with
 * EEXIST, then MOD), so not touching the handle between warms is what makes
 * a reused connection cost no epoll_ctl at all. An idle connection is
 * silent; if it does become readable, the peer closed it (or broke the
 * protocol), so the handle is closed then and curl's own check finds the
 * connection dead when it next picks it. */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xalloc.h"

#define HTTP_POOL_MAX 64
/* Idle connections kept. curl's default (4 per easy handle attached) shrinks
 * the cache as a burst drains, so each burst would open most of its
 * connections again (TCP and TLS handshakes) after every quiet spell. */
#define HTTP_MAX_IDLE_CONNS 256

struct sockctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http *h;
	int events;                  /* what the handle watches now (UV_READABLE | UV_WRITABLE) */
	bool watched;                /* curl asked for events and has not said REMOVE since */
	struct sockctx *prev, *next; /* live list, so shutdown can close leftovers */
};

struct http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	char *user_agent;
	unsigned active;
	struct sockctx *socks;
	struct sockctx **byfd; /* socket -> its handle, NULL when it has none */
	size_t nbyfd;
	CURL *pool[HTTP_POOL_MAX];
	unsigned npool;
};

struct http_headers {
	size_t n;
	struct curl_slist nodes[];
};

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

struct http_headers *http_headers_new(const char *const *lines)
{
	static char expect[] = "Expect:"; /* never wait for 100-continue */
	struct http_headers *hh;
	size_t n = 0;

	while (lines[n])
		n++;
	hh = calloc(1, sizeof(*hh) + (n + 1) * sizeof(struct curl_slist));
	if (!hh)
		return NULL;
	hh->n = n + 1;
	for (size_t i = 0; i < n; i++)
		hh->nodes[i].data = (char *)(uintptr_t)lines[i];
	hh->nodes[n].data = expect;
	for (size_t i = 0; i + 1 < hh->n; i++)
		hh->nodes[i].next = &hh->nodes[i + 1];
	return hh;
}

void http_headers_free(struct http_headers *hh)
{
	free(hh);
}

/* A request's own copy of its header lines (extra_headers), after the transfer. */
static void slist_free(struct http_req *req)
{
	/* They may carry a token or a signature. */
	for (struct curl_slist *l = req->slist; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(req->slist);
	req->slist = NULL;
}

static void sock_close_cb(uv_handle_t *handle)
{
	free(handle->data);
}

/* Closes c's handle (before its socket is closed). Memory goes in the close
 * callback; the socket is free for a new handle at once. */
static void sock_release(struct sockctx *c)
{
	struct http *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->socks = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if ((size_t)c->fd < h->nbyfd && h->byfd[c->fd] == c)
		h->byfd[c->fd] = NULL;
	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, sock_close_cb);
}

static struct sockctx *sock_find(struct http *h, curl_socket_t fd)
{
	return fd >= 0 && (size_t)fd < h->nbyfd ? h->byfd[fd] : NULL;
}

static void poll_cb(uv_poll_t *poll, int status, int events);

/* The handle of fd, created on first use. NULL: out of memory, or libuv
 * refused the descriptor. */
static struct sockctx *sock_get(struct http *h, curl_socket_t fd)
{
	struct sockctx *c = sock_find(h, fd);

	if (c || fd < 0)
		return c;
	if ((size_t)fd >= h->nbyfd) {
		size_t n = h->nbyfd ? h->nbyfd : 64;
		struct sockctx **v;
		while (n <= (size_t)fd)
			n *= 2;
		v = realloc(h->byfd, n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + h->nbyfd, 0, (n - h->nbyfd) * sizeof(*v));
		h->byfd = v;
		h->nbyfd = n;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->h = h;
	if (uv_poll_init_socket(h->loop, &c->poll, fd) < 0) {
		free(c);
		return NULL;
	}
	c->poll.data = c;
	c->next = h->socks;
	if (h->socks)
		h->socks->prev = c;
	h->socks = c;
	h->byfd[fd] = c;
	return c;
}

/* Watches for events (0: nothing) unless the handle already does: every
 * uv_poll_start() is an epoll_ctl pair. */
static int sock_watch(struct sockctx *c, int events)
{
	int r = 0;

	if (events == c->events)
		return 0;
	if (events)
		r = uv_poll_start(&c->poll, events, poll_cb);
	else
		uv_poll_stop(&c->poll);
	c->events = r < 0 ? 0 : events;
	return r;
}

static void finish(struct http *h, CURL *easy, CURLcode code)
{
	struct http_req *req = NULL;
	double total = 0;
	long status = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &total);
	curl_multi_remove_handle(h->multi, easy);
	h->active--;
	req->easy = NULL;
	slist_free(req);
	req->status = status;
	req->total_s = total;
	if (code == CURLE_OK) {
		req->error = 0;
		req->errtext[0] = '\0';
	} else {
		if (!req->errtext[0])
			snprintf(req->errtext, sizeof(req->errtext), "%s",
			         curl_easy_strerror(code));
		switch (code) {
		case CURLE_OPERATION_TIMEDOUT:
			req->error = -ETIMEDOUT;
			break;
		case CURLE_COULDNT_CONNECT:
			req->error = -ECONNREFUSED;
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
			req->error = -EHOSTUNREACH;
			break;
		case CURLE_WRITE_ERROR:
			req->error = req->too_big ? -EMSGSIZE : -EIO;
			if (req->too_big)
				snprintf(req->errtext, sizeof(req->errtext),
				         "response larger than %zu bytes, aborted",
				         req->max_response ? req->max_response
				                           : (size_t)HTTP_DEFAULT_MAX_RESPONSE);
			break;
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CACERT_BADFILE:
			req->error = -EPROTO;
			break;
		default:
			req->error = -EIO;
			break;
		}
	}
	if (h->npool < HTTP_POOL_MAX)
		h->pool[h->npool++] = easy;
	else
		curl_easy_cleanup(easy);
	req->done(req);
}

static void check_done(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg == CURLMSG_DONE) {
			CURL *easy = msg->easy_handle;
			CURLcode code = msg->data.result;
			finish(h, easy, code);
		}
	}
}

static void poll_cb(uv_poll_t *poll, int status, int events)
{
	struct sockctx *c = poll->data;
	struct http *h = c->h;
	int flags = 0, running;

	if (!c->watched) {
		/* Idle in curl's cache and readable: the peer closed it. Nothing
		 * to read for anyone; stop watching so it cannot wake us again. */
		sock_release(c);
		return;
	}
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, c->fd, flags, &running);
	check_done(h);
}

static void timer_cb(uv_timer_t *t)
{
	struct http *h = t->data;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct sockctx *c;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		/* Back in curl's cache (or about to be closed: then the close
		 * callback follows at once). Keep watching for readability. */
		c = sock_find(h, fd);
		if (c) {
			c->watched = false;
			sock_watch(c, UV_READABLE);
		}
		return 0;
	}
	c = sock_get(h, fd);
	if (!c)
		return -1;
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	c->watched = true;
	return sock_watch(c, events) < 0 ? -1 : 0;
}

/* Sockets are born close-on-exec (nothing warmd starts should inherit a
 * connection holding an API key's session). */
static curl_socket_t opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	(void)clientp;
	(void)purpose;
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* curl is done with fd for good: its handle goes first, then the socket. */
static int closesocket_cb(void *clientp, curl_socket_t fd)
{
	struct sockctx *c = sock_find(clientp, fd);

	if (c)
		sock_release(c);
	return close(fd);
}

static int timerfunc_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, timer_cb, (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *userp)
{
	struct http_req *req = userp;
	size_t n = size * nmemb;
	size_t cap = req->max_response ? req->max_response : HTTP_DEFAULT_MAX_RESPONSE;

	/* MAXFILESIZE cannot stop a body of undeclared size; this can. */
	if (req->resp.len + n > cap) {
		req->too_big = true;
		return 0;
	}
	return buf_append(&req->resp, p, n) < 0 ? 0 : n;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *userp)
{
	struct http_req *req = userp;
	size_t n = size * nmemb;

	/* A new status line (after 100 Continue) starts a new header block. */
	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
		buf_reset(&req->headers_in);
	if (req->headers_in.len + n <= HTTP_MAX_RESPONSE_HEADERS)
		buf_append(&req->headers_in, p, n);
	return n;
}

int http_new(uv_loop_t *loop, const char *user_agent, struct http **ret)
{
	struct http *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->user_agent = strdup(user_agent);
	h->multi = curl_multi_init();
	if (!h->multi || !h->user_agent) {
		if (h->multi)
			curl_multi_cleanup(h->multi);
		free(h->user_agent);
		free(h);
		return -ENOMEM;
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timerfunc_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_MAX_IDLE_CONNS);
	*ret = h;
	return 0;
}

static CURL *easy_get(struct http *h)
{
	CURL *e;

	if (h->npool) {
		e = h->pool[--h->npool];
		curl_easy_reset(e);
		return e;
	}
	return curl_easy_init();
}

/* The fixed lines and this request's own, as one list curl owns copies of. */
static struct curl_slist *headers_with_extra(const struct http_req *req)
{
	struct curl_slist *l = NULL;

	for (size_t i = 0; req->headers && i < req->headers->n; i++)
		if (!(l = curl_slist_append(l, req->headers->nodes[i].data)))
			xalloc_die("curl_slist_append");
	for (size_t i = 0; req->extra_headers[i]; i++)
		if (!(l = curl_slist_append(l, req->extra_headers[i])))
			xalloc_die("curl_slist_append");
	return l;
}

int http_start(struct http *h, struct http_req *req)
{
	CURL *e = easy_get(h);

	if (!e)
		return -ENOMEM;
	buf_reset(&req->resp);
	buf_reset(&req->headers_in);
	req->error = 0;
	req->errtext[0] = '\0';
	req->status = 0;
	req->total_s = 0;
	req->too_big = false;
	req->h = h;
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	if (req->method && strcmp(req->method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->extra_headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->slist = headers_with_extra(req));
	else if (req->headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER,
		                 (struct curl_slist *)&req->headers->nodes[0]);
	curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* TLS verification is never switched off; a private CA may be added. */
	if (req->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
	/* Only the configured proxy: a daemon must not pick one up from its environment. */
	curl_easy_setopt(e, CURLOPT_PROXY, req->proxy ? req->proxy : "");
	if (req->low_speed_time_ms > 0) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, req->low_speed_bps);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
		                 (req->low_speed_time_ms + 999) / 1000 > 0
		                         ? (req->low_speed_time_ms + 999) / 1000
		                         : 1L);
	}
	/* Keep idle connections for reuse well past a 5-minute warm interval. */
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 900L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errtext);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, closesocket_cb);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		slist_free(req);
		return -EIO;
	}
	req->easy = e;
	h->active++;
	return 0;
}

void http_cancel(struct http_req *req)
{
	struct http *h = req->h;

	if (!req->easy)
		return;
	curl_multi_remove_handle(h->multi, req->easy);
	curl_easy_cleanup(req->easy);
	req->easy = NULL;
	slist_free(req);
	h->active--;
}

void http_req_reset(struct http_req *req)
{
	buf_free(&req->resp);
	buf_free(&req->headers_in);
}

unsigned http_active(const struct http *h)
{
	return h->active;
}

static void http_timer_close_cb(uv_handle_t *handle)
{
	struct http *h = handle->data;

	free(h->byfd);
	free(h->user_agent);
	free(h);
}

void http_close(struct http *h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	h->npool = 0;
	/* Closes cached connections; curl reports their sockets as removed. */
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	while (h->socks)
		sock_release(h->socks);
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, http_timer_close_cb);
}

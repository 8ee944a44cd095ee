/* check_http: runtime/http.c against a keep-alive HTTP server on loopback,
 * served by the same libuv loop (so every test is one thread and ends with
 * uv_loop_close() == 0).
 *
 * What the curl-on-libuv glue must guarantee: done() once per request;
 * connections reused (one poll handle per socket for its life, not per
 * transfer); a connection the server closes while idle is dropped and the
 * next request still succeeds; after http_close() no handle is left and the
 * process's descriptor count is back where it started. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "httpstub.h"

#define ANSWER    "{\"usage\":{\"input_tokens\":3,\"cache_read_input_tokens\":2048}}"
#define MAX_CONNS 16

struct conn {
	uv_tcp_t tcp;
	struct server *srv;
	char buf[65536];
	size_t len;
	size_t idx; /* in srv->conns */
	bool open;
};

struct server {
	uv_tcp_t listen;
	int port;
	struct conn *conns[MAX_CONNS];
	size_t nconns;   /* accepted so far */
	size_t requests; /* answered so far */
};

static uv_loop_t loop;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void conn_close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->srv->conns[c->idx] = NULL;
	free(c);
}

static void conn_close(struct conn *c)
{
	if (!c->open)
		return;
	c->open = false;
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct conn *c = h->data;

	(void)hint;
	*b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void write_cb(uv_write_t *w, int status)
{
	free(w);
}

/* Answers every complete request in c's buffer (headers + Content-Length). */
static void serve(struct conn *c)
{
	for (;;) {
		char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *cl;
		size_t head, body = 0, total;
		static char resp[256];
		static int resp_len;
		uv_write_t *w;
		uv_buf_t b;

		if (!end)
			return;
		head = (size_t)(end - c->buf) + 4;
		cl = memmem(c->buf, head, "Content-Length: ", 16);
		if (cl)
			body = strtoul(cl + 16, NULL, 10);
		total = head + body;
		if (c->len < total)
			return;
		memmove(c->buf, c->buf + total, c->len - total);
		c->len -= total;
		if (!resp_len)
			resp_len = snprintf(resp, sizeof(resp),
			                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			                    "Content-Length: %zu\r\n\r\n%s",
			                    strlen(ANSWER), ANSWER);
		w = malloc(sizeof(*w));
		ck_assert_ptr_nonnull(w);
		b = uv_buf_init(resp, (unsigned)resp_len);
		ck_assert_int_eq(uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, write_cb), 0);
		c->srv->requests++;
	}
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;

	(void)b;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	serve(c);
}

static void connection_cb(uv_stream_t *l, int status)
{
	struct server *srv = l->data;
	struct conn *c = calloc(1, sizeof(*c));

	ck_assert_int_eq(status, 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_lt(srv->nconns, MAX_CONNS);
	c->srv = srv;
	c->open = true;
	uv_tcp_init(&loop, &c->tcp);
	c->tcp.data = c;
	ck_assert_int_eq(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
	c->idx = srv->nconns;
	srv->conns[srv->nconns++] = c;
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void server_open(struct server *srv)
{
	struct sockaddr_in sa;
	struct sockaddr_storage got;
	int len = sizeof(got);

	memset(srv, 0, sizeof(*srv));
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_init(&loop, &srv->listen);
	srv->listen.data = srv;
	ck_assert_int_eq(uv_tcp_bind(&srv->listen, (struct sockaddr *)&sa, 0), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&srv->listen, 64, connection_cb), 0);
	uv_tcp_getsockname(&srv->listen, (struct sockaddr *)&got, &len);
	srv->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

/* Closes every connection the server holds (an idle timeout). */
static void server_drop_all(struct server *srv)
{
	for (size_t i = 0; i < srv->nconns; i++)
		if (srv->conns[i])
			conn_close(srv->conns[i]);
}

static void server_close(struct server *srv)
{
	server_drop_all(srv);
	uv_close((uv_handle_t *)&srv->listen, NULL);
}

static int dones;
static void done_cb(struct http_req *req)
{
	dones++;
	ck_assert_int_eq(req->error, 0);
	ck_assert_int_eq(req->status, 200);
	ck_assert_uint_eq(req->resp.len, strlen(ANSWER));
	ck_assert(memcmp(req->resp.data, ANSWER, req->resp.len) == 0);
}

static void req_init(struct http_req *r, const char *url, const char *body)
{
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->body = body;
	r->body_len = strlen(body);
	r->connect_timeout_ms = 5000;
	r->timeout_ms = 10000;
	r->done = done_cb;
}

/* Runs the loop until want requests completed (or fails after a while). */
static void run_until(int want)
{
	for (int i = 0; i < 100000 && dones < want; i++)
		uv_run(&loop, UV_RUN_ONCE);
	ck_assert_int_eq(dones, want);
}

START_TEST(test_reuse_and_cleanup)
{
	struct server srv;
	struct http *h;
	struct http_req reqs[8];
	char url[64], body[9000];
	int fds0, round;

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	/* libuv's first loop opens a process-wide pipe it never closes. */
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	fds0 = count_fds();
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	server_open(&srv);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/messages", srv.port);
	ck_assert_int_eq(http_new(&loop, "check_http", &h), 0);
	dones = 0;
	for (round = 0; round < 5; round++) {
		for (int i = 0; i < 8; i++) {
			req_init(&reqs[i], url, body);
			ck_assert_int_eq(http_start(h, &reqs[i]), 0);
		}
		run_until((round + 1) * 8);
		for (int i = 0; i < 8; i++)
			http_req_reset(&reqs[i]);
	}
	ck_assert_uint_eq(srv.requests, 40);
	/* keep-alive: 8 connections served all five rounds */
	ck_assert_uint_le(srv.nconns, 8);
	ck_assert_uint_eq(http_active(h), 0);

	/* The server closes its idle connections: the next round reconnects. */
	server_drop_all(&srv);
	for (int i = 0; i < 50; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	for (int i = 0; i < 8; i++) {
		req_init(&reqs[i], url, body);
		ck_assert_int_eq(http_start(h, &reqs[i]), 0);
	}
	run_until(48);
	for (int i = 0; i < 8; i++)
		http_req_reset(&reqs[i]);
	ck_assert_uint_eq(srv.requests, 48);
	ck_assert_uint_gt(srv.nconns, 8);

	/* A cancelled request never calls done(). */
	req_init(&reqs[0], url, body);
	ck_assert_int_eq(http_start(h, &reqs[0]), 0);
	http_cancel(&reqs[0]);
	http_req_reset(&reqs[0]);
	ck_assert_uint_eq(http_active(h), 0);

	http_close(h);
	server_close(&srv);
	while (uv_run(&loop, UV_RUN_NOWAIT))
		;
	ck_assert_int_eq(dones, 48);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

static void any_done_cb(struct http_req *req)
{
	dones++;
	ck_assert_int_eq(req->error, 0);
}

/* A method other than POST, and a request's own header lines after the
 * fixed ones; the pooled handle forgets both for the next request. */
START_TEST(test_method_and_extra_headers)
{
	static const char *const fixed[] = { "x-fixed: yes", NULL };
	static const char *const extra[] = { "x-signature: abc", "x-date: 20260101T000000Z", NULL };
	struct http_headers *hh = http_headers_new(fixed);
	struct httpstub *stub;
	struct http *h;
	struct http_req r;
	const char *head;

	dones = 0;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	stub = httpstub_new(&loop);
	httpstub_answer(stub, 200, "{}");
	ck_assert_int_eq(http_new(&loop, "warmd-test", &h), 0);
	req_init(&r, httpstub_url(stub), "{\"ttl\":\"300s\"}");
	r.done = any_done_cb;
	r.method = "PATCH";
	r.headers = hh;
	r.extra_headers = extra;
	ck_assert_int_eq(http_start(h, &r), 0);
	run_until(1);
	head = httpstub_last_head(stub);
	ck_assert_msg(strncmp(head, "PATCH / HTTP/1.1\r\n", 18) == 0, "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "\r\nx-fixed: yes\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "\r\nx-signature: abc\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "\r\nx-date: 20260101T000000Z\r\n"));
	ck_assert_msg(strstr(head, "Content-Length: 14\r\n") != NULL, "%s", head);
	ck_assert_ptr_null(r.slist); /* the copy is gone with the transfer */
	http_req_reset(&r);
	req_init(&r, httpstub_url(stub), "{}");
	r.done = any_done_cb;
	r.headers = hh;
	ck_assert_int_eq(http_start(h, &r), 0);
	run_until(2);
	head = httpstub_last_head(stub);
	ck_assert_msg(strncmp(head, "POST / HTTP/1.1\r\n", 17) == 0, "%s", head);
	ck_assert_ptr_null(strstr(head, "x-signature"));
	http_req_reset(&r);
	http_close(h);
	httpstub_close(stub);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	http_headers_free(hh);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("loopback");
	SRunner *sr;
	int failed;

	if (http_global_init() < 0)
		return EXIT_FAILURE;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reuse_and_cleanup);
	tcase_add_test(tc, test_method_and_extra_headers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	http_global_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

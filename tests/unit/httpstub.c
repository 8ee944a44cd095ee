/* httpstub: a tiny HTTP/1.1 server for unit tests. */
#include "httpstub.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STUB_MAX_ANSWERS 16

struct stub_answer {
	int status;
	char *body;
};

struct stub_conn {
	uv_tcp_t tcp;
	struct httpstub *s;
	char *in;
	size_t len;
	struct stub_conn *next;
	bool closing;
};

struct httpstub {
	uv_loop_t *loop;
	uv_tcp_t server;
	char url[64];
	struct stub_answer answers[STUB_MAX_ANSWERS];
	unsigned nanswers, next, requests;
	struct stub_conn *conns;
	int open;        /* handles not yet closed */
	char last[4096]; /* the head of the last request (request line and headers) */
	char last_body[8192];
};

struct stub_write {
	uv_write_t w;
	char *data;
};

static void maybe_free(struct httpstub *s)
{
	if (s->open > 0)
		return;
	for (unsigned i = 0; i < s->nanswers; i++)
		free(s->answers[i].body);
	free(s);
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct stub_conn *c = h->data;
	struct httpstub *s = c->s;

	for (struct stub_conn **p = &s->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	free(c->in);
	free(c);
	s->open--;
	maybe_free(s);
}

static void conn_close(struct stub_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static void write_cb(uv_write_t *w, int status)
{
	struct stub_write *sw = (struct stub_write *)w;

	(void)status;
	free(sw->data);
	free(sw);
}

static void respond(struct stub_conn *c)
{
	struct httpstub *s = c->s;
	const struct stub_answer *a;
	struct stub_write *sw = calloc(1, sizeof(*sw));
	uv_buf_t b;
	int n;

	ck_assert_ptr_nonnull(sw);
	ck_assert_msg(s->nanswers > 0, "httpstub: a request and no answer queued");
	a = &s->answers[s->next < s->nanswers ? s->next : s->nanswers - 1];
	if (s->next < s->nanswers)
		s->next++;
	s->requests++;
	n = asprintf(&sw->data,
	             "HTTP/1.1 %d Stub\r\nContent-Type: application/json\r\nContent-Length: "
	             "%zu\r\n\r\n%s",
	             a->status, strlen(a->body), a->body);
	ck_assert_int_gt(n, 0);
	b = uv_buf_init(sw->data, (unsigned)n);
	if (uv_write(&sw->w, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0) {
		free(sw->data);
		free(sw);
		conn_close(c);
	}
}

/* Answers every whole request in c->in. */
static void serve(struct stub_conn *c)
{
	for (;;) {
		char *end = c->len ? memmem(c->in, c->len, "\r\n\r\n", 4) : NULL;
		size_t head, body = 0;

		if (!end)
			return;
		head = (size_t)(end - c->in) + 4;
		for (char *p = c->in; p < end; p = strstr(p, "\r\n") + 2)
			if (strncasecmp(p, "Content-Length:", 15) == 0)
				body = strtoul(p + 15, NULL, 10);
		if (c->len < head + body)
			return;
		snprintf(c->s->last, sizeof(c->s->last), "%.*s", (int)head, c->in);
		snprintf(c->s->last_body, sizeof(c->s->last_body), "%.*s", (int)body, c->in + head);
		respond(c);
		memmove(c->in, c->in + head + body, c->len - head - body);
		c->len -= head + body;
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	b->base = malloc(suggested);
	b->len = b->base ? suggested : 0;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct stub_conn *c = st->data;

	if (n < 0) {
		free(b->base);
		conn_close(c);
		return;
	}
	c->in = realloc(c->in, c->len + (size_t)n + 1);
	ck_assert_ptr_nonnull(c->in);
	memcpy(c->in + c->len, b->base, (size_t)n);
	c->len += (size_t)n;
	c->in[c->len] = '\0';
	free(b->base);
	serve(c);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct httpstub *s = server->data;
	struct stub_conn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	c->s = s;
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	s->open++;
	c->next = s->conns;
	s->conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0)
		conn_close(c);
}

struct httpstub *httpstub_new(uv_loop_t *loop)
{
	struct httpstub *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	ck_assert_ptr_nonnull(s);
	s->loop = loop;
	ck_assert_int_eq(uv_tcp_init(loop, &s->server), 0);
	s->server.data = s;
	s->open = 1;
	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	ck_assert_int_eq(uv_tcp_bind(&s->server, (const struct sockaddr *)&sa, 0), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&s->server, 16, connection_cb), 0);
	ck_assert_int_eq(uv_tcp_getsockname(&s->server, (struct sockaddr *)&bound, &len), 0);
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d",
	         ntohs(((struct sockaddr_in *)&bound)->sin_port));
	return s;
}

const char *httpstub_url(const struct httpstub *s)
{
	return s->url;
}

void httpstub_answer(struct httpstub *s, int status, const char *body)
{
	ck_assert_uint_lt(s->nanswers, STUB_MAX_ANSWERS);
	s->answers[s->nanswers].status = status;
	s->answers[s->nanswers].body = strdup(body);
	ck_assert_ptr_nonnull(s->answers[s->nanswers].body);
	s->nanswers++;
}

unsigned httpstub_requests(const struct httpstub *s)
{
	return s->requests;
}

const char *httpstub_last_head(const struct httpstub *s)
{
	return s->last;
}

const char *httpstub_last_body(const struct httpstub *s)
{
	return s->last_body;
}

static void server_closed_cb(uv_handle_t *h)
{
	struct httpstub *s = h->data;

	s->open--;
	maybe_free(s);
}

void httpstub_close(struct httpstub *s)
{
	for (struct stub_conn *c = s->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&s->server, server_closed_cb);
}

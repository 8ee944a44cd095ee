/* check_metrics_http: the HTTP /metrics listener (control/metrics_http.c), on a
 * real libuv loop with a blocking client in a second thread. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "metrics_http.h"

#define BODY                                                                                       \
	"# HELP warmd_up Whether warmd runs.\n"                                                    \
	"# TYPE warmd_up gauge\n"                                                                  \
	"warmd_up 1\n"

/* ---- the render callback ---- */

struct render_state {
	int calls;
	int fail;                       /* return this instead of rendering when nonzero */
	struct metrics_http **close_me; /* close this listener from inside render */
	/* The listener's max age: 0 renders for each request (the tests that
	 * count renders per request); default_age keeps the listener's own. */
	unsigned max_age_ms;
	bool default_age;
};

static int render_cb(void *data, struct buf *out)
{
	struct render_state *rs = data;

	rs->calls++;
	if (rs->close_me && *rs->close_me) {
		metrics_http_close(*rs->close_me);
		*rs->close_me = NULL;
	}
	if (rs->fail)
		return rs->fail;
	return buf_puts(out, BODY);
}

/* ---- a blocking HTTP client (runs in its own thread; never asserts) ---- */

struct resp {
	int status; /* 0: no status line */
	char headers[2048];
	char body[4096];
	size_t body_len;
	bool eof; /* the server closed the connection */
};

static int client_connect(int port, int timeout_ms)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Value of header name in r->headers ("" if absent). */
static const char *header(const struct resp *r, const char *name, char *val, size_t n)
{
	size_t nl = strlen(name);
	const char *p = strstr(r->headers, "\r\n");

	val[0] = '\0';
	while (p && p[2]) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *end = strstr(v, "\r\n");
			size_t len;

			while (*v == ' ')
				v++;
			len = end ? (size_t)(end - v) : strlen(v);
			if (len >= n)
				len = n - 1;
			memcpy(val, v, len);
			val[len] = '\0';
			return val;
		}
		p = strstr(p, "\r\n");
	}
	return val;
}

/* Reads one response. With until_eof, the body is everything up to the
 * close; otherwise exactly Content-Length bytes (0 for a HEAD), reading the
 * headers byte by byte so that a pipelined next response stays unread. */
static void read_response(int fd, struct resp *r, bool head, bool until_eof)
{
	char raw[8192];
	size_t have = 0, hl = 0, want = 0;
	char *sep = NULL, cl[32];
	ssize_t n;
	size_t ask;

	memset(r, 0, sizeof(*r));
	for (;;) {
		if (sep && !until_eof && have - hl >= want)
			break;
		if (have == sizeof(raw) - 1)
			break;
		ask = sizeof(raw) - 1 - have;
		if (!until_eof)
			ask = !sep ? 1 : want - (have - hl) < ask ? want - (have - hl) : ask;
		n = recv(fd, raw + have, ask, 0);
		if (n == 0)
			r->eof = true;
		if (n <= 0)
			break;
		have += (size_t)n;
		raw[have] = '\0';
		if (!sep && (sep = strstr(raw, "\r\n\r\n"))) {
			hl = (size_t)(sep - raw) + 4;
			if (hl - 2 < sizeof(r->headers)) {
				memcpy(r->headers, raw, hl - 2);
				r->headers[hl - 2] = '\0';
			}
			want = head ? 0 : (size_t)atol(header(r, "Content-Length", cl, sizeof(cl)));
		}
	}
	raw[have] = '\0';
	if (sscanf(raw, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = 0;
	if (sep) {
		r->body_len = have - hl;
		if (r->body_len >= sizeof(r->body))
			r->body_len = sizeof(r->body) - 1;
		memcpy(r->body, raw + hl, r->body_len);
		r->body[r->body_len] = '\0';
	}
}

/* One request on a fresh connection, read to the server's close. */
static void roundtrip(int port, const char *req, size_t len, bool head, struct resp *r)
{
	int fd = client_connect(port, 2000);

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return;
	if (send_all(fd, req, len) == 0)
		read_response(fd, r, head, true);
	close(fd);
}

#define ROUNDTRIP(port, req, head, r) roundtrip(port, req, sizeof(req) - 1, head, r)

/* ---- running a client scenario against the loop ---- */

struct scenario {
	uv_loop_t *loop;
	struct metrics_http *m;
	uv_async_t done;
	int port;
	void (*client)(struct scenario *sc);
	struct resp r[8];
	long long gap_ms; /* set by clients that time something */
	int garbage_ok;   /* the garbage request got an answer or a close, not a hang */
};

static void done_cb(uv_async_t *a)
{
	struct scenario *sc = a->data;

	uv_close((uv_handle_t *)&sc->done, NULL);
	metrics_http_close(sc->m);
	sc->m = NULL;
}

static void *client_thread(void *arg)
{
	struct scenario *sc = arg;

	sc->client(sc);
	uv_async_send(&sc->done);
	return NULL;
}

/* Open fds of the process. The first uv_loop_init() opens libuv's
 * process-wide signal lock pipe for good, so one loop is made and dropped
 * first to keep that out of the count. */
static int count_fds(void)
{
	DIR *d;
	struct dirent *de;
	uv_loop_t warm;
	int n = 0;

	if (uv_loop_init(&warm) == 0)
		uv_loop_close(&warm);
	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	return n;
}

/* Opens a listener on 127.0.0.1:0, runs client in a thread while the loop
 * serves it, closes the listener when the client is done, and checks that
 * every handle and fd is gone afterwards. */
static void run_scenario(struct scenario *sc, struct render_state *rs,
                         void (*client)(struct scenario *sc))
{
	uv_loop_t loop;
	struct errmsg e = { { 0 } };
	pthread_t t;
	int fds = count_fds();

	memset(sc, 0, sizeof(*sc));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	sc->loop = &loop;
	sc->client = client;
	ck_assert_msg(metrics_http_open(&loop, "127.0.0.1:0", render_cb, rs, &sc->m, &e) == 0,
	              "open: %s", e.text);
	if (!rs->default_age)
		metrics_http_set_max_age(sc->m, rs->max_age_ms);
	sc->port = metrics_http_port(sc->m);
	ck_assert_int_gt(sc->port, 0);
	ck_assert_int_eq(uv_async_init(&loop, &sc->done, done_cb), 0);
	sc->done.data = sc;
	ck_assert_int_eq(pthread_create(&t, NULL, client_thread, sc), 0);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_ptr_null(sc->m);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(count_fds(), fds);
}

/* ---- tests ---- */

static void client_basic(struct scenario *sc)
{
	ROUNDTRIP(sc->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false,
	          &sc->r[0]);
	ROUNDTRIP(sc->port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true,
	          &sc->r[1]);
	ROUNDTRIP(sc->port, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false,
	          &sc->r[2]);
	ROUNDTRIP(sc->port,
	          "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	          "Connection: close\r\n\r\nhello",
	          false, &sc->r[3]);
}

START_TEST(test_get_head_404_405)
{
	struct scenario sc;
	struct render_state rs = { 0, 0, NULL, 0, false };
	char v[128];

	run_scenario(&sc, &rs, client_basic);

	ck_assert_int_eq(sc.r[0].status, 200);
	ck_assert_str_eq(header(&sc.r[0], "Content-Type", v, sizeof(v)),
	                 "text/plain; version=0.0.4; charset=utf-8");
	ck_assert_str_eq(sc.r[0].body, BODY);
	ck_assert_uint_eq(sc.r[0].body_len, strlen(BODY));

	ck_assert_int_eq(sc.r[1].status, 200);
	ck_assert_uint_eq(sc.r[1].body_len, 0);
	ck_assert_str_eq(header(&sc.r[1], "Content-Type", v, sizeof(v)),
	                 "text/plain; version=0.0.4; charset=utf-8");
	/* HEAD announces the length GET would send */
	ck_assert_int_eq(atoi(header(&sc.r[1], "Content-Length", v, sizeof(v))), (int)strlen(BODY));

	ck_assert_int_eq(sc.r[2].status, 404);
	ck_assert_uint_gt(sc.r[2].body_len, 0);

	ck_assert_int_eq(sc.r[3].status, 405);
	ck_assert_str_eq(header(&sc.r[3], "Allow", v, sizeof(v)), "GET, HEAD");

	/* GET and HEAD render; 404 and 405 do not */
	ck_assert_int_eq(rs.calls, 2);
}
END_TEST

static void client_one_get(struct scenario *sc)
{
	ROUNDTRIP(sc->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false,
	          &sc->r[0]);
}

START_TEST(test_render_error_is_500)
{
	struct scenario sc;
	struct render_state rs = { 0, -ENOMEM, NULL, 0, false };

	run_scenario(&sc, &rs, client_one_get);
	ck_assert_int_eq(sc.r[0].status, 500);
	ck_assert_ptr_null(strstr(sc.r[0].body, "warmd_up"));
	ck_assert_int_eq(rs.calls, 1);
}
END_TEST

/* The daemon may drop the listener (a reload) while a scrape renders. */
START_TEST(test_close_from_render)
{
	struct scenario sc;
	struct render_state rs = { 0, 0, &sc.m, 0, false };

	run_scenario(&sc, &rs, client_one_get);
	ck_assert_int_eq(rs.calls, 1);
	/* whether the reply still went out is up to MHD; the loop ended with
	 * every handle and fd gone (checked by run_scenario) */
}
END_TEST

static void client_keepalive(struct scenario *sc)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = client_connect(sc->port, 2000);

	if (fd < 0)
		return;
	for (int i = 0; i < 2; i++) {
		if (send_all(fd, req, sizeof(req) - 1) < 0)
			break;
		read_response(fd, &sc->r[i], false, false);
	}
	/* both requests in one segment: the second must not wait for more
	 * input (MHD keeps it in its ready list; the 0 ms timer runs it) */
	{
		static const char two[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
		                          "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

		if (send_all(fd, two, sizeof(two) - 1) == 0) {
			read_response(fd, &sc->r[2], false, false);
			read_response(fd, &sc->r[3], false, false);
		}
	}
	close(fd);
}

START_TEST(test_keepalive)
{
	struct scenario sc;
	struct render_state rs = { 0, 0, NULL, 0, false };

	run_scenario(&sc, &rs, client_keepalive);
	for (int i = 0; i < 4; i++) {
		ck_assert_msg(sc.r[i].status == 200, "response %d: status %d", i, sc.r[i].status);
		ck_assert_str_eq(sc.r[i].body, BODY);
		ck_assert(!sc.r[i].eof);
	}
	ck_assert_int_eq(rs.calls, 4);
}
END_TEST

static void client_garbage(struct scenario *sc)
{
	/* libmicrohttpd reads a line that starts with NUL as an empty line,
	 * which may precede a request line, so it waits for one; other junk
	 * gets 400 and a close. */
	static const char nul_junk[] = "\x00\xff junk\r\n\r\n";
	static const char get10[] = "GET /metrics HTTP/1.0\r\n\r\n";
	int fd = client_connect(sc->port, 300);

	if (fd >= 0) {
		if (send_all(fd, nul_junk, sizeof(nul_junk) - 1) == 0) {
			read_response(fd, &sc->r[0], false, true);
			if (!sc->r[0].eof && send_all(fd, get10, sizeof(get10) - 1) == 0)
				read_response(fd, &sc->r[1], false, true);
		}
		close(fd);
	}
	ROUNDTRIP(sc->port, "\xff junk\r\n\r\n", false, &sc->r[2]);
	/* a client that connects and leaves without a word */
	fd = client_connect(sc->port, 1000);
	if (fd >= 0)
		close(fd);
	ROUNDTRIP(sc->port, "GET /metrics HTTP/1.0\r\n\r\n", false, &sc->r[3]);
}

START_TEST(test_garbage_then_get)
{
	struct scenario sc;
	struct render_state rs = { 0, 0, NULL, 0, false };

	run_scenario(&sc, &rs, client_garbage);
	/* NUL junk: either refused, or skipped and the connection still serves */
	if (sc.r[0].eof) {
		ck_assert_int_ge(sc.r[0].status, 400);
	} else {
		ck_assert_int_eq(sc.r[0].status, 0);
		ck_assert_int_eq(sc.r[1].status, 200);
		ck_assert_str_eq(sc.r[1].body, BODY);
	}
	ck_assert_int_eq(sc.r[2].status, 400);
	ck_assert(sc.r[2].eof);
	/* and the listener still answers */
	ck_assert_int_eq(sc.r[3].status, 200);
	ck_assert_str_eq(sc.r[3].body, BODY);
	ck_assert_int_eq(rs.calls, sc.r[0].eof ? 1 : 2);
}
END_TEST

static void client_many_scrapes(struct scenario *sc)
{
	client_keepalive(sc); /* r[0..3] on one connection */
	ROUNDTRIP(sc->port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true,
	          &sc->r[4]);
	ROUNDTRIP(sc->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false,
	          &sc->r[5]);
}

/* Scrapes within the max age share one rendering (not one per request). */
START_TEST(test_rendering_is_cached)
{
	struct scenario sc;
	struct render_state rs = { .max_age_ms = 60000 };
	char v[32];

	run_scenario(&sc, &rs, client_many_scrapes);
	for (int i = 0; i < 6; i++) {
		ck_assert_msg(sc.r[i].status == 200, "response %d: status %d", i, sc.r[i].status);
		if (i != 4)
			ck_assert_str_eq(sc.r[i].body, BODY);
	}
	ck_assert_int_eq(atoi(header(&sc.r[4], "Content-Length", v, sizeof(v))), (int)strlen(BODY));
	ck_assert_int_eq(rs.calls, 1);
}
END_TEST

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void client_two_apart(struct scenario *sc)
{
	long long t0 = mono_ms();

	client_one_get(sc);
	usleep(300 * 1000);
	ROUNDTRIP(sc->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false,
	          &sc->r[1]);
	sc->gap_ms = mono_ms() - t0;
}

START_TEST(test_cached_rendering_expires)
{
	struct scenario sc;
	struct render_state rs = { .max_age_ms = 100 };

	run_scenario(&sc, &rs, client_two_apart);
	ck_assert_int_eq(sc.r[0].status, 200);
	ck_assert_int_eq(sc.r[1].status, 200);
	ck_assert_str_eq(sc.r[1].body, BODY);
	ck_assert_int_eq(rs.calls, 2);
}
END_TEST

static void client_back_to_back(struct scenario *sc)
{
	long long t0 = mono_ms();

	client_one_get(sc);
	ROUNDTRIP(sc->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false,
	          &sc->r[1]);
	sc->gap_ms = mono_ms() - t0;
}

/* By default a second's scrapes share one rendering. */
START_TEST(test_default_max_age)
{
	struct scenario sc;
	struct render_state rs = { .default_age = true };

	run_scenario(&sc, &rs, client_back_to_back);
	ck_assert_int_eq(sc.r[1].status, 200);
	if (sc.gap_ms < METRICS_HTTP_MAX_AGE_MS - 100)
		ck_assert_int_eq(rs.calls, 1);
	else
		ck_assert_int_le(rs.calls, 2); /* a very slow machine: cannot tell */
}
END_TEST

/* One address gets 4 connections; the 5th is closed unanswered; once one
 * of the 4 goes, that address may connect again. */
static void client_per_ip(struct scenario *sc)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	int fds[4], extra;

	for (int i = 0; i < 4; i++) {
		fds[i] = client_connect(sc->port, 2000);
		if (fds[i] < 0 || send_all(fds[i], req, sizeof(req) - 1) < 0)
			return;
		read_response(fds[i], &sc->r[i], false, false); /* accepted, kept alive */
	}
	extra = client_connect(sc->port, 2000);
	if (extra >= 0) {
		errno = 0;
		if (send_all(extra, req, sizeof(req) - 1) == 0)
			read_response(extra, &sc->r[4], false, true);
		/* closed with our request unread: a reset, refused all the same
		 * (a timeout would be EAGAIN) */
		if (errno == ECONNRESET || errno == EPIPE)
			sc->r[4].eof = true;
		close(extra);
	}
	close(fds[0]);
	/* MHD notices the close on its next turn; try for a while */
	for (int i = 0; i < 40 && sc->r[5].status != 200; i++) {
		usleep(50 * 1000);
		ROUNDTRIP(sc->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		          false, &sc->r[5]);
	}
	for (int i = 1; i < 4; i++)
		close(fds[i]);
}

START_TEST(test_per_ip_connection_limit)
{
	struct scenario sc;
	struct render_state rs = { 0, 0, NULL, 0, false };

	run_scenario(&sc, &rs, client_per_ip);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(sc.r[i].status == 200, "connection %d: status %d", i, sc.r[i].status);
	ck_assert_int_eq(sc.r[4].status, 0);
	ck_assert(sc.r[4].eof);
	ck_assert_int_eq(sc.r[5].status, 200);
}
END_TEST

START_TEST(test_port_in_use)
{
	uv_loop_t loop;
	struct errmsg e = { { 0 } };
	struct metrics_http *a = NULL, *b = NULL;
	struct render_state rs = { 0, 0, NULL, 0, false };
	char addr[64];
	int fds = count_fds();

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_msg(metrics_http_open(&loop, "127.0.0.1:0", render_cb, &rs, &a, &e) == 0,
	              "open: %s", e.text);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", metrics_http_port(a));
	ck_assert_int_eq(metrics_http_open(&loop, addr, render_cb, &rs, &b, &e), -EADDRINUSE);
	ck_assert_ptr_null(b);
	ck_assert_msg(strstr(e.text, addr) != NULL, "error text: %s", e.text);
	metrics_http_close(a);
	metrics_http_close(NULL);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

START_TEST(test_bad_addresses)
{
	static const char *const bad[] = {
		"bogus",       "127.0.0.1:99999", "127.0.0.1:",   "127.0.0.1:80x",
		":9477",       "::1:9477",        "[::1]9477",    "[::1:9477",
		"[nope]:9477", "1.2.3:-1",        "127.0.0.1:+1", "",
	};
	uv_loop_t loop;
	struct errmsg e;
	struct metrics_http *m = NULL;
	struct render_state rs = { 0, 0, NULL, 0, false };

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.text[0] = '\0';
		ck_assert_msg(metrics_http_open(&loop, bad[i], render_cb, &rs, &m, &e) == -EINVAL,
		              "accepted \"%s\"", bad[i]);
		ck_assert_ptr_null(m);
		ck_assert_msg(strstr(e.text, bad[i]) != NULL, "\"%s\": error text %s", bad[i],
		              e.text);
	}
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Names and IPv6 literals parse and bind (IPv6 only where the host has it). */
START_TEST(test_other_address_forms)
{
	static const char *const good[] = { "localhost:0", "[::1]:0", "0.0.0.0:0" };
	uv_loop_t loop;
	struct errmsg e;
	struct metrics_http *m;
	struct render_state rs = { 0, 0, NULL, 0, false };

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int r;

		m = NULL;
		r = metrics_http_open(&loop, good[i], render_cb, &rs, &m, &e);
		if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT)
			continue; /* no IPv6 loopback in this sandbox */
		ck_assert_msg(r == 0, "%s: %s", good[i], e.text);
		ck_assert_int_gt(metrics_http_port(m), 0);
		metrics_http_close(m);
	}
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics_http");
	TCase *tc = tcase_create("listener");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_get_head_404_405);
	tcase_add_test(tc, test_render_error_is_500);
	tcase_add_test(tc, test_close_from_render);
	tcase_add_test(tc, test_keepalive);
	tcase_add_test(tc, test_garbage_then_get);
	tcase_add_test(tc, test_rendering_is_cached);
	tcase_add_test(tc, test_cached_rendering_expires);
	tcase_add_test(tc, test_default_max_age);
	tcase_add_test(tc, test_per_ip_connection_limit);
	tcase_add_test(tc, test_port_in_use);
	tcase_add_test(tc, test_bad_addresses);
	tcase_add_test(tc, test_other_address_forms);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_ctl: the control socket server (control/ctl.c) on a real loop and a
 * real Unix socket, with a fake command runner and small limits: clients
 * that never read are held back, closed when they make no progress, shed
 * when memory runs out and evicted for a newcomer; a slow but steady reader
 * is served in full; a deferred answer restarts the idle clock. The clients
 * are non-blocking sockets in this thread; the loop runs between steps. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "ctl.h"
#include "ctl_reply.h"
#include "log.h"
#include "proto.h"
#include "testutil.h"

#define KiB       1024u
#define READ_SIZE (16 * KiB) /* ctl's one read */

static const char PING[] = "{\"cmd\":\"ping\"}\n";
static const char STATUS[] = "{\"cmd\":\"status\"}\n";
static const char AUDIT[] = "{\"cmd\":\"audit\"}\n";

/* ---- the fake command runner ---- */

struct fake {
	int runs;
	size_t answer; /* status answers carry a string this long */
	struct ctl_reply *pending;
};

static void fake_run(void *data, const struct proto_request *req, const struct ctl_peer *peer,
                     struct ctl_conn *conn, struct buf *out)
{
	struct fake *f = data;

	(void)peer;
	f->runs++;
	if (req->cmd == PROTO_AUDIT) {
		f->pending = ctl_reply_defer(conn);
		if (!f->pending)
			proto_response_error(out, PROTO_E_BUSY, "no slot");
		return;
	}
	if (req->cmd == PROTO_STATUS && f->answer) {
		char *s = malloc(f->answer + 1);

		ck_assert_ptr_nonnull(s);
		memset(s, 'x', f->answer);
		s[f->answer] = '\0';
		proto_response_ok(out, json_object_new_string(s));
		free(s);
		return;
	}
	proto_response_ok(out, NULL);
}

/* ---- fixture ---- */

struct fx {
	uv_loop_t loop;
	struct ctl *ctl;
	struct fake f;
	char *dir;
	char path[108];
};

static void fx_open(struct fx *x, const struct ctl_limits *lim, size_t answer)
{
	struct errmsg e = { { 0 } };

	memset(x, 0, sizeof(*x));
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	log_set_level(LOG_ERR);
	x->f.answer = answer;
	x->dir = tu_tmpdir();
	ck_assert_ptr_nonnull(x->dir);
	snprintf(x->path, sizeof(x->path), "%s/ctl.sock", x->dir);
	ck_assert_int_eq(uv_loop_init(&x->loop), 0);
	ck_assert_msg(ctl_listen(&x->loop, x->path, NULL, lim, fake_run, &x->f, &x->ctl, &e) == 0,
	              "ctl_listen: %s", e.text);
}

static void fx_close(struct fx *x)
{
	ctl_close(x->ctl);
	ck_assert_int_eq(uv_run(&x->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&x->loop), 0);
	tu_rmrf(x->dir);
	free(x->dir);
}

static struct ctl_stats stats(struct fx *x)
{
	struct ctl_stats s;

	ctl_get_stats(x->ctl, &s);
	return s;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop for about ms. */
static void spin(struct fx *x, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	do {
		uv_run(&x->loop, UV_RUN_NOWAIT);
		usleep(1000);
	} while (now_ms() < end);
}

/* Runs the loop until pred holds (true) or ms pass (false). */
static bool spin_until(struct fx *x, bool (*pred)(struct fx *x), unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (!pred(x)) {
		if (now_ms() >= end)
			return false;
		uv_run(&x->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	return true;
}

/* ---- clients ---- */

static int client(struct fx *x)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", x->path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	spin(x, 5); /* accepted */
	return fd;
}

/* Sends n copies of line, running the loop while the socket is full, for
 * at most a second of no headway; returns how many bytes went out. */
static size_t send_lines(struct fx *x, int fd, const char *line, int n)
{
	size_t len = strlen(line), total = len * (size_t)n, sent = 0;
	char *data = malloc(total);
	uint64_t last = now_ms();

	ck_assert_ptr_nonnull(data);
	for (int i = 0; i < n; i++)
		memcpy(data + (size_t)i * len, line, len);
	while (sent < total && now_ms() - last < 1000) {
		ssize_t w = send(fd, data + sent, total - sent, MSG_NOSIGNAL);

		if (w > 0) {
			sent += (size_t)w;
			last = now_ms();
		} else if (w < 0 && errno != EAGAIN) {
			break;
		}
		uv_run(&x->loop, UV_RUN_NOWAIT);
	}
	free(data);
	return sent;
}

/* Reads what is there; counts answer lines into *lines (if not NULL).
 * Returns the bytes read, or -1 once the server has closed. */
static ssize_t drain(int fd, int *lines)
{
	char buf[65536];
	ssize_t total = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN ? total : -1;
		for (ssize_t i = 0; lines && i < n; i++)
			*lines += buf[i] == '\n';
		total += n;
	}
}

/* Has the server closed fd? (Reads and drops what is still buffered.) */
static bool closed_by_server(int fd)
{
	return drain(fd, NULL) < 0;
}

static bool no_conns(struct fx *x)
{
	return stats(x).conns == 0;
}

/* ---- tests ---- */

START_TEST(test_backpressure_holds_requests_back_until_read)
{
	struct ctl_limits lim = { .max_conns = 8,
		                  .idle_ms = 60000,
		                  .stall_ms = 60000,
		                  .out_cap = 16 * KiB,
		                  .mem_max = 1024 * KiB };
	struct fx x;
	int fd, lines = 0, n = 2000;
	uint64_t end;

	fx_open(&x, &lim, 1000);
	fd = client(&x);
	ck_assert_uint_eq(send_lines(&x, fd, STATUS, n), strlen(STATUS) * (size_t)n);
	spin(&x, 200);
	/* What the kernel's socket buffer takes plus out_cap, not 2000 answers */
	ck_assert_int_lt(x.f.runs, n / 2);
	/* out_cap, one answer (2 KiB allocated), one read kept, a short line */
	ck_assert_uint_le(stats(&x).mem, lim.out_cap + 2 * KiB + READ_SIZE + KiB);
	/* Reading resumes it: every answer arrives, in one piece each */
	end = now_ms() + 10000;
	while (lines < n && now_ms() < end) {
		ck_assert_int_ge(drain(fd, &lines), 0);
		uv_run(&x.loop, UV_RUN_NOWAIT);
	}
	ck_assert_int_eq(lines, n);
	ck_assert_int_eq(x.f.runs, n);
	ck_assert_uint_eq(stats(&x).stalled, 0);
	close(fd);
	fx_close(&x);
}
END_TEST

START_TEST(test_a_client_that_never_reads_is_closed)
{
	struct ctl_limits lim = { .max_conns = 8,
		                  .idle_ms = 60000,
		                  .stall_ms = 1000,
		                  .out_cap = 16 * KiB,
		                  .mem_max = 1024 * KiB };
	struct fx x;
	int fd;

	fx_open(&x, &lim, 1000);
	fd = client(&x);
	send_lines(&x, fd, STATUS, 2000);
	spin(&x, 100);
	ck_assert_uint_eq(stats(&x).conns, 1);
	ck_assert(spin_until(&x, no_conns, 5000));
	ck_assert_uint_eq(stats(&x).stalled, 1);
	ck_assert_uint_eq(stats(&x).mem, 0);
	ck_assert(closed_by_server(fd));
	close(fd);
	fx_close(&x);
}
END_TEST

/* One answer bigger than every buffer, read slowly but steadily for longer
 * than stall_ms: progress inside one write counts. */
START_TEST(test_a_slow_reader_of_a_big_answer_is_not_stalled)
{
	struct ctl_limits lim = { .max_conns = 8,
		                  .idle_ms = 60000,
		                  .stall_ms = 300,
		                  .out_cap = 16 * KiB,
		                  .mem_max = 8192 * KiB };
	struct fx x;
	int fd, lines = 0;
	size_t got = 0, want = 1536 * KiB;
	uint64_t t0, end;
	char buf[24 * 1024];

	fx_open(&x, &lim, want);
	fd = client(&x);
	send_lines(&x, fd, STATUS, 1);
	t0 = now_ms();
	end = t0 + 20000;
	while (lines < 1 && now_ms() < end) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		ck_assert_msg(n != 0, "closed after %zu bytes", got);
		if (n > 0) {
			got += (size_t)n;
			lines += memchr(buf, '\n', (size_t)n) != NULL;
		}
		spin(&x, 20); /* ~1 MiB/s at most: well over stall_ms in all */
	}
	ck_assert_int_eq(lines, 1);
	ck_assert_uint_gt(got, want);
	ck_assert_uint_gt(now_ms() - t0, 2 * lim.stall_ms);
	ck_assert_uint_eq(stats(&x).stalled, 0);
	ck_assert_uint_eq(stats(&x).conns, 1);
	close(fd);
	fx_close(&x);
}
END_TEST

START_TEST(test_a_newcomer_evicts_the_stalest)
{
	struct ctl_limits lim = { .max_conns = 2,
		                  .idle_ms = 60000,
		                  .stall_ms = 60000,
		                  .out_cap = 16 * KiB,
		                  .mem_max = 4096 * KiB };
	struct fx x;
	int a, b, c, lines = 0;

	fx_open(&x, &lim, 1000);
	a = client(&x);
	send_lines(&x, a, STATUS, 1000);
	spin(&x, 200);
	b = client(&x);
	send_lines(&x, b, STATUS, 1000);
	spin(&x, 200);
	ck_assert_uint_eq(stats(&x).conns, 2);
	/* The operator: not refused, served at once */
	c = client(&x);
	send_lines(&x, c, PING, 1);
	spin(&x, 100);
	ck_assert_int_gt(drain(c, &lines), 0);
	ck_assert_int_eq(lines, 1);
	ck_assert_uint_eq(stats(&x).evicted, 1);
	ck_assert_uint_eq(stats(&x).conns, 2);
	ck_assert(closed_by_server(a)); /* a made no progress longer than b */
	close(a);
	close(b);
	close(c);
	fx_close(&x);
}
END_TEST

START_TEST(test_memory_bound_for_all_connections)
{
	struct ctl_limits lim = { .max_conns = 16,
		                  .idle_ms = 60000,
		                  .stall_ms = 60000,
		                  .out_cap = 64 * KiB,
		                  .mem_max = 256 * KiB };
	struct fx x;
	int fds[8], op, lines = 0;

	fx_open(&x, &lim, 16 * KiB);
	for (int i = 0; i < 8; i++) {
		fds[i] = client(&x);
		send_lines(&x, fds[i], STATUS, 200);
		spin(&x, 20);
		/* whoever is being served may go one answer (32 KiB allocated)
		 * and one read over */
		ck_assert_uint_le(stats(&x).mem, lim.mem_max + 32 * KiB + READ_SIZE);
	}
	ck_assert_uint_gt(stats(&x).shed, 0);
	ck_assert_uint_lt(stats(&x).conns, 8);
	op = client(&x);
	send_lines(&x, op, PING, 1);
	spin(&x, 100);
	ck_assert_int_gt(drain(op, &lines), 0);
	ck_assert_int_eq(lines, 1);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	close(op);
	fx_close(&x);
}
END_TEST

static bool pending_set(struct fx *x)
{
	return x->f.pending != NULL;
}

START_TEST(test_idle_clock_restarts_after_a_deferred_answer)
{
	struct ctl_limits lim = { .max_conns = 8,
		                  .idle_ms = 300,
		                  .stall_ms = 60000,
		                  .out_cap = 16 * KiB,
		                  .mem_max = 1024 * KiB };
	struct buf out = BUF_INIT;
	struct fx x;
	int fd, lines = 0;
	uint64_t t;

	fx_open(&x, &lim, 0);
	fd = client(&x);
	send_lines(&x, fd, AUDIT, 1);
	ck_assert(spin_until(&x, pending_set, 2000));
	spin(&x, 3 * lim.idle_ms); /* no idle close while the command works */
	ck_assert_uint_eq(stats(&x).conns, 1);
	ck_assert(ctl_reply_alive(x.f.pending));
	proto_response_ok(&out, NULL);
	ctl_reply_send(x.f.pending, &out);
	x.f.pending = NULL;
	t = now_ms();
	spin(&x, 50);
	ck_assert_int_gt(drain(fd, &lines), 0);
	ck_assert_int_eq(lines, 1);
	/* ...and then the idle clock runs again, from the answer */
	ck_assert(spin_until(&x, no_conns, 5000));
	ck_assert_uint_ge(now_ms() - t, lim.idle_ms - 50);
	ck_assert(closed_by_server(fd));
	close(fd);
	fx_close(&x);
}
END_TEST

/* The slot that used to be held for ever: a deferred command, the client
 * half-closes and never reads a big answer. */
START_TEST(test_half_closed_client_with_a_deferred_answer_is_not_held)
{
	struct ctl_limits lim = { .max_conns = 8,
		                  .idle_ms = 60000,
		                  .stall_ms = 500,
		                  .out_cap = 16 * KiB,
		                  .mem_max = 8192 * KiB };
	struct buf out = BUF_INIT;
	struct fx x;
	int fd;
	char *big = malloc(2048 * KiB);

	ck_assert_ptr_nonnull(big);
	fx_open(&x, &lim, 0);
	fd = client(&x);
	send_lines(&x, fd, AUDIT, 1);
	send_lines(&x, fd, STATUS, 50); /* "busy", each */
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	ck_assert(spin_until(&x, pending_set, 2000));
	spin(&x, 100);
	ck_assert(!ctl_reply_alive(x.f.pending)); /* it said it is done sending */
	memset(big, 'x', 2048 * KiB - 1);
	big[2048 * KiB - 1] = '\0';
	proto_response_ok(&out, json_object_new_string(big));
	free(big);
	ctl_reply_send(x.f.pending, &out);
	x.f.pending = NULL;
	ck_assert(spin_until(&x, no_conns, 5000));
	ck_assert_uint_eq(stats(&x).stalled, 1);
	close(fd);
	fx_close(&x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("server");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_backpressure_holds_requests_back_until_read);
	tcase_add_test(tc, test_a_client_that_never_reads_is_closed);
	tcase_add_test(tc, test_a_slow_reader_of_a_big_answer_is_not_stalled);
	tcase_add_test(tc, test_a_newcomer_evicts_the_stalest);
	tcase_add_test(tc, test_memory_bound_for_all_connections);
	tcase_add_test(tc, test_idle_clock_restarts_after_a_deferred_answer);
	tcase_add_test(tc, test_half_closed_client_with_a_deferred_answer_is_not_held);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

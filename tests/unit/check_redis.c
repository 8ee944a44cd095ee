/* check_redis: runtime/redis.c against a real redis-server that each test
 * starts (a unix socket in a temporary directory, or 127.0.0.1 on a free
 * port; no persistence), and against fake servers on the test's own loop
 * that answer what Redis never would. Every test ends with redis_close(),
 * the loop run until it is empty and uv_loop_close() == 0, so ASan and
 * valgrind see whether everything was freed.
 *
 * Skips (exit 77) only when redis-server is not installed. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "redis.h"
#include "testutil.h"

/* A made-up test passphrase (no real credential looks like this). */
#define PASSWORD "test-only-passphrase-7"
#define WRONG    "not-the-passphrase-42"

struct server {
	char *dir;
	char sock[100]; /* fits sun_path */
	int port;       /* TCP on 127.0.0.1 (and ::1 when there is one); 0: unix socket */
	const char *pass;
	pid_t pid;
};

struct ev {
	int ups, downs, msgs;
	char why[700];
	char chan[64];
	char msg[64];
	size_t msg_len;
	struct redis *close_in_msg;  /* redis_close() from inside message() */
	struct redis *close_in_down; /* ... from inside down() */
	struct redis *close_in_up;   /* ... from inside up() */
};

struct res {
	int calls;
	bool null;
	int type;
	char str[128];
	size_t len;
	long long integer;
	size_t elements;
	int el_type[4];
	char err[700];
	struct redis *close_me; /* redis_close() from inside this callback */
};

static uv_loop_t loop;
static struct server srv;

/* ---- redis-server ------------------------------------------------------- */

static bool have_redis_server(void)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;
	bool found = false;

	if (!path)
		return false;
	copy = strdup(path);
	for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char exe[4096];

		snprintf(exe, sizeof(exe), "%s/redis-server", dir);
		found = access(exe, X_OK) == 0;
	}
	free(copy);
	return found;
}

static bool server_answers(const struct server *s)
{
	int fd;
	int rc;

	if (s->port) {
		struct sockaddr_in a = { .sin_family = AF_INET,
			                 .sin_port = htons((uint16_t)s->port) };

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	} else {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->sock);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	}
	close(fd);
	return rc == 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Starts redis-server in the foreground; it dies with the test process
 * (PR_SET_PDEATHSIG), so a failed test leaves no server behind. */
static void server_start(struct server *s)
{
	char port[16], log[300];
	const char *argv[32];
	int n = 0;

	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(log, sizeof(log), "%s/redis.log", s->dir);
	argv[n++] = "redis-server";
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--logfile";
	argv[n++] = log;
	argv[n++] = "--dir";
	argv[n++] = s->dir;
	if (s->port) {
		argv[n++] = "--bind";
		argv[n++] = "127.0.0.1";
		argv[n++] = "-::1"; /* "-": only when the host has it */
	} else {
		argv[n++] = "--unixsocket";
		argv[n++] = s->sock;
		argv[n++] = "--unixsocketperm";
		argv[n++] = "700";
	}
	if (s->pass) {
		argv[n++] = "--requirepass";
		argv[n++] = s->pass;
	}
	argv[n] = NULL;
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execvp("redis-server", (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500 && !server_answers(s); i++) {
		ck_assert_msg(waitpid(s->pid, NULL, WNOHANG) == 0, "redis-server exited (see %s)",
		              log);
		sleep_ms(20);
	}
	ck_assert_msg(server_answers(s), "redis-server did not listen within 10 s");
}

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void setup(void)
{
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	memset(&srv, 0, sizeof(srv));
	srv.dir = tu_tmpdir();
	ck_assert_ptr_nonnull(srv.dir);
	snprintf(srv.sock, sizeof(srv.sock), "%s/redis.sock", srv.dir);
}

static void teardown(void)
{
	server_stop(&srv);
	tu_rmrf(srv.dir);
	free(srv.dir);
}

/* ---- the loop ----------------------------------------------------------- */

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

static double now_s(void)
{
	return (double)uv_hrtime() / 1e9;
}

/* Runs the loop until *counter >= want or max_s pass; true when reached. */
static bool run_until(const int *counter, int want, double max_s)
{
	uv_timer_t tick;
	double end = now_s() + max_s;

	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 20, 20); /* so UV_RUN_ONCE returns */
	while (*counter < want && now_s() < end)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return *counter >= want;
}

static void run_for(double s)
{
	int never = 0;

	run_until(&never, 1, s);
}

/* Closes r (unless NULL), runs the loop dry, checks nothing is left. */
static void finish(struct redis *r)
{
	redis_close(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* ---- redis callbacks ---------------------------------------------------- */

static void ev_up(void *data)
{
	struct ev *e = data;

	e->ups++;
	if (e->close_in_up) {
		struct redis *r = e->close_in_up;

		e->close_in_up = NULL;
		redis_close(r);
	}
}

static void ev_down(void *data, const char *why)
{
	struct ev *e = data;

	e->downs++;
	snprintf(e->why, sizeof(e->why), "%s", why);
	if (e->close_in_down) {
		struct redis *r = e->close_in_down;

		e->close_in_down = NULL;
		redis_close(r);
	}
}

static void ev_msg(void *data, const char *chan, const char *msg, size_t len)
{
	struct ev *e = data;

	e->msgs++;
	snprintf(e->chan, sizeof(e->chan), "%s", chan);
	e->msg_len = len < sizeof(e->msg) ? len : sizeof(e->msg);
	memcpy(e->msg, msg, e->msg_len);
	if (e->close_in_msg) {
		struct redis *r = e->close_in_msg;

		e->close_in_msg = NULL;
		redis_close(r);
	}
}

static const struct redis_ops ops = { ev_up, ev_down, ev_msg };

static void res_cb(void *data, const redisReply *rep, const char *err)
{
	struct res *x = data;

	x->calls++;
	x->null = rep == NULL;
	snprintf(x->err, sizeof(x->err), "%s", err ? err : "");
	if (rep) {
		x->type = rep->type;
		x->integer = rep->integer;
		x->elements = rep->elements;
		x->len = rep->len;
		if (rep->str)
			memcpy(x->str, rep->str,
			       rep->len < sizeof(x->str) ? rep->len : sizeof(x->str));
		for (size_t i = 0; i < rep->elements && i < 4; i++)
			x->el_type[i] = rep->element[i]->type;
	}
	if (x->close_me) {
		struct redis *r = x->close_me;

		x->close_me = NULL;
		redis_close(r);
	}
}

static struct redis_opts opts_for(const struct server *s, const char *const *chans, size_t n)
{
	struct redis_opts o = { .timeout_s = 2, .channels = chans, .nchannels = n };

	o.addr.unix_socket = s->port == 0;
	snprintf(o.addr.host, sizeof(o.addr.host), "%s", s->port ? "127.0.0.1" : s->sock);
	o.addr.port = s->port;
	return o;
}

static struct redis *open_ok(const struct redis_opts *o, struct ev *e)
{
	struct redis *r = NULL;
	struct errmsg err = { "" };

	ck_assert_msg(redis_open(&loop, o, &ops, e, &r, &err) == 0, "redis_open: %s", err.text);
	return r;
}

static void cmd(struct redis *r, struct res *x, int argc, const char **argv, const size_t *lens)
{
	ck_assert_int_eq(redis_cmd(r, res_cb, x, argc, argv, lens), 0);
}

/* Sends argv and waits for the answer (5 s). */
static void call(struct redis *r, struct res *x, int argc, const char **argv, const size_t *lens)
{
	memset(x, 0, sizeof(*x));
	cmd(r, x, argc, argv, lens);
	ck_assert_msg(run_until(&x->calls, 1, 5), "no answer to %s", argv[0]);
}

static const char *const chans[] = { "t:touch", "t:warm" };

/* ---- tests against redis-server ----------------------------------------- */

/* Up; SET/GET binary-safe; EVAL's nested arrays; an error reply counted;
 * pub/sub: a PUBLISH on the command connection reaches message(). */
START_TEST(test_roundtrip_pubsub)
{
	struct redis_opts o;
	struct ev e = { 0 };
	struct res x;
	struct redis *r;
	const char *set[] = { "SET", "k", "a\0b" }, *get[] = { "GET", "k" };
	const size_t setl[] = { 3, 1, 3 };
	const char *eval[] = { "EVAL", "return {1,'two',{3}}", "0" };
	const char *bad[] = { "NOSUCHCOMMAND" }, *sub[] = { "SUBSCRIBE", "x" };
	const char *pub[] = { "PUBLISH", "t:warm", "hello\0w" };
	const size_t publ[] = { 7, 6, 7 };

	server_start(&srv);
	o = opts_for(&srv, chans, 2);
	r = open_ok(&o, &e);
	ck_assert(!redis_is_up(r));
	ck_assert_int_eq(redis_cmd(r, res_cb, &x, 2, get, NULL), -ENOTCONN);
	ck_assert(run_until(&e.ups, 1, 5));
	ck_assert(redis_is_up(r));
	ck_assert_double_lt(redis_rtt(r), 0); /* no command yet */

	call(r, &x, 3, set, setl);
	ck_assert(!x.null);
	ck_assert_int_eq(x.type, REDIS_REPLY_STATUS);
	call(r, &x, 2, get, NULL);
	ck_assert_int_eq(x.type, REDIS_REPLY_STRING);
	ck_assert_uint_eq(x.len, 3);
	ck_assert_mem_eq(x.str, "a\0b", 3);
	call(r, &x, 3, eval, NULL);
	ck_assert_int_eq(x.type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(x.elements, 3);
	ck_assert_int_eq(x.el_type[0], REDIS_REPLY_INTEGER);
	ck_assert_int_eq(x.el_type[1], REDIS_REPLY_STRING);
	ck_assert_int_eq(x.el_type[2], REDIS_REPLY_ARRAY);
	call(r, &x, 1, bad, NULL);
	ck_assert_int_eq(x.type, REDIS_REPLY_ERROR);
	ck_assert_uint_eq(redis_errors(r), 1);
	ck_assert_int_eq(redis_cmd(r, res_cb, &x, 2, sub, NULL), -EINVAL);

	call(r, &x, 3, pub, publ);
	ck_assert_int_eq(x.type, REDIS_REPLY_INTEGER);
	ck_assert_int_eq(x.integer, 1); /* our subscriber */
	ck_assert(run_until(&e.msgs, 1, 5));
	ck_assert_str_eq(e.chan, "t:warm");
	ck_assert_uint_eq(e.msg_len, 7);
	ck_assert_mem_eq(e.msg, "hello\0w", 7);

	ck_assert_uint_eq(redis_commands(r), 5);
	ck_assert_double_ge(redis_rtt(r), 0);
	ck_assert_double_lt(redis_rtt(r), 1);
	ck_assert_int_eq(e.downs, 0);
	finish(r);
}
END_TEST

/* The right password (with and without the user name) is up; a wrong one,
 * or none, is down once with Redis's reason, never the password. */
START_TEST(test_auth)
{
	struct redis_opts o;
	struct ev e = { 0 }, e2 = { 0 }, e3 = { 0 }, e4 = { 0 };
	struct redis *r;

	srv.pass = PASSWORD;
	server_start(&srv);
	o = opts_for(&srv, chans, 1);
	o.password = PASSWORD;
	o.password_len = strlen(PASSWORD);
	r = open_ok(&o, &e);
	ck_assert(run_until(&e.ups, 1, 5));
	redis_close(r);

	o.username = "default";
	r = open_ok(&o, &e2);
	ck_assert(run_until(&e2.ups, 1, 5));
	redis_close(r);

	o.username = NULL;
	o.password = WRONG;
	o.password_len = strlen(WRONG);
	r = open_ok(&o, &e3);
	ck_assert(run_until(&e3.downs, 1, 5));
	run_for(1.5); /* retries fail too, but down() was said once */
	ck_assert_int_eq(e3.downs, 1);
	ck_assert_int_eq(e3.ups, 0);
	ck_assert_msg(strstr(e3.why, "AUTH refused: WRONGPASS"), "why: %s", e3.why);
	ck_assert_ptr_null(strstr(e3.why, WRONG));
	redis_close(r);

	o.password = NULL;
	o.password_len = 0;
	r = open_ok(&o, &e4);
	ck_assert(run_until(&e4.downs, 1, 5));
	ck_assert_msg(strstr(e4.why, "requires a password: NOAUTH"), "why: %s", e4.why);
	finish(r);
}
END_TEST

/* SELECT: a db is really used; one out of range is down with the reason. */
START_TEST(test_select)
{
	struct redis_opts o;
	struct ev e = { 0 }, e0 = { 0 }, ebad = { 0 };
	struct redis *r3, *r0, *rbad;
	struct res x;
	const char *set[] = { "SET", "only-in-3", "1" }, *get[] = { "GET", "only-in-3" };

	server_start(&srv);
	o = opts_for(&srv, NULL, 0);
	o.addr.db = 3;
	r3 = open_ok(&o, &e);
	o.addr.db = 0;
	r0 = open_ok(&o, &e0);
	o.addr.db = 100000;
	rbad = open_ok(&o, &ebad);
	ck_assert(run_until(&e.ups, 1, 5));
	ck_assert(run_until(&e0.ups, 1, 5));
	ck_assert(run_until(&ebad.downs, 1, 5));
	ck_assert_msg(strstr(ebad.why, "SELECT 100000 refused: ERR"), "why: %s", ebad.why);
	call(r3, &x, 3, set, NULL);
	call(r3, &x, 2, get, NULL);
	ck_assert_int_eq(x.type, REDIS_REPLY_STRING);
	call(r0, &x, 2, get, NULL);
	ck_assert_int_eq(x.type, REDIS_REPLY_NIL);
	redis_close(r3);
	redis_close(rbad);
	finish(r0);
}
END_TEST

/* A stopped Redis: commands time out (NULL, "timeout") in about timeout_s,
 * down() once however many retries fail, up() again by itself after
 * SIGCONT; the loop never stalls (the test runs on it). */
START_TEST(test_timeout_sigstop)
{
	struct redis_opts o;
	struct ev e = { 0 };
	struct res a, b, x;
	struct redis *r;
	const char *ping[] = { "PING" };
	double t0, took;

	server_start(&srv);
	o = opts_for(&srv, chans, 2);
	o.timeout_s = 1;
	r = open_ok(&o, &e);
	ck_assert(run_until(&e.ups, 1, 5));
	ck_assert_int_eq(kill(srv.pid, SIGSTOP), 0);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	t0 = now_s();
	cmd(r, &a, 1, ping, NULL);
	cmd(r, &b, 1, ping, NULL);
	ck_assert(run_until(&b.calls, 1, 5));
	took = now_s() - t0;
	ck_assert_msg(took > 0.9 && took < 3, "timed out after %.2f s", took);
	ck_assert(a.null && b.null);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_msg(strstr(a.err, "timeout after 1s"), "err: %s", a.err);
	ck_assert_int_eq(e.downs, 1);
	ck_assert_msg(strstr(e.why, "timeout after 1s"), "why: %s", e.why);
	ck_assert_int_eq(redis_cmd(r, res_cb, &x, 1, ping, NULL), -ENOTCONN);
	ck_assert_uint_ge(redis_errors(r), 1);

	run_for(3); /* reconnects time out in the handshake: still one down() */
	ck_assert_int_eq(e.downs, 1);
	ck_assert_int_eq(e.ups, 1);
	ck_assert_int_eq(kill(srv.pid, SIGCONT), 0);
	ck_assert(run_until(&e.ups, 2, 10));
	call(r, &x, 1, ping, NULL);
	ck_assert_int_eq(x.type, REDIS_REPLY_STATUS);
	ck_assert_int_eq(e.downs, 1);
	finish(r);
}
END_TEST

/* Redis killed: down; started again at the same path: up by itself. */
START_TEST(test_restart)
{
	struct redis_opts o;
	struct ev e = { 0 };
	struct res x;
	struct redis *r;
	const char *ping[] = { "PING" };

	server_start(&srv);
	o = opts_for(&srv, chans, 2);
	r = open_ok(&o, &e);
	ck_assert(run_until(&e.ups, 1, 5));
	server_stop(&srv);
	ck_assert(run_until(&e.downs, 1, 5));
	ck_assert_msg(strstr(e.why, "lost") || strstr(e.why, "cannot connect"), "why: %s", e.why);
	ck_assert_int_eq(redis_cmd(r, res_cb, &x, 1, ping, NULL), -ENOTCONN);
	run_for(1);
	ck_assert_int_eq(e.downs, 1);
	server_start(&srv);
	ck_assert(run_until(&e.ups, 2, 15));
	call(r, &x, 1, ping, NULL);
	ck_assert_int_eq(x.type, REDIS_REPLY_STATUS);
	ck_assert_int_eq(e.downs, 1);
	finish(r);
}
END_TEST

/* redis_close with commands pending: each callback once, NULL, "closing",
 * before redis_close returns; no down(); everything freed. */
START_TEST(test_close_pending)
{
	struct redis_opts o;
	struct ev e = { 0 };
	struct res x[3];
	struct redis *r;
	const char *ping[] = { "PING" };

	server_start(&srv);
	o = opts_for(&srv, chans, 2);
	r = open_ok(&o, &e);
	ck_assert(run_until(&e.ups, 1, 5));
	ck_assert_int_eq(kill(srv.pid, SIGSTOP), 0);
	memset(x, 0, sizeof(x));
	for (int i = 0; i < 3; i++)
		cmd(r, &x[i], 1, ping, NULL);
	run_for(0.1);
	redis_close(r);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(x[i].calls, 1);
		ck_assert(x[i].null);
		ck_assert_str_eq(x[i].err, "closing");
	}
	ck_assert_int_eq(e.downs, 0);
	kill(srv.pid, SIGCONT);
	finish(NULL);
}
END_TEST

/* redis_close from inside a reply, a message, up() and down(): the other
 * commands fail with "closing", nothing is called after, all is freed. */
START_TEST(test_close_in_callbacks)
{
	struct redis_opts o;
	struct ev e = { 0 }, e2 = { 0 }, e3 = { 0 }, e4 = { 0 };
	struct res a, b, c, p;
	struct redis *r, *r2, *r3, *r4;
	const char *ping[] = { "PING" }, *pub[] = { "PUBLISH", "t:touch", "m" };

	server_start(&srv);
	o = opts_for(&srv, chans, 2);
	r = open_ok(&o, &e);
	r2 = open_ok(&o, &e2);
	r3 = open_ok(&o, &e3);
	ck_assert(run_until(&e.ups, 1, 5));
	ck_assert(run_until(&e2.ups, 1, 5));
	ck_assert(run_until(&e3.ups, 1, 5));

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	a.close_me = r;
	cmd(r, &a, 1, ping, NULL);
	cmd(r, &b, 1, ping, NULL);
	cmd(r, &c, 1, ping, NULL);
	ck_assert(run_until(&a.calls, 1, 5));
	ck_assert(!a.null);
	ck_assert_int_eq(b.calls, 1);
	ck_assert(b.null);
	ck_assert_str_eq(b.err, "closing");
	ck_assert_int_eq(c.calls, 1);

	e2.close_in_msg = r2; /* both r2 and r3 receive it; r2 closes */
	call(r3, &p, 3, pub, NULL);
	ck_assert(run_until(&e2.msgs, 1, 5));
	ck_assert(run_until(&e3.msgs, 1, 5));

	r4 = open_ok(&o, &e4); /* closes as soon as it is up */
	e4.close_in_up = r4;
	ck_assert(run_until(&e4.ups, 1, 5));
	run_for(0.2);
	ck_assert_int_eq(e4.downs, 0);

	e3.close_in_down = r3;
	server_stop(&srv);
	ck_assert(run_until(&e3.downs, 1, 5));
	run_for(0.5);
	ck_assert_int_eq(e3.downs, 1);
	ck_assert_int_eq(e.downs + e2.downs, 0); /* closed before: never told */
	finish(NULL);
}
END_TEST

/* Replies beyond the bound (a 32 MiB string, an array of 700,000 numbers)
 * drop the connection with a reason; it comes back by itself. */
START_TEST(test_too_large)
{
	struct redis_opts o;
	struct ev e = { 0 };
	struct res x;
	struct redis *r;
	const char *big[] = { "EVAL", "return string.rep('x', 33554433)", "0" };
	const char *many[] = { "EVAL", "local t = {} for i = 1, 700000 do t[i] = i end return t",
		               "0" };
	const char *fine[] = { "EVAL", "return string.rep('x', 1000000)", "0" };

	server_start(&srv);
	o = opts_for(&srv, chans, 1);
	o.timeout_s = 10;
	r = open_ok(&o, &e);
	ck_assert(run_until(&e.ups, 1, 5));
	call(r, &x, 3, fine, NULL);
	ck_assert_uint_eq(x.len, 1000000);

	call(r, &x, 3, big, NULL);
	ck_assert(x.null);
	ck_assert_msg(strstr(x.err, "reply larger than 32 MiB"), "err: %s", x.err);
	ck_assert(run_until(&e.downs, 1, 5));
	ck_assert_msg(strstr(e.why, "bad reply from Redis"), "why: %s", e.why);
	ck_assert(run_until(&e.ups, 2, 10));

	memset(&x, 0, sizeof(x));
	cmd(r, &x, 3, many, NULL);
	ck_assert(run_until(&x.calls, 1, 20));
	ck_assert(x.null);
	ck_assert_msg(strstr(x.err, "reply larger than 32 MiB"), "err: %s", x.err);
	ck_assert_int_eq(e.downs, 2);
	ck_assert(run_until(&e.ups, 3, 10));
	finish(r);
}
END_TEST

/* TCP: an address, a host name (resolved off the loop), and a refused
 * port, which must be down at once, not after the timeout. */
START_TEST(test_tcp)
{
	struct redis_opts o;
	struct ev e = { 0 }, e2 = { 0 }, e3 = { 0 };
	struct res x;
	struct redis *r;
	const char *set[] = { "SET", "tcp", "yes" }, *get[] = { "GET", "tcp" };
	double t0;

	srv.port = free_port();
	server_start(&srv);
	o = opts_for(&srv, chans, 2);
	r = open_ok(&o, &e);
	ck_assert(run_until(&e.ups, 1, 5));
	call(r, &x, 3, set, NULL);
	call(r, &x, 2, get, NULL);
	ck_assert_str_eq(x.str, "yes");
	redis_close(r);

	snprintf(o.addr.host, sizeof(o.addr.host), "localhost");
	r = open_ok(&o, &e2);
	ck_assert(run_until(&e2.ups, 1, 5));
	call(r, &x, 2, get, NULL);
	ck_assert_str_eq(x.str, "yes");
	redis_close(r);

	server_stop(&srv);
	snprintf(o.addr.host, sizeof(o.addr.host), "127.0.0.1");
	o.timeout_s = 10;
	t0 = now_s();
	r = open_ok(&o, &e3);
	ck_assert(run_until(&e3.downs, 1, 5));
	ck_assert_double_lt(now_s() - t0, 3);
	ck_assert_msg(strstr(e3.why, "cannot connect to Redis at 127.0.0.1:"), "why: %s", e3.why);
	finish(r);
}
END_TEST

/* ---- fake servers: what Redis never answers ------------------------------ */

enum fake_mode { FAKE_HTTP, FAKE_TWICE, FAKE_BADSUB };

struct fake {
	uv_pipe_t listen;
	enum fake_mode mode;
};

struct fake_client {
	uv_pipe_t pipe;
	struct fake *f;
};

static void fake_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	(void)h;
	buf->base = malloc(size);
	buf->len = size;
}

static void free_client(uv_handle_t *h)
{
	free(h->data); /* the struct fake_client the pipe starts */
}

static void fake_written(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

static void fake_send(uv_stream_t *s, const char *text)
{
	uv_write_t *w = malloc(sizeof(*w));
	uv_buf_t b = uv_buf_init((char *)text, (unsigned)strlen(text));

	ck_assert_int_eq(uv_write(w, s, &b, 1, fake_written), 0);
}

/* Answers each request as the mode says (the texts are static). */
static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fake_client *c = s->data;

	if (n > 0) {
		bool sub = memmem(buf->base, (size_t)n, "SUBSCRIBE", 9) != NULL;

		if (c->f->mode == FAKE_HTTP)
			fake_send(s, "HTTP/1.1 400 Bad Request\r\n\r\n");
		else if (c->f->mode == FAKE_TWICE)
			fake_send(s, "+PONG\r\n+PONG\r\n");
		else if (sub) /* a subscribe confirmation hiredis 0.14 would assert on */
			fake_send(s, "*2\r\n+subscribe\r\n:1\r\n");
		else
			fake_send(s, "+PONG\r\n");
	} else if (n < 0) {
		uv_close((uv_handle_t *)s, free_client);
	}
	free(buf->base);
}

static void fake_conn(uv_stream_t *l, int status)
{
	struct fake_client *c = calloc(1, sizeof(*c));

	ck_assert_int_eq(status, 0);
	c->f = l->data;
	uv_pipe_init(&loop, &c->pipe, 0);
	c->pipe.data = c;
	ck_assert_int_eq(uv_accept(l, (uv_stream_t *)&c->pipe), 0);
	uv_read_start((uv_stream_t *)&c->pipe, fake_alloc, fake_read);
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	f->mode = mode;
	uv_pipe_init(&loop, &f->listen, 0);
	f->listen.data = f;
	ck_assert_int_eq(uv_pipe_bind(&f->listen, srv.sock), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&f->listen, 16, fake_conn), 0);
}

/* One fake: down with the reason (once, or once per up when the fake
 * answers the handshake first); hiredis did not abort. */
static void fake_case(enum fake_mode mode, size_t nchans, const char *want, bool flaps)
{
	struct fake f;
	struct redis_opts o;
	struct ev e = { 0 };
	struct redis *r;

	fake_start(&f, mode);
	o = opts_for(&srv, chans, nchans);
	r = open_ok(&o, &e);
	ck_assert(run_until(&e.downs, 1, 5));
	ck_assert_msg(strstr(e.why, want), "why: %s", e.why);
	run_for(1); /* the retries meet the same server */
	if (flaps)  /* up, then down on the next answer: once each, per attempt */
		ck_assert_int_eq(e.ups, e.downs);
	else
		ck_assert_int_eq(e.downs + e.ups, 1);
	f.listen.data = NULL;
	uv_close((uv_handle_t *)&f.listen, NULL);
	finish(r);
}

START_TEST(test_garbage)
{
	fake_case(FAKE_HTTP, 0, "bad reply from Redis at unix://", false);
}
END_TEST

/* An answer nobody asked for: hiredis 0.14 would abort on it. (The PING
 * before it is answered, so each attempt is up, then down.) */
START_TEST(test_unasked_reply)
{
	fake_case(FAKE_TWICE, 0, "a reply nobody asked for", true);
}
END_TEST

START_TEST(test_bad_subscribe_reply)
{
	fake_case(FAKE_BADSUB, 1, "unexpected reply on the subscriber connection", false);
}
END_TEST

START_TEST(test_bad_opts)
{
	struct redis_opts o = opts_for(&srv, NULL, 0);
	struct ev e = { 0 };
	struct redis *r = NULL;
	struct errmsg err = { "" };

	o.timeout_s = 0;
	ck_assert_int_eq(redis_open(&loop, &o, &ops, &e, &r, &err), -EINVAL);
	ck_assert_ptr_null(r);
	o.timeout_s = 1;
	o.username = "warmd";
	ck_assert_int_eq(redis_open(&loop, &o, &ops, &e, &r, &err), -EINVAL);
	ck_assert_str_eq(err.text, "redis: a user name needs a password");
	finish(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("redis");
	TCase *tc = tcase_create("redis-server");
	SRunner *sr;
	int failed;

	if (!have_redis_server()) {
		printf("SKIP: redis-server not found (scripts/deps.sh installs it)\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roundtrip_pubsub);
	tcase_add_test(tc, test_auth);
	tcase_add_test(tc, test_select);
	tcase_add_test(tc, test_timeout_sigstop);
	tcase_add_test(tc, test_restart);
	tcase_add_test(tc, test_close_pending);
	tcase_add_test(tc, test_close_in_callbacks);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_tcp);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_unasked_reply);
	tcase_add_test(tc, test_bad_subscribe_reply);
	tcase_add_test(tc, test_bad_opts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

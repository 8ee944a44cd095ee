/* touch: the datagram socket applications report real traffic on. */
#include "touch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "bounds.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "sockfile.h"

/* Datagrams read per wake-up, so a flood cannot starve the loop. */
#define TOUCH_BATCH 64

struct touch {
	uv_poll_t poll;
	int fd;
	char *path; /* set when we bound it (and must unlink it) */
	struct daemon *d;
};

/* One "key=N" field, N a token count within BOUNDS_MAX_TOKENS. Returns 1
 * when tok is not this key, 0 with *ret set, or -EINVAL with e. */
static int parse_count(const char *tok, size_t klen, const char *key, int64_t *ret,
                       struct errmsg *e)
{
	char *end;
	long long v;

	if (strncmp(tok, key, klen) != 0)
		return 1; /* not this key */
	if (tok[klen] < '0' || tok[klen] > '9')
		return errmsg_set(e, -EINVAL, "\"%.32s\" needs a non-negative integer", tok);
	errno = 0;
	v = strtoll(tok + klen, &end, 10);
	if (*end)
		return errmsg_set(e, -EINVAL, "\"%.32s\" needs a non-negative integer", tok);
	if (errno == ERANGE || v > BOUNDS_MAX_TOKENS)
		return errmsg_set(e, -EINVAL, "%.32s is out of range: at most %lld tokens", tok,
		                  (long long)BOUNDS_MAX_TOKENS);
	*ret = v;
	return 0;
}

int touch_parse(const char *p, size_t n, struct touch_report *ret, struct errmsg *e)
{
	char buf[TOUCH_MAX_DATAGRAM + 1], *save = NULL, *tok;
	int ntok = 0;

	if (n == 0)
		return errmsg_set(e, -EINVAL, "empty datagram");
	if (n > TOUCH_MAX_DATAGRAM)
		return errmsg_set(e, -EINVAL, "datagram longer than %d bytes", TOUCH_MAX_DATAGRAM);
	if (memchr(p, '\0', n))
		return errmsg_set(e, -EINVAL, "datagram contains a NUL byte");
	memcpy(buf, p, n);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	ret->result = PROTO_TOUCH_UNKNOWN;
	ret->cached = ret->input = -1;
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		int r;
		if (ntok++ == 0) {
			if (!config_lane_name_valid(tok))
				return errmsg_set(e, -EINVAL, "\"%.64s\" is not a target name",
				                  tok);
			text_copy(ret->target, sizeof(ret->target), tok);
			continue;
		}
		if (strcmp(tok, "hit") == 0 || strcmp(tok, "miss") == 0) {
			if (ret->result != PROTO_TOUCH_UNKNOWN)
				return errmsg_set(e, -EINVAL, "hit/miss given twice");
			ret->result = tok[0] == 'h' ? PROTO_TOUCH_HIT : PROTO_TOUCH_MISS;
			continue;
		}
		r = parse_count(tok, 7, "cached=", &ret->cached, e);
		if (r == 1)
			r = parse_count(tok, 6, "input=", &ret->input, e);
		if (r == 1)
			return errmsg_set(e, -EINVAL, "unknown field \"%.32s\"", tok);
		if (r < 0)
			return r;
	}
	if (ntok == 0)
		return errmsg_set(e, -EINVAL, "no target name");
	return 0;
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct touch *t = h->data;
	char buf[TOUCH_MAX_DATAGRAM + 1];

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < TOUCH_BATCH; i++) {
		struct touch_report rep;
		struct errmsg e;
		ssize_t n = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0)
			return; /* EAGAIN: drained */
		if (n > TOUCH_MAX_DATAGRAM) {
			daemon_touch_rejected(t->d, "datagram too long");
			continue;
		}
		if (touch_parse(buf, (size_t)n, &rep, &e) < 0) {
			daemon_touch_rejected(t->d, e.text);
			continue;
		}
		daemon_touch(t->d, &rep);
	}
}

/* Watches fd for datagrams; t closes it in touch_close() (on failure fd
 * stays the caller's). */
static int touch_watch(struct daemon *d, struct touch *t, int fd)
{
	int r;

	t->d = d;
	t->fd = fd;
	r = uv_poll_init_socket(d->loop, &t->poll, t->fd);
	if (r < 0)
		return r;
	t->poll.data = t;
	uv_poll_start(&t->poll, UV_READABLE, poll_cb);
	return 0;
}

int touch_open(struct daemon *d, const char *path, const char *group, struct touch **ret,
               struct errmsg *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct touch *t;
	mode_t old;
	int r, fd;

	/* From systemd (warmd.socket): its mode and group are systemd's, and
	 * the file is systemd's to remove; nothing to chown (the unit forbids
	 * it). */
	r = sockfile_passed(SOCK_DGRAM, "touch", &fd, e);
	if (r < 0)
		return r;
	if (r > 0) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return errmsg_set(e, -ENOMEM, "out of memory");
		r = touch_watch(d, t, fd);
		if (r < 0) {
			free(t);
			return errmsg_set(e, r, "cannot watch the touch socket systemd passed: %s",
			                  uv_strerror(r));
		}
		log_info("touch socket from systemd (socket activation)");
		*ret = t;
		return 0;
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return errmsg_set(e, -ENAMETOOLONG, "touch_socket path too long: %s", path);
	r = sockfile_clear(path, false, e); /* a datagram socket has no listener to ask */
	if (r < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->path = strdup(path))) {
		free(t);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	text_copy(sa.sun_path, sizeof(sa.sun_path), path);
	old = umask(SOCKFILE_UMASK);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (r < 0)
		goto fail;
	if (sockfile_set_access(path, group, e) < 0)
		log_warning("touch socket: %s", e->text);
	r = touch_watch(d, t, fd);
	if (r < 0) {
		unlink(path);
		goto fail;
	}
	*ret = t;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(t->path);
	free(t);
	return errmsg_set(e, r, "cannot bind touch socket %s: %s", path, strerror(-r));
}

static void close_cb(uv_handle_t *h)
{
	struct touch *t = h->data;

	close(t->fd);
	free(t->path);
	free(t);
}

void touch_close(struct touch *t)
{
	if (!t)
		return;
	if (t->path)
		unlink(t->path);
	uv_poll_stop(&t->poll);
	uv_close((uv_handle_t *)&t->poll, close_cb);
}

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

#include "log.h"
#include "sockfile.h"
#include "xalloc.h"

/* Datagrams read per wake-up, so a flood cannot starve the loop. */
#define TOUCH_BATCH 64

struct touch {
	uv_poll_t poll;
	int fd;
	char *path; /* set when we bound it (and must unlink it) */
	const struct touch_ops *ops;
	void *data;
};

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
			t->ops->rejected(t->data, "datagram too long");
			continue;
		}
		if (touch_report_parse(buf, (size_t)n, &rep, &e) < 0) {
			t->ops->rejected(t->data, e.text);
			continue;
		}
		t->ops->touched(t->data, &rep);
	}
}

/* Watches fd for datagrams; t closes it in touch_close() (on failure fd
 * stays the caller's). */
static int touch_watch(uv_loop_t *loop, struct touch *t, int fd)
{
	int r;

	t->fd = fd;
	r = uv_poll_init_socket(loop, &t->poll, t->fd);
	if (r < 0)
		return r;
	t->poll.data = t;
	uv_poll_start(&t->poll, UV_READABLE, poll_cb);
	return 0;
}

int touch_open(uv_loop_t *loop, const char *path, const char *group, const struct touch_ops *ops,
               void *data, struct touch **ret, struct errmsg *e)
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
		t = xcalloc(1, sizeof(*t));
		t->ops = ops;
		t->data = data;
		r = touch_watch(loop, t, fd);
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
	t = xcalloc(1, sizeof(*t));
	t->path = xstrdup(path);
	t->ops = ops;
	t->data = data;
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
	r = touch_watch(loop, t, fd);
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

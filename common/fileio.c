/* fileio: capped reads and atomic replacement of files. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

/* "16 MiB" for whole mebibytes (the caps warmd uses for files it reads),
 * else "4096 bytes". */
static const char *cap_text(size_t cap, char *out, size_t n)
{
	if (cap && cap % (1024 * 1024) == 0)
		snprintf(out, n, "%zu MiB", cap / (1024 * 1024));
	else
		snprintf(out, n, "%zu bytes", cap);
	return out;
}

/* Opens path for reading without blocking on a FIFO or a terminal, and
 * checks it is a regular file no larger than cap. */
static int open_regular(const char *path, const char *what, size_t cap, struct stat *ret_st,
                        struct errmsg *e)
{
	struct stat st;
	char text[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return errmsg_set(e, -errno, "cannot open %s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errmsg_set(e, -EINVAL, "%s %s is not a regular file", what, path);
	}
	if ((unsigned long long)st.st_size > cap) {
		close(fd);
		return errmsg_set(e, -EFBIG, "%s %s is larger than %s", what, path,
		                  cap_text(cap, text, sizeof(text)));
	}
	*ret_st = st;
	return fd;
}

/* Reads until EOF into buf[0..cap); -EFBIG (with no text) when it fills up. */
static int read_all(int fd, const char *path, const char *what, char *buf, size_t cap,
                    size_t *ret_len, struct errmsg *e)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errmsg_set(e, -errno, "cannot read %s %s: %s", what, path,
			                  strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap)
			return -EFBIG;
	}
	*ret_len = len;
	return 0;
}

int fileio_read(const char *path, const char *what, size_t cap, char **ret_data, size_t *ret_len,
                struct errmsg *e)
{
	size_t size, len, room;
	struct stat st;
	char *data, text[32];
	int fd = open_regular(path, what, cap, &st, e), r;

	if (fd < 0)
		return fd;
	size = (size_t)st.st_size;
	/* Room for one byte more than expected shows a file that grew meanwhile
	 * (and one more for the NUL). */
	room = (size < cap ? size : cap) + 1;
	data = xmalloc(room + 1);
	r = read_all(fd, path, what, data, room, &len, e);
	close(fd);
	if (r == -EFBIG)
		r = size < cap ? errmsg_set(e, -EFBIG, "%s %s changed size while being read", what,
		                            path)
		               : errmsg_set(e, -EFBIG, "%s %s is larger than %s", what, path,
		                            cap_text(cap, text, sizeof(text)));
	if (r < 0) {
		free(data);
		return r;
	}
	data[len] = '\0';
	*ret_data = data;
	*ret_len = len;
	return 0;
}

int fileio_read_into(const char *path, const char *what, char *buf, size_t cap, size_t *ret_len,
                     struct stat *ret_st, struct errmsg *e)
{
	struct stat st;
	char text[32];
	int fd = open_regular(path, what, cap ? cap - 1 : 0, &st, e), r;

	if (fd < 0)
		return fd;
	r = read_all(fd, path, what, buf, cap, ret_len, e);
	close(fd);
	if (r == -EFBIG)
		r = errmsg_set(e, -EFBIG, "%s %s is larger than %s", what, path,
		               cap_text(cap - 1, text, sizeof(text)));
	if (r == 0 && ret_st)
		*ret_st = st;
	return r;
}

int fileio_write_tmp(const char *tmp, const void *data, size_t len, mode_t mode, struct errmsg *e)
{
	const char *p = data;
	size_t off = 0;
	int fd, r = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return errmsg_set(e, -errno, "cannot create %s: %s", tmp, strerror(errno));
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errmsg_set(e, -errno, "cannot write %s: %s", tmp, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = errmsg_set(e, -errno, "cannot fsync %s: %s", tmp, strerror(errno));
	if (close(fd) < 0 && r == 0 && errno != EINTR)
		r = errmsg_set(e, -errno, "cannot close %s: %s", tmp, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}

int fileio_commit(const char *tmp, const char *path, struct errmsg *e)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int dfd;

	if (rename(tmp, path) < 0) {
		int r = errmsg_set(e, -errno, "cannot rename %s to %s: %s", tmp, path,
		                   strerror(errno));
		unlink(tmp);
		return r;
	}
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd); /* best effort: the data itself is already safe */
		close(dfd);
	}
	return 0;
}

int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        struct errmsg *e)
{
	char tmp[PATH_MAX];
	int r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return errmsg_set(e, -ENAMETOOLONG, "path too long: %s", path);
	r = fileio_write_tmp(tmp, data, len, mode, e);
	return r < 0 ? r : fileio_commit(tmp, path, e);
}

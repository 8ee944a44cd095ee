/* sockfile: the filesystem side of warmd's Unix sockets. */
#include "sockfile.h"

#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

int sockfile_clear(const char *path, bool stream, struct errmsg *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT
		               ? 0
		               : errmsg_set(e, -errno, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return errmsg_set(e, -EEXIST, "%s exists and is not a socket", path);
	if (stream) {
		/* Someone answering means another warmd owns it. */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errmsg_set(e, -errno, "socket: %s", strerror(errno));
		text_copy(sa.sun_path, sizeof(sa.sun_path), path);
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (r == 0)
			return errmsg_set(e, -EADDRINUSE,
			                  "another warmd is already listening on %s", path);
	}
	unlink(path);
	return 0;
}

int sockfile_set_access(const char *path, const char *group, struct errmsg *e)
{
	struct group *gr = group ? getgrnam(group) : NULL;

	if (chmod(path, SOCKFILE_MODE) < 0)
		return errmsg_set(e, -errno, "cannot chmod %s: %s", path, strerror(errno));
	if (gr && chown(path, (uid_t)-1, gr->gr_gid) < 0)
		return errmsg_set(e, -errno, "cannot give %s to group %s: %s", path, group,
		                  strerror(errno));
	return 0;
}

static bool named_for_other_use(const char *fdname, const char *name)
{
	static const char *const uses[] = { "control", "touch" };

	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
		if (fdname && strcmp(fdname, uses[i]) == 0 && strcmp(name, uses[i]) != 0)
			return true;
	return false;
}

int sockfile_passed(int type, const char *name, int *ret_fd, struct errmsg *e)
{
	char **names = NULL;
	int n, found = -1, r = 0;
	int listening = type == SOCK_STREAM ? 1 : -1;

	*ret_fd = -1;
	n = sd_listen_fds_with_names(0, &names);
	if (n < 0)
		return errmsg_set(e, n, "cannot read the sockets systemd passed ($LISTEN_FDS): %s",
		                  strerror(-n));
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *fdname = names ? names[i] : NULL;
		bool fits = sd_is_socket_unix(fd, type, listening, NULL, 0) > 0;

		if (fdname && strcmp(fdname, name) == 0) {
			if (!fits) {
				r = errmsg_set(
				        e, -EPROTOTYPE,
				        "the socket systemd passed as \"%s\" is not a %s Unix "
				        "socket",
				        name,
				        type == SOCK_STREAM ? "listening stream" : "datagram");
				goto out;
			}
			found = fd;
			break;
		}
		if (fits && found < 0 && !named_for_other_use(fdname, name))
			found = fd;
	}
	if (found >= 0) {
		*ret_fd = found;
		r = 1;
	}
out:
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	return r;
}

int sockfile_bound_path(int fd, char *buf, size_t n)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	size_t pl;

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	if (sa.sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path) ||
	    sa.sun_path[0] == '\0')
		return -ENOENT;
	pl = strnlen(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path));
	if (pl + 1 > n)
		return -ENAMETOOLONG;
	memcpy(buf, sa.sun_path, pl);
	buf[pl] = '\0';
	return 0;
}

/* sockfile: the filesystem side of warmd's Unix sockets. */
#include "sockfile.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

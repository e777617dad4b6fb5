/*
 * The lock that keeps bus-rotate and bus-compact from working on the
 * same partition at once: flock(2) on DIR/log/<partition>/.lock.  busd
 * and readers never take it; it orders only the tools that delete and
 * replace sealed segments.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "bus.h"
#include "ops.h"

int
plock_take(int pdirfd, int nowait, int create)
{
	int fd, e;

	/* Read-only is enough for flock, and works on a lock file we
	 * cannot write (made by another user). */
	if ((fd = openat(pdirfd, OPS_LOCK, O_RDONLY | O_CLOEXEC |
	    (create ? O_CREAT : 0), 0644)) == -1)
		return !create && errno == ENOENT ? -2 : -1;
	while (flock(fd, LOCK_EX | (nowait ? LOCK_NB : 0)) == -1) {
		if (errno == EINTR)
			continue;
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void
plock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}

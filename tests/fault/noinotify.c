/*
 * LD_PRELOAD shim: inotify watches have run out.  inotify_add_watch(2)
 * fails with ENOSPC, as it does past fs.inotify.max_user_watches, so that
 * a follower's fallback to polling can be tested without changing the
 * machine's limits.
 */
#include <errno.h>
#include <stdint.h>

int
inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	(void)fd;
	(void)path;
	(void)mask;
	errno = ENOSPC;
	return -1;
}

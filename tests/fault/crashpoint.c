/*
 * crashpoint.so: an LD_PRELOAD shim that kills the process (SIGKILL)
 * right after a chosen system call, on demand.  For the durability tests
 * of bus: it stops busd at an exact instant that kill -9 from outside
 * hits only by luck.
 *
 *   LD_PRELOAD=tests/fault/crashpoint.so BUS_FAULT_TRIGGER=/some/trigger \
 *       BUS_FAULT_RENAME=producers busd ...      (or)
 *       BUS_FAULT_WRITE=/log/a/ busd ...
 *
 * While the trigger file exists:
 * - a successful rename(2), renameat(2) or renameat2(2) whose new name's
 *   last component is BUS_FAULT_RENAME,
 * - a successful write(2) to a file whose path contains BUS_FAULT_WRITE
 *   (the path from readlink of /proc/self/fd/N),
 * is followed by raise(SIGKILL), as if kill -9 had arrived just then.
 * Everything else passes through untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
armed(const char *what)
{
	const char *trig = getenv("BUS_FAULT_TRIGGER");

	return getenv(what) != NULL && trig != NULL && access(trig, F_OK) == 0;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	static ssize_t (*real)(int, const void *, size_t);
	char link[64], path[PATH_MAX];
	ssize_t n, k;

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t))
		    dlsym(RTLD_NEXT, "write");
	n = real(fd, buf, len);
	if (n > 0 && armed("BUS_FAULT_WRITE")) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if ((k = readlink(link, path, sizeof(path) - 1)) > 0) {
			path[k] = '\0';
			if (strstr(path, getenv("BUS_FAULT_WRITE")) != NULL)
				raise(SIGKILL);
		}
	}
	return n;
}

static void
maybe_die(int rc, const char *to)
{
	const char *base;

	if (rc != 0 || !armed("BUS_FAULT_RENAME"))
		return;
	base = strrchr(to, '/');
	base = base != NULL ? base + 1 : to;
	if (strcmp(base, getenv("BUS_FAULT_RENAME")) == 0)
		raise(SIGKILL);
}

int
rename(const char *from, const char *to)
{
	static int (*real)(const char *, const char *);
	int rc;

	if (real == NULL)
		real = (int (*)(const char *, const char *))
		    dlsym(RTLD_NEXT, "rename");
	rc = real(from, to);
	maybe_die(rc, to);
	return rc;
}

int
renameat(int fromfd, const char *from, int tofd, const char *to)
{
	static int (*real)(int, const char *, int, const char *);
	int rc;

	if (real == NULL)
		real = (int (*)(int, const char *, int, const char *))
		    dlsym(RTLD_NEXT, "renameat");
	rc = real(fromfd, from, tofd, to);
	maybe_die(rc, to);
	return rc;
}

int
renameat2(int fromfd, const char *from, int tofd, const char *to,
    unsigned int flags)
{
	static int (*real)(int, const char *, int, const char *,
	    unsigned int);
	int rc;

	if (real == NULL)
		real = (int (*)(int, const char *, int, const char *,
		    unsigned int))dlsym(RTLD_NEXT, "renameat2");
	rc = real(fromfd, from, tofd, to, flags);
	maybe_die(rc, to);
	return rc;
}

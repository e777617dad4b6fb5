/*
 * enospc.so: an LD_PRELOAD shim that makes writes to segment files fail
 * as on a full disk, on demand.  For the durability tests of bus.
 *
 *   LD_PRELOAD=tests/fault/enospc.so BUS_FAULT_ENOSPC=/some/trigger busd ...
 *
 * While the trigger file exists (checked with access(2) on every write),
 * every write(2), writev(2), pwrite(2) and pwritev(2) to a file descriptor
 * whose path ends in ".seg" fails with ENOSPC.  If the trigger file
 * starts with the word "short", such a write first stores half of what
 * it was asked to (a short write, as a real file system does when it
 * fills up in the middle of a write) and only fails with ENOSPC once a
 * single byte is asked for; so the caller is left with a partial record
 * in the file that it must take back.
 *
 * With BUS_FAULT_PATH set, only segment files whose path contains that
 * string fail (e.g. "/log/b/": one partition's disk is full).
 *
 * The path of a descriptor comes from readlink(/proc/self/fd/N); it is
 * cached per descriptor together with the device and inode, so that a
 * descriptor number reused for another file is looked up again.
 * Everything else passes through untouched.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NCACHE	4096

struct fdinfo {
	dev_t	dev;
	ino_t	ino;
	int	known;
	int	seg;
};

static struct fdinfo cache[NCACHE];

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);

static void
resolve(void)
{
	if (real_write == NULL)
		real_write = (ssize_t (*)(int, const void *, size_t))
		    dlsym(RTLD_NEXT, "write");
	if (real_writev == NULL)
		real_writev = (ssize_t (*)(int, const struct iovec *, int))
		    dlsym(RTLD_NEXT, "writev");
	if (real_pwrite == NULL)
		real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))
		    dlsym(RTLD_NEXT, "pwrite");
	if (real_pwritev == NULL)
		real_pwritev = (ssize_t (*)(int, const struct iovec *, int,
		    off_t))dlsym(RTLD_NEXT, "pwritev");
}

/* Is fd open on a file whose name ends in ".seg"? */
static int
is_seg(int fd)
{
	char link[64], path[4096];
	struct stat st;
	ssize_t n;
	int seg;

	if (fd < 0 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		return 0;
	if (fd < NCACHE && cache[fd].known && cache[fd].dev == st.st_dev &&
	    cache[fd].ino == st.st_ino)
		return cache[fd].seg;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
		return 0;
	path[n] = '\0';
	seg = n >= 4 && strcmp(path + n - 4, ".seg") == 0;
	if (seg && getenv("BUS_FAULT_PATH") != NULL &&
	    strstr(path, getenv("BUS_FAULT_PATH")) == NULL)
		seg = 0;
	if (fd < NCACHE) {
		cache[fd].dev = st.st_dev;
		cache[fd].ino = st.st_ino;
		cache[fd].known = 1;
		cache[fd].seg = seg;
	}
	return seg;
}

/* 0: pass through, 1: fail with ENOSPC, 2: short write. */
static int
fault(int fd)
{
	const char *trig = getenv("BUS_FAULT_ENOSPC");
	char word[5];
	ssize_t n;
	int tfd, saved = errno;

	if (trig == NULL || *trig == '\0' || !is_seg(fd) ||
	    access(trig, F_OK) == -1) {
		errno = saved;
		return 0;
	}
	resolve();
	n = 0;
	if ((tfd = open(trig, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(tfd, word, sizeof(word));
		close(tfd);
	}
	errno = saved;
	return n == (ssize_t)sizeof(word) && memcmp(word, "short", 5) == 0 ?
	    2 : 1;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	int f;

	resolve();
	if ((f = fault(fd)) == 0 || len == 0)
		return real_write(fd, buf, len);
	if (f == 2 && len > 1)
		return real_write(fd, buf, len / 2);
	errno = ENOSPC;
	return -1;
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	int f;

	resolve();
	if ((f = fault(fd)) == 0 || len == 0)
		return real_pwrite(fd, buf, len, off);
	if (f == 2 && len > 1)
		return real_pwrite(fd, buf, len / 2, off);
	errno = ENOSPC;
	return -1;
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

static size_t
iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;
	int i;

	for (i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	size_t t;
	int f;

	resolve();
	if ((f = fault(fd)) == 0 || (t = iov_total(iov, n)) == 0)
		return real_writev(fd, iov, n);
	if (f == 2 && t > 1) {
		/* Half of the data: the first buffers, cut. */
		struct iovec v[64];
		size_t want = t / 2, got = 0;
		int i;

		for (i = 0; i < n && i < 64 && got < want; i++) {
			v[i] = iov[i];
			if (got + v[i].iov_len > want)
				v[i].iov_len = want - got;
			got += v[i].iov_len;
		}
		return real_writev(fd, v, i);
	}
	errno = ENOSPC;
	return -1;
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	int f;

	resolve();
	if ((f = fault(fd)) == 0 || iov_total(iov, n) == 0)
		return real_pwritev(fd, iov, n, off);
	/* Short pwritev is not needed by anything we test: fail it. */
	errno = ENOSPC;
	return -1;
}

ssize_t
pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
	return pwritev(fd, iov, n, off);
}

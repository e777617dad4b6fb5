/*
 * The lock that keeps bus-rotate and bus-compact from working on the
 * same partition at once: flock(2) on DIR/log/<partition>/.lock.  busd
 * and readers never take it; it orders only the tools that delete and
 * replace sealed segments.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
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

int
ops_part_open(const char *dir, const char *name, int *dfd)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/%s/%s", dir, BUS_LOGDIR, name) >=
	    (int)sizeof(p)) {
		warnx("partition %s: path too long", name);
		return EX_IOERR;
	}
	if ((*dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return -1;	/* gone meanwhile: nothing to do */
		warn("partition %s", name);
		return EX_IOERR;
	}
	return 0;
}

int
ops_part_lock(const char *dir, const char *name, int dfd, int nowait,
    int create, int *lfd)
{
	if ((*lfd = plock_take(dfd, nowait, create)) != -1)
		return 0;
	if (errno == EWOULDBLOCK) {
		warnx("partition %s: skipped: another bus-rotate or bus-compact "
		    "holds %s/%s/%s/%s", name, dir, BUS_LOGDIR, name, OPS_LOCK);
		return EX_TEMPFAIL;
	}
	warn("partition %s: lock %s/%s/%s/%s", name, dir, BUS_LOGDIR, name,
	    OPS_LOCK);
	return EX_CANTCREAT;
}

int
ops_part_recover(const char *name, int dfd)
{
	char note[1024], emsg[1024];
	int r;

	r = compact_recover(name, dfd, note, sizeof(note), emsg, sizeof(emsg));
	if (note[0] != '\0')
		warnx("%s", note);
	if (r < 0) {
		warnx("%s", emsg);
		return ops_sysexit(r);
	}
	return 0;
}

const char *
ops_store(const char *flag)
{
	const char *dir = store_dir(flag);
	char p[PATH_MAX];
	struct stat st;

	if (store_path(p, sizeof(p), dir, BUS_LOGDIR) == -1)
		errx(EX_USAGE, "%s: path too long", dir);
	if (stat(p, &st) == -1)
		errx(EX_NOINPUT, "no bus store at %s", dir);
	return dir;
}

void
ops_each_partition(const char *dir, const struct patset *pats,
    void (*fn)(const char *))
{
	char **names;
	size_t n, i;

	if (store_list_partitions(dir, &names, &n) == -1)
		err(EX_IOERR, "%s/%s", dir, BUS_LOGDIR);
	for (i = 0; i < n; i++)
		if (pats == NULL || patset_match(pats, names[i],
		    strlen(names[i])))
			fn(names[i]);
	store_free_names(names, n);
}

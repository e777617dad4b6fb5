/*
 * The lock that keeps bus-rotate and bus-compact from working on the
 * same partition at once: flock(2) on DIR/log/<partition>/.lock.  busd
 * and readers never take it; it orders only the tools that delete and
 * replace sealed segments.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "ops.h"
#include "perm.h"

int
plock_take(int pdirfd, int nowait, int create)
{
	int fd, e;

	/* Read-only is enough for flock, and works on a lock file we
	 * cannot write (made by another user). */
	if ((fd = openat(pdirfd, OPS_LOCK, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
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
ops_part_open(const char *dir, const char *name, int *dfd, char *err,
    size_t len)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/%s/%s", dir, BUS_LOGDIR, name) >=
	    (int)sizeof(p)) {
		snprintf(err, len, "partition %s: path too long", name);
		return EX_IOERR;
	}
	if ((*dfd = store_open_part(dir, name)) == -1) {
		if (errno == ENOENT)
			return -1;	/* gone meanwhile: nothing to do */
		snprintf(err, len, "%s: %s", p, store_strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

int
ops_part_lock(const char *dir, const char *name, int dfd, int nowait,
    int create, int *lfd, char *err, size_t len)
{
	if ((*lfd = plock_take(dfd, nowait, create)) != -1)
		return 0;
	if (errno == EWOULDBLOCK) {
		snprintf(err, len, "partition %s: skipped: another bus-rotate "
		    "or bus-compact holds %s/%s/%s/%s", name, dir, BUS_LOGDIR,
		    name, OPS_LOCK);
		return EX_TEMPFAIL;
	}
	snprintf(err, len, "partition %s: lock %s/%s/%s/%s: %s", name, dir,
	    BUS_LOGDIR, name, OPS_LOCK, strerror(errno));
	return EX_CANTCREAT;
}

int
ops_part_recover(const char *name, int dfd, void (*say)(const char *))
{
	char note[1024], emsg[1024];
	int r;

	r = compact_recover(name, dfd, note, sizeof(note), emsg, sizeof(emsg));
	if (note[0] != '\0')
		say(note);
	if (r < 0) {
		say(emsg);
		return ops_sysexit(r);
	}
	return 0;
}

int
ops_store(const char *flag, const char **dirp, char *err, size_t len)
{
	const char *dir = store_dir(flag);
	char p[PATH_MAX];
	struct stat st;

	if (store_path(p, sizeof(p), dir, BUS_LOGDIR) == -1) {
		snprintf(err, len, "%s: path too long", dir);
		return EX_USAGE;
	}
	if (stat(p, &st) == -1) {
		snprintf(err, len, "no bus store at %s", dir);
		return EX_NOINPUT;
	}
	*dirp = dir;
	return 0;
}

int
ops_each_partition(const char *dir, const struct patset *pats,
    void (*fn)(const char *))
{
	char **names;
	size_t n, i;

	if (store_list_partitions(dir, &names, &n) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (pats == NULL || patset_match(pats, names[i],
		    strlen(names[i])))
			fn(names[i]);
	store_free_names(names, n);
	return 0;
}

int
ops_patterns(const char *dir, char *const *pats, int npats,
    void (*say)(const char *), char *err, size_t errlen)
{
	struct patset *one;
	char **names, line[512];
	size_t n, i;
	int p, unmatched = 0;

	if (npats == 0)
		return 0;
	if (store_list_partitions(dir, &names, &n) == -1) {
		snprintf(err, errlen, "%s/%s: %s", dir, BUS_LOGDIR,
		    strerror(errno));
		return EX_IOERR;
	}
	for (p = 0; p < npats; p++) {
		if ((one = patset_new(&pats[p], 1, line, sizeof(line))) == NULL)
			continue;	/* the caller checked them all */
		for (i = 0; i < n; i++)
			if (patset_match(one, names[i], strlen(names[i])))
				break;
		if (i == n) {
			snprintf(line, sizeof(line), "no partition matches %s",
			    pats[p]);
			say(line);
			unmatched++;
		}
		patset_free(one);
	}
	store_free_names(names, n);
	return unmatched == npats ? EX_NOINPUT : 0;
}

int
ops_start(const char *flag, const char **dir, char *const *pats, int npats,
    struct patset **ps, void (*say)(const char *), char *err, size_t len)
{
	char line[1024 + sizeof("warning: ")];
	int r;

	*ps = NULL;
	if (npats > 0 && (*ps = patset_new(pats, npats, err, len)) == NULL)
		return EX_USAGE;
	if ((r = ops_store(flag, dir, err, len)) != 0)
		goto fail;
	/* What busd would refuse to serve, said once (busd(8)). */
	if (perm_check_store(*dir, NULL, PERM_OWNER, err, len) == -1) {
		snprintf(line, sizeof(line), "warning: %s", err);
		say(line);
	}
	/* A typo matches nothing: say so; nothing at all is 66. */
	err[0] = '\0';
	if ((r = ops_patterns(*dir, pats, npats, say, err, len)) != 0)
		goto fail;
	return 0;
fail:
	patset_free(*ps);
	*ps = NULL;
	return r;
}

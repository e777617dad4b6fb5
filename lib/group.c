/*
 * Consumer groups: membership and partition ownership by flock(2) on
 * files under DIR/cursors/<group>.group/ (see group.h for the layout).
 *
 * flock(2) locks belong to an open file description, not to a process:
 * to learn whether a slot is held, we open the file again and try a
 * shared lock without waiting, which fails while any member (us included)
 * holds it exclusively.  Every descriptor is close-on-exec so that a
 * command run by bus-sub --exec never inherits, and outlives, a lock.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "group.h"

#define SLOT_PREFIX	"member."
#define SLOT_MAX	100000
#define CURSOR_LOCK	"cursor.lock"
#define START_FILE	"start"

struct group {
	int	 dfd;		/* DIR/cursors/<group>.group */
	int	 slotfd;	/* our member.<k>, held LOCK_EX */
	int	 slot;		/* k */
	int	 lockfd;	/* cursor.lock, opened once */
	char	*member;	/* our name, written into what we hold */
};

static int	group_dir(const char *, const char *, int);
static void	own_name(char *, size_t, const char *);
static void	put_name(int, const char *);
static int	held_by(int, const char *, char *, size_t);
static int	slot_number(const char *);

int
consumer_lock(const char *dir, const char *name, int shared)
{
	char p[PATH_MAX];
	int fd, n;

	n = snprintf(p, sizeof(p), "%s/%s/.%s.lock", dir, BUS_CURSORDIR, name);
	if (n < 0 || (size_t)n >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640)) ==
	    -1)
		return -1;
	if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == -1) {
		n = errno;
		close(fd);
		errno = n;
		return -1;
	}
	return fd;
}

int
group_dir_name(const char *name)
{
	size_t n = strlen(name), k = strlen(GROUP_SUFFIX);

	return n >= k && strcmp(name + n - k, GROUP_SUFFIX) == 0;
}

/* Open DIR/cursors/<name>.group, creating it if asked. */
static int
group_dir(const char *dir, const char *name, int create)
{
	char p[PATH_MAX];
	int n;

	n = snprintf(p, sizeof(p), "%s/%s/%s%s", dir, BUS_CURSORDIR, name,
	    GROUP_SUFFIX);
	if (n < 0 || (size_t)n >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (create && mkdir(p, 0755) == -1 && errno != EEXIST)
		return -1;
	return open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * "<partition>.own"; a partition name near the 255-byte limit would not
 * leave room for the suffix, so a long one is cut and told apart by the
 * CRC32C of the whole name.
 */
static void
own_name(char *buf, size_t len, const char *part)
{
	size_t n = strlen(part);

	if (n + 4 <= NAME_MAX)
		snprintf(buf, len, "%s.own", part);
	else
		snprintf(buf, len, "%.200s~%08x.own", part,
		    crc32c(0, part, n));
}

/* Replace the content of a file we hold with our name. */
static void
put_name(int fd, const char *name)
{
	size_t n = strlen(name);

	if (ftruncate(fd, 0) == 0 && pwrite(fd, name, n, 0) == (ssize_t)n)
		pwrite(fd, "\n", 1, n);
}

/*
 * Is the file name in dfd locked by someone?  1 yes (with its content,
 * the holder's name, in buf when buf is not NULL), 0 no, -1 error.
 */
static int
held_by(int dfd, const char *name, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return 0;
	}
	if (errno != EWOULDBLOCK) {
		close(fd);
		return -1;
	}
	if (buf != NULL && len > 0) {
		n = pread(fd, buf, len - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
	}
	close(fd);
	return 1;
}

/* k for "member.<k>", else -1. */
static int
slot_number(const char *name)
{
	const char *p, *errstr;
	long long k;

	if (strncmp(name, SLOT_PREFIX, sizeof(SLOT_PREFIX) - 1) != 0)
		return -1;
	p = name + sizeof(SLOT_PREFIX) - 1;
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] != '\0'))
		return -1;
	k = strtonum(p, 0, SLOT_MAX, &errstr);
	return errstr ? -1 : (int)k;
}

struct group *
group_join(const char *dir, const char *name, const char *member)
{
	struct group *g;
	char n[32];
	int fd, k, e;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->dfd = g->slotfd = g->lockfd = -1;
	if ((g->member = strdup(member)) == NULL ||
	    (g->dfd = group_dir(dir, name, 1)) == -1)
		goto fail;
	if ((g->lockfd = openat(g->dfd, CURSOR_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1)
		goto fail;
	/* The first free slot is ours. */
	for (k = 0; k < SLOT_MAX; k++) {
		snprintf(n, sizeof(n), SLOT_PREFIX "%d", k);
		if ((fd = openat(g->dfd, n, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    0644)) == -1)
			goto fail;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			g->slotfd = fd;
			g->slot = k;
			put_name(fd, member);
			return g;
		}
		e = errno;
		close(fd);
		if (e != EWOULDBLOCK) {
			errno = e;
			goto fail;
		}
	}
	errno = EUSERS;
fail:
	e = errno;
	group_leave(g);
	errno = e;
	return NULL;
}

void
group_leave(struct group *g)
{
	if (g == NULL)
		return;
	if (g->slotfd != -1)
		close(g->slotfd);
	if (g->lockfd != -1)
		close(g->lockfd);
	if (g->dfd != -1)
		close(g->dfd);
	free(g->member);
	free(g);
}

int
group_live(struct group *g, int *rank)
{
	struct dirent *de;
	DIR *d;
	int fd, k, live = 1, below = 0;

	if ((fd = openat(g->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if ((k = slot_number(de->d_name)) == -1 || k == g->slot)
			continue;
		if (held_by(g->dfd, de->d_name, NULL, 0) != 1)
			continue;
		live++;
		if (k < g->slot)
			below++;
	}
	closedir(d);
	*rank = below;
	return live;
}

int
group_own(struct group *g, const char *part)
{
	char n[NAME_MAX + 1];
	int fd, e;

	own_name(n, sizeof(n), part);
	if ((fd = openat(g->dfd, n, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0640)) == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	put_name(fd, g->member);
	return fd;
}

void
group_disown(int fd)
{
	if (fd != -1)
		close(fd);
}

int
group_cursor_lock(struct group *g)
{
	int rc;

	while ((rc = flock(g->lockfd, LOCK_EX)) == -1 && errno == EINTR)
		;
	return rc;
}

void
group_cursor_unlock(struct group *g)
{
	flock(g->lockfd, LOCK_UN);
}

int
group_start(struct group *g, int64_t dflt, int64_t *start)
{
	char b[32], tmp[64];
	const char *errstr;
	ssize_t n;
	FILE *f;
	int fd;

	if ((fd = openat(g->dfd, START_FILE, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) != -1) {
		n = pread(fd, b, sizeof(b) - 1, 0);
		close(fd);
		b[n > 0 ? n : 0] = '\0';
		b[strcspn(b, "\n")] = '\0';
		*start = strtonum(b, 0, LLONG_MAX, &errstr);
		if (errstr == NULL)
			return 0;
		/* Damaged: set it again below. */
	} else if (errno != ENOENT)
		return -1;
	/* Written like a cursor: temp file, fsync, rename. */
	snprintf(tmp, sizeof(tmp), START_FILE ".%ld.tmp", (long)getpid());
	if ((f = store_tmp_open(g->dfd, tmp)) == NULL)
		return -1;
	fprintf(f, "%lld\n", (long long)dflt);
	if (store_tmp_commit(f, g->dfd, tmp, START_FILE, 1) == -1)
		return -1;
	*start = dflt;
	return 0;
}

int
group_exists(const char *dir, const char *name)
{
	int fd;

	if ((fd = group_dir(dir, name, 0)) == -1)
		return 0;
	close(fd);
	return 1;
}

int
group_owner(const char *dir, const char *name, const char *part, char *buf,
    size_t len)
{
	char n[NAME_MAX + 1];
	int dfd, rc;

	if ((dfd = group_dir(dir, name, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	own_name(n, sizeof(n), part);
	rc = held_by(dfd, n, buf, len);
	close(dfd);
	return rc;
}

static int
cmp_slot(const void *a, const void *b)
{
	int x = slot_number(*(char *const *)a);
	int y = slot_number(*(char *const *)b);

	return (x > y) - (x < y);
}

int
group_members(const char *dir, const char *name, char ***out, size_t *n)
{
	struct dirent *de;
	char **v = NULL, **nv, who[256];
	size_t cnt = 0, i;
	DIR *d;
	int dfd, fd;

	*out = NULL;
	*n = 0;
	if ((dfd = group_dir(dir, name, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		close(dfd);
		return -1;
	}
	/* Collect the held slots' file names, sorted by slot, then names. */
	while ((de = readdir(d)) != NULL) {
		if (slot_number(de->d_name) == -1 ||
		    held_by(dfd, de->d_name, NULL, 0) != 1)
			continue;
		if ((nv = reallocarray(v, cnt + 1, sizeof(*v))) == NULL ||
		    (nv[cnt] = strdup(de->d_name)) == NULL) {
			store_free_names(nv ? nv : v, cnt);
			closedir(d);
			close(dfd);
			return -1;
		}
		v = nv;
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_slot);
	for (i = 0; i < cnt; i++) {
		if (held_by(dfd, v[i], who, sizeof(who)) == 1 && who[0]) {
			free(v[i]);
			if ((v[i] = strdup(who)) == NULL) {
				store_free_names(v, cnt);
				close(dfd);
				return -1;
			}
		}
	}
	close(dfd);
	*out = v;
	*n = cnt;
	return 0;
}

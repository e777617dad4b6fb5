/*
 * The store directory: where things live, and which of them exist; and
 * the one reader and writer of each small file in it (topics, clock,
 * producer state), as bus-segment(5) describes them.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"

static int	openat_walk(int, const char *, int, mode_t);
static int	subdir_make(int, const char *, gid_t);

/* 0: not known yet, 1: openat2(2) works, -1: it does not (ENOSYS). */
static int	have_openat2;

int
store_openat(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how;
	int fd;

	flags |= O_CLOEXEC;
	if (have_openat2 >= 0) {
		memset(&how, 0, sizeof(how));
		how.flags = flags;
		how.mode = flags & (O_CREAT | O_TMPFILE) ? mode : 0;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS;
		fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
		if (fd != -1 || (errno != ENOSYS && errno != EPERM)) {
			have_openat2 = 1;
			return fd;
		}
		/* EPERM: a seccomp filter that does not know it. */
		if (have_openat2 == 1 && errno == EPERM)
			return -1;
		have_openat2 = -1;
	}
	return openat_walk(dirfd, rel, flags, mode);
}

/* Without openat2(2): one component at a time, none of them a symlink. */
static int
openat_walk(int dirfd, const char *rel, int flags, mode_t mode)
{
	char buf[PATH_MAX], *p, *slash;
	int fd = dirfd, nfd, e;

	if (rel[0] == '/' || strlcpy(buf, rel, sizeof(buf)) >= sizeof(buf)) {
		errno = rel[0] == '/' ? EXDEV : ENAMETOOLONG;
		return -1;
	}
	for (p = buf; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
		*slash = '\0';
		if (strcmp(p, "..") == 0) {
			nfd = -1;
			errno = EXDEV;
		} else
			nfd = openat(fd, p, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		if (fd != dirfd)
			close(fd);
		if (nfd == -1) {
			errno = e;
			return -1;
		}
		fd = nfd;
	}
	if (strcmp(p, "..") == 0) {
		nfd = -1;
		errno = EXDEV;
	} else
		nfd = openat(fd, p, flags | O_NOFOLLOW, mode);
	e = errno;
	if (fd != dirfd)
		close(fd);
	errno = e;
	return nfd;
}

int
store_open_in(const char *dir, const char *rel, int flags, mode_t mode)
{
	int dfd, fd, e;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	fd = store_openat(dfd, rel, flags, mode);
	e = errno;
	close(dfd);
	errno = e;
	return fd;
}

int
store_mkdirat(int dirfd, const char *rel, mode_t mode)
{
	const char *slash = strrchr(rel, '/');
	char parent[PATH_MAX];
	int pfd, rc, e;

	if (slash == NULL)
		return mkdirat(dirfd, rel, mode);
	if ((size_t)(slash - rel) >= sizeof(parent)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(parent, rel, slash - rel);
	parent[slash - rel] = '\0';
	if ((pfd = store_openat(dirfd, parent, O_RDONLY | O_DIRECTORY, 0)) ==
	    -1)
		return -1;
	rc = mkdirat(pfd, slash + 1, mode);
	e = errno;
	close(pfd);
	errno = e;
	return rc;
}

int
store_open_part(const char *dir, const char *name)
{
	char rel[PATH_MAX];

	if (snprintf(rel, sizeof(rel), "%s/%s", BUS_LOGDIR, name) >=
	    (int)sizeof(rel)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return store_open_in(dir, rel, O_RDONLY | O_DIRECTORY, 0);
}

int
store_quarantine_dir(const char *dir, const char *part)
{
	char rel[PATH_MAX];
	int dfd, fd = -1, e;

	if (snprintf(rel, sizeof(rel), "%s/%s", BUS_QUARANTINE, part) >=
	    (int)sizeof(rel)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((mkdirat(dfd, BUS_QUARANTINE, 0750) == 0 || errno == EEXIST) &&
	    (store_mkdirat(dfd, rel, 0750) == 0 || errno == EEXIST))
		fd = store_openat(dfd, rel, O_RDONLY | O_DIRECTORY, 0);
	e = errno;
	close(dfd);
	errno = e;
	return fd;
}

const char *
store_strerror(int e)
{
	if (e == ELOOP)
		return "is a symbolic link, refusing to follow it";
	if (e == EXDEV)
		return "leads out of the store, refusing to follow it";
	return strerror(e);
}

const char *
store_dir(const char *flag)
{
	static __thread char buf[PATH_MAX];	/* one per thread */
	const char *e, *home;

	if (flag != NULL)
		return flag;
	if ((e = getenv("BUS_DIR")) != NULL && *e != '\0')
		return e;
	if (geteuid() == 0)
		return "/var/lib/bus";
	if ((e = getenv("XDG_STATE_HOME")) != NULL && *e == '/')
		snprintf(buf, sizeof(buf), "%s/bus", e);
	else if ((home = getenv("HOME")) != NULL && *home != '\0')
		snprintf(buf, sizeof(buf), "%s/.local/state/bus", home);
	else
		snprintf(buf, sizeof(buf), "/tmp/bus-%u", (unsigned)geteuid());
	return buf;
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX], *p;

	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

int
store_mkdirs(const char *dir)
{
	struct stat st;
	int dfd, e;

	if (mkdir_p(dir, 0750) == -1)
		return -1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(dfd, &st) == -1 ||
	    subdir_make(dfd, BUS_LOGDIR, st.st_gid) == -1 ||
	    subdir_make(dfd, BUS_CURSORDIR, st.st_gid) == -1) {
		e = errno;
		close(dfd);
		errno = e;
		return -1;
	}
	close(dfd);
	return 0;
}

/*
 * DIR/name: made 0750 with the group of DIR and the setgid bit, so that
 * the partitions, segments and cursors made beneath take that group; one
 * that is there and ours is given them (a store chgrp'ed since).  A
 * symlink is refused (ELOOP).
 */
static int
subdir_make(int dfd, const char *name, gid_t gid)
{
	struct stat st;
	int fd, e;

	if (mkdirat(dfd, name, 0750) == -1 && errno != EEXIST)
		return -1;
	if ((fd = store_openat(dfd, name, O_RDONLY | O_DIRECTORY, 0)) == -1)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
	    (st.st_gid != gid || !(st.st_mode & S_ISGID))) {
		/* Not fatal: a reader may not be allowed to, busd is. */
		if (st.st_gid != gid && fchown(fd, (uid_t)-1, gid) == 0)
			st.st_gid = gid;
		if (st.st_gid == gid)
			(void)fchmod(fd, (st.st_mode & 07777) | S_ISGID);
	}
	e = errno;
	close(fd);
	errno = e;
	return 0;
}

int
store_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
store_busd_alive(const char *dir, pid_t *pid)
{
	char p[PATH_MAX], b[32];
	ssize_t n;
	int fd, alive = 0;

	if (store_path(p, sizeof(p), dir, BUS_PIDFILE) == -1)
		return 0;
	if ((fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK) {
		alive = 1;
		if (pid != NULL) {
			*pid = 0;
			if ((n = pread(fd, b, sizeof(b) - 1, 0)) > 0) {
				b[n] = '\0';
				*pid = (pid_t)strtol(b, NULL, 10);
			}
		}
	}
	close(fd);
	return alive;
}

FILE *
store_tmp_open(int dirfd, const char *tmp)
{
	FILE *f;
	int fd, e;

	if ((fd = store_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC,
	    0640)) == -1)
		return NULL;
	if ((f = fdopen(fd, "w")) == NULL) {
		e = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = e;
	}
	return f;
}

int
store_tmp_commit(FILE *f, int dirfd, const char *tmp, const char *name,
    int flags)
{
	int e;

	if (fflush(f) == EOF ||
	    (!(flags & STORE_NOSYNC) && fsync(fileno(f)) == -1)) {
		e = errno;
		fclose(f);
		goto fail;
	}
	if (fclose(f) == EOF || renameat(dirfd, tmp, dirfd, name) == -1) {
		e = errno;
		goto fail;
	}
	if ((flags & STORE_DIRSYNC) && !(flags & STORE_NOSYNC))
		fsync(dirfd);
	return 0;
fail:
	unlinkat(dirfd, tmp, 0);
	errno = e;
	return -1;
}

int
store_name_base(const char *name, const char *suffix, uint64_t *base)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (name[i] - '0');
	}
	if (strcmp(name + 20, suffix) != 0)
		return 0;
	*base = v;
	return 1;
}

static int
is_seg(int dirfd, const char *name, void *arg)
{
	uint64_t base;

	return store_name_base(name, ".seg", &base);
}

int
store_list_segments(int dirfd, uint64_t **out, size_t *n)
{
	char **names;
	uint64_t *v;
	size_t cnt, i;

	if (store_list_names(dirfd, is_seg, NULL, &names, &cnt) == -1)
		return -1;
	if ((v = calloc(cnt ? cnt : 1, sizeof(*v))) == NULL) {
		store_free_names(names, cnt);
		return -1;
	}
	/* 20-digit names sort as their numbers do. */
	for (i = 0; i < cnt; i++)
		store_name_base(names[i], ".seg", &v[i]);
	store_free_names(names, cnt);
	*out = v;
	*n = cnt;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
store_list_names(int dirfd, int (*keep)(int, const char *, void *), void *arg,
    char ***out, size_t *n)
{
	char **v = NULL, **nv;
	struct dirent *de;
	size_t cnt = 0;
	DIR *d;
	int fd;

	*out = NULL;
	*n = 0;
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!keep(fd, de->d_name, arg))
			continue;
		if ((nv = reallocarray(v, cnt + 1, sizeof(*v))) == NULL ||
		    (nv[cnt] = strdup(de->d_name)) == NULL) {
			closedir(d);
			store_free_names(nv ? nv : v, cnt);
			return -1;
		}
		v = nv;
		cnt++;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), cmp_str);
	*out = v;
	*n = cnt;
	return 0;
}

static int
is_partition(int dirfd, const char *name, void *arg)
{
	const char *why;

	return topic_check(name, strlen(name), &why) == 0;
}

int
store_list_in(const char *dir, const char *sub,
    int (*keep)(int, const char *, void *), char ***out, size_t *n)
{
	int fd, rc;

	*out = NULL;
	*n = 0;
	if ((fd = store_open_in(dir, sub, O_RDONLY | O_DIRECTORY, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	rc = store_list_names(fd, keep, NULL, out, n);
	close(fd);
	return rc;
}

int
store_list_partitions(const char *dir, char ***out, size_t *n)
{
	return store_list_in(dir, BUS_LOGDIR, is_partition, out, n);
}

void
store_free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
store_seg_name(char *buf, size_t len, uint64_t base, const char *ext)
{
	snprintf(buf, len, "%020llu.%s", (unsigned long long)base, ext);
}

/* ---------------------------------------------------------- topics file */

/* dirfd/name opened for reading as a stream; NULL with errno. */
static FILE *
store_fopen(int dirfd, const char *name)
{
	FILE *f;
	int fd, e;

	if ((fd = store_openat(dirfd, name, O_RDONLY, 0)) == -1)
		return NULL;
	if ((f = fdopen(fd, "r")) == NULL) {
		e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

int
store_topics_open(int dirfd)
{
	struct stat st;

	/* Its mode is its directory's, less the x bits (0640 in 0750). */
	if (fstat(dirfd, &st) == -1)
		return -1;
	return store_openat(dirfd, BUS_TOPICS, O_RDWR | O_CREAT | O_APPEND,
	    st.st_mode & 0666);
}

int
store_topics_append(int fd, const char *topic, size_t len)
{
	char line[BUS_TOPIC_MAX + 1];
	const char *why;
	ssize_t n;

	if (topic_check(topic, len, &why) == -1) {
		errno = EINVAL;
		return -1;
	}
	memcpy(line, topic, len);
	line[len] = '\n';
	if ((n = write(fd, line, len + 1)) == -1)
		return -1;
	if ((size_t)n != len + 1) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int
store_topics_read(int dirfd, int (*each)(const char *, size_t, void *),
    void *arg)
{
	char *line = NULL;
	const char *why;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int rc = 0, e;

	if ((f = store_fopen(dirfd, BUS_TOPICS)) == NULL)
		return -1;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (topic_check(line, len, &why) == -1)
			continue;
		if (each(line, len, arg) != 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = -1;
	e = errno;
	free(line);
	fclose(f);
	errno = e;
	return rc;
}

/* ----------------------------------------------------------- clock file */

int64_t
store_clock_read(int fd)
{
	uint8_t b[8];

	if (pread(fd, b, 8, 0) != 8)
		return 0;
	return (int64_t)le64_get(b);
}

int
store_clock_write(int fd, int64_t t)
{
	uint8_t b[8];
	ssize_t n;

	le64_put(b, (uint64_t)t);
	if ((n = pwrite(fd, b, 8, 0)) == -1)
		return -1;
	if (n != 8) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------- producer state file */

#define PRODUCERS_MAGIC	"bus-producers 2\n"
#define PRODUCERS_TMP	BUS_PRODUCERS ".tmp"

int
store_producers_write(int dirfd, uint64_t next,
    int (*each)(void *, struct store_producer *), void *arg)
{
	struct store_producer ent;
	FILE *f;
	int e;

	if ((f = store_tmp_open(dirfd, PRODUCERS_TMP)) == NULL)
		return -1;
	fprintf(f, "%snext %llu\n", PRODUCERS_MAGIC, (unsigned long long)next);
	while (each(arg, &ent) == 1)
		fprintf(f, "%016llx %llu %lld\n", (unsigned long long)ent.id,
		    (unsigned long long)ent.last_seq, (long long)ent.last_use);
	if (ferror(f)) {
		e = errno ? errno : EIO;
		fclose(f);
		unlinkat(dirfd, PRODUCERS_TMP, 0);
		errno = e;
		return -1;
	}
	return store_tmp_commit(f, dirfd, PRODUCERS_TMP, BUS_PRODUCERS, 0);
}

int
store_producers_read(int dirfd, uint64_t *next,
    int (*each)(uint64_t, uint64_t, int64_t, void *), void *arg)
{
	char line[128];
	unsigned long long id, seq, nx;
	long long used;
	FILE *f;
	int e;

	if ((f = store_fopen(dirfd, BUS_PRODUCERS)) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, PRODUCERS_MAGIC) != 0 ||
	    fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "next %llu", &nx) != 1) {
		fclose(f);
		errno = EBADMSG;
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%llx %llu %lld", &id, &seq, &used) != 3 ||
		    id == 0)
			continue;
		if (each(id, seq, used, arg) != 0) {
			e = errno;
			fclose(f);
			errno = e;
			return -1;
		}
	}
	fclose(f);
	*next = nx;
	return 0;
}

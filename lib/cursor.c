/*
 * Durable cursors, written the way checkpoint files must be: temp file,
 * fsync, rename, fsync of the directory.  See cursor.h for the format.
 */
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
#include "cursor.h"

static int	cursor_u64(const char *, uint64_t *);

/*
 * A decimal number of digits only: no sign, no blank, no junk after it,
 * no overflow.  0 or -1.
 */
static int
cursor_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || n > (UINT64_MAX - (*s - '0')) / 10)
			return -1;
		n = n * 10 + (*s - '0');
	}
	*v = n;
	return 0;
}

int
cursor_name_check(const char *name)
{
	const char *why;
	size_t n = strlen(name);

	if (n > CURSOR_NAME_MAX || topic_check(name, n, &why) == -1)
		return -1;
	return 0;
}

static int
cursor_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s/%s", dir, BUS_CURSORDIR, name);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
cursor_set(struct cursor *c, const char *part, uint64_t next)
{
	struct cursor_part *np;
	size_t i;

	for (i = 0; i < c->nparts; i++) {
		if (strcmp(c->parts[i].name, part) == 0) {
			c->parts[i].next = next;
			return 0;
		}
	}
	if ((np = reallocarray(c->parts, c->nparts + 1, sizeof(*np))) == NULL)
		return -1;
	c->parts = np;
	strlcpy(c->parts[c->nparts].name, part, sizeof(c->parts[0].name));
	c->parts[c->nparts].next = next;
	c->nparts++;
	return 0;
}

uint64_t
cursor_get(const struct cursor *c, const char *part, int *found)
{
	size_t i;

	for (i = 0; i < c->nparts; i++) {
		if (strcmp(c->parts[i].name, part) == 0) {
			*found = 1;
			return c->parts[i].next;
		}
	}
	*found = 0;
	return 0;
}

void
cursor_free(struct cursor *c)
{
	free(c->parts);
	c->parts = NULL;
	c->nparts = 0;
	c->recv_ns = 0;
}

int
cursor_load(const char *dir, const char *name, struct cursor *c, char *err,
    size_t errlen)
{
	char path[PATH_MAX], *line = NULL, *sp;
	uint64_t v;
	size_t cap = 0, lineno = 0, i;
	ssize_t len;
	const char *why;
	FILE *f;
	int fd, rc = 1;

	memset(c, 0, sizeof(*c));
	if (cursor_path(path, sizeof(path), dir, name) == -1) {
		snprintf(err, errlen, "cursor %s: %s", name, strerror(errno));
		return -1;
	}
	if ((fd = store_open_in(dir, path + strlen(dir) + 1, O_RDONLY, 0)) ==
	    -1 || (f = fdopen(fd, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, store_strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((len = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (lineno == 1) {
			if (strcmp(line, "bus-cursor 1") != 0) {
				snprintf(err, errlen, "%s: not a bus cursor "
				    "(first line '%.40s')", path, line);
				rc = -1;
				break;
			}
			continue;
		}
		if (lineno == 2) {
			if (strncmp(line, "recv ", 5) != 0 ||
			    cursor_u64(line + 5, &v) == -1 || v > INT64_MAX) {
				snprintf(err, errlen, "%s:2: expected 'recv NS' "
				    "(a number of nanoseconds)", path);
				rc = -1;
				break;
			}
			c->recv_ns = (int64_t)v;
			continue;
		}
		/* Exactly "PARTITION OFFSET": a bad number is no position. */
		if ((sp = strchr(line, ' ')) == NULL ||
		    topic_check(line, sp - line, &why) == -1 ||
		    cursor_u64(sp + 1, &v) == -1 || v > INT64_MAX) {
			snprintf(err, errlen, "%s:%zu: expected 'PARTITION "
			    "OFFSET' (an offset of digits only)", path, lineno);
			rc = -1;
			break;
		}
		*sp = '\0';
		for (i = 0; i < c->nparts; i++)
			if (strcmp(c->parts[i].name, line) == 0)
				break;
		if (i < c->nparts) {
			snprintf(err, errlen, "%s:%zu: partition %s a second "
			    "time", path, lineno, line);
			rc = -1;
			break;
		}
		if (cursor_set(c, line, v) == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			rc = -1;
			break;
		}
	}
	if (rc == 1 && lineno < 2) {
		snprintf(err, errlen, "%s: empty or truncated cursor file",
		    path);
		rc = -1;
	}
	free(line);
	fclose(f);
	if (rc == -1)
		cursor_free(c);
	return rc;
}

int
cursor_save(const char *dir, const char *name, const struct cursor *c)
{
	char tmp[PATH_MAX], cdir[PATH_MAX];
	size_t i;
	FILE *f;
	int dfd, n, rc, e;

	if (store_path(cdir, sizeof(cdir), dir, BUS_CURSORDIR) == -1)
		return -1;
	n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", name, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((dfd = store_open_in(dir, BUS_CURSORDIR, O_RDONLY | O_DIRECTORY,
	    0)) == -1)
		return -1;
	if ((f = store_tmp_open(dfd, tmp)) == NULL) {
		e = errno;
		close(dfd);
		errno = e;
		return -1;
	}
	fprintf(f, "bus-cursor 1\nrecv %lld\n", (long long)c->recv_ns);
	for (i = 0; i < c->nparts; i++)
		fprintf(f, "%s %llu\n", c->parts[i].name,
		    (unsigned long long)c->parts[i].next);
	rc = store_tmp_commit(f, dfd, tmp, name, 1);
	e = errno;
	close(dfd);
	errno = e;
	return rc;
}

/* A cursor file: a valid name, not a temp file, not a group directory. */
static int
is_cursor(int dirfd, const char *name, void *arg)
{
	struct stat st;

	return cursor_name_check(name) == 0 && strstr(name, ".tmp") == NULL &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode);
}

int
cursor_list(const char *dir, char ***out, size_t *n)
{
	return store_list_in(dir, BUS_CURSORDIR, is_cursor, out, n);
}

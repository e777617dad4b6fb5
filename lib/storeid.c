/*
 * DIR/id: the store's identity, 128 random bits written once as 32
 * lowercase hex digits and a newline (bus-segment(5)).  Bridges use it
 * to name what a store sends elsewhere (bus-nats's Nats-Msg-Id), so it
 * must never change once anyone may have read it: it is made in a
 * temporary file, synced, and linked into place with link(2), which
 * fails when another process got there first; then that one is read.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "errval.h"
#include "bus/store.h"

#define STOREID_FILE	"id"
#define STOREID_HEX	32		/* digits in the file */

static int	storeid_read(int, char *, struct bus_error *, const char *);
static int	storeid_create(int, struct bus_error *, const char *);

int
bus_store_id(const char *dir, char *id, size_t idlen, struct bus_error *e)
{
	const char *d = store_dir(dir);
	int dfd, rc;

	if (idlen < STOREID_HEX + 1)
		return errval_set(e, BUS_E_USAGE, EX_SOFTWARE, 0,
		    "store id: buffer of %zu bytes, need %d", idlen,
		    STOREID_HEX + 1);
	if ((dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return errval_set(e, errno == ENOENT ? BUS_E_NOINPUT :
		    BUS_E_SYSTEM, errno == ENOENT ? EX_NOINPUT : EX_IOERR, 0,
		    "%s: %s", d, strerror(errno));
	rc = storeid_read(dfd, id, e, d);
	if (rc == 0) {
		if (storeid_create(dfd, e, d) == 0)
			rc = storeid_read(dfd, id, e, d);
		else
			rc = -1;
		if (rc == 0)
			rc = errval_set(e, BUS_E_DATA, EX_DATAERR, 0,
			    "%s/%s: vanished after it was made", d,
			    STOREID_FILE);
	}
	close(dfd);
	return rc == 1 ? 0 : -1;
}

/* 1 with the id in id, 0 if there is none, -1 if it can't be read. */
static int
storeid_read(int dfd, char *id, struct bus_error *e, const char *d)
{
	char buf[STOREID_HEX + 2];
	ssize_t n;
	int fd, i;

	if ((fd = openat(dfd, STOREID_FILE, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		return errval_set(e, BUS_E_SYSTEM, EX_IOERR, 0, "%s/%s: %s",
		    d, STOREID_FILE, strerror(errno));
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n == -1)
		return errval_set(e, BUS_E_SYSTEM, EX_IOERR, 0, "%s/%s: %s",
		    d, STOREID_FILE, strerror(errno));
	for (i = 0; i < STOREID_HEX && i < n; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') ||
		    (buf[i] >= 'a' && buf[i] <= 'f')))
			break;
	if (n != STOREID_HEX + 1 || i != STOREID_HEX ||
	    buf[STOREID_HEX] != '\n')
		return errval_set(e, BUS_E_DATA, EX_DATAERR, 0,
		    "%s/%s: not a store id (32 hex digits and a newline); "
		    "it is never made again by itself, as messages sent "
		    "elsewhere may carry it", d, STOREID_FILE);
	memcpy(id, buf, STOREID_HEX);
	id[STOREID_HEX] = '\0';
	return 1;
}

/* Make DIR/id unless someone else just did; 0, or -1. */
static int
storeid_create(int dfd, struct bus_error *e, const char *d)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[STOREID_HEX / 2];
	char buf[STOREID_HEX + 1], tmp[64];
	int fd, i, ok;

	arc4random_buf(r, sizeof(r));
	for (i = 0; i < (int)sizeof(r); i++) {
		buf[2 * i] = hex[r[i] >> 4];
		buf[2 * i + 1] = hex[r[i] & 15];
	}
	buf[STOREID_HEX] = '\n';
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", STOREID_FILE, (long)getpid());
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1)
		return errval_set(e, BUS_E_SYSTEM, EX_CANTCREAT, 0,
		    "%s/%s: %s", d, tmp, strerror(errno));
	errno = 0;
	ok = write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) &&
	    fsync(fd) == 0;
	if (close(fd) == -1)
		ok = 0;
	if (!ok) {
		errval_set(e, BUS_E_SYSTEM, EX_IOERR, 0, "%s/%s: %s", d, tmp,
		    errno ? strerror(errno) : "short write");
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	/* link(2), not rename(2): the first id made is the one kept. */
	if (linkat(dfd, tmp, dfd, STOREID_FILE, 0) == -1 && errno != EEXIST) {
		errval_set(e, BUS_E_SYSTEM, EX_CANTCREAT, 0, "%s/%s: %s", d,
		    STOREID_FILE, strerror(errno));
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	unlinkat(dfd, tmp, 0);
	if (fsync(dfd) == -1)
		return errval_set(e, BUS_E_SYSTEM, EX_IOERR, 0, "%s: %s", d,
		    strerror(errno));
	return 0;
}

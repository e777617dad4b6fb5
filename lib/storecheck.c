/*
 * An index that lies, and the store clock: see storecheck.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "segscan.h"
#include "status.h"
#include "storecheck.h"

#define CLOCK_AHEAD	(3600LL * 1000000000LL)	/* "in the future": 1 h */

static int	clock_newest(const char *, int64_t *);

int
idx_check(int sfd, const struct bus_idx_ent *e, size_t n, char *why,
    size_t len)
{
	const size_t pick[3] = { 0, n / 2, n - 1 };
	struct segscan ss;
	struct bus_rec r;
	size_t i, k;
	int rc;

	for (i = 0; i < 3 && n > 0; i++) {
		k = pick[i];
		if (i > 0 && k == pick[i - 1])
			continue;
		if (segscan_init(&ss, sfd, e[k].pos) != 0)
			return -1;
		rc = segscan_next(&ss, &r);
		segscan_close(&ss);
		if (rc == SS_IOERR)
			return -1;
		if (rc != SS_REC) {
			snprintf(why, len, "entry %zu: no valid record at byte "
			    "offset %llu", k, (unsigned long long)e[k].pos);
			return 0;
		}
		if (r.offset != e[k].offset || r.recv_ns != e[k].recv_ns) {
			snprintf(why, len, "entry %zu: byte offset %llu holds "
			    "offset %llu, not %llu", k,
			    (unsigned long long)e[k].pos,
			    (unsigned long long)r.offset,
			    (unsigned long long)e[k].offset);
			return 0;
		}
	}
	return 1;
}

/* The newest receive time of the store's records; 0 if none. */
static int
clock_newest(const char *dir, int64_t *newest)
{
	struct bus_status st;
	char err[512];
	size_t i;

	*newest = 0;
	memset(&st, 0, sizeof(st));
	if (status_gather(dir, NULL, &st, err, sizeof(err)) == -1)
		return -1;
	for (i = 0; i < st.nparts; i++)
		if (st.parts[i].any && st.parts[i].last_recv > *newest)
			*newest = st.parts[i].last_recv;
	status_free(&st);
	return 0;
}

int
clock_check(const char *dir, int repair, FILE *out, unsigned long *problems,
    unsigned long *repaired)
{
	char rel[64], t[40];
	struct stat st;
	int64_t newest, v = 0;
	const char *bad = NULL;
	int fd, dfd;

	snprintf(rel, sizeof(rel), "%s/%s", BUS_LOGDIR, BUS_CLOCK);
	if (clock_newest(dir, &newest) == -1)
		return -1;
	if ((fd = store_open_in(dir, rel, O_RDONLY, 0)) == -1) {
		if (errno != ENOENT && errno != ELOOP)
			return -1;
		bad = errno == ENOENT ? "missing" : store_strerror(ELOOP);
	} else if (fstat(fd, &st) == -1) {
		close(fd);
		return -1;
	} else if (!S_ISREG(st.st_mode))
		bad = "not a regular file";
	else if (st.st_size != 8)
		bad = "not 8 bytes long";
	else if ((v = store_clock_read(fd)) < newest &&
	    (!store_busd_alive(dir, NULL) || (usleep(200000),
	    store_clock_read(fd)) < newest))
		/* A running busd publishes its clock at the end of a turn. */
		bad = "behind the newest record: readers would not show the "
		    "records after it";
	else if (v > now_ns() + CLOCK_AHEAD)
		bad = "in the future";
	if (fd != -1)
		close(fd);
	if (bad == NULL)
		return 0;
	(*problems)++;
	format_time(t, sizeof(t), newest);
	fprintf(out, "store clock %s/%s: %s (newest record %s)\n", dir, rel,
	    bad, t);
	if (!repair)
		return 0;
	/* The clock is derived: write it again from the records. */
	if ((dfd = store_open_in(dir, BUS_LOGDIR, O_RDONLY | O_DIRECTORY, 0))
	    == -1)
		return -1;
	if ((fstatat(dfd, BUS_CLOCK, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode) && unlinkat(dfd, BUS_CLOCK, 0) == -1) ||
	    (fd = store_openat(dfd, BUS_CLOCK, O_RDWR | O_CREAT | O_TRUNC,
	    0640)) == -1) {
		close(dfd);
		return -1;
	}
	close(dfd);
	if (store_clock_write(fd, newest) == -1 || fsync(fd) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	(*repaired)++;
	fprintf(out, "store clock %s/%s: written again (%s)\n", dir, rel, t);
	return 0;
}

/*
 * The segment scanner (segscan.h): from the header or any record
 * boundary, records larger than its buffer, the position and reason of
 * damage, a torn end, and resynchronising past damage.
 */
#include "unit.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "segscan.h"

#define T0	1700000000000000000LL
#define BASE	100
#define NREC	10
#define HUGE_AT	4			/* this record is 3 MiB */
#define HUGE	(3 * 1024 * 1024)

static char	*tmp;
static int	 dfd;
static char	 name[32];
static uint64_t	 at[NREC + 1];		/* file position of each record */

static size_t
plen(int i)
{
	return i == HUGE_AT ? HUGE : 10 + (size_t)i * 50;
}

/* Segment BASE with records BASE .. BASE + NREC - 1. */
static void
mkseg(void)
{
	uint8_t h[BUS_SEG_HDR], *b, *pl;
	struct bus_rec r;
	size_t n;
	int fd, i;

	store_seg_name(name, sizeof(name), BASE, "seg");
	fd = openat(dfd, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
	seg_hdr_encode(h, BASE, T0);
	if (write(fd, h, sizeof(h)) != sizeof(h))
		abort();
	at[0] = BUS_SEG_HDR;
	for (i = 0; i < NREC; i++) {
		pl = calloc(1, plen(i));
		memset(&r, 0, sizeof(r));
		r.offset = BASE + i;
		r.recv_ns = T0 + i;
		r.topic = "t";
		r.topic_len = 1;
		r.payload = pl;
		r.payload_len = plen(i);
		b = malloc(batch_one_size(&r));
		n = batch_one(b, &r);
		if (write(fd, b, n) != (ssize_t)n)
			abort();
		at[i + 1] = at[i] + n;
		free(b);
		free(pl);
	}
	close(fd);
}

/* Flip a byte of record i's payload. */
static void
damage(int i)
{
	uint8_t c;
	int fd = openat(dfd, name, O_RDWR);

	pread(fd, &c, 1, at[i + 1] - 3);
	c ^= 0x40;
	pwrite(fd, &c, 1, at[i + 1] - 3);
	close(fd);
}

static void
test_whole(void)
{
	struct segscan ss;
	struct bus_rec r;
	int i = 0, rc;

	mkseg();
	CHECK(segscan_open(&ss, dfd, name, BASE) == 0);
	CHECK_EQ_U64(ss.base, BASE);
	CHECK_EQ_I64(ss.created, T0);
	while ((rc = segscan_next(&ss, &r)) == SS_REC) {
		if (!CHECK_EQ_U64(r.offset, BASE + i) ||
		    !CHECK_EQ_U64(ss.rpos, at[i]) ||
		    !CHECK_EQ_U64(r.payload_len, plen(i)))
			break;
		i++;
	}
	CHECK_EQ_I64(rc, SS_END);
	CHECK_EQ_I64(i, NREC);
	CHECK_EQ_U64(segscan_at(&ss), at[NREC]);
	CHECK_EQ_U64(ss.size, at[NREC]);
	segscan_close(&ss);
}

static void
test_from_fd(void)
{
	struct segscan ss;
	struct bus_rec r;
	int fd;

	mkseg();
	fd = openat(dfd, name, O_RDONLY);
	/* From a record boundary, the huge one first. */
	CHECK(segscan_init(&ss, fd, at[HUGE_AT]) == 0);
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC);
	CHECK_EQ_U64(r.offset, BASE + HUGE_AT);
	CHECK_EQ_U64(ss.bat.size, at[HUGE_AT + 1] - at[HUGE_AT]);
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC);
	CHECK_EQ_U64(r.offset, BASE + HUGE_AT + 1);
	segscan_seek(&ss, at[1]);
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC);
	CHECK_EQ_U64(r.offset, BASE + 1);
	segscan_close(&ss);
	/* The fd was the caller's: still open. */
	CHECK(fcntl(fd, F_GETFD) != -1);
	close(fd);
}

static void
test_damage_resync(void)
{
	struct segscan ss;
	struct bus_rec r;
	uint64_t p;
	int fd, rc;

	mkseg();
	damage(2);
	damage(HUGE_AT + 2);
	fd = openat(dfd, name, O_RDONLY);
	CHECK(segscan_init(&ss, fd, BUS_SEG_HDR) == 0);
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC);
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC);
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_DAMAGED);
	CHECK_EQ_U64(segscan_at(&ss), at[2]);
	CHECK_STR_HAS(ss.why, "checksum");
	/* Damage stays damage until the caller moves on. */
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_DAMAGED);
	CHECK_EQ_I64(segscan_resync(&ss, at[2] + 1, BASE + 1), 1);
	CHECK_EQ_U64(segscan_at(&ss), at[3]);
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC);
	CHECK_EQ_U64(r.offset, BASE + 3);
	/* Past the huge record: it must be read whole to pass. */
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC);
	CHECK_EQ_U64(r.offset, BASE + HUGE_AT);
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC);
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_DAMAGED);
	p = segscan_at(&ss);
	CHECK_EQ_U64(p, at[HUGE_AT + 2]);
	/* Nothing with an offset above the last one: stays put. */
	CHECK_EQ_I64(segscan_resync(&ss, p + 1, BASE + NREC), 0);
	CHECK_EQ_U64(segscan_at(&ss), p);
	CHECK_EQ_I64(segscan_resync(&ss, p + 1, BASE + HUGE_AT + 1), 1);
	CHECK_EQ_U64(segscan_at(&ss), at[HUGE_AT + 3]);
	while ((rc = segscan_next(&ss, &r)) == SS_REC)
		;
	CHECK_EQ_I64(rc, SS_END);
	CHECK_EQ_U64(r.offset, BASE + NREC - 1);
	segscan_close(&ss);

	/* A resync that starts just before the huge record finds it. */
	CHECK_EQ_I64(seg_resync(fd, at[HUGE_AT - 1] + 1, BASE, &p), 1);
	CHECK_EQ_U64(p, at[HUGE_AT]);
	close(fd);
}

static void
test_torn(void)
{
	struct segscan ss;
	struct bus_rec r;
	int fd, rc, n = 0;

	mkseg();
	fd = openat(dfd, name, O_RDWR);
	CHECK(ftruncate(fd, at[NREC] - 5) == 0);
	CHECK(segscan_init(&ss, fd, BUS_SEG_HDR) == 0);
	while ((rc = segscan_next(&ss, &r)) == SS_REC)
		n++;
	CHECK_EQ_I64(rc, SS_END);
	CHECK_EQ_I64(n, NREC - 1);
	CHECK_EQ_U64(segscan_at(&ss), at[NREC - 1]);
	CHECK(segscan_at(&ss) < ss.size);
	/* The writer finishes the record: the scan goes on. */
	CHECK(ftruncate(fd, at[NREC - 1]) == 0);
	mkseg();
	CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC);
	CHECK_EQ_U64(r.offset, BASE + NREC - 1);
	segscan_close(&ss);
	close(fd);
	/* A header that does not match the name is refused. */
	CHECK_EQ_I64(segscan_open(&ss, dfd, name, BASE + 1), SS_DAMAGED);
	CHECK_STR_HAS(ss.why, "base offset");
}

int
main(void)
{
	dfd = unit_tmpdir_fd(&tmp);
	RUN(test_whole);
	RUN(test_from_fd);
	RUN(test_damage_resync);
	RUN(test_torn);
	close(dfd);
	unit_rmrf(tmp);
	return unit_done();
}

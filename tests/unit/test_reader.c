/*
 * The partition reader against hand-built partition directories:
 * reading, seeking, torn tails, damage, and following a growing log.
 *
 * Layout used by most tests: partition "p" with three segments,
 *   A  00000000000000000000.seg  offsets    0 ..   39  (sealed)
 *   B  00000000000000000040.seg  offsets   40 .. 1539  (sealed, > 256 KiB)
 *   C  00000000000000001540.seg  offsets 1540 .. 1569  (active)
 * Record offset o has receive time rtime(o) (strictly increasing), key
 * "k<o>", and a payload of plen(o) bytes derived from o.
 */
#include "unit.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"

#define T0	1700000000000000000LL
#define NA	40
#define NB	1500
#define NC	30
#define BASE_A	0
#define BASE_B	(BASE_A + NA)
#define BASE_C	(BASE_B + NB)
#define TOTAL	(BASE_C + NC)

static int64_t
rtime(uint64_t o)
{
	return T0 + (int64_t)o * 1000 + (int64_t)(o % 5) * 10;
}

static size_t
plen(uint64_t o)
{
	return 100 + (o * 53) % 400;
}

static void
fill_payload(uint8_t *p, uint64_t o, unsigned variant)
{
	size_t k, n = plen(o);

	for (k = 0; k < n; k++)
		p[k] = (uint8_t)(o * 7 + k * 13 + variant);
}

/* Encode record o into b (big enough); variant changes the payload. */
static size_t
mkrec(uint8_t *b, uint64_t o, unsigned variant)
{
	struct bus_rec r;
	uint8_t p[600];
	char key[32];

	memset(&r, 0, sizeof(r));
	snprintf(key, sizeof(key), "k%llu", (unsigned long long)o);
	fill_payload(p, o, variant);
	r.offset = o;
	r.recv_ns = rtime(o);
	r.send_ns = r.recv_ns - 3;
	r.event_ns = r.recv_ns - 7;
	r.producer = 99;
	r.seq = o + 1;
	r.topic = "p.topic";
	r.topic_len = 7;
	r.key = key;
	r.key_len = strlen(key);
	r.payload = p;
	r.payload_len = plen(o);
	return batch_one(b, &r);
}

/* Does r hold exactly record o (payload variant v)? */
static int
is_rec(const struct bus_rec *r, uint64_t o, unsigned v)
{
	uint8_t p[600], b[1024];
	char key[32];
	size_t n = mkrec(b, o, v);

	snprintf(key, sizeof(key), "k%llu", (unsigned long long)o);
	fill_payload(p, o, v);
	return r->offset == o && r->recv_ns == rtime(o) &&
	    r->send_ns == rtime(o) - 3 && r->event_ns == rtime(o) - 7 &&
	    r->producer == 99 && r->seq == o + 1 && r->flags == 0 &&
	    r->topic_len == 7 && memcmp(r->topic, "p.topic", 7) == 0 &&
	    r->key_len == strlen(key) && memcmp(r->key, key, r->key_len) == 0 &&
	    r->tags_len == 0 && r->payload_len == plen(o) &&
	    memcmp(r->payload, p, plen(o)) == 0 &&
	    r->size == n - BUS_BATCH_HDR - 7;
}

struct part {
	char		*dir;		/* the store */
	int		 pfd;		/* DIR/log/p */
	uint64_t	 pos[TOTAL + 64];	/* file position of each record */
};

static void
segname(char *n, uint64_t base)
{
	store_seg_name(n, 32, base, "seg");
}

/* Write segment base holding offsets first..first+count-1. */
static void
write_seg(struct part *pt, uint64_t base, uint64_t first, uint64_t count)
{
	uint8_t h[BUS_SEG_HDR], b[1024];
	uint64_t o, at = BUS_SEG_HDR;
	char n[32];
	size_t k;
	int fd;

	segname(n, base);
	fd = openat(pt->pfd, n, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	seg_hdr_encode(h, base, rtime(first));
	if (fd == -1 || write(fd, h, sizeof(h)) != sizeof(h))
		abort();
	for (o = first; o < first + count; o++) {
		k = mkrec(b, o, 0);
		if (write(fd, b, k) != (ssize_t)k)
			abort();
		pt->pos[o] = at;
		at += k;
	}
	pt->pos[o] = at;	/* the end; the next segment may overwrite it */
	close(fd);
}

static struct part *
mkpart(void)
{
	struct part *pt = calloc(1, sizeof(*pt));
	char p[4096];

	pt->dir = unit_tmpdir();
	if (store_mkdirs(pt->dir) == -1)
		abort();
	snprintf(p, sizeof(p), "%s/log/p", pt->dir);
	if (mkdir(p, 0755) == -1)
		abort();
	pt->pfd = open(p, O_RDONLY | O_DIRECTORY);
	write_seg(pt, BASE_A, BASE_A, NA);
	write_seg(pt, BASE_B, BASE_B, NB);
	write_seg(pt, BASE_C, BASE_C, NC);
	return pt;
}

static void
rmpart(struct part *pt)
{
	close(pt->pfd);
	unit_rmrf(pt->dir);
	free(pt);
}

/* Build .idx files for all three segments. */
static void
index_all(struct part *pt)
{
	static const uint64_t bases[] = { BASE_A, BASE_B, BASE_C };
	char n[32], x[32];
	uint64_t end;
	size_t i;
	int fd;

	for (i = 0; i < 3; i++) {
		segname(n, bases[i]);
		store_seg_name(x, sizeof(x), bases[i], "idx");
		fd = openat(pt->pfd, n, O_RDONLY);
		if (idx_rebuild(pt->pfd, fd, x, bases[i], &end, 0) == -1)
			abort();
		close(fd);
	}
}

static void
seg_truncate(struct part *pt, uint64_t base, uint64_t len)
{
	char n[32];
	int fd;

	segname(n, base);
	fd = openat(pt->pfd, n, O_WRONLY);
	if (fd == -1 || ftruncate(fd, len) == -1)
		abort();
	close(fd);
}

static void
seg_pwrite(struct part *pt, uint64_t base, const void *p, size_t n,
    uint64_t at)
{
	char name[32];
	int fd;

	segname(name, base);
	fd = openat(pt->pfd, name, O_WRONLY);
	if (fd == -1 || pwrite(fd, p, n, at) != (ssize_t)n)
		abort();
	close(fd);
}

static void
seg_flip(struct part *pt, uint64_t base, uint64_t at, uint8_t mask)
{
	char name[32];
	uint8_t c;
	int fd;

	segname(name, base);
	fd = openat(pt->pfd, name, O_RDWR);
	if (fd == -1 || pread(fd, &c, 1, at) != 1)
		abort();
	c ^= mask;
	if (pwrite(fd, &c, 1, at) != 1)
		abort();
	close(fd);
}

/*
 * Read records while PR_REC, expecting offsets *next, *next + 1, ... with
 * their exact contents; at most max.  Returns the number read, and the
 * result that stopped it in *last.  Wrong records are counted in *bad.
 */
static uint64_t
drain(struct preader *pr, uint64_t *next, uint64_t max, int *last,
    unsigned *bad)
{
	struct bus_rec r;
	uint64_t n = 0;
	int rc;

	while (n < max && (rc = preader_peek(pr, &r)) == PR_REC) {
		if (!is_rec(&r, *next, 0)) {
			if ((*bad)++ < 3)
				fprintf(stderr, "  wanted record %llu, got "
				    "offset %llu (%zu bytes)\n",
				    (unsigned long long)*next,
				    (unsigned long long)r.offset, r.size);
			*next = r.offset;
		}
		preader_advance(pr);
		(*next)++;
		n++;
	}
	*last = n < max ? rc : PR_REC;
	return n;
}

static void
test_read_all(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	struct bus_rec r, r2;
	uint64_t next = 0, end = 0;
	unsigned bad = 0;
	int last;

	pr = preader_open(pt->dir, "p");
	if (!CHECK(pr != NULL)) {
		rmpart(pt);
		return;
	}
	CHECK(strcmp(preader_name(pr), "p") == 0);
	CHECK(preader_dirfd(pr) >= 0);
	/* peek does not consume; advance without a peek does nothing */
	preader_advance(pr);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_REC);
	CHECK_EQ_I64(preader_peek(pr, &r2), PR_REC);
	CHECK_EQ_U64(r.offset, 0);
	CHECK_EQ_U64(r2.offset, 0);
	CHECK(is_rec(&r2, 0, 0));
	CHECK_EQ_U64(drain(pr, &next, UINT64_MAX, &last, &bad), TOTAL);
	CHECK_EQ_I64(last, PR_WAIT);
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_WAIT);	/* and stays there */
	CHECK_EQ_I64(preader_end_offset(pr, &end), 0);
	CHECK_EQ_U64(end, TOTAL);
	CHECK_EQ_U64(preader_gap(pr), 0);
	preader_close(pr);

	CHECK(preader_open(pt->dir, "nosuch") == NULL);
	rmpart(pt);
}

/* Seek to offset o and check the records from o on. */
static void
seek_off_is(struct preader *pr, uint64_t o, uint64_t want_first, int line)
{
	uint64_t next = want_first, n;
	unsigned bad = 0;
	int last;

	if (!unit_report(preader_seek_offset(pr, o) == 0, __FILE__, line)) {
		unit_more("seek_offset(%llu) failed\n", (unsigned long long)o);
		return;
	}
	n = drain(pr, &next, 50, &last, &bad);
	if (!unit_report(bad == 0 && (n == 50 || (last == PR_WAIT &&
	    next == TOTAL)), __FILE__, line))
		unit_more("seek_offset(%llu): %llu records, %u wrong, "
		    "stopped %d at %llu; want from %llu\n",
		    (unsigned long long)o, (unsigned long long)n, bad, last,
		    (unsigned long long)next, (unsigned long long)want_first);
}

#define SEEK_OFF(pr, o, w)	seek_off_is(pr, o, w, __LINE__)

static void
seeks_by_offset(struct preader *pr)
{
	struct bus_rec r;
	uint64_t o;

	SEEK_OFF(pr, 0, 0);
	SEEK_OFF(pr, 17, 17);
	SEEK_OFF(pr, BASE_B - 1, BASE_B - 1);	/* last of A, then B */
	SEEK_OFF(pr, BASE_B, BASE_B);		/* a segment boundary */
	SEEK_OFF(pr, 777, 777);			/* the middle of B */
	SEEK_OFF(pr, BASE_C - 1, BASE_C - 1);
	SEEK_OFF(pr, BASE_C, BASE_C);
	SEEK_OFF(pr, TOTAL - 1, TOTAL - 1);
	for (o = 0; o < TOTAL; o += 97)
		SEEK_OFF(pr, o, o);
	/* past the end: nothing, for now */
	CHECK_EQ_I64(preader_seek_offset(pr, TOTAL), 0);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_WAIT);
	CHECK_EQ_I64(preader_seek_offset(pr, TOTAL + 1000), 0);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_WAIT);
	CHECK_EQ_I64(preader_seek_end(pr), 0);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_WAIT);
	/* and back again */
	SEEK_OFF(pr, 3, 3);
}

static void
test_seek_offset(void)
{
	struct part *pt = mkpart();
	struct preader *pr = preader_open(pt->dir, "p");

	if (!CHECK(pr != NULL)) {
		rmpart(pt);
		return;
	}
	seeks_by_offset(pr);		/* by scanning */
	index_all(pt);
	seeks_by_offset(pr);		/* through the indexes */
	preader_close(pr);
	rmpart(pt);
}

/* seek_time(t): the first record returned is the first with recv >= t. */
static void
seek_time_is(struct preader *pr, int64_t t, uint64_t want, int line)
{
	struct bus_rec r;
	int rc;

	if (!unit_report(preader_seek_time(pr, t) == 0, __FILE__, line)) {
		unit_more("seek_time(%lld) failed\n", (long long)t);
		return;
	}
	rc = preader_peek(pr, &r);
	if (want == TOTAL) {
		if (!unit_report(rc == PR_WAIT, __FILE__, line))
			unit_more("seek_time(%lld): %d, offset %llu; want "
			    "PR_WAIT\n", (long long)t, rc, rc == PR_REC ?
			    (unsigned long long)r.offset : 0ULL);
		return;
	}
	if (!unit_report(rc == PR_REC && is_rec(&r, want, 0), __FILE__, line))
		unit_more("seek_time(T0%+lld): %d, offset %llu; want %llu\n",
		    (long long)(t - T0), rc, rc == PR_REC ?
		    (unsigned long long)r.offset : 0ULL,
		    (unsigned long long)want);
}

#define SEEK_TIME(pr, t, w)	seek_time_is(pr, t, w, __LINE__)

static void
seeks_by_time(struct preader *pr)
{
	uint64_t o;
	unsigned bad = 0;
	uint64_t next;
	int last;

	SEEK_TIME(pr, INT64_MIN, 0);
	SEEK_TIME(pr, 0, 0);
	SEEK_TIME(pr, rtime(0) - 1, 0);
	SEEK_TIME(pr, rtime(0), 0);
	SEEK_TIME(pr, rtime(0) + 1, 1);
	SEEK_TIME(pr, rtime(BASE_B - 1), BASE_B - 1);
	SEEK_TIME(pr, rtime(BASE_B - 1) + 1, BASE_B);	/* between segments */
	SEEK_TIME(pr, rtime(BASE_B), BASE_B);
	SEEK_TIME(pr, rtime(BASE_C) - 1, BASE_C);
	SEEK_TIME(pr, rtime(TOTAL - 1), TOTAL - 1);
	SEEK_TIME(pr, rtime(TOTAL - 1) + 1, TOTAL);	/* after the last */
	SEEK_TIME(pr, INT64_MAX, TOTAL);
	for (o = 1; o < TOTAL; o += 31) {
		SEEK_TIME(pr, rtime(o), o);		/* exact */
		SEEK_TIME(pr, rtime(o) - 1, o);		/* just before */
		SEEK_TIME(pr, rtime(o - 1) + 1, o);	/* just after the one before */
	}
	/* and the reading goes on in order from there */
	preader_seek_time(pr, rtime(500) - 500);
	next = 500;
	drain(pr, &next, UINT64_MAX, &last, &bad);
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(next, TOTAL);
	CHECK_EQ_I64(last, PR_WAIT);
}

static void
test_seek_time(void)
{
	struct part *pt = mkpart();
	struct preader *pr = preader_open(pt->dir, "p");

	if (!CHECK(pr != NULL)) {
		rmpart(pt);
		return;
	}
	seeks_by_time(pr);
	index_all(pt);
	seeks_by_time(pr);
	preader_close(pr);
	rmpart(pt);
}

/*
 * A damaged index must cost a scan, never a record: one bit flipped in an
 * entry's receive time (the entries still strictly increasing) must not
 * make seek_time skip the records received before the real time.
 */
static void
test_seek_time_damaged_index(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	struct bus_idx_ent *e, x;
	uint8_t raw[BUS_IDX_ENT];
	char n[32];
	size_t cnt, k;
	int64_t lie = 0, t;
	int bit, fd;

	index_all(pt);
	store_seg_name(n, sizeof(n), BASE_B, "idx");
	e = idx_load(pt->pfd, n, BASE_B, &cnt);
	if (!CHECK(e != NULL && cnt >= 3)) {
		rmpart(pt);
		return;
	}
	/* entry 2: clear a set bit worth less than the gap to entry 1 */
	k = 2;
	for (bit = 30; bit >= 12; bit--)
		if ((e[k].recv_ns >> bit & 1) &&
		    e[k].recv_ns - (1LL << bit) > e[k - 1].recv_ns + 4000) {
			lie = e[k].recv_ns - (1LL << bit);
			break;
		}
	if (!CHECK(lie != 0)) {
		free(e);
		rmpart(pt);
		return;
	}
	x = e[k];
	x.recv_ns = lie;
	idx_ent_encode(raw, &x);
	fd = openat(pt->pfd, n, O_WRONLY);
	if (pwrite(fd, raw, sizeof(raw), BUS_IDX_HDR + k * BUS_IDX_ENT) !=
	    sizeof(raw))
		abort();
	close(fd);
	free(e);
	e = idx_load(pt->pfd, n, BASE_B, &cnt);	/* it still loads whole */
	CHECK(e != NULL && cnt >= 3 && e[k].recv_ns == lie);
	free(e);

	pr = preader_open(pt->dir, "p");
	/* a time between the false and the true time of entry 2 */
	t = lie + 2000;
	for (k = BASE_B; k < TOTAL && rtime(k) < t; k++)
		;
	SEEK_TIME(pr, t, k);
	preader_close(pr);
	rmpart(pt);
}

/* Offset seeks survive any single-bit damage to an index entry. */
static void
test_seek_offset_damaged_index(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	struct bus_idx_ent *e;
	uint8_t good[BUS_IDX_ENT], bad[BUS_IDX_ENT];
	uint64_t o[5];
	char n[32];
	size_t cnt, bit, j;
	int fd;

	index_all(pt);
	store_seg_name(n, sizeof(n), BASE_B, "idx");
	e = idx_load(pt->pfd, n, BASE_B, &cnt);
	if (!CHECK(e != NULL && cnt >= 4)) {
		rmpart(pt);
		return;
	}
	o[0] = e[1].offset + 1;
	o[1] = e[2].offset - 1;
	o[2] = e[2].offset;
	o[3] = e[2].offset + 1;
	o[4] = e[3].offset - 1;
	idx_ent_encode(good, &e[2]);
	free(e);
	pr = preader_open(pt->dir, "p");
	fd = openat(pt->pfd, n, O_WRONLY);
	for (bit = 0; bit < BUS_IDX_ENT * 8; bit++) {
		memcpy(bad, good, sizeof(bad));
		bad[bit / 8] ^= 1u << (bit % 8);
		if (pwrite(fd, bad, sizeof(bad), BUS_IDX_HDR + 2 * BUS_IDX_ENT) !=
		    sizeof(bad))
			abort();
		for (j = 0; j < 5; j++)
			SEEK_OFF(pr, o[j], o[j]);
	}
	close(fd);
	preader_close(pr);
	rmpart(pt);
}

/*
 * seek_time picks the segment to start in from the receive time of each
 * segment's first record.  If that record is damaged (one bit of its
 * receive time, so its CRC fails), the choice must not skip the whole
 * records of the segment before it.
 */
static void
test_seek_time_damaged_first_record(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	struct bus_rec r;
	int64_t recv = rtime(BASE_C), lie = 0;
	uint64_t next, skipped, want;
	unsigned bad = 0;
	int b, bit = 0, rc, last;

	/* clear the largest set bit that leaves C's first time inside B */
	for (b = 10; b < 40; b++)
		if ((recv >> b & 1) && recv - (1LL << b) > rtime(BASE_B + 10)) {
			lie = recv - (1LL << b);
			bit = b;
		}
	if (!CHECK(lie != 0)) {
		rmpart(pt);
		return;
	}
	for (want = BASE_B; rtime(want) <= lie; want++)
		;
	CHECK(want < BASE_C - 5);
	seg_flip(pt, BASE_C, pt->pos[BASE_C] + 24 + bit / 8, 1u << (bit % 8));
	pr = preader_open(pt->dir, "p");
	CHECK_EQ_I64(preader_seek_time(pr, rtime(want)), 0);
	rc = preader_peek(pr, &r);
	if (!CHECK(rc == PR_REC && is_rec(&r, want, 0)))
		fprintf(stderr, "  got %d (offset %llu %s); want record %llu\n",
		    rc, rc == PR_REC ? (unsigned long long)r.offset : 0ULL,
		    rc == PR_CORRUPT ? preader_error(pr) : "",
		    (unsigned long long)want);
	/* every record from there on is delivered, or reported damaged */
	next = want;
	for (;;) {
		drain(pr, &next, UINT64_MAX, &last, &bad);
		if (last != PR_CORRUPT || preader_skip_corrupt(pr, &skipped))
			break;
		next++;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(next, TOTAL);
	preader_close(pr);
	rmpart(pt);
}

static void
test_end_offset(void)
{
	struct part *pt = mkpart();
	struct preader *pr = preader_open(pt->dir, "p");
	uint64_t end = 0;
	char p[4096];
	struct bus_rec r;
	int fd;

	CHECK_EQ_I64(preader_end_offset(pr, &end), 0);
	CHECK_EQ_U64(end, TOTAL);
	index_all(pt);
	end = 0;
	CHECK_EQ_I64(preader_end_offset(pr, &end), 0);
	CHECK_EQ_U64(end, TOTAL);
	/* the reader's own position is not disturbed */
	CHECK_EQ_I64(preader_seek_offset(pr, 5), 0);
	CHECK_EQ_I64(preader_end_offset(pr, &end), 0);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_REC);
	CHECK_EQ_U64(r.offset, 5);
	preader_close(pr);

	/* a new, empty, newest segment: its base is the end */
	write_seg(pt, TOTAL, TOTAL, 0);
	pr = preader_open(pt->dir, "p");
	CHECK_EQ_I64(preader_end_offset(pr, &end), 0);
	CHECK_EQ_U64(end, TOTAL);
	preader_close(pr);

	/* an empty partition */
	snprintf(p, sizeof(p), "%s/log/empty", pt->dir);
	mkdir(p, 0755);
	pr = preader_open(pt->dir, "empty");
	if (CHECK(pr != NULL)) {
		end = 99;
		CHECK_EQ_I64(preader_end_offset(pr, &end), 0);
		CHECK_EQ_U64(end, 0);
		CHECK_EQ_I64(preader_peek(pr, &r), PR_WAIT);
		/* a segment appears: the same reader finds it */
		fd = pt->pfd;
		pt->pfd = open(p, O_RDONLY | O_DIRECTORY);
		write_seg(pt, 0, 0, 3);
		close(pt->pfd);
		pt->pfd = fd;
		CHECK_EQ_I64(preader_peek(pr, &r), PR_REC);
		CHECK(is_rec(&r, 0, 0));
		CHECK_EQ_I64(preader_end_offset(pr, &end), 0);
		CHECK_EQ_U64(end, 3);
		preader_close(pr);
	}
	rmpart(pt);
}

/*
 * Every torn length of the newest record: the records before it, then
 * PR_WAIT; never a torn or corrupt record.
 */
static void
test_torn_tail(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	uint64_t start = pt->pos[TOTAL - 1], stop = pt->pos[TOTAL], L, next, n;
	uint64_t end;
	unsigned bad = 0, wrong_count = 0, wrong_end = 0, wrong_rc = 0;
	unsigned wrong_resume = 0;
	uint8_t b[1024];
	struct bus_rec r;
	size_t k;
	int last;

	k = mkrec(b, TOTAL - 1, 0);
	CHECK_EQ_U64(k, stop - start);
	for (L = start; L < stop; L++) {
		seg_truncate(pt, BASE_C, L);
		pr = preader_open(pt->dir, "p");
		next = 0;
		n = drain(pr, &next, UINT64_MAX, &last, &bad);
		if (n != TOTAL - 1)
			wrong_count++;
		if (last != PR_WAIT || preader_peek(pr, &r) != PR_WAIT)
			wrong_rc++;
		if (preader_end_offset(pr, &end) != 0 || end != TOTAL - 1)
			wrong_end++;
		/* the rest of the record arrives: it is read whole */
		seg_pwrite(pt, BASE_C, b + (L - start), k - (L - start), L);
		if (preader_peek(pr, &r) != PR_REC || !is_rec(&r, TOTAL - 1, 0))
			wrong_resume++;
		else {
			preader_advance(pr);
			if (preader_peek(pr, &r) != PR_WAIT)
				wrong_resume++;
		}
		preader_close(pr);
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(wrong_count, 0);
	CHECK_EQ_U64(wrong_rc, 0);
	CHECK_EQ_U64(wrong_end, 0);
	CHECK_EQ_U64(wrong_resume, 0);
	rmpart(pt);
}

/*
 * busd restarts after a torn write: it cuts the torn tail and writes a
 * different record at the same place.  A reader waiting on the torn bytes
 * must return the new record, never a mix of old and new bytes.
 */
static void
test_torn_tail_rewritten(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	uint64_t start = pt->pos[TOTAL - 1], L, next;
	unsigned bad = 0, wrong = 0;
	uint8_t b[1024];
	struct bus_rec r;
	size_t k;
	int last;

	for (L = start + 1; L < pt->pos[TOTAL]; L += 3) {
		seg_truncate(pt, BASE_C, L);
		pr = preader_open(pt->dir, "p");
		next = BASE_C;
		if (preader_seek_offset(pr, BASE_C) != 0 ||
		    drain(pr, &next, UINT64_MAX, &last, &bad) != NC - 1 ||
		    last != PR_WAIT)
			wrong++;
		seg_truncate(pt, BASE_C, start);
		k = mkrec(b, TOTAL - 1, (unsigned)L);	/* other payload */
		seg_pwrite(pt, BASE_C, b, k, start);
		if (preader_peek(pr, &r) != PR_REC ||
		    !is_rec(&r, TOTAL - 1, (unsigned)L))
			wrong++;
		preader_close(pr);
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(wrong, 0);
	rmpart(pt);
}

/* Space allocated but never written (zeros) at the end: wait, too. */
static void
test_zero_tail(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	uint8_t z[500], b[1024];
	uint64_t next = 0;
	unsigned bad = 0;
	struct bus_rec r;
	size_t k;
	int last;

	memset(z, 0, sizeof(z));
	seg_pwrite(pt, BASE_C, z, sizeof(z), pt->pos[TOTAL]);
	pr = preader_open(pt->dir, "p");
	CHECK_EQ_U64(drain(pr, &next, UINT64_MAX, &last, &bad), TOTAL);
	CHECK_EQ_I64(last, PR_WAIT);
	CHECK_EQ_U64(bad, 0);
	/* the writer fills it in */
	k = mkrec(b, TOTAL, 0);
	seg_pwrite(pt, BASE_C, b, k, pt->pos[TOTAL]);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_REC);
	CHECK(is_rec(&r, TOTAL, 0));
	preader_advance(pr);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_WAIT);
	preader_close(pr);
	rmpart(pt);
}

static void
check_error(struct preader *pr, uint64_t base, uint64_t at, int line)
{
	char want[64], n[32];
	const char *e = preader_error(pr);

	segname(n, base);
	snprintf(want, sizeof(want), "byte offset %llu", (unsigned long long)at);
	if (!unit_report(e != NULL && strstr(e, "partition p") != NULL &&
	    strstr(e, n) != NULL && strstr(e, want) != NULL, __FILE__, line))
		unit_more("preader_error: \"%s\"; want partition p, %s, %s\n",
		    e ? e : "(null)", n, want);
}

/*
 * Damage at record bad of a sealed segment: records before it, then
 * PR_CORRUPT naming the place, then after a skip the records after it.
 */
static void
corrupt_case(struct part *pt, uint64_t base, uint64_t badrec, uint64_t skip,
    int line)
{
	struct preader *pr = preader_open(pt->dir, "p");
	struct bus_rec r;
	uint64_t next = 0, skipped = 0;
	unsigned bad = 0;
	int last;

	drain(pr, &next, UINT64_MAX, &last, &bad);
	if (!unit_report(next == badrec && last == PR_CORRUPT && bad == 0,
	    __FILE__, line)) {
		unit_more("stopped at %llu with %d (%u wrong); want %llu, "
		    "PR_CORRUPT\n", (unsigned long long)next, last, bad,
		    (unsigned long long)badrec);
		preader_close(pr);
		return;
	}
	check_error(pr, base, pt->pos[badrec], line);
	/* it stays corrupt until skipped */
	unit_report(preader_peek(pr, &r) == PR_CORRUPT, __FILE__, line);
	unit_report(preader_skip_corrupt(pr, &skipped) == 0, __FILE__, line);
	if (skip != UINT64_MAX && !unit_report(skipped == skip, __FILE__, line))
		unit_more("skipped %llu bytes; want %llu\n",
		    (unsigned long long)skipped, (unsigned long long)skip);
	next = badrec + 1;
	drain(pr, &next, UINT64_MAX, &last, &bad);
	if (!unit_report(next == TOTAL && last == PR_WAIT && bad == 0,
	    __FILE__, line))
		unit_more("after the skip: stopped at %llu with %d (%u wrong)\n",
		    (unsigned long long)next, last, bad);
	preader_close(pr);
}

static void
test_corrupt_sealed(void)
{
	struct part *pt;

	/* a payload bit in the middle of A */
	pt = mkpart();
	seg_flip(pt, BASE_A, pt->pos[20] + 100, 0x08);
	corrupt_case(pt, BASE_A, 20, pt->pos[21] - pt->pos[20], __LINE__);
	rmpart(pt);

	/* a header field of a record deep in B (past the first buffer) */
	pt = mkpart();
	seg_flip(pt, BASE_B, pt->pos[1200] + 20, 0x01);
	corrupt_case(pt, BASE_B, 1200, pt->pos[1201] - pt->pos[1200],
	    __LINE__);
	rmpart(pt);

	/* the CRC field of the first record of B */
	pt = mkpart();
	seg_flip(pt, BASE_B, pt->pos[BASE_B] + 5, 0x40);
	corrupt_case(pt, BASE_B, BASE_B, pt->pos[BASE_B + 1] - pt->pos[BASE_B],
	    __LINE__);
	rmpart(pt);

	/* the length field: the record now claims to run far past its end */
	pt = mkpart();
	seg_flip(pt, BASE_A, pt->pos[25] + 2, 0x01);	/* +64 KiB */
	corrupt_case(pt, BASE_A, 25, pt->pos[26] - pt->pos[25], __LINE__);
	rmpart(pt);

	/* the last record of a sealed segment */
	pt = mkpart();
	seg_flip(pt, BASE_A, pt->pos[NA - 1] + 80, 0x80);
	corrupt_case(pt, BASE_A, NA - 1, UINT64_MAX, __LINE__);
	rmpart(pt);

	/* damage in the newest segment with whole records after it */
	pt = mkpart();
	seg_flip(pt, BASE_C, pt->pos[BASE_C + 10] + 90, 0x02);
	corrupt_case(pt, BASE_C, BASE_C + 10,
	    pt->pos[BASE_C + 11] - pt->pos[BASE_C + 10], __LINE__);
	rmpart(pt);
}

/* A sealed segment that ends in half a record. */
static void
test_truncated_sealed(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	struct bus_rec r;
	uint64_t next = 0, skipped = 99;
	unsigned bad = 0;
	int last;

	seg_truncate(pt, BASE_A, pt->pos[NA - 1] + 30);
	pr = preader_open(pt->dir, "p");
	drain(pr, &next, UINT64_MAX, &last, &bad);
	CHECK_EQ_U64(next, NA - 1);
	CHECK_EQ_I64(last, PR_CORRUPT);
	check_error(pr, BASE_A, pt->pos[NA - 1], __LINE__);
	CHECK_EQ_I64(preader_skip_corrupt(pr, &skipped), 0);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_REC);
	CHECK(is_rec(&r, BASE_B, 0));
	next = BASE_B;
	drain(pr, &next, UINT64_MAX, &last, &bad);
	CHECK_EQ_U64(next, TOTAL);
	CHECK_EQ_U64(bad, 0);
	preader_close(pr);
	rmpart(pt);
}

/* A damaged segment header: reported, and skipping goes to the next. */
static void
test_corrupt_header(void)
{
	struct part *pt;
	struct preader *pr;
	struct bus_rec r;
	uint64_t next, skipped;
	unsigned bad = 0;
	int last;

	/* in the middle segment */
	pt = mkpart();
	seg_flip(pt, BASE_B, 9, 0x01);		/* the base offset */
	pr = preader_open(pt->dir, "p");
	next = 0;
	drain(pr, &next, UINT64_MAX, &last, &bad);
	CHECK_EQ_U64(next, BASE_B);
	CHECK_EQ_I64(last, PR_CORRUPT);
	check_error(pr, BASE_B, 0, __LINE__);
	CHECK_EQ_I64(preader_skip_corrupt(pr, &skipped), 0);
	next = BASE_C;
	drain(pr, &next, UINT64_MAX, &last, &bad);
	CHECK_EQ_U64(next, TOTAL);
	CHECK_EQ_I64(last, PR_WAIT);
	CHECK_EQ_U64(bad, 0);
	preader_close(pr);

	/*
	 * Like a damaged record, a damaged header stays reported until it
	 * is skipped: peeking again must not quietly pass over the 1500
	 * records of segment B.
	 */
	pr = preader_open(pt->dir, "p");
	next = 0;
	drain(pr, &next, UINT64_MAX, &last, &bad);
	CHECK_EQ_I64(last, PR_CORRUPT);
	if (!CHECK_EQ_I64(preader_peek(pr, &r), PR_CORRUPT))
		fprintf(stderr, "  peeking again returned offset %llu\n",
		    (unsigned long long)r.offset);
	preader_close(pr);
	rmpart(pt);

	/* in the first segment */
	pt = mkpart();
	seg_flip(pt, BASE_A, 0, 0x20);		/* the magic */
	pr = preader_open(pt->dir, "p");
	next = 0;
	drain(pr, &next, UINT64_MAX, &last, &bad);
	CHECK_EQ_U64(next, 0);
	CHECK_EQ_I64(last, PR_CORRUPT);
	check_error(pr, BASE_A, 0, __LINE__);
	if (CHECK_EQ_I64(preader_skip_corrupt(pr, &skipped), 0)) {
		next = BASE_B;
		drain(pr, &next, UINT64_MAX, &last, &bad);
		CHECK_EQ_U64(next, TOTAL);
		CHECK_EQ_I64(last, PR_WAIT);
		CHECK_EQ_U64(bad, 0);
	}
	preader_close(pr);
	rmpart(pt);
}

/*
 * skip_corrupt over a large damaged stretch (2 MiB of random bytes in the
 * middle of sealed segment A) must find the next record promptly: a
 * linear scan takes milliseconds.  Run in a child with a 1 s alarm.
 */
static void
test_skip_large_damage(void)
{
	struct part *pt = mkpart();
	size_t glen = 2 * 1024 * 1024, i;
	uint8_t *g = malloc(glen), b[1024];
	uint64_t o, at, skipped;
	uint32_t x = 7;
	int status = 0;
	pid_t pid;
	char n[32];
	int fd;

	/* A: records 0..19, garbage, records 20..39 */
	for (i = 0; i < glen; i++)
		g[i] = (x = x * 1103515245u + 12345u) >> 16;
	memset(g, 0xff, 4);		/* an impossible length up front */
	segname(n, BASE_A);
	fd = openat(pt->pfd, n, O_WRONLY | O_TRUNC);
	seg_hdr_encode(b, BASE_A, T0);
	if (write(fd, b, BUS_SEG_HDR) != BUS_SEG_HDR)
		abort();
	at = BUS_SEG_HDR;
	for (o = 0; o < NA; o++) {
		size_t k = mkrec(b, o, 0);

		if (o == 20) {
			if (write(fd, g, glen) != (ssize_t)glen)
				abort();
			at += glen;
		}
		if (write(fd, b, k) != (ssize_t)k)
			abort();
		pt->pos[o] = at;
		at += k;
	}
	close(fd);
	free(g);

	fflush(stderr);
	if ((pid = fork()) == 0) {
		struct preader *pr = preader_open(pt->dir, "p");
		uint64_t next = 0;
		unsigned bad = 0;
		struct bus_rec r;
		int last;

		alarm(1);
		drain(pr, &next, UINT64_MAX, &last, &bad);
		if (next != 20 || last != PR_CORRUPT || bad)
			_exit(3);
		if (preader_skip_corrupt(pr, &skipped) != 0)
			_exit(4);
		if (preader_peek(pr, &r) != PR_REC || !is_rec(&r, 20, 0))
			_exit(5);
		drain(pr, &next, UINT64_MAX, &last, &bad);
		_exit(next == TOTAL && last == PR_WAIT && bad == 0 ? 0 : 6);
	}
	waitpid(pid, &status, 0);
	if (!CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "  killed by signal %d (SIGALRM: "
			    "skip_corrupt took over 1 s)\n", WTERMSIG(status));
		else
			fprintf(stderr, "  child exit %d\n",
			    WEXITSTATUS(status));
	}
	rmpart(pt);
}

static void
append(struct part *pt, uint64_t base, uint64_t o)
{
	uint8_t b[1024];
	size_t k = mkrec(b, o, 0);

	seg_pwrite(pt, base, b, k, pt->pos[o]);
	pt->pos[o + 1] = pt->pos[o] + k;
}

/* After PR_WAIT, what the writer appends becomes readable. */
static void
test_follow(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	uint64_t next = 0, o, base2, end;
	uint8_t b[1024], h[BUS_SEG_HDR];
	struct bus_rec r;
	unsigned bad = 0;
	char n[32];
	size_t k;
	int last, fd;

	pr = preader_open(pt->dir, "p");
	CHECK_EQ_U64(drain(pr, &next, UINT64_MAX, &last, &bad), TOTAL);
	CHECK_EQ_I64(last, PR_WAIT);
	for (o = TOTAL; o < TOTAL + 5; o++)
		append(pt, BASE_C, o);
	CHECK_EQ_U64(drain(pr, &next, UINT64_MAX, &last, &bad), 5);
	CHECK_EQ_I64(last, PR_WAIT);

	/* half a record, then the rest */
	o = TOTAL + 5;
	k = mkrec(b, o, 0);
	seg_pwrite(pt, BASE_C, b, k / 2, pt->pos[o]);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_WAIT);
	seg_pwrite(pt, BASE_C, b + k / 2, k - k / 2, pt->pos[o] + k / 2);
	pt->pos[o + 1] = pt->pos[o] + k;
	CHECK_EQ_U64(drain(pr, &next, UINT64_MAX, &last, &bad), 1);
	CHECK_EQ_I64(last, PR_WAIT);

	/* rotation: a new segment, first with only its header */
	base2 = TOTAL + 6;
	segname(n, base2);
	fd = openat(pt->pfd, n, O_WRONLY | O_CREAT | O_EXCL, 0644);
	close(fd);				/* not even a header yet */
	CHECK_EQ_I64(preader_peek(pr, &r), PR_WAIT);
	seg_hdr_encode(h, base2, rtime(base2));
	seg_pwrite(pt, base2, h, sizeof(h), 0);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_WAIT);
	pt->pos[base2] = BUS_SEG_HDR;
	for (o = base2; o < base2 + 4; o++)
		append(pt, base2, o);
	CHECK_EQ_U64(drain(pr, &next, UINT64_MAX, &last, &bad), 4);
	CHECK_EQ_I64(last, PR_WAIT);
	CHECK_EQ_U64(next, base2 + 4);
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_I64(preader_end_offset(pr, &end), 0);
	CHECK_EQ_U64(end, base2 + 4);
	preader_close(pr);
	rmpart(pt);
}

/*
 * Block batches of many sizes, small and far over the reader's 256 KiB
 * reads, in one segment: every record comes back, in order, whole; and
 * the same when the segment is written a piece at a time while a
 * follower reads (a batch's rest is then read in several fills).
 */
#define BLK_N	14
static const size_t blk_size[BLK_N] = {
	100, 70 * 1024, 300 * 1024, 5, 256 * 1024 - 84, 256 * 1024,
	64 * 1024 - 1, 1024 * 1024 + 3, 7, 65 * 1024, 200, 600 * 1024,
	256 * 1024 + 1, 90
};

/* Line o of the block test: "o <filler>" of a length derived from o. */
static size_t
blk_line(char *b, uint64_t o)
{
	size_t n = (size_t)snprintf(b, 32, "%llu ", (unsigned long long)o);
	size_t want = 1 + (o * 37) % 300;

	for (; n < want; n++)
		b[n] = (char)('a' + (o + n) % 26);
	return n;
}

/*
 * The segment of block batches; *end: the offset after its last record,
 * *lines: the records in it.
 */
static uint8_t *
blk_seg(size_t *size, uint64_t *end, uint64_t *lines)
{
	size_t cap = BUS_SEG_HDR, at, i;
	uint8_t *s, *p;
	uint64_t o = 0;
	char line[400];

	for (i = 0; i < BLK_N; i++)
		cap += BUS_BATCH_HDR + 16 + blk_size[i] + 400;
	if ((s = malloc(cap)) == NULL)
		abort();
	seg_hdr_encode(s, 0, rtime(0));
	at = BUS_SEG_HDR;
	*lines = 0;
	for (i = 0; i < BLK_N; i++) {
		struct bus_batch b;
		size_t len = 0, k;
		uint32_t count = 0;

		memset(&b, 0, sizeof(b));
		b.attrs = BUS_BA_BLOCK;
		b.delim = '\n';
		b.base_off = o;
		b.base_recv = rtime(o);
		b.base_send = b.base_recv - 3;
		b.base_event = b.base_recv - 7;
		b.producer = 99;
		b.base_seq = o + 1;
		b.topic = "p.topic";
		b.topic_len = 7;
		p = s + at;
		batch_begin(p, &b);
		/* whole lines to about the size wanted (at least one) */
		do {
			k = blk_line(line, o + count);
			memcpy(p + b.hdr + len, line, k);
			p[b.hdr + len + k] = '\n';
			len += k + 1;
			count++;
		} while (len < blk_size[i]);
		batch_block(&b, count, len);
		at += batch_finish(p, &b);
		*lines += count;
		*end = o + count;
		/*
		 * A block's receive times are base + i ns; the next batch
		 * starts past them (an offset gap, as after compaction).
		 */
		o += count;
		while (rtime(o) <= b.base_recv + (int64_t)count)
			o++;
	}
	*size = at;
	return s;
}

/* Read all there is now; count records not matching their line. */
static unsigned
blk_drain(struct preader *pr, uint64_t *o, uint64_t *got, int *last)
{
	struct bus_rec r;
	unsigned bad = 0;
	char line[400];
	size_t k;

	while ((*last = preader_peek(pr, &r)) == PR_REC) {
		k = blk_line(line, r.offset);
		if (r.offset < *o || r.payload_len != k ||
		    memcmp(r.payload, line, k) != 0)
			bad++;
		*o = r.offset + 1;
		(*got)++;
		preader_advance(pr);
	}
	return bad;
}

static void
test_block_sizes(void)
{
	struct preader *pr;
	uint64_t end, lines, o, got;
	size_t size, at, step;
	uint8_t *s = blk_seg(&size, &end, &lines);
	uint8_t h[BUS_SEG_HDR];
	char *dir, d[4096], n[32];
	int last, fd, nfd, pfd, round;

	for (round = 0; round < 2; round++) {
		dir = unit_tmpdir();
		snprintf(d, sizeof(d), "%s/log/p", dir);
		if (store_mkdirs(dir) == -1 || mkdir(d, 0755) == -1 ||
		    (pfd = open(d, O_RDONLY | O_DIRECTORY)) == -1)
			abort();
		segname(n, 0);
		fd = openat(pfd, n, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd == -1 || write(fd, s, BUS_SEG_HDR) != BUS_SEG_HDR)
			abort();
		pr = preader_open(dir, "p");
		if (!CHECK(pr != NULL))
			abort();
		o = got = 0;
		if (round == 0) {
			/*
			 * All at once, and sealed by a next segment, so that
			 * a bad read is reported as damage, not waited out as
			 * a tail still being written.
			 */
			if (pwrite(fd, s + BUS_SEG_HDR, size - BUS_SEG_HDR,
			    BUS_SEG_HDR) != (ssize_t)(size - BUS_SEG_HDR))
				abort();
			segname(n, end);
			nfd = openat(pfd, n, O_WRONLY | O_CREAT | O_TRUNC,
			    0644);
			seg_hdr_encode(h, end, rtime(end));
			if (nfd == -1 || write(nfd, h, sizeof(h)) != sizeof(h))
				abort();
			close(nfd);
			CHECK_EQ_U64(blk_drain(pr, &o, &got, &last), 0);
			CHECK_EQ_I64(last, PR_WAIT);
		} else {
			/* pieces of odd sizes, reading after each */
			for (at = BUS_SEG_HDR, step = 1; at < size;
			    at += step, step = step > 200 * 1024 ? 1 :
			    step * 7 + 13) {
				if (step > size - at)
					step = size - at;
				if (pwrite(fd, s + at, step, at) !=
				    (ssize_t)step)
					abort();
				CHECK_EQ_U64(blk_drain(pr, &o, &got, &last), 0);
				CHECK_EQ_I64(last, PR_WAIT);
			}
		}
		CHECK_EQ_U64(got, lines);
		CHECK_EQ_U64(o, end);
		close(fd);
		preader_close(pr);
		close(pfd);
		unit_rmrf(dir);
	}
	free(s);
}

/* Retention removed the oldest segment: the gap is reported once. */
static void
test_gap(void)
{
	struct part *pt = mkpart();
	struct preader *pr;
	struct bus_rec r;
	char n[32];

	segname(n, BASE_A);
	CHECK_EQ_I64(unlinkat(pt->pfd, n, 0), 0);
	pr = preader_open(pt->dir, "p");
	CHECK_EQ_I64(preader_seek_offset(pr, 10), 0);
	CHECK_EQ_U64(preader_gap(pr), BASE_B - 10);
	CHECK_EQ_U64(preader_gap(pr), 0);
	CHECK_EQ_I64(preader_peek(pr, &r), PR_REC);
	CHECK(is_rec(&r, BASE_B, 0));
	preader_close(pr);
	rmpart(pt);
}

int
main(void)
{
	RUN(test_read_all);
	RUN(test_seek_offset);
	RUN(test_seek_time);
	RUN(test_seek_offset_damaged_index);
	RUN(test_seek_time_damaged_index);
	RUN(test_seek_time_damaged_first_record);
	RUN(test_end_offset);
	RUN(test_torn_tail);
	RUN(test_torn_tail_rewritten);
	RUN(test_zero_tail);
	RUN(test_corrupt_sealed);
	RUN(test_truncated_sealed);
	RUN(test_corrupt_header);
	RUN(test_skip_large_damage);
	RUN(test_follow);
	RUN(test_block_sizes);
	RUN(test_gap);
	return unit_done();
}

/*
 * Sparse segment indexes: rebuild from a hand-written segment, load,
 * search, and what happens to damaged indexes and torn segments.
 */
#include "unit.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"

#define T0	1700000000000000000LL
#define BASE	5000

static char *dir;
static int dirfd_;

/* Receive time of record i: strictly increasing, unevenly spaced. */
static int64_t
rtime(uint64_t i)
{
	return T0 + (int64_t)i * 1000 + (int64_t)(i % 7) * 100;
}

/* Payload bytes of record i; huge_at gets a 1.5 MiB payload. */
static uint64_t huge_at = UINT64_MAX;
#define HUGE	(3 * 512 * 1024)

static size_t
plen(uint64_t i)
{
	return i == huge_at ? HUGE : 100 + (i * 37) % 400;
}

static uint8_t *
payload(uint64_t i)
{
	size_t n = plen(i), k;
	uint8_t *p = malloc(n);

	for (k = 0; k < n; k++)
		p[k] = (uint8_t)(i * 31 + k);
	return p;
}

/* Encode record i (offset base + i) into a fresh buffer. */
static uint8_t *
mkrec(uint64_t base, uint64_t i, size_t *n)
{
	struct bus_rec r;
	char key[32];
	uint8_t *p = payload(i), *b;

	memset(&r, 0, sizeof(r));
	snprintf(key, sizeof(key), "k%llu", (unsigned long long)i);
	r.offset = base + i;
	r.recv_ns = rtime(i);
	r.send_ns = r.recv_ns - 5;
	r.event_ns = r.recv_ns - 10;
	r.producer = 1;
	r.seq = i + 1;
	r.topic = "p.t";
	r.topic_len = 3;
	r.key = key;
	r.key_len = strlen(key);
	r.payload = p;
	r.payload_len = plen(i);
	b = malloc(batch_one_size(&r));
	*n = batch_one(b, &r);
	free(p);
	return b;
}

/*
 * Write a segment of count records to name; positions of the records
 * (and the end) in pos[0..count].
 */
static void
write_seg(const char *name, uint64_t base, uint64_t count, uint64_t *pos)
{
	uint8_t h[BUS_SEG_HDR], *b;
	uint64_t i, at = BUS_SEG_HDR;
	size_t n;
	int fd;

	fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	seg_hdr_encode(h, base, T0);
	if (write(fd, h, sizeof(h)) != sizeof(h))
		abort();
	for (i = 0; i < count; i++) {
		b = mkrec(base, i, &n);
		if (write(fd, b, n) != (ssize_t)n)
			abort();
		if (pos)
			pos[i] = at;
		at += n;
		free(b);
	}
	if (pos)
		pos[count] = at;
	close(fd);
}

static uint64_t
fsize(const char *name)
{
	struct stat st;

	if (fstatat(dirfd_, name, &st, 0) == -1)
		return UINT64_MAX;
	return st.st_size;
}

static int
rebuild(const char *seg, const char *idx, uint64_t base, uint64_t *end)
{
	int fd = openat(dirfd_, seg, O_RDONLY), rc;

	rc = idx_rebuild(dirfd_, fd, idx, base, end, 0);
	close(fd);
	return rc;
}

#define N	4000

static uint64_t pos[N + 1];
static struct bus_idx_ent *ents;
static size_t nents;

/* Rebuild, load, and check every entry against the segment itself. */
static void
test_rebuild_load(void)
{
	uint8_t *seg, *raw;
	uint64_t end = 0, size, i;
	struct bus_batch bat;
	const char *why;
	size_t k, n;
	unsigned bad = 0, notrec = 0, spacing = 0;
	int fd;

	huge_at = 1234;			/* one record bigger than 1 MiB */
	write_seg("x.seg", BASE, N, pos);
	size = fsize("x.seg");
	CHECK_EQ_U64(size, pos[N]);
	CHECK(size > 2 * 1024 * 1024);
	CHECK_EQ_I64(rebuild("x.seg", "x.idx", BASE, &end), 0);
	CHECK_EQ_U64(end, size);
	CHECK_EQ_U64(fsize("x.idx.tmp"), UINT64_MAX);	/* no leftover */

	ents = idx_load(dirfd_, "x.idx", BASE, &nents);
	if (!CHECK(ents != NULL))
		return;
	CHECK_EQ_U64(fsize("x.idx"), BUS_IDX_HDR + nents * BUS_IDX_ENT);
	/* roughly one entry per BUS_IDX_EVERY bytes of segment */
	CHECK(nents >= (size - HUGE) / (BUS_IDX_EVERY + 600));
	CHECK(nents <= size / BUS_IDX_EVERY + 1);
	CHECK_EQ_U64(ents[0].offset, BASE);
	CHECK_EQ_U64(ents[0].pos, BUS_SEG_HDR);
	CHECK_EQ_I64(ents[0].recv_ns, rtime(0));

	fd = openat(dirfd_, "x.seg", O_RDONLY);
	seg = malloc(size);
	if (pread(fd, seg, size, 0) != (ssize_t)size)
		abort();
	close(fd);
	for (k = 0; k < nents; k++) {
		if (k > 0 && (ents[k].offset <= ents[k - 1].offset ||
		    ents[k].recv_ns <= ents[k - 1].recv_ns ||
		    ents[k].pos <= ents[k - 1].pos))
			bad++;
		if (ents[k].pos >= size || batch_decode(seg + ents[k].pos,
		    size - ents[k].pos, &bat, &why) <= 0 ||
		    bat.base_off != ents[k].offset ||
		    bat.base_recv != ents[k].recv_ns)
			notrec++;
		i = ents[k].offset - BASE;
		if (i >= N || pos[i] != ents[k].pos)
			notrec++;
		/* an entry once BUS_IDX_EVERY bytes have passed, not later */
		if (k > 0) {
			uint64_t gap = ents[k].pos - ents[k - 1].pos;
			uint64_t prev = ents[k].pos - pos[i - 1];

			if (gap < BUS_IDX_EVERY || gap - prev >= BUS_IDX_EVERY)
				spacing++;
		}
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(notrec, 0);
	CHECK_EQ_U64(spacing, 0);
	/* The last stretch of the segment has an entry within reach. */
	CHECK(size - ents[nents - 1].pos < BUS_IDX_EVERY + 600);
	free(seg);

	/* the file itself, byte for byte */
	raw = malloc(BUS_IDX_HDR + BUS_IDX_ENT);
	fd = openat(dirfd_, "x.idx", O_RDONLY);
	n = pread(fd, raw, BUS_IDX_HDR + BUS_IDX_ENT, 0);
	close(fd);
	CHECK_EQ_U64(n, BUS_IDX_HDR + BUS_IDX_ENT);
	CHECK_MEM(raw, 8, "BUSIDX\0\2", 8);
	CHECK_EQ_U64(le64_get(raw + 8), BASE);
	CHECK_EQ_U64(le64_get(raw + 16), BASE);
	CHECK_EQ_I64((int64_t)le64_get(raw + 24), rtime(0));
	CHECK_EQ_U64(le64_get(raw + 32), BUS_SEG_HDR);
	free(raw);
	huge_at = UINT64_MAX;
}

/* The linear answer idx_search must agree with. */
static ssize_t
linear(const struct bus_idx_ent *e, size_t n, int by_time, uint64_t key)
{
	ssize_t r = -1;
	size_t k;

	for (k = 0; k < n; k++)
		if (by_time ? e[k].recv_ns <= (int64_t)key : e[k].offset <= key)
			r = k;
	return r;
}

static void
test_search(void)
{
	struct bus_idx_ent neg[3] = { { 1, -100, 32 }, { 5, -50, 100 },
	    { 9, 10, 200 } };
	uint64_t o;
	size_t k;
	unsigned bad = 0;

	if (!CHECK(ents != NULL && nents > 3))
		return;
	/* by offset */
	CHECK_EQ_I64(idx_search(ents, nents, 0, 0), -1);
	CHECK_EQ_I64(idx_search(ents, nents, 0, BASE - 1), -1);
	CHECK_EQ_I64(idx_search(ents, nents, 0, BASE), 0);
	CHECK_EQ_I64(idx_search(ents, nents, 0, ents[2].offset), 2);
	CHECK_EQ_I64(idx_search(ents, nents, 0, ents[2].offset + 1), 2);
	CHECK_EQ_I64(idx_search(ents, nents, 0, ents[3].offset - 1), 2);
	CHECK_EQ_I64(idx_search(ents, nents, 0, BASE + N + 100),
	    (ssize_t)nents - 1);
	CHECK_EQ_I64(idx_search(ents, nents, 0, UINT64_MAX), (ssize_t)nents - 1);
	for (o = 0; o < BASE + N + 10; o++)
		if (idx_search(ents, nents, 0, o) != linear(ents, nents, 0, o))
			bad++;
	CHECK_EQ_U64(bad, 0);
	/* by time */
	CHECK_EQ_I64(idx_search(ents, nents, 1, (uint64_t)(rtime(0) - 1)), -1);
	CHECK_EQ_I64(idx_search(ents, nents, 1, (uint64_t)rtime(0)), 0);
	CHECK_EQ_I64(idx_search(ents, nents, 1, (uint64_t)ents[3].recv_ns), 3);
	CHECK_EQ_I64(idx_search(ents, nents, 1, (uint64_t)ents[3].recv_ns + 1),
	    3);
	CHECK_EQ_I64(idx_search(ents, nents, 1, (uint64_t)ents[4].recv_ns - 1),
	    3);
	CHECK_EQ_I64(idx_search(ents, nents, 1, (uint64_t)INT64_MAX),
	    (ssize_t)nents - 1);
	CHECK_EQ_I64(idx_search(ents, nents, 1, (uint64_t)INT64_MIN), -1);
	for (k = 0, bad = 0; k < N; k++) {
		uint64_t t = (uint64_t)rtime(k);

		if (idx_search(ents, nents, 1, t) != linear(ents, nents, 1, t))
			bad++;
	}
	CHECK_EQ_U64(bad, 0);
	/* times before 1970 compare as signed */
	CHECK_EQ_I64(idx_search(neg, 3, 1, (uint64_t)-75), 0);
	CHECK_EQ_I64(idx_search(neg, 3, 1, (uint64_t)-101), -1);
	CHECK_EQ_I64(idx_search(neg, 3, 1, (uint64_t)-50), 1);
	CHECK_EQ_I64(idx_search(neg, 3, 1, 0), 1);
	CHECK_EQ_I64(idx_search(neg, 3, 1, 10), 2);
	CHECK_EQ_I64(idx_search(neg, 0, 0, 10), -1);
	CHECK_EQ_I64(idx_search(neg, 1, 0, 1), 0);
}

static void
put_file(const char *name, const void *p, size_t n)
{
	int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

/*
 * The index b (len bytes) with entry k replaced by x, written as name:
 * what idx_load() makes of it.
 */
static struct bus_idx_ent *
load_with(const uint8_t *b, size_t len, size_t k,
    const struct bus_idx_ent *x, const char *name, size_t *n)
{
	uint8_t *c;

	if ((c = malloc(len)) == NULL)
		abort();
	memcpy(c, b, len);
	idx_ent_encode(c + BUS_IDX_HDR + k * BUS_IDX_ENT, x);
	put_file(name, c, len);
	free(c);
	return idx_load(dirfd_, name, BASE, n);
}

/* n entries, offsets BASE + 10k, times T0 + k, positions 32 + 100k */
static size_t
mkidx(uint8_t *b, size_t n)
{
	struct bus_idx_ent e;
	size_t k;

	idx_hdr_encode(b, BASE);
	for (k = 0; k < n; k++) {
		e.offset = BASE + 10 * k;
		e.recv_ns = T0 + (int64_t)k;
		e.pos = BUS_SEG_HDR + 100 * k;
		idx_ent_encode(b + BUS_IDX_HDR + k * BUS_IDX_ENT, &e);
	}
	return BUS_IDX_HDR + n * BUS_IDX_ENT;
}

static void
test_load_damaged(void)
{
	uint8_t b[BUS_IDX_HDR + 10 * BUS_IDX_ENT], c[sizeof(b)];
	struct bus_idx_ent *e, x;
	size_t n = 99, len, at, k;
	unsigned bad = 0;
	uint32_t r = 1;

	len = mkidx(b, 10);
	put_file("ok.idx", b, len);
	e = idx_load(dirfd_, "ok.idx", BASE, &n);
	CHECK(e != NULL);
	CHECK_EQ_U64(n, 10);
	if (e) {
		CHECK_EQ_U64(e[9].offset, BASE + 90);
		CHECK_EQ_I64(e[9].recv_ns, T0 + 9);
		CHECK_EQ_U64(e[9].pos, BUS_SEG_HDR + 900);
	}
	free(e);

	n = 99;
	CHECK(idx_load(dirfd_, "ok.idx", BASE + 1, &n) == NULL);  /* base */
	CHECK_EQ_U64(n, 0);
	n = 99;
	CHECK(idx_load(dirfd_, "missing.idx", BASE, &n) == NULL);
	CHECK_EQ_U64(n, 0);

	for (k = 0; k < sizeof(c); k++)
		c[k] = (r = r * 1103515245u + 12345u) >> 16;
	put_file("garbage.idx", c, sizeof(c));
	n = 99;
	CHECK(idx_load(dirfd_, "garbage.idx", BASE, &n) == NULL);
	CHECK_EQ_U64(n, 0);

	put_file("short.idx", b, 10);
	CHECK(idx_load(dirfd_, "short.idx", BASE, &n) == NULL);
	put_file("hdr.idx", b, BUS_IDX_HDR);
	CHECK(idx_load(dirfd_, "hdr.idx", BASE, &n) == NULL);
	CHECK_EQ_U64(n, 0);
	memcpy(c, b, len);
	c[6] = '\1';
	put_file("magic.idx", c, len);
	CHECK(idx_load(dirfd_, "magic.idx", BASE, &n) == NULL);

	/* A torn last entry is ignored. */
	put_file("torn.idx", b, len - 7);
	e = idx_load(dirfd_, "torn.idx", BASE, &n);
	CHECK_EQ_U64(n, 9);
	free(e);

	/* Keep the strictly increasing prefix. */
	x.offset = BASE + 30;		/* entry 4 repeats entry 3's offset */
	x.recv_ns = T0 + 4;
	x.pos = BUS_SEG_HDR + 400;
	e = load_with(b, len, 4, &x, "dup.idx", &n);
	CHECK_EQ_U64(n, 4);
	if (e)
		CHECK_EQ_U64(e[3].offset, BASE + 30);
	free(e);
	x.offset = BASE + 60;		/* entry 6's time goes back */
	x.recv_ns = T0 + 2;
	x.pos = BUS_SEG_HDR + 600;
	e = load_with(b, len, 6, &x, "time.idx", &n);
	CHECK_EQ_U64(n, 6);
	free(e);
	x.offset = BASE;		/* first entry inside the header */
	x.recv_ns = T0;
	x.pos = 8;
	CHECK(load_with(b, len, 0, &x, "inhdr.idx", &n) == NULL);
	CHECK_EQ_U64(n, 0);
	x.offset = BASE - 1;		/* first offset below the base */
	x.pos = BUS_SEG_HDR;
	CHECK(load_with(b, len, 0, &x, "below.idx", &n) == NULL);

	/*
	 * Any one damaged byte: NULL, or a strictly increasing list whose
	 * entries before the damaged one are the original ones.
	 */
	for (at = 0; at < len; at++) {
		memcpy(c, b, len);
		c[at] ^= 0xff;
		put_file("flip.idx", c, len);
		n = 99;
		e = idx_load(dirfd_, "flip.idx", BASE, &n);
		if (e == NULL) {
			if (n != 0)
				bad++;
			if (at >= BUS_IDX_HDR + BUS_IDX_ENT)
				bad++;	/* a good first entry was thrown away */
			continue;
		}
		if (at < BUS_IDX_HDR || n > 10)
			bad++;
		for (k = 0; k < n; k++) {
			if (k > 0 && (e[k].offset <= e[k - 1].offset ||
			    e[k].recv_ns <= e[k - 1].recv_ns ||
			    e[k].pos <= e[k - 1].pos))
				bad++;
			if (e[k].pos < BUS_SEG_HDR || e[k].offset < BASE)
				bad++;
			if (BUS_IDX_HDR + (k + 1) * BUS_IDX_ENT <= at &&
			    (e[k].offset != BASE + 10 * k ||
			    e[k].pos != BUS_SEG_HDR + 100 * k))
				bad++;
		}
		if (n < (at - BUS_IDX_HDR) / BUS_IDX_ENT)
			bad++;		/* lost more than the damage */
		free(e);
	}
	CHECK_EQ_U64(bad, 0);
}

/* idx_rebuild stops at the end of the last whole record. */
static void
test_rebuild_torn(void)
{
	uint64_t p[21], end, cut;
	unsigned bad = 0;
	uint8_t z[300];
	int fd;

	write_seg("t.seg", 0, 20, p);
	for (cut = p[19]; cut < p[20]; cut++) {
		fd = openat(dirfd_, "t.seg", O_WRONLY);
		if (ftruncate(fd, cut) == -1)
			abort();
		close(fd);
		end = 0;
		if (rebuild("t.seg", "t.idx", 0, &end) != 0 || end != p[19])
			bad++;
		write_seg("t.seg", 0, 20, NULL);
	}
	CHECK_EQ_U64(bad, 0);

	/* a zero-filled tail (space allocated, never written) */
	memset(z, 0, sizeof(z));
	fd = openat(dirfd_, "t.seg", O_WRONLY | O_APPEND);
	if (write(fd, z, sizeof(z)) != sizeof(z))
		abort();
	close(fd);
	CHECK_EQ_I64(rebuild("t.seg", "t.idx", 0, &end), 0);
	CHECK_EQ_U64(end, p[20]);

	/* damage in the middle: the valid part ends where it starts */
	write_seg("t.seg", 0, 20, NULL);
	fd = openat(dirfd_, "t.seg", O_WRONLY);
	if (pwrite(fd, "X", 1, p[10] + 70) != 1)
		abort();
	close(fd);
	CHECK_EQ_I64(rebuild("t.seg", "t.idx", 0, &end), 0);
	CHECK_EQ_U64(end, p[10]);

	/* only a header: valid end right after it, and an empty index */
	write_seg("e.seg", 77, 0, p);
	CHECK_EQ_I64(rebuild("e.seg", "e.idx", 77, &end), 0);
	CHECK_EQ_U64(end, BUS_SEG_HDR);
	CHECK_EQ_U64(fsize("e.idx"), BUS_IDX_HDR);
}

int
main(void)
{
	dirfd_ = unit_tmpdir_fd(&dir);
	RUN(test_rebuild_load);
	RUN(test_search);
	RUN(test_load_damaged);
	RUN(test_rebuild_torn);
	free(ents);
	close(dirfd_);
	unit_rmrf(dir);
	return unit_done();
}

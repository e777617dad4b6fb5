/*
 * The operations library (ops.h) against hand-built partitions: segment
 * scans and summaries, compaction and its crash recovery in every state a
 * kill can leave, retention by age, size, count and cursors, the lock.
 *
 * Record o of the partitions built here has receive time T0 + o seconds
 * and payload "v<o>"; keys and flags are given per record.
 */
#include "unit.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "cursor.h"
#include "ops.h"

#define T0	1700000000000000000LL
#define SEC	1000000000LL

struct spec {
	uint64_t	 off;
	const char	*key;		/* NULL: none */
	int		 tomb;
};

static char	*tmp;			/* the store */
static char	 pdir[4096];		/* its partition "p" */
static int	 dfd = -1;		/* pdir */

static int64_t
rtime(uint64_t o)
{
	return T0 + (int64_t)o * SEC;
}

static void
fresh(void)
{
	dfd = unit_partition(&tmp, dfd, pdir, sizeof(pdir));
}

/* Write segment base with the records of s (n of them), and its index. */
static void
mkseg(uint64_t base, const struct spec *s, size_t n)
{
	uint8_t buf[1024], h[BUS_SEG_HDR];
	struct bus_rec r;
	char name[32], pl[32];
	uint64_t end;
	size_t i, len;
	int fd;

	store_seg_name(name, sizeof(name), base, "seg");
	fd = openat(dfd, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
	seg_hdr_encode(h, base, rtime(base) - 1);
	write(fd, h, sizeof(h));
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		snprintf(pl, sizeof(pl), "v%llu", (unsigned long long)s[i].off);
		r.offset = s[i].off;
		r.recv_ns = r.send_ns = r.event_ns = rtime(s[i].off);
		r.topic = "t";
		r.topic_len = 1;
		r.key = s[i].key;
		r.key_len = s[i].key ? strlen(s[i].key) : 0;
		r.flags = s[i].tomb ? BUS_F_TOMBSTONE : 0;
		r.payload = (const uint8_t *)pl;
		r.payload_len = s[i].tomb ? 0 : strlen(pl);
		len = batch_one(buf, &r);
		write(fd, buf, len);
	}
	lseek(fd, 0, SEEK_SET);
	store_seg_name(name, sizeof(name), base, "idx");
	idx_rebuild(dfd, fd, name, base, &end, 0);
	close(fd);
}

/* "o:key:payload[:T]" lines of every record of segment base. */
static char *
segtext(uint64_t base)
{
	struct segscan ss;
	struct bus_rec r;
	char name[32], *out = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);

	store_seg_name(name, sizeof(name), base, "seg");
	if (segscan_open(&ss, dfd, name, base) != 0) {
		fprintf(f, "(no segment)");
		fclose(f);
		return out;
	}
	while (segscan_next(&ss, &r) == SS_REC)
		fprintf(f, "%llu:%.*s:%.*s%s\n", (unsigned long long)r.offset,
		    (int)r.key_len, r.key ? r.key : "", (int)r.payload_len,
		    (const char *)r.payload,
		    r.flags & BUS_F_TOMBSTONE ? ":T" : "");
	segscan_close(&ss);
	fclose(f);
	return out;
}

static int
present(const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, 0) == 0;
}

static void
touch(const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	write(fd, "junk", 4);
	close(fd);
}

static void
put(const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	write(fd, text, strlen(text));
	close(fd);
}

static char *
names(void)
{
	uint64_t *v;
	size_t n, i;
	char *out = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);

	store_list_segments(dfd, &v, &n);
	for (i = 0; i < n; i++)
		fprintf(f, "%llu ", (unsigned long long)v[i]);
	free(v);
	fclose(f);
	return out;
}

/*
 * The partition of most tests:
 *   0: a@0 b@1 (nokey)@2 a@3          sealed
 *   4: c@4 a@5 b(tombstone)@6          sealed
 *   7: c@7 d@8                         sealed
 *   9: d@9                             active
 */
static void
build(void)
{
	static const struct spec s0[] = {
		{ 0, "a", 0 }, { 1, "b", 0 }, { 2, NULL, 0 }, { 3, "a", 0 } };
	static const struct spec s4[] = {
		{ 4, "c", 0 }, { 5, "a", 0 }, { 6, "b", 1 } };
	static const struct spec s7[] = { { 7, "c", 0 }, { 8, "d", 0 } };
	static const struct spec s9[] = { { 9, "d", 0 } };

	fresh();
	mkseg(0, s0, 4);
	mkseg(4, s4, 3);
	mkseg(7, s7, 2);
	mkseg(9, s9, 1);
}

static void
test_segscan(void)
{
	struct seg_summary s;
	struct segscan ss;
	struct bus_rec r;
	char *t;
	int fd;

	build();
	t = segtext(0);
	CHECK_STR_HAS(t, "0:a:v0\n1:b:v1\n2::v2\n3:a:v3\n");
	free(t);
	CHECK(seg_summary(dfd, 4, 1, &s) == 0);
	CHECK(s.any && s.counted && !s.damaged && !s.bad_header);
	CHECK_EQ_U64(s.nrecs, 3);
	CHECK_EQ_U64(s.first_off, 4);
	CHECK_EQ_U64(s.last_off, 6);
	CHECK_EQ_I64(s.last_recv, rtime(6));
	CHECK(seg_summary(dfd, 0, 0, &s) == 0);
	CHECK_EQ_U64(s.last_off, 3);

	/* A flipped byte: damaged at that record's position. */
	fd = openat(dfd, "00000000000000000004.seg", O_RDWR);
	pwrite(fd, "X", 1, BUS_SEG_HDR + 10);
	CHECK(segscan_open(&ss, dfd, "00000000000000000004.seg", 4) == 0);
	CHECK(segscan_next(&ss, &r) == SS_DAMAGED);
	CHECK_EQ_U64(segscan_at(&ss), BUS_SEG_HDR);
	segscan_close(&ss);
	CHECK(seg_summary(dfd, 4, 1, &s) == 0 && s.damaged);
	/* A wrong base in the header. */
	CHECK(segscan_open(&ss, dfd, "00000000000000000004.seg", 5) ==
	    SS_DAMAGED);
	CHECK_STR_HAS(ss.why, "base offset");
	/* A torn tail: the end, short of the file size. */
	ftruncate(fd, BUS_SEG_HDR + 10);
	close(fd);
	CHECK(seg_summary(dfd, 4, 1, &s) == 0);
	CHECK(s.damaged && !s.any && s.end == BUS_SEG_HDR);
	CHECK(seg_summary(dfd, 77, 0, &s) == SS_IOERR && errno == ENOENT);
}

static struct compact_opts
opts(int64_t tomb_age, uint64_t segsize, int dry)
{
	struct compact_opts o;

	o.tombstone_age = tomb_age;
	o.segment_size = segsize;
	o.dry_run = dry;
	o.now = rtime(100);
	return o;
}

static void
test_compact_merge(void)
{
	struct compact_result res;
	struct compact_opts o;
	struct bus_idx_ent *e;
	char err[512], *t;
	size_t n;

	build();
	o = opts(1000 * SEC, 1 << 20, 0);
	CHECK(compact_partition("p", dfd, &o, &res, err, sizeof(err)) ==
	    OPS_OK);
	/*
	 * Newest per key; d@8 stays although d@9 is newer, because the
	 * active segment may not be on disk yet; the tombstone of b is
	 * young enough to stay.
	 */
	t = segtext(0);
	CHECK_MEM(t, strlen(t), "2::v2\n5:a:v5\n6:b::T\n7:c:v7\n8:d:v8\n",
	    34);
	free(t);
	t = names();
	CHECK_MEM(t, strlen(t), "0 9 ", 4);
	free(t);
	CHECK(!present("00000000000000000004.idx"));
	CHECK(!present("00000000000000000000.merged"));
	t = segtext(9);
	CHECK_MEM(t, strlen(t), "9:d:v9\n", 7);
	free(t);
	CHECK_EQ_U64(res.segs_before, 3);
	CHECK_EQ_U64(res.segs_after, 1);
	CHECK_EQ_U64(res.recs_before, 9);
	CHECK_EQ_U64(res.recs_after, 5);
	CHECK_EQ_U64(res.rewritten, 1);
	/* The index of the new segment points at its first record. */
	e = idx_load(dfd, "00000000000000000000.idx", 0, &n);
	CHECK(e != NULL && n == 1 && e[0].offset == 2 &&
	    e[0].pos == BUS_SEG_HDR && e[0].recv_ns == rtime(2));
	free(e);
	/* Again: nothing to do, nothing changes. */
	CHECK(compact_partition("p", dfd, &o, &res, err, sizeof(err)) ==
	    OPS_OK);
	CHECK_EQ_U64(res.rewritten, 0);
	/* The tombstone, once old enough, goes. */
	o = opts(10 * SEC, 1 << 20, 0);
	CHECK(compact_partition("p", dfd, &o, &res, err, sizeof(err)) ==
	    OPS_OK);
	t = segtext(0);
	CHECK_MEM(t, strlen(t), "2::v2\n5:a:v5\n7:c:v7\n8:d:v8\n", 27);
	free(t);
}

static void
test_compact_groups(void)
{
	struct compact_result res;
	struct compact_opts o;
	char err[512], *t;

	/*
	 * Kept bytes, one batch each: segment 0 96 (2), 4 192 (5, 6), 7
	 * 194 (7, 8).  With room for 194 bytes of batches no two fit
	 * together: 0 and 4 are rewritten where they are, 7 loses nothing
	 * and stays as it is.
	 */
	build();
	o = opts(1000 * SEC, BUS_SEG_HDR + 194, 0);
	CHECK(compact_partition("p", dfd, &o, &res, err, sizeof(err)) ==
	    OPS_OK);
	t = names();
	CHECK_MEM(t, strlen(t), "0 4 7 9 ", 8);
	free(t);
	t = segtext(0);
	CHECK_MEM(t, strlen(t), "2::v2\n", 6);
	free(t);
	t = segtext(4);
	CHECK_MEM(t, strlen(t), "5:a:v5\n6:b::T\n", 14);
	free(t);
	t = segtext(7);
	CHECK_MEM(t, strlen(t), "7:c:v7\n8:d:v8\n", 14);
	free(t);
	CHECK_EQ_U64(res.rewritten, 2);

	/* Room for 288 bytes: 0 and 4 merge, 7 stays apart. */
	build();
	o = opts(1000 * SEC, BUS_SEG_HDR + 288, 0);
	CHECK(compact_partition("p", dfd, &o, &res, err, sizeof(err)) ==
	    OPS_OK);
	t = names();
	CHECK_MEM(t, strlen(t), "0 7 9 ", 6);
	free(t);
	t = segtext(0);
	CHECK_MEM(t, strlen(t), "2::v2\n5:a:v5\n6:b::T\n", 20);
	free(t);
	CHECK_EQ_U64(res.segs_after, 2);
	CHECK_EQ_U64(res.rewritten, 1);

	/* A dry run computes the same, and changes nothing. */
	build();
	o = opts(1000 * SEC, 1 << 20, 1);
	CHECK(compact_partition("p", dfd, &o, &res, err, sizeof(err)) ==
	    OPS_OK);
	CHECK_EQ_U64(res.rewritten, 1);
	CHECK_EQ_U64(res.recs_after, 5);
	t = names();
	CHECK_MEM(t, strlen(t), "0 4 7 9 ", 8);
	free(t);
	t = segtext(4);
	CHECK_STR_HAS(t, "4:c:v4\n");
	free(t);
}

static void
test_compact_damaged(void)
{
	struct compact_result res;
	struct compact_opts o;
	char err[512], *t;
	int fd;

	build();
	fd = openat(dfd, "00000000000000000004.seg", O_RDWR);
	pwrite(fd, "X", 1, BUS_SEG_HDR + 10);
	close(fd);
	o = opts(1000 * SEC, 1 << 20, 0);
	CHECK(compact_partition("p", dfd, &o, &res, err, sizeof(err)) ==
	    OPS_DAMAGED);
	CHECK_STR_HAS(err, "partition p: file 00000000000000000004.seg: "
	    "byte offset 32: batch checksum mismatch; partition not "
	    "compacted");
	t = names();
	CHECK_MEM(t, strlen(t), "0 4 7 9 ", 8);
	free(t);
	CHECK(!present("00000000000000000000.seg.cleaned"));

	/* Damage in the active segment is a write in progress: fine. */
	build();
	fd = openat(dfd, "00000000000000000009.seg", O_RDWR | O_APPEND);
	write(fd, "\x40\0\0\0partial", 11);
	close(fd);
	CHECK(compact_partition("p", dfd, &o, &res, err, sizeof(err)) ==
	    OPS_OK);
}

/* Build, compact a copy into s, and put its output back as leftovers. */
static char *
compacted_copy(void)
{
	struct compact_result res;
	struct compact_opts o = opts(1000 * SEC, 1 << 20, 0);
	char err[512], *t;

	build();
	compact_partition("p", dfd, &o, &res, err, sizeof(err));
	t = segtext(0);
	return t;
}

/* Write the compacted segment 0 of build() as name. */
static void
write_compacted(const char *name)
{
	static const struct spec k[] = {
		{ 2, NULL, 0 }, { 5, "a", 0 }, { 6, "b", 1 }, { 7, "c", 0 },
		{ 8, "d", 0 } };
	char n[32];
	int fd;

	mkseg(1000, k, 5);	/* a scratch name, header base fixed below */
	store_seg_name(n, sizeof(n), 1000, "seg");
	fd = openat(dfd, n, O_RDWR);
	{
		uint8_t h[BUS_SEG_HDR];

		seg_hdr_encode(h, 0, rtime(0) - 1);
		pwrite(fd, h, sizeof(h), 0);
	}
	close(fd);
	renameat(dfd, n, dfd, name);
	store_seg_name(n, sizeof(n), 1000, "idx");
	unlinkat(dfd, n, 0);
}

static void
test_recover(void)
{
	char note[1024], err[512], *want, *t;
	int r;

	want = compacted_copy();

	/* Nothing to do. */
	build();
	CHECK(compact_leftovers(dfd) == 0);
	CHECK(compact_recover("p", dfd, note, sizeof(note), err,
	    sizeof(err)) == 0);
	CHECK(note[0] == '\0');

	/* Killed while writing: .cleaned files go, nothing else moves. */
	build();
	touch("00000000000000000000.seg.cleaned");
	touch("00000000000000000000.idx.cleaned");
	touch("00000000000000000000.merged.cleaned");
	CHECK(compact_leftovers(dfd) == 1);
	r = compact_recover("p", dfd, note, sizeof(note), err, sizeof(err));
	CHECK(r == 1);
	CHECK_STR_HAS(note, "partition p: removed 3 unfinished file(s)");
	CHECK(compact_leftovers(dfd) == 0);
	t = names();
	CHECK_MEM(t, strlen(t), "0 4 7 9 ", 8);
	free(t);

	/* Killed after the list, before the commit: rolled back. */
	build();
	write_compacted("00000000000000000000.seg.cleaned");
	put("00000000000000000000.merged",
	    "bus-merged 1\n00000000000000000004\n00000000000000000007\n");
	r = compact_recover("p", dfd, note, sizeof(note), err, sizeof(err));
	CHECK(r == 2);
	CHECK_STR_HAS(note, "rolled back an unfinished rewrite of "
	    "00000000000000000000.seg");
	CHECK(compact_leftovers(dfd) == 0);
	t = names();
	CHECK_MEM(t, strlen(t), "0 4 7 9 ", 8);
	free(t);
	t = segtext(0);
	CHECK_STR_HAS(t, "0:a:v0\n");
	free(t);

	/* Killed just after the commit: completed. */
	build();
	write_compacted("00000000000000000000.seg.swap");
	put("00000000000000000000.merged",
	    "bus-merged 1\n00000000000000000004\n00000000000000000007\n");
	r = compact_recover("p", dfd, note, sizeof(note), err, sizeof(err));
	CHECK(r == 1);
	CHECK_STR_HAS(note, "completed an interrupted rewrite of "
	    "00000000000000000000.seg (2 merged segments deleted)");
	t = names();
	CHECK_MEM(t, strlen(t), "0 9 ", 4);
	free(t);
	t = segtext(0);
	CHECK_MEM(t, strlen(t), want, strlen(want));
	free(t);
	CHECK(!present("00000000000000000000.idx"));
	CHECK(!present("00000000000000000004.idx"));
	CHECK(compact_leftovers(dfd) == 0);

	/* Killed while deleting the merged segments: finished. */
	build();
	write_compacted("00000000000000000000.seg");
	unlinkat(dfd, "00000000000000000000.idx", 0);
	unlinkat(dfd, "00000000000000000007.seg", 0);
	put("00000000000000000000.merged",
	    "bus-merged 1\n00000000000000000004\n00000000000000000007\n");
	r = compact_recover("p", dfd, note, sizeof(note), err, sizeof(err));
	CHECK(r == 1);
	t = names();
	CHECK_MEM(t, strlen(t), "0 9 ", 4);
	free(t);
	CHECK(!present("00000000000000000007.idx"));

	/* An index left as .swap after its segment was installed. */
	build();
	renameat(dfd, "00000000000000000004.idx", dfd,
	    "00000000000000000004.idx.swap");
	touch("00000000000000000077.idx.swap");
	r = compact_recover("p", dfd, note, sizeof(note), err, sizeof(err));
	CHECK(r == 2);
	CHECK(present("00000000000000000004.idx"));
	CHECK(!present("00000000000000000077.idx.swap"));
	CHECK(!present("00000000000000000077.idx"));

	/* A single-segment rewrite committed: the .swap replaces it. */
	build();
	write_compacted("00000000000000000000.seg.swap");
	r = compact_recover("p", dfd, note, sizeof(note), err, sizeof(err));
	CHECK(r == 1);
	t = names();
	CHECK_MEM(t, strlen(t), "0 4 7 9 ", 8);
	free(t);
	t = segtext(0);
	CHECK_MEM(t, strlen(t), want, strlen(want));
	free(t);

	/* A list that names the active segment is refused, not obeyed. */
	build();
	put("00000000000000000000.merged",
	    "bus-merged 1\n00000000000000000009\n");
	r = compact_recover("p", dfd, note, sizeof(note), err, sizeof(err));
	CHECK(r == OPS_DAMAGED);
	CHECK_STR_HAS(err, "names the active segment");
	CHECK(present("00000000000000000009.seg"));
	/* And so is a list that is not one. */
	build();
	put("00000000000000000000.merged", "rm -rf /\n");
	r = compact_recover("p", dfd, note, sizeof(note), err, sizeof(err));
	CHECK(r == OPS_DAMAGED);
	CHECK_STR_HAS(err, "not a merge list");
	t = names();
	CHECK_MEM(t, strlen(t), "0 4 7 9 ", 8);
	free(t);
	free(want);
}

static struct retention
rt(void)
{
	struct retention r;

	memset(&r, 0, sizeof(r));
	r.now = rtime(100);
	return r;
}

static void
test_retention(void)
{
	struct retention_result res;
	struct retention r;
	struct retention_cursors cs;
	struct cursor c;
	char err[512], *t;
	char *names_[1] = { (char *)"app" };

	/* By age: newest record of 0 is at 3, of 4 at 6, of 7 at 8. */
	build();
	r = rt();
	r.by_age = 1;
	r.max_age = (100 - 6) * SEC;	/* cutoff rtime(6), not older */
	CHECK(retention_run("p", dfd, &r, NULL, &res, err, sizeof(err)) ==
	    OPS_OK);
	CHECK_EQ_U64(res.deleted, 1);
	t = names();
	CHECK_MEM(t, strlen(t), "4 7 9 ", 6);
	free(t);
	CHECK(!present("00000000000000000000.idx"));

	/* By count: 10 records; at most 4 leaves 7 and 9 (3 records). */
	build();
	r = rt();
	r.by_count = 1;
	r.max_count = 4;
	CHECK(retention_run("p", dfd, &r, NULL, &res, err, sizeof(err)) ==
	    OPS_OK);
	CHECK_EQ_U64(res.deleted, 2);
	CHECK_EQ_U64(res.nrecs, 7);
	t = names();
	CHECK_MEM(t, strlen(t), "7 9 ", 4);
	free(t);

	/* By size 0: every sealed segment, never the active one. */
	build();
	r = rt();
	r.by_size = 1;
	r.max_size = 0;
	CHECK(retention_run("p", dfd, &r, NULL, &res, err, sizeof(err)) ==
	    OPS_OK);
	t = names();
	CHECK_MEM(t, strlen(t), "9 ", 2);
	free(t);

	/* A dry run: the same decision, nothing deleted. */
	build();
	r.dry_run = 1;
	CHECK(retention_run("p", dfd, &r, NULL, &res, err, sizeof(err)) ==
	    OPS_OK);
	CHECK_EQ_U64(res.deleted, 3);
	t = names();
	CHECK_MEM(t, strlen(t), "0 4 7 9 ", 8);
	free(t);

	/* A cursor at 5 holds segment 4 (and so 7): only 0 goes.  A
	 * cursor of another partition holds nothing here. */
	r.dry_run = 0;
	memset(&c, 0, sizeof(c));
	cursor_set(&c, "p", 5);
	cursor_set(&c, "q", 0);
	memset(&cs, 0, sizeof(cs));
	cs.names = names_;
	cs.c = &c;
	cs.n = 1;
	r.keep_cursors = 1;
	CHECK(retention_run("p", dfd, &r, &cs, &res, err, sizeof(err)) ==
	    OPS_OK);
	t = names();
	CHECK_MEM(t, strlen(t), "4 7 9 ", 6);
	free(t);
	/* At 7 exactly, segment 4 (4..6) is consumed. */
	cursor_set(&c, "p", 7);
	CHECK(retention_run("p", dfd, &r, &cs, &res, err, sizeof(err)) ==
	    OPS_OK);
	t = names();
	CHECK_MEM(t, strlen(t), "7 9 ", 4);
	free(t);
	/* A damaged cursor holds everything. */
	cs.damaged = 1;
	CHECK(retention_run("p", dfd, &r, &cs, &res, err, sizeof(err)) ==
	    OPS_OK);
	CHECK_EQ_U64(res.deleted, 0);
	cursor_free(&c);

	/* A damaged header stops retention there and says so. */
	build();
	put("00000000000000000000.seg", "not a segment at all, no sir");
	r = rt();
	r.by_size = 1;
	r.max_size = 0;
	CHECK(retention_run("p", dfd, &r, NULL, &res, err, sizeof(err)) ==
	    OPS_DAMAGED);
	CHECK_STR_HAS(err, "00000000000000000000.seg");
	t = names();
	CHECK_MEM(t, strlen(t), "0 4 7 9 ", 8);
	free(t);
}

static void
test_lock(void)
{
	int a, b;

	fresh();
	CHECK(plock_take(dfd, 1, 0) == -2);
	CHECK(!present(OPS_LOCK));
	CHECK((a = plock_take(dfd, 1, 1)) >= 0);
	CHECK(present(OPS_LOCK));
	b = plock_take(dfd, 1, 1);
	CHECK(b == -1 && errno == EWOULDBLOCK);
	plock_release(a);
	CHECK((b = plock_take(dfd, 1, 0)) >= 0);
	plock_release(b);
}

int
main(void)
{
	RUN(test_segscan);
	RUN(test_compact_merge);
	RUN(test_compact_groups);
	RUN(test_compact_damaged);
	RUN(test_recover);
	RUN(test_retention);
	RUN(test_lock);
	if (dfd != -1) {
		close(dfd);
		unit_rmrf(tmp);
	}
	return unit_done();
}

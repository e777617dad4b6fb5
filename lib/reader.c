/*
 * Partition reader.  It keeps the segment it reads open by descriptor, so
 * a segment that is replaced (compaction) or deleted (retention) under it
 * stays readable to the end; it then moves on to the next newer segment
 * by name.  It only ever returns records whose length and CRC check out.
 *
 * When the record at the read position is incomplete, nothing of it is
 * kept: the next attempt re-reads from the record's first byte, so bytes
 * of a torn tail that busd truncated at restart are never combined with
 * what busd wrote after.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "segscan.h"

/*
 * A block batch of a whole 256 KiB read of bus-pub, with its header, topic
 * and tags, fits: the buffer does not grow to twice that for it (every
 * page touched costs a fault).
 */
#define RD_BUF	(260 * 1024)

struct preader {
	char		*name;		/* partition name */
	int		 dirfd;		/* partition directory */
	uint64_t	*segs;		/* segment bases, ascending */
	size_t		 nsegs;
	int		 fd;		/* open segment, or -1 */
	uint64_t	 base;		/* its base offset */
	uint64_t	 pos;		/* file position of buf[off] */
	uint8_t		*buf;		/* data read from the segment */
	size_t		 cap, have, off;
	uint64_t	 min_off;	/* skip records below this offset */
	int64_t		 min_time;	/* skip records received before */
	int		 peeked;	/* rec holds the next record */
	int		 hdr_bad;	/* segment base has a damaged header */
	int		 after_base;	/* fd == -1: go on above base */
	int		 hinted;	/* the caller says when the dir changed */
	int		 relist;	/* hinted: list segments again at EOF */
	struct bus_rec	 rec;
	struct bus_batch bat;		/* the batch being read */
	struct batch_iter it;		/* its records not yet returned */
	int		 inb;		/* it has records left */
	struct batch_buf zbuf;		/* its records, decompressed */
	uint64_t	 last_off;	/* offset of the last record returned */
	int		 any;		/* last_off is meaningful */
	uint64_t	 gap;		/* records lost to retention */
	char		 err[512];	/* last PR_CORRUPT description */
};

static int	rd_list(struct preader *);
static int	rd_open_seg(struct preader *, uint64_t, uint64_t);
static int	rd_fill(struct preader *);

struct preader *
preader_open(const char *dir, const char *name)
{
	struct preader *pr;
	char p[4096];

	if ((pr = calloc(1, sizeof(*pr))) == NULL)
		return NULL;
	pr->fd = -1;
	pr->dirfd = -1;
	pr->min_time = INT64_MIN;
	if ((pr->name = strdup(name)) == NULL ||
	    (pr->buf = malloc(RD_BUF)) == NULL)
		goto fail;
	pr->cap = RD_BUF;
	if (snprintf(p, sizeof(p), "%s/%s/%s", dir, BUS_LOGDIR, name) >=
	    (int)sizeof(p)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if ((pr->dirfd = store_open_part(dir, name)) == -1)
		goto fail;
	if (rd_list(pr) == -1)
		goto fail;
	return pr;
fail:
	preader_close(pr);
	return NULL;
}

void
preader_close(struct preader *pr)
{
	if (pr == NULL)
		return;
	if (pr->fd != -1)
		close(pr->fd);
	if (pr->dirfd != -1)
		close(pr->dirfd);
	free(pr->segs);
	free(pr->buf);
	batch_buf_free(&pr->zbuf);
	free(pr->name);
	free(pr);
}

const char *
preader_name(const struct preader *pr)
{
	return pr->name;
}

int
preader_dirfd(const struct preader *pr)
{
	return pr->dirfd;
}

const char *
preader_error(const struct preader *pr)
{
	return pr->err;
}

uint64_t
preader_gap(struct preader *pr)
{
	uint64_t g = pr->gap;

	pr->gap = 0;
	return g;
}

static int
rd_list(struct preader *pr)
{
	free(pr->segs);
	pr->segs = NULL;
	pr->nsegs = 0;
	return store_list_segments(pr->dirfd, &pr->segs, &pr->nsegs);
}

static void
rd_corrupt(struct preader *pr, uint64_t pos, const char *why)
{
	char n[32];

	store_seg_name(n, sizeof(n), pr->base, "seg");
	snprintf(pr->err, sizeof(pr->err), "partition %s: file %s: byte "
	    "offset %llu: %s", pr->name, n, (unsigned long long)pos, why);
}

/* Open segment base at file position pos (0: just after the header). */
static int
rd_open_seg(struct preader *pr, uint64_t base, uint64_t pos)
{
	uint8_t h[BUS_SEG_HDR];
	char n[32];
	const char *why = NULL;
	uint64_t b = base;
	int fd;

	store_seg_name(n, sizeof(n), base, "seg");
	if ((fd = openat(pr->dirfd, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(pr->err, sizeof(pr->err), "partition %s: file %s: %s",
		    pr->name, n, store_strerror(errno));
		return -1;
	}
	if (pread(fd, h, sizeof(h), 0) != sizeof(h)) {
		close(fd);
		/* The newest may be being created right now: wait. */
		if (pr->nsegs > 0 && pr->segs[pr->nsegs - 1] == base)
			return 0;
		why = "short segment header";
		goto bad;
	}
	if (seg_hdr_decode(h, &b, NULL, &why) == -1 || b != base) {
		close(fd);
		if (why == NULL || b != base)
			why = "header base offset does not match the file name";
		goto bad;
	}
	if (pr->fd != -1)
		close(pr->fd);
	pr->fd = fd;
	pr->base = base;
	pr->pos = pos ? pos : BUS_SEG_HDR;
	pr->have = pr->off = 0;
	pr->inb = 0;
	pr->after_base = 0;
	return 1;
bad:
	/* Sticky until preader_skip_corrupt() moves past the segment. */
	if (pr->fd != -1)
		close(pr->fd);
	pr->fd = -1;
	pr->base = base;
	pr->hdr_bad = 1;
	pr->have = pr->off = 0;
	pr->inb = 0;
	rd_corrupt(pr, 0, why);
	return PR_CORRUPT;
}

/*
 * Read more of the open segment; returns bytes added, 0 at EOF, -1.
 *
 * When the bytes at buf[off] start a batch of known length that is large,
 * read exactly its rest and the next batch's header: the read then ends
 * at a batch boundary, and what is left for the next fill is a header, not
 * most of a batch to move to the front (for 256 KiB block batches that
 * move was a third copy of every byte).  Small batches are read many at a
 * time.  The bytes left are moved only when the buffer has no room after
 * them.
 */
static int
rd_fill(struct preader *pr)
{
	size_t rem = pr->have - pr->off, want = 0, len;
	ssize_t n;

	if (rem >= 4) {
		len = (size_t)le32_get(pr->buf + pr->off) + 4;
		if (len > rem && len >= RD_BUF / 4 && len <= BUS_BATCH_MAX)
			want = len - rem + BUS_BATCH_HDR;
	}
	if (pr->off > 0 && (want == 0 || pr->cap - pr->have < want)) {
		memmove(pr->buf, pr->buf + pr->off, rem);
		pr->pos += pr->off;
		pr->have = rem;
		pr->off = 0;
	}
	if (pr->have == pr->cap || pr->cap - pr->have < want) {
		uint8_t *nb;
		size_t nc = pr->cap * 2;

		while (nc < pr->have + want)
			nc *= 2;
		if (nc > BUS_BATCH_MAX + RD_BUF)
			nc = BUS_BATCH_MAX + RD_BUF;
		if (nc > pr->cap) {
			if ((nb = realloc(pr->buf, nc)) == NULL)
				return -1;
			pr->buf = nb;
			pr->cap = nc;
		} else if (pr->have == pr->cap)
			return -1;
	}
	if (want == 0 || want > pr->cap - pr->have)
		want = pr->cap - pr->have;
	do
		n = pread(pr->fd, pr->buf + pr->have, want,
		    pr->pos + pr->have);
	while (n == -1 && errno == EINTR);
	if (n < 0)
		return -1;
	pr->have += n;
	return (int)n;
}

/* Index of the first segment with base > b, or nsegs. */
static size_t
rd_next_seg(const struct preader *pr, uint64_t b)
{
	size_t lo = 0, hi = pr->nsegs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (pr->segs[mid] <= b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void	rd_index_jump(struct preader *, int, uint64_t);

/* Is the file named after the open segment another one now? */
static int
rd_replaced(struct preader *pr)
{
	struct stat a, b;
	char n[32];

	store_seg_name(n, sizeof(n), pr->base, "seg");
	if (fstat(pr->fd, &a) == -1 || fstatat(pr->dirfd, n, &b, 0) == -1)
		return 0;
	return a.st_dev != b.st_dev || a.st_ino != b.st_ino;
}

/*
 * At the end of a sealed segment, with a fresh list: if the segment that
 * holds the next offset is a rewritten one (an earlier base: a merge; the
 * same base: replaced in place), open it there.  1 moved, 0 not, < 0.
 */
static int
rd_moved(struct preader *pr)
{
	uint64_t want, hb;
	size_t h;
	int rc;

	want = pr->any ? pr->last_off + 1 : pr->min_off;
	if (want < pr->base)
		want = pr->base;
	if ((h = rd_next_seg(pr, want)) == 0)
		return 0;
	hb = pr->segs[h - 1];
	if (hb > pr->base || (hb == pr->base && !rd_replaced(pr)))
		return 0;
	if ((rc = rd_open_seg(pr, hb, 0)) <= 0)
		return rc;
	rd_index_jump(pr, 0, want);
	return 1;
}

/*
 * The next record of the batch being read, past the ones the bounds
 * skip: 1 (in pr->rec), 0 at the end of the batch.
 */
static int
rd_batch_next(struct preader *pr)
{
	while (batch_iter_next(&pr->it, &pr->rec) == 1) {
		if (pr->rec.offset < pr->min_off ||
		    pr->rec.recv_ns < pr->min_time ||
		    (pr->any && pr->rec.offset <= pr->last_off))
			continue;
		return 1;
	}
	pr->inb = 0;
	return 0;
}

/*
 * Take the batch of k bytes decoded at buf[off] (pr->bat): skip it whole
 * when all its records are below the bounds, else start on its records.
 * 0, or PR_CORRUPT when its records cannot be read.
 */
static int
rd_batch_take(struct preader *pr, size_t k)
{
	const struct bus_batch *b = &pr->bat;
	const uint8_t *recs;
	const char *why;

	if (batch_last_off(b) < pr->min_off || b->last_recv < pr->min_time ||
	    (pr->any && batch_last_off(b) <= pr->last_off)) {
		pr->off += k;
		return 0;
	}
	if (batch_recs(b, &pr->zbuf, &recs, &why) == -1) {
		rd_corrupt(pr, pr->pos + pr->off, why);
		return PR_CORRUPT;
	}
	batch_iter_init(&pr->it, b, recs, b->recs_len);
	pr->off += k;
	pr->inb = 1;
	return 0;
}

int
preader_peek(struct preader *pr, struct bus_rec *r)
{
	const char *why;
	ssize_t k;
	size_t nx;
	int n, rc;

	if (pr->peeked) {
		*r = pr->rec;
		return PR_REC;
	}
	if (pr->hdr_bad)
		return PR_CORRUPT;
	for (;;) {
		if (pr->fd == -1) {
			if (pr->nsegs == 0 && rd_list(pr) == -1)
				return PR_ERR;
			nx = pr->after_base ? rd_next_seg(pr, pr->base) : 0;
			if (nx == pr->nsegs && pr->after_base &&
			    rd_list(pr) == -1)
				return PR_ERR;
			if (pr->after_base)
				nx = rd_next_seg(pr, pr->base);
			if (nx >= pr->nsegs)
				return PR_WAIT;
			rc = rd_open_seg(pr, pr->segs[nx], 0);
			if (rc <= 0) {
				if (rc == 0)
					rd_list(pr);
				return rc < 0 ? rc : PR_WAIT;
			}
		}
		if (pr->inb && rd_batch_next(pr)) {
			pr->peeked = 1;
			*r = pr->rec;
			return PR_REC;
		}
		k = batch_decode(pr->buf + pr->off, pr->have - pr->off,
		    &pr->bat, &why);
		if (k > 0) {
			if ((rc = rd_batch_take(pr, k)) < 0)
				return rc;
			continue;
		}
		if (k < 0) {
			uint64_t at, bad = pr->pos + pr->off;
			/*
			 * In the newest segment, damage with nothing valid
			 * after it is a torn tail busd will cut at restart:
			 * wait.  Anywhere else it is real damage.
			 */
			rd_list(pr);
			nx = rd_next_seg(pr, pr->base);
			if (nx == pr->nsegs && seg_resync(pr->fd, bad + 1,
			    pr->any ? pr->last_off : 0, &at) == 0) {
				pr->have = pr->off;
				return PR_WAIT;
			}
			rd_corrupt(pr, bad, why);
			return PR_CORRUPT;
		}
		/* Incomplete: read more. */
		if ((n = rd_fill(pr)) < 0)
			return PR_ERR;
		if (n > 0)
			continue;
		/* At the end of this segment.  Is there a newer one? */
		nx = rd_next_seg(pr, pr->base);
		if (nx == pr->nsegs && (!pr->hinted || pr->relist)) {
			pr->relist = 0;
			if (rd_list(pr) == -1)
				return PR_ERR;
			nx = rd_next_seg(pr, pr->base);
		}
		if (nx == pr->nsegs) {
			pr->have = pr->off;	/* drop a partial record */
			return PR_WAIT;
		}
		/*
		 * A newer segment exists, so busd wrote all of this one
		 * before it made that one, possibly after the read above
		 * found nothing: read to the end once more.
		 */
		if ((n = rd_fill(pr)) < 0)
			return PR_ERR;
		if (n > 0)
			continue;
		if (pr->have > pr->off) {
			rd_corrupt(pr, pr->pos + pr->off,
			    "truncated batch at the end of a sealed segment");
			return PR_CORRUPT;
		}
		/*
		 * Leaving a sealed segment.  Compaction may have rewritten
		 * it, or merged the segments after it into an earlier one:
		 * go on in the segment that now holds the next offset when
		 * that is another file than the one just read.
		 */
		if (rd_list(pr) == -1)
			return PR_ERR;
		if ((rc = rd_moved(pr)) != 0) {
			if (rc < 0)
				return rc;
			continue;
		}
		if ((nx = rd_next_seg(pr, pr->base)) == pr->nsegs)
			continue;
		rc = rd_open_seg(pr, pr->segs[nx], 0);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			/*
			 * Deleted under us (list again and go on), or still
			 * being created (wait for its header).
			 */
			uint64_t want = pr->segs[nx];

			if (rd_list(pr) == -1)
				return PR_ERR;
			nx = rd_next_seg(pr, pr->base);
			if (nx < pr->nsegs && pr->segs[nx] == want)
				return PR_WAIT;
			/* Retention took it before we got there. */
			if (nx < pr->nsegs && pr->segs[nx] > want)
				pr->gap += pr->segs[nx] - want;
			continue;
		}
	}
}

uint64_t
preader_peek_block(struct preader *pr, int delim, uint64_t max,
    int64_t until, const uint8_t **p, size_t *len, struct bus_rec *r)
{
	const struct bus_batch *b = &pr->bat;
	const uint8_t *q;
	uint64_t n;
	uint32_t last;

	/* The record peeked was the it->i'th of the batch being read. */
	if (!pr->peeked || !pr->inb || !(b->attrs & BUS_BA_BLOCK) ||
	    b->delim != (uint8_t)delim || pr->it.i == 0 ||
	    pr->it.i > b->count)
		return 0;
	n = (uint64_t)b->count - pr->it.i + 1;
	last = b->count - 1;
	if (n > max || (int64_t)((uint64_t)b->base_recv + last) > until)
		return 0;
	/* Checked when the batch was read: records end with the delimiter. */
	if (pr->it.end == pr->rec.payload || pr->it.end[-1] != (uint8_t)delim)
		return 0;
	*p = pr->rec.payload;
	*len = pr->it.end - pr->rec.payload;
	pr->it.p = pr->it.end;
	pr->it.i = b->count;
	pr->rec.offset = b->base_off + last;
	pr->rec.recv_ns = (int64_t)((uint64_t)b->base_recv + last);
	pr->rec.seq = b->base_seq + last;
	/* The last record: after the delimiter before the final one. */
	if ((q = memrchr(*p, delim, *len - 1)) == NULL)
		q = *p;
	else
		q++;
	pr->rec.payload = q;
	pr->rec.payload_len = pr->it.end - 1 - q;
	pr->rec.size = pr->rec.payload_len + 1;
	*r = pr->rec;
	return n;
}

void
preader_advance(struct preader *pr)
{
	if (!pr->peeked)
		return;
	pr->last_off = pr->rec.offset;
	pr->any = 1;
	pr->peeked = 0;
}

int
preader_skip_corrupt(struct preader *pr, uint64_t *skipped)
{
	uint64_t bad = pr->pos + pr->off, at;
	size_t nx;
	int rc;

	pr->peeked = 0;
	pr->inb = 0;
	*skipped = 0;
	if (pr->hdr_bad) {
		/* A segment whose header is damaged is skipped whole. */
		pr->hdr_bad = 0;
		pr->after_base = 1;
		return 0;
	}
	if (pr->fd == -1)
		return -1;
	rc = seg_resync(pr->fd, bad + 1, pr->any ? pr->last_off : 0, &at);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		*skipped = at - bad;
		pr->pos = at;
		pr->have = pr->off = 0;
		return 0;
	}
	/* Nothing valid after it in this segment: go to the next one. */
	*skipped = 0;
	rd_list(pr);
	nx = rd_next_seg(pr, pr->base);
	if (nx == pr->nsegs) {
		pr->pos = bad;
		return -1;
	}
	return rd_open_seg(pr, pr->segs[nx], 0) == 1 ? 0 : -1;
}

/*
 * Does the batch at pos carry the entry's offset and receive time?  (It
 * is checked whole when it is read.)
 */
static int
rd_check_at(int fd, const struct bus_idx_ent *e)
{
	uint8_t h[BUS_BATCH_HDR];

	if (pread(fd, h, sizeof(h), e->pos) != sizeof(h))
		return 0;
	return batch_plausible(h, sizeof(h)) && le64_get(h + 24) == e->offset &&
	    (int64_t)le64_get(h + 32) == e->recv_ns;
}

/* Position the open segment near key using its index. */
static void
rd_index_jump(struct preader *pr, int by_time, uint64_t key)
{
	struct bus_idx_ent *e;
	char n[32];
	size_t cnt;
	ssize_t i;

	store_seg_name(n, sizeof(n), pr->base, "idx");
	if ((e = idx_load(pr->dirfd, n, pr->base, &cnt)) == NULL)
		return;
	i = idx_search(e, cnt, by_time, key);
	/* Verify the entry; a wrong index costs a scan, never a record. */
	if (i >= 0 && rd_check_at(pr->fd, &e[i])) {
		pr->pos = e[i].pos;
		pr->have = pr->off = 0;
		pr->inb = 0;
	}
	free(e);
}

/*
 * The start of a seek: forget the position, take the new lower bounds,
 * list the segments again.  1 if there are segments to seek in, 0 if
 * none, -1 on an error.
 */
static int
rd_reset(struct preader *pr, uint64_t min_off, int64_t min_time)
{
	if (pr->fd != -1)
		close(pr->fd);
	pr->fd = -1;
	pr->peeked = 0;
	pr->any = 0;
	pr->have = pr->off = 0;
	pr->inb = 0;
	pr->min_off = min_off;
	pr->min_time = min_time;
	if (rd_list(pr) == -1)
		return -1;
	return pr->nsegs > 0;
}

/*
 * The end of a seek: open segment i and jump through its index to the
 * first record at key (a time if by_time).  A damaged header is
 * reported by the next peek, not here.
 */
static int
rd_seek_in(struct preader *pr, size_t i, int by_time, uint64_t key)
{
	int rc;

	if ((rc = rd_open_seg(pr, pr->segs[i], 0)) < 0)
		return rc == PR_CORRUPT ? 0 : -1;
	if (rc == 1)
		rd_index_jump(pr, by_time, key);
	return 0;
}

int
preader_seek_offset(struct preader *pr, uint64_t off)
{
	size_t i;
	int rc;

	if ((rc = rd_reset(pr, off, INT64_MIN)) <= 0)
		return rc;
	if (pr->segs[0] > off)
		pr->gap = pr->segs[0] - off;
	i = rd_next_seg(pr, off);
	return rd_seek_in(pr, i > 0 ? i - 1 : 0, 0, off);
}

/*
 * Receive time of the first record of segment i: INT64_MAX if it has
 * none yet, INT64_MIN if it does not check out (so that a seek starts
 * no later than the damage and reports it, instead of passing it by).
 */
static int64_t
rd_first_time(struct preader *pr, size_t i)
{
	uint8_t *b;
	struct bus_batch bat;
	const char *why;
	char n[32];
	size_t cap = 64 * 1024;
	ssize_t got, k;
	int64_t t = INT64_MAX;
	int fd;

	store_seg_name(n, sizeof(n), pr->segs[i], "seg");
	if ((fd = openat(pr->dirfd, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return t;
	for (;;) {
		if ((b = malloc(cap)) == NULL)
			break;
		got = pread(fd, b, cap, BUS_SEG_HDR);
		k = got > 0 ? batch_decode(b, got, &bat, &why) : 0;
		if (k > 0)
			t = bat.base_recv;
		else if (k < 0)
			t = INT64_MIN;
		else if (got == (ssize_t)cap && le32_get(b) + 4 > cap) {
			cap = le32_get(b) + 4;
			free(b);
			continue;
		} else if (got >= 4)
			t = INT64_MIN;	/* a torn first record */
		free(b);
		break;
	}
	close(fd);
	return t;
}

int
preader_seek_time(struct preader *pr, int64_t t)
{
	size_t lo, hi, mid;
	int rc;

	if ((rc = rd_reset(pr, 0, t)) <= 0)
		return rc;
	/* Last segment whose first record was received at or before t. */
	lo = 0;
	hi = pr->nsegs;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (rd_first_time(pr, mid) <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	lo = lo > 0 ? lo - 1 : 0;
	/*
	 * A damaged first record says nothing of where the segment starts:
	 * begin one segment earlier, so that the records before the damage
	 * are delivered and the damage itself is reported.
	 */
	if (lo > 0 && rd_first_time(pr, lo) == INT64_MIN)
		lo--;
	return rd_seek_in(pr, lo, 1, (uint64_t)t);
}

int
preader_end_offset(struct preader *pr, uint64_t *end)
{
	struct bus_rec r;
	struct preader *tmp;
	char dir[32];
	int rc = 0;

	/* A second reader on the same directory walks the newest segment. */
	if (rd_list(pr) == -1)
		return -1;
	*end = 0;
	if (pr->nsegs == 0)
		return 0;
	if ((tmp = calloc(1, sizeof(*tmp))) == NULL)
		return -1;
	tmp->fd = -1;
	tmp->min_time = INT64_MIN;
	tmp->name = pr->name;
	snprintf(dir, sizeof(dir), ".");
	if ((tmp->dirfd = openat(pr->dirfd, dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (tmp->buf = malloc(RD_BUF)) == NULL ||
	    rd_list(tmp) == -1) {
		rc = -1;
		goto out;
	}
	tmp->cap = RD_BUF;
	*end = tmp->segs[tmp->nsegs - 1];
	if (rd_open_seg(tmp, *end, 0) == 1) {
		rd_index_jump(tmp, 0, UINT64_MAX);
		while (preader_peek(tmp, &r) == PR_REC) {
			*end = r.offset + 1;
			preader_advance(tmp);
		}
	}
out:
	tmp->name = NULL;
	preader_close(tmp);
	return rc;
}

int
preader_seek_end(struct preader *pr)
{
	uint64_t end;

	if (preader_end_offset(pr, &end) == -1)
		return -1;
	return preader_seek_offset(pr, end);
}

void
preader_dir_hint(struct preader *pr, int changed)
{
	pr->hinted = 1;
	if (changed)
		pr->relist = 1;
}

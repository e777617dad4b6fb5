/*
 * One segment file, batch by batch or record by record: the scanner of busd's recovery, the
 * index rebuild, busd --verify, the tools that summarize, delete and
 * rewrite segments, and the partition reader's damage path.  Unlike the
 * partition reader (reader.c) it never moves on to another file, and it
 * reports what does not decode instead of waiting for it to be completed.
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

#define SS_BUF	(1024 * 1024)

static int	ss_buf(struct segscan *);
static void	summary_add(struct seg_summary *, const struct bus_rec *);

static int
ss_buf(struct segscan *ss)
{
	if ((ss->buf = malloc(SS_BUF)) == NULL)
		return -1;
	ss->cap = SS_BUF;
	return 0;
}

int
segscan_open(struct segscan *ss, int dirfd, const char *name, uint64_t want)
{
	uint8_t h[BUS_SEG_HDR];
	struct stat st;
	ssize_t n;
	int e;

	memset(ss, 0, sizeof(*ss));
	if ((ss->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return SS_IOERR;
	ss->own = 1;
	if (fstat(ss->fd, &st) == -1)
		goto ioerr;
	ss->size = st.st_size;
	do
		n = pread(ss->fd, h, sizeof(h), 0);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		goto ioerr;
	if ((size_t)n < sizeof(h)) {
		ss->why = "file shorter than a segment header";
		goto damaged;
	}
	if (seg_hdr_decode(h, &ss->base, &ss->created, &ss->why) == -1)
		goto damaged;
	if (want != UINT64_MAX && ss->base != want) {
		ss->why = "header base offset does not match the file name";
		goto damaged;
	}
	if (ss_buf(ss) == -1)
		goto ioerr;
	ss->pos = BUS_SEG_HDR;
	return 0;
damaged:
	close(ss->fd);
	ss->fd = -1;
	return SS_DAMAGED;
ioerr:
	e = errno;
	close(ss->fd);
	ss->fd = -1;
	errno = e;
	return SS_IOERR;
}

int
segscan_init(struct segscan *ss, int fd, uint64_t pos)
{
	struct stat st;

	memset(ss, 0, sizeof(*ss));
	ss->fd = fd;
	if (fstat(fd, &st) == -1 || ss_buf(ss) == -1)
		return SS_IOERR;
	ss->size = st.st_size;
	ss->pos = pos;
	return 0;
}

void
segscan_close(struct segscan *ss)
{
	if (ss->fd != -1 && ss->own)
		close(ss->fd);
	ss->fd = -1;
	free(ss->buf);
	ss->buf = NULL;
	batch_buf_free(&ss->zbuf);
}

void
segscan_seek(struct segscan *ss, uint64_t pos)
{
	ss->inb = 0;
	/* Within what was read: no need to read it again. */
	if (pos >= ss->pos && pos <= ss->pos + ss->have) {
		ss->off = pos - ss->pos;
		return;
	}
	ss->pos = pos;
	ss->have = ss->off = 0;
}

uint64_t
segscan_at(const struct segscan *ss)
{
	return ss->pos + ss->off;
}

/*
 * Decode the batch at the scan position into ss->bat, reading as much
 * as it needs, and step over it; its records section is ready to
 * iterate.  SS_REC, SS_END, SS_DAMAGED, SS_IOERR.
 */
static int
ss_batch(struct segscan *ss)
{
	const uint8_t *recs;
	uint8_t *nb;
	size_t need;
	ssize_t k, n;

	ss->inb = 0;
	for (;;) {
		k = batch_decode(ss->buf + ss->off, ss->have - ss->off,
		    &ss->bat, &ss->why);
		if (k > 0) {
			if (batch_recs(&ss->bat, &ss->zbuf, &recs,
			    &ss->why) == -1)
				return SS_DAMAGED;
			batch_iter_init(&ss->it, &ss->bat, recs,
			    ss->bat.recs_len);
			ss->raw = ss->buf + ss->off;
			ss->rpos = ss->pos + ss->off;
			ss->off += k;
			return SS_REC;
		}
		if (k < 0)
			return SS_DAMAGED;
		/* Incomplete: keep its bytes, read more after them. */
		if (ss->off > 0) {
			memmove(ss->buf, ss->buf + ss->off, ss->have - ss->off);
			ss->pos += ss->off;
			ss->have -= ss->off;
			ss->off = 0;
		}
		/* A batch larger than the buffer (at most BUS_BATCH_MAX). */
		need = ss->have >= 4 ? (size_t)le32_get(ss->buf) + 4 : 4;
		if (need > ss->cap) {
			if ((nb = realloc(ss->buf, need)) == NULL)
				return SS_IOERR;
			ss->buf = nb;
			ss->cap = need;
		}
		do
			n = pread(ss->fd, ss->buf + ss->have,
			    ss->cap - ss->have, ss->pos + ss->have);
		while (n == -1 && errno == EINTR);
		if (n == -1)
			return SS_IOERR;
		if (n == 0)
			return SS_END;
		ss->have += n;
	}
}

int
segscan_next(struct segscan *ss, struct bus_rec *r)
{
	int rc;

	ss->first = 0;
	if (!ss->inb) {
		if ((rc = ss_batch(ss)) != SS_REC)
			return rc;
		ss->inb = 1;
		ss->first = 1;
	}
	if (batch_iter_next(&ss->it, r) != 1) {
		/* batch_decode() checked it: never here. */
		ss->inb = 0;
		ss->why = "bad record in batch";
		return SS_DAMAGED;
	}
	if (ss->it.i == ss->bat.count)
		ss->inb = 0;
	return SS_REC;
}

int
segscan_next_batch(struct segscan *ss, struct bus_batch *b)
{
	int rc;

	if ((rc = ss_batch(ss)) == SS_REC)
		*b = ss->bat;
	return rc;
}

int
segscan_resync(struct segscan *ss, uint64_t from, uint64_t after)
{
	uint64_t at;
	int rc;

	if ((rc = seg_resync(ss->fd, from, after, &at)) == 1)
		segscan_seek(ss, at);
	return rc < 0 ? SS_IOERR : rc;
}

/*
 * Is a valid batch whose last offset is above after at position from of
 * fd, len bytes long?  Read by itself (one larger than the buffer).
 */
static int
resync_big(int fd, uint64_t from, size_t len, uint64_t after)
{
	struct bus_batch b;
	const char *why;
	uint8_t *big;
	ssize_t k = -1;

	if ((big = malloc(len)) == NULL)
		return 0;
	if (pread(fd, big, len, from) == (ssize_t)len)
		k = batch_decode(big, len, &b, &why);
	free(big);
	return k > 0 && batch_last_off(&b) > after;
}

int
seg_resync(int fd, uint64_t from, uint64_t after, uint64_t *at)
{
	uint8_t *buf;
	size_t cap = 1 << 20, have, i;
	struct bus_batch b;
	const char *why;
	ssize_t n, k;
	int rc = 0;

	if ((buf = malloc(cap)) == NULL)
		return -1;
	for (;;) {
		do
			n = pread(fd, buf, cap, from);
		while (n == -1 && errno == EINTR);
		if (n < 0) {
			rc = -1;
			break;
		}
		have = n;
		if (have < BUS_BATCH_HDR)
			break;
		for (i = 0; i + BUS_BATCH_HDR <= have; i++) {
			if (!batch_plausible(buf + i, have - i))
				continue;
			k = batch_decode(buf + i, have - i, &b, &why);
			if (k > 0 && batch_last_off(&b) > after) {
				*at = from + i;
				rc = 1;
				goto out;
			}
			if (k == 0 && i > 0 && have == cap)
				break;	/* reread from here with more data */
			if (k == 0 && have == cap) {
				/* A huge batch: validate it by itself. */
				if (resync_big(fd, from, le32_get(buf) + 4,
				    after)) {
					*at = from;
					rc = 1;
					goto out;
				}
				i = 1;
				break;
			}
		}
		if (have < cap && i + BUS_BATCH_HDR > have)
			break;
		from += i;
	}
out:
	free(buf);
	return rc;
}

/* Take r into the summary s. */
static void
summary_add(struct seg_summary *s, const struct bus_rec *r)
{
	if (!s->any) {
		s->any = 1;
		s->first_off = r->offset;
		s->first_recv = r->recv_ns;
	}
	s->last_off = r->offset;
	s->last_recv = r->recv_ns;
	s->nrecs++;
}

int
seg_summary(int dirfd, uint64_t base, int count, struct seg_summary *s)
{
	struct segscan ss;
	struct bus_idx_ent *e;
	struct bus_rec r;
	char n[32];
	size_t cnt;
	int rc;

	memset(s, 0, sizeof(*s));
	s->base = base;
	store_seg_name(n, sizeof(n), base, "seg");
	if ((rc = segscan_open(&ss, dirfd, n, base)) != 0) {
		s->bytes = ss.size;
		s->why = ss.why;
		s->bad_header = rc == SS_DAMAGED;
		return rc;
	}
	s->bytes = ss.size;
	s->created = ss.created;
	rc = segscan_next(&ss, &r);
	if (rc == SS_REC) {
		summary_add(s, &r);
		/*
		 * The newest records: from the last index entry that points
		 * at a batch with the offset it claims, else from here.
		 */
		store_seg_name(n, sizeof(n), base, "idx");
		if (!count && (e = idx_load(dirfd, n, base, &cnt)) != NULL) {
			uint64_t back = segscan_at(&ss);

			if (e[cnt - 1].pos > back) {
				segscan_seek(&ss, e[cnt - 1].pos);
				if (segscan_next(&ss, &r) == SS_REC &&
				    r.offset == e[cnt - 1].offset &&
				    r.recv_ns == e[cnt - 1].recv_ns)
					summary_add(s, &r);
				else
					segscan_seek(&ss, back);
			}
			free(e);
		}
		while ((rc = segscan_next(&ss, &r)) == SS_REC)
			summary_add(s, &r);
	}
	s->end = segscan_at(&ss);
	s->counted = count;
	if (rc == SS_IOERR) {
		int e2 = errno;

		segscan_close(&ss);
		errno = e2;
		return SS_IOERR;
	}
	if (rc == SS_DAMAGED) {
		s->damaged = 1;
		s->why = ss.why;
	} else if (s->end < ss.size) {
		s->damaged = 1;
		s->why = "incomplete batch at the end";
	}
	segscan_close(&ss);
	return 0;
}

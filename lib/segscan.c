/*
 * One segment file, record by record, for the tools that summarize,
 * delete and rewrite segments.  Unlike the partition reader (reader.c)
 * it never moves on to another file, and it reports what does not decode
 * instead of waiting for it to be completed.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "ops.h"

#define SS_BUF	(1024 * 1024)

static void	summary_add(struct seg_summary *, const struct bus_rec *);

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
	if ((ss->buf = malloc(SS_BUF)) == NULL)
		goto ioerr;
	ss->cap = SS_BUF;
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

void
segscan_close(struct segscan *ss)
{
	if (ss->fd != -1)
		close(ss->fd);
	ss->fd = -1;
	free(ss->buf);
	ss->buf = NULL;
}

void
segscan_seek(struct segscan *ss, uint64_t pos)
{
	ss->pos = pos;
	ss->have = ss->off = 0;
}

uint64_t
segscan_at(const struct segscan *ss)
{
	return ss->pos + ss->off;
}

int
segscan_next(struct segscan *ss, struct bus_rec *r)
{
	uint8_t *nb;
	size_t need;
	ssize_t k, n;

	for (;;) {
		k = seg_rec_decode(ss->buf + ss->off, ss->have - ss->off, r,
		    &ss->why);
		if (k > 0) {
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
		 * at a record with the offset it claims, else from here.
		 */
		store_seg_name(n, sizeof(n), base, "idx");
		if (!count && (e = idx_load(dirfd, n, base, &cnt)) != NULL) {
			uint64_t back = segscan_at(&ss);

			if (e[cnt - 1].pos > back) {
				segscan_seek(&ss, e[cnt - 1].pos);
				if (segscan_next(&ss, &r) == SS_REC &&
				    r.offset == e[cnt - 1].offset)
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
		s->why = "incomplete record at the end";
	}
	segscan_close(&ss);
	return 0;
}

/*
 * Appending record batches and their sparse index entries to the end of
 * a segment and its index.  The per-record work is a fit check, a few
 * varints and the copy of its bytes into the open batch; the batch's
 * CRC is computed when it closes, the write(2)s happen once per flush.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "append.h"
#include "bus.h"

static int	app_room(struct app *, size_t);
static void	app_idx(struct app *, uint64_t, int64_t);

int
app_init(struct app *a, int sfd, int ifd, uint64_t size, uint64_t idx_size,
    uint64_t idx_pos, int idx_any, size_t wcap)
{
	memset(a, 0, sizeof(*a));
	if ((a->wbuf = malloc(wcap)) == NULL)
		return -1;
	a->wcap = wcap;
	app_reset(a, sfd, ifd, size, idx_size, idx_pos, idx_any);
	return 0;
}

void
app_reset(struct app *a, int sfd, int ifd, uint64_t size, uint64_t idx_size,
    uint64_t idx_pos, int idx_any)
{
	a->sfd = sfd;
	a->ifd = ifd;
	a->size = size;
	a->idx_size = idx_size;
	a->idx_pos = a->done_idx_pos = idx_pos;
	a->idx_any = a->done_idx_any = idx_any;
	a->wlen = a->ilen = 0;
	a->bopen = 0;
	app_mark(a);
}

void
app_free(struct app *a)
{
	free(a->wbuf);
	a->wbuf = NULL;
	a->wcap = 0;
}

uint64_t
app_pos(const struct app *a)
{
	return a->size + a->wlen;
}

size_t
app_rec_bound(const struct bus_rec *r)
{
	return BUS_BATCH_HDR + r->topic_len + BUS_BATCH_REC_OVER +
	    r->key_len + r->tags_len + r->payload_len;
}

void
app_close(struct app *a)
{
	if (!a->bopen)
		return;
	batch_finish(a->wbuf + a->bstart, &a->bat);
	a->bopen = 0;
}

/*
 * Room for a new batch of len bytes at the end of the buffer: closes
 * the open batch, flushes when the buffer or the index entries are
 * full, grows the buffer for a batch larger than it.  0 or -1.
 */
static int
app_room(struct app *a, size_t len)
{
	uint8_t *nb;

	app_close(a);
	if ((a->wlen > 0 && a->wlen + len > a->wcap) ||
	    a->ilen == sizeof(a->ibuf)) {
		if (app_flush(a) == -1)
			return -1;
	}
	if (len > a->wcap) {
		if ((nb = realloc(a->wbuf, len)) == NULL)
			return -1;
		a->wbuf = nb;
		a->wcap = len;
	}
	return 0;
}

/* A batch starts at app_pos(): its index entry, if one is due. */
static void
app_idx(struct app *a, uint64_t offset, int64_t recv_ns)
{
	struct bus_idx_ent e;
	uint64_t pos = app_pos(a);

	if (a->idx_any && pos - a->idx_pos < BUS_IDX_EVERY)
		return;
	e.offset = offset;
	e.recv_ns = recv_ns;
	e.pos = pos;
	idx_ent_encode(a->ibuf + a->ilen, &e);
	a->ilen += BUS_IDX_ENT;
	a->idx_pos = pos;
	a->idx_any = 1;
}

int
app_add(struct app *a, const struct bus_rec *r)
{
	struct bus_batch *b = &a->bat;
	size_t rs;

	if (a->bopen && batch_fits(b, r)) {
		rs = batch_rec_size(b, r);
		if (b->hdr + b->recs_len + rs <= BUS_BATCH_TARGET &&
		    a->wlen + rs <= a->wcap) {
			a->wlen += batch_add(a->wbuf + a->wlen, b, r);
			return 0;
		}
	}
	app_close(a);
	batch_init(b, r);
	rs = batch_rec_size(b, r);
	if (app_room(a, BUS_BATCH_HDR + r->topic_len + rs) == -1)
		return -1;
	app_idx(a, r->offset, r->recv_ns);
	a->bstart = a->wlen;
	a->wlen += batch_begin(a->wbuf + a->wlen, b);
	/* The topic now lives in the batch: later fits compare with it. */
	b->topic = (const char *)a->wbuf + a->bstart + BUS_BATCH_HDR;
	a->wlen += batch_add(a->wbuf + a->wlen, b, r);
	a->bopen = 1;
	return 0;
}

int
app_add_block(struct app *a, struct bus_batch *b, const uint8_t *block,
    size_t len, uint32_t count)
{
	size_t hdr = BUS_BATCH_HDR + b->topic_len + b->tags_len;
	uint8_t *p;

	app_close(a);
	if (app_room(a, hdr + len) == -1)
		return -1;
	app_idx(a, b->base_off, b->base_recv);
	p = a->wbuf + a->wlen;
	batch_begin(p, b);
	memcpy(p + hdr, block, len);
	batch_block(b, count, len);
	a->wlen += batch_finish(p, b);
	return 0;
}

int
app_add_batch(struct app *a, const uint8_t *raw, const struct bus_batch *b)
{
	if (app_room(a, b->size) == -1)
		return -1;
	app_idx(a, b->base_off, b->base_recv);
	memcpy(a->wbuf + a->wlen, raw, b->size);
	a->wlen += b->size;
	return 0;
}

int
app_write(int fd, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	ssize_t n;
	size_t done = 0;

	while (done < len) {
		n = write(fd, b + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		done += n;
	}
	return 0;
}

/*
 * A write to fd failed: cut fd back to size and drop the index entries
 * not written; returns rc with errno kept.
 */
static int
app_cut(struct app *a, int fd, uint64_t size, int rc)
{
	int e = errno;

	(void)ftruncate(fd, size);
	a->ilen = 0;
	a->idx_pos = a->done_idx_pos;
	a->idx_any = a->done_idx_any;
	errno = e;
	return rc;
}

int
app_flush(struct app *a)
{
	app_close(a);
	if (a->wlen == 0 && a->ilen == 0)
		return a->failed ? -1 : 0;
	if (a->wlen > 0) {
		if (app_write(a->sfd, a->wbuf, a->wlen) == -1) {
			/* Nothing partial stays: cut back, drop it all. */
			a->failed = errno;
			a->wlen = 0;
			return app_cut(a, a->sfd, a->size, -1);
		}
		a->size += a->wlen;
		a->wlen = 0;
	}
	if (a->ilen > 0) {
		if (app_write(a->ifd, a->ibuf, a->ilen) == -1)
			return app_cut(a, a->ifd, a->idx_size, -2);
		a->idx_size += a->ilen;
		a->ilen = 0;
		a->done_idx_pos = a->idx_pos;
		a->done_idx_any = a->idx_any;
	}
	return 0;
}

void
app_mark(struct app *a)
{
	app_close(a);
	a->mark_size = a->size;
	a->mark_idx_size = a->idx_size;
	a->mark_idx_pos = a->done_idx_pos;
	a->mark_idx_any = a->done_idx_any;
}

int
app_undo(struct app *a)
{
	int rc = 0;

	if (ftruncate(a->sfd, a->mark_size) == -1 ||
	    ftruncate(a->ifd, a->mark_idx_size) == -1)
		rc = -1;
	a->size = a->mark_size;
	a->idx_size = a->mark_idx_size;
	a->idx_pos = a->done_idx_pos = a->mark_idx_pos;
	a->idx_any = a->done_idx_any = a->mark_idx_any;
	a->wlen = a->ilen = 0;
	a->bopen = 0;
	return rc;
}

/*
 * Appending records and their sparse index entries to the end of a
 * segment and its index.  The per-record work is a bounds check and a
 * few additions: the caller encodes the record in place, and the CRCs
 * and the write(2)s happen once per flush.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "append.h"
#include "bus.h"

int
app_init(struct app *a, int sfd, int ifd, uint64_t size, uint64_t idx_size,
    uint64_t idx_pos, int idx_any, size_t wcap, int crc)
{
	memset(a, 0, sizeof(*a));
	if ((a->wbuf = malloc(wcap)) == NULL)
		return -1;
	a->wcap = wcap;
	a->crc = crc;
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

uint8_t *
app_reserve(struct app *a, size_t len)
{
	uint8_t *nb;
	int need_idx;

	need_idx = !a->idx_any || app_pos(a) - a->idx_pos >= BUS_IDX_EVERY;
	if ((a->wlen > 0 && a->wlen + len > a->wcap) ||
	    (need_idx && a->ilen == sizeof(a->ibuf))) {
		if (app_flush(a) == -1)
			return NULL;
	}
	if (len > a->wcap) {
		if ((nb = realloc(a->wbuf, len)) == NULL)
			return NULL;
		a->wbuf = nb;
		a->wcap = len;
	}
	return a->wbuf + a->wlen;
}

void
app_commit_rec(struct app *a, size_t len, uint64_t offset, int64_t recv_ns)
{
	struct bus_idx_ent e;
	uint64_t pos = app_pos(a);

	if (!a->idx_any || pos - a->idx_pos >= BUS_IDX_EVERY) {
		e.offset = offset;
		e.recv_ns = recv_ns;
		e.pos = pos;
		idx_ent_encode(a->ibuf + a->ilen, &e);
		a->ilen += BUS_IDX_ENT;
		a->idx_pos = pos;
		a->idx_any = 1;
	}
	a->wlen += len;
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
	if (a->wlen == 0 && a->ilen == 0)
		return a->failed ? -1 : 0;
	if (a->wlen > 0) {
		if (a->crc)
			seg_crc_fill(a->wbuf, a->wlen);
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
	return rc;
}

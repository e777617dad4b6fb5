/*
 * Sparse segment indexes, one entry per ~64 KiB of batches.  An index
 * only ever speeds things up: any entry may be wrong, so callers verify
 * the batch an entry points at and fall back to scanning the segment.
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

void
idx_hdr_encode(uint8_t *p, uint64_t base)
{
	memcpy(p, BUS_IDX_MAGIC, 8);
	le64_put(p + 8, base);
}

void
idx_ent_encode(uint8_t *p, const struct bus_idx_ent *e)
{
	le64_put(p, e->offset);
	le64_put(p + 8, (uint64_t)e->recv_ns);
	le64_put(p + 16, e->pos);
}

void
idx_ent_decode(const uint8_t *p, struct bus_idx_ent *e)
{
	e->offset = le64_get(p);
	e->recv_ns = (int64_t)le64_get(p + 8);
	e->pos = le64_get(p + 16);
}

struct bus_idx_ent *
idx_load(int dirfd, const char *name, uint64_t base, size_t *n)
{
	struct bus_idx_ent *e = NULL;
	struct stat st;
	uint8_t *buf = NULL;
	size_t cnt, i, len;
	ssize_t r;
	int fd;

	*n = 0;
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || st.st_size < BUS_IDX_HDR)
		goto out;
	/* A torn last entry (busd died mid-write) is simply ignored. */
	cnt = (st.st_size - BUS_IDX_HDR) / BUS_IDX_ENT;
	len = BUS_IDX_HDR + cnt * BUS_IDX_ENT;
	if ((buf = malloc(len)) == NULL)
		goto out;
	if ((r = pread(fd, buf, len, 0)) < 0 || (size_t)r != len)
		goto out;
	if (memcmp(buf, BUS_IDX_MAGIC, 8) != 0 || le64_get(buf + 8) != base)
		goto out;
	if (cnt == 0 || (e = reallocarray(NULL, cnt, sizeof(*e))) == NULL)
		goto out;
	for (i = 0; i < cnt; i++) {
		idx_ent_decode(buf + BUS_IDX_HDR + i * BUS_IDX_ENT, &e[i]);
		/* Keep the longest prefix that is strictly increasing. */
		if (i > 0 && (e[i].offset <= e[i - 1].offset ||
		    e[i].recv_ns <= e[i - 1].recv_ns ||
		    e[i].pos <= e[i - 1].pos))
			break;
		if (e[i].pos < BUS_SEG_HDR || e[i].offset < base)
			break;
	}
	*n = i;
	if (i == 0) {
		free(e);
		e = NULL;
	}
out:
	free(buf);
	close(fd);
	return e;
}

ssize_t
idx_search(const struct bus_idx_ent *e, size_t n, int by_time, uint64_t key)
{
	size_t lo = 0, hi = n, mid;
	uint64_t v;

	/* Find the first entry > key, answer the one before. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		v = by_time ? (uint64_t)e[mid].recv_ns : e[mid].offset;
		if (by_time ? (int64_t)v <= (int64_t)key : v <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ssize_t)lo - 1;
}

/*
 * Scan the segment at segfd, write a fresh index beside it as name,
 * synced unless nosync (an active index: its seal syncs it, and a crash
 * before that rebuilds it at the next start).  On return *valid_end is
 * the end of the last whole batch.
 */
int
idx_rebuild(int dirfd, int segfd, const char *name, uint64_t base,
    uint64_t *valid_end, int nosync)
{
	char tmp[64];
	uint8_t ent[BUS_IDX_ENT], hdr[BUS_IDX_HDR];
	uint64_t last_idx = 0;
	struct segscan ss;
	struct bus_batch b;
	struct bus_idx_ent e;
	FILE *f = NULL;
	int first = 1, rc, e2;

	if (segscan_init(&ss, segfd, BUS_SEG_HDR) != 0) {
		e2 = errno;
		segscan_close(&ss);
		errno = e2;
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	if ((f = store_tmp_open(dirfd, tmp)) == NULL) {
		rc = -1;
		goto out;
	}
	idx_hdr_encode(hdr, base);
	fwrite(hdr, 1, sizeof(hdr), f);
	/* Up to the last whole batch; damage ends the index there. */
	while ((rc = segscan_next_batch(&ss, &b)) == SS_REC) {
		if (first || ss.rpos - last_idx >= BUS_IDX_EVERY) {
			e.offset = b.base_off;
			e.recv_ns = b.base_recv;
			e.pos = ss.rpos;
			idx_ent_encode(ent, &e);
			fwrite(ent, 1, sizeof(ent), f);
			last_idx = ss.rpos;
			first = 0;
		}
	}
	if (rc == SS_IOERR) {
		e2 = errno;
		fclose(f);
		unlinkat(dirfd, tmp, 0);
		errno = e2;
		rc = -1;
		goto out;
	}
	rc = store_tmp_commit(f, dirfd, tmp, name,
	    nosync ? STORE_NOSYNC : 0);
	if (rc == 0)
		*valid_end = segscan_at(&ss);
out:
	e2 = errno;
	segscan_close(&ss);
	errno = e2;
	return rc;
}

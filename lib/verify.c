/*
 * busd --verify: read every record of every segment, check every index
 * entry against the record it points at, and say exactly where anything
 * is wrong.  --repair fixes what can be fixed without losing a valid
 * record: a damaged segment is kept whole in DIR/quarantine/ and replaced
 * by a copy of its valid records (offsets unchanged), never cut in place.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "append.h"
#include "bus.h"
#include "ops.h"
#include "segscan.h"
#include "verify.h"

struct vctx {
	const char	*dir;
	const char	*part;
	int		 dirfd;
	int		 repair;
	FILE		*out;
	struct bus_verify *st;
	uint64_t	 last_off;	/* across the partition's segments */
	int64_t		 last_recv;
	int		 any;
};

static void
problem(struct vctx *v, const char *file, uint64_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
problem(struct vctx *v, const char *file, uint64_t pos, const char *fmt, ...)
{
	va_list ap;

	fprintf(v->out, "partition %s: file %s: byte offset %llu: ", v->part,
	    file, (unsigned long long)pos);
	va_start(ap, fmt);
	vfprintf(v->out, fmt, ap);
	va_end(ap);
	fputc('\n', v->out);
	v->st->problems++;
}

/*
 * Write the valid batches of a damaged segment beside it, swap it in.
 * A batch is kept or dropped whole: its CRC covers all its records.
 */
static int
quarantine(struct vctx *v, const char *name, uint64_t base, int sfd)
{
	char qdir[PATH_MAX], qpath[PATH_MAX + 64], src[PATH_MAX], tmp[64];
	uint8_t h[BUS_SEG_HDR];
	struct segscan ss;
	struct bus_batch b;
	const char *why;
	uint64_t last = 0, at, from;
	int64_t lrecv = INT64_MIN;
	int fd, qfd, any = 0, ok = 0, i, rc;

	if (segscan_init(&ss, sfd, BUS_SEG_HDR) != 0) {
		segscan_close(&ss);
		return -1;
	}
	snprintf(qdir, sizeof(qdir), "%s/%s/%s", v->dir, BUS_QUARANTINE,
	    v->part);
	if ((qfd = store_quarantine_dir(v->dir, v->part)) == -1) {
		segscan_close(&ss);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.cleaned", name);
	if ((fd = openat(v->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0640)) == -1) {
		close(qfd);
		segscan_close(&ss);
		return -1;
	}
	if (pread(sfd, h, sizeof(h), 0) != sizeof(h) ||
	    seg_hdr_decode(h, &at, NULL, &why) == -1 || at != base)
		seg_hdr_encode(h, base, now_ns());
	if (write(fd, h, sizeof(h)) != sizeof(h))
		goto out;
	for (;;) {
		rc = segscan_next_batch(&ss, &b);
		if (rc == SS_REC && (!any || (b.base_off > last &&
		    b.base_recv > lrecv))) {
			if (app_write(fd, ss.raw, b.size) == -1)
				goto out;
			last = batch_last_off(&b);
			lrecv = b.last_recv;
			any = 1;
			continue;
		}
		if (rc == SS_IOERR)
			goto out;
		if (rc == SS_END && segscan_at(&ss) >= ss.size)
			break;
		/* Find the next batch that checks out. */
		from = (rc == SS_REC ? ss.rpos : segscan_at(&ss)) + 1;
		if ((rc = segscan_resync(&ss, from, any ? last : 0)) == SS_IOERR)
			goto out;
		if (rc == 0)
			break;
	}
	if (fsync(fd) == -1)
		goto out;
	snprintf(src, sizeof(src), "%s/%s/%s/%s", v->dir, BUS_LOGDIR, v->part,
	    name);
	/* Keep every byte of the original before replacing it. */
	for (i = 0; i < 1000; i++) {
		snprintf(qpath, sizeof(qpath), "%s.%lld%s%.0d", name,
		    (long long)time(NULL), i ? "." : "", i);
		if (linkat(v->dirfd, name, qfd, qpath, 0) == 0)
			break;
		if (errno != EEXIST)
			goto out;
	}
	if (i == 1000 || renameat(v->dirfd, tmp, v->dirfd, name) == -1)
		goto out;
	fsync(v->dirfd);
	fprintf(v->out, "partition %s: file %s: replaced by its valid records; "
	    "original kept as %s/%s\n", v->part, name, qdir, qpath);
	ok = 1;
out:
	close(qfd);
	close(fd);
	segscan_close(&ss);
	if (!ok)
		unlinkat(v->dirfd, tmp, 0);
	return ok ? 0 : -1;
}

static int
check_index(struct vctx *v, uint64_t base, int sfd, uint64_t len,
    int rebuild)
{
	char n[32];
	struct bus_idx_ent *e;
	struct segscan ss;
	struct bus_rec r;
	size_t cnt, i, bad = 0;
	uint64_t end;
	struct stat st;
	int fd;

	store_seg_name(n, sizeof(n), base, "idx");
	if (rebuild)
		goto rebuild;	/* the segment was just rewritten */
	if (fstatat(v->dirfd, n, &st, 0) == -1) {
		problem(v, n, 0, "index missing");
		bad = 1;
	} else if ((e = idx_load(v->dirfd, n, base, &cnt)) == NULL) {
		if (len > BUS_SEG_HDR) {
			problem(v, n, 0, "index unreadable or empty");
			bad = 1;
		}
	} else if (segscan_init(&ss, sfd, BUS_SEG_HDR) != 0) {
		segscan_close(&ss);
		free(e);
		return -1;
	} else {
		for (i = 0; i < cnt; i++) {
			if (e[i].pos < len)
				segscan_seek(&ss, e[i].pos);
			if (e[i].pos >= len || segscan_next(&ss, &r) != SS_REC ||
			    r.offset != e[i].offset ||
			    r.recv_ns != e[i].recv_ns) {
				problem(v, n, BUS_IDX_HDR + i * BUS_IDX_ENT,
				    "entry %zu does not match the batch at "
				    "segment byte offset %llu", i,
				    (unsigned long long)e[i].pos);
				bad = 1;
				break;
			}
		}
		if ((size_t)(st.st_size - BUS_IDX_HDR) % BUS_IDX_ENT != 0) {
			problem(v, n, st.st_size, "torn last entry");
			bad = 1;
		}
		segscan_close(&ss);
		free(e);
	}
rebuild:
	if ((bad || rebuild) && v->repair) {
		char sn[32];

		store_seg_name(sn, sizeof(sn), base, "seg");
		if ((fd = openat(v->dirfd, sn, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1 ||
		    idx_rebuild(v->dirfd, fd, n, base, &end, 0) == -1) {
			fprintf(v->out, "partition %s: file %s: rebuild failed: "
			    "%s\n", v->part, n, strerror(errno));
			if (fd != -1)
				close(fd);
			return -1;
		}
		close(fd);
		if (bad) {
			fprintf(v->out, "partition %s: file %s: rebuilt\n",
			    v->part, n);
			v->st->repaired++;
		}
	}
	return 0;
}

static int
check_segment(struct vctx *v, uint64_t base, int active)
{
	char n[32];
	uint8_t h[BUS_SEG_HDR];
	struct segscan ss;
	struct bus_rec r;
	struct stat st;
	const char *why;
	uint64_t b, at, len, pos = BUS_SEG_HDR;
	ssize_t hn = -1;
	int fd, k, damaged = 0, torn = 0, rc = 0;

	store_seg_name(n, sizeof(n), base, "seg");
	if ((fd = openat(v->dirfd, n, (v->repair ? O_RDWR : O_RDONLY) | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &st) == -1 ||
	    (hn = pread(fd, h, sizeof(h), 0)) == -1 ||
	    segscan_init(&ss, fd, BUS_SEG_HDR) != 0) {
		fprintf(v->out, "partition %s: file %s: %s\n", v->part, n,
		    strerror(errno));
		v->st->problems++;
		if (fd != -1 && hn != -1)
			segscan_close(&ss);
		if (fd != -1)
			close(fd);
		return -1;
	}
	len = st.st_size;
	v->st->segments++;
	if (hn < BUS_SEG_HDR || seg_hdr_decode(h, &b, NULL, &why) == -1 ||
	    b != base) {
		problem(v, n, 0, "%s", hn < BUS_SEG_HDR ? "short header" :
		    b != base ? "base offset does not match the name" : why);
		damaged = 1;
	}
	while (!damaged) {
		k = segscan_next(&ss, &r);
		if (k == SS_REC && v->any && (r.offset <= v->last_off ||
		    r.recv_ns <= v->last_recv)) {
			why = r.offset <= v->last_off ? "offset not above the "
			    "previous record's" : "receive time not above the "
			    "previous record's";
			k = SS_DAMAGED;
			pos = ss.rpos;
		} else {
			why = ss.why;
			pos = segscan_at(&ss);
		}
		if (k == SS_REC) {
			v->last_off = r.offset;
			v->last_recv = r.recv_ns;
			v->any = 1;
			v->st->records++;
			continue;
		}
		if (k == SS_IOERR) {
			problem(v, n, pos, "read: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (k == SS_END && pos >= len)
			break;
		if (k == SS_END)
			why = "batch runs past the end of the file";
		/* A torn tail is damage only where nothing valid follows. */
		if (active && seg_resync(fd, pos + 1, v->any ? v->last_off : 0,
		    &at) == 0) {
			problem(v, n, pos, "torn tail: %llu byte(s) after the "
			    "last whole batch (%s)",
			    (unsigned long long)(len - pos), why);
			torn = 1;
			break;
		}
		problem(v, n, pos, "%s", why);
		damaged = 1;
		/* Count what follows, for the report. */
		while (segscan_resync(&ss, pos + 1, v->any ? v->last_off :
		    0) == 1) {
			while ((k = segscan_next(&ss, &r)) == SS_REC &&
			    r.offset > v->last_off) {
				v->last_off = r.offset;
				v->last_recv = r.recv_ns;
				v->st->records++;
			}
			pos = k == SS_REC ? ss.rpos : segscan_at(&ss);
			if (k == SS_IOERR || pos >= len)
				break;
		}
	}
	segscan_close(&ss);
	if (v->repair && torn) {
		if (ftruncate(fd, pos) == -1 || fdatasync(fd) == -1) {
			fprintf(v->out, "partition %s: file %s: truncate: %s\n",
			    v->part, n, strerror(errno));
			rc = -1;
		} else {
			fprintf(v->out, "partition %s: file %s: torn tail cut at "
			    "byte offset %llu\n", v->part, n,
			    (unsigned long long)pos);
			v->st->repaired++;
			len = pos;
		}
	}
	if (v->repair && damaged) {
		if (quarantine(v, n, base, fd) == -1) {
			fprintf(v->out, "partition %s: file %s: quarantine "
			    "failed: %s\n", v->part, n, store_strerror(errno));
			rc = -1;
		} else
			v->st->repaired++;
	}
	/* After a repair the index is rebuilt from the new file. */
	if (check_index(v, base, fd, len, v->repair && (torn || damaged)) ==
	    -1)
		rc = -1;
	close(fd);
	return rc;
}

int
store_verify(const char *dir, int repair, FILE *out, struct bus_verify *st)
{
	char **names, p[PATH_MAX];
	uint64_t *segs;
	size_t n, i, nsegs, j;
	struct vctx v;
	int rc = 0, lk;

	memset(st, 0, sizeof(*st));
	if (store_list_partitions(dir, &names, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		memset(&v, 0, sizeof(v));
		v.dir = dir;
		v.part = names[i];
		v.repair = repair;
		v.out = out;
		v.st = st;
		snprintf(p, sizeof(p), "%s/%s/%s", dir, BUS_LOGDIR, names[i]);
		if ((v.dirfd = store_open_part(dir, names[i])) == -1 ||
		    store_list_segments(v.dirfd, &segs, &nsegs) == -1) {
			fprintf(out, "partition %s: %s\n", names[i],
			    strerror(errno));
			st->problems++;
			if (v.dirfd != -1)
				close(v.dirfd);
			rc = -1;
			continue;
		}
		st->partitions++;
		/* Repairs rewrite files: not beside bus-compact/bus-rotate. */
		lk = repair ? plock_take(v.dirfd, 0, 1) : -1;
		for (j = 0; j < nsegs; j++)
			if (check_segment(&v, segs[j], j + 1 == nsegs) == -1)
				rc = -1;
		if (lk >= 0)
			plock_release(lk);
		free(segs);
		close(v.dirfd);
	}
	store_free_names(names, n);
	return rc;
}

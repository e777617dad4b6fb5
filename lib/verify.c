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

#include "bus.h"
#include "ops.h"
#include "verify.h"

struct vctx {
	const char	*dir;
	const char	*part;
	int		 dirfd;
	int		 repair;
	FILE		*out;
	struct verify_stats *st;
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

/* Read the whole file; NULL on error. */
static uint8_t *
slurp(int fd, size_t *len)
{
	struct stat st;
	uint8_t *b;
	size_t done = 0;
	ssize_t n;

	if (fstat(fd, &st) == -1)
		return NULL;
	if ((b = malloc(st.st_size ? st.st_size : 1)) == NULL)
		return NULL;
	while (done < (size_t)st.st_size) {
		n = pread(fd, b + done, st.st_size - done, done);
		if (n <= 0) {
			free(b);
			return NULL;
		}
		done += n;
	}
	*len = done;
	return b;
}

/* Write the valid records of a damaged segment beside it, swap it in. */
static int
quarantine(struct vctx *v, const char *name, uint64_t base,
    const uint8_t *buf, size_t len)
{
	char qdir[PATH_MAX], qpath[PATH_MAX + 64], src[PATH_MAX], tmp[64];
	uint8_t h[BUS_SEG_HDR];
	struct bus_rec r;
	const char *why;
	size_t pos = BUS_SEG_HDR;
	uint64_t last = 0, at;
	int64_t lrecv = INT64_MIN;
	ssize_t k;
	int fd, any = 0, ok = 0, i;

	snprintf(qdir, sizeof(qdir), "%s/quarantine", v->dir);
	mkdir(qdir, 0750);
	snprintf(qdir, sizeof(qdir), "%s/quarantine/%s", v->dir, v->part);
	if (mkdir(qdir, 0750) == -1 && errno != EEXIST)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.cleaned", name);
	if ((fd = openat(v->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644)) == -1)
		return -1;
	if (len >= BUS_SEG_HDR)
		memcpy(h, buf, BUS_SEG_HDR);
	if (len < BUS_SEG_HDR || seg_hdr_decode(h, &at, NULL, &why) == -1 ||
	    at != base)
		seg_hdr_encode(h, base, now_ns());
	if (write(fd, h, sizeof(h)) != sizeof(h))
		goto out;
	while (pos < len) {
		k = seg_rec_decode(buf + pos, len - pos, &r, &why);
		if (k > 0 && (!any || (r.offset > last && r.recv_ns > lrecv))) {
			if (write(fd, buf + pos, k) != k)
				goto out;
			last = r.offset;
			lrecv = r.recv_ns;
			any = 1;
			pos += k;
			continue;
		}
		/* Find the next record that checks out. */
		for (pos++; pos + BUS_REC_HDR <= len; pos++) {
			if (!seg_rec_plausible(buf + pos, len - pos))
				continue;
			k = seg_rec_decode(buf + pos, len - pos, &r, &why);
			if (k > 0 && (!any || (r.offset > last &&
			    r.recv_ns > lrecv)))
				break;
		}
		if (pos + BUS_REC_HDR > len)
			break;
	}
	if (fsync(fd) == -1)
		goto out;
	snprintf(src, sizeof(src), "%s/%s/%s/%s", v->dir, BUS_LOGDIR, v->part,
	    name);
	/* Keep every byte of the original before replacing it. */
	for (i = 0; i < 1000; i++) {
		snprintf(qpath, sizeof(qpath), "%s/%s.%lld%s%.0d", qdir, name,
		    (long long)time(NULL), i ? "." : "", i);
		if (link(src, qpath) == 0)
			break;
		if (errno != EEXIST)
			goto out;
	}
	if (i == 1000 || renameat(v->dirfd, tmp, v->dirfd, name) == -1)
		goto out;
	fsync(v->dirfd);
	fprintf(v->out, "partition %s: file %s: replaced by its valid records; "
	    "original kept as %s\n", v->part, name, qpath);
	ok = 1;
out:
	close(fd);
	if (!ok)
		unlinkat(v->dirfd, tmp, 0);
	return ok ? 0 : -1;
}

static int
check_index(struct vctx *v, uint64_t base, const uint8_t *buf, size_t len,
    int rebuild)
{
	char n[32];
	struct bus_idx_ent *e;
	struct bus_rec r;
	const char *why;
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
	} else {
		for (i = 0; i < cnt; i++) {
			if (e[i].pos >= len || seg_rec_decode(buf + e[i].pos,
			    len - e[i].pos, &r, &why) <= 0 ||
			    r.offset != e[i].offset ||
			    r.recv_ns != e[i].recv_ns) {
				problem(v, n, BUS_IDX_HDR + i * BUS_IDX_ENT,
				    "entry %zu does not match the record at "
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
		free(e);
	}
rebuild:
	if ((bad || rebuild) && v->repair) {
		char sn[32];

		store_seg_name(sn, sizeof(sn), base, "seg");
		if ((fd = openat(v->dirfd, sn, O_RDONLY | O_CLOEXEC)) == -1 ||
		    idx_rebuild(v->dirfd, fd, n, base, &end) == -1) {
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
	uint8_t *buf;
	struct bus_rec r;
	const char *why;
	size_t len, pos = BUS_SEG_HDR;
	uint64_t b, at;
	ssize_t k;
	int fd, damaged = 0, torn = 0, rc = 0;

	store_seg_name(n, sizeof(n), base, "seg");
	if ((fd = openat(v->dirfd, n, (v->repair ? O_RDWR : O_RDONLY) |
	    O_CLOEXEC)) == -1 || (buf = slurp(fd, &len)) == NULL) {
		fprintf(v->out, "partition %s: file %s: %s\n", v->part, n,
		    strerror(errno));
		v->st->problems++;
		if (fd != -1)
			close(fd);
		return -1;
	}
	v->st->segments++;
	if (len < BUS_SEG_HDR || seg_hdr_decode(buf, &b, NULL, &why) == -1 ||
	    b != base) {
		problem(v, n, 0, "%s", len < BUS_SEG_HDR ? "short header" :
		    b != base ? "base offset does not match the name" : why);
		damaged = 1;
	}
	while (!damaged && pos < len) {
		k = seg_rec_decode(buf + pos, len - pos, &r, &why);
		if (k > 0 && v->any && (r.offset <= v->last_off ||
		    r.recv_ns <= v->last_recv)) {
			why = r.offset <= v->last_off ? "offset not above the "
			    "previous record's" : "receive time not above the "
			    "previous record's";
			k = -1;
		}
		if (k > 0) {
			v->last_off = r.offset;
			v->last_recv = r.recv_ns;
			v->any = 1;
			v->st->records++;
			pos += k;
			continue;
		}
		if (k == 0)
			why = "record runs past the end of the file";
		/* A torn tail is damage only where nothing valid follows. */
		if (active && seg_resync(fd, pos + 1, v->any ? v->last_off : 0,
		    &at) == 0) {
			problem(v, n, pos, "torn tail: %zu byte(s) after the "
			    "last whole record (%s)", len - pos, why);
			torn = 1;
			break;
		}
		problem(v, n, pos, "%s", why);
		damaged = 1;
		/* Count what follows, for the report. */
		while (seg_resync(fd, pos + 1, v->any ? v->last_off : 0, &at) == 1) {
			pos = at;
			if ((k = seg_rec_decode(buf + pos, len - pos, &r,
			    &why)) <= 0)
				break;
			v->last_off = r.offset;
			v->last_recv = r.recv_ns;
			v->st->records++;
			pos += k;
			while (pos < len && (k = seg_rec_decode(buf + pos,
			    len - pos, &r, &why)) > 0 && r.offset > v->last_off) {
				v->last_off = r.offset;
				v->last_recv = r.recv_ns;
				v->st->records++;
				pos += k;
			}
			if (pos >= len)
				break;
		}
	}
	if (v->repair && torn) {
		if (ftruncate(fd, pos) == -1 || fdatasync(fd) == -1) {
			fprintf(v->out, "partition %s: file %s: truncate: %s\n",
			    v->part, n, strerror(errno));
			rc = -1;
		} else {
			fprintf(v->out, "partition %s: file %s: torn tail cut at "
			    "byte offset %zu\n", v->part, n, pos);
			v->st->repaired++;
			len = pos;
		}
	}
	if (v->repair && damaged) {
		if (quarantine(v, n, base, buf, len) == -1) {
			fprintf(v->out, "partition %s: file %s: quarantine "
			    "failed: %s\n", v->part, n, strerror(errno));
			rc = -1;
		} else
			v->st->repaired++;
		free(buf);
		close(fd);
		if ((fd = openat(v->dirfd, n, O_RDONLY | O_CLOEXEC)) == -1 ||
		    (buf = slurp(fd, &len)) == NULL) {
			if (fd != -1)
				close(fd);
			return -1;
		}
	}
	if (check_index(v, base, buf, len, v->repair && (torn || damaged)) == -1)
		rc = -1;
	free(buf);
	close(fd);
	return rc;
}

int
store_verify(const char *dir, int repair, FILE *out, struct verify_stats *st)
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
		if ((v.dirfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
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

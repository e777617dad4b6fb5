/*
 * busd's start: load every partition, repair what a crash left, and
 * bring back the receive clock and the producers' sequence numbers.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "busd.h"

#define WBUF_SIZE	(1024 * 1024)	/* pending bytes per partition */

#define SCAN_ACTIVE	1	/* count the records of the active segment */
#define SCAN_PRODUCERS	2	/* learn the producers' sequence numbers */

static uint64_t	scan_records(struct part *, int, uint64_t, uint64_t *, int *,
		    int);

/*
 * Open every partition; for each, check the active segment from its first
 * record: a torn tail is cut (and logged), damage followed by valid
 * records is not cut but sealed off in a segment of its own.  Indexes
 * that are missing or doubtful are rebuilt.  The receive clock comes
 * back from the records, and the producers' sequence numbers from each
 * partition's producers file and the records it does not cover.
 */
void
recover(void)
{
	char **names;
	size_t n, i;

	if (store_list_partitions(dir, &names, &n) == -1)
		fatal(EX_IOERR, "%s/%s", dir, BUS_LOGDIR);
	for (i = 0; i < n; i++)
		part_load(names[i], 0);
	store_free_names(names, n);
	/* The file of earlier versions: the partitions' files replace it. */
	{
		char path[PATH_MAX];

		if (store_path(path, sizeof(path), dir, "producers") == 0)
			unlink(path);
	}
	clock_published = clock_last;
	{
		uint8_t b[8];

		le64_put(b, (uint64_t)clock_last);
		if (pwrite(clockfd, b, 8, 0) != 8)
			fatal(EX_IOERR, "%s/%s/%s", dir, BUS_LOGDIR, BUS_CLOCK);
	}
}

/* Scan fd from pos; track the clock, the last offset and what flags say. */
static uint64_t
scan_records(struct part *p, int fd, uint64_t pos, uint64_t *last_off,
    int *any, int flags)
{
	uint8_t *buf;
	size_t cap = 4 << 20, have = 0, off = 0;
	struct bus_rec r;
	const char *why;
	ssize_t n, k;

	if ((buf = malloc(cap)) == NULL)
		fatal(EX_OSERR, NULL);
	for (;;) {
		if (off > 0) {
			memmove(buf, buf + off, have - off);
			have -= off;
			off = 0;
		}
		if (have == cap) {
			if (cap >= BUS_REC_MAX)
				break;
			cap *= 2;
			if ((buf = realloc(buf, cap)) == NULL)
				fatal(EX_OSERR, NULL);
		}
		if ((n = pread(fd, buf + have, cap - have, pos + have)) < 0)
			fatal(EX_IOERR, "partition %s: read", p->name);
		have += n;
		while ((k = seg_rec_decode(buf + off, have - off, &r, &why)) > 0) {
			if (*any && r.offset <= *last_off)
				break;
			*last_off = r.offset;
			*any = 1;
			if (r.recv_ns > clock_last)
				clock_last = r.recv_ns;
			if (r.recv_ns > p->last_recv)
				p->last_recv = r.recv_ns;
			if (flags & SCAN_ACTIVE)
				p->nrecs++;
			if ((flags & SCAN_PRODUCERS) && r.producer != 0)
				pprod_learn(p, &r);
			off += k;
			pos += k;
		}
		if (k != 0 || n == 0)
			break;
	}
	free(buf);
	return pos;
}

struct part *
part_load(const char *name, int create)
{
	struct part *p;
	struct stat st;
	uint64_t *segs = NULL, base, end, last_off = 0, at;
	uint8_t h[BUS_SEG_HDR];
	size_t nsegs = 0, i;
	char n[32];
	const char *why;
	int any = 0, fd, stale = 0;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal(EX_OSERR, NULL);
	strlcpy(p->name, name, sizeof(p->name));
	RB_INIT(&p->topics);
	RB_INIT(&p->prods);
	p->fd = p->idxfd = p->topicsfd = -1;
	if (create) {
		if (mkdirat(logfd, name, 0750) == -1 && errno != EEXIST) {
			log_warn("partition %s: mkdir", name);
			free(p);
			return NULL;
		}
		fsync(logfd);	/* the new name must outlive a crash */
	}
	if ((p->dirfd = openat(logfd, name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("partition %s", name);
		free(p);
		return NULL;
	}
	/* Without a good file every segment is read: then write one. */
	stale = pprods_load(p) == -1 && !create;
	if ((p->topicsfd = openat(p->dirfd, BUS_TOPICS, O_RDWR | O_CREAT |
	    O_APPEND | O_CLOEXEC, 0644)) == -1)
		fatal(EX_IOERR, "partition %s: %s", name, BUS_TOPICS);
	{
		FILE *f;
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		int tfd = dup(p->topicsfd);

		if (tfd != -1 && (f = fdopen(tfd, "r")) != NULL) {
			rewind(f);
			while ((len = getline(&line, &cap, f)) > 0) {
				if (line[len - 1] == '\n')
					line[--len] = '\0';
				if (len > 0 && topic_check(line, len, &why) == 0) {
					struct topic *t = calloc(1, sizeof(*t));

					if (t == NULL ||
					    (t->name = strdup(line)) == NULL)
						fatal(EX_OSERR, NULL);
					if (RB_INSERT(topic_tree, &p->topics, t)) {
						free(t->name);
						free(t);
					}
				}
			}
			free(line);
			fclose(f);
		} else if (tfd != -1)
			close(tfd);
	}
	if (store_list_segments(p->dirfd, &segs, &nsegs) == -1)
		fatal(EX_IOERR, "partition %s", name);

	/* Sealed segments: rebuild indexes that are missing or doubtful. */
	for (i = 0; i + 1 < nsegs; i++) {
		struct bus_idx_ent *e;
		size_t cnt;

		store_seg_name(n, sizeof(n), segs[i], "seg");
		if ((fd = openat(p->dirfd, n, O_RDONLY | O_CLOEXEC)) == -1 ||
		    fstat(fd, &st) == -1)
			fatal(EX_IOERR, "partition %s: %s", name, n);
		store_seg_name(n, sizeof(n), segs[i], "idx");
		e = idx_load(p->dirfd, n, segs[i], &cnt);
		at = BUS_SEG_HDR;
		/* A sealed segment without records has a header-only index. */
		if ((e == NULL && st.st_size > BUS_SEG_HDR) ||
		    (e != NULL && e[cnt - 1].pos >= (uint64_t)st.st_size)) {
			log_warnx("partition %s: rebuilding index %s", name, n);
			if (idx_rebuild(p->dirfd, fd, n, segs[i], &end) == -1)
				log_warn("partition %s: %s", name, n);
		} else if (e != NULL)
			at = e[cnt - 1].pos;
		free(e);
		/* The newest record (and clock) may be in the last sealed. */
		if (segs[i + 1] > p->prods_mark) {
			/* Sealed after the producers file was written. */
			scan_records(p, fd, BUS_SEG_HDR, &last_off, &any,
			    SCAN_PRODUCERS);
			stale = 1;
		} else if (i + 2 == nsegs)
			scan_records(p, fd, at, &last_off, &any, 0);
		close(fd);
	}

	if (nsegs == 0) {
		free(segs);
		if (part_new_segment(p, 0) == -1)
			fatal(EX_IOERR, "partition %s: cannot create a segment",
			    name);
		p->next_off = 0;
		goto done;
	}

	/* The active segment. */
	base = segs[nsegs - 1];
	free(segs);
	store_seg_name(n, sizeof(n), base, "seg");
	if ((p->fd = openat(p->dirfd, n, O_RDWR | O_APPEND | O_CLOEXEC)) == -1 ||
	    fstat(p->fd, &st) == -1)
		fatal(EX_IOERR, "partition %s: %s", name, n);
	p->base = base;
	if (st.st_size < BUS_SEG_HDR || pread(p->fd, h, sizeof(h), 0) !=
	    sizeof(h) || seg_hdr_decode(h, &at, NULL, &why) == -1 ||
	    at != base) {
		if (st.st_size > BUS_SEG_HDR * 2) {
			/*
			 * Not a header torn at creation: records follow it.
			 * Keep every byte (readers report the damage, and
			 * busd --verify --repair can rewrite it), and go on
			 * in a new segment past whatever offsets it holds.
			 */
			end = scan_records(p, p->fd, BUS_SEG_HDR, &last_off,
			    &any, SCAN_ACTIVE | SCAN_PRODUCERS);
			log_warnx("partition %s: %s: damaged segment header; "
			    "%lld bytes kept as they are, segment sealed",
			    name, n, (long long)st.st_size);
			close(p->fd);
			p->fd = -1;
			p->next_off = any && last_off + 1 > base ? last_off + 1 :
			    base + 1;
			if (part_new_segment(p, p->next_off) == -1)
				fatal(EX_IOERR, "partition %s", name);
			goto done;
		}
		log_warnx("partition %s: %s: torn segment header rewritten",
		    name, n);
		seg_hdr_encode(h, base, now_ns());
		if (ftruncate(p->fd, 0) == -1 ||
		    pwrite(p->fd, h, sizeof(h), 0) != sizeof(h))
			fatal(EX_IOERR, "partition %s: %s", name, n);
		st.st_size = BUS_SEG_HDR;
	}
	end = scan_records(p, p->fd, BUS_SEG_HDR, &last_off, &any,
	    SCAN_ACTIVE | SCAN_PRODUCERS);
	if (end < (uint64_t)st.st_size) {
		if (seg_resync(p->fd, end + 1, any ? last_off : 0, &at) == 1) {
			/*
			 * Valid records follow the damage: this is not a
			 * torn tail.  Keep every byte, seal it, go on in a
			 * new segment past the highest offset found.
			 */
			log_warnx("partition %s: %s: damaged record at byte "
			    "offset %llu with valid records after it; segment "
			    "kept as is and sealed", name, n,
			    (unsigned long long)end);
			/* Count every valid record past every damaged one. */
			for (;;) {
				end = scan_records(p, p->fd, at, &last_off,
				    &any, SCAN_ACTIVE | SCAN_PRODUCERS);
				if (end >= (uint64_t)st.st_size ||
				    seg_resync(p->fd, end + 1, last_off,
				    &at) != 1)
					break;
			}
			close(p->fd);
			p->fd = -1;
			p->next_off = any ? last_off + 1 : p->base;
			if (part_new_segment(p, p->next_off) == -1)
				fatal(EX_IOERR, "partition %s", name);
			goto done;
		}
		log_warnx("partition %s: %s: torn tail cut at byte offset %llu "
		    "(%llu bytes dropped)", name, n, (unsigned long long)end,
		    (unsigned long long)(st.st_size - end));
		if (ftruncate(p->fd, end) == -1)
			fatal(EX_IOERR, "partition %s: %s: truncate", name, n);
		fdatasync(p->fd);
	}
	p->size = end;
	p->next_off = any && last_off + 1 > p->base ? last_off + 1 : p->base;
	store_seg_name(n, sizeof(n), p->base, "idx");
	if (idx_rebuild(p->dirfd, p->fd, n, p->base, &end) == -1)
		fatal(EX_IOERR, "partition %s: %s", name, n);
	if ((p->idxfd = openat(p->dirfd, n, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1 ||
	    fstat(p->idxfd, &st) == -1)
		fatal(EX_IOERR, "partition %s: %s", name, n);
	p->idx_size = st.st_size;
	{
		struct bus_idx_ent *e;
		size_t cnt;

		if ((e = idx_load(p->dirfd, n, p->base, &cnt)) != NULL) {
			p->idx_pos = e[cnt - 1].pos;
			p->idx_any = 1;
			free(e);
		}
	}
	if (p->nrecs)
		log_debug("partition %s: %llu records in the active segment, "
		    "next offset %llu", name, (unsigned long long)p->nrecs,
		    (unsigned long long)p->next_off);
done:
	if (stale) {
		/* Cover what the scan found: the next start need not. */
		if (p->fd != -1)
			fdatasync(p->fd);
		pprods_save(p);
	}
	if ((p->wbuf = malloc(WBUF_SIZE)) == NULL)
		fatal(EX_OSERR, NULL);
	p->wcap = WBUF_SIZE;
	RB_INSERT(part_tree, &parts, p);
	return p;
}

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
#include "segscan.h"
#include "storecheck.h"
#include "busd.h"

#define WBUF_SIZE	(1024 * 1024)	/* pending bytes per partition */

#define SCAN_ACTIVE	1	/* count the records of the active segment */
#define SCAN_PRODUCERS	2	/* learn the producers' sequence numbers */

static uint64_t	scan_records(struct part *, struct segscan *, uint64_t *, int *,
		    int);
static uint64_t	scan_fd(struct part *, int, uint64_t, uint64_t *, int *, int);
static struct part *part_dir_open(const char *, int, int *);
static void	part_free(struct part *);
static void	topics_load(struct part *);
static int	topic_add(const char *, size_t, void *);
static int	sealed_check(struct part *, const uint64_t *, size_t,
		    uint64_t *, int *);
static void	sealed_tail(struct part *, int, const char *, struct stat *,
		    uint64_t *, int *);
static void	active_load(struct part *, uint64_t, uint64_t *, int *);
static int	active_header(struct part *, const char *, struct stat *,
		    uint64_t *, int *);
static int	active_tail(struct part *, struct segscan *, const char *, off_t,
		    uint64_t, uint64_t *, int *);
static void	active_index(struct part *, uint64_t);

/*
 * Load every partition; for each, check the active segment from its first
 * record: a torn tail is cut (and logged), damage followed by valid
 * records is not cut but sealed off in a segment of its own.  Indexes
 * that are missing or doubtful are rebuilt.  The receive clock comes
 * back from the records, and the producers' sequence numbers from each
 * partition's producers file and the records it does not cover.  Only
 * the most recently loaded partitions stay open (part_use() opens the
 * others when a message comes); one that cannot be loaded is left out,
 * with an error, and busd serves the others.
 */
void
recover(void)
{
	char **names;
	size_t n, i, failed = 0;

	if (store_list_partitions(dir, &names, &n) == -1)
		fatal(EX_IOERR, "%s/%s", dir, BUS_LOGDIR);
	for (i = 0; i < n; i++)
		if (part_load(names[i], 0) == NULL)
			failed++;
	store_free_names(names, n);
	part_dirs_sync();
	if (failed)
		log_warnx("%zu of %zu partitions could not be loaded; serving "
		    "the others", failed, n);
	log_debug("%d partitions loaded, %d open (at most %d)", nparts,
	    nparts_open, max_open_parts);
	/* The file of earlier versions: the partitions' files replace it. */
	{
		char path[PATH_MAX];

		if (store_path(path, sizeof(path), dir, "producers") == 0)
			unlink(path);
	}
	clock_published = clock_last;
	if (store_clock_write(clockfd, clock_last) == -1)
		fatal(EX_IOERR, "%s/%s/%s", dir, BUS_LOGDIR, BUS_CLOCK);
}

/*
 * Scan records with ss up to the first batch that does not check out or
 * whose offsets do not follow the last one; track the clock, the last offset
 * and what flags say.  Returns the position where the scan stopped.
 */
static uint64_t
scan_records(struct part *p, struct segscan *ss, uint64_t *last_off,
    int *any, int flags)
{
	struct bus_rec r;
	int rc;

	while ((rc = segscan_next(ss, &r)) == SS_REC) {
		if (*any && r.offset <= *last_off) {
			/* The scan ends before its batch. */
			segscan_seek(ss, ss->rpos);
			break;
		}
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
	}
	if (rc == SS_IOERR)
		fatal(EX_IOERR, "partition %s: read", p->name);
	return segscan_at(ss);
}

/* scan_records() of fd from pos. */
static uint64_t
scan_fd(struct part *p, int fd, uint64_t pos, uint64_t *last_off, int *any,
    int flags)
{
	struct segscan ss;
	uint64_t end;

	if (segscan_init(&ss, fd, pos) != 0)
		fatal(EX_OSERR, "partition %s", p->name);
	end = scan_records(p, &ss, last_off, any, flags);
	segscan_close(&ss);
	return end;
}

/*
 * Load partition name, made first if create: its producers file, its
 * topics, its sealed segments and its active segment, repaired.  It is
 * left open, the most recently used.  NULL if it cannot be (logged,
 * errno set).
 */
struct part *
part_load(const char *name, int create)
{
	struct part *p;
	uint64_t *segs = NULL, last_off = 0;
	size_t nsegs = 0;
	int any = 0, stale = 0, e, fresh;

	part_trim();
	if ((p = part_dir_open(name, create, &fresh)) == NULL)
		return NULL;
	/* A directory just made holds nothing to read. */
	if (!fresh) {
		/*
		 * Without a good file every segment is read: then write
		 * one, unless the active segment is all there is (it is
		 * read at every start anyway, and the file costs syncs).
		 */
		stale = pprods_load(p) == -1 && !create;
		topics_load(p);
	}
	if (!fresh && store_list_segments(p->dirfd, &segs, &nsegs) == -1) {
		e = errno;
		log_warn("partition %s: list of segments", name);
		part_free(p);
		errno = e;
		return NULL;
	}
	if (nsegs <= 1)
		stale = 0;
	if (sealed_check(p, segs, nsegs, &last_off, &any))
		stale = 1;
	if (nsegs == 0) {
		if (part_new_segment(p, 0) == -1) {
			e = errno;
			free(segs);
			part_free(p);
			errno = e;
			return NULL;
		}
		p->next_off = 0;
	} else
		active_load(p, segs[nsegs - 1], &last_off, &any);
	free(segs);
	if (stale) {
		/* Cover what the scan found: the next start need not. */
		if (p->app.sfd != -1)
			fdatasync(p->app.sfd);
		pprods_save(p);
	}
	RB_INSERT(part_tree, &parts, p);
	part_opened(p);
	return p;
}

/*
 * A new partition for DIR/log/name, made first if create (then *fresh
 * says whether it was made now); NULL: failed.
 */
static struct part *
part_dir_open(const char *name, int create, int *fresh)
{
	struct part *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal(EX_OSERR, NULL);
	strlcpy(p->name, name, sizeof(p->name));
	RB_INIT(&p->topics);
	RB_INIT(&p->prods);
	p->topicsfd = -1;
	if (app_init(&p->app, -1, -1, 0, 0, 0, 0, WBUF_SIZE) == -1)
		fatal(EX_OSERR, NULL);
	p->dirfd = -1;
	*fresh = 0;
	if (create) {
		if (mkdirat(logfd, name, 0750) == 0)
			*fresh = 1;
		else if (errno != EEXIST) {
			log_warn("partition %s: mkdir", name);
			part_free(p);
			return NULL;
		}
		/* The new name outlives a crash from the next sync on. */
		part_dir_changed(NULL, 1);
	}
	if ((p->dirfd = store_openat(logfd, name, O_RDONLY | O_DIRECTORY,
	    0)) == -1) {
		log_warnx("%s/%s/%s: %s", dir, BUS_LOGDIR, name,
		    store_strerror(errno));
		part_free(p);
		return NULL;
	}
	return p;
}

/* A partition that could not be loaded: its memory and files. */
static void
part_free(struct part *p)
{
	struct topic *t, *nt;
	int e = errno;

	RB_FOREACH_SAFE(t, topic_tree, &p->topics, nt) {
		RB_REMOVE(topic_tree, &p->topics, t);
		free(t->name);
		free(t);
	}
	pprods_free(p);
	if (p->app.sfd != -1)
		close(p->app.sfd);
	if (p->app.ifd != -1)
		close(p->app.ifd);
	if (p->topicsfd != -1)
		close(p->topicsfd);
	if (p->dirfd != -1)
		close(p->dirfd);
	app_free(&p->app);
	free(p);
	errno = e;
}

/*
 * Take the topics p's topics file lists.  The file is opened for
 * appending only when a topic is added (part_topic()).
 */
static void
topics_load(struct part *p)
{
	if (store_topics_read(p->dirfd, topic_add, p) == -1 &&
	    errno != ENOENT)
		log_warn("partition %s: %s", p->name, BUS_TOPICS);
}

/* One topic of the topics file, for p's tree. */
static int
topic_add(const char *name, size_t len, void *arg)
{
	struct part *p = arg;
	struct topic *t;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->name = strdup(name)) == NULL)
		fatal(EX_OSERR, NULL);
	if (RB_INSERT(topic_tree, &p->topics, t) != NULL) {
		free(t->name);
		free(t);
	}
	return 0;
}

/*
 * The sealed segments of p (all of segs but the last): rebuild indexes
 * that are missing or doubtful, and scan the records the producers file
 * does not cover (then 1) and the newest one, for the clock.
 */
static int
sealed_check(struct part *p, const uint64_t *segs, size_t nsegs,
    uint64_t *last_off, int *any)
{
	struct bus_idx_ent *e;
	struct stat st;
	uint64_t end, at;
	size_t cnt, i;
	char n[32], why[128];
	int fd, scanned = 0;

	for (i = 0; i + 1 < nsegs; i++) {
		store_seg_name(n, sizeof(n), segs[i], "seg");
		if ((fd = store_openat(p->dirfd, n, O_RDONLY, 0)) == -1 ||
		    fstat(fd, &st) == -1)
			fatalx(EX_IOERR, "%s/%s/%s/%s: %s", dir, BUS_LOGDIR,
			    p->name, n, store_strerror(errno));
		/*
		 * Sealed after the producers file was written: its seal's
		 * sync may not have finished (commit_seal()).  Its records
		 * are scanned for the producers, and a tail that a crash of
		 * the machine tore is cut.
		 */
		if (segs[i + 1] > p->prods_mark) {
			sealed_tail(p, fd, n, &st, last_off, any);
			scanned = 1;
		}
		store_seg_name(n, sizeof(n), segs[i], "idx");
		e = idx_load(p->dirfd, n, segs[i], &cnt);
		at = BUS_SEG_HDR;
		/*
		 * A sealed segment without records has a header-only index;
		 * one whose entries are plausible but wrong (idx_check()) is
		 * rebuilt too.
		 */
		why[0] = '\0';
		if ((e == NULL && st.st_size > BUS_SEG_HDR) ||
		    (e != NULL && e[cnt - 1].pos >= (uint64_t)st.st_size) ||
		    (e != NULL && idx_check(fd, e, cnt, why, sizeof(why)) !=
		    1)) {
			log_warnx("partition %s: rebuilding index %s%s%s",
			    p->name, n, why[0] ? ": " : "", why);
			if (idx_rebuild(p->dirfd, fd, n, segs[i], &end,
			    0) == -1)
				log_warn("partition %s: %s", p->name, n);
		} else if (e != NULL)
			at = e[cnt - 1].pos;
		free(e);
		/* The newest record (and clock) may be in the last sealed. */
		if (segs[i + 1] <= p->prods_mark && i + 2 == nsegs)
			scan_fd(p, fd, at, last_off, any, 0);
		close(fd);
	}
	return scanned;
}

/*
 * Sealed segment n of p, open on fd, of st->st_size bytes, which the
 * producers file does not cover: scan its records for the producers and
 * the clock.  A bad batch with no valid batch after it is a torn tail
 * (the machine crashed before the seal's sync) and is cut, as in the
 * active segment; damage with valid batches after it is left for
 * --verify to report, as in any sealed segment.  st follows the cut.
 */
static void
sealed_tail(struct part *p, int fd, const char *n, struct stat *st,
    uint64_t *last_off, int *any)
{
	struct segscan ss;
	uint64_t end;
	int wfd;

	if (segscan_init(&ss, fd, BUS_SEG_HDR) != 0)
		fatal(EX_OSERR, "partition %s", p->name);
	end = scan_records(p, &ss, last_off, any, SCAN_PRODUCERS);
	if (end >= (uint64_t)st->st_size || end < BUS_SEG_HDR ||
	    segscan_resync(&ss, end + 1, *any ? *last_off : 0) == 1) {
		segscan_close(&ss);
		return;
	}
	segscan_close(&ss);
	if ((wfd = store_openat(p->dirfd, n, O_WRONLY, 0)) == -1 ||
	    ftruncate(wfd, end) == -1 || fdatasync(wfd) == -1)
		fatalx(EX_IOERR, "%s/%s/%s/%s: cutting a torn tail at byte "
		    "offset %llu: %s", dir, BUS_LOGDIR, p->name, n,
		    (unsigned long long)end, store_strerror(errno));
	close(wfd);
	log_warnx("partition %s: %s: sealed before a crash: torn tail cut at "
	    "byte offset %llu (%llu bytes dropped)", p->name, n,
	    (unsigned long long)end,
	    (unsigned long long)(st->st_size - end));
	st->st_size = end;
}

/*
 * The active segment of p, at base: its header, then its records from
 * the first.  A torn tail is cut; damage is sealed off, and p goes on
 * in a new segment.
 */
static void
active_load(struct part *p, uint64_t base, uint64_t *last_off, int *any)
{
	struct segscan ss;
	struct stat st;
	uint64_t end;
	char n[32];
	int rc;

	store_seg_name(n, sizeof(n), base, "seg");
	if ((p->app.sfd = store_openat(p->dirfd, n, O_RDWR | O_APPEND,
	    0)) == -1 || fstat(p->app.sfd, &st) == -1)
		fatalx(EX_IOERR, "%s/%s/%s/%s: %s", dir, BUS_LOGDIR, p->name,
		    n, store_strerror(errno));
	p->base = base;
	if (active_header(p, n, &st, last_off, any) == -1)
		return;
	if (segscan_init(&ss, p->app.sfd, BUS_SEG_HDR) != 0)
		fatal(EX_OSERR, "partition %s", p->name);
	end = scan_records(p, &ss, last_off, any,
	    SCAN_ACTIVE | SCAN_PRODUCERS);
	rc = 0;
	if (end < (uint64_t)st.st_size)
		rc = active_tail(p, &ss, n, st.st_size, end, last_off, any);
	segscan_close(&ss);
	if (rc == -1)
		return;
	p->next_off = *any && *last_off + 1 > p->base ? *last_off + 1 :
	    p->base;
	active_index(p, end);
	if (p->nrecs)
		log_debug("partition %s: %llu records in the active segment, "
		    "next offset %llu", p->name, (unsigned long long)p->nrecs,
		    (unsigned long long)p->next_off);
}

/*
 * Check the header of p's active segment n.  A torn one (nothing after
 * it) is written again.  A damaged one with records after it is kept,
 * and p goes on in a new segment: then -1.
 */
static int
active_header(struct part *p, const char *n, struct stat *st,
    uint64_t *last_off, int *any)
{
	uint8_t h[BUS_SEG_HDR];
	uint64_t at;
	const char *why;

	if (st->st_size >= BUS_SEG_HDR && pread(p->app.sfd, h, sizeof(h), 0) ==
	    sizeof(h) && seg_hdr_decode(h, &at, NULL, &why) != -1 &&
	    at == p->base)
		return 0;
	/* Another format is not damage: never seal or rewrite it. */
	if (st->st_size >= BUS_SEG_HDR && seg_hdr_version(h) != -1 &&
	    seg_hdr_version(h) != BUS_SEG_VERSION)
		fatal(EX_DATAERR, "partition %s: %s: %s", p->name, n, why);
	if (st->st_size > BUS_SEG_HDR * 2) {
		/*
		 * Not a header torn at creation: records follow it.
		 * Keep every byte (readers report the damage, and
		 * busd --verify --repair can rewrite it), and go on
		 * in a new segment past whatever offsets it holds.
		 */
		scan_fd(p, p->app.sfd, BUS_SEG_HDR, last_off, any,
		    SCAN_ACTIVE | SCAN_PRODUCERS);
		log_warnx("partition %s: %s: damaged segment header; "
		    "%lld bytes kept as they are, segment sealed",
		    p->name, n, (long long)st->st_size);
		close(p->app.sfd);
		p->app.sfd = -1;
		p->next_off = *any && *last_off + 1 > p->base ? *last_off + 1 :
		    p->base + 1;
		if (part_new_segment(p, p->next_off) == -1)
			fatal(EX_IOERR, "partition %s", p->name);
		return -1;
	}
	log_warnx("partition %s: %s: torn segment header rewritten",
	    p->name, n);
	seg_hdr_encode(h, p->base, now_ns());
	if (ftruncate(p->app.sfd, 0) == -1 ||
	    pwrite(p->app.sfd, h, sizeof(h), 0) != sizeof(h))
		fatal(EX_IOERR, "partition %s: %s", p->name, n);
	st->st_size = BUS_SEG_HDR;
	return 0;
}

/*
 * A bad batch at byte end of p's active segment n, of size bytes, where
 * the scan ss stopped.  If valid batches follow it, every byte is kept
 * and p goes on in a new segment: -1.  Otherwise it is a torn tail, and
 * cut at the end of the last whole batch.
 */
static int
active_tail(struct part *p, struct segscan *ss, const char *n, off_t size,
    uint64_t end, uint64_t *last_off, int *any)
{
	if (segscan_resync(ss, end + 1, *any ? *last_off : 0) == 1) {
		/*
		 * Valid records follow the damage: this is not a
		 * torn tail.  Keep every byte, seal it, go on in a
		 * new segment past the highest offset found.
		 */
		log_warnx("partition %s: %s: damaged batch at byte "
		    "offset %llu with valid batches after it; segment "
		    "kept as is and sealed", p->name, n,
		    (unsigned long long)end);
		/* Count every valid record past every damaged one. */
		for (;;) {
			end = scan_records(p, ss, last_off, any,
			    SCAN_ACTIVE | SCAN_PRODUCERS);
			if (end >= (uint64_t)size ||
			    segscan_resync(ss, end + 1, *last_off) != 1)
				break;
		}
		close(p->app.sfd);
		p->app.sfd = -1;
		p->next_off = *any ? *last_off + 1 : p->base;
		if (part_new_segment(p, p->next_off) == -1)
			fatal(EX_IOERR, "partition %s", p->name);
		return -1;
	}
	log_warnx("partition %s: %s: torn tail cut at byte offset %llu "
	    "(%llu bytes dropped)", p->name, n, (unsigned long long)end,
	    (unsigned long long)(size - end));
	if (ftruncate(p->app.sfd, end) == -1)
		fatal(EX_IOERR, "partition %s: %s: truncate", p->name, n);
	fdatasync(p->app.sfd);
	return 0;
}

/*
 * Rebuild the index of p's active segment, size bytes, and append to
 * both from there.
 */
static void
active_index(struct part *p, uint64_t size)
{
	struct bus_idx_ent *e;
	struct stat st;
	uint64_t end;
	size_t cnt;
	char n[32];
	int ifd;

	store_seg_name(n, sizeof(n), p->base, "idx");
	if (idx_rebuild(p->dirfd, p->app.sfd, n, p->base, &end, 1) == -1)
		fatal(EX_IOERR, "partition %s: %s", p->name, n);
	if ((ifd = store_openat(p->dirfd, n, O_WRONLY | O_APPEND, 0)) ==
	    -1 || fstat(ifd, &st) == -1)
		fatalx(EX_IOERR, "%s/%s/%s/%s: %s", dir, BUS_LOGDIR, p->name,
		    n, store_strerror(errno));
	e = idx_load(p->dirfd, n, p->base, &cnt);
	app_reset(&p->app, p->app.sfd, ifd, size, st.st_size,
	    e != NULL ? e[cnt - 1].pos : 0, e != NULL);
	free(e);
}

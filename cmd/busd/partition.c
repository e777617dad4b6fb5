/*
 * busd's partitions: the active segment and its index, written a turn at
 * a time, sealed, and cut back when a turn fails; opened on demand and
 * closed when idle, so that a store of many partitions fits in the
 * process's descriptors.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "busd.h"

/*
 * Open partitions.  An open partition holds four descriptors: its
 * directory, its active segment, its index and (once a topic is added)
 * its topics file; and the sync thread may hold a fifth, a dup of the
 * segment.  Only max_open_parts partitions are open at once: the least
 * recently used is closed when another must open, and opened again when
 * a message comes for it.  A closed partition keeps the rest in memory
 * (where its files end, its producers, its topics), so that opening it
 * is three open(2) calls, not a recovery.  Nothing acknowledged depends
 * on a descriptor: pending records are written before a close, and a
 * segment not yet synced goes to the sync thread, which syncs it before
 * it closes it (commit_adopt()).
 */
#define PART_FDS	5		/* descriptors of an open partition */
#define FD_RESERVE	64		/* for the rest: logs, clock, epoll */
#define OPEN_MIN	8		/* open partitions, whatever the limit */
#define OPEN_MAX	65536		/* and at most */

static int	part_open(struct part *);
static int	part_open_files(struct part *);
static int	part_idle(struct part *);
static void	part_make_room(int);
static int	topic_cmp(struct topic *, struct topic *);
static int	part_cmp(struct part *, struct part *);

struct part_tree parts = RB_INITIALIZER(&parts);
int		 nparts;		/* partitions known */
int		 nparts_open;		/* partitions with open files */
int		 max_open_parts = OPEN_MIN; /* at most this many open */
static struct part_list lru = TAILQ_HEAD_INITIALIZER(lru); /* oldest first */

/*
 * Names made since the last sync: new partition directories (in DIR/log)
 * and new segments (in a partition's directory).  The next sync, which
 * makes records durable, makes them durable first: with fsync(2) of the
 * one or two directories, or for more with one syncfs(2), not one fsync
 * per name (a publisher of thousands of new topics would wait for
 * thousands).
 */
static int	 logdir_changed;	/* DIR/log has new names */
static int	 ndirs_changed;		/* partitions with new names */
static struct part *dir_changed;	/* the first of them */

/*
 * How many partitions may be open: what RLIMIT_NOFILE leaves once every
 * client has its socket.
 */
void
part_budget_init(void)
{
	long n;

	n = (nofile_limit - FD_RESERVE - max_clients) / PART_FDS;
	max_open_parts = n < OPEN_MIN ? OPEN_MIN : n > OPEN_MAX ? OPEN_MAX :
	    (int)n;
}

/* A name was made in p's directory (p NULL: none), or in DIR/log. */
void
part_dir_changed(struct part *p, int logdir)
{
	if (logdir)
		logdir_changed = 1;
	/* The same directory twice is still one fsync, not a syncfs. */
	if (p != NULL && p != dir_changed && ndirs_changed++ == 0)
		dir_changed = p;
}

/*
 * For the sync about to start: the directories to sync, dup'ed into
 * fds[0..1] (the sync closes them): their number, or -1 when the sync
 * must be a syncfs(2) of the store (many, or closed since).
 */
int
part_dirs_take(int fds[2])
{
	int n = 0;

	if (!logdir_changed && ndirs_changed == 0)
		return 0;
	if (ndirs_changed > 1 || (ndirs_changed == 1 && !dir_changed->open))
		n = -1;
	else {
		if (logdir_changed && (fds[n] = dup(logfd)) != -1)
			n++;
		if (ndirs_changed == 1 &&
		    (fds[n] = dup(dir_changed->dirfd)) != -1)
			n++;
		if (n < logdir_changed + ndirs_changed) {
			while (n > 0)
				close(fds[--n]);
			n = -1;
		}
	}
	logdir_changed = 0;
	ndirs_changed = 0;
	dir_changed = NULL;
	return n;
}

/* Make the names made since the last sync outlive a crash, now. */
void
part_dirs_sync(void)
{
	if (!logdir_changed && ndirs_changed == 0)
		return;
	if (ndirs_changed > 1 || (ndirs_changed == 1 && !dir_changed->open)) {
		if (syncfs(logfd) == -1)
			log_warn("syncfs of the store");
	} else {
		if (logdir_changed && fsync(logfd) == -1)
			log_warn("fsync %s/%s", dir, BUS_LOGDIR);
		if (ndirs_changed == 1 && fsync(dir_changed->dirfd) == -1)
			log_warn("partition %s: fsync", dir_changed->name);
	}
	logdir_changed = 0;
	ndirs_changed = 0;
	dir_changed = NULL;
}

/*
 * p is about to be used: open it if it is closed, else mark it the most
 * recently used.  0, or -1 with errno (the partition stays closed).
 */
int
part_use(struct part *p)
{
	if (!p->open)
		return part_open(p);
	if (TAILQ_NEXT(p, olink) != NULL) {
		TAILQ_REMOVE(&lru, p, olink);
		TAILQ_INSERT_TAIL(&lru, p, olink);
	}
	return 0;
}

/*
 * p was just loaded with its files open (part_load()): count it.  Room
 * was made before (part_trim()).
 */
void
part_opened(struct part *p)
{
	p->open = 1;
	TAILQ_INSERT_TAIL(&lru, p, olink);
	nparts_open++;
	nparts++;
}

/* Make room for one more open partition. */
void
part_trim(void)
{
	part_make_room(max_open_parts - 1);
}

/*
 * Open the files of closed partition p again.  When descriptors run out
 * anyway (clients took them), half the open partitions are closed and
 * the open tried once more.
 */
static int
part_open(struct part *p)
{
	int e, n;

	part_make_room(max_open_parts - 1);
	if (part_open_files(p) == 0)
		return 0;
	e = errno;
	if ((e != EMFILE && e != ENFILE) || nparts_open == 0) {
		log_warnx("partition %s: cannot open: %s", p->name,
		    strerror(e));
		errno = e;
		return -1;
	}
	n = nparts_open;
	part_make_room(n / 2);
	log_warnx("out of file descriptors with %d partitions open: "
	    "closed %d", n, n - nparts_open);
	if (part_open_files(p) == 0)
		return 0;
	e = errno;
	log_warnx("partition %s: cannot open: %s", p->name, strerror(e));
	errno = e;
	return -1;
}

/* Open p's directory, active segment and index where p left them. */
static int
part_open_files(struct part *p)
{
	struct stat st;
	char n[32];
	int e;

	if (p->app.wbuf == NULL &&
	    (p->app.wbuf = malloc(p->app.wcap)) == NULL)
		return -1;
	if ((p->dirfd = openat(logfd, p->name, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		goto fail;
	store_seg_name(n, sizeof(n), p->base, "seg");
	if ((p->app.sfd = openat(p->dirfd, n, O_RDWR | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(p->app.sfd, &st) == -1)
		goto fail;
	if ((uint64_t)st.st_size != p->app.size) {
		/* busd is the one writer of an active segment. */
		log_warnx("partition %s: %s is %lld bytes, not %llu as busd "
		    "left it", p->name, n, (long long)st.st_size,
		    (unsigned long long)p->app.size);
		errno = EIO;
		goto fail;
	}
	store_seg_name(n, sizeof(n), p->base, "idx");
	if ((p->app.ifd = openat(p->dirfd, n, O_WRONLY | O_APPEND |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		goto fail;
	p->open = 1;
	TAILQ_INSERT_TAIL(&lru, p, olink);
	nparts_open++;
	return 0;
fail:
	e = errno;
	if (p->app.sfd != -1)
		close(p->app.sfd);
	if (p->dirfd != -1)
		close(p->dirfd);
	p->app.sfd = p->dirfd = -1;
	errno = e;
	return -1;
}

/*
 * Close p's files.  What it has pending is written first (part_idle());
 * a segment written since its last sync goes to the sync thread.
 */
void
part_close(struct part *p)
{
	if (!p->open)
		return;
	if (p->unsynced)
		commit_adopt(p->app.sfd);
	else
		close(p->app.sfd);
	p->unsynced = 0;
	close(p->app.ifd);
	if (p->topicsfd != -1)
		close(p->topicsfd);
	close(p->dirfd);
	p->app.sfd = p->app.ifd = p->topicsfd = p->dirfd = -1;
	/* A closed partition needs no buffer: 1 MiB less, or its pages. */
	free(p->app.wbuf);
	p->app.wbuf = NULL;
	TAILQ_REMOVE(&lru, p, olink);
	p->open = 0;
	nparts_open--;
}

/*
 * Make p ready to close: write what it has pending.  Written in the
 * middle of a turn, its part of the turn is committed, as a seal does: a
 * failure later in the turn undoes only what follows.  -1 if the write
 * failed (the turn undoes it; p stays open until then).
 */
static int
part_idle(struct part *p)
{
	struct pprod *pp;

	if (p->app.failed || part_flush(p) == -1)
		return -1;
	if (p->dirty) {
		part_turn_mark(p);
		for (pp = p->touched; pp != NULL; pp = pp->tnext)
			pp->turn_seq = pp->last_seq;
	}
	return 0;
}

/* Close the least recently used partitions until at most keep are open. */
static void
part_make_room(int keep)
{
	struct part *p, *np;

	for (p = TAILQ_FIRST(&lru); p != NULL && nparts_open > keep; p = np) {
		np = TAILQ_NEXT(p, olink);
		if (part_idle(p) == 0)
			part_close(p);
	}
}

/*
 * Start segment base in p: written header, empty index; the new names are
 * synced with the next sync (part_dir_changed()).
 */
int
part_new_segment(struct part *p, uint64_t base)
{
	uint8_t h[BUS_SEG_HDR], ih[BUS_IDX_HDR];
	char n[32], in[32];
	struct stat st;
	mode_t mode;
	int fd, ifd;

	/* Files take the mode of their directory, less x: 0640 in 0750. */
	mode = fstat(p->dirfd, &st) == 0 ? st.st_mode & 0666 : 0640;
	store_seg_name(n, sizeof(n), base, "seg");
	store_seg_name(in, sizeof(in), base, "idx");
	if ((fd = store_openat(p->dirfd, n, O_RDWR | O_CREAT | O_EXCL |
	    O_APPEND, mode)) == -1) {
		log_warn("partition %s: create %s", p->name, n);
		return -1;
	}
	seg_hdr_encode(h, base, now_ns());
	if (write(fd, h, sizeof(h)) != sizeof(h)) {
		log_warn("partition %s: write %s", p->name, n);
		close(fd);
		unlinkat(p->dirfd, n, 0);
		return -1;
	}
	if ((ifd = store_openat(p->dirfd, in, O_WRONLY | O_CREAT | O_TRUNC |
	    O_APPEND, mode)) == -1) {
		log_warn("partition %s: create %s", p->name, in);
		close(fd);
		unlinkat(p->dirfd, n, 0);
		return -1;
	}
	idx_hdr_encode(ih, base);
	if (write(ifd, ih, sizeof(ih)) != sizeof(ih))
		log_warn("partition %s: write %s", p->name, in);
	part_dir_changed(p, 0);
	if (p->app.sfd != -1)
		close(p->app.sfd);
	if (p->app.ifd != -1)
		close(p->app.ifd);
	app_reset(&p->app, fd, ifd, BUS_SEG_HDR, BUS_IDX_HDR, 0, 0);
	p->base = base;
	p->nrecs = 0;
	return 0;
}

/*
 * Seal the active segment (flush, sync) and open the next one.  A seal
 * because the segment is full does not wait for the disk: the sync
 * thread syncs it (commit_seal()); one asked for (wait: a SEAL request,
 * --rotate-at) is synced here, and its producers file written, before
 * it is answered.  In the
 * middle of a turn this commits p's part of the turn: what is sealed
 * stays, and a failure later in the turn undoes only what follows.
 */
void
part_seal(struct part *p, int wait)
{
	struct pprod *pp;

	if (part_use(p) == -1 || part_flush(p) == -1)
		return;
	/* Asked for: the earlier seals' syncs first, then this one here. */
	if (wait && commit_sealing(p))
		commit_seals_wait();
	/*
	 * The sync thread syncs the sealed files, then writes the producers
	 * file as it is now; when too many seals wait for it, here.
	 */
	if (!wait && commit_seal(p) == 0)
		p->unsynced = 0;
	else if (fdatasync(p->app.sfd) == -1 || fdatasync(p->app.ifd) == -1)
		log_warn("partition %s: sync on seal", p->name);
	else {
		/*
		 * The records it covers are on disk: now the snapshot,
		 * unless earlier seals still wait for their sync (theirs
		 * come then, and cover less).
		 */
		p->unsynced = 0;
		if (!commit_sealing(p))
			pprods_save(p);
	}
	if (part_new_segment(p, p->next_off) == -1)
		log_warnx("partition %s: could not open a new segment; "
		    "still appending to %020llu.seg", p->name,
		    (unsigned long long)p->base);
	else {
		/*
		 * The new name: with an asynchronous seal, the sync that
		 * covers the seal takes it, before the producers file is
		 * written; here, where that file is written already, now.
		 * Not in the loop otherwise: a directory's fsync can cost as
		 * much as the segment's data (ext4 commits its journal).
		 */
		if (!commit_sealing(p))
			part_dirs_sync();
		log_debug("partition %s: sealed, next segment %020llu.seg",
		    p->name, (unsigned long long)p->next_off);
	}
	if (p->dirty) {
		part_turn_mark(p);
		for (pp = p->touched; pp != NULL; pp = pp->tnext)
			pp->turn_seq = pp->last_seq;
	}
}

/*
 * Write the pending records of p.  On failure nothing partial stays
 * visible: the file is cut back to its previous size and the offsets
 * handed out for the lost records are taken back.
 */
int
part_flush(struct part *p)
{
	int had = p->app.wlen > 0;

	switch (app_flush(&p->app)) {
	case 0:
		if (had)
			p->unsynced = 1;
		return 0;
	case -2:
		/* The index is a cache: a failure here costs a rebuild. */
		log_warn("partition %s: index write", p->name);
		p->unsynced = 1;
		return 0;
	}
	if (had)
		part_flush_failed(p);
	return -1;
}

/*
 * The write of p's pending records just failed: the segment is cut back
 * to where it was.  The offsets handed out are never handed out again.
 */
void
part_flush_failed(struct part *p)
{
	log_warnx("partition %s: %020llu.seg: write at byte offset %llu: %s",
	    p->name, (unsigned long long)p->base,
	    (unsigned long long)p->app.size, strerror(p->app.failed));
	turn_error = p->app.failed;
}

void
part_topic(struct part *p, const char *t, size_t len)
{
	struct topic key, *tp;
	char name[BUS_TOPIC_MAX + 1];

	memcpy(name, t, len);
	name[len] = '\0';
	key.name = name;
	if (RB_FIND(topic_tree, &p->topics, &key) != NULL)
		return;
	if ((tp = calloc(1, sizeof(*tp))) == NULL ||
	    (tp->name = strdup(name)) == NULL)
		fatal(EX_OSERR, NULL);
	RB_INSERT(topic_tree, &p->topics, tp);
	/* Opened when a topic is added: rarely, after the first ones. */
	if (p->topicsfd == -1 &&
	    (p->topicsfd = store_topics_open(p->dirfd)) == -1)
		log_warn("partition %s: %s", p->name, BUS_TOPICS);
	else if (store_topics_append(p->topicsfd, t, len) == -1)
		log_warn("partition %s: %s", p->name, BUS_TOPICS);
}

/* Remember where p is, to undo what the turn writes after this. */
void
part_turn_mark(struct part *p)
{
	app_mark(&p->app);
	p->turn_nrecs = p->nrecs;
}

/*
 * The turn writes to p.  The first write of the turn: remember how to
 * undo it, and list p with the partitions written this turn.
 */
void
part_dirty(struct part *p)
{
	if (!p->dirty) {
		part_turn_mark(p);
		p->dirty = 1;
		TAILQ_INSERT_TAIL(&dirty, p, dlink);
	}
}

/*
 * Undo a failed turn in p: cut the segment and its index back to where
 * the turn found them (or to its seal, if it sealed p), and set the
 * producers' sequence numbers there back with them.  Readers may have
 * seen those records for a moment; their offsets are not handed out
 * again.
 */
void
part_undo(struct part *p)
{
	struct pprod *pp;

	/* Closed in the turn, p was written up to its mark: nothing to cut. */
	if (p->open && app_undo(&p->app) == -1)
		log_warn("partition %s: undo of a failed turn", p->name);
	p->nrecs = p->turn_nrecs;
	for (pp = p->touched; pp != NULL; pp = pp->tnext)
		pp->last_seq = pp->turn_seq;
}

static int
topic_cmp(struct topic *a, struct topic *b)
{
	return strcmp(a->name, b->name);
}

static int
part_cmp(struct part *a, struct part *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE(topic_tree, topic, entry, topic_cmp);
RB_GENERATE(part_tree, part, entry, part_cmp);

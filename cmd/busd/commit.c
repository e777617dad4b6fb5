/*
 * busd's turn end and group commit: write what the turn gathered, send
 * or hold its acks, and sync in a thread of its own.  The loop reaches
 * the thread only through the commit_* functions: commit_init() starts
 * it, commit_event() takes its news, commit_timeout(), commit_gather()
 * and commit_timer() time the syncs, commit_shutdown() waits for them.
 */
#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "proto.h"
#include "busd.h"

#define SYNC_GATHER_NS	200000		/* wait no longer for them */
#define SYNCFS_MIN	16		/* segments synced with one syncfs */
#define SEALED_MAX	64		/* seals waiting for a sync, at most */

static int	sync_fds(int *, size_t, int);
static void	sync_add(int);
static void	sealed_done(uint64_t, int);
static int	commit_wait_sync(void);
static void	*sync_thread(void *);
static void	sync_start(void);
static void	acks_release(uint64_t, int);
static void	client_hold(struct client *, uint64_t);

struct part_list dirty = TAILQ_HEAD_INITIALIZER(dirty);
int		 turn_error;		/* errno of a failed write this turn */
uint64_t	 turn_no = 1;		/* numbers the turns */
static int64_t	 unsynced_since;	/* first write not yet synced, or 0 */

/*
 * Group commit.  One thread does the fdatasync(2) calls, so that the loop
 * goes on reading while the disk works: everything that arrives during
 * one sync is covered by the next, however many publishers wait.  Syncs
 * are numbered; synced acks wait in their client's obuf behind a mark
 * naming the sync that covers them.
 */
static pthread_mutex_t sy_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sy_cond = PTHREAD_COND_INITIALIZER;
static int	*sy_fds;		/* dup'ed segment fds of the sync */
static size_t	 sy_nfds, sy_cap;
static int	 sy_go;			/* the thread has work (under sy_mtx) */
static int	 sy_quit;		/* the thread should end (under sy_mtx) */
static int	 sy_err;		/* errno of the sync that finished */
static int	 sy_busy;		/* a sync is in flight (loop's view) */
static int	 sy_more;		/* acks wait for the sync after it */
static uint64_t	 sy_issued;		/* number of the last sync started */
static uint64_t	 sy_done;		/* number of the last sync finished */
static int	 sy_evfd = -1;		/* the thread says it finished */
static pthread_t sy_thread;
static int64_t	 sy_finished_at;	/* when the last sync finished */
static int	 sy_released;		/* clients whose acks it released */
static int	 sy_waiting;		/* clients waiting for the next one */

/*
 * Segments of partitions closed before their sync (part_close()).  Their
 * descriptors are gone: the next sync is a syncfs(2) of the store, which
 * writes back every file of it, open or not.
 */
static size_t	 ad_n;			/* closed since the last sync */
static int	 sy_all;		/* this sync: syncfs (under sy_mtx) */

/*
 * Segments sealed and not yet synced (part_seal()).  A seal does not
 * wait for the disk: the next sync covers the sealed files, and once it
 * is done, the producers file is written as it was at the seal, so
 * that it never covers records that are not on disk.  Until then, only
 * a crash of the machine could tear a sealed segment's tail, and the
 * start cuts such a tail (recover.c), as it does the active segment's.
 */
struct sealed {
	struct part		*p;	/* the partition */
	int			 sfd;	/* dups of its segment and index */
	int			 ifd;
	struct pprods_snap	*snap;	/* its producers at the seal */
	uint64_t		 gen;	/* the sync that covers it, or 0 */
};
static struct sealed	 sealed[SEALED_MAX];
static size_t		 nsealed;

/*
 * Start the sync thread.  Returns the fd that becomes readable when a
 * sync finishes: the loop then calls commit_event().
 */
int
commit_init(void)
{
	if ((sy_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal(EX_OSERR, "eventfd");
	if ((errno = pthread_create(&sy_thread, NULL, sync_thread, NULL)) != 0)
		fatal(EX_OSERR, "pthread_create");
	return sy_evfd;
}

/*
 * fd, the segment of a partition being closed with records not yet
 * synced, is closed: the next sync covers it all the same.
 */
void
commit_adopt(int fd)
{
	close(fd);
	ad_n++;
	if (unsynced_since == 0)
		unsynced_since = now_ns();
}

/*
 * Seal p's active segment without waiting for the disk: its files go to
 * the next sync, with a snapshot of its producers.  -1 (nothing done)
 * if too many seals wait already, or out of descriptors or memory: then
 * the caller syncs them itself.
 */
int
commit_seal(struct part *p)
{
	struct sealed *s;

	if (nsealed == SEALED_MAX)
		return -1;
	s = &sealed[nsealed];
	s->p = p;
	s->gen = 0;
	if ((s->sfd = dup(p->app.sfd)) == -1)
		return -1;
	if ((s->ifd = dup(p->app.ifd)) == -1 ||
	    (s->snap = pprods_snap(p)) == NULL) {
		close(s->sfd);
		if (s->ifd != -1)
			close(s->ifd);
		return -1;
	}
	nsealed++;
	/* Synced with the rest: at the interval, or for a synced ack. */
	if (unsynced_since == 0)
		unsynced_since = now_ns();
	return 0;
}

/* Does a seal of p wait for its sync? */
int
commit_sealing(const struct part *p)
{
	size_t i;

	for (i = 0; i < nsealed; i++)
		if (sealed[i].p == p)
			return 1;
	return 0;
}

/*
 * The seals that sync gen covered: write their producers files (e ==
 * 0), or, when it failed, forget them and make the next sync a syncfs
 * of the store (their descriptors are gone).
 */
static void
sealed_done(uint64_t gen, int e)
{
	size_t i, k = 0;

	for (i = 0; i < nsealed; i++) {
		if (sealed[i].gen == 0 || sealed[i].gen > gen) {
			sealed[k++] = sealed[i];
			continue;
		}
		if (e == 0)
			pprods_snap_save(sealed[i].p, sealed[i].snap);
		else {
			free(sealed[i].snap);
			ad_n++;
		}
	}
	nsealed = k;
}

/*
 * Sync the n segments fds (and close them): one fdatasync(2) each, or
 * with all, or for many at once, one syncfs(2), which costs one journal
 * commit where each fdatasync costs its own.  0, or an errno.
 */
static int
sync_fds(int *fds, size_t n, int all)
{
	size_t i;
	int e = 0;

	if (all) {
		if (syncfs(logfd) == -1)
			e = errno;
	} else if (n >= SYNCFS_MIN) {
		if (syncfs(fds[0]) == -1)
			e = errno;
	} else
		for (i = 0; i < n; i++)
			if (fdatasync(fds[i]) == -1 && e == 0)
				e = errno;
	for (i = 0; i < n; i++)
		close(fds[i]);
	return e;
}

/* The loop's timeout (ms, -1: none), cut to the next --sync-interval sync. */
int
commit_timeout(int64_t now, int timeout)
{
	int64_t wait_ns;

	/* A sync in flight wakes the loop when it is done. */
	if (unsynced_since && sync_interval && !sy_busy) {
		wait_ns = unsynced_since + sync_interval - now;
		if (wait_ns <= 0)
			timeout = 0;
		else if (timeout == -1 || wait_ns / 1000000 + 1 < timeout)
			timeout = (int)(wait_ns / 1000000 + 1);
	}
	return timeout;
}

/*
 * While the next sync gathers publishers (see commit_turn_end()), the
 * nanoseconds the loop may wait for them; -1 otherwise.
 */
int64_t
commit_gather(int64_t now)
{
	int64_t wait_ns;

	if (!sy_more || sy_busy)
		return -1;
	wait_ns = sy_finished_at + SYNC_GATHER_NS - now;
	return wait_ns > 0 ? wait_ns : 0;
}

/*
 * --sync-interval: sync what is written once the interval has passed,
 * in the sync thread (after the one in flight, if there is one).
 */
void
commit_timer(int64_t now)
{
	if (unsynced_since && sync_interval && !sy_busy &&
	    now - unsynced_since >= sync_interval)
		sync_start();
}

/* Shutdown: let the syncs in flight finish, and run the one acks wait for. */
void
commit_shutdown(void)
{
	while (sy_busy || sy_more || nsealed > 0)
		if (commit_wait_sync() == -1)
			break;
}

/*
 * Run syncs, waiting for them, until no seal waits for one (a SEAL
 * request answers once every segment it covers is on disk).
 */
void
commit_seals_wait(void)
{
	while (nsealed > 0)
		if (commit_wait_sync() == -1)
			break;
}

/* Start a sync if none is in flight, else wait for the one that is. */
static int
commit_wait_sync(void)
{
	struct pollfd pfd = { sy_evfd, POLLIN, 0 };

	if (!sy_busy) {
		sync_start();
		return 0;
	}
	if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
		return -1;
	commit_event();
	return 0;
}

/*
 * The end of a turn: write every dirty partition, publish the clock,
 * release written acks, and hold synced ones for the next sync (which
 * the sync thread runs while the loop goes on).  Returns the errno of
 * a write that failed in the turn, else 0.
 */
int
commit_turn_end(void)
{
	struct client *c, *nc;
	struct part *p;
	int e, want_sync = 0;

	/*
	 * A turn is all or nothing for the clients who published in it: if
	 * one write fails, every partition of the turn is cut back,
	 * and each of those clients gets an ERROR instead of its acks, with
	 * its producer's sequence set back so that a resend is stored once.
	 */
	TAILQ_FOREACH(p, &dirty, dlink) {
		part_flush(p);
		if (p->unsynced && unsynced_since == 0)
			unsynced_since = now_ns();
	}
	if (clock_last != clock_published &&
	    store_clock_write(clockfd, clock_last) == 0)
		clock_published = clock_last;
	if ((e = turn_error) != 0)
		TAILQ_FOREACH(p, &dirty, dlink)
			part_undo(p);
	TAILQ_FOREACH_SAFE(c, &turn, tlink, nc) {
		TAILQ_REMOVE(&turn, c, tlink);
		c->in_turn = 0;
		if (e != 0 && c->published) {
			c->olen = c->pend;
			if (c->prod)
				c->prod->last_seq = c->seq_mark;
			client_error(c, 0, e == ENOSPC ? PE_NOSPC : PE_IO,
			    strerror(e));
			c->closing = 1;
		}
		/*
		 * Synced acks wait for the next sync; anything else waits
		 * only behind acks already held, to keep the order.
		 */
		if (c->ack == ACK_SYNCED && c->published) {
			client_hold(c, sy_issued + 1);
			want_sync = 1;
		} else if (c->nmarks > 0)
			client_hold(c, c->marks[c->nmarks - 1].gen);
		else
			c->sendable = c->olen;
		c->published = 0;
		client_send(c);
		if (c->closing && c->ooff == c->olen)
			client_close(c);
	}
	/*
	 * Start the next sync once the publishers the last one released
	 * are back, or after a short while: then one fdatasync covers them
	 * all instead of every other one.
	 */
	if (want_sync)
		sy_more = 1;
	if (sy_more && !sy_busy && (sy_waiting >= sy_released ||
	    now_ns() - sy_finished_at >= SYNC_GATHER_NS))
		sync_start();
	while ((p = TAILQ_FIRST(&dirty)) != NULL) {
		TAILQ_REMOVE(&dirty, p, dlink);
		p->dirty = 0;
		p->app.failed = 0;
		p->touched = NULL;
	}
	turn_error = 0;
	turn_no++;
	return e;
}

/* The sync thread: fdatasync what it is given, say when done. */
static void *
sync_thread(void *arg)
{
	uint64_t one = 1;
	int e, all;

	pthread_mutex_lock(&sy_mtx);
	for (;;) {
		while (!sy_go && !sy_quit)
			pthread_cond_wait(&sy_cond, &sy_mtx);
		if (sy_quit && !sy_go)
			break;
		all = sy_all;
		pthread_mutex_unlock(&sy_mtx);
		e = sync_fds(sy_fds, sy_nfds, all);
		pthread_mutex_lock(&sy_mtx);
		sy_err = e;
		sy_go = 0;
		(void)write(sy_evfd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&sy_mtx);
	return NULL;
}

/* fd into the next sync's list. */
static void
sync_add(int fd)
{
	int *nf;

	if (sy_nfds == sy_cap) {
		sy_cap = sy_cap ? sy_cap * 2 : 16;
		if ((nf = reallocarray(sy_fds, sy_cap, sizeof(*nf))) == NULL)
			fatal(EX_OSERR, NULL);
		sy_fds = nf;
	}
	sy_fds[sy_nfds++] = fd;
}

/* Start the next sync: every segment written since its last sync. */
static void
sync_start(void)
{
	struct part *p;
	size_t i;
	int all, nd, fd;

	sy_nfds = 0;
	/*
	 * New names first (their directories); with segments closed
	 * unsynced, a syncfs of the store's file system.
	 */
	if (sy_cap < 2) {
		sy_cap = 16;
		if ((sy_fds = reallocarray(sy_fds, sy_cap,
		    sizeof(*sy_fds))) == NULL)
			fatal(EX_OSERR, NULL);
	}
	if ((nd = part_dirs_take(sy_fds)) > 0)
		sy_nfds = nd;
	all = ad_n > 0 || nd == -1;
	ad_n = 0;
	RB_FOREACH(p, part_tree, &parts) {
		if (!p->unsynced)
			continue;
		/* A dup: sealing may close the segment while it syncs. */
		if ((fd = dup(p->app.sfd)) == -1) {
			log_warn("partition %s: dup", p->name);
			continue;
		}
		sync_add(fd);
		p->unsynced = 0;
		log_debug("partition %s: in sync %llu", p->name,
		    (unsigned long long)sy_issued + 1);
	}
	/* Sealed segments: the thread closes their descriptors. */
	for (i = 0; i < nsealed; i++) {
		if (sealed[i].gen != 0)
			continue;
		sync_add(sealed[i].sfd);
		sync_add(sealed[i].ifd);
		sealed[i].gen = sy_issued + 1;
	}
	unsynced_since = 0;
	sy_issued++;
	sy_busy = 1;
	sy_more = 0;
	sy_waiting = 0;
	pthread_mutex_lock(&sy_mtx);
	sy_all = all;
	sy_go = 1;
	pthread_cond_signal(&sy_cond);
	pthread_mutex_unlock(&sy_mtx);
}

/* A sync finished: release the acks it covers, start the next one. */
void
commit_event(void)
{
	uint64_t v;
	int e;

	if (read(sy_evfd, &v, sizeof(v)) != sizeof(v) && sy_busy) {
		/* Not finished yet (shutdown polls): nothing to do. */
		if (errno == EAGAIN)
			return;
	}
	if (sy_busy) {
		pthread_mutex_lock(&sy_mtx);
		e = sy_err;
		pthread_mutex_unlock(&sy_mtx);
		sy_busy = 0;
		sy_done = sy_issued;
		sy_finished_at = now_ns();
		if (e != 0) {
			log_warnx("fdatasync: %s: synced acks withheld",
			    strerror(e));
			unsynced_since = now_ns();
			/* Tried again as a syncfs: the fds are gone. */
			ad_n++;
		}
		if (e == 0)
			log_debug("sync %llu: done", (unsigned long long)sy_done);
		sealed_done(sy_done, e);
		acks_release(sy_done, e);
	}
}

/* Acks held up to sync gen go out; on a failed sync, an ERROR instead. */
static void
acks_release(uint64_t gen, int e)
{
	struct client *c, *nc;
	size_t k;

	sy_released = 0;
	TAILQ_FOREACH_SAFE(c, &clients, link, nc) {
		if (c->nmarks == 0 || c->marks[0].gen > gen)
			continue;
		sy_released++;
		for (k = 0; k < c->nmarks && c->marks[k].gen <= gen; k++)
			c->sendable = c->marks[k].end;
		memmove(c->marks, c->marks + k, (c->nmarks - k) *
		    sizeof(*c->marks));
		c->nmarks -= k;
		if (e != 0) {
			/* What was written stays; it was not synced. */
			c->olen = c->sendable = c->ooff;
			c->nmarks = 0;
			client_error(c, 0, e == ENOSPC ? PE_NOSPC : PE_IO,
			    strerror(e));
			c->sendable = c->olen;
			c->closing = 1;
		}
		client_send(c);
		/*
		 * Closed at the end of the turn, not here: this runs for an
		 * event of the loop, and a later event of the same round may
		 * be c's.
		 */
		if (c->closing && c->ooff == c->olen)
			client_turn(c);
	}
}

/* Hold obuf up to its end until sync gen has finished. */
static void
client_hold(struct client *c, uint64_t gen)
{
	struct ackmark *nm;

	if (c->nmarks > 0 && c->marks[c->nmarks - 1].gen == gen) {
		c->marks[c->nmarks - 1].end = c->olen;
		return;
	}
	if (c->nmarks == c->capmarks) {
		c->capmarks = c->capmarks ? c->capmarks * 2 : 4;
		if ((nm = reallocarray(c->marks, c->capmarks,
		    sizeof(*nm))) == NULL)
			fatal(EX_OSERR, NULL);
		c->marks = nm;
	}
	c->marks[c->nmarks].end = c->olen;
	c->marks[c->nmarks].gen = gen;
	c->nmarks++;
	if (gen == sy_issued + 1)
		sy_waiting++;
}

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

static void	sync_all(void);
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

/* The loop's timeout (ms, -1: none), cut to the next --sync-interval sync. */
int
commit_timeout(int64_t now, int timeout)
{
	int64_t wait_ns;

	if (unsynced_since && sync_interval) {
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

/* --sync-interval: sync what is written once the interval has passed. */
void
commit_timer(int64_t now)
{
	if (unsynced_since && sync_interval &&
	    now - unsynced_since >= sync_interval)
		sync_all();
}

/* Shutdown: let the syncs in flight finish, and run the one acks wait for. */
void
commit_shutdown(void)
{
	while (sy_busy || sy_more) {
		struct pollfd pfd = { sy_evfd, POLLIN, 0 };

		if (!sy_busy) {
			sync_start();
			continue;
		}
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			break;
		commit_event();
	}
}

/*
 * The end of a turn: write every dirty partition, publish the clock,
 * release written acks, and hold synced ones for the next sync (which
 * the sync thread runs while the loop goes on).
 */
void
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
}

/* fdatasync every partition written since its last sync. */
static void
sync_all(void)
{
	struct part *p;
	int failed = 0;

	RB_FOREACH(p, part_tree, &parts) {
		if (!p->unsynced)
			continue;
		if (fdatasync(p->app.sfd) == -1) {
			log_warn("partition %s: fdatasync", p->name);
			failed = 1;
		} else {
			p->unsynced = 0;
			log_debug("partition %s: synced", p->name);
		}
	}
	/* A failed sync is tried again one interval later. */
	unsynced_since = failed ? now_ns() : 0;
}

/* The sync thread: fdatasync what it is given, say when done. */
static void *
sync_thread(void *arg)
{
	uint64_t one = 1;
	size_t i;
	int e;

	pthread_mutex_lock(&sy_mtx);
	for (;;) {
		while (!sy_go && !sy_quit)
			pthread_cond_wait(&sy_cond, &sy_mtx);
		if (sy_quit && !sy_go)
			break;
		pthread_mutex_unlock(&sy_mtx);
		e = 0;
		for (i = 0; i < sy_nfds; i++) {
			if (fdatasync(sy_fds[i]) == -1 && e == 0)
				e = errno;
			close(sy_fds[i]);
		}
		pthread_mutex_lock(&sy_mtx);
		sy_err = e;
		sy_go = 0;
		(void)write(sy_evfd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&sy_mtx);
	return NULL;
}

/* Start the next sync: every segment written since its last sync. */
static void
sync_start(void)
{
	struct part *p;
	int *nf;

	sy_nfds = 0;
	RB_FOREACH(p, part_tree, &parts) {
		if (!p->unsynced)
			continue;
		if (sy_nfds == sy_cap) {
			sy_cap = sy_cap ? sy_cap * 2 : 16;
			if ((nf = reallocarray(sy_fds, sy_cap,
			    sizeof(*nf))) == NULL)
				fatal(EX_OSERR, NULL);
			sy_fds = nf;
		}
		/* A dup: sealing may close the segment while it syncs. */
		if ((sy_fds[sy_nfds] = dup(p->app.sfd)) == -1) {
			log_warn("partition %s: dup", p->name);
			continue;
		}
		sy_nfds++;
		p->unsynced = 0;
	}
	sy_issued++;
	sy_busy = 1;
	sy_more = 0;
	sy_waiting = 0;
	pthread_mutex_lock(&sy_mtx);
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
		}
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

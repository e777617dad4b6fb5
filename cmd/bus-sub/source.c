/*
 * bus-sub: the partitions read and their merge into one stream.
 *
 * Reads the segment files directly (busd is not needed) and follows them
 * with inotify.  Several partitions form one stream ordered by receive
 * time: a binary heap keyed by each partition's next record.  While
 * following more than one partition, a record is released only once the
 * store clock (log/.clock, written by busd after each batch is in the
 * files) has reached it, so a record never overtakes an earlier one that
 * was still on its way to another partition.
 *
 * Every partition read keeps next, the offset of the first record not
 * yet dealt with; src_written() copies it to wnext once the output has
 * been written, and only wnext is saved (see position.c).
 */
#include <sys/types.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "cursor.h"
#include "sub.h"

static int64_t	read_clock(void);
static void	refill_all(void);
static void	consider(const char *);
static int	topics_match(struct sub *);
static void	gap_check(struct sub *);
static void	refill(struct sub *);
static int	wanted(const struct sub *, const struct bus_rec *);
static void	heap_push(struct sub *);
static struct sub *heap_pop(void);
static void	heap_remove(struct sub *);

static struct src_conf cf;		/* as given to src_open() */
static const struct cursor *autopos;	/* where lone partitions resume */
static int	 grouped;		/* partitions start by src_start() */
static int	 resumed;		/* no position: start after base */
static int64_t	 base_time;		/* the time a cursor stands at */
static struct sub **subs;		/* every partition seen */
static size_t	 nsubs;
static struct sub **heap;		/* selected, with a record peeked */
static size_t	 nheap;
static int	 nselected;		/* partitions read */
static int	 moved;			/* some next changed */
static int64_t	 erecv;			/* recv of the last dealt with */
static int64_t	 wrecv;			/* erecv when output was written */
static int	 ifd = -1;		/* inotify */
static int	 logwd = -1;		/* its watch of the log directory */
static int	 polling;		/* inotify unavailable: poll */
static char	 clockpath[PATH_MAX];
static int	 clockfd = -1;
static int64_t	 pin = INT64_MAX;	/* -e: nothing received after */
static int64_t	 start_clock;		/* the store clock at src_open() */
static int	 scanned;		/* the first scan is done */

/*
 * Get ready to read the store: make it when following, watch it, read
 * the clock.  Partitions are read once src_scan() finds them.
 */
void
src_open(const struct src_conf *c)
{
	char p[PATH_MAX];
	struct stat st;

	cf = *c;
	if (store_path(p, sizeof(p), cf.dir, BUS_LOGDIR) == -1)
		errx(EX_USAGE, "%s: path too long", cf.dir);
	if (stat(p, &st) == -1) {
		if (!cf.follow)
			errx(EX_NOINPUT, "no bus store at %s", cf.dir);
		if (store_mkdirs(cf.dir) == -1)
			err(EX_CANTCREAT, "%s", cf.dir);
	}
	if (cf.follow) {
		if ((ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
		    (logwd = inotify_add_watch(ifd, p, IN_CREATE |
		    IN_MOVED_TO | IN_MODIFY | IN_DELETE)) == -1) {
			warn("inotify unavailable; polling every %d ms",
			    POLL_MS);
			polling = 1;
		}
	}
	if (snprintf(clockpath, sizeof(clockpath), "%s/%s", p, BUS_CLOCK) >=
	    (int)sizeof(clockpath))
		errx(EX_USAGE, "%s: path too long", cf.dir);
	start_clock = read_clock();
	/* -e: what was stored when we started, and nothing after. */
	if (!cf.follow && store_busd_alive(cf.dir, NULL))
		pin = start_clock;
}

/* The store clock when src_open() read it: "now" for --from end. */
int64_t
src_start_clock(void)
{
	return start_clock;
}

/*
 * Where partitions without a position in pos start: after base when
 * resumed or grouped; else at --from.  Lone (not grouped) partitions
 * start as src_scan() finds them, at their position in pos if any.
 * recv is what the stream's position stands at.
 */
void
src_position(const struct cursor *pos, int isresumed, int isgrouped,
    int64_t base, int64_t recv)
{
	autopos = pos;
	resumed = isresumed;
	grouped = isgrouped;
	base_time = base;
	erecv = wrecv = recv;
}

/*
 * Up to which receive time records may be released now: while several
 * partitions are followed, the store clock (see above).
 */
int64_t
src_limit(void)
{
	int64_t c;

	if (!cf.follow || nselected <= 1)
		return pin;
	c = read_clock();
	/* With busd gone, nothing more is on its way. */
	if (nheap > 0 && heap[0]->rec.recv_ns > c &&
	    !store_busd_alive(cf.dir, NULL))
		c = INT64_MAX;
	return c;
}

/*
 * The partition whose record (in its rec) comes next, if received at or
 * before limit; out of the heap until src_advance().
 */
struct sub *
src_next(int64_t limit)
{
	if (nheap == 0 || heap[0]->rec.recv_ns > limit)
		return NULL;
	return heap_pop();
}

/* s->rec is dealt with (delivered): the position moves past it. */
void
src_dealt(struct sub *s)
{
	s->next = s->rec.offset + 1;
	erecv = s->rec.recv_ns;
	moved = 1;
}

/* Go past s->rec and peek the next record of s. */
void
src_advance(struct sub *s)
{
	preader_advance(s->pr);
	refill(s);
}

/*
 * Everything dealt with so far is written: copy next to wnext.  1 if a
 * position to save changed.
 */
int
src_written(void)
{
	struct sub *s;
	size_t k;
	int changed = 0;

	if (wrecv != erecv) {
		wrecv = erecv;
		changed = 1;
	}
	if (!moved)
		return changed;
	moved = 0;
	for (k = 0; k < nsubs; k++) {
		s = subs[k];
		if (s->pr != NULL && s->known &&
		    (!s->wknown || s->wnext != s->next)) {
			s->wnext = s->next;
			s->wknown = 1;
			changed = 1;
		}
	}
	return changed;
}

/* The receive time of the last record written. */
int64_t
src_written_recv(void)
{
	return wrecv;
}

/*
 * Into c, the written position of every partition read (owned: only
 * those a group member owns); -1 with errno.
 */
int
src_save(struct cursor *c, int owned)
{
	struct sub *s;
	size_t k;

	for (k = 0; k < nsubs; k++) {
		s = subs[k];
		if ((!owned || s->own != -1) && s->pr != NULL && s->wknown &&
		    cursor_set(c, s->name, s->wnext) == -1)
			return -1;
	}
	return 0;
}

/* The partitions seen: n of them, the i-th. */
size_t
src_count(void)
{
	return nsubs;
}

struct sub *
src_part(size_t i)
{
	return subs[i];
}

/* The store clock; reopened until busd has made it. */
static int64_t
read_clock(void)
{
	if (clockfd == -1)
		clockfd = open(clockpath, O_RDONLY | O_CLOEXEC);
	return clockfd == -1 ? 0 : store_clock_read(clockfd);
}

/*
 * --until: has everything received up to it been dealt with?  Yes once
 * nothing at or before it waits in the heap and every record received
 * before it is in the files: the store clock passed it, or the time
 * passed it and busd is gone (a busd started later stamps later times)
 * or stayed idle for UNTIL_GRACE_MS.
 */
int
src_until_done(void)
{
	int64_t now;

	if (!cf.until_set || (nheap > 0 && heap[0]->rec.recv_ns <= cf.until))
		return 0;
	if (read_clock() < cf.until) {
		now = now_ns();
		if (now <= cf.until)
			return 0;
		if (now - cf.until <= UNTIL_GRACE_MS * MS &&
		    store_busd_alive(cf.dir, NULL))
			return 0;
	}
	refill_all();
	return nheap == 0 || heap[0]->rec.recv_ns > cf.until;
}

/* List the partitions: read those new or changed that match. */
void
src_scan(void)
{
	char **names;
	size_t n, i;

	if (store_list_partitions(cf.dir, &names, &n) == -1)
		err(EX_IOERR, "%s/%s", cf.dir, BUS_LOGDIR);
	for (i = 0; i < n; i++)
		consider(names[i]);
	store_free_names(names, n);
	scanned = 1;	/* partitions found from now on are new */
}

static struct sub *
find_sub(const char *name)
{
	size_t i;

	for (i = 0; i < nsubs; i++)
		if (strcmp(subs[i]->name, name) == 0)
			return subs[i];
	return NULL;
}

/*
 * A partition seen for the first time, or whose topics changed.  A lone
 * subscriber reads every partition that matches; a group member only
 * those src_start() is asked for (see rebalance() in position.c).
 */
static void
consider(const char *name)
{
	char p[PATH_MAX];
	struct sub *s;

	if ((s = find_sub(name)) == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL ||
		    (subs = reallocarray(subs, nsubs + 1, sizeof(*subs))) == NULL)
			err(EX_OSERR, NULL);
		strlcpy(s->name, name, sizeof(s->name));
		s->heap = -1;
		s->wd = -1;
		s->own = -1;
		subs[nsubs++] = s;
		if (ifd != -1 && !polling) {
			snprintf(p, sizeof(p), "%s/%s/%s", cf.dir, BUS_LOGDIR,
			    name);
			s->wd = inotify_add_watch(ifd, p, IN_MODIFY | IN_CREATE |
			    IN_MOVED_TO | IN_DELETE);
			if (s->wd == -1) {
				warn("inotify watch on %s; polling every %d ms",
				    p, POLL_MS);
				polling = 1;
			}
		}
	}
	s->match = topics_match(s);
	if (s->pr == NULL && s->match && !grouped)
		src_start(s, autopos);
}

/* Read the partition's topics file; does any topic match? */
static int
topics_match(struct sub *s)
{
	char p[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int any = 0, all = 1;

	snprintf(p, sizeof(p), "%s/%s/%s/%s", cf.dir, BUS_LOGDIR, s->name,
	    BUS_TOPICS);
	if ((f = fopen(p, "r")) == NULL)
		return patset_match(cf.pats, s->name, strlen(s->name));
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (patset_match(cf.pats, line, len))
			any = 1;
		else
			all = 0;
	}
	free(line);
	fclose(f);
	s->all_match = any && all;
	return any;
}

/*
 * Start reading a partition: at its position in the cursor pos when it
 * has one; else, for a cursor that was resumed or a group, after the
 * time the cursor started from; else at the --from position.
 */
void
src_start(struct sub *s, const struct cursor *pos)
{
	uint64_t off = 0, end;
	int64_t t = 0;
	int rc, found = 0, by_time = 0;

	if ((s->pr = preader_open(cf.dir, s->name)) == NULL) {
		warn("partition %s", s->name);
		return;
	}
	nselected++;
	s->known = s->wknown = s->e0set = 0;
	moved = 1;
	if (pos != NULL)
		off = cursor_get(pos, s->name, &found);
	if (found)
		;
	else if (resumed) {
		by_time = 1;
		t = base_time + 1;
	} else {
		switch (cf.from) {
		case FROM_BEGIN:
			off = 0;
			break;
		case FROM_END:
			/* Selected after we started: its records are new. */
			by_time = 1;
			/*
			 * One instant for every partition: the store clock
			 * when we started.  Ends taken one partition after
			 * another would let a record in one and not an
			 * earlier one in another.
			 */
			if (grouped)
				t = base_time + 1;
			else if (scanned || start_clock != 0)
				t = start_clock + 1;
			else if (preader_end_offset(s->pr, &off) == -1)
				err(EX_IOERR, "partition %s", s->name);
			else
				by_time = 0;
			break;
		case FROM_OFFSET:
			off = cf.from_n;
			break;
		case FROM_BACK:
			if (preader_end_offset(s->pr, &end) == -1)
				err(EX_IOERR, "partition %s", s->name);
			off = end > cf.from_n ? end - cf.from_n : 0;
			break;
		case FROM_TIME:
			by_time = 1;
			t = grouped ? base_time + 1 : cf.from_time;
			break;
		}
	}
	if (by_time) {
		/* Where a cursor stands if nothing follows t. */
		if (cf.cursor != NULL && preader_end_offset(s->pr, &s->e0) == 0)
			s->e0set = 1;
		rc = preader_seek_time(s->pr, t);
	} else {
		rc = preader_seek_offset(s->pr, off);
		s->next = off;
		s->known = 1;
	}
	if (rc == -1)
		err(EX_IOERR, "partition %s: seek", s->name);
	if (found)
		gap_check(s);
	else
		preader_gap(s->pr);	/* --from below the oldest: fine */
	/* Our inotify watch says when segments come and go. */
	if (!polling && s->wd != -1)
		preader_dir_hint(s->pr, 0);
	if (cf.verbose)
		fprintf(stderr, "bus-sub: reading partition %s\n", s->name);
	refill(s);
}

/*
 * Did retention delete records the cursor had not reached?  Say how
 * many, and go on from the oldest one left.
 */
static void
gap_check(struct sub *s)
{
	uint64_t gap;

	if ((gap = preader_gap(s->pr)) == 0)
		return;
	warnx("cursor %s: partition %s: %llu message%s deleted by retention "
	    "before being read; going on from offset %llu", cf.cursor, s->name,
	    (unsigned long long)gap, gap == 1 ? " was" : "s were",
	    (unsigned long long)(s->next + gap));
	s->next += gap;
	moved = 1;
}

/* Stop reading a partition (a group member gave it up). */
void
src_stop(struct sub *s)
{
	heap_remove(s);
	preader_close(s->pr);
	s->pr = NULL;
	s->known = s->wknown = s->e0set = 0;
	nselected--;
}

/*
 * Peek the next record of s; into the heap if there is one to deliver.
 * Records filtered out are passed over here, their offsets dealt with.
 */
static void
refill(struct sub *s)
{
	uint64_t skipped;
	int rc, first = s->e0set;

	s->retry = 0;
	s->e0set = 0;
	for (;;) {
		rc = preader_peek(s->pr, &s->rec);
		if (cf.cursor != NULL)
			gap_check(s);
		if (rc == PR_REC) {
			if (!s->known || s->rec.offset > s->next) {
				s->next = s->rec.offset;
				s->known = 1;
				moved = 1;
			}
			/* Past --until: the main loop stops at it. */
			if (s->rec.recv_ns <= cf.until && !wanted(s, &s->rec)) {
				s->next = s->rec.offset + 1;
				moved = 1;
				preader_advance(s->pr);
				continue;
			}
			heap_push(s);
			return;
		}
		if (rc == PR_WAIT) {
			/* Nothing since the start: the end was the position. */
			if (!s->known && first) {
				s->next = s->e0;
				s->known = 1;
				moved = 1;
			}
			return;
		}
		if (rc == PR_CORRUPT) {
			if (!cf.skip_corrupt) {
				cf.before_exit();
				errx(EX_DATAERR, "%s", preader_error(s->pr));
			}
			warnx("skipping damaged data: %s", preader_error(s->pr));
			if (preader_skip_corrupt(s->pr, &skipped) == -1)
				return;
			if (skipped)
				warnx("partition %s: skipped %llu bytes",
				    s->name, (unsigned long long)skipped);
			continue;
		}
		cf.before_exit();
		err(EX_IOERR, "partition %s", s->name);
	}
}

/* Peek again every partition read that has nothing in the heap. */
static void
refill_all(void)
{
	size_t k;

	for (k = 0; k < nsubs; k++)
		if (subs[k]->pr != NULL && subs[k]->heap == -1)
			refill(subs[k]);
}

/* Does r pass the patterns and every filter? */
static int
wanted(const struct sub *s, const struct bus_rec *r)
{
	if (!s->all_match && !patset_match(cf.pats, r->topic, r->topic_len))
		return 0;
	return filter_match(r);
}

static int
heap_less(size_t a, size_t b)
{
	return heap[a]->rec.recv_ns < heap[b]->rec.recv_ns;
}

static void
heap_swap(size_t a, size_t b)
{
	struct sub *t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->heap = a;
	heap[b]->heap = b;
}

static void
heap_up(size_t i)
{
	while (i > 0 && heap_less(i, (i - 1) / 2)) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(size_t i)
{
	size_t l, m;

	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < nheap && heap_less(l, m))
			m = l;
		if (l + 1 < nheap && heap_less(l + 1, m))
			m = l + 1;
		if (m == i)
			break;
		heap_swap(i, m);
		i = m;
	}
}

static void
heap_push(struct sub *s)
{
	static size_t cap;
	size_t i;

	if (nheap == cap) {
		cap = cap ? cap * 2 : 16;
		if ((heap = reallocarray(heap, cap, sizeof(*heap))) == NULL)
			err(EX_OSERR, NULL);
	}
	i = nheap++;
	heap[i] = s;
	s->heap = i;
	heap_up(i);
}

static struct sub *
heap_pop(void)
{
	struct sub *top = heap[0];

	heap_swap(0, --nheap);
	heap_down(0);
	top->heap = -1;
	return top;
}

static void
heap_remove(struct sub *s)
{
	size_t i;

	if (s->heap < 0)
		return;
	i = s->heap;
	heap_swap(i, --nheap);
	s->heap = -1;
	if (i < nheap) {
		heap_down(i);
		heap_up(i);
	}
}

/*
 * Sleep until a file we follow changes, wakefd is readable (it is then
 * drained) or timeout ms pass (-1: no limit), then peek again where
 * needed.
 */
void
src_wait(int timeout, int wakefd)
{
	char buf[64 * 1024] __attribute__((aligned(8)));
	struct inotify_event *ev;
	struct pollfd pfd[2];
	ssize_t n, i;
	size_t k;
	int rescan = 0, all = 0, npfd = 0;

	if (!polling) {
		pfd[npfd].fd = ifd;
		pfd[npfd++].events = POLLIN;
	} else if (timeout < 0 || timeout > POLL_MS)
		timeout = POLL_MS;
	pfd[npfd].fd = wakefd;
	pfd[npfd++].events = POLLIN;
	if (poll(pfd, npfd, timeout) == -1 && errno != EINTR)
		err(EX_OSERR, "poll");
	while (read(wakefd, buf, sizeof(buf)) > 0)
		;
	if (polling)
		all = rescan = 1;
	while (!polling && (n = read(ifd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i += sizeof(*ev) + ev->len) {
			ev = (struct inotify_event *)(buf + i);
			if (ev->mask & IN_Q_OVERFLOW) {
				all = rescan = 1;
				continue;
			}
			if (ev->wd == logwd) {
				if (ev->len && (ev->mask & IN_ISDIR))
					rescan = 1;
				/* The clock: the main loop reads it again. */
				continue;
			}
			for (k = 0; k < nsubs; k++) {
				if (subs[k]->wd != ev->wd)
					continue;
				if (ev->len && strcmp(ev->name, BUS_TOPICS) == 0)
					consider(subs[k]->name);
				if (subs[k]->pr != NULL && (ev->mask &
				    (IN_CREATE | IN_MOVED_TO | IN_DELETE)))
					preader_dir_hint(subs[k]->pr, 1);
				subs[k]->retry = 1;
				break;
			}
		}
	}
	if (rescan)
		src_scan();
	for (k = 0; k < nsubs; k++) {
		if (subs[k]->pr == NULL)
			continue;
		/* Events lost, or none to come: list the segments again. */
		if (all)
			preader_dir_hint(subs[k]->pr, 1);
		if (subs[k]->heap == -1 && (all || subs[k]->retry))
			refill(subs[k]);
	}
}

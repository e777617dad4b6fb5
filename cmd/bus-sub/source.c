/*
 * bus-sub: the partitions read and their merge into one stream.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/types.h>
#include <sys/inotify.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <pcre2.h>

#include "bus.h"
#include "cursor.h"
#include "group.h"
#include "sub.h"

static void	consider(const char *);
static void	gap_check(struct sub *);
static int	topics_match(struct sub *);
static void	refill_all(void);
static void	heap_push(struct sub *);
static void	heap_remove(struct sub *);

struct sub **subs;		/* every partition seen */
size_t	 nsubs;
struct sub **heap;		/* selected, with a record peeked */
size_t	 nheap;
int	 nselected;
int	 ifd = -1;		/* inotify */
int	 logwd = -1;
int	 polling;		/* inotify unavailable: poll */
char	 clockpath[PATH_MAX];
static int	 clockfd = -1;
int64_t	 pin = INT64_MAX;	/* -e: nothing received after */
int64_t	 start_clock;
int	 scanned;		/* the first scan is done */

/* The store clock; reopened until busd has made it. */
int64_t
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
until_done(void)
{
	int64_t now;

	if (!until_set || (nheap > 0 && heap[0]->rec.recv_ns <= until))
		return 0;
	if (read_clock() < until) {
		now = now_ns();
		if (now <= until)
			return 0;
		if (now - until <= UNTIL_GRACE_MS * MS &&
		    store_busd_alive(dir, NULL))
			return 0;
	}
	refill_all();
	return nheap == 0 || heap[0]->rec.recv_ns > until;
}

void
scan_partitions(void)
{
	char **names;
	size_t n, i;

	if (store_list_partitions(dir, &names, &n) == -1)
		err(EX_IOERR, "%s/%s", dir, BUS_LOGDIR);
	for (i = 0; i < n; i++)
		consider(names[i]);
	store_free_names(names, n);
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
 * those rebalance() gives it.
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
			snprintf(p, sizeof(p), "%s/%s/%s", dir, BUS_LOGDIR, name);
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
	if (s->pr == NULL && s->match && grp == NULL)
		start_sub(s, cname != NULL ? &cur : NULL);
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

	snprintf(p, sizeof(p), "%s/%s/%s/%s", dir, BUS_LOGDIR, s->name,
	    BUS_TOPICS);
	if ((f = fopen(p, "r")) == NULL)
		return patset_match(pats, s->name, strlen(s->name));
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (patset_match(pats, line, len))
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
start_sub(struct sub *s, const struct cursor *pos)
{
	uint64_t off = 0, end;
	int64_t t = 0;
	int rc, found = 0, by_time = 0;

	if ((s->pr = preader_open(dir, s->name)) == NULL) {
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
		switch (from) {
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
			if (grp != NULL)
				t = base_time + 1;
			else if (scanned || start_clock != 0)
				t = start_clock + 1;
			else if (preader_end_offset(s->pr, &off) == -1)
				err(EX_IOERR, "partition %s", s->name);
			else
				by_time = 0;
			break;
		case FROM_OFFSET:
			off = from_n;
			break;
		case FROM_BACK:
			if (preader_end_offset(s->pr, &end) == -1)
				err(EX_IOERR, "partition %s", s->name);
			off = end > from_n ? end - from_n : 0;
			break;
		case FROM_TIME:
			by_time = 1;
			t = grp != NULL ? base_time + 1 : from_time;
			break;
		}
	}
	if (by_time) {
		/* Where a cursor stands if nothing follows t. */
		if (cname != NULL && preader_end_offset(s->pr, &s->e0) == 0)
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
	if (verbose)
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
	    "before being read; going on from offset %llu", cname, s->name,
	    (unsigned long long)gap, gap == 1 ? " was" : "s were",
	    (unsigned long long)(s->next + gap));
	s->next += gap;
	moved = 1;
}

/* Stop reading a partition (a group member gave it up). */
void
stop_sub(struct sub *s)
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
void
refill(struct sub *s)
{
	uint64_t skipped;
	int rc, first = s->e0set;

	s->retry = 0;
	s->e0set = 0;
	for (;;) {
		rc = preader_peek(s->pr, &s->rec);
		if (cname != NULL)
			gap_check(s);
		if (rc == PR_REC) {
			if (!s->known || s->rec.offset > s->next) {
				s->next = s->rec.offset;
				s->known = 1;
				moved = 1;
			}
			/* Past --until: the main loop stops at it. */
			if (s->rec.recv_ns <= until && !wanted(s, &s->rec)) {
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
			if (!skip_corrupt) {
				out_flush();
				commit(1);
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
		out_flush();
		commit(1);
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

struct sub *
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
 * Sleep until a file we follow changes, a signal comes or timeout ms
 * pass (-1: no limit), then peek again where needed.
 */
void
wait_events(int timeout)
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
	pfd[npfd].fd = sigpipe[0];
	pfd[npfd++].events = POLLIN;
	if (poll(pfd, npfd, timeout) == -1 && errno != EINTR)
		err(EX_OSERR, "poll");
	while (read(sigpipe[0], buf, sizeof(buf)) > 0)
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
		scan_partitions();
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

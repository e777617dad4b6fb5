/*
 * The subscriber of the public API (bus_sub(3)): read and follow the
 * partitions whose topics match a set of patterns, as one stream.
 *
 * The files are read directly (busd is not needed) and followed with
 * inotify.  Several partitions form one stream ordered by receive time: a
 * binary heap keyed by each partition's next record.  While following
 * more than one partition, a record is released only once the store
 * clock (log/.clock, written by busd after each batch is in the files)
 * has reached it, so a record never overtakes an earlier one that was
 * still on its way to another partition.
 *
 * Positions.  Every partition read keeps next, the offset of the first
 * record not yet dealt with (returned, or before the start position).
 * When the caller says it has dealt with what it was given
 * (bus_sub_done), next is copied to wnext, and only wnext is ever
 * committed to a durable cursor: a message is committed once the caller
 * is done with it, so a crash re-delivers at most what was not committed
 * and never skips anything.  Commits are batched: at most one every
 * SUB_COMMIT_MS, and one when forced.
 *
 * Groups share the partitions of a subscription among the processes of
 * the group, without a coordinator: see group.h.  Every SUB_GROUP_MS a
 * member counts the live members, works out its share, gives up
 * partitions beyond it (once what it returned is done and committed) and
 * takes free ones up to it, resuming each from the group's cursor.
 */
#include <sys/types.h>
#include <sys/inotify.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "cursor.h"
#include "errval.h"
#include "group.h"
#include "reader.h"
#include "bus/sub.h"

#define SUB_POLL_MS	250		/* when inotify is not available */
#define SUB_COMMIT_MS	50		/* at most one cursor commit per */
#define SUB_GROUP_MS	100		/* group members re-balance every */
#define SUB_WANT_MS	20		/* ... and below their share, every */
#define SUB_UNTIL_GRACE_MS 250		/* until: idle store, time passed */
#define MS		1000000LL	/* ns */
#define SUB_OPEN_MIN	4		/* partitions open at once, at least */
#define SUB_OPEN_MAX	4096		/* and at most */

/* One partition seen. */
struct part {
	char		 name[BUS_TOPIC_MAX + 1];
	RB_ENTRY(part)	 entry;		/* in the tree of names */
	int		 sel;		/* read (selected) */
	struct preader	*pr;		/* its reader, while open */
	TAILQ_ENTRY(part) olink;	/* the LRU of open readers */
	int64_t		 seek_t;	/* !known: read from this time */
	uint8_t		*cbuf;		/* rec's bytes, while pr is closed */
	size_t		 ccap;
	int		 match;		/* some topic in it matches */
	int		 all_match;	/* every topic in it matches */
	int		 wd;		/* inotify watch of its directory */
	int		 retry;		/* something changed: peek again */
	ssize_t		 heap;		/* index in the heap, or -1 */
	struct bus_rec	 rec;		/* next record when in the heap */
	int		 own;		/* group: its lock, or -1 */
	int		 known;		/* next is a position */
	uint64_t	 next;		/* first offset not dealt with */
	int		 wknown;	/* wnext is a position */
	uint64_t	 wnext;		/* next when the caller was last done */
	int		 e0set;		/* e0 is set and not used yet */
	uint64_t	 e0;		/* end offset when reading started */
};
RB_HEAD(part_names, part);
TAILQ_HEAD(part_lru, part);

enum from_kind { FROM_BEGIN, FROM_END, FROM_OFFSET, FROM_BACK, FROM_TIME,
	FROM_LAST };

struct bus_sub {
	char		*dir;		/* the store */
	char		**patv;		/* the patterns, as given */
	int		 patc;
	struct patset	*pats;		/* compiled at open */
	enum from_kind	 from;		/* start position */
	uint64_t	 from_n;	/* FROM_OFFSET, FROM_BACK, FROM_LAST */
	int64_t		 from_time;	/* FROM_TIME */
	int		 reset;		/* it replaces an existing cursor */
	int		 at_end;	/* stop at the end as it was at start */
	int		 skip_corrupt;
	int		 verbose;	/* say what is read, taken, resumed */
	int64_t		 until;		/* stop after this receive time */
	int		 until_set;
	void		(*log)(void *, const char *);
	void		*log_arg;
	struct bus_error err;
	int		 failed;	/* err is set: give up */
	int		 opened;

	/* Durable cursor or group. */
	char		*cname;		/* the cursor file's name */
	char		*gname;		/* the group */
	char		*member;	/* our name within the group */
	struct group	*grp;
	int		 lockfd;	/* the cursor's lock, or -1 */
	struct cursor	 cur;		/* lone consumer: the cursor */
	int		 resumed;	/* cur was loaded from the file */
	int		 existed;	/* the cursor file existed at open */
	int64_t		 base_time;	/* no position: read after this */
	int64_t		 erecv, wrecv;	/* recv of the last returned, done */
	int64_t		 erecv_prev;	/* erecv before the last returned */
	uint64_t	 efirst;	/* offset of the first of those */
	int		 moved;		/* some next changed */
	int		 dirty;		/* wnext differs from the file */
	int		 pending;	/* returned messages not yet done */
	int		 commit_failing;
	int64_t		 last_commit;
	int64_t		 next_eval;	/* group: next re-balance */
	int		 asked;		/* group: NONE returned for a turn */

	/* Partitions and the merge. */
	struct part	**parts;	/* every partition seen */
	size_t		 nparts;
	struct part_names names;	/* the same, by name */
	struct part_lru	 lru;		/* open readers, oldest first */
	int		 nopen;		/* open readers */
	int		 max_open;	/* at most this many */
	struct part	**heap;		/* selected, with a record peeked */
	size_t		 nheap, heapcap;
	int		 nselected;
	struct part	*last;		/* returned last: advance it first */
	int64_t		 limit;		/* records up to it may be returned */

	/* Following. */
	int		 ifd;		/* inotify */
	int		 logwd;
	struct part	**bywd;		/* partitions by inotify watch */
	size_t		 nbywd;
	int		 polling;	/* inotify unavailable: poll */
	char		 clockpath[PATH_MAX];
	int		 clockfd;
	int64_t		 pin;		/* at_end: nothing received after */
	int64_t		 start_clock;
	int		 scanned;	/* the first scan is done */
};

static int	sub_fail(struct bus_sub *, enum bus_error_kind, int,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static int	name_check(struct bus_sub *, const char *);
static int	parse_from(struct bus_sub *, const char *);
static int	last_keep(int64_t **, size_t *, size_t *, uint64_t, int64_t);
static void	last_part(struct bus_sub *, const char *, int64_t **,
		    size_t *, size_t *);
static void	last_start(struct bus_sub *);
static int64_t	read_clock(struct bus_sub *);
static int	until_done(struct bus_sub *);
static void	scan_partitions(struct bus_sub *);
static struct part *find_part(struct bus_sub *, const char *);
static void	consider(struct bus_sub *, const char *);
static int	topics_match(struct bus_sub *, struct part *);
static void	start_part(struct bus_sub *, struct part *,
		    const struct cursor *);
static void	gap_check(struct bus_sub *, struct part *);
static void	stop_part(struct bus_sub *, struct part *);
static int	reader_open(struct bus_sub *, struct part *);
static void	reader_park(struct bus_sub *, struct part *);
static void	reader_room(struct bus_sub *, struct part *);
static int	part_cmp(struct part *, struct part *);
RB_PROTOTYPE_STATIC(part_names, part, entry, part_cmp);
static void	refill(struct bus_sub *, struct part *);
static void	refill_all(struct bus_sub *);
static void	heap_push(struct bus_sub *, struct part *);
static struct part *heap_pop(struct bus_sub *);
static void	heap_remove(struct bus_sub *, struct part *);
static int64_t	initial_recv(struct bus_sub *);
static void	cursor_open(struct bus_sub *);
static int	save_positions(struct bus_sub *);
static void	rebalance(struct bus_sub *);
static int	wait_events(struct bus_sub *, int);
static enum bus_sub_result sub_next_slow(struct bus_sub *, struct bus_msg *,
		    int);

struct bus_sub *
bus_sub_new(const char *dir)
{
	struct bus_sub *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->dir = strdup(store_dir(dir))) == NULL) {
		free(s);
		return NULL;
	}
	s->from = FROM_END;
	s->until = INT64_MAX;
	s->ifd = s->logwd = s->clockfd = s->lockfd = -1;
	s->pin = INT64_MAX;
	s->limit = INT64_MIN;
	RB_INIT(&s->names);
	TAILQ_INIT(&s->lru);
	return s;
}

int
bus_sub_add_pattern(struct bus_sub *s, const char *re)
{
	char **nv;

	if ((nv = reallocarray(s->patv, s->patc + 1, sizeof(*nv))) == NULL)
		return sub_fail(s, BUS_E_SYSTEM, EX_OSERR, "%s",
		    strerror(errno));
	s->patv = nv;
	if ((s->patv[s->patc] = strdup(re)) == NULL)
		return sub_fail(s, BUS_E_SYSTEM, EX_OSERR, "%s",
		    strerror(errno));
	s->patc++;
	return 0;
}

int
bus_sub_set_from(struct bus_sub *s, const char *pos)
{
	if (parse_from(s, pos) == -1)
		return sub_fail(s, BUS_E_USAGE, EX_USAGE, "'%s' is not "
		    "beginning, end, an offset, -COUNT, @TIME or -DURATION",
		    pos);
	return 0;
}

int
bus_sub_set_last(struct bus_sub *s, uint64_t n)
{
	if (n == 0 || n > (uint64_t)INT64_MAX)
		return sub_fail(s, BUS_E_USAGE, EX_USAGE, "%llu is not a "
		    "count of 1 or more", (unsigned long long)n);
	s->from = FROM_LAST;
	s->from_n = n;
	return 0;
}

void
bus_sub_set_reset(struct bus_sub *s, int on)
{
	s->reset = on;
}

int
bus_sub_cursor_existed(const struct bus_sub *s)
{
	return s->existed;
}

void
bus_sub_set_until(struct bus_sub *s, int64_t t)
{
	s->until = t;
	s->until_set = 1;
}

void
bus_sub_set_end(struct bus_sub *s, int on)
{
	s->at_end = on;
}

void
bus_sub_set_skip_corrupt(struct bus_sub *s, int on)
{
	s->skip_corrupt = on;
}

void
bus_sub_set_verbose(struct bus_sub *s, int on)
{
	s->verbose = on;
}

/*
 * A cursor or group name: a cursor name that is neither a temporary file
 * nor a group's directory.
 */
static int
name_check(struct bus_sub *s, const char *name)
{
	if (cursor_name_check(name) == -1 || strstr(name, ".tmp") != NULL ||
	    group_dir_name(name))
		return sub_fail(s, BUS_E_USAGE, EX_USAGE, "'%s' is not a "
		    "valid name (1 to %d of [A-Za-z0-9._-], not starting with "
		    "'.', without '.tmp', not ending in '%s')", name,
		    CURSOR_NAME_MAX, GROUP_SUFFIX);
	return 0;
}

int
bus_sub_set_cursor(struct bus_sub *s, const char *name)
{
	if (name_check(s, name) == -1)
		return -1;
	free(s->cname);
	if ((s->cname = strdup(name)) == NULL)
		return sub_fail(s, BUS_E_SYSTEM, EX_OSERR, "%s",
		    strerror(errno));
	return 0;
}

int
bus_sub_set_group(struct bus_sub *s, const char *group, const char *member)
{
	char pid[32];

	if (name_check(s, group) == -1 ||
	    (member != NULL && name_check(s, member) == -1))
		return -1;
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	free(s->gname);
	free(s->member);
	if ((s->gname = strdup(group)) == NULL ||
	    (s->member = strdup(member ? member : pid)) == NULL)
		return sub_fail(s, BUS_E_SYSTEM, EX_OSERR, "%s",
		    strerror(errno));
	return 0;
}

void
bus_sub_set_log(struct bus_sub *s, void (*fn)(void *, const char *),
    void *arg)
{
	s->log = fn;
	s->log_arg = arg;
}

int
bus_sub_open(struct bus_sub *s)
{
	char emsg[512], p[PATH_MAX];
	struct rlimit rl;
	struct stat st;

	if (s->failed)
		return -1;
	if (s->opened)
		return sub_fail(s, BUS_E_USAGE, EX_USAGE, "already open");
	if (s->patc == 0)
		return sub_fail(s, BUS_E_USAGE, EX_USAGE,
		    "at least one topic pattern is required");
	if ((s->pats = patset_new(s->patv, s->patc, emsg,
	    sizeof(emsg))) == NULL)
		return sub_fail(s, BUS_E_USAGE, EX_USAGE, "%s", emsg);
	if (s->reset && (s->cname == NULL || s->gname != NULL))
		return sub_fail(s, BUS_E_USAGE, EX_USAGE, "only a cursor of "
		    "its own (not a group's) can be reset");
	if (s->gname != NULL) {
		/* A group's cursor is named after the group. */
		free(s->cname);
		if ((s->cname = strdup(s->gname)) == NULL)
			return sub_fail(s, BUS_E_SYSTEM, EX_OSERR, "%s",
			    strerror(errno));
	}
	s->opened = 1;
	/*
	 * Readers open at once: each holds two descriptors; the rest of
	 * the limit is the caller's.  The others are closed in between.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		s->max_open = rl.rlim_cur / 3 - 16;
	else
		s->max_open = SUB_OPEN_MAX;
	if (s->max_open < SUB_OPEN_MIN)
		s->max_open = SUB_OPEN_MIN;
	if (s->max_open > SUB_OPEN_MAX)
		s->max_open = SUB_OPEN_MAX;
	if (store_path(p, sizeof(p), s->dir, BUS_LOGDIR) == -1)
		return sub_fail(s, BUS_E_USAGE, EX_USAGE, "%s: path too long",
		    s->dir);
	if (stat(p, &st) == -1) {
		/*
		 * Readers never make a store: a directory that exists is
		 * one no busd has used yet, to be followed.
		 */
		if (s->at_end || stat(s->dir, &st) == -1 ||
		    !S_ISDIR(st.st_mode))
			return sub_fail(s, BUS_E_NOINPUT, EX_NOINPUT,
			    "no bus store at %s", s->dir);
		if (store_mkdirs(s->dir) == -1)
			return sub_fail(s, BUS_E_SYSTEM, EX_CANTCREAT,
			    "%s: %s", s->dir, strerror(errno));
	}
	if (!s->at_end) {
		if ((s->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
		    (s->logwd = inotify_add_watch(s->ifd, p, IN_CREATE |
		    IN_MOVED_TO | IN_MODIFY | IN_DELETE)) == -1) {
			errval_say(s->log, s->log_arg,
			    "inotify unavailable; polling every %d ms: " "%s",
			    SUB_POLL_MS, strerror(errno));
			s->polling = 1;
		}
	}
	if (snprintf(s->clockpath, sizeof(s->clockpath), "%s/%s", p,
	    BUS_CLOCK) >= (int)sizeof(s->clockpath))
		return sub_fail(s, BUS_E_USAGE, EX_USAGE, "%s: path too long",
		    s->dir);
	s->start_clock = read_clock(s);
	/* At the end: what was stored when we started, and nothing after. */
	if (s->at_end && store_busd_alive(s->dir, NULL))
		s->pin = s->start_clock;
	/* --last: a time, before a new cursor takes it as its start. */
	if (s->from == FROM_LAST)
		last_start(s);
	if (s->cname != NULL && !s->failed)
		cursor_open(s);
	if (s->failed)
		return -1;
	scan_partitions(s);
	if (s->grp != NULL)
		rebalance(s);
	else {
		/* Record where a new cursor starts, before any message. */
		bus_sub_done(s, 1);
		bus_sub_commit(s, 1);
	}
	s->scanned = 1;
	return s->failed ? -1 : 0;
}

/* Hand out the record of the partition on top of the heap as m. */
static inline enum bus_sub_result
sub_give(struct bus_sub *s, struct bus_msg *m)
{
	struct part *p = heap_pop(s);

	m->topic = p->rec.topic;
	m->topic_len = p->rec.topic_len;
	m->key = p->rec.key;
	m->key_len = p->rec.key_len;
	m->tags = p->rec.tags;
	m->tags_len = p->rec.tags_len;
	m->payload = p->rec.payload;
	m->payload_len = p->rec.payload_len;
	m->event_ns = p->rec.event_ns;
	m->send_ns = p->rec.send_ns;
	m->recv_ns = p->rec.recv_ns;
	m->offset = p->rec.offset;
	m->producer = p->rec.producer;
	m->seq = p->rec.seq;
	m->flags = p->rec.flags;
	m->partition = p->name;
	p->next = p->rec.offset + 1;
	s->efirst = p->rec.offset;
	s->erecv_prev = s->erecv;
	s->erecv = p->rec.recv_ns;
	s->moved = 1;
	s->pending = 1;
	s->last = p;
	return BUS_SUB_MSG;
}

/*
 * The next message.  The common case, a record waiting that may go now,
 * is kept short; everything else (the clock, the end, waiting) is in
 * sub_next_slow().
 */
enum bus_sub_result
bus_sub_next(struct bus_sub *s, struct bus_msg *m, int timeout)
{
	struct part *p;

	if ((p = s->last) != NULL) {
		/* The record returned last is dealt with: go past it. */
		s->last = NULL;
		/* Closed while in the heap: refill() opens it past it. */
		if (p->pr != NULL)
			preader_advance(p->pr);
		refill(s, p);
	}
	/*
	 * A group member's turn is due even while records keep coming: a
	 * backlog must not keep it from giving partitions to a member that
	 * joined late.  (The clock is read through the vDSO: no syscall.)
	 */
	if (!s->failed && s->nheap > 0 &&
	    s->heap[0]->rec.recv_ns <= s->limit &&
	    s->heap[0]->rec.recv_ns <= s->until &&
	    (s->grp == NULL || now_ns() < s->next_eval))
		return sub_give(s, m);
	return sub_next_slow(s, m, timeout);
}

static enum bus_sub_result __attribute__((noinline))
sub_next_slow(struct bus_sub *s, struct bus_msg *m, int timeout)
{
	int64_t deadline = 0, now, c;
	int t, pass, intr = 0;

	if (!s->opened) {
		sub_fail(s, BUS_E_USAGE, EX_USAGE, "not open");
		return BUS_SUB_ERROR;
	}
	if (timeout > 0)
		deadline = now_ns() + (int64_t)timeout * MS;
	for (pass = 0;; pass++) {
		if (s->failed)
			return BUS_SUB_ERROR;
		if (s->grp != NULL && now_ns() >= s->next_eval) {
			/*
			 * Our turn: only with every message done.  A caller
			 * polling (timeout 0) is asked once to be done with
			 * what it holds; one that waits is not kept waiting.
			 */
			if (!s->pending) {
				s->asked = 0;
				rebalance(s);
				if (s->failed)
					return BUS_SUB_ERROR;
			} else if (timeout == 0 && !s->asked) {
				s->asked = 1;
				return BUS_SUB_NONE;
			} else {
				s->asked = 0;
				s->next_eval = now_ns() + SUB_GROUP_MS * MS;
			}
		}
		if (s->nheap > 0 && s->heap[0]->rec.recv_ns > s->limit) {
			/* Up to where may we go?  Once per batch, not per record. */
			s->limit = s->pin;
			if (!s->at_end && s->nselected > 1) {
				c = read_clock(s);
				/* With busd gone, nothing more is on its way. */
				if (s->heap[0]->rec.recv_ns > c &&
				    !store_busd_alive(s->dir, NULL))
					c = INT64_MAX;
				s->limit = c;
			}
		}
		if (s->nheap > 0 && s->heap[0]->rec.recv_ns <= s->limit) {
			if (s->heap[0]->rec.recv_ns > s->until)
				return BUS_SUB_END;
			return sub_give(s, m);
		}
		if (s->at_end || until_done(s))
			return s->failed ? BUS_SUB_ERROR : BUS_SUB_END;
		bus_sub_commit(s, 0);
		if (s->grp != NULL && !s->pending && now_ns() >= s->next_eval)
			rebalance(s);
		if (s->failed)
			return BUS_SUB_ERROR;
		now = now_ns();
		if (pass > 0 && (timeout == 0 || intr ||
		    (timeout > 0 && now >= deadline)))
			return BUS_SUB_NONE;
		/* Nothing now: wait for a file event, up to the timeout. */
		t = bus_sub_timeout(s);
		if (timeout == 0 || (timeout > 0 && now >= deadline))
			t = 0;
		else if (timeout > 0 &&
		    (t < 0 || (deadline - now) / MS + 1 < t))
			t = (int)((deadline - now) / MS + 1);
		intr = wait_events(s, t);
	}
}

int
bus_sub_fd(const struct bus_sub *s)
{
	return s->polling ? -1 : s->ifd;
}

/* Milliseconds until something is due without a file event; -1: none. */
int
bus_sub_timeout(const struct bus_sub *s)
{
	int64_t now = now_ns(), t = INT64_MAX;

	if (s->cname != NULL && s->dirty)
		t = s->last_commit + SUB_COMMIT_MS * MS;
	if (s->grp != NULL && s->next_eval < t)
		t = s->next_eval;
	if (s->until_set &&
	    s->until < INT64_MAX - (SUB_UNTIL_GRACE_MS + 1) * MS) {
		int64_t u = s->until + (SUB_UNTIL_GRACE_MS + 1) * MS;

		if (now < u && u < t)
			t = u;
	}
	if (s->polling && now + SUB_POLL_MS * MS < t)
		t = now + SUB_POLL_MS * MS;
	if (t == INT64_MAX)
		return -1;
	if (t <= now)
		return 0;
	t = (t - now) / MS + 1;
	return t > INT_MAX ? INT_MAX : (int)t;
}

uint64_t
bus_sub_extend(struct bus_sub *s, int delim, uint64_t max, const void **buf,
    size_t *len)
{
	struct part *p = s->last;
	struct bus_rec r;
	const uint8_t *q;
	int64_t bound;
	uint64_t n;

	if (p == NULL || p->pr == NULL || max < 1)
		return 0;
	bound = s->limit < s->until ? s->limit : s->until;
	/* Receive order: not past the next record of another partition. */
	if (s->nheap > 0 && s->heap[0]->rec.recv_ns - 1 < bound)
		bound = s->heap[0]->rec.recv_ns - 1;
	if ((n = preader_peek_block(p->pr, delim, max, bound, &q, len,
	    &r)) == 0)
		return 0;
	p->rec = r;
	p->next = r.offset + 1;
	s->erecv = r.recv_ns;
	*buf = q;
	return n;
}

/*
 * What was returned so far is dealt with: it may be committed.  Without
 * last, the message returned last is not (a caller in the middle of
 * writing it out).
 */
void
bus_sub_done(struct bus_sub *s, int last)
{
	struct part *p, *cur = last ? NULL : s->last;
	uint64_t next;
	int64_t recv = cur != NULL ? s->erecv_prev : s->erecv;
	size_t k;

	if (cur == NULL)
		s->pending = 0;
	if (s->wrecv != recv) {
		s->wrecv = recv;
		s->dirty = 1;
	}
	if (!s->moved)
		return;
	if (cur == NULL)
		s->moved = 0;
	for (k = 0; k < s->nparts; k++) {
		p = s->parts[k];
		if (!p->sel || !p->known)
			continue;
		/* The message returned last is still in p->rec. */
		next = p == cur ? s->efirst : p->next;
		if (!p->wknown || p->wnext != next) {
			p->wnext = next;
			p->wknown = 1;
			s->dirty = 1;
		}
	}
}

/*
 * Commit what the caller is done with, if it moved: now when forced, else
 * at most every SUB_COMMIT_MS (bus_sub_timeout brings the caller back for
 * the rest).  A failed commit only means more to re-deliver: say so once,
 * go on.
 */
int
bus_sub_commit(struct bus_sub *s, int force)
{
	int64_t now;

	if (s->cname == NULL || !s->dirty || !s->opened)
		return 0;
	now = now_ns();
	if (!force && now - s->last_commit < SUB_COMMIT_MS * MS)
		return 0;
	s->last_commit = now;
	if (save_positions(s) == -1) {
		if (!s->commit_failing)
			errval_say(s->log, s->log_arg,
			    "cursor %s: cannot save the position: %s", s->cname,
			    strerror(errno));
		s->commit_failing = 1;
		return -1;
	}
	if (s->commit_failing)
		errval_say(s->log, s->log_arg, "cursor %s: saved again",
		    s->cname);
	s->commit_failing = 0;
	s->dirty = 0;
	return 0;
}

const struct bus_error *
bus_sub_error(const struct bus_sub *s)
{
	return &s->err;
}

int
bus_sub_free(struct bus_sub *s)
{
	size_t k;
	int rc;

	if (s == NULL)
		return 0;
	rc = bus_sub_commit(s, 1);
	for (k = 0; k < s->nparts; k++) {
		if (s->parts[k]->pr != NULL)
			preader_close(s->parts[k]->pr);
		if (s->parts[k]->own != -1)
			group_disown(s->parts[k]->own);
		free(s->parts[k]->cbuf);
		free(s->parts[k]);
	}
	free(s->parts);
	free(s->bywd);
	free(s->heap);
	for (k = 0; k < (size_t)s->patc; k++)
		free(s->patv[k]);
	free(s->patv);
	patset_free(s->pats);
	if (s->grp != NULL)
		group_leave(s->grp);
	cursor_free(&s->cur);
	if (s->ifd != -1)
		close(s->ifd);
	if (s->clockfd != -1)
		close(s->clockfd);
	/* Last: the cursor is saved, another may take it now. */
	if (s->lockfd != -1)
		close(s->lockfd);
	free(s->cname);
	free(s->gname);
	free(s->member);
	free(s->dir);
	free(s);
	return rc;
}

/* ------------------------------------------------------------ internals */

static int
sub_fail(struct bus_sub *s, enum bus_error_kind kind, int status,
    const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return -1;	/* the first error is the one to tell */
	va_start(ap, fmt);
	errval_vset(&s->err, kind, status, 0, fmt, ap);
	va_end(ap);
	if (s->opened)
		s->failed = 1;
	return -1;
}

static int
parse_from(struct bus_sub *s, const char *pos)
{
	const char *p, *errstr;

	if (strcmp(pos, "beginning") == 0) {
		s->from = FROM_BEGIN;
		return 0;
	}
	if (strcmp(pos, "end") == 0 || strcmp(pos, "now") == 0) {
		s->from = FROM_END;
		return 0;
	}
	for (p = pos + (*pos == '-'); *p >= '0' && *p <= '9'; p++)
		;
	if (*p == '\0' && p > pos + (*pos == '-')) {
		s->from = *pos == '-' ? FROM_BACK : FROM_OFFSET;
		s->from_n = strtonum(pos + (*pos == '-'), 0, LLONG_MAX,
		    &errstr);
		return errstr ? -1 : 0;
	}
	if (parse_time(pos, now_ns(), &s->from_time) == 0) {
		s->from = FROM_TIME;
		return 0;
	}
	return -1;
}

/*
 * --last N: the receive times of the newest N matching records, kept in
 * a min-heap of at most N entries (its top, once full, is the oldest of
 * the N).  The heap grows with what is read, never to N up front.
 */
static int
last_keep(int64_t **h, size_t *n, size_t *cap, uint64_t max, int64_t t)
{
	int64_t *nh, x;
	size_t i, c, m;

	if (*n == max) {
		if (t <= (*h)[0])
			return 0;
		/* Replace the oldest, then sift it down. */
		(*h)[0] = t;
		for (i = 0;; i = m) {
			c = 2 * i + 1;
			m = i;
			if (c < *n && (*h)[c] < (*h)[m])
				m = c;
			if (c + 1 < *n && (*h)[c + 1] < (*h)[m])
				m = c + 1;
			if (m == i)
				break;
			x = (*h)[i];
			(*h)[i] = (*h)[m];
			(*h)[m] = x;
		}
		return 0;
	}
	if (*n == *cap) {
		c = *cap ? *cap * 2 : 64;
		if (c > max)
			c = max;
		if ((nh = reallocarray(*h, c, sizeof(**h))) == NULL)
			return -1;
		*h = nh;
		*cap = c;
	}
	for (i = (*n)++; i > 0 && (*h)[(i - 1) / 2] > t; i = (i - 1) / 2)
		(*h)[i] = (*h)[(i - 1) / 2];
	(*h)[i] = t;
	return 0;
}

/*
 * --last N in one partition: read its last N records, and further back
 * while records of other topics (a partition shared by a rule) leave
 * fewer than N matching, up to the pin of -e.
 */
static void
last_part(struct bus_sub *s, const char *name, int64_t **h, size_t *n,
    size_t *cap)
{
	struct part tmp;
	struct preader *pr;
	struct bus_rec r;
	uint64_t end, from, to, want = s->from_n, got = 0, win;
	int rc;

	memset(&tmp, 0, sizeof(tmp));
	strlcpy(tmp.name, name, sizeof(tmp.name));
	if (!topics_match(s, &tmp))
		return;
	if ((pr = preader_open(s->dir, name)) == NULL)
		return;		/* start_part() says why */
	if (preader_end_offset(pr, &end) == -1)
		goto done;
	to = end;
	win = want;
	while (got < want && to > 0) {
		from = to > win ? to - win : 0;
		if (preader_seek_offset(pr, from) == -1)
			break;
		while ((rc = preader_peek(pr, &r)) == PR_REC &&
		    r.offset < to) {
			if (r.recv_ns <= s->pin && (tmp.all_match ||
			    patset_match(s->pats, r.topic, r.topic_len))) {
				got++;
				if (last_keep(h, n, cap, want,
				    r.recv_ns) == -1) {
					sub_fail(s, BUS_E_SYSTEM, EX_OSERR,
					    "%s", strerror(errno));
					goto done;
				}
			}
			preader_advance(pr);
		}
		/* Damage is reported when the records are read for real. */
		if (rc == PR_CORRUPT || rc == PR_ERR)
			break;
		to = from;
		win = win > UINT64_MAX / 2 ? UINT64_MAX : win * 2;
	}
done:
	preader_close(pr);
}

/*
 * --last N: start at the oldest of the newest N records of the whole
 * subscription (receive times are unique store-wide), or at the
 * beginning if there are fewer.
 */
static void
last_start(struct bus_sub *s)
{
	char **names;
	int64_t *h = NULL;
	size_t nnames, i, n = 0, cap = 0;

	if (store_list_partitions(s->dir, &names, &nnames) == -1) {
		sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "%s/%s: %s", s->dir,
		    BUS_LOGDIR, strerror(errno));
		return;
	}
	for (i = 0; i < nnames && !s->failed; i++)
		last_part(s, names[i], &h, &n, &cap);
	store_free_names(names, nnames);
	if (n == s->from_n) {
		s->from = FROM_TIME;
		s->from_time = h[0];
	} else
		s->from = FROM_BEGIN;
	free(h);
}

/* The store clock; reopened until busd has made it. */
static int64_t
read_clock(struct bus_sub *s)
{
	if (s->clockfd == -1)
		s->clockfd = open(s->clockpath, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC);
	return s->clockfd == -1 ? 0 : store_clock_read(s->clockfd);
}

/*
 * until: has everything received up to it been dealt with?  Yes once
 * nothing at or before it waits in the heap and every record received
 * before it is in the files: the store clock passed it, or the time
 * passed it and busd is gone (a busd started later stamps later times)
 * or stayed idle for SUB_UNTIL_GRACE_MS.
 */
static int
until_done(struct bus_sub *s)
{
	int64_t now;

	if (!s->until_set || (s->nheap > 0 &&
	    s->heap[0]->rec.recv_ns <= s->until))
		return 0;
	if (read_clock(s) < s->until) {
		now = now_ns();
		if (now <= s->until)
			return 0;
		if (now - s->until <= SUB_UNTIL_GRACE_MS * MS &&
		    store_busd_alive(s->dir, NULL))
			return 0;
	}
	refill_all(s);
	return s->nheap == 0 || s->heap[0]->rec.recv_ns > s->until;
}

/* ------------------------------------------------------------ partitions */

static void
scan_partitions(struct bus_sub *s)
{
	char **names;
	size_t n, i;

	if (store_list_partitions(s->dir, &names, &n) == -1) {
		sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "%s/%s: %s", s->dir,
		    BUS_LOGDIR, strerror(errno));
		return;
	}
	for (i = 0; i < n; i++)
		consider(s, names[i]);
	store_free_names(names, n);
}

static struct part *
find_part(struct bus_sub *s, const char *name)
{
	struct part key;

	if (strlcpy(key.name, name, sizeof(key.name)) >= sizeof(key.name))
		return NULL;
	return RB_FIND(part_names, &s->names, &key);
}

/*
 * A partition seen for the first time, or whose topics changed.  A lone
 * subscriber reads every partition that matches; a group member only
 * those rebalance() gives it.
 */
static void
consider(struct bus_sub *s, const char *name)
{
	char path[PATH_MAX];
	struct part *p, **np;

	if ((p = find_part(s, name)) == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    (np = reallocarray(s->parts, s->nparts + 1,
		    sizeof(*np))) == NULL) {
			free(p);
			sub_fail(s, BUS_E_SYSTEM, EX_OSERR, "%s",
			    strerror(errno));
			return;
		}
		s->parts = np;
		strlcpy(p->name, name, sizeof(p->name));
		p->heap = -1;
		p->wd = -1;
		p->own = -1;
		s->parts[s->nparts++] = p;
		RB_INSERT(part_names, &s->names, p);
		if (s->ifd != -1 && !s->polling) {
			snprintf(path, sizeof(path), "%s/%s/%s", s->dir,
			    BUS_LOGDIR, name);
			p->wd = inotify_add_watch(s->ifd, path, IN_MODIFY |
			    IN_CREATE | IN_MOVED_TO | IN_DELETE);
			if (p->wd >= 0 && (size_t)p->wd >= s->nbywd) {
				size_t nn = (size_t)p->wd * 2 + 16;
				struct part **nb;

				if ((nb = reallocarray(s->bywd, nn,
				    sizeof(*nb))) == NULL) {
					sub_fail(s, BUS_E_SYSTEM, EX_OSERR,
					    "%s", strerror(errno));
					return;
				}
				memset(nb + s->nbywd, 0, (nn - s->nbywd) *
				    sizeof(*nb));
				s->bywd = nb;
				s->nbywd = nn;
			}
			if (p->wd >= 0)
				s->bywd[p->wd] = p;
			if (p->wd == -1) {
				errval_say(s->log, s->log_arg,
				    "inotify watch on %s; polling every "
				    "%d ms: %s", path, SUB_POLL_MS,
				    strerror(errno));
				s->polling = 1;
			}
		}
	}
	p->match = topics_match(s, p);
	if (!p->sel && p->match && s->grp == NULL)
		start_part(s, p, s->cname != NULL ? &s->cur : NULL);
}

/* What topics_match() found so far. */
struct tmatch {
	const struct patset *ps;	/* the patterns */
	int		 any;		/* a topic matches */
	int		 all;		/* every topic matches */
};

static int
topic_each(const char *t, size_t n, void *arg)
{
	struct tmatch *tm = arg;

	if (patset_match(tm->ps, t, n))
		tm->any = 1;
	else
		tm->all = 0;
	return 0;
}

/*
 * Read the partition's topics file; does any topic match?  Without one
 * (busd has not written it yet), the partition's name is its topic.
 */
static int
topics_match(struct bus_sub *s, struct part *p)
{
	struct tmatch tm = { s->pats, 0, 1 };
	char path[PATH_MAX];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s/%s", s->dir, BUS_LOGDIR, p->name);
	if ((fd = store_open_part(s->dir, p->name)) == -1)
		return patset_match(s->pats, p->name, strlen(p->name));
	rc = store_topics_read(fd, topic_each, &tm);
	close(fd);
	if (rc == -1 && errno == ENOENT)
		return patset_match(s->pats, p->name, strlen(p->name));
	p->all_match = tm.any && tm.all;
	return tm.any;
}

/*
 * Start reading a partition: at its position in the cursor pos when it
 * has one; else, for a cursor that was resumed or a group, after the
 * time the cursor started from; else at the start position.
 */
static void
start_part(struct bus_sub *s, struct part *p, const struct cursor *pos)
{
	uint64_t off = 0, end;
	int64_t t = 0;
	int rc, found = 0, by_time = 0;

	reader_room(s, NULL);
	if ((p->pr = preader_open(s->dir, p->name)) == NULL) {
		errval_say(s->log, s->log_arg, "%s/%s/%s: %s", s->dir,
		    BUS_LOGDIR, p->name, store_strerror(errno));
		return;
	}
	p->sel = 1;
	TAILQ_INSERT_TAIL(&s->lru, p, olink);
	s->nopen++;
	s->nselected++;
	s->limit = INT64_MIN;	/* the merge of more partitions: ask again */
	p->known = p->wknown = p->e0set = 0;
	s->moved = 1;
	if (pos != NULL)
		off = cursor_get(pos, p->name, &found);
	if (found) {
		/* Cut short since, or written by hand: say so, read on. */
		if (preader_end_offset(p->pr, &end) == 0 && off > end)
			errval_say(s->log, s->log_arg, "cursor %s: partition "
			    "%s: position %llu is past its end (%llu)",
			    s->cname != NULL ? s->cname : "-", p->name,
			    (unsigned long long)off, (unsigned long long)end);
	} else if (s->resumed) {
		by_time = 1;
		t = s->base_time + 1;
	} else {
		switch (s->from) {
		case FROM_BEGIN:
		case FROM_LAST:		/* made a time by last_start() */
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
			if (s->grp != NULL)
				t = s->base_time + 1;
			else if (s->scanned || s->start_clock != 0)
				t = s->start_clock + 1;
			else if (preader_end_offset(p->pr, &off) == -1)
				goto ioerr;
			else
				by_time = 0;
			break;
		case FROM_OFFSET:
			off = s->from_n;
			break;
		case FROM_BACK:
			if (preader_end_offset(p->pr, &end) == -1)
				goto ioerr;
			off = end > s->from_n ? end - s->from_n : 0;
			break;
		case FROM_TIME:
			by_time = 1;
			t = s->grp != NULL ? s->base_time + 1 : s->from_time;
			break;
		}
	}
	if (by_time) {
		/* Where a cursor stands if nothing follows t. */
		if (s->cname != NULL && preader_end_offset(p->pr, &p->e0) == 0)
			p->e0set = 1;
		p->seek_t = t;
		rc = preader_seek_time(p->pr, t);
	} else {
		rc = preader_seek_offset(p->pr, off);
		p->next = off;
		p->known = 1;
	}
	if (rc == -1) {
		sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "partition %s: seek: %s",
		    p->name, strerror(errno));
		return;
	}
	if (found)
		gap_check(s, p);
	else
		preader_gap(p->pr);	/* a start below the oldest: fine */
	/* Our inotify watch says when segments come and go. */
	if (!s->polling && p->wd != -1)
		preader_dir_hint(p->pr, 0);
	if (s->verbose)
		errval_say(s->log, s->log_arg, "reading partition %s", p->name);
	refill(s, p);
	return;
ioerr:
	sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "partition %s: %s", p->name,
	    store_strerror(errno));
}

/*
 * Did retention delete records the cursor had not reached?  Say how
 * many, and go on from the oldest one left.
 */
static void
gap_check(struct bus_sub *s, struct part *p)
{
	uint64_t gap;

	if ((gap = preader_gap(p->pr)) == 0)
		return;
	errval_say(s->log, s->log_arg,
	    "cursor %s: partition %s: %llu message%s deleted by "
	    "retention before being read; going on from offset %llu", s->cname,
	    p->name, (unsigned long long)gap, gap == 1 ? " was" : "s were",
	    (unsigned long long)(p->next + gap));
	p->next += gap;
	s->moved = 1;
}

/* Stop reading a partition (a group member gave it up). */
static void
stop_part(struct bus_sub *s, struct part *p)
{
	heap_remove(s, p);
	if (s->last == p)
		s->last = NULL;
	if (p->pr != NULL) {
		preader_close(p->pr);
		p->pr = NULL;
		TAILQ_REMOVE(&s->lru, p, olink);
		s->nopen--;
	}
	p->sel = 0;
	p->known = p->wknown = p->e0set = 0;
	s->nselected--;
	s->limit = INT64_MIN;
}

/*
 * Peek the next record of p; into the heap if there is one to return.
 * Records of other topics (in a partition shared by a rule) are passed
 * over here, their offsets dealt with.
 */
static void
refill(struct bus_sub *s, struct part *p)
{
	uint64_t skipped;
	int rc, first = p->e0set;

	p->retry = 0;
	if (p->pr == NULL) {
		if (reader_open(s, p) == -1)
			return;
	} else if (TAILQ_NEXT(p, olink) != NULL) {
		/* The most recently used. */
		TAILQ_REMOVE(&s->lru, p, olink);
		TAILQ_INSERT_TAIL(&s->lru, p, olink);
	}
	p->e0set = 0;
	for (;;) {
		rc = preader_peek(p->pr, &p->rec);
		if (s->cname != NULL)
			gap_check(s, p);
		if (rc == PR_REC) {
			if (!p->known || p->rec.offset > p->next) {
				p->next = p->rec.offset;
				p->known = 1;
				s->moved = 1;
			}
			/* Past until: bus_sub_next() stops at it. */
			if (p->rec.recv_ns <= s->until && !p->all_match &&
			    !patset_match(s->pats, p->rec.topic,
			    p->rec.topic_len)) {
				p->next = p->rec.offset + 1;
				s->moved = 1;
				preader_advance(p->pr);
				continue;
			}
			heap_push(s, p);
			return;
		}
		if (rc == PR_WAIT) {
			/* Nothing since the start: the end was the position. */
			if (!p->known && first) {
				p->next = p->e0;
				p->known = 1;
				s->moved = 1;
			}
			return;
		}
		if (rc == PR_CORRUPT) {
			if (!s->skip_corrupt) {
				sub_fail(s, BUS_E_DATA, EX_DATAERR, "%s",
				    preader_error(p->pr));
				return;
			}
			errval_say(s->log, s->log_arg,
			    "skipping damaged data: %s", preader_error(p->pr));
			if (preader_skip_corrupt(p->pr, &skipped) == -1)
				return;
			if (skipped)
				errval_say(s->log, s->log_arg,
				    "partition %s: skipped %llu bytes", p->name,
				    (unsigned long long)skipped);
			continue;
		}
		sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "partition %s: %s",
		    p->name, store_strerror(errno));
		return;
	}
}

/* Peek again every partition read that has nothing in the heap. */
static void
refill_all(struct bus_sub *s)
{
	size_t k;

	for (k = 0; k < s->nparts; k++)
		if (s->parts[k]->sel && s->parts[k]->heap == -1 &&
		    s->parts[k] != s->last)
			refill(s, s->parts[k]);
}

/* ------------------------------------------------------------------ heap */

static int
heap_less(struct bus_sub *s, size_t a, size_t b)
{
	return s->heap[a]->rec.recv_ns < s->heap[b]->rec.recv_ns;
}

static void
heap_swap(struct bus_sub *s, size_t a, size_t b)
{
	struct part *t = s->heap[a];

	s->heap[a] = s->heap[b];
	s->heap[b] = t;
	s->heap[a]->heap = a;
	s->heap[b]->heap = b;
}

static void
heap_up(struct bus_sub *s, size_t i)
{
	while (i > 0 && heap_less(s, i, (i - 1) / 2)) {
		heap_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct bus_sub *s, size_t i)
{
	size_t l, m;

	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < s->nheap && heap_less(s, l, m))
			m = l;
		if (l + 1 < s->nheap && heap_less(s, l + 1, m))
			m = l + 1;
		if (m == i)
			break;
		heap_swap(s, i, m);
		i = m;
	}
}

static void
heap_push(struct bus_sub *s, struct part *p)
{
	struct part **nh;
	size_t i;

	if (s->nheap == s->heapcap) {
		/* At most one entry per partition: grows with them only. */
		if ((nh = reallocarray(s->heap, s->heapcap ? s->heapcap * 2 :
		    16, sizeof(*nh))) == NULL) {
			sub_fail(s, BUS_E_SYSTEM, EX_OSERR, "%s",
			    strerror(errno));
			return;
		}
		s->heap = nh;
		s->heapcap = s->heapcap ? s->heapcap * 2 : 16;
	}
	i = s->nheap++;
	s->heap[i] = p;
	p->heap = i;
	heap_up(s, i);
}

static struct part *
heap_pop(struct bus_sub *s)
{
	struct part *top = s->heap[0];

	heap_swap(s, 0, --s->nheap);
	heap_down(s, 0);
	top->heap = -1;
	return top;
}

static void
heap_remove(struct bus_sub *s, struct part *p)
{
	size_t i;

	if (p->heap < 0)
		return;
	i = p->heap;
	heap_swap(s, i, --s->nheap);
	p->heap = -1;
	if (i < s->nheap) {
		heap_down(s, i);
		heap_up(s, i);
	}
}

/* ---------------------------------------------------------------- cursor */

/* The receive time a new cursor stands at: nothing delivered yet. */
static int64_t
initial_recv(struct bus_sub *s)
{
	switch (s->from) {
	case FROM_BEGIN:
		return 0;
	case FROM_TIME:
		return s->from_time > 0 ? s->from_time - 1 : 0;
	default:
		return s->start_clock;
	}
}

/*
 * A cursor: lock it against a second user and load it.  A group: join
 * it and settle its start time.  A damaged cursor file is reported and
 * started again, never fatal.
 */
static void
cursor_open(struct bus_sub *s)
{
	struct cursor c;
	char e[512];
	int rc;

	if (store_mkdirs(s->dir) == -1) {
		sub_fail(s, BUS_E_SYSTEM, EX_CANTCREAT, "%s: %s", s->dir,
		    strerror(errno));
		return;
	}
	if ((s->lockfd = consumer_lock(s->dir, s->cname,
	    s->gname != NULL)) == -1) {
		if (errno != EWOULDBLOCK)
			sub_fail(s, BUS_E_SYSTEM, EX_CANTCREAT, "%s/%s: lock "
			    "of cursor %s: %s", s->dir, BUS_CURSORDIR,
			    s->cname, strerror(errno));
		else if (s->gname != NULL)
			sub_fail(s, BUS_E_BUSY, EX_TEMPFAIL, "cursor %s is in "
			    "use by a bus-sub --name %s outside the group",
			    s->cname, s->cname);
		else
			sub_fail(s, BUS_E_BUSY, EX_TEMPFAIL, "cursor %s is in "
			    "use by another bus-sub (use --group to share "
			    "partitions)", s->cname);
		return;
	}
	if (s->gname == NULL) {
		rc = cursor_load(s->dir, s->cname, &s->cur, e, sizeof(e));
		if (rc == -1)
			errval_say(s->log, s->log_arg,
			    "cursor %s is damaged (%s); starting it " "again",
			    s->cname, e);
		s->existed = rc == 1;
		if (rc == 1 && s->reset) {
			/* Moved: a new cursor at the start position. */
			cursor_free(&s->cur);
			memset(&s->cur, 0, sizeof(s->cur));
			rc = 0;
		}
		if (rc == 1) {
			s->resumed = 1;
			s->base_time = s->erecv = s->wrecv = s->cur.recv_ns;
			if (s->verbose)
				errval_say(s->log, s->log_arg,
				    "resuming cursor %s (--from applies "
				    "to new cursors only)", s->cname);
		} else {
			s->erecv = s->wrecv = initial_recv(s);
			s->dirty = 1;
		}
		return;
	}
	if ((s->grp = group_join(s->dir, s->gname, s->member)) == NULL) {
		sub_fail(s, BUS_E_SYSTEM, EX_CANTCREAT, "group %s: %s",
		    s->gname, strerror(errno));
		return;
	}
	if (group_cursor_lock(s->grp) == -1) {
		sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "group %s: cursor lock: %s",
		    s->gname, strerror(errno));
		return;
	}
	rc = cursor_load(s->dir, s->cname, &c, e, sizeof(e));
	if (rc == -1)
		errval_say(s->log, s->log_arg,
		    "cursor %s is damaged (%s); starting it again", s->cname,
		    e);
	s->existed = rc == 1;
	if (group_start(s->grp, rc == 1 ? c.recv_ns : initial_recv(s),
	    &s->base_time) == -1)
		sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "group %s: start time: %s",
		    s->gname, strerror(errno));
	group_cursor_unlock(s->grp);
	cursor_free(&c);
}

/* Write the positions the caller is done with; -1 with errno. */
static int
save_positions(struct bus_sub *s)
{
	struct cursor c;
	struct part *p;
	char e[512];
	size_t k;
	int rc = 0, en;

	if (s->grp == NULL) {
		for (k = 0; k < s->nparts; k++) {
			p = s->parts[k];
			if (p->sel && p->wknown &&
			    cursor_set(&s->cur, p->name, p->wnext) == -1)
				return -1;
		}
		s->cur.recv_ns = s->wrecv;
		return cursor_save(s->dir, s->cname, &s->cur);
	}
	/* The group's file: change our partitions only, under its lock. */
	if (group_cursor_lock(s->grp) == -1)
		return -1;
	if (cursor_load(s->dir, s->cname, &c, e, sizeof(e)) == -1)
		errval_say(s->log, s->log_arg,
		    "cursor %s is damaged (%s); writing it again", s->cname, e);
	for (k = 0; k < s->nparts && rc == 0; k++) {
		p = s->parts[k];
		if (p->own != -1 && p->sel && p->wknown)
			rc = cursor_set(&c, p->name, p->wnext);
	}
	if (rc == 0) {
		if (s->wrecv > c.recv_ns)
			c.recv_ns = s->wrecv;
		rc = cursor_save(s->dir, s->cname, &c);
	}
	en = errno;
	cursor_free(&c);
	group_cursor_unlock(s->grp);
	errno = en;
	return rc;
}

static void
log_owned(struct bus_sub *s, int live, int nmatch)
{
	char msg[1024];
	size_t k, len;
	int n = 0;

	len = snprintf(msg, sizeof(msg), "group %s: member %s of %d owns",
	    s->gname, s->member, live);
	for (k = 0; k < s->nparts && len < sizeof(msg); k++)
		if (s->parts[k]->own != -1) {
			len += snprintf(msg + len, sizeof(msg) - len, " %s",
			    s->parts[k]->name);
			n++;
		}
	if (len < sizeof(msg))
		snprintf(msg + len, sizeof(msg) - len, "%s (%d of %d "
		    "partitions)", n ? "" : " nothing", n, nmatch);
	errval_say(s->log, s->log_arg, "%s", msg);
}

/*
 * Group: our share is an even part of the partitions matching, by rank
 * among the live members (the first nmatch % live members take one
 * more).  Beyond it, give partitions up once what we returned from them
 * is done and committed; below it, take free ones, from the group's
 * cursor.
 */
static void
rebalance(struct bus_sub *s)
{
	struct cursor c;
	struct part *p, **took;
	char e[512];
	size_t k, j, at, ntook = 0;
	int live, rank, target, owned = 0, nmatch = 0, fd;

	s->next_eval = now_ns() + SUB_GROUP_MS * MS;
	if ((live = group_live(s->grp, &rank)) == -1) {
		errval_say(s->log, s->log_arg, "group %s: %s", s->gname,
		    strerror(errno));
		return;
	}
	for (k = 0; k < s->nparts; k++) {
		nmatch += s->parts[k]->match;
		owned += s->parts[k]->own != -1;
	}
	target = nmatch / live + (rank < nmatch % live);
	if (owned > target) {
		bus_sub_commit(s, 1);
		for (k = s->nparts; k-- > 0 && owned > target; ) {
			p = s->parts[k];
			if (p->own == -1)
				continue;
			if (p->sel)
				stop_part(s, p);
			group_disown(p->own);
			p->own = -1;
			owned--;
		}
		if (s->verbose)
			log_owned(s, live, nmatch);
		return;
	}
	if (owned == target || s->nparts == 0)
		return;
	if ((took = calloc(s->nparts, sizeof(*took))) == NULL) {
		sub_fail(s, BUS_E_SYSTEM, EX_OSERR, "%s", strerror(errno));
		return;
	}
	/* Members start looking at different places: fewer collisions. */
	at = (size_t)rank * s->nparts / live;
	for (j = 0; j < s->nparts && owned < target; j++) {
		p = s->parts[(at + j) % s->nparts];
		if (!p->match || p->own != -1)
			continue;
		if ((fd = group_own(s->grp, p->name)) == -1) {
			if (errno != EWOULDBLOCK)
				errval_say(s->log, s->log_arg,
				    "group %s: partition %s: %s", s->gname,
				    p->name, strerror(errno));
			continue;
		}
		p->own = fd;
		took[ntook++] = p;
		owned++;
	}
	/* Short of our share: the others give theirs up soon, look again. */
	if (owned < target)
		s->next_eval = now_ns() + SUB_WANT_MS * MS;
	if (ntook > 0) {
		/* Read after taking them: their last owner committed. */
		if (group_cursor_lock(s->grp) == -1) {
			sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "group %s: cursor "
			    "lock: %s", s->gname, strerror(errno));
			free(took);
			return;
		}
		if (cursor_load(s->dir, s->cname, &c, e, sizeof(e)) == -1)
			errval_say(s->log, s->log_arg,
			    "cursor %s is damaged (%s)", s->cname, e);
		group_cursor_unlock(s->grp);
		for (j = 0; j < ntook; j++) {
			p = took[j];
			start_part(s, p, &c);
			if (!p->sel) {
				group_disown(p->own);
				p->own = -1;
			}
		}
		cursor_free(&c);
		/* Record where they start, for whoever comes next. */
		bus_sub_done(s, 1);
		bus_sub_commit(s, 1);
		if (s->verbose)
			log_owned(s, live, nmatch);
	}
	free(took);
}

/* ---------------------------------------------------------------- follow */

/*
 * Sleep until a file we follow changes or timeout ms pass (-1: no
 * limit), then peek again where needed.  1 if a signal ended the wait.
 */
static int
wait_events(struct bus_sub *s, int timeout)
{
	char buf[64 * 1024] __attribute__((aligned(8)));
	struct inotify_event *ev;
	struct pollfd pfd;
	ssize_t n, i;
	size_t k;
	int rescan = 0, all = 0, rc = 0, intr = 0;
	struct part *p;

	if (!s->polling && s->ifd != -1) {
		pfd.fd = s->ifd;
		pfd.events = POLLIN;
		rc = poll(&pfd, 1, timeout);
	} else if (timeout != 0) {
		if (timeout < 0 || timeout > SUB_POLL_MS)
			timeout = SUB_POLL_MS;
		rc = poll(NULL, 0, timeout);
	}
	if (rc == -1) {
		if (errno != EINTR)
			return sub_fail(s, BUS_E_SYSTEM, EX_OSERR, "poll: %s",
			    strerror(errno));
		intr = 1;
	}
	if (s->polling)
		all = rescan = 1;
	while (!s->polling && s->ifd != -1 &&
	    (n = read(s->ifd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i += sizeof(*ev) + ev->len) {
			ev = (struct inotify_event *)(buf + i);
			if (ev->mask & IN_Q_OVERFLOW) {
				all = rescan = 1;
				continue;
			}
			if (ev->wd == s->logwd) {
				/* A new partition: that one, not a rescan. */
				if (ev->len && (ev->mask & IN_ISDIR) &&
				    (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
				    ev->name[0] != '.')
					consider(s, ev->name);
				/* The clock: bus_sub_next() reads it again. */
				continue;
			}
			if (ev->wd < 0 || (size_t)ev->wd >= s->nbywd ||
			    (p = s->bywd[ev->wd]) == NULL)
				continue;
			if (ev->mask & IN_IGNORED) {
				/* Its directory is gone. */
				s->bywd[ev->wd] = NULL;
				p->wd = -1;
				continue;
			}
			if (ev->len && strcmp(ev->name, BUS_TOPICS) == 0)
				consider(s, p->name);
			if (p->pr != NULL && (ev->mask &
			    (IN_CREATE | IN_MOVED_TO | IN_DELETE)))
				preader_dir_hint(p->pr, 1);
			p->retry = 1;
		}
	}
	if (rescan)
		scan_partitions(s);
	for (k = 0; k < s->nparts; k++) {
		p = s->parts[k];
		if (!p->sel)
			continue;
		/* Events lost, or none to come: list the segments again. */
		if (all && p->pr != NULL)
			preader_dir_hint(p->pr, 1);
		if (p->heap == -1 && p != s->last && (all || p->retry))
			refill(s, p);
	}
	return intr;
}

/* ------------------------------------------------------------ open files */

/*
 * Readers are opened lazily and closed when idle, so that thousands of
 * partitions are read and followed with a bounded number of descriptors:
 * at most max_open readers are open, the least recently used closed
 * first.  A closed reader's partition keeps its place: next (or, before
 * its first record, the time it reads from), and the record it has in
 * the heap, copied.  refill() opens it again where it was.
 */

/* Close readers until one more may open; never keep, nor s->last. */
static void
reader_room(struct bus_sub *s, struct part *keep)
{
	struct part *p, *np;

	for (p = TAILQ_FIRST(&s->lru); p != NULL && s->nopen >= s->max_open;
	    p = np) {
		np = TAILQ_NEXT(p, olink);
		if (p != keep && p != s->last)
			reader_park(s, p);
	}
}

/*
 * Close p's reader.  A record it has in the heap points into the
 * reader's buffer: it is copied first (if memory runs out, p stays
 * open).
 */
static void
reader_park(struct bus_sub *s, struct part *p)
{
	struct bus_rec *r = &p->rec;
	size_t n;
	uint8_t *b;

	if (p->heap >= 0) {
		n = r->topic_len + r->key_len + r->tags_len + r->payload_len;
		if (n > p->ccap) {
			if ((b = realloc(p->cbuf, n)) == NULL)
				return;
			p->cbuf = b;
			p->ccap = n;
		}
		b = p->cbuf;
		memcpy(b, r->topic, r->topic_len);
		r->topic = (const char *)b;
		b += r->topic_len;
		if (r->key_len) {
			memcpy(b, r->key, r->key_len);
			r->key = (const char *)b;
		}
		b += r->key_len;
		if (r->tags_len)
			memcpy(b, r->tags, r->tags_len);
		r->tags = b;
		b += r->tags_len;
		if (r->payload_len)
			memcpy(b, r->payload, r->payload_len);
		r->payload = b;
	}
	preader_close(p->pr);
	p->pr = NULL;
	TAILQ_REMOVE(&s->lru, p, olink);
	s->nopen--;
}

/*
 * Open the reader of p (read, closed, not in the heap) again where it
 * was: at next, or before its first record at the time it started
 * from.  A partition gone meanwhile is no longer read.
 */
static int
reader_open(struct bus_sub *s, struct part *p)
{
	int rc;

	reader_room(s, p);
	if ((p->pr = preader_open(s->dir, p->name)) == NULL) {
		if (errno == ENOENT) {
			p->sel = 0;
			s->nselected--;
			s->limit = INT64_MIN;
			return -1;
		}
		return sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "partition %s: %s",
		    p->name, strerror(errno));
	}
	TAILQ_INSERT_TAIL(&s->lru, p, olink);
	s->nopen++;
	if (p->known)
		rc = preader_seek_offset(p->pr, p->next);
	else
		rc = preader_seek_time(p->pr, p->seek_t);
	if (rc == -1)
		return sub_fail(s, BUS_E_SYSTEM, EX_IOERR, "partition %s: "
		    "seek: %s", p->name, strerror(errno));
	/* What retention took meanwhile: refill() says it for a cursor. */
	if (s->cname == NULL)
		preader_gap(p->pr);
	if (!s->polling && p->wd != -1)
		preader_dir_hint(p->pr, 0);
	return 0;
}

static int
part_cmp(struct part *a, struct part *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE_STATIC(part_names, part, entry, part_cmp);

/*
 * busd's scheduler: messages published for later (bus-pub --at, --delay).
 *
 * A PUBLISH message whose first tag is bus.at is not routed: it is
 * appended, as it came and under its producer's dedup, to busd's own
 * partition DIR/log/.sched (no topic can name it), and acked as any
 * message.  So it is as durable as any message the moment it is acked.
 * In memory there is only a heap of (due time, offset in .sched), 16
 * bytes a message, bounded by --max-scheduled.
 *
 * When a message is due, sched_run() reads it back from .sched and
 * appends it to the partition of its topic as a new record: its payload,
 * key and event time unchanged, its bus.at tag replaced by bus.scheduled
 * (when busd stored it).  The scheduler publishes as a producer of its
 * own: each message under producer id SCHED_PRODUCER + 1 + its offset in
 * .sched, sequence 1, so that busd's dedup drops a second delivery of
 * the same message.  Once the turn that delivered it is written, the
 * next run appends a bus.done record to .sched; the pending messages are
 * those without one (lib/schedule.c).  A crash between the two delivers
 * the message again at the next start, and dedup drops it: none is
 * delivered twice, none lost.
 *
 * Ordinary publishes pay one test of the first tag's name, only when
 * they carry tags; the scheduler runs from the loop's timeout.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "json.h"
#include "log.h"
#include "proto.h"
#include "schedule.h"
#include "busd.h"

#define SCHED_BATCH	1024		/* deliveries in one turn, at most */
#define SCHED_MAX_DEFAULT 100000	/* --max-scheduled */

/* A scheduled message in memory. */
struct sent {
	int64_t		 due;		/* bus.at, or when stored if later */
	uint64_t	 off;		/* its record in .sched */
};

/* Offsets of delivered messages, waiting for their bus.done record. */
struct offq {
	uint64_t	*v;
	size_t		 n, cap;
};

/* busd --status: one topic's pending messages. */
struct tstat {
	char		*topic;
	uint64_t	 count;
	int64_t		 next;		/* earliest due */
};

/* What busd --status gathers. */
struct sstat {
	struct tstat	*v;
	size_t		 n;
};

static void	heap_push(struct sent);
static struct sent heap_pop(void);
static int	sent_less(const struct sent *, const struct sent *);
static void	offq_add(struct offq *, uint64_t);
static int	load_one(const struct bus_rec *, int64_t, void *);
static int	append(struct part *, const struct bus_rec *, uint64_t,
		    uint64_t, int64_t);
static int	deliver(const struct sent *, int64_t);
static void	mark_done(int64_t, size_t *);
static void	cleanup(void);
static int	stat_one(const struct bus_rec *, int64_t, void *);
static struct part *sched_open(void);

size_t		 max_scheduled = SCHED_MAX_DEFAULT; /* --max-scheduled */
static struct part *sp;			/* DIR/log/.sched */
static struct preader *spr;		/* reads it back */
static struct sent *heap;		/* pending, earliest first */
static size_t	 nheap, capheap;
static struct offq fired;		/* delivered this run */
static struct offq donq;		/* delivered and written */
static uint64_t	 done_seq;		/* of the bus.done records */
static uint64_t	 sp_base;		/* .sched's active segment, seen */
static uint8_t	*tagbuf;		/* a delivery's tags */
static size_t	 tagcap;

/*
 * Learn what is pending (after recover()).  The schedule is opened here
 * if it exists, else made by the first message for later.
 */
void
sched_init(void)
{
	if (faccessat(logfd, SCHED_PART, F_OK, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			fatal(EX_IOERR, "%s/%s/%s", dir, BUS_LOGDIR,
			    SCHED_PART);
		return;
	}
	if (sched_open() == NULL)
		fatalx(EX_CANTCREAT, "%s/%s/%s: cannot open the schedule",
		    dir, BUS_LOGDIR, SCHED_PART);
	if (sched_scan(dir, load_one, NULL) == -1)
		fatal(EX_IOERR, "%s/%s/%s", dir, BUS_LOGDIR, SCHED_PART);
	if (nheap > 0)
		log_info("%zu scheduled message(s) pending", nheap);
}

/* Open (or make) .sched and its reader; NULL if it cannot be. */
static struct part *
sched_open(void)
{
	struct part *p;

	if (sp != NULL)
		return sp;
	if ((p = part_load(SCHED_PART, 1)) == NULL)
		return NULL;
	if ((spr = preader_open(dir, SCHED_PART)) == NULL) {
		log_warn("%s/%s/%s", dir, BUS_LOGDIR, SCHED_PART);
		return NULL;
	}
	tagcap = max_message + 64;
	if ((tagbuf = malloc(tagcap)) == NULL)
		fatal(EX_OSERR, NULL);
	done_seq = pprod_get(p, SCHED_PRODUCER)->last_seq;
	sp_base = p->base;
	return sp = p;
}

static int
load_one(const struct bus_rec *r, int64_t due, void *arg)
{
	heap_push((struct sent){ due, r->offset });
	return 0;
}

/*
 * Is m for later?  0 no; 1 yes (its due time in *due); -1 refused, with
 * a protocol error code and a message.
 */
int
sched_check(const struct bus_rec *m, int64_t *due, uint32_t *code,
    char *err, size_t len)
{
	int rc;

	if ((rc = sched_due(m->tags, m->tags_len, due)) == 0)
		return 0;
	if (rc == -1) {
		*code = PE_PROTO;
		snprintf(err, len, "tag %s: the due time is not 1 to 19 "
		    "decimal digits (ns since 1970)", SCHED_TAG_AT);
		return -1;
	}
	if (nheap >= max_scheduled) {
		*code = PE_BUSY;
		snprintf(err, len, "%zu messages are scheduled already, the "
		    "limit (busd --max-scheduled)", max_scheduled);
		return -1;
	}
	return 1;
}

/* The schedule, made at the first message for later; NULL: I/O error. */
struct part *
sched_part(void)
{
	return sched_open();
}

/* m, for later, is stored in .sched (its offset and receive time set). */
void
sched_add(const struct bus_rec *m, int64_t due)
{
	heap_push((struct sent){ due > m->recv_ns ? due : m->recv_ns,
	    m->offset });
}

/* Nanoseconds until the scheduler has work, -1: none. */
int64_t
sched_wait(int64_t now)
{
	if (donq.n > 0 || (nheap > 0 && heap[0].due <= now))
		return 0;
	if (nheap == 0)
		return -1;
	return heap[0].due - now;
}

/*
 * Deliver what is due, and write bus.done for what the last run
 * delivered; then end the turn.  Run after a turn's end, so that a
 * message stored in .sched this turn is in its file.
 */
void
sched_run(int64_t now)
{
	struct sent s;
	size_t nd = 0, i;
	int any = 0, rc;

	if (sp == NULL || (donq.n == 0 && (nheap == 0 || heap[0].due > now)))
		return;
	if (donq.n > 0) {
		mark_done(now, &nd);
		any = nd > 0;
	}
	fired.n = 0;
	while (nheap > 0 && heap[0].due <= now && fired.n < SCHED_BATCH) {
		s = heap_pop();
		if ((rc = deliver(&s, now)) == -1) {
			heap_push(s);	/* a write failed: later */
			break;
		}
		any |= rc == 0;
		offq_add(&fired, s.off);
	}
	if (!any && fired.n == 0)
		return;
	if (any && commit_turn_end() != 0) {
		/* All of it was cut back: deliver again, mark again. */
		for (i = 0; i < fired.n; i++)
			heap_push((struct sent){ now, fired.v[i] });
		fired.n = 0;
		return;
	}
	if (nd > 0) {	/* donq.v may still be NULL: memmove wants a pointer */
		memmove(donq.v, donq.v + nd, (donq.n - nd) * sizeof(*donq.v));
		donq.n -= nd;
	}
	for (i = 0; i < fired.n; i++)
		offq_add(&donq, fired.v[i]);
	fired.n = 0;
	if (sp->base != sp_base) {
		sp_base = sp->base;
		cleanup();
	}
}

/*
 * Deliver s to its topic: 0 appended, 1 nothing to append (delivered
 * before, or gone), -1 a write failed.
 */
static int
deliver(const struct sent *s, int64_t now)
{
	struct bus_rec r, m;
	struct bus_tag t;
	struct part *p;
	size_t pos = 0, rest;
	uint32_t code = 0;
	char v[24], emsg[640];
	int rc, n;

	if (preader_seek_offset(spr, s->off) == -1 ||
	    (rc = preader_peek(spr, &r)) != PR_REC || r.offset != s->off) {
		/* A write that failed and was cut back: never acked. */
		log_warnx("schedule: message at offset %" PRIu64 " is gone",
		    s->off);
		return 1;
	}
	m = r;
	/* bus.at gives way to bus.scheduled, the other tags follow. */
	n = snprintf(v, sizeof(v), "%" PRId64, r.recv_ns);
	tags_next(r.tags, r.tags_len, &pos, &t);
	rest = r.tags_len - pos;
	if (4 + strlen(SCHED_TAG_WHEN) + n + rest > tagcap) {
		log_warnx("schedule: message at offset %" PRIu64 ": tags too "
		    "large", s->off);
		return 1;
	}
	le16_put(tagbuf, strlen(SCHED_TAG_WHEN));
	le16_put(tagbuf + 2, n);
	memcpy(tagbuf + 4, SCHED_TAG_WHEN, strlen(SCHED_TAG_WHEN));
	memcpy(tagbuf + 4 + strlen(SCHED_TAG_WHEN), v, n);
	memcpy(tagbuf + 4 + strlen(SCHED_TAG_WHEN) + n, r.tags + pos, rest);
	m.tags = tagbuf;
	m.tags_len = 4 + strlen(SCHED_TAG_WHEN) + n + rest;
	route_frame++;		/* unkeyed: each one a frame of its own */
	if ((p = route(m.topic, m.topic_len, m.key, m.key_len, &code, emsg,
	    sizeof(emsg))) == NULL) {
		log_warnx("schedule: message at offset %" PRIu64 ": %s",
		    s->off, emsg);
		return 1;
	}
	return append(p, &m, SCHED_PRODUCER + 1 + s->off, 1, now);
}

/* Append bus.done records for the messages delivered before. */
static void
mark_done(int64_t now, size_t *nd)
{
	struct bus_rec m;
	uint8_t tags[64];
	size_t tl, i;
	char nv[48];
	const char *why;

	for (i = 0; i < donq.n; i++) {
		tl = 0;
		snprintf(nv, sizeof(nv), "%s=%" PRIu64, SCHED_TAG_DONE,
		    donq.v[i]);
		tags_add(tags, sizeof(tags), &tl, nv, &why);
		memset(&m, 0, sizeof(m));
		m.topic = SCHED_TAG_DONE;
		m.topic_len = strlen(SCHED_TAG_DONE);
		m.tags = tags;
		m.tags_len = tl;
		m.event_ns = m.send_ns = now;
		if (append(sp, &m, SCHED_PRODUCER, done_seq + 1, now) == -1)
			break;
		done_seq++;
	}
	*nd = i;
}

/*
 * Append m to p as producer id, sequence seq, as client_publish() does:
 * 0 appended, 1 a duplicate (dropped), -1 the write failed.
 */
static int
append(struct part *p, const struct bus_rec *src, uint64_t id, uint64_t seq,
    int64_t now)
{
	struct pprod *pp = pprod_get(p, id);
	struct bus_rec m = *src;

	/* Open, and kept open while dirty (the partition LRU). */
	if (part_use(p) == -1)
		return -1;
	if (seq <= pp->last_seq)
		return 1;
	if (app_pos(&p->app) + app_rec_bound(&m) > seg_size && p->nrecs > 0)
		part_seal(p, 0);
	if (p->app.failed)
		return -1;
	if (!p->dirty) {
		part_turn_mark(p);
		p->dirty = 1;
		TAILQ_INSERT_TAIL(&dirty, p, dlink);
	}
	m.offset = p->next_off;
	m.recv_ns = now > clock_last ? now : clock_last + 1;
	m.producer = id;
	m.seq = seq;
	if (app_add(&p->app, &m) == -1) {
		if (!p->app.failed)
			fatal(EX_OSERR, NULL);
		part_flush_failed(p);
		return -1;
	}
	p->next_off++;
	clock_last = m.recv_ns;
	p->last_recv = m.recv_ns;
	p->nrecs++;
	if (pp->turn != turn_no) {
		pp->turn = turn_no;
		pp->turn_seq = pp->last_seq;
		pp->tnext = p->touched;
		p->touched = pp;
	}
	pp->last_seq = seq;
	pp->last_use = now;
	return 0;
}

/*
 * .sched was sealed: delete its sealed segments that hold no pending
 * message (all below the lowest pending offset), oldest first.
 */
static void
cleanup(void)
{
	uint64_t *segs = NULL, low = UINT64_MAX;
	size_t n = 0, i;
	char name[32];

	for (i = 0; i < nheap; i++)
		if (heap[i].off < low)
			low = heap[i].off;
	for (i = 0; i < donq.n; i++)
		if (donq.v[i] < low)
			low = donq.v[i];
	if (part_use(sp) == -1 ||
	    store_list_segments(sp->dirfd, &segs, &n) == -1) {
		log_warn("schedule: listing %s", SCHED_PART);
		return;
	}
	for (i = 0; i + 1 < n && segs[i + 1] <= low; i++) {
		store_seg_name(name, sizeof(name), segs[i], "seg");
		if (unlinkat(sp->dirfd, name, 0) == -1)
			log_warn("schedule: delete %s", name);
		store_seg_name(name, sizeof(name), segs[i], "idx");
		unlinkat(sp->dirfd, name, 0);
	}
	free(segs);
}

static int
sent_less(const struct sent *a, const struct sent *b)
{
	return a->due < b->due || (a->due == b->due && a->off < b->off);
}

static void
heap_push(struct sent s)
{
	struct sent *nh, t;
	size_t i, up;

	if (nheap == capheap) {
		capheap = capheap ? capheap * 2 : 256;
		if ((nh = reallocarray(heap, capheap, sizeof(*nh))) == NULL)
			fatal(EX_OSERR, NULL);
		heap = nh;
	}
	heap[i = nheap++] = s;
	while (i > 0 && sent_less(&heap[i], &heap[up = (i - 1) / 2])) {
		t = heap[i];
		heap[i] = heap[up];
		heap[up] = t;
		i = up;
	}
}

static struct sent
heap_pop(void)
{
	struct sent top = heap[0], t;
	size_t i = 0, c;

	heap[0] = heap[--nheap];
	for (;;) {
		c = 2 * i + 1;
		if (c >= nheap)
			break;
		if (c + 1 < nheap && sent_less(&heap[c + 1], &heap[c]))
			c++;
		if (!sent_less(&heap[c], &heap[i]))
			break;
		t = heap[i];
		heap[i] = heap[c];
		heap[c] = t;
		i = c;
	}
	return top;
}

static void
offq_add(struct offq *q, uint64_t off)
{
	uint64_t *nv;

	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 256;
		if ((nv = reallocarray(q->v, q->cap, sizeof(*nv))) == NULL)
			fatal(EX_OSERR, NULL);
		q->v = nv;
	}
	q->v[q->n++] = off;
}

/* ------------------------------------------------------ busd --status */

static int
stat_one(const struct bus_rec *r, int64_t due, void *arg)
{
	struct sstat *st = arg;
	struct tstat *nv;
	size_t i;

	for (i = 0; i < st->n; i++)
		if (strlen(st->v[i].topic) == r->topic_len &&
		    memcmp(st->v[i].topic, r->topic, r->topic_len) == 0)
			break;
	if (i == st->n) {
		if ((nv = reallocarray(st->v, st->n + 1, sizeof(*nv))) ==
		    NULL || (nv[i].topic = strndup(r->topic,
		    r->topic_len)) == NULL)
			err(EX_OSERR, NULL);
		st->v = nv;
		st->n++;
		nv[i].count = 0;
		nv[i].next = due;
	}
	st->v[i].count++;
	if (due < st->v[i].next)
		st->v[i].next = due;
	return 0;
}

/*
 * busd --status: per topic, the messages scheduled and the next due
 * time, as text lines or as the members of a JSON array.
 */
int
sched_status(const char *store, FILE *f, int json)
{
	struct sstat st = { NULL, 0 };
	char t[40];
	size_t i;

	if (sched_scan(store, stat_one, &st) == -1)
		return -1;
	if (!json && st.n > 0)
		fprintf(f, "%-24s %10s  %s\n", "SCHEDULED TOPIC", "MESSAGES",
		    "NEXT DUE");
	for (i = 0; i < st.n; i++) {
		format_time(t, sizeof(t), st.v[i].next);
		if (json) {
			fprintf(f, "%s{\"topic\":", i ? "," : "");
			json_str(f, st.v[i].topic);
			fprintf(f, ",\"messages\":%" PRIu64 ",\"next_due\":"
			    "\"%s\",\"next_due_ns\":%" PRId64 "}",
			    st.v[i].count, t, st.v[i].next);
		} else
			fprintf(f, "%-24s %10" PRIu64 "  %s\n",
			    st.v[i].topic, st.v[i].count, t);
		free(st.v[i].topic);
	}
	free(st.v);
	return 0;
}

/*
 * The schedule of delayed messages, read (include/schedule.h): the tags
 * that mark a scheduled and a delivered message, and a scan of what is
 * still pending, for busd at start, busd --status and bus-sub
 * --scheduled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "schedule.h"

/* One scheduled message seen by the scan's first pass. */
struct sent {
	uint64_t	 off;		/* in the schedule */
	int		 done;		/* a bus.done record names it */
};

static int	tag_first(const uint8_t *, size_t, const char *,
		    struct bus_tag *);
static int	digits(const char *, size_t, uint64_t *);
static int	sent_cmp(const void *, const void *);

/* Is the first tag called name?  Then 1 and the tag in *t. */
static int
tag_first(const uint8_t *tags, size_t len, const char *name,
    struct bus_tag *t)
{
	size_t pos = 0, n = strlen(name);

	if (len < 4 + n || tags_next(tags, len, &pos, t) != 1)
		return 0;
	return t->name_len == n && memcmp(t->name, name, n) == 0;
}

/* 1 to 19 decimal digits, at most INT64_MAX: 0; else -1. */
static int
digits(const char *s, size_t n, uint64_t *v)
{
	size_t i;

	if (n == 0 || n > 19)
		return -1;
	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return *v > INT64_MAX ? -1 : 0;
}

int
sched_due(const uint8_t *tags, size_t len, int64_t *due)
{
	struct bus_tag t;
	uint64_t v;

	if (!tag_first(tags, len, SCHED_TAG_AT, &t))
		return 0;
	if (digits(t.value, t.value_len, &v) == -1)
		return -1;
	*due = (int64_t)v;
	return 1;
}

int
sched_done(const struct bus_rec *r, uint64_t *off)
{
	struct bus_tag t;

	if (!tag_first(r->tags, r->tags_len, SCHED_TAG_DONE, &t))
		return 0;
	return digits(t.value, t.value_len, off) == 0;
}

static int
sent_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = ((const struct sent *)b)->off;

	return (x > y) - (x < y);
}

/*
 * Two passes over the schedule: the first learns which messages are
 * delivered (a bus.done record always follows its message), the second
 * hands out the others with their records.
 */
int
sched_scan(const char *dir, int (*fn)(const struct bus_rec *, int64_t,
    void *), void *arg)
{
	struct preader *pr;
	struct bus_rec r;
	struct sent *v = NULL, *nv, *e;
	size_t n = 0, cap = 0, i = 0;
	uint64_t off;
	int64_t due;
	int rc, pass, en;

	if ((pr = preader_open(dir, SCHED_PART)) == NULL)
		return errno == ENOENT ? 0 : -1;
	for (pass = 0; pass < 2; pass++) {
		if (preader_seek_offset(pr, 0) == -1)
			goto fail;
		while ((rc = preader_peek(pr, &r)) == PR_REC) {
			if (sched_due(r.tags, r.tags_len, &due) == 1) {
				if (due < r.recv_ns)
					due = r.recv_ns;
				if (pass == 0) {
					if (n == cap) {
						cap = cap ? cap * 2 : 1024;
						if ((nv = reallocarray(v, cap,
						    sizeof(*v))) == NULL)
							goto fail;
						v = nv;
					}
					v[n].off = r.offset;
					v[n++].done = 0;
				} else {
					while (i < n && v[i].off < r.offset)
						i++;
					if (i < n && v[i].off == r.offset &&
					    !v[i].done && fn(&r, due, arg))
						break;
				}
			} else if (pass == 0 && sched_done(&r, &off) &&
			    (e = bsearch(&off, v, n, sizeof(*v),
			    sent_cmp)) != NULL)
				e->done = 1;
			preader_advance(pr);
		}
		if (rc == PR_ERR)
			goto fail;
		if (rc == PR_CORRUPT) {
			errno = EILSEQ;
			goto fail;
		}
	}
	free(v);
	preader_close(pr);
	return 0;
fail:
	en = errno;
	free(v);
	preader_close(pr);
	errno = en;
	return -1;
}

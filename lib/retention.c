/*
 * Retention: deleting the oldest sealed segments of a partition by the
 * age of their newest record, by the size or the record count of the
 * partition, and never what a durable cursor has yet to consume.
 *
 * Only a prefix of the sealed segments is ever deleted, oldest first, so
 * a partition never has a hole: its first offset simply starts later,
 * which readers report as a gap.  A segment goes before its index, so
 * that no segment is ever left without its index by a crash while an
 * index without its segment is ignored by everything.  Readers that have
 * a deleted segment open keep reading it to its end.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "cursor.h"
#include "ops.h"

static int	cursor_holds(const struct retention_cursors *, const char *,
		    uint64_t, const char **, uint64_t *);
static void	report(const struct retention *, const char *, uint64_t,
		    const char *, const char *);
static void	keep_reason(const struct retention *,
		    const struct seg_summary *, uint64_t, uint64_t, char *,
		    size_t);

int
retention_cursors_load(const char *dir, struct retention_cursors *cs, char *err,
    size_t errlen)
{
	char e[512];
	size_t i, len;
	int r;

	memset(cs, 0, sizeof(*cs));
	if (errlen)
		err[0] = '\0';
	if (cursor_list(dir, &cs->names, &cs->n) == -1) {
		snprintf(err, errlen, "%s/%s: %s", dir, BUS_CURSORDIR,
		    strerror(errno));
		return OPS_IO;
	}
	if (cs->n == 0)
		return OPS_OK;
	if ((cs->c = calloc(cs->n, sizeof(*cs->c))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		retention_cursors_free(cs);
		return OPS_IO;
	}
	for (i = 0; i < cs->n; i++) {
		r = cursor_load(dir, cs->names[i], &cs->c[i], e, sizeof(e));
		if (r != -1)
			continue;	/* 0: removed since listed */
		cs->damaged++;
		len = strlen(err);
		if (len < errlen)
			snprintf(err + len, errlen - len, "%s%s",
			    len ? "; " : "", e);
	}
	return OPS_OK;
}

void
retention_cursors_free(struct retention_cursors *cs)
{
	size_t i;

	for (i = 0; cs->c != NULL && i < cs->n; i++)
		cursor_free(&cs->c[i]);
	free(cs->c);
	store_free_names(cs->names, cs->n);
	memset(cs, 0, sizeof(*cs));
}

/*
 * Does a cursor still need records below end (the base of the segment
 * after the one considered) in partition part?  Its name in *who.
 */
static int
cursor_holds(const struct retention_cursors *cs, const char *part, uint64_t end,
    const char **who, uint64_t *next)
{
	size_t i;
	uint64_t v;
	int found;

	if (cs == NULL)
		return 0;
	if (cs->damaged) {
		*who = NULL;
		return 1;
	}
	for (i = 0; i < cs->n; i++) {
		v = cursor_get(&cs->c[i], part, &found);
		if (found && v < end) {
			*who = cs->names[i];
			*next = v;
			return 1;
		}
	}
	return 0;
}

static void
report(const struct retention *rt, const char *part, uint64_t base,
    const char *verdict, const char *why)
{
	if (rt->report == NULL)
		return;
	fprintf(rt->report, "%s %020llu.seg: %s: %s\n", part,
	    (unsigned long long)base, verdict, why);
}

/* Add one more reason to why (len bytes), after a "; " if not the first. */
static void __attribute__((format(printf, 3, 4)))
why_add(char *why, size_t len, const char *fmt, ...)
{
	size_t n = strlen(why);
	va_list ap;

	if (n > 0 && n + 2 < len) {
		memcpy(why + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + n, len - n, fmt, ap);
	va_end(ap);
}

/* Why a sealed segment is within every limit given. */
static void
keep_reason(const struct retention *rt, const struct seg_summary *s,
    uint64_t bytes, uint64_t recs, char *why, size_t len)
{
	char t[48];

	why[0] = '\0';
	if (rt->by_age) {
		format_time(t, sizeof(t), s->any ? s->last_recv : s->created);
		why_add(why, len, "%s %s is within --max-age", s->any ?
		    "newest record" : "empty, created", t);
	}
	if (rt->by_size)
		why_add(why, len, "partition holds %llu bytes, within "
		    "--max-size %llu", (unsigned long long)bytes,
		    (unsigned long long)rt->max_size);
	if (rt->by_count)
		why_add(why, len, "partition holds %llu records, within "
		    "--max-count %llu", (unsigned long long)recs,
		    (unsigned long long)rt->max_count);
}

int
retention_run(const char *part, int pdirfd, const struct retention *rt,
    const struct retention_cursors *cs, struct retention_result *res, char *err,
    size_t errlen)
{
	struct seg_summary *sm = NULL;
	uint64_t *segs = NULL, total_bytes = 0, total_recs = 0, next = 0;
	char why[512], t[48], n[32];
	const char *who, *verdict = rt->dry_run ? "would delete" : "delete";
	size_t nsegs = 0, i;
	int rc = OPS_OK, stop = 0, rs;

	memset(res, 0, sizeof(*res));
	if (store_list_segments(pdirfd, &segs, &nsegs) == -1) {
		snprintf(err, errlen, "partition %s: %s", part,
		    strerror(errno));
		return OPS_IO;
	}
	if (nsegs == 0)
		goto out;
	if ((sm = calloc(nsegs, sizeof(*sm))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		rc = OPS_IO;
		goto out;
	}
	for (i = 0; i < nsegs; i++) {
		rs = seg_summary(pdirfd, segs[i], rt->by_count, &sm[i]);
		if (rs == SS_IOERR && errno == ENOENT && i + 1 < nsegs) {
			/* Deleted under us: by whom?  Stop, change nothing. */
			snprintf(err, errlen, "partition %s: %020llu.seg "
			    "vanished while retention ran", part,
			    (unsigned long long)segs[i]);
			rc = OPS_IO;
			goto out;
		}
		if (rs == SS_IOERR && i + 1 < nsegs) {
			snprintf(err, errlen, "partition %s: %020llu.seg: %s",
			    part, (unsigned long long)segs[i],
			    strerror(errno));
			rc = OPS_IO;
			goto out;
		}
		total_bytes += sm[i].bytes;
		total_recs += sm[i].nrecs;
	}

	for (i = 0; i < nsegs; i++) {
		if (i + 1 == nsegs) {
			report(rt, part, segs[i], "keep", "active segment");
			break;
		}
		if (stop) {
			report(rt, part, segs[i], "keep",
			    "an older segment is kept");
			continue;
		}
		if (sm[i].bad_header) {
			/* The header itself is damaged: quarantine. */
			snprintf(why, sizeof(why), "damaged (%s); kept for "
			    "inspection, and every newer segment with it",
			    sm[i].why);
			report(rt, part, segs[i], "keep", why);
			snprintf(err, errlen, "partition %s: %020llu.seg: %s; "
			    "retention stopped there", part,
			    (unsigned long long)segs[i], sm[i].why);
			rc = OPS_DAMAGED;
			stop = 1;
			continue;
		}
		why[0] = '\0';
		if (rt->by_age && (sm[i].any ? sm[i].last_recv :
		    sm[i].created) < rt->now - rt->max_age) {
			format_time(t, sizeof(t), sm[i].any ? sm[i].last_recv :
			    sm[i].created);
			snprintf(why, sizeof(why), "%s %s is older than "
			    "--max-age", sm[i].any ? "newest record" :
			    "empty, created", t);
		}
		if (rt->by_size && total_bytes > rt->max_size)
			why_add(why, sizeof(why), "partition holds %llu "
			    "bytes, over --max-size %llu",
			    (unsigned long long)total_bytes,
			    (unsigned long long)rt->max_size);
		if (rt->by_count && total_recs > rt->max_count)
			why_add(why, sizeof(why), "partition holds %llu "
			    "records, over --max-count %llu",
			    (unsigned long long)total_recs,
			    (unsigned long long)rt->max_count);
		if (why[0] == '\0') {
			keep_reason(rt, &sm[i], total_bytes, total_recs, why,
			    sizeof(why));
			report(rt, part, segs[i], "keep", why);
			stop = 1;
			continue;
		}
		if (rt->keep_cursors && cursor_holds(cs, part, segs[i + 1],
		    &who, &next)) {
			if (who == NULL)
				snprintf(why, sizeof(why), "a cursor file is "
				    "damaged, so every segment is held");
			else
				snprintf(why, sizeof(why), "cursor %s has not "
				    "consumed it (next offset %llu)", who,
				    (unsigned long long)next);
			report(rt, part, segs[i], "keep", why);
			stop = 1;
			continue;
		}
		if (!rt->dry_run) {
			store_seg_name(n, sizeof(n), segs[i], "seg");
			if (unlinkat(pdirfd, n, 0) == -1) {
				snprintf(err, errlen, "partition %s: unlink "
				    "%s: %s", part, n, strerror(errno));
				rc = OPS_IO;
				break;
			}
			store_seg_name(n, sizeof(n), segs[i], "idx");
			if (unlinkat(pdirfd, n, 0) == -1 && errno != ENOENT) {
				snprintf(err, errlen, "partition %s: unlink "
				    "%s: %s", part, n, strerror(errno));
				rc = OPS_IO;
			}
		}
		report(rt, part, segs[i], verdict, why);
		res->deleted++;
		res->bytes += sm[i].bytes;
		res->nrecs += sm[i].nrecs;
		total_bytes -= sm[i].bytes;
		total_recs -= sm[i].nrecs;
		if (rc != OPS_OK)
			break;
	}
	if (res->deleted && !rt->dry_run && fsync(pdirfd) == -1 &&
	    rc == OPS_OK) {
		snprintf(err, errlen, "partition %s: fsync: %s", part,
		    strerror(errno));
		rc = OPS_IO;
	}
out:
	free(sm);
	free(segs);
	return rc;
}

/*
 * bus-sub: --list-cursors, --show-cursor and --delete-cursor.
 */
#include <sys/param.h>
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "cursor.h"
#include "group.h"
#include "sub.h"

/* One partition of a cursor, a row of the table. */
struct row {
	const char	*cursor;	/* the cursor's name */
	const char	*part;		/* NULL: the cursor has none */
	uint64_t	 next;		/* the cursor's position in it */
	int		 have_end;	/* end is known */
	uint64_t	 end;		/* the partition's end offset */
	char		 owner[256];	/* group member owning it, or "-" */
};

static void	out_s(const char *);
static void	out_pad(const char *, size_t);
static int	cursor_rows(const char *, struct cursor *, int, struct row **);
static uint64_t	row_lag(const struct row *);
static const char *row_lag_text(const struct row *, char *, size_t);
static void	list_json(const char *, const struct cursor *, int,
		    const struct row *, int);
static void	list_row(const struct row *, int64_t, const size_t *);

static const char *dir;			/* the store */

static void
out_s(const char *s)
{
	out(s, strlen(s));
}

static void
out_pad(const char *s, size_t w)
{
	size_t n = strlen(s);

	out(s, n);
	while (n++ < w)
		out_c(' ');
}

/* The rows of one cursor; n rows, or -1 if it cannot be read. */
static int
cursor_rows(const char *name, struct cursor *c, int isgroup,
    struct row **rows)
{
	struct preader *pr;
	struct row *r;
	char e[512];
	size_t i, n;

	switch (cursor_load(dir, name, c, e, sizeof(e))) {
	case 1:
		break;
	case 0:
		return 0;	/* removed meanwhile */
	default:
		warnx("cursor %s: %s", name, e);
		return -1;
	}
	n = c->nparts ? c->nparts : 1;
	if ((*rows = r = calloc(n, sizeof(*r))) == NULL)
		err(EX_OSERR, NULL);
	for (i = 0; i < n; i++) {
		r[i].cursor = name;
		strlcpy(r[i].owner, "-", sizeof(r[i].owner));
		if (c->nparts == 0)
			break;
		r[i].part = c->parts[i].name;
		r[i].next = c->parts[i].next;
		if ((pr = preader_open(dir, r[i].part)) != NULL) {
			r[i].have_end = preader_end_offset(pr, &r[i].end) == 0;
			preader_close(pr);
		}
		if (isgroup && group_owner(dir, name, r[i].part, r[i].owner,
		    sizeof(r[i].owner)) != 1)
			strlcpy(r[i].owner, "-", sizeof(r[i].owner));
	}
	return (int)n;
}

static uint64_t
row_lag(const struct row *r)
{
	return r->end > r->next ? r->end - r->next : 0;
}

/*
 * The lag as the table shows it: a cursor past the end of its partition
 * (the partition was cut short, or the cursor was written by hand) is
 * no lag of 0: it says so.
 */
static const char *
row_lag_text(const struct row *r, char *b, size_t len)
{
	if (r->have_end && r->next > r->end)
		snprintf(b, len, "past-end+%llu",
		    (unsigned long long)(r->next - r->end));
	else
		snprintf(b, len, "%llu", (unsigned long long)row_lag(r));
	return b;
}

static void
list_json(const char *name, const struct cursor *c, int isgroup,
    const struct row *r, int n)
{
	char **mem;
	size_t nmem, i;
	uint64_t lag = 0;
	int k, all = 1;

	for (k = 0; k < n && r[k].part != NULL; k++) {
		if (r[k].have_end)
			lag += row_lag(&r[k]);
		else
			all = 0;
	}
	out_s("{\"cursor\":");
	out_json_str(name, strlen(name));
	out_s(isgroup ? ",\"group\":true" : ",\"group\":false");
	out_s(",\"recv_ns\":");
	out_i64(c->recv_ns);
	out_s(",\"last_delivered\":");
	if (c->recv_ns > 0) {
		out_c('"');
		out_time(c->recv_ns);
		out_c('"');
	} else
		out_s("null");
	out_s(",\"lag\":");
	if (all)
		out_u64(lag);
	else
		out_s("null");
	if (isgroup && group_members(dir, name, &mem, &nmem) == 0) {
		out_s(",\"members\":[");
		for (i = 0; i < nmem; i++) {
			if (i)
				out_c(',');
			out_json_str(mem[i], strlen(mem[i]));
		}
		out_c(']');
		store_free_names(mem, nmem);
	}
	out_s(",\"partitions\":[");
	for (k = 0; k < n && r[k].part != NULL; k++) {
		if (k)
			out_c(',');
		out_s("{\"partition\":");
		out_json_str(r[k].part, strlen(r[k].part));
		out_s(",\"next\":");
		out_u64(r[k].next);
		out_s(",\"end\":");
		if (r[k].have_end)
			out_u64(r[k].end);
		else
			out_s("null");
		out_s(",\"lag\":");
		if (r[k].have_end)
			out_u64(row_lag(&r[k]));
		else
			out_s("null");
		if (r[k].have_end && r[k].next > r[k].end) {
			/* Past the end: no lag, and said as such. */
			out_s(",\"past_end\":");
			out_u64(r[k].next - r[k].end);
		}
		if (isgroup) {
			out_s(",\"owner\":");
			if (strcmp(r[k].owner, "-") != 0)
				out_json_str(r[k].owner, strlen(r[k].owner));
			else
				out_s("null");
		}
		out_c('}');
	}
	out_s("]}\n");
}

/* One line of the --list-cursors table, columns w wide. */
static void
list_row(const struct row *r, int64_t recv, const size_t *w)
{
	char b[48];
	int have = r->part != NULL, end = have && r->have_end;

	out_pad(r->cursor, w[0] + 2);
	out_pad(have ? r->part : "-", w[1] + 2);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)r->next);
	out_pad(have ? b : "-", w[2] + 2);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)r->end);
	out_pad(end ? b : "-", w[3] + 2);
	out_pad(end ? row_lag_text(r, b, sizeof(b)) : "-", w[4] + 2);
	out_pad(r->owner, w[5] + 2);
	if (recv > 0) {
		format_time(b, sizeof(b), recv);
		out_s(b);
	} else
		out_c('-');
	out_c('\n');
}

/*
 * --list-cursors: each cursor (or those named), one row per partition
 * in a table, or one JSON object per cursor with -o json.
 */
__dead void
list_cursors(const char *store, int json, char **only, int nonly)
{
	struct out_conf oc = { .mode = OUT_RAW, .delim = '\n' };
	struct cursor *cs;
	struct row **rows;
	char **names, b[64];
	size_t n, i, w[7] = { 6, 9, 4, 3, 3, 5, 0 };
	int *nr, *grpf, k, j, status = 0;
	const char *hdr[] = { "CURSOR", "PARTITION", "NEXT", "END", "LAG",
	    "OWNER", "LAST-DELIVERED" };

	dir = store;
	out_open(&oc);
	signal(SIGPIPE, SIG_IGN);
	for (k = 0; k < nonly; k++)
		if (cursor_name_check(only[k]) == -1)
			errx(EX_USAGE, "'%s' is not a cursor name", only[k]);
	if (cursor_list(dir, &names, &n) == -1)
		err(EX_IOERR, "%s/%s", dir, BUS_CURSORDIR);
	if ((cs = calloc(n + 1, sizeof(*cs))) == NULL ||
	    (rows = calloc(n + 1, sizeof(*rows))) == NULL ||
	    (nr = calloc(n + 1, sizeof(*nr))) == NULL ||
	    (grpf = calloc(n + 1, sizeof(*grpf))) == NULL)
		err(EX_OSERR, NULL);
	for (k = 0; k < nonly; k++) {
		for (i = 0; i < n; i++)
			if (strcmp(names[i], only[k]) == 0)
				break;
		if (i == n) {
			warnx("no cursor %s in %s", only[k], dir);
			status = EX_NOINPUT;
		}
	}
	for (i = 0; i < n; i++) {
		nr[i] = 0;
		for (k = 0; k < nonly; k++)
			if (strcmp(names[i], only[k]) == 0)
				break;
		if ((nonly > 0 && k == nonly) || group_dir_name(names[i]))
			continue;
		grpf[i] = group_exists(dir, names[i]);
		if ((nr[i] = cursor_rows(names[i], &cs[i], grpf[i],
		    &rows[i])) == -1) {
			nr[i] = 0;
			status = EX_DATAERR;
			continue;
		}
		if (json) {
			list_json(names[i], &cs[i], grpf[i], rows[i], nr[i]);
			continue;
		}
		for (j = 0; j < nr[i]; j++) {
			struct row *r = &rows[i][j];

			w[0] = MAX(w[0], strlen(r->cursor));
			if (r->part != NULL)
				w[1] = MAX(w[1], strlen(r->part));
			w[2] = MAX(w[2], (size_t)snprintf(b, sizeof(b), "%llu",
			    (unsigned long long)r->next));
			w[3] = MAX(w[3], (size_t)snprintf(b, sizeof(b), "%llu",
			    (unsigned long long)r->end));
			w[4] = MAX(w[4], strlen(row_lag_text(r, b,
			    sizeof(b))));
			w[5] = MAX(w[5], strlen(r->owner));
		}
	}
	if (!json) {
		for (k = 0; k < 7; k++)
			out_pad(hdr[k], k < 6 ? w[k] + 2 : 0);
		out_c('\n');
		for (i = 0; i < n; i++)
			for (j = 0; j < nr[i]; j++)
				list_row(&rows[i][j], cs[i].recv_ns, w);
	}
	out_flush();
	exit(status);
}

/*
 * --delete-cursor: remove cursor name, unless a bus-sub (or a group
 * member) uses it; a group's start time goes with it, so that the group
 * starts again at its --from position.
 */
__dead void
delete_cursor(const char *store, const char *name)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s/%s", store, BUS_CURSORDIR, name);
	if (access(p, F_OK) == -1 && errno == ENOENT)
		errx(EX_NOINPUT, "no cursor %s in %s", name, store);
	if ((fd = consumer_lock(store, name, 0)) == -1) {
		if (errno == EWOULDBLOCK)
			errx(EX_TEMPFAIL, "cursor %s is in use", name);
		err(EX_CANTCREAT, "%s/%s: lock of cursor %s", store,
		    BUS_CURSORDIR, name);
	}
	if (unlink(p) == -1) {
		if (errno == ENOENT)
			errx(EX_NOINPUT, "no cursor %s in %s", name, store);
		err(EX_IOERR, "%s", p);
	}
	snprintf(p, sizeof(p), "%s/%s/%s%s/start", store, BUS_CURSORDIR,
	    name, GROUP_SUFFIX);
	if (unlink(p) == -1 && errno != ENOENT)
		err(EX_IOERR, "%s", p);
	close(fd);
	exit(0);
}

/*
 * bus-sub: read and follow messages by topic pattern.
 *
 * Reads the segment files directly (busd is not needed) and follows them
 * with inotify.  Several partitions form one stream ordered by receive
 * time: a binary heap keyed by each partition's next record.  While
 * following more than one partition, a record is released only once the
 * store clock (log/.clock, written by busd after each batch is in the
 * files) has reached it, so a record never overtakes an earlier one that
 * was still on its way to another partition.
 */
#include <sys/types.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"

#define OUT_BUF		(256 * 1024)
#define POLL_MS		250		/* when inotify is not available */

struct sub {
	char		 name[BUS_TOPIC_MAX + 1];
	struct preader	*pr;		/* NULL until selected */
	int		 all_match;	/* every topic in it matches */
	int		 wd;		/* inotify watch of its directory */
	int		 retry;		/* something changed: peek again */
	ssize_t		 heap;		/* index in the heap, or -1 */
	struct bus_rec	 rec;		/* next record when in the heap */
};

enum from_kind { FROM_BEGIN, FROM_END, FROM_OFFSET, FROM_BACK, FROM_TIME };

static __dead void usage(void);
static void	scan_partitions(void);
static void	consider(const char *);
static void	select_sub(struct sub *);
static int	topics_match(struct sub *);
static void	refill(struct sub *);
static void	heap_push(struct sub *);
static struct sub *heap_pop(void);
static void	emit(struct sub *, const struct bus_rec *);
static void	out_flush(void);
static void	wait_events(void);
static int64_t	read_clock(void);

static const char *dir;
static struct patset *pats;
static enum from_kind from = FROM_END;
static uint64_t	 from_n;
static int64_t	 from_time;
static int	 exit_at_end;
static uint64_t	 max_count;		/* -n, 0: no limit */
static uint64_t	 count;
static enum { OUT_RAW, OUT_JSON, OUT_FORMAT } outmode = OUT_RAW;
static const char *format;
static int	 delim = '\n';
static int	 verbose;
static int	 skip_corrupt;

static struct sub **subs;		/* every partition seen */
static size_t	 nsubs;
static struct sub **heap;		/* selected, with a record peeked */
static size_t	 nheap;
static int	 nselected;
static int	 ifd = -1;		/* inotify */
static int	 logwd = -1;
static int	 polling;		/* inotify unavailable: poll */
static int	 clockfd = -1;
static int64_t	 pin = INT64_MAX;	/* -e: nothing received after */
static int64_t	 start_clock;
static int	 scanned;		/* the first scan is done */

static char	*obuf;
static size_t	 olen;

enum { OPT_FROM = 256, OPT_SKIP };

static const struct option longopts[] = {
	{ "from",		required_argument,	NULL, OPT_FROM },
	{ "skip-corrupt",	no_argument,		NULL, OPT_SKIP },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

static __dead void
usage(void)
{
	fprintf(stderr,
	    "usage: bus-sub [-0ev] [-d dir] [--from pos] [-n count] "
	    "[-o raw|json]\n"
	    "               [-F format] [--skip-corrupt] pattern ...\n");
	exit(EX_USAGE);
}

static int
parse_from(const char *s)
{
	const char *p, *errstr;

	if (strcmp(s, "beginning") == 0) {
		from = FROM_BEGIN;
		return 0;
	}
	if (strcmp(s, "end") == 0 || strcmp(s, "now") == 0) {
		from = FROM_END;
		return 0;
	}
	for (p = s + (*s == '-'); *p >= '0' && *p <= '9'; p++)
		;
	if (*p == '\0' && p > s + (*s == '-')) {
		from = *s == '-' ? FROM_BACK : FROM_OFFSET;
		from_n = strtonum(s + (*s == '-'), 0, LLONG_MAX, &errstr);
		return errstr ? -1 : 0;
	}
	if (parse_time(s, now_ns(), &from_time) == 0) {
		from = FROM_TIME;
		return 0;
	}
	return -1;
}

int
main(int argc, char *argv[])
{
	struct sub *s;
	const char *errstr;
	char emsg[512], p[PATH_MAX];
	struct stat st;
	int ch;

	while ((ch = getopt_long(argc, argv, "0d:eF:hn:o:vV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case '0':
			delim = '\0';
			break;
		case 'd':
			dir = optarg;
			break;
		case 'e':
			exit_at_end = 1;
			break;
		case 'F':
			outmode = OUT_FORMAT;
			format = optarg;
			break;
		case 'n':
			max_count = strtonum(optarg, 1, LLONG_MAX, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "-n: '%s' is %s", optarg, errstr);
			break;
		case 'o':
			if (strcmp(optarg, "raw") == 0)
				outmode = OUT_RAW;
			else if (strcmp(optarg, "json") == 0)
				outmode = OUT_JSON;
			else
				errx(EX_USAGE, "-o: '%s' is not raw or json",
				    optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("bus-sub %s\n", BUS_VERSION);
			exit(0);
		case OPT_FROM:
			if (parse_from(optarg) == -1)
				errx(EX_USAGE, "--from: '%s' is not beginning, "
				    "end, an offset, -COUNT, @TIME or -DURATION",
				    optarg);
			break;
		case OPT_SKIP:
			skip_corrupt = 1;
			break;
		case 'h':
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		warnx("at least one topic pattern is required");
		usage();
	}
	if ((pats = patset_new(argv, argc, emsg, sizeof(emsg))) == NULL)
		errx(EX_USAGE, "%s", emsg);
	dir = store_dir(dir);
	signal(SIGPIPE, SIG_IGN);
	if ((obuf = malloc(OUT_BUF)) == NULL)
		err(EX_OSERR, NULL);

	if (store_path(p, sizeof(p), dir, BUS_LOGDIR) == -1)
		errx(EX_USAGE, "%s: path too long", dir);
	if (stat(p, &st) == -1) {
		if (exit_at_end)
			errx(EX_NOINPUT, "no bus store at %s", dir);
		if (store_mkdirs(dir) == -1)
			err(EX_CANTCREAT, "%s", dir);
	}
	if (!exit_at_end) {
		if ((ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
		    (logwd = inotify_add_watch(ifd, p, IN_CREATE |
		    IN_MOVED_TO | IN_MODIFY | IN_DELETE)) == -1) {
			warn("inotify unavailable; polling every %d ms",
			    POLL_MS);
			polling = 1;
		}
	}
	snprintf(p + strlen(p), sizeof(p) - strlen(p), "/%s", BUS_CLOCK);
	clockfd = open(p, O_RDONLY | O_CLOEXEC);
	start_clock = read_clock();
	/* -e: what was stored when we started, and nothing after. */
	if (exit_at_end && store_busd_alive(dir, NULL))
		pin = start_clock;
	scan_partitions();
	scanned = 1;

	for (;;) {
		int64_t limit = pin;

		if (!exit_at_end && nselected > 1) {
			int64_t c = read_clock();

			/* With busd gone, nothing more is on its way. */
			if (nheap > 0 && heap[0]->rec.recv_ns > c &&
			    !store_busd_alive(dir, NULL))
				c = INT64_MAX;
			limit = c;
		}
		while (nheap > 0 && heap[0]->rec.recv_ns <= limit) {
			s = heap_pop();
			emit(s, &s->rec);
			preader_advance(s->pr);
			if (max_count && ++count >= max_count) {
				out_flush();
				exit(0);
			}
			refill(s);
		}
		out_flush();
		if (exit_at_end)
			exit(0);
		wait_events();
	}
}

static int64_t
read_clock(void)
{
	return clockfd == -1 ? 0 : store_clock_read(clockfd);
}

static void
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

/* A partition seen for the first time, or whose topics changed. */
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
	if (s->pr == NULL && topics_match(s))
		select_sub(s);
	else if (s->pr != NULL)
		topics_match(s);
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

/* Start reading a newly selected partition at the --from position. */
static void
select_sub(struct sub *s)
{
	uint64_t end;
	int rc = 0;

	if ((s->pr = preader_open(dir, s->name)) == NULL) {
		warn("partition %s", s->name);
		return;
	}
	nselected++;
	switch (from) {
	case FROM_BEGIN:
		rc = preader_seek_offset(s->pr, 0);
		break;
	case FROM_END:
		/* Selected after we started: its matching records are new. */
		if (scanned)
			rc = preader_seek_time(s->pr, start_clock + 1);
		else
			rc = preader_seek_end(s->pr);
		break;
	case FROM_OFFSET:
		rc = preader_seek_offset(s->pr, from_n);
		break;
	case FROM_BACK:
		if ((rc = preader_end_offset(s->pr, &end)) == 0)
			rc = preader_seek_offset(s->pr, end > from_n ?
			    end - from_n : 0);
		break;
	case FROM_TIME:
		rc = preader_seek_time(s->pr, from_time);
		break;
	}
	if (rc == -1)
		err(EX_IOERR, "partition %s: seek", s->name);
	if (verbose)
		fprintf(stderr, "bus-sub: reading partition %s\n", s->name);
	refill(s);
}

/* Peek the next record of s; into the heap if there is one. */
static void
refill(struct sub *s)
{
	uint64_t skipped;
	int rc;

	s->retry = 0;
	for (;;) {
		rc = preader_peek(s->pr, &s->rec);
		if (rc == PR_REC) {
			if (!s->all_match &&
			    !patset_match(pats, s->rec.topic, s->rec.topic_len)) {
				preader_advance(s->pr);
				continue;
			}
			heap_push(s);
			return;
		}
		if (rc == PR_WAIT)
			return;
		if (rc == PR_CORRUPT) {
			if (!skip_corrupt) {
				out_flush();
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
		err(EX_IOERR, "partition %s", s->name);
	}
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
	while (i > 0 && heap_less(i, (i - 1) / 2)) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static struct sub *
heap_pop(void)
{
	struct sub *top = heap[0];
	size_t i = 0, l, m;

	heap_swap(0, --nheap);
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
	top->heap = -1;
	return top;
}

/* ---------------------------------------------------------------- output */

static void
out_flush(void)
{
	size_t done = 0;
	ssize_t n;

	while (done < olen) {
		n = write(STDOUT_FILENO, obuf + done, olen - done);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				exit(0);	/* a reader like head(1) left */
			err(EX_IOERR, "stdout");
		}
		done += n;
	}
	olen = 0;
}

static void
out(const void *p, size_t n)
{
	if (olen + n > OUT_BUF) {
		out_flush();
		if (n > OUT_BUF) {
			size_t done = 0;
			ssize_t w;

			while (done < n) {
				w = write(STDOUT_FILENO, (const char *)p + done,
				    n - done);
				if (w == -1 && errno == EINTR)
					continue;
				if (w == -1 && errno == EPIPE)
					exit(0);
				if (w == -1)
					err(EX_IOERR, "stdout");
				done += w;
			}
			return;
		}
	}
	memcpy(obuf + olen, p, n);
	olen += n;
}

static void
out_c(char c)
{
	if (olen == OUT_BUF)
		out_flush();
	obuf[olen++] = c;
}

static void
out_u64(uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);

	out(b, n);
}

static void
out_i64(int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%lld", (long long)v);

	out(b, n);
}

static void
out_time(int64_t ns)
{
	char b[48];

	out(b, format_time(b, sizeof(b), ns));
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const uint8_t *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int
utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0, l;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((l = utf8_len(p + i, n - i)) == 0)
			return 0;
		i += l;
	}
	return 1;
}

/* A JSON string; bytes that are not UTF-8 become \u00XX. */
static void
out_json_str(const void *v, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = v;
	size_t i = 0, l, run;
	char e[6] = { '\\', 'u', '0', '0', 0, 0 };

	out_c('"');
	while (i < n) {
		for (run = i; run < n && p[run] >= 0x20 && p[run] < 0x80 &&
		    p[run] != '"' && p[run] != '\\'; run++)
			;
		if (run > i) {
			out(p + i, run - i);
			i = run;
			continue;
		}
		switch (p[i]) {
		case '"':  out("\\\"", 2); i++; continue;
		case '\\': out("\\\\", 2); i++; continue;
		case '\n': out("\\n", 2); i++; continue;
		case '\t': out("\\t", 2); i++; continue;
		case '\r': out("\\r", 2); i++; continue;
		}
		if (p[i] >= 0x80 && (l = utf8_len(p + i, n - i)) > 0) {
			out(p + i, l);
			i += l;
			continue;
		}
		e[4] = hex[p[i] >> 4];
		e[5] = hex[p[i] & 15];
		out(e, 6);
		i++;
	}
	out_c('"');
}

static void
out_base64(const uint8_t *p, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	size_t i;
	uint32_t v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = b64[(v >> 6) & 63];
		q[3] = b64[v & 63];
		out(q, 4);
	}
	if (n - i == 1) {
		v = p[i] << 16;
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = q[3] = '=';
		out(q, 4);
	} else if (n - i == 2) {
		v = p[i] << 16 | p[i + 1] << 8;
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = b64[(v >> 6) & 63];
		q[3] = '=';
		out(q, 4);
	}
}

static void
emit_json(struct sub *s, const struct bus_rec *r)
{
	struct bus_tag t;
	size_t pos = 0;
	int first = 1;

	out("{\"topic\":", 9);
	out_json_str(r->topic, r->topic_len);
	out(",\"partition\":", 13);
	out_json_str(s->name, strlen(s->name));
	out(",\"offset\":", 10);
	out_u64(r->offset);
	out(",\"key\":", 7);
	if (r->key_len)
		out_json_str(r->key, r->key_len);
	else
		out("null", 4);
	out(",\"tags\":{", 9);
	while (tags_next(r->tags, r->tags_len, &pos, &t) == 1) {
		if (!first)
			out_c(',');
		first = 0;
		out_json_str(t.name, t.name_len);
		out_c(':');
		out_json_str(t.value, t.value_len);
	}
	out("},\"event_ns\":", 13);
	out_i64(r->event_ns);
	out(",\"send_ns\":", 11);
	out_i64(r->send_ns);
	out(",\"recv_ns\":", 11);
	out_i64(r->recv_ns);
	if (r->flags & BUS_F_TOMBSTONE)
		out(",\"tombstone\":true", 17);
	if (utf8_valid(r->payload, r->payload_len)) {
		out(",\"encoding\":\"utf-8\",\"payload\":", 30);
		out_json_str(r->payload, r->payload_len);
	} else {
		out(",\"encoding\":\"base64\",\"payload\":\"", 32);
		out_base64(r->payload, r->payload_len);
		out_c('"');
	}
	out("}\n", 2);
}

static void
emit_format(struct sub *s, const struct bus_rec *r)
{
	struct bus_tag t;
	const char *f;
	size_t pos;
	int first;

	for (f = format; *f; f++) {
		if (*f == '\\' && f[1]) {
			f++;
			switch (*f) {
			case 'n': out_c('\n'); break;
			case 't': out_c('\t'); break;
			case '0': out_c('\0'); break;
			case '\\': out_c('\\'); break;
			default: out_c('\\'); out_c(*f); break;
			}
			continue;
		}
		if (*f != '%' || f[1] == '\0') {
			out_c(*f);
			continue;
		}
		switch (*++f) {
		case 't': out(r->topic, r->topic_len); break;
		case 'p': out(s->name, strlen(s->name)); break;
		case 'o': out_u64(r->offset); break;
		case 'k': out(r->key, r->key_len); break;
		case 's': out(r->payload, r->payload_len); break;
		case 'S': out_u64(r->payload_len); break;
		case 'T': out_time(r->recv_ns); break;
		case 'e': out_time(r->event_ns); break;
		case 'u': out_time(r->send_ns); break;
		case 'h':
			pos = 0;
			first = 1;
			while (tags_next(r->tags, r->tags_len, &pos, &t) == 1) {
				if (!first)
					out_c(',');
				first = 0;
				out(t.name, t.name_len);
				out_c('=');
				out(t.value, t.value_len);
			}
			break;
		case '%': out_c('%'); break;
		default: out_c('%'); out_c(*f); break;
		}
	}
}

static void
emit(struct sub *s, const struct bus_rec *r)
{
	switch (outmode) {
	case OUT_RAW:
		out(r->payload, r->payload_len);
		out_c(delim);
		break;
	case OUT_JSON:
		emit_json(s, r);
		break;
	case OUT_FORMAT:
		emit_format(s, r);
		break;
	}
}

/* ---------------------------------------------------------------- follow */

/* Sleep until a file we follow changes, then peek again where needed. */
static void
wait_events(void)
{
	char buf[64 * 1024] __attribute__((aligned(8)));
	struct inotify_event *ev;
	struct pollfd pfd;
	ssize_t n, i;
	size_t k;
	int rescan = 0, all = 0;

	pfd.fd = ifd;
	pfd.events = POLLIN;
	if (polling) {
		poll(NULL, 0, POLL_MS);
		all = rescan = 1;
	} else if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
		err(EX_OSERR, "poll");
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
				subs[k]->retry = 1;
				break;
			}
		}
	}
	if (rescan)
		scan_partitions();
	for (k = 0; k < nsubs; k++)
		if (subs[k]->pr != NULL && subs[k]->heap == -1 &&
		    (all || subs[k]->retry))
			refill(subs[k]);
}

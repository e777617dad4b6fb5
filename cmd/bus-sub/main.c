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
 *
 * Positions.  Every partition read keeps next, the offset of the first
 * record not yet dealt with (printed, run by --exec, filtered out, or
 * before the start position).  When write(2) has taken the whole output
 * buffer, next is copied to wnext, and only wnext is ever committed to a
 * durable cursor (--name, --group): a message is committed once its last
 * byte was written, so a crash re-delivers at most what was not
 * committed and never skips anything.  Commits are batched: at most one
 * every COMMIT_MS, and one at exit.
 *
 * Groups (--group) share the partitions of a subscription among the
 * processes of the group, without a coordinator: see group.h.  Every
 * GROUP_MS a member counts the live members, works out its share, gives
 * up partitions beyond it (after writing and committing their output) and
 * takes free ones up to it, resuming each from the group's cursor.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/param.h>
#include <sys/types.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
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
#include <time.h>
#include <unistd.h>

#include <pcre2.h>

#include "bus.h"
#include "cursor.h"
#include "group.h"

#define OUT_BUF		(256 * 1024)
#define POLL_MS		250		/* when inotify is not available */
#define COMMIT_MS	50		/* at most one cursor commit per */
#define GROUP_MS	250		/* group members re-balance every */
#define UNTIL_GRACE_MS	250		/* --until: idle store, time passed */
#define BACKOFF_MIN_MS	100		/* --exec: first retry after */
#define BACKOFF_MAX_MS	5000		/* --exec: longest wait */
#define MS		1000000LL	/* ns */

struct sub {
	char		 name[BUS_TOPIC_MAX + 1];
	struct preader	*pr;		/* NULL unless read */
	int		 match;		/* some topic in it matches */
	int		 all_match;	/* every topic in it matches */
	int		 wd;		/* inotify watch of its directory */
	int		 retry;		/* something changed: peek again */
	ssize_t		 heap;		/* index in the heap, or -1 */
	struct bus_rec	 rec;		/* next record when in the heap */
	int		 own;		/* --group: its lock, or -1 */
	int		 known;		/* next is a position */
	uint64_t	 next;		/* first offset not dealt with */
	int		 wknown;	/* wnext is a position */
	uint64_t	 wnext;		/* next when output was last written */
	int		 e0set;		/* e0 is set and not used yet */
	uint64_t	 e0;		/* end offset when reading started */
};

/* --tag NAME=VALUE, or NAME alone: the tag with any value. */
struct tagf {
	const char	*name;
	size_t		 name_len;
	const char	*value;		/* NULL: any value */
	size_t		 value_len;
};

enum from_kind { FROM_BEGIN, FROM_END, FROM_OFFSET, FROM_BACK, FROM_TIME };

static __dead void usage(void);
static int	parse_from(const char *);
static int	parse_until(const char *, int64_t *);
static void	scan_partitions(void);
static void	consider(const char *);
static void	start_sub(struct sub *, const struct cursor *);
static void	stop_sub(struct sub *);
static void	gap_check(struct sub *);
static int	topics_match(struct sub *);
static void	refill(struct sub *);
static void	refill_all(void);
static void	heap_push(struct sub *);
static struct sub *heap_pop(void);
static void	heap_remove(struct sub *);
static int	wanted(const struct sub *, const struct bus_rec *);
static void	deliver(struct sub *, const struct bus_rec *);
static void	deliver_exec(struct sub *, const struct bus_rec *);
static int	until_done(void);
static void	cursor_open(void);
static void	commit(int);
static int	save_positions(void);
static void	rebalance(void);
static void	emit(struct sub *, const struct bus_rec *);
static inline void out(const void *, size_t);
static inline void out_c(char);
static void	out_flush(void);
static void	written(void);
static __dead void finish(int);
static __dead void quit_now(int);
static void	wait_events(int);
static int	next_timeout(void);
static int64_t	read_clock(void);
static __dead void list_cursors(char **, int);

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
static int64_t	 until = INT64_MAX;	/* --until */
static int	 until_set;

/* Filters. */
static struct tagf *tagfs;		/* --tag, all must match */
static size_t	 ntagfs;
static pcre2_code *grep_re;		/* --grep, on the payload */
static pcre2_code *key_re;		/* --key, on the key */
static pcre2_match_data *md;
static int	 filtering;		/* one of them is given */

/* --exec */
static const char *exec_cmd;
static long long retries = 3;

/* Durable cursor (--name) or group (--group). */
static const char *cname;		/* the cursor file's name */
static const char *gname;		/* --group */
static const char *member;		/* --name within a group */
static char	 pidname[32];
static struct group *grp;
static struct cursor cur;		/* lone consumer: the cursor */
static int	 resumed;		/* cur was loaded from the file */
static int64_t	 base_time;		/* no position: read after this */
static int64_t	 erecv, wrecv;		/* recv of the last delivered */
static int	 moved;			/* some next changed */
static int	 dirty;			/* wnext differs from the file */
static int	 commit_failing;
static int64_t	 last_commit;
static int64_t	 next_eval;		/* group: next re-balance */

static struct sub **subs;		/* every partition seen */
static size_t	 nsubs;
static struct sub **heap;		/* selected, with a record peeked */
static size_t	 nheap;
static int	 nselected;
static int	 ifd = -1;		/* inotify */
static int	 logwd = -1;
static int	 polling;		/* inotify unavailable: poll */
static char	 clockpath[PATH_MAX];
static int	 clockfd = -1;
static int64_t	 pin = INT64_MAX;	/* -e: nothing received after */
static int64_t	 start_clock;
static int	 scanned;		/* the first scan is done */

static volatile sig_atomic_t quit;	/* SIGTERM, SIGINT, SIGHUP */
static int	 sigpipe[2] = { -1, -1 };	/* wakes poll(2) on a signal */

static char	*obuf;
static size_t	 olen, ocap;

enum {
	OPT_FROM = 256, OPT_SKIP, OPT_NAME, OPT_GROUP, OPT_EXEC, OPT_RETRIES,
	OPT_LIST, OPT_UNTIL, OPT_TAG, OPT_GREP, OPT_KEY
};

static const struct option longopts[] = {
	{ "exec",		required_argument,	NULL, OPT_EXEC },
	{ "from",		required_argument,	NULL, OPT_FROM },
	{ "grep",		required_argument,	NULL, OPT_GREP },
	{ "group",		required_argument,	NULL, OPT_GROUP },
	{ "help",		no_argument,		NULL, 'h' },
	{ "key",		required_argument,	NULL, OPT_KEY },
	{ "list-cursors",	no_argument,		NULL, OPT_LIST },
	{ "name",		required_argument,	NULL, OPT_NAME },
	{ "retries",		required_argument,	NULL, OPT_RETRIES },
	{ "skip-corrupt",	no_argument,		NULL, OPT_SKIP },
	{ "tag",		required_argument,	NULL, OPT_TAG },
	{ "until",		required_argument,	NULL, OPT_UNTIL },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

static __dead void
usage(void)
{
	fprintf(stderr,
	    "usage: bus-sub [-0ev] [-d dir] [-F format] [-n count] "
	    "[-o raw|json]\n"
	    "               [--exec command] [--from position] "
	    "[--grep regex] [--group group]\n"
	    "               [--key regex] [--name name] [--retries n] "
	    "[--skip-corrupt]\n"
	    "               [--tag name[=value]] [--until time] "
	    "pattern ...\n"
	    "       bus-sub --list-cursors [-d dir] [-o raw|json] "
	    "[name ...]\n");
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

/* --from's times, plus "now" and "+DURATION" (from now on). */
static int
parse_until(const char *s, int64_t *t)
{
	int64_t now = now_ns(), d;

	if (strcmp(s, "now") == 0) {
		*t = now;
		return 0;
	}
	if (s[0] == '+') {
		if (parse_duration(s + 1, &d) == -1 || d > INT64_MAX - now)
			return -1;
		*t = now + d;
		return 0;
	}
	if (parse_time(s, now, t) == -1)
		return -1;
	if (*t < 0)
		*t = 0;		/* before 1970: before every message */
	return 0;
}

static pcre2_code *
regex(const char *opt, const char *re)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE eoff;
	pcre2_code *c;
	int ec;

	c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec,
	    &eoff, NULL);
	if (c == NULL) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		errx(EX_USAGE, "%s: invalid regex '%s' at offset %zu: %s", opt,
		    re, (size_t)eoff, (char *)msg);
	}
	pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
	return c;
}

static int
re_match(pcre2_code *re, const void *s, size_t n)
{
	return pcre2_match(re, (PCRE2_SPTR)(s ? s : ""), n, 0, 0, md,
	    NULL) >= 0;
}

static void
add_tag(const char *arg)
{
	struct tagf *t;
	const char *eq = strchr(arg, '=');

	if (eq == arg || *arg == '\0')
		errx(EX_USAGE, "--tag: '%s' is not NAME=VALUE or NAME", arg);
	if ((tagfs = reallocarray(tagfs, ntagfs + 1, sizeof(*tagfs))) == NULL)
		err(EX_OSERR, NULL);
	t = &tagfs[ntagfs++];
	t->name = arg;
	t->name_len = eq ? (size_t)(eq - arg) : strlen(arg);
	t->value = eq ? eq + 1 : NULL;
	t->value_len = eq ? strlen(eq + 1) : 0;
}

/* Does s end in ".group", the suffix of the groups' directories? */
static int
group_suffixed(const char *s)
{
	size_t n = strlen(s), k = strlen(GROUP_SUFFIX);

	return n >= k && strcmp(s + n - k, GROUP_SUFFIX) == 0;
}

/* A cursor or group name. */
static void
check_name(const char *opt, const char *s)
{
	if (cursor_name_check(s) == -1 || strstr(s, ".tmp") != NULL ||
	    group_suffixed(s))
		errx(EX_USAGE, "%s: '%s' is not a valid name (1 to %d of "
		    "[A-Za-z0-9._-], not starting with '.', without '.tmp', "
		    "not ending in '%s')", opt, s, CURSOR_NAME_MAX,
		    GROUP_SUFFIX);
}

static void
on_signal(int sig)
{
	int e = errno;

	quit = 1;
	if (sigpipe[1] != -1)
		(void)write(sigpipe[1], "", 1);
	errno = e;
}

static void
signals(void)
{
	struct sigaction sa;

	if (pipe2(sigpipe, O_NONBLOCK | O_CLOEXEC) == -1)
		err(EX_OSERR, "pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a blocked write returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
main(int argc, char *argv[])
{
	struct sub *s;
	const char *errstr, *name = NULL;
	char emsg[512], p[PATH_MAX];
	struct stat st;
	int ch, list = 0;

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
		case OPT_EXEC:
			if (*optarg == '\0')
				errx(EX_USAGE, "--exec: empty command");
			exec_cmd = optarg;
			break;
		case OPT_FROM:
			if (parse_from(optarg) == -1)
				errx(EX_USAGE, "--from: '%s' is not beginning, "
				    "end, an offset, -COUNT, @TIME or -DURATION",
				    optarg);
			break;
		case OPT_GREP:
			if (grep_re != NULL)
				errx(EX_USAGE, "--grep may be given once");
			grep_re = regex("--grep", optarg);
			break;
		case OPT_GROUP:
			check_name("--group", optarg);
			gname = optarg;
			break;
		case OPT_KEY:
			if (key_re != NULL)
				errx(EX_USAGE, "--key may be given once");
			key_re = regex("--key", optarg);
			break;
		case OPT_LIST:
			list = 1;
			break;
		case OPT_NAME:
			check_name("--name", optarg);
			name = optarg;
			break;
		case OPT_RETRIES:
			retries = strtonum(optarg, 0, 1000000, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--retries: '%s' is %s", optarg,
				    errstr);
			break;
		case OPT_SKIP:
			skip_corrupt = 1;
			break;
		case OPT_TAG:
			add_tag(optarg);
			break;
		case OPT_UNTIL:
			if (parse_until(optarg, &until) == -1)
				errx(EX_USAGE, "--until: '%s' is not now, "
				    "@TIME, -DURATION or +DURATION", optarg);
			until_set = 1;
			break;
		case 'h':
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	dir = store_dir(dir);
	if (list) {
		list_cursors(argv, argc);
		/* NOTREACHED */
	}
	if (argc == 0) {
		warnx("at least one topic pattern is required");
		usage();
	}
	if ((pats = patset_new(argv, argc, emsg, sizeof(emsg))) == NULL)
		errx(EX_USAGE, "%s", emsg);
	if ((md = pcre2_match_data_create(1, NULL)) == NULL)
		err(EX_OSERR, NULL);
	filtering = ntagfs > 0 || key_re != NULL || grep_re != NULL;
	if (gname != NULL) {
		cname = gname;
		snprintf(pidname, sizeof(pidname), "%ld", (long)getpid());
		member = name ? name : pidname;
	} else
		cname = name;
	signals();
	ocap = OUT_BUF;
	if ((obuf = malloc(ocap)) == NULL)
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
	if (snprintf(clockpath, sizeof(clockpath), "%s/%s", p, BUS_CLOCK) >=
	    (int)sizeof(clockpath))
		errx(EX_USAGE, "%s: path too long", dir);
	start_clock = read_clock();
	/* -e: what was stored when we started, and nothing after. */
	if (exit_at_end && store_busd_alive(dir, NULL))
		pin = start_clock;
	if (cname != NULL)
		cursor_open();
	scan_partitions();
	if (grp != NULL)
		rebalance();
	else {
		/* Record where a new cursor starts, before any output. */
		out_flush();
		commit(1);
	}
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
			if (heap[0]->rec.recv_ns > until)
				finish(0);
			s = heap_pop();
			deliver(s, &s->rec);
			preader_advance(s->pr);
			if (max_count && ++count >= max_count)
				finish(0);
			refill(s);
			if (quit)
				finish(0);
		}
		out_flush();
		if (exit_at_end || quit || until_done())
			finish(0);
		wait_events(next_timeout());
		if (quit)
			finish(0);
		commit(0);
		if (grp != NULL && now_ns() >= next_eval)
			rebalance();
	}
}

/* The store clock; reopened until busd has made it. */
static int64_t
read_clock(void)
{
	if (clockfd == -1)
		clockfd = open(clockpath, O_RDONLY | O_CLOEXEC);
	return clockfd == -1 ? 0 : store_clock_read(clockfd);
}

/* Milliseconds until something is due without a file event; -1: none. */
static int
next_timeout(void)
{
	int64_t now = now_ns(), t = INT64_MAX;

	if (cname != NULL && dirty)
		t = last_commit + COMMIT_MS * MS;
	if (grp != NULL && next_eval < t)
		t = next_eval;
	if (until_set && until < INT64_MAX - (UNTIL_GRACE_MS + 1) * MS) {
		int64_t u = until + (UNTIL_GRACE_MS + 1) * MS;

		if (now < u && u < t)
			t = u;
	}
	if (t == INT64_MAX)
		return -1;
	if (t <= now)
		return 0;
	t = (t - now) / MS + 1;
	return t > INT_MAX ? INT_MAX : (int)t;
}

/*
 * --until: has everything received up to it been dealt with?  Yes once
 * nothing at or before it waits in the heap and every record received
 * before it is in the files: the store clock passed it, or the time
 * passed it and busd is gone (a busd started later stamps later times)
 * or stayed idle for UNTIL_GRACE_MS.
 */
static int
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

/* ------------------------------------------------------------ partitions */

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
static void
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
static void
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
static void
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

/* -------------------------------------------------------------- delivery */

static int
tags_match(const struct bus_rec *r)
{
	struct bus_tag t;
	size_t i, pos;
	int ok;

	for (i = 0; i < ntagfs; i++) {
		pos = 0;
		ok = 0;
		while (!ok && tags_next(r->tags, r->tags_len, &pos, &t) == 1)
			ok = t.name_len == tagfs[i].name_len &&
			    memcmp(t.name, tagfs[i].name, t.name_len) == 0 &&
			    (tagfs[i].value == NULL ||
			    (t.value_len == tagfs[i].value_len &&
			    memcmp(t.value, tagfs[i].value, t.value_len) == 0));
		if (!ok)
			return 0;
	}
	return 1;
}

/* Does r pass the patterns and every filter? */
static int
wanted(const struct sub *s, const struct bus_rec *r)
{
	if (!s->all_match && !patset_match(pats, r->topic, r->topic_len))
		return 0;
	if (!filtering)
		return 1;
	if (ntagfs > 0 && !tags_match(r))
		return 0;
	if (key_re != NULL && (r->key_len == 0 ||
	    !re_match(key_re, r->key, r->key_len)))
		return 0;
	if (grep_re != NULL && !re_match(grep_re, r->payload, r->payload_len))
		return 0;
	return 1;
}

static void
deliver(struct sub *s, const struct bus_rec *r)
{
	if (exec_cmd != NULL)
		deliver_exec(s, r);
	else if (outmode == OUT_RAW) {
		out(r->payload, r->payload_len);
		out_c(delim);
	} else
		emit(s, r);
	s->next = r->offset + 1;
	erecv = r->recv_ns;
	moved = 1;
	if (exec_cmd != NULL) {
		/* Done once the command succeeded: commit-worthy now. */
		written();
		commit(0);
	}
}

/* setenv(3) of a value that is not NUL-terminated (cut at a NUL). */
static void
setenv_n(const char *name, const void *v, size_t n)
{
	char *s;

	if ((s = strndup(v ? v : "", n)) == NULL)
		_exit(127);
	setenv(name, s, 1);
	free(s);
}

static void
setenv_i(const char *name, long long v, int is_unsigned)
{
	char b[24];

	if (is_unsigned)
		snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	else
		snprintf(b, sizeof(b), "%lld", v);
	setenv(name, b, 1);
}

/* In the child: the message's environment, stdin from fd, then sh -c. */
static __dead void
exec_child(struct sub *s, const struct bus_rec *r, int fd)
{
	extern char **environ;
	struct bus_tag t;
	char *all, *p, name[8 + BUS_TAG_NAME_MAX + 1];
	size_t pos, i, n;
	char **e;

	if (fd != STDIN_FILENO && dup2(fd, STDIN_FILENO) == -1)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	/* Inherited BUS_TAG_* variables would pose as this message's tags. */
	for (e = environ; *e != NULL; ) {
		n = strcspn(*e, "=");
		if (strncmp(*e, "BUS_TAG_", 8) == 0 && n < sizeof(name)) {
			memcpy(name, *e, n);
			name[n] = '\0';
			unsetenv(name);
			e = environ;
		} else
			e++;
	}
	setenv_n("BUS_TOPIC", r->topic, r->topic_len);
	setenv("BUS_PARTITION", s->name, 1);
	setenv_i("BUS_OFFSET", (long long)r->offset, 1);
	if (r->key_len > 0)
		setenv_n("BUS_KEY", r->key, r->key_len);
	else
		unsetenv("BUS_KEY");
	setenv_i("BUS_EVENT_NS", r->event_ns, 0);
	setenv_i("BUS_SEND_NS", r->send_ns, 0);
	setenv_i("BUS_RECV_NS", r->recv_ns, 0);
	if (r->flags & BUS_F_TOMBSTONE)
		setenv("BUS_TOMBSTONE", "1", 1);
	else
		unsetenv("BUS_TOMBSTONE");
	/* Each tag costs 4 bytes of lengths and takes 2 here: it fits. */
	if ((all = p = malloc(r->tags_len + 1)) == NULL)
		_exit(127);
	pos = 0;
	while (tags_next(r->tags, r->tags_len, &pos, &t) == 1) {
		if (p > all)
			*p++ = ',';
		memcpy(p, t.name, t.name_len);
		p += t.name_len;
		*p++ = '=';
		memcpy(p, t.value, t.value_len);
		p += t.value_len;
		memcpy(name, "BUS_TAG_", 8);
		for (i = 0; i < t.name_len; i++)
			name[8 + i] = isalnum((unsigned char)t.name[i]) ?
			    toupper((unsigned char)t.name[i]) : '_';
		name[8 + i] = '\0';
		setenv_n(name, t.value, t.value_len);
	}
	setenv_n("BUS_TAGS", all, p - all);
	execl("/bin/sh", "sh", "-c", exec_cmd, (char *)NULL);
	warn("/bin/sh");
	_exit(127);
}

/* Run the command once for r: its wait status, or -1 if it did not run. */
static int
exec_once(struct sub *s, const struct bus_rec *r)
{
	const char *in;
	size_t inlen, done = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st;

	if (outmode == OUT_RAW) {
		in = (const char *)r->payload;
		inlen = r->payload_len;
	} else {
		olen = 0;
		emit(s, r);
		in = obuf;
		inlen = olen;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		warn("pipe");
		return -1;
	}
	if ((pid = fork()) == -1) {
		warn("fork");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0)
		exec_child(s, r, p[0]);
	close(p[0]);
	while (done < inlen) {
		if ((n = write(p[1], in + done, inlen - done)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EPIPE)	/* EPIPE: it did not read it */
				warn("--exec: writing the message");
			break;
		}
		done += n;
	}
	close(p[1]);
	olen = 0;
	while (waitpid(pid, &st, 0) == -1) {
		if (errno != EINTR) {
			warn("waitpid");
			return -1;
		}
	}
	return st;
}

static void
describe(int st, char *buf, size_t len)
{
	if (st == -1)
		snprintf(buf, len, "could not be started");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "failed (wait status %#x)", st);
}

/* Sleep ms milliseconds; cut short by a signal. */
static void
nap(long long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * MS;
	nanosleep(&ts, NULL);
}

/*
 * --exec: run the command until it exits 0, retrying with a doubling
 * backoff.  When it keeps failing, stop with the cursor before r.
 */
static void
deliver_exec(struct sub *s, const struct bus_rec *r)
{
	long long attempt, ms = BACKOFF_MIN_MS;
	char why[64];
	int st;

	commit(0);
	for (attempt = 0;; attempt++) {
		st = exec_once(s, r);
		if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			return;
		if (quit)
			finish(0);
		describe(st, why, sizeof(why));
		if (attempt >= retries) {
			out_flush();
			commit(1);
			if (cname != NULL)
				errx(EX_SOFTWARE, "partition %s offset %llu: "
				    "command %s (%lld attempt%s); stopping, "
				    "cursor %s left before it", s->name,
				    (unsigned long long)r->offset, why,
				    attempt + 1, attempt ? "s" : "", cname);
			errx(EX_SOFTWARE, "partition %s offset %llu: command "
			    "%s (%lld attempt%s); stopping", s->name,
			    (unsigned long long)r->offset, why, attempt + 1,
			    attempt ? "s" : "");
		}
		warnx("partition %s offset %llu: command %s; retry %lld of "
		    "%lld in %lld ms", s->name, (unsigned long long)r->offset,
		    why, attempt + 1, retries, ms);
		nap(ms);
		if (quit)
			finish(0);
		ms = ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
	}
}

/* ---------------------------------------------------------------- cursor */

/* The receive time a new cursor stands at: nothing delivered yet. */
static int64_t
initial_recv(void)
{
	switch (from) {
	case FROM_BEGIN:
		return 0;
	case FROM_TIME:
		return from_time > 0 ? from_time - 1 : 0;
	default:
		return start_clock;
	}
}

/*
 * --name: lock the cursor against a second user and load it.  --group:
 * join the group and settle its start time.  A damaged cursor file is
 * reported and started again, never fatal.
 */
static void
cursor_open(void)
{
	struct cursor c;
	char e[512];
	int rc;

	if (store_mkdirs(dir) == -1)
		err(EX_CANTCREAT, "%s", dir);
	if (consumer_lock(dir, cname, gname != NULL) == -1) {
		if (errno != EWOULDBLOCK)
			err(EX_CANTCREAT, "%s/%s: lock of cursor %s", dir,
			    BUS_CURSORDIR, cname);
		if (gname != NULL)
			errx(EX_TEMPFAIL, "cursor %s is in use by a bus-sub "
			    "--name %s outside the group", cname, cname);
		errx(EX_TEMPFAIL, "cursor %s is in use by another bus-sub "
		    "(use --group to share partitions)", cname);
	}
	if (gname == NULL) {
		rc = cursor_load(dir, cname, &cur, e, sizeof(e));
		if (rc == -1)
			warnx("cursor %s is damaged (%s); starting it again",
			    cname, e);
		if (rc == 1) {
			resumed = 1;
			base_time = erecv = wrecv = cur.recv_ns;
			if (verbose)
				fprintf(stderr, "bus-sub: resuming cursor %s "
				    "(--from applies to new cursors only)\n",
				    cname);
		} else {
			erecv = wrecv = initial_recv();
			dirty = 1;
		}
		return;
	}
	if ((grp = group_join(dir, gname, member)) == NULL)
		err(EX_CANTCREAT, "group %s", gname);
	if (group_cursor_lock(grp) == -1)
		err(EX_IOERR, "group %s: cursor lock", gname);
	rc = cursor_load(dir, cname, &c, e, sizeof(e));
	if (rc == -1)
		warnx("cursor %s is damaged (%s); starting it again", cname, e);
	if (group_start(grp, rc == 1 ? c.recv_ns : initial_recv(),
	    &base_time) == -1)
		err(EX_IOERR, "group %s: start time", gname);
	group_cursor_unlock(grp);
	cursor_free(&c);
}

/* Write the positions output has reached; -1 with errno. */
static int
save_positions(void)
{
	struct cursor c;
	struct sub *s;
	char e[512];
	size_t k;
	int rc = 0;

	if (grp == NULL) {
		for (k = 0; k < nsubs; k++) {
			s = subs[k];
			if (s->pr != NULL && s->wknown &&
			    cursor_set(&cur, s->name, s->wnext) == -1)
				return -1;
		}
		cur.recv_ns = wrecv;
		return cursor_save(dir, cname, &cur);
	}
	/* The group's file: change our partitions only, under its lock. */
	if (group_cursor_lock(grp) == -1)
		return -1;
	if (cursor_load(dir, cname, &c, e, sizeof(e)) == -1)
		warnx("cursor %s is damaged (%s); writing it again", cname, e);
	for (k = 0; k < nsubs && rc == 0; k++) {
		s = subs[k];
		if (s->own != -1 && s->pr != NULL && s->wknown)
			rc = cursor_set(&c, s->name, s->wnext);
	}
	if (rc == 0) {
		if (wrecv > c.recv_ns)
			c.recv_ns = wrecv;
		rc = cursor_save(dir, cname, &c);
	}
	k = errno;
	cursor_free(&c);
	group_cursor_unlock(grp);
	errno = k;
	return rc;
}

/*
 * Commit what output has reached, if it moved: now when forced, else at
 * most every COMMIT_MS (the poll timeout brings us back for the rest).
 * A failed commit only means more to re-deliver: warn, go on.
 */
static void
commit(int force)
{
	int64_t now;

	if (cname == NULL || !dirty)
		return;
	now = now_ns();
	if (!force && now - last_commit < COMMIT_MS * MS)
		return;
	last_commit = now;
	if (save_positions() == -1) {
		if (!commit_failing)
			warn("cursor %s: cannot save the position", cname);
		commit_failing = 1;
		return;
	}
	if (commit_failing)
		warnx("cursor %s: saved again", cname);
	commit_failing = 0;
	dirty = 0;
}

static void
log_owned(int live, int nmatch)
{
	size_t k;
	int n = 0;

	fprintf(stderr, "bus-sub: group %s: member %s of %d owns", gname,
	    member, live);
	for (k = 0; k < nsubs; k++)
		if (subs[k]->own != -1) {
			fprintf(stderr, " %s", subs[k]->name);
			n++;
		}
	fprintf(stderr, "%s (%d of %d partitions)\n", n ? "" : " nothing", n,
	    nmatch);
}

/*
 * Group: our share is an even part of the partitions matching, by rank
 * among the live members (the first nmatch % live members take one
 * more).  Beyond it, give partitions up once their output is written
 * and committed; below it, take free ones, from the group's cursor.
 */
static void
rebalance(void)
{
	struct cursor c;
	struct sub *s, **took;
	char e[512];
	size_t k, j, at, ntook = 0;
	int live, rank, target, owned = 0, nmatch = 0, fd;

	next_eval = now_ns() + GROUP_MS * MS;
	if ((live = group_live(grp, &rank)) == -1) {
		warn("group %s", gname);
		return;
	}
	for (k = 0; k < nsubs; k++) {
		nmatch += subs[k]->match;
		owned += subs[k]->own != -1;
	}
	target = nmatch / live + (rank < nmatch % live);
	if (owned > target) {
		out_flush();
		commit(1);
		for (k = nsubs; k-- > 0 && owned > target; ) {
			s = subs[k];
			if (s->own == -1)
				continue;
			if (s->pr != NULL)
				stop_sub(s);
			group_disown(s->own);
			s->own = -1;
			owned--;
		}
		if (verbose)
			log_owned(live, nmatch);
		return;
	}
	if (owned == target || nsubs == 0)
		return;
	if ((took = calloc(nsubs, sizeof(*took))) == NULL)
		err(EX_OSERR, NULL);
	/* Members start looking at different places: fewer collisions. */
	at = (size_t)rank * nsubs / live;
	for (j = 0; j < nsubs && owned < target; j++) {
		s = subs[(at + j) % nsubs];
		if (!s->match || s->own != -1)
			continue;
		if ((fd = group_own(grp, s->name)) == -1) {
			if (errno != EWOULDBLOCK)
				warn("group %s: partition %s", gname, s->name);
			continue;
		}
		s->own = fd;
		took[ntook++] = s;
		owned++;
	}
	if (ntook > 0) {
		/* Read after taking them: their last owner committed. */
		if (group_cursor_lock(grp) == -1)
			err(EX_IOERR, "group %s: cursor lock", gname);
		if (cursor_load(dir, cname, &c, e, sizeof(e)) == -1)
			warnx("cursor %s is damaged (%s)", cname, e);
		group_cursor_unlock(grp);
		for (j = 0; j < ntook; j++) {
			s = took[j];
			start_sub(s, &c);
			if (s->pr == NULL) {
				group_disown(s->own);
				s->own = -1;
			}
		}
		cursor_free(&c);
		/* Record where they start, for whoever comes next. */
		out_flush();
		commit(1);
		if (verbose)
			log_owned(live, nmatch);
	}
	free(took);
}

/* Write what is buffered, commit, exit. */
static __dead void
finish(int status)
{
	out_flush();
	commit(1);
	exit(status);
}

/* Commit what was written before, drop the buffer, exit. */
static __dead void
quit_now(int status)
{
	olen = 0;
	commit(1);
	exit(status);
}

/* ---------------------------------------------------------------- output */

/*
 * Write all of p to stdout.  When the reader left (EPIPE), or a signal
 * asks us to stop while the write is blocked, commit what was written
 * before and exit 0, quietly, as head(1) expects.
 */
static void
write_out(const void *p, size_t n)
{
	size_t done = 0;
	ssize_t w;
	int e;

	while (done < n) {
		w = write(STDOUT_FILENO, (const char *)p + done, n - done);
		if (w == -1) {
			if (errno == EINTR && !quit)
				continue;
			if (errno == EINTR || errno == EPIPE)
				quit_now(0);
			e = errno;
			olen = 0;
			commit(1);
			errno = e;
			err(EX_IOERR, "stdout");
		}
		done += w;
	}
}

/* Everything dealt with so far is now written: it may be committed. */
static void
written(void)
{
	struct sub *s;
	size_t k;

	if (wrecv != erecv) {
		wrecv = erecv;
		dirty = 1;
	}
	if (!moved)
		return;
	moved = 0;
	for (k = 0; k < nsubs; k++) {
		s = subs[k];
		if (s->pr != NULL && s->known &&
		    (!s->wknown || s->wnext != s->next)) {
			s->wnext = s->next;
			s->wknown = 1;
			dirty = 1;
		}
	}
}

/* Write the buffer; what it held may then be committed. */
static void
out_flush(void)
{
	if (olen > 0 && exec_cmd == NULL)
		write_out(obuf, olen);
	olen = 0;
	written();
	commit(0);
}

/* --exec renders a whole message in memory: make room for need bytes. */
static void
out_grow(size_t need)
{
	size_t nc = ocap;
	char *nb;

	while (nc < need)
		nc *= 2;
	if ((nb = realloc(obuf, nc)) == NULL)
		err(EX_OSERR, NULL);
	obuf = nb;
	ocap = nc;
}

/* The buffer is full: write it out, or grow it for --exec. */
static void __attribute__((noinline))
out_slow(const void *p, size_t n)
{
	if (exec_cmd != NULL)
		out_grow(olen + n);
	else {
		out_flush();
		if (n > ocap) {
			write_out(p, n);
			return;
		}
	}
	memcpy(obuf + olen, p, n);
	olen += n;
}

static inline void
out(const void *p, size_t n)
{
	if (n > ocap - olen) {
		out_slow(p, n);
		return;
	}
	if (n > 0)	/* p may be NULL then (a record without key) */
		memcpy(obuf + olen, p, n);
	olen += n;
}

static inline void
out_c(char c)
{
	if (olen == ocap) {
		out_slow(&c, 1);
		return;
	}
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

/*
 * Sleep until a file we follow changes, a signal comes or timeout ms
 * pass (-1: no limit), then peek again where needed.
 */
static void
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

/* ---------------------------------------------------------- list-cursors */

struct row {
	const char	*cursor;
	const char	*part;		/* NULL: the cursor has none */
	uint64_t	 next;
	int		 have_end;
	uint64_t	 end;
	char		 owner[256];
};

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
	snprintf(b, sizeof(b), "%llu", (unsigned long long)row_lag(r));
	out_pad(end ? b : "-", w[4] + 2);
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
static __dead void
list_cursors(char **only, int nonly)
{
	struct cursor *cs;
	struct row **rows;
	char **names, b[64];
	size_t n, i, w[7] = { 6, 9, 4, 3, 3, 5, 0 };
	int *nr, *grpf, k, j, status = 0;
	const char *hdr[] = { "CURSOR", "PARTITION", "NEXT", "END", "LAG",
	    "OWNER", "LAST-DELIVERED" };

	ocap = OUT_BUF;
	if ((obuf = malloc(ocap)) == NULL)
		err(EX_OSERR, NULL);
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
		if ((nonly > 0 && k == nonly) || group_suffixed(names[i]))
			continue;
		grpf[i] = group_exists(dir, names[i]);
		if ((nr[i] = cursor_rows(names[i], &cs[i], grpf[i],
		    &rows[i])) == -1) {
			nr[i] = 0;
			status = EX_DATAERR;
			continue;
		}
		if (outmode == OUT_JSON) {
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
			w[4] = MAX(w[4], (size_t)snprintf(b, sizeof(b), "%llu",
			    (unsigned long long)row_lag(r)));
			w[5] = MAX(w[5], strlen(r->owner));
		}
	}
	if (outmode != OUT_JSON) {
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

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
#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/types.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
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

static __dead void usage(void);
static int	parse_from(const char *);
static int	parse_until(const char *, int64_t *);
static int	next_timeout(void);

const char *dir;
struct patset *pats;
enum from_kind from = FROM_END;
uint64_t	 from_n;
int64_t	 from_time;
static int	 exit_at_end;
static uint64_t	 max_count;		/* -n, 0: no limit */
static uint64_t	 count;
enum out_mode outmode = OUT_RAW;
const char *format;
int	 delim = '\n';
int	 verbose;
int	 skip_corrupt;
int64_t	 until = INT64_MAX;	/* --until */
int	 until_set;
struct tagf *tagfs;		/* --tag, all must match */
size_t	 ntagfs;
pcre2_code *grep_re;		/* --grep, on the payload */
pcre2_code *key_re;		/* --key, on the key */
pcre2_match_data *md;
int	 filtering;		/* one of them is given */
const char *exec_cmd;
long long retries = 3;
const char *cname;		/* the cursor file's name */
const char *gname;		/* --group */
const char *member;		/* --name within a group */
static char	 pidname[32];
volatile sig_atomic_t quit;	/* SIGTERM, SIGINT, SIGHUP */
int	 sigpipe[2] = { -1, -1 };	/* wakes poll(2) on a signal */

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
int
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

/* Write what is buffered, commit, exit. */
__dead void
finish(int status)
{
	out_flush();
	commit(1);
	exit(status);
}

/* Commit what was written before, drop the buffer, exit. */
__dead void
quit_now(int status)
{
	olen = 0;
	commit(1);
	exit(status);
}

/*
 * bus-sub: read and follow messages by topic pattern.
 *
 * main() parses the flags into struct opts, hands each concern its part
 * (source.c reads the partitions, position.c keeps cursors and groups,
 * output.c and exec.c deliver, filter.c selects) and runs the loop.
 */
#include <sys/types.h>

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

#include "bus.h"
#include "cursor.h"
#include "group.h"
#include "sub.h"

/* What the flags ask for. */
struct opts {
	struct src_conf	 src;		/* what to read, from where */
	struct pos_conf	 pos;		/* --name, --group */
	struct out_conf	 out;		/* -o, -F, -0 */
	struct exec_conf exec;		/* --exec, --retries */
	const char	*name;		/* --name */
	int		 list;		/* --list-cursors */
	uint64_t	 max_count;	/* -n, 0: no limit */
	char		 pidname[32];	/* a group member's default name */
};

static __dead void usage(void);
static int	parse_from(const char *);
static int	parse_until(const char *, int64_t *);
static void	check_name(const char *, const char *);
static void	on_signal(int);
static void	signals(void);
static int	flags(int, char *[]);
static void	setup(int, char **);
static __dead void run(void);
static int	next_timeout(void);
static void	flush_commit(void);

static struct opts opt = {
	.src = { .from = FROM_END, .until = INT64_MAX, .follow = 1 },
	.out = { .mode = OUT_RAW, .delim = '\n' },
	.exec = { .retries = 3 },
};
static volatile sig_atomic_t quit;	/* SIGTERM, SIGINT, SIGHUP */
static int	 sigpipe[2] = { -1, -1 };	/* wakes poll(2) on a signal */

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
		opt.src.from = FROM_BEGIN;
		return 0;
	}
	if (strcmp(s, "end") == 0 || strcmp(s, "now") == 0) {
		opt.src.from = FROM_END;
		return 0;
	}
	for (p = s + (*s == '-'); *p >= '0' && *p <= '9'; p++)
		;
	if (*p == '\0' && p > s + (*s == '-')) {
		opt.src.from = *s == '-' ? FROM_BACK : FROM_OFFSET;
		opt.src.from_n = strtonum(s + (*s == '-'), 0, LLONG_MAX, &errstr);
		return errstr ? -1 : 0;
	}
	if (parse_time(s, now_ns(), &opt.src.from_time) == 0) {
		opt.src.from = FROM_TIME;
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

/* Does s end in ".group", the suffix of the groups' directories? */
int
group_suffixed(const char *s)
{
	size_t n = strlen(s), k = strlen(GROUP_SUFFIX);

	return n >= k && strcmp(s + n - k, GROUP_SUFFIX) == 0;
}

/* A cursor or group name. */
static void
check_name(const char *flag, const char *s)
{
	if (cursor_name_check(s) == -1 || strstr(s, ".tmp") != NULL ||
	    group_suffixed(s))
		errx(EX_USAGE, "%s: '%s' is not a valid name (1 to %d of "
		    "[A-Za-z0-9._-], not starting with '.', without '.tmp', "
		    "not ending in '%s')", flag, s, CURSOR_NAME_MAX,
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
	int n;

	n = flags(argc, argv);
	setup(argc - n, argv + n);
	run();
}

/* Parse the flags into opt; how many arguments they took. */
static int
flags(int argc, char *argv[])
{
	const char *errstr;
	int ch;

	while ((ch = getopt_long(argc, argv, "0d:eF:hn:o:vV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case '0':
			opt.out.delim = '\0';
			break;
		case 'd':
			opt.src.dir = optarg;
			break;
		case 'e':
			opt.src.follow = 0;
			break;
		case 'F':
			opt.out.mode = OUT_FORMAT;
			opt.out.format = optarg;
			break;
		case 'n':
			opt.max_count = strtonum(optarg, 1, LLONG_MAX, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "-n: '%s' is %s", optarg, errstr);
			break;
		case 'o':
			if (strcmp(optarg, "raw") == 0)
				opt.out.mode = OUT_RAW;
			else if (strcmp(optarg, "json") == 0)
				opt.out.mode = OUT_JSON;
			else
				errx(EX_USAGE, "-o: '%s' is not raw or json",
				    optarg);
			break;
		case 'v':
			opt.src.verbose = 1;
			break;
		case 'V':
			printf("bus-sub %s\n", BUS_VERSION);
			exit(0);
		case OPT_EXEC:
			if (*optarg == '\0')
				errx(EX_USAGE, "--exec: empty command");
			opt.exec.cmd = optarg;
			break;
		case OPT_FROM:
			if (parse_from(optarg) == -1)
				errx(EX_USAGE, "--from: '%s' is not beginning, "
				    "end, an offset, -COUNT, @TIME or -DURATION",
				    optarg);
			break;
		case OPT_GREP:
			filter_grep(optarg);
			break;
		case OPT_GROUP:
			check_name("--group", optarg);
			opt.pos.group = optarg;
			break;
		case OPT_KEY:
			filter_key(optarg);
			break;
		case OPT_LIST:
			opt.list = 1;
			break;
		case OPT_NAME:
			check_name("--name", optarg);
			opt.name = optarg;
			break;
		case OPT_RETRIES:
			opt.exec.retries = strtonum(optarg, 0, 1000000, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--retries: '%s' is %s", optarg,
				    errstr);
			break;
		case OPT_SKIP:
			opt.src.skip_corrupt = 1;
			break;
		case OPT_TAG:
			filter_tag(optarg);
			break;
		case OPT_UNTIL:
			if (parse_until(optarg, &opt.src.until) == -1)
				errx(EX_USAGE, "--until: '%s' is not now, "
				    "@TIME, -DURATION or +DURATION", optarg);
			opt.src.until_set = 1;
			break;
		case 'h':
		default:
			usage();
		}
	}
	return optind;
}

/*
 * The loop: deliver what may be released, in receive order; write it;
 * wait for more.
 */
static __dead void
run(void)
{
	struct sub *s;
	uint64_t count = 0;

	for (;;) {
		int64_t limit = src_limit();

		while ((s = src_next(limit)) != NULL) {
			if (s->rec.recv_ns > opt.src.until)
				finish(0);
			out_deliver(s, &s->rec);
			if (opt.max_count && ++count >= opt.max_count)
				finish(0);
			src_advance(s);
			if (quit)
				finish(0);
		}
		out_flush();
		if (!opt.src.follow || quit || src_until_done())
			finish(0);
		src_wait(next_timeout(), sigpipe[0]);
		if (quit)
			finish(0);
		pos_tick();
	}
}

/*
 * The flags are parsed: hand each concern its part, open the store and
 * the cursor, read the partitions there are.  --list-cursors ends here.
 */
static void
setup(int argc, char **argv)
{
	char emsg[512];

	opt.src.dir = store_dir(opt.src.dir);
	if (opt.list) {
		list_cursors(opt.src.dir, opt.out.mode == OUT_JSON, argv,
		    argc);
		/* NOTREACHED */
	}
	if (argc == 0) {
		warnx("at least one topic pattern is required");
		usage();
	}
	if ((opt.src.pats = patset_new(argv, argc, emsg, sizeof(emsg))) ==
	    NULL)
		errx(EX_USAGE, "%s", emsg);
	filter_init();
	if (opt.pos.group != NULL) {
		opt.pos.cursor = opt.pos.group;
		snprintf(opt.pidname, sizeof(opt.pidname), "%ld",
		    (long)getpid());
		opt.pos.member = opt.name ? opt.name : opt.pidname;
	} else
		opt.pos.cursor = opt.name;
	opt.pos.dir = opt.src.dir;
	opt.pos.from = opt.src.from;
	opt.pos.from_time = opt.src.from_time;
	opt.pos.verbose = opt.src.verbose;
	opt.pos.flush = out_flush;
	opt.src.cursor = opt.pos.cursor;
	opt.src.before_exit = flush_commit;
	opt.out.exec = opt.exec.cmd != NULL;
	opt.exec.cursor = opt.pos.cursor;
	signals();
	out_open(&opt.out);
	if (opt.out.exec)
		exec_init(&opt.exec);

	src_open(&opt.src);
	pos_open(&opt.pos);
	src_scan();
	pos_start();
}

/* Has a signal asked us to stop? */
int
quitting(void)
{
	return quit;
}

/* Before dying of an error: write what is buffered, commit. */
static void
flush_commit(void)
{
	out_flush();
	pos_commit(1);
}

/* Milliseconds until something is due without a file event; -1: none. */
static int
next_timeout(void)
{
	int64_t now = now_ns(), t = pos_due(), until = opt.src.until;

	if (opt.src.until_set && until < INT64_MAX - (UNTIL_GRACE_MS + 1) * MS) {
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
	pos_commit(1);
	exit(status);
}

/* Commit what was written before, drop the buffer, exit. */
__dead void
quit_now(int status)
{
	out_discard();
	pos_commit(1);
	exit(status);
}

/*
 * bus-sub: read and follow messages by topic pattern.
 *
 * main() parses the flags into struct opts, opens the subscription (the
 * subscriber of libbus, bus_sub(3): partitions, merge by receive time,
 * following, cursors and groups) and runs the loop: filter.c selects,
 * output.c and exec.c deliver.
 */
#include <sys/types.h>

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
#include "bus/bus.h"
#include "sub.h"

/* What the flags ask for. */
struct opts {
	const char	*dir;		/* -d */
	const char	*from;		/* --from */
	int64_t		 until;		/* --until */
	int		 until_set;
	int		 follow;	/* not -e */
	int		 verbose;	/* -v */
	int		 skip_corrupt;	/* --skip-corrupt */
	const char	*name;		/* --name */
	const char	*group;		/* --group */
	struct out_conf	 out;		/* -o, -F, -0 */
	struct exec_conf exec;		/* --exec, --retries */
	int		 list;		/* --list-cursors */
	int		 scheduled;	/* --scheduled */
	uint64_t	 max_count;	/* -n, 0: no limit */
};

static __dead void usage(void);
static int	parse_until(const char *, int64_t *);
static void	on_signal(int);
static void	signals(void);
static int	flags(int, char *[]);
static void	setup(int, char **);
static void	say(void *, const char *);
static __dead void failed(void);
static __dead void run(void);

static struct opts opt = {
	.until = INT64_MAX,
	.follow = 1,
	.out = { .mode = OUT_RAW, .delim = '\n' },
	.exec = { .retries = 3 },
};
static struct bus_sub *sub;		/* the subscription */
static volatile sig_atomic_t quit;	/* SIGTERM, SIGINT, SIGHUP */
static int	 sigpipe[2] = { -1, -1 };	/* wakes poll(2) on a signal */

enum {
	OPT_FROM = 256, OPT_SKIP, OPT_NAME, OPT_GROUP, OPT_EXEC, OPT_RETRIES,
	OPT_LIST, OPT_UNTIL, OPT_TAG, OPT_GREP, OPT_KEY, OPT_SCHEDULED,
	OPT_ONFAIL
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
	{ "on-failure",		required_argument,	NULL, OPT_ONFAIL },
	{ "retries",		required_argument,	NULL, OPT_RETRIES },
	{ "scheduled",		no_argument,		NULL, OPT_SCHEDULED },
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
	    "               [--on-failure stop|skip|dead-letter=topic]\n"
	    "       bus-sub --list-cursors [-d dir] [-o raw|json] "
	    "[name ...]\n"
	    "       bus-sub --scheduled [-d dir] [-o raw|json] pattern ...\n");
	exit(EX_USAGE);
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
			opt.dir = optarg;
			break;
		case 'e':
			opt.follow = 0;
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
			opt.verbose = 1;
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
			opt.from = optarg;
			break;
		case OPT_GREP:
			filter_grep(optarg);
			break;
		case OPT_GROUP:
			opt.group = optarg;
			break;
		case OPT_KEY:
			filter_key(optarg);
			break;
		case OPT_LIST:
			opt.list = 1;
			break;
		case OPT_NAME:
			opt.name = optarg;
			break;
		case OPT_ONFAIL:
			exec_on_failure(&opt.exec, optarg);
			break;
		case OPT_RETRIES:
			opt.exec.retries = strtonum(optarg, 0, 1000000, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--retries: '%s' is %s", optarg,
				    errstr);
			break;
		case OPT_SCHEDULED:
			opt.scheduled = 1;
			break;
		case OPT_SKIP:
			opt.skip_corrupt = 1;
			break;
		case OPT_TAG:
			filter_tag(optarg);
			break;
		case OPT_UNTIL:
			if (parse_until(optarg, &opt.until) == -1)
				errx(EX_USAGE, "--until: '%s' is not now, "
				    "@TIME, -DURATION or +DURATION", optarg);
			opt.until_set = 1;
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
	struct pollfd pfd[2];
	struct bus_msg m;
	enum bus_sub_result r;
	uint64_t count = 0;

	for (;;) {
		while ((r = bus_sub_next(sub, &m, 0)) == BUS_SUB_MSG) {
			/* Filtered out: dealt with, not delivered. */
			if (!filter_match(&m))
				continue;
			out_deliver(&m);
			if (opt.max_count && ++count >= opt.max_count)
				finish(0);
			if (quit)
				finish(0);
		}
		if (r == BUS_SUB_ERROR)
			failed();
		out_flush();
		if (r == BUS_SUB_END || quit)
			finish(0);
		pfd[0].fd = bus_sub_fd(sub);
		pfd[0].events = POLLIN;
		pfd[1].fd = sigpipe[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, bus_sub_timeout(sub)) == -1 && errno != EINTR)
			err(EX_OSERR, "poll");
		if (quit)
			finish(0);
	}
}

/*
 * The flags are parsed: open the subscription and read the partitions
 * there are.  --list-cursors ends here.
 */
static void
setup(int argc, char **argv)
{
	const struct bus_error *e;
	int i;

	if (opt.list) {
		list_cursors(store_dir(opt.dir), opt.out.mode == OUT_JSON,
		    argv, argc);
		/* NOTREACHED */
	}
	if (opt.scheduled)
		list_scheduled(store_dir(opt.dir), opt.out.mode == OUT_JSON,
		    argv, argc);
	if (argc == 0) {
		warnx("at least one topic pattern is required");
		usage();
	}
	if ((sub = bus_sub_new(opt.dir)) == NULL)
		err(EX_OSERR, NULL);
	e = bus_sub_error(sub);
	bus_sub_set_log(sub, say, NULL);
	bus_sub_set_verbose(sub, opt.verbose);
	bus_sub_set_end(sub, !opt.follow);
	bus_sub_set_skip_corrupt(sub, opt.skip_corrupt);
	if (opt.until_set)
		bus_sub_set_until(sub, opt.until);
	if (opt.from != NULL && bus_sub_set_from(sub, opt.from) == -1)
		errx(EX_USAGE, "--from: %s", e->text);
	if (opt.group != NULL && bus_sub_set_group(sub, opt.group,
	    opt.name) == -1)
		errx(EX_USAGE, "--group: %s", e->text);
	if (opt.group == NULL && opt.name != NULL &&
	    bus_sub_set_cursor(sub, opt.name) == -1)
		errx(EX_USAGE, "--name: %s", e->text);
	for (i = 0; i < argc; i++)
		if (bus_sub_add_pattern(sub, argv[i]) == -1)
			errx(e->status, "%s", e->text);
	filter_init();
	opt.out.exec = opt.exec.cmd != NULL;
	opt.exec.cursor = opt.group != NULL ? opt.group : opt.name;
	opt.exec.dir = opt.dir;
	if (opt.exec.on_fail != FAIL_STOP && opt.exec.cmd == NULL)
		errx(EX_USAGE, "--on-failure needs --exec");
	signals();
	out_open(&opt.out);
	if (opt.out.exec)
		exec_init(&opt.exec);
	if (bus_sub_open(sub) == -1)
		failed();
}

/* Warnings of the subscription: one line each. */
static void
say(void *arg, const char *line)
{
	warnx("%s", line);
}

/* The subscription failed: write what is buffered, commit, say why. */
static __dead void
failed(void)
{
	const struct bus_error *e = bus_sub_error(sub);

	out_flush();
	pos_commit(1);
	errx(e->status, "%s", e->text);
}

/* Has a signal asked us to stop? */
int
quitting(void)
{
	return quit;
}

/*
 * Every message delivered so far is written (or run), with the last one
 * unless we are in the middle of it: it may be committed.
 */
void
pos_written(int last)
{
	if (sub != NULL)
		bus_sub_done(sub, last);
}

/* Commit what is written, now (force) or when due. */
void
pos_commit(int force)
{
	if (sub != NULL)
		bus_sub_commit(sub, force);
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

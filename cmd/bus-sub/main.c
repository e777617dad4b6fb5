/*
 * bus-sub: read and follow messages by topic pattern.
 *
 * main() parses the flags into struct opts, opens the subscription (the
 * subscriber of libbus, bus_sub(3): partitions, merge by receive time,
 * following, cursors and groups) and runs the loop: filter.c selects,
 * output.c and exec.c deliver.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "cmdline.h"
#include "cursor.h"
#include "msgfmt.h"
#include "bus/bus.h"
#include "perm.h"
#include "sub.h"

/* What the flags ask for. */
struct opts {
	const char	*dir;		/* -d */
	const char	*from;		/* --from, --since */
	const char	*from_flag;	/* which of them */
	uint64_t	 last;		/* --last, --tail; 0: not given */
	const char	*reset;		/* --reset-cursor */
	int64_t		 until;		/* --until */
	int		 until_set;
	int		 follow;	/* not -e */
	int		 verbose;	/* -v */
	int		 skip_corrupt;	/* --skip-corrupt */
	const char	*name;		/* --name */
	const char	*group;		/* --group */
	struct out_conf	 out;		/* -o, -F, -0, --local */
	int		 o_given;	/* -o json or text */
	const char	*format;	/* -F, as given */
	struct exec_conf exec;		/* --exec, --retries */
	int		 list;		/* --list-cursors */
	int		 show;		/* --show-cursor */
	int		 delete;	/* --delete-cursor */
	int		 case_sens;	/* --case-sensitive */
	int		 invert_grep;	/* --invert-grep */
	int		 invert_key;	/* --invert-key */
	int		 scheduled;	/* --scheduled */
	uint64_t	 max_count;	/* -n, 0: no limit */
};

static void	synopsis(FILE *);
static __dead void usage(void);
static __dead void bad_usage(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static __dead void help(void);
static int	parse_until(const char *, int64_t *);
static void	on_signal(int);
static void	signals(void);
static int	flags(int, char *[]);
static void	flags_check(int);
static void	store_exists(const char *);
static void	setup(int, char **);
static void	end_hint(int, char **);
static void	say(void *, const char *);
static __dead void failed(void);
static __dead void run(int, char **);

static struct opts opt = {
	.until = INT64_MAX,
	.follow = 1,
	.out = { .mode = OUT_RAW, .delim = '\n' },
	.exec = { .retries = 3 },
};
static struct msgfmt fmt;		/* -F, compiled */
static struct bus_sub *sub;		/* the subscription */
static volatile sig_atomic_t quit;	/* SIGTERM, SIGINT, SIGHUP */
static int	 sigpipe[2] = { -1, -1 };	/* wakes poll(2) on a signal */

enum {
	OPT_FROM = 256, OPT_SKIP, OPT_NAME, OPT_GROUP, OPT_EXEC, OPT_RETRIES,
	OPT_LIST, OPT_UNTIL, OPT_TAG, OPT_GREP, OPT_KEY, OPT_GREP_V,
	OPT_KEY_V, OPT_INV_GREP, OPT_INV_KEY, OPT_CASE, OPT_LAST, OPT_SINCE,
	OPT_LOCAL, OPT_UTC, OPT_RESET, OPT_SHOW, OPT_DELETE, OPT_SCHEDULED,
	OPT_ONFAIL
};

static const struct option longopts[] = {
	{ "case-sensitive",	no_argument,		NULL, OPT_CASE },
	{ "delete-cursor",	no_argument,		NULL, OPT_DELETE },
	{ "exec",		required_argument,	NULL, OPT_EXEC },
	{ "follow",		no_argument,		NULL, 'f' },
	{ "from",		required_argument,	NULL, OPT_FROM },
	{ "grep",		required_argument,	NULL, OPT_GREP },
	{ "grep-v",		required_argument,	NULL, OPT_GREP_V },
	{ "group",		required_argument,	NULL, OPT_GROUP },
	{ "help",		no_argument,		NULL, 'h' },
	{ "invert-grep",	no_argument,		NULL, OPT_INV_GREP },
	{ "invert-key",		no_argument,		NULL, OPT_INV_KEY },
	{ "key",		required_argument,	NULL, OPT_KEY },
	{ "key-v",		required_argument,	NULL, OPT_KEY_V },
	{ "last",		required_argument,	NULL, OPT_LAST },
	{ "list-cursors",	no_argument,		NULL, OPT_LIST },
	{ "local",		no_argument,		NULL, OPT_LOCAL },
	{ "name",		required_argument,	NULL, OPT_NAME },
	{ "on-failure",		required_argument,	NULL, OPT_ONFAIL },
	{ "reset-cursor",	required_argument,	NULL, OPT_RESET },
	{ "retries",		required_argument,	NULL, OPT_RETRIES },
	{ "scheduled",		no_argument,		NULL, OPT_SCHEDULED },
	{ "show-cursor",	no_argument,		NULL, OPT_SHOW },
	{ "since",		required_argument,	NULL, OPT_SINCE },
	{ "skip-corrupt",	no_argument,		NULL, OPT_SKIP },
	{ "tag",		required_argument,	NULL, OPT_TAG },
	{ "tail",		required_argument,	NULL, OPT_LAST },
	{ "until",		required_argument,	NULL, OPT_UNTIL },
	{ "utc",		no_argument,		NULL, OPT_UTC },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

/* As the SYNOPSIS of bus-sub(1); a test holds them equal. */
static void
synopsis(FILE *f)
{
	const char *p = getprogname();

	fprintf(f,
	    "usage: %s [-0efhVv] [-d dir] [-F format] [-n count]\n"
	    "               [-o raw|json|text] [--case-sensitive] "
	    "[--exec command]\n"
	    "               [--from position] [--grep regex] "
	    "[--grep-v regex]\n"
	    "               [--group group] [--invert-grep] [--invert-key] "
	    "[--key regex]\n"
	    "               [--key-v regex] [--last count] "
	    "[--local | --utc] [--name name]\n"
	    "               [--on-failure stop|skip|dead-letter=topic]\n"
	    "               [--reset-cursor position] [--retries n] "
	    "[--skip-corrupt]\n"
	    "               [--tag name[=value]] [--until time] pattern ...\n"
	    "       %s --list-cursors [-d dir] [-o raw|json] [name ...]\n"
	    "       %s --show-cursor | --delete-cursor [-d dir] "
	    "[-o raw|json] --name name\n"
	    "       %s --scheduled [-d dir] [-o raw|json] pattern ...\n",
	    p, p, p, p);
}

static __dead void
usage(void)
{
	synopsis(stderr);
	exit(EX_USAGE);
}

/* A usage error: the reason, then the synopsis. */
static __dead void
bad_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	usage();
}

/* -h, --help: every option, on stdout. */
static __dead void
help(void)
{
	synopsis(stdout);
	fputs("\n"
"Read and follow the messages of the topics matching each pattern (a PCRE2\n"
"regex matched against whole topics), in receive order.\n"
"\n"
"  -0                    end raw messages with NUL instead of newline\n"
"  -d dir                the store (default: $BUS_DIR, else the default)\n"
"  -e                    exit at the end of what is stored now\n"
"  -f, --follow          keep following for new messages (the default)\n"
"  -F format             print each message by format (%t %p %o %k %K %s\n"
"                        %S %R %h %T %e %u %%; \\n \\t \\r \\0 \\\\ \\xHH)\n"
"  -h, --help            this help\n"
"  -n count              exit after count messages\n"
"  -o raw|json|text      output: payloads (default), JSON lines, or one\n"
"                        line per message for people\n"
"  -V, --version         print the version\n"
"  -v                    say what is read, resumed, owned\n"
"  --case-sensitive      --grep and --key never ignore case (default: a\n"
"                        pattern without upper case ignores it)\n"
"  --delete-cursor       delete the cursor --name, and exit\n"
"  --exec command        run command for each message (sh -c)\n"
"  --from, --since position\n"
"                        beginning, end (default), offset, -N (N back in\n"
"                        each partition), @TIME, -DURATION\n"
"  --grep regex          payload matches regex (repeatable: all must)\n"
"  --grep-v regex        payload does not match regex (repeatable)\n"
"  --group group         share the partitions within group\n"
"  --invert-grep         every --grep must not match instead\n"
"  --invert-key          every --key must not match instead\n"
"  --key regex           key matches regex (repeatable: all must)\n"
"  --key-v regex         key does not match regex (repeatable)\n"
"  --last, --tail count  start count messages before the end of the whole\n"
"                        subscription\n"
"  --list-cursors        list the cursors, and exit\n"
"  --local, --utc        times in local time, or in UTC (default)\n"
"  --name name           keep the position in durable cursor name\n"
"  --on-failure stop|skip|dead-letter=topic\n"
"                        --exec: after the last retry, stop (default),\n"
"                        skip the message, or publish it to topic\n"
"  --reset-cursor pos    move the cursor --name to pos first\n"
"  --retries n           --exec: retries of a failing command (3)\n"
"  --scheduled           list the messages busd holds for later, and exit\n"
"  --show-cursor         show the cursor --name, and exit\n"
"  --skip-corrupt        report and skip damaged records\n"
"  --tag name[=value]    has tag name (of that value); repeatable\n"
"  --until time          stop after messages received at time\n"
"\n"
"See bus-sub(1).\n", stdout);
	exit(0);
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
	flags_check(argc - n);
	setup(argc - n, argv + n);
	run(argc - n, argv + n);
}

/* Parse the flags into opt; how many arguments they took. */
static int
flags(int argc, char *argv[])
{
	const char *errstr;
	char ebuf[256];
	int ch;

	opterr = 0;	/* our messages, with the synopsis */
	while ((ch = getopt_long(argc, argv, ":0d:efF:hn:o:vV", longopts,
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
		case 'f':
			opt.follow = 1;
			break;
		case 'F':
			opt.format = optarg;
			break;
		case 'h':
			help();
		case 'n':
			opt.max_count = strtonum(optarg, 1, LLONG_MAX, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "-n: '%s' is %s", optarg,
				    errstr);
			break;
		case 'o':
			if (strcmp(optarg, "raw") == 0)
				opt.out.mode = OUT_RAW;
			else if (strcmp(optarg, "json") == 0)
				opt.out.mode = OUT_JSON;
			else if (strcmp(optarg, "text") == 0)
				opt.out.mode = OUT_TEXT;
			else
				errx(EX_USAGE, "-o: '%s' is not raw, json "
				    "or text", optarg);
			opt.o_given = opt.out.mode != OUT_RAW;
			break;
		case 'v':
			opt.verbose = 1;
			break;
		case 'V':
			exit(cmd_version(getprogname()));
		case OPT_CASE:
			opt.case_sens = 1;
			break;
		case OPT_DELETE:
			opt.delete = 1;
			break;
		case OPT_EXEC:
			if (*optarg == '\0')
				errx(EX_USAGE, "--exec: empty command");
			opt.exec.cmd = optarg;
			break;
		case OPT_FROM:
		case OPT_SINCE:
			opt.from = optarg;
			opt.from_flag = ch == OPT_FROM ? "--from" : "--since";
			break;
		case OPT_GREP:
		case OPT_GREP_V:
			filter_regex(FILTER_PAYLOAD, ch == OPT_GREP_V, optarg);
			break;
		case OPT_GROUP:
			opt.group = optarg;
			break;
		case OPT_INV_GREP:
			opt.invert_grep = 1;
			break;
		case OPT_INV_KEY:
			opt.invert_key = 1;
			break;
		case OPT_KEY:
		case OPT_KEY_V:
			filter_regex(FILTER_KEY, ch == OPT_KEY_V, optarg);
			break;
		case OPT_LAST:
			opt.last = strtonum(optarg, 1, LLONG_MAX, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--last: '%s' is %s", optarg,
				    errstr);
			break;
		case OPT_LIST:
			opt.list = 1;
			break;
		case OPT_LOCAL:
			opt.out.local = 1;
			break;
		case OPT_NAME:
			opt.name = optarg;
			break;
		case OPT_ONFAIL:
			exec_on_failure(&opt.exec, optarg);
			break;
		case OPT_RESET:
			opt.reset = optarg;
			break;
		case OPT_RETRIES:
			opt.exec.retries = strtonum(optarg, 0, 1000000,
			    &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--retries: '%s' is %s", optarg,
				    errstr);
			break;
		case OPT_SCHEDULED:
			opt.scheduled = 1;
			break;
		case OPT_SHOW:
			opt.show = 1;
			break;
		case OPT_SKIP:
			opt.skip_corrupt = 1;
			break;
		case OPT_TAG:
			filter_tag(optarg);
			break;
		case OPT_UNTIL:
			if (parse_until(optarg, &opt.until) == -1)
				errx(EX_USAGE, "--until: '%s': %s", optarg,
				    errno == ERANGE ? time_error(errno) :
				    "not now, +DURATION or a form of --from");
			opt.until_set = 1;
			break;
		case OPT_UTC:
			opt.out.local = 0;
			break;
		default:
			bad_usage("%s", opt_error(ch, argv, ebuf,
			    sizeof(ebuf)));
		}
	}
	return optind;
}

/* Flags that cannot go together, or need another. */
static void
flags_check(int npat)
{
	char e[512];

	if (opt.format != NULL) {
		if (opt.o_given)
			bad_usage("-F and -o %s cannot be combined",
			    opt.out.mode == OUT_JSON ? "json" : "text");
		if (msgfmt_compile(opt.format, &fmt, e, sizeof(e)) == -1) {
			if (e[0] == '\0')
				err(EX_OSERR, NULL);
			errx(EX_USAGE, "-F: %s", e);
		}
		opt.out.mode = OUT_FORMAT;
		opt.out.format = &fmt;
	}
	if (opt.last && opt.from != NULL)
		bad_usage("--last and %s cannot be combined", opt.from_flag);
	if (opt.reset != NULL) {
		if (opt.name == NULL || opt.group != NULL)
			bad_usage("--reset-cursor needs --name, without "
			    "--group");
		if (opt.from != NULL || opt.last)
			bad_usage("--reset-cursor is the position: not with "
			    "%s", opt.last ? "--last" : opt.from_flag);
	}
	if (opt.show && opt.delete)
		bad_usage("--show-cursor and --delete-cursor cannot be "
		    "combined");
	if ((opt.show || opt.delete) && (opt.name == NULL || npat > 0))
		bad_usage("--%s-cursor takes --name and no pattern",
		    opt.show ? "show" : "delete");
	if (!opt.list && !opt.show && !opt.delete && npat == 0)
		bad_usage("at least one topic pattern is required");
}

/*
 * The loop: deliver what may be released, in receive order; write it;
 * wait for more.
 */
static __dead void
run(int argc, char **argv)
{
	struct pollfd pfd[2];
	struct bus_msg m;
	enum bus_sub_result r;
	const void *run;
	size_t len;
	uint64_t count = 0, seen = 0, n;
	/* Raw, unfiltered: whole blocks as stored, one copy each. */
	int blocks = opt.out.mode == OUT_RAW && !opt.out.exec &&
	    !filter_any();

	for (;;) {
		while ((r = bus_sub_next(sub, &m, 0)) == BUS_SUB_MSG) {
			seen++;
			/* Filtered out: dealt with, not delivered. */
			if (!filter_match(&m))
				continue;
			if (blocks && (n = bus_sub_extend(sub, opt.out.delim,
			    opt.max_count ? opt.max_count - count : UINT64_MAX,
			    &run, &len)) > 0) {
				out(run, len);
				seen += n - 1;
				count += n - 1;
			} else
				out_deliver(&m);
			if (opt.max_count && ++count >= opt.max_count)
				finish(0);
			if (quit)
				finish(0);
		}
		if (r == BUS_SUB_ERROR)
			failed();
		out_flush();
		if (r == BUS_SUB_END && seen == 0)
			end_hint(argc, argv);
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

/* Readers never make a store. */
static void
store_exists(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
		errx(EX_NOINPUT, "no bus store at %s", dir);
}

/*
 * The flags are parsed: open the subscription and read the partitions
 * there are.  --list-cursors, --show-cursor and --delete-cursor end here.
 */
static void
setup(int argc, char **argv)
{
	const struct bus_error *e;
	const char *dir = store_dir(opt.dir);
	char emsg[PATH_MAX + 256];
	char logdir[PATH_MAX];
	int i, checked = 0;

	if (opt.list || opt.show || opt.delete) {
		if ((opt.show || opt.delete) &&
		    cursor_name_check(opt.name) == -1)
			errx(EX_USAGE, "--name: '%s' is not a cursor name",
			    opt.name);
		store_exists(dir);
		if (opt.delete)
			delete_cursor(dir, opt.name);
		if (opt.show)
			list_cursors(dir, opt.out.mode == OUT_JSON,
			    (char **)&opt.name, 1);
		list_cursors(dir, opt.out.mode == OUT_JSON, argv, argc);
		/* NOTREACHED */
	}
	if (opt.scheduled)
		list_scheduled(dir, opt.out.mode == OUT_JSON, argv, argc);
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
		errx(EX_USAGE, "%s: %s", opt.from_flag, e->text);
	if (opt.reset != NULL) {
		if (bus_sub_set_from(sub, opt.reset) == -1)
			errx(EX_USAGE, "--reset-cursor: %s", e->text);
		bus_sub_set_reset(sub, 1);
	}
	if (opt.last && bus_sub_set_last(sub, opt.last) == -1)
		errx(EX_USAGE, "--last: %s", e->text);
	if (opt.group != NULL && bus_sub_set_group(sub, opt.group,
	    opt.name) == -1)
		errx(EX_USAGE, "--group: %s", e->text);
	if (opt.group == NULL && opt.name != NULL &&
	    bus_sub_set_cursor(sub, opt.name) == -1)
		errx(EX_USAGE, "--name: %s", e->text);
	for (i = 0; i < argc; i++)
		if (bus_sub_add_pattern(sub, argv[i]) == -1)
			errx(e->status, "%s", e->text);
	filter_init(opt.case_sens, opt.invert_grep, opt.invert_key);
	opt.out.exec = opt.exec.cmd != NULL;
	opt.exec.cursor = opt.group != NULL ? opt.group : opt.name;
	opt.exec.dir = opt.dir;
	if (opt.exec.on_fail != FAIL_STOP && opt.exec.cmd == NULL)
		errx(EX_USAGE, "--on-failure needs --exec");
	signals();
	out_open(&opt.out);
	if (opt.out.exec)
		exec_init(&opt.exec);
	/* A store others could write: said once (busd(8)). */
	if (perm_check_store(dir, NULL, 0, emsg,
	    sizeof(emsg)) == -1)
		warnx("warning: %s", emsg);
	/*
	 * A typo reads nothing: say so; with -e, nothing at all is 66,
	 * before a cursor is made.  No log directory: the store is new, or
	 * not one (bus_sub_open() says which).
	 */
	if (snprintf(logdir, sizeof(logdir), "%s/%s", dir, BUS_LOGDIR) <
	    (int)sizeof(logdir) && access(logdir, F_OK) == 0) {
		checked = 1;
		if (patterns_check(dir, argc, argv) == argc && !opt.follow)
			exit(EX_NOINPUT);
	}
	if (bus_sub_open(sub) == -1)
		failed();
	if (!checked)
		patterns_check(dir, argc, argv);
	if (bus_sub_cursor_existed(sub) && (opt.from != NULL || opt.last))
		warnx("cursor %s exists: %s is ignored; reading resumes where "
		    "it stands (--reset-cursor moves it)",
		    opt.group ? opt.group : opt.name,
		    opt.last ? "--last" : opt.from_flag);
}

/*
 * -e read nothing.  If only because it started at the end, by default,
 * while messages are stored, say how to read them: one line.
 */
static void
end_hint(int argc, char **argv)
{
	struct bus_sub *s;
	struct bus_msg m;
	int i;

	if (opt.follow || opt.from != NULL || opt.last || opt.name != NULL ||
	    opt.group != NULL || opt.reset != NULL)
		return;
	if ((s = bus_sub_new(opt.dir)) == NULL)
		return;
	for (i = 0; i < argc; i++)
		bus_sub_add_pattern(s, argv[i]);
	bus_sub_set_from(s, "beginning");
	bus_sub_set_end(s, 1);
	if (bus_sub_open(s) == 0 && bus_sub_next(s, &m, 0) == BUS_SUB_MSG)
		warnx("-e read nothing new: it starts at the end (--from end "
		    "by default); use --from beginning or --last N for the "
		    "messages stored");
	bus_sub_free(s);
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

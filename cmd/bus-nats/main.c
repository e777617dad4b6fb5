/*
 * bus-nats: bridge a store to NATS JetStream, both ways, exactly once.
 * See bus-nats(1).  This file: the flags, the signals, the status line
 * and the backoff; export.c and import.c do the work.
 */
#include <sys/cdefs.h>
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bridge.h"
#include "cmdline.h"

#define BACKOFF_MIN_MS	100		/* first wait before reconnecting */
#define BACKOFF_MAX_MS	10000		/* longest */
#define NS		1000000000LL

static void	usage(void) __attribute__((__noreturn__));
static void	on_signal(int);
static void	signals(void);
static int	num_flag(const char *, const char *, long long, long long);

volatile sig_atomic_t	 bridge_quit;	/* SIGTERM, SIGINT */
static volatile sig_atomic_t status_now; /* SIGUSR1 */
static int	 stats_every;		/* --stats, seconds */
static int64_t	 next_stats;		/* ns */
static int64_t	 prev_ns;		/* the last status line */
static uint64_t	 prev_acked;
static sigset_t	 held;			/* our signals */

enum {
	OPT_SERVER = 256, OPT_STREAM, OPT_NAME, OPT_FROM, OPT_SUBJECT,
	OPT_CREATE, OPT_INFLIGHT, OPT_DURABLE, OPT_FILTER, OPT_TOPIC,
	OPT_BATCH, OPT_ACKWAIT, OPT_SYNCED, OPT_STATS, OPT_SSUBJ
};

static const struct option longopts[] = {
	{ "ack-wait",		required_argument,	NULL, OPT_ACKWAIT },
	{ "batch",		required_argument,	NULL, OPT_BATCH },
	{ "create-stream",	no_argument,		NULL, OPT_CREATE },
	{ "durable",		required_argument,	NULL, OPT_DURABLE },
	{ "filter",		required_argument,	NULL, OPT_FILTER },
	{ "from",		required_argument,	NULL, OPT_FROM },
	{ "help",		no_argument,		NULL, 'h' },
	{ "inflight",		required_argument,	NULL, OPT_INFLIGHT },
	{ "name",		required_argument,	NULL, OPT_NAME },
	{ "server",		required_argument,	NULL, OPT_SERVER },
	{ "stats",		required_argument,	NULL, OPT_STATS },
	{ "stream",		required_argument,	NULL, OPT_STREAM },
	{ "stream-subjects",	required_argument,	NULL, OPT_SSUBJ },
	{ "subject",		required_argument,	NULL, OPT_SUBJECT },
	{ "synced",		no_argument,		NULL, OPT_SYNCED },
	{ "topic",		required_argument,	NULL, OPT_TOPIC },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

static void
usage(void)
{
	exit(cmd_usage(
	    "usage: bus-nats export [-v] [-d dir] --name cursor "
	    "[--from position] --server url\n"
	    "                --stream name [--subject template] "
	    "[--create-stream] [--stream-subjects subject]\n"
	    "                [--inflight n] [--ack-wait seconds] "
	    "[--stats seconds] pattern ...\n"
	    "       bus-nats import [-v] [-d dir] --server url --stream name "
	    "--durable name\n"
	    "                [--filter subject] --topic template "
	    "[--batch n] [--synced]\n"
	    "                [--ack-wait seconds] [--stats seconds]\n"));
}

int
main(int argc, char *argv[])
{
	struct bridge_opts o;
	int ch, export, only_export = 0, only_import = 0, rc;
	const char *mode, *wrong = NULL;

	memset(&o, 0, sizeof(o));
	o.subject = "bus.{topic}";
	o.inflight = 4096;
	o.batch = 1000;
	o.ack_wait = 10 * NS;
	if (argc >= 2 && (strcmp(argv[1], "-V") == 0 ||
	    strcmp(argv[1], "--version") == 0))
		return cmd_version("bus-nats");
	if (argc < 2 || (strcmp(argv[1], "export") != 0 &&
	    strcmp(argv[1], "import") != 0)) {
		if (argc >= 2 && argv[1][0] != '-')
			warnx("'%s' is not export or import", argv[1]);
		usage();
	}
	mode = argv[1];
	export = strcmp(mode, "export") == 0;
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "d:hvV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o.dir = optarg;
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'V':
			return cmd_version("bus-nats");
		case OPT_ACKWAIT:
			o.ack_wait = num_flag("--ack-wait", optarg, 1, 3600) * NS;
			break;
		case OPT_BATCH:
			o.batch = num_flag("--batch", optarg, 1, 100000);
			only_import = 1, wrong = "--batch";
			break;
		case OPT_CREATE:
			o.create_stream = 1;
			only_export = 1, wrong = "--create-stream";
			break;
		case OPT_DURABLE:
			o.durable = optarg;
			only_import = 1, wrong = "--durable";
			break;
		case OPT_FILTER:
			o.filter = optarg;
			only_import = 1, wrong = "--filter";
			break;
		case OPT_FROM:
			o.from = optarg;
			only_export = 1, wrong = "--from";
			break;
		case OPT_INFLIGHT:
			o.inflight = num_flag("--inflight", optarg, 1, 1000000);
			only_export = 1, wrong = "--inflight";
			break;
		case OPT_NAME:
			o.name = optarg;
			only_export = 1, wrong = "--name";
			break;
		case OPT_SERVER:
			o.server = optarg;
			break;
		case OPT_STATS:
			o.stats = num_flag("--stats", optarg, 1, 86400);
			break;
		case OPT_STREAM:
			o.stream = optarg;
			break;
		case OPT_SSUBJ:
			o.stream_subjects = optarg;
			only_export = 1, wrong = "--stream-subjects";
			break;
		case OPT_SUBJECT:
			o.subject = optarg;
			only_export = 1, wrong = "--subject";
			break;
		case OPT_SYNCED:
			o.synced = 1;
			only_import = 1, wrong = "--synced";
			break;
		case OPT_TOPIC:
			o.topic = optarg;
			only_import = 1, wrong = "--topic";
			break;
		case 'h':
		default:
			usage();
		}
		if ((export && only_import) || (!export && only_export))
			errx(EX_USAGE, "%s is for bus-nats %s only", wrong,
			    export ? "import" : "export");
	}
	argc -= optind;
	argv += optind;
	if (o.server == NULL)
		errx(EX_USAGE, "--server is required (nats://host:port)");
	if (o.stream == NULL)
		errx(EX_USAGE, "--stream is required");
	if (export) {
		if (o.name == NULL)
			errx(EX_USAGE, "export: --name is required (the "
			    "cursor that makes it exactly once)");
		if (argc == 0)
			errx(EX_USAGE, "export: at least one topic pattern is "
			    "required");
		if (o.stream_subjects != NULL && !o.create_stream)
			errx(EX_USAGE, "--stream-subjects goes with "
			    "--create-stream");
		o.patterns = argv;
		o.npatterns = argc;
	} else {
		if (argc > 0)
			errx(EX_USAGE, "import takes no arguments ('%s')",
			    argv[0]);
		if (o.durable == NULL)
			errx(EX_USAGE, "import: --durable is required");
		if (strchr(o.durable, '.') != NULL ||
		    strchr(o.durable, ' ') != NULL || o.durable[0] == '\0')
			errx(EX_USAGE, "--durable '%s': a consumer name has no "
			    "'.' or space", o.durable);
		if (o.topic == NULL)
			errx(EX_USAGE, "import: --topic is required (e.g. "
			    "'ext.{subject}')");
	}
	stats_every = o.stats;
	signals();
	rc = export ? export_run(&o, &js_sink) : import_run(&o, &js_source);
	nats_Close();
	return rc;
}

static int
num_flag(const char *flag, const char *s, long long lo, long long hi)
{
	const char *errstr;
	long long n;

	n = strtonum(s, lo, hi, &errstr);
	if (errstr != NULL)
		errx(EX_USAGE, "%s: '%s' is %s (%lld to %lld)", flag, s, errstr,
		    lo, hi);
	return (int)n;
}

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		status_now = 1;
	else
		bridge_quit = 1;
}

static void
signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a wait returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&held);
	sigaddset(&held, SIGTERM);
	sigaddset(&held, SIGINT);
	sigaddset(&held, SIGUSR1);
	next_stats = bus_now_ns() + (int64_t)stats_every * NS;
	prev_ns = bus_now_ns();
}

/*
 * Threads a library starts while held inherit our signals blocked, so
 * that a signal interrupts the main thread's wait.
 */
void
bridge_hold_signals(int on)
{
	pthread_sigmask(on ? SIG_BLOCK : SIG_UNBLOCK, &held, NULL);
}

/* A warning from the library or from us: one line on stderr. */
void
bridge_say(void *arg, const char *line)
{
	fprintf(stderr, "%s: %s\n", BRIDGE_NAME, line);
}

/* The status line, on SIGUSR1, every --stats seconds, or when forced. */
void
bridge_status(const char *mode, const struct bridge_stats *st, int force)
{
	int64_t now;
	double rate, dt;

	if (!force && !status_now && (stats_every == 0 ||
	    (now = bus_now_ns()) < next_stats))
		return;
	status_now = 0;
	now = bus_now_ns();
	if (stats_every > 0)
		next_stats = now + (int64_t)stats_every * NS;
	dt = (double)(now - prev_ns) / NS;
	rate = dt > 0 ? (double)(st->acked - prev_acked) / dt : 0;
	prev_ns = now;
	prev_acked = st->acked;
	if (strcmp(mode, "export") == 0)
		fprintf(stderr, "%s: export: %" PRIu64 " acked (%.0f/s), %"
		    PRIu64 " in flight, lag %.1fs, %" PRIu64 " duplicates, "
		    "%u reconnects\n", BRIDGE_NAME, st->acked, rate,
		    st->inflight, st->last_ns ? (double)(now - st->last_ns) /
		    NS : 0.0, st->dups, st->reconnects);
	else
		fprintf(stderr, "%s: import: %" PRIu64 " stored (%.0f/s), %"
		    PRIu64 " in flight, lag %" PRIu64 " messages, %u "
		    "reconnects\n", BRIDGE_NAME, st->acked, rate, st->inflight,
		    st->lag, st->reconnects);
}

/*
 * After a failure: say what, wait (100 ms, doubling to 10 s), and let
 * the caller try again.  -1 if told to stop meanwhile.
 */
int
bridge_backoff(unsigned *tries, const struct bridge_err *e)
{
	int64_t ms = BACKOFF_MIN_MS;
	struct timespec ts;
	unsigned k;

	for (k = 0; k < *tries && ms < BACKOFF_MAX_MS; k++)
		ms *= 2;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	(*tries)++;
	fprintf(stderr, "%s: %s; trying again in %.1fs\n", BRIDGE_NAME,
	    e->text, (double)ms / 1000);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (!bridge_quit && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	return bridge_quit ? -1 : 0;
}

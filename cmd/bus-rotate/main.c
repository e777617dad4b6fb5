/*
 * bus-rotate: seal the active segments of a store now (a SEAL request to
 * busd), delete sealed segments past retention and compress the sealed
 * segments that remain; or report the status of the store.  Meant for
 * cron: silent on success, one line per problem on standard error and a
 * sysexits(3) status.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "cmdline.h"
#include "cursor.h"
#include "ops.h"
#include "zcodec.h"

static __dead void usage(void);
static __dead void help(void);
static void	seal(void);
static void	partition(const char *);
static void	status(int);
static void	fail(int);
static void	say(const char *);

static const char *dir;
static struct patset *pats;
static char	*seal_pattern;		/* the patterns as one regex */
static struct retention rt;
static struct retention_cursors cursors;
static struct recompress_opts rc;	/* --compress */
static int	 compress;		/* --compress given */
static int	 by_any;		/* a retention flag was given */
static int	 dry_run;
static int	 verbose;
static int	 no_seal;
static int	 no_wait;
static int	 exitcode;

enum {
	OPT_MAXAGE = 256, OPT_MAXSIZE, OPT_MAXCOUNT, OPT_KEEPCUR, OPT_NOSEAL,
	OPT_NOWAIT, OPT_STATUS, OPT_COMPRESS, OPT_LEVEL
};

static const struct option longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "compress",		optional_argument,	NULL, OPT_COMPRESS },
	{ "compress-level",	required_argument,	NULL, OPT_LEVEL },
	{ "max-age",		required_argument,	NULL, OPT_MAXAGE },
	{ "max-size",		required_argument,	NULL, OPT_MAXSIZE },
	{ "max-count",		required_argument,	NULL, OPT_MAXCOUNT },
	{ "keep-cursors",	no_argument,		NULL, OPT_KEEPCUR },
	{ "no-seal",		no_argument,		NULL, OPT_NOSEAL },
	{ "no-wait",		no_argument,		NULL, OPT_NOWAIT },
	{ "status",		no_argument,		NULL, OPT_STATUS },
	{ NULL,			0,			NULL, 0 }
};

/* As the SYNOPSIS of bus-rotate(8) (tests/usage.bats compares them). */
static const char synopsis[] =
    "usage: bus-rotate [-nv] [-d dir] [--compress[=zstd|lz4]] "
    "[--compress-level n]\n"
    "                  [--keep-cursors] [--max-age duration] "
    "[--max-count n]\n"
    "                  [--max-size size] [--no-seal] [--no-wait] "
    "[pattern ...]\n"
    "       bus-rotate --status [-d dir] [-o text|json] [pattern ...]\n"
    "       bus-rotate -h | --help | -V | --version\n";

static __dead void
usage(void)
{
	exit(cmd_usage(synopsis));
}

/* -h, --help: the synopsis and every option, as bus-rotate(8) has them. */
static __dead void
help(void)
{
	exit(cmd_help(synopsis, "\n"
	    "Seal the active segments (asking busd), delete sealed segments\n"
	    "past retention and compress the others, in the partitions\n"
	    "matching the patterns (all without one); or print the status of\n"
	    "the store.\n"
	    "\n"
	    "  -d dir                the store (default $BUS_DIR, else\n"
	    "                        /var/lib/bus for root, else\n"
	    "                        ${XDG_STATE_HOME:-~/.local/state}/bus)\n"
	    "  -h, --help            this help\n"
	    "  -n                    dry run: change nothing, print what would\n"
	    "                        be done\n"
	    "  -o text|json          the output format of --status\n"
	    "  -V, --version         print the version\n"
	    "  -v                    say what was sealed and each segment's\n"
	    "                        verdict\n"
	    "  --compress[=zstd|lz4] after retention, compress the sealed\n"
	    "                        segments not compressed yet (default zstd)\n"
	    "  --compress-level n    zstd 1-19 (default 6), lz4 1-12 (default 1)\n"
	    "  --keep-cursors        keep what a durable cursor has not consumed\n"
	    "  --max-age duration    delete sealed segments older than this (7d)\n"
	    "  --max-count n         keep at most n sealed segments\n"
	    "  --max-size size       keep at most size bytes per partition\n"
	    "  --no-seal             do not ask busd to seal\n"
	    "  --no-wait             skip a partition another tool holds (and\n"
	    "                        exit 75) instead of waiting for it\n"
	    "  --status              print the status of the store and exit\n"
	    "\n"
	    "See bus-rotate(8).\n"));
}

static void
say(const char *line)
{
	warnx("%s", line);
}

/* Keep the first failure's status, but an I/O error wins. */
static void
fail(int code)
{
	if (exitcode == 0 || code == EX_IOERR)
		exitcode = code;
}

int
main(int argc, char *argv[])
{
	char emsg[1024];
	const char *errstr, *why;
	size_t i, len;
	int ch, r, want_status = 0, json = 0, o_given = 0, level = -1;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":d:hno:vV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			dry_run = 1;
			break;
		case 'o':
			o_given = 1;
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "text") == 0)
				json = 0;
			else
				errx(EX_USAGE, "-o: '%s' is not text or json",
				    optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			exit(cmd_version("bus-rotate"));
		case OPT_COMPRESS:
			compress = 1;
			rc.codec = ZC_ZSTD;
			if (optarg != NULL && ((rc.codec =
			    zc_codec_by_name(optarg)) == -1 ||
			    rc.codec == ZC_NONE))
				errx(EX_USAGE, "--compress: '%s' is not zstd "
				    "or lz4", optarg);
			break;
		case OPT_LEVEL:
			level = strtonum(optarg, 1, INT_MAX, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--compress-level: '%s' is %s",
				    optarg, errstr);
			break;
		case OPT_MAXAGE:
			if (parse_duration(optarg, &rt.max_age) == -1)
				errx(EX_USAGE, "--max-age '%s': %s", optarg,
				    duration_error(errno));
			rt.by_age = by_any = 1;
			break;
		case OPT_MAXSIZE:
			if (parse_size(optarg, UINT64_MAX, &rt.max_size) == -1)
				errx(EX_USAGE, "--max-size: '%s' is not a size "
				    "(like 10G, 512M)", optarg);
			rt.by_size = by_any = 1;
			break;
		case OPT_MAXCOUNT:
			rt.max_count = strtonum(optarg, 0, LLONG_MAX, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--max-count: '%s' is %s",
				    optarg, errstr);
			rt.by_count = by_any = 1;
			break;
		case OPT_KEEPCUR:
			rt.keep_cursors = 1;
			break;
		case OPT_NOSEAL:
			no_seal = 1;
			break;
		case OPT_NOWAIT:
			no_wait = 1;
			break;
		case OPT_STATUS:
			want_status = 1;
			break;
		case 'h':
			help();
		default:
			exit(cmd_bad_option(ch, argv, synopsis));
		}
	}
	argc -= optind;
	argv += optind;
	if (want_status && (by_any || rt.keep_cursors || dry_run ||
	    no_seal || no_wait || compress || level != -1)) {
		warnx("--status takes only -d, -o and patterns");
		usage();
	}
	if (o_given && !want_status) {
		warnx("-o is an option of --status");
		usage();
	}
	if (level != -1 && !compress) {
		warnx("--compress-level is an option of --compress");
		usage();
	}
	if (compress) {
		rc.level = level != -1 ? level : zc_level_default(rc.codec);
		if (zc_level_check(rc.codec, rc.level, &why) == -1)
			errx(EX_USAGE, "--compress-level: %d: %s", rc.level,
			    why);
		rc.group = RECOMPRESS_GROUP_DEFAULT;
	}
	if ((r = ops_start(dir, &dir, argv, argc, &pats, say, emsg,
	    sizeof(emsg))) != 0) {
		if (emsg[0] != '\0')
			errx(r, "%s", emsg);
		exit(r);
	}
	if (want_status) {
		status(json);
		return exitcode;
	}

	/* One regex for SEAL: the patterns as alternatives. */
	for (i = 0, len = 1; i < (size_t)argc; i++)
		len += strlen(argv[i]) + 6;
	if ((seal_pattern = calloc(1, len)) == NULL)
		err(EX_OSERR, NULL);
	for (i = 0; i < (size_t)argc; i++)
		snprintf(seal_pattern + strlen(seal_pattern),
		    len - strlen(seal_pattern), "%s(?:%s)", i ? "|" : "",
		    argv[i]);

	rt.dry_run = dry_run;
	rt.now = now_ns();
	rt.report = verbose || dry_run ? stdout : NULL;
	rc.dry_run = dry_run;
	rc.report = rt.report;
	if (!no_seal)
		seal();
	if (rt.keep_cursors) {
		if (retention_cursors_load(dir, &cursors, emsg, sizeof(emsg)) !=
		    OPS_OK)
			errx(EX_IOERR, "%s", emsg);
		if (cursors.damaged) {
			warnx("%s; --keep-cursors keeps every sealed segment",
			    emsg);
			fail(EX_DATAERR);
		}
	}
	if (ops_each_partition(dir, pats, partition) == -1)
		err(EX_IOERR, "%s/%s", dir, BUS_LOGDIR);
	retention_cursors_free(&cursors);
	fflush(stdout);
	if (ferror(stdout))
		errx(EX_IOERR, "stdout: write error");
	return exitcode;
}

/*
 * Ask busd to seal.  Without busd nothing is being written: there is no
 * active segment to seal, and retention goes on without it.
 */
static void
seal(void)
{
	char emsg[512];
	uint32_t count;
	pid_t pid;
	int r;

	if (!store_busd_alive(dir, &pid)) {
		if (verbose)
			printf("busd is not running: no active segment to "
			    "seal\n");
		return;
	}
	if (dry_run) {
		printf("would ask busd (pid %ld) to seal the active segments"
		    "%s%s\n", (long)pid, *seal_pattern ? " of partitions "
		    "matching " : "", seal_pattern);
		return;
	}
	if ((r = busctl_seal(dir, seal_pattern, &count, emsg,
	    sizeof(emsg))) != OPS_OK) {
		warnx("%s", emsg);
		fail(r == OPS_DENIED ? EX_NOPERM : EX_UNAVAILABLE);
		return;
	}
	if (verbose)
		printf("busd sealed %u active segment(s)\n", count);
}

/*
 * Retention, then compression of one partition, after any interrupted
 * rewrite is fixed.
 */
static void
partition(const char *name)
{
	struct recompress_result cres;
	struct retention_result res;
	char emsg[1024];
	int dfd, lfd, r, leftovers;

	if ((r = ops_part_open(dir, name, &dfd, emsg, sizeof(emsg))) != 0) {
		if (r > 0) {
			warnx("%s", emsg);
			fail(r);
		}
		return;
	}
	leftovers = compact_leftovers(dfd);
	if (!by_any && !compress && !leftovers) {
		close(dfd);
		return;
	}
	if ((r = ops_part_lock(dir, name, dfd, no_wait, !dry_run, &lfd,
	    emsg, sizeof(emsg))) != 0) {
		warnx("%s", emsg);
		fail(r);
		close(dfd);
		return;
	}
	if (leftovers && dry_run)
		printf("%s: would first finish an interrupted compaction\n",
		    name);
	else if (leftovers && (r = ops_part_recover(name, dfd, say)) != 0) {
		fail(r);
		goto out;
	}
	if (by_any) {
		r = retention_run(name, dfd, &rt, rt.keep_cursors ? &cursors :
		    NULL, &res, emsg, sizeof(emsg));
		if (r != OPS_OK) {
			warnx("%s", emsg);
			fail(ops_sysexit(r));
			goto out;
		}
	}
	if (compress) {
		r = recompress_partition(name, dfd, &rc, &cres, emsg,
		    sizeof(emsg));
		if (r != OPS_OK) {
			warnx("%s", emsg);
			fail(ops_sysexit(r));
		}
	}
out:
	plock_release(lfd);
	close(dfd);
}

static void
status(int json)
{
	struct bus_status st;
	char emsg[512];

	if (status_gather(dir, pats, &st, emsg, sizeof(emsg)) != OPS_OK) {
		status_free(&st);
		errx(EX_IOERR, "%s", emsg);
	}
	status_print(stdout, &st, json);
	status_free(&st);
	fflush(stdout);
	if (ferror(stdout))
		errx(EX_IOERR, "stdout: write error");
}

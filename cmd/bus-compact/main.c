/*
 * bus-compact: rewrite the sealed segments of matching partitions,
 * keeping the newest record of each (topic, key).  Meant for cron:
 * silent on success, one line per problem on standard error and a
 * sysexits(3) status.  The work is in lib/compact.c.
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
#include "ops.h"

#define TOMBSTONE_AGE	(24LL * 3600 * 1000000000)	/* 24h */

static __dead void help(void);
static void	partition(const char *);
static void	fail(int);
static void	say(const char *);
static void	report(const char *, const struct compact_result *);

static const char *dir;
static struct compact_opts co;
static int	 dry_run;
static int	 verbose;
static int	 no_wait;
static int	 exitcode;

enum { OPT_SEGSIZE = 256, OPT_TOMBAGE, OPT_NOWAIT };

static const struct option longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "no-wait",		no_argument,		NULL, OPT_NOWAIT },
	{ "segment-size",	required_argument,	NULL, OPT_SEGSIZE },
	{ "tombstone-age",	required_argument,	NULL, OPT_TOMBAGE },
	{ NULL,			0,			NULL, 0 }
};

/* As the SYNOPSIS of bus-compact(8) (tests/usage.bats compares them). */
static const char synopsis[] =
    "usage: bus-compact [-nv] [-d dir] [--no-wait] [--segment-size size]\n"
    "                   [--tombstone-age duration] [pattern ...]\n"
    "       bus-compact -h | --help | -V | --version\n";

/* -h, --help: the synopsis and every option, as bus-compact(8) has them. */
static __dead void
help(void)
{
	exit(cmd_help(synopsis, "\n"
	    "Rewrite the sealed segments of the partitions matching the\n"
	    "patterns (all without one), keeping the newest record per key.\n"
	    "\n"
	    "  -d dir                the store (default $BUS_DIR, else\n"
	    "                        /var/lib/bus for root, else\n"
	    "                        ${XDG_STATE_HOME:-~/.local/state}/bus)\n"
	    "  -h, --help            this help\n"
	    "  -n                    dry run: change nothing, print what would\n"
	    "                        be reclaimed\n"
	    "  -V, --version         print the version\n"
	    "  -v                    print what was done per partition\n"
	    "  --no-wait             skip a partition another tool holds (and\n"
	    "                        exit 75) instead of waiting for it\n"
	    "  --segment-size size   merge small sealed segments up to size\n"
	    "                        (default 64M)\n"
	    "  --tombstone-age duration\n"
	    "                        keep tombstones so long (default 24h)\n"
	    "\n"
	    "See bus-compact(8).\n"));
}

/* -n and -v: what compaction did, or would do, to a partition. */
static void
report(const char *name, const struct compact_result *res)
{
	if (res->rewritten == 0) {
		printf("%s: nothing to %s (%zu sealed segments, %llu records, "
		    "%llu bytes)\n", name, dry_run ? "reclaim" : "compact",
		    res->segs_before, (unsigned long long)res->recs_before,
		    (unsigned long long)res->bytes_before);
		return;
	}
	printf("%s: ", name);
	if (dry_run)
		printf("would reclaim %lld bytes: ",
		    (long long)(res->bytes_before - res->bytes_after));
	printf("%zu sealed segments, %llu records, %llu bytes -> %zu "
	    "segments, %llu records, %llu bytes\n", res->segs_before,
	    (unsigned long long)res->recs_before,
	    (unsigned long long)res->bytes_before, res->segs_after,
	    (unsigned long long)res->recs_after,
	    (unsigned long long)res->bytes_after);
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
	struct patset *pats = NULL;
	char emsg[1024];
	int ch, r;

	co.tombstone_age = TOMBSTONE_AGE;
	co.segment_size = BUS_SEGMENT_SIZE_DEFAULT;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":d:hnvV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			dry_run = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			exit(cmd_version("bus-compact"));
		case OPT_NOWAIT:
			no_wait = 1;
			break;
		case OPT_SEGSIZE:
			if (parse_size(optarg, UINT64_MAX, &co.segment_size) ==
			    -1 || co.segment_size < 4096)
				errx(EX_USAGE, "--segment-size: '%s' is not a "
				    "size of at least 4096 (like 64M)", optarg);
			break;
		case OPT_TOMBAGE:
			if (parse_duration(optarg, &co.tombstone_age) == -1)
				errx(EX_USAGE, "--tombstone-age '%s': %s",
				    optarg, duration_error(errno));
			break;
		case 'h':
			help();
		default:
			exit(cmd_bad_option(ch, argv, synopsis));
		}
	}
	argc -= optind;
	argv += optind;
	if ((r = ops_start(dir, &dir, argv, argc, &pats, say, emsg,
	    sizeof(emsg))) != 0) {
		if (emsg[0] != '\0')
			errx(r, "%s", emsg);
		exit(r);
	}
	co.dry_run = dry_run;
	co.now = now_ns();
	if (ops_each_partition(dir, pats, partition) == -1)
		err(EX_IOERR, "%s/%s", dir, BUS_LOGDIR);
	patset_free(pats);
	fflush(stdout);
	if (ferror(stdout))
		errx(EX_IOERR, "stdout: write error");
	return exitcode;
}

static void
partition(const char *name)
{
	struct compact_result res;
	char emsg[1024];
	int dfd, lfd, r;

	if ((r = ops_part_open(dir, name, &dfd, emsg, sizeof(emsg))) != 0) {
		if (r > 0) {
			warnx("%s", emsg);
			fail(r);
		}
		return;
	}
	if ((r = ops_part_lock(dir, name, dfd, no_wait, !dry_run, &lfd,
	    emsg, sizeof(emsg))) != 0) {
		warnx("%s", emsg);
		fail(r);
		close(dfd);
		return;
	}
	if (dry_run) {
		if (compact_leftovers(dfd))
			printf("%s: would first finish an interrupted "
			    "compaction\n", name);
	} else if ((r = ops_part_recover(name, dfd, say)) != 0) {
		fail(r);
		goto out;
	}
	r = compact_partition(name, dfd, &co, &res, emsg, sizeof(emsg));
	if (r != OPS_OK) {
		warnx("%s", emsg);
		fail(ops_sysexit(r));
		goto out;
	}
	if (dry_run || verbose)
		report(name, &res);
out:
	plock_release(lfd);
	close(dfd);
}

/*
 * crcbench: the speed of CRC32C by each path of lib/crc32c.c, in GB/s,
 * on buffers of 100 B, 4 KiB, 256 KiB and 1 MiB (the same buffer over
 * and over, so from the cache), or on those of the arguments.
 *
 *   crcbench [-m ms] [bytes ...]
 *
 * -m is how long each figure is measured (500 ms, the best of its runs
 * of about a megabyte).  Columns: sw, the slicing-by-8 tables; hw1, one
 * chain of SSE4.2 crc32 instructions (all crc32c() did before); hw3,
 * three chains combined; fold, AVX2 VPCLMULQDQ folding; crc32c, the
 * function as callers get it.  A path this processor lacks prints "-".
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "crc32c_path.h"

#define AUTO	CRC32C_NPATH	/* the column of crc32c() itself */

static double	now(void);
static double	rate(int, const uint8_t *, size_t, double);
static void	usage(void);

static volatile uint32_t sink;	/* keeps the CRCs from being optimized out */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * GB/s of path over len bytes at p: the best of short runs (about a
 * megabyte each) for secs, as other processes share the machine and a
 * run that is not interrupted is what measures the code.
 */
static double
rate(int path, const uint8_t *p, size_t len, double secs)
{
	double start, t0, t, r, best = 0;
	uint32_t c = 0;
	size_t i, rounds;

	rounds = (1 << 20) / len + 1;
	start = now();
	do {
		t0 = now();
		for (i = 0; i < rounds; i++)
			c = path == AUTO ? crc32c(c, p, len) :
			    crc32c_path(path, c, p, len);
		t = now() - t0;
		if (t > 0 && (r = (double)rounds * len / t / 1e9) > best)
			best = r;
	} while (now() - start < secs);
	sink = c;
	return best;
}

static void
usage(void)
{
	fprintf(stderr, "usage: crcbench [-m ms] [bytes ...]\n");
	exit(64);
}

int
main(int argc, char *argv[])
{
	static const char *names[] = { "sw", "hw1", "hw3", "fold", "crc32c" };
	size_t sizes[16] = { 100, 4096, 256 << 10, 1 << 20 };
	size_t nsizes = 4, max = 0, i, k;
	const char *errstr;
	uint8_t *buf;
	double secs = 0.5;
	int ch, path;

	while ((ch = getopt(argc, argv, "m:")) != -1) {
		switch (ch) {
		case 'm':
			secs = strtonum(optarg, 1, 60000, &errstr) / 1e3;
			if (errstr != NULL)
				errx(64, "-m %s: %s", optarg, errstr);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 16)
		usage();
	if (argc > 0)
		nsizes = argc;
	for (k = 0; k < (size_t)argc; k++) {
		sizes[k] = strtonum(argv[k], 1, 1 << 30, &errstr);
		if (errstr != NULL)
			errx(64, "%s bytes: %s", argv[k], errstr);
	}
	for (k = 0; k < nsizes; k++)
		if (sizes[k] > max)
			max = sizes[k];

	if ((buf = malloc(max)) == NULL)
		err(71, "malloc");
	for (i = 0; i < max; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);

	printf("%-8s", "bytes");
	for (path = 0; path <= AUTO; path++)
		printf(" %8s", names[path]);
	printf("   (GB/s)\n");
	for (k = 0; k < nsizes; k++) {
		printf("%-8zu", sizes[k]);
		for (path = 0; path <= AUTO; path++) {
			if (path != AUTO && !crc32c_path_ok(path))
				printf(" %8s", "-");
			else
				printf(" %8.2f", rate(path, buf, sizes[k],
				    secs));
			fflush(stdout);
		}
		printf("\n");
	}
	free(buf);
	return 0;
}

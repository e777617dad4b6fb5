/*
 * A tiny header-only unit test harness.
 *
 *	CHECK(cond)			   true?
 *	CHECK_EQ_U64(got, want)		   unsigned integers, equal?
 *	CHECK_EQ_I64(got, want)		   signed integers, equal?
 *	CHECK_MEM(got, glen, want, wlen)  same bytes, same length?
 *	CHECK_STR_HAS(str, needle)	   str contains needle?
 *
 * Each reports file:line, the expression and the values when it fails and
 * evaluates to 1 (passed) or 0 (failed).  RUN(fn) runs a test function,
 * naming it in failure reports; unit_done() prints "N passed, M failed"
 * and returns the exit status for main().
 */
#ifndef UNIT_H
#define UNIT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long unit_passed, unit_failed;
static const char *unit_test = "?";

#define UNIT_SHOW_MAX	40	/* failure reports printed in full */

#define UNIT_FN static __attribute__((unused))

UNIT_FN int
unit_report(int ok, const char *file, int line)
{
	if (ok) {
		unit_passed++;
		return 1;
	}
	if (++unit_failed <= UNIT_SHOW_MAX)
		fprintf(stderr, "%s:%d: [%s] FAILED: ", file, line, unit_test);
	else if (unit_failed == UNIT_SHOW_MAX + 1)
		fprintf(stderr, "(further failures counted, not shown)\n");
	return 0;
}

#define unit_more(...) \
	(unit_failed <= UNIT_SHOW_MAX ? fprintf(stderr, __VA_ARGS__) : 0)

#define CHECK(c) (unit_report(!!(c), __FILE__, __LINE__) ? 1 : \
	(unit_more("CHECK(%s)\n", #c), 0))

#define CHECK_EQ_U64(a, b) __extension__ ({				\
	uint64_t unit_a = (uint64_t)(a), unit_b = (uint64_t)(b);	\
	unit_report(unit_a == unit_b, __FILE__, __LINE__) ? 1 :		\
	    (unit_more("%s == %s: got %" PRIu64 " (0x%" PRIx64 "), "	\
	    "want %" PRIu64 " (0x%" PRIx64 ")\n", #a, #b, unit_a,	\
	    unit_a, unit_b, unit_b), 0); })

#define CHECK_EQ_I64(a, b) __extension__ ({				\
	int64_t unit_a = (int64_t)(a), unit_b = (int64_t)(b);		\
	unit_report(unit_a == unit_b, __FILE__, __LINE__) ? 1 :		\
	    (unit_more("%s == %s: got %" PRId64 ", want %" PRId64 "\n",	\
	    #a, #b, unit_a, unit_b), 0); })

UNIT_FN void
unit_hex(const char *what, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	fprintf(stderr, "  %s (%zu bytes):", what, n);
	for (i = 0; i < n && i < 48; i++)
		fprintf(stderr, " %02x", b[i]);
	fprintf(stderr, "%s\n", n > 48 ? " ..." : "");
}

#define CHECK_MEM(a, alen, b, blen) __extension__ ({			\
	const void *unit_p = (a), *unit_q = (b);			\
	size_t unit_pl = (alen), unit_ql = (blen);			\
	int unit_ok = unit_pl == unit_ql && (unit_pl == 0 ||		\
	    memcmp(unit_p, unit_q, unit_pl) == 0);			\
	unit_report(unit_ok, __FILE__, __LINE__) ? 1 :			\
	    (unit_more("CHECK_MEM(%s, %s)\n", #a, #b),			\
	    unit_failed <= UNIT_SHOW_MAX ? (unit_hex("got", unit_p,	\
	    unit_pl), unit_hex("want", unit_q, unit_ql), 0) : 0); })

#define CHECK_STR_HAS(s, needle) __extension__ ({			\
	const char *unit_s = (s), *unit_n = (needle);			\
	unit_report(unit_s != NULL && strstr(unit_s, unit_n) != NULL,	\
	    __FILE__, __LINE__) ? 1 : (unit_more("\"%s\" should contain "	\
	    "\"%s\"\n", unit_s ? unit_s : "(null)", unit_n), 0); })

#define RUN(fn) do { unit_test = #fn; fn(); } while (0)

UNIT_FN int
unit_done(void)
{
	printf("%lu passed, %lu failed\n", unit_passed, unit_failed);
	return unit_failed != 0;
}

/* A fresh directory under $TMPDIR; unit_rmrf() removes it. */
UNIT_FN char *
unit_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char *d;

	if (asprintf(&d, "%s/busunit.XXXXXX", t && *t ? t : "/tmp") == -1 ||
	    mkdtemp(d) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	return d;
}

/* The same, opened: its fd, and its path in *path. */
UNIT_FN int
unit_tmpdir_fd(char **path)
{
	*path = unit_tmpdir();
	return open(*path, O_RDONLY | O_DIRECTORY);
}

UNIT_FN int
unit_rm1(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)st; (void)type; (void)f;
	return remove(p);
}

UNIT_FN void
unit_rmrf(char *d)
{
	nftw(d, unit_rm1, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

/*
 * A fresh store under $TMPDIR holding one partition directory, log/p:
 * the store's path in *tmp (the one *tmp named before, with the
 * partition's fd dfd, is removed first unless dfd is -1), the
 * partition's path in path; returns the partition's fd.
 */
UNIT_FN int
unit_partition(char **tmp, int dfd, char *path, size_t len)
{
	if (dfd != -1) {
		close(dfd);
		unit_rmrf(*tmp);
	}
	*tmp = unit_tmpdir();
	snprintf(path, len, "%s/log", *tmp);
	mkdir(path, 0750);
	snprintf(path, len, "%s/log/p", *tmp);
	mkdir(path, 0750);
	return open(path, O_RDONLY | O_DIRECTORY);
}

/* A bit-at-a-time CRC32C: the reference the fast ones must agree with. */
static inline uint32_t
unit_crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t c = ~crc;
	int k;

	while (n--) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

#endif /* UNIT_H */

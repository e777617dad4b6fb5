/*
 * CRC32C by each path of lib/crc32c.c (include/crc32c_path.h): the
 * slicing-by-8 tables, one chain of SSE4.2 crc32 instructions, three
 * chains combined, and carry-less folding (alone, and side by side with
 * three chains), each held to a bit-at-a-time reference and to the others
 * over every length to 4 KiB, at any alignment, continued at any split,
 * and over buffers of megabytes.
 */
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "crc32c_path.h"

#define BIG	(3 << 20)	/* bytes of the large buffer */

static uint32_t	rnd(void);
static void	fill(uint8_t *, size_t);
static uint32_t	crc_by(int, uint32_t, const void *, size_t);

static uint32_t	rnd_state = 0x2545f491;	/* xorshift32, a fixed sequence */
static int	npaths;			/* paths this processor takes */
static int	paths[CRC32C_NPATH + 1];	/* and those, then crc32c() */
static uint8_t	*big;			/* BIG random bytes and 64 more */

#define AUTO	(-1)		/* crc32c() itself in paths[] */

static uint32_t
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void
fill(uint8_t *p, size_t n)
{
	while (n--)
		*p++ = rnd() >> 24;
}

static uint32_t
crc_by(int path, uint32_t crc, const void *p, size_t n)
{
	return path == AUTO ? crc32c(crc, p, n) : crc32c_path(path, crc, p,
	    n);
}

static void
test_paths(void)
{
	int p;

	CHECK(crc32c_path_ok(CRC32C_SW));
	CHECK(!crc32c_path_ok(CRC32C_NPATH));
	CHECK(!crc32c_path_ok(-1));
	/* Both crc32 instruction paths, or neither; folding needs them. */
	CHECK_EQ_U64(crc32c_path_ok(CRC32C_HW1), crc32c_path_ok(CRC32C_HW3));
	CHECK(!crc32c_path_ok(CRC32C_FOLD) || crc32c_path_ok(CRC32C_HW1));
	for (p = 0; p < CRC32C_NPATH; p++)
		if (crc32c_path_ok(p))
			paths[npaths++] = p;
	paths[npaths++] = AUTO;
	if (!crc32c_path_ok(CRC32C_HW1))
		fprintf(stderr, "test_crc32c: no SSE4.2 here: the tables "
		    "only\n");
}

/* RFC 3720 B.4 and the usual check value, by every path. */
static void
test_vectors(void)
{
	uint8_t b[32];
	int i, k, p;

	for (k = 0; k < npaths; k++) {
		p = paths[k];
		CHECK_EQ_U64(crc_by(p, 0, "123456789", 9), 0xE3069283u);
		CHECK_EQ_U64(crc_by(p, 0, "", 0), 0);
		CHECK_EQ_U64(crc_by(p, 0x12345678, "", 0), 0x12345678);
		memset(b, 0, sizeof(b));
		CHECK_EQ_U64(crc_by(p, 0, b, 32), 0x8A9136AAu);
		memset(b, 0xff, sizeof(b));
		CHECK_EQ_U64(crc_by(p, 0, b, 32), 0x62A8AB43u);
		for (i = 0; i < 32; i++)
			b[i] = i;
		CHECK_EQ_U64(crc_by(p, 0, b, 32), 0x46DD794Eu);
		for (i = 0; i < 32; i++)
			b[i] = 31 - i;
		CHECK_EQ_U64(crc_by(p, 0, b, 32), 0x113FDB5Cu);
	}
}

/*
 * Every length from 0 to 4096 bytes, at a random offset (so at every
 * alignment) and from a random starting CRC: each path equals the
 * reference.
 */
static void
test_lengths(void)
{
	unsigned long bad[CRC32C_NPATH + 1] = { 0 };
	size_t len, off;
	uint32_t init, want;
	int k;

	for (len = 0; len <= 4096; len++) {
		off = rnd() % 64;
		init = len % 3 == 0 ? 0 : rnd();
		want = unit_crc_ref(init, big + off, len);
		for (k = 0; k < npaths; k++)
			if (crc_by(paths[k], init, big + off, len) != want &&
			    bad[k]++ < 5)
				fprintf(stderr, "  path %d, length %zu, "
				    "offset %zu\n", paths[k], len, off);
	}
	for (k = 0; k < npaths; k++)
		CHECK_EQ_U64(bad[k], 0);
}

/*
 * crc32c(crc32c(0, a), b) is the CRC of ab, for every split point, each
 * piece through any path; the lengths straddle the block sizes of the
 * three chains (3 x 64, 3 x 256, 3 x 8192 bytes) and of folding (128).
 */
static void
test_splits(void)
{
	static const size_t lens[] = { 1, 7, 8, 9, 100, 127, 128, 129, 191,
	    192, 193, 255, 256, 257, 767, 768, 769, 1543, 2304, 4099, 24575,
	    24576, 24583, 50000 };
	unsigned long bad = 0;
	size_t i, len, k;
	uint32_t want, head;
	int a, b, step;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i];
		want = unit_crc_ref(0, big + 5, len);
		/* The tables are slow: every 7th split on long ones. */
		step = len > 5000 ? 7 : 1;
		for (k = 0; k <= len; k += step)
			for (a = 0; a < npaths; a++) {
				head = crc_by(paths[a], 0, big + 5, k);
				b = (a + 1) % npaths;
				if (crc_by(paths[b], head, big + 5 + k,
				    len - k) != want && bad++ < 5)
					fprintf(stderr, "  length %zu, split "
					    "%zu, paths %d %d\n", len, k,
					    paths[a], paths[b]);
			}
	}
	CHECK_EQ_U64(bad, 0);
}

/*
 * Megabytes: random bytes, zeros and ones, at lengths about the multiples
 * of the block sizes (those of the three chains; 34816 bytes, those of
 * folding side by side with them) and at random ones, each path against
 * the tables.
 */
static void
test_large(void)
{
	static const size_t lens[] = { 1 << 20, (1 << 20) + 13, BIG,
	    3 * 8192 * 40, 3 * 8192 * 40 + 3 * 256 * 7,
	    3 * 8192 * 40 + 3 * 256 * 7 + 255, 3 * 8192 * 40 - 1,
	    34815, 34816, 34817, 34816 + 127, 34816 + 128, 2 * 34816 + 200 };
	unsigned long bad = 0;
	uint8_t *z;
	size_t i, len, off;
	uint32_t want, init;
	int k;

	CHECK_EQ_U64(crc32c_path(CRC32C_SW, 0, big, BIG),
	    unit_crc_ref(0, big, BIG));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]) + 40; i++) {
		if (i < sizeof(lens) / sizeof(lens[0])) {
			len = lens[i];
			off = i % 8;
		} else {
			len = rnd() % (BIG - 64);
			off = rnd() % 64;
		}
		init = rnd();
		want = crc32c_path(CRC32C_SW, init, big + off, len);
		for (k = 0; k < npaths; k++)
			if (crc_by(paths[k], init, big + off, len) != want &&
			    bad++ < 5)
				fprintf(stderr, "  path %d, length %zu\n",
				    paths[k], len);
	}
	CHECK_EQ_U64(bad, 0);

	if ((z = malloc(1 << 20)) == NULL)
		exit(2);
	memset(z, 0, 1 << 20);
	want = unit_crc_ref(0, z, 1 << 20);
	for (k = 0; k < npaths; k++)
		CHECK_EQ_U64(crc_by(paths[k], 0, z, 1 << 20), want);
	memset(z, 0xff, 1 << 20);
	want = unit_crc_ref(0, z, 1 << 20);
	for (k = 0; k < npaths; k++)
		CHECK_EQ_U64(crc_by(paths[k], 0, z, 1 << 20), want);
	free(z);
}

/* One flipped bit anywhere in a long buffer changes every path's CRC. */
static void
test_bitflip(void)
{
	size_t len = 3 * 8192 + 3 * 256 + 100, pos;
	uint32_t good;
	int k, n, bit;

	good = crc32c(0, big, len);
	for (n = 0; n < 200; n++) {
		pos = rnd() % len;
		bit = rnd() % 8;
		big[pos] ^= 1 << bit;
		for (k = 0; k < npaths; k++)
			CHECK(crc_by(paths[k], 0, big, len) != good);
		big[pos] ^= 1 << bit;
	}
	CHECK_EQ_U64(crc32c(0, big, len), good);
}

int
main(void)
{
	if ((big = malloc(BIG + 64)) == NULL)
		return 2;
	fill(big, BIG + 64);
	RUN(test_paths);
	RUN(test_vectors);
	RUN(test_lengths);
	RUN(test_splits);
	RUN(test_large);
	RUN(test_bitflip);
	free(big);
	return unit_done();
}

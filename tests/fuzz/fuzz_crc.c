/*
 * Fuzz the paths of CRC32C (include/crc32c_path.h) against each other.
 * The input's first seven bytes choose a starting CRC, an offset (so an
 * alignment), a split point and how many times the rest is repeated (up
 * to 64 KiB, so that the long blocks of the three chains and those of
 * folding beside them are reached);
 * every path must give the tables' CRC of the whole, and of the whole
 * taken in two pieces, each by another path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "crc32c_path.h"

#define FUZZ_MAX	(64 << 10)	/* bytes of data at most */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static uint32_t	crc_by(int, uint32_t, const uint8_t *, size_t);

static uint8_t	buf[FUZZ_MAX + 8];	/* the data, at an offset */

/* Path p, or crc32c() itself for CRC32C_NPATH. */
static uint32_t
crc_by(int p, uint32_t crc, const uint8_t *d, size_t n)
{
	return p == CRC32C_NPATH ? crc32c(crc, d, n) :
	    crc32c_path(p, crc, d, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	const uint8_t *d;
	uint32_t init, want, head;
	size_t n, split, reps, off;
	int a, b;

	if (len < 7)
		return 0;
	memcpy(&init, in, 4);
	off = in[4] % 8;
	reps = in[5] + 1;
	split = in[6];
	in += 7;
	len -= 7;

	for (n = 0; n < reps && n * len + len <= FUZZ_MAX && len > 0; n++)
		memcpy(buf + off + n * len, in, len);
	n *= len;
	d = buf + off;
	split = n == 0 ? 0 : split * n / 255;

	want = crc32c_path(CRC32C_SW, init, d, n);
	for (a = 0; a <= CRC32C_NPATH; a++) {
		if (a < CRC32C_NPATH && !crc32c_path_ok(a))
			continue;
		if (crc_by(a, init, d, n) != want)
			abort();
		for (b = 0; b <= CRC32C_NPATH; b++) {
			if (b < CRC32C_NPATH && !crc32c_path_ok(b))
				continue;
			head = crc_by(a, init, d, split);
			if (crc_by(b, head, d + split, n - split) != want)
				abort();
		}
	}
	return 0;
}

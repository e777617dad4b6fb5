/*
 * Fuzz the decompression of compressed records sections (zcodec.h): the
 * first byte picks the codec (zstd or LZ4), the next four are the raw
 * length the batch header would announce, the rest is the codec's data.
 * Decompression must fail cleanly or produce exactly the raw length; what
 * it produces must survive a compression round trip with either codec.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "zcodec.h"

#define RAW_LIMIT	(4 * 1024 * 1024)	/* bounds the fuzzer's memory */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct zc	d, c, d2;

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t len)
{
	const uint8_t *out, *cz, *back;
	const char *why;
	uint8_t *copy;
	size_t raw, czlen;
	int codec, k;

	if (len < 5)
		return 0;
	codec = p[0] % 2 ? ZC_ZSTD : ZC_LZ4;
	raw = le32_get(p + 1);
	if (zc_decompress(&d, codec, p + 5, len - 5, raw, RAW_LIMIT, &out,
	    &why) == -1)
		return 0;
	if ((copy = malloc(raw ? raw : 1)) == NULL)
		abort();
	memcpy(copy, out, raw);
	for (k = ZC_ZSTD; k <= ZC_LZ4; k++) {
		if (zc_compress(&c, k, 1, copy, raw, &cz, &czlen, &why) == -1)
			abort();
		if (zc_decompress(&d2, k, cz, czlen, raw, RAW_LIMIT, &back,
		    &why) == -1 || memcmp(back, copy, raw) != 0)
			abort();
	}
	free(copy);
	return 0;
}

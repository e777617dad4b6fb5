/*
 * Compression of a batch's records section by codec id (zcodec.h): zstd
 * and LZ4, behind one pair of functions.  The raw length comes from the
 * batch header, so a reader knows what it needs before it allocates.
 *
 * Both codecs decompress into a buffer of exactly the announced length
 * and never write past it: zstd's one-shot decompression stops with an
 * error when the frame wants more room, LZ4_decompress_safe() when the
 * block does.  Output of any other length is reported as corrupt.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "batch.h"
#include "zcodec.h"

static int	zc_reserve(struct zc *, size_t);

static const char *const zc_names[ZC_NCODECS] = { "none", "zstd", "lz4" };

int
zc_codec_by_name(const char *name)
{
	int i;

	for (i = 0; i < ZC_NCODECS; i++)
		if (strcmp(name, zc_names[i]) == 0)
			return i;
	return -1;
}

const char *
zc_codec_name(int codec)
{
	if (codec < 0 || codec >= ZC_NCODECS)
		return "unknown";
	return zc_names[codec];
}

int
zc_level_default(int codec)
{
	switch (codec) {
	case ZC_ZSTD:
		return ZC_ZSTD_LEVEL_DEFAULT;
	case ZC_LZ4:
		return ZC_LZ4_LEVEL_DEFAULT;
	}
	return 0;
}

int
zc_level_check(int codec, int level, const char **why)
{
	switch (codec) {
	case ZC_ZSTD:
		if (level >= 1 && level <= ZC_ZSTD_LEVEL_MAX)
			return 0;
		*why = "zstd levels are 1 to 19";
		return -1;
	case ZC_LZ4:
		if (level >= 1 && level <= ZC_LZ4_LEVEL_MAX)
			return 0;
		*why = "lz4 levels are 1 to 12";
		return -1;
	case ZC_NONE:
		if (level == 0)
			return 0;
		*why = "no compression has no level";
		return -1;
	}
	*why = "unknown codec";
	return -1;
}

void
zc_init(struct zc *z)
{
	memset(z, 0, sizeof(*z));
}

void
zc_free(struct zc *z)
{
	ZSTD_freeCCtx(z->zcctx);
	ZSTD_freeDCtx(z->zdctx);
	free(z->lz4hc);
	free(z->buf);
	zc_init(z);
}

/* At least n bytes at z->buf. */
static int
zc_reserve(struct zc *z, size_t n)
{
	uint8_t *nb;
	size_t cap;

	if (n <= z->cap && z->buf != NULL)
		return 0;
	cap = z->cap ? z->cap : 64 * 1024;
	while (cap < n)
		cap *= 2;
	if ((nb = realloc(z->buf, cap)) == NULL) {
		/* Exactly n, if the doubling was too greedy. */
		if ((nb = realloc(z->buf, n)) == NULL)
			return -1;
		cap = n;
	}
	z->buf = nb;
	z->cap = cap;
	return 0;
}

int
zc_compress(struct zc *z, int codec, int level, const uint8_t *src,
    size_t n, const uint8_t **out, size_t *outlen, const char **why)
{
	size_t bound, r;
	int lr;

	if (n > ZC_RAW_MAX) {
		errno = EINVAL;
		*why = "records section too large to compress";
		return -1;
	}
	if (zc_level_check(codec, level, why) == -1) {
		errno = EINVAL;
		return -1;
	}
	switch (codec) {
	case ZC_NONE:
		bound = n;
		break;
	case ZC_ZSTD:
		bound = ZSTD_compressBound(n);
		break;
	default:
		bound = (size_t)LZ4_compressBound((int)n);
		break;
	}
	if (zc_reserve(z, bound) == -1) {
		*why = "out of memory";
		return -1;
	}
	switch (codec) {
	case ZC_NONE:
		memcpy(z->buf, src, n);
		r = n;
		break;
	case ZC_ZSTD:
		if (z->zcctx == NULL && (z->zcctx = ZSTD_createCCtx()) ==
		    NULL) {
			errno = ENOMEM;
			*why = "out of memory";
			return -1;
		}
		r = ZSTD_compressCCtx(z->zcctx, z->buf, bound,
		    src, n, level);
		if (ZSTD_isError(r)) {
			errno = ZSTD_getErrorCode(r) ==
			    ZSTD_error_memory_allocation ? ENOMEM : EINVAL;
			*why = ZSTD_getErrorName(r);
			return -1;
		}
		break;
	default:
		if (level > 1) {
			if (z->lz4hc == NULL && (z->lz4hc =
			    malloc((size_t)LZ4_sizeofStateHC())) == NULL) {
				*why = "out of memory";
				return -1;
			}
			lr = LZ4_compress_HC_extStateHC(z->lz4hc,
			    (const char *)src, (char *)z->buf,
			    (int)n, (int)bound, level);
		} else
			lr = LZ4_compress_default((const char *)src,
			    (char *)z->buf, (int)n, (int)bound);
		if (lr <= 0 && n > 0) {
			errno = EINVAL;
			*why = "LZ4 compression failed";
			return -1;
		}
		r = (size_t)lr;
		break;
	}
	*out = z->buf;
	*outlen = r;
	return 0;
}

int
zc_decompress(struct zc *z, int codec, const uint8_t *src, size_t n,
    size_t raw, size_t limit, const uint8_t **out, const char **why)
{
	unsigned long long fcs;
	size_t r;
	int lr;

	errno = EINVAL;
	if (codec <= ZC_NONE || codec >= ZC_NCODECS) {
		*why = "unknown compression codec";
		return -1;
	}
	if (raw > limit || raw > ZC_RAW_MAX) {
		*why = "compressed records section announces more than the "
		    "largest batch";
		return -1;
	}
	/* One byte more than announced: a longer output shows as such. */
	if (zc_reserve(z, raw + 1) == -1) {
		*why = "out of memory";
		return -1;
	}
	errno = EINVAL;
	if (codec == ZC_ZSTD) {
		fcs = ZSTD_getFrameContentSize(src, n);
		if (fcs == ZSTD_CONTENTSIZE_ERROR) {
			*why = "not a zstd frame";
			return -1;
		}
		if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != raw) {
			*why = "zstd frame size differs from the raw length";
			return -1;
		}
		if (z->zdctx == NULL && (z->zdctx = ZSTD_createDCtx()) ==
		    NULL) {
			errno = ENOMEM;
			*why = "out of memory";
			return -1;
		}
		r = ZSTD_decompressDCtx(z->zdctx, z->buf, raw + 1, src, n);
		if (ZSTD_isError(r)) {
			errno = ZSTD_getErrorCode(r) ==
			    ZSTD_error_memory_allocation ? ENOMEM : EINVAL;
			*why = "corrupt zstd frame";
			return -1;
		}
	} else {
		if (n > (size_t)LZ4_MAX_INPUT_SIZE) {
			*why = "LZ4 block too large";
			return -1;
		}
		lr = LZ4_decompress_safe((const char *)src, (char *)z->buf,
		    (int)n, (int)raw + 1);
		if (lr < 0) {
			*why = "corrupt LZ4 block";
			return -1;
		}
		r = (size_t)lr;
	}
	if (r != raw) {
		*why = "decompressed size differs from the raw length";
		return -1;
	}
	*out = z->buf;
	return 0;
}

int
zc_batch_recs(struct zc *z, const struct bus_batch *b, const uint8_t **recs,
    const char **why)
{
	const uint8_t *out;

	if (zc_decompress(z, (int)batch_codec(b), b->recs, b->stored_len,
	    b->recs_len, BUS_BATCH_MAX, &out, why) == -1)
		return -1;
	if (batch_check_recs(b, out, b->recs_len, why) == -1) {
		errno = EINVAL;
		return -1;
	}
	*recs = out;
	return 0;
}

/*
 * The compression codecs of a batch's records section (bus-segment(5),
 * "Compressed batches"): one home for compressing and decompressing by
 * codec id, with bounded sizes and errors as values.
 *
 * A compressed records section is the codec's data alone (one zstd
 * frame; one LZ4 block); the batch header says how long it is once
 * decompressed.  That raw length is checked against a limit before
 * anything is allocated, and the codec must produce exactly that many
 * bytes: a frame that is corrupt, short, long or oversized is an error,
 * never a crash.  The contexts and the output buffer of a struct zc are
 * reused from call to call: no allocation per batch once they have grown.
 */
#ifndef BUS_ZCODEC_H
#define BUS_ZCODEC_H

#include <stddef.h>
#include <stdint.h>

/* Codec ids, as in a batch's attributes. */
enum zc_codec {
	ZC_NONE = 0,		/* records stored as they are */
	ZC_ZSTD = 1,		/* zstd frame */
	ZC_LZ4 = 2		/* LZ4 block */
};
#define ZC_NCODECS	3	/* ids below this are known */
#define ZC_RAW_MAX	(256U * 1024 * 1024)	/* largest raw section */

#define ZC_ZSTD_LEVEL_DEFAULT	6
#define ZC_ZSTD_LEVEL_MAX	19	/* beyond: --ultra memory; refused */
#define ZC_LZ4_LEVEL_DEFAULT	1	/* LZ4's fast compressor */
#define ZC_LZ4_LEVEL_MAX	12	/* 2..12: LZ4 HC at that level */

/* A compressor or decompressor: codec contexts and an output buffer. */
struct zc {
	void		*zcctx;		/* ZSTD_CCtx, made on first use */
	void		*zdctx;		/* ZSTD_DCtx, made on first use */
	void		*lz4hc;		/* LZ4 HC state, made on first use */
	uint8_t		*buf;		/* the last output */
	size_t		 cap;		/* bytes allocated at buf */
};

/* Codec id by name ("none", "zstd", "lz4"); -1 if unknown. */
int	zc_codec_by_name(const char *);
/* Name of a codec id; "unknown" if it is none we know. */
const char *zc_codec_name(int);
/* Is level valid for codec?  0 if so, -1 with a static *why. */
int	zc_level_check(int, int, const char **);
int	zc_level_default(int);

void	zc_init(struct zc *);
void	zc_free(struct zc *);
/*
 * Compress n bytes at src (n <= ZC_RAW_MAX) with codec at level; the
 * compressed records section is left in *out (*outlen bytes, valid until
 * the next call on z).  0, or -1 with a static *why (errno ENOMEM when
 * memory ran out, EINVAL otherwise).
 */
int	zc_compress(struct zc *, int, int, const uint8_t *, size_t,
	    const uint8_t **, size_t *, const char **);
/*
 * Decompress the compressed records section of n bytes at src, of codec,
 * whose raw length is raw, into *out (raw bytes, valid until the next
 * call on z).  raw over limit (or ZC_RAW_MAX) is refused before anything
 * is allocated.  0, or -1 with a static *why: unknown codec, corrupt
 * data, or output that is not exactly raw bytes (errno EINVAL; ENOMEM
 * when memory ran out).
 */
int	zc_decompress(struct zc *, int, const uint8_t *, size_t, size_t,
	    size_t, const uint8_t **, const char **);

/*
 * The compressed branch of batch_recs(), the hook of every batch reader:
 * the records section of a compressed batch decoded by batch_decode()
 * (CRC and header checked), decompressed into z and checked against its
 * header by batch_check_recs(); b->recs_len bytes at *recs.  0, or -1
 * with a static *why naming what is wrong (errno ENOMEM when memory ran
 * out).
 */
struct bus_batch;
int	zc_batch_recs(struct zc *, const struct bus_batch *,
	    const uint8_t **, const char **);

#endif /* BUS_ZCODEC_H */

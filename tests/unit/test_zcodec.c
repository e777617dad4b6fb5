/*
 * The codecs of compressed batches (zcodec.h): round trips of every codec
 * and level at the edges of size, names and levels, and bad input of
 * every kind (torn at every byte, a bit flipped anywhere, raw lengths
 * that lie, limits) reported as an error, never a crash or an overrun.
 */
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "le.h"
#include "zcodec.h"

#define BIG	(3 * 1024 * 1024 + 17)

static uint64_t	 rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* n bytes of log-like text (compressible) or noise. */
static uint8_t *
mkinput(size_t n, int noise)
{
	static const char *words[] = { "GET ", "/index.html ", "200 ",
	    "HTTP/1.1 ", "Mozilla/5.0 ", "10.0.0.", "POST ", "404 ", "\n" };
	uint8_t *b = malloc(n ? n : 1);
	size_t i = 0, k, w;

	while (i < n) {
		if (noise) {
			b[i++] = (uint8_t)rnd();
			continue;
		}
		w = rnd() % (sizeof(words) / sizeof(words[0]));
		for (k = 0; words[w][k] && i < n; k++)
			b[i++] = (uint8_t)words[w][k];
	}
	return b;
}

static void
roundtrip(int codec, int level, size_t n, int noise)
{
	struct zc c, d;
	const uint8_t *cz, *out;
	const char *why = NULL;
	uint8_t *in = mkinput(n, noise), *copy;
	size_t czlen;

	zc_init(&c);
	zc_init(&d);
	if (!CHECK(zc_compress(&c, codec, level, in, n, &cz, &czlen, &why) ==
	    0)) {
		unit_more("  %s level %d n %zu: %s\n", zc_codec_name(codec),
		    level, n, why);
		goto out;
	}
	if (!noise && n >= 64 * 1024 && codec != ZC_NONE)
		if (!CHECK(czlen < (codec == ZC_ZSTD ? n / 3 : n / 2)))
			unit_more("  %s level %d: %zu of %zu\n",
			    zc_codec_name(codec), level, czlen, n);
	/* Decompress from a copy: c's buffer is not d's. */
	copy = malloc(czlen);
	memcpy(copy, cz, czlen);
	if (codec == ZC_NONE) {
		CHECK_MEM(copy, czlen, in, n);
		CHECK(zc_decompress(&d, codec, copy, czlen, n, n, &out,
		    &why) == -1);
	} else if (CHECK(zc_decompress(&d, codec, copy, czlen, n, n, &out,
	    &why) == 0))
		CHECK_MEM(out, n, in, n);
	else
		unit_more("  %s n %zu: %s\n", zc_codec_name(codec), n, why);
	/* One byte less allowed than announced: refused before allocating. */
	if (codec != ZC_NONE && n > 0) {
		zc_free(&d);
		CHECK(zc_decompress(&d, codec, copy, czlen, n, n - 1, &out,
		    &why) == -1);
		CHECK_STR_HAS(why, "announces more");
		CHECK_EQ_U64(d.cap, 0);
	}
	free(copy);
out:
	zc_free(&c);
	zc_free(&d);
	free(in);
}

static void
test_roundtrips(void)
{
	static const size_t sizes[] = { 0, 1, 2, 100, 4096, 65536, 262144,
	    BIG };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		roundtrip(ZC_ZSTD, ZC_ZSTD_LEVEL_DEFAULT, sizes[i], 0);
		roundtrip(ZC_ZSTD, 1, sizes[i], 1);
		roundtrip(ZC_LZ4, ZC_LZ4_LEVEL_DEFAULT, sizes[i], 0);
		roundtrip(ZC_LZ4, 1, sizes[i], 1);
		roundtrip(ZC_LZ4, 9, sizes[i], 0);
		roundtrip(ZC_NONE, 0, sizes[i], 0);
	}
	roundtrip(ZC_ZSTD, ZC_ZSTD_LEVEL_MAX, 100000, 0);
	roundtrip(ZC_LZ4, ZC_LZ4_LEVEL_MAX, 100000, 0);
}

/* One struct zc used for many calls keeps giving right answers. */
static void
test_reuse(void)
{
	struct zc c, d;
	const uint8_t *cz, *out;
	const char *why;
	uint8_t *a = mkinput(200000, 0), *b = mkinput(1000, 1), *copy;
	size_t czlen;
	int i;

	zc_init(&c);
	zc_init(&d);
	for (i = 0; i < 6; i++) {
		uint8_t *in = i % 2 ? b : a;
		size_t n = i % 2 ? 1000 : 200000;
		int codec = i < 3 ? ZC_ZSTD : ZC_LZ4;

		CHECK(zc_compress(&c, codec, zc_level_default(codec), in, n,
		    &cz, &czlen, &why) == 0);
		copy = malloc(czlen);
		memcpy(copy, cz, czlen);
		if (CHECK(zc_decompress(&d, codec, copy, czlen, n, ZC_RAW_MAX,
		    &out, &why) == 0))
			CHECK_MEM(out, n, in, n);
		free(copy);
	}
	zc_free(&c);
	zc_free(&d);
	free(a);
	free(b);
}

static void
test_names_levels(void)
{
	const char *why = NULL;

	CHECK_EQ_I64(zc_codec_by_name("none"), ZC_NONE);
	CHECK_EQ_I64(zc_codec_by_name("zstd"), ZC_ZSTD);
	CHECK_EQ_I64(zc_codec_by_name("lz4"), ZC_LZ4);
	CHECK_EQ_I64(zc_codec_by_name("gzip"), -1);
	CHECK_EQ_I64(zc_codec_by_name("ZSTD"), -1);
	CHECK_EQ_I64(zc_codec_by_name(""), -1);
	CHECK(strcmp(zc_codec_name(ZC_ZSTD), "zstd") == 0);
	CHECK(strcmp(zc_codec_name(ZC_LZ4), "lz4") == 0);
	CHECK(strcmp(zc_codec_name(3), "unknown") == 0);
	CHECK(strcmp(zc_codec_name(-1), "unknown") == 0);
	CHECK(zc_level_check(ZC_ZSTD, 1, &why) == 0);
	CHECK(zc_level_check(ZC_ZSTD, 19, &why) == 0);
	CHECK(zc_level_check(ZC_ZSTD, 0, &why) == -1);
	CHECK(zc_level_check(ZC_ZSTD, 20, &why) == -1);
	CHECK_STR_HAS(why, "zstd");
	CHECK(zc_level_check(ZC_LZ4, 12, &why) == 0);
	CHECK(zc_level_check(ZC_LZ4, 13, &why) == -1);
	CHECK_STR_HAS(why, "lz4");
	CHECK(zc_level_check(7, 1, &why) == -1);
	CHECK_EQ_I64(zc_level_default(ZC_ZSTD), ZC_ZSTD_LEVEL_DEFAULT);
	CHECK(zc_level_check(ZC_ZSTD, zc_level_default(ZC_ZSTD), &why) == 0);
	CHECK(zc_level_check(ZC_LZ4, zc_level_default(ZC_LZ4), &why) == 0);
}

static void
test_bad_args(void)
{
	struct zc z;
	const uint8_t *out;
	const char *why = NULL;
	uint8_t junk[64];
	size_t outlen;

	zc_init(&z);
	memset(junk, 0, sizeof(junk));
	CHECK(zc_compress(&z, ZC_ZSTD, 99, junk, sizeof(junk), &out,
	    &outlen, &why) == -1);
	CHECK_EQ_I64(errno, EINVAL);
	CHECK(zc_compress(&z, 9, 1, junk, sizeof(junk), &out, &outlen,
	    &why) == -1);
	CHECK(zc_compress(&z, ZC_ZSTD, 1, junk, (size_t)ZC_RAW_MAX + 1, &out,
	    &outlen, &why) == -1);
	CHECK(zc_decompress(&z, 9, junk, sizeof(junk), 10, 100, &out,
	    &why) == -1);
	CHECK_STR_HAS(why, "unknown");
	CHECK(zc_decompress(&z, ZC_NONE, junk, sizeof(junk), 10, 100, &out,
	    &why) == -1);
	/* Nothing at all, and garbage. */
	CHECK(zc_decompress(&z, ZC_ZSTD, junk, 0, 10, 100, &out, &why) == -1);
	CHECK(zc_decompress(&z, ZC_LZ4, junk, 0, 10, 100, &out, &why) == -1);
	memset(junk, 0xa5, sizeof(junk));
	CHECK(zc_decompress(&z, ZC_ZSTD, junk, sizeof(junk), 10, 100, &out,
	    &why) == -1);
	CHECK(zc_decompress(&z, ZC_LZ4, junk, sizeof(junk), 10, 100, &out,
	    &why) == -1);
	/* A huge raw length: refused before any allocation. */
	zc_free(&z);
	CHECK(zc_decompress(&z, ZC_ZSTD, junk, sizeof(junk), 0xffffffffU,
	    SIZE_MAX, &out, &why) == -1);
	CHECK_STR_HAS(why, "announces more");
	CHECK(zc_decompress(&z, ZC_LZ4, junk, sizeof(junk), 1000, 999, &out,
	    &why) == -1);
	CHECK_EQ_U64(z.cap, 0);
	zc_free(&z);
}

/* A raw length that lies, either way; the wrong codec for the data. */
static void
test_length_lies(int codec)
{
	struct zc c, d;
	const uint8_t *cz, *out;
	const char *why;
	uint8_t *in = mkinput(5000, 0), *copy;
	size_t czlen;

	zc_init(&c);
	zc_init(&d);
	CHECK(zc_compress(&c, codec, zc_level_default(codec), in, 5000, &cz,
	    &czlen, &why) == 0);
	copy = malloc(czlen);
	memcpy(copy, cz, czlen);
	CHECK(zc_decompress(&d, codec, copy, czlen, 4999, ZC_RAW_MAX, &out,
	    &why) == -1);
	CHECK(zc_decompress(&d, codec, copy, czlen, 5001, ZC_RAW_MAX, &out,
	    &why) == -1);
	CHECK(zc_decompress(&d, codec, copy, czlen, 0, ZC_RAW_MAX, &out,
	    &why) == -1);
	CHECK(zc_decompress(&d, codec, copy, czlen, 5000, ZC_RAW_MAX, &out,
	    &why) == 0);
	CHECK(zc_decompress(&d, codec == ZC_ZSTD ? ZC_LZ4 : ZC_ZSTD, copy,
	    czlen, 5000, ZC_RAW_MAX, &out, &why) == -1);
	free(copy);
	free(in);
	zc_free(&c);
	zc_free(&d);
}

/*
 * Torn at every byte, a bit flipped at every byte: an error, or (a flip
 * the codec cannot see, which the batch CRC catches) output of exactly
 * the raw length; never a crash.  Run under ASan by make check SANITIZE=1.
 */
static void
test_damage(int codec)
{
	struct zc c, d;
	const uint8_t *cz, *out;
	const char *why;
	uint8_t *in = mkinput(3000, 0), *copy;
	size_t czlen, i, torn_ok = 0, flips = 0;
	int bit;

	zc_init(&c);
	zc_init(&d);
	CHECK(zc_compress(&c, codec, zc_level_default(codec), in, 3000, &cz,
	    &czlen, &why) == 0);
	copy = malloc(czlen);
	for (i = 0; i < czlen; i++) {
		/* Torn: only i bytes of it, in a buffer of exactly i. */
		uint8_t *torn = malloc(i ? i : 1);

		memcpy(torn, cz, i);
		if (zc_decompress(&d, codec, torn, i, 3000, ZC_RAW_MAX, &out,
		    &why) == -1)
			torn_ok++;
		free(torn);
		for (bit = 0; bit < 8; bit += 3) {
			memcpy(copy, cz, czlen);
			copy[i] ^= 1 << bit;
			(void)zc_decompress(&d, codec, copy, czlen, 3000,
			    ZC_RAW_MAX, &out, &why);
			flips++;
		}
	}
	CHECK_EQ_U64(torn_ok, czlen);
	CHECK_EQ_U64(flips, czlen * 3);
	free(copy);
	free(in);
	zc_free(&c);
	zc_free(&d);
}

static void
test_damage_zstd(void)
{
	test_damage(ZC_ZSTD);
	test_length_lies(ZC_ZSTD);
}

static void
test_damage_lz4(void)
{
	test_damage(ZC_LZ4);
	test_length_lies(ZC_LZ4);
}

#define NREC	50

/*
 * A record batch of NREC records compressed with codec into out, as
 * bus-rotate --compress writes one; lie_len != 0 puts that records
 * length in its header instead of the true one.  Returns its size.
 */
static size_t
mkbatch(int codec, uint8_t *out, uint32_t lie_len)
{
	static uint8_t raw[1 << 16];
	struct bus_batch b;
	struct bus_rec r;
	struct zc z;
	const uint8_t *cz;
	const char *why;
	char pl[64];
	size_t czlen, n = 0, size;
	int i;

	memset(&b, 0, sizeof(b));
	b.attrs = (uint8_t)codec;
	b.topic = "web.access";
	b.topic_len = 10;
	b.base_off = 1000;
	b.base_recv = 1700000000000000000LL;
	b.base_send = b.base_recv - 5;
	b.base_event = b.base_recv - 9;
	b.producer = 77;
	b.base_seq = 1;
	batch_begin(out, &b);
	for (i = 0; i < NREC; i++) {
		memset(&r, 0, sizeof(r));
		r.topic = b.topic;
		r.topic_len = b.topic_len;
		r.offset = 1000 + (uint64_t)i * 2;
		r.recv_ns = b.base_recv + i * 1000;
		r.send_ns = b.base_send + i;
		r.event_ns = b.base_event - i;
		r.producer = 77;
		r.seq = 1 + (uint64_t)i;
		r.key = i % 3 ? "k" : NULL;
		r.key_len = i % 3 ? 1 : 0;
		snprintf(pl, sizeof(pl), "GET /index.html 200 %d", i);
		r.payload = (const uint8_t *)pl;
		r.payload_len = strlen(pl);
		n += batch_add(raw + n, &b, &r);
	}
	zc_init(&z);
	if (zc_compress(&z, codec, zc_level_default(codec), raw, n, &cz,
	    &czlen, &why) == -1)
		abort();
	memcpy(out + b.hdr, cz, czlen);
	b.stored_len = czlen;
	zc_free(&z);
	if (lie_len) {
		size = batch_finish_nocrc(out, &b);
		le32_put(out + 20, lie_len);
		batch_crc(out, size);
		return size;
	}
	return batch_finish(out, &b);
}

/* batch_recs(): a compressed batch reads as the records written. */
static void
batch_roundtrip(int codec)
{
	static uint8_t buf[1 << 16];
	struct batch_buf bb;
	struct batch_iter it;
	struct bus_batch b;
	struct bus_rec r;
	const uint8_t *recs;
	const char *why = NULL;
	size_t size = mkbatch(codec, buf, 0), i;
	int k, n = 0;

	memset(&bb, 0, sizeof(bb));
	CHECK_EQ_I64(batch_decode(buf, size, &b, &why), (ssize_t)size);
	CHECK_EQ_U64(batch_codec(&b), (unsigned)codec);
	CHECK(b.stored_len < b.recs_len);
	if (!CHECK(batch_recs(&b, &bb, &recs, &why) == 0)) {
		unit_more("  %s\n", why);
		return;
	}
	batch_iter_init(&it, &b, recs, b.recs_len);
	while ((k = batch_iter_next(&it, &r)) == 1) {
		char pl[64];

		snprintf(pl, sizeof(pl), "GET /index.html 200 %d", n);
		CHECK_EQ_U64(r.offset, 1000 + (uint64_t)n * 2);
		CHECK_EQ_I64(r.recv_ns, b.base_recv + n * 1000);
		CHECK_EQ_I64(r.send_ns, b.base_send + n);
		CHECK_EQ_I64(r.event_ns, b.base_event - n);
		CHECK_EQ_U64(r.producer, 77);
		CHECK_EQ_U64(r.seq, 1 + (uint64_t)n);
		CHECK_EQ_U64(r.key_len, n % 3 ? 1 : 0);
		CHECK_MEM(r.payload, r.payload_len, pl, strlen(pl));
		n++;
	}
	CHECK_EQ_I64(k, 0);
	CHECK_EQ_I64(n, NREC);
	/*
	 * A flipped bit anywhere is caught, by the CRC or the codec; in the
	 * length, the batch no longer ends where the bytes do.
	 */
	for (i = 0; i < size; i++) {
		buf[i] ^= 0x10;
		if (!CHECK(batch_decode(buf, size, &b, &why) != (ssize_t)size ||
		    batch_recs(&b, &bb, &recs, &why) == -1))
			unit_more("  byte %zu of %zu\n", i, size);
		buf[i] ^= 0x10;
	}
	/* Honest CRC, lying records length: the codec or the check says so. */
	for (i = 0; i < 3; i++) {
		uint32_t lie[3] = { 1, 100, 70000000 };

		size = mkbatch(codec, buf, lie[i]);
		if (batch_decode(buf, size, &b, &why) == -1)
			continue;
		CHECK(batch_recs(&b, &bb, &recs, &why) == -1);
	}
	batch_buf_free(&bb);
	CHECK(bb.z.buf == NULL && bb.z.zdctx == NULL);
}

static void
test_batch_zstd(void)
{
	batch_roundtrip(ZC_ZSTD);
}

static void
test_batch_lz4(void)
{
	batch_roundtrip(ZC_LZ4);
}

int
main(void)
{
	RUN(test_names_levels);
	RUN(test_roundtrips);
	RUN(test_reuse);
	RUN(test_bad_args);
	RUN(test_damage_zstd);
	RUN(test_damage_lz4);
	RUN(test_batch_zstd);
	RUN(test_batch_lz4);
	return unit_done();
}

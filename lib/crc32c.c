/*
 * CRC32C (Castagnoli), as used by iSCSI, ext4 and Kafka record batches.
 * SSE4.2 has an instruction for it; elsewhere a slicing-by-8 table.
 *
 * The crc32 instruction takes three cycles and the processor can start
 * one every cycle: a single chain of them runs at a third of the speed
 * the processor has.  Long buffers are therefore cut into three adjacent
 * blocks of equal length whose CRCs run as three independent chains, the
 * second and third started from zero.  They are put back together with
 * the linearity of the CRC: the CRC register after a block A then a
 * block B of L bytes is the register after A multiplied by x^(8L) (mod
 * the polynomial), plus the register of B alone.  That multiplication by
 * a fixed power of x is a table lookup, byte by byte, made at start for
 * each of the three block lengths used (8 KiB, 256 and 64 bytes: the
 * longer the blocks, the fewer the joins; the shorter, the more of a
 * buffer's tail runs as three chains).
 *
 * Where the processor has AVX2 and VPCLMULQDQ, buffers of FOLD_MIN bytes
 * and more are first folded with carry-less multiplications instead
 * (crc_fold): as fast as the three chains, and faster on short buffers,
 * where the chains spend their time being joined; on long ones folding
 * and three chains run side by side, nearly twice as fast as either.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bus.h"
#include "crc32c_path.h"

#define POLY		0x82f63b78u	/* reflected Castagnoli polynomial */
#define BLK_LONG	8192		/* bytes of each of three long blocks */
#define BLK_SHORT	256		/* and of each of three short ones */
#define BLK_TINY	64		/* and of each of three tiny ones */
#define FOLD_MIN	256		/* bytes from which folding pays */
#define MIX_ITER	128		/* 128 bytes folded, times this */
#define MIX_WORDS	6		/* crc32 words a chain, a fold */
#define MIX_CHAIN	(8 * MIX_WORDS * MIX_ITER)	/* bytes a chain */
#define MIX_BLOCK	(128 * MIX_ITER + 3 * MIX_CHAIN)	/* 34816 */

static uint32_t	crc_sw(uint32_t, const uint8_t *, size_t);
#if defined(__x86_64__)
static uint32_t	gf_mul(uint32_t, uint32_t);
static uint32_t	gf_xpow(uint64_t);
static void	fold_init(uint64_t[2], size_t);
static void	zeros_init(uint32_t[4][256], size_t);
static uint32_t	crc_shift(const uint32_t[4][256], uint32_t);
static uint32_t	crc_hw(uint32_t, const uint8_t *, size_t);
static uint32_t	crc_block3(uint32_t, const uint8_t *, size_t,
		    const uint32_t[4][256]);
static uint32_t	crc_hw3(uint32_t, const uint8_t *, size_t);
static void	crc_hw3buf(const uint8_t *[3], const size_t[3], uint32_t[3]);
static __m256i	fold256(__m256i, __m256i, __m256i);
static uint32_t	fold_end(__m256i, __m256i, __m256i, __m256i);
static void	mix_words(uint64_t[3], const uint8_t *);
static uint32_t	crc_mix(uint32_t, const uint8_t *);
static uint32_t	crc_fold(uint32_t, const uint8_t *, size_t);
#endif

static uint32_t	table[8][256];		/* slicing-by-8: byte k of a word */
static int	have_hw;		/* SSE4.2 here */
#if defined(__x86_64__)
static uint32_t	zlong[4][256];		/* times x^(8 BLK_LONG), by byte */
static uint32_t	zshort[4][256];		/* times x^(8 BLK_SHORT), by byte */
static uint32_t	ztiny[4][256];		/* times x^(8 BLK_TINY), by byte */
static uint32_t	zmix[4][256];		/* times x^(8 MIX_CHAIN), by byte */
static uint64_t	kfold128[2];		/* fold 16 bytes by 128, 96, ... */
static uint64_t	kfold96[2];
static uint64_t	kfold64[2];
static uint64_t	kfold32[2];
static uint64_t	kfold16[2];
static int	have_fold;		/* AVX2 and VPCLMULQDQ here too */
#endif

/*
 * The tables are made once when the program (or libbus.so) is loaded,
 * before any thread can ask for a CRC.
 */
static void __attribute__((constructor))
crc_init(void)
{
	uint32_t c;
	int i, j;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			table[j][i] = (table[j - 1][i] >> 8) ^
			    table[0][table[j - 1][i] & 0xff];
#if defined(__x86_64__)
	__builtin_cpu_init();
	have_hw = __builtin_cpu_supports("sse4.2");
	if (have_hw) {
		zeros_init(zlong, BLK_LONG);
		zeros_init(zshort, BLK_SHORT);
		zeros_init(ztiny, BLK_TINY);
	}
	have_fold = have_hw && __builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("pclmul") &&
	    __builtin_cpu_supports("vpclmulqdq");
	if (have_fold) {
		fold_init(kfold128, 128);
		fold_init(kfold96, 96);
		fold_init(kfold64, 64);
		fold_init(kfold32, 32);
		fold_init(kfold16, 16);
		zeros_init(zmix, MIX_CHAIN);
	}
#endif
}

static uint32_t
crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		w ^= c;
		c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
		    table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
		    table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
		    table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
/*
 * a times b modulo the polynomial, both reflected: bit 31 is x^0, bit 0
 * is x^31.
 */
static uint32_t
gf_mul(uint32_t a, uint32_t b)
{
	uint32_t m, p = 0;

	for (m = 1u << 31; m != 0; m >>= 1) {
		if (a & m)
			p ^= b;
		b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
	}
	return p;
}

/* x^e modulo the polynomial; x^(8n) is what n zero bytes do to a CRC. */
static uint32_t
gf_xpow(uint64_t e)
{
	uint32_t p = 1u << 31, sq = 1u << 30;	/* x^0, x^1 */

	for (; e != 0; e >>= 1) {
		if (e & 1)
			p = gf_mul(p, sq);
		sq = gf_mul(sq, sq);
	}
	return p;
}

/*
 * The multipliers that move 16 bytes of message d bytes further on, for
 * carry-less multiplication: its first 8 bytes (x^(8d + 64) and up, from
 * where they are to be) times k[0], the next 8 times k[1].  A product of
 * a 64-bit piece by a 32-bit one, bit-reflected, lies 33 bits below its
 * degree in a 128-bit lane, hence the 31 and 33.
 */
static void
fold_init(uint64_t k[2], size_t d)
{
	k[0] = gf_xpow(8 * d + 31);
	k[1] = gf_xpow(8 * d - 33);
}

/*
 * z[k][b]: byte b in byte k of a CRC register, times x^(8 len).  Each
 * entry is the sum of those of its bits (the product is linear).
 */
static void
zeros_init(uint32_t z[4][256], size_t len)
{
	uint32_t op = gf_xpow(8 * (uint64_t)len);
	int b, j, k;

	for (k = 0; k < 4; k++) {
		z[k][0] = 0;
		for (j = 0; j < 8; j++)
			z[k][1 << j] = gf_mul(1u << (8 * k + j), op);
		for (b = 1; b < 256; b++)
			z[k][b] = z[k][b & (b - 1)] ^ z[k][b & -b];
	}
}

/* A CRC register as it would be after the zero bytes z stands for. */
static inline uint32_t
crc_shift(const uint32_t z[4][256], uint32_t c)
{
	return z[0][c & 0xff] ^ z[1][(c >> 8) & 0xff] ^
	    z[2][(c >> 16) & 0xff] ^ z[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t
crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c64 = c, w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

/*
 * Three blocks of len bytes at p as three chains, joined; inlined with
 * len a constant at each call, so that the loop is made for it.
 */
__attribute__((target("sse4.2"), always_inline))
static inline uint32_t
crc_block3(uint32_t c, const uint8_t *p, size_t len,
    const uint32_t z[4][256])
{
	uint64_t c0 = c, c1 = 0, c2 = 0, w0, w1, w2;
	size_t i;

	for (i = 0; i < len; i += 8) {
		memcpy(&w0, p + i, 8);
		memcpy(&w1, p + len + i, 8);
		memcpy(&w2, p + 2 * len + i, 8);
		c0 = __builtin_ia32_crc32di(c0, w0);
		c1 = __builtin_ia32_crc32di(c1, w1);
		c2 = __builtin_ia32_crc32di(c2, w2);
	}
	c = crc_shift(z, (uint32_t)c0) ^ (uint32_t)c1;
	return crc_shift(z, c) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2")))
static uint32_t
crc_hw3(uint32_t c, const uint8_t *p, size_t n)
{
	/* Aligned loads: up to 7 bytes one by one first. */
	while (n > 0 && ((uintptr_t)p & 7) != 0) {
		c = __builtin_ia32_crc32qi(c, *p++);
		n--;
	}
	while (n >= 3 * BLK_LONG) {
		c = crc_block3(c, p, BLK_LONG, zlong);
		p += 3 * BLK_LONG;
		n -= 3 * BLK_LONG;
	}
	while (n >= 3 * BLK_SHORT) {
		c = crc_block3(c, p, BLK_SHORT, zshort);
		p += 3 * BLK_SHORT;
		n -= 3 * BLK_SHORT;
	}
	while (n >= 3 * BLK_TINY) {
		c = crc_block3(c, p, BLK_TINY, ztiny);
		p += 3 * BLK_TINY;
		n -= 3 * BLK_TINY;
	}
	return crc_hw(c, p, n);
}

/*
 * Fold the message into 128 bytes with carry-less multiplications: each
 * 16 bytes times x^(8 128) (mod the polynomial) added to the 16 bytes
 * 128 further on, eight lanes at a time.  The 128 bytes are then folded
 * into 16, whose CRC is that of all before.
 *
 * Folding and the crc32 instruction use different parts of the
 * processor: in blocks of MIX_BLOCK bytes, both run at once (crc_mix),
 * the first MIX_ITER times 128 bytes folded, the rest as three chains of
 * crc32 instructions, MIX_WORDS words each for every 128 bytes folded.
 * The four CRCs are then joined as in crc_block3.
 */
__attribute__((target("avx2,pclmul,vpclmulqdq")))
static inline __m256i
fold256(__m256i a, __m256i k, __m256i d)
{
	return _mm256_xor_si256(_mm256_xor_si256(
	    _mm256_clmulepi64_epi128(a, k, 0x00),
	    _mm256_clmulepi64_epi128(a, k, 0x11)), d);
}

/* The CRC register of the 128 bytes in a0 to a3 (a0 first). */
__attribute__((target("avx2,pclmul,vpclmulqdq,sse4.2")))
static inline uint32_t
fold_end(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
	__m256i k;
	__m128i x, y, k16;
	uint64_t c;

	k = _mm256_set_epi64x(kfold96[1], kfold96[0], kfold96[1], kfold96[0]);
	a3 = fold256(a0, k, a3);
	k = _mm256_set_epi64x(kfold64[1], kfold64[0], kfold64[1], kfold64[0]);
	a3 = fold256(a1, k, a3);
	k = _mm256_set_epi64x(kfold32[1], kfold32[0], kfold32[1], kfold32[0]);
	a3 = fold256(a2, k, a3);

	x = _mm256_castsi256_si128(a3);
	y = _mm256_extracti128_si256(a3, 1);
	k16 = _mm_set_epi64x(kfold16[1], kfold16[0]);
	x = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k16, 0x00),
	    _mm_clmulepi64_si128(x, k16, 0x11)), y);
	/* The compiler leaves the upper halves dirty: SSE code after pays. */
	_mm256_zeroupper();
	c = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(x));
	c = __builtin_ia32_crc32di(c, (uint64_t)_mm_extract_epi64(x, 1));
	return (uint32_t)c;
}

/* One word more of each of three chains MIX_CHAIN bytes apart. */
__attribute__((target("sse4.2"), always_inline))
static inline void
mix_words(uint64_t c[3], const uint8_t *q)
{
	uint64_t w0, w1, w2;

	memcpy(&w0, q, 8);
	memcpy(&w1, q + MIX_CHAIN, 8);
	memcpy(&w2, q + 2 * MIX_CHAIN, 8);
	c[0] = __builtin_ia32_crc32di(c[0], w0);
	c[1] = __builtin_ia32_crc32di(c[1], w1);
	c[2] = __builtin_ia32_crc32di(c[2], w2);
}

/* MIX_BLOCK bytes at p, folded and by crc32 instructions at once. */
__attribute__((target("avx2,pclmul,vpclmulqdq,sse4.2")))
static uint32_t
crc_mix(uint32_t c, const uint8_t *p)
{
	const uint8_t *q = p + 128 * MIX_ITER;
	__m256i a0, a1, a2, a3, k;
	uint64_t cc[3] = { 0, 0, 0 };
	int i, j;

	a0 = _mm256_xor_si256(_mm256_loadu_si256((const void *)p),
	    _mm256_zextsi128_si256(_mm_cvtsi32_si128((int)c)));
	a1 = _mm256_loadu_si256((const void *)(p + 32));
	a2 = _mm256_loadu_si256((const void *)(p + 64));
	a3 = _mm256_loadu_si256((const void *)(p + 96));
	k = _mm256_set_epi64x(kfold128[1], kfold128[0], kfold128[1],
	    kfold128[0]);
	for (i = 1; i < MIX_ITER; i++) {
		p += 128;
		a0 = fold256(a0, k, _mm256_loadu_si256((const void *)p));
		a1 = fold256(a1, k, _mm256_loadu_si256((const void *)(p + 32)));
		a2 = fold256(a2, k, _mm256_loadu_si256((const void *)(p + 64)));
		a3 = fold256(a3, k, _mm256_loadu_si256((const void *)(p + 96)));
		for (j = 0; j < MIX_WORDS; j++, q += 8)
			mix_words(cc, q);
	}
	for (j = 0; j < MIX_WORDS; j++, q += 8)
		mix_words(cc, q);
	c = fold_end(a0, a1, a2, a3);
	c = crc_shift(zmix, c) ^ (uint32_t)cc[0];
	c = crc_shift(zmix, c) ^ (uint32_t)cc[1];
	return crc_shift(zmix, c) ^ (uint32_t)cc[2];
}

/* Blocks by crc_mix, then folding alone, then the tail by crc_hw3. */
__attribute__((target("avx2,pclmul,vpclmulqdq,sse4.2")))
static uint32_t
crc_fold(uint32_t c, const uint8_t *p, size_t n)
{
	__m256i a0, a1, a2, a3, k;

	for (; n >= MIX_BLOCK; p += MIX_BLOCK, n -= MIX_BLOCK)
		c = crc_mix(c, p);
	if (n < 128)
		return crc_hw3(c, p, n);
	a0 = _mm256_xor_si256(_mm256_loadu_si256((const void *)p),
	    _mm256_zextsi128_si256(_mm_cvtsi32_si128((int)c)));
	a1 = _mm256_loadu_si256((const void *)(p + 32));
	a2 = _mm256_loadu_si256((const void *)(p + 64));
	a3 = _mm256_loadu_si256((const void *)(p + 96));
	p += 128;
	n -= 128;
	k = _mm256_set_epi64x(kfold128[1], kfold128[0], kfold128[1],
	    kfold128[0]);
	for (; n >= 128; p += 128, n -= 128) {
		a0 = fold256(a0, k, _mm256_loadu_si256((const void *)p));
		a1 = fold256(a1, k, _mm256_loadu_si256((const void *)(p + 32)));
		a2 = fold256(a2, k, _mm256_loadu_si256((const void *)(p + 64)));
		a3 = fold256(a3, k, _mm256_loadu_si256((const void *)(p + 96)));
	}
	return crc_hw3(fold_end(a0, a1, a2, a3), p, n);
}
#endif

/* crc32c(0, buf, len) starts a CRC; pass a previous result to continue. */
uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	uint32_t c = ~crc;

#if defined(__x86_64__)
	if (have_fold && len >= FOLD_MIN)
		return ~crc_fold(c, buf, len);
	if (have_hw)
		return ~(len >= 3 * BLK_TINY ? crc_hw3(c, buf, len) :
		    crc_hw(c, buf, len));
#endif
	return ~crc_sw(c, buf, len);
}

int
crc32c_path_ok(int path)
{
	switch (path) {
	case CRC32C_SW:
		return 1;
	case CRC32C_HW1:
	case CRC32C_HW3:
		return have_hw;
	case CRC32C_FOLD:
#if defined(__x86_64__)
		return have_fold;
#else
		return 0;
#endif
	}
	return 0;
}

uint32_t
crc32c_path(int path, uint32_t crc, const void *buf, size_t len)
{
	uint32_t c = ~crc;

#if defined(__x86_64__)
	if (path == CRC32C_HW1 && have_hw)
		return ~crc_hw(c, buf, len);
	if (path == CRC32C_HW3 && have_hw)
		return ~crc_hw3(c, buf, len);
	if (path == CRC32C_FOLD && have_fold)
		return ~(len >= 128 ? crc_fold(c, buf, len) :
		    crc_hw3(c, buf, len));
#endif
	return ~crc_sw(c, buf, len);
}

#if defined(__x86_64__)
/*
 * Three independent CRCs at once: the crc32 instruction has a latency of
 * three cycles and a throughput of one, so three chains run in the time
 * of one.
 */
__attribute__((target("sse4.2")))
static void
crc_hw3buf(const uint8_t *p[3], const size_t n[3], uint32_t out[3])
{
	uint64_t c0 = 0xffffffff, c1 = 0xffffffff, c2 = 0xffffffff, w0, w1, w2;
	size_t m = n[0], i, k;

	if (n[1] < m)
		m = n[1];
	if (n[2] < m)
		m = n[2];
	m &= ~(size_t)7;
	for (i = 0; i < m; i += 8) {
		memcpy(&w0, p[0] + i, 8);
		memcpy(&w1, p[1] + i, 8);
		memcpy(&w2, p[2] + i, 8);
		c0 = __builtin_ia32_crc32di(c0, w0);
		c1 = __builtin_ia32_crc32di(c1, w1);
		c2 = __builtin_ia32_crc32di(c2, w2);
	}
	out[0] = (uint32_t)c0;
	out[1] = (uint32_t)c1;
	out[2] = (uint32_t)c2;
	for (k = 0; k < 3; k++)
		out[k] = ~crc_hw(out[k], p[k] + m, n[k] - m);
}
#endif

void
crc32c_3(const void *a, size_t na, const void *b, size_t nb, const void *c,
    size_t nc, uint32_t out[3])
{
#if defined(__x86_64__)
	if (have_hw) {
		const uint8_t *p[3] = { a, b, c };
		const size_t n[3] = { na, nb, nc };

		crc_hw3buf(p, n, out);
		return;
	}
#endif
	out[0] = crc32c(0, a, na);
	out[1] = crc32c(0, b, nb);
	out[2] = crc32c(0, c, nc);
}

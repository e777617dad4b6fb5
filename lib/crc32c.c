/*
 * CRC32C (Castagnoli), as used by iSCSI, ext4 and Kafka record batches.
 * SSE4.2 has an instruction for it; elsewhere a slicing-by-8 table.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bus.h"

#define POLY	0x82f63b78u

static uint32_t	table[8][256];
static int	have_hw;

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
#endif

/* crc32c(0, buf, len) starts a CRC; pass a previous result to continue. */
uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	uint32_t c = ~crc;

#if defined(__x86_64__)
	if (have_hw)
		return ~crc_hw(c, buf, len);
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
crc_hw3(const uint8_t *p[3], const size_t n[3], uint32_t out[3])
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

		crc_hw3(p, n, out);
		return;
	}
#endif
	out[0] = crc32c(0, a, na);
	out[1] = crc32c(0, b, nb);
	out[2] = crc32c(0, c, nc);
}

/*
 * Kafka's murmur2, byte for byte as org.apache.kafka.common.utils.Utils
 * computes it (a MurmurHash2 variant: little-endian 4-byte words, the
 * length mixed into the seed, the tail folded in from its last byte
 * down), and its default partitioner built on it.  Java's int arithmetic
 * wraps; here it is done on uint32_t, which wraps the same way.
 */
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define MURMUR2_SEED	0x9747b28cU
#define MURMUR2_M	0x5bd1e995U
#define MURMUR2_R	24

int32_t
murmur2(const void *data, size_t len)
{
	const uint8_t *b = data;
	uint32_t h = MURMUR2_SEED ^ (uint32_t)len, k;
	size_t i, n4 = len / 4;

	for (i = 0; i < n4; i++) {
		k = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
		    (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
		k *= MURMUR2_M;
		k ^= k >> MURMUR2_R;
		k *= MURMUR2_M;
		h *= MURMUR2_M;
		h ^= k;
	}
	b += n4 * 4;
	switch (len % 4) {
	case 3:
		h ^= (uint32_t)b[2] << 16;
		/* FALLTHROUGH */
	case 2:
		h ^= (uint32_t)b[1] << 8;
		/* FALLTHROUGH */
	case 1:
		h ^= b[0];
		h *= MURMUR2_M;
	}
	h ^= h >> 13;
	h *= MURMUR2_M;
	h ^= h >> 15;
	return (int32_t)h;
}

uint32_t
key_partition(const void *key, size_t len, uint32_t n)
{
	return ((uint32_t)murmur2(key, len) & 0x7fffffffU) % n;
}

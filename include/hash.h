/*
 * Kafka's default partitioner, so that a key lands in the same partition
 * number here as in a Kafka topic with as many partitions.
 */
#ifndef BUS_HASH_H
#define BUS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's Utils.murmur2 (seed 0x9747b28c) of len bytes, as an int32. */
int32_t	murmur2(const void *, size_t);
/* Kafka's partition of a key among n: (murmur2 & 0x7fffffff) % n. */
uint32_t key_partition(const void *, size_t, uint32_t);

#endif /* BUS_HASH_H */

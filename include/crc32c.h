/*
 * CRC32C (Castagnoli), the checksum of segments, records and indexes;
 * SSE4.2 (and VPCLMULQDQ) when the processor has it.
 */
#ifndef BUS_CRC32C_H
#define BUS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t	crc32c(uint32_t, const void *, size_t);
/* The CRC32C of three buffers at once (faster than one after another). */
void	crc32c_3(const void *, size_t, const void *, size_t, const void *,
	    size_t, uint32_t[3]);

#endif /* BUS_CRC32C_H */

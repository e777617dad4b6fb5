/*
 * The ways lib/crc32c.c computes a CRC32C, each forced: for the tests and
 * the benchmark, which compare them.  Other callers use crc32c().
 */
#ifndef BUS_CRC32C_PATH_H
#define BUS_CRC32C_PATH_H

#include <stddef.h>
#include <stdint.h>

#define CRC32C_SW	0	/* slicing-by-8 tables, any processor */
#define CRC32C_HW1	1	/* SSE4.2, one chain of crc32 instructions */
#define CRC32C_HW3	2	/* SSE4.2, three chains, then combined */
#define CRC32C_FOLD	3	/* AVX2 VPCLMULQDQ folding, then HW3 */
#define CRC32C_NPATH	4

/* Can this processor take that path? */
int		crc32c_path_ok(int);
/* crc32c() by that path (by the tables when it cannot be taken). */
uint32_t	crc32c_path(int, uint32_t, const void *, size_t);

#endif /* BUS_CRC32C_PATH_H */

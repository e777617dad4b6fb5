/*
 * The sparse index beside each segment (bus-segment(5)).
 */
#ifndef BUS_INDEX_H
#define BUS_INDEX_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/*
 * Index file <base>.idx beside each segment: a 16-byte header, then one
 * 24-byte entry per BUS_IDX_EVERY bytes of segment (roughly), each for
 * the batch that starts there:
 *   header: magic "BUSIDX\0\2", base offset u64
 *   entry:  base offset u64, base receive time ns i64, file position u64
 *           of a batch
 * Entries are strictly increasing in all three fields.  An index is a
 * cache: readers check each entry they use against the segment, and
 * busd rebuilds any index it doubts.
 */
#define BUS_IDX_MAGIC		"BUSIDX\0\2"
#define BUS_IDX_HDR		16
#define BUS_IDX_ENT		24
#define BUS_IDX_EVERY		(64 * 1024)

struct bus_idx_ent {
	uint64_t	offset;
	int64_t		recv_ns;
	uint64_t	pos;
};

void	idx_hdr_encode(uint8_t *, uint64_t);
void	idx_ent_encode(uint8_t *, const struct bus_idx_ent *);
void	idx_ent_decode(const uint8_t *, struct bus_idx_ent *);
/*
 * Load the index of a segment: returns entries (caller frees) and count,
 * or NULL with *n = 0 when missing or unusable (then callers scan).
 */
struct bus_idx_ent *idx_load(int, const char *, uint64_t, size_t *);
/* Last entry with key <= wanted; -1 if none. by_time: compare recv_ns. */
ssize_t	idx_search(const struct bus_idx_ent *, size_t, int, uint64_t);
/*
 * Rebuild an index from a segment fd, write it to dirfd/name via rename;
 * the last argument: 1 not to sync it (an active segment's).
 */
int	idx_rebuild(int, int, const char *, uint64_t, uint64_t *, int);

#endif /* BUS_INDEX_H */

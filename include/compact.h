/*
 * Compaction: rewriting sealed segments keeping the newest record per key,
 * and the recovery of a rewrite interrupted by a crash.
 */
#ifndef BUS_COMPACT_H
#define BUS_COMPACT_H

#include <stddef.h>
#include <stdint.h>

struct compact_opts {
	int64_t		 tombstone_age;	/* ns a tombstone is kept */
	uint64_t	 segment_size;	/* merge small segments up to */
	int		 dry_run;
	int64_t		 now;
};

struct compact_result {
	size_t		 segs_before, segs_after;	/* sealed segments */
	uint64_t	 recs_before, recs_after;
	uint64_t	 bytes_before, bytes_after;
	size_t		 rewritten;	/* output segments written */
};

/*
 * Finish or undo what an interrupted rewrite left in a partition (name,
 * directory fd; the caller holds its lock): *.merged manifests, *.swap
 * files are completed, *.cleaned files deleted.  Returns the number of
 * leftovers handled (>= 0) or an OPS_* error; what was done is described
 * in note (empty when nothing).
 */
int	compact_recover(const char *, int, char *, size_t, char *, size_t);
/* Are there leftovers of an interrupted rewrite?  (No lock needed.) */
int	compact_leftovers(int);

/*
 * Compact the sealed segments of one partition (name, directory fd),
 * locked by the caller: keep the newest record of each (topic, key) and
 * every record without a key; drop tombstones older than tombstone_age;
 * merge small sealed segments.  Offsets are kept.
 */
int	compact_partition(const char *, int, const struct compact_opts *,
	    struct compact_result *, char *, size_t);

/*
 * Install B.seg.swap and B.idx.swap of partition (name, directory fd) in
 * place of B.seg and B.idx: step 4 of the protocol above, for another
 * rewrite of one segment (recompress.c).  OPS_OK or OPS_IO with err.
 */
int	compact_install(int, const char *, uint64_t, char *, size_t);
struct stat;
/* A file of a rewrite, made like the one it replaces (owner, mode). */
int	compact_create(int, const char *, const char *, const struct stat *,
	    char *, size_t);

#endif /* BUS_COMPACT_H */

/*
 * Compression of sealed segments (bus-rotate --compress): each sealed
 * segment with plain batches is rewritten as compressed batches, with
 * compaction's crash-safe rename protocol.
 */
#ifndef BUS_RECOMPRESS_H
#define BUS_RECOMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RECOMPRESS_GROUP_DEFAULT (256 * 1024)	/* raw bytes per batch */
#define RECOMPRESS_GROUP_MIN	 (4 * 1024)
#define RECOMPRESS_GROUP_MAX	 (16 * 1024 * 1024)

struct recompress_opts {
	int		 codec;		/* ZC_ZSTD or ZC_LZ4 */
	int		 level;		/* checked by zc_level_check() */
	size_t		 group;		/* raw record bytes per batch, at most */
	int		 dry_run;	/* decide and report, change nothing */
	FILE		*report;	/* one line per segment, or NULL */
};

struct recompress_result {
	size_t		 sealed;	/* sealed segments looked at */
	size_t		 done;		/* (would be) rewritten */
	size_t		 already;	/* compressed before: left alone */
	uint64_t	 recs;		/* records of the rewritten ones */
	uint64_t	 bytes_before;	/* their size before */
	uint64_t	 bytes_after;	/* and after (0 in a dry run) */
};

/*
 * Compress the sealed segments of one partition (name, directory fd),
 * locked by the caller and recovered of any interrupted rewrite: each one
 * whose first batch is plain is rewritten, record by record, into batches
 * of up to group raw bytes compressed with codec at level; offsets,
 * times, producers, sequences, keys, tags and payloads stay exactly as
 * they were, and a new index points at the new batches.  A segment that
 * does not read back to its last byte is left alone and reported (file
 * and byte offset) as OPS_DAMAGED, after the others were done.  OPS_OK
 * or an OPS_* error with err.
 */
int	recompress_partition(const char *, int, const struct recompress_opts *,
	    struct recompress_result *, char *, size_t);

#endif /* BUS_RECOMPRESS_H */

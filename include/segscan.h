/*
 * The one segment scanner: read a segment file from any position, batch
 * by batch or record by record, stop at the last batch that checks out, say where and why the
 * next one does not, and find the next valid record past damage.  busd's
 * recovery, the index rebuild, busd --verify, the partition reader's
 * damage path and the cron tools all read segments through it.
 */
#ifndef BUS_SEGSCAN_H
#define BUS_SEGSCAN_H

#include <sys/types.h>

#include <stdint.h>

#include "bus.h"

/* Sequential reader of one segment file. */
struct segscan {
	int		 fd;		/* the segment */
	int		 own;		/* segscan_close() closes fd */
	uint64_t	 base;		/* base offset from its header */
	int64_t		 created;	/* creation time from its header */
	uint64_t	 size;		/* file size when opened */
	uint64_t	 pos;		/* file position of buf[off] */
	uint8_t		*buf;		/* bytes read, not yet returned */
	size_t		 cap;		/* grows to BUS_BATCH_MAX for a batch */
	size_t		 have, off;	/* bytes in buf, bytes returned */
	struct bus_batch bat;		/* the batch of the last record */
	struct batch_iter it;		/* its records not yet returned */
	int		 inb;		/* it has records left */
	int		 first;		/* the last record was its first */
	struct batch_buf zbuf;		/* its records, decompressed */
	const uint8_t	*raw;		/* encoded bytes of that batch */
	uint64_t	 rpos;		/* its file position */
	const char	*why;		/* what is wrong, after SS_DAMAGED */
};

enum {
	SS_REC = 1,		/* a record (or batch) was returned */
	SS_END = 0,		/* no whole batch follows (see segscan_at) */
	SS_DAMAGED = -1,	/* a batch that does not check out */
	SS_IOERR = -2		/* read failed; errno set */
};

/*
 * Open dirfd/name and check its header: 0, SS_IOERR (errno), or
 * SS_DAMAGED with ss->why.  want_base, unless UINT64_MAX, must match.
 * The scan starts just after the header.
 */
int	segscan_open(struct segscan *, int, const char *, uint64_t);
/*
 * Scan the open segment fd from file position pos, without looking at
 * its header; segscan_close() leaves fd open.  0, or SS_IOERR (errno).
 */
int	segscan_init(struct segscan *, int, uint64_t);
/*
 * The next record into r (its bytes stay valid until the next call; its
 * batch is ss->bat at ss->raw, file position ss->rpos, ss->first set for
 * its first record): SS_REC; SS_END when the file ends before a whole
 * batch (at its end, or in a batch still being written: segscan_at() <
 * size); SS_DAMAGED with ss->why, the damaged batch starting at
 * segscan_at(); SS_IOERR.
 */
int	segscan_next(struct segscan *, struct bus_rec *);
/*
 * The next whole batch into *b (the rest of a batch whose records were
 * being returned is skipped); ss->raw and ss->rpos as above.  The same
 * results as segscan_next(); a compressed batch is checked too.
 */
int	segscan_next_batch(struct segscan *, struct bus_batch *);
/* Continue at file position pos (a batch boundary). */
void	segscan_seek(struct segscan *, uint64_t);
/* File position just after the batch of the last record returned. */
uint64_t segscan_at(const struct segscan *);
/*
 * Past damage: find the first position at or after from where a valid
 * batch with a last offset above after starts, and continue there.  1
 * found (segscan_at() is its position), 0 none (the position is
 * unchanged), SS_IOERR.
 */
int	segscan_resync(struct segscan *, uint64_t, uint64_t);
void	segscan_close(struct segscan *);
/*
 * The same on a bare fd: the first position at or after from where a
 * valid batch with a last offset above after starts.  1 found (*at), 0
 * none, -1 error.
 */
int	seg_resync(int, uint64_t, uint64_t, uint64_t *);

/* What one segment holds. */
struct seg_summary {
	uint64_t	 base;
	uint64_t	 bytes;		/* size of the .seg file */
	int64_t		 created;	/* from the header */
	int		 any;		/* it holds a record */
	uint64_t	 first_off, last_off;
	int64_t		 first_recv, last_recv;
	int		 counted;	/* nrecs and end are exact */
	uint64_t	 nrecs;		/* records */
	uint64_t	 end;		/* end of the last whole batch */
	int		 damaged;	/* bytes after end are not batches */
	int		 bad_header;	/* the header is damaged */
	const char	*why;
};

/*
 * Summarize dirfd/<base>.seg.  Without count, it reads the first batch
 * and, through the index, the last ones only (nrecs then counts the
 * batches' records it read).  0, SS_IOERR or
 * SS_DAMAGED (header; s->why).
 */
int	seg_summary(int, uint64_t, int, struct seg_summary *);

#endif /* BUS_SEGSCAN_H */

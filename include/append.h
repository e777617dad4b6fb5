/*
 * The one appender of records and sparse index entries to a segment and
 * its index: busd's partition writer and compaction's rewrite.  Records
 * are encoded straight into its buffer and written with one write(2) per
 * flush, their index entries with one more; a failed write cuts the file
 * back, so that no partial record is ever left behind.
 *
 *	p = app_reserve(a, rs);			room for a record of rs bytes
 *	seg_rec_encode_nocrc(p, &rec);		(or a copy of a whole record)
 *	app_commit_rec(a, rs, rec.offset, rec.recv_ns);
 *	...
 *	app_flush(a);				CRCs, then the writes
 */
#ifndef BUS_APPEND_H
#define BUS_APPEND_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#define APP_IBUF	64		/* index entries held before a flush */

struct app {
	int		 sfd, ifd;	/* segment, index: written at their end */
	int		 crc;		/* app_flush() fills in the CRCs */
	uint64_t	 size;		/* bytes of the segment on disk */
	uint64_t	 idx_size;	/* bytes of the index on disk */
	uint64_t	 idx_pos;	/* segment position of the last entry */
	int		 idx_any;	/* the segment has an index entry */
	uint8_t		*wbuf;		/* records not yet written */
	size_t		 wlen, wcap;
	uint8_t		 ibuf[BUS_IDX_ENT * APP_IBUF]; /* entries not yet written */
	size_t		 ilen;
	int		 failed;	/* errno of a failed write, until cleared */
	uint64_t	 done_idx_pos;	/* idx_pos, idx_any of the entries */
	int		 done_idx_any;	/*   in the index file */
	/* Where app_mark() found the files, for app_undo(). */
	uint64_t	 mark_size, mark_idx_size, mark_idx_pos;
	int		 mark_idx_any;
};

/*
 * Start appending to segment sfd (size bytes) and index ifd (idx_size
 * bytes; its last entry at segment position idx_pos if idx_any) with a
 * buffer of wcap bytes.  With crc, app_flush() computes the records'
 * CRCs (seg_rec_encode_nocrc); without, records come with theirs.
 * 0, or -1 with errno.
 */
int	app_init(struct app *, int, int, uint64_t, uint64_t, uint64_t, int,
	    size_t, int);
/*
 * Switch to another segment and index (a new one after a seal: sizes
 * BUS_SEG_HDR, BUS_IDX_HDR, no entry), keeping the buffer; what was
 * pending is dropped.  Arguments as app_init()'s.
 */
void	app_reset(struct app *, int, int, uint64_t, uint64_t, uint64_t, int);
void	app_free(struct app *);
/*
 * Where to put the next record, of len bytes: flushes first when the
 * buffers are full, grows the buffer for a record larger than it.  NULL
 * if that flush failed (a->failed, errno) or memory ran out.
 */
uint8_t	*app_reserve(struct app *, size_t);
/* Segment position of the next record. */
uint64_t app_pos(const struct app *);
/*
 * Take the record just put at app_reserve()'s pointer (len bytes, its
 * offset and receive time), with an index entry for it when it is the
 * segment's first or BUS_IDX_EVERY bytes past the last entry.
 */
void	app_commit_rec(struct app *, size_t, uint64_t, int64_t);
/*
 * Write what is pending: records, then index entries.  0; -1 when the
 * records could not be written (the segment is cut back to its size
 * before, pending entries dropped, a->failed and errno set; -1 also
 * when nothing is pending but a->failed is set); -2 when only the index
 * write failed (the index is cut back; it is a cache and can be rebuilt).
 */
int	app_flush(struct app *);
/* Remember where the files are now; app_undo() cuts them back there. */
void	app_mark(struct app *);
int	app_undo(struct app *);
/*
 * All of buf (len bytes) to fd, as the appender writes: 0, or -1 with
 * errno (EIO for a write of nothing).
 */
int	app_write(int, const void *, size_t);

#endif /* BUS_APPEND_H */

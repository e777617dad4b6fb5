/*
 * The one appender of record batches and sparse index entries to a
 * segment and its index: busd's partition writer, compaction's rewrite
 * and verify's repair.  Records are encoded straight into its buffer,
 * into the open batch while they fit it, and written with one write(2)
 * per flush, their index entries with one more; a failed write cuts the
 * file back, so that no partial batch is ever left behind.
 *
 *	app_add(a, &rec);			a record, offset and times set
 *	app_add_block(a, &b, block, len, n);	a block batch
 *	app_add_batch(a, raw, &b);		a whole batch, as it is
 *	...
 *	app_flush(a);				close the batch, write
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
	uint64_t	 size;		/* bytes of the segment on disk */
	uint64_t	 idx_size;	/* bytes of the index on disk */
	uint64_t	 idx_pos;	/* segment position of the last entry */
	int		 idx_any;	/* the segment has an index entry */
	uint8_t		*wbuf;		/* batches not yet written */
	size_t		 wlen, wcap;
	struct bus_batch bat;		/* the open batch */
	size_t		 bstart;	/* its position in wbuf */
	int		 bopen;		/* a batch is open */
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
 * buffer of wcap bytes.  0, or -1 with errno.
 */
int	app_init(struct app *, int, int, uint64_t, uint64_t, uint64_t, int,
	    size_t);
/*
 * Switch to another segment and index (a new one after a seal: sizes
 * BUS_SEG_HDR, BUS_IDX_HDR, no entry), keeping the buffer; what was
 * pending is dropped.  Arguments as app_init()'s.
 */
void	app_reset(struct app *, int, int, uint64_t, uint64_t, uint64_t, int);
void	app_free(struct app *);
/* Segment position of the end of what was added so far. */
uint64_t app_pos(const struct app *);
/*
 * Most bytes a record of r's sizes can add to the segment (a new batch
 * included): what a writer compares with the room left.
 */
size_t	app_rec_bound(const struct bus_rec *);
/*
 * Add record r (offset, times, producer, sequence set; offset and
 * receive time above the last one added) to the open batch if it fits
 * it, else to a new one, with an index entry for a new batch that is
 * the segment's first or BUS_IDX_EVERY bytes past the last entry.
 * Flushes first when the buffer is full.  0; -1 if that flush failed
 * (a->failed, errno) or memory ran out (errno ENOMEM, a->failed 0).
 */
int	app_add(struct app *, const struct bus_rec *);
/*
 * Add a block batch: header fields in *b (attrs with BUS_BA_BLOCK,
 * delim, base_off, base_recv, base_send, base_event, producer,
 * base_seq, topic, tags), the count records of the len bytes of block.
 * Results as app_add().
 */
int	app_add_block(struct app *, struct bus_batch *, const uint8_t *,
	    size_t, uint32_t);
/* Add a whole checked batch (raw, decoded as *b) as it is. */
int	app_add_batch(struct app *, const uint8_t *, const struct bus_batch *);
/* Close the open batch: the next record starts a new one. */
void	app_close(struct app *);
/*
 * Close the open batch and write what is pending: batches, then index
 * entries.  0; -1 when the batches could not be written (the segment is
 * cut back to its size before, pending entries dropped, a->failed and
 * errno set; -1 also when nothing is pending but a->failed is set); -2
 * when only the index write failed (the index is cut back; it is a
 * cache and can be rebuilt).
 */
int	app_flush(struct app *);
/*
 * Remember where the files are now (closing the open batch);
 * app_undo() cuts them back there and drops what is pending.
 */
void	app_mark(struct app *);
int	app_undo(struct app *);
/*
 * All of buf (len bytes) to fd, as the appender writes: 0, or -1 with
 * errno (EIO for a write of nothing).
 */
int	app_write(int, const void *, size_t);

#endif /* BUS_APPEND_H */

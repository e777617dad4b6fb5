/*
 * The record batch of segment format 2 (bus-segment(5)): one header with
 * what its records share, then the records with only what differs.  The
 * byte-exact description lives in the man page; the constants below are
 * the single source it is written from.
 *
 * Batch (BUS_BATCH_HDR bytes of fixed header, then the variable part):
 *
 *   0  4  len: bytes that follow this field
 *   4  4  crc: CRC32C of the len - 4 bytes that follow this field
 *   8  1  version, BUS_BATCH_VERSION
 *   9  1  attributes: bits 0-2 codec (BUS_BA_CODEC_*), bit 3 block
 *  10  1  delimiter of a block batch; 0 otherwise
 *  11  1  topic length (1..255)
 *  12  4  record count (>= 1)
 *  16  4  last offset delta: offset of the last record - base offset
 *  20  4  records length: bytes of the records section, uncompressed
 *  24  8  base offset: offset of the first record
 *  32  8  base receive time: receive time of the first record
 *  40  8  last receive time: receive time of the last record
 *  48  8  base send time
 *  56  8  base event time
 *  64  8  producer id
 *  72  8  base sequence: sequence number of the first record
 *  80  4  tags length: common tags, block batches only (0 otherwise)
 *  84     topic, tags, records section (compressed when codec != 0)
 *
 * Record of a record batch (attributes bit 3 clear):
 *
 *   uvarint  body length: bytes that follow this varint
 *   u8       flags (BUS_F_*)
 *   uvarint  offset - base offset (0 for the first; strictly increasing)
 *   uvarint  receive time - base receive time (0 for the first; strictly
 *            increasing)
 *   svarint  send time - base send time
 *   svarint  event time - base event time
 *   uvarint  sequence - base sequence
 *   uvarint  key length, key
 *   uvarint  tags length, tags
 *            payload: the rest of the body
 *
 * A block batch (attributes bit 3 set) holds count records, each its
 * payload followed by the delimiter byte: the records section is the
 * delimited block as the publisher read it.  Record i has offset base + i,
 * receive time base + i, sequence base + i, the base send and event
 * times, the batch's tags, no key and no flags.
 *
 * uvarint: unsigned LEB128, 7 bits a byte, low bits first, at most 10
 * bytes.  svarint: the zigzag encoding (n << 1) ^ (n >> 63) as a uvarint.
 */
#ifndef BUS_BATCH_H
#define BUS_BATCH_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "segment.h"	/* struct bus_rec */
#include "zcodec.h"	/* compressed records sections */

#define BUS_BATCH_VERSION	2
#define BUS_BATCH_HDR		84	/* fixed header */
/* Largest batch a reader accepts: len + 4 is at most this. */
#define BUS_BATCH_MAX		((size_t)BUS_MESSAGE_MAX_LIMIT + 4 * 1024 * 1024)
/* Largest encoded record of a record batch besides its payload. */
#define BUS_BATCH_REC_OVER	(5 + 1 + 10 + 10 + 10 + 10 + 10 + 3 + 5)
/* Writers close a batch of several records once it reaches this. */
#define BUS_BATCH_TARGET	(256 * 1024)

#define BUS_BA_CODEC_MASK	0x07	/* attributes: compression codec */
#define BUS_BA_CODEC_NONE	0	/* records section as is */
#define BUS_BA_CODEC_ZSTD	1	/* records section is one zstd frame */
#define BUS_BA_CODEC_LZ4	2	/* records section is one LZ4 block */
#define BUS_BA_BLOCK		0x08	/* attributes: a delimited block */
#define BUS_BA_MASK		0x0f	/* attribute bits defined */

/*
 * A decoded batch header: pointers into the buffer it was decoded from.
 * Also the state of a batch being written (batch_begin/add/finish).
 */
struct bus_batch {
	size_t		 size;		/* bytes of the whole batch, len + 4 */
	size_t		 hdr;		/* fixed header + topic + tags */
	uint8_t		 attrs;		/* BUS_BA_* */
	uint8_t		 delim;		/* block batch: the delimiter */
	uint32_t	 count;		/* records */
	uint32_t	 last_delta;	/* last offset - base offset */
	uint32_t	 recs_len;	/* records section bytes, uncompressed */
	uint64_t	 base_off;	/* offset of the first record */
	int64_t		 base_recv;	/* receive time of the first record */
	int64_t		 last_recv;	/* receive time of the last record */
	int64_t		 base_send;	/* send times are deltas from it */
	int64_t		 base_event;	/* event times are deltas from it */
	uint64_t	 producer;	/* producer id of all its records */
	uint64_t	 base_seq;	/* sequence of the first record */
	const char	*topic;		/* not NUL-terminated */
	size_t		 topic_len;
	const uint8_t	*tags;		/* common tags of a block batch */
	size_t		 tags_len;
	const uint8_t	*recs;		/* records section as stored */
	size_t		 stored_len;	/* its bytes as stored (size - hdr) */
};

/* The codec of a batch's attributes. */
static inline unsigned int
batch_codec(const struct bus_batch *b)
{
	return b->attrs & BUS_BA_CODEC_MASK;
}

/* Last offset of a batch. */
static inline uint64_t
batch_last_off(const struct bus_batch *b)
{
	return b->base_off + b->last_delta;
}

/* ------------------------------------------------------------ varints */

/* Encode v at p; returns the bytes written (1..10). */
size_t	uvarint_put(uint8_t *, uint64_t);
/* Decode at p (avail bytes) into *v: bytes read, or 0 if malformed. */
size_t	uvarint_get(const uint8_t *, size_t, uint64_t *);
size_t	uvarint_len(uint64_t);

/* ------------------------------------------------------------ writing */

/* The header fields of a record batch whose first record is r. */
void	batch_init(struct bus_batch *, const struct bus_rec *);
/*
 * Start a batch at p: b holds the header fields known now (attrs, delim,
 * base_off, base_recv, base_send, base_event, producer, base_seq, topic,
 * tags); count, last_delta, last_recv and recs_len start at zero and
 * b->hdr is set.  Returns the header size: the records section starts at
 * p + b->hdr.
 */
size_t	batch_begin(uint8_t *, struct bus_batch *);
/* Bytes a record batch's record of r takes. */
size_t	batch_rec_size(const struct bus_batch *, const struct bus_rec *);
/*
 * Can r be the next record of the record batch b?  Same topic and
 * producer, offset and receive time above the last, sequence not below
 * the base, times within the varint's range.
 */
int	batch_fits(const struct bus_batch *, const struct bus_rec *);
/*
 * Append r (batch_fits() said yes, or it is the first) at p, the end of
 * the records written so far; updates count, last_delta, last_recv and
 * recs_len.  Returns the bytes written.
 */
size_t	batch_add(uint8_t *, struct bus_batch *, const struct bus_rec *);
/*
 * A block batch's records: count records in the len bytes already at the
 * records section's place (each ended by b->delim).  Sets count,
 * last_delta, last_recv and recs_len.
 */
void	batch_block(struct bus_batch *, uint32_t, size_t);
/*
 * Write the counts, lengths and CRC of the batch starting at p whose
 * records section (b->recs_len bytes, or stored_len if compressed)
 * follows its header.  Returns the batch's size.  The _nocrc variant
 * leaves the CRC for batch_crc() (several batches at once).
 */
size_t	batch_finish(uint8_t *, struct bus_batch *);
size_t	batch_finish_nocrc(uint8_t *, struct bus_batch *);
void	batch_crc(uint8_t *, size_t);

/* A record batch of the one record r: its size, and its encoding. */
size_t	batch_one_size(const struct bus_rec *);
size_t	batch_one(uint8_t *, const struct bus_rec *);

/* How many bytes of p[0..len) are the delimiter d. */
size_t	batch_count_delim(const uint8_t *, size_t, uint8_t);

/* ------------------------------------------------------------ reading */

/*
 * Decode and verify the batch at p (avail bytes).  Returns its size, 0
 * if avail does not hold all of it yet, -1 with *why if it is damaged:
 * a length out of range, a CRC mismatch, a bad header field, or (when
 * uncompressed) a records section that batch_check_recs() refuses.
 */
ssize_t	batch_decode(const uint8_t *, size_t, struct bus_batch *,
	    const char **);
/* The same without looking at the records section (CRC included). */
ssize_t	batch_decode_hdr(const uint8_t *, size_t, struct bus_batch *,
	    const char **);
/*
 * Check an uncompressed records section (len bytes, equal to recs_len)
 * against the header: every record well formed, count, offsets and
 * receive times as the header says.  0, or -1 with *why.
 */
int	batch_check_recs(const struct bus_batch *, const uint8_t *, size_t,
	    const char **);
/* Cheap check of the fixed fields: could a batch start here? */
int	batch_plausible(const uint8_t *, size_t);

/*
 * The uncompressed records section of the decoded batch b: b->recs
 * itself when it is not compressed, else decompressed into buf (grown
 * as needed; free with batch_buf_free) and checked with
 * batch_check_recs().  0 and *recs, or -1 with *why (damaged, or a
 * codec this build cannot decompress).
 */
struct batch_buf {
	struct zc	 z;		/* decompressor and its records */
};
int	batch_recs(const struct bus_batch *, struct batch_buf *,
	    const uint8_t **, const char **);
void	batch_buf_free(struct batch_buf *);

/*
 * The records of a batch, in order, from its uncompressed records
 * section (checked by batch_decode or batch_check_recs).
 */
struct batch_iter {
	const struct bus_batch *b;	/* its header */
	const uint8_t	*p;		/* next record */
	const uint8_t	*end;		/* end of the records section */
	uint32_t	 i;		/* records returned */
	uint64_t	 last_off;	/* offset of the last one returned */
	int64_t		 last_recv;	/* its receive time */
};
void	batch_iter_init(struct batch_iter *, const struct bus_batch *,
	    const uint8_t *, size_t);
/*
 * The next record into r (pointers into the section; r->size is its
 * encoded size, delimiter included): 1, 0 at the end, -1 malformed.
 */
int	batch_iter_next(struct batch_iter *, struct bus_rec *);

#endif /* BUS_BATCH_H */

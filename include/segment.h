/*
 * The segment format (bus-segment(5)): the record, its topic and tags,
 * the segment header.  The byte-exact description lives in the man page;
 * the constants below are the single source it is written from.
 */
#ifndef BUS_SEGMENT_H
#define BUS_SEGMENT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "bus/msg.h"	/* the public message, tags and limits */

#define BUS_MESSAGE_MAX_DEFAULT	(1024 * 1024)		/* --max-message */
#define BUS_MESSAGE_MAX_LIMIT	(64 * 1024 * 1024)	/* hard ceiling */
#define BUS_SEGMENT_SIZE_DEFAULT (64ULL * 1024 * 1024)	/* --segment-size */

/* ------------------------------------------------------------ the message */

#define BUS_F_MASK		0x01	/* flags defined in this version */

/*
 * A decoded record or message: pointers into the buffer it was decoded
 * from, valid as long as that buffer is.  Nothing is copied.
 */
struct bus_rec {
	uint64_t	 offset;	/* position in its partition */
	int64_t		 recv_ns;	/* stamped by busd; store-wide order */
	int64_t		 send_ns;	/* stamped by the publisher */
	int64_t		 event_ns;	/* given by the client */
	uint64_t	 producer;	/* producer id from the hello */
	uint64_t	 seq;		/* per-producer sequence number */
	uint8_t		 flags;		/* BUS_F_* */
	const char	*topic;		/* not NUL-terminated */
	size_t		 topic_len;
	const char	*key;		/* NULL when key_len == 0 */
	size_t		 key_len;
	const uint8_t	*tags;		/* encoded tag area, see tags_next() */
	size_t		 tags_len;
	const uint8_t	*payload;
	size_t		 payload_len;
	size_t		 size;		/* bytes of the whole encoded record */
};

/* 0 if valid; else -1 with a static reason in *why. */
int	topic_check(const char *, size_t, const char **);

/* Tags: an area of entries u16 name_len, u16 value_len, name, value. */
/* Next tag at *pos in area; 1 found, 0 end, -1 malformed. */
int	tags_next(const uint8_t *, size_t, size_t *, struct bus_tag *);
/* Append "NAME=VALUE" to an area of *len bytes (cap bytes); -1 if invalid. */
int	tags_add(uint8_t *, size_t, size_t *, const char *, const char **);
/* 0 if the whole area is well formed. */
int	tags_check(const uint8_t *, size_t);

/*
 * Segment file: a 32-byte header, then records back to back.
 *
 *   0  8  magic "BUSSEG\0\1" (the last byte is the format version)
 *   8  8  base offset (offset of the first record ever written to it)
 *  16  8  creation time, ns since the epoch (UTC)
 *  24  4  reserved, zero
 *  28  4  CRC32C of bytes 0..27
 *
 * Record (BUS_REC_HDR bytes of header, then the variable part):
 *
 *   0  4  len: bytes that follow this field (BUS_REC_HDR - 4 + variable)
 *   4  4  crc: CRC32C of the len - 4 bytes that follow this field
 *   8  1  flags (BUS_F_*)
 *   9  1  topic length (1..255)
 *  10  2  key length (0 = no key)
 *  12  4  tags length (bytes of the tag area)
 *  16  8  offset
 *  24  8  receive time ns
 *  32  8  send time ns
 *  40  8  event time ns
 *  48  8  producer id
 *  56  8  producer sequence number
 *  64     topic, key, tags, payload (payload length is what remains)
 */
#define BUS_SEG_MAGIC		"BUSSEG\0\1"
#define BUS_SEG_HDR		32
#define BUS_REC_HDR		64
#define BUS_REC_MAX		(BUS_REC_HDR + BUS_TOPIC_MAX + BUS_KEY_MAX + \
				 (size_t)BUS_MESSAGE_MAX_LIMIT + 1024 * 1024)

size_t	seg_rec_size(size_t, size_t, size_t, size_t);
/* Encode rec (offset, times, ids, flags, topic, key, tags, payload). */
size_t	seg_rec_encode(uint8_t *, const struct bus_rec *);
/* The same without the CRC; seg_crc_fill() adds it to a whole buffer. */
size_t	seg_rec_encode_nocrc(uint8_t *, const struct bus_rec *);
void	seg_crc_fill(uint8_t *, size_t);
/*
 * Decode the record at buf (avail bytes).  Returns its size, 0 if avail
 * does not hold all of it yet, -1 if it is corrupt (bad length, CRC or
 * field); with *why set.
 */
ssize_t	seg_rec_decode(const uint8_t *, size_t, struct bus_rec *,
	    const char **);
/* Cheap check of the fixed fields: could a record start here? */
int	seg_rec_plausible(const uint8_t *, size_t);
void	seg_hdr_encode(uint8_t *, uint64_t, int64_t);
/* 0 and *base if valid, -1 with *why otherwise. */
int	seg_hdr_decode(const uint8_t *, uint64_t *, int64_t *, const char **);

#endif /* BUS_SEGMENT_H */

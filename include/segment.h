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
 * Segment file: a 32-byte header, then record batches back to back
 * (batch.h).
 *
 *   0  8  magic "BUSSEG\0\2" (the last byte is the format version)
 *   8  8  base offset (offset of the first record ever written to it)
 *  16  8  creation time, ns since the epoch (UTC)
 *  24  4  reserved, zero
 *  28  4  CRC32C of bytes 0..27
 */
#define BUS_SEG_MAGIC		"BUSSEG\0\2"
#define BUS_SEG_VERSION		2
#define BUS_SEG_HDR		32

void	seg_hdr_encode(uint8_t *, uint64_t, int64_t);
/*
 * 0 and *base if valid, -1 with *why otherwise; a header of another
 * format version says so in *why, naming what to do.
 */
int	seg_hdr_decode(const uint8_t *, uint64_t *, int64_t *, const char **);
/* The format version of a segment header, or -1 if it is not one. */
int	seg_hdr_version(const uint8_t *);

#endif /* BUS_SEGMENT_H */

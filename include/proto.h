/*
 * The busd socket protocol (bus-protocol(7)).
 *
 * A frame is  u32 len | u8 type | body  where len counts the type byte
 * and the body.  Frame types and bodies:
 *
 *  HELLO      c->s  u32 magic "BUSP", u16 version, u8 ack level, u8 0,
 *                   u64 producer id (non-zero)
 *  HELLO_OK   s->c  u16 version, u16 0, u32 max message, u32 max frame,
 *                   u32 0, u64 producer id, u64 last sequence stored
 *  PUBLISH    c->s  u32 count, then count messages, each:
 *                   u64 seq, i64 send ns, i64 event ns, u8 flags,
 *                   u8 topic len, u16 key len, u32 tags len,
 *                   u32 payload len, topic, key, tags, payload
 *  ACK        s->c  u64 first seq, u32 count, u32 0, count x u64 offset
 *                   (BUS_OFFSET_DUP for a message already stored)
 *  PUBLISH_BLOCK c->s  u64 first seq, i64 send ns, i64 event ns, u32 count,
 *                   u8 delimiter, u8 topic len, u16 0, u32 tags len,
 *                   topic, tags, block: count records, each ended by the
 *                   delimiter (version 2)
 *  ACK_RUN    s->c  u64 first seq, u32 count, u32 0, u64 first offset:
 *                   count messages at consecutive offsets from it
 *                   (BUS_OFFSET_DUP: already stored) (version 2)
 *  ERROR      s->c  u64 seq (0: not about a message), u32 code,
 *                   u32 text len, text
 *  SEAL       c->s  u32 pattern len, pattern (PCRE2 on partition names;
 *                   empty: all)
 *  SEAL_OK    s->c  u32 segments sealed
 *  STATUS     c->s  (empty)
 *  STATUS_OK  s->c  a JSON document
 */
#ifndef BUS_PROTO_H
#define BUS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#define PROTO_MAGIC		0x50535542u	/* "BUSP" little-endian */
#define PROTO_VERSION		2
#define PROTO_FRAME_HDR		5		/* u32 len + u8 type */
#define PROTO_MSG_HDR		36		/* fixed part of a message */
#define PROTO_FRAME_MIN_MAX	(1024 * 1024)	/* max frame is at least */
#define BUS_OFFSET_DUP		UINT64_MAX

enum proto_type {
	PT_HELLO = 1,
	PT_HELLO_OK = 2,
	PT_PUBLISH = 3,
	PT_ACK = 4,
	PT_ERROR = 5,
	PT_SEAL = 6,
	PT_SEAL_OK = 7,
	PT_STATUS = 8,
	PT_STATUS_OK = 9,
	PT_PUBLISH_BLOCK = 10,
	PT_ACK_RUN = 11
};

enum proto_ack_level {
	ACK_NONE = 0,		/* no ACK frames are sent */
	ACK_WRITTEN = 1,	/* acked once write(2) to the segment returned */
	ACK_SYNCED = 2		/* acked once fdatasync(2) covered it */
};

enum proto_err {
	PE_PROTO = 1,		/* malformed frame; connection closed */
	PE_TOPIC = 2,		/* invalid topic */
	PE_TOOBIG = 3,		/* message over --max-message */
	PE_IO = 4,		/* write or sync failed (e.g. disk full) */
	PE_VERSION = 5,		/* unsupported protocol version */
	PE_BUSY = 6,		/* --max-clients reached */
	PE_ROUTE = 7,		/* no rule routes this topic */
	PE_PATTERN = 8,		/* invalid SEAL pattern */
	PE_NOSPC = 9		/* disk full */
};

/* Maximum frame size for a given maximum message size. */
size_t	proto_max_frame(size_t);

/*
 * Parse a frame at buf (avail bytes), limit max bytes per frame.
 * Returns frame size, 0 if incomplete, -1 if malformed (too long/short).
 */
ssize_t	proto_frame(const uint8_t *, size_t, size_t, uint8_t *,
	    const uint8_t **, size_t *);
/* Size of the whole frame whose first 4 bytes are at buf. */
size_t	proto_frame_size(const uint8_t *);
/* Write a frame header for type and body length; returns 5. */
size_t	proto_hdr(uint8_t *, uint8_t, size_t);

/*
 * One encoder and one decoder per frame type.  An encoder writes the
 * whole frame, header included, and returns its size; the buffer must
 * hold that size (PROTO_<TYPE>_SIZE or proto_<type>_size()).  A decoder
 * reads a body as proto_frame() returns it and fills the struct: 0, or
 * -1 if the body is malformed in any way, a byte too many included.
 * Pointers in a decoded struct point into the body.  Fields the page
 * shows as zero must be zero.
 */

/*
 * HELLO.  A HELLO of another version is not parsed beyond its version:
 * decode returns 0 with only version set, and the caller refuses it
 * with PE_VERSION.  Of version 2, a wrong magic, a non-zero reserved
 * byte, an ack level above ACK_SYNCED or a producer id of 0 is malformed.
 */
#define PROTO_HELLO_BODY	16
#define PROTO_HELLO_SIZE	(PROTO_FRAME_HDR + PROTO_HELLO_BODY)
struct proto_hello {
	uint16_t	 version;	/* protocol version, PROTO_VERSION */
	uint8_t		 ack;		/* enum proto_ack_level */
	uint64_t	 producer;	/* producer id, not zero */
};
size_t	proto_hello_encode(uint8_t *, const struct proto_hello *);
int	proto_hello_decode(const uint8_t *, size_t, struct proto_hello *);

/* HELLO_OK. */
#define PROTO_HELLO_OK_BODY	32
#define PROTO_HELLO_OK_SIZE	(PROTO_FRAME_HDR + PROTO_HELLO_OK_BODY)
struct proto_hello_ok {
	uint16_t	 version;	/* protocol version */
	uint32_t	 max_message;	/* largest message busd accepts */
	uint32_t	 max_frame;	/* largest frame busd accepts */
	uint64_t	 producer;	/* the producer id of the HELLO */
	uint64_t	 last_seq;	/* all up to it are stored; 0: none */
};
size_t	proto_hello_ok_encode(uint8_t *, const struct proto_hello_ok *);
int	proto_hello_ok_decode(const uint8_t *, size_t,
	    struct proto_hello_ok *);

/*
 * PUBLISH, written in place: proto_publish_begin() writes the header
 * and count of an empty PUBLISH and returns their size, PROTO_PUBLISH_HDR;
 * proto_msg_encode() appends each message after them,
 * proto_publish_finish() fills the header and count in once the frame's
 * length is known.  Read: proto_publish_decode() checks the count
 * against the body and gives the position of the first message,
 * proto_msg_decode() reads each one in turn, and proto_publish_end()
 * says whether the last one ended exactly at the body's end.
 */
#define PROTO_PUBLISH_HDR	(PROTO_FRAME_HDR + 4)	/* header, count */
size_t	proto_publish_begin(uint8_t *);
void	proto_publish_finish(uint8_t *, size_t, uint32_t);
int	proto_publish_decode(const uint8_t *, size_t, uint32_t *, size_t *);

static inline int
proto_publish_end(const uint8_t *body, size_t len, size_t pos)
{
	(void)body;
	return pos == len ? 0 : -1;
}

/*
 * One message of a PUBLISH at body[*pos] (len bytes of body); advances
 * *pos past it.  0, or -1 if its lengths run past the body (*pos then
 * unchanged).  Flags, topic and tags are the caller's to check, so that
 * it can name the refused message.
 */
int	proto_msg_decode(const uint8_t *, size_t, size_t *, struct bus_rec *);
size_t	proto_msg_size(size_t, size_t, size_t, size_t);
/* Encode one message (seq, times, flags, topic, key, tags, payload). */
size_t	proto_msg_encode(uint8_t *, const struct bus_rec *);

/*
 * ACK, built in place: reserve proto_ack_size(count) bytes, write each
 * offset with proto_ack_set(), and the header with proto_ack_begin(),
 * before or after the offsets.  Calling proto_ack_begin() again with a
 * smaller count shrinks the ACK to its first count offsets: the frame
 * is then proto_ack_size(count) bytes and what follows is not part of
 * it.  A count of 0 is well-formed, though busd never sends one.
 */
#define PROTO_ACK_FIXED		16		/* body before the offsets */
#define PROTO_ACK_SIZE(n)	\
	(PROTO_FRAME_HDR + PROTO_ACK_FIXED + 8 * (size_t)(n))
struct proto_ack {
	uint64_t	 first_seq;	/* first sequence number acked */
	uint32_t	 count;		/* messages acked */
	const uint8_t	*offsets;	/* count u64 LE, see proto_ack_offset */
};

static inline size_t
proto_ack_size(uint32_t count)
{
	return PROTO_ACK_SIZE(count);
}

size_t	proto_ack_begin(uint8_t *, uint64_t, uint32_t);

/* Offset of message i in the ACK frame at buf. */
static inline void
proto_ack_set(uint8_t *buf, uint32_t i, uint64_t offset)
{
	le64_put(buf + PROTO_FRAME_HDR + PROTO_ACK_FIXED + 8 * (size_t)i,
	    offset);
}

int	proto_ack_decode(const uint8_t *, size_t, struct proto_ack *);

/* Offset of message i (< count) of a decoded ACK. */
static inline uint64_t
proto_ack_offset(const struct proto_ack *a, uint32_t i)
{
	return le64_get(a->offsets + 8 * (size_t)i);
}

/*
 * PUBLISH_BLOCK: count delimited records as read from input, with what
 * they share once.  Written in place: proto_block_begin() writes the
 * header and the fixed fields, topic and tags, and returns the position
 * of the block; proto_block_finish() fills in the lengths and the count
 * once the block is there.  The decoder checks the lengths and that
 * the block ends with the delimiter; the count is the caller's to check
 * (batch_count_delim()).
 */
#define PROTO_BLOCK_FIXED	36		/* body before the topic */
struct proto_block {
	uint64_t	 first_seq;	/* sequence of the first record */
	int64_t		 send_ns;	/* stamped by the publisher */
	int64_t		 event_ns;	/* 0: the send time */
	uint32_t	 count;		/* records in the block */
	uint8_t		 delim;		/* ends each record */
	const char	*topic;		/* not NUL-terminated */
	size_t		 topic_len;
	const uint8_t	*tags;		/* encoded tag area */
	size_t		 tags_len;
	const uint8_t	*block;		/* the records */
	size_t		 len;		/* block bytes */
};
size_t	proto_block_begin(uint8_t *, const struct proto_block *);
void	proto_block_finish(uint8_t *, size_t, uint32_t);
int	proto_block_decode(const uint8_t *, size_t, struct proto_block *);

/* ACK_RUN: count messages from first_seq, at offsets from first_off. */
#define PROTO_ACK_RUN_BODY	24
#define PROTO_ACK_RUN_SIZE	(PROTO_FRAME_HDR + PROTO_ACK_RUN_BODY)
struct proto_ack_run {
	uint64_t	 first_seq;	/* first sequence number acked */
	uint32_t	 count;		/* messages acked */
	uint64_t	 first_off;	/* offset of the first; BUS_OFFSET_DUP */
};
size_t	proto_ack_run_encode(uint8_t *, const struct proto_ack_run *);
int	proto_ack_run_decode(const uint8_t *, size_t, struct proto_ack_run *);

/* ERROR.  The text is not NUL-terminated. */
#define PROTO_ERROR_FIXED	16		/* body before the text */
struct proto_error {
	uint64_t	 seq;		/* failing message; 0: not about one */
	uint32_t	 code;		/* enum proto_err */
	const char	*text;		/* explanation, text_len bytes */
	size_t		 text_len;	/* at most UINT32_MAX */
};
size_t	proto_error_size(size_t);
size_t	proto_error_encode(uint8_t *, const struct proto_error *);
int	proto_error_decode(const uint8_t *, size_t, struct proto_error *);

/* SEAL.  An empty pattern means all partitions. */
struct proto_seal {
	const char	*pattern;	/* PCRE2, not NUL-terminated */
	size_t		 len;		/* pattern bytes */
};
size_t	proto_seal_size(size_t);
size_t	proto_seal_encode(uint8_t *, const struct proto_seal *);
int	proto_seal_decode(const uint8_t *, size_t, struct proto_seal *);

/* SEAL_OK. */
#define PROTO_SEAL_OK_SIZE	(PROTO_FRAME_HDR + 4)
struct proto_seal_ok {
	uint32_t	 sealed;	/* segments sealed */
};
size_t	proto_seal_ok_encode(uint8_t *, const struct proto_seal_ok *);
int	proto_seal_ok_decode(const uint8_t *, size_t, struct proto_seal_ok *);

/* STATUS: an empty body. */
#define PROTO_STATUS_SIZE	PROTO_FRAME_HDR
size_t	proto_status_encode(uint8_t *);
int	proto_status_decode(const uint8_t *, size_t);

/*
 * STATUS_OK: the body is the JSON document.  The decoder does not parse
 * it (its members are not specified), so every body is well-formed.
 */
struct proto_status_ok {
	const char	*json;		/* not NUL-terminated */
	size_t		 len;		/* document bytes */
};
size_t	proto_status_ok_size(size_t);
size_t	proto_status_ok_encode(uint8_t *, const struct proto_status_ok *);
int	proto_status_ok_decode(const uint8_t *, size_t,
	    struct proto_status_ok *);

const char *proto_err_name(uint32_t);

/* Connect to DIR/busd.sock; fd or -1 with errno. */
int	proto_connect(const char *);
/* Blocking helpers for simple request/response tools. */
int	proto_send_all(int, const void *, size_t);
/* Read one whole frame into *buf (grown as needed); type in *type. */
ssize_t	proto_recv_frame(int, uint8_t **, size_t *, uint8_t *,
	    const uint8_t **, size_t *);

#endif /* BUS_PROTO_H */

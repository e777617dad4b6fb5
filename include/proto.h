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
#define PROTO_VERSION		1
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
	PT_STATUS_OK = 9
};

enum proto_ack {
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
/* Write a frame header for type and body length; returns 5. */
size_t	proto_hdr(uint8_t *, uint8_t, size_t);
/* A whole HELLO frame (ack level, producer id); returns its size. */
#define PROTO_HELLO_SIZE	(PROTO_FRAME_HDR + 16)
size_t	proto_hello(uint8_t *, uint8_t, uint64_t);

/* Decode one PUBLISH message at body[*pos]; 0 ok, -1 malformed. */
int	proto_msg_decode(const uint8_t *, size_t, size_t *, struct bus_rec *);
size_t	proto_msg_size(size_t, size_t, size_t, size_t);
/* Encode one message (seq, times, flags, topic, key, tags, payload). */
size_t	proto_msg_encode(uint8_t *, const struct bus_rec *);

const char *proto_err_name(uint32_t);

/* Connect to DIR/busd.sock; fd or -1 with errno. */
int	proto_connect(const char *);
/* Blocking helpers for simple request/response tools. */
int	proto_send_all(int, const void *, size_t);
/* Read one whole frame into *buf (grown as needed); type in *type. */
ssize_t	proto_recv_frame(int, uint8_t **, size_t *, uint8_t *,
	    const uint8_t **, size_t *);

#endif /* BUS_PROTO_H */

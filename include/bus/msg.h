/*
 * libbus public API: messages, tags and errors.  See libbus(3).
 *
 * Everything here is plain C with no dependency beyond the C library, so
 * that a program or a language binding can include it alone.
 */
#ifndef BUS_API_MSG_H
#define BUS_API_MSG_H

#include <stddef.h>
#include <stdint.h>

#define BUS_API_VERSION_MAJOR	0	/* the soname's number */
#define BUS_API_VERSION_MINOR	1

#define BUS_TOPIC_MAX		255	/* bytes in a topic or partition name */
#define BUS_KEY_MAX		65535	/* bytes in a key */
#define BUS_TAG_NAME_MAX	255	/* bytes in a tag name */
#define BUS_TAG_VALUE_MAX	65535	/* bytes in a tag value */

#define BUS_F_TOMBSTONE		0x01	/* the message deletes its key */

/*
 * A message.  To publish, fill topic, payload and what else you need
 * (zero the rest).  A message read by a subscriber points into the
 * subscriber's buffers: valid until its next call.
 */
struct bus_msg {
	const char	*topic;		/* not NUL-terminated */
	size_t		 topic_len;
	const char	*key;		/* NULL when key_len is 0 */
	size_t		 key_len;
	const uint8_t	*tags;		/* encoded tags: bus_tags_add/next */
	size_t		 tags_len;
	const void	*payload;
	size_t		 payload_len;
	int64_t		 event_ns;	/* event time; 0 on publish: send time */
	int64_t		 send_ns;	/* read: stamped by the publisher */
	int64_t		 recv_ns;	/* read: stamped by busd, store-wide order */
	uint64_t	 offset;	/* read: position in its partition */
	uint64_t	 producer;	/* read: producer id of the publisher */
	uint64_t	 seq;		/* read: that producer's sequence number */
	unsigned int	 flags;		/* BUS_F_* */
	const char	*partition;	/* read: its partition, NUL-terminated */
};

/* One tag: a name and a value, not NUL-terminated. */
struct bus_tag {
	const char	*name;
	size_t		 name_len;
	const char	*value;
	size_t		 value_len;
};

/* Next tag of an encoded area at *pos: 1 found, 0 at the end, -1 bad. */
int	bus_tags_next(const uint8_t *, size_t, size_t *, struct bus_tag *);
/* Append "NAME=VALUE" to an area of *len bytes (room for cap); -1 bad. */
int	bus_tags_add(uint8_t *, size_t, size_t *, const char *, const char **);
/* 0 if a topic is valid; -1 with a static reason in *why otherwise. */
int	bus_topic_check(const char *, size_t, const char **);

/* What failed, as a value: the programs print it and exit with status. */
enum bus_error_kind {
	BUS_E_NONE = 0,
	BUS_E_USAGE,		/* a bad argument from the caller */
	BUS_E_INVALID,		/* a message that cannot be published */
	BUS_E_TOOBIG,		/* a message over busd's --max-message */
	BUS_E_UNAVAILABLE,	/* busd cannot be reached, or went away */
	BUS_E_REFUSED,		/* busd refused a message: see code */
	BUS_E_PROTOCOL,		/* busd said something unexpected */
	BUS_E_NOINPUT,		/* no store, partition or cursor there */
	BUS_E_DATA,		/* damaged data in the store */
	BUS_E_BUSY,		/* someone else holds what we need */
	BUS_E_SYSTEM		/* a system call failed: see errnum */
};

struct bus_error {
	enum bus_error_kind kind;
	int		 status;	/* the sysexits(3) status for it */
	int		 errnum;	/* errno, for BUS_E_SYSTEM */
	uint32_t	 code;		/* busd's error code, BUS_E_REFUSED */
	uint64_t	 seq;		/* the message it is about, or 0 */
	char		 text[512];	/* one line, no newline */
};

/* The name of one of busd's error codes ("invalid topic" ...). */
const char *bus_error_code_name(uint32_t);

/* Nanoseconds since the epoch, UTC. */
int64_t	bus_now_ns(void);

#endif /* BUS_API_MSG_H */

/*
 * libbus public API: the publisher.  See bus_pub(3).
 *
 * A publisher is one connection to busd under one producer id.  Messages
 * are encoded straight into a window of unacknowledged frames and sent
 * without waiting for the acks of earlier ones (pipelining); the window
 * is bounded.  When busd goes away, the publisher connects again (for up
 * to the retry time), says HELLO under the same producer id and sends
 * the window again: busd drops what it already stored, so every message
 * is stored exactly once.
 */
#ifndef BUS_API_PUB_H
#define BUS_API_PUB_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* When busd acknowledges a message (bus-protocol(7)). */
enum bus_ack {
	BUS_ACK_NONE = 0,	/* never: nothing is kept to resend */
	BUS_ACK_WRITTEN = 1,	/* once it is written to its segment */
	BUS_ACK_SYNCED = 2	/* once fdatasync(2) covered it */
};

struct bus_pub;

/*
 * A publisher of store dir (NULL: $BUS_DIR, else the default), not yet
 * connected.  Defaults: BUS_ACK_WRITTEN, a random producer id, busd
 * started when none runs, 60 s of reconnecting, a 32 MiB window.
 * NULL with errno on failure.
 */
struct bus_pub *bus_pub_new(const char *);
/* The setters go before bus_pub_connect(). */
int	bus_pub_set_ack(struct bus_pub *, enum bus_ack);
/* A producer id of your own (non-zero), to resend after a restart. */
int	bus_pub_set_producer(struct bus_pub *, uint64_t);
/* The first sequence number to use (default 1). */
int	bus_pub_set_seq(struct bus_pub *, uint64_t);
void	bus_pub_set_autostart(struct bus_pub *, int);
/* How long to try to reconnect, ns; 0: give up at once. */
void	bus_pub_set_retry(struct bus_pub *, int64_t);
/* Unacknowledged bytes at most (0: the default); bus_pub_add() waits. */
void	bus_pub_set_window(struct bus_pub *, size_t);
/* Where warnings go (reconnects); default: nowhere. */
void	bus_pub_set_log(struct bus_pub *, void (*)(void *, const char *),
	    void *);

/* Connect (starting busd if allowed) and say HELLO.  0, or -1. */
int	bus_pub_connect(struct bus_pub *);

/*
 * Queue one message in the open frame; its sequence number in *seq
 * (NULL: not wanted).  send_ns is the send time to stamp (0: now).
 * Nothing is sent until bus_pub_flush().  Blocks while the window is
 * full.  -1 with the error: for BUS_E_INVALID and BUS_E_TOOBIG nothing
 * of the message was queued and every message before it is still
 * published; any other error ends the publisher.
 */
int	bus_pub_add(struct bus_pub *, const struct bus_msg *, int64_t,
	    uint64_t *);
/*
 * bus_pub_add() under sequence number seq, which is at least
 * bus_pub_next_seq(): the numbers skipped are never used, so a caller
 * can number messages by a sequence of its own that has gaps (a bridge
 * by its source's sequence numbers).  Returns as bus_pub_add().
 */
int	bus_pub_add_seq(struct bus_pub *, const struct bus_msg *, int64_t,
	    uint64_t);
/*
 * A block of records as read from input: count records, each ended by
 * delim (the last byte of data is one), sharing topic, tags and event
 * time.  busd stores it as one batch; reading it back with the same
 * delimiter gives the block again, byte for byte.
 */
struct bus_block {
	const char	*topic;		/* not NUL-terminated */
	size_t		 topic_len;
	const uint8_t	*tags;		/* encoded tags of every record */
	size_t		 tags_len;
	int64_t		 event_ns;	/* 0: the send time */
	int		 delim;		/* ends each record */
	const void	*data;		/* the records */
	size_t		 len;		/* bytes of data */
	uint32_t	 count;		/* records: delimiters in data */
};

/*
 * Queue a block in a frame of its own, its records numbered from
 * bus_pub_next_seq(); send_ns as for bus_pub_add().  Blocks while the
 * window is full.  -1 with the error: BUS_E_INVALID for a bad topic,
 * tags or count (nothing queued); other errors end the publisher.  A
 * record over busd's limit is refused by busd, with the records before
 * it stored.
 */
int	bus_pub_add_block(struct bus_pub *, const struct bus_block *, int64_t);
/*
 * The same without a copy: room at the end of the window for a block
 * of k's topic, tags, delimiter and event time (k's data, len and count
 * are ignored) with up to max bytes of records, at *buf (blocks while
 * the window is full).  Read or write the records there, then
 * bus_pub_block_commit() queues the first len bytes, count records,
 * as the block, or with len 0 drops the room.  k's topic and tags must
 * stay as they are until then, and no other call may be made on the
 * publisher in between.  0, or -1 with the error as for
 * bus_pub_add_block() (a bad commit drops the room).
 */
int	bus_pub_block_reserve(struct bus_pub *, const struct bus_block *,
	    size_t, uint8_t **);
int	bus_pub_block_commit(struct bus_pub *, size_t, uint32_t, int64_t);
/* Close the open frame and send what the socket takes now.  0 or -1. */
int	bus_pub_flush(struct bus_pub *);
/*
 * Wait until every message queued is acknowledged (or, with
 * BUS_ACK_NONE, handed to busd and the connection closed), sending as
 * needed; timeout in ms, -1 for ever.  1 done, 0 timed out, -1 error.
 */
int	bus_pub_wait(struct bus_pub *, int);

/*
 * For an event loop of your own: poll bus_pub_fd() for bus_pub_events()
 * and hand what poll(2) said to bus_pub_process(): it reads acks and
 * sends.  0, or -1 (a lost busd is reconnected inside, which may block
 * up to the retry time).
 */
int	bus_pub_fd(const struct bus_pub *);
short	bus_pub_events(const struct bus_pub *);
int	bus_pub_process(struct bus_pub *, short);
/* Is the window full (bus_pub_add() would wait)? */
int	bus_pub_window_full(const struct bus_pub *);

/*
 * Every sequence number up to bus_pub_acked() is acknowledged; the next
 * message queued gets bus_pub_next_seq().
 */
uint64_t bus_pub_acked(const struct bus_pub *);
uint64_t bus_pub_next_seq(const struct bus_pub *);
uint64_t bus_pub_producer(const struct bus_pub *);
/* busd's limit on topic + key + tags + payload, from its HELLO_OK. */
size_t	bus_pub_max_message(const struct bus_pub *);
/* The last error (kind BUS_E_NONE if none). */
const struct bus_error *bus_pub_error(const struct bus_pub *);

/* Close the connection and free; unacknowledged messages are dropped. */
void	bus_pub_free(struct bus_pub *);

#endif /* BUS_API_PUB_H */

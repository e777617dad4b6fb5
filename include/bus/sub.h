/*
 * libbus public API: the subscriber.  See bus_sub(3).
 *
 * A subscriber reads the partitions whose topics match its patterns
 * straight from the store's files (busd need not run) as one stream
 * ordered by receive time, from a start position, and follows them as
 * they grow.  With a durable cursor it commits only what the caller said
 * it has dealt with, so a crash delivers again at most what was not
 * committed and never skips a message.  With a group, the members share
 * the partitions among themselves.
 */
#ifndef BUS_API_SUB_H
#define BUS_API_SUB_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* What bus_sub_next() returns. */
enum bus_sub_result {
	BUS_SUB_ERROR = -1,	/* see bus_sub_error() */
	BUS_SUB_NONE = 0,	/* nothing new within the timeout */
	BUS_SUB_MSG = 1,	/* a message */
	BUS_SUB_END = 2		/* the end (bus_sub_set_end) or the until time */
};

struct bus_sub;

/* A subscriber of store dir (NULL: $BUS_DIR, else the default). */
struct bus_sub *bus_sub_new(const char *);
/* A PCRE2 pattern matched against whole topics; one at least. */
int	bus_sub_add_pattern(struct bus_sub *, const char *);
/*
 * Where to start: "beginning", "end" or "now" (the default), an offset
 * "N" in every partition, "-N" for N messages back in every partition,
 * or a time: "@2026-01-02T03:04:05Z", "@UNIX[.frac]", "-1h30m".
 */
int	bus_sub_set_from(struct bus_sub *, const char *);
/*
 * Start n messages before the end of the whole subscription, all its
 * partitions merged by receive time (not n in each, as "-N" does).
 */
int	bus_sub_set_last(struct bus_sub *, uint64_t);
/*
 * With a cursor of its own (not a group's): the start position replaces
 * where an existing cursor stands; it is written at once, atomically.
 */
void	bus_sub_set_reset(struct bus_sub *, int);
/* Stop before the first message received after this time (ns). */
void	bus_sub_set_until(struct bus_sub *, int64_t);
/* Stop at the end of the store as it is when reading starts. */
void	bus_sub_set_end(struct bus_sub *, int);
/* Skip damaged records (reported through the log) instead of failing. */
void	bus_sub_set_skip_corrupt(struct bus_sub *, int);
/* A durable cursor: start where it stands, commit to it. */
int	bus_sub_set_cursor(struct bus_sub *, const char *);
/*
 * Join group name, whose cursor has its name; member names this process
 * (NULL: its pid).  Names are 1 to 200 of [A-Za-z0-9._-], not starting
 * with '.', without ".tmp", not ending in ".group".
 */
int	bus_sub_set_group(struct bus_sub *, const char *, const char *);
/* Also say which partitions are read and taken, through the log. */
void	bus_sub_set_verbose(struct bus_sub *, int);
/* Where warnings go (gaps, damage, group changes); default: nowhere. */
void	bus_sub_set_log(struct bus_sub *, void (*)(void *, const char *),
	    void *);

/* Open: check the patterns and the store, load the cursor.  0 or -1. */
int	bus_sub_open(struct bus_sub *);
/*
 * The next message in receive-time order, waiting up to timeout ms for
 * one (0: do not wait; -1: for ever).  The message points into the
 * subscriber's buffers and stays valid until the next call.
 */
enum bus_sub_result bus_sub_next(struct bus_sub *, struct bus_msg *, int);
/*
 * Raw output: when the message just returned is the first of a run of
 * records stored as one delimited block (delimiter delim) that may all go
 * now, in receive order, at most max of them, bus_sub_extend() returns
 * their number and the run as stored (*buf, *len: each record followed by
 * the delimiter); they then count as returned.  Else 0.
 */
uint64_t bus_sub_extend(struct bus_sub *, int, uint64_t, const void **,
	    size_t *);
/*
 * For an event loop of your own: when bus_sub_fd() is readable, or
 * bus_sub_timeout() ms have passed, bus_sub_next(sub, &m, 0) may have
 * something.
 */
int	bus_sub_fd(const struct bus_sub *);
int	bus_sub_timeout(const struct bus_sub *);

/*
 * Every message returned so far has been dealt with (last: the one
 * returned last too; 0: all but that one, as for a caller in the middle
 * of writing it out): their positions may be committed.
 * bus_sub_commit() writes the cursor (atomically) if it is due, or now
 * with force; 0 or -1.
 */
void	bus_sub_done(struct bus_sub *, int);
int	bus_sub_commit(struct bus_sub *, int);

/* After open: did the cursor (or the group's) exist?  1 or 0. */
int	bus_sub_cursor_existed(const struct bus_sub *);

/* The last error (kind BUS_E_NONE if none). */
const struct bus_error *bus_sub_error(const struct bus_sub *);
/* Commit (forced) and free; -1 if that last commit failed. */
int	bus_sub_free(struct bus_sub *);

#endif /* BUS_API_SUB_H */

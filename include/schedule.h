/*
 * Delayed delivery: the schedule's format (see bus-segment(5),
 * "Scheduled messages").  busd keeps the messages published for later in
 * the partition directory DIR/log/.sched, which no topic can name: each
 * one is a record as published, its first tag bus.at=<due time>; once
 * delivered to its topic, busd appends a record with the tag
 * bus.done=<offset of the scheduled one>.  The scheduled messages still
 * pending are those without a bus.done record.
 */
#ifndef BUS_SCHEDULE_H
#define BUS_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#define SCHED_PART	".sched"	/* DIR/log/.sched */
#define SCHED_TAG_AT	"bus.at"	/* due time, decimal ns UTC */
#define SCHED_TAG_DONE	"bus.done"	/* offset of the one delivered */
#define SCHED_TAG_WHEN	"bus.scheduled"	/* on delivery: when stored */
#define SCHED_AT_DIGITS	19		/* bus-pub's width for bus.at */
/*
 * Producer ids: a delivered message is published by producer
 * SCHED_PRODUCER + 1 + its offset in the schedule, sequence 1, so that
 * busd's dedup drops a second delivery; bus.done records by
 * SCHED_PRODUCER itself.
 */
#define SCHED_PRODUCER	0x5c4ed00000000000ULL

/*
 * The due time of a message: 1 and *due if its first tag is bus.at, 0
 * if it has none, -1 if its value is not 1 to 19 decimal digits.
 */
int	sched_due(const uint8_t *, size_t, int64_t *);
/* 1 and the offset if r is a bus.done record, else 0. */
int	sched_done(const struct bus_rec *, uint64_t *);

/*
 * Every pending scheduled message of the store dir, in the order they
 * were scheduled: fn(record, due, arg), due being the bus.at time, or
 * when busd stored it if that is later.  fn returns non-zero to stop.
 * 0, or -1 with errno (ENOENT: never anything scheduled is 0).
 */
int	sched_scan(const char *, int (*)(const struct bus_rec *, int64_t,
	    void *), void *);

#endif /* BUS_SCHEDULE_H */

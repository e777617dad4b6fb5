/*
 * libbus, inside: the umbrella of the headers the five programs share,
 * one per concern.  The public C API is include/bus/ (libbus(3)).
 */
#ifndef BUS_H
#define BUS_H

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

#include "bus/msg.h"	/* the public message, tags and limits */
#include "le.h"		/* little-endian loads and stores */
#include "crc32c.h"	/* the checksum */
#include "segment.h"	/* records, topics, tags, segment header */
#include "batch.h"	/* record batches of format 2 */
#include "index.h"	/* the sparse index */
#include "store.h"	/* the store directory and its small files */
#include "rules.h"	/* routing rules, patterns, capture regexes */
#include "timefmt.h"	/* times, durations, sizes */
#include "reader.h"	/* the reader of a partition */

#endif /* BUS_H */

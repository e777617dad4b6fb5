/*
 * Operations on a live store: the work of bus-rotate(8) and
 * bus-compact(8), done beside a running busd, following readers and
 * consumers with cursors.  This header holds what they share (file
 * names, results) and includes one header per concern:
 *
 *   segscan.c	reading one segment file record by record (segscan.h)
 *   partlock.c	the per-partition lock, DIR/log/<partition>/.lock
 *   busctl.c	requests to busd on the socket: SEAL and STATUS
 *   retention.c	deleting sealed segments by age, size, count
 *   compact.c	rewriting sealed segments, newest record per key; the
 *		recovery of a rewrite interrupted by a crash
 *   status.c	per-partition figures, from the files and from busd
 *   recompress.c	rewriting sealed segments with compressed batches
 *
 * Only sealed segments are ever deleted or rewritten: every segment of a
 * partition but the newest one, which busd may be appending to.
 */
#ifndef BUS_OPS_H
#define BUS_OPS_H

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>

#include "bus.h"
#include "cursor.h"
#include "segscan.h"
#include "partlock.h"
#include "busctl.h"
#include "retention.h"
#include "compact.h"
#include "status.h"
#include "recompress.h"

#define OPS_LOCK	".lock"		/* in each partition directory */
#define OPS_CLEANED	".cleaned"	/* a rewrite being written */
#define OPS_SWAP	".swap"		/* a rewrite written, to install */
#define OPS_MERGED	".merged"	/* the segments a rewrite replaces */
#define OPS_TIMEOUT_S	30		/* for an answer from busd */

/* Results of the functions below; messages go to an err buffer. */
enum ops_result {
	OPS_OK = 0,
	OPS_IO = -1,		/* read, write or sync failed */
	OPS_CREATE = -2,	/* a file could not be created */
	OPS_DAMAGED = -3,	/* damaged data; nothing was changed */
	OPS_BUSY = -4,		/* the lock is held and we may not wait */
	OPS_UNREACHABLE = -5,	/* busd runs but did not answer */
	OPS_REFUSED = -6	/* busd answered with an error */
};

/* The sysexits(3) status for an OPS_* result. */
static inline int
ops_sysexit(int r)
{
	switch (r) {
	case OPS_OK:		return 0;
	case OPS_CREATE:	return EX_CANTCREAT;
	case OPS_DAMAGED:	return EX_DATAERR;
	case OPS_BUSY:		return EX_TEMPFAIL;
	case OPS_UNREACHABLE:
	case OPS_REFUSED:	return EX_UNAVAILABLE;
	}
	return EX_IOERR;
}

#endif /* BUS_OPS_H */

/*
 * Operations on a live store: the work of bus-rotate(8) and
 * bus-compact(8), done beside a running busd, following readers and
 * consumers with cursors.
 *
 *   segscan.c	reading one segment file record by record (segscan.h)
 *   partlock.c	the per-partition lock, DIR/log/<partition>/.lock
 *   busctl.c	requests to busd on the socket: SEAL and STATUS
 *   retention.c	deleting sealed segments by age, size, count
 *   compact.c	rewriting sealed segments, newest record per key; the
 *		recovery of a rewrite interrupted by a crash
 *   status.c	per-partition figures, from the files and from busd
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

/* ------------------------------------------------------------ partlock */

/*
 * Take the lock of a partition (its directory fd), exclusive, waiting
 * unless nowait.  Returns the lock's fd, or -1: errno EWOULDBLOCK when
 * busy.  With create == 0 a missing lock file is not made (dry runs):
 * then -2 means "no lock file, nobody holds it".
 */
int	plock_take(int, int, int);
void	plock_release(int);
/*
 * For the cron tools, each returning a sysexits code (0: done) with a
 * one-line reason in err.  ops_part_open: open DIR/log/NAME (-1: it is
 * gone, nothing to do).  ops_part_lock: plock_take, naming the lock file.
 * ops_part_recover: finish or undo an interrupted compaction, handing
 * what it did and what failed, one line each, to say().
 */
int	ops_part_open(const char *, const char *, int *, char *, size_t);
int	ops_part_lock(const char *, const char *, int, int, int, int *,
	    char *, size_t);
int	ops_part_recover(const char *, int, void (*)(const char *));
/* The store of -d (or the default) in *dir; EX_NOINPUT if there is none. */
int	ops_store(const char *, const char **, char *, size_t);
/* fn(name) for each partition matching pats (NULL: all), in name order. */
struct patset;
int	ops_each_partition(const char *, const struct patset *,
	    void (*)(const char *));

/* -------------------------------------------------------------- busctl */

/* What busd says about itself (its STATUS answer). */
struct busd_status {
	long		 pid;
	long long	 uptime_s;
	long long	 clients;
	unsigned long long messages, bytes, duplicates;
};

/*
 * Ask busd to seal the active segments of the partitions whose name
 * matches pattern (PCRE2, whole name; "" all).  OPS_OK with the count,
 * OPS_UNREACHABLE or OPS_REFUSED with a message.
 */
int	busctl_seal(const char *, const char *, uint32_t *, char *, size_t);
int	busctl_status(const char *, struct busd_status *, char *, size_t);

/* ----------------------------------------------------------- retention */

struct retention {
	int		 by_age;	/* --max-age given */
	int64_t		 max_age;	/* ns */
	int		 by_size;	/* --max-size given */
	uint64_t	 max_size;	/* bytes of .seg files */
	int		 by_count;	/* --max-count given */
	uint64_t	 max_count;	/* records */
	int		 keep_cursors;	/* what cursors still need stays */
	int		 dry_run;	/* decide and report, change nothing */
	int64_t		 now;		/* for --max-age */
	FILE		*report;	/* one line per segment, or NULL */
};

/* The durable cursors of a store, for --keep-cursors. */
struct retention_cursors {
	char		**names;
	struct cursor	*c;		/* c[i] is cursor names[i] */
	size_t		 n;
	int		 damaged;	/* one could not be read: hold all */
};

/* Load every cursor; damaged ones are named in err (warnings), counted. */
int	retention_cursors_load(const char *, struct retention_cursors *, char *, size_t);
void	retention_cursors_free(struct retention_cursors *);

struct retention_result {
	size_t		 deleted;	/* segments (would be) deleted */
	uint64_t	 bytes;		/* their bytes */
	uint64_t	 nrecs;		/* their records, when counted */
};

/*
 * Apply retention to one partition (name, its directory fd), which the
 * caller has locked.  Deletes a prefix of its sealed segments, oldest
 * first: the .seg, then the .idx.
 */
int	retention_run(const char *, int, const struct retention *,
	    const struct retention_cursors *, struct retention_result *, char *,
	    size_t);

/* ------------------------------------------------------------- compact */

struct compact_opts {
	int64_t		 tombstone_age;	/* ns a tombstone is kept */
	uint64_t	 segment_size;	/* merge small segments up to */
	int		 dry_run;
	int64_t		 now;
};

struct compact_result {
	size_t		 segs_before, segs_after;	/* sealed segments */
	uint64_t	 recs_before, recs_after;
	uint64_t	 bytes_before, bytes_after;
	size_t		 rewritten;	/* output segments written */
};

/*
 * Finish or undo what an interrupted rewrite left in a partition (name,
 * directory fd; the caller holds its lock): *.merged manifests, *.swap
 * files are completed, *.cleaned files deleted.  Returns the number of
 * leftovers handled (>= 0) or an OPS_* error; what was done is described
 * in note (empty when nothing).
 */
int	compact_recover(const char *, int, char *, size_t, char *, size_t);
/* Are there leftovers of an interrupted rewrite?  (No lock needed.) */
int	compact_leftovers(int);

/*
 * Compact the sealed segments of one partition (name, directory fd),
 * locked by the caller: keep the newest record of each (topic, key) and
 * every record without a key; drop tombstones older than tombstone_age;
 * merge small sealed segments.  Offsets are kept.
 */
int	compact_partition(const char *, int, const struct compact_opts *,
	    struct compact_result *, char *, size_t);

/* -------------------------------------------------------------- status */

struct part_status {
	char		 name[BUS_TOPIC_MAX + 1];
	char		**topics;	/* from log/<partition>/topics */
	size_t		 ntopics;
	size_t		 segments;
	uint64_t	 bytes;		/* of its .seg files */
	int		 any;		/* holds a record */
	uint64_t	 first_off, last_off;
	int64_t		 last_recv;
};

struct bus_status {
	const char	*dir;
	int		 busd_running;	/* pidfile locked */
	pid_t		 busd_pid;
	int		 busd_answered;	/* d is valid */
	struct busd_status d;
	char		 busd_err[256];	/* why it did not answer */
	struct part_status *parts;
	size_t		 nparts;
};

struct patset;

/* Gather figures for the partitions matching ps (NULL: all). */
int	status_gather(const char *, const struct patset *, struct bus_status *,
	    char *, size_t);
void	status_print(FILE *, const struct bus_status *, int);
void	status_free(struct bus_status *);
/* A C string as a JSON string, quotes and escapes included. */
void	json_str(FILE *, const char *);

#endif /* BUS_OPS_H */

/*
 * Retention: deleting the oldest sealed segments of a partition by age,
 * size or count, keeping what durable cursors still need.
 */
#ifndef BUS_RETENTION_H
#define BUS_RETENTION_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cursor.h"

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

#endif /* BUS_RETENTION_H */

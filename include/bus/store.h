/*
 * libbus public API: reading a store offline.  See bus_store(3).
 *
 * Everything here reads the store's files, so it works whether busd runs
 * or not; what busd says about itself is added when it runs.
 */
#ifndef BUS_API_STORE_H
#define BUS_API_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "msg.h"

/* One partition, as its files say. */
struct bus_part_info {
	const char	*name;
	const char *const *topics;	/* the topics seen in it */
	size_t		 ntopics;
	size_t		 segments;
	uint64_t	 bytes;		/* of its segment files */
	int		 empty;		/* holds no record */
	uint64_t	 first_offset;	/* unless empty */
	uint64_t	 last_offset;
	int64_t		 last_recv_ns;
};

struct bus_store;

/*
 * The store dir (NULL: $BUS_DIR, else the default), its partitions
 * whose name matches pattern (PCRE2, whole name; NULL: all), gathered
 * now.  NULL with *e set when there is no store there or it can't be
 * read.
 */
struct bus_store *bus_store_open(const char *, const char *,
	    struct bus_error *);
const char *bus_store_dir(const struct bus_store *);
size_t	bus_store_count(const struct bus_store *);
/* Partition i (0 .. count - 1), in name order; valid until close. */
int	bus_store_partition(const struct bus_store *, size_t,
	    struct bus_part_info *);
/* 1 and busd's pid if busd runs on this store, 0 if not. */
int	bus_store_busd(const struct bus_store *, long *);
/* The report of busd --status, as text or JSON (json != 0). */
int	bus_store_print(const struct bus_store *, FILE *, int);
void	bus_store_close(struct bus_store *);

/* What bus_store_verify() found. */
struct bus_verify {
	unsigned long	 partitions;
	unsigned long	 segments;
	unsigned long long records;
	unsigned long	 problems;	/* found */
	unsigned long	 repaired;	/* of those, repaired */
};

/*
 * Check every segment and index of store dir, one line per problem on
 * report (NULL: none); with repair, repair as busd --verify --repair
 * does (busd must not run).  0, or -1 with *e set.
 */
int	bus_store_verify(const char *, int, FILE *, struct bus_verify *,
	    struct bus_error *);

/*
 * The store's id (DIR/id, bus-segment(5)): 32 hex digits and a NUL in
 * id (idlen >= 33), made once, at the first call.  0, or -1 with *e.
 */
int	bus_store_id(const char *, char *, size_t, struct bus_error *);

#endif /* BUS_API_STORE_H */

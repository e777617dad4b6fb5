/*
 * The status of a store: per-partition figures from the files, and
 * busd's own when it runs (busd --status, bus-rotate --status).
 */
#ifndef BUS_STATUS_H
#define BUS_STATUS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "segment.h"
#include "busctl.h"

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

#endif /* BUS_STATUS_H */

/*
 * Offline check (and repair) of a whole store: busd --verify [--repair].
 */
#ifndef BUS_VERIFY_H
#define BUS_VERIFY_H

#include <stdio.h>

#include "bus/store.h"	/* struct bus_verify */

/*
 * Check every segment and index under dir, one line per problem on out.
 * With repair: cut torn tails of active segments, rebuild indexes, and
 * move segments with damaged records to DIR/quarantine/<partition>/,
 * replacing them with their valid records.  -1 on an I/O error.
 */
int	store_verify(const char *, int, FILE *, struct bus_verify *);

#endif

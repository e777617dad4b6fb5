/*
 * Checks at the edge of a store's files that the segment walk of busd's
 * recovery and of busd --verify does not make: an index that parses but
 * lies about its segment, and the store clock.
 */
#ifndef BUS_STORECHECK_H
#define BUS_STORECHECK_H

#include <stddef.h>
#include <stdio.h>

#include "index.h"

/*
 * Does the index e (n entries) agree with the segment sfd?  At the
 * position of its first, middle and last entries a record must start
 * that checks out, with the entry's offset and receive time: an index
 * whose entries are all plausible but shifted fails.  1 if it agrees, 0
 * if not (why says which entry and how), -1 on a read error (errno).
 */
int	idx_check(int, const struct bus_idx_ent *, size_t, char *, size_t);
/*
 * busd --verify's check of DIR/log/.clock: there, a regular file, 8
 * bytes, not behind the newest record of the store, not in the future.
 * One line per problem on out, added to *problems; with repair, the
 * clock is written again (the newest receive time) and *repaired
 * counted.  -1 on an I/O error.
 */
int	clock_check(const char *, int, FILE *, unsigned long *,
	    unsigned long *);

#endif /* BUS_STORECHECK_H */

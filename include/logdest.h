/*
 * Where a detached busd logs: to syslog(3) when the syslog socket
 * accepts a connection, else to DIR/busd.log.  busd chooses by this, and
 * bus-pub, having started busd, tells its user what busd chose.
 */
#ifndef BUS_LOGDEST_H
#define BUS_LOGDEST_H

#include <stddef.h>

#define BUS_LOGFILE	"busd.log"	/* in the store, without syslog */

/* 1 if the syslog socket accepts a connection, else 0. */
int	logdest_syslog(void);
/* "syslog", or the path of DIR/busd.log, in buf; -1 if too long. */
int	logdest_name(char *, size_t, const char *);

#endif /* BUS_LOGDEST_H */

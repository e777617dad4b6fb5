/*
 * libbus, the library of bus: a local, persistent, partitioned log
 * message bus.  See libbus(3).
 *
 *	#include <bus/bus.h>
 *	cc prog.c $(pkg-config --cflags --libs bus)
 */
#ifndef BUS_API_BUS_H
#define BUS_API_BUS_H

#include "msg.h"	/* messages, tags, errors */
#include "pub.h"	/* the publisher */
#include "sub.h"	/* the subscriber */
#include "store.h"	/* reading a store offline */

#endif /* BUS_API_BUS_H */

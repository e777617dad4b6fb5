/*
 * Errors as values, for the public API: a struct bus_error filled in by
 * the function that failed, and warnings handed to the caller's log
 * function, one line each.  lib/ never prints and never exits.
 */
#ifndef BUS_ERRVAL_H
#define BUS_ERRVAL_H

#include <stdarg.h>
#include <stdint.h>

#include "bus/msg.h"

/*
 * Fill e (kind, sysexits status, the message's sequence number or 0, the
 * text; errnum from errno, which is kept); returns -1.
 */
int	errval_set(struct bus_error *, enum bus_error_kind, int, uint64_t,
	    const char *, ...) __attribute__((format(printf, 5, 6)));
int	errval_vset(struct bus_error *, enum bus_error_kind, int, uint64_t,
	    const char *, va_list) __attribute__((format(printf, 5, 0)));
/* One line to log(arg, line), if there is a log function. */
void	errval_say(void (*)(void *, const char *), void *, const char *,
	    ...) __attribute__((format(printf, 3, 4)));
void	errval_vsay(void (*)(void *, const char *), void *, const char *,
	    va_list) __attribute__((format(printf, 3, 0)));

#endif /* BUS_ERRVAL_H */

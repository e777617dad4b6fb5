/*
 * Errors as values and warnings through the caller's log function: the
 * public API's way to report (see errval.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errval.h"

int
errval_vset(struct bus_error *e, enum bus_error_kind kind, int status,
    uint64_t seq, const char *fmt, va_list ap)
{
	int en = errno;

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->status = status;
	e->errnum = en;
	e->seq = seq;
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	errno = en;
	return -1;
}

int
errval_set(struct bus_error *e, enum bus_error_kind kind, int status,
    uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errval_vset(e, kind, status, seq, fmt, ap);
	va_end(ap);
	return -1;
}

void
errval_say(void (*log)(void *, const char *), void *arg, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	errval_vsay(log, arg, fmt, ap);
	va_end(ap);
}

void
errval_vsay(void (*log)(void *, const char *), void *arg, const char *fmt,
    va_list ap)
{
	char line[1024];

	if (log == NULL)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	log(arg, line);
}

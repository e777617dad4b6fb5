/*
 * Times, durations and sizes: parsing what the command lines take, and
 * formatting times as RFC 3339.
 */
#ifndef BUS_TIMEFMT_H
#define BUS_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* The forms parse_time() accepts, and its range, for messages. */
#define TIME_FORMS	"YYYY-MM-DD [HH:MM[:SS[.frac]]] (local time), the " \
	"same with T and a zone (Z, +HH:MM), today, yesterday, now, " \
	"-DURATION (-1h30m), +DURATION, @UNIX[.frac]"
#define TIME_MIN_TEXT	"1677-09-21T00:12:43.145224192Z"
#define TIME_MAX_TEXT	"2262-04-11T23:47:16.854775807Z"

int64_t	now_ns(void);
/*
 * "10", "10s", "1h30m", "7d", "250ms": ns in *out; -1 with errno EINVAL
 * if invalid, ERANGE if too long for 64-bit ns.
 */
int	parse_duration(const char *, int64_t *);
/*
 * A point in time as journalctl --since takes it (TIME_FORMS), relative
 * to now: ns since the epoch; -1 with errno EINVAL if it is not a time,
 * ERANGE if it lies outside TIME_MIN_TEXT .. TIME_MAX_TEXT.
 */
int	parse_time(const char *, int64_t, int64_t *);
/* What went wrong, from parse_time's or parse_duration's errno. */
const char *time_error(int);
const char *duration_error(int);
/* "64M", "1GiB", "4096": bytes; -1 if invalid or over max. */
int	parse_size(const char *, uint64_t, uint64_t *);
/* RFC 3339 UTC with nanoseconds into buf (at least 36 bytes). */
size_t	format_time(char *, size_t, int64_t);

#endif /* BUS_TIMEFMT_H */

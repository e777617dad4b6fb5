/*
 * Times, durations and sizes: parsing what the command lines take, and
 * formatting times as RFC 3339.
 */
#ifndef BUS_TIMEFMT_H
#define BUS_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

int64_t	now_ns(void);
/* "10", "10s", "1h30m", "7d", "250ms": ns in *out; -1 if invalid. */
int	parse_duration(const char *, int64_t *);
/* "@2026-01-02T03:04:05Z", "@1700000000[.123]", "-1h": ns; -1 invalid. */
int	parse_time(const char *, int64_t, int64_t *);
/* "64M", "1GiB", "4096": bytes; -1 if invalid or over max. */
int	parse_size(const char *, uint64_t, uint64_t *);
/* RFC 3339 UTC with nanoseconds into buf (at least 36 bytes). */
size_t	format_time(char *, size_t, int64_t);

#endif /* BUS_TIMEFMT_H */

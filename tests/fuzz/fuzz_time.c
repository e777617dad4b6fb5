/*
 * Fuzz the parser of points in time (the forms of journalctl --since) in
 * a zone with daylight saving time.  What it accepts must lie in range
 * and read back the same once formatted as RFC 3339; what it refuses
 * must say why (errno EINVAL or ERANGE).  Durations must never be
 * negative.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"

#define FUZZ_NOW	(1700000000LL * 1000000000LL)	/* "now" */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	time_zone(void);
static void	time_check(const char *, int64_t);

/* New York's rules as a POSIX TZ string: no tz database needed. */
static void
time_zone(void)
{
	static int done;

	if (done)
		return;
	setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
	tzset();
	done = 1;
}

static void
time_check(const char *s, int64_t now)
{
	char buf[64];
	int64_t t, back, d;

	errno = 0;
	if (parse_time(s, now, &t) == 0) {
		/* RFC 3339 of what was read reads back to the same ns. */
		format_time(buf, sizeof(buf), t);
		if (parse_time(buf, 0, &back) != 0 || back != t)
			abort();
	} else if (errno != EINVAL && errno != ERANGE)
		abort();
	else if (strlen(time_error(errno)) == 0)
		abort();
	errno = 0;
	if (parse_duration(s, &d) == 0) {
		if (d < 0)
			abort();
	} else if (errno != EINVAL && errno != ERANGE)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	time_zone();
	if ((s = strndup((const char *)data, size)) == NULL)
		abort();
	time_check(s, FUZZ_NOW);
	time_check(s, INT64_MAX);
	time_check(s, INT64_MIN);
	free(s);
	return 0;
}

/*
 * Durations, sizes and points in time as users type them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"

#define NS	1000000000LL

int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/*
 * An optional fraction ".digits" at *sp: its value in ns in *ns (digits
 * past the ninth are ignored); -1 if the '.' has no digit after it.
 */
static int
fraction(const char **sp, int64_t *ns)
{
	const char *s = *sp;
	int64_t frac = 0, div = 1;

	*ns = 0;
	if (*s != '.')
		return 0;
	s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		if (div < NS) {
			frac = frac * 10 + (*s - '0');
			div *= 10;
		}
		s++;
	}
	*ns = frac * (NS / div);
	*sp = s;
	return 0;
}

/*
 * Parse a decimal number with an optional fraction, scaled by unit ns,
 * exactly (no floating point): -1 with errno EINVAL if it is not a
 * number, ERANGE if it does not fit in 64 bits.
 */
static int
scaled(const char **sp, int64_t unit, int64_t *out)
{
	const char *s = *sp;
	__int128 ip = 0, v;
	int64_t frac;
	int big = 0;

	errno = EINVAL;
	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		ip = ip * 10 + (*s++ - '0');
		if (ip > INT64_MAX) {
			big = 1;
			ip = INT64_MAX;
		}
	}
	if (fraction(&s, &frac) == -1)
		return -1;
	v = ip * unit + (__int128)frac * unit / NS;
	if (big || v > INT64_MAX) {
		errno = ERANGE;
		return -1;
	}
	*out = (int64_t)v;
	*sp = s;
	return 0;
}

/* A whole string of seconds with an optional fraction, in ns (scaled()). */
static int
seconds(const char *s, int64_t *out)
{
	const char *p = s;

	if (scaled(&p, NS, out) == -1)
		return -1;
	if (*p != '\0') {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int64_t
unit_ns(const char **sp)
{
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 },
		{ "s", NS }, { "m", 60 * NS }, { "h", 3600 * NS },
		{ "d", 86400 * NS }, { "w", 7 * 86400 * NS },
	};
	size_t i, n;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		n = strlen(units[i].name);
		if (strncmp(*sp, units[i].name, n) == 0 &&
		    !isalpha((unsigned char)(*sp)[n])) {
			*sp += n;
			return units[i].ns;
		}
	}
	return -1;
}

int
parse_duration(const char *s, int64_t *out)
{
	int64_t total = 0, v, u;
	const char *p, *q;

	errno = EINVAL;
	if (*s == '\0')
		return -1;
	/* A bare number is seconds. */
	for (p = s; isdigit((unsigned char)*p) || *p == '.'; p++)
		;
	if (*p == '\0')
		return seconds(s, out);
	p = s;
	while (*p != '\0') {
		const char *num = p, *unit;

		q = p;
		while (isdigit((unsigned char)*q) || *q == '.')
			q++;
		errno = EINVAL;
		if (q == p)
			return -1;
		unit = q;
		if ((u = unit_ns(&q)) < 0)
			return -1;
		/* The number must end exactly where its unit begins. */
		if (scaled(&num, u, &v) < 0)
			return -1;
		if (num != unit) {
			errno = EINVAL;
			return -1;
		}
		if (total > INT64_MAX - v) {
			errno = ERANGE;
			return -1;
		}
		total += v;
		p = q;
	}
	*out = total;
	return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/*
 * sec seconds and frac ns since the epoch in ns; -1 with errno ERANGE if
 * that does not fit in 64 bits (before 1677-09-21 or after 2262-04-11).
 */
static int
sec_ns(int64_t sec, int64_t frac, int64_t *out)
{
	int64_t ns;

	if (sec < 0 && frac > 0) {	/* the very first second fits too */
		sec++;
		frac -= NS;
	}
	if (__builtin_mul_overflow(sec, NS, &ns) ||
	    __builtin_add_overflow(ns, frac, &ns)) {
		errno = ERANGE;
		return -1;
	}
	*out = ns;
	return 0;
}

static int
digits(const char **sp, int n, int *out)
{
	int v = 0;

	while (n--) {
		if (!isdigit((unsigned char)**sp))
			return -1;
		v = v * 10 + (*(*sp)++ - '0');
	}
	*out = v;
	return 0;
}

/*
 * The seconds since the epoch of a civil time in the local zone (TZ), as
 * mktime(3) resolves it (a time skipped by a DST change moves forward);
 * -1 with ERANGE if libc cannot represent it.
 */
static int
local_sec(int y, int mo, int d, int h, int mi, int s, int64_t *out)
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	tm.tm_isdst = -1;
	errno = 0;
	if ((t = mktime(&tm)) == (time_t)-1 && errno != 0) {
		errno = ERANGE;
		return -1;
	}
	*out = t;
	return 0;
}

/*
 * A zone after a time: Z, +hh:mm, -hh:mm, or " UTC"; *off gets its
 * seconds east of UTC.  0 if there is one, 1 if there is none (local
 * time), -1 if what follows is not a zone.
 */
static int
zone(const char **sp, int *off)
{
	const char *s = *sp;
	int oh, om, sign;

	if (*s == ' ' && strcmp(s + 1, "UTC") == 0) {
		*off = 0;
		*sp = s + 4;
		return 0;
	}
	if (*s == 'Z' || *s == 'z') {
		*off = 0;
		*sp = s + 1;
		return 0;
	}
	if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
		*off = sign * (oh * 3600 + om * 60);
		*sp = s;
		return 0;
	}
	return *s == '\0' ? 1 : -1;
}

/*
 * YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][zone]: RFC 3339, and the local time
 * (TZ) of journalctl --since when the zone is left out.
 */
static int
parse_date(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, off, z;
	int64_t frac = 0, t;

	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if ((*s == 'T' || *s == 't' || *s == ' ') &&
	    isdigit((unsigned char)s[1])) {
		s++;
		if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi))
			return -1;
		if (*s == ':' && (s++, digits(&s, 2, &sec) ||
		    fraction(&s, &frac) == -1))
			return -1;
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
	}
	if ((z = zone(&s, &off)) == -1 || *s != '\0')
		return -1;
	if (z == 1) {
		if (local_sec(y, mo, d, h, mi, sec, &t) == -1)
			return -1;
	} else
		t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
		    sec - off;
	return sec_ns(t, frac, out);
}

/* Local midnight, days after (or before) the day of now. */
static int
midnight(int64_t now, int days, int64_t *out)
{
	struct tm tm;
	time_t t;
	int64_t sec;

	t = now / NS - (now % NS < 0);
	if (localtime_r(&t, &tm) == NULL) {
		errno = ERANGE;
		return -1;
	}
	if (local_sec(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday + days, 0,
	    0, 0, &sec) == -1)
		return -1;
	return sec_ns(sec, 0, out);
}

int
parse_time(const char *s, int64_t now, int64_t *out)
{
	const char *p;
	int64_t d;
	int at = 0;

	errno = EINVAL;
	if (s[0] == '-' || s[0] == '+') {
		if (parse_duration(s + 1, &d) < 0)
			return -1;
		if (s[0] == '-' ? __builtin_sub_overflow(now, d, out) :
		    __builtin_add_overflow(now, d, out)) {
			errno = ERANGE;
			return -1;
		}
		return 0;
	}
	if (s[0] == '@') {
		at = 1;
		s++;
	}
	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (strcmp(s, "today") == 0)
		return midnight(now, 0, out);
	if (strcmp(s, "yesterday") == 0)
		return midnight(now, -1, out);
	if (strcmp(s, "tomorrow") == 0)
		return midnight(now, 1, out);
	for (p = s; isdigit((unsigned char)*p) || *p == '.'; p++)
		;
	if (*p == '\0' && *s != '\0') {
		/* Seconds since the epoch; a bare number is an offset. */
		if (!at)
			return -1;
		return seconds(s, out);
	}
	if (parse_date(s, out) == -1) {
		if (errno != ERANGE)
			errno = EINVAL;
		return -1;
	}
	return 0;
}

const char *
time_error(int e)
{
	if (e == ERANGE)
		return "out of range: times lie between " TIME_MIN_TEXT
		    " and " TIME_MAX_TEXT;
	return "not a time; use " TIME_FORMS;
}

const char *
duration_error(int e)
{
	if (e == ERANGE)
		return "out of range: durations are at most 106751d "
		    "(292 years)";
	return "not a duration; use a number and a unit: 90s, 15m, 1h30m, "
	    "7d, 2w, 250ms (a bare number is seconds)";
}

int
parse_size(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 'k': case 'K': mul = 1ULL << 10; break;
		case 'm': case 'M': mul = 1ULL << 20; break;
		case 'g': case 'G': mul = 1ULL << 30; break;
		case 't': case 'T': mul = 1ULL << 40; break;
		default: return -1;
		}
		end++;
		if (strcmp(end, "") != 0 && strcmp(end, "B") != 0 &&
		    strcmp(end, "iB") != 0)
			return -1;
	}
	if (v > max / mul)
		return -1;
	*out = v * mul;
	return 0;
}

size_t
format_time(char *buf, size_t len, int64_t ns)
{
	struct tm tm;
	time_t sec;
	int64_t frac;
	size_t n;

	sec = ns / NS;
	frac = ns % NS;
	if (frac < 0) {
		frac += NS;
		sec--;
	}
	gmtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(buf + n, len - n, ".%09lldZ", (long long)frac);
	return n;
}

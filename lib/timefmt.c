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
 * exactly (no floating point) and refusing overflow.
 */
static int
scaled(const char **sp, int64_t unit, int64_t *out)
{
	const char *s = *sp;
	__int128 ip = 0, v;
	int64_t frac;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		ip = ip * 10 + (*s++ - '0');
		if (ip > INT64_MAX)
			return -1;
	}
	if (fraction(&s, &frac) == -1)
		return -1;
	v = ip * unit + (__int128)frac * unit / NS;
	if (v > INT64_MAX)
		return -1;
	*out = (int64_t)v;
	*sp = s;
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

	if (*s == '\0')
		return -1;
	/* A bare number is seconds. */
	for (p = s; isdigit((unsigned char)*p) || *p == '.'; p++)
		;
	if (*p == '\0') {
		p = s;
		return scaled(&p, NS, out) == 0 && *p == '\0' ? 0 : -1;
	}
	p = s;
	while (*p != '\0') {
		const char *num = p, *unit;

		q = p;
		while (isdigit((unsigned char)*q) || *q == '.')
			q++;
		if (q == p)
			return -1;
		unit = q;
		if ((u = unit_ns(&q)) < 0)
			return -1;
		/* The number must end exactly where its unit begins. */
		if (scaled(&num, u, &v) < 0 || num != unit ||
		    total > INT64_MAX - v)
			return -1;
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
 * sec seconds and frac ns since the epoch in ns; -1 if that does not fit
 * in 64 bits (before 1677-09-21 or after 2262-04-11).
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
	    __builtin_add_overflow(ns, frac, &ns))
		return -1;
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

/* RFC 3339: 2026-11-22T10:00:00[.frac](Z|+hh:mm|-hh:mm); 'T' or ' '. */
static int
parse_rfc3339(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, oh, om, sign;
	int64_t frac, t;

	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (*s == '\0')
		return sec_ns(days_from_civil(y, mo, d) * 86400, 0, out);
	if ((*s != 'T' && *s != 't' && *s != ' ') || (s++, 0) ||
	    digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) ||
	    *s++ != ':' || digits(&s, 2, &sec))
		return -1;
	if (fraction(&s, &frac) == -1)
		return -1;
	if (h > 23 || mi > 59 || sec > 60)
		return -1;
	t = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec);
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
		t -= sign * (oh * 3600 + om * 60);
	} else
		return -1;
	if (*s != '\0')
		return -1;
	return sec_ns(t, frac, out);
}

int
parse_time(const char *s, int64_t now, int64_t *out)
{
	const char *p;
	int64_t d;

	if (s[0] == '-') {
		if (parse_duration(s + 1, &d) < 0)
			return -1;
		*out = now - d;
		return 0;
	}
	if (s[0] != '@')
		return -1;
	s++;
	for (p = s; isdigit((unsigned char)*p) || *p == '.'; p++)
		;
	if (*p == '\0' && *s != '\0') {
		p = s;
		if (scaled(&p, NS, out) < 0 || *p != '\0')
			return -1;
		return 0;
	}
	return parse_rfc3339(s, out);
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

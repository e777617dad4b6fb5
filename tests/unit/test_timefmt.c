/*
 * Durations, points in time and sizes as users type them.
 */
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"

#define NS	1000000000LL

/* The instant of a UTC civil time, from libc as an independent reference. */
static int64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (int64_t)timegm(&tm) * NS;
}

static void
dur_ok(const char *s, int64_t want, int line)
{
	int64_t v = -7777;
	int rc = parse_duration(s, &v);

	if (!unit_report(rc == 0 && v == want, __FILE__, line))
		unit_more("parse_duration(\"%s\"): rc %d, %lld ns; want 0, "
		    "%lld ns\n", s, rc, (long long)v, (long long)want);
}

static void
dur_bad(const char *s, int line)
{
	int64_t v = -7777;
	int rc = parse_duration(s, &v);

	if (!unit_report(rc == -1, __FILE__, line))
		unit_more("parse_duration(\"%s\") accepted: rc %d, %lld ns\n",
		    s, rc, (long long)v);
}

#define DUR_OK(s, w)	dur_ok(s, w, __LINE__)
#define DUR_BAD(s)	dur_bad(s, __LINE__)

static void
test_duration(void)
{
	DUR_OK("10", 10 * NS);
	DUR_OK("0", 0);
	DUR_OK("10s", 10 * NS);
	DUR_OK("1h30m", 5400 * NS);
	DUR_OK("1m1s", 61 * NS);
	DUR_OK("250ms", 250000000);
	DUR_OK("7d", 7 * 86400 * NS);
	DUR_OK("2w", 14 * 86400 * NS);
	DUR_OK("1.5s", 1500000000);
	DUR_OK("1.5", 1500000000);
	DUR_OK("1.5m", 90 * NS);
	DUR_OK("0.1h", 360 * NS);
	DUR_OK("100ns", 100);
	DUR_OK("3us", 3000);
	DUR_OK("1h1h", 7200 * NS);
	DUR_OK("0.000000001s", 1);
	DUR_OK("1.000000003s", 1000000003);
	DUR_OK("0.0000000019s", 1);	/* below 1 ns: truncated */
	DUR_OK("106751d", 106751LL * 86400 * NS);
	DUR_OK("9223372036.854775807s", INT64_MAX);

	DUR_BAD("");
	DUR_BAD("h");
	DUR_BAD("10x");
	DUR_BAD("-1h");
	DUR_BAD("+1h");
	DUR_BAD("1h 30m");
	DUR_BAD("10 ");
	DUR_BAD(" 10");
	DUR_BAD(".5s");
	DUR_BAD("1.s");
	DUR_BAD("1.");
	DUR_BAD(".");
	DUR_BAD("5min");
	DUR_BAD("1hh");
	DUR_BAD("s");
	DUR_BAD("1e3");
	DUR_BAD("1..5s");
	DUR_BAD("9223372037s");		/* over INT64_MAX ns */
	DUR_BAD("106752d");
	DUR_BAD("106751d106751d");	/* the sum overflows */
	DUR_BAD("99999999999999999999");
}

/* Numbers with two decimal points are not numbers. */
static void
test_duration_two_points(void)
{
	DUR_BAD("1.2.3");
	DUR_BAD("1.2.3s");
	DUR_BAD("1.5.h");
}

/* Just past INT64_MAX must be refused, not wrap around. */
static void
test_duration_overflow_fraction(void)
{
	DUR_BAD("9223372036.854775808s");
	DUR_BAD("9223372036.9s");
	DUR_BAD("9223372036.9");
}

/* Decimal fractions are exact to the nanosecond. */
static void
test_duration_fractions_exact(void)
{
	char s[64];
	int64_t v;
	unsigned bad = 0, i;
	long long f;

	for (i = 0; i < 1000; i++) {	/* every millisecond fraction */
		snprintf(s, sizeof(s), "3.%03us", i);
		if (parse_duration(s, &v) != 0 || v != 3 * NS + i * 1000000LL) {
			if (bad++ < 5)
				fprintf(stderr, "  %s -> %lld\n", s, (long long)v);
		}
	}
	for (f = 1; f < NS; f += 9973 * 37) {	/* nanosecond fractions */
		snprintf(s, sizeof(s), "12.%09llds", f);
		if (parse_duration(s, &v) != 0 || v != 12 * NS + f) {
			if (bad++ < 5)
				fprintf(stderr, "  %s -> %lld\n", s, (long long)v);
		}
	}
	CHECK_EQ_U64(bad, 0);
}

static void
time_ok(const char *s, int64_t now, int64_t want, int line)
{
	int64_t v = -7777;
	int rc = parse_time(s, now, &v);

	if (!unit_report(rc == 0 && v == want, __FILE__, line))
		unit_more("parse_time(\"%s\"): rc %d, %lld; want 0, %lld\n",
		    s, rc, (long long)v, (long long)want);
}

static void
time_bad(const char *s, int line)
{
	int64_t v = -7777;
	int rc = parse_time(s, 1000 * NS, &v);

	if (!unit_report(rc == -1, __FILE__, line))
		unit_more("parse_time(\"%s\") accepted: rc %d, %lld\n", s, rc,
		    (long long)v);
}

#define TIME_OK(s, now, w)	time_ok(s, now, w, __LINE__)
#define TIME_BAD(s)		time_bad(s, __LINE__)

static void
test_time(void)
{
	int64_t t10 = utc(2026, 11, 22, 10, 0, 0);
	int64_t now = 1800000000LL * NS + 123;

	CHECK_EQ_I64(t10, 1795341600LL * NS);
	TIME_OK("@2026-11-22T10:00:00Z", now, t10);
	TIME_OK("@2026-11-22t10:00:00z", now, t10);
	TIME_OK("@2026-11-22 10:00:00Z", now, t10);
	TIME_OK("@2026-11-22T10:00:00.5Z", now, t10 + NS / 2);
	TIME_OK("@2026-11-22T10:00:00.000000001Z", now, t10 + 1);
	TIME_OK("@2026-11-22T10:00:00.123456789Z", now, t10 + 123456789);
	TIME_OK("@2026-11-22T12:00:00+02:00", now, t10);
	TIME_OK("@2026-11-22T05:30:00-04:30", now, t10);
	TIME_OK("@2026-11-23T00:30:00+14:30", now, t10);
	TIME_OK("@2026-11-22T12:00:00.25+02:00", now, t10 + NS / 4);
	TIME_OK("@2026-11-22", now, utc(2026, 11, 22, 0, 0, 0));
	TIME_OK("@2024-02-29T23:59:59Z", now, utc(2024, 2, 29, 23, 59, 59));
	TIME_OK("@1970-01-01T00:00:00Z", now, 0);
	TIME_OK("@1969-12-31T23:59:59Z", now, -NS);
	TIME_OK("@2262-04-11T23:47:16Z", now, utc(2262, 4, 11, 23, 47, 16));
	TIME_OK("@1700000000", now, 1700000000LL * NS);
	TIME_OK("@1700000000.25", now, 1700000000LL * NS + NS / 4);
	TIME_OK("@1700000000.123456789", now, 1700000000123456789LL);
	TIME_OK("@0", now, 0);
	TIME_OK("-1h", now, now - 3600 * NS);
	TIME_OK("-90m", now, now - 5400 * NS);
	TIME_OK("-1.5s", now, now - 1500000000);
	TIME_OK("-0s", now, now);
	TIME_OK("-10", now, now - 10 * NS);

	TIME_BAD("");
	TIME_BAD("@");
	TIME_BAD("-");
	TIME_BAD("-x");
	TIME_BAD("--1h");
	TIME_BAD("1700000000");
	TIME_BAD("@2026-11-22T10:00:00+0200");
	TIME_BAD("@2026-11-22T10:00:00+02");
	TIME_BAD("@2026-11-22T10:00:00Zjunk");
	TIME_BAD("@2026-11-22T10:00:00.Z");
	TIME_BAD("@2026-13-01T00:00:00Z");
	TIME_BAD("@2026-00-01T00:00:00Z");
	TIME_BAD("@2026-11-00T00:00:00Z");
	TIME_BAD("@2026-11-32T00:00:00Z");
	TIME_BAD("@2026-11-22T24:00:00Z");
	TIME_BAD("@2026-11-22T10:60:00Z");
	TIME_BAD("@2026-11-22T10:00:61Z");
	TIME_BAD("@26-11-22T10:00:00Z");
	TIME_BAD("@2026/11/22");
	TIME_BAD("@2026-11-22X");
	TIME_BAD("@abc");
	TIME_BAD("@1700000000x");
	TIME_BAD("@.5");
	TIME_BAD("@17.");
	TIME_BAD("@-5");
	TIME_BAD("@ 1700000000");
}

/* The date-only form gets the same range checks as the full form. */
static void
test_time_date_only_ranges(void)
{
	TIME_BAD("@2026-13-45");
	TIME_BAD("@2026-00-00");
	TIME_BAD("@2026-11-99");
}

/* A time whose ns do not fit in 64 bits is refused, not wrapped. */
static void
test_time_ns_range(void)
{
	TIME_OK("@2262-04-11T23:47:16.854775807Z", 0, INT64_MAX);
	TIME_OK("@1677-09-21T00:12:43.145224192Z", 0, INT64_MIN);
	TIME_OK("@2262-04-11", 0, utc(2262, 4, 11, 0, 0, 0));
	TIME_BAD("@2262-04-11T23:47:16.854775808Z");
	TIME_BAD("@2262-04-11T23:47:17Z");
	TIME_BAD("@9999-12-31T23:59:59Z");
	TIME_BAD("@9999-12-31");
	TIME_BAD("@2262-04-12");
	TIME_BAD("@1677-09-21T00:12:43.145224191Z");
	TIME_BAD("@1677-09-21");
	TIME_BAD("@0000-01-01T00:00:00Z");
	TIME_BAD("@2262-04-11T23:00:00-01:00");
}

/* "@SECONDS.NANOSECONDS" (how a record time is usually copied) is exact. */
static void
test_time_epoch_fraction_exact(void)
{
	char s[64];
	int64_t v;
	unsigned bad = 0;
	long long f;

	for (f = 1; f < NS; f += 9973 * 37) {
		snprintf(s, sizeof(s), "@1700000000.%09lld", f);
		if (parse_time(s, 0, &v) != 0 || v != 1700000000LL * NS + f) {
			if (bad++ < 5)
				fprintf(stderr, "  %s -> %lld\n", s, (long long)v);
		}
	}
	CHECK_EQ_U64(bad, 0);
}

/* RFC 3339 ranges: days that the month does not have, zone offsets. */
static void
test_time_calendar_ranges(void)
{
	TIME_BAD("@2026-02-30T00:00:00Z");
	TIME_BAD("@2026-04-31T00:00:00Z");
	TIME_BAD("@2025-02-29T00:00:00Z");	/* not a leap year */
	TIME_BAD("@2026-11-22T10:00:00+24:00");
	TIME_BAD("@2026-11-22T10:00:00+02:60");
	TIME_BAD("@2026-11-22T10:00:00-99:99");
}

/* Trailing garbage after an epoch number is an error. */
static void
test_time_epoch_two_points(void)
{
	TIME_BAD("@1700000000.25.5");
	TIME_BAD("@1.2.3");
}

/* The range error is told apart from a syntax error (errno). */
static void
time_errno(const char *s, int want, int line)
{
	int64_t v = -7777;
	int rc;

	errno = 0;
	rc = parse_time(s, 1800000000LL * NS, &v);
	if (!unit_report(rc == -1 && errno == want, __FILE__, line))
		unit_more("parse_time(\"%s\"): rc %d, errno %d; want -1, %d\n",
		    s, rc, errno, want);
}

#define TIME_ERRNO(s, e)	time_errno(s, e, __LINE__)

/* The forms of journalctl --since, with and without '@', zone or T. */
static void
test_time_journalctl_forms(void)
{
	int64_t t10 = utc(2026, 11, 22, 10, 0, 0);
	int64_t now = 1800000000LL * NS + 123;

	TIME_OK("2026-11-22T10:00:00Z", now, t10);
	TIME_OK("2026-11-22 10:00:00Z", now, t10);
	TIME_OK("2026-11-22 10:00:00 UTC", now, t10);
	TIME_OK("2026-11-22 10:00 UTC", now, t10);
	TIME_OK("2026-11-22T10:00Z", now, t10);
	TIME_OK("2026-11-22T12:00+02:00", now, t10);
	TIME_OK("2026-11-22 UTC", now, utc(2026, 11, 22, 0, 0, 0));
	TIME_OK("@2026-11-22T10:00:00.5Z", now, t10 + NS / 2);
	TIME_OK("now", now, now);
	TIME_OK("@now", now, now);
	TIME_OK("+5m", now, now + 300 * NS);
	TIME_OK("-1h30m", now, now - 5400 * NS);
	TIME_OK("+0", now, now);
	TIME_BAD("1700000000");		/* a bare number is an offset */
	TIME_BAD("2026-11-22T");
	TIME_BAD("2026-11-22T10");
	TIME_BAD("2026-11-22T10:");
	TIME_BAD("2026-11-22 10:00:");
	TIME_BAD("2026-11-22 10:00 CET");
	TIME_BAD("2026-11-22  10:00");
	TIME_BAD("todayx");
	TIME_BAD("Today");
	TIME_BAD("+");
	TIME_BAD("+x");
	TIME_BAD("@yesterday2");
}

/*
 * Without a zone a time is local (TZ), as journalctl reads it; today and
 * yesterday are local midnights.  POSIX TZ strings need no tz database.
 */
static void
test_time_local_zone(void)
{
	const char *old = getenv("TZ");
	char *saved = old ? strdup(old) : NULL;
	int64_t now;

	/* New York: UTC-5 in winter, UTC-4 in summer. */
	setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
	tzset();
	TIME_OK("2026-11-22 10:00", 0, utc(2026, 11, 22, 15, 0, 0));
	TIME_OK("2026-11-22T10:00:00", 0, utc(2026, 11, 22, 15, 0, 0));
	TIME_OK("2026-11-22 10:00:30.25", 0,
	    utc(2026, 11, 22, 15, 0, 30) + NS / 4);
	TIME_OK("2026-07-01 10:00", 0, utc(2026, 7, 1, 14, 0, 0));
	TIME_OK("2026-11-22", 0, utc(2026, 11, 22, 5, 0, 0));
	TIME_OK("@2026-11-22", 0, utc(2026, 11, 22, 5, 0, 0));
	/* A zone given wins over TZ. */
	TIME_OK("2026-11-22T10:00:00Z", 0, utc(2026, 11, 22, 10, 0, 0));
	TIME_OK("2026-11-22T10:00:00+01:00", 0, utc(2026, 11, 22, 9, 0, 0));
	/* 2026-11-22 03:00 UTC is still the 21st in New York. */
	now = utc(2026, 11, 22, 3, 0, 0) + 17;
	TIME_OK("today", now, utc(2026, 11, 21, 5, 0, 0));
	TIME_OK("yesterday", now, utc(2026, 11, 20, 5, 0, 0));
	TIME_OK("tomorrow", now, utc(2026, 11, 22, 5, 0, 0));
	/* Across the switch to summer time (2026-03-08): 23 hours. */
	now = utc(2026, 3, 9, 12, 0, 0);
	TIME_OK("today", now, utc(2026, 3, 9, 4, 0, 0));
	TIME_OK("yesterday", now, utc(2026, 3, 8, 5, 0, 0));

	/* Two hours east of UTC, without DST. */
	setenv("TZ", "XYZ-2", 1);
	tzset();
	TIME_OK("2026-11-22 12:00", 0, utc(2026, 11, 22, 10, 0, 0));
	TIME_OK("today", utc(2026, 11, 22, 23, 0, 0),
	    utc(2026, 11, 22, 22, 0, 0));
	/* Both edges of the range hold in local time too. */
	TIME_OK("2262-04-12 01:47:16", 0, utc(2262, 4, 11, 23, 47, 16));
	TIME_ERRNO("2262-04-12 01:47:17", ERANGE);
	TIME_OK("1677-09-21 02:12:44", 0, utc(1677, 9, 21, 0, 12, 44));
	TIME_ERRNO("1677-09-21 02:12:43", ERANGE);

	if (saved) {
		setenv("TZ", saved, 1);
		free(saved);
	} else
		unsetenv("TZ");
	tzset();
}

/*
 * int64 ns reach from 1677-09-21T00:12:43.145224192Z to
 * 2262-04-11T23:47:16.854775807Z: outside is ERANGE in every form, and
 * the message names the range; a syntax error names the forms.
 */
static void
test_time_range_errors(void)
{
	TIME_ERRNO("@2999-01-01T00:00:00Z", ERANGE);
	TIME_ERRNO("2999-01-01", ERANGE);
	TIME_ERRNO("@2300-01-01T00:00:00Z", ERANGE);
	TIME_ERRNO("@2262-04-11T23:47:16.854775808Z", ERANGE);
	TIME_ERRNO("@1677-09-21T00:12:43.145224191Z", ERANGE);
	TIME_ERRNO("1600-01-01T00:00:00Z", ERANGE);
	TIME_ERRNO("@9223372037", ERANGE);
	TIME_ERRNO("@99999999999999999999999", ERANGE);
	TIME_ERRNO("+106752d", ERANGE);
	TIME_ERRNO("-99999999999999999999d", ERANGE);
	TIME_ERRNO("@2026-13-01", EINVAL);
	TIME_ERRNO("last tuesday", EINVAL);
	TIME_ERRNO("", EINVAL);
	TIME_OK("@9223372036.854775807", 0, INT64_MAX);
	TIME_OK("2262-04-11T23:47:16.854775807Z", 0, INT64_MAX);
	TIME_OK("1677-09-21T00:12:43.145224192Z", 0, INT64_MIN);
	CHECK_STR_HAS(time_error(ERANGE), "1677-09-21");
	CHECK_STR_HAS(time_error(ERANGE), "2262-04-11");
	CHECK_STR_HAS(time_error(EINVAL), "YYYY-MM-DD");
	CHECK_STR_HAS(time_error(EINVAL), "@UNIX");
	CHECK_STR_HAS(time_error(EINVAL), "yesterday");
}

/* Durations tell a syntax error from an overflow too. */
static void
test_duration_errors(void)
{
	int64_t v;

	errno = 0;
	CHECK(parse_duration("300000d", &v) == -1 && errno == ERANGE);
	errno = 0;
	CHECK(parse_duration("99999999999999999999", &v) == -1 &&
	    errno == ERANGE);
	errno = 0;
	CHECK(parse_duration("7x", &v) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(parse_duration("", &v) == -1 && errno == EINVAL);
	CHECK(parse_duration("106751d", &v) == 0);
	CHECK_STR_HAS(duration_error(ERANGE), "106751d");
	CHECK_STR_HAS(duration_error(EINVAL), "1h30m");
}

static void
size_ok(const char *s, uint64_t max, uint64_t want, int line)
{
	uint64_t v = 7777;
	int rc = parse_size(s, max, &v);

	if (!unit_report(rc == 0 && v == want, __FILE__, line))
		unit_more("parse_size(\"%s\", %llu): rc %d, %llu; want 0, "
		    "%llu\n", s, (unsigned long long)max, rc,
		    (unsigned long long)v, (unsigned long long)want);
}

static void
size_bad(const char *s, uint64_t max, int line)
{
	uint64_t v = 7777;
	int rc = parse_size(s, max, &v);

	if (!unit_report(rc == -1, __FILE__, line))
		unit_more("parse_size(\"%s\", %llu) accepted: %llu\n", s,
		    (unsigned long long)max, (unsigned long long)v);
}

#define SIZE_OK(s, m, w)	size_ok(s, m, w, __LINE__)
#define SIZE_BAD(s, m)		size_bad(s, m, __LINE__)

static void
test_size(void)
{
	uint64_t big = 1ULL << 50;

	SIZE_OK("4096", big, 4096);
	SIZE_OK("0", big, 0);
	SIZE_OK("64M", big, 64ULL << 20);
	SIZE_OK("64m", big, 64ULL << 20);
	SIZE_OK("1GiB", big, 1ULL << 30);
	SIZE_OK("1G", big, 1ULL << 30);
	SIZE_OK("1KB", big, 1024);	/* binary multiples, whatever spelling */
	SIZE_OK("1k", big, 1024);
	SIZE_OK("1KiB", big, 1024);
	SIZE_OK("3MB", big, 3ULL << 20);
	SIZE_OK("2T", big, 2ULL << 40);
	SIZE_OK("1024", 1024, 1024);
	SIZE_OK("1K", 1024, 1024);
	SIZE_OK("18446744073709551615", UINT64_MAX, UINT64_MAX);
	SIZE_OK("16777215T", UINT64_MAX, 16777215ULL << 40);

	SIZE_BAD("x", big);
	SIZE_BAD("", big);
	SIZE_BAD("-1", big);
	SIZE_BAD("+1", big);
	SIZE_BAD(" 1", big);
	SIZE_BAD("1 M", big);
	SIZE_BAD("1.5M", big);
	SIZE_BAD("1Ki", big);
	SIZE_BAD("1Mb", big);
	SIZE_BAD("1MBB", big);
	SIZE_BAD("1X", big);
	SIZE_BAD("M", big);
	SIZE_BAD("1025", 1024);		/* over max */
	SIZE_BAD("2K", 2047);
	SIZE_BAD("16777216T", UINT64_MAX);	/* 2^64 */
	SIZE_BAD("17179869184G", UINT64_MAX);
}

/* A number too big for 64 bits is refused, even when max is UINT64_MAX. */
static void
test_size_overflow(void)
{
	SIZE_BAD("18446744073709551616", UINT64_MAX);
	SIZE_BAD("99999999999999999999999", UINT64_MAX);
}

static void
test_format_time(void)
{
	static const int64_t v[] = { 0, 1, -1, NS, -NS, 1795341600LL * NS,
	    1795341600LL * NS + 500000000, 1700000000123456789LL,
	    951782400LL * NS + 7,	/* 2000-02-29 */
	    -86400LL * 365 * NS + 3,	/* 1969 */
	    9223372036854775807LL };
	char buf[64], at[70];
	int64_t back;
	size_t i, n;

	n = format_time(buf, sizeof(buf), 1795341600LL * NS + 500000000);
	CHECK_MEM(buf, n, "2026-11-22T10:00:00.500000000Z", 30);
	n = format_time(buf, sizeof(buf), -1);
	CHECK_MEM(buf, n, "1969-12-31T23:59:59.999999999Z", 30);
	n = format_time(buf, 36, 0);
	CHECK_MEM(buf, n, "1970-01-01T00:00:00.000000000Z", 30);
	CHECK_EQ_U64(strlen(buf), n);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = format_time(buf, sizeof(buf), v[i]);
		CHECK_EQ_U64(n, strlen(buf));
		snprintf(at, sizeof(at), "@%s", buf);
		back = -7777;
		if (!CHECK_EQ_I64(parse_time(at, 0, &back), 0) ||
		    !CHECK_EQ_I64(back, v[i]))
			fprintf(stderr, "  via \"%s\"\n", at);
	}
}

static void
test_now(void)
{
	int64_t a = now_ns(), b = now_ns();

	CHECK(a > 1700000000LL * NS);
	CHECK(b >= a);
}

int
main(void)
{
	/* The tests written in UTC run in UTC whatever the machine's TZ. */
	setenv("TZ", "UTC", 1);
	tzset();
	RUN(test_duration);
	RUN(test_duration_two_points);
	RUN(test_duration_overflow_fraction);
	RUN(test_duration_fractions_exact);
	RUN(test_time);
	RUN(test_time_date_only_ranges);
	RUN(test_time_calendar_ranges);
	RUN(test_time_ns_range);
	RUN(test_time_epoch_fraction_exact);
	RUN(test_time_epoch_two_points);
	RUN(test_time_journalctl_forms);
	RUN(test_time_local_zone);
	RUN(test_time_range_errors);
	RUN(test_duration_errors);
	RUN(test_size);
	RUN(test_size_overflow);
	RUN(test_format_time);
	RUN(test_now);
	return unit_done();
}

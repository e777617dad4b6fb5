/*
 * The small files of a store: topics, clock and producer state, written
 * and read back through their one writer and reader, and damaged ones
 * rejected as bus-segment(5) says.
 */
#include "unit.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"

static char *tmp;
static int dfd;

static void
fresh(void)
{
	if (tmp != NULL) {
		close(dfd);
		unit_rmrf(tmp);
	}
	tmp = unit_tmpdir();
	if ((dfd = open(tmp, O_RDONLY | O_DIRECTORY)) == -1) {
		perror(tmp);
		exit(2);
	}
}

static void
put_file(const char *name, const void *s, size_t n)
{
	int fd;

	if ((fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    write(fd, s, n) != (ssize_t)n) {
		perror(name);
		exit(2);
	}
	close(fd);
}

/* The whole file into buf (NUL-terminated); its length, or -1. */
static ssize_t
get_file(const char *name, char *buf, size_t cap)
{
	ssize_t n;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY)) == -1)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* ---------------------------------------------------------------- topics */

struct seen {
	char	 all[2048];	/* topics read, each followed by '|' */
	int	 n;		/* how many */
	int	 stop_at;	/* return nonzero at this one (1-based); 0 never */
	int	 lens_ok;	/* every len was strlen(topic) */
};

/* A callback's verdict after its n-th call: fail (ENOMEM) at stop_at. */
static int
stop_at(int n, int stop)
{
	if (n == stop) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static int
collect(const char *t, size_t len, void *arg)
{
	struct seen *s = arg;

	if (strlen(t) != len)
		s->lens_ok = 0;
	strlcat(s->all, t, sizeof(s->all));
	strlcat(s->all, "|", sizeof(s->all));
	return stop_at(++s->n, s->stop_at);
}

static void
test_topics_round_trip(void)
{
	struct seen s = { .lens_ok = 1 };
	char buf[256];
	int fd;

	fresh();
	/* No file: said so, no topics. */
	errno = 0;
	CHECK_EQ_I64(store_topics_read(dfd, collect, &s), -1);
	CHECK_EQ_I64(errno, ENOENT);
	CHECK_EQ_I64(s.n, 0);
	CHECK((fd = store_topics_open(dfd)) != -1);
	CHECK_EQ_I64(store_topics_append(fd, "web.access", 10), 0);
	CHECK_EQ_I64(store_topics_append(fd, "web.error-2_x", 13), 0);
	/* Only len bytes count. */
	CHECK_EQ_I64(store_topics_append(fd, "app.logXYZ", 7), 0);
	CHECK_EQ_I64(get_file(BUS_TOPICS, buf, sizeof(buf)), 33);
	CHECK_MEM(buf, 33, "web.access\nweb.error-2_x\napp.log\n", 33);
	CHECK_EQ_I64(store_topics_read(dfd, collect, &s), 0);
	CHECK_EQ_I64(s.n, 3);
	CHECK_MEM(s.all, strlen(s.all), "web.access|web.error-2_x|app.log|", 33);
	CHECK(s.lens_ok);
	close(fd);
	/* Opened again: appends after what is there, never truncates. */
	CHECK((fd = store_topics_open(dfd)) != -1);
	CHECK_EQ_I64(store_topics_append(fd, "z", 1), 0);
	close(fd);
	CHECK_EQ_I64(get_file(BUS_TOPICS, buf, sizeof(buf)), 35);
	CHECK_MEM(buf + 33, 2, "z\n", 2);
}

static void
test_topics_append_refuses(void)
{
	char big[BUS_TOPIC_MAX + 1], buf[512];
	int fd;

	fresh();
	CHECK((fd = store_topics_open(dfd)) != -1);
	memset(big, 'a', sizeof(big));
	errno = 0;
	CHECK_EQ_I64(store_topics_append(fd, big, sizeof(big)), -1);
	CHECK_EQ_I64(errno, EINVAL);
	CHECK_EQ_I64(store_topics_append(fd, big, BUS_TOPIC_MAX), 0);
	CHECK_EQ_I64(store_topics_append(fd, "a\nb", 3), -1);
	CHECK_EQ_I64(store_topics_append(fd, ".hidden", 7), -1);
	CHECK_EQ_I64(store_topics_append(fd, "", 0), -1);
	CHECK_EQ_I64(store_topics_append(fd, "../x", 4), -1);
	close(fd);
	/* Only the longest valid one is in the file. */
	CHECK_EQ_I64(get_file(BUS_TOPICS, buf, sizeof(buf)), BUS_TOPIC_MAX + 1);
	CHECK(memchr(buf, '\n', BUS_TOPIC_MAX) == NULL);
	CHECK(buf[BUS_TOPIC_MAX] == '\n');
	/* A write that fails says so. */
	CHECK_EQ_I64(store_topics_append(-1, "ok", 2), -1);
	CHECK_EQ_I64(errno, EBADF);
}

static void
test_topics_bad_lines_skipped(void)
{
	struct seen s = { .lens_ok = 1 };
	char longl[BUS_TOPIC_MAX + 2], file[1024];
	size_t n = 0;

	fresh();
	memset(longl, 'L', BUS_TOPIC_MAX + 1);
	longl[BUS_TOPIC_MAX + 1] = '\n';
#define ADD(s, len) (memcpy(file + n, (s), (len)), n += (len))
	ADD("good.one\n", 9);
	ADD("\n", 1);			/* empty */
	ADD("has space\n", 10);
	ADD(".dot\n", 5);
	ADD("a/b\n", 4);
	ADD("nul\0x\n", 6);
	ADD("caf\xc3\xa9\n", 6);	/* outside the charset */
	ADD(longl, sizeof(longl));	/* 256 bytes */
	ADD("good-two\r\n", 10);	/* CR is not stripped: bad */
	ADD("good_three\n", 11);
	ADD("good.one\n", 9);		/* listed twice: given twice */
	ADD("tail", 4);			/* no newline: taken, as busd does */
#undef ADD
	put_file(BUS_TOPICS, file, n);
	CHECK_EQ_I64(store_topics_read(dfd, collect, &s), 0);
	CHECK_EQ_I64(s.n, 4);
	CHECK_MEM(s.all, strlen(s.all), "good.one|good_three|good.one|tail|",
	    34);
	CHECK(s.lens_ok);
	/* The callback stops it, with its errno. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	errno = 0;
	CHECK_EQ_I64(store_topics_read(dfd, collect, &s), -1);
	CHECK_EQ_I64(errno, ENOMEM);
	CHECK_EQ_I64(s.n, 2);
	/* An empty file: no topics, no error. */
	put_file(BUS_TOPICS, "", 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ_I64(store_topics_read(dfd, collect, &s), 0);
	CHECK_EQ_I64(s.n, 0);
	/* A topics file that cannot be read is an error, not empty. */
	unlinkat(dfd, BUS_TOPICS, 0);
	CHECK(mkdirat(dfd, BUS_TOPICS, 0755) == 0);
	errno = 0;
	CHECK_EQ_I64(store_topics_read(dfd, collect, &s), -1);
	CHECK(errno != 0 && errno != ENOENT);
}

/* ----------------------------------------------------------------- clock */

static void
test_clock(void)
{
	static const uint8_t want[8] = { 0x07, 0x40, 0x7b, 0x4e, 0xac, 0x55,
	    0xea, 0x18 };
	char buf[32];
	int fd;

	fresh();
	CHECK((fd = openat(dfd, BUS_CLOCK, O_RDWR | O_CREAT, 0644)) != -1);
	/* Empty, then short: 0. */
	CHECK_EQ_I64(store_clock_read(fd), 0);
	CHECK(write(fd, "\x01\x02\x03", 3) == 3);
	CHECK_EQ_I64(store_clock_read(fd), 0);
	CHECK_EQ_I64(store_clock_write(fd, 1795341600000000007LL), 0);
	CHECK_EQ_I64(store_clock_read(fd), 1795341600000000007LL);
	/* 8 bytes little-endian at 0, the example of bus-segment(5). */
	CHECK_EQ_I64(get_file(BUS_CLOCK, buf, sizeof(buf)), 8);
	CHECK_MEM(buf, 8, want, 8);
	/* Smaller values overwrite in place; the file stays 8 bytes. */
	CHECK_EQ_I64(store_clock_write(fd, 5), 0);
	CHECK_EQ_I64(store_clock_read(fd), 5);
	CHECK_EQ_I64(get_file(BUS_CLOCK, buf, sizeof(buf)), 8);
	CHECK_EQ_I64(store_clock_write(fd, INT64_MAX), 0);
	CHECK_EQ_I64(store_clock_read(fd), INT64_MAX);
	close(fd);
	CHECK_EQ_I64(store_clock_write(-1, 1), -1);
	CHECK_EQ_I64(errno, EBADF);
}

/* ------------------------------------------------------------- producers */

struct prods {
	struct store_producer	 v[8];	/* the entries */
	int			 n;	/* how many */
	int			 at;	/* next to give or the count read */
	int			 stop_at; /* fail at this one (1-based) */
};

static int
give(void *arg, struct store_producer *e)
{
	struct prods *p = arg;

	if (p->at == p->n)
		return 0;
	*e = p->v[p->at++];
	return 1;
}

static int
take(uint64_t id, uint64_t seq, int64_t used, void *arg)
{
	struct prods *p = arg;

	if (p->n == 8)
		return -1;
	p->v[p->n].id = id;
	p->v[p->n].last_seq = seq;
	p->v[p->n].last_use = used;
	return stop_at(++p->n, p->stop_at);
}

static void
test_producers_round_trip(void)
{
	struct prods w = { .n = 3, .v = {
		{ 0x1122334455667788ULL, 1042, 1795341600000000007LL },
		{ 0xa, 0, 0 },
		{ UINT64_MAX, UINT64_MAX, -1 } } };
	struct prods r = { 0 };
	const char *want = "bus-producers 2\nnext 20480\n"
	    "1122334455667788 1042 1795341600000000007\n"
	    "000000000000000a 0 0\n"
	    "ffffffffffffffff 18446744073709551615 -1\n";
	uint64_t next = 7;
	char buf[512];
	struct stat st;
	int i;

	fresh();
	errno = 0;
	CHECK_EQ_I64(store_producers_read(dfd, &next, take, &r), -1);
	CHECK_EQ_I64(errno, ENOENT);
	CHECK_EQ_U64(next, 7);
	CHECK_EQ_I64(store_producers_write(dfd, 20480, give, &w), 0);
	CHECK_EQ_I64(get_file(BUS_PRODUCERS, buf, sizeof(buf)),
	    (ssize_t)strlen(want));
	CHECK_MEM(buf, strlen(buf), want, strlen(want));
	CHECK(fstatat(dfd, BUS_PRODUCERS ".tmp", &st, 0) == -1 &&
	    errno == ENOENT);
	CHECK_EQ_I64(store_producers_read(dfd, &next, take, &r), 0);
	CHECK_EQ_U64(next, 20480);
	CHECK_EQ_I64(r.n, 3);
	for (i = 0; i < 3; i++) {
		CHECK_EQ_U64(r.v[i].id, w.v[i].id);
		CHECK_EQ_U64(r.v[i].last_seq, w.v[i].last_seq);
		CHECK_EQ_I64(r.v[i].last_use, w.v[i].last_use);
	}
	/* No producers: the two lines alone. */
	w.n = w.at = 0;
	CHECK_EQ_I64(store_producers_write(dfd, 0, give, &w), 0);
	CHECK_EQ_I64(get_file(BUS_PRODUCERS, buf, sizeof(buf)), 23);
	CHECK_MEM(buf, 23, "bus-producers 2\nnext 0\n", 23);
	r.n = 0;
	CHECK_EQ_I64(store_producers_read(dfd, &next, take, &r), 0);
	CHECK_EQ_U64(next, 0);
	CHECK_EQ_I64(r.n, 0);
}

static void
test_producers_write_fails(void)
{
	struct prods w = { .n = 1, .v = { { 5, 6, 7 } } };
	const char *old = "bus-producers 2\nnext 1\n0000000000000005 1 1\n";
	char buf[256];

	fresh();
	put_file(BUS_PRODUCERS, old, strlen(old));
	/* producers.tmp cannot be made: the old file stays as it was. */
	CHECK(mkdirat(dfd, BUS_PRODUCERS ".tmp", 0755) == 0);
	CHECK_EQ_I64(store_producers_write(dfd, 9, give, &w), -1);
	CHECK_EQ_I64(get_file(BUS_PRODUCERS, buf, sizeof(buf)),
	    (ssize_t)strlen(old));
	CHECK_MEM(buf, strlen(buf), old, strlen(old));
}

/* A file of this content: the result and errno of reading it. */
static void
damaged(const char *content, int line)
{
	struct prods r = { 0 };
	uint64_t next = 77;
	int rc;

	put_file(BUS_PRODUCERS, content, strlen(content));
	errno = 0;
	rc = store_producers_read(dfd, &next, take, &r);
	if (!unit_report(rc == -1 && errno == EBADMSG && next == 77 &&
	    r.n == 0, __FILE__, line))
		unit_more("\"%s\": rc %d errno %d next %llu n %d; want -1 "
		    "EBADMSG, untouched\n", content, rc, errno,
		    (unsigned long long)next, r.n);
}
#define DAMAGED(c) damaged((c), __LINE__)

static void
test_producers_damaged(void)
{
	fresh();
	DAMAGED("");
	DAMAGED("bus-producers 2");		/* no newline */
	DAMAGED("bus-producers 2\n");		/* no next line */
	DAMAGED("bus-producers 1\nnext 5\n");
	DAMAGED("bus-producers 2 \nnext 5\n");
	DAMAGED("BUS-PRODUCERS 2\nnext 5\n");
	DAMAGED("bus-producers 2\nnxt 5\n");
	DAMAGED("bus-producers 2\nnext x\n");
	DAMAGED("\nbus-producers 2\nnext 5\n");
	DAMAGED("0000000000000005 1 1\n");
}

static void
test_producers_bad_lines_skipped(void)
{
	struct prods r = { 0 };
	uint64_t next = 0;
	const char *f = "bus-producers 2\nnext 12\n"
	    "0000000000000001 10 100\n"
	    "0000000000000000 11 101\n"		/* id 0 */
	    "garbage\n"
	    "0000000000000002 12\n"		/* a field short */
	    "\n"
	    "0000000000000003 x 102\n"
	    "0000000000000004 13 103\n"
	    "0000000000000005 14 104";		/* no newline: still parses */

	fresh();
	put_file(BUS_PRODUCERS, f, strlen(f));
	CHECK_EQ_I64(store_producers_read(dfd, &next, take, &r), 0);
	CHECK_EQ_U64(next, 12);
	CHECK_EQ_I64(r.n, 3);
	CHECK_EQ_U64(r.v[0].id, 1);
	CHECK_EQ_U64(r.v[0].last_seq, 10);
	CHECK_EQ_I64(r.v[0].last_use, 100);
	CHECK_EQ_U64(r.v[1].id, 4);
	CHECK_EQ_U64(r.v[2].id, 5);
	CHECK_EQ_I64(r.v[2].last_use, 104);
	/* The callback stops it, with its errno; next is not given. */
	memset(&r, 0, sizeof(r));
	r.stop_at = 1;
	next = 0;
	errno = 0;
	CHECK_EQ_I64(store_producers_read(dfd, &next, take, &r), -1);
	CHECK_EQ_I64(errno, ENOMEM);
	CHECK_EQ_U64(next, 0);
}

int
main(void)
{
	RUN(test_topics_round_trip);
	RUN(test_topics_append_refuses);
	RUN(test_topics_bad_lines_skipped);
	RUN(test_clock);
	RUN(test_producers_round_trip);
	RUN(test_producers_write_fails);
	RUN(test_producers_damaged);
	RUN(test_producers_bad_lines_skipped);
	if (tmp != NULL) {
		close(dfd);
		unit_rmrf(tmp);
	}
	return unit_done();
}

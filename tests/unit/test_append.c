/*
 * The appender (append.h): records and index entries land where the
 * reader and idx_load() find them, an entry every BUS_IDX_EVERY bytes
 * exactly as idx_rebuild() places them, a failed write leaves the files
 * at their previous size, and undo cuts back to the mark.
 */
#include "unit.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "append.h"
#include "bus.h"
#include "segscan.h"

#define T0	1700000000000000000LL
#define SEG	"00000000000000000000.seg"
#define IDX	"00000000000000000000.idx"
#define BIG	20000			/* payload of the large records */

static char	*tmp;			/* the store */
static int	 dfd = -1;		/* its partition "p" */
static int	 sfd = -1, ifd = -1;	/* the segment and its index */

/* Payload length of record o: uneven, and large every 97th. */
static size_t
plen(uint64_t o)
{
	return o % 97 == 50 ? BIG : 50 + (o * 37) % 400;
}

static void
fill(uint8_t *p, uint64_t o)
{
	size_t k, n = plen(o);

	for (k = 0; k < n; k++)
		p[k] = (uint8_t)(o * 31 + k);
}

/* A fresh partition with an empty segment and index. */
static void
fresh(void)
{
	uint8_t h[BUS_SEG_HDR], ih[BUS_IDX_HDR];
	char p[4096];

	if (dfd != -1) {
		close(sfd);
		close(ifd);
	}
	dfd = unit_partition(&tmp, dfd, p, sizeof(p));
	sfd = openat(dfd, SEG, O_RDWR | O_CREAT | O_APPEND, 0644);
	ifd = openat(dfd, IDX, O_RDWR | O_CREAT | O_APPEND, 0644);
	seg_hdr_encode(h, 0, T0);
	idx_hdr_encode(ih, 0);
	if (write(sfd, h, sizeof(h)) != sizeof(h) ||
	    write(ifd, ih, sizeof(ih)) != sizeof(ih))
		abort();
}

/* Append records from .. to-1 the way busd does; 0 or what failed. */
static int
put(struct app *a, uint64_t from, uint64_t to)
{
	static uint8_t pl[BIG];
	struct bus_rec r;
	uint64_t o;

	for (o = from; o < to; o++) {
		memset(&r, 0, sizeof(r));
		fill(pl, o);
		r.offset = o;
		r.recv_ns = r.send_ns = r.event_ns = T0 + (int64_t)o;
		r.topic = "t";
		r.topic_len = 1;
		r.payload = pl;
		r.payload_len = plen(o);
		if (app_add(a, &r) == -1)
			return -1;
	}
	return 0;
}

static uint64_t
fsize(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
}

/* Does the reader return exactly records 0 .. n-1, payloads intact? */
static void
check_read(uint64_t n)
{
	static uint8_t pl[BIG];
	struct preader *pr;
	struct bus_rec r;
	uint64_t o = 0;
	int rc, bad = 0;

	CHECK((pr = preader_open(tmp, "p")) != NULL);
	if (pr == NULL)
		return;
	while ((rc = preader_peek(pr, &r)) == PR_REC) {
		fill(pl, o);
		if (r.offset != o || r.payload_len != plen(o) ||
		    memcmp(r.payload, pl, plen(o)) != 0)
			bad++;
		o++;
		preader_advance(pr);
	}
	CHECK_EQ_I64(rc, PR_WAIT);
	CHECK_EQ_U64(o, n);
	CHECK_EQ_I64(bad, 0);
	preader_close(pr);
}

/*
 * The index written while appending is the one idx_rebuild() makes from
 * the segment, byte for byte; and every entry names its record.
 */
static void
check_index(uint64_t nwant)
{
	struct bus_idx_ent *e;
	struct segscan ss;
	struct bus_rec r;
	uint8_t a[64 * 1024], b[64 * 1024];
	uint64_t end;
	size_t n, i;
	ssize_t la, lb;
	int fd;

	CHECK_EQ_I64(idx_rebuild(dfd, sfd, "rebuilt.idx", 0, &end, 1), 0);
	CHECK_EQ_U64(end, fsize(sfd));
	fd = openat(dfd, "rebuilt.idx", O_RDONLY);
	la = pread(ifd, a, sizeof(a), 0);
	lb = pread(fd, b, sizeof(b), 0);
	close(fd);
	CHECK(la > BUS_IDX_HDR && lb < (ssize_t)sizeof(b));
	CHECK_MEM(a, (size_t)la, b, (size_t)lb);
	e = idx_load(dfd, IDX, 0, &n);
	CHECK(e != NULL);
	CHECK_EQ_U64(n, nwant);
	if (e == NULL)
		return;
	CHECK_EQ_U64(e[0].pos, BUS_SEG_HDR);
	CHECK(segscan_init(&ss, sfd, BUS_SEG_HDR) == 0);
	for (i = 0; i < n; i++) {
		segscan_seek(&ss, e[i].pos);
		if (!CHECK_EQ_I64(segscan_next(&ss, &r), SS_REC) ||
		    !CHECK_EQ_U64(r.offset, e[i].offset) ||
		    !CHECK_EQ_I64(r.recv_ns, e[i].recv_ns))
			break;
		if (i > 0 && !CHECK(e[i].pos - e[i - 1].pos >= BUS_IDX_EVERY))
			break;
	}
	segscan_close(&ss);
	free(e);
}

/* Entries idx_rebuild() would write for the segment as it is now. */
static size_t
entries_expected(void)
{
	struct segscan ss;
	struct bus_batch b;
	uint64_t last = 0;
	size_t n = 0;

	segscan_init(&ss, sfd, BUS_SEG_HDR);
	while (segscan_next_batch(&ss, &b) == SS_REC)
		if (n == 0 || ss.rpos - last >= BUS_IDX_EVERY) {
			last = ss.rpos;
			n++;
		}
	segscan_close(&ss);
	return n;
}

/* Records from .. to - 1 appended and flushed: the files hold 0 .. to - 1. */
static void
put_check(struct app *a, uint64_t from, uint64_t to)
{
	CHECK_EQ_I64(put(a, from, to), 0);
	CHECK_EQ_I64(app_flush(a), 0);
	check_read(to);
	check_index(entries_expected());
}

static void
test_append_read(void)
{
	struct app a;
	size_t want;

	fresh();
	/*
	 * A small buffer: many flushes, and records larger than it; the
	 * others share batches.
	 */
	CHECK(app_init(&a, sfd, ifd, BUS_SEG_HDR, BUS_IDX_HDR, 0, 0, 4096) == 0);
	CHECK_EQ_I64(put(&a, 0, 3000), 0);
	CHECK(a.wlen > 0);		/* some still pending */
	CHECK_EQ_I64(app_flush(&a), 0);
	CHECK_EQ_U64(a.size, fsize(sfd));
	CHECK_EQ_U64(a.idx_size, fsize(ifd));
	CHECK_EQ_U64(app_pos(&a), a.size);
	check_read(3000);
	want = entries_expected();
	CHECK(want > 10);
	check_index(want);
	/* Appending goes on where it stopped, after a flush. */
	put_check(&a, 3000, 3100);
	app_free(&a);
}

/* As busd after a restart: on from the files and their last entry. */
static void
test_append_reopen(void)
{
	struct bus_idx_ent *e;
	struct app a;
	size_t n;

	fresh();
	CHECK(app_init(&a, sfd, ifd, BUS_SEG_HDR, BUS_IDX_HDR, 0, 0, 65536) == 0);
	CHECK_EQ_I64(put(&a, 0, 700), 0);
	CHECK_EQ_I64(app_flush(&a), 0);
	app_free(&a);
	e = idx_load(dfd, IDX, 0, &n);
	CHECK(e != NULL && n > 1);
	if (e == NULL)
		return;
	CHECK(app_init(&a, -1, -1, 0, 0, 0, 0, 65536) == 0);
	app_reset(&a, sfd, ifd, fsize(sfd), fsize(ifd), e[n - 1].pos, 1);
	free(e);
	put_check(&a, 700, 1400);
	app_free(&a);
}

/* The segment may not grow past limit bytes: a write fails midway. */
static void
limit_fsize(rlim_t limit)
{
	struct rlimit rl;

	getrlimit(RLIMIT_FSIZE, &rl);
	rl.rlim_cur = limit;
	setrlimit(RLIMIT_FSIZE, &rl);
}

static void
test_append_fail(void)
{
	struct app a;
	uint64_t before, ibefore;
	int ro;

	fresh();
	signal(SIGXFSZ, SIG_IGN);
	CHECK(app_init(&a, sfd, ifd, BUS_SEG_HDR, BUS_IDX_HDR, 0, 0,
	    1024 * 1024) == 0);
	CHECK_EQ_I64(put(&a, 0, 100), 0);
	CHECK_EQ_I64(app_flush(&a), 0);
	before = fsize(sfd);
	ibefore = fsize(ifd);

	/* Part of the records get written, then EFBIG: all cut back. */
	CHECK_EQ_I64(put(&a, 100, 1000), 0);
	limit_fsize(before + 5000);
	errno = 0;
	CHECK_EQ_I64(app_flush(&a), -1);
	CHECK_EQ_I64(errno, EFBIG);
	limit_fsize(RLIM_INFINITY);
	CHECK_EQ_I64(a.failed, EFBIG);
	CHECK_EQ_U64(fsize(sfd), before);
	CHECK_EQ_U64(fsize(ifd), ibefore);
	CHECK_EQ_U64(a.size, before);
	CHECK_EQ_U64(a.wlen + a.ilen, 0);
	/* Sticky until the caller clears it. */
	CHECK_EQ_I64(app_flush(&a), -1);
	check_read(100);
	check_index(entries_expected());

	/* A segment fd that cannot be written: nothing changes. */
	a.failed = 0;
	ro = openat(dfd, SEG, O_RDONLY);
	a.sfd = ro;
	CHECK_EQ_I64(put(&a, 100, 200), 0);
	CHECK_EQ_I64(app_flush(&a), -1);
	CHECK_EQ_I64(a.failed, EBADF);
	CHECK_EQ_U64(fsize(sfd), before);
	close(ro);
	a.sfd = sfd;
	a.failed = 0;

	/* The index alone fails: the records stay, the index is cut back. */
	ro = openat(dfd, IDX, O_RDONLY);
	a.ifd = ro;
	CHECK_EQ_I64(put(&a, 100, 4000), 0);	/* batches: some indexed */
	CHECK_EQ_I64(app_flush(&a), -2);
	CHECK_EQ_I64(a.failed, 0);
	CHECK_EQ_U64(fsize(ifd), ibefore);
	CHECK_EQ_U64(a.idx_size, ibefore);
	CHECK(fsize(sfd) > before);
	close(ro);
	a.ifd = ifd;
	check_read(4000);
	app_free(&a);
}

/* A pipe as the segment: a reader that goes away fails the write. */
static void
test_append_pipe(void)
{
	struct app a;
	int p[2];

	fresh();
	signal(SIGPIPE, SIG_IGN);
	CHECK(pipe(p) == 0);
	close(p[0]);
	CHECK(app_init(&a, p[1], ifd, BUS_SEG_HDR, BUS_IDX_HDR, 0, 0, 4096) == 0);
	/* The reserve that needs a flush reports it. */
	CHECK_EQ_I64(put(&a, 0, 100), -1);
	CHECK_EQ_I64(a.failed, EPIPE);
	CHECK_EQ_U64(fsize(ifd), BUS_IDX_HDR);
	close(p[1]);
	app_free(&a);
}

static void
test_append_undo(void)
{
	struct app a;
	uint64_t size, isize;

	fresh();
	CHECK(app_init(&a, sfd, ifd, BUS_SEG_HDR, BUS_IDX_HDR, 0, 0, 8192) == 0);
	CHECK_EQ_I64(put(&a, 0, 500), 0);
	CHECK_EQ_I64(app_flush(&a), 0);
	app_mark(&a);
	size = fsize(sfd);
	isize = fsize(ifd);
	/* A turn that wrote, then failed elsewhere: undone. */
	CHECK_EQ_I64(put(&a, 500, 1500), 0);
	CHECK_EQ_I64(app_flush(&a), 0);
	CHECK(fsize(sfd) > size && fsize(ifd) > isize);
	CHECK_EQ_I64(put(&a, 1500, 1510), 0);	/* and some still pending */
	CHECK_EQ_I64(app_undo(&a), 0);
	CHECK_EQ_U64(fsize(sfd), size);
	CHECK_EQ_U64(fsize(ifd), isize);
	CHECK_EQ_U64(a.size, size);
	CHECK_EQ_U64(app_pos(&a), size);
	check_read(500);
	check_index(entries_expected());
	/* What comes next lands at the mark, indexed as if never undone. */
	CHECK_EQ_I64(put(&a, 500, 1200), 0);
	CHECK_EQ_I64(app_flush(&a), 0);
	check_read(1200);
	check_index(entries_expected());
	app_free(&a);
}

int
main(void)
{
	RUN(test_append_read);
	RUN(test_append_reopen);
	RUN(test_append_fail);
	RUN(test_append_pipe);
	RUN(test_append_undo);
	if (dfd != -1) {
		close(sfd);
		close(ifd);
		close(dfd);
		unit_rmrf(tmp);
	}
	return unit_done();
}

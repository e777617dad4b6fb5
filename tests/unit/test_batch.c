/*
 * The record batch codec of format 2: varints, round trips of record and
 * block batches, every header field at its limits, a torn batch at every
 * length, a bit flip anywhere.
 */
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

static uint8_t	 buf[1 << 20];

static void
test_varint(void)
{
	static const uint64_t v[] = { 0, 1, 127, 128, 300, 16383, 16384,
	    UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX - 1, UINT64_MAX };
	uint8_t b[16];
	uint64_t got;
	size_t i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = uvarint_put(b, v[i]);
		CHECK_EQ_U64(n, uvarint_len(v[i]));
		CHECK_EQ_U64(uvarint_get(b, n, &got), n);
		CHECK_EQ_U64(got, v[i]);
		/* Short by a byte: malformed. */
		CHECK_EQ_U64(uvarint_get(b, n - 1, &got), 0);
	}
	CHECK_EQ_U64(uvarint_put(b, 300), 2);
	CHECK_EQ_U64(b[0], 0xac);
	CHECK_EQ_U64(b[1], 0x02);
	CHECK_EQ_U64(uvarint_len(UINT64_MAX), 10);
	/* A tenth byte above 1 overflows 64 bits. */
	memset(b, 0xff, 9);
	b[9] = 0x02;
	CHECK_EQ_U64(uvarint_get(b, 10, &got), 0);
	b[9] = 0x01;
	CHECK_EQ_U64(uvarint_get(b, 10, &got), 10);
	CHECK_EQ_U64(got, UINT64_MAX);
	/* One way to write a number: 0 as 80 00 is malformed. */
	b[0] = 0x80;
	b[1] = 0x00;
	CHECK_EQ_U64(uvarint_get(b, 2, &got), 0);
	b[0] = 0xac;
	b[1] = 0x02;
	CHECK_EQ_U64(uvarint_get(b, 2, &got), 2);
	/* Eleven bytes never end a varint. */
	memset(b, 0x80, 11);
	CHECK_EQ_U64(uvarint_get(b, 11, &got), 0);
}

/* A record batch of n records from rec[]; returns its size. */
static size_t
make_batch(uint8_t *p, struct bus_batch *b, const struct bus_rec *rec,
    size_t n)
{
	size_t pos, i;

	memset(b, 0, sizeof(*b));
	b->base_off = rec[0].offset;
	b->base_recv = rec[0].recv_ns;
	b->base_send = rec[0].send_ns;
	b->base_event = rec[0].event_ns;
	b->producer = rec[0].producer;
	b->base_seq = rec[0].seq;
	b->topic = rec[0].topic;
	b->topic_len = rec[0].topic_len;
	pos = batch_begin(p, b);
	for (i = 0; i < n; i++) {
		if (i > 0)
			CHECK(batch_fits(b, &rec[i]));
		CHECK_EQ_U64(batch_rec_size(b, &rec[i]),
		    batch_add(p + pos, b, &rec[i]));
		pos += batch_rec_size(b, &rec[i]);
	}
	CHECK_EQ_U64(batch_finish(p, b), pos);
	return pos;
}

static int
rec_equal(const struct bus_rec *a, const struct bus_rec *b)
{
	return a->offset == b->offset && a->recv_ns == b->recv_ns &&
	    a->send_ns == b->send_ns && a->event_ns == b->event_ns &&
	    a->producer == b->producer && a->seq == b->seq &&
	    a->flags == b->flags && a->topic_len == b->topic_len &&
	    memcmp(a->topic, b->topic, a->topic_len) == 0 &&
	    a->key_len == b->key_len &&
	    (a->key_len == 0 || memcmp(a->key, b->key, a->key_len) == 0) &&
	    a->tags_len == b->tags_len &&
	    (a->tags_len == 0 || memcmp(a->tags, b->tags, a->tags_len) == 0) &&
	    a->payload_len == b->payload_len &&
	    (a->payload_len == 0 ||
	    memcmp(a->payload, b->payload, a->payload_len) == 0);
}

static void
check_round_trip(const struct bus_rec *rec, size_t n)
{
	struct bus_batch b, d;
	struct batch_iter it;
	struct bus_rec r;
	const char *why = NULL;
	size_t size, i;

	size = make_batch(buf, &b, rec, n);
	if (!CHECK_EQ_I64(batch_decode(buf, size, &d, &why), (ssize_t)size)) {
		unit_more("  why: %s\n", why);
		return;
	}
	CHECK_EQ_U64(d.count, n);
	CHECK_EQ_U64(batch_last_off(&d), rec[n - 1].offset);
	CHECK_EQ_I64(d.last_recv, rec[n - 1].recv_ns);
	CHECK(batch_plausible(buf, size));
	batch_iter_init(&it, &d, d.recs, d.stored_len);
	for (i = 0; i < n; i++) {
		if (!CHECK_EQ_I64(batch_iter_next(&it, &r), 1))
			return;
		CHECK(rec_equal(&r, &rec[i]));
	}
	CHECK_EQ_I64(batch_iter_next(&it, &r), 0);
}

static void
test_round_trip(void)
{
	static uint8_t tags[64], big[70000];
	struct bus_rec rec[4];
	size_t tl = 0;
	const char *why;

	CHECK(tags_add(tags, sizeof(tags), &tl, "env=prod", &why) == 0);
	CHECK(tags_add(tags, sizeof(tags), &tl, "v=", &why) == 0);
	memset(rec, 0, sizeof(rec));
	rec[0].offset = 10;
	rec[0].recv_ns = 1795341600000000007;
	rec[0].send_ns = 1795341600000000003;
	rec[0].event_ns = 1795341600000000000;
	rec[0].producer = 0x1122334455667788;
	rec[0].seq = 1;
	rec[0].topic = "t";
	rec[0].topic_len = 1;
	rec[0].payload = (const uint8_t *)"hi";
	rec[0].payload_len = 2;
	check_round_trip(rec, 1);

	rec[1] = rec[0];
	rec[1].offset = 12;		/* a gap, as after compaction */
	rec[1].recv_ns += 1000;
	rec[1].send_ns -= 5;		/* negative deltas */
	rec[1].event_ns -= 1000000;
	rec[1].seq = 7;
	rec[1].key = "k";
	rec[1].key_len = 1;
	rec[1].tags = tags;
	rec[1].tags_len = tl;
	rec[1].flags = BUS_F_TOMBSTONE;
	rec[1].payload_len = 0;		/* empty payload */
	rec[2] = rec[1];
	rec[2].offset = 13;
	rec[2].recv_ns++;
	rec[2].flags = 0;
	memset(big, 'x', sizeof(big));
	rec[2].payload = big;
	rec[2].payload_len = sizeof(big);
	rec[3] = rec[2];
	rec[3].offset = 14;
	rec[3].recv_ns++;
	rec[3].key = (const char *)big;
	rec[3].key_len = BUS_KEY_MAX;
	check_round_trip(rec, 4);
}

/* Every header field at the limits of its range. */
static void
test_limits(void)
{
	static char topic[BUS_TOPIC_MAX];
	struct bus_rec rec[2];

	memset(topic, 'a', sizeof(topic));
	memset(rec, 0, sizeof(rec));
	rec[0].offset = UINT64_MAX - UINT32_MAX;
	rec[0].recv_ns = INT64_MIN;
	rec[0].send_ns = INT64_MAX;
	rec[0].event_ns = INT64_MIN;
	rec[0].producer = UINT64_MAX;
	rec[0].seq = UINT64_MAX - 1;
	rec[0].topic = topic;
	rec[0].topic_len = BUS_TOPIC_MAX;
	rec[1] = rec[0];
	rec[1].offset = UINT64_MAX;	/* last offset delta UINT32_MAX */
	rec[1].recv_ns = INT64_MAX;
	rec[1].send_ns = 0;
	rec[1].event_ns = -1;
	rec[1].seq = UINT64_MAX;
	check_round_trip(rec, 2);

	/* What cannot share a batch. */
	{
		struct bus_batch b;
		struct bus_rec r = rec[1];

		make_batch(buf, &b, rec, 1);
		r.send_ns = INT64_MIN;	/* send delta overflows */
		CHECK(!batch_fits(&b, &r));
		r = rec[1];
		r.producer = 1;
		CHECK(!batch_fits(&b, &r));
		r = rec[1];
		r.topic_len = 1;
		CHECK(!batch_fits(&b, &r));
		r = rec[1];
		r.recv_ns = rec[0].recv_ns;
		CHECK(!batch_fits(&b, &r));
		r = rec[1];
		r.seq = 0;
		CHECK(!batch_fits(&b, &r));
	}
	rec[0].offset = 0;
	rec[1].offset = (uint64_t)UINT32_MAX + 1;
	{
		struct bus_batch b;

		make_batch(buf, &b, rec, 1);
		CHECK(!batch_fits(&b, &rec[1]));
	}
}

/* A block batch: count delimited payloads, the section is the block. */
static size_t
make_block(uint8_t *p, struct bus_batch *b, const char *block, uint32_t n)
{
	static uint8_t tags[32];
	size_t tl = 0;
	const char *why;

	CHECK(tags_add(tags, sizeof(tags), &tl, "h=web1", &why) == 0);
	memset(b, 0, sizeof(*b));
	b->attrs = BUS_BA_BLOCK;
	b->delim = '\n';
	b->base_off = 100;
	b->base_recv = 5000;
	b->base_send = 4000;
	b->base_event = 3000;
	b->producer = 9;
	b->base_seq = 50;
	b->topic = "logs";
	b->topic_len = 4;
	b->tags = tags;
	b->tags_len = tl;
	batch_begin(p, b);
	memcpy(p + b->hdr, block, strlen(block));
	batch_block(b, n, strlen(block));
	return batch_finish(p, b);
}

static void
test_block(void)
{
	const char *block = "one\n\ntwo three\n";
	struct bus_batch b, d;
	struct batch_iter it;
	struct bus_rec r;
	const char *why = NULL;
	size_t size;

	size = make_block(buf, &b, block, 3);
	if (!CHECK_EQ_I64(batch_decode(buf, size, &d, &why), (ssize_t)size))
		unit_more("  why: %s\n", why);
	CHECK_MEM(d.recs, d.stored_len, block, strlen(block));
	batch_iter_init(&it, &d, d.recs, d.stored_len);
	CHECK_EQ_I64(batch_iter_next(&it, &r), 1);
	CHECK_MEM(r.payload, r.payload_len, "one", 3);
	CHECK_EQ_U64(r.offset, 100);
	CHECK_EQ_I64(r.recv_ns, 5000);
	CHECK_EQ_U64(r.seq, 50);
	CHECK_EQ_U64(r.tags_len, d.tags_len);
	CHECK_EQ_I64(batch_iter_next(&it, &r), 1);
	CHECK_EQ_U64(r.payload_len, 0);
	CHECK_EQ_U64(r.offset, 101);
	CHECK_EQ_I64(batch_iter_next(&it, &r), 1);
	CHECK_MEM(r.payload, r.payload_len, "two three", 9);
	CHECK_EQ_U64(r.offset, 102);
	CHECK_EQ_I64(r.recv_ns, 5002);
	CHECK_EQ_U64(r.seq, 52);
	CHECK_EQ_I64(r.send_ns, 4000);
	CHECK_EQ_I64(r.event_ns, 3000);
	CHECK_EQ_I64(batch_iter_next(&it, &r), 0);

	/* A count that does not match the delimiters is damaged. */
	size = make_block(buf, &b, block, 2);
	CHECK_EQ_I64(batch_decode(buf, size, &d, &why), -1);
	size = make_block(buf, &b, block, 4);
	CHECK_EQ_I64(batch_decode(buf, size, &d, &why), -1);
	/* So is a block whose last record has no delimiter. */
	size = make_block(buf, &b, "one\ntwo", 2);
	CHECK_EQ_I64(batch_decode(buf, size, &d, &why), -1);
}

/* Torn at every length: incomplete, never valid nor a wrong record. */
static void
test_torn(void)
{
	struct bus_rec rec[3];
	struct bus_batch b, d;
	const char *why;
	size_t size, k;
	ssize_t r;

	memset(rec, 0, sizeof(rec));
	rec[0].topic = "topic";
	rec[0].topic_len = 5;
	rec[0].offset = 1;
	rec[0].recv_ns = 1000;
	rec[0].producer = 3;
	rec[0].seq = 1;
	rec[0].payload = (const uint8_t *)"payload one";
	rec[0].payload_len = 11;
	rec[1] = rec[0];
	rec[1].offset = 2;
	rec[1].recv_ns = 1001;
	rec[1].seq = 2;
	rec[2] = rec[1];
	rec[2].offset = 3;
	rec[2].recv_ns = 1002;
	rec[2].seq = 3;
	size = make_batch(buf, &b, rec, 3);
	for (k = 0; k < size; k++) {
		r = batch_decode(buf, k, &d, &why);
		if (!CHECK_EQ_I64(r, 0))
			unit_more("  torn at %zu\n", k);
	}
	/* Bytes past the end of the file are not there: a length that says
	 * more than what follows is incomplete; the bytes cut are gone. */
	memset(buf + size - 5, 0, 5);
	CHECK_EQ_I64(batch_decode(buf, size, &d, &why), -1);
}

/* One flipped bit anywhere in a batch is caught. */
static void
test_bitflip(void)
{
	struct bus_rec rec[2];
	struct bus_batch b, d;
	const char *why;
	size_t size, k;
	int bit;
	ssize_t r;

	memset(rec, 0, sizeof(rec));
	rec[0].topic = "t";
	rec[0].topic_len = 1;
	rec[0].offset = 5;
	rec[0].recv_ns = 77;
	rec[0].producer = 1;
	rec[0].seq = 9;
	rec[0].key = "key";
	rec[0].key_len = 3;
	rec[0].payload = (const uint8_t *)"value";
	rec[0].payload_len = 5;
	rec[1] = rec[0];
	rec[1].offset = 6;
	rec[1].recv_ns = 78;
	size = make_batch(buf, &b, rec, 2);
	for (k = 0; k < size; k++)
		for (bit = 0; bit < 8; bit++) {
			buf[k] ^= 1 << bit;
			r = batch_decode(buf, size, &d, &why);
			/* A flipped length may ask for more bytes (0). */
			if (!CHECK(r == -1 || (k < 4 && r == 0)))
				unit_more("  bit %d of byte %zu\n", bit, k);
			buf[k] ^= 1 << bit;
		}
	CHECK_EQ_I64(batch_decode(buf, size, &d, &why), (ssize_t)size);
	size = make_block(buf, &b, "a\nbb\nccc\n", 3);
	for (k = 0; k < size; k++)
		for (bit = 0; bit < 8; bit++) {
			buf[k] ^= 1 << bit;
			r = batch_decode(buf, size, &d, &why);
			if (!CHECK(r == -1 || (k < 4 && r == 0)))
				unit_more("  block: bit %d of byte %zu\n", bit,
				    k);
			buf[k] ^= 1 << bit;
		}
}

/*
 * A batch whose CRC checks out but whose fields lie (a writer's bug, or
 * a file made on purpose) is refused, not misread.
 */
static void
test_lying_fields(void)
{
	struct bus_rec rec[2];
	struct bus_batch b, d;
	const char *why;
	size_t size;

	memset(rec, 0, sizeof(rec));
	rec[0].topic = "t";
	rec[0].topic_len = 1;
	rec[0].offset = 5;
	rec[0].recv_ns = 77;
	rec[0].payload = (const uint8_t *)"v";
	rec[0].payload_len = 1;
	rec[1] = rec[0];
	rec[1].offset = 6;
	rec[1].recv_ns = 78;
#define REFUSED(stmt) do {						\
	size = make_batch(buf, &b, rec, 2);				\
	stmt;								\
	batch_crc(buf, size);						\
	CHECK_EQ_I64(batch_decode(buf, size, &d, &why), -1);		\
} while (0)
	REFUSED(buf[8] = 1);			/* version */
	REFUSED(buf[9] = 0x10);			/* undefined attribute */
	REFUSED(buf[9] = 3);			/* undefined codec */
	REFUSED(buf[10] = '\n');		/* delimiter, record batch */
	REFUSED(buf[11] = 0);			/* topic length 0 */
	REFUSED(buf[84] = '.');			/* bad topic */
	REFUSED(le32_put(buf + 12, 0));		/* count 0 */
	REFUSED(le32_put(buf + 12, 1));		/* count short */
	REFUSED(le32_put(buf + 12, 3));		/* count long */
	REFUSED(le32_put(buf + 16, 2));		/* last offset delta */
	REFUSED(le64_put(buf + 40, 79));	/* last receive time */
	REFUSED(le32_put(buf + 20, b.recs_len - 1)); /* records length */
	REFUSED(le32_put(buf + 80, 1));		/* tags, record batch */
	REFUSED(buf[85 + 1] = 0x02);		/* record flags */
	/* A tombstone without a key. */
	rec[0].flags = BUS_F_TOMBSTONE;
	REFUSED((void)0);
#undef REFUSED
}

/* The delimiter count agrees with a byte-by-byte count, at any length. */
static void
test_count_delim(void)
{
	static uint8_t b[300];
	size_t i, len, want;
	int d;

	srandom(7);
	for (i = 0; i < sizeof(b); i++)
		b[i] = random() % 4 == 0 ? '\n' : (uint8_t)random();
	for (d = 0; d < 256; d += 51)
		for (len = 0; len <= sizeof(b); len += 7) {
			want = 0;
			for (i = 0; i < len; i++)
				want += b[i] == d;
			CHECK_EQ_U64(batch_count_delim(b, len, d), want);
		}
	/* Long runs of matches: the byte counters must not wrap. */
	{
		/* Past 255 rounds of 64 bytes (AVX2) twice over. */
		static uint8_t big[40009];

		memset(big, '\n', sizeof(big));
		CHECK_EQ_U64(batch_count_delim(big, sizeof(big), '\n'),
		    sizeof(big));
		big[4080] = 'x';
		big[5000] = 'x';
		CHECK_EQ_U64(batch_count_delim(big, sizeof(big), '\n'),
		    sizeof(big) - 2);
		CHECK_EQ_U64(batch_count_delim(big, sizeof(big), 'x'), 2);
	}
	for (len = 0; len < 40; len++) {
		memset(b, '\n', len);
		CHECK_EQ_U64(batch_count_delim(b, len, '\n'), len);
		memset(b, 0x80 | '\n', len);	/* the high bit differs only */
		CHECK_EQ_U64(batch_count_delim(b, len, '\n'), 0);
		CHECK_EQ_U64(batch_count_delim(b, len, 0x80 | '\n'), len);
	}
}

/*
 * The bytes of the example of bus-segment(5): every line of its literal
 * displays that starts with a position, the hex pairs after it up to
 * the comment.  Returns the bytes read; each line's position must be
 * where the bytes before it end.
 */
static size_t
page_segment(uint8_t *out, size_t cap)
{
	char line[256], *p, *e;
	size_t len = 0;
	unsigned long pos;
	unsigned v;
	int in = 0, started = 0;
	FILE *f;

	if ((f = fopen("man/bus-segment.5", "r")) == NULL &&
	    (f = fopen("../../man/bus-segment.5", "r")) == NULL) {
		CHECK(!"man/bus-segment.5 not found");
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, ".Ss Example", 11) == 0)
			started = 1;
		else if (started && strncmp(line, ".Ss ", 4) == 0)
			break;
		if (!started)
			continue;
		if (strncmp(line, ".Bd", 3) == 0 || strncmp(line, ".Ed", 3) == 0) {
			in = line[1] == 'B';
			continue;
		}
		if (!in)
			continue;
		pos = strtoul(line, &e, 10);
		if (e == line || *e != ' ' || strncmp(line, "pos", 3) == 0)
			continue;
		CHECK_EQ_U64(pos, len);
		if ((p = strstr(e + 2, "  ")) != NULL)
			*p = '\0';
		for (p = e; *p != '\0' && len < cap; p += 2) {
			while (*p == ' ')
				p++;
			if (sscanf(p, "%2x", &v) != 1)
				break;
			out[len++] = v;
		}
	}
	fclose(f);
	return len;
}

/* The page's example is what the encoders write, and decodes as it says. */
static void
test_page_example(void)
{
	static uint8_t page[512], seg[512];
	struct bus_batch b, d;
	struct batch_iter it;
	struct bus_rec r;
	const char *why;
	size_t n, h, plen;
	uint64_t base;
	int64_t created;

	plen = page_segment(page, sizeof(page));
	CHECK_EQ_U64(plen, 218);
	seg_hdr_encode(seg, 0, 1795341595000000000LL);
	memset(&r, 0, sizeof(r));
	r.offset = 0;
	r.recv_ns = 1795341600000000007LL;
	r.send_ns = 1795341600000000003LL;
	r.event_ns = 1795341600000000000LL;
	r.producer = 0x1122334455667788ULL;
	r.seq = 1;
	r.topic = "t";
	r.topic_len = 1;
	r.payload = (const uint8_t *)"hi";
	r.payload_len = 2;
	n = BUS_SEG_HDR + batch_one(seg + BUS_SEG_HDR, &r);
	memset(&b, 0, sizeof(b));
	b.attrs = BUS_BA_BLOCK;
	b.delim = '\n';
	b.base_off = 1;
	b.base_recv = 1795341600000000008LL;
	b.base_send = b.base_event = 1795341600000000005LL;
	b.producer = 0x1122334455667788ULL;
	b.base_seq = 2;
	b.topic = "t";
	b.topic_len = 1;
	h = n;
	n += batch_begin(seg + n, &b);
	memcpy(seg + n, "a\nbc\n", 5);
	n += 5;
	batch_block(&b, 2, 5);
	batch_finish(seg + h, &b);
	CHECK_MEM(page, plen, seg, n);

	CHECK_EQ_I64(seg_hdr_decode(page, &base, &created, &why), 0);
	CHECK_EQ_I64(batch_decode(page + 32, plen - 32, &d, &why), 96);
	CHECK_EQ_I64(batch_decode(page + 128, plen - 128, &d, &why), 90);
	batch_iter_init(&it, &d, d.recs, d.stored_len);
	CHECK_EQ_I64(batch_iter_next(&it, &r), 1);
	CHECK_EQ_U64(r.offset, 1);
	CHECK_MEM(r.payload, r.payload_len, "a", 1);
	CHECK_EQ_I64(batch_iter_next(&it, &r), 1);
	CHECK_EQ_U64(r.offset, 2);
	CHECK_EQ_I64(r.recv_ns, 1795341600000000009LL);
	CHECK_EQ_U64(r.seq, 3);
	CHECK_MEM(r.payload, r.payload_len, "bc", 2);
	CHECK_EQ_I64(batch_iter_next(&it, &r), 0);
}

int
main(void)
{
	RUN(test_page_example);
	RUN(test_count_delim);
	RUN(test_varint);
	RUN(test_round_trip);
	RUN(test_limits);
	RUN(test_block);
	RUN(test_torn);
	RUN(test_bitflip);
	RUN(test_lying_fields);
	return unit_done();
}

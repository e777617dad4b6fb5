/*
 * CRC32C, the record and segment header encodings, topic and tag checks,
 * and the socket protocol's frames and messages.
 */
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "proto.h"

static void
test_crc_vectors(void)
{
	uint8_t b[32];
	int i;

	CHECK_EQ_U64(crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ_U64(crc32c(0, "", 0), 0);
	memset(b, 0, sizeof(b));
	CHECK_EQ_U64(crc32c(0, b, 32), 0x8A9136AAu);
	memset(b, 0xff, sizeof(b));
	CHECK_EQ_U64(crc32c(0, b, 32), 0x62A8AB43u);
	/* RFC 3720 (iSCSI) B.4: incrementing and decrementing bytes. */
	for (i = 0; i < 32; i++)
		b[i] = i;
	CHECK_EQ_U64(crc32c(0, b, 32), 0x46DD794Eu);
	for (i = 0; i < 32; i++)
		b[i] = 31 - i;
	CHECK_EQ_U64(crc32c(0, b, 32), 0x113FDB5Cu);
	CHECK_EQ_U64(unit_crc_ref(0, (const uint8_t *)"123456789", 9), 0xE3069283u);
}

static void
test_crc_incremental(void)
{
	const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
	size_t n = strlen(s), k;
	uint32_t whole = crc32c(0, s, n);

	CHECK_EQ_U64(whole, unit_crc_ref(0, (const uint8_t *)s, n));
	for (k = 0; k <= n; k++)
		CHECK_EQ_U64(crc32c(crc32c(0, s, k), s + k, n - k), whole);
	/* three pieces */
	CHECK_EQ_U64(crc32c(crc32c(crc32c(0, s, 3), s + 3, 17), s + 20,
	    n - 20), whole);
}

static void
test_crc_unaligned(void)
{
	uint8_t buf[128];
	size_t len, off;
	unsigned bad = 0, badsplit = 0;
	uint32_t x = 12345;

	for (len = 0; len < sizeof(buf); len++) {
		x = x * 1103515245u + 12345u;
		buf[len] = x >> 16;
	}
	for (off = 0; off < 8; off++)
		for (len = 0; len <= 100; len++) {
			uint32_t want = unit_crc_ref(0, buf + off, len);

			if (crc32c(0, buf + off, len) != want)
				bad++;
			if (crc32c(crc32c(0, buf + off, len / 3),
			    buf + off + len / 3, len - len / 3) != want)
				badsplit++;
		}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(badsplit, 0);
	/* continuing from a non-zero CRC with odd lengths */
	CHECK_EQ_U64(crc32c(0xdeadbeef, buf + 3, 77),
	    unit_crc_ref(0xdeadbeef, buf + 3, 77));
}

/* ------------------------------------------------------------- records */

static uint8_t tagbuf[1024];

static struct bus_rec
mkrec(uint64_t off, const char *topic, size_t tlen, const char *key,
    size_t klen, const void *payload, size_t plen)
{
	struct bus_rec r;

	memset(&r, 0, sizeof(r));
	r.offset = off;
	r.recv_ns = 1700000000123456789LL;
	r.send_ns = 1700000000000000001LL;
	r.event_ns = -42;
	r.producer = 0x0123456789abcdefULL;
	r.seq = 7;
	r.topic = topic;
	r.topic_len = tlen;
	r.key = key;
	r.key_len = klen;
	r.payload = payload;
	r.payload_len = plen;
	return r;
}

static uint8_t *
encode(const struct bus_rec *r, size_t *n)
{
	size_t want = batch_one_size(r);
	uint8_t *b = malloc(want + 1);

	memset(b, 0xa5, want + 1);	/* guard byte */
	*n = batch_one(b, r);
	CHECK_EQ_U64(*n, want);
	CHECK_EQ_U64(b[want], 0xa5);
	return b;
}

/*
 * Decode the batch at b (avail bytes) and its first record into d: the
 * batch's size, 0 (incomplete) or -1 (damaged), as batch_decode().
 */
static ssize_t
decode1(const uint8_t *b, size_t avail, struct bus_rec *d, const char **why)
{
	static struct bus_batch bat;
	struct batch_iter it;
	ssize_t k;

	if ((k = batch_decode(b, avail, &bat, why)) <= 0)
		return k;
	batch_iter_init(&it, &bat, bat.recs, bat.stored_len);
	if (!CHECK_EQ_I64(batch_iter_next(&it, d), 1))
		return -1;
	CHECK_EQ_I64(batch_iter_next(&it, d + 1), 0);
	return k;
}

/* Decoded d must equal r in every field. */
static void
same_rec(const struct bus_rec *d, const struct bus_rec *r)
{
	CHECK_EQ_U64(d->offset, r->offset);
	CHECK_EQ_I64(d->recv_ns, r->recv_ns);
	CHECK_EQ_I64(d->send_ns, r->send_ns);
	CHECK_EQ_I64(d->event_ns, r->event_ns);
	CHECK_EQ_U64(d->producer, r->producer);
	CHECK_EQ_U64(d->seq, r->seq);
	CHECK_EQ_U64(d->flags, r->flags);
	CHECK_MEM(d->topic, d->topic_len, r->topic, r->topic_len);
	CHECK_EQ_U64(d->key_len, r->key_len);
	if (r->key_len == 0)
		CHECK(d->key == NULL);
	else
		CHECK_MEM(d->key, d->key_len, r->key, r->key_len);
	CHECK_MEM(d->tags, d->tags_len, r->tags, r->tags_len);
	CHECK_MEM(d->payload, d->payload_len, r->payload, r->payload_len);
}

static void
roundtrip(const struct bus_rec *r)
{
	struct bus_rec d[2];
	const char *why = NULL;
	uint8_t *b;
	size_t n;

	b = encode(r, &n);
	memset(d, 0x5a, sizeof(d));
	CHECK_EQ_I64(decode1(b, n, d, &why), (ssize_t)n);
	same_rec(&d[0], r);
	/* Pointers point into the buffer: nothing is copied. */
	CHECK(d[0].topic == (const char *)b + BUS_BATCH_HDR);
	CHECK(d[0].payload + d[0].payload_len == b + n);
	free(b);
}

static void
test_rec_roundtrip(void)
{
	struct bus_rec r;
	char topic[255], bin[256], key[5] = { 'k', 0, 'e', 0, 'y' };
	const char *why;
	size_t tl = 0;
	int i;

	r = mkrec(0, "a", 1, NULL, 0, NULL, 0);	/* smallest: empty payload */
	roundtrip(&r);
	r = mkrec(1, "a", 1, NULL, 0, "", 0);
	r.payload_len = 0;
	roundtrip(&r);

	CHECK(tags_add(tagbuf, sizeof(tagbuf), &tl, "env=prod", &why) == 0);
	CHECK(tags_add(tagbuf, sizeof(tagbuf), &tl, "host=web-1", &why) == 0);
	r = mkrec(42, "web.access", 10, "user-42", 7, "hello", 5);
	r.tags = tagbuf;
	r.tags_len = tl;
	roundtrip(&r);

	for (i = 0; i < 256; i++)
		bin[i] = (char)i;
	r = mkrec(UINT64_MAX - 1, "bin", 3, key, sizeof(key), bin, 256);
	r.recv_ns = INT64_MIN;
	r.send_ns = INT64_MAX;
	r.event_ns = 0;
	r.producer = UINT64_MAX;
	r.seq = UINT64_MAX;
	roundtrip(&r);

	memset(topic, 't', sizeof(topic));
	r = mkrec(9, topic, 255, "k", 1, "\0\0\0", 3);
	roundtrip(&r);

	r = mkrec(10, "users", 5, "alice", 5, NULL, 0);	/* a tombstone */
	r.flags = BUS_F_TOMBSTONE;
	roundtrip(&r);
}

/* The byte layout documented in batch.h / bus-segment(5). */
static void
test_rec_layout(void)
{
	struct bus_rec r = mkrec(0x1122334455667788ULL, "topic", 5, "key", 3,
	    "payload!", 8);
	uint8_t *b;
	size_t n;

	r.flags = BUS_F_TOMBSTONE;
	r.tags = (const uint8_t *)"\x01\x00\x01\x00xy";
	r.tags_len = 6;
	b = encode(&r, &n);
	/* 84 + topic 5, then the record: its length varint and body. */
	CHECK_EQ_U64(n, 84 + 5 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 3 + 1 + 6 +
	    8);
	CHECK_EQ_U64(le32_get(b), n - 4);
	CHECK_EQ_U64(le32_get(b + 4), crc32c(0, b + 8, n - 8));
	CHECK_EQ_U64(b[8], 2);
	CHECK_EQ_U64(b[9], 0);
	CHECK_EQ_U64(b[10], 0);
	CHECK_EQ_U64(b[11], 5);
	CHECK_EQ_U64(le32_get(b + 12), 1);
	CHECK_EQ_U64(le32_get(b + 16), 0);
	CHECK_EQ_U64(le32_get(b + 20), n - 89);
	CHECK_EQ_U64(le64_get(b + 24), 0x1122334455667788ULL);
	CHECK_EQ_I64((int64_t)le64_get(b + 32), r.recv_ns);
	CHECK_EQ_I64((int64_t)le64_get(b + 40), r.recv_ns);
	CHECK_EQ_I64((int64_t)le64_get(b + 48), r.send_ns);
	CHECK_EQ_I64((int64_t)le64_get(b + 56), -42);
	CHECK_EQ_U64(le64_get(b + 64), r.producer);
	CHECK_EQ_U64(le64_get(b + 72), 7);
	CHECK_EQ_U64(le32_get(b + 80), 0);
	CHECK_MEM(b + 84, 5, "topic", 5);
	/* body length 25, flags, five zero deltas, key length 3 */
	CHECK_MEM(b + 89, 8, "\x19\x01\x00\x00\x00\x00\x00\x03", 8);
	CHECK_MEM(b + 97, 18, "key\x06\x01\x00\x01\x00xypayload!", 18);
	free(b);
}

static void
test_rec_truncated(void)
{
	struct bus_rec r = mkrec(5, "web.access", 10, "user-42", 7,
	    "some payload bytes", 18), d[2];
	const char *why;
	uint8_t *b;
	size_t n, l;
	unsigned wrong = 0;

	r.tags = (const uint8_t *)"\x01\x00\x02\x00" "abc";
	r.tags_len = 7;
	b = encode(&r, &n);
	for (l = 0; l < n; l++)
		if (decode1(b, l, d, &why) != 0)
			wrong++;
	CHECK_EQ_U64(wrong, 0);
	CHECK_EQ_I64(decode1(b, n, d, &why), (ssize_t)n);
	free(b);
}

/* Every single-bit flip is caught: -1, or 0 if it made len longer. */
static void
test_rec_bitflips(void)
{
	struct bus_rec r = mkrec(77, "orders.eu", 9, "order-1", 7,
	    "{\"qty\":3,\"sku\":\"X\"}", 19), d[2];
	const char *why;
	uint8_t *b, *big;
	size_t n, bit;
	ssize_t k;
	unsigned accepted = 0, bad0 = 0, trail_accepted = 0;

	r.tags = (const uint8_t *)"\x02\x00\x01\x00" "idz";
	r.tags_len = 7;
	b = encode(&r, &n);
	big = malloc(2 * n);
	for (bit = 0; bit < n * 8; bit++) {
		uint32_t len;

		b[bit / 8] ^= 1u << (bit % 8);
		len = le32_get(b);
		why = NULL;
		k = decode1(b, n, d, &why);
		if (k > 0)
			accepted++;
		else if (k == 0 && !(bit < 32 && (size_t)len + 4 > n))
			bad0++;
		else if (k < 0 && why == NULL)
			bad0++;
		/* the same damaged batch followed by a whole valid one */
		memcpy(big, b, n);
		b[bit / 8] ^= 1u << (bit % 8);
		memcpy(big + n, b, n);
		k = decode1(big, 2 * n, d, &why);
		if (k > 0)
			trail_accepted++;
	}
	CHECK_EQ_U64(accepted, 0);
	CHECK_EQ_U64(bad0, 0);
	CHECK_EQ_U64(trail_accepted, 0);
	CHECK_EQ_I64(decode1(b, n, d, &why), (ssize_t)n);	/* intact */
	free(big);
	free(b);
}

/* Batches whose CRC is right but whose fields are not. */
static void
test_rec_bad_fields(void)
{
	struct bus_rec r = mkrec(1, "abc", 3, "k", 1, "pay", 3), d[2];
	const char *why;
	uint8_t *b, small[8];
	size_t n;

	r.flags = 0x02;			/* undefined flag */
	b = encode(&r, &n);
	why = NULL;
	CHECK_EQ_I64(decode1(b, n, d, &why), -1);
	CHECK(why != NULL);
	free(b);

	r.flags = 0;
	b = encode(&r, &n);
	b[11] = 0;			/* topic length 0 */
	batch_crc(b, n);
	CHECK_EQ_I64(decode1(b, n, d, &why), -1);
	b[11] = 3;
	/* record: len, flags, 5 deltas, key len, key, tags len */
	b[84 + 3 + 1 + 1 + 5 + 1 + 1] = 5;	/* tags run past the record */
	batch_crc(b, n);
	CHECK_EQ_I64(decode1(b, n, d, &why), -1);
	b[84 + 3 + 1 + 1 + 5 + 1 + 1] = 3;	/* tags take the payload: */
	batch_crc(b, n);			/* not a tag area */
	CHECK_EQ_I64(decode1(b, n, d, &why), -1);
	b[84 + 3 + 1 + 1 + 5 + 1 + 1] = 0;
	batch_crc(b, n);
	CHECK_EQ_I64(decode1(b, n, d, &why), (ssize_t)n);
	CHECK_EQ_U64(d[0].payload_len, 3);
	free(b);

	/* Lengths shorter than a header, or longer than any batch. */
	memset(small, 0, sizeof(small));
	CHECK_EQ_I64(decode1(small, 8, d, &why), -1);
	le32_put(small, BUS_BATCH_HDR - 4);
	CHECK_EQ_I64(decode1(small, 8, d, &why), -1);
	le32_put(small, (uint32_t)BUS_BATCH_MAX - 3);
	CHECK_EQ_I64(decode1(small, 8, d, &why), -1);
	le32_put(small, BUS_BATCH_HDR - 3);	/* plausible: wait for it */
	CHECK_EQ_I64(decode1(small, 8, d, &why), 0);
}

static void
test_seg_hdr(void)
{
	uint8_t h[BUS_SEG_HDR], c[BUS_SEG_HDR];
	uint64_t base = 0;
	int64_t created = 0;
	const char *why;
	size_t bit;
	unsigned accepted = 0;

	seg_hdr_encode(h, 123456789012ULL, -5);
	CHECK_MEM(h, 8, "BUSSEG\0\2", 8);
	CHECK_EQ_U64(le64_get(h + 8), 123456789012ULL);
	CHECK_EQ_I64((int64_t)le64_get(h + 16), -5);
	CHECK_EQ_U64(le32_get(h + 24), 0);
	CHECK_EQ_U64(le32_get(h + 28), crc32c(0, h, 28));
	CHECK_EQ_I64(seg_hdr_decode(h, &base, &created, &why), 0);
	CHECK_EQ_U64(base, 123456789012ULL);
	CHECK_EQ_I64(created, -5);
	base = 0;
	CHECK_EQ_I64(seg_hdr_decode(h, &base, NULL, &why), 0);
	CHECK_EQ_U64(base, 123456789012ULL);

	memcpy(c, h, sizeof(c));
	c[0] = 'X';
	why = NULL;
	CHECK_EQ_I64(seg_hdr_decode(c, &base, &created, &why), -1);
	CHECK_STR_HAS(why, "magic");
	memcpy(c, h, sizeof(c));
	c[7] = 3;
	le32_put(c + 28, crc32c(0, c, 28));	/* CRC right, version wrong */
	CHECK_EQ_I64(seg_hdr_decode(c, &base, &created, &why), -1);
	CHECK_STR_HAS(why, "version");
	CHECK_EQ_I64(seg_hdr_version(c), 3);
	c[7] = 1;				/* format 1: say what to do */
	le32_put(c + 28, crc32c(0, c, 28));
	CHECK_EQ_I64(seg_hdr_decode(c, &base, &created, &why), -1);
	CHECK_STR_HAS(why, "store format 1");
	CHECK_STR_HAS(why, "re-create");
	CHECK_EQ_I64(seg_hdr_version(c), 1);
	CHECK_EQ_I64(seg_hdr_version(h), 2);
	memcpy(c, h, sizeof(c));
	c[10] ^= 0x10;
	CHECK_EQ_I64(seg_hdr_decode(c, &base, &created, &why), -1);
	CHECK_STR_HAS(why, "checksum");
	memcpy(c, h, sizeof(c));
	c[25] = 1;				/* reserved byte */
	CHECK_EQ_I64(seg_hdr_decode(c, &base, &created, &why), -1);
	for (bit = 0; bit < BUS_SEG_HDR * 8; bit++) {
		memcpy(c, h, sizeof(c));
		c[bit / 8] ^= 1u << (bit % 8);
		if (seg_hdr_decode(c, &base, &created, &why) != -1)
			accepted++;
	}
	CHECK_EQ_U64(accepted, 0);
}

/* -------------------------------------------------------------- topics */

static void
test_topic_check(void)
{
	char t[300];
	const char *why;
	static const char *good[] = { "a", "web.access", "A-Z_a-z.0-9", "a..b",
	    "trailing.", "-dash", "_" };
	static const char *bad[] = { ".hidden", ".", "..", "a/b", "/", "a b",
	    " a", "a\tb", "caf\xc3\xa9", "\xff", "a:b", "a*", "{topic}",
	    "a\\b", "a\nb" };
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		if (!CHECK_EQ_I64(topic_check(good[i], strlen(good[i]), &why), 0))
			fprintf(stderr, "  topic '%s': %s\n", good[i], why);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (!CHECK_EQ_I64(topic_check(bad[i], strlen(bad[i]), &why), -1))
			fprintf(stderr, "  topic '%s' accepted\n", bad[i]);
		else
			CHECK(why != NULL && *why != '\0');
	}
	why = NULL;
	CHECK_EQ_I64(topic_check("", 0, &why), -1);
	CHECK_STR_HAS(why, "empty");
	memset(t, 'x', sizeof(t));
	CHECK_EQ_I64(topic_check(t, 255, &why), 0);
	CHECK_EQ_I64(topic_check(t, 256, &why), -1);
	CHECK_STR_HAS(why, "255");
	CHECK_EQ_I64(topic_check("a\0b", 3, &why), -1);	/* embedded NUL */
	CHECK_EQ_I64(topic_check("abc/def", 3, &why), 0);	/* length counts */
	CHECK_EQ_I64(topic_check("abc/def", 4, &why), -1);
}

/* ---------------------------------------------------------------- tags */

static void
test_tags_roundtrip(void)
{
	uint8_t a[512], *big;
	size_t len = 0, pos = 0, before;
	struct bus_tag t;
	const char *why = NULL;
	char name[300], *nv;

	CHECK_EQ_I64(tags_add(a, sizeof(a), &len, "env=prod", &why), 0);
	CHECK_EQ_I64(tags_add(a, sizeof(a), &len, "empty=", &why), 0);
	CHECK_EQ_I64(tags_add(a, sizeof(a), &len, "eq=a=b", &why), 0);
	CHECK_EQ_U64(len, (4 + 3 + 4) + (4 + 5 + 0) + (4 + 2 + 3));
	CHECK_EQ_U64(le16_get(a), 3);
	CHECK_EQ_U64(le16_get(a + 2), 4);
	CHECK_MEM(a + 4, 7, "envprod", 7);
	CHECK_EQ_I64(tags_check(a, len), 0);

	CHECK_EQ_I64(tags_next(a, len, &pos, &t), 1);
	CHECK_MEM(t.name, t.name_len, "env", 3);
	CHECK_MEM(t.value, t.value_len, "prod", 4);
	CHECK_EQ_I64(tags_next(a, len, &pos, &t), 1);
	CHECK_MEM(t.name, t.name_len, "empty", 5);
	CHECK_EQ_U64(t.value_len, 0);
	CHECK_EQ_I64(tags_next(a, len, &pos, &t), 1);
	CHECK_MEM(t.name, t.name_len, "eq", 2);
	CHECK_MEM(t.value, t.value_len, "a=b", 3);
	CHECK_EQ_I64(tags_next(a, len, &pos, &t), 0);
	CHECK_EQ_U64(pos, len);
	CHECK_EQ_I64(tags_check(a, 0), 0);
	pos = 0;
	CHECK_EQ_I64(tags_next(a, 0, &pos, &t), 0);

	/* Invalid additions leave the area alone. */
	before = len;
	CHECK_EQ_I64(tags_add(a, sizeof(a), &len, "noequals", &why), -1);
	CHECK_EQ_I64(tags_add(a, sizeof(a), &len, "=value", &why), -1);
	memset(name, 'n', 256);
	strcpy(name + 256, "=v");
	CHECK_EQ_I64(tags_add(a, sizeof(a), &len, name, &why), -1);
	CHECK_EQ_I64(tags_add(a, before + 4 + 1 + 1, &len, "ab=c", &why), -1);
	CHECK_STR_HAS(why, "large");
	CHECK_EQ_U64(len, before);
	CHECK_EQ_I64(tags_check(a, len), 0);

	/* The limits themselves: 255-byte name, 65535-byte value. */
	big = malloc(70000);
	nv = malloc(255 + 1 + 65536 + 1);
	memset(nv, 'n', 255);
	nv[255] = '=';
	memset(nv + 256, 'v', 65535);
	nv[256 + 65535] = '\0';
	len = 0;
	CHECK_EQ_I64(tags_add(big, 70000, &len, nv, &why), 0);
	CHECK_EQ_U64(len, 4 + 255 + 65535);
	CHECK_EQ_I64(tags_check(big, len), 0);
	nv[256 + 65535] = 'v';
	nv[256 + 65536] = '\0';
	len = 0;
	CHECK_EQ_I64(tags_add(big, 70000, &len, nv, &why), -1);
	CHECK_EQ_U64(len, 0);
	free(nv);
	free(big);
}

static void
test_tags_malformed(void)
{
	uint8_t a[64];
	size_t len = 0, l, pos;
	struct bus_tag t;
	const char *why;
	unsigned bad = 0;

	tags_add(a, sizeof(a), &len, "ab=cd", &why);
	tags_add(a, sizeof(a), &len, "x=", &why);
	/* Every cut inside a tag is malformed; cuts between tags are not. */
	for (l = 0; l <= len; l++) {
		int want = (l == 0 || l == 8 || l == len) ? 0 : -1;

		if (tags_check(a, l) != want)
			bad++;
	}
	CHECK_EQ_U64(bad, 0);

	le16_put(a, 0);			/* empty name */
	CHECK_EQ_I64(tags_check(a, len), -1);
	pos = 0;
	CHECK_EQ_I64(tags_next(a, len, &pos, &t), -1);
	le16_put(a, 2);
	le16_put(a + 2, 60);		/* value past the area */
	CHECK_EQ_I64(tags_check(a, len), -1);
	le16_put(a + 2, 0xffff);
	CHECK_EQ_I64(tags_check(a, len), -1);
	le16_put(a + 2, 2);
	CHECK_EQ_I64(tags_check(a, len), 0);
	a[5] = '=';			/* '=' in a name */
	CHECK_EQ_I64(tags_check(a, len), -1);
	pos = 0;
	CHECK_EQ_I64(tags_next(a, len, &pos, &t), 1);	/* next() is lenient */
	a[5] = 'b';
	le16_put(a, 256);		/* name longer than 255 */
	memset(a + 4, 'z', 60);
	le16_put(a + 2, 0);
	CHECK_EQ_I64(tags_check(a, sizeof(a)), -1);
	pos = 0;
	CHECK_EQ_I64(tags_next(a, 3, &pos, &t), -1);	/* short header */
}

/* ------------------------------------------------------------ protocol */

static void
test_proto_msg(void)
{
	uint8_t buf[1024], *p;
	struct bus_rec m, m2, d;
	size_t n, n2, pos, l;
	unsigned bad = 0;
	const char *why;
	size_t tl = 0;

	tags_add(tagbuf, sizeof(tagbuf), &tl, "trace=abc123", &why);
	m = mkrec(0, "web.access", 10, "user\0x", 6, "pay\0load", 8);
	m.seq = 0x0102030405060708ULL;
	m.flags = BUS_F_TOMBSTONE;
	m.tags = tagbuf;
	m.tags_len = tl;
	n = proto_msg_encode(buf, &m);
	CHECK_EQ_U64(n, proto_msg_size(10, 6, tl, 8));
	CHECK_EQ_U64(n, PROTO_MSG_HDR + 10 + 6 + tl + 8);
	CHECK_EQ_U64(le64_get(buf), m.seq);
	CHECK_EQ_I64((int64_t)le64_get(buf + 8), m.send_ns);
	CHECK_EQ_I64((int64_t)le64_get(buf + 16), m.event_ns);
	CHECK_EQ_U64(buf[24], BUS_F_TOMBSTONE);
	CHECK_EQ_U64(buf[25], 10);
	CHECK_EQ_U64(le16_get(buf + 26), 6);
	CHECK_EQ_U64(le32_get(buf + 28), tl);
	CHECK_EQ_U64(le32_get(buf + 32), 8);

	m2 = mkrec(0, "t", 1, NULL, 0, NULL, 0);
	m2.seq = 2;
	n2 = proto_msg_encode(buf + n, &m2);
	CHECK_EQ_U64(n2, PROTO_MSG_HDR + 1);

	pos = 0;
	CHECK_EQ_I64(proto_msg_decode(buf, n + n2, &pos, &d), 0);
	CHECK_EQ_U64(pos, n);
	CHECK_EQ_U64(d.seq, m.seq);
	CHECK_EQ_I64(d.send_ns, m.send_ns);
	CHECK_EQ_I64(d.event_ns, m.event_ns);
	CHECK_EQ_U64(d.flags, m.flags);
	CHECK_MEM(d.topic, d.topic_len, m.topic, m.topic_len);
	CHECK_MEM(d.key, d.key_len, m.key, m.key_len);
	CHECK_MEM(d.tags, d.tags_len, m.tags, m.tags_len);
	CHECK_MEM(d.payload, d.payload_len, m.payload, m.payload_len);
	CHECK_EQ_U64(d.size, n);
	CHECK_EQ_I64(proto_msg_decode(buf, n + n2, &pos, &d), 0);
	CHECK_EQ_U64(pos, n + n2);
	CHECK_EQ_U64(d.seq, 2);
	CHECK(d.key == NULL);
	CHECK_EQ_U64(d.payload_len, 0);
	CHECK_EQ_I64(proto_msg_decode(buf, n + n2, &pos, &d), -1);	/* at end */
	CHECK_EQ_U64(pos, n + n2);

	/* Every truncation fails and leaves *pos alone. */
	for (l = 0; l < n; l++) {
		p = malloc(l ? l : 1);	/* exact size: valgrind/ASan see overreads */
		memcpy(p, buf, l);
		pos = 0;
		if (proto_msg_decode(p, l, &pos, &d) != -1 || pos != 0)
			bad++;
		free(p);
	}
	CHECK_EQ_U64(bad, 0);
	/* A payload length that points far past the body. */
	le32_put(buf + 32, 0xffffffffu);
	pos = 0;
	CHECK_EQ_I64(proto_msg_decode(buf, sizeof(buf), &pos, &d), -1);
}

static void
test_proto_frame(void)
{
	uint8_t f[64], type = 0, two[64];
	const uint8_t *body = NULL;
	size_t blen = 99, l;
	unsigned bad = 0;

	CHECK_EQ_U64(proto_hdr(f, PT_PUBLISH, 10), PROTO_FRAME_HDR);
	CHECK_EQ_U64(le32_get(f), 11);
	CHECK_EQ_U64(f[4], PT_PUBLISH);
	memcpy(f + 5, "0123456789", 10);
	CHECK_EQ_I64(proto_frame(f, 15, 1024, &type, &body, &blen), 15);
	CHECK_EQ_U64(type, PT_PUBLISH);
	CHECK(body == f + 5);
	CHECK_EQ_U64(blen, 10);
	CHECK_EQ_I64(proto_frame(f, 40, 1024, &type, &body, &blen), 15);

	for (l = 0; l < 15; l++)	/* incomplete */
		if (proto_frame(f, l, 1024, &type, &body, &blen) != 0)
			bad++;
	CHECK_EQ_U64(bad, 0);

	/* max bounds the whole frame, length field included */
	CHECK_EQ_I64(proto_frame(f, 15, 15, &type, &body, &blen), 15);
	CHECK_EQ_I64(proto_frame(f, 15, 14, &type, &body, &blen), -1);
	/* oversized is refused as soon as the length is known */
	le32_put(f, 0x7fffffffu);
	CHECK_EQ_I64(proto_frame(f, 4, 1 << 20, &type, &body, &blen), -1);
	/* zero length: not even a type byte */
	le32_put(f, 0);
	CHECK_EQ_I64(proto_frame(f, 4, 1024, &type, &body, &blen), -1);
	CHECK_EQ_I64(proto_frame(f, 64, 1024, &type, &body, &blen), -1);
	/* just a type: empty body */
	proto_hdr(f, PT_STATUS, 0);
	CHECK_EQ_I64(proto_frame(f, 5, 1024, &type, &body, &blen), 5);
	CHECK_EQ_U64(type, PT_STATUS);
	CHECK_EQ_U64(blen, 0);

	/* two frames back to back */
	proto_hdr(two, PT_SEAL, 4);
	memcpy(two + 5, "\0\0\0\0", 4);
	proto_hdr(two + 9, PT_STATUS, 0);
	CHECK_EQ_I64(proto_frame(two, 14, 1024, &type, &body, &blen), 9);
	CHECK_EQ_U64(type, PT_SEAL);
	CHECK_EQ_I64(proto_frame(two + 9, 5, 1024, &type, &body, &blen), 5);
	CHECK_EQ_U64(type, PT_STATUS);

	CHECK_EQ_U64(proto_max_frame(0), PROTO_FRAME_MIN_MAX);
	CHECK(proto_max_frame(BUS_MESSAGE_MAX_LIMIT) >=
	    (size_t)BUS_MESSAGE_MAX_LIMIT + PROTO_MSG_HDR);
	CHECK_STR_HAS(proto_err_name(PE_NOSPC), "disk");
	CHECK_STR_HAS(proto_err_name(12345), "unknown");
}

/* Three CRCs at once equal three one after another, for any lengths. */
static void
test_crc_three(void)
{
	uint8_t buf[3][300];
	uint32_t out[3];
	size_t a, b, c, i, k;

	for (k = 0; k < 3; k++)
		for (i = 0; i < sizeof(buf[k]); i++)
			buf[k][i] = (uint8_t)(i * 31 + k * 7 + 1);
	for (a = 0; a < 300; a += 37)
		for (b = 0; b < 300; b += 41)
			for (c = 0; c < 300; c += 43) {
				crc32c_3(buf[0], a, buf[1] + 1, b, buf[2] + 3, c,
				    out);
				CHECK_EQ_U64(out[0], crc32c(0, buf[0], a));
				CHECK_EQ_U64(out[1], crc32c(0, buf[1] + 1, b));
				CHECK_EQ_U64(out[2], crc32c(0, buf[2] + 3, c));
			}
}

int
main(void)
{
	RUN(test_crc_vectors);
	RUN(test_crc_incremental);
	RUN(test_crc_unaligned);
	RUN(test_crc_three);
	RUN(test_rec_roundtrip);
	RUN(test_rec_layout);
	RUN(test_rec_truncated);
	RUN(test_rec_bitflips);
	RUN(test_rec_bad_fields);
	RUN(test_seg_hdr);
	RUN(test_topic_check);
	RUN(test_tags_roundtrip);
	RUN(test_tags_malformed);
	RUN(test_proto_msg);
	RUN(test_proto_frame);
	return unit_done();
}

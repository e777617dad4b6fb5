/*
 * The frames of the socket protocol, bus-protocol(7): each encoder and
 * decoder as a pair, decoders against every truncation, a byte too many
 * and bad counts, and the examples of the page byte for byte.
 */
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "proto.h"

#define PAGE	"man/bus-protocol.7"	/* run from the top of the tree */

/* A body decoder under test, its struct kept inside. */
typedef int (*decode_fn)(const uint8_t *, size_t);

static uint8_t	frame[4096];		/* the frame under test */

/*
 * Split the frame of size n at f: it must be one whole frame of type
 * want.  Returns its body and sets *blen.
 */
static const uint8_t *
body_of(const uint8_t *f, size_t n, uint8_t want, size_t *blen)
{
	const uint8_t *body = NULL;
	uint8_t type = 0;

	*blen = 0;
	if (!CHECK_EQ_I64(proto_frame(f, n, 1 << 20, &type, &body, blen), n))
		return NULL;
	CHECK_EQ_U64(type, want);
	CHECK_EQ_U64(proto_frame_size(f), n);
	return body;
}

/* Decode a copy of exactly len bytes, so that an overread is caught. */
static int
decode_copy(decode_fn dec, const uint8_t *b, size_t len)
{
	uint8_t *p;
	int rc;

	if ((p = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(p, b, len);
	rc = dec(p, len);
	free(p);
	return rc;
}

/*
 * The body decodes; every shorter prefix and the body with one more
 * byte (of each value 0 and 0xff) do not.
 */
static void
strict(decode_fn dec, const uint8_t *b, size_t len)
{
	uint8_t more[4096 + 1];
	size_t l;
	unsigned bad = 0;

	CHECK_EQ_I64(decode_copy(dec, b, len), 0);
	for (l = 0; l < len; l++)
		if (decode_copy(dec, b, l) != -1) {
			if (bad++ == 0)
				unit_more("  truncated to %zu bytes: "
				    "accepted\n", l);
		}
	CHECK_EQ_U64(bad, 0);
	memcpy(more, b, len);
	more[len] = 0;
	CHECK_EQ_I64(decode_copy(dec, more, len + 1), -1);
	more[len] = 0xff;
	CHECK_EQ_I64(decode_copy(dec, more, len + 1), -1);
}

/* ------------------------------------------------------------ decoders */

static struct proto_hello	hello;
static struct proto_hello_ok	hello_ok;
static struct proto_ack		ack;
static struct proto_error	error;
static struct proto_seal	seal;
static struct proto_seal_ok	seal_ok;
static struct proto_status_ok	status_ok;
static struct bus_rec		msgs[16];
static uint32_t			nmsgs;

static int
dec_hello(const uint8_t *b, size_t len)
{
	return proto_hello_decode(b, len, &hello);
}

static int
dec_hello_ok(const uint8_t *b, size_t len)
{
	return proto_hello_ok_decode(b, len, &hello_ok);
}

/* A whole PUBLISH body as busd reads it: count, messages, the end. */
static int
dec_publish(const uint8_t *b, size_t len)
{
	size_t pos;
	uint32_t i;

	if (proto_publish_decode(b, len, &nmsgs, &pos) == -1)
		return -1;
	for (i = 0; i < nmsgs; i++)
		if (i >= 16 || proto_msg_decode(b, len, &pos, &msgs[i]) == -1)
			return -1;
	return proto_publish_end(b, len, pos);
}

static int
dec_ack(const uint8_t *b, size_t len)
{
	return proto_ack_decode(b, len, &ack);
}

static int
dec_error(const uint8_t *b, size_t len)
{
	return proto_error_decode(b, len, &error);
}

static int
dec_seal(const uint8_t *b, size_t len)
{
	return proto_seal_decode(b, len, &seal);
}

static int
dec_seal_ok(const uint8_t *b, size_t len)
{
	return proto_seal_ok_decode(b, len, &seal_ok);
}

static int
dec_status(const uint8_t *b, size_t len)
{
	return proto_status_decode(b, len);
}

static int
dec_status_ok(const uint8_t *b, size_t len)
{
	return proto_status_ok_decode(b, len, &status_ok);
}

/* --------------------------------------------------------------- tests */

static void
test_hello(void)
{
	struct proto_hello h = { PROTO_VERSION, ACK_SYNCED,
	    0x8877665544332211ULL };
	const uint8_t *b;
	uint8_t c[PROTO_HELLO_BODY + 4];
	size_t n, blen;

	memset(c, 0, sizeof(c));
	n = proto_hello_encode(frame, &h);
	CHECK_EQ_U64(n, PROTO_HELLO_SIZE);
	if ((b = body_of(frame, n, PT_HELLO, &blen)) == NULL)
		return;
	CHECK_EQ_U64(blen, PROTO_HELLO_BODY);
	strict(dec_hello, b, blen);
	CHECK_EQ_I64(dec_hello(b, blen), 0);
	CHECK_EQ_U64(hello.version, PROTO_VERSION);
	CHECK_EQ_U64(hello.ack, ACK_SYNCED);
	CHECK_EQ_U64(hello.producer, h.producer);

	memcpy(c, b, blen);
	c[0] ^= 1;			/* magic */
	CHECK_EQ_I64(dec_hello(c, blen), -1);
	c[0] ^= 1;
	c[6] = ACK_SYNCED + 1;		/* ack level */
	CHECK_EQ_I64(dec_hello(c, blen), -1);
	c[6] = ACK_NONE;
	CHECK_EQ_I64(dec_hello(c, blen), 0);
	c[7] = 1;			/* the zero byte */
	CHECK_EQ_I64(dec_hello(c, blen), -1);
	c[7] = 0;
	memset(c + 8, 0, 8);		/* producer id 0 */
	CHECK_EQ_I64(dec_hello(c, blen), -1);
	c[8] = 1;
	CHECK_EQ_I64(dec_hello(c, blen), 0);
	CHECK_EQ_U64(hello.producer, 1);

	/*
	 * Another version is read no further than its version, whatever
	 * follows, so that busd can answer PE_VERSION; its magic still
	 * has to be right.
	 */
	le16_put(c + 4, PROTO_VERSION + 1);
	c[6] = 9;
	CHECK_EQ_I64(dec_hello(c, blen + 4), 0);
	CHECK_EQ_U64(hello.version, PROTO_VERSION + 1);
	CHECK_EQ_U64(hello.producer, 0);
	CHECK_EQ_I64(dec_hello(c, 6), 0);
	CHECK_EQ_I64(dec_hello(c, 5), -1);
	c[1] ^= 0x40;
	CHECK_EQ_I64(dec_hello(c, blen), -1);
}

static void
test_hello_ok(void)
{
	struct proto_hello_ok h = { PROTO_VERSION, 1 << 20, 2 << 20,
	    0x0102030405060708ULL, 0xfffffffffffffff0ULL };
	const uint8_t *b;
	uint8_t c[PROTO_HELLO_OK_BODY];
	size_t n, blen;
	int i;

	n = proto_hello_ok_encode(frame, &h);
	CHECK_EQ_U64(n, PROTO_HELLO_OK_SIZE);
	if ((b = body_of(frame, n, PT_HELLO_OK, &blen)) == NULL)
		return;
	strict(dec_hello_ok, b, blen);
	CHECK_EQ_I64(dec_hello_ok(b, blen), 0);
	CHECK_EQ_U64(hello_ok.version, h.version);
	CHECK_EQ_U64(hello_ok.max_message, h.max_message);
	CHECK_EQ_U64(hello_ok.max_frame, h.max_frame);
	CHECK_EQ_U64(hello_ok.producer, h.producer);
	CHECK_EQ_U64(hello_ok.last_seq, h.last_seq);
	/* Positions of the page's table. */
	CHECK_EQ_U64(le32_get(b + 4), h.max_message);
	CHECK_EQ_U64(le64_get(b + 24), h.last_seq);

	/* Each byte of the two zero fields. */
	for (i = 0; i < 6; i++) {
		int at = i < 2 ? 2 + i : 12 + (i - 2);

		memcpy(c, b, blen);
		c[at] = 0x80;
		CHECK_EQ_I64(dec_hello_ok(c, blen), -1);
	}
}

static void
test_publish(void)
{
	struct bus_rec m[3];
	const char *why;
	uint8_t tags[64], c[1024];
	const uint8_t *b;
	size_t n, blen, tl = 0, pos;
	uint32_t count, i;

	tags_add(tags, sizeof(tags), &tl, "trace=abc", &why);
	memset(m, 0, sizeof(m));
	for (i = 0; i < 3; i++) {
		m[i].seq = 41 + i;
		m[i].send_ns = 1000 + i;
		m[i].event_ns = -5 - (int64_t)i;
		m[i].topic = "orders.eu";
		m[i].topic_len = 9;
	}
	m[0].key = "k\0y";
	m[0].key_len = 3;
	m[0].tags = tags;
	m[0].tags_len = tl;
	m[0].payload = (const uint8_t *)"payload";
	m[0].payload_len = 7;
	m[1].flags = BUS_F_TOMBSTONE;
	m[2].payload = (const uint8_t *)"x";
	m[2].payload_len = 1;

	n = proto_publish_begin(frame);
	CHECK_EQ_U64(n, PROTO_PUBLISH_HDR);
	for (i = 0; i < 3; i++)
		n += proto_msg_encode(frame + n, &m[i]);
	proto_publish_finish(frame, n, 3);
	CHECK_EQ_U64(n, PROTO_PUBLISH_HDR + proto_msg_size(9, 3, tl, 7) +
	    proto_msg_size(9, 0, 0, 0) + proto_msg_size(9, 0, 0, 1));
	if ((b = body_of(frame, n, PT_PUBLISH, &blen)) == NULL)
		return;
	strict(dec_publish, b, blen);
	CHECK_EQ_I64(dec_publish(b, blen), 0);
	CHECK_EQ_U64(nmsgs, 3);
	for (i = 0; i < 3; i++) {
		CHECK_EQ_U64(msgs[i].seq, m[i].seq);
		CHECK_EQ_I64(msgs[i].send_ns, m[i].send_ns);
		CHECK_EQ_I64(msgs[i].event_ns, m[i].event_ns);
		CHECK_EQ_U64(msgs[i].flags, m[i].flags);
		CHECK_MEM(msgs[i].topic, msgs[i].topic_len, m[i].topic,
		    m[i].topic_len);
		CHECK_MEM(msgs[i].key, msgs[i].key_len, m[i].key,
		    m[i].key_len);
		CHECK_MEM(msgs[i].tags, msgs[i].tags_len, m[i].tags,
		    m[i].tags_len);
		CHECK_MEM(msgs[i].payload, msgs[i].payload_len, m[i].payload,
		    m[i].payload_len);
	}
	CHECK(msgs[1].key == NULL);

	/* Counts that do not match the messages. */
	memcpy(c, b, blen);
	le32_put(c, 2);			/* one message left over */
	CHECK_EQ_I64(dec_publish(c, blen), -1);
	CHECK_EQ_I64(proto_publish_decode(c, blen, &count, &pos), 0);
	CHECK_EQ_U64(pos, 4);
	le32_put(c, 4);			/* one message missing */
	CHECK_EQ_I64(dec_publish(c, blen), -1);
	le32_put(c, 0);			/* messages after a count of 0 */
	CHECK_EQ_I64(dec_publish(c, blen), -1);
	le32_put(c, 0xffffffffu);	/* more than the body could hold */
	CHECK_EQ_I64(proto_publish_decode(c, blen, &count, &pos), -1);
	/* The count against the fixed parts the body has room for. */
	le32_put(c, 1);
	CHECK_EQ_I64(proto_publish_decode(c, 4 + PROTO_MSG_HDR, &count,
	    &pos), 0);
	CHECK_EQ_I64(proto_publish_decode(c, 3 + PROTO_MSG_HDR, &count,
	    &pos), -1);
	le32_put(c, 2);
	CHECK_EQ_I64(proto_publish_decode(c, 4 + 2 * PROTO_MSG_HDR - 1,
	    &count, &pos), -1);

	/* A count of 0 and nothing else is well-formed: begin alone. */
	memset(frame, 0xee, PROTO_PUBLISH_HDR);
	n = proto_publish_begin(frame);
	if ((b = body_of(frame, n, PT_PUBLISH, &blen)) == NULL)
		return;
	CHECK_EQ_U64(blen, 4);
	strict(dec_publish, b, blen);
	CHECK_EQ_I64(dec_publish(b, blen), 0);
	CHECK_EQ_U64(nmsgs, 0);
	CHECK_EQ_I64(proto_publish_end(b, blen, 4), 0);
	CHECK_EQ_I64(proto_publish_end(b, blen, 3), -1);
}

static void
test_ack(void)
{
	const uint8_t *b;
	uint8_t c[PROTO_ACK_FIXED + 8 * 4];
	size_t n, blen;
	uint32_t i;

	CHECK_EQ_U64(proto_ack_size(0), PROTO_FRAME_HDR + 16);
	CHECK_EQ_U64(proto_ack_size(3), PROTO_FRAME_HDR + 16 + 24);
	CHECK_EQ_U64(PROTO_ACK_SIZE(3), proto_ack_size(3));
	/* Offsets first, the header after them, as busd does. */
	proto_ack_set(frame, 0, 7);
	proto_ack_set(frame, 1, BUS_OFFSET_DUP);
	proto_ack_set(frame, 2, 0x0102030405060708ULL);
	n = proto_ack_begin(frame, 100, 3);
	CHECK_EQ_U64(n, proto_ack_size(3));
	if ((b = body_of(frame, n, PT_ACK, &blen)) == NULL)
		return;
	strict(dec_ack, b, blen);
	CHECK_EQ_I64(dec_ack(b, blen), 0);
	CHECK_EQ_U64(ack.first_seq, 100);
	CHECK_EQ_U64(ack.count, 3);
	CHECK_EQ_U64(proto_ack_offset(&ack, 0), 7);
	CHECK_EQ_U64(proto_ack_offset(&ack, 1), BUS_OFFSET_DUP);
	CHECK_EQ_U64(proto_ack_offset(&ack, 2), 0x0102030405060708ULL);

	/* The reserved field, and counts that do not fill the body. */
	memcpy(c, b, blen);
	c[15] = 1;
	CHECK_EQ_I64(dec_ack(c, blen), -1);
	c[15] = 0;
	le32_put(c + 8, 2);
	CHECK_EQ_I64(dec_ack(c, blen), -1);
	le32_put(c + 8, 4);
	CHECK_EQ_I64(dec_ack(c, blen), -1);
	CHECK_EQ_I64(dec_ack(c, blen + 8), 0);	/* c holds room for 4 */
	le32_put(c + 8, 0xffffffffu);
	CHECK_EQ_I64(dec_ack(c, blen), -1);
	/* A count whose offsets would wrap a 32-bit length to 0. */
	le32_put(c + 8, 1u << 29);
	CHECK_EQ_I64(dec_ack(c, PROTO_ACK_FIXED), -1);
	le32_put(c + 8, 0);
	CHECK_EQ_I64(dec_ack(c, PROTO_ACK_FIXED), 0);
	CHECK_EQ_U64(ack.count, 0);

	/* Shrunk to the first message: the frame ends after its offset. */
	n = proto_ack_begin(frame, 100, 1);
	CHECK_EQ_U64(n, proto_ack_size(1));
	if ((b = body_of(frame, n, PT_ACK, &blen)) == NULL)
		return;
	strict(dec_ack, b, blen);
	CHECK_EQ_I64(dec_ack(b, blen), 0);
	CHECK_EQ_U64(ack.count, 1);
	CHECK_EQ_U64(ack.first_seq, 100);
	CHECK_EQ_U64(proto_ack_offset(&ack, 0), 7);
	for (i = 0; i < 2; i++)		/* the old frame's tail is untouched */
		CHECK_EQ_U64(le64_get(frame + proto_ack_size(1) + 8 * i),
		    i == 0 ? BUS_OFFSET_DUP : 0x0102030405060708ULL);
}

static void
test_error(void)
{
	struct proto_error e = { 12, PE_TOOBIG, "message too large", 17 };
	const uint8_t *b;
	uint8_t c[64];
	size_t n, blen;

	n = proto_error_encode(frame, &e);
	CHECK_EQ_U64(n, proto_error_size(17));
	CHECK_EQ_U64(n, PROTO_FRAME_HDR + 16 + 17);
	if ((b = body_of(frame, n, PT_ERROR, &blen)) == NULL)
		return;
	strict(dec_error, b, blen);
	CHECK_EQ_I64(dec_error(b, blen), 0);
	CHECK_EQ_U64(error.seq, 12);
	CHECK_EQ_U64(error.code, PE_TOOBIG);
	CHECK_MEM(error.text, error.text_len, e.text, e.text_len);

	memcpy(c, b, blen);
	le32_put(c + 12, 16);		/* text length one short */
	CHECK_EQ_I64(dec_error(c, blen), -1);
	le32_put(c + 12, 0xffffffffu);
	CHECK_EQ_I64(dec_error(c, blen), -1);

	/* No text at all. */
	e.seq = 0;
	e.code = PE_BUSY;
	e.text_len = 0;
	n = proto_error_encode(frame, &e);
	if ((b = body_of(frame, n, PT_ERROR, &blen)) == NULL)
		return;
	CHECK_EQ_U64(blen, 16);
	strict(dec_error, b, blen);
	CHECK_EQ_I64(dec_error(b, blen), 0);
	CHECK_EQ_U64(error.code, PE_BUSY);
	CHECK_EQ_U64(error.text_len, 0);
}

static void
test_seal(void)
{
	struct proto_seal s = { "^orders\\.", 9 };
	const uint8_t *b;
	uint8_t c[64];
	size_t n, blen;

	n = proto_seal_encode(frame, &s);
	CHECK_EQ_U64(n, proto_seal_size(9));
	CHECK_EQ_U64(n, PROTO_FRAME_HDR + 4 + 9);
	if ((b = body_of(frame, n, PT_SEAL, &blen)) == NULL)
		return;
	strict(dec_seal, b, blen);
	CHECK_EQ_I64(dec_seal(b, blen), 0);
	CHECK_MEM(seal.pattern, seal.len, s.pattern, s.len);

	memcpy(c, b, blen);
	le32_put(c, 8);
	CHECK_EQ_I64(dec_seal(c, blen), -1);
	le32_put(c, 0xfffffffcu);
	CHECK_EQ_I64(dec_seal(c, blen), -1);

	/* The empty pattern: all partitions. */
	s.len = 0;
	n = proto_seal_encode(frame, &s);
	if ((b = body_of(frame, n, PT_SEAL, &blen)) == NULL)
		return;
	CHECK_EQ_U64(blen, 4);
	strict(dec_seal, b, blen);
	CHECK_EQ_I64(dec_seal(b, blen), 0);
	CHECK_EQ_U64(seal.len, 0);
}

static void
test_seal_ok(void)
{
	struct proto_seal_ok s = { 0xa1b2c3d4u };
	const uint8_t *b;
	size_t n, blen;

	n = proto_seal_ok_encode(frame, &s);
	CHECK_EQ_U64(n, PROTO_SEAL_OK_SIZE);
	if ((b = body_of(frame, n, PT_SEAL_OK, &blen)) == NULL)
		return;
	strict(dec_seal_ok, b, blen);
	CHECK_EQ_I64(dec_seal_ok(b, blen), 0);
	CHECK_EQ_U64(seal_ok.sealed, s.sealed);
}

static void
test_status(void)
{
	struct proto_status_ok s = { "{\"pid\":1}", 9 };
	const uint8_t *b;
	size_t n, blen;

	n = proto_status_encode(frame);
	CHECK_EQ_U64(n, PROTO_STATUS_SIZE);
	if ((b = body_of(frame, n, PT_STATUS, &blen)) == NULL)
		return;
	strict(dec_status, b, blen);

	/*
	 * STATUS_OK's body is the document itself, with no length of
	 * its own: any body, a byte more or less, is one.
	 */
	n = proto_status_ok_encode(frame, &s);
	CHECK_EQ_U64(n, proto_status_ok_size(9));
	if ((b = body_of(frame, n, PT_STATUS_OK, &blen)) == NULL)
		return;
	CHECK_EQ_I64(dec_status_ok(b, blen), 0);
	CHECK_MEM(status_ok.json, status_ok.len, s.json, s.len);
	CHECK_EQ_I64(dec_status_ok(b, 0), 0);
	CHECK_EQ_U64(status_ok.len, 0);
}

/* ------------------------------------------------- the page's examples */

/* The page's examples, copied from its EXAMPLES section. */
static const uint8_t ex_hello[] = {
	0x11, 0x00, 0x00, 0x00, 0x01, 0x42, 0x55, 0x53, 0x50, 0x02, 0x00,
	0x01, 0x00, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11
};
static const uint8_t ex_publish[] = {
	0x2c, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x03, 0x40, 0x7b, 0x4e, 0xac, 0x55, 0xea, 0x18,
	0x00, 0x40, 0x7b, 0x4e, 0xac, 0x55, 0xea, 0x18,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x74, 0x68, 0x69
};
static const uint8_t ex_ack[] = {
	0x19, 0x00, 0x00, 0x00, 0x04,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};
static const uint8_t ex_block[] = {
	0x2b, 0x00, 0x00, 0x00, 0x0a,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x05, 0x40, 0x7b, 0x4e, 0xac, 0x55, 0xea, 0x18,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x74, 0x61, 0x0a, 0x62, 0x63, 0x0a
};
static const uint8_t ex_ack_run[] = {
	0x19, 0x00, 0x00, 0x00, 0x0b,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};

/*
 * The bytes of the n-th literal display of the page's EXAMPLES: on each
 * line, the hex pairs before the comment (two spaces or more).
 */
static size_t
page_example(int n, uint8_t *out, size_t cap)
{
	FILE *f;
	char line[256], *p;
	size_t len = 0;
	int examples = 0, in = 0;
	unsigned int v;

	if ((f = fopen(PAGE, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, ".Sh ", 4) == 0)
			examples = strcmp(line, ".Sh EXAMPLES\n") == 0;
		if (!examples)
			continue;
		if (strncmp(line, ".Bd -literal", 12) == 0) {
			in = n-- == 0;
			continue;
		}
		if (strncmp(line, ".Ed", 3) == 0) {
			if (in)
				break;
			continue;
		}
		if (!in)
			continue;
		if ((p = strstr(line, "  ")) != NULL)
			*p = '\0';
		for (p = line; *p != '\0' && len < cap; p += 2) {
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

static void
test_page_examples(void)
{
	struct proto_hello h = { PROTO_VERSION, ACK_WRITTEN,
	    0x1122334455667788ULL };
	struct bus_rec m;
	const uint8_t *b;
	uint8_t page[256];
	size_t n, blen;

	/* The copies above are the page's bytes. */
	n = page_example(0, page, sizeof(page));
	CHECK_MEM(page, n, ex_hello, sizeof(ex_hello));
	n = page_example(1, page, sizeof(page));
	CHECK_MEM(page, n, ex_publish, sizeof(ex_publish));
	n = page_example(2, page, sizeof(page));
	CHECK_MEM(page, n, ex_ack, sizeof(ex_ack));
	n = page_example(3, page, sizeof(page));
	CHECK_MEM(page, n, ex_block, sizeof(ex_block));
	n = page_example(4, page, sizeof(page));
	CHECK_MEM(page, n, ex_ack_run, sizeof(ex_ack_run));
	CHECK_EQ_U64(page_example(5, page, sizeof(page)), 0);

	/* HELLO, ack level 1, producer id 0x1122334455667788. */
	if ((b = body_of(ex_hello, sizeof(ex_hello), PT_HELLO,
	    &blen)) != NULL) {
		CHECK_EQ_I64(dec_hello(b, blen), 0);
		CHECK_EQ_U64(hello.version, 2);
		CHECK_EQ_U64(hello.ack, ACK_WRITTEN);
		CHECK_EQ_U64(hello.producer, 0x1122334455667788ULL);
	}
	n = proto_hello_encode(frame, &h);
	CHECK_MEM(frame, n, ex_hello, sizeof(ex_hello));

	/* PUBLISH of one message: seq 1, topic "t", payload "hi". */
	if ((b = body_of(ex_publish, sizeof(ex_publish), PT_PUBLISH,
	    &blen)) != NULL) {
		CHECK_EQ_I64(dec_publish(b, blen), 0);
		CHECK_EQ_U64(nmsgs, 1);
		CHECK_EQ_U64(msgs[0].seq, 1);
		CHECK_EQ_I64(msgs[0].send_ns, 1795341600000000003LL);
		CHECK_EQ_I64(msgs[0].event_ns, 1795341600000000000LL);
		CHECK_EQ_U64(msgs[0].flags, 0);
		CHECK_MEM(msgs[0].topic, msgs[0].topic_len, "t", 1);
		CHECK(msgs[0].key == NULL);
		CHECK_EQ_U64(msgs[0].key_len, 0);
		CHECK_EQ_U64(msgs[0].tags_len, 0);
		CHECK_MEM(msgs[0].payload, msgs[0].payload_len, "hi", 2);
	}
	memset(&m, 0, sizeof(m));
	m.seq = 1;
	m.send_ns = 1795341600000000003LL;
	m.event_ns = 1795341600000000000LL;
	m.topic = "t";
	m.topic_len = 1;
	m.payload = (const uint8_t *)"hi";
	m.payload_len = 2;
	n = proto_publish_begin(frame);
	n += proto_msg_encode(frame + n, &m);
	proto_publish_finish(frame, n, 1);
	CHECK_MEM(frame, n, ex_publish, sizeof(ex_publish));

	/* Its ACK: first seq 1, one message, offset 0. */
	if ((b = body_of(ex_ack, sizeof(ex_ack), PT_ACK, &blen)) != NULL) {
		CHECK_EQ_I64(dec_ack(b, blen), 0);
		CHECK_EQ_U64(ack.first_seq, 1);
		CHECK_EQ_U64(ack.count, 1);
		CHECK_EQ_U64(proto_ack_offset(&ack, 0), 0);
	}
	n = proto_ack_begin(frame, 1, 1);
	proto_ack_set(frame, 0, 0);
	CHECK_MEM(frame, n, ex_ack, sizeof(ex_ack));

	/* PUBLISH_BLOCK of "a\nbc\n": seq 2, 3, topic "t". */
	if ((b = body_of(ex_block, sizeof(ex_block), PT_PUBLISH_BLOCK,
	    &blen)) != NULL) {
		struct proto_block k;

		CHECK_EQ_I64(proto_block_decode(b, blen, &k), 0);
		CHECK_EQ_U64(k.first_seq, 2);
		CHECK_EQ_I64(k.send_ns, 1795341600000000005LL);
		CHECK_EQ_I64(k.event_ns, 0);
		CHECK_EQ_U64(k.count, 2);
		CHECK_EQ_U64(k.delim, '\n');
		CHECK_MEM(k.topic, k.topic_len, "t", 1);
		CHECK_EQ_U64(k.tags_len, 0);
		CHECK_MEM(k.block, k.len, "a\nbc\n", 5);
		CHECK_EQ_U64(batch_count_delim(k.block, k.len, k.delim), 2);
	}
	{
		struct proto_block k;
		struct proto_ack_run a;

		memset(&k, 0, sizeof(k));
		k.first_seq = 2;
		k.send_ns = 1795341600000000005LL;
		k.delim = '\n';
		k.topic = "t";
		k.topic_len = 1;
		n = proto_block_begin(frame, &k);
		memcpy(frame + n, "a\nbc\n", 5);
		n += 5;
		proto_block_finish(frame, n, 2);
		CHECK_MEM(frame, n, ex_block, sizeof(ex_block));
		if ((b = body_of(ex_ack_run, sizeof(ex_ack_run), PT_ACK_RUN,
		    &blen)) != NULL) {
			CHECK_EQ_I64(proto_ack_run_decode(b, blen, &a), 0);
			CHECK_EQ_U64(a.first_seq, 2);
			CHECK_EQ_U64(a.count, 2);
			CHECK_EQ_U64(a.first_off, 1);
		}
		n = proto_ack_run_encode(frame, &(struct proto_ack_run){ 2, 2,
		    1 });
		CHECK_MEM(frame, n, ex_ack_run, sizeof(ex_ack_run));
	}
}

/* What a PUBLISH_BLOCK decoder refuses. */
static void
test_block_malformed(void)
{
	struct proto_block k;
	uint8_t b[64];
	size_t len;

	memcpy(b, ex_block + PROTO_FRAME_HDR, sizeof(ex_block) -
	    PROTO_FRAME_HDR);
	len = sizeof(ex_block) - PROTO_FRAME_HDR;
	CHECK_EQ_I64(proto_block_decode(b, len, &k), 0);
	CHECK_EQ_I64(proto_block_decode(b, PROTO_BLOCK_FIXED - 1, &k), -1);
	/* No block at all, or a block that does not end in its delimiter. */
	CHECK_EQ_I64(proto_block_decode(b, len - 5, &k), -1);
	CHECK_EQ_I64(proto_block_decode(b, len - 1, &k), -1);
	b[30] = 1;				/* reserved */
	CHECK_EQ_I64(proto_block_decode(b, len, &k), -1);
	b[30] = 0;
	le32_put(b + 24, 0);			/* count 0 */
	CHECK_EQ_I64(proto_block_decode(b, len, &k), -1);
	le32_put(b + 24, 6);			/* more records than bytes */
	CHECK_EQ_I64(proto_block_decode(b, len, &k), -1);
	le32_put(b + 24, 2);
	le32_put(b + 32, 5);			/* tags take the block */
	CHECK_EQ_I64(proto_block_decode(b, len, &k), -1);
	le32_put(b + 32, 0);
	b[29] = 0xff;				/* topic past the body */
	CHECK_EQ_I64(proto_block_decode(b, len, &k), -1);
	/* An ACK_RUN is exactly 24 bytes with a zero word. */
	{
		struct proto_ack_run a;
		uint8_t r[24];

		memcpy(r, ex_ack_run + PROTO_FRAME_HDR, 24);
		CHECK_EQ_I64(proto_ack_run_decode(r, 24, &a), 0);
		CHECK_EQ_I64(proto_ack_run_decode(r, 23, &a), -1);
		r[12] = 1;
		CHECK_EQ_I64(proto_ack_run_decode(r, 24, &a), -1);
	}
}

int
main(void)
{
	RUN(test_hello);
	RUN(test_hello_ok);
	RUN(test_block_malformed);
	RUN(test_publish);
	RUN(test_ack);
	RUN(test_error);
	RUN(test_seal);
	RUN(test_seal_ok);
	RUN(test_status);
	RUN(test_page_examples);
	return unit_done();
}

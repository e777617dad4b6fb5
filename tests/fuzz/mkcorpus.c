/*
 * Write the seed corpus of the fuzz targets into DIR (tests/fuzz/corpus):
 * frames and segments made by the encoders of libbus, and the texts
 * people type.  Run by hand when a format changes:
 *	make tests/fuzz/mkcorpus && ./tests/fuzz/mkcorpus tests/fuzz/corpus
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "proto.h"

static const char *outdir;

static void	seed(const char *, const char *, const void *, size_t);
static size_t	frames_publish(uint8_t *);
static size_t	segment(uint8_t *);
static void	frames(void);
static void	texts(void);

static void
seed(const char *target, const char *name, const void *p, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(p, 1, len, f) != len || fclose(f) != 0)
		err(1, "%s", path);
}

/* Two messages: one plain, one with a key and tags. */
static size_t
frames_publish(uint8_t *f)
{
	struct bus_rec r;
	uint8_t tags[64];
	size_t n, tl = 0;
	const char *why;

	if (tags_add(tags, sizeof(tags), &tl, "region=eu", &why) == -1)
		errx(1, "tags: %s", why);
	n = proto_publish_begin(f);
	memset(&r, 0, sizeof(r));
	r.seq = 1;
	r.send_ns = 1700000000000000000LL;
	r.topic = "orders.created";
	r.topic_len = strlen(r.topic);
	r.payload = (const uint8_t *)"{\"id\":1}";
	r.payload_len = 8;
	n += proto_msg_encode(f + n, &r);
	r.seq = 2;
	r.event_ns = 1699999999000000000LL;
	r.key = "order-1";
	r.key_len = strlen(r.key);
	r.tags = tags;
	r.tags_len = tl;
	n += proto_msg_encode(f + n, &r);
	proto_publish_finish(f, n, 2);
	return n;
}

static void
frames(void)
{
	struct proto_hello h = { 1, 0, 0 };	/* another version */
	struct proto_block k = { 5, 1700000000000000000LL, 0, 3, '\n',
	    "logs", 4, NULL, 0, NULL, 0 };
	struct proto_hello_ok ho = { PROTO_VERSION, 1048576, 1114112,
	    42, 7 };
	struct proto_error e = { 3, PE_TOPIC, "invalid topic", 13 };
	struct proto_seal s = { "orders\\..*", 10 };
	struct proto_seal_ok so = { 3 };
	struct proto_status_ok st = { "{\"partitions\":[]}", 17 };
	uint8_t f[1024], all[8192];
	size_t n, a = 0;

#define FRAME(name) do {						\
	seed("fuzz_frames", name, f, n);				\
	memcpy(all + a, f, n);						\
	a += n;								\
} while (0)
	n = proto_hello_encode(f, &(struct proto_hello){ PROTO_VERSION,
	    ACK_WRITTEN, 42 });
	FRAME("hello");
	n = proto_hello_encode(f, &h);
	FRAME("hello_v1");
	n = proto_hello_ok_encode(f, &ho);
	FRAME("hello_ok");
	n = frames_publish(f);
	FRAME("publish");
	n = proto_publish_begin(f);
	FRAME("publish_empty");
	n = proto_ack_begin(f, 1, 2);
	proto_ack_set(f, 0, 0);
	proto_ack_set(f, 1, BUS_OFFSET_DUP);
	FRAME("ack");
	n = proto_block_begin(f, &k);
	memcpy(f + n, "one\n\nthree\n", 11);
	n += 11;
	proto_block_finish(f, n, 3);
	FRAME("publish_block");
	n = proto_ack_run_encode(f, &(struct proto_ack_run){ 5, 3, 100 });
	FRAME("ack_run");
	n = proto_error_encode(f, &e);
	FRAME("error");
	n = proto_seal_encode(f, &s);
	FRAME("seal");
	s.len = 0;
	n = proto_seal_encode(f, &s);
	FRAME("seal_all");
	n = proto_seal_ok_encode(f, &so);
	FRAME("seal_ok");
	n = proto_status_encode(f);
	FRAME("status");
	n = proto_status_ok_encode(f, &st);
	FRAME("status_ok");
#undef FRAME
	seed("fuzz_frames", "stream", all, a);
}

/* A segment: its header and three records (plain, keyed with tags, a
 * tombstone). */
static size_t
segment(uint8_t *p)
{
	struct bus_rec r;
	struct bus_batch b;
	uint8_t tags[64];
	size_t n = BUS_SEG_HDR, tl = 0, h;
	const char *why;
	static const char block[] = "line one\n\nline three\n";

	if (tags_add(tags, sizeof(tags), &tl, "region=eu", &why) == -1 ||
	    tags_add(tags, sizeof(tags), &tl, "empty=", &why) == -1)
		errx(1, "tags: %s", why);
	seg_hdr_encode(p, 100, 1700000000000000000LL);
	/* A record batch of three: plain, with key and tags, tombstone. */
	memset(&r, 0, sizeof(r));
	r.offset = 100;
	r.recv_ns = 1700000000000000001LL;
	r.send_ns = 1700000000000000000LL;
	r.producer = 42;
	r.seq = 1;
	r.topic = "orders.created";
	r.topic_len = strlen(r.topic);
	r.payload = (const uint8_t *)"{\"id\":1}";
	r.payload_len = 8;
	batch_init(&b, &r);
	h = n;
	n += batch_begin(p + n, &b);
	n += batch_add(p + n, &b, &r);
	r.offset++;
	r.recv_ns += 1000;
	r.seq++;
	r.key = "order-1";
	r.key_len = strlen(r.key);
	r.tags = tags;
	r.tags_len = tl;
	n += batch_add(p + n, &b, &r);
	r.offset += 2;
	r.recv_ns++;
	r.seq++;
	r.flags = BUS_F_TOMBSTONE;
	r.tags_len = 0;
	r.payload_len = 0;
	n += batch_add(p + n, &b, &r);
	batch_finish(p + h, &b);
	/* A block batch of three lines with common tags. */
	memset(&b, 0, sizeof(b));
	b.attrs = BUS_BA_BLOCK;
	b.delim = '\n';
	b.base_off = 104;
	b.base_recv = 1700000000000000100LL;
	b.base_send = b.base_event = 1700000000000000050LL;
	b.producer = 42;
	b.base_seq = 4;
	b.topic = "logs";
	b.topic_len = 4;
	b.tags = tags;
	b.tags_len = tl;
	h = n;
	n += batch_begin(p + n, &b);
	memcpy(p + n, block, sizeof(block) - 1);
	n += sizeof(block) - 1;
	batch_block(&b, 3, sizeof(block) - 1);
	batch_finish(p + h, &b);
	return n;
}

static void
texts(void)
{
	static const char *t[] = {
		"10", "10s", "1h30m", "7d", "250ms", "1.5", "2w3d4h5m6s7ms8us9ns",
		"@2026-01-02T03:04:05Z", "@2026-11-22 10:00:00.123456789+02:00",
		"@2024-02-29", "@1700000000.123", "-1h", "-0.5s",
		"64M", "1GiB", "4096", "16kB", "2T",
		"orders:^orders\\.(\\w+)$", "metrics:^metrics\\.",
		"bus-cursor 1\nrecv 1700000000000000000\norders 42\nmetrics 7\n",
		"bus-cursor 1\nrecv 0\n",
	};
	char name[32];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "text%02zu", i);
		seed("fuzz_text", name, t[i], strlen(t[i]));
	}
}

int
main(int argc, char *argv[])
{
	uint8_t seg[4096];
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: mkcorpus dir\n");
		return 1;
	}
	outdir = argv[1];
	frames();
	n = segment(seg);
	seed("fuzz_record", "segment", seg, n);
	seed("fuzz_record", "body", seg + BUS_SEG_HDR, n - BUS_SEG_HDR);
	texts();
	return 0;
}

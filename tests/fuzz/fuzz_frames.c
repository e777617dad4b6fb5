/*
 * Fuzz the frame codecs of include/proto.h: split the input into frames,
 * run every decoder on each body, and check that a body that decodes
 * encodes back to the very same frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "proto.h"

#define FUZZ_MAX_FRAME	(1024 * 1024)	/* frames above are refused */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	same(const uint8_t *, size_t, const uint8_t *, size_t);
static void	frames_publish(const uint8_t *, const uint8_t *, size_t,
		    uint8_t *);
static void	frames_one(const uint8_t *, const uint8_t *, size_t);

/*
 * A decoded body encodes back to the frame it came from, but for the
 * type byte, which is the encoder's: every decoder runs on every body.
 */
static void
same(const uint8_t *frame, size_t flen, const uint8_t *out, size_t olen)
{
	if (flen != olen || memcmp(frame, out, 4) != 0 ||
	    memcmp(frame + PROTO_FRAME_HDR, out + PROTO_FRAME_HDR,
	    flen - PROTO_FRAME_HDR) != 0)
		abort();
}

static void
frames_publish(const uint8_t *frame, const uint8_t *b, size_t len,
    uint8_t *out)
{
	struct bus_rec r;
	uint32_t count, i;
	size_t pos, o;

	if (proto_publish_decode(b, len, &count, &pos) == -1)
		return;
	o = proto_publish_begin(out);
	for (i = 0; i < count; i++) {
		memset(&r, 0, sizeof(r));
		if (proto_msg_decode(b, len, &pos, &r) == -1)
			return;
		if (r.size != proto_msg_size(r.topic_len, r.key_len,
		    r.tags_len, r.payload_len))
			abort();
		o += proto_msg_encode(out + o, &r);
	}
	if (proto_publish_end(b, len, pos) == -1)
		return;
	proto_publish_finish(out, o, count);
	same(frame, PROTO_FRAME_HDR + len, out, o);
}

static void
frames_one(const uint8_t *frame, const uint8_t *b, size_t len)
{
	struct proto_hello h;
	struct proto_hello_ok ho;
	struct proto_ack a;
	struct proto_error e;
	struct proto_seal s;
	struct proto_seal_ok so;
	struct proto_status_ok st;
	struct proto_block k;
	struct proto_ack_run ar;
	size_t flen = PROTO_FRAME_HDR + len, n;
	uint32_t i;
	uint8_t *out;

	/* Every frame re-encoded is at most as long as the frame. */
	if ((out = malloc(flen)) == NULL)
		abort();
	/* Run every decoder on every body, whatever its type byte. */
	/* A HELLO of another version is not parsed beyond its version. */
	if (proto_hello_decode(b, len, &h) == 0 && h.version == PROTO_VERSION)
		same(frame, flen, out, proto_hello_encode(out, &h));
	if (proto_hello_ok_decode(b, len, &ho) == 0)
		same(frame, flen, out, proto_hello_ok_encode(out, &ho));
	frames_publish(frame, b, len, out);
	if (proto_ack_decode(b, len, &a) == 0) {
		n = proto_ack_begin(out, a.first_seq, a.count);
		for (i = 0; i < a.count; i++)
			proto_ack_set(out, i, proto_ack_offset(&a, i));
		same(frame, flen, out, n);
	}
	if (proto_block_decode(b, len, &k) == 0) {
		n = proto_block_begin(out, &k);
		memcpy(out + n, k.block, k.len);
		proto_block_finish(out, n + k.len, k.count);
		same(frame, flen, out, n + k.len);
		if (k.block[k.len - 1] != k.delim ||
		    batch_count_delim(k.block, k.len, k.delim) == 0)
			abort();
	}
	if (proto_ack_run_decode(b, len, &ar) == 0)
		same(frame, flen, out, proto_ack_run_encode(out, &ar));
	if (proto_error_decode(b, len, &e) == 0) {
		(void)proto_err_name(e.code);
		same(frame, flen, out, proto_error_encode(out, &e));
	}
	if (proto_seal_decode(b, len, &s) == 0)
		same(frame, flen, out, proto_seal_encode(out, &s));
	if (proto_seal_ok_decode(b, len, &so) == 0)
		same(frame, flen, out, proto_seal_ok_encode(out, &so));
	if (proto_status_decode(b, len) == 0)
		same(frame, flen, out, proto_status_encode(out));
	if (proto_status_ok_decode(b, len, &st) == 0)
		same(frame, flen, out, proto_status_ok_encode(out, &st));
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body;
	size_t pos = 0, blen;
	ssize_t n;
	uint8_t type;

	while ((n = proto_frame(data + pos, size - pos, FUZZ_MAX_FRAME, &type,
	    &body, &blen)) > 0) {
		if ((size_t)n != proto_frame_size(data + pos) ||
		    (size_t)n != PROTO_FRAME_HDR + blen)
			abort();
		frames_one(data + pos, body, blen);
		pos += n;
	}
	return 0;
}

/*
 * Frames of the busd socket protocol.  See bus-protocol(7).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "proto.h"

size_t
proto_max_frame(size_t max_message)
{
	size_t m = max_message + PROTO_MSG_HDR + 64 * 1024;

	return m < PROTO_FRAME_MIN_MAX ? PROTO_FRAME_MIN_MAX : m;
}

ssize_t
proto_frame(const uint8_t *buf, size_t avail, size_t max, uint8_t *type,
    const uint8_t **body, size_t *blen)
{
	size_t len;

	if (avail < 4)
		return 0;
	len = le32_get(buf);
	if (len < 1 || len + 4 > max)
		return -1;
	if (avail < len + 4)
		return 0;
	*type = buf[4];
	*body = buf + PROTO_FRAME_HDR;
	*blen = len - 1;
	return len + 4;
}

size_t
proto_hdr(uint8_t *p, uint8_t type, size_t blen)
{
	le32_put(p, blen + 1);
	p[4] = type;
	return PROTO_FRAME_HDR;
}

size_t
proto_frame_size(const uint8_t *buf)
{
	return 4 + (size_t)le32_get(buf);
}

size_t
proto_hello_encode(uint8_t *f, const struct proto_hello *h)
{
	uint8_t *b = f + PROTO_FRAME_HDR;

	proto_hdr(f, PT_HELLO, PROTO_HELLO_BODY);
	le32_put(b, PROTO_MAGIC);
	le16_put(b + 4, h->version);
	b[6] = h->ack;
	b[7] = 0;
	le64_put(b + 8, h->producer);
	return PROTO_HELLO_SIZE;
}

int
proto_hello_decode(const uint8_t *b, size_t len, struct proto_hello *h)
{
	memset(h, 0, sizeof(*h));
	if (len < 6 || le32_get(b) != PROTO_MAGIC)
		return -1;
	h->version = le16_get(b + 4);
	if (h->version != PROTO_VERSION)
		return 0;	/* the rest is that version's */
	if (len != PROTO_HELLO_BODY || b[6] > ACK_SYNCED || b[7] != 0 ||
	    le64_get(b + 8) == 0)
		return -1;
	h->ack = b[6];
	h->producer = le64_get(b + 8);
	return 0;
}

size_t
proto_hello_ok_encode(uint8_t *f, const struct proto_hello_ok *h)
{
	uint8_t *b = f + PROTO_FRAME_HDR;

	proto_hdr(f, PT_HELLO_OK, PROTO_HELLO_OK_BODY);
	le16_put(b, h->version);
	le16_put(b + 2, 0);
	le32_put(b + 4, h->max_message);
	le32_put(b + 8, h->max_frame);
	le32_put(b + 12, 0);
	le64_put(b + 16, h->producer);
	le64_put(b + 24, h->last_seq);
	return PROTO_HELLO_OK_SIZE;
}

int
proto_hello_ok_decode(const uint8_t *b, size_t len, struct proto_hello_ok *h)
{
	if (len != PROTO_HELLO_OK_BODY || le16_get(b + 2) != 0 ||
	    le32_get(b + 12) != 0)
		return -1;
	h->version = le16_get(b);
	h->max_message = le32_get(b + 4);
	h->max_frame = le32_get(b + 8);
	h->producer = le64_get(b + 16);
	h->last_seq = le64_get(b + 24);
	return 0;
}

size_t
proto_publish_begin(uint8_t *f)
{
	/* An empty PUBLISH until proto_publish_finish() says otherwise. */
	proto_publish_finish(f, PROTO_PUBLISH_HDR, 0);
	return PROTO_PUBLISH_HDR;
}

void
proto_publish_finish(uint8_t *f, size_t frame_len, uint32_t count)
{
	proto_hdr(f, PT_PUBLISH, frame_len - PROTO_FRAME_HDR);
	le32_put(f + PROTO_FRAME_HDR, count);
}

int
proto_publish_decode(const uint8_t *b, size_t len, uint32_t *count,
    size_t *pos)
{
	if (len < 4)
		return -1;
	*count = le32_get(b);
	/* Every message has at least its fixed part. */
	if (*count > (len - 4) / PROTO_MSG_HDR)
		return -1;
	*pos = 4;
	return 0;
}

size_t
proto_msg_size(size_t topic, size_t key, size_t tags, size_t payload)
{
	return PROTO_MSG_HDR + topic + key + tags + payload;
}

int
proto_msg_decode(const uint8_t *b, size_t len, size_t *pos, struct bus_rec *r)
{
	const uint8_t *p = b + *pos;
	size_t left = len - *pos, need;

	if (left < PROTO_MSG_HDR)
		return -1;
	r->seq = le64_get(p);
	r->send_ns = (int64_t)le64_get(p + 8);
	r->event_ns = (int64_t)le64_get(p + 16);
	r->flags = p[24];
	r->topic_len = p[25];
	r->key_len = le16_get(p + 26);
	r->tags_len = le32_get(p + 28);
	r->payload_len = le32_get(p + 32);
	need = (size_t)r->topic_len + r->key_len + r->tags_len + r->payload_len;
	if (need > left - PROTO_MSG_HDR)
		return -1;
	p += PROTO_MSG_HDR;
	r->topic = (const char *)p;
	p += r->topic_len;
	r->key = r->key_len ? (const char *)p : NULL;
	p += r->key_len;
	r->tags = p;
	p += r->tags_len;
	r->payload = p;
	r->size = PROTO_MSG_HDR + need;
	*pos += r->size;
	return 0;
}

size_t
proto_msg_encode(uint8_t *p, const struct bus_rec *r)
{
	uint8_t *v = p + PROTO_MSG_HDR;

	le64_put(p, r->seq);
	le64_put(p + 8, (uint64_t)r->send_ns);
	le64_put(p + 16, (uint64_t)r->event_ns);
	p[24] = r->flags;
	p[25] = r->topic_len;
	le16_put(p + 26, r->key_len);
	le32_put(p + 28, r->tags_len);
	le32_put(p + 32, r->payload_len);
	memcpy(v, r->topic, r->topic_len);
	v += r->topic_len;
	if (r->key_len)
		memcpy(v, r->key, r->key_len);
	v += r->key_len;
	if (r->tags_len)
		memcpy(v, r->tags, r->tags_len);
	v += r->tags_len;
	if (r->payload_len)
		memcpy(v, r->payload, r->payload_len);
	v += r->payload_len;
	return v - p;
}

size_t
proto_ack_begin(uint8_t *f, uint64_t first_seq, uint32_t count)
{
	uint8_t *b = f + PROTO_FRAME_HDR;

	proto_hdr(f, PT_ACK, PROTO_ACK_FIXED + 8 * (size_t)count);
	le64_put(b, first_seq);
	le32_put(b + 8, count);
	le32_put(b + 12, 0);
	return proto_ack_size(count);
}

int
proto_ack_decode(const uint8_t *b, size_t len, struct proto_ack *a)
{
	if (len < PROTO_ACK_FIXED || le32_get(b + 12) != 0 ||
	    (len - PROTO_ACK_FIXED) / 8 != le32_get(b + 8) ||
	    (len - PROTO_ACK_FIXED) % 8 != 0)
		return -1;
	a->first_seq = le64_get(b);
	a->count = le32_get(b + 8);
	a->offsets = b + PROTO_ACK_FIXED;
	return 0;
}

size_t
proto_block_begin(uint8_t *f, const struct proto_block *k)
{
	uint8_t *b = f + PROTO_FRAME_HDR;

	le64_put(b, k->first_seq);
	le64_put(b + 8, (uint64_t)k->send_ns);
	le64_put(b + 16, (uint64_t)k->event_ns);
	le32_put(b + 24, 0);
	b[28] = k->delim;
	b[29] = (uint8_t)k->topic_len;
	le16_put(b + 30, 0);
	le32_put(b + 32, (uint32_t)k->tags_len);
	memcpy(b + PROTO_BLOCK_FIXED, k->topic, k->topic_len);
	if (k->tags_len)
		memcpy(b + PROTO_BLOCK_FIXED + k->topic_len, k->tags,
		    k->tags_len);
	return PROTO_FRAME_HDR + PROTO_BLOCK_FIXED + k->topic_len + k->tags_len;
}

void
proto_block_finish(uint8_t *f, size_t frame_len, uint32_t count)
{
	proto_hdr(f, PT_PUBLISH_BLOCK, frame_len - PROTO_FRAME_HDR);
	le32_put(f + PROTO_FRAME_HDR + 24, count);
}

int
proto_block_decode(const uint8_t *b, size_t len, struct proto_block *k)
{
	size_t var;

	if (len < PROTO_BLOCK_FIXED || le16_get(b + 30) != 0)
		return -1;
	k->first_seq = le64_get(b);
	k->send_ns = (int64_t)le64_get(b + 8);
	k->event_ns = (int64_t)le64_get(b + 16);
	k->count = le32_get(b + 24);
	k->delim = b[28];
	k->topic_len = b[29];
	k->tags_len = le32_get(b + 32);
	var = len - PROTO_BLOCK_FIXED;
	if ((uint64_t)k->topic_len + k->tags_len >= var)
		return -1;
	k->topic = (const char *)b + PROTO_BLOCK_FIXED;
	k->tags = b + PROTO_BLOCK_FIXED + k->topic_len;
	k->block = k->tags + k->tags_len;
	k->len = var - k->topic_len - k->tags_len;
	if (k->count == 0 || k->count > k->len ||
	    k->block[k->len - 1] != k->delim)
		return -1;
	return 0;
}

size_t
proto_ack_run_encode(uint8_t *f, const struct proto_ack_run *a)
{
	uint8_t *b = f + PROTO_FRAME_HDR;

	proto_hdr(f, PT_ACK_RUN, PROTO_ACK_RUN_BODY);
	le64_put(b, a->first_seq);
	le32_put(b + 8, a->count);
	le32_put(b + 12, 0);
	le64_put(b + 16, a->first_off);
	return PROTO_ACK_RUN_SIZE;
}

int
proto_ack_run_decode(const uint8_t *b, size_t len, struct proto_ack_run *a)
{
	if (len != PROTO_ACK_RUN_BODY || le32_get(b + 12) != 0)
		return -1;
	a->first_seq = le64_get(b);
	a->count = le32_get(b + 8);
	a->first_off = le64_get(b + 16);
	return 0;
}

size_t
proto_error_size(size_t text_len)
{
	return PROTO_FRAME_HDR + PROTO_ERROR_FIXED + text_len;
}

size_t
proto_error_encode(uint8_t *f, const struct proto_error *e)
{
	uint8_t *b = f + PROTO_FRAME_HDR;

	proto_hdr(f, PT_ERROR, PROTO_ERROR_FIXED + e->text_len);
	le64_put(b, e->seq);
	le32_put(b + 8, e->code);
	le32_put(b + 12, (uint32_t)e->text_len);
	if (e->text_len)
		memcpy(b + PROTO_ERROR_FIXED, e->text, e->text_len);
	return proto_error_size(e->text_len);
}

int
proto_error_decode(const uint8_t *b, size_t len, struct proto_error *e)
{
	if (len < PROTO_ERROR_FIXED ||
	    le32_get(b + 12) != len - PROTO_ERROR_FIXED)
		return -1;
	e->seq = le64_get(b);
	e->code = le32_get(b + 8);
	e->text = (const char *)b + PROTO_ERROR_FIXED;
	e->text_len = len - PROTO_ERROR_FIXED;
	return 0;
}

size_t
proto_seal_size(size_t len)
{
	return PROTO_FRAME_HDR + 4 + len;
}

size_t
proto_seal_encode(uint8_t *f, const struct proto_seal *s)
{
	proto_hdr(f, PT_SEAL, 4 + s->len);
	le32_put(f + PROTO_FRAME_HDR, (uint32_t)s->len);
	if (s->len)
		memcpy(f + PROTO_FRAME_HDR + 4, s->pattern, s->len);
	return proto_seal_size(s->len);
}

int
proto_seal_decode(const uint8_t *b, size_t len, struct proto_seal *s)
{
	if (len < 4 || le32_get(b) != len - 4)
		return -1;
	s->pattern = (const char *)b + 4;
	s->len = len - 4;
	return 0;
}

size_t
proto_seal_ok_encode(uint8_t *f, const struct proto_seal_ok *s)
{
	proto_hdr(f, PT_SEAL_OK, 4);
	le32_put(f + PROTO_FRAME_HDR, s->sealed);
	return PROTO_SEAL_OK_SIZE;
}

int
proto_seal_ok_decode(const uint8_t *b, size_t len, struct proto_seal_ok *s)
{
	if (len != 4)
		return -1;
	s->sealed = le32_get(b);
	return 0;
}

size_t
proto_status_encode(uint8_t *f)
{
	return proto_hdr(f, PT_STATUS, 0);
}

int
proto_status_decode(const uint8_t *b, size_t len)
{
	return len == 0 ? 0 : -1;
}

size_t
proto_status_ok_size(size_t len)
{
	return PROTO_FRAME_HDR + len;
}

size_t
proto_status_ok_encode(uint8_t *f, const struct proto_status_ok *s)
{
	proto_hdr(f, PT_STATUS_OK, s->len);
	if (s->len)
		memcpy(f + PROTO_FRAME_HDR, s->json, s->len);
	return proto_status_ok_size(s->len);
}

int
proto_status_ok_decode(const uint8_t *b, size_t len,
    struct proto_status_ok *s)
{
	s->json = (const char *)b;
	s->len = len;
	return 0;
}

const char *
proto_err_name(uint32_t code)
{
	switch (code) {
	case PE_PROTO:		return "protocol error";
	case PE_TOPIC:		return "invalid topic";
	case PE_TOOBIG:		return "message too large";
	case PE_IO:		return "write failed";
	case PE_VERSION:	return "unsupported protocol version";
	case PE_BUSY:		return "too many clients";
	case PE_ROUTE:		return "no route for topic";
	case PE_PATTERN:	return "invalid pattern";
	case PE_NOSPC:		return "disk full";
	}
	return "unknown error";
}

int
proto_connect(const char *dir)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (store_path(sun.sun_path, sizeof(sun.sun_path), dir, BUS_SOCK) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
proto_send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

ssize_t
proto_recv_frame(int fd, uint8_t **buf, size_t *cap, uint8_t *type,
    const uint8_t **body, size_t *blen)
{
	size_t have = 0, need = 4;
	uint8_t *nb;
	ssize_t n;

	for (;;) {
		if (need > *cap) {
			if ((nb = realloc(*buf, need)) == NULL)
				return -1;
			*buf = nb;
			*cap = need;
		}
		while (have < need) {
			n = read(fd, *buf + have, need - have);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n == 0)
					errno = ECONNRESET;
				return -1;
			}
			have += n;
		}
		if (need == 4) {
			need = 4 + (size_t)le32_get(*buf);
			if (need < PROTO_FRAME_HDR || need > 256 * 1024 * 1024) {
				errno = EPROTO;
				return -1;
			}
			continue;
		}
		break;
	}
	*type = (*buf)[4];
	*body = *buf + PROTO_FRAME_HDR;
	*blen = need - PROTO_FRAME_HDR;
	return need;
}

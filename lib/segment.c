/*
 * Record encoding and decoding, topic and tag checks.  See bus-segment(5).
 */
#include <sys/types.h>

#include <stdint.h>
#include <string.h>

#include "bus.h"

int
topic_check(const char *t, size_t n, const char **why)
{
	size_t i;
	unsigned char c;

	if (n == 0) {
		*why = "empty topic";
		return -1;
	}
	if (n > BUS_TOPIC_MAX) {
		*why = "topic longer than 255 bytes";
		return -1;
	}
	if (t[0] == '.') {
		*why = "topic starts with '.'";
		return -1;
	}
	for (i = 0; i < n; i++) {
		c = t[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
			continue;
		*why = "topic has a character outside [A-Za-z0-9._-]";
		return -1;
	}
	return 0;
}

int
tags_next(const uint8_t *a, size_t len, size_t *pos, struct bus_tag *t)
{
	size_t p = *pos, nl, vl;

	if (p == len)
		return 0;
	if (len - p < 4)
		return -1;
	nl = le16_get(a + p);
	vl = le16_get(a + p + 2);
	if (nl == 0 || nl > BUS_TAG_NAME_MAX || len - p - 4 < nl + vl)
		return -1;
	t->name = (const char *)a + p + 4;
	t->name_len = nl;
	t->value = t->name + nl;
	t->value_len = vl;
	*pos = p + 4 + nl + vl;
	return 1;
}

int
tags_check(const uint8_t *a, size_t len)
{
	struct bus_tag t;
	size_t pos = 0;
	int r;

	while ((r = tags_next(a, len, &pos, &t)) == 1)
		if (memchr(t.name, '=', t.name_len) != NULL)
			return -1;
	return r;
}

int
tags_add(uint8_t *a, size_t cap, size_t *len, const char *nv, const char **why)
{
	const char *eq = strchr(nv, '=');
	size_t nl, vl;

	if (eq == NULL) {
		*why = "tag is not NAME=VALUE";
		return -1;
	}
	nl = eq - nv;
	vl = strlen(eq + 1);
	if (nl == 0 || nl > BUS_TAG_NAME_MAX) {
		*why = "tag name must be 1..255 bytes";
		return -1;
	}
	if (vl > BUS_TAG_VALUE_MAX) {
		*why = "tag value longer than 65535 bytes";
		return -1;
	}
	if (cap - *len < 4 + nl + vl) {
		*why = "tags too large";
		return -1;
	}
	le16_put(a + *len, nl);
	le16_put(a + *len + 2, vl);
	memcpy(a + *len + 4, nv, nl);
	memcpy(a + *len + 4 + nl, eq + 1, vl);
	*len += 4 + nl + vl;
	return 0;
}

size_t
seg_rec_size(size_t topic, size_t key, size_t tags, size_t payload)
{
	return BUS_REC_HDR + topic + key + tags + payload;
}

static size_t
seg_rec_encode_body(uint8_t *p, const struct bus_rec *r)
{
	size_t n = seg_rec_size(r->topic_len, r->key_len, r->tags_len,
	    r->payload_len);
	uint8_t *v = p + BUS_REC_HDR;

	le32_put(p, n - 4);
	p[8] = r->flags;
	p[9] = r->topic_len;
	le16_put(p + 10, r->key_len);
	le32_put(p + 12, r->tags_len);
	le64_put(p + 16, r->offset);
	le64_put(p + 24, r->recv_ns);
	le64_put(p + 32, r->send_ns);
	le64_put(p + 40, r->event_ns);
	le64_put(p + 48, r->producer);
	le64_put(p + 56, r->seq);
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
	return n;
}

size_t
seg_rec_encode(uint8_t *p, const struct bus_rec *r)
{
	size_t n = seg_rec_encode_body(p, r);

	le32_put(p + 4, crc32c(0, p + 8, n - 8));
	return n;
}

size_t
seg_rec_encode_nocrc(uint8_t *p, const struct bus_rec *r)
{
	size_t n = seg_rec_encode_body(p, r);

	le32_put(p + 4, 0);
	return n;
}

/*
 * Fill in the CRC of every record in buf (whole records, back to back),
 * three records at a time.
 */
void
seg_crc_fill(uint8_t *buf, size_t len)
{
	uint8_t *r[3];
	size_t n[3], pos = 0, k = 0, i;
	uint32_t out[3];

	while (pos < len) {
		r[k] = buf + pos;
		n[k] = le32_get(buf + pos) + 4;
		pos += n[k];
		if (++k < 3)
			continue;
		crc32c_3(r[0] + 8, n[0] - 8, r[1] + 8, n[1] - 8, r[2] + 8,
		    n[2] - 8, out);
		for (i = 0; i < 3; i++)
			le32_put(r[i] + 4, out[i]);
		k = 0;
	}
	for (i = 0; i < k; i++)
		le32_put(r[i] + 4, crc32c(0, r[i] + 8, n[i] - 8));
}

/*
 * Could a record start at p?  A cheap look at the fixed fields, so that
 * resynchronising over damaged bytes rarely pays for a full decode.
 */
int
seg_rec_plausible(const uint8_t *p, size_t avail)
{
	size_t len, tl;
	const char *why;

	if (avail < 16)
		return avail >= 4 && le32_get(p) >= BUS_REC_HDR - 4;
	len = le32_get(p);
	tl = p[9];
	if (len < BUS_REC_HDR - 4 || len > BUS_REC_MAX || (p[8] & ~BUS_F_MASK) ||
	    tl == 0 || tl + (size_t)le16_get(p + 10) + le32_get(p + 12) >
	    len + 4 - BUS_REC_HDR)
		return 0;
	if (avail >= BUS_REC_HDR + tl) {
		if (topic_check((const char *)p + BUS_REC_HDR, tl, &why) == -1)
			return 0;
	}
	return 1;
}

ssize_t
seg_rec_decode(const uint8_t *p, size_t avail, struct bus_rec *r,
    const char **why)
{
	size_t len, n, var;
	const uint8_t *v;

	if (avail < 4)
		return 0;
	len = le32_get(p);
	if (len < BUS_REC_HDR - 4 || len > BUS_REC_MAX) {
		*why = "bad record length";
		return -1;
	}
	n = len + 4;
	if (avail < n)
		return 0;
	if (crc32c(0, p + 8, n - 8) != le32_get(p + 4)) {
		*why = "record checksum mismatch";
		return -1;
	}
	r->flags = p[8];
	r->topic_len = p[9];
	r->key_len = le16_get(p + 10);
	r->tags_len = le32_get(p + 12);
	var = n - BUS_REC_HDR;
	if (r->topic_len == 0 || (r->flags & ~BUS_F_MASK) ||
	    (uint64_t)r->topic_len + r->key_len + r->tags_len > var) {
		*why = "bad record field";
		return -1;
	}
	r->offset = le64_get(p + 16);
	r->recv_ns = (int64_t)le64_get(p + 24);
	r->send_ns = (int64_t)le64_get(p + 32);
	r->event_ns = (int64_t)le64_get(p + 40);
	r->producer = le64_get(p + 48);
	r->seq = le64_get(p + 56);
	v = p + BUS_REC_HDR;
	r->topic = (const char *)v;
	v += r->topic_len;
	r->key = r->key_len ? (const char *)v : NULL;
	v += r->key_len;
	r->tags = v;
	v += r->tags_len;
	r->payload = v;
	r->payload_len = var - r->topic_len - r->key_len - r->tags_len;
	r->size = n;
	return n;
}

void
seg_hdr_encode(uint8_t *p, uint64_t base, int64_t created)
{
	memcpy(p, BUS_SEG_MAGIC, 8);
	le64_put(p + 8, base);
	le64_put(p + 16, created);
	le32_put(p + 24, 0);
	le32_put(p + 28, crc32c(0, p, 28));
}

int
seg_hdr_decode(const uint8_t *p, uint64_t *base, int64_t *created,
    const char **why)
{
	if (memcmp(p, BUS_SEG_MAGIC, 7) != 0) {
		*why = "not a bus segment (bad magic)";
		return -1;
	}
	if (p[7] != BUS_SEG_MAGIC[7]) {
		*why = "unsupported segment format version";
		return -1;
	}
	if (crc32c(0, p, 28) != le32_get(p + 28)) {
		*why = "segment header checksum mismatch";
		return -1;
	}
	*base = le64_get(p + 8);
	if (created)
		*created = (int64_t)le64_get(p + 16);
	return 0;
}

/*
 * Fuzz the segment codecs of include/bus.h: the first 32 bytes as a
 * segment header, and what follows a valid one (else the whole input)
 * as a segment body read record after record as the reader does (and
 * again with every CRC made right); the tag area of each record walked,
 * each record encoded back to the very same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "bus.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	record_tags(const struct bus_rec *);
static void	record_same(const uint8_t *, const struct bus_rec *);
static void	record_body(const uint8_t *, size_t);
static void	record_fixed(const uint8_t *, size_t);

/* Walk the tag area to its end or to the first malformed tag. */
static void
record_tags(const struct bus_rec *r)
{
	struct bus_tag t;
	size_t pos = 0, last;
	int k;

	for (;;) {
		last = pos;
		if ((k = tags_next(r->tags, r->tags_len, &pos, &t)) != 1)
			break;
		if (pos <= last || pos > r->tags_len ||
		    t.name_len == 0 || t.name_len > BUS_TAG_NAME_MAX ||
		    (const uint8_t *)t.value + t.value_len != r->tags + pos)
			abort();
	}
	if (k == 0 && pos != r->tags_len)
		abort();
	(void)tags_check(r->tags, r->tags_len);
}

/* A decoded record encodes back to the bytes it came from. */
static void
record_same(const uint8_t *p, const struct bus_rec *r)
{
	uint8_t *out;
	size_t n;

	if (r->size != seg_rec_size(r->topic_len, r->key_len, r->tags_len,
	    r->payload_len))
		abort();
	if ((out = malloc(r->size)) == NULL)
		abort();
	n = seg_rec_encode(out, r);
	if (n != r->size || memcmp(out, p, n) != 0)
		abort();
	free(out);
}

/* A segment body, record after record, up to the first that fails. */
static void
record_body(const uint8_t *p, size_t len)
{
	struct bus_rec r;
	const char *why;
	size_t pos = 0;
	ssize_t n;

	while (pos < len) {
		(void)seg_rec_plausible(p + pos, len - pos);
		memset(&r, 0, sizeof(r));
		if ((n = seg_rec_decode(p + pos, len - pos, &r, &why)) <= 0)
			break;
		record_tags(&r);
		record_same(p + pos, &r);
		pos += n;
	}
}

/*
 * The same body with the CRC of each record made right, so that the
 * checks behind the CRC see mutated fields too.
 */
static void
record_fixed(const uint8_t *p, size_t len)
{
	uint8_t *b;
	size_t pos = 0, n;

	if (len == 0)
		return;
	if ((b = malloc(len)) == NULL)
		abort();
	memcpy(b, p, len);
	while (len - pos >= BUS_REC_HDR) {
		n = (size_t)le32_get(b + pos) + 4;
		if (n < BUS_REC_HDR || n > len - pos)
			break;
		le32_put(b + pos + 4, crc32c(0, b + pos + 8, n - 8));
		pos += n;
	}
	record_body(b, len);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why;
	uint64_t base;
	int64_t created;
	size_t pos = 0;
	uint8_t hdr[BUS_SEG_HDR];

	if (size >= BUS_SEG_HDR &&
	    seg_hdr_decode(data, &base, &created, &why) == 0) {
		/* The decoder does not look at the reserved bytes. */
		seg_hdr_encode(hdr, base, created);
		if (memcmp(hdr, data, 24) != 0)
			abort();
		pos = BUS_SEG_HDR;
	}
	/* The rest (or all of it) as a segment body. */
	record_body(data + pos, size - pos);
	record_fixed(data + pos, size - pos);
	return 0;
}

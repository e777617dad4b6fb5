/*
 * Fuzz the segment codecs of include/bus.h and include/batch.h: the
 * first 32 bytes as a segment header, and what follows a valid one (else
 * the whole input) as a segment body read batch after batch (and again
 * with every CRC made right); the records of each batch walked, their tag
 * areas walked, each record batch encoded back to the very same bytes.
 * Then the input as a segment file, read by the partition reader to its
 * end, past every damage it reports.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "bus.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	record_tags(const uint8_t *, size_t);
static void	batch_same(const uint8_t *, const struct bus_batch *);
static void	body(const uint8_t *, size_t);
static void	body_fixed(const uint8_t *, size_t);
static void	reader(const uint8_t *, size_t);

/* Walk a tag area to its end or to the first malformed tag. */
static void
record_tags(const uint8_t *tags, size_t len)
{
	struct bus_tag t;
	size_t pos = 0, last;
	int k;

	for (;;) {
		last = pos;
		if ((k = tags_next(tags, len, &pos, &t)) != 1)
			break;
		if (pos <= last || pos > len ||
		    t.name_len == 0 || t.name_len > BUS_TAG_NAME_MAX ||
		    (const uint8_t *)t.value + t.value_len != tags + pos)
			abort();
	}
	if (k == 0 && pos != len)
		abort();
	(void)tags_check(tags, len);
}

/*
 * The records of a checked batch: all count of them, as the header says;
 * a record batch encodes back to the bytes it came from, a block batch's
 * payloads and delimiters are its records section.
 */
static void
batch_same(const uint8_t *p, const struct bus_batch *b)
{
	struct batch_iter it;
	struct bus_batch e;
	struct bus_rec r;
	uint8_t *out;
	size_t n, at = 0;
	int k;

	if ((out = malloc(b->size)) == NULL)
		abort();
	e = *b;
	n = batch_begin(out, &e);
	batch_iter_init(&it, b, b->recs, b->stored_len);
	while ((k = batch_iter_next(&it, &r)) == 1) {
		record_tags(r.tags, r.tags_len);
		if (b->attrs & BUS_BA_BLOCK) {
			if (memcmp(b->recs + at, r.payload, r.payload_len) ||
			    b->recs[at + r.payload_len] != b->delim)
				abort();
			at += r.payload_len + 1;
			continue;
		}
		if (it.i > 1 && !batch_fits(&e, &r))
			abort();
		n += batch_add(out + n, &e, &r);
	}
	if (k != 0 || it.i != b->count)
		abort();
	if (b->attrs & BUS_BA_BLOCK) {
		if (at != b->stored_len)
			abort();
	} else if (batch_finish(out, &e) != b->size ||
	    memcmp(out, p, b->size) != 0)
		abort();
	free(out);
}

/* A segment body, batch after batch, up to the first that fails. */
static void
body(const uint8_t *p, size_t len)
{
	struct bus_batch b;
	const char *why;
	size_t pos = 0;
	ssize_t n;

	while (pos < len) {
		(void)batch_plausible(p + pos, len - pos);
		memset(&b, 0, sizeof(b));
		if ((n = batch_decode(p + pos, len - pos, &b, &why)) <= 0)
			break;
		if (batch_codec(&b) == BUS_BA_CODEC_NONE)
			batch_same(p + pos, &b);
		pos += n;
	}
}

/*
 * The same body with the CRC of each batch made right, so that the
 * checks behind the CRC see mutated fields too.
 */
static void
body_fixed(const uint8_t *p, size_t len)
{
	uint8_t *b;
	size_t pos = 0, n;

	if (len == 0)
		return;
	if ((b = malloc(len)) == NULL)
		abort();
	memcpy(b, p, len);
	while (len - pos >= BUS_BATCH_HDR) {
		n = (size_t)le32_get(b + pos) + 4;
		if (n < BUS_BATCH_HDR || n > len - pos)
			break;
		batch_crc(b + pos, n);
		pos += n;
	}
	body(b, len);
	free(b);
}

/*
 * The input as the only segment of a partition, read by the partition
 * reader: offsets strictly increase, damage is skipped, it ends.
 */
static void
reader(const uint8_t *data, size_t size)
{
	static char dir[64];
	char path[128];
	struct preader *pr;
	struct bus_rec r;
	uint64_t last = 0, skipped;
	int fd, rc, any = 0, rounds = 0;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_record.%ld",
		    (long)getpid());
		snprintf(path, sizeof(path), "%s/%s/p", dir, BUS_LOGDIR);
		mkdir(dir, 0700);
		snprintf(path, sizeof(path), "%s/%s", dir, BUS_LOGDIR);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/%s/p", dir, BUS_LOGDIR);
		mkdir(path, 0700);
	}
	snprintf(path, sizeof(path), "%s/%s/p/00000000000000000100.seg", dir,
	    BUS_LOGDIR);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if ((pr = preader_open(dir, "p")) == NULL)
		abort();
	while (rounds++ < 10000) {
		rc = preader_peek(pr, &r);
		if (rc == PR_REC) {
			if (any && r.offset <= last)
				abort();
			last = r.offset;
			any = 1;
			preader_advance(pr);
			continue;
		}
		if (rc != PR_CORRUPT || preader_skip_corrupt(pr, &skipped))
			break;
	}
	preader_close(pr);
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
	body(data + pos, size - pos);
	body_fixed(data + pos, size - pos);
	reader(data, size);
	return 0;
}

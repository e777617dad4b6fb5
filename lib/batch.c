/*
 * The record batch of segment format 2: encoding, decoding, checking and
 * iterating.  See bus-segment(5) and include/batch.h.
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef __x86_64__
#include <immintrin.h>
#endif

#include "bus.h"
#include "batch.h"

static int	batch_rec_parse(const struct bus_batch *, const uint8_t *,
		    const uint8_t *, struct bus_rec *);

size_t
uvarint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

size_t
uvarint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)v | 0x80;
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t
uvarint_get(const uint8_t *p, size_t avail, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (avail > 0 && p[0] < 0x80) {
		*v = p[0];
		return 1;
	}
	for (i = 0; i < avail && i < 10; i++) {
		if (i == 9 && p[i] > 1)
			return 0;
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (p[i] < 0x80) {
			/* One way to write a number: no trailing zero byte. */
			if (p[i] == 0 && i > 0)
				return 0;
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

static inline uint64_t
zz_enc(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t
zz_dec(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ------------------------------------------------------------ writing */

size_t
batch_begin(uint8_t *p, struct bus_batch *b)
{
	b->count = 0;
	b->last_delta = 0;
	b->last_recv = b->base_recv;
	b->recs_len = 0;
	b->hdr = BUS_BATCH_HDR + b->topic_len + b->tags_len;
	p[8] = BUS_BATCH_VERSION;
	p[9] = b->attrs;
	p[10] = b->delim;
	p[11] = (uint8_t)b->topic_len;
	le64_put(p + 24, b->base_off);
	le64_put(p + 32, (uint64_t)b->base_recv);
	le64_put(p + 48, (uint64_t)b->base_send);
	le64_put(p + 56, (uint64_t)b->base_event);
	le64_put(p + 64, b->producer);
	le64_put(p + 72, b->base_seq);
	le32_put(p + 80, (uint32_t)b->tags_len);
	memcpy(p + BUS_BATCH_HDR, b->topic, b->topic_len);
	if (b->tags_len)
		memcpy(p + BUS_BATCH_HDR + b->topic_len, b->tags, b->tags_len);
	return b->hdr;
}

/* Bytes of a record's body (after its length varint). */
static size_t
batch_body_size(const struct bus_batch *b, const struct bus_rec *r)
{
	return 1 + uvarint_len(r->offset - b->base_off) +
	    uvarint_len((uint64_t)r->recv_ns - (uint64_t)b->base_recv) +
	    uvarint_len(zz_enc(r->send_ns - b->base_send)) +
	    uvarint_len(zz_enc(r->event_ns - b->base_event)) +
	    uvarint_len(r->seq - b->base_seq) +
	    uvarint_len(r->key_len) + r->key_len +
	    uvarint_len(r->tags_len) + r->tags_len + r->payload_len;
}

size_t
batch_rec_size(const struct bus_batch *b, const struct bus_rec *r)
{
	size_t n = batch_body_size(b, r);

	return uvarint_len(n) + n;
}

/*
 * Deltas of send and event times are signed 64-bit: two times whose
 * difference overflows cannot share a batch.
 */
static int
delta_ok(int64_t v, int64_t base)
{
	int64_t d;

	return !__builtin_sub_overflow(v, base, &d);
}

int
batch_fits(const struct bus_batch *b, const struct bus_rec *r)
{
	if (b->attrs & BUS_BA_BLOCK)
		return 0;
	if (b->count == UINT32_MAX)
		return 0;
	if (r->topic_len != b->topic_len || r->producer != b->producer ||
	    memcmp(r->topic, b->topic, r->topic_len) != 0)
		return 0;
	if (b->count > 0 && (r->offset <= batch_last_off(b) ||
	    r->recv_ns <= b->last_recv))
		return 0;
	if (r->offset < b->base_off || r->offset - b->base_off > UINT32_MAX ||
	    r->recv_ns < b->base_recv || r->seq < b->base_seq)
		return 0;
	return delta_ok(r->send_ns, b->base_send) &&
	    delta_ok(r->event_ns, b->base_event);
}

size_t
batch_add(uint8_t *p, struct bus_batch *b, const struct bus_rec *r)
{
	size_t body = batch_body_size(b, r), n;

	n = uvarint_put(p, body);
	p[n++] = r->flags;
	n += uvarint_put(p + n, r->offset - b->base_off);
	n += uvarint_put(p + n, (uint64_t)r->recv_ns - (uint64_t)b->base_recv);
	n += uvarint_put(p + n, zz_enc(r->send_ns - b->base_send));
	n += uvarint_put(p + n, zz_enc(r->event_ns - b->base_event));
	n += uvarint_put(p + n, r->seq - b->base_seq);
	n += uvarint_put(p + n, r->key_len);
	if (r->key_len)
		memcpy(p + n, r->key, r->key_len);
	n += r->key_len;
	n += uvarint_put(p + n, r->tags_len);
	if (r->tags_len)
		memcpy(p + n, r->tags, r->tags_len);
	n += r->tags_len;
	if (r->payload_len)
		memcpy(p + n, r->payload, r->payload_len);
	n += r->payload_len;
	b->count++;
	b->last_delta = (uint32_t)(r->offset - b->base_off);
	b->last_recv = r->recv_ns;
	b->recs_len += n;
	return n;
}

void
batch_block(struct bus_batch *b, uint32_t count, size_t len)
{
	b->count = count;
	b->last_delta = count - 1;
	b->last_recv = b->base_recv + (int64_t)count - 1;
	b->recs_len = (uint32_t)len;
}

size_t
batch_finish_nocrc(uint8_t *p, struct bus_batch *b)
{
	if (!(b->attrs & BUS_BA_CODEC_MASK))
		b->stored_len = b->recs_len;
	b->size = b->hdr + b->stored_len;
	le32_put(p, (uint32_t)(b->size - 4));
	le32_put(p + 4, 0);
	le32_put(p + 12, b->count);
	le32_put(p + 16, b->last_delta);
	le32_put(p + 20, b->recs_len);
	le64_put(p + 40, (uint64_t)b->last_recv);
	return b->size;
}

void
batch_crc(uint8_t *p, size_t size)
{
	le32_put(p + 4, crc32c(0, p + 8, size - 8));
}

size_t
batch_finish(uint8_t *p, struct bus_batch *b)
{
	size_t n = batch_finish_nocrc(p, b);

	batch_crc(p, n);
	return n;
}

void
batch_init(struct bus_batch *b, const struct bus_rec *r)
{
	memset(b, 0, sizeof(*b));
	b->base_off = r->offset;
	b->base_recv = r->recv_ns;
	b->base_send = r->send_ns;
	b->base_event = r->event_ns;
	b->producer = r->producer;
	b->base_seq = r->seq;
	b->topic = r->topic;
	b->topic_len = r->topic_len;
}

size_t
batch_one_size(const struct bus_rec *r)
{
	struct bus_batch b;

	batch_init(&b, r);
	return BUS_BATCH_HDR + r->topic_len + batch_rec_size(&b, r);
}

size_t
batch_one(uint8_t *p, const struct bus_rec *r)
{
	struct bus_batch b;
	size_t n;

	batch_init(&b, r);
	n = batch_begin(p, &b);
	batch_add(p + n, &b, r);
	return batch_finish(p, &b);
}

#ifdef __x86_64__
static int	have_avx2;

static void __attribute__((constructor))
count_init(void)
{
	__builtin_cpu_init();
	have_avx2 = __builtin_cpu_supports("avx2");
}

/*
 * batch_count_delim() with AVX2: 64 bytes a round in two counters,
 * three times the SSE2 loop's rate.  The rest, under 64 bytes, is
 * counted one byte at a time.
 */
__attribute__((target("avx2")))
static size_t
count_avx2(const uint8_t *p, size_t len, uint8_t d)
{
	const __m256i pat = _mm256_set1_epi8((char)d);
	const __m256i zero = _mm256_setzero_si256();
	__m256i a0, a1, s;
	size_t n = 0, i = 0;
	int k;

	while (len - i >= 64) {
		a0 = a1 = zero;
		for (k = 0; k < 255 && len - i >= 64; k++, i += 64) {
			a0 = _mm256_sub_epi8(a0, _mm256_cmpeq_epi8(pat,
			    _mm256_loadu_si256((const __m256i *)(p + i))));
			a1 = _mm256_sub_epi8(a1, _mm256_cmpeq_epi8(pat,
			    _mm256_loadu_si256((const __m256i *)(p + i + 32))));
		}
		s = _mm256_add_epi64(_mm256_sad_epu8(a0, zero),
		    _mm256_sad_epu8(a1, zero));
		n += (size_t)_mm256_extract_epi64(s, 0) +
		    (size_t)_mm256_extract_epi64(s, 1) +
		    (size_t)_mm256_extract_epi64(s, 2) +
		    (size_t)_mm256_extract_epi64(s, 3);
	}
	for (; i < len; i++)
		n += p[i] == d;
	return n;
}
#endif

/*
 * With AVX2, count_avx2().  With SSE2 (every x86-64): 16 bytes at a
 * time, each match subtracting -1 from a byte counter, the counters
 * summed (psadbw) every 255 rounds before they can wrap.  Elsewhere
 * eight bytes at a time: a byte of
 * x ^ pattern is zero where x holds the delimiter, and the classic
 * has-zero-byte trick marks exactly those bytes once the carries are
 * kept from crossing (the 0x7f mask).
 */
size_t
batch_count_delim(const uint8_t *p, size_t len, uint8_t d)
{
	size_t n = 0, i = 0;
#ifdef __SSE2__
	const __m128i pat = _mm_set1_epi8((char)d), zero = _mm_setzero_si128();
	__m128i acc, sum;
	int k;

#ifdef __x86_64__
	if (have_avx2)
		return count_avx2(p, len, d);
#endif
	while (len - i >= 16) {
		acc = zero;
		for (k = 0; k < 255 && len - i >= 16; k++, i += 16)
			acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(pat,
			    _mm_loadu_si128((const __m128i *)(p + i))));
		sum = _mm_sad_epu8(acc, zero);
		n += (size_t)_mm_cvtsi128_si64(sum) +
		    (size_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sum, sum));
	}
#else
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t pat = ones * d, low7 = 0x7f7f7f7f7f7f7f7fULL;
	uint64_t x, z;

	for (; i + 8 <= len; i += 8) {
		memcpy(&x, p + i, 8);
		x ^= pat;
		/* High bit set in each byte of z where x's byte is zero. */
		z = ~(((x & low7) + low7) | x | low7);
		/* Those bits, one per byte, summed by a multiply. */
		n += ((z >> 7) * ones) >> 56;
	}
#endif
	for (; i < len; i++)
		n += p[i] == d;
	return n;
}

/* ------------------------------------------------------------ reading */

int
batch_plausible(const uint8_t *p, size_t avail)
{
	size_t len;

	if (avail < 4)
		return 1;
	len = le32_get(p);
	if (len < BUS_BATCH_HDR - 4 + 1 || len > BUS_BATCH_MAX - 4)
		return 0;
	if (avail < 12)
		return 1;
	if (p[8] != BUS_BATCH_VERSION || (p[9] & ~BUS_BA_MASK) ||
	    (p[9] & BUS_BA_CODEC_MASK) > BUS_BA_CODEC_LZ4 || p[11] == 0 ||
	    (!(p[9] & BUS_BA_BLOCK) && p[10] != 0))
		return 0;
	if (avail < 16)
		return 1;
	return le32_get(p + 12) != 0;
}

ssize_t
batch_decode_hdr(const uint8_t *p, size_t avail, struct bus_batch *b,
    const char **why)
{
	size_t len, n;
	const char *tw;

	if (avail < 4)
		return 0;
	len = le32_get(p);
	if (len < BUS_BATCH_HDR - 4 + 1 || len > BUS_BATCH_MAX - 4) {
		*why = "bad batch length";
		return -1;
	}
	n = len + 4;
	if (avail < n)
		return 0;
	if (crc32c(0, p + 8, n - 8) != le32_get(p + 4)) {
		*why = "batch checksum mismatch";
		return -1;
	}
	b->size = n;
	b->attrs = p[9];
	b->delim = p[10];
	b->topic_len = p[11];
	b->count = le32_get(p + 12);
	b->last_delta = le32_get(p + 16);
	b->recs_len = le32_get(p + 20);
	b->base_off = le64_get(p + 24);
	b->base_recv = (int64_t)le64_get(p + 32);
	b->last_recv = (int64_t)le64_get(p + 40);
	b->base_send = (int64_t)le64_get(p + 48);
	b->base_event = (int64_t)le64_get(p + 56);
	b->producer = le64_get(p + 64);
	b->base_seq = le64_get(p + 72);
	b->tags_len = le32_get(p + 80);
	if (p[8] != BUS_BATCH_VERSION) {
		*why = "unsupported batch version";
		return -1;
	}
	if ((b->attrs & ~BUS_BA_MASK) ||
	    batch_codec(b) > BUS_BA_CODEC_LZ4) {
		*why = "bad batch attributes";
		return -1;
	}
	if (b->count == 0 || b->topic_len == 0 ||
	    b->last_recv < b->base_recv ||
	    b->base_off + b->last_delta < b->base_off ||
	    (uint64_t)b->topic_len + b->tags_len > n - BUS_BATCH_HDR ||
	    b->recs_len > BUS_BATCH_MAX) {
		*why = "bad batch field";
		return -1;
	}
	if (!(b->attrs & BUS_BA_BLOCK) && (b->delim != 0 || b->tags_len != 0)) {
		*why = "bad batch field";
		return -1;
	}
	b->topic = (const char *)p + BUS_BATCH_HDR;
	if (topic_check(b->topic, b->topic_len, &tw) == -1) {
		*why = "bad batch topic";
		return -1;
	}
	b->tags = p + BUS_BATCH_HDR + b->topic_len;
	if (tags_check(b->tags, b->tags_len) != 0) {
		*why = "bad batch tags";
		return -1;
	}
	b->hdr = BUS_BATCH_HDR + b->topic_len + b->tags_len;
	b->recs = p + b->hdr;
	b->stored_len = n - b->hdr;
	if (batch_codec(b) == BUS_BA_CODEC_NONE &&
	    b->stored_len != b->recs_len) {
		*why = "batch records length mismatch";
		return -1;
	}
	return n;
}

ssize_t
batch_decode(const uint8_t *p, size_t avail, struct bus_batch *b,
    const char **why)
{
	ssize_t n;

	if ((n = batch_decode_hdr(p, avail, b, why)) <= 0)
		return n;
	if (batch_codec(b) == BUS_BA_CODEC_NONE &&
	    batch_check_recs(b, b->recs, b->stored_len, why) == -1)
		return -1;
	return n;
}

int
batch_check_recs(const struct bus_batch *b, const uint8_t *recs, size_t len,
    const char **why)
{
	struct batch_iter it;
	struct bus_rec r;
	int k;

	if (len != b->recs_len) {
		*why = "batch records length mismatch";
		return -1;
	}
	if (b->attrs & BUS_BA_BLOCK) {
		if (b->last_delta != b->count - 1 ||
		    (uint64_t)b->last_recv - (uint64_t)b->base_recv !=
		    (uint64_t)b->count - 1 ||
		    b->base_seq + (b->count - 1) < b->base_seq ||
		    len == 0 || recs[len - 1] != b->delim) {
			*why = "bad block batch";
			return -1;
		}
		/* Exactly count delimiters, the last one at the end. */
		if (batch_count_delim(recs, len, b->delim) != b->count) {
			*why = "block batch count mismatch";
			return -1;
		}
		return 0;
	}
	batch_iter_init(&it, b, recs, len);
	while ((k = batch_iter_next(&it, &r)) == 1) {
		if (r.flags & BUS_F_TOMBSTONE && r.key_len == 0) {
			*why = "tombstone without a key";
			return -1;
		}
		if (tags_check(r.tags, r.tags_len) != 0) {
			*why = "bad record tags";
			return -1;
		}
	}
	if (k == -1) {
		*why = "bad record in batch";
		return -1;
	}
	if (it.i != b->count || r.offset != batch_last_off(b) ||
	    r.recv_ns != b->last_recv) {
		*why = "batch count mismatch";
		return -1;
	}
	return 0;
}

int
batch_recs(const struct bus_batch *b, struct batch_buf *buf,
    const uint8_t **recs, const char **why)
{
	if (batch_codec(b) == BUS_BA_CODEC_NONE) {
		*recs = b->recs;
		return 0;
	}
	return zc_batch_recs(&buf->z, b, recs, why);
}

void
batch_buf_free(struct batch_buf *buf)
{
	zc_free(&buf->z);
}

void
batch_iter_init(struct batch_iter *it, const struct bus_batch *b,
    const uint8_t *recs, size_t len)
{
	it->b = b;
	it->p = recs;
	it->end = recs + len;
	it->i = 0;
}

/* Parse the body [p, end) of a record of a record batch into r. */
static int
batch_rec_parse(const struct bus_batch *b, const uint8_t *p,
    const uint8_t *end, struct bus_rec *r)
{
	uint64_t v;
	size_t k;

	if (p == end)
		return -1;
	r->flags = *p++;
	if (r->flags & ~BUS_F_MASK)
		return -1;
#define GET(x) do {							\
	if ((k = uvarint_get(p, end - p, &(x))) == 0)			\
		return -1;						\
	p += k;								\
} while (0)
	GET(v);
	r->offset = b->base_off + v;
	if (v > b->last_delta)
		return -1;
	GET(v);
	if (v > (uint64_t)b->last_recv - (uint64_t)b->base_recv)
		return -1;
	r->recv_ns = (int64_t)((uint64_t)b->base_recv + v);
	/* Times and sequences past their type's range are malformed. */
	GET(v);
	if (__builtin_add_overflow(b->base_send, zz_dec(v), &r->send_ns))
		return -1;
	GET(v);
	if (__builtin_add_overflow(b->base_event, zz_dec(v), &r->event_ns))
		return -1;
	GET(v);
	if (__builtin_add_overflow(b->base_seq, v, &r->seq))
		return -1;
	GET(v);
	if (v > BUS_KEY_MAX || v > (uint64_t)(end - p))
		return -1;
	r->key_len = v;
	r->key = v ? (const char *)p : NULL;
	p += v;
	GET(v);
	if (v > (uint64_t)(end - p))
		return -1;
	r->tags_len = v;
	r->tags = p;
	p += v;
#undef GET
	r->payload = p;
	r->payload_len = end - p;
	return 0;
}

int
batch_iter_next(struct batch_iter *it, struct bus_rec *r)
{
	const struct bus_batch *b = it->b;
	const uint8_t *p = it->p, *e;
	uint64_t body;
	size_t k;

	if (p == it->end)
		return 0;
	if (it->i == b->count)
		return -1;
	r->topic = b->topic;
	r->topic_len = b->topic_len;
	r->producer = b->producer;
	if (b->attrs & BUS_BA_BLOCK) {
		e = memchr(p, b->delim, it->end - p);
		if (e == NULL)
			return -1;
		r->offset = b->base_off + it->i;
		r->recv_ns = (int64_t)((uint64_t)b->base_recv + it->i);
		r->seq = b->base_seq + it->i;
		r->send_ns = b->base_send;
		r->event_ns = b->base_event;
		r->flags = 0;
		r->key = NULL;
		r->key_len = 0;
		r->tags = b->tags;
		r->tags_len = b->tags_len;
		r->payload = p;
		r->payload_len = e - p;
		r->size = e - p + 1;
		it->p = e + 1;
		it->i++;
		return 1;
	}
	if ((k = uvarint_get(p, it->end - p, &body)) == 0 ||
	    body > (uint64_t)(it->end - p - k))
		return -1;
	e = p + k + body;
	if (batch_rec_parse(b, p + k, e, r) == -1)
		return -1;
	/* Offsets and receive times strictly increase from delta 0. */
	if (it->i == 0 ? r->offset != b->base_off || r->recv_ns != b->base_recv :
	    r->offset <= it->last_off || r->recv_ns <= it->last_recv)
		return -1;
	it->last_off = r->offset;
	it->last_recv = r->recv_ns;
	r->size = e - p;
	it->p = e;
	it->i++;
	return 1;
}

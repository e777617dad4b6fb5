/*
 * JSON strings: the escaping described in json.h, written to a buffer
 * (bus-sub's output path: no allocation, no stdio) or to a stream.
 *
 * Most text is printable ASCII, so the encoder copies eight bytes at a
 * time and looks at one byte at a time only from the first byte of a
 * word that needs care.
 */
#include <string.h>

#include "json.h"

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

static size_t	utf8_seq(const uint8_t *, size_t);
static int	plain(uint8_t);
static uint64_t	word_special(uint64_t);

static const char hex[] = "0123456789abcdef";

/*
 * Length of the valid UTF-8 sequence of two to four bytes at p (n bytes
 * available), or 0 if there is none: a bad lead or continuation byte,
 * an overlong form, a surrogate, a code point above U+10FFFF, a cut.
 */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Is c written as it is? */
static inline int
plain(uint8_t c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*
 * Nonzero if a byte of the word is not written as it is (below 0x20,
 * 0x80 or above, '"' or '\\').  The lowest set high bit marks the first
 * such byte exactly: the borrows that may set higher ones start there.
 */
static inline uint64_t
word_special(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');

	return (x | ((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) |
	    ((b - ONES) & ~b)) & HIGHS;
}

size_t
json_esc_put(char *dst, const void *s, size_t n)
{
	const uint8_t *p = s;
	char *d = dst;
	uint64_t x, m;
	size_t i = 0, l;
	uint8_t c;

	while (i < n) {
		/* dst has room for 6 bytes per input byte: store, then look. */
		while (n - i >= 8) {
			memcpy(&x, p + i, 8);
			memcpy(d, &x, 8);
			if ((m = word_special(x)) != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				l = __builtin_ctzll(m) >> 3;
#else
				for (l = 0; plain(p[i + l]); l++)
					;
#endif
				d += l;
				i += l;
				break;
			}
			d += 8;
			i += 8;
		}
		if (i == n)
			break;
		c = p[i];
		if (plain(c)) {
			*d++ = c;
			i++;
			continue;
		}
		switch (c) {
		case '"':
		case '\\':
			*d++ = '\\';
			*d++ = c;
			i++;
			continue;
		case '\n':
			*d++ = '\\';
			*d++ = 'n';
			i++;
			continue;
		case '\t':
			*d++ = '\\';
			*d++ = 't';
			i++;
			continue;
		case '\r':
			*d++ = '\\';
			*d++ = 'r';
			i++;
			continue;
		}
		if (c >= 0x80 && (l = utf8_seq(p + i, n - i)) > 0) {
			memcpy(d, p + i, l);
			d += l;
			i += l;
			continue;
		}
		memcpy(d, "\\u00", 4);
		d[4] = hex[c >> 4];
		d[5] = hex[c & 15];
		d += 6;
		i++;
	}
	return d - dst;
}

size_t
json_str_put(char *dst, const void *s, size_t n)
{
	size_t len;

	dst[0] = '"';
	len = 1 + json_esc_put(dst + 1, s, n);
	dst[len++] = '"';
	return len;
}

/*
 * A piece ends before a byte that is not a continuation byte, or after
 * three that are (then no lead byte before the end could want more):
 * each byte is then escaped as in the whole string.
 */
size_t
json_esc_cut(const void *s, size_t n, size_t max)
{
	const uint8_t *p = s;
	size_t e;

	if (n <= max)
		return n;
	for (e = max; e > max - 3 && (p[e] & 0xc0) == 0x80; e--)
		;
	return (p[e] & 0xc0) != 0x80 ? e : max;
}

/* In pieces through a buffer on the stack. */
#define PIECE	512

void
json_fputs(FILE *f, const void *s, size_t n)
{
	char buf[6 * PIECE];
	const uint8_t *p = s;
	size_t k;

	fputc('"', f);
	while (n > 0) {
		k = json_esc_cut(p, n, PIECE);
		fwrite(buf, 1, json_esc_put(buf, p, k), f);
		p += k;
		n -= k;
	}
	fputc('"', f);
}

void
json_str(FILE *f, const char *s)
{
	json_fputs(f, s, strlen(s));
}

int
json_utf8_valid(const void *s, size_t n)
{
	const uint8_t *p = s;
	uint64_t x;
	size_t i = 0, l;

	while (i < n) {
		if (n - i >= 8) {
			memcpy(&x, p + i, 8);
			if ((x & HIGHS) == 0) {
				i += 8;
				continue;
			}
		}
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((l = utf8_seq(p + i, n - i)) == 0)
			return 0;
		i += l;
	}
	return 1;
}

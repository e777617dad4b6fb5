/*
 * JSON strings: the escapes of json.h, decoded back to the exact bytes
 * (the encoding loses nothing), and the same bytes as bus-sub has
 * always written, whatever the input.
 */
#include "unit.h"

#include <stdint.h>
#include <string.h>

#include "json.h"

/* Encode with json_str_put(), checking the bound and the result. */
static size_t
enc(char *out, size_t cap, const void *s, size_t n)
{
	size_t len;

	if (json_str_max(n) > cap) {
		fprintf(stderr, "test buffer too small\n");
		exit(2);
	}
	memset(out, 0x55, cap);
	len = json_str_put(out, s, n);
	CHECK(len <= json_str_max(n));
	/* Nothing written past what it returned. */
	if (len < cap)
		CHECK(out[len] == 0x55);
	return len;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A decoder written from json.h's description: a quoted string; \" \\
 * \/ \b \f \n \r \t; \u00XX is the byte XX; every other byte is itself.
 * Returns the decoded length, or -1 if js is not such a string or holds
 * a raw control byte (which RFC 8259 forbids).
 */
static ssize_t
dec(const char *js, size_t n, uint8_t *out)
{
	size_t i, o = 0;
	int a, b;

	if (n < 2 || js[0] != '"' || js[n - 1] != '"')
		return -1;
	for (i = 1; i < n - 1; i++) {
		uint8_t c = js[i];

		if (c == '"' || c < 0x20)
			return -1;
		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		if (++i >= n - 1)
			return -1;
		switch (js[i]) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (i + 4 >= n - 1 || js[i + 1] != '0' ||
			    js[i + 2] != '0' || (a = hexval(js[i + 3])) < 0 ||
			    (b = hexval(js[i + 4])) < 0)
				return -1;
			out[o++] = a << 4 | b;
			i += 4;
			break;
		default:
			return -1;
		}
	}
	return o;
}

/* Is s valid UTF-8?  Written independently of the library. */
static int
ref_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];

		if (c < 0x80)
			i++;
		else if (c >= 0xc2 && c <= 0xdf && i + 1 < n &&
		    (s[i + 1] & 0xc0) == 0x80)
			i += 2;
		else if (c >= 0xe0 && c <= 0xef && i + 2 < n &&
		    (s[i + 1] & 0xc0) == 0x80 && (s[i + 2] & 0xc0) == 0x80 &&
		    !(c == 0xe0 && s[i + 1] < 0xa0) &&
		    !(c == 0xed && s[i + 1] >= 0xa0))
			i += 3;
		else if (c >= 0xf0 && c <= 0xf4 && i + 3 < n &&
		    (s[i + 1] & 0xc0) == 0x80 && (s[i + 2] & 0xc0) == 0x80 &&
		    (s[i + 3] & 0xc0) == 0x80 &&
		    !(c == 0xf0 && s[i + 1] < 0x90) &&
		    !(c == 0xf4 && s[i + 1] >= 0x90))
			i += 4;
		else
			return 0;
	}
	return 1;
}

/* s encodes exactly as want, decodes back to s, and is valid UTF-8. */
static void
enc_is(const void *s, size_t n, const char *want, int line)
{
	char js[512];
	uint8_t back[512];
	size_t len = enc(js, sizeof(js), s, n);
	ssize_t bl;

	if (!unit_report(len == strlen(want) && memcmp(js, want, len) == 0,
	    __FILE__, line)) {
		unit_more("encoding differs\n");
		unit_hex("got", js, len);
		unit_hex("want", want, strlen(want));
	}
	bl = dec(js, len, back);
	if (!unit_report(bl == (ssize_t)n && memcmp(back, s, n) == 0,
	    __FILE__, line))
		unit_more("does not decode back to the input\n");
	if (!unit_report(ref_utf8((uint8_t *)js, len), __FILE__, line))
		unit_more("the output is not valid UTF-8\n");
}
#define ENC_IS(s, n, want) enc_is((s), (n), (want), __LINE__)

static void
test_ascii(void)
{
	ENC_IS("", 0, "\"\"");
	ENC_IS("GET / 200", 9, "\"GET / 200\"");
	/* Long enough for whole words, with a tail. */
	ENC_IS("abcdefghijklmnopqrstuvwxyz0123456789~", 37,
	    "\"abcdefghijklmnopqrstuvwxyz0123456789~\"");
	/* DEL is printable as far as JSON goes. */
	ENC_IS("a\x7f" "b", 3, "\"a\x7f" "b\"");
}

static void
test_quote_backslash(void)
{
	ENC_IS("\"", 1, "\"\\\"\"");
	ENC_IS("\\", 1, "\"\\\\\"");
	ENC_IS("say \"hi\" C:\\dir\\", 16, "\"say \\\"hi\\\" C:\\\\dir\\\\\"");
	/* In the middle of a word, at its end, at the start of the next. */
	ENC_IS("1234567\"89abcdef\\", 17, "\"1234567\\\"89abcdef\\\\\"");
}

static void
test_control(void)
{
	char in[32], want[32 * 6 + 3], *w;
	int c;

	ENC_IS("a\nb\tc\rd", 7, "\"a\\nb\\tc\\rd\"");
	ENC_IS("\x01\x1f", 2, "\"\\u0001\\u001f\"");
	ENC_IS("\0", 1, "\"\\u0000\"");
	ENC_IS("\b\f", 2, "\"\\u0008\\u000c\"");
	/* Every control byte. */
	w = want;
	*w++ = '"';
	for (c = 0; c < 32; c++) {
		in[c] = c;
		if (c == '\n')
			w += sprintf(w, "\\n");
		else if (c == '\t')
			w += sprintf(w, "\\t");
		else if (c == '\r')
			w += sprintf(w, "\\r");
		else
			w += sprintf(w, "\\u%04x", c);
	}
	*w++ = '"';
	*w = '\0';
	ENC_IS(in, 32, want);
}

static void
test_utf8_passes(void)
{
	/* 2, 3 and 4 bytes; the smallest and largest of each length. */
	ENC_IS("h\xc3\xa9llo \xe2\x82\xac", 10, "\"h\xc3\xa9llo \xe2\x82\xac\"");
	ENC_IS("\xc2\x80\xdf\xbf", 4, "\"\xc2\x80\xdf\xbf\"");
	ENC_IS("\xe0\xa0\x80\xef\xbf\xbf", 6, "\"\xe0\xa0\x80\xef\xbf\xbf\"");
	ENC_IS("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8,
	    "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
	/* Next to the surrogates: U+D7FF and U+E000 are characters. */
	ENC_IS("\xed\x9f\xbf\xee\x80\x80", 6, "\"\xed\x9f\xbf\xee\x80\x80\"");
	/* U+00FF is written as UTF-8, never as \u00ff. */
	ENC_IS("\xc3\xbf", 2, "\"\xc3\xbf\"");
	CHECK(json_utf8_valid("h\xc3\xa9llo \xe2\x82\xac", 10));
	CHECK(json_utf8_valid("", 0));
}

static void
test_utf8_invalid(void)
{
	/* A lone continuation byte; several. */
	ENC_IS("a\x80" "b", 3, "\"a\\u0080b\"");
	ENC_IS("\xbf\xbf", 2, "\"\\u00bf\\u00bf\"");
	/* Overlong forms of '/' and of U+07FF, and 0xC0 0x80. */
	ENC_IS("\xc0\xaf", 2, "\"\\u00c0\\u00af\"");
	ENC_IS("\xe0\x9f\xbf", 3, "\"\\u00e0\\u009f\\u00bf\"");
	ENC_IS("\xf0\x8f\xbf\xbf", 4, "\"\\u00f0\\u008f\\u00bf\\u00bf\"");
	ENC_IS("\xc0\x80", 2, "\"\\u00c0\\u0080\"");
	/* Surrogates, high and low. */
	ENC_IS("\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"");
	ENC_IS("\xed\xbf\xbf", 3, "\"\\u00ed\\u00bf\\u00bf\"");
	/* Above U+10FFFF. */
	ENC_IS("\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\"");
	/* Cut short at the end, and by a byte that does not continue it. */
	ENC_IS("ab\xe2\x82", 4, "\"ab\\u00e2\\u0082\"");
	ENC_IS("\xf0\x9f\x98", 3, "\"\\u00f0\\u009f\\u0098\"");
	ENC_IS("\xc3", 1, "\"\\u00c3\"");
	ENC_IS("\xe2\x82" "A", 3, "\"\\u00e2\\u0082A\"");
	/* Bytes that never appear in UTF-8. */
	ENC_IS("\xff", 1, "\"\\u00ff\"");
	ENC_IS("\xfe\xf8\xf5", 3, "\"\\u00fe\\u00f8\\u00f5\"");
	/* A valid character right after a bad byte is kept whole. */
	ENC_IS("\xff\xc3\xa9", 3, "\"\\u00ff\xc3\xa9\"");
	CHECK(!json_utf8_valid("\xff", 1));
	CHECK(!json_utf8_valid("abcdefgh\xed\xa0\x80", 11));
	CHECK(!json_utf8_valid("abc\xe2\x82", 5));
	CHECK(!json_utf8_valid("\xc0\xaf", 2));
}

/* Random input of mixed kinds: lossless, valid UTF-8 out. */
static void
test_random_lossless(void)
{
	static const uint8_t pick[] = { 'a', ' ', '"', '\\', '\n', 0, 0x1f,
	    0x7f, 0x80, 0xbf, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0xf0,
	    0x9f, 0x98, 0x80, 0xf4, 0x90, 0xff, 0xc0 };
	static uint8_t in[300], back[300];
	static char js[6 * 300 + 2];
	uint32_t seed = 12345;
	size_t n, len, i;
	int it, lossy = 0, utf = 0;
	ssize_t bl;

	for (it = 0; it < 20000; it++) {
		seed = seed * 1103515245 + 12345;
		n = (seed >> 8) % sizeof(in);
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			/* Mostly letters, as text is; sometimes anything. */
			if ((seed >> 24) < 160)
				in[i] = 'a' + (seed >> 16) % 26;
			else if ((seed >> 24) < 220)
				in[i] = pick[(seed >> 16) % sizeof(pick)];
			else
				in[i] = seed >> 16;
		}
		len = json_str_put(js, in, n);
		bl = dec(js, len, back);
		if (bl != (ssize_t)n || memcmp(back, in, n) != 0)
			lossy++;
		if (json_utf8_valid(in, n) != ref_utf8(in, n))
			utf++;
		if (!ref_utf8((uint8_t *)js, len))
			utf++;
	}
	CHECK_EQ_U64(lossy, 0);
	CHECK_EQ_U64(utf, 0);
}

/* Written in pieces cut by json_esc_cut(): the same as in one go. */
static void
test_pieces(void)
{
	static const uint8_t pick[] = { 'a', '"', 0x80, 0xbf, 0xc3, 0xa9,
	    0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0xff, '\n' };
	static uint8_t in[200];
	static char whole[6 * 200 + 2], parts[6 * 200 + 2];
	uint32_t seed = 777;
	size_t n, len, plen, i, k, max, off;
	int it, bad = 0, empty = 0, over = 0;

	for (it = 0; it < 20000; it++) {
		seed = seed * 1103515245 + 12345;
		n = (seed >> 8) % sizeof(in);
		max = 4 + (seed >> 20) % 13;
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			in[i] = pick[(seed >> 16) % sizeof(pick)];
		}
		len = json_str_put(whole, in, n);
		plen = 0;
		parts[plen++] = '"';
		for (off = 0; off < n; off += k) {
			k = json_esc_cut(in + off, n - off, max);
			if (k == 0) {
				empty++;
				break;
			}
			if (k > max)
				over++;
			plen += json_esc_put(parts + plen, in + off, k);
		}
		parts[plen++] = '"';
		if (plen != len || memcmp(parts, whole, len) != 0)
			bad++;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(empty, 0);
	CHECK_EQ_U64(over, 0);
	/* The cut itself: before a lead byte, or after 3 continuations. */
	CHECK_EQ_U64(json_esc_cut("abc\xe2\x82\xac", 6, 4), 3);
	CHECK_EQ_U64(json_esc_cut("a\xf0\x9f\x98\x80", 5, 4), 1);
	CHECK_EQ_U64(json_esc_cut("\x80\x80\x80\x80\x80\x80", 6, 4), 4);
	CHECK_EQ_U64(json_esc_cut("abcdef", 6, 4), 4);
	CHECK_EQ_U64(json_esc_cut("abc", 3, 4), 3);
}

/* The stream form writes what the buffer form writes, across pieces. */
static void
test_fputs(void)
{
	static uint8_t in[5000];
	static char js[6 * 5000 + 2];
	char *buf = NULL;
	size_t blen = 0, len, n, i;
	FILE *f;
	int off;

	/* A 4-byte character across every possible piece boundary. */
	for (off = 0; off < 8; off++) {
		n = 0;
		for (i = 0; i < 500 + (size_t)off; i++)
			in[n++] = 'x';
		for (i = 0; i < 40; i++) {
			memcpy(in + n, "\xf0\x9f\x98\x80", 4);
			n += 4;
		}
		in[n++] = 0xe2;		/* cut short by the next */
		in[n++] = 0x82;
		in[n++] = '"';
		for (i = 0; i < 1200; i++)
			in[n++] = 0x80 | (i & 0x3f);	/* continuations only */
		in[n++] = 0xff;
		len = json_str_put(js, in, n);
		if ((f = open_memstream(&buf, &blen)) == NULL) {
			perror("open_memstream");
			exit(2);
		}
		json_fputs(f, in, n);
		fclose(f);
		CHECK_MEM(buf, blen, js, len);
		free(buf);
		buf = NULL;
	}
	/* json_str: a C string. */
	if ((f = open_memstream(&buf, &blen)) == NULL) {
		perror("open_memstream");
		exit(2);
	}
	json_str(f, "/var/lib/\"bus\"\n");
	fclose(f);
	CHECK_MEM(buf, blen, "\"/var/lib/\\\"bus\\\"\\n\"", 20);
	free(buf);
}

int
main(void)
{
	RUN(test_ascii);
	RUN(test_quote_backslash);
	RUN(test_control);
	RUN(test_utf8_passes);
	RUN(test_utf8_invalid);
	RUN(test_random_lossless);
	RUN(test_pieces);
	RUN(test_fputs);
	return unit_done();
}

/*
 * bus-sub: the output buffer and the message formats.
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "json.h"
#include "msgfmt.h"
#include "bus/bus.h"
#include "sub.h"

static void	write_out(const void *, size_t);
static void	out_write(void);
static void	out_grow(size_t);
static void	out_slow(const void *, size_t);
static void	out_base64(const uint8_t *, size_t);
static void	out_tags(const struct bus_msg *, int);
static size_t	time_put(char *, int64_t, int);
static void	out_utc(int64_t);
static int	tags_utf8(const struct bus_msg *);
static void	emit_json(const struct bus_msg *);
static void	emit_text(const struct bus_msg *);
static void	emit_format(const struct bus_msg *);
static void	emit(const struct bus_msg *);

/* The last second formatted, in UTC or local time: most repeat it. */
struct tcache {
	int		 valid;
	time_t		 sec;
	char		 head[32];	/* YYYY-MM-DDTHH:MM:SS */
	size_t		 hlen;
	char		 zone[8];	/* Z or +HH:MM */
	size_t		 zlen;
};

/* A string literal. */
#define OUTL(s)		out((s), sizeof(s) - 1)

static struct out_conf oc;		/* as given to out_open() */
static struct tcache tc[2];		/* [0] UTC, [1] local */
static char	*obuf;			/* what is not written yet */
static size_t	 olen, ocap;		/* its length, its size */

/* Get the buffer ready. */
void
out_open(const struct out_conf *c)
{
	oc = *c;
	ocap = OUT_BUF;
	if ((obuf = malloc(ocap)) == NULL)
		err(EX_OSERR, NULL);
}

/*
 * r is to be printed or run by --exec.  Dealt with then: with --exec,
 * worth committing at once.
 */
void
out_deliver(const struct bus_msg *r)
{
	if (oc.exec)
		exec_deliver(r);
	else if (oc.mode == OUT_RAW) {
		out(r->payload, r->payload_len);
		out_c(oc.delim);
	} else
		emit(r);
	if (oc.exec) {
		/* Done once the command succeeded: commit-worthy now. */
		pos_written(1);
		pos_commit(0);
	}
}

/*
 * Write all of p to stdout.  When the reader left (EPIPE), or a signal
 * asks us to stop while the write is blocked, commit what was written
 * before and exit 0, quietly, as head(1) expects.
 */
static void
write_out(const void *p, size_t n)
{
	size_t done = 0;
	ssize_t w;
	int e;

	while (done < n) {
		w = write(STDOUT_FILENO, (const char *)p + done, n - done);
		if (w == -1) {
			if (errno == EINTR && !quitting())
				continue;
			if (errno == EINTR || errno == EPIPE)
				quit_now(0);
			e = errno;
			olen = 0;
			pos_commit(1);
			errno = e;
			err(EX_IOERR, "stdout");
		}
		done += w;
	}
}

/* Write the buffer out. */
static void
out_write(void)
{
	if (olen > 0 && !oc.exec)
		write_out(obuf, olen);
	olen = 0;
}

/*
 * Write the buffer, between messages: every message delivered so far is
 * then written, and may be committed.
 */
void
out_flush(void)
{
	out_write();
	pos_written(1);
	pos_commit(0);
}

/* Drop what is buffered. */
void
out_discard(void)
{
	olen = 0;
}

/*
 * --exec: the bytes the command reads for r: its payload (raw), or r
 * rendered (in the buffer, until out_discard()).
 */
const void *
out_render(const struct bus_msg *r, size_t *len)
{
	if (oc.mode == OUT_RAW) {
		*len = r->payload_len;
		return r->payload;
	}
	olen = 0;
	emit(r);
	*len = olen;
	return obuf;
}

/* --exec renders a whole message in memory: make room for need bytes. */
static void
out_grow(size_t need)
{
	size_t nc = ocap;
	char *nb;

	while (nc < need)
		nc *= 2;
	if ((nb = realloc(obuf, nc)) == NULL)
		err(EX_OSERR, NULL);
	obuf = nb;
	ocap = nc;
}

/*
 * The buffer is full, or p is large: write the buffer out, or grow it for
 * --exec.  We are in the middle of a message: the messages before it are
 * written.  Half a buffer or more (a run of a block batch) is written from
 * where it is, not copied into the buffer first.
 */
static void __attribute__((noinline))
out_slow(const void *p, size_t n)
{
	if (oc.exec) {
		if (n > ocap - olen)
			out_grow(olen + n);
	} else {
		out_write();
		pos_written(0);
		pos_commit(0);
		if (n >= ocap / 2) {
			write_out(p, n);
			return;
		}
	}
	memcpy(obuf + olen, p, n);
	olen += n;
}

inline void
out(const void *p, size_t n)
{
	if (n > ocap - olen || n >= ocap / 2) {
		out_slow(p, n);
		return;
	}
	if (n > 0)	/* p may be NULL then (a record without key) */
		memcpy(obuf + olen, p, n);
	olen += n;
}

inline void
out_c(char c)
{
	if (olen == ocap) {
		out_slow(&c, 1);
		return;
	}
	obuf[olen++] = c;
}

void
out_u64(uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);

	out(b, n);
}

void
out_i64(int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%lld", (long long)v);

	out(b, n);
}

/*
 * RFC 3339 with nanoseconds into b (at least 48 bytes), in UTC (Z) or
 * in local time (its offset); gmtime/localtime only when the second
 * changes.
 */
static size_t
time_put(char *b, int64_t ns, int local)
{
	struct tcache *c = &tc[local != 0];
	struct tm tm;
	time_t sec = ns / 1000000000;
	long frac = ns % 1000000000, off;
	size_t n;
	int i;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	if (!c->valid || c->sec != sec) {
		if ((local ? localtime_r(&sec, &tm) :
		    gmtime_r(&sec, &tm)) == NULL)
			memset(&tm, 0, sizeof(tm));
		c->hlen = strftime(c->head, sizeof(c->head),
		    "%Y-%m-%dT%H:%M:%S", &tm);
		off = local ? tm.tm_gmtoff : 0;
		if (off == 0 && !local)
			c->zlen = strlcpy(c->zone, "Z", sizeof(c->zone));
		else
			c->zlen = snprintf(c->zone, sizeof(c->zone),
			    "%c%02ld:%02ld", off < 0 ? '-' : '+',
			    labs(off) / 3600, labs(off) / 60 % 60);
		c->sec = sec;
		c->valid = 1;
	}
	memcpy(b, c->head, c->hlen);
	n = c->hlen;
	b[n++] = '.';
	for (i = 8; i >= 0; i--) {
		b[n + i] = '0' + frac % 10;
		frac /= 10;
	}
	n += 9;
	memcpy(b + n, c->zone, c->zlen);
	return n + c->zlen;
}

/* A time, in UTC or local time as --local says. */
void
out_time(int64_t ns)
{
	char b[48];

	out(b, time_put(b, ns, oc.local));
}

/* A time in UTC, whatever --local says. */
static void
out_utc(int64_t ns)
{
	char b[48];

	out(b, time_put(b, ns, 0));
}

/* A JSON string; bytes that are not UTF-8 become \u00XX. */
void
out_json_str(const void *v, size_t n)
{
	const char *p = v;
	size_t k;

	if (json_str_max(n) > ocap - olen && oc.exec)
		out_grow(olen + json_str_max(n));
	if (json_str_max(n) <= ocap - olen) {
		olen += json_str_put(obuf + olen, v, n);
		return;
	}
	/* Longer than the room left: in pieces, writing in between. */
	out_c('"');
	while (n > 0) {
		if ((ocap - olen) / 6 < 4) {
			out_write();
			pos_written(0);
			pos_commit(0);
		}
		k = json_esc_cut(p, n, (ocap - olen) / 6);
		olen += json_esc_put(obuf + olen, p, k);
		p += k;
		n -= k;
	}
	out_c('"');
}

static void
out_base64(const uint8_t *p, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	size_t i;
	uint32_t v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = b64[(v >> 6) & 63];
		q[3] = b64[v & 63];
		out(q, 4);
	}
	if (n - i == 1) {
		v = p[i] << 16;
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = q[3] = '=';
		out(q, 4);
	} else if (n - i == 2) {
		v = p[i] << 16 | p[i + 1] << 8;
		q[0] = b64[v >> 18];
		q[1] = b64[(v >> 12) & 63];
		q[2] = b64[(v >> 6) & 63];
		q[3] = '=';
		out(q, 4);
	}
}

/* Are every tag's name and value valid UTF-8? */
static int
tags_utf8(const struct bus_msg *r)
{
	struct bus_tag t;
	size_t pos = 0;

	while (tags_next(r->tags, r->tags_len, &pos, &t) == 1)
		if (!json_utf8_valid(t.name, t.name_len) ||
		    !json_utf8_valid(t.value, t.value_len))
			return 0;
	return 1;
}

/*
 * The tags of r: "name":"value",... as JSON (json 1), the same in base64
 * (json 2), else name=value,...
 */
static void
out_tags(const struct bus_msg *r, int json)
{
	struct bus_tag t;
	size_t pos = 0;
	int first = 1;

	while (tags_next(r->tags, r->tags_len, &pos, &t) == 1) {
		if (!first)
			out_c(',');
		first = 0;
		if (json == 2) {
			out_c('"');
			out_base64((const uint8_t *)t.name, t.name_len);
			OUTL("\":\"");
			out_base64((const uint8_t *)t.value, t.value_len);
			out_c('"');
		} else if (json) {
			out_json_str(t.name, t.name_len);
			out_c(':');
			out_json_str(t.value, t.value_len);
		} else {
			out(t.name, t.name_len);
			out_c('=');
			out(t.value, t.value_len);
		}
	}
}

static void
emit_json(const struct bus_msg *r)
{
	OUTL("{\"topic\":");
	out_json_str(r->topic, r->topic_len);
	OUTL(",\"partition\":");
	out_json_str(r->partition, strlen(r->partition));
	OUTL(",\"offset\":");
	out_u64(r->offset);
	OUTL(",\"key\":");
	if (r->key_len == 0)
		OUTL("null");
	else if (json_utf8_valid(r->key, r->key_len))
		out_json_str(r->key, r->key_len);
	else {
		out_c('"');
		out_base64((const uint8_t *)r->key, r->key_len);
		OUTL("\",\"key_encoding\":\"base64\"");
	}
	OUTL(",\"tags\":{");
	if (tags_utf8(r)) {
		out_tags(r, 1);
		out_c('}');
	} else {
		out_tags(r, 2);
		OUTL("},\"tags_encoding\":\"base64\"");
	}
	OUTL(",\"event_ns\":");
	out_i64(r->event_ns);
	OUTL(",\"event_time\":\"");
	out_utc(r->event_ns);
	OUTL("\",\"send_ns\":");
	out_i64(r->send_ns);
	OUTL(",\"send_time\":\"");
	out_utc(r->send_ns);
	OUTL("\",\"recv_ns\":");
	out_i64(r->recv_ns);
	OUTL(",\"recv_time\":\"");
	out_utc(r->recv_ns);
	out_c('"');
	if (r->flags & BUS_F_TOMBSTONE)
		OUTL(",\"tombstone\":true");
	if (json_utf8_valid(r->payload, r->payload_len)) {
		OUTL(",\"encoding\":\"utf-8\",\"payload\":");
		out_json_str(r->payload, r->payload_len);
	} else {
		OUTL(",\"encoding\":\"base64\",\"payload\":\"");
		out_base64(r->payload, r->payload_len);
		out_c('"');
	}
	OUTL("}\n");
}

/*
 * -o text, for people: receive time, topic, offset, key, payload; a
 * payload that is not UTF-8 as its size.
 */
static void
emit_text(const struct bus_msg *r)
{
	out_time(r->recv_ns);
	out_c(' ');
	out(r->topic, r->topic_len);
	out_c('[');
	out_u64(r->offset);
	out_c(']');
	if (r->key_len > 0) {
		OUTL(" key=");
		out(r->key, r->key_len);
	}
	if (r->flags & BUS_F_TOMBSTONE)
		OUTL(" (tombstone)");
	OUTL(": ");
	if (json_utf8_valid(r->payload, r->payload_len))
		out(r->payload, r->payload_len);
	else {
		OUTL("[");
		out_u64(r->payload_len);
		OUTL(" bytes, not UTF-8]");
	}
	out_c('\n');
}

/* -F: the compiled format's steps. */
static void
emit_format(const struct bus_msg *r)
{
	const struct msgfmt *f = oc.format;
	const struct msgfmt_op *op, *end = f->ops + f->nops;
	unsigned char be[4];

	for (op = f->ops; op < end; op++) {
		switch (op->tok) {
		case MSGFMT_LIT: out(f->lit + op->off, op->len); break;
		case 't': out(r->topic, r->topic_len); break;
		case 'p': out(r->partition, strlen(r->partition)); break;
		case 'o': out_u64(r->offset); break;
		case 'k': out(r->key, r->key_len); break;
		case 'K': out_u64(r->key_len); break;
		case 's': out(r->payload, r->payload_len); break;
		case 'S': out_u64(r->payload_len); break;
		case 'R':
			be[0] = r->payload_len >> 24;
			be[1] = r->payload_len >> 16;
			be[2] = r->payload_len >> 8;
			be[3] = r->payload_len;
			out(be, 4);
			break;
		case 'T': out_time(r->recv_ns); break;
		case 'e': out_time(r->event_ns); break;
		case 'u': out_time(r->send_ns); break;
		case 'h': out_tags(r, 0); break;
		}
	}
}

static void
emit(const struct bus_msg *r)
{
	switch (oc.mode) {
	case OUT_RAW:
		out(r->payload, r->payload_len);
		out_c(oc.delim);
		break;
	case OUT_JSON:
		emit_json(r);
		break;
	case OUT_TEXT:
		emit_text(r);
		break;
	case OUT_FORMAT:
		emit_format(r);
		break;
	}
}

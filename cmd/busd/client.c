/*
 * busd's clients: accept, read and parse frames, answer them, and send
 * what waits in each client's output buffer.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "json.h"
#include "log.h"
#include "proto.h"
#include "schedule.h"
#include "busd.h"

#define OUT_HIGH	(4 * 1024 * 1024) /* stop reading a client above */
#define RBUF_INIT	(256 * 1024)

static void	client_frames(struct client *);
static void	client_hello(struct client *, const uint8_t *, size_t);
static int	client_publish(struct client *, const uint8_t *, size_t);
static int	client_block(struct client *, const uint8_t *, size_t);
static int	client_block_store(struct client *, struct part *,
		    const struct proto_block *, int64_t);
static int	client_block_part(struct client *, struct part *,
		    const struct proto_block *, const uint8_t *, size_t,
		    uint32_t, uint64_t, int64_t);
static void	client_ack_finish(struct client *, size_t, uint64_t, uint32_t,
		    uint32_t);
static void	client_seal(struct client *, const uint8_t *, size_t);
static void	client_status(struct client *);
static uint8_t *client_reserve(struct client *, size_t);
static void	client_events(struct client *);

struct client_list clients = TAILQ_HEAD_INITIALIZER(clients);
struct client_list turn = TAILQ_HEAD_INITIALIZER(turn);
static int	 nclients;
static uint64_t	 stat_msgs, stat_bytes, stat_dups;

void
accept_clients(void)
{
	struct epoll_event ev;
	struct client *c;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->rbuf = malloc(RBUF_INIT)) == NULL) {
			log_warn("client");
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->rcap = RBUF_INIT;
		acl_accept(c);
		TAILQ_INSERT_TAIL(&clients, c, link);
		nclients++;
		if (nclients > max_clients) {
			client_error(c, 0, PE_BUSY, "too many clients");
			c->closing = 1;
			c->sendable = c->olen;
			client_send(c);
			if (c->fd == -1 || c->closing) {
				client_close(c);
				continue;
			}
		}
		ev.events = c->events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			log_warn("epoll_ctl");
			client_close(c);
		}
	}
}

void
client_read(struct client *c)
{
	ssize_t n;

	if (c->closing || c->fd == -1)
		return;
	if (c->rlen == c->rcap) {
		/* A frame bigger than the buffer (bounded by max_frame). */
		size_t need = proto_frame_size(c->rbuf);
		uint8_t *nb;

		if (need > max_frame || need <= c->rcap ||
		    (nb = realloc(c->rbuf, need)) == NULL) {
			client_error(c, 0, PE_PROTO, "frame too large");
			c->closing = 1;
			return;
		}
		c->rbuf = nb;
		c->rcap = need;
	}
	n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("client %d: read: %s", c->fd, strerror(errno));
		c->closing = 1;
		c->olen = c->ooff = c->pend = 0;
		return;
	}
	if (n == 0) {
		/* The client is done sending; acks still go out. */
		c->closing = 1;
		return;
	}
	c->rlen += n;
	client_frames(c);
}

static void
client_frames(struct client *c)
{
	const uint8_t *body;
	size_t blen, used = 0;
	ssize_t fl;
	uint8_t type;

	client_turn(c);
	while (!c->closing && (fl = proto_frame(c->rbuf + used,
	    c->rlen - used, max_frame, &type, &body, &blen)) != 0) {
		if (fl < 0) {
			client_error(c, 0, PE_PROTO, "malformed frame length");
			c->closing = 1;
			break;
		}
		if (!c->hello && type != PT_HELLO && type != PT_STATUS &&
		    type != PT_SEAL) {
			client_error(c, 0, PE_PROTO, "HELLO must come first");
			c->closing = 1;
			break;
		}
		switch (type) {
		case PT_HELLO:
			client_hello(c, body, blen);
			break;
		case PT_PUBLISH:
			if (client_publish(c, body, blen) == -1)
				c->closing = 1;
			break;
		case PT_PUBLISH_BLOCK:
			if (client_block(c, body, blen) == -1)
				c->closing = 1;
			break;
		case PT_SEAL:
			client_seal(c, body, blen);
			break;
		case PT_STATUS:
			if (proto_status_decode(body, blen) == -1) {
				client_error(c, 0, PE_PROTO, "malformed STATUS");
				c->closing = 1;
				break;
			}
			client_status(c);
			break;
		default:
			client_error(c, 0, PE_PROTO, "unknown frame type");
			c->closing = 1;
			break;
		}
		used += fl;
	}
	if (used > 0) {
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= used;
	}
}

static void
client_hello(struct client *c, const uint8_t *b, size_t len)
{
	struct proto_hello h;
	uint8_t *o;

	if (c->hello || proto_hello_decode(b, len, &h) == -1) {
		client_error(c, 0, PE_PROTO, "bad HELLO");
		c->closing = 1;
		return;
	}
	if (h.version != PROTO_VERSION) {
		char emsg[160];

		snprintf(emsg, sizeof(emsg), "protocol version %u is not "
		    "supported: this busd speaks version %d; use bus-pub and "
		    "libbus of the same release", h.version, PROTO_VERSION);
		client_error(c, 0, PE_VERSION, emsg);
		c->closing = 1;
		return;
	}
	c->hello = 1;
	c->ack = h.ack;
	c->prod = producer_get(h.producer, 1);
	c->prod->refs++;
	c->prod->last_use = now_ns();
	c->seq_mark = c->prod->last_seq;
	o = client_reserve(c, PROTO_HELLO_OK_SIZE);
	proto_hello_ok_encode(o, &(struct proto_hello_ok){ PROTO_VERSION,
	    max_message, max_frame, c->prod->id, c->prod->last_seq });
}

/*
 * Append every message of a PUBLISH frame.  The ACK is built in place as
 * we go; on a bad message the messages before it stay acked, an ERROR
 * names the bad one, and the connection closes (-1).
 */
static int
client_publish(struct client *c, const uint8_t *b, size_t len)
{
	struct bus_rec m;
	struct part *p;
	struct pprod *pp;
	const char *why;
	uint8_t *ack = NULL;
	size_t pos, ackoff = 0;
	uint64_t first_seq = 0;
	uint32_t count, i, code = 0, done = 0;
	int64_t now, due = 0;
	int later = 0;
	char emsg[768];

	if (proto_publish_decode(b, len, &count, &pos) == -1) {
		client_error(c, 0, PE_PROTO, "malformed PUBLISH");
		return -1;
	}
	if (c->ack != ACK_NONE && count > 0) {
		ack = client_reserve(c, proto_ack_size(count));
		ackoff = ack - c->obuf;
	}
	now = now_ns();
	c->prod->last_use = now;
	route_frame++;
	for (i = 0; i < count; i++) {
		if (proto_msg_decode(b, len, &pos, &m) == -1) {
			client_error(c, 0, PE_PROTO, "malformed message");
			code = PE_PROTO;
			break;
		}
		if (m.seq == 0) {
			client_error(c, 0, PE_PROTO, "sequence number 0");
			code = PE_PROTO;
			break;
		}
		if (i == 0)
			first_seq = m.seq;
		if (m.seq != first_seq + i) {
			client_error(c, m.seq, PE_PROTO,
			    "sequence numbers not consecutive");
			code = PE_PROTO;
			break;
		}
		if (m.topic_len + m.key_len + m.tags_len + m.payload_len >
		    max_message) {
			snprintf(emsg, sizeof(emsg), "message of %zu bytes "
			    "exceeds the limit of %zu bytes", m.topic_len +
			    m.key_len + m.tags_len + m.payload_len, max_message);
			client_error(c, m.seq, PE_TOOBIG, emsg);
			code = PE_TOOBIG;
			break;
		}
		if (topic_check(m.topic, m.topic_len, &why) == -1) {
			client_error(c, m.seq, PE_TOPIC, why);
			code = PE_TOPIC;
			break;
		}
		if (!acl_publish(c, m.topic, m.topic_len, emsg,
		    sizeof(emsg))) {
			client_error(c, m.seq, PE_DENIED, emsg);
			code = PE_DENIED;
			break;
		}
		if ((m.flags & ~BUS_F_MASK) || tags_check(m.tags, m.tags_len)) {
			client_error(c, m.seq, PE_PROTO, "bad flags or tags");
			code = PE_PROTO;
			break;
		}
		if ((m.flags & BUS_F_TOMBSTONE) && m.key_len == 0) {
			client_error(c, m.seq, PE_PROTO,
			    "tombstone without a key");
			code = PE_PROTO;
			break;
		}
		/* For later (its first tag is bus.at): into the schedule. */
		later = 0;
		if (m.tags_len > 0 && (later = sched_check(&m, &due, &code,
		    emsg, sizeof(emsg))) != 0) {
			if (later == -1) {
				client_error(c, m.seq, code, emsg);
				break;
			}
			if ((p = sched_part()) == NULL) {
				client_error(c, m.seq, PE_IO,
				    "cannot open the schedule");
				code = PE_IO;
				break;
			}
		} else if ((p = route(m.topic, m.topic_len, m.key, m.key_len,
		    &code, emsg, sizeof(emsg))) == NULL) {
			client_error(c, m.seq, code, emsg);
			break;
		}
		if (c->pp_part != p || c->pp_gen != pprod_gen) {
			c->pp = pprod_get(p, c->prod->id);
			c->pp_part = p;
			c->pp_gen = pprod_gen;
		}
		pp = c->pp;
		if (m.seq <= pp->last_seq) {
			/*
			 * Already stored: a resend after a reconnect.  What
			 * came before it in the resend is stored too.
			 */
			if (m.seq > c->prod->last_seq)
				c->prod->last_seq = m.seq;
			stat_dups++;
			if (ack)
				proto_ack_set(c->obuf + ackoff, i,
				    BUS_OFFSET_DUP);
			done++;
			continue;
		}
		if (app_pos(&p->app) + app_rec_bound(&m) > seg_size &&
		    p->nrecs > 0)
			part_seal(p, 0);
		if (p->app.failed) {
			client_error(c, m.seq, p->app.failed == ENOSPC ?
			    PE_NOSPC : PE_IO, strerror(p->app.failed));
			code = PE_IO;
			break;
		}
		if (!p->dirty) {
			/* First write of the turn: remember how to undo it. */
			part_turn_mark(p);
			p->dirty = 1;
			TAILQ_INSERT_TAIL(&dirty, p, dlink);
		}
		m.offset = p->next_off;
		m.recv_ns = now > clock_last ? now : clock_last + 1;
		m.producer = c->prod->id;
		if (app_add(&p->app, &m) == -1) {
			/* Its flush failed (or there is no memory). */
			if (!p->app.failed)
				fatal(EX_OSERR, NULL);
			part_flush_failed(p);
			client_error(c, m.seq, p->app.failed == ENOSPC ?
			    PE_NOSPC : PE_IO, strerror(p->app.failed));
			code = PE_IO;
			break;
		}
		p->next_off++;
		clock_last = m.recv_ns;
		p->last_recv = m.recv_ns;
		p->nrecs++;
		if (later)
			sched_add(&m, due);
		if (pp->turn != turn_no) {
			/* First record of the turn: how to undo it. */
			pp->turn = turn_no;
			pp->turn_seq = pp->last_seq;
			pp->tnext = p->touched;
			p->touched = pp;
		}
		pp->last_seq = m.seq;
		pp->last_use = now;
		c->prod->last_seq = m.seq;
		c->published = 1;
		stat_msgs++;
		stat_bytes += m.payload_len;
		if (ack)
			proto_ack_set(c->obuf + ackoff, i, m.offset);
		done++;
	}
	if (code == 0 && proto_publish_end(b, len, pos) == -1) {
		/* What came before is stored and acked; the rest is not. */
		client_error(c, 0, PE_PROTO, "bytes after the last message");
		code = PE_PROTO;
	}
	if (ack) {
		client_ack_finish(c, ackoff, first_seq, count, done);
		if (done > 0)
			c->published = 1;
	}
	return code ? -1 : 0;
}

/*
 * Store a PUBLISH_BLOCK as one block batch, acknowledged by one ACK_RUN.
 * A record over --max-message is refused with the block's records
 * before it stored, as a PUBLISH stores the messages before a bad one.
 */
static int
client_block(struct client *c, const uint8_t *b, size_t len)
{
	struct proto_block k;
	struct part *p;
	const uint8_t *s, *e, *end;
	const char *why;
	uint64_t bad_seq = 0;
	size_t room, rl = 0;
	uint32_t code = 0, i;
	int64_t due;
	char emsg[640], aclmsg[768];

	if (proto_block_decode(b, len, &k) == -1) {
		client_error(c, 0, PE_PROTO, "malformed PUBLISH_BLOCK");
		return -1;
	}
	if (k.first_seq == 0 || k.first_seq + (k.count - 1) < k.first_seq) {
		client_error(c, 0, PE_PROTO, k.first_seq == 0 ?
		    "sequence number 0" : "sequence numbers wrap around");
		return -1;
	}
	if (topic_check(k.topic, k.topic_len, &why) == -1) {
		client_error(c, k.first_seq, PE_TOPIC, why);
		return -1;
	}
	if (!acl_publish(c, k.topic, k.topic_len, aclmsg, sizeof(aclmsg))) {
		client_error(c, k.first_seq, PE_DENIED, aclmsg);
		return -1;
	}
	if (tags_check(k.tags, k.tags_len)) {
		client_error(c, k.first_seq, PE_PROTO, "bad tags");
		return -1;
	}
	if (batch_count_delim(k.block, k.len, k.delim) != k.count) {
		client_error(c, k.first_seq, PE_PROTO,
		    "block count does not match its delimiters");
		return -1;
	}
	/* A record can be too large only if the block is. */
	room = max_message > k.topic_len + k.tags_len ?
	    max_message - k.topic_len - k.tags_len : 0;
	if (k.len - 1 > room) {
		s = k.block;
		end = k.block + k.len;
		for (i = 0; i < k.count; i++, s = e + 1) {
			e = memchr(s, k.delim, end - s);
			if ((size_t)(e - s) > room) {
				bad_seq = k.first_seq + i;
				rl = e - s;
				k.len = s - k.block;
				k.count = i;
				break;
			}
		}
	}
	if (sched_due(k.tags, k.tags_len, &due) != 0) {
		client_error(c, k.first_seq, PE_PROTO, "messages for later "
		    "(tag bus.at) go in PUBLISH, not PUBLISH_BLOCK");
		return -1;
	}
	route_frame++;
	if ((p = route(k.topic, k.topic_len, NULL, 0, &code, emsg,
	    sizeof(emsg))) == NULL) {
		client_error(c, k.first_seq, code, emsg);
		return -1;
	}
	if (k.count > 0 && client_block_store(c, p, &k, now_ns()) == -1)
		return -1;
	if (bad_seq) {
		snprintf(emsg, sizeof(emsg), "message of %zu bytes exceeds the "
		    "limit of %zu bytes", k.topic_len + k.tags_len + rl,
		    max_message);
		client_error(c, bad_seq, PE_TOOBIG, emsg);
		return -1;
	}
	return 0;
}

/* The checked block k, for partition p, stored and acknowledged. */
static int
client_block_store(struct client *c, struct part *p,
    const struct proto_block *k, int64_t now)
{
	struct pprod *pp;
	const uint8_t *blk, *e;
	uint64_t last = k->first_seq + (k->count - 1), first_off, seq;
	size_t left, part, room, hdr;
	uint32_t n, skip;
	uint8_t *o;

	c->prod->last_use = now;
	if (c->pp_part != p || c->pp_gen != pprod_gen) {
		c->pp = pprod_get(p, c->prod->id);
		c->pp_part = p;
		c->pp_gen = pprod_gen;
	}
	pp = c->pp;
	if (last <= pp->last_seq) {
		/* Stored already: a resend after a reconnect. */
		if (last > c->prod->last_seq)
			c->prod->last_seq = last;
		stat_dups += k->count;
		if (c->ack != ACK_NONE) {
			o = client_reserve(c, PROTO_ACK_RUN_SIZE);
			proto_ack_run_encode(o, &(struct proto_ack_run){
			    k->first_seq, k->count, BUS_OFFSET_DUP });
		}
		return 0;
	}
	if (pp->turn != turn_no) {
		pp->turn = turn_no;
		pp->turn_seq = pp->last_seq;
		pp->tnext = p->touched;
		p->touched = pp;
	}
	first_off = p->next_off;
	blk = k->block;
	left = k->len;
	seq = k->first_seq;
	/*
	 * Its first records stored already (a resend of a block that was
	 * cut at a seal and then failed): on from the first that is not.
	 */
	for (; seq <= pp->last_seq; seq++) {
		e = memchr(blk, k->delim, left);
		left -= e + 1 - blk;
		blk = e + 1;
	}
	skip = seq - k->first_seq;
	stat_dups += skip;
	while (left > 0) {
		/*
		 * Into what is left of the active segment: a block larger
		 * than that is cut at a delimiter, the rest goes on in the
		 * next segment, so that --segment-size holds as for single
		 * messages.
		 */
		hdr = BUS_BATCH_HDR + k->topic_len + k->tags_len;
		part = left;
		room = app_pos(&p->app) + hdr < seg_size ?
		    seg_size - app_pos(&p->app) - hdr : 0;
		if (part > room) {
			if (room > 0 && (e = memrchr(blk, k->delim, room)) !=
			    NULL)
				part = e + 1 - blk;
			else if (p->nrecs > 0) {
				part_seal(p, 0);
				if (p->app.failed)
					break;
				continue;
			} else	/* a record larger than a segment: alone */
				part = (const uint8_t *)memchr(blk, k->delim,
				    left) + 1 - blk;
		}
		n = part == left ? k->count - (uint32_t)(seq - k->first_seq) :
		    (uint32_t)batch_count_delim(blk, part, k->delim);
		if (client_block_part(c, p, k, blk, part, n, seq, now) == -1)
			return -1;
		pp->last_seq = seq + (n - 1);
		blk += part;
		left -= part;
		seq += n;
	}
	if (p->app.failed) {
		client_error(c, seq, p->app.failed == ENOSPC ? PE_NOSPC : PE_IO,
		    strerror(p->app.failed));
		return -1;
	}
	pp->last_use = now;
	c->prod->last_seq = last;
	c->published = 1;
	stat_msgs += k->count - skip;
	stat_bytes += k->len - k->count;
	if (c->ack != ACK_NONE && skip == 0) {
		o = client_reserve(c, PROTO_ACK_RUN_SIZE);
		proto_ack_run_encode(o, &(struct proto_ack_run){ k->first_seq,
		    k->count, first_off });
	} else if (c->ack != ACK_NONE) {
		/* Some of it duplicates: an ACK that says which. */
		o = client_reserve(c, proto_ack_size(k->count));
		proto_ack_begin(o, k->first_seq, k->count);
		for (n = 0; n < k->count; n++)
			proto_ack_set(o, n, n < skip ? BUS_OFFSET_DUP :
			    first_off + (n - skip));
	}
	return 0;
}

/*
 * One block batch of n records, len bytes at blk, of block k, numbered
 * from seq, appended to p.
 */
static int
client_block_part(struct client *c, struct part *p,
    const struct proto_block *k, const uint8_t *blk, size_t len, uint32_t n,
    uint64_t seq, int64_t now)
{
	struct bus_batch bat;

	if (p->app.failed) {
		client_error(c, seq, p->app.failed == ENOSPC ? PE_NOSPC : PE_IO,
		    strerror(p->app.failed));
		return -1;
	}
	if (!p->dirty) {
		part_turn_mark(p);
		p->dirty = 1;
		TAILQ_INSERT_TAIL(&dirty, p, dlink);
	}
	memset(&bat, 0, sizeof(bat));
	bat.attrs = BUS_BA_BLOCK;
	bat.delim = k->delim;
	bat.topic = k->topic;
	bat.topic_len = k->topic_len;
	bat.tags = k->tags;
	bat.tags_len = k->tags_len;
	bat.base_off = p->next_off;
	bat.base_recv = now > clock_last ? now : clock_last + 1;
	bat.base_send = k->send_ns;
	bat.base_event = k->event_ns ? k->event_ns : k->send_ns;
	bat.producer = c->prod->id;
	bat.base_seq = seq;
	if (app_add_block(&p->app, &bat, blk, len, n) == -1) {
		if (!p->app.failed)
			fatal(EX_OSERR, NULL);
		part_flush_failed(p);
		client_error(c, seq, p->app.failed == ENOSPC ? PE_NOSPC : PE_IO,
		    strerror(p->app.failed));
		return -1;
	}
	p->next_off += n;
	clock_last = bat.last_recv;
	p->last_recv = bat.last_recv;
	p->nrecs += n;
	return 0;
}

/*
 * Fill in the header of the ACK reserved at obuf+ackoff for count
 * messages from first_seq, of which done were taken.  The error frame
 * may have moved obuf since: it is reached by offset.
 */
static void
client_ack_finish(struct client *c, size_t ackoff, uint64_t first_seq,
    uint32_t count, uint32_t done)
{
	uint8_t *ack = c->obuf + ackoff;
	size_t full, used;

	full = proto_ack_size(count);
	used = proto_ack_begin(ack, first_seq, done);
	if (done < count) {
		/* Shrink the ACK to what was done, keep what follows. */
		memmove(ack + used, ack + full, c->olen - (ackoff + full));
		c->olen -= full - used;
		if (done == 0) {
			memmove(ack, ack + used, c->olen - (ackoff + used));
			c->olen -= used;
		}
	}
}

static void
client_seal(struct client *c, const uint8_t *b, size_t len)
{
	struct proto_seal s;
	struct patset *ps = NULL;
	struct part *p;
	char *pat, err[768];
	uint32_t sealed = 0;
	uint8_t *o;

	if (proto_seal_decode(b, len, &s) == -1) {
		client_error(c, 0, PE_PROTO, "malformed SEAL");
		c->closing = 1;
		return;
	}
	if (!acl_allows(c, ACL_SEAL, err, sizeof(err))) {
		client_error(c, 0, PE_DENIED, err);
		return;
	}
	if (s.len > 0) {
		if (memchr(s.pattern, '\0', s.len) != NULL) {
			client_error(c, 0, PE_PATTERN,
			    "pattern contains a NUL byte");
			return;
		}
		if ((pat = strndup(s.pattern, s.len)) == NULL)
			fatal(EX_OSERR, NULL);
		ps = patset_new(&pat, 1, err, sizeof(err));
		free(pat);
		if (ps == NULL) {
			client_error(c, 0, PE_PATTERN, err);
			return;
		}
	}
	RB_FOREACH(p, part_tree, &parts) {
		if (ps != NULL && !patset_match(ps, p->name, strlen(p->name)))
			continue;
		if (p->nrecs == 0 && p->app.wlen == 0)
			continue;
		part_seal(p, 1);
		sealed++;
	}
	patset_free(ps);
	o = client_reserve(c, PROTO_SEAL_OK_SIZE);
	proto_seal_ok_encode(o, &(struct proto_seal_ok){ sealed });
}

static void
client_status(struct client *c)
{
	struct part *p;
	char *js = NULL, t[40], err[768];
	size_t jl = 0;
	FILE *f;
	uint8_t *o;
	int first = 1;

	if (!acl_allows(c, ACL_STATUS, err, sizeof(err))) {
		client_error(c, 0, PE_DENIED, err);
		return;
	}
	if ((f = open_memstream(&js, &jl)) == NULL)
		fatal(EX_OSERR, NULL);
	format_time(t, sizeof(t), clock_last);
	fprintf(f, "{\"pid\":%ld,\"store\":", (long)getpid());
	json_str(f, dir);
	fprintf(f, ",\"uptime_s\":%lld,"
	    "\"clients\":%d,\"messages\":%llu,\"bytes\":%llu,"
	    "\"duplicates\":%llu,\"last_receive\":\"%s\","
	    "\"partition_count\":%d,\"max_partitions\":%d,"
	    "\"partitions_open\":%d,\"max_partitions_open\":%d,"
	    "\"open_files_max\":%ld,\"partitions\":[",
	    (long long)((now_ns() - started) / 1000000000),
	    nclients - 1, (unsigned long long)stat_msgs,
	    (unsigned long long)stat_bytes, (unsigned long long)stat_dups, t,
	    nparts, max_partitions, nparts_open, max_open_parts, nofile_limit);
	RB_FOREACH(p, part_tree, &parts) {
		fprintf(f, "%s{\"name\":", first ? "" : ",");
		json_str(f, p->name);
		fprintf(f, ",\"next_offset\":%llu,"
		    "\"active_base\":%llu,\"active_bytes\":%llu}",
		    (unsigned long long)p->next_off,
		    (unsigned long long)p->base,
		    (unsigned long long)app_pos(&p->app));
		first = 0;
	}
	fprintf(f, "]}");
	fclose(f);
	o = client_reserve(c, proto_status_ok_size(jl));
	proto_status_ok_encode(o, &(struct proto_status_ok){ js, jl });
	free(js);
}

void
client_error(struct client *c, uint64_t seq, uint32_t code, const char *text)
{
	size_t tl = strlen(text);
	uint8_t *o;

	log_debug("client %d: %s: %s", c->fd, proto_err_name(code), text);
	o = client_reserve(c, proto_error_size(tl));
	proto_error_encode(o, &(struct proto_error){ seq, code, text, tl });
}

static uint8_t *
client_reserve(struct client *c, size_t n)
{
	uint8_t *nb;
	size_t nc;

	/* Never moves data within obuf: callers hold offsets into it. */
	if (c->olen + n > c->ocap) {
		nc = c->ocap ? c->ocap : 4096;
		while (c->olen + n > nc)
			nc *= 2;
		if (nc != c->ocap) {
			if ((nb = realloc(c->obuf, nc)) == NULL)
				fatal(EX_OSERR, NULL);
			c->obuf = nb;
			c->ocap = nc;
		}
	}
	c->olen += n;
	return c->obuf + c->olen - n;
}

void
client_send(struct client *c)
{
	ssize_t n;
	size_t i, d;

	while (c->fd != -1 && c->ooff < c->sendable) {
		n = send(c->fd, c->obuf + c->ooff, c->sendable - c->ooff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			c->closing = 1;
			c->ooff = c->olen = c->sendable = c->nmarks = 0;
			break;
		}
		c->ooff += n;
	}
	if (c->ooff == c->olen) {
		c->ooff = c->olen = c->sendable = 0;
		c->pend = 0;
	} else if (c->ooff > 1024 * 1024 && c->ooff > c->olen / 2) {
		/* Held acks keep it from draining: move it down now and then. */
		d = c->ooff;
		memmove(c->obuf, c->obuf + d, c->olen - d);
		c->olen -= d;
		c->ooff = 0;
		c->sendable -= d;
		c->pend = c->pend > d ? c->pend - d : 0;
		for (i = 0; i < c->nmarks; i++)
			c->marks[i].end -= d;
	}
	client_events(c);
}

/* Watch for input unless closing or backlogged; for output if pending. */
static void
client_events(struct client *c)
{
	struct epoll_event ev;

	c->paused = c->olen - c->ooff > OUT_HIGH;
	ev.events = (c->paused || c->closing ? 0 : EPOLLIN) |
	    (c->ooff < c->sendable ? EPOLLOUT : 0);
	if (c->fd == -1 || ev.events == c->events)
		return;
	c->events = ev.events;
	ev.data.ptr = c;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Put c on this turn's list: its acks go out at the end of the turn. */
void
client_turn(struct client *c)
{
	if (c->in_turn)
		return;
	c->in_turn = 1;
	c->pend = c->olen;
	c->published = 0;
	c->seq_mark = c->prod ? c->prod->last_seq : 0;
	TAILQ_INSERT_TAIL(&turn, c, tlink);
}

void
client_close(struct client *c)
{
	if (c->fd != -1) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	if (c->prod)
		c->prod->refs--;
	if (c->in_turn)
		TAILQ_REMOVE(&turn, c, tlink);
	TAILQ_REMOVE(&clients, c, link);
	nclients--;
	free(c->rbuf);
	free(c->obuf);
	free(c->marks);
	acl_client_free(c);
	free(c);
}

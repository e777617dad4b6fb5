/*
 * bus-nats import: a source's messages into the store, exactly once.
 *
 * The publisher to busd has a producer id of its own, derived from the
 * stream and the consumer (the same after every restart), and numbers
 * each message by its sequence number in the stream.  A batch is
 * acknowledged to the source only once busd acknowledged all of it; a
 * message that comes again (a redelivery after a crash of either side)
 * either is still in the publisher's window, and is skipped, or reaches
 * busd under a number it already stored, and busd drops it.
 *
 * The source must deliver what it did not see acknowledged before
 * anything newer: after a failure, the JetStream consumer starts again
 * from its first unacknowledged message (jetstream.c).
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bridge.h"

#define IMPORT_WAIT_MS	250		/* wait for busd in slices of */
#define IMPORT_IDLE_MS	1000		/* wait for messages at most */
#define IMPORT_HELD_MS	0		/* with a batch to acknowledge: no wait */

enum { F_SUBJECT, F_TOPIC, F_STREAM };
static const char *const fields[] = { "subject", "topic", "stream", NULL };

struct import {
	const struct bridge_opts *o;
	const struct source_ops *ops;
	struct tmpl	*topic;		/* --topic */
	uint64_t	 producer;	/* from stream and consumer */
	struct bus_pub	*pub;		/* to busd, or NULL */
	struct bridge_stats st;
};

static uint64_t	producer_id(const char *, const char *);
static int	import_pub(struct import *, struct bridge_err *);
static int	import_pump(struct import *, struct source *,
		    struct bridge_err *);
static int	pub_err(struct import *, struct bridge_err *);

int
import_run(const struct bridge_opts *o, const struct source_ops *ops)
{
	struct import x;
	struct bridge_err e;
	struct source *src;
	char emsg[400], t[BUS_TOPIC_MAX + 1];
	const char *vals[3] = { "a", "a", "a" }, *why;
	size_t lens[3] = { 1, 1, 1 };
	unsigned tries = 0;
	int first = 1, rc;
	ssize_t tl;

	memset(&x, 0, sizeof(x));
	x.o = o;
	x.ops = ops;
	if ((x.topic = tmpl_parse(o->topic, fields, emsg,
	    sizeof(emsg))) == NULL)
		errx(EX_USAGE, "--topic '%s': %s", o->topic, emsg);
	/* What the template adds must itself be valid in a topic. */
	if ((tl = tmpl_expand(x.topic, vals, lens, t, sizeof(t))) == -1 ||
	    bus_topic_check(t, tl, &why) == -1)
		errx(EX_USAGE, "--topic '%s' cannot make a valid topic: %s",
		    o->topic, tl == -1 ? "too long" : why);
	x.producer = producer_id(o->stream, o->durable);
	for (;;) {
		memset(&e, 0, sizeof(e));
		rc = -1;
		if ((src = ops->open(o, &e)) != NULL) {
			if (x.pub != NULL || import_pub(&x, &e) == 0) {
				if (!first)
					bridge_say(NULL, "connected again");
				first = 0;
				tries = 0;
				rc = import_pump(&x, src, &e);
			}
			ops->close(src);
		}
		if (rc == 0 || bridge_quit)
			break;
		if (first || !e.transient)
			errx(e.status, "%s", e.text);
		x.st.reconnects++;
		if (bridge_backoff(&tries, &e) == -1)
			break;
	}
	/* Whatever busd did not acknowledge comes again from the source. */
	bus_pub_free(x.pub);
	tmpl_free(x.topic);
	return 0;
}

/* FNV-1a of "stream\0durable": the same producer after every restart. */
static uint64_t
producer_id(const char *stream, const char *durable)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *s;

	for (s = stream; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	h *= 0x100000001b3ULL;
	for (s = durable; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h != 0 ? h : 1;
}

static int
import_pub(struct import *x, struct bridge_err *e)
{
	if ((x->pub = bus_pub_new(x->o->dir)) == NULL) {
		e->status = EX_OSERR;
		e->transient = 0;
		snprintf(e->text, sizeof(e->text), "%s", strerror(errno));
		return -1;
	}
	bus_pub_set_log(x->pub, bridge_say, NULL);
	if (bus_pub_set_producer(x->pub, x->producer) == -1 ||
	    bus_pub_set_ack(x->pub, x->o->synced ? BUS_ACK_SYNCED :
	    BUS_ACK_WRITTEN) == -1 || bus_pub_connect(x->pub) == -1)
		return pub_err(x, e);
	return 0;
}

/* The publisher's error into *e; the publisher is gone. */
static int
pub_err(struct import *x, struct bridge_err *e)
{
	const struct bus_error *be = bus_pub_error(x->pub);

	e->status = be->status ? be->status : EX_SOFTWARE;
	e->transient = be->kind == BUS_E_UNAVAILABLE ||
	    be->kind == BUS_E_SYSTEM || be->kind == BUS_E_BUSY;
	snprintf(e->text, sizeof(e->text), "busd: %s", be->text);
	bus_pub_free(x->pub);
	x->pub = NULL;
	return -1;
}

/*
 * Batch k+1 is fetched while busd writes batch k; then batch k, all
 * acknowledged by busd, is acknowledged to the source, and batch k+1 is
 * queued.
 */
static int
import_pump(struct import *x, struct source *src, struct bridge_err *e)
{
	const struct bridge_opts *o = x->o;
	char topic[BUS_TOPIC_MAX + 1];
	const char *vals[3], *why;
	size_t lens[3];
	struct ext_msg m;
	ssize_t tl;
	int n, i, w, held = 0;

	vals[F_STREAM] = o->stream;
	lens[F_STREAM] = strlen(o->stream);
	for (;;) {
		if (bridge_quit)
			return 0;
		x->ops->stats(src, &x->st);
		bridge_status("import", &x->st, 0);
		if ((n = x->ops->fetch(src, o->batch, held ? IMPORT_HELD_MS :
		    IMPORT_IDLE_MS, e)) == -1)
			return -1;
		if (held > 0) {
			while ((w = bus_pub_wait(x->pub, IMPORT_WAIT_MS)) == 0) {
				x->ops->stats(src, &x->st);
				bridge_status("import", &x->st, 0);
			}
			if (w == -1)
				return pub_err(x, e);
			if (x->ops->ack(src, e) == -1)
				return -1;
			x->st.acked += held;
			x->st.last_ns = bus_now_ns();
		}
		held = n;
		for (i = 0; i < n; i++) {
			if (x->ops->get(src, i, &m, e) == -1)
				return -1;
			/* Still in the window: busd will have it. */
			if (m.seq < bus_pub_next_seq(x->pub))
				continue;
			vals[F_SUBJECT] = m.subject;
			lens[F_SUBJECT] = strlen(m.subject);
			vals[F_TOPIC] = m.topic ? m.topic : "";
			lens[F_TOPIC] = m.topic ? strlen(m.topic) : 0;
			if (m.topic == NULL && tmpl_uses(x->topic, F_TOPIC)) {
				snprintf(e->text, sizeof(e->text), "stream "
				    "sequence %llu (subject %s) has no Bus-Topic "
				    "header for {topic}",
				    (unsigned long long)m.seq, m.subject);
				e->status = EX_DATAERR;
				e->transient = 0;
				return -1;
			}
			if ((tl = tmpl_expand(x->topic, vals, lens, topic,
			    sizeof(topic))) == -1 ||
			    bus_topic_check(topic, tl, &why) == -1) {
				snprintf(e->text, sizeof(e->text), "--topic '%s' "
				    "makes an invalid topic of subject %s: %s",
				    o->topic, m.subject, tl == -1 ?
				    "longer than 255 bytes" : why);
				e->status = EX_DATAERR;
				e->transient = 0;
				return -1;
			}
			m.m.topic = topic;
			m.m.topic_len = tl;
			if (bus_pub_add_seq(x->pub, &m.m, m.send_ns, m.seq) == -1)
				return pub_err(x, e);
			x->st.sent++;
		}
		if (n > 0 && bus_pub_flush(x->pub) == -1)
			return pub_err(x, e);
	}
}

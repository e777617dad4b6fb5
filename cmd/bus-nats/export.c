/*
 * bus-nats export: follow topic patterns with a durable cursor and hand
 * every message to a sink, exactly once.
 *
 * Messages go out in rounds of up to EXPORT_ROUND times --inflight,
 * sent without waiting (the sink publishes asynchronously, with at most
 * --inflight unacknowledged: the pipe stays full); once the sink says
 * every message of the round is stored, the round is done and the
 * cursor may be committed.  A round ends early when the store has
 * nothing more for now.  So the cursor never passes a message the other
 * side has not acknowledged.  When anything goes wrong on the way, the
 * subscription is closed (committing only what was acknowledged), the
 * sink too, and both start again from the cursor: what was sent and not
 * acknowledged goes again under the same id (store id, partition,
 * offset), and the other side drops the copies it already has.
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bridge.h"

#define EXPORT_WAIT_MS	250		/* wait for acks in slices of */
#define EXPORT_IDLE_MS	1000		/* wait for messages at most */
#define EXPORT_ROUND	16		/* commit every so many --inflight */

enum { F_TOPIC, F_PARTITION };
static const char *const fields[] = { "topic", "partition", NULL };

/* What one run of export needs. */
struct export {
	const struct bridge_opts *o;
	const struct sink_ops *ops;
	struct tmpl	*subject;	/* --subject */
	char		 filter[512];	/* the subjects it makes, or "" */
	char		 id[64];	/* the store's id */
	struct bridge_stats st;
};

static struct bus_sub *export_sub(struct export *, struct bridge_err *);
static int	export_pump(struct export *, struct bus_sub *, struct sink *,
		    struct bridge_err *);
static int	subject_ok(const char *, size_t);
static void	id_put(char *, const char *, size_t, uint64_t);
static void	sub_err(struct bus_sub *, struct bridge_err *);

int
export_run(const struct bridge_opts *o, const struct sink_ops *ops)
{
	struct export x;
	struct bridge_err e;
	struct bus_error be;
	struct bus_sub *sub;
	struct sink *sink;
	char emsg[400];
	unsigned tries = 0;
	int first = 1, rc;

	memset(&x, 0, sizeof(x));
	x.o = o;
	x.ops = ops;
	if ((x.subject = tmpl_parse(o->subject, fields, emsg,
	    sizeof(emsg))) == NULL)
		errx(EX_USAGE, "--subject '%s': %s", o->subject, emsg);
	if (tmpl_filter(x.subject, x.filter, sizeof(x.filter)) == -1) {
		if (o->create_stream)
			errx(EX_USAGE, "--subject '%s': --create-stream needs "
			    "a template that starts with a literal token, "
			    "such as 'bus.'", o->subject);
		x.filter[0] = '\0';
	}
	for (;;) {
		memset(&e, 0, sizeof(e));
		if ((sub = export_sub(&x, &e)) == NULL)
			errx(e.status, "%s", e.text);
		if (x.id[0] == '\0' &&
		    bus_store_id(o->dir, x.id, sizeof(x.id), &be) == -1)
			errx(be.status, "store id: %s", be.text);
		sink = ops->open(o, x.filter[0] ? x.filter : NULL, &e);
		if (sink != NULL) {
			if (!first)
				bridge_say(NULL, "connected again");
			first = 0;
			tries = 0;
			rc = export_pump(&x, sub, sink, &e);
			ops->close(sink);
		} else
			rc = -1;
		/* Commits what was acknowledged, nothing more. */
		if (bus_sub_free(sub) == -1)
			bridge_say(NULL, "the cursor could not be saved at "
			    "exit: what it missed goes out again, once");
		if (rc == 0)
			return 0;
		if (first || !e.transient)
			errx(e.status, "%s", e.text);
		x.st.reconnects++;
		if (bridge_backoff(&tries, &e) == -1)
			return 0;
	}
}

/* The subscription, from the cursor. */
static struct bus_sub *
export_sub(struct export *x, struct bridge_err *e)
{
	const struct bridge_opts *o = x->o;
	struct bus_sub *sub;
	int k;

	if ((sub = bus_sub_new(o->dir)) == NULL) {
		snprintf(e->text, sizeof(e->text), "%s", strerror(errno));
		e->status = EX_OSERR;
		return NULL;
	}
	bus_sub_set_log(sub, bridge_say, NULL);
	for (k = 0; k < o->npatterns; k++)
		if (bus_sub_add_pattern(sub, o->patterns[k]) == -1)
			goto bad;
	if ((o->from != NULL && bus_sub_set_from(sub, o->from) == -1) ||
	    bus_sub_set_cursor(sub, o->name) == -1 || bus_sub_open(sub) == -1)
		goto bad;
	return sub;
bad:
	sub_err(sub, e);
	bus_sub_free(sub);
	return NULL;
}

static void
sub_err(struct bus_sub *sub, struct bridge_err *e)
{
	const struct bus_error *be = bus_sub_error(sub);

	e->status = be->status ? be->status : EX_SOFTWARE;
	e->transient = 0;
	snprintf(e->text, sizeof(e->text), "%s", be->text);
}

/* Until told to stop (0) or something fails (-1 with *e). */
static int
export_pump(struct export *x, struct bus_sub *sub, struct sink *sink,
    struct bridge_err *e)
{
	const struct bridge_opts *o = x->o;
	char subject[1024], id[64 + BUS_TOPIC_MAX + 32];
	const char *vals[2];
	size_t lens[2], idlen;
	enum bus_sub_result r = BUS_SUB_NONE;
	struct bus_msg m;
	int64_t last_recv = 0;
	ssize_t sl;
	int n, w;

	idlen = strlen(x->id);
	memcpy(id, x->id, idlen);
	id[idlen++] = ':';
	for (;;) {
		if (bridge_quit)
			return 0;
		for (n = 0; n < EXPORT_ROUND * o->inflight; n++) {
			if (n % o->inflight == o->inflight - 1) {
				if (bridge_quit)
					break;
				x->ops->stats(sink, &x->st);
				bridge_status("export", &x->st, 0);
			}
			r = bus_sub_next(sub, &m, n == 0 ? EXPORT_IDLE_MS : 0);
			if (r != BUS_SUB_MSG)
				break;
			vals[F_TOPIC] = m.topic;
			lens[F_TOPIC] = m.topic_len;
			vals[F_PARTITION] = m.partition;
			lens[F_PARTITION] = strlen(m.partition);
			if ((sl = tmpl_expand(x->subject, vals, lens, subject,
			    sizeof(subject))) == -1 || !subject_ok(subject, sl)) {
				snprintf(e->text, sizeof(e->text), "topic '%.*s' "
				    "makes '%.300s', not a subject (--subject "
				    "'%.200s')",
				    (int)m.topic_len, m.topic, sl == -1 ?
				    "a subject too long" : subject, o->subject);
				e->status = EX_DATAERR;
				e->transient = 0;
				return -1;
			}
			id_put(id + idlen, m.partition, lens[F_PARTITION],
			    m.offset);
			if (x->ops->send(sink, &m, subject, id, e) == -1)
				return -1;
			last_recv = m.recv_ns;
			x->st.sent++;
		}
		if (r == BUS_SUB_ERROR) {
			sub_err(sub, e);
			return -1;
		}
		if (n > 0) {
			while ((w = x->ops->wait(sink, EXPORT_WAIT_MS, e)) == 0) {
				x->ops->stats(sink, &x->st);
				bridge_status("export", &x->st, 0);
			}
			if (w == -1)
				return -1;
			bus_sub_done(sub, 1);
			bus_sub_commit(sub, 0);
			x->st.acked += n;
		}
		/* Lag: how old the last message out is, 0 when caught up. */
		x->st.last_ns = r == BUS_SUB_MSG ? last_recv : 0;
		x->ops->stats(sink, &x->st);
		bridge_status("export", &x->st, 0);
	}
}

/* A NATS subject: tokens of 1 byte at least, no space, no wildcard. */
static int
subject_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if ((s[i] == '.' && s[i + 1] == '.') || s[i] == '*' ||
		    s[i] == '>' || s[i] == ' ')
			return 0;
	return 1;
}

/* "partition:offset" at p, NUL-terminated (without printf: per message). */
static void
id_put(char *p, const char *part, size_t plen, uint64_t off)
{
	char tmp[24];
	size_t k = 0;

	memcpy(p, part, plen);
	p += plen;
	*p++ = ':';
	do
		tmp[k++] = '0' + off % 10;
	while ((off /= 10) != 0);
	while (k > 0)
		*p++ = tmp[--k];
	*p = '\0';
}

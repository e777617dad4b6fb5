/*
 * The NATS JetStream backend (libnats): a sink that publishes
 * asynchronously and counts PubAcks, and a source that is a durable pull
 * consumer acknowledged a batch at a time (AckAll).
 *
 * A message's bus fields travel as headers (bus-nats(1)): Nats-Msg-Id,
 * "store id:partition:offset" (JetStream drops a second message with the
 * same id within the stream's duplicate window), Bus-Topic, Bus-Time
 * ("event send receive"), and when present Bus-Key, Bus-Tags
 * ("name=value&..."), Bus-Tombstone.  Key and tags are
 * bytes: every byte outside '!'..'~', and '%', '=', '&', is written %XX.
 *
 * libnats reconnects by itself, but resends on its own terms; we turn
 * that off and let export.c and import.c start again from what the store
 * and the consumer say is done, so a lost connection can neither reorder
 * nor lose anything.
 */
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <nats/nats.h>

#include "bridge.h"
#include "hex.h"

#define JS_CONNECT_MS	2000		/* to reach the server */
#define JS_API_MS	5000		/* JetStream API requests */
#define JS_IOBUF	(256 * 1024)	/* socket buffer: fewer syscalls */
#define JS_STALL_MS	250		/* a full window checks acks after */
#define HDR_NUM		24		/* room for a decimal uint64 */

struct sink {
	natsConnection	*nc;
	jsCtx		*js;
	char		*scratch;	/* encoded key and tags */
	size_t		 scap;
	uint64_t	 sent;
	atomic_uint_fast64_t acked;	/* PubAcks, ok or duplicate */
	atomic_uint_fast64_t dups;
	atomic_uint_fast64_t failed;	/* errors, timeouts */
	char		 why[256];	/* the first error, for the report */
	atomic_int	 why_set;
	int64_t		 ack_wait;	/* ms */
	int64_t		 waiting_since;	/* ns, when a wait began; 0 none */
	uint64_t	 inflight;	/* --inflight */
	pthread_mutex_t	 mu;		/* for cv */
	pthread_cond_t	 cv;		/* acks reached wake_at */
	atomic_uint_fast64_t wake_at;	/* acks a sender waits for; 0 none */
	uint64_t	 wait_acked;	/* acked then */
};

struct source {
	natsConnection	*nc;
	jsCtx		*js;
	natsSubscription *sub;
	natsMsgList	 list;		/* the batch fetched last */
	natsMsgList	 prev;		/* the one before, until acknowledged */
	char		*scratch;	/* decoded key and tags */
	size_t		 scap;
	uint64_t	 fetched, acked, pending;
};

static int	js_fail(struct bridge_err *, int, int, const char *, ...)
		    __attribute__((format(printf, 4, 5)));
static int	js_connect(const struct bridge_opts *, natsConnection **,
		    jsCtx **, jsOptions *, struct bridge_err *);
static jsStreamInfo *js_stream(jsCtx *, const struct bridge_opts *,
		    const char *, struct bridge_err *);
static int	subject_covers(const char *, const char *);
static int	scratch(char **, size_t *, size_t);
static int	time_header(natsMsg *, int64_t *, int64_t *);
static int	ack_meta(const char *, uint64_t *, uint64_t *);
static size_t	pct_encode(const void *, size_t, char *);
static char	*put_num(char *, int64_t);
static ssize_t	pct_decode(const char *, size_t, char *);
static void	sink_ack(jsCtx *, natsMsg *, jsPubAck *, jsPubAckErr *,
		    void *);
static struct sink *sink_open(const struct bridge_opts *, const char *,
		    struct bridge_err *);
static int	sink_send(struct sink *, const struct bus_msg *, const char *,
		    const char *, struct bridge_err *);
static int	sink_wait(struct sink *, int, struct bridge_err *);
static int	sink_check(struct sink *, struct bridge_err *);
static int	sink_room(struct sink *, struct bridge_err *);
static void	sink_stats(struct sink *, struct bridge_stats *);
static void	sink_close(struct sink *);
static struct source *source_open(const struct bridge_opts *,
		    struct bridge_err *);
static int	source_fetch(struct source *, int, int, struct bridge_err *);
static int	source_get(struct source *, int, struct ext_msg *,
		    struct bridge_err *);
static int	source_ack(struct source *, struct bridge_err *);
static void	source_stats(struct source *, struct bridge_stats *);
static void	source_close(struct source *);
static int	source_consumer(struct source *, const struct bridge_opts *,
		    const char *, jsSubOptions *, struct bridge_err *);

const struct sink_ops js_sink = {
	"JetStream", sink_open, sink_send, sink_wait, sink_stats, sink_close
};
const struct source_ops js_source = {
	"JetStream", source_open, source_fetch, source_get, source_ack,
	source_stats, source_close
};

/* ------------------------------------------------------------- common */

static int
js_fail(struct bridge_err *e, int status, int transient, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->transient = transient;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return -1;
}

/* Connect, without libnats's own reconnecting, and get a JetStream. */
static int
js_connect(const struct bridge_opts *o, natsConnection **nc, jsCtx **js,
    jsOptions *jo, struct bridge_err *e)
{
	natsOptions *opts = NULL;
	natsStatus s;

	*nc = NULL;
	*js = NULL;
	if ((s = natsOptions_Create(&opts)) != NATS_OK ||
	    (s = natsOptions_SetServers(opts, (const char *[]){ o->server },
	    1)) != NATS_OK ||
	    (s = natsOptions_SetName(opts, BRIDGE_NAME)) != NATS_OK ||
	    (s = natsOptions_SetAllowReconnect(opts, false)) != NATS_OK ||
	    (s = natsOptions_SetTimeout(opts, JS_CONNECT_MS)) != NATS_OK ||
	    (s = natsOptions_SetIOBufSize(opts, JS_IOBUF)) != NATS_OK) {
		natsOptions_Destroy(opts);
		return js_fail(e, EX_USAGE, 0, "--server %s: %s", o->server,
		    natsStatus_GetText(s));
	}
	/* libnats's threads must leave our signals to the main thread. */
	bridge_hold_signals(1);
	s = natsConnection_Connect(nc, opts);
	bridge_hold_signals(0);
	natsOptions_Destroy(opts);
	if (s != NATS_OK)
		return js_fail(e, EX_UNAVAILABLE, 1, "cannot reach the NATS "
		    "server at %s: %s", o->server, natsStatus_GetText(s));
	if ((s = natsConnection_JetStream(js, *nc, jo)) != NATS_OK) {
		natsConnection_Destroy(*nc);
		*nc = NULL;
		return js_fail(e, EX_SOFTWARE, 0, "JetStream context: %s",
		    natsStatus_GetText(s));
	}
	return 0;
}

/*
 * The stream, made when asked to (taking filter) if missing; with a
 * filter, it must take every subject the filter matches.
 */
static jsStreamInfo *
js_stream(jsCtx *js, const struct bridge_opts *o, const char *filter,
    struct bridge_err *e)
{
	jsStreamInfo *si = NULL;
	jsStreamConfig cfg;
	jsErrCode jerr = 0;
	natsStatus s;
	char have[512] = "";
	int k;

	s = js_GetStreamInfo(&si, js, o->stream, NULL, &jerr);
	if (s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT) {
		js_fail(e, EX_UNAVAILABLE, 1, "JetStream does not answer at %s "
		    "(is the server started with -js?): %s", o->server,
		    natsStatus_GetText(s));
		return NULL;
	}
	if ((s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) &&
	    o->create_stream && filter != NULL) {
		jsStreamConfig_Init(&cfg);
		cfg.Name = o->stream;
		cfg.Subjects = (const char *[]){ o->stream_subjects ?
		    o->stream_subjects : filter };
		cfg.SubjectsLen = 1;
		cfg.Storage = js_FileStorage;
		jerr = 0;
		if ((s = js_AddStream(&si, js, &cfg, NULL, &jerr)) != NATS_OK) {
			js_fail(e, EX_CANTCREAT, 0, "stream %s: cannot create "
			    "it for %s: %s (error %d)", o->stream,
			    cfg.Subjects[0],
			    nats_GetLastError(NULL), (int)jerr);
			return NULL;
		}
	} else if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
		js_fail(e, EX_NOINPUT, 0, "stream %s does not exist on %s%s",
		    o->stream, o->server, filter != NULL ?
		    " (--create-stream makes it)" : "");
		return NULL;
	} else if (s != NATS_OK) {
		js_fail(e, EX_UNAVAILABLE, 1, "stream %s: %s", o->stream,
		    nats_GetLastError(NULL));
		return NULL;
	}
	if (filter == NULL)
		return si;
	for (k = 0; k < si->Config->SubjectsLen; k++) {
		if (subject_covers(si->Config->Subjects[k], filter))
			return si;
		strlcat(have, k ? ", " : "", sizeof(have));
		strlcat(have, si->Config->Subjects[k], sizeof(have));
	}
	js_fail(e, EX_CONFIG, 0, "stream %s does not take every subject of "
	    "%s (its subjects: %s)", o->stream, filter, have[0] ? have :
	    "none");
	jsStreamInfo_Destroy(si);
	return NULL;
}

/* Does every subject that filter f matches also match pattern p? */
static int
subject_covers(const char *p, const char *f)
{
	const char *pe, *fe;
	size_t pl, fl;

	for (;;) {
		pe = strchr(p, '.');
		fe = strchr(f, '.');
		pl = pe ? (size_t)(pe - p) : strlen(p);
		fl = fe ? (size_t)(fe - f) : strlen(f);
		if (pl == 1 && *p == '>')
			return 1;
		if (fl == 1 && *f == '>')
			return 0;
		if (!(pl == 1 && *p == '*') &&
		    !(pl == fl && memcmp(p, f, pl) == 0))
			return 0;
		if (pl == 1 && *p == '*' && fl == 1 && *f == '>')
			return 0;
		if (pe == NULL || fe == NULL)
			return pe == NULL && fe == NULL;
		p = pe + 1;
		f = fe + 1;
	}
}

/* Grow a scratch buffer to n bytes at least; 0 or -1. */
static int
scratch(char **buf, size_t *cap, size_t n)
{
	char *nb;
	size_t nc;

	if (n <= *cap)
		return 0;
	for (nc = *cap ? *cap : 4096; nc < n; nc *= 2)
		;
	if ((nb = realloc(*buf, nc)) == NULL)
		return -1;
	*buf = nb;
	*cap = nc;
	return 0;
}

/* %XX for bytes outside '!'..'~' and for '%', '=', '&'; NUL-terminated. */
static size_t
pct_encode(const void *src, size_t n, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = src;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '!' || s[i] > '~' || s[i] == '%' || s[i] == '=' ||
		    s[i] == '&') {
			out[o++] = '%';
			out[o++] = hex[s[i] >> 4];
			out[o++] = hex[s[i] & 15];
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return o;
}

/* The bytes of a %XX string; their number, or -1 if malformed. */
static ssize_t
pct_decode(const char *s, size_t n, char *out)
{
	size_t i, o = 0;
	int h, l;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (n - i < 3 || (h = hexval(s[i + 1])) == -1 ||
		    (l = hexval(s[i + 2])) == -1)
			return -1;
		out[o++] = (char)(h << 4 | l);
		i += 2;
	}
	return (ssize_t)o;
}

/* --------------------------------------------------------------- sink */

/* A PubAck or an error, on a libnats thread. */
static void
sink_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
	struct sink *k = arg;
	uint64_t w;
	int expect = 0;

	if (pa != NULL) {
		if (pa->Duplicate)
			atomic_fetch_add(&k->dups, 1);
		atomic_fetch_add(&k->acked, 1);
	} else {
		if (pae != NULL && atomic_compare_exchange_strong(&k->why_set,
		    &expect, 1))
			snprintf(k->why, sizeof(k->why), "%s%s%s",
			    natsStatus_GetText(pae->Err), pae->ErrText ? ": " :
			    "", pae->ErrText ? pae->ErrText : "");
		atomic_fetch_add(&k->failed, 1);
	}
	natsMsg_Destroy(msg);
	w = atomic_load(&k->wake_at);
	if (w != 0 && atomic_load(&k->acked) + atomic_load(&k->failed) >= w) {
		pthread_mutex_lock(&k->mu);
		pthread_cond_signal(&k->cv);
		pthread_mutex_unlock(&k->mu);
	}
}

/*
 * --inflight messages unacknowledged: wait until half of them are
 * (a window that opens by halves, not by one message a wakeup).
 */
static int
sink_room(struct sink *k, struct bridge_err *e)
{
	uint64_t target = k->sent - k->inflight / 2;
	struct timespec ts;

	atomic_store(&k->wake_at, target > 0 ? target : 1);
	pthread_mutex_lock(&k->mu);
	while (atomic_load(&k->acked) + atomic_load(&k->failed) < target) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += JS_STALL_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&k->cv, &k->mu, &ts) == ETIMEDOUT &&
		    sink_check(k, e) == -1) {
			pthread_mutex_unlock(&k->mu);
			atomic_store(&k->wake_at, 0);
			return -1;
		}
	}
	pthread_mutex_unlock(&k->mu);
	atomic_store(&k->wake_at, 0);
	if (atomic_load(&k->failed) > 0)
		return sink_check(k, e);
	k->waiting_since = 0;
	return 0;
}

static struct sink *
sink_open(const struct bridge_opts *o, const char *filter,
    struct bridge_err *e)
{
	struct sink *k;
	jsStreamInfo *si;
	jsOptions jo;
	char msg[256];

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		js_fail(e, EX_OSERR, 0, "out of memory");
		return NULL;
	}
	k->ack_wait = o->ack_wait / 1000000;
	k->inflight = o->inflight;
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	jsOptions_Init(&jo);
	jo.Wait = JS_API_MS;
	/* sink_send() keeps --inflight at most: libnats never stalls. */
	jo.PublishAsync.MaxPending = o->inflight + 1;
	jo.PublishAsync.AckHandler = sink_ack;
	jo.PublishAsync.AckHandlerClosure = k;
	if (js_connect(o, &k->nc, &k->js, &jo, e) == -1) {
		free(k);
		return NULL;
	}
	if ((si = js_stream(k->js, o, filter, e)) == NULL) {
		sink_close(k);
		return NULL;
	}
	if (si->Config->Duplicates <= 0)
		snprintf(msg, sizeof(msg), "stream %s has no duplicate window: "
		    "a restart may store a message twice", o->stream);
	else
		snprintf(msg, sizeof(msg), "stream %s: duplicate window %llds:"
		    " a restart within it stores nothing twice", o->stream,
		    (long long)(si->Config->Duplicates / 1000000000));
	if (o->verbose || si->Config->Duplicates <= 0)
		bridge_say(NULL, msg);
	jsStreamInfo_Destroy(si);
	return k;
}

/* n in decimal at p (room for HDR_NUM bytes); the end. */
static char *
put_num(char *p, int64_t n)
{
	char tmp[HDR_NUM];
	uint64_t u;
	size_t k = 0;

	if (n < 0) {
		*p++ = '-';
		u = -(uint64_t)n;
	} else
		u = (uint64_t)n;
	do
		tmp[k++] = '0' + u % 10;
	while ((u /= 10) != 0);
	while (k > 0)
		*p++ = tmp[--k];
	return p;
}

/*
 * Headers of the bus fields; the payload as it is.  As few headers as
 * the fields need: each costs libnats several allocations here and in
 * import, and JetStream a scan of the header block.  Partition and
 * offset are in the Nats-Msg-Id.
 */
static int
sink_send(struct sink *k, const struct bus_msg *m, const char *subject,
    const char *id, struct bridge_err *e)
{
	char times[3 * HDR_NUM + 3], topic[BUS_TOPIC_MAX + 1], *o;
	struct bus_tag t;
	natsMsg *msg = NULL;
	natsStatus s;
	size_t pos = 0, n;
	int r;

	if (scratch(&k->scratch, &k->scap, 3 * (m->key_len + m->tags_len +
	    2 * (m->tags_len / 4)) + 2) == -1)
		return js_fail(e, EX_OSERR, 0, "out of memory");
	memcpy(topic, m->topic, m->topic_len);
	topic[m->topic_len] = '\0';
	o = put_num(times, m->event_ns);
	*o++ = ' ';
	o = put_num(o, m->send_ns);
	*o++ = ' ';
	o = put_num(o, m->recv_ns);
	*o = '\0';
	if ((s = natsMsg_Create(&msg, subject, NULL, m->payload,
	    (int)m->payload_len)) != NATS_OK)
		goto bad;
	if ((s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id)) != NATS_OK ||
	    (s = natsMsgHeader_Set(msg, "Bus-Topic", topic)) != NATS_OK ||
	    (s = natsMsgHeader_Set(msg, "Bus-Time", times)) != NATS_OK)
		goto bad;
	if (m->key_len > 0) {
		pct_encode(m->key, m->key_len, k->scratch);
		if ((s = natsMsgHeader_Set(msg, "Bus-Key", k->scratch)) !=
		    NATS_OK)
			goto bad;
	}
	if (m->tags_len > 0) {
		o = k->scratch;
		while ((r = bus_tags_next(m->tags, m->tags_len, &pos, &t)) ==
		    1) {
			if (o != k->scratch)
				*o++ = '&';
			n = pct_encode(t.name, t.name_len, o);
			o += n;
			*o++ = '=';
			o += pct_encode(t.value, t.value_len, o);
		}
		*o = '\0';
		if ((s = natsMsgHeader_Set(msg, "Bus-Tags", k->scratch)) !=
		    NATS_OK)
			goto bad;
	}
	if ((m->flags & BUS_F_TOMBSTONE) &&
	    (s = natsMsgHeader_Set(msg, "Bus-Tombstone", "1")) != NATS_OK)
		goto bad;
	if (k->sent - atomic_load(&k->acked) >= k->inflight &&
	    sink_room(k, e) == -1) {
		natsMsg_Destroy(msg);
		return -1;
	}
	if ((s = js_PublishMsgAsync(k->js, &msg, NULL)) != NATS_OK)
		goto bad;
	k->sent++;
	return 0;
bad:
	natsMsg_Destroy(msg);
	return js_fail(e, EX_UNAVAILABLE, 1, "publishing to %s: %s", subject,
	    nats_GetLastError(NULL));
}

/*
 * Nothing acknowledged for a while: -1 with *e if a message was refused,
 * the connection is lost, or no PubAck came for ack_wait; else 0.
 */
static int
sink_check(struct sink *k, struct bridge_err *e)
{
	uint64_t acked;
	int64_t now;

	if (atomic_load(&k->failed) > 0)
		return js_fail(e, EX_UNAVAILABLE, 1, "JetStream refused a "
		    "message: %s", k->why);
	if (natsConnection_IsClosed(k->nc))
		return js_fail(e, EX_UNAVAILABLE, 1, "lost the NATS server");
	/* No PubAck for ack_wait: start again from what is stored. */
	now = bus_now_ns();
	acked = atomic_load(&k->acked);
	if (k->waiting_since == 0 || acked != k->wait_acked) {
		k->waiting_since = now;
		k->wait_acked = acked;
	} else if (now - k->waiting_since > k->ack_wait * 1000000)
		return js_fail(e, EX_UNAVAILABLE, 1, "no PubAck for %llds "
		    "with %llu message(s) in flight", (long long)(k->ack_wait /
		    1000), (unsigned long long)(k->sent - acked));
	return 0;
}

static int
sink_wait(struct sink *k, int ms, struct bridge_err *e)
{
	jsPubOptions po;
	natsStatus s;

	jsPubOptions_Init(&po);
	po.MaxWait = ms > 0 ? ms : 1;
	s = js_PublishAsyncComplete(k->js, &po);
	if (atomic_load(&k->failed) > 0)
		return js_fail(e, EX_UNAVAILABLE, 1, "JetStream refused a "
		    "message: %s", k->why);
	if (s == NATS_OK && atomic_load(&k->acked) == k->sent) {
		k->waiting_since = 0;
		return 1;
	}
	return sink_check(k, e);
}

static void
sink_stats(struct sink *k, struct bridge_stats *st)
{
	uint64_t acked = atomic_load(&k->acked);

	st->inflight = k->sent - acked;
	st->dups = atomic_load(&k->dups);
}

static void
sink_close(struct sink *k)
{
	if (k == NULL)
		return;
	jsCtx_Destroy(k->js);
	if (k->nc != NULL) {
		natsConnection_Close(k->nc);
		natsConnection_Destroy(k->nc);
	}
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	free(k->scratch);
	free(k);
}

/* ------------------------------------------------------------- source */

/*
 * The durable consumer, in order from the first message not yet
 * acknowledged.  A consumer left with messages delivered and not
 * acknowledged (we died, or busd did) would deliver newer ones before
 * those, after its AckWait: made again from its ack floor instead, so
 * that the batch that was lost comes first, at once, and busd drops what
 * of it was stored.  One with other settings is made again likewise.
 * An existing consumer is bound to as it is (so.Consumer set).
 */
static int
source_consumer(struct source *c, const struct bridge_opts *o,
    const char *subj, jsSubOptions *so, struct bridge_err *e)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	uint64_t start = 0;
	natsStatus s;
	int again;

	s = js_GetConsumerInfo(&ci, c->js, o->stream, o->durable, NULL, &jerr);
	if (s == NATS_OK) {
		again = ci->Delivered.Stream > ci->AckFloor.Stream ||
		    ci->Config->AckPolicy != js_AckAll ||
		    ci->Config->AckWait != o->ack_wait ||
		    ci->Config->MaxAckPending != 2 * (int64_t)o->batch ||
		    ci->Config->FilterSubject == NULL ||
		    strcmp(ci->Config->FilterSubject, subj) != 0;
		start = ci->AckFloor.Stream + 1;
		jsConsumerInfo_Destroy(ci);
		if (!again) {
			so->Consumer = o->durable;
			return 0;
		}
		if (js_DeleteConsumer(c->js, o->stream, o->durable, NULL,
		    &jerr) != NATS_OK)
			return js_fail(e, EX_UNAVAILABLE, 1, "stream %s: "
			    "consumer %s: cannot make it again: %s", o->stream,
			    o->durable, nats_GetLastError(NULL));
		if (o->verbose)
			bridge_say(NULL, "consumer made again from its first "
			    "unacknowledged message");
	} else if (s != NATS_NOT_FOUND && jerr != JSConsumerNotFoundErr)
		return js_fail(e, EX_UNAVAILABLE, 1, "stream %s: consumer %s: "
		    "%s", o->stream, o->durable, nats_GetLastError(NULL));
	so->Config.Durable = o->durable;
	so->Config.AckPolicy = js_AckAll;
	so->Config.AckWait = o->ack_wait;
	so->Config.MaxAckPending = 2 * (int64_t)o->batch;
	if (start > 1) {
		so->Config.DeliverPolicy = js_DeliverByStartSequence;
		so->Config.OptStartSeq = start;
	} else
		so->Config.DeliverPolicy = js_DeliverAll;
	return 0;
}

static struct source *
source_open(const struct bridge_opts *o, struct bridge_err *e)
{
	struct source *c;
	jsStreamInfo *si;
	jsSubOptions so;
	jsOptions jo;
	jsErrCode jerr = 0;
	natsStatus s;
	const char *subj;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		js_fail(e, EX_OSERR, 0, "out of memory");
		return NULL;
	}
	jsOptions_Init(&jo);
	jo.Wait = JS_API_MS;
	if (js_connect(o, &c->nc, &c->js, &jo, e) == -1) {
		free(c);
		return NULL;
	}
	if ((si = js_stream(c->js, o, NULL, e)) == NULL) {
		source_close(c);
		return NULL;
	}
	subj = o->filter;
	if (subj == NULL && si->Config->SubjectsLen != 1) {
		js_fail(e, EX_USAGE, 0, "stream %s takes %d subject patterns: "
		    "say which with --filter", o->stream,
		    si->Config->SubjectsLen);
		jsStreamInfo_Destroy(si);
		source_close(c);
		return NULL;
	}
	jsSubOptions_Init(&so);
	so.Stream = o->stream;
	if (source_consumer(c, o, subj != NULL ? subj :
	    si->Config->Subjects[0], &so, e) == -1) {
		jsStreamInfo_Destroy(si);
		source_close(c);
		return NULL;
	}
	bridge_hold_signals(1);
	s = js_PullSubscribe(&c->sub, c->js, subj != NULL ? subj :
	    si->Config->Subjects[0], so.Consumer != NULL ? NULL : o->durable,
	    &jo, &so, &jerr);
	bridge_hold_signals(0);
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK) {
		js_fail(e, s == NATS_CONNECTION_CLOSED || s == NATS_TIMEOUT ?
		    EX_UNAVAILABLE : EX_CONFIG, s == NATS_CONNECTION_CLOSED ||
		    s == NATS_TIMEOUT, "stream %s: consumer %s: %s",
		    o->stream, o->durable, nats_GetLastError(NULL));
		source_close(c);
		return NULL;
	}
	return c;
}

/* A new batch; the last one is kept until source_ack(). */
static int
source_fetch(struct source *c, int n, int ms, struct bridge_err *e)
{
	jsErrCode jerr = 0;
	natsStatus s;

	jsFetchRequest req;

	natsMsgList_Destroy(&c->prev);
	c->prev = c->list;
	memset(&c->list, 0, sizeof(c->list));
	/*
	 * ms == 0: what is there now (no_wait), the server ending the
	 * request at once.  A request the client gave up on while the
	 * server still answered it leaves messages that libnats 3.4 adds to
	 * the next fetch beyond its batch (and its array); so the client
	 * waits longer than the server's expiry, always.
	 */
	jsFetchRequest_Init(&req);
	req.Batch = n;
	if (ms == 0) {
		req.NoWait = true;
		req.Expires = JS_API_MS * 1000000LL;
	} else
		req.Expires = (int64_t)ms * 1000000;
	s = natsSubscription_FetchRequest(&c->list, c->sub, &req);
	(void)jerr;
	if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK)
		return js_fail(e, EX_UNAVAILABLE, 1, "fetching from %s: %s",
		    natsConnection_IsClosed(c->nc) ? "a lost server" :
		    "JetStream", nats_GetLastError(NULL));
	if (c->list.Count > n)
		return js_fail(e, EX_SOFTWARE, 0, "libnats returned %d "
		    "messages for a fetch of %d", c->list.Count, n);
	c->fetched += c->list.Count;
	return c->list.Count;
}

/* A header as bytes: its length, or -1 when absent. */
static ssize_t
header(natsMsg *msg, const char *name, const char **v)
{
	if (natsMsgHeader_Get(msg, name, v) != NATS_OK)
		return -1;
	return (ssize_t)strlen(*v);
}

/*
 * Bus-Time, "event send receive" in decimal: the first two (busd stamps
 * its own receive time); 1, 0 when absent, -1 when malformed.
 */
static int
time_header(natsMsg *msg, int64_t *event, int64_t *send)
{
	const char *v;
	char *end;

	if (header(msg, "Bus-Time", &v) <= 0)
		return 0;
	errno = 0;
	*event = strtoll(v, &end, 10);
	if (errno != 0 || *end != ' ')
		return -1;
	*send = strtoll(end + 1, &end, 10);
	if (errno != 0 || *end != ' ')
		return -1;
	(void)strtoll(end + 1, &end, 10);
	return errno == 0 && *end == '\0' ? 1 : -1;
}

/*
 * The stream sequence and the messages pending, from the subject a
 * JetStream message is acknowledged on: "$JS.ACK.<stream>.<consumer>.
 * <delivered>.<stream seq>.<consumer seq>.<time>.<pending>", or since
 * nats-server 2.9 "$JS.ACK.<domain>.<account hash>.<stream>..." with a
 * token more at the end.  As libnats reads it, without allocating.
 */
static int
ack_meta(const char *reply, uint64_t *sseq, uint64_t *pending)
{
	static const char pre[] = "$JS.ACK.";
	const char *tok[10], *p;
	char *end;
	int nt = 0, base;

	if (reply == NULL || strncmp(reply, pre, sizeof(pre) - 1) != 0)
		return -1;
	p = reply + sizeof(pre) - 1;
	for (;;) {
		tok[nt++] = p;
		if (nt == 10 || (p = strchr(p, '.')) == NULL)
			break;
		p++;
	}
	if (nt == 7)
		base = 0;		/* stream, consumer, ... */
	else if (nt >= 9)
		base = 2;		/* domain, account, stream, ... */
	else
		return -1;
	errno = 0;
	*sseq = strtoull(tok[base + 3], &end, 10);
	if (errno != 0 || *end != '.' || *sseq == 0)
		return -1;
	*pending = strtoull(tok[base + 6], &end, 10);
	if (errno != 0 || (*end != '.' && *end != '\0'))
		return -1;
	return 0;
}

static int
source_get(struct source *c, int i, struct ext_msg *x, struct bridge_err *e)
{
	natsMsg *msg = c->list.Msgs[i];
	const char *v, *amp, *eq;
	char *kb, *tb, *nv;
	ssize_t kl = -1, tl = -1, n, nl;
	size_t tlen = 0, tcap;
	const char *why;

	memset(x, 0, sizeof(*x));
	if (ack_meta(natsMsg_GetReply(msg), &x->seq, &c->pending) == -1)
		return js_fail(e, EX_PROTOCOL, 0, "a message without "
		    "JetStream metadata on %s", natsMsg_GetSubject(msg));
	x->subject = natsMsg_GetSubject(msg);
	x->m.payload = natsMsg_GetData(msg);
	x->m.payload_len = natsMsg_GetDataLength(msg);
	if (header(msg, "Bus-Topic", &v) > 0)
		x->topic = v;
	if (time_header(msg, &x->m.event_ns, &x->send_ns) == -1)
		return js_fail(e, EX_DATAERR, 0, "stream sequence %llu: a "
		    "time header is not a number", (unsigned long long)x->seq);
	if (header(msg, "Bus-Tombstone", &v) >= 0)
		x->m.flags |= BUS_F_TOMBSTONE;
	/*
	 * Scratch: the key, the tags area (each tag takes 4 bytes more
	 * than its name and value, and takes 2 bytes of "n=v&" at least),
	 * and one "NAME=VALUE" at a time for bus_tags_add().
	 */
	kl = header(msg, "Bus-Key", &v);
	tl = header(msg, "Bus-Tags", &why);
	tcap = tl > 0 ? 3 * (size_t)tl + 4 : 0;
	n = (kl > 0 ? kl : 0) + (tl > 0 ? (ssize_t)tcap + tl + 2 : 0);
	if (n > 0 && scratch(&c->scratch, &c->scap, (size_t)n) == -1)
		return js_fail(e, EX_OSERR, 0, "out of memory");
	kb = c->scratch;
	if (kl > 0) {
		if ((kl = pct_decode(v, kl, kb)) == -1)
			return js_fail(e, EX_DATAERR, 0, "stream sequence "
			    "%llu: Bus-Key is not %%XX-encoded",
			    (unsigned long long)x->seq);
		x->m.key = kb;
		x->m.key_len = kl;
	}
	if (tl > 0) {
		/* "n=v&n=v": each as "NAME=VALUE", bus_tags_add()'s form. */
		tb = kb + (kl > 0 ? kl : 0);
		nv = tb + tcap;
		v = why;
		for (; v != NULL && *v != '\0'; v = amp ? amp + 1 : NULL) {
			amp = strchr(v, '&');
			n = amp ? amp - v : (ssize_t)strlen(v);
			if ((eq = memchr(v, '=', n)) == NULL ||
			    (nl = pct_decode(v, eq - v, nv)) <= 0 ||
			    memchr(nv, '=', nl) != NULL)
				goto badtags;
			nv[nl] = '=';
			if ((n = pct_decode(eq + 1, v + n - eq - 1, nv + nl +
			    1)) == -1 || memchr(nv + nl + 1, '\0', n) != NULL)
				goto badtags;
			nv[nl + 1 + n] = '\0';
			if (bus_tags_add((uint8_t *)tb, tcap, &tlen, nv,
			    &why) == -1)
				goto badtags;
		}
		x->m.tags = (const uint8_t *)tb;
		x->m.tags_len = tlen;
	}
	return 0;
badtags:
	return js_fail(e, EX_DATAERR, 0, "stream sequence %llu: Bus-Tags is "
	    "not name=value&... in %%XX-encoding",
	    (unsigned long long)x->seq);
}

/*
 * The batch before the one fetched last is stored: acknowledge it.
 * AckAll: acknowledging its last message acknowledges all of it.
 */
static int
source_ack(struct source *c, struct bridge_err *e)
{
	if (c->prev.Count == 0)
		return 0;
	if (natsMsg_Ack(c->prev.Msgs[c->prev.Count - 1], NULL) != NATS_OK)
		return js_fail(e, EX_UNAVAILABLE, 1, "acknowledging to "
		    "JetStream: %s", nats_GetLastError(NULL));
	c->acked += c->prev.Count;
	natsMsgList_Destroy(&c->prev);
	memset(&c->prev, 0, sizeof(c->prev));
	return 0;
}

static void
source_stats(struct source *c, struct bridge_stats *st)
{
	st->lag = c->pending;
	st->inflight = c->fetched - c->acked;
}

static void
source_close(struct source *c)
{
	if (c == NULL)
		return;
	natsMsgList_Destroy(&c->list);
	natsMsgList_Destroy(&c->prev);
	if (c->sub != NULL)
		natsSubscription_Destroy(c->sub);
	jsCtx_Destroy(c->js);
	if (c->nc != NULL) {
		natsConnection_Close(c->nc);
		natsConnection_Destroy(c->nc);
	}
	free(c->scratch);
	free(c);
}

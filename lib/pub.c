/*
 * The publisher of the public API (bus_pub(3)): one connection to busd.
 *
 * Messages are encoded straight into the output buffer, which is also
 * the window: [head, sent) is sent and not yet acknowledged, [sent,
 * ready) waits to be sent, and [frame_at, olen) is the PUBLISH frame
 * still open.  busd acknowledges frames in order, so an ACK drops the
 * oldest frame by moving head; the buffer is compacted only when that
 * frees half of it (amortized, not per ack).  After a reconnect the
 * window is sent again from head, under the same producer id and
 * sequence numbers; busd drops what it already stored.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "errval.h"
#include "logdest.h"
#include "proto.h"
#include "bus/pub.h"

#define PUB_FRAME_TARGET	(256 * 1024)	/* start a new frame past this */
#define PUB_WINDOW		(2 * 1024 * 1024) /* unacknowledged bytes */
#define PUB_RETRY		(60LL * 1000000000LL)
#define PUB_SNDBUF		(4 * 1024 * 1024)
#define PUB_HUGE		(2 * 1024 * 1024) /* a huge page */
#define PUB_SPAN		3		/* windows the buffer holds */

struct bus_pub {
	char		*dir;		/* the store */
	int		 sock;		/* to busd, or -1 */
	int		 ack;		/* BUS_ACK_* */
	int		 autostart;	/* start busd when none listens */
	int64_t		 retry;		/* ns to try reconnecting */
	size_t		 window;	/* unacknowledged bytes at most */
	uint64_t	 producer;	/* from the HELLO */
	size_t		 max_message;	/* from the HELLO_OK */
	size_t		 max_frame;
	uint64_t	 next_seq;	/* sequence of the next message */
	uint64_t	 acked;		/* messages acknowledged */
	int		 shut;		/* BUS_ACK_NONE: write side closed */
	uint8_t		*obuf;		/* the window, see above */
	size_t		 olen, ocap, sent, head;
	size_t		 frame_at;	/* open PUBLISH frame, or SIZE_MAX */
	uint32_t	 frame_count;	/* messages in it */
	uint8_t		*ibuf;		/* replies from busd */
	size_t		 ilen, icap;
	void		(*log)(void *, const char *);
	void		*log_arg;
	struct bus_error err;		/* the last error */
	const char	*ok_topic;	/* the topic checked last */
	size_t		 ok_topic_len;
	const uint8_t	*ok_tags;	/* the tags checked last */
	size_t		 ok_tags_len;
	size_t		 rsv_at;	/* reserved block frame, or SIZE_MAX */
	size_t		 rsv_hdr;	/* its bytes before the records */
	size_t		 rsv_max;	/* room for records */
	struct bus_block rsv;		/* its topic, tags and delimiter */
};

static int	pub_dial(struct bus_pub *, int);
static int	pub_start_busd(struct bus_pub *);
static void	pub_say_started(struct bus_pub *);
static int	pub_hello(struct bus_pub *);
static int	pub_reconnect(struct bus_pub *, const char *);
static void	pub_tune(struct bus_pub *);
static int	pub_reserve(struct bus_pub *, size_t, uint8_t **);
static int	pub_poll_once(struct bus_pub *);
static int	pub_window_wait(struct bus_pub *);
static int	pub_acks_wait(struct bus_pub *, size_t);
static void	pub_frame_close(struct bus_pub *);
static int	pub_send(struct bus_pub *);
static int	pub_read(struct bus_pub *);
static int	pub_replies(struct bus_pub *);
static int	pub_err_status(uint32_t);
static int	pub_block_check(struct bus_pub *, const struct bus_block *);

struct bus_pub *
bus_pub_new(const char *dir)
{
	struct bus_pub *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->dir = strdup(store_dir(dir))) == NULL ||
	    (p->ibuf = malloc(p->icap = 64 * 1024)) == NULL) {
		free(p->dir);
		free(p);
		return NULL;
	}
	p->sock = -1;
	p->ack = BUS_ACK_WRITTEN;
	p->autostart = 1;
	p->retry = PUB_RETRY;
	p->window = PUB_WINDOW;
	p->max_message = BUS_MESSAGE_MAX_DEFAULT;
	p->max_frame = PROTO_FRAME_MIN_MAX;
	p->next_seq = 1;
	p->frame_at = SIZE_MAX;
	p->rsv_at = SIZE_MAX;
	do
		arc4random_buf(&p->producer, sizeof(p->producer));
	while (p->producer == 0);
	return p;
}

int
bus_pub_set_ack(struct bus_pub *p, enum bus_ack ack)
{
	if (ack != BUS_ACK_NONE && ack != BUS_ACK_WRITTEN &&
	    ack != BUS_ACK_SYNCED)
		return errval_set(&p->err, BUS_E_USAGE, EX_USAGE, 0,
		    "ack level %d is not none, written or synced", (int)ack);
	p->ack = ack;
	return 0;
}

int
bus_pub_set_producer(struct bus_pub *p, uint64_t id)
{
	if (id == 0)
		return errval_set(&p->err, BUS_E_USAGE, EX_USAGE, 0,
		    "a producer id is not 0");
	p->producer = id;
	return 0;
}

int
bus_pub_set_seq(struct bus_pub *p, uint64_t seq)
{
	if (seq == 0 || p->next_seq != 1 + p->acked || p->olen > 0)
		return errval_set(&p->err, BUS_E_USAGE, EX_USAGE, 0,
		    "a sequence number is set before publishing and is not 0");
	p->next_seq = seq;
	p->acked = seq - 1;
	return 0;
}

void
bus_pub_set_autostart(struct bus_pub *p, int on)
{
	p->autostart = on;
}

void
bus_pub_set_retry(struct bus_pub *p, int64_t ns)
{
	p->retry = ns < 0 ? 0 : ns;
}

void
bus_pub_set_window(struct bus_pub *p, size_t bytes)
{
	p->window = bytes > 0 ? bytes : PUB_WINDOW;
}

void
bus_pub_set_log(struct bus_pub *p, void (*fn)(void *, const char *),
    void *arg)
{
	p->log = fn;
	p->log_arg = arg;
}

int
bus_pub_connect(struct bus_pub *p)
{
	int r;

	if (pub_dial(p, p->autostart) == -1)
		return -1;
	pub_tune(p);
	if ((r = pub_hello(p)) == -2)
		return -1;
	if (r == -1)
		return pub_reconnect(p, strerror(errno));
	return 0;
}

/* Add one message to the open PUBLISH frame (opening one if needed). */
int
bus_pub_add(struct bus_pub *p, const struct bus_msg *m, int64_t send_ns,
    uint64_t *seqp)
{
	struct bus_rec r;
	size_t body, sz;
	uint8_t *o;
	const char *why;

	if (m->topic_len == 0 || m->topic_len > BUS_TOPIC_MAX ||
	    m->key_len > BUS_KEY_MAX || m->tags_len > UINT32_MAX ||
	    m->payload_len > UINT32_MAX || (m->flags & ~BUS_F_MASK))
		return errval_set(&p->err, BUS_E_INVALID, EX_DATAERR,
		    p->next_seq, "message %llu: bad topic, key, tags or flags",
		    (unsigned long long)p->next_seq);
	if (p->sock == -1)
		return errval_set(&p->err, BUS_E_UNAVAILABLE, EX_UNAVAILABLE,
		    p->next_seq, "not connected to busd");
	/* The same topic and tags as last time were checked then. */
	if (m->topic != p->ok_topic || m->topic_len != p->ok_topic_len) {
		if (topic_check(m->topic, m->topic_len, &why) == -1)
			return errval_set(&p->err, BUS_E_INVALID, EX_DATAERR,
			    p->next_seq, "message %llu: invalid topic '%.*s': "
			    "%s", (unsigned long long)p->next_seq,
			    (int)m->topic_len, m->topic, why);
		p->ok_topic = m->topic;
		p->ok_topic_len = m->topic_len;
	}
	if (m->tags_len > 0 && (m->tags != p->ok_tags ||
	    m->tags_len != p->ok_tags_len)) {
		if (tags_check(m->tags, m->tags_len) == -1)
			return errval_set(&p->err, BUS_E_INVALID, EX_DATAERR,
			    p->next_seq, "message %llu: malformed tags",
			    (unsigned long long)p->next_seq);
		p->ok_tags = m->tags;
		p->ok_tags_len = m->tags_len;
	}
	body = m->topic_len + m->key_len + m->tags_len + m->payload_len;
	if (body > p->max_message)
		return errval_set(&p->err, BUS_E_TOOBIG, EX_DATAERR,
		    p->next_seq,
		    "message %llu: message of %zu bytes exceeds the limit of "
		    "%zu bytes", (unsigned long long)p->next_seq, body,
		    p->max_message);
	sz = proto_msg_size(m->topic_len, m->key_len, m->tags_len,
	    m->payload_len);
	if (p->frame_at != SIZE_MAX && (p->olen - p->frame_at + sz >
	    PUB_FRAME_TARGET || p->olen - p->frame_at + sz > p->max_frame))
		pub_frame_close(p);
	if (p->frame_at == SIZE_MAX && pub_window_wait(p) == -1)
		return -1;
	if (p->frame_at == SIZE_MAX) {
		if (pub_reserve(p, PROTO_PUBLISH_HDR, &o) == -1)
			return -1;
		proto_publish_begin(o);
		p->frame_at = o - p->obuf;
		p->frame_count = 0;
	}
	if (pub_reserve(p, sz, &o) == -1)
		return -1;
	memset(&r, 0, sizeof(r));
	r.seq = p->next_seq++;
	r.send_ns = send_ns ? send_ns : now_ns();
	r.event_ns = m->event_ns ? m->event_ns : r.send_ns;
	r.flags = m->flags;
	r.topic = m->topic;
	r.topic_len = m->topic_len;
	r.key = m->key;
	r.key_len = m->key_len;
	r.tags = m->tags;
	r.tags_len = m->tags_len;
	r.payload = m->payload;
	r.payload_len = m->payload_len;
	proto_msg_encode(o, &r);
	p->frame_count++;
	if (seqp != NULL)
		*seqp = r.seq;
	return 0;
}

/*
 * A jump in the numbers ends the open frame (busd wants each frame's
 * numbers consecutive).  When nothing is unacknowledged, the skipped
 * numbers count as acknowledged, so that bus_pub_wait() does not wait
 * for them; if the message is refused, nothing changes.
 */
int
bus_pub_add_seq(struct bus_pub *p, const struct bus_msg *m, int64_t send_ns,
    uint64_t seq)
{
	uint64_t onext = p->next_seq, oacked = p->acked;

	if (seq < p->next_seq)
		return errval_set(&p->err, BUS_E_USAGE, EX_USAGE, seq,
		    "sequence number %llu is below the next one, %llu",
		    (unsigned long long)seq, (unsigned long long)p->next_seq);
	if (seq > p->next_seq) {
		pub_frame_close(p);
		if (p->acked == p->next_seq - 1)
			p->acked = seq - 1;
		p->next_seq = seq;
	}
	if (bus_pub_add(p, m, send_ns, NULL) == -1) {
		if (p->err.kind == BUS_E_INVALID ||
		    p->err.kind == BUS_E_TOOBIG) {
			p->next_seq = onext;
			p->acked = oacked;
		}
		return -1;
	}
	return 0;
}

/* Is k a block that may be sent, but for its records?  0, or -1. */
static int
pub_block_check(struct bus_pub *p, const struct bus_block *k)
{
	const char *why;

	if (k->delim < 0 || k->delim > 255)
		return errval_set(&p->err, BUS_E_INVALID, EX_DATAERR,
		    p->next_seq, "message %llu: delimiter %d is not a byte",
		    (unsigned long long)p->next_seq, k->delim);
	if (topic_check(k->topic, k->topic_len, &why) == -1)
		return errval_set(&p->err, BUS_E_INVALID, EX_DATAERR,
		    p->next_seq, "message %llu: invalid topic '%.*s': %s",
		    (unsigned long long)p->next_seq, (int)k->topic_len,
		    k->topic, why);
	if (k->tags_len > UINT32_MAX || tags_check(k->tags, k->tags_len))
		return errval_set(&p->err, BUS_E_INVALID, EX_DATAERR,
		    p->next_seq, "message %llu: malformed tags",
		    (unsigned long long)p->next_seq);
	if (p->sock == -1)
		return errval_set(&p->err, BUS_E_UNAVAILABLE, EX_UNAVAILABLE,
		    p->next_seq, "not connected to busd");
	return 0;
}

int
bus_pub_block_reserve(struct bus_pub *p, const struct bus_block *k,
    size_t max, uint8_t **buf)
{
	size_t hdr;
	uint8_t *o;

	if (p->rsv_at != SIZE_MAX)
		return errval_set(&p->err, BUS_E_INVALID, EX_SOFTWARE,
		    p->next_seq, "a block is reserved already");
	if (pub_block_check(p, k) == -1)
		return -1;
	hdr = PROTO_FRAME_HDR + PROTO_BLOCK_FIXED + k->topic_len +
	    k->tags_len;
	if (max == 0 || max > p->max_frame || hdr > p->max_frame - max)
		return errval_set(&p->err, BUS_E_TOOBIG, EX_DATAERR,
		    p->next_seq, "message %llu: a block of %zu bytes exceeds "
		    "busd's frame limit of %zu bytes",
		    (unsigned long long)p->next_seq, max, p->max_frame);
	pub_frame_close(p);
	if (pub_window_wait(p) == -1 || pub_reserve(p, hdr + max, &o) == -1)
		return -1;
	p->rsv_at = o - p->obuf;
	p->rsv_hdr = hdr;
	p->rsv_max = max;
	p->rsv = *k;
	*buf = o + hdr;
	return 0;
}

int
bus_pub_block_commit(struct bus_pub *p, size_t len, uint32_t count,
    int64_t send_ns)
{
	struct proto_block f;
	uint8_t *o;

	if (p->rsv_at == SIZE_MAX)
		return errval_set(&p->err, BUS_E_INVALID, EX_SOFTWARE,
		    p->next_seq, "no block is reserved");
	o = p->obuf + p->rsv_at;
	/* The window ends where the records end (nothing, for len 0). */
	p->olen = len == 0 ? p->rsv_at : p->rsv_at + p->rsv_hdr + len;
	p->rsv_at = SIZE_MAX;
	if (len == 0)
		return 0;
	if (len > p->rsv_max) {
		p->olen = o - p->obuf;
		return errval_set(&p->err, BUS_E_INVALID, EX_DATAERR,
		    p->next_seq, "message %llu: a block of %zu bytes in room "
		    "for %zu", (unsigned long long)p->next_seq, len,
		    p->rsv_max);
	}
	if (count == 0 || count > len ||
	    o[p->rsv_hdr + len - 1] != p->rsv.delim) {
		p->olen = o - p->obuf;
		return errval_set(&p->err, BUS_E_INVALID, EX_DATAERR,
		    p->next_seq, "message %llu: a block of %u records of %zu "
		    "bytes that does not end with its delimiter",
		    (unsigned long long)p->next_seq, count, len);
	}
	memset(&f, 0, sizeof(f));
	f.first_seq = p->next_seq;
	f.send_ns = send_ns ? send_ns : now_ns();
	f.event_ns = p->rsv.event_ns;
	f.delim = p->rsv.delim;
	f.topic = p->rsv.topic;
	f.topic_len = p->rsv.topic_len;
	f.tags = p->rsv.tags;
	f.tags_len = p->rsv.tags_len;
	proto_block_begin(o, &f);
	proto_block_finish(o, p->rsv_hdr + len, count);
	p->next_seq += count;
	return 0;
}

int
bus_pub_add_block(struct bus_pub *p, const struct bus_block *k,
    int64_t send_ns)
{
	uint8_t *buf;

	if (k->len == 0 || k->count == 0 || k->count > k->len ||
	    k->delim < 0 || k->delim > 255 ||
	    ((const uint8_t *)k->data)[k->len - 1] != k->delim)
		return errval_set(&p->err, BUS_E_INVALID, EX_DATAERR,
		    p->next_seq, "message %llu: a block of %u records of %zu "
		    "bytes that does not end with its delimiter",
		    (unsigned long long)p->next_seq, k->count, k->len);
	if (bus_pub_block_reserve(p, k, k->len, &buf) == -1)
		return -1;
	memcpy(buf, k->data, k->len);
	return bus_pub_block_commit(p, k->len, k->count, send_ns);
}

int
bus_pub_flush(struct bus_pub *p)
{
	pub_frame_close(p);
	return pub_send(p);
}

int
bus_pub_wait(struct bus_pub *p, int timeout)
{
	struct pollfd pfd;
	int64_t deadline = timeout < 0 ? 0 :
	    now_ns() + (int64_t)timeout * 1000000;
	int ms;

	pub_frame_close(p);
	for (;;) {
		if (p->shut && p->sock == -1)
			return 1;
		if (p->sock == -1)
			return errval_set(&p->err, BUS_E_UNAVAILABLE,
			    EX_UNAVAILABLE, 0, "not connected to busd");
		if (p->sent == p->olen && p->next_seq - 1 == p->acked)
			return 1;
		if (p->sent == p->olen && p->ack == BUS_ACK_NONE && !p->shut) {
			/* busd closes once it has written what we sent. */
			shutdown(p->sock, SHUT_WR);
			p->shut = 1;
		}
		ms = -1;
		if (timeout >= 0) {
			int64_t left = deadline - now_ns();

			if (left <= 0)
				return 0;
			ms = (int)(left / 1000000) + 1;
		}
		pfd.fd = p->sock;
		pfd.events = bus_pub_events(p);
		if (poll(&pfd, 1, ms) == -1) {
			if (errno == EINTR)
				continue;
			return errval_set(&p->err, BUS_E_SYSTEM, EX_OSERR, 0,
			    "poll: %s", strerror(errno));
		}
		if (pfd.revents && bus_pub_process(p, pfd.revents) == -1)
			return -1;
	}
}

int
bus_pub_fd(const struct bus_pub *p)
{
	return p->sock;
}

short
bus_pub_events(const struct bus_pub *p)
{
	size_t ready = p->frame_at != SIZE_MAX ? p->frame_at :
	    p->rsv_at != SIZE_MAX ? p->rsv_at : p->olen;

	return POLLIN | (p->sent < ready ? POLLOUT : 0);
}

int
bus_pub_process(struct bus_pub *p, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		if (pub_read(p) == -1)
			return -1;
	}
	if (revents & POLLOUT)
		return pub_send(p);
	return 0;
}

int
bus_pub_window_full(const struct bus_pub *p)
{
	return p->olen - p->head >= p->window;
}

uint64_t
bus_pub_acked(const struct bus_pub *p)
{
	return p->acked;
}

uint64_t
bus_pub_next_seq(const struct bus_pub *p)
{
	return p->next_seq;
}

uint64_t
bus_pub_producer(const struct bus_pub *p)
{
	return p->producer;
}

size_t
bus_pub_max_message(const struct bus_pub *p)
{
	return p->max_message;
}

const struct bus_error *
bus_pub_error(const struct bus_pub *p)
{
	return &p->err;
}

void
bus_pub_free(struct bus_pub *p)
{
	if (p == NULL)
		return;
	if (p->sock != -1)
		close(p->sock);
	free(p->obuf);
	free(p->ibuf);
	free(p->dir);
	free(p);
}

/* ------------------------------------------------------------ internals */

/* Connect; start busd when none listens and start is set. */
static int
pub_dial(struct bus_pub *p, int start)
{
	int tries;

	if ((p->sock = proto_connect(p->dir)) != -1)
		return 0;
	if (errno != ENOENT && errno != ECONNREFUSED)
		return errval_set(&p->err, BUS_E_UNAVAILABLE, EX_UNAVAILABLE, 0,
		    "cannot connect to busd at %s/%s: %s", p->dir, BUS_SOCK,
		    strerror(errno));
	if (!start)
		return errval_set(&p->err, BUS_E_UNAVAILABLE, EX_UNAVAILABLE, 0,
		    "no busd is listening on %s/%s", p->dir, BUS_SOCK);
	if (pub_start_busd(p) == -1)
		return -1;
	/* A busd racing ours may hold the store but not yet listen. */
	for (tries = 0; tries < 200; tries++) {
		if ((p->sock = proto_connect(p->dir)) != -1)
			return 0;
		usleep(25000);
	}
	return errval_set(&p->err, BUS_E_UNAVAILABLE, EX_UNAVAILABLE, 0,
	    "busd started but %s/%s does not accept: %s", p->dir, BUS_SOCK,
	    strerror(errno));
}

/*
 * Run busd -b: it returns once it accepts connections.  The busd beside
 * the running program is preferred (a build tree, or bin/ next to sbin/),
 * then the one in PATH.
 */
static int
pub_start_busd(struct bus_pub *p)
{
	char self[PATH_MAX], cand[PATH_MAX + 32], *d;
	const char *paths[] = { "%s/busd", "%s/../busd/busd", "%s/../sbin/busd" };
	const char *busd = "busd";
	ssize_t n;
	size_t i;
	pid_t pid;
	int status;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		d = dirname(self);
		for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			snprintf(cand, sizeof(cand), paths[i], d);
			if (access(cand, X_OK) == 0) {
				busd = cand;
				break;
			}
		}
	}
	if ((pid = fork()) == -1)
		return errval_set(&p->err, BUS_E_SYSTEM, EX_OSERR, 0,
		    "fork: %s", strerror(errno));
	if (pid == 0) {
		execlp(busd, "busd", "-b", "-d", p->dir, (char *)NULL);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", busd,
		    strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return errval_set(&p->err, BUS_E_SYSTEM, EX_OSERR, 0,
			    "waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		pub_say_started(p);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
		return 0;	/* another one holds the store */
	return errval_set(&p->err, BUS_E_UNAVAILABLE, EX_UNAVAILABLE, 0,
	    "could not start busd for %s (%s %d)", p->dir,
	    WIFEXITED(status) ? "exit status" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* Autostart is not silent: which busd, on which store, logging where. */
static void
pub_say_started(struct bus_pub *p)
{
	char where[PATH_MAX + 16];
	pid_t pid = 0;

	(void)store_busd_alive(p->dir, &pid);
	if (logdest_name(where, sizeof(where), p->dir) == -1)
		snprintf(where, sizeof(where), "%s", BUS_LOGFILE);
	errval_say(p->log, p->log_arg, "started busd (pid %ld) for store %s; "
	    "its log goes to %s", (long)pid, p->dir, where);
}

/*
 * HELLO and its reply.  -1 with errno if the connection failed (worth
 * trying again), -2 if busd refused us (the error says why).
 */
static int
pub_hello(struct bus_pub *p)
{
	struct proto_hello h = { PROTO_VERSION, p->ack, p->producer };
	struct proto_hello_ok ok;
	struct proto_error e;
	uint8_t f[PROTO_HELLO_SIZE], *buf = NULL;
	const uint8_t *body;
	size_t cap = 0, blen;
	uint8_t type;

	proto_hello_encode(f, &h);
	/*
	 * A refusing busd (too many clients) may close before reading our
	 * HELLO: its ERROR still waits to be read, so read even then.
	 */
	(void)proto_send_all(p->sock, f, sizeof(f));
	if (proto_recv_frame(p->sock, &buf, &cap, &type, &body, &blen) == -1) {
		free(buf);
		return -1;
	}
	if (type == PT_ERROR && proto_error_decode(body, blen, &e) == 0) {
		errval_set(&p->err, BUS_E_REFUSED, e.code == PE_BUSY ?
		    EX_TEMPFAIL : EX_PROTOCOL, 0, "%.*s", (int)e.text_len,
		    e.text);
		p->err.code = e.code;
		free(buf);
		return -2;
	}
	if (type != PT_HELLO_OK || proto_hello_ok_decode(body, blen,
	    &ok) == -1) {
		free(buf);
		errval_set(&p->err, BUS_E_PROTOCOL, EX_PROTOCOL, 0,
		    "busd sent an unexpected reply to HELLO");
		return -2;
	}
	p->max_message = ok.max_message;
	p->max_frame = ok.max_frame;
	free(buf);
	return 0;
}

/*
 * busd went away.  Connect again (for up to the retry time), say HELLO
 * with the same producer id, and send every unacknowledged frame again;
 * busd drops what it had already stored.
 */
static int
pub_reconnect(struct bus_pub *p, const char *why)
{
	int64_t deadline = now_ns() + p->retry;
	uint64_t pending = p->next_seq - 1 - p->acked;
	int r;

	if (p->sock != -1)
		close(p->sock);
	p->sock = -1;
	if (p->ack == BUS_ACK_NONE) {
		/* Nothing is kept to resend: say what may be gone. */
		errval_say(p->log, p->log_arg,
		    "lost busd (%s); with --ack none, messages sent "
		    "just before may be lost", why);
		if (p->shut)
			return errval_set(&p->err, BUS_E_UNAVAILABLE,
			    EX_UNAVAILABLE, 0, "lost busd (%s)", why);
	}
	if (p->retry == 0)
		return errval_set(&p->err, BUS_E_UNAVAILABLE, EX_UNAVAILABLE, 0,
		    "lost busd (%s) with %llu message(s) unacknowledged", why,
		    (unsigned long long)pending);
	if (p->ack != BUS_ACK_NONE)
		errval_say(p->log, p->log_arg,
		    "lost busd (%s); reconnecting for up to %llds to "
		    "resend %llu unacknowledged message(s)", why, (long
		    long)(p->retry / 1000000000), (unsigned long long)pending);
	for (;;) {
		if ((p->sock = proto_connect(p->dir)) == -1 && p->autostart &&
		    (errno == ENOENT || errno == ECONNREFUSED))
			pub_dial(p, 1);
		if (p->sock != -1) {
			pub_tune(p);
			if ((r = pub_hello(p)) == 0)
				break;
			close(p->sock);
			p->sock = -1;
			if (r == -2)
				return -1;
		}
		if (now_ns() >= deadline)
			return errval_set(&p->err, BUS_E_UNAVAILABLE,
			    EX_UNAVAILABLE, 0,
			    "busd did not come back within %llds; %llu "
			    "message(s) unacknowledged", (long long)(p->retry /
			    1000000000), (unsigned long long)pending);
		usleep(50000);
	}
	errval_say(p->log, p->log_arg, "reconnected to busd; resending");
	p->sent = p->head;
	p->ilen = 0;
	return 0;
}

/*
 * A deep send buffer lets busd work on one batch while we prepare the
 * next, instead of the two taking turns on a 200 KiB default.
 */
static void
pub_tune(struct bus_pub *p)
{
	int sz = PUB_SNDBUF;

	if (setsockopt(p->sock, SOL_SOCKET, SO_SNDBUFFORCE, &sz,
	    sizeof(sz)) == -1)
		(void)setsockopt(p->sock, SOL_SOCKET, SO_SNDBUF, &sz,
		    sizeof(sz));
}

/* Wait once for busd (acks) or for room to send, and act on it. */
static int
pub_poll_once(struct bus_pub *p)
{
	struct pollfd pfd;

	pfd.fd = p->sock;
	pfd.events = bus_pub_events(p);
	pfd.revents = 0;
	if (poll(&pfd, 1, -1) == -1) {
		if (errno == EINTR)
			return 0;
		return errval_set(&p->err, BUS_E_SYSTEM, EX_OSERR, 0,
		    "poll: %s", strerror(errno));
	}
	return bus_pub_process(p, pfd.revents);
}

/* Wait for acks while the window is full, sending meanwhile. */
static int
pub_window_wait(struct bus_pub *p)
{
	while (bus_pub_window_full(p))
		if (pub_poll_once(p) == -1)
			return -1;
	return 0;
}

/*
 * Wait for acks until at most lim bytes sent are unacknowledged (or none
 * can come: nothing sent), sending meanwhile.
 */
static int
pub_acks_wait(struct bus_pub *p, size_t lim)
{
	while (p->sock != -1 && p->sent > p->head && p->sent - p->head > lim)
		if (pub_poll_once(p) == -1)
			return -1;
	return 0;
}

/* n more bytes at the end of the window, at *o. */
static int
pub_reserve(struct bus_pub *p, size_t n, uint8_t **o)
{
	uint8_t *nb;
	size_t nc;
	int move = 0;

	/*
	 * Making room moves what is not acknowledged yet to the front.
	 * While the buffer is small, compact when that frees half, or when
	 * what is left to move is short: memory touched for the first time
	 * costs more than a short move.  Once it holds PUB_SPAN windows,
	 * it grows no more: first wait until little of what was sent is
	 * unacknowledged (busd still has that much to work on), then move
	 * that little.  Moving whatever was in flight cost a third as much
	 * as the socket copy, for 4 KiB lines.
	 */
	if (p->olen + n > p->ocap && p->head > 0) {
		if (p->ocap >= PUB_SPAN * p->window + n) {
			if (pub_acks_wait(p, p->ocap / 16) == -1)
				return -1;
			move = 1;
		} else
			move = p->head >= p->ocap / 2 ||
			    p->olen - p->head <= p->ocap / 8;
	}
	/* The wait may have emptied the window (then head is 0). */
	if (move && p->olen + n > p->ocap && p->head > 0) {
		memmove(p->obuf, p->obuf + p->head, p->olen - p->head);
		p->olen -= p->head;
		p->sent -= p->head;
		if (p->frame_at != SIZE_MAX)
			p->frame_at -= p->head;
		p->head = 0;
	}
	if (p->olen + n > p->ocap) {
		nc = p->ocap ? p->ocap : 1 << 20;
		while (p->olen + n > nc)
			nc *= 2;
		/*
		 * Aligned on and a multiple of huge pages from 2 MiB on, so
		 * that the kernel may back it with them: a window touched
		 * for the first time costs a fault per 2 MiB, not per 4 KiB.
		 */
		if (nc >= PUB_HUGE) {
			if (posix_memalign((void **)&nb, PUB_HUGE, nc) != 0)
				return errval_set(&p->err, BUS_E_SYSTEM,
				    EX_OSERR, 0, "out of memory");
			madvise(nb, nc, MADV_HUGEPAGE);
			if (p->olen > 0)
				memcpy(nb, p->obuf, p->olen);
			free(p->obuf);
		} else if ((nb = realloc(p->obuf, nc)) == NULL)
			return errval_set(&p->err, BUS_E_SYSTEM, EX_OSERR, 0,
			    "out of memory");
		p->obuf = nb;
		p->ocap = nc;
	}
	*o = p->obuf + p->olen;
	p->olen += n;
	return 0;
}

static void
pub_frame_close(struct bus_pub *p)
{
	if (p->frame_at == SIZE_MAX)
		return;
	proto_publish_finish(p->obuf + p->frame_at, p->olen - p->frame_at,
	    p->frame_count);
	p->frame_at = SIZE_MAX;
}

/* Send what is ready without blocking; reconnect if busd is gone. */
static int
pub_send(struct bus_pub *p)
{
	size_t ready = p->frame_at != SIZE_MAX ? p->frame_at :
	    p->rsv_at != SIZE_MAX ? p->rsv_at : p->olen;
	ssize_t n;

	if (p->sent >= ready || p->sock == -1)
		return 0;
	n = send(p->sock, p->obuf + p->sent, ready - p->sent,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0) {
		p->sent += n;
		if (p->ack == BUS_ACK_NONE) {
			/* Nothing will be acknowledged: nothing to keep. */
			p->head = p->sent;
			if (p->head == p->olen && p->frame_at == SIZE_MAX)
				p->head = p->sent = p->olen = 0;
		}
	} else if (n == -1 && errno != EAGAIN && errno != EINTR)
		return pub_reconnect(p, strerror(errno));
	return 0;
}

/* Read what busd sent and act on it; reconnect if it went away. */
static int
pub_read(struct bus_pub *p)
{
	uint8_t *nb;
	ssize_t n;

	if (p->ilen == p->icap) {
		if ((nb = realloc(p->ibuf, p->icap * 2)) == NULL)
			return errval_set(&p->err, BUS_E_SYSTEM, EX_OSERR, 0,
			    "out of memory");
		p->ibuf = nb;
		p->icap *= 2;
	}
	n = read(p->sock, p->ibuf + p->ilen, p->icap - p->ilen);
	if (n == 0 && p->shut) {
		/* --ack none: busd wrote what we sent and closed. */
		close(p->sock);
		p->sock = -1;
		return 0;
	}
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		return pub_reconnect(p, n == 0 ? "connection closed" :
		    strerror(errno));
	if (n > 0) {
		p->ilen += n;
		return pub_replies(p);
	}
	return 0;
}

/* ACK: the oldest unacknowledged frame is done; drop it from obuf. */
static int
pub_replies(struct bus_pub *p)
{
	const uint8_t *body;
	size_t blen, used = 0, flen;
	struct proto_ack ack;
	struct proto_ack_run run;
	struct proto_error e;
	ssize_t fl;
	uint8_t type;

	while ((fl = proto_frame(p->ibuf + used, p->ilen - used, 1 << 30,
	    &type, &body, &blen)) > 0) {
		used += fl;
		switch (type) {
		case PT_ACK:
			if (proto_ack_decode(body, blen, &ack) == -1)
				return errval_set(&p->err, BUS_E_PROTOCOL,
				    EX_PROTOCOL, 0, "malformed ACK from busd");
			/* By number: a frame may follow skipped numbers. */
			if (ack.count > 0)
				p->acked = ack.first_seq + ack.count - 1;
			goto acked;
		case PT_ACK_RUN:
			if (proto_ack_run_decode(body, blen, &run) == -1)
				return errval_set(&p->err, BUS_E_PROTOCOL,
				    EX_PROTOCOL, 0, "malformed ACK_RUN from busd");
			if (run.count > 0)
				p->acked = run.first_seq + run.count - 1;
acked:
			/* The acked frame is the oldest one sent. */
			if (p->sent - p->head < 4 ||
			    (flen = proto_frame_size(p->obuf + p->head)) >
			    p->sent - p->head)
				return errval_set(&p->err, BUS_E_PROTOCOL,
				    EX_PROTOCOL, 0, "ACK for a frame not sent");
			p->head += flen;
			if (p->head == p->olen && p->frame_at == SIZE_MAX)
				p->head = p->sent = p->olen = 0;
			break;
		case PT_ERROR:
			if (proto_error_decode(body, blen, &e) == -1)
				return errval_set(&p->err, BUS_E_PROTOCOL,
				    EX_PROTOCOL, 0,
				    "malformed ERROR from busd");
			errval_set(&p->err, BUS_E_REFUSED,
			    pub_err_status(e.code), e.seq, "%.*s",
			    (int)e.text_len, e.text);
			p->err.code = e.code;
			return -1;
		default:
			return errval_set(&p->err, BUS_E_PROTOCOL, EX_PROTOCOL,
			    0, "unexpected frame type %u from busd", type);
		}
	}
	if (fl < 0)
		return errval_set(&p->err, BUS_E_PROTOCOL, EX_PROTOCOL, 0,
		    "malformed frame from busd");
	memmove(p->ibuf, p->ibuf + used, p->ilen - used);
	p->ilen -= used;
	return 0;
}

/* The sysexits(3) status for an error code of busd. */
static int
pub_err_status(uint32_t code)
{
	switch (code) {
	case PE_TOPIC:
	case PE_TOOBIG:
	case PE_ROUTE:
		return EX_DATAERR;
	case PE_NOSPC:
	case PE_BUSY:
		return EX_TEMPFAIL;
	case PE_IO:
		return EX_IOERR;
	case PE_DENIED:
		return EX_NOPERM;
	}
	return EX_PROTOCOL;
}

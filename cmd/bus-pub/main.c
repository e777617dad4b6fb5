/*
 * bus-pub: publish lines of standard input (or arguments) to a topic.
 *
 * stdin is read in large blocks; every block read becomes one PUBLISH
 * frame sent at once, so a line from `tail -F` leaves as soon as it
 * arrives while a fast pipe still travels in large batches.  Frames stay
 * in the output buffer until busd acknowledges them (the window): that
 * bounds memory, and it is what we resend, under the same producer id
 * and sequence numbers, when busd goes away and comes back.  busd drops
 * what it already has, so the pipe is stored exactly once.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "proto.h"

#define READ_BLOCK	(256 * 1024)	/* one read(2) of stdin */
#define FRAME_TARGET	(256 * 1024)	/* start a new frame past this */
#define WINDOW_BYTES	(32 * 1024 * 1024) /* unacknowledged bytes */

static __dead void usage(void);
static int	connect_busd(int);
static int	start_busd(void);
static int	hello(void);
static void	reconnect(const char *);
static void	sock_tune(void);
static void	publish(const uint8_t *, size_t);
static void	queue_msg(const char *, size_t, const char *, size_t, int64_t,
		    const uint8_t *, size_t);
static void	frame_close(void);
static void	pump(int);
static void	handle_frames(void);
static __dead void oversize(uint64_t, size_t);
static __dead void line_error(uint64_t, const char *, const char *);

static const char *dir;
static const char *topic;		/* -t; with --topic-regex a fallback */
static size_t	 topic_len;
static const char *key;
static size_t	 key_len;
static uint8_t	 tags[BUS_MESSAGE_MAX_DEFAULT];
static size_t	 tags_len;
static int64_t	 event_ns;		/* -E, 0: send time */
static int	 ack_level = ACK_WRITTEN;
static int	 autostart = 1;
static int	 delim = '\n';
static int	 tombstone;
static int64_t	 retry_for = 60LL * 1000000000LL;
static struct capre *key_re, *topic_re, *time_re;
static const char *time_fmt = "rfc3339";
static uint64_t	 time_unparsed;		/* lines whose event time failed */

static int	 sock = -1;
static uint64_t	 producer;
static size_t	 max_message = BUS_MESSAGE_MAX_DEFAULT;
static size_t	 max_frame = PROTO_FRAME_MIN_MAX;
static uint64_t	 next_seq = 1;		/* sequence of the next message */
static uint64_t	 acked;			/* messages acknowledged */
static int64_t	 send_ns;		/* stamp for the current block */
static int	 shut;			/* --ack none: write side closed */

/*
 * Output: [head, sent) sent and unacknowledged, [sent, olen) not yet
 * sent.  Acknowledged frames are dropped by moving head; the buffer is
 * compacted when it must grow.
 */
static uint8_t	*obuf;
static size_t	 olen, ocap, sent, head;
static size_t	 frame_at = SIZE_MAX;	/* open PUBLISH frame, or none */
static uint32_t	 frame_count;

static uint8_t	*ibuf;			/* replies from busd */
static size_t	 ilen, icap;

enum { OPT_SYNC = 256, OPT_NOAUTO, OPT_ACK, OPT_RETRY, OPT_TOMB, OPT_KEYRE,
    OPT_TOPICRE, OPT_TIMERE, OPT_TIMEFMT };

static const struct option longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "sync",		no_argument,		NULL, OPT_SYNC },
	{ "ack",		required_argument,	NULL, OPT_ACK },
	{ "no-autostart",	no_argument,		NULL, OPT_NOAUTO },
	{ "retry-for",		required_argument,	NULL, OPT_RETRY },
	{ "tombstone",		no_argument,		NULL, OPT_TOMB },
	{ "key-regex",		required_argument,	NULL, OPT_KEYRE },
	{ "topic-regex",	required_argument,	NULL, OPT_TOPICRE },
	{ "event-time",		required_argument,	NULL, OPT_TIMERE },
	{ "event-format",	required_argument,	NULL, OPT_TIMEFMT },
	{ NULL,			0,			NULL, 0 }
};

static __dead void
usage(void)
{
	fprintf(stderr,
	    "usage: bus-pub [-0] [-d dir] -t topic [-k key] [-T name=value] ...\n"
	    "               [-E time] [--sync | --ack none|written|synced]\n"
	    "               [--retry-for duration] [--no-autostart]\n"
	    "               [--key-regex regex] [--topic-regex regex]\n"
	    "               [--event-time regex [--event-format format]]\n"
	    "               [--tombstone] [message ...]\n");
	exit(EX_USAGE);
}

static struct capre *
regex_opt(const char *flag, const char *re)
{
	struct capre *c;
	char emsg[400];

	if ((c = capre_new(re, emsg, sizeof(emsg))) == NULL)
		errx(EX_USAGE, "%s: %s", flag, emsg);
	return c;
}

int
main(int argc, char *argv[])
{
	const char *why;
	int ch, i;

	while ((ch = getopt_long(argc, argv, "0d:E:hk:t:T:V", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case '0':
			delim = '\0';
			break;
		case 'd':
			dir = optarg;
			break;
		case 'E':
			if (parse_time(optarg, now_ns(), &event_ns) == -1)
				errx(EX_USAGE, "-E: '%s' is not a time "
				    "(@RFC3339, @UNIX or -DURATION)", optarg);
			break;
		case 'k':
			key = optarg;
			key_len = strlen(optarg);
			if (key_len == 0 || key_len > BUS_KEY_MAX)
				errx(EX_DATAERR, "-k: a key is 1 to %d bytes",
				    BUS_KEY_MAX);
			break;
		case 't':
			topic = optarg;
			topic_len = strlen(optarg);
			if (topic_check(topic, topic_len, &why) == -1)
				errx(EX_DATAERR, "invalid topic '%s': %s",
				    topic, why);
			break;
		case 'T':
			if (tags_add(tags, sizeof(tags), &tags_len, optarg,
			    &why) == -1)
				errx(EX_DATAERR, "-T '%s': %s", optarg, why);
			break;
		case 'V':
			printf("bus-pub %s\n", BUS_VERSION);
			exit(0);
		case OPT_SYNC:
			ack_level = ACK_SYNCED;
			break;
		case OPT_ACK:
			if (strcmp(optarg, "none") == 0)
				ack_level = ACK_NONE;
			else if (strcmp(optarg, "written") == 0)
				ack_level = ACK_WRITTEN;
			else if (strcmp(optarg, "synced") == 0)
				ack_level = ACK_SYNCED;
			else
				errx(EX_USAGE, "--ack: '%s' is not none, "
				    "written or synced", optarg);
			break;
		case OPT_NOAUTO:
			autostart = 0;
			break;
		case OPT_RETRY:
			if (parse_duration(optarg, &retry_for) == -1)
				errx(EX_USAGE, "--retry-for: '%s' is not a "
				    "duration", optarg);
			break;
		case OPT_TOMB:
			tombstone = 1;
			break;
		case OPT_KEYRE:
			key_re = regex_opt("--key-regex", optarg);
			break;
		case OPT_TOPICRE:
			topic_re = regex_opt("--topic-regex", optarg);
			break;
		case OPT_TIMERE:
			time_re = regex_opt("--event-time", optarg);
			break;
		case OPT_TIMEFMT:
			time_fmt = optarg;
			break;
		case 'h':
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (topic == NULL && topic_re == NULL) {
		warnx("-t topic (or --topic-regex) is required");
		usage();
	}
	if (tombstone && (key == NULL || argc > 0 || key_re || topic_re))
		errx(EX_USAGE, "--tombstone takes -t and -k, and no message: "
		    "it publishes one empty record that deletes the key");
	if (event_ns && time_re)
		errx(EX_USAGE, "-E and --event-time exclude each other");
	dir = store_dir(dir);
	signal(SIGPIPE, SIG_IGN);
	if ((ibuf = malloc(icap = 64 * 1024)) == NULL)
		err(EX_OSERR, NULL);
	do
		arc4random_buf(&producer, sizeof(producer));
	while (producer == 0);

	if (connect_busd(autostart) == -1)
		exit(EX_UNAVAILABLE);
	sock_tune();
	if (hello() == -1)
		reconnect(strerror(errno));

	if (tombstone) {
		send_ns = now_ns();
		queue_msg(topic, topic_len, key, key_len, 0, NULL, 0);
		frame_close();
		pump(1);
	} else if (argc > 0) {
		send_ns = now_ns();
		for (i = 0; i < argc; i++)
			publish((const uint8_t *)argv[i], strlen(argv[i]));
		frame_close();
		pump(1);
	} else
		pump(0);
	if (time_unparsed)
		warnx("%llu line(s) had no event time that --event-time/"
		    "--event-format could parse; their send time was used",
		    (unsigned long long)time_unparsed);
	return 0;
}

/* Connect; start busd when none listens and start is set.  -1: said why. */
static int
connect_busd(int start)
{
	int tries;

	if ((sock = proto_connect(dir)) != -1)
		return 0;
	if (errno != ENOENT && errno != ECONNREFUSED) {
		warn("cannot connect to busd at %s/%s", dir, BUS_SOCK);
		return -1;
	}
	if (!start) {
		warnx("no busd is listening on %s/%s", dir, BUS_SOCK);
		return -1;
	}
	if (start_busd() == -1)
		return -1;
	/* A busd racing ours may hold the store but not yet listen. */
	for (tries = 0; tries < 200; tries++) {
		if ((sock = proto_connect(dir)) != -1)
			return 0;
		usleep(25000);
	}
	warn("busd started but %s/%s does not accept", dir, BUS_SOCK);
	return -1;
}

/* Run busd -b: it returns once it accepts connections. */
static int
start_busd(void)
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
	if ((pid = fork()) == -1) {
		warn("fork");
		return -1;
	}
	if (pid == 0) {
		execlp(busd, "busd", "-b", "-d", dir, (char *)NULL);
		warn("cannot run %s", busd);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1) {
		warn("waitpid");
		return -1;
	}
	if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 ||
	    WEXITSTATUS(status) == EX_TEMPFAIL))
		return 0;	/* started, or another one holds the store */
	warnx("could not start busd for %s (%s %d)", dir,
	    WIFEXITED(status) ? "exit status" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -1;
}

/* HELLO and its reply; -1 with errno if the connection failed. */
static int
hello(void)
{
	uint8_t f[PROTO_HELLO_SIZE], *buf = NULL;
	const uint8_t *body;
	size_t cap = 0, blen;
	uint8_t type;

	proto_hello(f, ack_level, producer);
	/*
	 * A refusing busd (too many clients) may close before reading our
	 * HELLO: its ERROR still waits to be read, so read even then.
	 */
	(void)proto_send_all(sock, f, sizeof(f));
	if (proto_recv_frame(sock, &buf, &cap, &type, &body, &blen) == -1) {
		free(buf);
		return -1;
	}
	if (type == PT_ERROR && blen >= 16) {
		uint32_t code = le32_get(body + 8);
		errx(code == PE_BUSY ? EX_TEMPFAIL : EX_PROTOCOL, "busd: %.*s",
		    (int)le32_get(body + 12), body + 16);
	}
	if (type != PT_HELLO_OK || blen < 32)
		errx(EX_PROTOCOL, "busd sent an unexpected reply to HELLO");
	max_message = le32_get(body + 4);
	max_frame = le32_get(body + 8);
	free(buf);
	return 0;
}

/*
 * busd went away.  Connect again (for up to --retry-for), say HELLO with
 * the same producer id, and send every unacknowledged frame again; busd
 * drops what it had already stored.
 */
static void
reconnect(const char *why)
{
	int64_t deadline = now_ns() + retry_for;
	uint64_t pending = next_seq - 1 - acked;

	close(sock);
	sock = -1;
	if (ack_level == ACK_NONE) {
		/* Nothing is kept to resend: say what may be gone. */
		warnx("lost busd (%s); with --ack none, messages sent just "
		    "before may be lost", why);
		if (shut)
			exit(EX_UNAVAILABLE);
	}
	if (retry_for == 0)
		errx(EX_UNAVAILABLE, "lost busd (%s) with %llu message(s) "
		    "unacknowledged", why, (unsigned long long)pending);
	if (ack_level != ACK_NONE)
		warnx("lost busd (%s); reconnecting for up to %llds to resend "
		    "%llu unacknowledged message(s)", why,
		    (long long)(retry_for / 1000000000),
		    (unsigned long long)pending);
	for (;;) {
		if ((sock = proto_connect(dir)) == -1 && autostart &&
		    (errno == ENOENT || errno == ECONNREFUSED))
			connect_busd(1);
		if (sock != -1) {
			sock_tune();
			if (hello() == 0)
				break;
			close(sock);
			sock = -1;
		}
		if (now_ns() >= deadline)
			errx(EX_UNAVAILABLE, "busd did not come back within "
			    "%llds; %llu message(s) unacknowledged",
			    (long long)(retry_for / 1000000000),
			    (unsigned long long)pending);
		usleep(50000);
	}
	warnx("reconnected to busd; resending");
	sent = head;
	ilen = 0;
}

static uint8_t *
out_reserve(size_t n)
{
	uint8_t *nb;
	size_t nc;

	/* Compact only when that frees half: amortized, not per ack. */
	if (olen + n > ocap && head > 0 && head >= ocap / 2) {
		memmove(obuf, obuf + head, olen - head);
		olen -= head;
		sent -= head;
		if (frame_at != SIZE_MAX)
			frame_at -= head;
		head = 0;
	}
	if (olen + n > ocap) {
		nc = ocap ? ocap : 1 << 20;
		while (olen + n > nc)
			nc *= 2;
		if ((nb = realloc(obuf, nc)) == NULL)
			err(EX_OSERR, NULL);
		obuf = nb;
		ocap = nc;
	}
	olen += n;
	return obuf + olen - n;
}

/* Add one message to the open PUBLISH frame (opening one if needed). */
static void
queue_msg(const char *t, size_t tl, const char *k, size_t kl, int64_t ev,
    const uint8_t *payload, size_t len)
{
	struct bus_rec m;
	size_t sz = proto_msg_size(tl, kl, tags_len, len);

	if (tl + kl + tags_len + len > max_message)
		oversize(next_seq, tl + kl + tags_len + len);
	if (frame_at != SIZE_MAX && (olen - frame_at + sz > FRAME_TARGET ||
	    olen - frame_at + sz > max_frame))
		frame_close();
	if (frame_at == SIZE_MAX) {
		frame_at = olen;
		out_reserve(PROTO_FRAME_HDR + 4);
		frame_count = 0;
	}
	memset(&m, 0, sizeof(m));
	m.seq = next_seq++;
	m.send_ns = send_ns;
	m.event_ns = ev ? ev : event_ns ? event_ns : send_ns;
	m.flags = tombstone ? BUS_F_TOMBSTONE : 0;
	m.topic = t;
	m.topic_len = tl;
	m.key = k;
	m.key_len = kl;
	m.tags = tags;
	m.tags_len = tags_len;
	m.payload = payload;
	m.payload_len = len;
	proto_msg_encode(out_reserve(sz), &m);
	frame_count++;
}

/* Event time from the first capture of --event-time; 0 if none. */
static int64_t
line_time(const char *s, size_t n)
{
	char buf[128], *end;
	struct tm tm;
	int64_t t;
	long long v;
	long off;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strcmp(time_fmt, "unix") == 0 || strcmp(time_fmt, "unix_ms") == 0) {
		char at[130];

		if (strcmp(time_fmt, "unix_ms") == 0) {
			errno = 0;
			v = strtoll(buf, &end, 10);
			if (errno || *end != '\0' || end == buf)
				return 0;
			return v * 1000000LL;
		}
		snprintf(at, sizeof(at), "@%s", buf);
		return parse_time(at, 0, &t) == 0 ? t : 0;
	}
	if (strcmp(time_fmt, "rfc3339") == 0) {
		char at[130];

		snprintf(at, sizeof(at), "@%s", buf);
		return parse_time(at, 0, &t) == 0 ? t : 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(buf, time_fmt, &tm)) == NULL || *end != '\0')
		return 0;
	/* %z sets tm_gmtoff (timegm clears it); without %z it is UTC. */
	off = tm.tm_gmtoff;
	return ((int64_t)timegm(&tm) - off) * 1000000000LL;
}

/* One input record: topic, key and event time per the flags, then queue. */
static void
publish(const uint8_t *p, size_t len)
{
	const char *t = topic, *k = key, *cap, *why;
	size_t tl = topic_len, kl = key_len, cl;
	int64_t ev = 0;

	if (topic_re != NULL) {
		if (capre_first(topic_re, p, len, &cap, &cl)) {
			if (topic_check(cap, cl, &why) == -1)
				line_error(next_seq, "topic from --topic-regex",
				    why);
			t = cap;
			tl = cl;
		} else if (topic == NULL)
			line_error(next_seq, "--topic-regex",
			    "no match and no -t topic to fall back on");
	}
	if (key_re != NULL && capre_first(key_re, p, len, &cap, &cl) &&
	    cl > 0) {
		if (cl > BUS_KEY_MAX)
			line_error(next_seq, "key from --key-regex",
			    "longer than 65535 bytes");
		k = cap;
		kl = cl;
	}
	if (time_re != NULL) {
		if (capre_first(time_re, p, len, &cap, &cl))
			ev = line_time(cap, cl);
		if (ev == 0)
			time_unparsed++;
	}
	queue_msg(t, tl, k, kl, ev, p, len);
}

static void
frame_close(void)
{
	if (frame_at == SIZE_MAX)
		return;
	proto_hdr(obuf + frame_at, PT_PUBLISH, olen - frame_at - PROTO_FRAME_HDR);
	le32_put(obuf + frame_at + PROTO_FRAME_HDR, frame_count);
	frame_at = SIZE_MAX;
}

/* What was published stays published; say which line was too large. */
static __dead void
oversize(uint64_t seq, size_t size)
{
	frame_close();
	pump(1);
	errx(EX_DATAERR, "line %llu: message of %zu bytes exceeds the limit "
	    "of %zu bytes; the %llu message(s) before it are published",
	    (unsigned long long)seq, size, max_message,
	    (unsigned long long)(seq - 1));
}

static __dead void
line_error(uint64_t seq, const char *what, const char *why)
{
	frame_close();
	pump(1);
	errx(EX_DATAERR, "line %llu: %s: %s; the %llu message(s) before it "
	    "are published", (unsigned long long)seq, what, why,
	    (unsigned long long)(seq - 1));
}

/* Publish every whole record in p[0..n); returns the bytes they take. */
static size_t
split_lines(const uint8_t *p, size_t n)
{
	const uint8_t *s = p, *end = p + n, *nl;

	while (s < end && (nl = memchr(s, delim, end - s)) != NULL) {
		publish(s, nl - s);
		s = nl + 1;
	}
	return s - p;
}

/*
 * A regular file on stdin is mapped, not read: records go from the page
 * cache into frames with no copy in between.  Returns 0 while there is
 * more to map, or 1 once the rest (a last record without its delimiter)
 * was handed to the read(2) path in in[0..*len), stdin positioned after
 * the mapping, so that a file still growing is read on.
 */
static const uint8_t *map;
static size_t	 maplen, mapcur;
static off_t	 mapbase;

static void
map_stdin(void)
{
	struct stat st;
	off_t off;
	long pg = sysconf(_SC_PAGESIZE);

	if (fstat(STDIN_FILENO, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (off = lseek(STDIN_FILENO, 0, SEEK_CUR)) == -1 ||
	    st.st_size - off < 4 * READ_BLOCK)
		return;
	mapbase = off - off % pg;
	maplen = st.st_size - mapbase;
	map = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, STDIN_FILENO, mapbase);
	if (map == MAP_FAILED) {
		map = NULL;
		return;
	}
	madvise((void *)map, maplen, MADV_SEQUENTIAL);
	mapcur = off - mapbase;
}

static int
map_take(uint8_t *in, size_t *len)
{
	size_t avail = maplen - mapcur, take, used;

	take = avail < READ_BLOCK ? avail : READ_BLOCK;
	send_ns = now_ns();
	used = split_lines(map + mapcur, take);
	if (used == 0 && take < avail) {
		/* A record longer than a block: look as far as it may go. */
		take = avail < max_message + 1 ? avail : max_message + 1;
		used = split_lines(map + mapcur, take);
		if (used == 0 && take > max_message) {
			const uint8_t *nl = memchr(map + mapcur, delim, avail);

			oversize(next_seq, topic_len + key_len + tags_len +
			    (nl ? (size_t)(nl - (map + mapcur)) : avail));
		}
	}
	mapcur += used;
	if (mapcur < maplen && (used > 0 || maplen - mapcur > max_message))
		return 0;
	/* The end of the mapping: the rest goes the read(2) way. */
	*len = maplen - mapcur;
	memcpy(in, map + mapcur, *len);
	if (lseek(STDIN_FILENO, mapbase + (off_t)maplen, SEEK_SET) == -1)
		err(EX_IOERR, "stdin");
	munmap((void *)map, maplen);
	map = NULL;
	return 1;
}

/*
 * Split what is in in[0..*len) into records, queue the complete ones and
 * keep the partial last one.  At eof the rest is a record too.
 */
static void
split(uint8_t *in, size_t *len, int eof)
{
	uint8_t *p = in + split_lines(in, *len), *end = in + *len;

	if (eof && p < end) {
		publish(p, end - p);
		p = end;
	}
	memmove(in, p, end - p);
	*len = end - p;
}

/* Send what is pending without blocking; reconnect if busd is gone. */
static void
send_some(void)
{
	ssize_t n;

	if (sent >= olen)
		return;
	n = send(sock, obuf + sent, olen - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0) {
		sent += n;
		if (ack_level == ACK_NONE) {
			/* Nothing will be acknowledged: nothing to keep. */
			head = sent;
			if (head == olen && frame_at == SIZE_MAX)
				head = sent = olen = 0;
		}
	} else if (n == -1 && errno != EAGAIN && errno != EINTR)
		reconnect(strerror(errno));
}

/*
 * The loop: read stdin (unless draining), send frames, read acks.
 * Returns once every message is acknowledged and input is done.
 */
static void
pump(int draining)
{
	static uint8_t *in;
	static size_t inlen, incap;
	struct pollfd pfd[2];
	ssize_t n;
	int eof = draining, want_in;

	if (!draining && in == NULL) {
		incap = READ_BLOCK + max_message + 1;
		if ((in = malloc(incap)) == NULL)
			err(EX_OSERR, NULL);
		map_stdin();
	}
	for (;;) {
		if (eof && sent == olen && next_seq - 1 == acked)
			break;
		if (eof && sent == olen && ack_level == ACK_NONE && !shut) {
			/* busd closes once it has written what we sent. */
			shutdown(sock, SHUT_WR);
			shut = 1;
		}
		want_in = !eof && olen - head < WINDOW_BYTES;
		if (want_in && map != NULL) {
			/* Mapped input is always ready: take a block. */
			map_take(in, &inlen);
			frame_close();
			send_some();
			want_in = 0;
		}
		pfd[0].fd = want_in ? STDIN_FILENO : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = sock;
		pfd[1].events = POLLIN | (sent < olen ? POLLOUT : 0);
		if (poll(pfd, 2, map != NULL && olen - head < WINDOW_BYTES ?
		    0 : -1) == -1) {
			if (errno == EINTR)
				continue;
			err(EX_OSERR, "poll");
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (ilen == icap && (ibuf = realloc(ibuf, icap *= 2)) == NULL)
				err(EX_OSERR, NULL);
			n = read(sock, ibuf + ilen, icap - ilen);
			if (n == 0 && shut)
				break;
			if (n == 0 || (n == -1 && errno != EAGAIN &&
			    errno != EINTR)) {
				reconnect(n == 0 ? "connection closed" :
				    strerror(errno));
				continue;
			}
			if (n > 0) {
				ilen += n;
				handle_frames();
			}
		}
		if ((pfd[1].revents & POLLOUT) && sent < olen)
			send_some();
		if (want_in && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			size_t room = incap - inlen;

			if (room > READ_BLOCK)
				room = READ_BLOCK;
			n = read(STDIN_FILENO, in + inlen, room);
			if (n == -1) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				err(EX_IOERR, "stdin");
			}
			send_ns = now_ns();
			inlen += n;
			eof = n == 0;
			if (inlen == incap && memchr(in, delim, inlen) == NULL) {
				/* One record longer than any message may be. */
				size_t total = inlen;
				uint8_t tmp[65536];

				while ((n = read(STDIN_FILENO, tmp,
				    sizeof(tmp))) > 0) {
					uint8_t *nl = memchr(tmp, delim, n);
					if (nl != NULL) {
						total += nl - tmp;
						break;
					}
					total += n;
				}
				oversize(next_seq, topic_len + key_len +
				    tags_len + total);
			}
			split(in, &inlen, eof);
			frame_close();
			/* Send now: no waiting for a batch to fill. */
			send_some();
		}
	}
}

/* ACK: the oldest unacknowledged frame is done; drop it from obuf. */
static void
handle_frames(void)
{
	const uint8_t *body;
	size_t blen, used = 0, flen;
	ssize_t fl;
	uint8_t type;
	uint32_t code, count;

	while ((fl = proto_frame(ibuf + used, ilen - used, 1 << 30, &type,
	    &body, &blen)) > 0) {
		used += fl;
		switch (type) {
		case PT_ACK:
			if (blen < 16)
				errx(EX_PROTOCOL, "malformed ACK from busd");
			count = le32_get(body + 8);
			acked += count;
			/* The acked frame is the oldest one sent. */
			if (sent - head < 4 ||
			    (flen = 4 + (size_t)le32_get(obuf + head)) >
			    sent - head)
				errx(EX_PROTOCOL, "ACK for a frame not sent");
			head += flen;
			if (head == olen && frame_at == SIZE_MAX)
				head = sent = olen = 0;
			break;
		case PT_ERROR:
			if (blen < 16)
				errx(EX_PROTOCOL, "malformed ERROR from busd");
			code = le32_get(body + 8);
			if (le64_get(body) != 0)
				warnx("line %llu: busd refused it: %s: %.*s; "
				    "the %llu message(s) before it are "
				    "published",
				    (unsigned long long)le64_get(body),
				    proto_err_name(code),
				    (int)le32_get(body + 12), body + 16,
				    (unsigned long long)(le64_get(body) - 1));
			else
				warnx("busd: %s: %.*s; %llu message(s) "
				    "acknowledged, %llu not", proto_err_name(code),
				    (int)le32_get(body + 12), body + 16,
				    (unsigned long long)acked,
				    (unsigned long long)(next_seq - 1 - acked));
			switch (code) {
			case PE_TOPIC:
			case PE_TOOBIG:
			case PE_ROUTE:
				exit(EX_DATAERR);
			case PE_NOSPC:
			case PE_BUSY:
				exit(EX_TEMPFAIL);
			case PE_IO:
				exit(EX_IOERR);
			default:
				exit(EX_PROTOCOL);
			}
		default:
			errx(EX_PROTOCOL, "unexpected frame type %u from busd",
			    type);
		}
	}
	if (fl < 0)
		errx(EX_PROTOCOL, "malformed frame from busd");
	memmove(ibuf, ibuf + used, ilen - used);
	ilen -= used;
}

/*
 * A deep send buffer lets busd work on one batch while we prepare the
 * next, instead of the two taking turns on a 200 KiB default.
 */
static void
sock_tune(void)
{
	int sz = 4 * 1024 * 1024;

	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) == -1)
		(void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/*
 * bus-pub: publish lines of standard input (or arguments) to a topic.
 *
 * stdin is read in large blocks; every block read becomes one PUBLISH
 * frame sent at once, so a line from `tail -F` leaves as soon as it
 * arrives while a fast pipe still travels in large batches.  The
 * publisher of libbus (bus_pub(3)) keeps the frames until busd
 * acknowledges them (the window): that bounds memory, and it is what it
 * resends, under the same producer id and sequence numbers, when busd
 * goes away and comes back.  busd drops what it already has, so the pipe
 * is stored exactly once.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include "bus/pub.h"
#include "proto.h"

#define READ_BLOCK	(256 * 1024)	/* one read(2) of stdin */

static __dead void usage(void);
static void	pub_warn(void *, const char *);
static __dead void pub_fatal(void);
static void	publish(const uint8_t *, size_t);
static void	queue_msg(const char *, size_t, const char *, size_t, int64_t,
		    const uint8_t *, size_t);
static void	pump(void);
static void	drain(void);
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
static int	 ack_level = BUS_ACK_WRITTEN;
static int	 autostart = 1;
static int	 delim = '\n';
static int	 tombstone;
static int64_t	 retry_for = 60LL * 1000000000LL;
static struct capre *key_re, *topic_re, *time_re;
static const char *time_fmt = "rfc3339";
static uint64_t	 time_unparsed;		/* lines whose event time failed */

static struct bus_pub *pub;		/* the connection to busd */
static size_t	 max_message;		/* busd's, from its HELLO_OK */
static int	 blocks;		/* send input as blocks */
static size_t	 block_max;		/* bytes of records in one block */
static int64_t	 send_ns;		/* stamp for the current block */

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
			ack_level = BUS_ACK_SYNCED;
			break;
		case OPT_ACK:
			if (strcmp(optarg, "none") == 0)
				ack_level = BUS_ACK_NONE;
			else if (strcmp(optarg, "written") == 0)
				ack_level = BUS_ACK_WRITTEN;
			else if (strcmp(optarg, "synced") == 0)
				ack_level = BUS_ACK_SYNCED;
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
	signal(SIGPIPE, SIG_IGN);
	if ((pub = bus_pub_new(dir)) == NULL)
		err(EX_OSERR, NULL);
	bus_pub_set_ack(pub, ack_level);
	bus_pub_set_autostart(pub, autostart);
	bus_pub_set_retry(pub, retry_for);
	bus_pub_set_log(pub, pub_warn, NULL);
	if (bus_pub_connect(pub) == -1)
		pub_fatal();
	max_message = bus_pub_max_message(pub);
	/*
	 * Lines that share everything but their bytes travel as blocks,
	 * as read: no per-line work here, one batch in the store.
	 */
	blocks = key == NULL && key_re == NULL && topic_re == NULL &&
	    time_re == NULL;
	block_max = READ_BLOCK;

	if (tombstone) {
		send_ns = now_ns();
		queue_msg(topic, topic_len, key, key_len, 0, NULL, 0);
		drain();
	} else if (argc > 0) {
		send_ns = now_ns();
		for (i = 0; i < argc; i++)
			publish((const uint8_t *)argv[i], strlen(argv[i]));
		drain();
	} else
		pump();
	if (time_unparsed)
		warnx("%llu line(s) had no event time that --event-time/"
		    "--event-format could parse; their send time was used",
		    (unsigned long long)time_unparsed);
	return 0;
}

static void
pub_warn(void *arg, const char *msg)
{
	warnx("%s", msg);
}

/*
 * The publisher failed: say why in one line, as the man page words it,
 * and exit with its status.
 */
static __dead void
pub_fatal(void)
{
	const struct bus_error *e = bus_pub_error(pub);
	uint64_t acked = bus_pub_acked(pub);

	/* A line of a block over the limit: as if found here. */
	if (e->kind == BUS_E_REFUSED && e->seq != 0 && e->code == PE_TOOBIG)
		errx(e->status, "line %llu: %s; the %llu message(s) before it "
		    "are published", (unsigned long long)e->seq, e->text,
		    (unsigned long long)(e->seq - 1));
	if (e->kind == BUS_E_REFUSED && e->seq != 0)
		errx(e->status, "line %llu: busd refused it: %s: %s; the %llu "
		    "message(s) before it are published",
		    (unsigned long long)e->seq, bus_error_code_name(e->code),
		    e->text, (unsigned long long)(e->seq - 1));
	if (e->kind == BUS_E_REFUSED && bus_pub_next_seq(pub) > 1)
		errx(e->status, "busd: %s: %s; %llu message(s) acknowledged, "
		    "%llu not", bus_error_code_name(e->code), e->text,
		    (unsigned long long)acked,
		    (unsigned long long)(bus_pub_next_seq(pub) - 1 - acked));
	if (e->kind == BUS_E_REFUSED)
		errx(e->status, "busd: %s", e->text);
	errx(e->status, "%s", e->text);
}

/* Publish what is queued and wait until busd has all of it. */
static void
drain(void)
{
	if (bus_pub_wait(pub, -1) == -1)
		pub_fatal();
}

/* Add one message to the open PUBLISH frame. */
static void
queue_msg(const char *t, size_t tl, const char *k, size_t kl, int64_t ev,
    const uint8_t *payload, size_t len)
{
	struct bus_msg m;

	if (tl + kl + tags_len + len > max_message)
		oversize(bus_pub_next_seq(pub), tl + kl + tags_len + len);
	memset(&m, 0, sizeof(m));
	m.event_ns = ev ? ev : event_ns;
	m.flags = tombstone ? BUS_F_TOMBSTONE : 0;
	m.topic = t;
	m.topic_len = tl;
	m.key = k;
	m.key_len = kl;
	m.tags = tags;
	m.tags_len = tags_len;
	m.payload = payload;
	m.payload_len = len;
	if (bus_pub_add(pub, &m, send_ns, NULL) == -1)
		pub_fatal();
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
				line_error(bus_pub_next_seq(pub), "topic from --topic-regex",
				    why);
			t = cap;
			tl = cl;
		} else if (topic == NULL)
			line_error(bus_pub_next_seq(pub), "--topic-regex",
			    "no match and no -t topic to fall back on");
	}
	if (key_re != NULL && capre_first(key_re, p, len, &cap, &cl) &&
	    cl > 0) {
		if (cl > BUS_KEY_MAX)
			line_error(bus_pub_next_seq(pub), "key from --key-regex",
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

/* What was published stays published; say which line was too large. */
static __dead void
oversize(uint64_t seq, size_t size)
{
	drain();
	errx(EX_DATAERR, "line %llu: message of %zu bytes exceeds the limit "
	    "of %zu bytes; the %llu message(s) before it are published",
	    (unsigned long long)seq, size, max_message,
	    (unsigned long long)(seq - 1));
}

static __dead void
line_error(uint64_t seq, const char *what, const char *why)
{
	drain();
	errx(EX_DATAERR, "line %llu: %s: %s; the %llu message(s) before it "
	    "are published", (unsigned long long)seq, what, why,
	    (unsigned long long)(seq - 1));
}

/*
 * Publish the whole records of p[0..n) as blocks of at most block_max
 * bytes; a record longer than that goes alone, as a message.  Returns
 * the bytes they take.
 */
static size_t
split_blocks(const uint8_t *p, size_t n)
{
	struct bus_block k;
	const uint8_t *s = p, *end = p + n, *last;
	size_t take;

	memset(&k, 0, sizeof(k));
	k.topic = topic;
	k.topic_len = topic_len;
	k.tags = tags;
	k.tags_len = tags_len;
	k.event_ns = event_ns;
	k.delim = delim;
	while (s < end) {
		take = (size_t)(end - s) < block_max ? (size_t)(end - s) :
		    block_max;
		if ((last = memrchr(s, delim, take)) == NULL) {
			/* One record longer than a block, or a partial one. */
			if ((last = memchr(s + take, delim, end - s - take)) ==
			    NULL)
				break;
			publish(s, last - s);
			s = last + 1;
			continue;
		}
		k.data = s;
		k.len = last + 1 - s;
		k.count = batch_count_delim(s, k.len, delim);
		if (bus_pub_add_block(pub, &k, send_ns) == -1)
			pub_fatal();
		s = last + 1;
	}
	return s - p;
}

/* Publish every whole record in p[0..n); returns the bytes they take. */
static size_t
split_lines(const uint8_t *p, size_t n)
{
	const uint8_t *s = p, *end = p + n, *nl;

	if (blocks)
		return split_blocks(p, n);
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

			oversize(bus_pub_next_seq(pub), topic_len + key_len + tags_len +
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

/* Send the frame of the block just read: no waiting for a batch to fill. */
static void
flush(void)
{
	if (bus_pub_flush(pub) == -1)
		pub_fatal();
}

/*
 * The loop: read stdin while the window has room, hand each block to the
 * publisher, and let it read acks and send.  Returns once every message
 * is acknowledged and input is done.
 */
static void
pump(void)
{
	static uint8_t *in;
	static size_t inlen, incap;
	struct pollfd pfd[2];
	ssize_t n;
	int eof = 0, want_in;

	if (in == NULL) {
		incap = READ_BLOCK + max_message + 1;
		if ((in = malloc(incap)) == NULL)
			err(EX_OSERR, NULL);
		map_stdin();
	}
	while (!eof) {
		want_in = !bus_pub_window_full(pub);
		if (want_in && map != NULL) {
			/* Mapped input is always ready: take a block. */
			map_take(in, &inlen);
			flush();
			want_in = 0;
		}
		pfd[0].fd = want_in ? STDIN_FILENO : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = bus_pub_fd(pub);
		pfd[1].events = bus_pub_events(pub);
		if (poll(pfd, 2, map != NULL && !bus_pub_window_full(pub) ?
		    0 : -1) == -1) {
			if (errno == EINTR)
				continue;
			err(EX_OSERR, "poll");
		}
		if (pfd[1].revents && bus_pub_process(pub, pfd[1].revents) == -1)
			pub_fatal();
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
				oversize(bus_pub_next_seq(pub), topic_len +
				    key_len + tags_len + total);
			}
			split(in, &inlen, eof);
			flush();
		}
	}
	drain();
}

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
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
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
#include "cmdline.h"
#include "bus/pub.h"
#include "proto.h"

#define READ_BLOCK	(256 * 1024)	/* one read(2) of stdin */
#define PIPE_DEPTH	(1024 * 1024)	/* stdin as a pipe: its size */

static __dead void usage(void);
static __dead void help(void);
static void	pub_warn(void *, const char *);
static __dead void pub_fatal(void);
static void	publish(const uint8_t *, size_t);
static void	publish_record(const uint8_t *, size_t, size_t);
static void	queue_msg(const char *, size_t, const char *, size_t, int64_t,
		    const uint8_t *, size_t, size_t);
static int	oversize_cut(size_t, const uint8_t *, size_t, size_t *,
		    const uint8_t **, size_t *);
static void	oversize_tell(int);
static int	oversize_wait_ms(void);
static void	long_begin(const uint8_t *, size_t);
static void	long_more(uint8_t *, size_t *, int);
static void	long_end(void);
static void	pump(void);
static void	drain(void);
static __dead void oversize(uint64_t, size_t);
static __dead void line_error(uint64_t, const char *, const char *);
static void	later_tag(void);
static void	later_set(int64_t);
static void	block_init(struct bus_block *);
static void	pipe_deepen(void);

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
static int64_t	 at_ns = -1;		/* --at, -1: not given */
static int64_t	 delay_ns = -1;		/* --delay, -1: not given */
static int64_t	 later_for;		/* send time bus.at was set for */

/* --oversize: what to do with a record longer than busd takes. */
enum { OVERSIZE_FAIL, OVERSIZE_SKIP, OVERSIZE_TRUNCATE };
static int	 oversize_mode = OVERSIZE_FAIL;
static uint64_t	 oversize_count;	/* records skipped or truncated */
static uint64_t	 oversize_told;		/* of them, how many were told */
static int64_t	 oversize_told_ns;	/* when they were last told */
static uint64_t	 oversize_line;		/* the last one: its line */
static size_t	 oversize_size;		/* and its size */
static uint8_t	 cut_tags[sizeof(tags)]; /* tags + bus.truncated=SIZE */

/* A record longer than the input buffer, read on to its delimiter. */
static int	 long_open;		/* one is being read */
static uint8_t	*long_head;		/* its start (for truncate) */
static size_t	 long_headlen;		/* bytes in long_head */
static size_t	 long_size;		/* its size so far */

static struct bus_pub *pub;		/* the connection to busd */
static size_t	 max_message;		/* busd's, from its HELLO_OK */
static int	 blocks;		/* send input as blocks */
static size_t	 block_max;		/* bytes of records in one block */
static int64_t	 send_ns;		/* stamp for the current block */

enum { OPT_SYNC = 256, OPT_NOAUTO, OPT_ACK, OPT_RETRY, OPT_TOMB, OPT_KEYRE,
    OPT_TOPICRE, OPT_TIMERE, OPT_TIMEFMT, OPT_OVERSIZE, OPT_AT, OPT_DELAY };

static const struct option longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "sync",		no_argument,		NULL, OPT_SYNC },
	{ "at",			required_argument,	NULL, OPT_AT },
	{ "delay",		required_argument,	NULL, OPT_DELAY },
	{ "ack",		required_argument,	NULL, OPT_ACK },
	{ "no-autostart",	no_argument,		NULL, OPT_NOAUTO },
	{ "retry-for",		required_argument,	NULL, OPT_RETRY },
	{ "tombstone",		no_argument,		NULL, OPT_TOMB },
	{ "key-regex",		required_argument,	NULL, OPT_KEYRE },
	{ "topic-regex",	required_argument,	NULL, OPT_TOPICRE },
	{ "event-time",		required_argument,	NULL, OPT_TIMERE },
	{ "event-format",	required_argument,	NULL, OPT_TIMEFMT },
	{ "oversize",		required_argument,	NULL, OPT_OVERSIZE },
	{ NULL,			0,			NULL, 0 }
};

/* As the SYNOPSIS of bus-pub(1) (tests/usage.bats compares them). */
static const char synopsis[] =
    "usage: bus-pub [-0] [-d dir] -t topic [-k key] [-T name=value] ...\n"
    "               [-E time] [--sync | --ack none|written|synced]\n"
    "               [--retry-for duration] [--no-autostart]\n"
    "               [--oversize fail|skip|truncate]\n"
    "               [--key-regex regex] [--topic-regex regex]\n"
    "               [--event-time regex [--event-format format]]\n"
    "               [--at time | --delay duration]\n"
    "               [--tombstone] [message ...]\n"
    "       bus-pub -h | --help | -V | --version\n";

static __dead void
usage(void)
{
	exit(cmd_usage(synopsis));
}

/* -h, --help: the synopsis and every option, as bus-pub(1) has them. */
static __dead void
help(void)
{
	exit(cmd_help(synopsis, "\n"
	    "Publish each line of standard input (or each message argument)\n"
	    "to a topic, through the busd of the store (started if needed).\n"
	    "\n"
	    "  -0                    records end with a NUL byte, not a newline\n"
	    "  -d dir                the store (default $BUS_DIR, else\n"
	    "                        /var/lib/bus for root, else\n"
	    "                        ${XDG_STATE_HOME:-~/.local/state}/bus)\n"
	    "  -E time               event time of every message: 2026-11-22\n"
	    "                        10:00, @RFC3339, @UNIX[.frac], -1h, now ...\n"
	    "  -h, --help            this help\n"
	    "  -k key                key of every message\n"
	    "  -T name=value         a tag on every message (repeatable)\n"
	    "  -t topic              the topic to publish to\n"
	    "  -V, --version         print the version\n"
	    "  --ack none|written|synced\n"
	    "                        when busd acknowledges (default written)\n"
	    "  --at time             store now, deliver at time (same forms as -E)\n"
	    "  --delay duration      store now, deliver after duration\n"
	    "  --event-format format how --event-time reads: rfc3339 (default),\n"
	    "                        unix, unix_ms or a strptime(3) format\n"
	    "  --event-time regex    event time from each message's first capture\n"
	    "  --key-regex regex     key from each message's first capture\n"
	    "  --no-autostart        fail (69) when no busd listens\n"
	    "  --oversize fail|skip|truncate\n"
	    "                        a record longer than busd takes: exit 65\n"
	    "                        (default), drop it, or cut it (tagged\n"
	    "                        bus.truncated=SIZE); counted on stderr\n"
	    "  --retry-for duration  reconnect and resend for so long (default 60s)\n"
	    "  --sync                the same as --ack synced\n"
	    "  --tombstone           publish one tombstone for -k in -t\n"
	    "  --topic-regex regex   topic from each message's first capture\n"
	    "\n"
	    "See bus-pub(1).\n"));
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

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":0d:E:hk:t:T:V", longopts,
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
				errx(EX_USAGE, "-E '%s': %s", optarg,
				    time_error(errno));
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
			exit(cmd_version("bus-pub"));
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
				errx(EX_USAGE, "--retry-for '%s': %s", optarg,
				    duration_error(errno));
			break;
		case OPT_TOMB:
			tombstone = 1;
			break;
		case OPT_AT:
			if (strcmp(optarg, "now") == 0)
				at_ns = now_ns();
			else if (optarg[0] == '+' &&
			    parse_duration(optarg + 1, &at_ns) == 0)
				at_ns += now_ns();
			else if (parse_time(optarg, now_ns(), &at_ns) == -1)
				errx(EX_USAGE, "--at: '%s' is not now, @TIME, "
				    "-DURATION or +DURATION", optarg);
			if (at_ns < 0)
				at_ns = 0;	/* before 1970: due now */
			break;
		case OPT_DELAY:
			if (parse_duration(optarg, &delay_ns) == -1)
				errx(EX_USAGE, "--delay: '%s' is not a duration "
				    "(e.g. 90s, 24h, 1h30m)", optarg);
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
		case OPT_OVERSIZE:
			if (strcmp(optarg, "fail") == 0)
				oversize_mode = OVERSIZE_FAIL;
			else if (strcmp(optarg, "skip") == 0)
				oversize_mode = OVERSIZE_SKIP;
			else if (strcmp(optarg, "truncate") == 0)
				oversize_mode = OVERSIZE_TRUNCATE;
			else
				errx(EX_USAGE, "--oversize: '%s' is not fail, "
				    "skip or truncate", optarg);
			break;
		case 'h':
			help();
		default:
			exit(cmd_bad_option(ch, argv, synopsis));
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
	if (tombstone && oversize_mode != OVERSIZE_FAIL)
		errx(EX_USAGE, "--oversize takes no --tombstone: a tombstone "
		    "has no payload to cut");
	if (at_ns != -1 && delay_ns != -1)
		errx(EX_USAGE, "--at and --delay exclude each other");
	if ((at_ns != -1 || delay_ns != -1) && tombstone)
		errx(EX_USAGE, "--tombstone cannot be scheduled: it would "
		    "delete the key later, not now");
	if (at_ns != -1 || delay_ns != -1)
		later_tag();
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
	    time_re == NULL && at_ns == -1 && delay_ns == -1;
	block_max = READ_BLOCK;
	/*
	 * With --oversize skip or truncate, bus-pub decides, so no block
	 * may hold a line over the limit: a line longer than a block goes
	 * alone, as a message, through oversize_cut().
	 */
	if (oversize_mode != OVERSIZE_FAIL) {
		if (max_message <= topic_len + tags_len)
			blocks = 0;
		else if (block_max > max_message - topic_len - tags_len)
			block_max = max_message - topic_len - tags_len;
	}

	if (tombstone) {
		send_ns = now_ns();
		queue_msg(topic, topic_len, key, key_len, 0, NULL, 0, 0);
		drain();
	} else if (argc > 0) {
		send_ns = now_ns();
		for (i = 0; i < argc; i++)
			publish((const uint8_t *)argv[i], strlen(argv[i]));
		drain();
	} else
		pump();
	oversize_tell(1);
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

/*
 * Add one message to the open PUBLISH frame.  payload[0..len) is the
 * record, or the head of a record of size bytes that went on.
 */
static void
queue_msg(const char *t, size_t tl, const char *k, size_t kl, int64_t ev,
    const uint8_t *payload, size_t len, size_t size)
{
	struct bus_msg m;
	const uint8_t *mt = tags;
	size_t mtl = tags_len;

	if (tl + kl + tags_len + size > max_message &&
	    oversize_cut(tl + kl, payload, size, &len, &mt, &mtl) == -1)
		return;
	if (delay_ns != -1 && send_ns != later_for)
		later_set(send_ns + delay_ns);
	memset(&m, 0, sizeof(m));
	m.event_ns = ev ? ev : event_ns;
	m.flags = tombstone ? BUS_F_TOMBSTONE : 0;
	m.topic = t;
	m.topic_len = tl;
	m.key = k;
	m.key_len = kl;
	m.tags = mt;
	m.tags_len = mtl;
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
	/* A date or a number: never "today" or "now" of 1970. */
	if (!isdigit((unsigned char)buf[0]) && (strcmp(time_fmt, "rfc3339") ==
	    0 || strcmp(time_fmt, "unix") == 0))
		return 0;
	if (strcmp(time_fmt, "unix") == 0 || strcmp(time_fmt, "unix_ms") == 0) {
		char at[130];

		if (strcmp(time_fmt, "unix_ms") == 0) {
			errno = 0;
			v = strtoll(buf, &end, 10);
			if (errno || *end != '\0' || end == buf ||
			    __builtin_mul_overflow(v, 1000000LL, &t))
				return 0;
			return t;
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
	if (__builtin_mul_overflow((int64_t)timegm(&tm) - off, 1000000000LL,
	    &t))
		return 0;	/* outside the range of ns times */
	return t;
}

/* One input record: topic, key and event time per the flags, then queue. */
static void
publish(const uint8_t *p, size_t len)
{
	publish_record(p, len, len);
}

/* The same for the head p[0..len) of a record of size bytes. */
static void
publish_record(const uint8_t *p, size_t len, size_t size)
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
	queue_msg(t, tl, k, kl, ev, p, len, size);
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

/*
 * A record of size bytes (payload at p, fixed bytes of topic and key
 * beside it) does not fit in a message: --oversize decides.  fail exits
 * as oversize() does; skip counts it and returns -1; truncate keeps as
 * much of the payload as fits next to the tags plus
 * bus.truncated=SIZE, cut back to a UTF-8 character boundary, in *len,
 * *mt and *mtl.
 */
static int
oversize_cut(size_t fixed, const uint8_t *p, size_t size, size_t *len,
    const uint8_t **mt, size_t *mtl)
{
	char tag[64];
	const char *why;
	size_t room, back;

	/* Skipped records take no sequence number. */
	oversize_line = bus_pub_next_seq(pub) + (oversize_mode ==
	    OVERSIZE_SKIP ? oversize_count : 0);
	oversize_size = size;
	if (oversize_mode == OVERSIZE_FAIL)
		oversize(bus_pub_next_seq(pub), fixed + tags_len + size);
	if (oversize_mode == OVERSIZE_SKIP) {
		oversize_count++;
		oversize_tell(0);
		return -1;
	}
	memcpy(cut_tags, tags, tags_len);
	*mtl = tags_len;
	snprintf(tag, sizeof(tag), "bus.truncated=%zu", size);
	if (tags_add(cut_tags, sizeof(cut_tags), mtl, tag, &why) == -1 ||
	    fixed + *mtl >= max_message)
		line_error(oversize_line, "--oversize=truncate",
		    "topic, key and tags leave no room for a payload");
	*mt = cut_tags;
	room = max_message - fixed - *mtl;
	if (room < *len) {
		/* Not in the middle of a UTF-8 sequence: at most 3 back. */
		for (back = 0; back < 3 && back < room &&
		    (p[room - back] & 0xc0) == 0x80; back++)
			;
		if ((p[room - back] & 0xc0) == 0x80)
			back = 0;
		*len = room - back;
	}
	oversize_count++;
	oversize_tell(0);
	return 0;
}

/*
 * Say how many records --oversize skipped or truncated, at most once a
 * second (final: now, if any is untold).
 */
static void
oversize_tell(int final)
{
	int64_t now;

	if (oversize_count == oversize_told)
		return;
	now = now_ns();
	if (!final && now - oversize_told_ns < 1000000000LL)
		return;
	warnx("--oversize=%s: %llu record(s) longer than busd takes (%zu "
	    "bytes) %s so far; the last: line %llu, %zu bytes",
	    oversize_mode == OVERSIZE_SKIP ? "skip" : "truncate",
	    (unsigned long long)oversize_count, max_message,
	    oversize_mode == OVERSIZE_SKIP ? "skipped" : "truncated",
	    (unsigned long long)oversize_line, oversize_size);
	oversize_told = oversize_count;
	oversize_told_ns = now;
}

/* poll(2)'s timeout for an untold oversize count: -1 if none. */
static int
oversize_wait_ms(void)
{
	int64_t left;

	if (oversize_count == oversize_told)
		return -1;
	left = oversize_told_ns + 1000000000LL - now_ns();
	return left <= 0 ? 0 : (int)(left / 1000000) + 1;
}

/*
 * A record longer than the input buffer begins with p[0..n): keep its
 * head for --oversize=truncate (and for the regexes of topic, key and
 * time) and count it until its delimiter comes (long_more()).
 */
static void
long_begin(const uint8_t *p, size_t n)
{
	if (long_head == NULL && (long_head = malloc(max_message)) == NULL)
		err(EX_OSERR, NULL);
	long_headlen = n < max_message ? n : max_message;
	memcpy(long_head, p, long_headlen);
	long_size = n;
	long_open = 1;
}

/*
 * The long record goes on in in[0..*len): drop and count it up to its
 * delimiter (or eof), then publish it per --oversize and leave in[] with
 * what follows.
 */
static void
long_more(uint8_t *in, size_t *len, int eof)
{
	uint8_t *nl = memchr(in, delim, *len);
	size_t used = nl ? (size_t)(nl - in) : *len;

	long_size += used;
	if (nl == NULL && !eof) {
		*len = 0;
		return;
	}
	long_end();
	used += nl != NULL;
	memmove(in, in + used, *len - used);
	*len -= used;
}

/* The long record is whole: publish (or fail, skip, truncate) it. */
static void
long_end(void)
{
	long_open = 0;
	publish_record(long_head, long_headlen, long_size);
}

static __dead void
line_error(uint64_t seq, const char *what, const char *why)
{
	drain();
	errx(EX_DATAERR, "line %llu: %s: %s; the %llu message(s) before it "
	    "are published", (unsigned long long)seq, what, why,
	    (unsigned long long)(seq - 1));
}

/* k for a block of stdin's lines: what they share. */
static void
block_init(struct bus_block *k)
{
	memset(k, 0, sizeof(*k));
	k->topic = topic;
	k->topic_len = topic_len;
	k->tags = tags;
	k->tags_len = tags_len;
	k->event_ns = event_ns;
	k->delim = delim;
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

	block_init(&k);
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

/*
 * Blocks, while no long record is open and what is left of the last read
 * is short: read stdin straight into the publisher's window, behind a
 * copy of that rest (in[0..*len)), publish the whole records as one
 * block and keep the new rest in in.  Returns what read(2) did.
 */
static ssize_t
read_block(uint8_t *in, size_t *len)
{
	struct bus_block k;
	uint8_t *buf, *last;
	size_t have, take;
	ssize_t n;

	block_init(&k);
	if (bus_pub_block_reserve(pub, &k, block_max, &buf) == -1)
		pub_fatal();
	memcpy(buf, in, *len);
	n = read(STDIN_FILENO, buf + *len, block_max - *len);
	if (n <= 0) {
		if (bus_pub_block_commit(pub, 0, 0, 0) == -1)
			pub_fatal();
		return n;
	}
	send_ns = now_ns();
	have = *len + n;
	if ((last = memrchr(buf, delim, have)) == NULL) {
		/* No record ends yet: all of it waits in in. */
		memcpy(in + *len, buf + *len, n);
		*len = have;
		take = 0;
	} else {
		take = last + 1 - buf;
		*len = have - take;
		memcpy(in, last + 1, *len);
	}
	if (bus_pub_block_commit(pub, take, take ? batch_count_delim(buf,
	    take, delim) : 0, send_ns) == -1)
		pub_fatal();
	return n;
}

/* Send the frame of the block just read: no waiting for a batch to fill. */
static void
flush(void)
{
	if (bus_pub_flush(pub) == -1)
		pub_fatal();
}

/*
 * stdin is a pipe: make it hold 1 MiB (64 KiB by default), so that a read
 * takes up to a block, not 64 KiB, and the writer feeding it does not
 * stop every 64 KiB.  Where the system allows less (fs.pipe-max-size),
 * the pipe stays as it is.
 */
static void
pipe_deepen(void)
{
	struct stat st;

	if (fstat(STDIN_FILENO, &st) == 0 && S_ISFIFO(st.st_mode) &&
	    fcntl(STDIN_FILENO, F_GETPIPE_SZ) < PIPE_DEPTH)
		(void)fcntl(STDIN_FILENO, F_SETPIPE_SZ, PIPE_DEPTH);
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
		pipe_deepen();
		incap = READ_BLOCK + max_message + 1;
		if ((in = malloc(incap)) == NULL)
			err(EX_OSERR, NULL);
	}
	while (!eof) {
		want_in = !bus_pub_window_full(pub);
		pfd[0].fd = want_in ? STDIN_FILENO : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = bus_pub_fd(pub);
		pfd[1].events = bus_pub_events(pub);
		if (poll(pfd, 2, oversize_wait_ms()) == -1) {
			if (errno == EINTR)
				continue;
			err(EX_OSERR, "poll");
		}
		oversize_tell(0);
		if (pfd[1].revents && bus_pub_process(pub, pfd[1].revents) == -1)
			pub_fatal();
		/*
		 * Straight into the window when blocks are whole reads;
		 * smaller blocks (--oversize with a small limit) are cut
		 * from one large read instead, not read a block at a time.
		 */
		if (want_in && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    blocks && block_max == READ_BLOCK && !long_open &&
		    inlen <= block_max / 2) {
			if ((n = read_block(in, &inlen)) == -1) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				err(EX_IOERR, "stdin");
			}
			/* At the end, the rest is a record too. */
			if ((eof = n == 0))
				split(in, &inlen, 1);
			flush();
		} else if (want_in &&
		    (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
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
			if (!long_open && inlen == incap &&
			    memchr(in, delim, inlen) == NULL) {
				/* One record longer than any message may be. */
				long_begin(in, inlen);
				inlen = 0;
			}
			if (long_open)
				long_more(in, &inlen, eof);
			split(in, &inlen, eof);
			flush();
		}
	}
	drain();
}

/*
 * --at, --delay: the tag bus.at goes first (busd looks at the first tag
 * only), its value the due time in ns, 19 digits wide so that --delay
 * can set it again in place for each block read.
 */
static void
later_tag(void)
{
	const char *why;
	char nv[64];
	size_t n = 0;

	snprintf(nv, sizeof(nv), "bus.at=%019lld", 0LL);
	if (4 + strlen(nv) - 1 + tags_len > sizeof(tags))
		errx(EX_USAGE, "-T: tags too large");
	memmove(tags + 4 + strlen(nv) - 1, tags, tags_len);
	if (tags_add(tags, sizeof(tags), &n, nv, &why) == -1)
		errx(EX_SOFTWARE, "bus.at: %s", why);
	tags_len += n;
	later_set(at_ns != -1 ? at_ns : now_ns() + delay_ns);
}

/* Set the due time in the bus.at tag. */
static void
later_set(int64_t t)
{
	char v[24];

	snprintf(v, sizeof(v), "%019lld", (long long)t);
	memcpy(tags + 4 + 6, v, 19);
	later_for = send_ns;
}

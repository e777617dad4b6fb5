/*
 * bus-pub: publish lines of standard input (or arguments) to a topic.
 *
 * stdin is read in large blocks; every block read becomes one PUBLISH
 * frame sent at once, so a line from `tail -F` leaves as soon as it
 * arrives while a fast pipe still travels in large batches.  Frames stay
 * in the output buffer until busd acknowledges them (the window), which
 * bounds memory and lets busd's acks arrive while we keep sending.
 */
#include <sys/types.h>
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
static void	connect_busd(void);
static int	start_busd(void);
static void	hello(void);
static void	queue_msg(const uint8_t *, size_t);
static void	frame_close(void);
static void	pump(int);
static void	handle_frames(void);
static __dead void oversize(uint64_t, size_t);

static const char *dir;
static const char *topic;
static size_t	 topic_len;
static const char *key;
static size_t	 key_len;
static uint8_t	 tags[65536 * 4];
static size_t	 tags_len;
static int64_t	 event_ns;		/* -E, 0: send time */
static int	 ack_level = ACK_WRITTEN;
static int	 autostart = 1;
static int	 delim = '\n';

static int	 sock = -1;
static uint64_t	 producer;
static size_t	 max_message = BUS_MESSAGE_MAX_DEFAULT;
static size_t	 max_frame = PROTO_FRAME_MIN_MAX;
static uint64_t	 next_seq = 1;		/* sequence of the next message */
static uint64_t	 acked;			/* messages acknowledged */
static int64_t	 send_ns;		/* stamp for the current block */

/*
 * Output: [head, sent) sent and unacknowledged, [sent, olen) not yet
 * sent.  Acknowledged frames are dropped by moving head; the buffer is
 * compacted only when head passes half of it.
 */
static uint8_t	*obuf;
static size_t	 olen, ocap, sent, head;
static size_t	 frame_at = SIZE_MAX;	/* open PUBLISH frame, or none */
static uint32_t	 frame_count;

static uint8_t	*ibuf;			/* replies from busd */
static size_t	 ilen, icap;

enum { OPT_SYNC = 256, OPT_NOAUTO, OPT_ACK };

static const struct option longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "sync",		no_argument,		NULL, OPT_SYNC },
	{ "no-autostart",	no_argument,		NULL, OPT_NOAUTO },
	{ NULL,			0,			NULL, 0 }
};

static __dead void
usage(void)
{
	fprintf(stderr,
	    "usage: bus-pub [-0] [-d dir] -t topic [-k key] [-T name=value] ...\n"
	    "               [-E time] [--sync] [--no-autostart] [message ...]\n");
	exit(EX_USAGE);
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
		case OPT_NOAUTO:
			autostart = 0;
			break;
		case 'h':
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (topic == NULL) {
		warnx("-t topic is required");
		usage();
	}
	dir = store_dir(dir);
	signal(SIGPIPE, SIG_IGN);
	if ((ibuf = malloc(icap = 64 * 1024)) == NULL)
		err(EX_OSERR, NULL);

	connect_busd();
	hello();

	if (argc > 0) {
		send_ns = now_ns();
		for (i = 0; i < argc; i++)
			queue_msg((const uint8_t *)argv[i], strlen(argv[i]));
		frame_close();
		pump(1);
	} else
		pump(0);
	return 0;
}

static void
connect_busd(void)
{
	int tries;

	if ((sock = proto_connect(dir)) != -1)
		return;
	if (errno != ENOENT && errno != ECONNREFUSED)
		err(EX_UNAVAILABLE, "cannot connect to busd at %s/%s", dir,
		    BUS_SOCK);
	if (!autostart)
		errx(EX_UNAVAILABLE, "no busd is listening on %s/%s", dir,
		    BUS_SOCK);
	if (start_busd() == -1)
		exit(EX_UNAVAILABLE);
	/* A busd racing ours may hold the store but not yet listen. */
	for (tries = 0; tries < 200; tries++) {
		if ((sock = proto_connect(dir)) != -1)
			return;
		usleep(25000);
	}
	err(EX_UNAVAILABLE, "busd started but %s/%s does not accept", dir,
	    BUS_SOCK);
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

static void
hello(void)
{
	uint8_t f[PROTO_FRAME_HDR + 16], *buf = NULL;
	const uint8_t *body;
	size_t cap = 0, blen;
	uint8_t type;

	do
		arc4random_buf(&producer, sizeof(producer));
	while (producer == 0);
	proto_hdr(f, PT_HELLO, 16);
	le32_put(f + 5, PROTO_MAGIC);
	le16_put(f + 9, PROTO_VERSION);
	f[11] = ack_level;
	f[12] = 0;
	le64_put(f + 13, producer);
	if (proto_send_all(sock, f, sizeof(f)) == -1)
		err(EX_UNAVAILABLE, "busd at %s", dir);
	if (proto_recv_frame(sock, &buf, &cap, &type, &body, &blen) == -1)
		err(EX_UNAVAILABLE, "busd at %s closed the connection", dir);
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
}

static uint8_t *
out_reserve(size_t n)
{
	uint8_t *nb;
	size_t nc;

	if (olen + n > ocap && head > 0) {
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
queue_msg(const uint8_t *payload, size_t len)
{
	struct bus_rec m;
	size_t sz = proto_msg_size(topic_len, key_len, tags_len, len);

	if (topic_len + key_len + tags_len + len > max_message)
		oversize(next_seq, topic_len + key_len + tags_len + len);
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
	m.event_ns = event_ns ? event_ns : send_ns;
	m.topic = topic;
	m.topic_len = topic_len;
	m.key = key;
	m.key_len = key_len;
	m.tags = tags;
	m.tags_len = tags_len;
	m.payload = payload;
	m.payload_len = len;
	proto_msg_encode(out_reserve(sz), &m);
	frame_count++;
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

/*
 * Split what is in in[0..*len) into records, queue the complete ones and
 * keep the partial last one.  At eof the rest is a record too.
 */
static void
split(uint8_t *in, size_t *len, int eof)
{
	uint8_t *p = in, *end = in + *len, *nl;

	while (p < end && (nl = memchr(p, delim, end - p)) != NULL) {
		queue_msg(p, nl - p);
		p = nl + 1;
	}
	if (eof && p < end) {
		queue_msg(p, end - p);
		p = end;
	}
	memmove(in, p, end - p);
	*len = end - p;
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
	}
	for (;;) {
		if (eof && sent == olen && next_seq - 1 == acked)
			break;
		if (eof && sent == olen && ack_level == ACK_NONE) {
			/* busd closes once it has written what we sent. */
			shutdown(sock, SHUT_WR);
		}
		want_in = !eof && olen - head < WINDOW_BYTES;
		pfd[0].fd = want_in ? STDIN_FILENO : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = sock;
		pfd[1].events = POLLIN | (sent < olen ? POLLOUT : 0);
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			err(EX_OSERR, "poll");
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (ilen == icap && (ibuf = realloc(ibuf, icap *= 2)) == NULL)
				err(EX_OSERR, NULL);
			n = read(sock, ibuf + ilen, icap - ilen);
			if (n == 0 || (n == -1 && errno != EAGAIN &&
			    errno != EINTR)) {
				if (eof && sent == olen && ack_level == ACK_NONE)
					break;
				errx(EX_UNAVAILABLE, "busd closed the connection "
				    "with %llu message(s) unacknowledged",
				    (unsigned long long)(next_seq - 1 - acked));
			}
			if (n > 0) {
				ilen += n;
				handle_frames();
			}
		}
		if ((pfd[1].revents & POLLOUT) && sent < olen) {
			n = send(sock, obuf + sent, olen - sent,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				errx(EX_UNAVAILABLE, "busd: %s", strerror(errno));
			if (n > 0)
				sent += n;
		}
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
			if (sent < olen) {
				n = send(sock, obuf + sent, olen - sent,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
				if (n > 0)
					sent += n;
			}
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
			if (head == olen) {
				head = sent = olen = 0;
			}
			break;
		case PT_ERROR:
			if (blen < 16)
				errx(EX_PROTOCOL, "malformed ERROR from busd");
			code = le32_get(body + 8);
			if (le64_get(body) != 0)
				warnx("busd refused message %llu (line %llu): "
				    "%s: %.*s; %llu message(s) before it are "
				    "published",
				    (unsigned long long)le64_get(body),
				    (unsigned long long)le64_get(body),
				    proto_err_name(code),
				    (int)le32_get(body + 12), body + 16,
				    (unsigned long long)acked);
			else
				warnx("busd: %s: %.*s", proto_err_name(code),
				    (int)le32_get(body + 12), body + 16);
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

/*
 * rawpub: a publisher that speaks bus-protocol(7) with a producer id and
 * sequence numbers of the caller's choosing, as a client in another
 * language would, to test busd's deduplication, HELLO_OK, and how it
 * takes frames that are not quite right.
 *
 * usage: rawpub [-x FRAME] DIR PRODUCER FIRSTSEQ TOPIC:PAYLOAD ...
 *        rawpub [-x seal] -s PATTERN DIR
 *        rawpub [-x status] -S DIR
 *
 * PRODUCER is the id in hexadecimal.  rawpub says HELLO (ack level 1)
 * and prints "hello N", N being the sequence number HELLO_OK reports;
 * then sends the messages in one PUBLISH frame, numbered from FIRSTSEQ,
 * and prints one line per message: "SEQ OFFSET", or "SEQ dup" for one
 * busd already had.  With no message it only says HELLO.
 *
 * -s sends a SEAL of PATTERN instead (%XX in it stands for the byte of
 * hexadecimal value XX) and prints "sealed N"; -S sends a STATUS and
 * prints the document.  -x appends one byte to the body of FRAME (hello,
 * publish, seal or status).
 *
 * An ERROR is printed as "error CODE SEQ TEXT".  After an ERROR, or after
 * the reply to a frame sent with -x, rawpub reads on for two seconds,
 * printing any further frame the same way, then "closed" if busd closed
 * the connection, else "open".  Exits 0, 1 if busd sent an ERROR or went
 * away (a message on stderr then), 2 on a usage error.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "proto.h"

static void	usage(void);
static int	reply(int, uint8_t **, size_t *, uint8_t *, const uint8_t **,
		    size_t *);
static void	send_frame(int, uint8_t *, size_t, int);
static void	finish(int, uint8_t **, size_t *);
static size_t	unescape(char *);

static int	 got_error;		/* an ERROR came */

int
main(int argc, char **argv)
{
	struct proto_hello h = { PROTO_VERSION, ACK_WRITTEN, 0 };
	struct proto_hello_ok ok;
	struct proto_seal_ok so;
	struct proto_status_ok st;
	struct proto_ack a;
	uint8_t hf[PROTO_HELLO_SIZE + 1], *f, *buf = NULL, type;
	const uint8_t *body;
	const char *extra = NULL, *pattern = NULL;
	size_t cap = 0, blen, len, n, i, fcap = PROTO_PUBLISH_HDR + 1;
	uint64_t first;
	struct bus_rec m;
	const char *colon;
	int ch, fd, status = 0;
	struct timeval tv = { 10, 0 };

	while ((ch = getopt(argc, argv, "Ss:x:")) != -1) {
		switch (ch) {
		case 'S':
			status = 1;
			break;
		case 's':
			pattern = optarg;
			break;
		case 'x':
			extra = optarg;
			if (strcmp(extra, "hello") != 0 &&
			    strcmp(extra, "publish") != 0 &&
			    strcmp(extra, "seal") != 0 &&
			    strcmp(extra, "status") != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if ((pattern != NULL || status) ? argc != 1 : argc < 3)
		usage();
	if ((fd = proto_connect(argv[0])) == -1)
		err(1, "connect %s", argv[0]);
	/* Never wait for busd forever. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		err(1, "setsockopt");

	if (pattern != NULL || status) {
		const char *what = pattern != NULL ? "seal" : "status";
		uint8_t *f = hf;
		char *p = NULL;

		if (pattern != NULL) {
			if ((p = strdup(pattern)) == NULL)
				err(1, NULL);
			n = unescape(p);
			if ((f = malloc(proto_seal_size(n) + 1)) == NULL)
				err(1, NULL);
			len = proto_seal_encode(f, &(struct proto_seal){ p, n });
		} else
			len = proto_status_encode(hf);
		send_frame(fd, f, len, extra != NULL &&
		    strcmp(extra, what) == 0);
		if (reply(fd, &buf, &cap, &type, &body, &blen) == 0) {
			if (pattern != NULL) {
				if (type != PT_SEAL_OK ||
				    proto_seal_ok_decode(body, blen, &so) == -1)
					errx(1, "SEAL: reply of type %u", type);
				printf("sealed %" PRIu32 "\n", so.sealed);
			} else {
				if (type != PT_STATUS_OK ||
				    proto_status_ok_decode(body, blen, &st) == -1)
					errx(1, "STATUS: reply of type %u", type);
				printf("%.*s\n", (int)st.len, st.json);
			}
			if (extra != NULL)
				finish(fd, &buf, &cap);
		}
		return got_error;
	}

	h.producer = strtoull(argv[1], NULL, 16);
	first = strtoull(argv[2], NULL, 10);
	len = proto_hello_encode(hf, &h);
	send_frame(fd, hf, len, extra != NULL && strcmp(extra, "hello") == 0);
	if (reply(fd, &buf, &cap, &type, &body, &blen) == -1)
		return got_error;
	if (type != PT_HELLO_OK || proto_hello_ok_decode(body, blen, &ok) == -1)
		errx(1, "HELLO: reply of type %u", type);
	printf("hello %" PRIu64 "\n", ok.last_seq);
	n = (size_t)argc - 3;
	if (n == 0) {
		if (extra != NULL)
			finish(fd, &buf, &cap);
		return got_error;
	}
	for (i = 0; i < n; i++)
		fcap += proto_msg_size(strlen(argv[3 + i]), 0, 0,
		    strlen(argv[3 + i]));
	if ((f = malloc(fcap)) == NULL)
		err(1, NULL);
	len = proto_publish_begin(f);
	for (i = 0; i < n; i++) {
		if ((colon = strchr(argv[3 + i], ':')) == NULL)
			errx(2, "%s: not TOPIC:PAYLOAD", argv[3 + i]);
		memset(&m, 0, sizeof(m));
		m.seq = first + i;
		m.topic = argv[3 + i];
		m.topic_len = colon - argv[3 + i];
		m.payload = (const uint8_t *)colon + 1;
		m.payload_len = strlen(colon + 1);
		len += proto_msg_encode(f + len, &m);
	}
	proto_publish_finish(f, len, (uint32_t)n);
	send_frame(fd, f, len, extra != NULL &&
	    strcmp(extra, "publish") == 0);
	if (reply(fd, &buf, &cap, &type, &body, &blen) == -1)
		return got_error;
	if (type != PT_ACK || proto_ack_decode(body, blen, &a) == -1 ||
	    a.count != n)
		errx(1, "PUBLISH: unexpected reply of type %u", type);
	for (i = 0; i < n; i++) {
		uint64_t off = proto_ack_offset(&a, i);

		if (off == BUS_OFFSET_DUP)
			printf("%" PRIu64 " dup\n", first + i);
		else
			printf("%" PRIu64 " %" PRIu64 "\n", first + i, off);
	}
	if (extra != NULL)
		finish(fd, &buf, &cap);
	free(f);
	free(buf);
	close(fd);
	return got_error;
}

static void
usage(void)
{
	fprintf(stderr, "usage: rawpub [-x FRAME] DIR PRODUCER FIRSTSEQ "
	    "TOPIC:PAYLOAD ...\n"
	    "       rawpub [-x seal] -s PATTERN DIR\n"
	    "       rawpub [-x status] -S DIR\n");
	exit(2);
}

/* Send the frame of len bytes at f, one byte longer if extra (f has room). */
static void
send_frame(int fd, uint8_t *f, size_t len, int extra)
{
	if (extra) {
		f[len] = 'x';
		le32_put(f, le32_get(f) + 1);
		len++;
	}
	if (proto_send_all(fd, f, len) == -1)
		err(1, "send");
}

/*
 * Read the reply to a request: 0, or -1 if it was an ERROR (printed, and
 * what follows it read by finish()).
 */
static int
reply(int fd, uint8_t **buf, size_t *cap, uint8_t *type, const uint8_t **body,
    size_t *blen)
{
	struct proto_error e;

	if (proto_recv_frame(fd, buf, cap, type, body, blen) == -1)
		err(1, "reply");
	if (*type != PT_ERROR)
		return 0;
	if (proto_error_decode(*body, *blen, &e) == -1)
		errx(1, "malformed ERROR");
	printf("error %" PRIu32 " %" PRIu64 " %.*s\n", e.code, e.seq,
	    (int)e.text_len, e.text);
	got_error = 1;
	finish(fd, buf, cap);
	return -1;
}

/* Print what else busd sends for two seconds, then whether it closed. */
static void
finish(int fd, uint8_t **buf, size_t *cap)
{
	struct proto_error e;
	struct timeval tv = { 2, 0 };
	const uint8_t *body;
	size_t blen;
	uint8_t type;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		err(1, "setsockopt");
	for (;;) {
		if (proto_recv_frame(fd, buf, cap, &type, &body, &blen) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				printf("open\n");
				return;
			}
			printf("closed\n");
			return;
		}
		if (type == PT_ERROR &&
		    proto_error_decode(body, blen, &e) == 0) {
			printf("error %" PRIu32 " %" PRIu64 " %.*s\n", e.code,
			    e.seq, (int)e.text_len, e.text);
			got_error = 1;
		} else
			printf("frame %u\n", type);
	}
}

/* Decode %XX escapes in s in place; returns its length. */
static size_t
unescape(char *s)
{
	char *start = s, *d = s, hex[3] = { 0 };

	for (; *s != '\0'; s++) {
		if (s[0] == '%' && s[1] != '\0' && s[2] != '\0') {
			hex[0] = s[1];
			hex[1] = s[2];
			*d++ = (char)strtoul(hex, NULL, 16);
			s += 2;
		} else
			*d++ = *s;
	}
	return d - start;
}

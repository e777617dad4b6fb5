/*
 * garbage: throw malformed input at busd's socket, as a test of "a bad
 * frame closes that connection, never busd".  Each round connects and
 * sends one of: random bytes; a HELLO then random bytes; a HELLO then a
 * PUBLISH frame with random bits flipped (lengths, counts, topics); a
 * frame length over the limit; a partial frame then a hang-up.  It reads
 * whatever busd answers until busd closes or a short timeout passes.
 *
 * usage: garbage DIR ROUNDS SEED
 * Exits 0 if every connection was accepted (busd stayed up), 1 if not.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "proto.h"

static uint64_t rng;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static size_t
hello(uint8_t *f, int ack)
{
	struct proto_hello h = { PROTO_VERSION, ack,
	    ((uint64_t)rnd() << 32 | rnd()) | 1 };

	return proto_hello_encode(f, &h);
}

/* A valid PUBLISH of n messages, then some bits of it flipped. */
static size_t
publish(uint8_t *f, size_t cap, int flips)
{
	struct bus_rec m;
	uint8_t pay[64];
	size_t len, i, n = 1 + rnd() % 8;

	for (i = 0; i < sizeof(pay); i++)
		pay[i] = rnd();
	len = proto_publish_begin(f);
	for (i = 0; i < n; i++) {
		memset(&m, 0, sizeof(m));
		m.seq = i + 1;
		m.topic = "fuzz";
		m.topic_len = 4;
		m.payload = pay;
		m.payload_len = rnd() % sizeof(pay);
		len += proto_msg_encode(f + len, &m);
	}
	proto_publish_finish(f, len, n);
	while (flips-- > 0 && len > 0)
		f[rnd() % len] ^= 1 << (rnd() % 8);
	(void)cap;
	return len;
}

static void
drain(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint8_t b[4096];
	int i;

	for (i = 0; i < 20; i++) {
		if (poll(&p, 1, 20) <= 0)
			return;
		if (read(fd, b, sizeof(b)) <= 0)
			return;
	}
}

int
main(int argc, char *argv[])
{
	uint8_t f[65536];
	size_t len, i;
	long rounds, r;
	int fd, kind;

	if (argc != 4) {
		fprintf(stderr, "usage: garbage dir rounds seed\n");
		return 2;
	}
	rounds = strtol(argv[2], NULL, 10);
	rng = strtoull(argv[3], NULL, 10) * 2654435761u + 88172645463325252ULL;
	signal(SIGPIPE, SIG_IGN);
	for (r = 0; r < rounds; r++) {
		if ((fd = proto_connect(argv[1])) == -1) {
			fprintf(stderr, "garbage: round %ld: connect: %s\n", r,
			    strerror(errno));
			return 1;
		}
		kind = rnd() % 5;
		len = 0;
		switch (kind) {
		case 0:		/* noise */
			len = 1 + rnd() % 2048;
			for (i = 0; i < len; i++)
				f[i] = rnd();
			break;
		case 1:		/* a HELLO, then noise */
			len = hello(f, rnd() % 3);
			for (i = 0; i < 1 + rnd() % 512; i++)
				f[len++] = rnd();
			break;
		case 2:		/* a HELLO, then a damaged PUBLISH */
			len = hello(f, 1 + rnd() % 2);
			len += publish(f + len, sizeof(f) - len, 1 + rnd() % 4);
			break;
		case 3:		/* a frame length past any limit */
			len = hello(f, 1);
			len += proto_hdr(f + len, PT_PUBLISH, 0x7ffffffe);
			break;
		case 4:		/* half a frame, then gone */
			len = hello(f, 1);
			len += publish(f + len, sizeof(f) - len, 0);
			len -= 1 + rnd() % 8;
			break;
		}
		(void)send(fd, f, len, MSG_NOSIGNAL);
		if (kind != 4)
			drain(fd);
		close(fd);
	}
	return 0;
}

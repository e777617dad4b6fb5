/*
 * rawpub: a publisher that speaks bus-protocol(7) with a producer id and
 * sequence numbers of the caller's choosing, as a client in another
 * language would, to test busd's deduplication and HELLO_OK.
 *
 * usage: rawpub DIR PRODUCER FIRSTSEQ TOPIC:PAYLOAD ...
 *
 * PRODUCER is the id in hexadecimal.  rawpub says HELLO (ack level 1)
 * and prints "hello N", N being the sequence number HELLO_OK reports;
 * then sends the messages in one PUBLISH frame, numbered from FIRSTSEQ,
 * and prints one line per message: "SEQ OFFSET", or "SEQ dup" for one
 * busd already had.  With no message it only says HELLO.
 * Exits 0, or 1 with a message on stderr if busd refused or went away.
 */
#include <err.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "proto.h"

int
main(int argc, char **argv)
{
	struct proto_hello h = { PROTO_VERSION, ACK_WRITTEN, 0 };
	struct proto_hello_ok ok;
	struct proto_error e;
	struct proto_ack a;
	uint8_t hf[PROTO_HELLO_SIZE], *f, *buf = NULL, type;
	const uint8_t *body;
	size_t cap = 0, blen, len, n, i, fcap = PROTO_PUBLISH_HDR;
	uint64_t first;
	struct bus_rec m;
	const char *colon;
	int fd;

	if (argc < 4)
		errx(2, "usage: rawpub DIR PRODUCER FIRSTSEQ TOPIC:PAYLOAD ...");
	h.producer = strtoull(argv[2], NULL, 16);
	first = strtoull(argv[3], NULL, 10);
	if ((fd = proto_connect(argv[1])) == -1)
		err(1, "connect %s", argv[1]);
	if (proto_send_all(fd, hf, proto_hello_encode(hf, &h)) == -1 ||
	    proto_recv_frame(fd, &buf, &cap, &type, &body, &blen) == -1)
		err(1, "HELLO");
	if (type != PT_HELLO_OK || proto_hello_ok_decode(body, blen, &ok) == -1)
		errx(1, "HELLO: reply of type %u", type);
	printf("hello %" PRIu64 "\n", ok.last_seq);
	n = (size_t)argc - 4;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		fcap += proto_msg_size(strlen(argv[4 + i]), 0, 0,
		    strlen(argv[4 + i]));
	if ((f = malloc(fcap)) == NULL)
		err(1, NULL);
	len = proto_publish_begin(f);
	for (i = 0; i < n; i++) {
		if ((colon = strchr(argv[4 + i], ':')) == NULL)
			errx(2, "%s: not TOPIC:PAYLOAD", argv[4 + i]);
		memset(&m, 0, sizeof(m));
		m.seq = first + i;
		m.topic = argv[4 + i];
		m.topic_len = colon - argv[4 + i];
		m.payload = (const uint8_t *)colon + 1;
		m.payload_len = strlen(colon + 1);
		len += proto_msg_encode(f + len, &m);
	}
	proto_publish_finish(f, len, (uint32_t)n);
	if (proto_send_all(fd, f, len) == -1 ||
	    proto_recv_frame(fd, &buf, &cap, &type, &body, &blen) == -1)
		err(1, "PUBLISH");
	if (type == PT_ERROR && proto_error_decode(body, blen, &e) == 0)
		errx(1, "busd: %.*s", (int)e.text_len, e.text);
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
	free(f);
	free(buf);
	close(fd);
	return 0;
}

/*
 * blockpub: bus_pub_block_reserve() and bus_pub_block_commit() of the
 * public API, step by step, against a running busd.
 *
 * usage: blockpub DIR TOPIC
 *
 * Each step prints one line, "STEP ok" or "STEP error KIND: TEXT":
 *   two	a block of two records ("a", "bb") read into the window
 *   drop	a reservation dropped with a commit of 0 bytes
 *   again	a second reservation while one is open (refused)
 *   nodelim	a commit whose bytes do not end with the delimiter
 *   over	a commit of more bytes than were reserved
 *   copy	bus_pub_add_block() of one record ("ccc")
 *   wait	every record acknowledged
 * Then "next N": the next sequence number.  Exits 0, or 1 after a
 * failure it did not expect (a message on stderr then).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/pub.h"

static void	say(const char *, struct bus_pub *, int);

static void
say(const char *step, struct bus_pub *p, int rc)
{
	const struct bus_error *e = bus_pub_error(p);

	if (rc == 0)
		printf("%s ok\n", step);
	else
		printf("%s error %d: %s\n", step, (int)e->kind, e->text);
}

int
main(int argc, char *argv[])
{
	struct bus_pub *p;
	struct bus_block k;
	uint8_t *buf, *buf2;

	if (argc != 3) {
		fprintf(stderr, "usage: blockpub DIR TOPIC\n");
		return 2;
	}
	if ((p = bus_pub_new(argv[1])) == NULL) {
		fprintf(stderr, "blockpub: out of memory\n");
		return 1;
	}
	bus_pub_set_autostart(p, 0);
	if (bus_pub_connect(p) == -1) {
		fprintf(stderr, "blockpub: cannot connect to busd\n");
		return 1;
	}
	memset(&k, 0, sizeof(k));
	k.topic = argv[2];
	k.topic_len = strlen(argv[2]);
	k.delim = '\n';

	if (bus_pub_block_reserve(p, &k, 64, &buf) == -1)
		goto fail;
	memcpy(buf, "a\nbb\n", 5);
	say("two", p, bus_pub_block_commit(p, 5, 2, 0));

	if (bus_pub_block_reserve(p, &k, 64, &buf) == -1)
		goto fail;
	memcpy(buf, "lost\n", 5);
	say("drop", p, bus_pub_block_commit(p, 0, 0, 0));

	if (bus_pub_block_reserve(p, &k, 64, &buf) == -1)
		goto fail;
	say("again", p, bus_pub_block_reserve(p, &k, 64, &buf2));
	memcpy(buf, "x", 1);
	say("nodelim", p, bus_pub_block_commit(p, 1, 1, 0));

	if (bus_pub_block_reserve(p, &k, 4, &buf) == -1)
		goto fail;
	memcpy(buf, "four\n", 5);
	say("over", p, bus_pub_block_commit(p, 5, 1, 0));

	k.data = "ccc\n";
	k.len = 4;
	k.count = 1;
	say("copy", p, bus_pub_add_block(p, &k, 0));

	say("wait", p, bus_pub_wait(p, 10000) == 1 ? 0 : -1);
	printf("next %llu\n", (unsigned long long)bus_pub_next_seq(p));
	bus_pub_free(p);
	return 0;
fail:
	fprintf(stderr, "blockpub: %s\n", bus_pub_error(p)->text);
	return 1;
}

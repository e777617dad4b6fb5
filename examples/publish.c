/*
 * publish: publish each argument as one message, and wait until busd has
 * synced them to disk.  An example of bus_pub(3).
 *
 *	cc publish.c $(pkg-config --cflags --libs bus) -o publish
 *	publish [-d dir] [-t topic] [message ...]
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <bus/bus.h>

static void	usage(void);
static void	log_warning(void *, const char *);
static void	fail(const struct bus_pub *);

static void
usage(void)
{
	fprintf(stderr, "usage: publish [-d dir] [-t topic] [message ...]\n");
	exit(EX_USAGE);
}

/* What the publisher has to say, such as a reconnection to busd. */
static void
log_warning(void *arg, const char *msg)
{
	warnx("%s", msg);
}

/* The publisher failed: say why, and exit with the status for it. */
static void
fail(const struct bus_pub *p)
{
	const struct bus_error *e = bus_pub_error(p);

	warnx("%llu message(s) acknowledged",
	    (unsigned long long)bus_pub_acked(p));
	errx(e->status, "%s", e->text);
}

int
main(int argc, char *argv[])
{
	static char *hello[] = { "hello from libbus" };
	const char *dir = NULL, *topic = "example.hello", *why;
	struct bus_pub *p;
	struct bus_msg m;
	int ch, i;

	while ((ch = getopt(argc, argv, "d:t:")) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 't':
			topic = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		argc = 1;
		argv = hello;
	}
	/* busd would refuse a bad topic and close the connection. */
	if (bus_topic_check(topic, strlen(topic), &why) == -1)
		errx(EX_DATAERR, "invalid topic '%s': %s", topic, why);

	if ((p = bus_pub_new(dir)) == NULL)
		err(EX_OSERR, NULL);
	bus_pub_set_ack(p, BUS_ACK_SYNCED);
	bus_pub_set_log(p, log_warning, NULL);
	if (bus_pub_connect(p) == -1)
		fail(p);
	for (i = 0; i < argc; i++) {
		memset(&m, 0, sizeof(m));
		m.topic = topic;
		m.topic_len = strlen(topic);
		m.payload = argv[i];
		m.payload_len = strlen(argv[i]);
		if (bus_pub_add(p, &m, 0, NULL) == -1)
			fail(p);
	}
	/* Send them all, and wait until busd has every one on disk. */
	if (bus_pub_wait(p, -1) == -1)
		fail(p);
	printf("%llu message(s) acknowledged\n",
	    (unsigned long long)bus_pub_acked(p));
	bus_pub_free(p);
	return 0;
}

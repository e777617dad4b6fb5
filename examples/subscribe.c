/*
 * subscribe: print the topic, offset and payload of every message of the
 * topics a pattern matches, from the oldest stored to the end of the
 * store, and exit.  An example of bus_sub(3).
 *
 *	cc subscribe.c $(pkg-config --cflags --libs bus) -o subscribe
 *	subscribe [-d dir] [pattern]
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include <bus/bus.h>

static void	usage(void);
static void	log_warning(void *, const char *);
static void	fail(const struct bus_sub *);

static void
usage(void)
{
	fprintf(stderr, "usage: subscribe [-d dir] [pattern]\n");
	exit(EX_USAGE);
}

/* What the subscriber has to say, such as messages lost to retention. */
static void
log_warning(void *arg, const char *msg)
{
	warnx("%s", msg);
}

/* The subscriber failed: say why, and exit with the status for it. */
static void
fail(const struct bus_sub *s)
{
	const struct bus_error *e = bus_sub_error(s);

	errx(e->status, "%s", e->text);
}

int
main(int argc, char *argv[])
{
	const char *dir = NULL, *pattern = "example\\..*";
	struct bus_sub *s;
	struct bus_msg m;
	int ch;

	while ((ch = getopt(argc, argv, "d:")) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage();
	if (argc == 1)
		pattern = argv[0];

	if ((s = bus_sub_new(dir)) == NULL)
		err(EX_OSERR, NULL);
	bus_sub_set_log(s, log_warning, NULL);
	if (bus_sub_add_pattern(s, pattern) == -1 ||
	    bus_sub_set_from(s, "beginning") == -1)
		fail(s);
	/* Stop at the end of what is stored now, rather than follow. */
	bus_sub_set_end(s, 1);
	if (bus_sub_open(s) == -1)
		fail(s);
	for (;;) {
		switch (bus_sub_next(s, &m, -1)) {
		case BUS_SUB_MSG:
			/* The payload is bytes, not a string. */
			printf("%.*s %llu ", (int)m.topic_len, m.topic,
			    (unsigned long long)m.offset);
			fwrite(m.payload, 1, m.payload_len, stdout);
			putchar('\n');
			break;
		case BUS_SUB_NONE:
			break;	/* not without a timeout */
		case BUS_SUB_END:
			if (fflush(stdout) == EOF)
				err(EX_IOERR, "stdout");
			bus_sub_free(s);
			return 0;
		case BUS_SUB_ERROR:
			fail(s);
		}
	}
}

/*
 * bus-sub: does each topic pattern match a partition of the store?
 *
 * A typo, or a NATS-style pattern such as 'orders.>' (patterns are
 * PCRE2 regexes), otherwise reads nothing, silently.  This runs once,
 * at start, with the same test as the subscription's: a topic in a
 * partition's topics file, or its name when it has none yet.
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "sub.h"

/* The patterns and which of them matched something. */
struct pcheck {
	struct patset	**ps;		/* one set per pattern */
	int		*hit;		/* it matched */
	int		 n;
};

static int	topic_hit(const char *, size_t, void *);
static void	nats_hint(const char *);

static int
topic_hit(const char *t, size_t len, void *arg)
{
	struct pcheck *pc = arg;
	int i;

	for (i = 0; i < pc->n; i++)
		if (!pc->hit[i] && patset_match(pc->ps[i], t, len))
			pc->hit[i] = 1;
	return 0;
}

/*
 * '>' is never in a topic: 'orders.>' is a NATS subject.  Say the regex
 * (a NATS '*' is one token: [^.]*).
 */
static void
nats_hint(const char *pat)
{
	char re[1024];
	const char *p;
	size_t n = 0;

	if (strchr(pat, '>') == NULL || strchr(pat, '\\') != NULL)
		return;
	for (p = pat; *p != '\0' && n + 8 < sizeof(re); p++) {
		if (*p == '.')
			n += snprintf(re + n, sizeof(re) - n, "\\.");
		else if (*p == '>')
			n += snprintf(re + n, sizeof(re) - n, ".*");
		else if (*p == '*')
			n += snprintf(re + n, sizeof(re) - n, "[^.]*");
		else
			re[n++] = *p;
	}
	re[n] = '\0';
	warnx("patterns are regular expressions matching whole topics: "
	    "for the NATS subject %s write '%s'", pat, re);
}

/*
 * Say "no partition matches PATTERN" for each pattern matching no
 * partition of store dir; how many did not.
 */
int
patterns_check(const char *dir, int argc, char **argv)
{
	struct pcheck pc;
	char **names, path[PATH_MAX], e[512];
	size_t nnames, k;
	int i, fd, rc, missed = 0;

	if (store_list_partitions(dir, &names, &nnames) == -1) {
		if (errno != ENOENT)
			err(EX_IOERR, "%s/%s", dir, BUS_LOGDIR);
		names = NULL;
		nnames = 0;
	}
	pc.n = argc;
	if ((pc.ps = calloc(argc, sizeof(*pc.ps))) == NULL ||
	    (pc.hit = calloc(argc, sizeof(*pc.hit))) == NULL)
		err(EX_OSERR, NULL);
	for (i = 0; i < argc; i++)
		if ((pc.ps[i] = patset_new(&argv[i], 1, e, sizeof(e))) == NULL)
			errx(EX_USAGE, "%s", e);
	for (k = 0; k < nnames; k++) {
		snprintf(path, sizeof(path), "%s/%s/%s", dir, BUS_LOGDIR,
		    names[k]);
		rc = -1;
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd != -1) {
			rc = store_topics_read(fd, topic_hit, &pc);
			close(fd);
		}
		if (rc == -1)
			topic_hit(names[k], strlen(names[k]), &pc);
	}
	for (i = 0; i < argc; i++) {
		if (!pc.hit[i]) {
			warnx("no partition matches %s", argv[i]);
			nats_hint(argv[i]);
			missed++;
		}
		patset_free(pc.ps[i]);
	}
	free(pc.ps);
	free(pc.hit);
	if (names != NULL)
		store_free_names(names, nnames);
	return missed;
}

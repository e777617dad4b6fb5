/*
 * bus-sub: --scheduled, the messages busd holds for later whose topic
 * matches the patterns, in the order they were scheduled.
 */
#include <sys/types.h>

#include <err.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "bus.h"
#include "json.h"
#include "schedule.h"
#include "sub.h"

/* What each listed message needs. */
struct lsched {
	struct patset	*ps;		/* the patterns */
	int		 json;		/* -o json */
	uint64_t	 n;		/* listed */
};

static int	list_one(const struct bus_rec *, int64_t, void *);

static int
list_one(const struct bus_rec *r, int64_t due, void *arg)
{
	struct lsched *ls = arg;
	char t[40], st[40];

	if (!patset_match(ls->ps, r->topic, r->topic_len))
		return 0;
	ls->n++;
	format_time(t, sizeof(t), due);
	format_time(st, sizeof(st), r->recv_ns);
	if (!ls->json) {
		printf("%s %.*s %.*s ", t, (int)r->topic_len, r->topic,
		    r->key_len ? (int)r->key_len : 1,
		    r->key_len ? r->key : "-");
		fwrite(r->payload, 1, r->payload_len, stdout);
		putchar('\n');
		return 0;
	}
	printf("{\"due\":\"%s\",\"due_ns\":%" PRId64 ",\"scheduled\":\"%s\","
	    "\"topic\":", t, due, st);
	json_fputs(stdout, r->topic, r->topic_len);
	printf(",\"key\":");
	if (r->key_len)
		json_fputs(stdout, r->key, r->key_len);
	else
		printf("null");
	printf(",\"schedule_offset\":%" PRIu64 ",\"payload\":", r->offset);
	json_fputs(stdout, r->payload, r->payload_len);
	printf("}\n");
	return 0;
}

__dead void
list_scheduled(const char *dir, int json, char **pats, int npats)
{
	struct lsched ls = { NULL, json, 0 };
	char emsg[512];

	if (npats == 0)
		errx(EX_USAGE, "--scheduled: a topic pattern is required "
		    "('.*' for all)");
	if ((ls.ps = patset_new(pats, npats, emsg, sizeof(emsg))) == NULL)
		errx(EX_USAGE, "%s", emsg);
	if (sched_scan(dir, list_one, &ls) == -1)
		err(EX_IOERR, "%s/%s/%s", dir, BUS_LOGDIR, SCHED_PART);
	patset_free(ls.ps);
	if (fflush(stdout) == EOF)
		err(EX_IOERR, "stdout");
	exit(0);
}

/*
 * A test client of bus-nats, on libnats alone: read a JetStream stream
 * from its start to its last message as it is now, print one line a
 * message, and check what bus-nats export promises:
 *
 *   every message has Nats-Msg-Id, Bus-Topic and Bus-Time (three
 *   numbers); its id is "<store id>:<partition>:<offset>";
 *   every (store, partition, offset) is there once, and within a
 *   partition the offsets come in order with no gap.
 *
 *	jsread [-q] url stream
 *
 * Lines: stream seq, subject, partition, offset, topic, key, tags,
 * event time, payload, tab-separated.  Exit 0 if all is well, 1 with one
 * line per violation (and a count) otherwise, 2 on a usage or server
 * error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#define MAXPART	256

struct part {
	char		 key[300];	/* store id:partition */
	uint64_t	 next;		/* offset expected next */
};

static struct part parts[MAXPART];
static int	nparts, bad;

static const char *
hdr(natsMsg *m, const char *name)
{
	const char *v;

	if (natsMsgHeader_Get(m, name, &v) != NATS_OK)
		return NULL;
	return v;
}

/*
 * Partition and offset from an id "<32 hex>:<partition>:<offset>" into
 * part (NUL-terminated) and *off; 0, or -1 if it is not one.
 */
static int
parse_id(const char *id, char *part, size_t plen, uint64_t *off)
{
	const char *c;
	char *end;
	int k;

	for (k = 0; k < 32; k++)
		if (strchr("0123456789abcdef", id[k]) == NULL || id[k] == '\0')
			return -1;
	if (id[32] != ':' || (c = strrchr(id + 33, ':')) == NULL ||
	    c == id + 33 || (size_t)(c - id - 33) >= plen ||
	    c[1] < '0' || c[1] > '9')
		return -1;
	*off = strtoull(c + 1, &end, 10);
	if (*end != '\0')
		return -1;
	memcpy(part, id + 33, c - id - 33);
	part[c - id - 33] = '\0';
	return 0;
}

/* Bus-Time: three decimal numbers, space-separated. */
static int
times_ok(const char *v)
{
	char *end;
	int k;

	for (k = 0; k < 3; k++) {
		if (*v == '\0' || *v == ' ')
			return 0;
		(void)strtoll(v, &end, 10);
		if (*end != (k < 2 ? ' ' : '\0'))
			return 0;
		v = end + 1;
	}
	return 1;
}

static void
check(natsMsg *m, uint64_t seq)
{
	static const char *need[] = { "Nats-Msg-Id", "Bus-Topic", "Bus-Time",
	    NULL };
	const char *id;
	char want[400], part[300];
	uint64_t off;
	int k;

	for (k = 0; need[k] != NULL; k++)
		if (hdr(m, need[k]) == NULL) {
			printf("BAD seq %" PRIu64 ": no %s header\n", seq,
			    need[k]);
			bad++;
			return;
		}
	id = hdr(m, "Nats-Msg-Id");
	/* The id: 32 hex digits of the store, partition, offset. */
	if (parse_id(id, part, sizeof(part), &off) == -1) {
		printf("BAD seq %" PRIu64 ": Nats-Msg-Id %s is not "
		    "store:partition:offset\n", seq, id);
		bad++;
		return;
	}
	if (!times_ok(hdr(m, "Bus-Time"))) {
		printf("BAD seq %" PRIu64 ": Bus-Time '%s' is not three "
		    "numbers\n", seq, hdr(m, "Bus-Time"));
		bad++;
		return;
	}
	snprintf(want, sizeof(want), "%.32s:%s", id, part);
	for (k = 0; k < nparts; k++)
		if (strcmp(parts[k].key, want) == 0)
			break;
	if (k == nparts) {
		if (nparts == MAXPART) {
			printf("BAD: more than %d partitions\n", MAXPART);
			exit(2);
		}
		strlcpy(parts[nparts].key, want, sizeof(parts[k].key));
		parts[nparts++].next = off;
	}
	if (off != parts[k].next) {
		printf("BAD seq %" PRIu64 ": %s offset %" PRIu64 ", expected "
		    "%" PRIu64 " (%s)\n", seq, want, off, parts[k].next,
		    off < parts[k].next ? "twice" : "a gap");
		bad++;
	}
	if (off >= parts[k].next)
		parts[k].next = off + 1;
}

int
main(int argc, char *argv[])
{
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	jsStreamInfo *si = NULL;
	jsCtx *js = NULL;
	jsSubOptions so;
	natsMsgList list;
	jsMsgMetaData *meta;
	jsErrCode jerr;
	natsStatus s;
	uint64_t last, seq = 0, n = 0;
	const char *k, *t, *id, *tm;
	char part[300];
	uint64_t off;
	int i, quiet = 0, ch;

	while ((ch = getopt(argc, argv, "q")) != -1) {
		if (ch != 'q') {
			fprintf(stderr, "usage: jsread [-q] url stream\n");
			return 2;
		}
		quiet = 1;
	}
	argc -= optind;
	argv += optind;
	if (argc != 2) {
		fprintf(stderr, "usage: jsread [-q] url stream\n");
		return 2;
	}
	if ((s = natsConnection_ConnectTo(&nc, argv[0])) != NATS_OK ||
	    (s = natsConnection_JetStream(&js, nc, NULL)) != NATS_OK ||
	    (s = js_GetStreamInfo(&si, js, argv[1], NULL, &jerr)) != NATS_OK) {
		fprintf(stderr, "jsread: %s: %s\n", argv[1],
		    nats_GetLastError(NULL));
		return 2;
	}
	last = si->State.LastSeq;
	jsSubOptions_Init(&so);
	so.Stream = argv[1];
	so.Config.AckPolicy = js_AckNone;
	so.Config.DeliverPolicy = js_DeliverAll;
	if ((s = js_PullSubscribe(&sub, js, si->Config->Subjects[0], NULL,
	    NULL, &so, &jerr)) != NATS_OK) {
		fprintf(stderr, "jsread: subscribe: %s\n",
		    nats_GetLastError(NULL));
		return 2;
	}
	while (seq < last) {
		s = natsSubscription_Fetch(&list, sub, 1000, 5000, &jerr);
		if (s != NATS_OK) {
			fprintf(stderr, "jsread: fetch after seq %" PRIu64
			    " of %" PRIu64 ": %s\n", seq, last,
			    natsStatus_GetText(s));
			return 2;
		}
		for (i = 0; i < list.Count; i++) {
			natsMsg *m = list.Msgs[i];

			if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
				fprintf(stderr, "jsread: no metadata\n");
				return 2;
			}
			seq = meta->Sequence.Stream;
			jsMsgMetaData_Destroy(meta);
			n++;
			check(m, seq);
			if (quiet)
				continue;
			k = hdr(m, "Bus-Key");
			t = hdr(m, "Bus-Tags");
			id = hdr(m, "Nats-Msg-Id");
			tm = hdr(m, "Bus-Time");
			if (id == NULL || parse_id(id, part, sizeof(part),
			    &off) == -1) {
				part[0] = '\0';
				off = 0;
			}
			printf("%" PRIu64 "\t%s\t%s\t%" PRIu64 "\t%s\t%s\t%s\t"
			    "%.*s\t%.*s\n", seq, natsMsg_GetSubject(m), part,
			    off,
			    hdr(m, "Bus-Topic") ? hdr(m, "Bus-Topic") : "",
			    k ? k : "", t ? t : "",
			    tm ? (int)strcspn(tm, " ") : 0, tm ? tm : "",
			    natsMsg_GetDataLength(m), natsMsg_GetData(m));
		}
		natsMsgList_Destroy(&list);
	}
	fprintf(stderr, "jsread: %" PRIu64 " messages, %d partitions, %d "
	    "bad\n", n, nparts, bad);
	natsSubscription_Destroy(sub);
	jsStreamInfo_Destroy(si);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return bad ? 1 : 0;
}

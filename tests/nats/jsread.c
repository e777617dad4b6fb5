/*
 * A test client of bus-nats, on libnats alone: read a JetStream stream
 * from its start to its last message as it is now, print one line a
 * message, and check what bus-nats export promises:
 *
 *   every message has Nats-Msg-Id, Bus-Topic, Bus-Partition, Bus-Offset
 *   and the three times; its id is "<store id>:<partition>:<offset>";
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

static void
check(natsMsg *m, uint64_t seq)
{
	static const char *need[] = { "Nats-Msg-Id", "Bus-Topic",
	    "Bus-Partition", "Bus-Offset", "Bus-Event-Time", "Bus-Send-Time",
	    "Bus-Receive-Time", NULL };
	const char *id, *p, *o;
	char want[400];
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
	p = hdr(m, "Bus-Partition");
	o = hdr(m, "Bus-Offset");
	off = strtoull(o, NULL, 10);
	/* The id: 32 hex digits of the store, partition, offset. */
	if (strlen(id) < 34 || id[32] != ':' ||
	    (snprintf(want, sizeof(want), "%.32s:%s:%s", id, p, o),
	    strcmp(want, id) != 0)) {
		printf("BAD seq %" PRIu64 ": Nats-Msg-Id %s is not "
		    "store:%s:%s\n", seq, id, p, o);
		bad++;
		return;
	}
	snprintf(want, sizeof(want), "%.32s:%s", id, p);
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
	const char *k, *t;
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
			printf("%" PRIu64 "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.*s\n",
			    seq, natsMsg_GetSubject(m),
			    hdr(m, "Bus-Partition") ? hdr(m, "Bus-Partition") : "",
			    hdr(m, "Bus-Offset") ? hdr(m, "Bus-Offset") : "",
			    hdr(m, "Bus-Topic") ? hdr(m, "Bus-Topic") : "",
			    k ? k : "", t ? t : "",
			    hdr(m, "Bus-Event-Time") ? hdr(m, "Bus-Event-Time") :
			    "", natsMsg_GetDataLength(m), natsMsg_GetData(m));
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

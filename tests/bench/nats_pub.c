/*
 * The baseline of bus-nats export: a plain libnats JetStream publisher,
 * asynchronous, with as many in flight as bus-nats (4096 by default).
 *
 *	nats_pub url stream subject count size [inflight [id|hdr]]
 *
 * Makes the stream (taking subject) if it is missing, publishes count
 * messages of size bytes (with "id", each with a Nats-Msg-Id, as
 * exactly once needs; with "hdr", each with a header of the same length
 * that is not an id, to tell a header's cost from dedup's) and waits for
 * every PubAck;
 * prints "plain publisher: N msgs in S s: R msg/s".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char *argv[])
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode jerr;
	natsStatus s;
	long count, size, inflight = 4096, i;
	jsPubOptions po;
	char *buf, id[64];
	natsMsg *msg;
	int ids, hdr;
	double t0, t;

	if (argc < 6) {
		fprintf(stderr, "usage: nats_pub url stream subject count size "
		    "[inflight [id|hdr]]\n");
		return 2;
	}
	argv++;
	argc--;
	count = atol(argv[3]);
	size = atol(argv[4]);
	if (argc > 5)
		inflight = atol(argv[5]);
	ids = argc > 6 && strcmp(argv[6], "id") == 0;
	hdr = argc > 6 && strcmp(argv[6], "hdr") == 0;
	jsPubOptions_Init(&po);
	if ((buf = malloc(size)) == NULL)
		return 2;
	memset(buf, 'x', size);
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = inflight;
	jo.PublishAsync.StallWait = 60000;	/* never give up under load */
	if ((s = natsConnection_ConnectTo(&nc, argv[0])) != NATS_OK ||
	    (s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK) {
		fprintf(stderr, "nats_pub: %s\n", natsStatus_GetText(s));
		return 1;
	}
	if (js_GetStreamInfo(&si, js, argv[1], NULL, &jerr) != NATS_OK) {
		jsStreamConfig_Init(&cfg);
		cfg.Name = argv[1];
		cfg.Subjects = (const char *[]){ argv[2] };
		cfg.SubjectsLen = 1;
		if ((s = js_AddStream(&si, js, &cfg, NULL, &jerr)) != NATS_OK) {
			fprintf(stderr, "nats_pub: stream: %s\n",
			    nats_GetLastError(NULL));
			return 1;
		}
	}
	jsStreamInfo_Destroy(si);
	t0 = now();
	for (i = 0; i < count; i++) {
		if (ids) {
			snprintf(id, sizeof(id), "%032x:bench:%ld", 0, i);
			po.MsgId = id;
		}
		if (hdr) {
			snprintf(id, sizeof(id), "%032x:bench:%ld", 0, i);
			msg = NULL;
			if ((s = natsMsg_Create(&msg, argv[2], NULL, buf,
			    (int)size)) == NATS_OK &&
			    (s = natsMsgHeader_Set(msg, "Bus-Id", id)) ==
			    NATS_OK)
				s = js_PublishMsgAsync(js, &msg, NULL);
			natsMsg_Destroy(msg);
		} else
			s = js_PublishAsync(js, argv[2], buf, (int)size,
			    ids ? &po : NULL);
		if (s != NATS_OK) {
			fprintf(stderr, "nats_pub: %s\n",
			    nats_GetLastError(NULL));
			return 1;
		}
	}
	if ((s = js_PublishAsyncComplete(js, NULL)) != NATS_OK) {
		fprintf(stderr, "nats_pub: complete: %s\n",
		    natsStatus_GetText(s));
		return 1;
	}
	t = now() - t0;
	printf("plain publisher%s: %ld msgs in %.2f s: %.0f msg/s\n",
	    ids ? " with Nats-Msg-Id" : hdr ? " with a header (no id)" : "",
	    count, t,
	    count / t);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	free(buf);
	return 0;
}

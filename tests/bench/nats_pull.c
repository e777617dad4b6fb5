/*
 * The baseline of bus-nats import: a plain libnats pull consumer that
 * fetches batches of 1000 and acknowledges each batch (AckAll), as
 * bus-nats import does, but stores nothing.
 *
 *	nats_pull url stream count [batch]	read count messages
 *	nats_pull -w url stream count		wait until the stream holds
 *						count messages, print how many
 *
 * Prints "plain pull consumer: N msgs in S s: R msg/s".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	natsSubscription *sub = NULL;
	jsStreamInfo *si = NULL;
	jsCtx *js = NULL;
	jsSubOptions so;
	natsMsgList list;
	jsErrCode jerr;
	natsStatus s;
	long count, batch = 1000, n = 0;
	int waitmode = 0;
	double t0, t;

	if (argc > 1 && strcmp(argv[1], "-w") == 0) {
		waitmode = 1;
		argv++;
		argc--;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: nats_pull [-w] url stream count "
		    "[batch]\n");
		return 2;
	}
	count = atol(argv[3]);
	if (argc > 4)
		batch = atol(argv[4]);
	if ((s = natsConnection_ConnectTo(&nc, argv[1])) != NATS_OK ||
	    (s = natsConnection_JetStream(&js, nc, NULL)) != NATS_OK) {
		fprintf(stderr, "nats_pull: %s\n", natsStatus_GetText(s));
		return 1;
	}
	if (waitmode) {
		for (;;) {
			if (js_GetStreamInfo(&si, js, argv[2], NULL,
			    &jerr) == NATS_OK) {
				n = (long)si->State.Msgs;
				jsStreamInfo_Destroy(si);
				if (n >= count) {
					printf("%ld\n", n);
					return 0;
				}
			}
			usleep(20000);
		}
	}
	if ((s = js_GetStreamInfo(&si, js, argv[2], NULL, &jerr)) != NATS_OK) {
		fprintf(stderr, "nats_pull: %s\n", nats_GetLastError(NULL));
		return 1;
	}
	jsSubOptions_Init(&so);
	so.Stream = argv[2];
	so.Config.AckPolicy = js_AckAll;
	so.Config.DeliverPolicy = js_DeliverAll;
	so.Config.MaxAckPending = 2 * batch;
	if ((s = js_PullSubscribe(&sub, js, si->Config->Subjects[0], NULL,
	    NULL, &so, &jerr)) != NATS_OK) {
		fprintf(stderr, "nats_pull: %s\n", nats_GetLastError(NULL));
		return 1;
	}
	t0 = now();
	while (n < count) {
		if ((s = natsSubscription_Fetch(&list, sub, (int)batch, 5000,
		    &jerr)) != NATS_OK) {
			fprintf(stderr, "nats_pull: fetch: %s\n",
			    natsStatus_GetText(s));
			return 1;
		}
		n += list.Count;
		natsMsg_Ack(list.Msgs[list.Count - 1], NULL);
		natsMsgList_Destroy(&list);
	}
	t = now() - t0;
	printf("plain pull consumer: %ld msgs in %.2f s: %.0f msg/s\n", n, t,
	    n / t);
	jsStreamInfo_Destroy(si);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return 0;
}

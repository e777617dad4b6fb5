/*
 * bus-nats: a bridge between a bus store and an external log, both ways,
 * exactly once (bus-nats(1)).
 *
 * export.c and import.c know the store (through the public libbus API)
 * and nothing of the external log; they reach it through a backend: a
 * sink (export) or a source (import), below.  jetstream.c is the one
 * backend, NATS JetStream; another log (Kafka through librdkafka, say)
 * would be one more file implementing the same two sets of operations.
 */
#ifndef BUS_NATS_BRIDGE_H
#define BUS_NATS_BRIDGE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"

#define BRIDGE_NAME	"bus-nats"

/* Everything the flags say. */
struct bridge_opts {
	const char	*dir;		/* -d: the store */
	const char	*server;	/* --server: URL(s) of the external log */
	const char	*stream;	/* --stream */
	const char	*name;		/* export --name: the cursor */
	const char	*from;		/* export --from: a new cursor's start */
	const char	*subject;	/* export --subject: template */
	const char	*durable;	/* import --durable: the consumer */
	const char	*filter;	/* import --filter: subject filter */
	const char	*topic;		/* import --topic: template */
	char		**patterns;	/* export: topic patterns */
	int		 npatterns;
	int		 create_stream;	/* --create-stream */
	const char	*stream_subjects; /* --stream-subjects, or NULL */
	int		 inflight;	/* export: unacknowledged at most */
	int		 batch;		/* import: messages per fetch */
	int		 stats;		/* --stats: seconds; 0 none */
	int64_t		 ack_wait;	/* ns an ack may take */
	int		 synced;	/* import --synced: fdatasync'd acks */
	int		 verbose;	/* -v */
};

/*
 * What went wrong, as the programs report it: one line, a sysexits(3)
 * status, and whether trying again later may help (the other side went
 * away) or not (a bad flag, a missing stream).
 */
struct bridge_err {
	int		 status;	/* EX_* */
	int		 transient;	/* retry with backoff */
	char		 text[1024];
};

/* A message from a source, decoded for the store. */
struct ext_msg {
	const char	*subject;	/* its subject, NUL-terminated */
	const char	*topic;		/* Bus-Topic, or NULL */
	struct bus_msg	 m;		/* key, tags, payload, event time, flags */
	int64_t		 send_ns;	/* Bus-Time's send time, or 0 */
	uint64_t	 seq;		/* its sequence number in the source */
};

/* Counters the status line shows; the backend updates its own. */
struct bridge_stats {
	uint64_t	 sent;		/* handed to the other side */
	uint64_t	 acked;		/* acknowledged by it */
	uint64_t	 dups;		/* of those, duplicates it dropped */
	uint64_t	 inflight;	/* sent, not acknowledged yet */
	uint64_t	 lag;		/* messages behind (import) */
	int64_t		 last_ns;	/* time of the last acknowledged */
	unsigned	 reconnects;
};

/*
 * Export side: a sink takes messages with a subject and an id (the same
 * message always has the same id, so the other side can drop a second
 * copy) and tells when all it was given is stored.
 */
struct sink;
struct sink_ops {
	const char	*name;
	/* Connect and check (or create) where messages go; NULL with *e. */
	struct sink	*(*open)(const struct bridge_opts *, const char *,
			    struct bridge_err *);
	/* Send one message (asynchronously); 0, or -1 with *e. */
	int		 (*send)(struct sink *, const struct bus_msg *,
			    const char *, const char *, struct bridge_err *);
	/*
	 * Wait up to ms for everything sent: 1 all stored, 0 not yet,
	 * -1 with *e (some were not: send them again).
	 */
	int		 (*wait)(struct sink *, int, struct bridge_err *);
	void		 (*stats)(struct sink *, struct bridge_stats *);
	void		 (*close)(struct sink *);
};

/*
 * Import side: a source hands out batches of messages in order, and
 * takes an ack for a whole batch once the store has it.  It keeps the
 * batch before the one fetched last until then, so that the store can
 * write one batch while the next one is on its way.
 */
struct source;
struct source_ops {
	const char	*name;
	struct source	*(*open)(const struct bridge_opts *,
			    struct bridge_err *);
	/* Fetch up to n, waiting up to ms: how many, or -1 with *e. */
	int		 (*fetch)(struct source *, int, int, struct bridge_err *);
	/* Message i of the batch, valid until the next get or fetch. */
	int		 (*get)(struct source *, int, struct ext_msg *,
			    struct bridge_err *);
	/* The batch before the last one is stored: acknowledge it. */
	int		 (*ack)(struct source *, struct bridge_err *);
	void		 (*stats)(struct source *, struct bridge_stats *);
	void		 (*close)(struct source *);
};

/* jetstream.c */
extern const struct sink_ops	js_sink;
extern const struct source_ops	js_source;

/* template.c: subject and topic templates, "bus.{topic}". */
struct tmpl;
struct tmpl	*tmpl_parse(const char *, const char *const *, char *, size_t);
size_t		 tmpl_nfields(const struct tmpl *);
int		 tmpl_uses(const struct tmpl *, int);
ssize_t		 tmpl_expand(const struct tmpl *, const char *const *,
		    const size_t *, char *, size_t);
int		 tmpl_filter(const struct tmpl *, char *, size_t);
void		 tmpl_free(struct tmpl *);

/* export.c, import.c: each runs until told to stop; the exit status. */
int		 export_run(const struct bridge_opts *, const struct sink_ops *);
int		 import_run(const struct bridge_opts *,
		    const struct source_ops *);

/* main.c: signals, status lines, backoff, one-line reports. */
extern volatile sig_atomic_t	bridge_quit;	/* SIGTERM, SIGINT */
void		 bridge_say(void *, const char *);
void		 bridge_status(const char *, const struct bridge_stats *,
		    int);
int		 bridge_backoff(unsigned *, const struct bridge_err *);
void		 bridge_hold_signals(int);

#endif /* BUS_NATS_BRIDGE_H */

/*
 * busd: what its files share.  Each global is listed under the file that
 * owns it; each function under the file that defines it.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "acl.h"
#include "append.h"
#include "bus.h"

struct topic {
	RB_ENTRY(topic)	 entry;
	char		*name;
};
RB_HEAD(topic_tree, topic);

RB_HEAD(pprod_tree, pprod);
struct pprods_snap;

struct part {
	RB_ENTRY(part)	 entry;
	char		 name[BUS_TOPIC_MAX + 1];
	/*
	 * What each producer has stored here.  Dedup is per partition: a
	 * turn cut short by a crash may have written one partition and not
	 * another, and then only the missing one must take the resend.
	 */
	struct pprod_tree prods;
	struct pprod	*touched;	/* pprods stored to this turn */
	uint64_t	 prods_mark;	/* DIR/log/P/producers covers below */
	int		 dirfd;		/* DIR/log/<name> */
	int		 topicsfd;	/* the topics file, append only */
	/*
	 * The active segment and its index (app.sfd, app.ifd, -1 while
	 * there is none) with what is not yet written to them; app.failed
	 * is the errno of a write that failed this turn.
	 */
	struct app	 app;
	uint64_t	 base;		/* active segment base offset */
	uint64_t	 next_off;	/* offset of the next record */
	int		 dirty;		/* on the dirty list */
	int		 unsynced;	/* written since the last fdatasync */
	uint64_t	 turn_nrecs;	/* nrecs before this turn, for undo */
	int64_t		 last_recv;	/* receive time of the newest record */
	uint64_t	 nrecs;		/* records in the active segment */
	struct topic_tree topics;	/* topics seen in this partition */
	TAILQ_ENTRY(part) dlink;	/* dirty list */
	int		 open;		/* its files are open (on the LRU) */
	TAILQ_ENTRY(part) olink;	/* the LRU of open partitions */
};
RB_HEAD(part_tree, part);

/* A producer's state in one partition. */
struct pprod {
	RB_ENTRY(pprod)	 entry;
	uint64_t	 id;
	uint64_t	 last_seq;	/* highest sequence stored here */
	uint64_t	 turn_seq;	/* last_seq when this turn began */
	uint64_t	 turn;		/* the turn that touched it last */
	int64_t		 last_use;
	struct pprod	*tnext;		/* the partition's touched list */
};

struct producer {
	RB_ENTRY(producer) entry;
	uint64_t	 id;
	uint64_t	 last_seq;	/* everything up to it is stored */
	int64_t		 last_use;
	int		 refs;		/* connections using it */
};


/* Acks in obuf up to end wait for the sync numbered gen. */
struct ackmark {
	size_t		 end;
	uint64_t	 gen;
};

struct client {
	int		 fd;
	uint8_t		*rbuf;		/* bytes received, not yet parsed */
	size_t		 rlen, rcap;
	uint8_t		*obuf;		/* bytes to send */
	size_t		 olen, ooff, ocap;
	size_t		 pend;		/* acks of this turn start at obuf+pend */
	int		 hello;		/* HELLO received */
	int		 ack;		/* ACK_* */
	struct producer	*prod;
	uint64_t	 seq_mark;	/* prod->last_seq when the turn began */
	int		 closing;	/* close once obuf is sent */
	int		 paused;	/* EPOLLIN off: output backlog */
	uint32_t	 events;	/* what epoll watches for it */
	int		 in_turn;	/* on the turn list */
	int		 published;	/* has acks of this turn */
	size_t		 sendable;	/* obuf may be sent up to here */
	struct ackmark	*marks;		/* synced acks held for a sync */
	size_t		 nmarks, capmarks;
	TAILQ_ENTRY(client) link;
	TAILQ_ENTRY(client) tlink;	/* clients with acks this turn */
	struct part	*pp_part;	/* client_publish() cache: partition, */
	struct pprod	*pp;		/* the producer's state there, */
	uint64_t	 pp_gen;	/* valid while pprod_gen is this */
	struct peer	*peer;		/* its credentials, ACL decisions */
};
TAILQ_HEAD(client_list, client);

TAILQ_HEAD(part_list, part);

RB_PROTOTYPE(topic_tree, topic, entry, topic_cmp);
RB_PROTOTYPE(part_tree, part, entry, part_cmp);

/* main.c */
extern const char *dir;			/* the store */
extern const char *conf_file;		/* -c, or DIR/busd.conf if present */
extern char	**cli_rules;		/* -r, in order */
extern int	 ncli_rules;
extern struct ruleset rules;
extern uint64_t	 seg_size;		/* --segment-size */
extern size_t	 max_message;		/* --max-message */
extern size_t	 max_frame;
extern int	 max_clients;		/* --max-clients */
extern int	 max_partitions;	/* --max-partitions */
extern long	 nofile_limit;		/* RLIMIT_NOFILE, raised at start */
extern int	 epfd, lfd;
extern int	 logfd;			/* DIR/log */
extern int	 clockfd;		/* DIR/log/.clock */
extern int64_t	 clock_last;		/* newest receive time handed out */
extern int64_t	 clock_published;	/* value in the clock file */
extern int64_t	 started;
extern int64_t	 sync_interval;		/* --sync-interval, 0: off */

/* acl.c */
extern struct acl *acl;			/* busd.conf's ACL lines */
extern uint64_t	 acl_gen;		/* changes when acl is replaced */

/* client.c */
extern struct client_list clients;
extern struct client_list turn;		/* clients with acks this turn */

/* partition.c */
extern struct part_tree parts;
extern int	 nparts;		/* partitions known */
extern int	 nparts_open;		/* partitions with open files */
extern int	 max_open_parts;	/* at most this many open at once */

/* dedup.c */
extern uint64_t	 pprod_gen;		/* changes when pprods are freed */

/* commit.c */
extern struct part_list dirty;		/* partitions written this turn */
extern int	 turn_error;		/* errno of a failed write this turn */
extern uint64_t	 turn_no;		/* numbers the turns */

/* acl.c */
void	acl_accept(struct client *);
void	acl_client_free(struct client *);
int	acl_allows(struct client *, enum acl_op, char *, size_t);
int	acl_publish(struct client *, const char *, size_t, char *, size_t);
int	part_prepare(const char *, size_t, const char *);

/* client.c */
void	accept_clients(void);
void	client_read(struct client *);
void	client_error(struct client *, uint64_t, uint32_t, const char *);
void	client_send(struct client *);
void	client_close(struct client *);
void	client_turn(struct client *);

/* commit.c */
int	commit_init(void);
void	commit_adopt(int);
int	commit_seal(struct part *);
int	commit_sealing(const struct part *);
void	commit_seals_wait(void);
void	commit_event(void);
int	commit_timeout(int64_t, int);
int64_t	commit_gather(int64_t);
void	commit_timer(int64_t);
int	commit_turn_end(void);
void	commit_shutdown(void);

/* dedup.c */
struct producer *producer_get(uint64_t, int);
struct pprod *pprod_get(struct part *, uint64_t);
void	pprod_learn(struct part *, const struct bus_rec *);
void	producers_prune(int64_t);
void	pprods_save(struct part *);
struct pprods_snap *pprods_snap(struct part *);
void	pprods_snap_save(struct part *, struct pprods_snap *);
int	pprods_load(struct part *);
void	pprods_free(struct part *);

/* partition.c */
void	part_budget_init(void);
int	part_use(struct part *);
void	part_close(struct part *);
void	part_opened(struct part *);
void	part_trim(void);
void	part_dir_changed(struct part *, int);
void	part_dirs_sync(void);
int	part_dirs_take(int [2]);
int	part_new_segment(struct part *, uint64_t);
void	part_seal(struct part *, int);
void	part_turn_mark(struct part *);
int	part_flush(struct part *);
void	part_flush_failed(struct part *);
void	part_topic(struct part *, const char *, size_t);
void	part_undo(struct part *);

/* recover.c */
void	recover(void);
struct part *part_load(const char *, int);

/* sched.c */
extern size_t	 max_scheduled;		/* --max-scheduled */
void	sched_init(void);
int	sched_check(const struct bus_rec *, int64_t *, uint32_t *, char *,
	    size_t);
struct part *sched_part(void);
void	sched_add(const struct bus_rec *, int64_t);
int64_t	sched_wait(int64_t);
void	sched_run(int64_t);
int	sched_status(const char *, FILE *, int);

/* route.c */
extern uint64_t	 route_frame;		/* PUBLISH frames, for round robin */
struct part *route(const char *, size_t, const void *, size_t, uint32_t *,
	    char *, size_t);
int	route_check(char *, size_t);
void	routes_clear(void);
int	load_rules(struct ruleset *, struct acl *, char *, size_t);

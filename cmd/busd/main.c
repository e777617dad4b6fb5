/*
 * busd: the one writer of a bus store.
 *
 * One thread, one epoll loop.  Each turn of the loop reads what clients
 * sent, turns every PUBLISH frame into records appended to per-partition
 * buffers (one copy, one CRC per message), then writes each dirty
 * partition with one write(2), publishes the new receive clock, syncs if
 * a synced ack waits (group commit: one fdatasync per partition covers
 * everything before it), and only then sends the acks.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/tree.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libutil.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "bus.h"
#include "log.h"
#include "proto.h"
#include "ops.h"
#include "verify.h"

#define WBUF_SIZE	(1024 * 1024)	/* pending bytes per partition */
#define OUT_HIGH	(4 * 1024 * 1024) /* stop reading a client above */
#define RBUF_INIT	(256 * 1024)
#define PRODUCER_IDLE	(3600LL * 1000000000LL)

struct topic {
	RB_ENTRY(topic)	 entry;
	char		*name;
};
RB_HEAD(topic_tree, topic);

RB_HEAD(pprod_tree, pprod);

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
	int		 fd;		/* active segment */
	int		 idxfd;		/* its index */
	int		 topicsfd;	/* the topics file, append only */
	uint64_t	 base;		/* active segment base offset */
	uint64_t	 size;		/* bytes of it on disk */
	uint64_t	 next_off;	/* offset of the next record */
	uint64_t	 idx_pos;	/* position of the last index entry */
	int		 idx_any;	/* the segment has an index entry */
	uint8_t		*wbuf;		/* records not yet written */
	size_t		 wlen, wcap;
	uint8_t		 ibuf[BUS_IDX_ENT * 64]; /* index entries pending */
	size_t		 ilen;
	int		 dirty;		/* on the dirty list */
	int		 unsynced;	/* written since the last fdatasync */
	int		 failed;	/* write failed this turn: errno */
	uint64_t	 idx_size;	/* bytes of the index file */
	/* The state before this turn, to undo a failed turn. */
	uint64_t	 turn_size, turn_idx_size, turn_idx_pos;
	uint64_t	 turn_nrecs;
	int		 turn_idx_any;
	int64_t		 last_recv;	/* receive time of the newest record */
	uint64_t	 nrecs;		/* records in the active segment */
	struct topic_tree topics;	/* topics seen in this partition */
	TAILQ_ENTRY(part) dlink;	/* dirty list */
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

/* Topic -> partition, so that routing is a lookup, not a regex. */
struct route {
	RB_ENTRY(route)	 entry;
	char		*topic;
	size_t		 topic_len;
	struct part	*part;
};
RB_HEAD(route_tree, route);

struct producer {
	RB_ENTRY(producer) entry;
	uint64_t	 id;
	uint64_t	 last_seq;	/* everything up to it is stored */
	int64_t		 last_use;
	int		 refs;		/* connections using it */
};
RB_HEAD(prod_tree, producer);

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
};
TAILQ_HEAD(client_list, client);

static int	topic_cmp(struct topic *, struct topic *);
static int	part_cmp(struct part *, struct part *);
static int	route_cmp(struct route *, struct route *);
static int	prod_cmp(struct producer *, struct producer *);
static int	pprod_cmp(struct pprod *, struct pprod *);
RB_PROTOTYPE_STATIC(topic_tree, topic, entry, topic_cmp);
RB_PROTOTYPE_STATIC(part_tree, part, entry, part_cmp);
RB_PROTOTYPE_STATIC(route_tree, route, entry, route_cmp);
RB_PROTOTYPE_STATIC(prod_tree, producer, entry, prod_cmp);
RB_PROTOTYPE_STATIC(pprod_tree, pprod, entry, pprod_cmp);

static __dead void usage(void);
static void	daemon_wait(int);
static void	store_open(void);
static void	recover(void);
static struct part *part_load(const char *, int);
static int	part_new_segment(struct part *, uint64_t);
static void	part_seal(struct part *);
static void	part_turn_mark(struct part *);
static int	part_flush(struct part *);
static void	part_topic(struct part *, const char *, size_t);
static struct part *route(const char *, size_t, uint32_t *);
static void	routes_clear(void);
static struct producer *producer_get(uint64_t, int);
static void	producers_prune(int64_t);
static void	listen_open(void);
static void	*sync_thread(void *);
static void	accept_clients(void);
static void	client_read(struct client *);
static void	client_frames(struct client *);
static void	client_hello(struct client *, const uint8_t *, size_t);
static int	client_publish(struct client *, const uint8_t *, size_t);
static void	client_seal(struct client *, const uint8_t *, size_t);
static void	client_status(struct client *);
static void	client_error(struct client *, uint64_t, uint32_t, const char *);
static uint8_t *client_reserve(struct client *, size_t);
static void	client_send(struct client *);
static void	client_close(struct client *);
static void	client_events(struct client *);
static void	client_turn(struct client *);
static void	turn_end(void);
static void	reload(void);
static int	load_rules(struct ruleset *, char *, size_t);
static int64_t	next_rotate_at(int64_t);
static void	shutdown_busd(void);
static void	sync_all(void);
static void	sync_start(void);
static void	sync_finished(void);
static void	acks_release(uint64_t, int);
static void	client_hold(struct client *, uint64_t);
static struct pprod *pprod_get(struct part *, uint64_t);
static void	pprod_learn(struct part *, const struct bus_rec *);
static void	pprods_save(struct part *);
static int	pprods_load(struct part *);
static void	sd_notify(const char *);
static __dead void verify_store(int);
static __dead void print_status(int);
static char	*xstrdup(const char *);

static struct part_tree	parts = RB_INITIALIZER(&parts);
static struct route_tree routes = RB_INITIALIZER(&routes);
static struct prod_tree	producers = RB_INITIALIZER(&producers);
static struct client_list clients = TAILQ_HEAD_INITIALIZER(clients);
static struct client_list turn = TAILQ_HEAD_INITIALIZER(turn);
static TAILQ_HEAD(, part) dirty = TAILQ_HEAD_INITIALIZER(dirty);

static const char *dir;			/* the store */
static const char *conf_file;		/* -c, or DIR/busd.conf if present */
static char	**cli_rules;		/* -r, in order */
static int	 ncli_rules;
static struct ruleset rules;
static uint64_t	 seg_size = BUS_SEGMENT_SIZE_DEFAULT;
static size_t	 max_message = BUS_MESSAGE_MAX_DEFAULT;
static size_t	 max_frame;
static int	 max_clients = 256;
static int	 nclients;
static int	 rotate_hm = -1;	/* --rotate-at, minutes after 00:00 UTC */
static int64_t	 rotate_next;		/* ns, 0: none */
static int	 verbose;
static int	 epfd = -1, lfd = -1, sigfd = -1;
static int	 logfd = -1;		/* DIR/log */
static int	 clockfd = -1;		/* DIR/log/.clock */
static int64_t	 clock_last;		/* newest receive time handed out */
static int64_t	 clock_published;	/* value in the clock file */
static struct pidfh *pfh;

/*
 * Group commit.  One thread does the fdatasync(2) calls, so that the loop
 * goes on reading while the disk works: everything that arrives during
 * one sync is covered by the next, however many publishers wait.  Syncs
 * are numbered; synced acks wait in their client's obuf behind a mark
 * naming the sync that covers them.
 */
static pthread_mutex_t sy_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sy_cond = PTHREAD_COND_INITIALIZER;
static int	*sy_fds;		/* dup'ed segment fds of the sync */
static size_t	 sy_nfds, sy_cap;
static int	 sy_go;			/* the thread has work (under sy_mtx) */
static int	 sy_quit;		/* the thread should end (under sy_mtx) */
static int	 sy_err;		/* errno of the sync that finished */
static int	 sy_busy;		/* a sync is in flight (loop's view) */
static int	 sy_more;		/* acks wait for the sync after it */
static uint64_t	 sy_issued;		/* number of the last sync started */
static uint64_t	 sy_done;		/* number of the last sync finished */
static int	 sy_evfd = -1;		/* the thread says it finished */
static pthread_t sy_thread;
static int64_t	 sy_finished_at;	/* when the last sync finished */
static int	 sy_released;		/* clients whose acks it released */
static int	 sy_waiting;		/* clients waiting for the next one */
#define SYNC_GATHER_NS	200000		/* wait no longer for them */

static int	 turn_error;		/* errno of a failed write this turn */
static uint64_t	 turn_no = 1;		/* numbers the turns */
static uint64_t	 pprod_gen = 1;		/* changes when pprods are freed */
static struct route *route_last;	/* route() one-entry cache */
static int64_t	 started;
static int64_t	 sync_interval = 1000000000LL; /* --sync-interval, 0: off */
static int64_t	 unsynced_since;	/* first write not yet synced, or 0 */
static uint64_t	 stat_msgs, stat_bytes, stat_dups;
static int	 quitting;
static char	 sockpath[PATH_MAX];

enum { OPT_SEGSIZE = 256, OPT_ROTATEAT, OPT_MAXMSG, OPT_MAXCLIENTS,
    OPT_SYNCINT, OPT_VERIFY, OPT_REPAIR, OPT_STATUS };

static const struct option longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "segment-size",	required_argument,	NULL, OPT_SEGSIZE },
	{ "rotate-at",		required_argument,	NULL, OPT_ROTATEAT },
	{ "max-message",	required_argument,	NULL, OPT_MAXMSG },
	{ "max-clients",	required_argument,	NULL, OPT_MAXCLIENTS },
	{ "sync-interval",	required_argument,	NULL, OPT_SYNCINT },
	{ "verify",		no_argument,		NULL, OPT_VERIFY },
	{ "repair",		no_argument,		NULL, OPT_REPAIR },
	{ "status",		no_argument,		NULL, OPT_STATUS },
	{ NULL,			0,			NULL, 0 }
};

static __dead void
usage(void)
{
	fprintf(stderr,
	    "usage: busd [-bv] [-d dir] [-c file] [-r prefix:regex] ...\n"
	    "            [--segment-size size] [--rotate-at HH:MM]\n"
	    "            [--max-message size] [--max-clients n]\n"
	    "            [--sync-interval duration]\n"
	    "       busd --verify [--repair] [-d dir]\n"
	    "       busd --status [-o text|json] [-d dir]\n");
	exit(EX_USAGE);
}

int
main(int argc, char *argv[])
{
	struct epoll_event ev[64];
	const char *errstr;
	char emsg[512];
	uint64_t v;
	int64_t now, wait_ns;
	struct timespec tmo;
	int ch, detach = 0, readyfd = -1, n, i, h, m, timeout;
	int verify = 0, repair = 0, status = 0, json = 0;

	while ((ch = getopt_long(argc, argv, "bc:d:ho:r:vV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			detach = 1;
			break;
		case 'c':
			conf_file = xstrdup(optarg);
			break;
		case 'd':
			dir = xstrdup(optarg);
			break;
		case 'r':
			cli_rules = reallocarray(cli_rules, ncli_rules + 1,
			    sizeof(*cli_rules));
			if (cli_rules == NULL)
				err(EX_OSERR, NULL);
			cli_rules[ncli_rules++] = xstrdup(optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("busd %s\n", BUS_VERSION);
			exit(0);
		case OPT_SEGSIZE:
			if (parse_size(optarg, 1ULL << 50, &seg_size) == -1 ||
			    seg_size < 4096)
				errx(EX_USAGE, "--segment-size: '%s' is not a "
				    "size of at least 4096 bytes", optarg);
			break;
		case OPT_ROTATEAT:
			if (sscanf(optarg, "%2d:%2d", &h, &m) != 2 ||
			    strlen(optarg) != 5 || h < 0 || h > 23 || m < 0 ||
			    m > 59)
				errx(EX_USAGE, "--rotate-at: '%s' is not HH:MM "
				    "(UTC)", optarg);
			rotate_hm = h * 60 + m;
			break;
		case OPT_MAXMSG:
			if (parse_size(optarg, BUS_MESSAGE_MAX_LIMIT, &v) == -1
			    || v == 0)
				errx(EX_USAGE, "--max-message: '%s' is not a "
				    "size from 1 to 64M", optarg);
			max_message = v;
			break;
		case OPT_MAXCLIENTS:
			max_clients = strtonum(optarg, 1, 100000, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--max-clients: '%s' is %s",
				    optarg, errstr);
			break;
		case OPT_VERIFY:
			verify = 1;
			break;
		case OPT_STATUS:
			status = 1;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "text") != 0)
				errx(EX_USAGE, "-o: '%s' is not text or json",
				    optarg);
			break;
		case OPT_REPAIR:
			verify = repair = 1;
			break;
		case OPT_SYNCINT:
			if (parse_duration(optarg, &sync_interval) == -1)
				errx(EX_USAGE, "--sync-interval: '%s' is not a "
				    "duration (e.g. 1s, 200ms, 0 for never)",
				    optarg);
			break;
		case 'h':
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	/* setproctitle() reuses the memory of argv and environ: copy. */
	dir = xstrdup(store_dir(dir));
	if (verify)
		verify_store(repair);
	if (status)
		print_status(json);
	max_frame = proto_max_frame(max_message);
	setproctitle_init(argc, argv, environ);

	/* Rules are checked before anything touches the store. */
	if (load_rules(&rules, emsg, sizeof(emsg)) == -1)
		errx(emsg[0] == '!' ? EX_CONFIG : EX_USAGE, "%s", emsg + 1);

	if (detach) {
		int p[2];
		pid_t pid;

		if (pipe2(p, O_CLOEXEC) == -1)
			err(EX_OSERR, "pipe");
		if ((pid = fork()) == -1)
			err(EX_OSERR, "fork");
		if (pid > 0) {
			close(p[1]);
			daemon_wait(p[0]);
		}
		close(p[0]);
		readyfd = p[1];
		setsid();
	}
	log_init(verbose, 0);
	started = now_ns();
	signal(SIGPIPE, SIG_IGN);
	store_open();
	recover();
	listen_open();

	/* Ready: recovery is done and the socket accepts connections. */
	if (readyfd != -1) {
		int nullfd = open("/dev/null", O_RDWR);

		log_init(verbose, 1);
		if (nullfd != -1) {
			dup2(nullfd, STDIN_FILENO);
			dup2(nullfd, STDOUT_FILENO);
			dup2(nullfd, STDERR_FILENO);
			if (nullfd > STDERR_FILENO)
				close(nullfd);
		}
	}
	log_info("serving %s (pid %ld)", dir, (long)getpid());
	sd_notify("READY=1");
	if (readyfd != -1) {
		write(readyfd, "R", 1);
		close(readyfd);
	}
	setproctitle("%s", dir);
	if (rotate_hm >= 0)
		rotate_next = next_rotate_at(now_ns());

	while (!quitting) {
		timeout = -1;
		now = now_ns();
		if (rotate_next) {
			wait_ns = rotate_next - now;
			timeout = wait_ns <= 0 ? 0 : (int)(wait_ns / 1000000 + 1);
		}
		if (unsynced_since && sync_interval) {
			wait_ns = unsynced_since + sync_interval - now;
			if (wait_ns <= 0)
				timeout = 0;
			else if (timeout == -1 || wait_ns / 1000000 + 1 < timeout)
				timeout = (int)(wait_ns / 1000000 + 1);
		}
		if (timeout == -1 || timeout > 600000)
			timeout = 600000;	/* prune producers now and then */
		tmo.tv_sec = timeout / 1000;
		tmo.tv_nsec = (long)(timeout % 1000) * 1000000;
		if (sy_more && !sy_busy) {
			/* Gathering publishers for the next sync. */
			wait_ns = sy_finished_at + SYNC_GATHER_NS - now;
			tmo.tv_sec = 0;
			tmo.tv_nsec = wait_ns > 0 ? wait_ns : 0;
		}
		n = epoll_pwait2(epfd, ev, 64, &tmo, NULL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal(EX_OSERR, "epoll_wait");
		}
		for (i = 0; i < n; i++) {
			if (ev[i].data.ptr == &lfd) {
				accept_clients();
			} else if (ev[i].data.ptr == &sy_evfd) {
				sync_finished();
			} else if (ev[i].data.ptr == &sigfd) {
				struct signalfd_siginfo si;

				while (read(sigfd, &si, sizeof(si)) ==
				    sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						reload();
					else
						quitting = 1;
				}
			} else {
				struct client *c = ev[i].data.ptr;

				client_turn(c);
				if (ev[i].events & EPOLLOUT)
					client_send(c);
				if (ev[i].events & (EPOLLIN | EPOLLHUP |
				    EPOLLERR))
					client_read(c);
			}
		}
		turn_end();
		now = now_ns();
		if (rotate_next && now >= rotate_next) {
			struct part *p;

			RB_FOREACH(p, part_tree, &parts)
				if (p->nrecs > 0)
					part_seal(p);
			rotate_next = next_rotate_at(now);
		}
		if (unsynced_since && sync_interval &&
		    now - unsynced_since >= sync_interval)
			sync_all();
		producers_prune(now);
	}
	shutdown_busd();
	return 0;
}

/* The parent of -b: exit once the child is ready, or as it exited. */
static void
daemon_wait(int fd)
{
	char c;
	int status;

	if (read(fd, &c, 1) == 1)
		_exit(0);
	if (wait(&status) == -1)
		_exit(EX_OSERR);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE);
}

/*
 * Rules: -r first, then the configuration file, then the default.  On
 * error err holds '!' (config file) or '?' (command line) and a message.
 */
static int
load_rules(struct ruleset *rs, char *err, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	int i;

	memset(rs, 0, sizeof(*rs));
	for (i = 0; i < ncli_rules; i++) {
		if (rules_add(rs, cli_rules[i], err + 1, len - 1) == -1) {
			err[0] = '?';
			rules_free(rs);
			return -1;
		}
	}
	if (conf_file == NULL) {
		if (store_path(path, sizeof(path), dir, BUS_CONF) == 0 &&
		    stat(path, &st) == 0)
			conf_file = strdup(path);
	}
	if (conf_file != NULL &&
	    rules_load_conf(rs, conf_file, err + 1, len - 1) == -1) {
		err[0] = '!';
		rules_free(rs);
		return -1;
	}
	return 0;
}

static void
reload(void)
{
	struct ruleset nr;
	char err[512];

	if (load_rules(&nr, err, sizeof(err)) == -1) {
		log_warnx("SIGHUP: keeping the old rules: %s", err + 1);
		return;
	}
	rules_free(&rules);
	rules = nr;
	routes_clear();
	sd_notify("READY=1");
	log_info("SIGHUP: %zu rule(s) loaded", rules.n);
}

/* Is pid on its way out (dying, or a zombie)? */
static int
pid_exiting(pid_t pid)
{
	char path[64], buf[512], *s;
	FILE *f;
	int st = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (s = strrchr(buf, ')')) != NULL && s[1] == ' ')
		st = s[2];
	fclose(f);
	/* Zombie, dead, or a fatal signal pending in disk sleep. */
	if (st == 'Z' || st == 'X' || st == 'x')
		return 1;
	if (st == 'D') {
		snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
		if ((f = fopen(path, "r")) != NULL) {
			while (fgets(buf, sizeof(buf), f) != NULL)
				if (strncmp(buf, "ShdPnd:", 7) == 0 &&
				    strtoull(buf + 7, NULL, 16) & (1ULL << (SIGKILL - 1))) {
					fclose(f);
					return 1;
				}
			fclose(f);
		}
	}
	return 0;
}

static void
store_open(void)
{
	char p[PATH_MAX];
	pid_t other;
	int tries;

	if (store_mkdirs(dir) == -1)
		fatal(EX_CANTCREAT, "cannot create store %s", dir);
	if (store_path(p, sizeof(p), dir, BUS_PIDFILE) == -1)
		fatal(EX_CANTCREAT, "%s", dir);
	/*
	 * A busd killed a moment ago may still be leaving (a process blocked
	 * in fdatasync(2) exits when the disk answers): wait a little for
	 * its lock before saying the store is taken.
	 */
	for (tries = 0; (pfh = pidfile_open(p, 0644, &other)) == NULL; tries++) {
		if (errno != EEXIST)
			fatal(EX_CANTCREAT, "%s", p);
		if (tries == 50 || (other > 0 && kill(other, 0) == 0 &&
		    !pid_exiting(other)))
			fatalx(EX_TEMPFAIL, "store %s is in use by pid %ld",
			    dir, (long)other);
		usleep(20000);
	}
	pidfile_write(pfh);
	if (store_path(p, sizeof(p), dir, BUS_LOGDIR) == -1 ||
	    (logfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal(EX_CANTCREAT, "%s", p);
	if ((clockfd = openat(logfd, BUS_CLOCK, O_RDWR | O_CREAT | O_CLOEXEC,
	    0644)) == -1)
		fatal(EX_CANTCREAT, "%s/%s", p, BUS_CLOCK);
}

/* -------------------------------------------------------------- recovery */

/*
 * Open every partition; for each, check the active segment from its first
 * record: a torn tail is cut (and logged), damage followed by valid
 * records is not cut but sealed off in a segment of its own.  Indexes
 * that are missing or doubtful are rebuilt.  The receive clock comes
 * back from the records, and the producers' sequence numbers from each
 * partition's producers file and the records it does not cover.
 */
static void
recover(void)
{
	char **names;
	size_t n, i;

	if (store_list_partitions(dir, &names, &n) == -1)
		fatal(EX_IOERR, "%s/%s", dir, BUS_LOGDIR);
	for (i = 0; i < n; i++)
		part_load(names[i], 0);
	store_free_names(names, n);
	/* The file of earlier versions: the partitions' files replace it. */
	{
		char path[PATH_MAX];

		if (store_path(path, sizeof(path), dir, "producers") == 0)
			unlink(path);
	}
	clock_published = clock_last;
	{
		uint8_t b[8];

		le64_put(b, (uint64_t)clock_last);
		if (pwrite(clockfd, b, 8, 0) != 8)
			fatal(EX_IOERR, "%s/%s/%s", dir, BUS_LOGDIR, BUS_CLOCK);
	}
}

#define SCAN_ACTIVE	1	/* count the records of the active segment */
#define SCAN_PRODUCERS	2	/* learn the producers' sequence numbers */

/* Scan fd from pos; track the clock, the last offset and what flags say. */
static uint64_t
scan_records(struct part *p, int fd, uint64_t pos, uint64_t *last_off,
    int *any, int flags)
{
	uint8_t *buf;
	size_t cap = 4 << 20, have = 0, off = 0;
	struct bus_rec r;
	const char *why;
	ssize_t n, k;

	if ((buf = malloc(cap)) == NULL)
		fatal(EX_OSERR, NULL);
	for (;;) {
		if (off > 0) {
			memmove(buf, buf + off, have - off);
			have -= off;
			off = 0;
		}
		if (have == cap) {
			if (cap >= BUS_REC_MAX)
				break;
			cap *= 2;
			if ((buf = realloc(buf, cap)) == NULL)
				fatal(EX_OSERR, NULL);
		}
		if ((n = pread(fd, buf + have, cap - have, pos + have)) < 0)
			fatal(EX_IOERR, "partition %s: read", p->name);
		have += n;
		while ((k = seg_rec_decode(buf + off, have - off, &r, &why)) > 0) {
			if (*any && r.offset <= *last_off)
				break;
			*last_off = r.offset;
			*any = 1;
			if (r.recv_ns > clock_last)
				clock_last = r.recv_ns;
			if (r.recv_ns > p->last_recv)
				p->last_recv = r.recv_ns;
			if (flags & SCAN_ACTIVE)
				p->nrecs++;
			if ((flags & SCAN_PRODUCERS) && r.producer != 0)
				pprod_learn(p, &r);
			off += k;
			pos += k;
		}
		if (k != 0 || n == 0)
			break;
	}
	free(buf);
	return pos;
}

static struct part *
part_load(const char *name, int create)
{
	struct part *p;
	struct stat st;
	uint64_t *segs = NULL, base, end, last_off = 0, at;
	uint8_t h[BUS_SEG_HDR];
	size_t nsegs = 0, i;
	char n[32];
	const char *why;
	int any = 0, fd, stale = 0;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal(EX_OSERR, NULL);
	strlcpy(p->name, name, sizeof(p->name));
	RB_INIT(&p->topics);
	RB_INIT(&p->prods);
	p->fd = p->idxfd = p->topicsfd = -1;
	if (create) {
		if (mkdirat(logfd, name, 0750) == -1 && errno != EEXIST) {
			log_warn("partition %s: mkdir", name);
			free(p);
			return NULL;
		}
		fsync(logfd);	/* the new name must outlive a crash */
	}
	if ((p->dirfd = openat(logfd, name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("partition %s", name);
		free(p);
		return NULL;
	}
	/* Without a good file every segment is read: then write one. */
	stale = pprods_load(p) == -1 && !create;
	if ((p->topicsfd = openat(p->dirfd, BUS_TOPICS, O_RDWR | O_CREAT |
	    O_APPEND | O_CLOEXEC, 0644)) == -1)
		fatal(EX_IOERR, "partition %s: %s", name, BUS_TOPICS);
	{
		FILE *f;
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		int tfd = dup(p->topicsfd);

		if (tfd != -1 && (f = fdopen(tfd, "r")) != NULL) {
			rewind(f);
			while ((len = getline(&line, &cap, f)) > 0) {
				if (line[len - 1] == '\n')
					line[--len] = '\0';
				if (len > 0 && topic_check(line, len, &why) == 0) {
					struct topic *t = calloc(1, sizeof(*t));

					if (t == NULL ||
					    (t->name = strdup(line)) == NULL)
						fatal(EX_OSERR, NULL);
					if (RB_INSERT(topic_tree, &p->topics, t)) {
						free(t->name);
						free(t);
					}
				}
			}
			free(line);
			fclose(f);
		} else if (tfd != -1)
			close(tfd);
	}
	if (store_list_segments(p->dirfd, &segs, &nsegs) == -1)
		fatal(EX_IOERR, "partition %s", name);

	/* Sealed segments: rebuild indexes that are missing or doubtful. */
	for (i = 0; i + 1 < nsegs; i++) {
		struct bus_idx_ent *e;
		size_t cnt;

		store_seg_name(n, sizeof(n), segs[i], "seg");
		if ((fd = openat(p->dirfd, n, O_RDONLY | O_CLOEXEC)) == -1 ||
		    fstat(fd, &st) == -1)
			fatal(EX_IOERR, "partition %s: %s", name, n);
		store_seg_name(n, sizeof(n), segs[i], "idx");
		e = idx_load(p->dirfd, n, segs[i], &cnt);
		at = BUS_SEG_HDR;
		/* A sealed segment without records has a header-only index. */
		if ((e == NULL && st.st_size > BUS_SEG_HDR) ||
		    (e != NULL && e[cnt - 1].pos >= (uint64_t)st.st_size)) {
			log_warnx("partition %s: rebuilding index %s", name, n);
			if (idx_rebuild(p->dirfd, fd, n, segs[i], &end) == -1)
				log_warn("partition %s: %s", name, n);
		} else if (e != NULL)
			at = e[cnt - 1].pos;
		free(e);
		/* The newest record (and clock) may be in the last sealed. */
		if (segs[i + 1] > p->prods_mark) {
			/* Sealed after the producers file was written. */
			scan_records(p, fd, BUS_SEG_HDR, &last_off, &any,
			    SCAN_PRODUCERS);
			stale = 1;
		} else if (i + 2 == nsegs)
			scan_records(p, fd, at, &last_off, &any, 0);
		close(fd);
	}

	if (nsegs == 0) {
		free(segs);
		if (part_new_segment(p, 0) == -1)
			fatal(EX_IOERR, "partition %s: cannot create a segment",
			    name);
		p->next_off = 0;
		goto done;
	}

	/* The active segment. */
	base = segs[nsegs - 1];
	free(segs);
	store_seg_name(n, sizeof(n), base, "seg");
	if ((p->fd = openat(p->dirfd, n, O_RDWR | O_APPEND | O_CLOEXEC)) == -1 ||
	    fstat(p->fd, &st) == -1)
		fatal(EX_IOERR, "partition %s: %s", name, n);
	p->base = base;
	if (st.st_size < BUS_SEG_HDR || pread(p->fd, h, sizeof(h), 0) !=
	    sizeof(h) || seg_hdr_decode(h, &at, NULL, &why) == -1 ||
	    at != base) {
		if (st.st_size > BUS_SEG_HDR * 2) {
			/*
			 * Not a header torn at creation: records follow it.
			 * Keep every byte (readers report the damage, and
			 * busd --verify --repair can rewrite it), and go on
			 * in a new segment past whatever offsets it holds.
			 */
			end = scan_records(p, p->fd, BUS_SEG_HDR, &last_off,
			    &any, SCAN_ACTIVE | SCAN_PRODUCERS);
			log_warnx("partition %s: %s: damaged segment header; "
			    "%lld bytes kept as they are, segment sealed",
			    name, n, (long long)st.st_size);
			close(p->fd);
			p->fd = -1;
			p->next_off = any && last_off + 1 > base ? last_off + 1 :
			    base + 1;
			if (part_new_segment(p, p->next_off) == -1)
				fatal(EX_IOERR, "partition %s", name);
			goto done;
		}
		log_warnx("partition %s: %s: torn segment header rewritten",
		    name, n);
		seg_hdr_encode(h, base, now_ns());
		if (ftruncate(p->fd, 0) == -1 ||
		    pwrite(p->fd, h, sizeof(h), 0) != sizeof(h))
			fatal(EX_IOERR, "partition %s: %s", name, n);
		st.st_size = BUS_SEG_HDR;
	}
	end = scan_records(p, p->fd, BUS_SEG_HDR, &last_off, &any,
	    SCAN_ACTIVE | SCAN_PRODUCERS);
	if (end < (uint64_t)st.st_size) {
		if (seg_resync(p->fd, end + 1, any ? last_off : 0, &at) == 1) {
			/*
			 * Valid records follow the damage: this is not a
			 * torn tail.  Keep every byte, seal it, go on in a
			 * new segment past the highest offset found.
			 */
			log_warnx("partition %s: %s: damaged record at byte "
			    "offset %llu with valid records after it; segment "
			    "kept as is and sealed", name, n,
			    (unsigned long long)end);
			/* Count every valid record past every damaged one. */
			for (;;) {
				end = scan_records(p, p->fd, at, &last_off,
				    &any, SCAN_ACTIVE | SCAN_PRODUCERS);
				if (end >= (uint64_t)st.st_size ||
				    seg_resync(p->fd, end + 1, last_off,
				    &at) != 1)
					break;
			}
			close(p->fd);
			p->fd = -1;
			p->next_off = any ? last_off + 1 : p->base;
			if (part_new_segment(p, p->next_off) == -1)
				fatal(EX_IOERR, "partition %s", name);
			goto done;
		}
		log_warnx("partition %s: %s: torn tail cut at byte offset %llu "
		    "(%llu bytes dropped)", name, n, (unsigned long long)end,
		    (unsigned long long)(st.st_size - end));
		if (ftruncate(p->fd, end) == -1)
			fatal(EX_IOERR, "partition %s: %s: truncate", name, n);
		fdatasync(p->fd);
	}
	p->size = end;
	p->next_off = any && last_off + 1 > p->base ? last_off + 1 : p->base;
	store_seg_name(n, sizeof(n), p->base, "idx");
	if (idx_rebuild(p->dirfd, p->fd, n, p->base, &end) == -1)
		fatal(EX_IOERR, "partition %s: %s", name, n);
	if ((p->idxfd = openat(p->dirfd, n, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1 ||
	    fstat(p->idxfd, &st) == -1)
		fatal(EX_IOERR, "partition %s: %s", name, n);
	p->idx_size = st.st_size;
	{
		struct bus_idx_ent *e;
		size_t cnt;

		if ((e = idx_load(p->dirfd, n, p->base, &cnt)) != NULL) {
			p->idx_pos = e[cnt - 1].pos;
			p->idx_any = 1;
			free(e);
		}
	}
	if (p->nrecs)
		log_debug("partition %s: %llu records in the active segment, "
		    "next offset %llu", name, (unsigned long long)p->nrecs,
		    (unsigned long long)p->next_off);
done:
	if (stale) {
		/* Cover what the scan found: the next start need not. */
		if (p->fd != -1)
			fdatasync(p->fd);
		pprods_save(p);
	}
	if ((p->wbuf = malloc(WBUF_SIZE)) == NULL)
		fatal(EX_OSERR, NULL);
	p->wcap = WBUF_SIZE;
	RB_INSERT(part_tree, &parts, p);
	return p;
}

/* Start segment base in p: written header, empty index, dir synced. */
static int
part_new_segment(struct part *p, uint64_t base)
{
	uint8_t h[BUS_SEG_HDR], ih[BUS_IDX_HDR];
	char n[32], in[32];
	int fd, ifd;

	store_seg_name(n, sizeof(n), base, "seg");
	store_seg_name(in, sizeof(in), base, "idx");
	if ((fd = openat(p->dirfd, n, O_RDWR | O_CREAT | O_EXCL | O_APPEND |
	    O_CLOEXEC, 0644)) == -1) {
		log_warn("partition %s: create %s", p->name, n);
		return -1;
	}
	seg_hdr_encode(h, base, now_ns());
	if (write(fd, h, sizeof(h)) != sizeof(h)) {
		log_warn("partition %s: write %s", p->name, n);
		close(fd);
		unlinkat(p->dirfd, n, 0);
		return -1;
	}
	if ((ifd = openat(p->dirfd, in, O_WRONLY | O_CREAT | O_TRUNC |
	    O_APPEND | O_CLOEXEC, 0644)) == -1) {
		log_warn("partition %s: create %s", p->name, in);
		close(fd);
		unlinkat(p->dirfd, n, 0);
		return -1;
	}
	idx_hdr_encode(ih, base);
	if (write(ifd, ih, sizeof(ih)) != sizeof(ih))
		log_warn("partition %s: write %s", p->name, in);
	fsync(p->dirfd);
	if (p->fd != -1)
		close(p->fd);
	if (p->idxfd != -1)
		close(p->idxfd);
	p->fd = fd;
	p->idxfd = ifd;
	p->base = base;
	p->size = BUS_SEG_HDR;
	p->idx_size = BUS_IDX_HDR;
	p->idx_any = 0;
	p->idx_pos = 0;
	p->nrecs = 0;
	return 0;
}

/*
 * Seal the active segment (flush, sync) and open the next one.  In the
 * middle of a turn this commits p's part of the turn: what is sealed
 * stays, and a failure later in the turn undoes only what follows.
 */
static void
part_seal(struct part *p)
{
	struct pprod *pp;

	if (part_flush(p) == -1)
		return;
	if (fdatasync(p->fd) == -1 || fdatasync(p->idxfd) == -1)
		log_warn("partition %s: sync on seal", p->name);
	else {
		/* The records it covers are on disk: now the snapshot. */
		p->unsynced = 0;
		pprods_save(p);
	}
	if (part_new_segment(p, p->next_off) == -1)
		log_warnx("partition %s: could not open a new segment; "
		    "still appending to %020llu.seg", p->name,
		    (unsigned long long)p->base);
	else
		log_debug("partition %s: sealed, next segment %020llu.seg",
		    p->name, (unsigned long long)p->next_off);
	if (p->dirty) {
		part_turn_mark(p);
		for (pp = p->touched; pp != NULL; pp = pp->tnext)
			pp->turn_seq = pp->last_seq;
	}
}

/*
 * Write the pending records of p.  On failure nothing partial stays
 * visible: the file is cut back to its previous size and the offsets
 * handed out for the lost records are taken back.
 */
static int
part_flush(struct part *p)
{
	ssize_t n;
	size_t done = 0;

	if (p->wlen == 0)
		return p->failed ? -1 : 0;
	seg_crc_fill(p->wbuf, p->wlen);
	while (done < p->wlen) {
		n = write(p->fd, p->wbuf + done, p->wlen - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			p->failed = n == 0 ? EIO : errno;
			log_warnx("partition %s: %020llu.seg: write at byte "
			    "offset %llu: %s", p->name,
			    (unsigned long long)p->base,
			    (unsigned long long)(p->size + done),
			    strerror(p->failed));
			if (ftruncate(p->fd, p->size) == -1)
				log_warn("partition %s: truncate after a "
				    "failed write", p->name);
			/* Offsets handed out are never handed out again. */
			turn_error = p->failed;
			p->wlen = 0;
			p->ilen = 0;
			return -1;
		}
		done += n;
	}
	p->size += p->wlen;
	p->wlen = 0;
	p->unsynced = 1;
	if (p->ilen > 0) {
		/* The index is a cache: a failure here costs a rebuild. */
		if (write(p->idxfd, p->ibuf, p->ilen) != (ssize_t)p->ilen)
			log_warn("partition %s: index write", p->name);
		else
			p->idx_size += p->ilen;
		p->ilen = 0;
	}
	return 0;
}

static void
part_topic(struct part *p, const char *t, size_t len)
{
	struct topic key, *tp;
	char name[BUS_TOPIC_MAX + 2];

	memcpy(name, t, len);
	name[len] = '\0';
	key.name = name;
	if (RB_FIND(topic_tree, &p->topics, &key) != NULL)
		return;
	if ((tp = calloc(1, sizeof(*tp))) == NULL ||
	    (tp->name = strdup(name)) == NULL)
		fatal(EX_OSERR, NULL);
	RB_INSERT(topic_tree, &p->topics, tp);
	name[len] = '\n';
	if (write(p->topicsfd, name, len + 1) != (ssize_t)len + 1)
		log_warn("partition %s: %s", p->name, BUS_TOPICS);
}

/* ------------------------------------------------------------- routing */

static struct part *
route(const char *topic, size_t len, uint32_t *code)
{
	struct route key, *r, *last = route_last;
	struct part pk, *p;
	char t[BUS_TOPIC_MAX + 1];

	if (last != NULL && last->topic_len == len &&
	    memcmp(last->topic, topic, len) == 0)
		return last->part;
	memcpy(t, topic, len);
	t[len] = '\0';
	key.topic = t;
	if ((r = RB_FIND(route_tree, &routes, &key)) != NULL) {
		route_last = r;
		return r->part;
	}
	if (rules_route(&rules, topic, len, pk.name) == -1) {
		*code = PE_ROUTE;
		return NULL;
	}
	if ((p = RB_FIND(part_tree, &parts, &pk)) == NULL) {
		if ((p = part_load(pk.name, 1)) == NULL) {
			*code = PE_IO;
			return NULL;
		}
		log_debug("partition %s created", p->name);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->topic = strdup(t)) == NULL)
		fatal(EX_OSERR, NULL);
	r->part = p;
	r->topic_len = len;
	RB_INSERT(route_tree, &routes, r);
	part_topic(p, topic, len);
	route_last = r;
	return p;
}

static void
routes_clear(void)
{
	struct route *r, *nr;

	RB_FOREACH_SAFE(r, route_tree, &routes, nr) {
		RB_REMOVE(route_tree, &routes, r);
		free(r->topic);
		free(r);
	}
	route_last = NULL;
}

/* ----------------------------------------------------------- producers */

static struct producer *
producer_get(uint64_t id, int create)
{
	struct producer key, *p;

	key.id = id;
	if ((p = RB_FIND(prod_tree, &producers, &key)) != NULL || !create)
		return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal(EX_OSERR, NULL);
	p->id = id;
	p->last_use = now_ns();
	RB_INSERT(prod_tree, &producers, p);
	return p;
}

static struct pprod *
pprod_get(struct part *p, uint64_t id)
{
	struct pprod key, *pp;

	key.id = id;
	if ((pp = RB_FIND(pprod_tree, &p->prods, &key)) != NULL)
		return pp;
	if ((pp = calloc(1, sizeof(*pp))) == NULL)
		fatal(EX_OSERR, NULL);
	pp->id = id;
	pp->last_use = now_ns();
	RB_INSERT(pprod_tree, &p->prods, pp);
	return pp;
}

/*
 * A record found at start: its partition's state takes its sequence
 * number.  The producer's own number, the one HELLO_OK reports, stays 0:
 * the records left by a crash need not be an unbroken run (a batch may
 * be written in one partition and not in another), and HELLO_OK must
 * never claim a message that is not stored.
 */
static void
pprod_learn(struct part *p, const struct bus_rec *r)
{
	struct pprod *pp = pprod_get(p, r->producer);

	if (r->seq > pp->last_seq)
		pp->last_seq = r->seq;
	if (r->recv_ns > pp->last_use)
		pp->last_use = r->recv_ns;
}

/* Forget producers idle for an hour: their resend window is long gone. */
static void
producers_prune(int64_t now)
{
	static int64_t last;
	struct producer *p, *np;
	struct pprod *pp, *npp;
	struct part *pt;

	if (now - last < 60LL * 1000000000LL)
		return;
	last = now;
	RB_FOREACH_SAFE(p, prod_tree, &producers, np) {
		if (p->refs == 0 && now - p->last_use > PRODUCER_IDLE) {
			RB_REMOVE(prod_tree, &producers, p);
			free(p);
		}
	}
	RB_FOREACH(pt, part_tree, &parts) {
		/* Not while a turn has them on its touched list. */
		if (pt->dirty)
			continue;
		RB_FOREACH_SAFE(pp, pprod_tree, &pt->prods, npp) {
			if (now - pp->last_use > PRODUCER_IDLE &&
			    producer_get(pp->id, 0) == NULL) {
				RB_REMOVE(pprod_tree, &pt->prods, pp);
				free(pp);
				pprod_gen++;
			}
		}
	}
}

/* ------------------------------------------------------------- clients */

static void
listen_open(void)
{
	struct sockaddr_un sun;
	struct epoll_event ev;
	sigset_t mask;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (store_path(sun.sun_path, sizeof(sun.sun_path), dir, BUS_SOCK) == -1)
		fatalx(EX_CANTCREAT, "%s/%s: path too long for a socket", dir,
		    BUS_SOCK);
	strlcpy(sockpath, sun.sun_path, sizeof(sockpath));
	/* We hold the pidfile lock: any socket there is stale. */
	unlink(sockpath);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		fatal(EX_OSERR, "socket");
	if (bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal(EX_CANTCREAT, "bind %s", sockpath);
	if (chmod(sockpath, 0660) == -1)
		fatal(EX_CANTCREAT, "chmod %s", sockpath);
	if (listen(lfd, SOMAXCONN) == -1)
		fatal(EX_OSERR, "listen");

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal(EX_OSERR, "signalfd");

	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal(EX_OSERR, "epoll_create1");
	ev.events = EPOLLIN;
	ev.data.ptr = &lfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) == -1)
		fatal(EX_OSERR, "epoll_ctl");
	ev.data.ptr = &sigfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev) == -1)
		fatal(EX_OSERR, "epoll_ctl");
	if ((sy_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal(EX_OSERR, "eventfd");
	ev.data.ptr = &sy_evfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sy_evfd, &ev) == -1)
		fatal(EX_OSERR, "epoll_ctl");
	if ((errno = pthread_create(&sy_thread, NULL, sync_thread, NULL)) != 0)
		fatal(EX_OSERR, "pthread_create");
}

static void
accept_clients(void)
{
	struct epoll_event ev;
	struct client *c;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->rbuf = malloc(RBUF_INIT)) == NULL) {
			log_warn("client");
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->rcap = RBUF_INIT;
		TAILQ_INSERT_TAIL(&clients, c, link);
		nclients++;
		if (nclients > max_clients) {
			client_error(c, 0, PE_BUSY, "too many clients");
			c->closing = 1;
			c->sendable = c->olen;
			client_send(c);
			if (c->fd == -1 || c->closing) {
				client_close(c);
				continue;
			}
		}
		ev.events = c->events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			log_warn("epoll_ctl");
			client_close(c);
		}
	}
}

static void
client_read(struct client *c)
{
	ssize_t n;

	if (c->closing || c->fd == -1)
		return;
	if (c->rlen == c->rcap) {
		/* A frame bigger than the buffer (bounded by max_frame). */
		size_t need = 4 + (size_t)le32_get(c->rbuf);
		uint8_t *nb;

		if (need > max_frame || need <= c->rcap ||
		    (nb = realloc(c->rbuf, need)) == NULL) {
			client_error(c, 0, PE_PROTO, "frame too large");
			c->closing = 1;
			return;
		}
		c->rbuf = nb;
		c->rcap = need;
	}
	n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("client %d: read: %s", c->fd, strerror(errno));
		c->closing = 1;
		c->olen = c->ooff = c->pend = 0;
		return;
	}
	if (n == 0) {
		/* The client is done sending; acks still go out. */
		c->closing = 1;
		return;
	}
	c->rlen += n;
	client_frames(c);
}

static void
client_frames(struct client *c)
{
	const uint8_t *body;
	size_t blen, used = 0;
	ssize_t fl;
	uint8_t type;

	client_turn(c);
	while (!c->closing && (fl = proto_frame(c->rbuf + used,
	    c->rlen - used, max_frame, &type, &body, &blen)) != 0) {
		if (fl < 0) {
			client_error(c, 0, PE_PROTO, "malformed frame length");
			c->closing = 1;
			break;
		}
		if (!c->hello && type != PT_HELLO && type != PT_STATUS &&
		    type != PT_SEAL) {
			client_error(c, 0, PE_PROTO, "HELLO must come first");
			c->closing = 1;
			break;
		}
		switch (type) {
		case PT_HELLO:
			client_hello(c, body, blen);
			break;
		case PT_PUBLISH:
			if (client_publish(c, body, blen) == -1)
				c->closing = 1;
			break;
		case PT_SEAL:
			client_seal(c, body, blen);
			break;
		case PT_STATUS:
			client_status(c);
			break;
		default:
			client_error(c, 0, PE_PROTO, "unknown frame type");
			c->closing = 1;
			break;
		}
		used += fl;
	}
	if (used > 0) {
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= used;
	}
}

static void
client_hello(struct client *c, const uint8_t *b, size_t len)
{
	uint8_t *o;

	if (c->hello || len < 16 || le32_get(b) != PROTO_MAGIC) {
		client_error(c, 0, PE_PROTO, "bad HELLO");
		c->closing = 1;
		return;
	}
	if (le16_get(b + 4) != PROTO_VERSION) {
		client_error(c, 0, PE_VERSION, "unsupported protocol version");
		c->closing = 1;
		return;
	}
	if (b[6] > ACK_SYNCED || le64_get(b + 8) == 0) {
		client_error(c, 0, PE_PROTO, "bad ack level or producer id");
		c->closing = 1;
		return;
	}
	c->hello = 1;
	c->ack = b[6];
	c->prod = producer_get(le64_get(b + 8), 1);
	c->prod->refs++;
	c->prod->last_use = now_ns();
	c->seq_mark = c->prod->last_seq;
	o = client_reserve(c, PROTO_FRAME_HDR + 32);
	proto_hdr(o, PT_HELLO_OK, 32);
	o += PROTO_FRAME_HDR;
	le16_put(o, PROTO_VERSION);
	le16_put(o + 2, 0);
	le32_put(o + 4, max_message);
	le32_put(o + 8, max_frame);
	le32_put(o + 12, 0);
	le64_put(o + 16, c->prod->id);
	le64_put(o + 24, c->prod->last_seq);
}

/*
 * Append every message of a PUBLISH frame.  The ACK is built in place as
 * we go; on a bad message the messages before it stay acked, an ERROR
 * names the bad one, and the connection closes (-1).
 */
static int
client_publish(struct client *c, const uint8_t *b, size_t len)
{
	struct bus_rec m;
	struct part *p;
	struct pprod *pp;
	const char *why;
	uint8_t *ack = NULL;
	size_t pos = 4, rs, ackoff = 0;
	uint64_t first_seq = 0;
	uint32_t count, i, code = 0, done = 0;
	int64_t now;
	char emsg[128];

	if (len < 4) {
		client_error(c, 0, PE_PROTO, "short PUBLISH");
		return -1;
	}
	count = le32_get(b);
	if (count > len / PROTO_MSG_HDR) {
		client_error(c, 0, PE_PROTO, "PUBLISH count exceeds frame");
		return -1;
	}
	if (c->ack != ACK_NONE && count > 0) {
		ack = client_reserve(c, PROTO_FRAME_HDR + 16 + 8 * (size_t)count);
		ackoff = ack - c->obuf;
	}
	now = now_ns();
	c->prod->last_use = now;
	for (i = 0; i < count; i++) {
		if (proto_msg_decode(b, len, &pos, &m) == -1) {
			client_error(c, 0, PE_PROTO, "malformed message");
			code = PE_PROTO;
			break;
		}
		if (i == 0)
			first_seq = m.seq;
		if (m.seq != first_seq + i) {
			client_error(c, m.seq, PE_PROTO,
			    "sequence numbers not consecutive");
			code = PE_PROTO;
			break;
		}
		if (m.topic_len + m.key_len + m.tags_len + m.payload_len >
		    max_message) {
			snprintf(emsg, sizeof(emsg), "message of %zu bytes "
			    "exceeds the limit of %zu bytes", m.topic_len +
			    m.key_len + m.tags_len + m.payload_len, max_message);
			client_error(c, m.seq, PE_TOOBIG, emsg);
			code = PE_TOOBIG;
			break;
		}
		if (topic_check(m.topic, m.topic_len, &why) == -1) {
			client_error(c, m.seq, PE_TOPIC, why);
			code = PE_TOPIC;
			break;
		}
		if ((m.flags & ~BUS_F_MASK) || tags_check(m.tags, m.tags_len)) {
			client_error(c, m.seq, PE_PROTO, "bad flags or tags");
			code = PE_PROTO;
			break;
		}
		if ((p = route(m.topic, m.topic_len, &code)) == NULL) {
			client_error(c, m.seq, code, code == PE_ROUTE ?
			    "partition name for topic too long" :
			    "cannot create partition");
			break;
		}
		if (c->pp_part != p || c->pp_gen != pprod_gen) {
			c->pp = pprod_get(p, c->prod->id);
			c->pp_part = p;
			c->pp_gen = pprod_gen;
		}
		pp = c->pp;
		if (m.seq <= pp->last_seq) {
			/*
			 * Already stored: a resend after a reconnect.  What
			 * came before it in the resend is stored too.
			 */
			if (m.seq > c->prod->last_seq)
				c->prod->last_seq = m.seq;
			stat_dups++;
			if (ack)
				le64_put(c->obuf + ackoff + PROTO_FRAME_HDR +
				    16 + 8 * (size_t)i, BUS_OFFSET_DUP);
			done++;
			continue;
		}
		rs = seg_rec_size(m.topic_len, m.key_len, m.tags_len,
		    m.payload_len);
		if (p->wlen > 0 && p->wlen + rs > p->wcap)
			part_flush(p);
		if (p->size + p->wlen + rs > seg_size && p->nrecs > 0)
			part_seal(p);
		if (p->failed) {
			client_error(c, m.seq, p->failed == ENOSPC ? PE_NOSPC :
			    PE_IO, strerror(p->failed));
			code = PE_IO;
			break;
		}
		if (rs > p->wcap) {
			uint8_t *nb = realloc(p->wbuf, rs);

			if (nb == NULL)
				fatal(EX_OSERR, NULL);
			p->wbuf = nb;
			p->wcap = rs;
		}
		if (!p->dirty) {
			/* First write of the turn: remember how to undo it. */
			part_turn_mark(p);
			p->dirty = 1;
			TAILQ_INSERT_TAIL(&dirty, p, dlink);
		}
		m.offset = p->next_off++;
		m.recv_ns = now > clock_last ? now : clock_last + 1;
		clock_last = m.recv_ns;
		m.producer = c->prod->id;
		if (!p->idx_any ||
		    p->size + p->wlen - p->idx_pos >= BUS_IDX_EVERY) {
			struct bus_idx_ent e;

			if (p->ilen == sizeof(p->ibuf))
				part_flush(p);
			e.offset = m.offset;
			e.recv_ns = m.recv_ns;
			e.pos = p->size + p->wlen;
			idx_ent_encode(p->ibuf + p->ilen, &e);
			p->ilen += BUS_IDX_ENT;
			p->idx_pos = e.pos;
			p->idx_any = 1;
		}
		/* The CRCs are filled in at flush time, three at once. */
		p->wlen += seg_rec_encode_nocrc(p->wbuf + p->wlen, &m);
		p->last_recv = m.recv_ns;
		p->nrecs++;
		if (pp->turn != turn_no) {
			/* First record of the turn: how to undo it. */
			pp->turn = turn_no;
			pp->turn_seq = pp->last_seq;
			pp->tnext = p->touched;
			p->touched = pp;
		}
		pp->last_seq = m.seq;
		pp->last_use = now;
		c->prod->last_seq = m.seq;
		c->published = 1;
		stat_msgs++;
		stat_bytes += m.payload_len;
		if (ack)
			le64_put(c->obuf + ackoff + PROTO_FRAME_HDR + 16 +
			    8 * (size_t)i, m.offset);
		done++;
	}
	if (ack) {
		/* The error frame may have moved obuf; reach it by offset. */
		ack = c->obuf + ackoff;
		proto_hdr(ack, PT_ACK, 16 + 8 * (size_t)count);
		le64_put(ack + PROTO_FRAME_HDR, first_seq);
		le32_put(ack + PROTO_FRAME_HDR + 8, done);
		le32_put(ack + PROTO_FRAME_HDR + 12, 0);
		if (done < count) {
			/* Shrink the ACK to what was done, keep what follows. */
			size_t full = PROTO_FRAME_HDR + 16 + 8 * (size_t)count;
			size_t used = PROTO_FRAME_HDR + 16 + 8 * (size_t)done;

			proto_hdr(ack, PT_ACK, 16 + 8 * (size_t)done);
			memmove(ack + used, ack + full,
			    c->olen - (ackoff + full));
			c->olen -= full - used;
			if (done == 0) {
				memmove(ack, ack + used, c->olen - (ackoff + used));
				c->olen -= used;
			}
		}
	}
	if (ack != NULL && done > 0)
		c->published = 1;
	return code ? -1 : 0;
}

static void
client_seal(struct client *c, const uint8_t *b, size_t len)
{
	struct patset *ps = NULL;
	struct part *p;
	char *pat, err[300];
	uint32_t plen, sealed = 0;
	uint8_t *o;

	if (len < 4 || (plen = le32_get(b)) > len - 4) {
		client_error(c, 0, PE_PROTO, "malformed SEAL");
		c->closing = 1;
		return;
	}
	if (plen > 0) {
		if ((pat = strndup((const char *)b + 4, plen)) == NULL)
			fatal(EX_OSERR, NULL);
		ps = patset_new(&pat, 1, err, sizeof(err));
		free(pat);
		if (ps == NULL) {
			client_error(c, 0, PE_PATTERN, err);
			return;
		}
	}
	RB_FOREACH(p, part_tree, &parts) {
		if (ps != NULL && !patset_match(ps, p->name, strlen(p->name)))
			continue;
		if (p->nrecs == 0 && p->wlen == 0)
			continue;
		part_seal(p);
		sealed++;
	}
	patset_free(ps);
	o = client_reserve(c, PROTO_FRAME_HDR + 4);
	proto_hdr(o, PT_SEAL_OK, 4);
	le32_put(o + PROTO_FRAME_HDR, sealed);
}

static void
client_status(struct client *c)
{
	struct part *p;
	char *js = NULL, t[40];
	size_t jl = 0;
	FILE *f;
	uint8_t *o;
	int first = 1;

	if ((f = open_memstream(&js, &jl)) == NULL)
		fatal(EX_OSERR, NULL);
	format_time(t, sizeof(t), clock_last);
	fprintf(f, "{\"pid\":%ld,\"store\":", (long)getpid());
	json_str(f, dir);
	fprintf(f, ",\"uptime_s\":%lld,"
	    "\"clients\":%d,\"messages\":%llu,\"bytes\":%llu,"
	    "\"duplicates\":%llu,\"last_receive\":\"%s\",\"partitions\":[",
	    (long long)((now_ns() - started) / 1000000000),
	    nclients - 1, (unsigned long long)stat_msgs,
	    (unsigned long long)stat_bytes, (unsigned long long)stat_dups, t);
	RB_FOREACH(p, part_tree, &parts) {
		fprintf(f, "%s{\"name\":\"%s\",\"next_offset\":%llu,"
		    "\"active_base\":%llu,\"active_bytes\":%llu}",
		    first ? "" : ",", p->name, (unsigned long long)p->next_off,
		    (unsigned long long)p->base,
		    (unsigned long long)(p->size + p->wlen));
		first = 0;
	}
	fprintf(f, "]}");
	fclose(f);
	o = client_reserve(c, PROTO_FRAME_HDR + jl);
	proto_hdr(o, PT_STATUS_OK, jl);
	memcpy(o + PROTO_FRAME_HDR, js, jl);
	free(js);
}

static void
client_error(struct client *c, uint64_t seq, uint32_t code, const char *text)
{
	size_t tl = strlen(text);
	uint8_t *o;

	log_debug("client %d: %s: %s", c->fd, proto_err_name(code), text);
	o = client_reserve(c, PROTO_FRAME_HDR + 16 + tl);
	proto_hdr(o, PT_ERROR, 16 + tl);
	le64_put(o + PROTO_FRAME_HDR, seq);
	le32_put(o + PROTO_FRAME_HDR + 8, code);
	le32_put(o + PROTO_FRAME_HDR + 12, tl);
	memcpy(o + PROTO_FRAME_HDR + 16, text, tl);
}

static uint8_t *
client_reserve(struct client *c, size_t n)
{
	uint8_t *nb;
	size_t nc;

	/* Never moves data within obuf: callers hold offsets into it. */
	if (c->olen + n > c->ocap) {
		nc = c->ocap ? c->ocap : 4096;
		while (c->olen + n > nc)
			nc *= 2;
		if (nc != c->ocap) {
			if ((nb = realloc(c->obuf, nc)) == NULL)
				fatal(EX_OSERR, NULL);
			c->obuf = nb;
			c->ocap = nc;
		}
	}
	c->olen += n;
	return c->obuf + c->olen - n;
}

static void
client_send(struct client *c)
{
	ssize_t n;
	size_t i, d;

	while (c->fd != -1 && c->ooff < c->sendable) {
		n = send(c->fd, c->obuf + c->ooff, c->sendable - c->ooff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			c->closing = 1;
			c->ooff = c->olen = c->sendable = c->nmarks = 0;
			break;
		}
		c->ooff += n;
	}
	if (c->ooff == c->olen) {
		c->ooff = c->olen = c->sendable = 0;
		c->pend = 0;
	} else if (c->ooff > 1024 * 1024 && c->ooff > c->olen / 2) {
		/* Held acks keep it from draining: move it down now and then. */
		d = c->ooff;
		memmove(c->obuf, c->obuf + d, c->olen - d);
		c->olen -= d;
		c->ooff = 0;
		c->sendable -= d;
		c->pend = c->pend > d ? c->pend - d : 0;
		for (i = 0; i < c->nmarks; i++)
			c->marks[i].end -= d;
	}
	client_events(c);
}

/* Watch for input unless closing or backlogged; for output if pending. */
static void
client_events(struct client *c)
{
	struct epoll_event ev;

	c->paused = c->olen - c->ooff > OUT_HIGH;
	ev.events = (c->paused || c->closing ? 0 : EPOLLIN) |
	    (c->ooff < c->sendable ? EPOLLOUT : 0);
	if (c->fd == -1 || ev.events == c->events)
		return;
	c->events = ev.events;
	ev.data.ptr = c;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Put c on this turn's list: its acks go out at the end of the turn. */
static void
client_turn(struct client *c)
{
	if (c->in_turn)
		return;
	c->in_turn = 1;
	c->pend = c->olen;
	c->published = 0;
	c->seq_mark = c->prod ? c->prod->last_seq : 0;
	TAILQ_INSERT_TAIL(&turn, c, tlink);
}

static void
client_close(struct client *c)
{
	if (c->fd != -1) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	if (c->prod)
		c->prod->refs--;
	if (c->in_turn)
		TAILQ_REMOVE(&turn, c, tlink);
	TAILQ_REMOVE(&clients, c, link);
	nclients--;
	free(c->rbuf);
	free(c->obuf);
	free(c->marks);
	free(c);
}

/* Remember where p is, to undo what the turn writes after this. */
static void
part_turn_mark(struct part *p)
{
	p->turn_size = p->size;
	p->turn_idx_size = p->idx_size;
	p->turn_idx_pos = p->idx_pos;
	p->turn_idx_any = p->idx_any;
	p->turn_nrecs = p->nrecs;
}

/*
 * Undo a failed turn in p: cut the segment and its index back to where
 * the turn found them (or to its seal, if it sealed p), and set the
 * producers' sequence numbers there back with them.  Readers may have
 * seen those records for a moment; their offsets are not handed out
 * again.
 */
static void
part_undo(struct part *p)
{
	struct pprod *pp;

	if (ftruncate(p->fd, p->turn_size) == -1 ||
	    ftruncate(p->idxfd, p->turn_idx_size) == -1)
		log_warn("partition %s: undo of a failed turn", p->name);
	p->size = p->turn_size;
	p->idx_size = p->turn_idx_size;
	p->idx_pos = p->turn_idx_pos;
	p->idx_any = p->turn_idx_any;
	p->nrecs = p->turn_nrecs;
	p->wlen = p->ilen = 0;
	for (pp = p->touched; pp != NULL; pp = pp->tnext)
		pp->last_seq = pp->turn_seq;
}

/*
 * The end of a turn: write every dirty partition, publish the clock,
 * release written acks, and hold synced ones for the next sync (which
 * the sync thread runs while the loop goes on).
 */
static void
turn_end(void)
{
	struct client *c, *nc;
	struct part *p;
	uint8_t b[8];
	int e, want_sync = 0;

	/*
	 * A turn is all or nothing for the clients who published in it: if
	 * one write fails, every partition of the turn is cut back,
	 * and each of those clients gets an ERROR instead of its acks, with
	 * its producer's sequence set back so that a resend is stored once.
	 */
	TAILQ_FOREACH(p, &dirty, dlink) {
		part_flush(p);
		if (p->unsynced && unsynced_since == 0)
			unsynced_since = now_ns();
	}
	if (clock_last != clock_published) {
		le64_put(b, (uint64_t)clock_last);
		if (pwrite(clockfd, b, 8, 0) == 8)
			clock_published = clock_last;
	}
	if ((e = turn_error) != 0)
		TAILQ_FOREACH(p, &dirty, dlink)
			part_undo(p);
	TAILQ_FOREACH_SAFE(c, &turn, tlink, nc) {
		TAILQ_REMOVE(&turn, c, tlink);
		c->in_turn = 0;
		if (e != 0 && c->published) {
			c->olen = c->pend;
			if (c->prod)
				c->prod->last_seq = c->seq_mark;
			client_error(c, 0, e == ENOSPC ? PE_NOSPC : PE_IO,
			    strerror(e));
			c->closing = 1;
		}
		/*
		 * Synced acks wait for the next sync; anything else waits
		 * only behind acks already held, to keep the order.
		 */
		if (c->ack == ACK_SYNCED && c->published) {
			client_hold(c, sy_issued + 1);
			want_sync = 1;
		} else if (c->nmarks > 0)
			client_hold(c, c->marks[c->nmarks - 1].gen);
		else
			c->sendable = c->olen;
		c->published = 0;
		client_send(c);
		if (c->closing && c->ooff == c->olen)
			client_close(c);
	}
	/*
	 * Start the next sync once the publishers the last one released
	 * are back, or after a short while: then one fdatasync covers them
	 * all instead of every other one.
	 */
	if (want_sync)
		sy_more = 1;
	if (sy_more && !sy_busy && (sy_waiting >= sy_released ||
	    now_ns() - sy_finished_at >= SYNC_GATHER_NS))
		sync_start();
	while ((p = TAILQ_FIRST(&dirty)) != NULL) {
		TAILQ_REMOVE(&dirty, p, dlink);
		p->dirty = 0;
		p->failed = 0;
		p->touched = NULL;
	}
	turn_error = 0;
	turn_no++;
}

static int64_t
next_rotate_at(int64_t now)
{
	int64_t day = 86400LL * 1000000000LL, t;

	t = now - now % day + (int64_t)rotate_hm * 60 * 1000000000LL;
	if (t <= now)
		t += day;
	return t;
}

/* SIGTERM: take what clients already sent, write, sync, leave. */
static void
shutdown_busd(void)
{
	struct client *c, *nc;
	struct part *p;
	int rounds;

	log_info("shutting down");
	sd_notify("STOPPING=1");
	epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL);
	close(lfd);
	unlink(sockpath);
	for (rounds = 0; rounds < 64; rounds++) {
		int any = 0;

		TAILQ_FOREACH_SAFE(c, &clients, link, nc) {
			size_t before = c->rlen;

			if (c->closing || c->paused)
				continue;
			client_read(c);
			if (c->rlen != before || c->in_turn)
				any = 1;
		}
		turn_end();
		if (!any)
			break;
	}
	/* Let the syncs in flight finish, then sync the rest here. */
	while (sy_busy || sy_more) {
		struct pollfd pfd = { sy_evfd, POLLIN, 0 };

		if (!sy_busy) {
			sync_start();
			continue;
		}
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			break;
		sync_finished();
	}
	RB_FOREACH(p, part_tree, &parts) {
		part_flush(p);
		if (fdatasync(p->fd) == -1)
			log_warn("partition %s: fdatasync", p->name);
		fdatasync(p->idxfd);
	}
	TAILQ_FOREACH_SAFE(c, &clients, link, nc)
		client_close(c);
	pidfile_remove(pfh);
}

static int
topic_cmp(struct topic *a, struct topic *b)
{
	return strcmp(a->name, b->name);
}

static int
part_cmp(struct part *a, struct part *b)
{
	return strcmp(a->name, b->name);
}

static int
route_cmp(struct route *a, struct route *b)
{
	return strcmp(a->topic, b->topic);
}

static int
prod_cmp(struct producer *a, struct producer *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

static int
pprod_cmp(struct pprod *a, struct pprod *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE_STATIC(topic_tree, topic, entry, topic_cmp);
RB_GENERATE_STATIC(part_tree, part, entry, part_cmp);
RB_GENERATE_STATIC(route_tree, route, entry, route_cmp);
RB_GENERATE_STATIC(prod_tree, producer, entry, prod_cmp);
RB_GENERATE_STATIC(pprod_tree, pprod, entry, pprod_cmp);

/* fdatasync every partition written since its last sync. */
static void
sync_all(void)
{
	struct part *p;
	int failed = 0;

	RB_FOREACH(p, part_tree, &parts) {
		if (!p->unsynced)
			continue;
		if (fdatasync(p->fd) == -1) {
			log_warn("partition %s: fdatasync", p->name);
			failed = 1;
		} else {
			p->unsynced = 0;
			log_debug("partition %s: synced", p->name);
		}
	}
	/* A failed sync is tried again one interval later. */
	unsynced_since = failed ? now_ns() : 0;
}

/*
 * DIR/log/P/producers: the last sequence number of every producer in
 * partition P, covering its records below the "next" offset.  Written
 * when P is sealed, once its records are on disk; with the records from
 * that offset on it gives back P's dedup state after a restart, however
 * many segments a quiet producer's last records are behind.  Format:
 * "bus-producers 2", "next OFFSET", then "ID LAST_SEQ LAST_USE_NS" lines.
 */
static void
pprods_save(struct part *p)
{
	struct pprod *pp;
	FILE *f;

	if ((f = store_tmp_open(p->dirfd, BUS_PRODUCERS ".tmp")) == NULL) {
		log_warn("partition %s: %s.tmp", p->name, BUS_PRODUCERS);
		return;
	}
	fprintf(f, "bus-producers 2\nnext %llu\n",
	    (unsigned long long)p->next_off);
	RB_FOREACH(pp, pprod_tree, &p->prods)
		fprintf(f, "%016llx %llu %lld\n", (unsigned long long)pp->id,
		    (unsigned long long)pp->last_seq, (long long)pp->last_use);
	/*
	 * On failure the old file stays: it covers less, so more is read
	 * at start.  The directory is synced by the seal's new segment.
	 */
	if (store_tmp_commit(f, p->dirfd, BUS_PRODUCERS ".tmp", BUS_PRODUCERS,
	    0) == -1)
		log_warn("partition %s: %s", p->name, BUS_PRODUCERS);
	else
		p->prods_mark = p->next_off;
}

/* Read P's producers file; -1 if there is none or it is damaged. */
static int
pprods_load(struct part *p)
{
	char line[128];
	unsigned long long id, seq, next;
	long long used;
	struct pprod *pp;
	FILE *f;
	int fd;

	p->prods_mark = 0;
	if ((fd = openat(p->dirfd, BUS_PRODUCERS, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, "bus-producers 2\n") != 0 ||
	    fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "next %llu", &next) != 1) {
		/* A cache of what the records say: damaged means ignored. */
		log_warnx("partition %s: %s: not a producer state file; "
		    "ignored", p->name, BUS_PRODUCERS);
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%llx %llu %lld", &id, &seq, &used) != 3 ||
		    id == 0)
			continue;
		pp = pprod_get(p, id);
		if (seq > pp->last_seq)
			pp->last_seq = seq;
		pp->last_use = used;
	}
	fclose(f);
	p->prods_mark = next;
	return 0;
}

/* The sd_notify protocol, spoken directly: one datagram per state. */
static void
sd_notify(const char *state)
{
	struct sockaddr_un sun;
	const char *path = getenv("NOTIFY_SOCKET");
	char msg[128];
	socklen_t len;
	int fd, n;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	n = snprintf(msg, sizeof(msg), "%s\nMAINPID=%ld", state,
	    (long)getpid());
	if (sendto(fd, msg, n, MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    len) == -1)
		log_warn("sd_notify %s", path);
	close(fd);
}

/* busd --verify [--repair]: check the store offline, report, exit. */
static __dead void
verify_store(int repair)
{
	struct verify_stats st;
	struct stat sb;
	char p[PATH_MAX];
	pid_t pid;
	int rc;

	if (store_path(p, sizeof(p), dir, BUS_LOGDIR) == -1 ||
	    stat(p, &sb) == -1)
		errx(EX_NOINPUT, "no bus store at %s", dir);
	if (repair && store_busd_alive(dir, &pid))
		errx(EX_TEMPFAIL, "busd (pid %ld) is running on %s; stop it "
		    "before --repair", (long)pid, dir);
	rc = store_verify(dir, repair, stdout, &st);
	printf("checked %lu partition(s), %lu segment(s), %llu record(s): "
	    "%lu problem(s)", st.partitions, st.segments, st.records,
	    st.problems);
	if (repair)
		printf(", %lu repaired", st.repaired);
	printf("\n");
	fflush(stdout);
	if (rc == -1)
		exit(EX_IOERR);
	exit(st.problems > (repair ? st.repaired : 0) ? EX_DATAERR : 0);
}

static char *
xstrdup(const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		err(EX_OSERR, NULL);
	return d;
}

/* busd --status: the figures of bus-rotate --status, from one place. */
static __dead void
print_status(int json)
{
	struct bus_status st;
	char emsg[512];

	if (status_gather(dir, NULL, &st, emsg, sizeof(emsg)) == -1)
		errx(EX_NOINPUT, "%s", emsg);
	status_print(stdout, &st, json);
	status_free(&st);
	if (fflush(stdout) == EOF)
		err(EX_IOERR, "stdout");
	exit(0);
}

/* The sync thread: fdatasync what it is given, say when done. */
static void *
sync_thread(void *arg)
{
	uint64_t one = 1;
	size_t i;
	int e;

	pthread_mutex_lock(&sy_mtx);
	for (;;) {
		while (!sy_go && !sy_quit)
			pthread_cond_wait(&sy_cond, &sy_mtx);
		if (sy_quit && !sy_go)
			break;
		pthread_mutex_unlock(&sy_mtx);
		e = 0;
		for (i = 0; i < sy_nfds; i++) {
			if (fdatasync(sy_fds[i]) == -1 && e == 0)
				e = errno;
			close(sy_fds[i]);
		}
		pthread_mutex_lock(&sy_mtx);
		sy_err = e;
		sy_go = 0;
		(void)write(sy_evfd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&sy_mtx);
	return NULL;
}

/* Start the next sync: every segment written since its last sync. */
static void
sync_start(void)
{
	struct part *p;
	int *nf;

	sy_nfds = 0;
	RB_FOREACH(p, part_tree, &parts) {
		if (!p->unsynced)
			continue;
		if (sy_nfds == sy_cap) {
			sy_cap = sy_cap ? sy_cap * 2 : 16;
			if ((nf = reallocarray(sy_fds, sy_cap,
			    sizeof(*nf))) == NULL)
				fatal(EX_OSERR, NULL);
			sy_fds = nf;
		}
		/* A dup: sealing may close p->fd while the thread syncs. */
		if ((sy_fds[sy_nfds] = dup(p->fd)) == -1) {
			log_warn("partition %s: dup", p->name);
			continue;
		}
		sy_nfds++;
		p->unsynced = 0;
	}
	sy_issued++;
	sy_busy = 1;
	sy_more = 0;
	sy_waiting = 0;
	pthread_mutex_lock(&sy_mtx);
	sy_go = 1;
	pthread_cond_signal(&sy_cond);
	pthread_mutex_unlock(&sy_mtx);
}

/* A sync finished: release the acks it covers, start the next one. */
static void
sync_finished(void)
{
	uint64_t v;
	int e;

	if (read(sy_evfd, &v, sizeof(v)) != sizeof(v) && sy_busy) {
		/* Not finished yet (shutdown polls): nothing to do. */
		if (errno == EAGAIN)
			return;
	}
	if (sy_busy) {
		pthread_mutex_lock(&sy_mtx);
		e = sy_err;
		pthread_mutex_unlock(&sy_mtx);
		sy_busy = 0;
		sy_done = sy_issued;
		sy_finished_at = now_ns();
		if (e != 0) {
			log_warnx("fdatasync: %s: synced acks withheld",
			    strerror(e));
			unsynced_since = now_ns();
		}
		acks_release(sy_done, e);
	}
}

/* Acks held up to sync gen go out; on a failed sync, an ERROR instead. */
static void
acks_release(uint64_t gen, int e)
{
	struct client *c, *nc;
	size_t k;

	sy_released = 0;
	TAILQ_FOREACH_SAFE(c, &clients, link, nc) {
		if (c->nmarks == 0 || c->marks[0].gen > gen)
			continue;
		sy_released++;
		for (k = 0; k < c->nmarks && c->marks[k].gen <= gen; k++)
			c->sendable = c->marks[k].end;
		memmove(c->marks, c->marks + k, (c->nmarks - k) *
		    sizeof(*c->marks));
		c->nmarks -= k;
		if (e != 0) {
			/* What was written stays; it was not synced. */
			c->olen = c->sendable = c->ooff;
			c->nmarks = 0;
			client_error(c, 0, e == ENOSPC ? PE_NOSPC : PE_IO,
			    strerror(e));
			c->sendable = c->olen;
			c->closing = 1;
		}
		client_send(c);
		if (c->closing && c->ooff == c->olen && !c->in_turn)
			client_close(c);
	}
}

/* Hold obuf up to its end until sync gen has finished. */
static void
client_hold(struct client *c, uint64_t gen)
{
	struct ackmark *nm;

	if (c->nmarks > 0 && c->marks[c->nmarks - 1].gen == gen) {
		c->marks[c->nmarks - 1].end = c->olen;
		return;
	}
	if (c->nmarks == c->capmarks) {
		c->capmarks = c->capmarks ? c->capmarks * 2 : 4;
		if ((nm = reallocarray(c->marks, c->capmarks,
		    sizeof(*nm))) == NULL)
			fatal(EX_OSERR, NULL);
		c->marks = nm;
	}
	c->marks[c->nmarks].end = c->olen;
	c->marks[c->nmarks].gen = gen;
	c->nmarks++;
	if (gen == sy_issued + 1)
		sy_waiting++;
}

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
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/tree.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libutil.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "bus.h"
#include "cmdline.h"
#include "log.h"
#include "perm.h"
#include "proto.h"
#include "storecheck.h"
#include "bus/store.h"
#include "busd.h"

static __dead void usage(void);
static __dead void help(void);
static int	daemon_start(void);
static void	daemon_wait(int);
static void	ready(int);
static void	serve(void);
static void	loop_timeout(int64_t, struct timespec *);
static void	signals_read(void);
static void	nofile_raise(void);
static void	store_open(void);
static void	listen_open(void);
static void	reload(void);
static int64_t	next_rotate_at(int64_t);
static void	shutdown_busd(void);
static void	sd_notify(const char *);
static __dead void verify_store(int);
static __dead void print_status(int);
static char	*xstrdup(const char *);
static int	pid_exiting(pid_t);

const char	*dir;			/* the store */
const char	*conf_file;		/* -c, or DIR/busd.conf if present */
char		**cli_rules;		/* -r, in order */
int		 ncli_rules;
struct ruleset	 rules;
uint64_t	 seg_size = BUS_SEGMENT_SIZE_DEFAULT;
size_t		 max_message = BUS_MESSAGE_MAX_DEFAULT;
size_t		 max_frame;
int		 max_clients = 256;
int		 max_partitions = 100000;	/* --max-partitions */
long		 nofile_limit;		/* RLIMIT_NOFILE, raised at start */
static int	 rotate_hm = -1;	/* --rotate-at, minutes after 00:00 UTC */
static int64_t	 rotate_next;		/* ns, 0: none */
static int	 verbose;
int		 epfd = -1, lfd = -1;
static int	 sigfd = -1;
static int	 commitfd = -1;		/* the sync thread's news */
int		 logfd = -1;		/* DIR/log */
int		 clockfd = -1;		/* DIR/log/.clock */
int64_t		 clock_last;		/* newest receive time handed out */
int64_t		 clock_published;	/* value in the clock file */
static struct pidfh *pfh;
int64_t		 started;
int64_t		 sync_interval = 1000000000LL; /* --sync-interval, 0: off */
static int	 quitting;
static char	 sockpath[PATH_MAX];

enum { OPT_SEGSIZE = 256, OPT_ROTATEAT, OPT_MAXMSG, OPT_MAXCLIENTS,
    OPT_SYNCINT, OPT_VERIFY, OPT_REPAIR, OPT_STATUS, OPT_MAXSCHED,
    OPT_MAXPARTS };

static const struct option longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "segment-size",	required_argument,	NULL, OPT_SEGSIZE },
	{ "rotate-at",		required_argument,	NULL, OPT_ROTATEAT },
	{ "max-message",	required_argument,	NULL, OPT_MAXMSG },
	{ "max-clients",	required_argument,	NULL, OPT_MAXCLIENTS },
	{ "max-partitions",	required_argument,	NULL, OPT_MAXPARTS },
	{ "max-scheduled",	required_argument,	NULL, OPT_MAXSCHED },
	{ "sync-interval",	required_argument,	NULL, OPT_SYNCINT },
	{ "verify",		no_argument,		NULL, OPT_VERIFY },
	{ "repair",		no_argument,		NULL, OPT_REPAIR },
	{ "status",		no_argument,		NULL, OPT_STATUS },
	{ NULL,			0,			NULL, 0 }
};

/* As the SYNOPSIS of busd(8) (tests/usage.bats compares them). */
static const char synopsis[] =
    "usage: busd [-bv] [-c file] [-d dir] [-r prefix:regex] ...\n"
    "            [--max-clients n] [--max-message size] [--rotate-at HH:MM]\n"
    "            [--max-partitions n] [--max-scheduled n]\n"
    "            [--segment-size size] [--sync-interval duration]\n"
    "       busd --verify [--repair] [-d dir]\n"
    "       busd --status [-o text|json] [-d dir]\n"
    "       busd -h | --help | -V | --version\n";

static __dead void
usage(void)
{
	fputs(synopsis, stderr);
	exit(EX_USAGE);
}

/* -h, --help: the synopsis and every option, as busd(8) has them. */
static __dead void
help(void)
{
	fputs(synopsis, stdout);
	fputs("\n"
	    "The one writer of a bus store: serve publishers on DIR/busd.sock.\n"
	    "\n"
	    "  -b                    detach; return once ready (logs to syslog,\n"
	    "                        or DIR/busd.log without a syslog socket)\n"
	    "  -c file               the configuration (default DIR/busd.conf)\n"
	    "  -d dir                the store (default $BUS_DIR, else\n"
	    "                        /var/lib/bus for root, else\n"
	    "                        ${XDG_STATE_HOME:-~/.local/state}/bus)\n"
	    "  -h, --help            this help\n"
	    "  -o text|json          the output format of --status\n"
	    "  -r prefix:regex       a routing rule, tried before busd.conf's\n"
	    "                        (repeatable)\n"
	    "  -V, --version         print the version\n"
	    "  -v                    verbose: log debugging messages too\n"
	    "  --max-clients n       connections served at once (default 256)\n"
	    "  --max-message size    largest message (default 1M, at most 64M)\n"
	    "  --max-partitions n    most partitions in the store (default 100000)\n"
	    "  --max-scheduled n     most messages held for later (default 100000)\n"
	    "  --repair              with --verify: repair what loses no record\n"
	    "  --rotate-at HH:MM     also seal every active segment daily (UTC)\n"
	    "  --segment-size size   start a new segment past size (default 64M)\n"
	    "  --status              print the store's status and exit\n"
	    "  --sync-interval duration\n"
	    "                        sync written data at least this often\n"
	    "                        (default 1s; 0: never on a timer)\n"
	    "  --verify              check the store offline, report and exit\n"
	    "\n"
	    "See busd(8).\n", stdout);
	exit(fflush(stdout) == EOF ? EX_IOERR : 0);
}

int
main(int argc, char *argv[])
{
	const char *errstr;
	char emsg[512];
	uint64_t v;
	int ch, detach = 0, readyfd = -1, h, m;
	int verify = 0, repair = 0, status = 0, json = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":bc:d:ho:r:vV", longopts,
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
		case OPT_MAXPARTS:
			max_partitions = strtonum(optarg, 1, INT_MAX, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--max-partitions: '%s' is %s",
				    optarg, errstr);
			break;
		case OPT_MAXSCHED:
			max_scheduled = strtonum(optarg, 0, 100000000, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "--max-scheduled: '%s' is %s "
				    "(0 to 100000000)", optarg, errstr);
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
				errx(EX_USAGE, "--sync-interval '%s': %s (0 "
				    "for never)", optarg, duration_error(errno));
			break;
		case 'h':
			help();
		default:
			warnx("%s", opt_error(ch, argv, emsg, sizeof(emsg)));
			usage();
		}
	}
	if (optind != argc) {
		warnx("unexpected argument '%s'", argv[optind]);
		usage();
	}
	/* setproctitle() reuses the memory of argv and environ: copy. */
	dir = xstrdup(store_dir(dir));
	if (verify)
		verify_store(repair);
	if (status)
		print_status(json);
	max_frame = proto_max_frame(max_message);
	setproctitle_init(argc, argv, environ);

	/*
	 * A store, or a configuration, that others could write is refused
	 * before it is read (as sshd's StrictModes); then the rules and ACLs
	 * are checked before anything touches the store.
	 */
	if (perm_check_store(dir, conf_file, PERM_OWNER, emsg, sizeof(emsg)) ==
	    -1)
		errx(EX_CONFIG, "%s", emsg);
	if ((acl = acl_new()) == NULL)
		err(EX_OSERR, NULL);
	if (load_rules(&rules, acl, emsg, sizeof(emsg)) == -1)
		errx(emsg[0] == '!' ? EX_CONFIG : EX_USAGE, "%s", emsg + 1);

	if (detach)
		readyfd = daemon_start();
	log_init(verbose, 0);
	started = now_ns();
	signal(SIGPIPE, SIG_IGN);
	nofile_raise();
	store_open();
	recover();
	if (route_check(emsg, sizeof(emsg)) == -1)
		fatalx(EX_CONFIG, "%s", emsg);
	sched_init();
	listen_open();
	ready(readyfd);
	setproctitle("%s", dir);
	if (rotate_hm >= 0)
		rotate_next = next_rotate_at(now_ns());
	serve();
	shutdown_busd();
	return 0;
}

/* -b: fork; the parent waits for the child to be ready (daemon_wait()). */
static int
daemon_start(void)
{
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
	setsid();
	return p[1];
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

/* Ready: recovery is done and the socket accepts connections. */
static void
ready(int readyfd)
{
	if (readyfd != -1) {
		int nullfd = open("/dev/null", O_RDWR);

		log_detach(dir);
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
}

/* The loop: one turn per epoll_pwait2(), until SIGTERM or SIGINT. */
static void
serve(void)
{
	struct epoll_event ev[64];
	struct timespec tmo;
	int64_t now;
	int n, i;

	while (!quitting) {
		loop_timeout(now_ns(), &tmo);
		n = epoll_pwait2(epfd, ev, 64, &tmo, NULL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal(EX_OSERR, "epoll_wait");
		}
		for (i = 0; i < n; i++) {
			if (ev[i].data.ptr == &lfd) {
				accept_clients();
			} else if (ev[i].data.ptr == &commitfd) {
				commit_event();
			} else if (ev[i].data.ptr == &sigfd) {
				signals_read();
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
		commit_turn_end();
		now = now_ns();
		sched_run(now);
		if (rotate_next && now >= rotate_next) {
			struct part *p;

			RB_FOREACH(p, part_tree, &parts)
				if (p->nrecs > 0)
					part_seal(p, 1);
			rotate_next = next_rotate_at(now);
		}
		commit_timer(now);
		producers_prune(now);
	}
}

/* How long the loop may wait: until the next rotation, sync or prune. */
static void
loop_timeout(int64_t now, struct timespec *tmo)
{
	int64_t wait_ns;
	int timeout = -1;

	if (rotate_next) {
		wait_ns = rotate_next - now;
		timeout = wait_ns <= 0 ? 0 : (int)(wait_ns / 1000000 + 1);
	}
	timeout = commit_timeout(now, timeout);
	if (timeout == -1 || timeout > 600000)
		timeout = 600000;	/* prune producers now and then */
	tmo->tv_sec = timeout / 1000;
	tmo->tv_nsec = (long)(timeout % 1000) * 1000000;
	if ((wait_ns = commit_gather(now)) >= 0) {
		/* Gathering publishers for the next sync. */
		tmo->tv_sec = 0;
		tmo->tv_nsec = wait_ns;
	}
	/* A scheduled message: to the nanosecond, not the millisecond. */
	if ((wait_ns = sched_wait(now)) >= 0 &&
	    wait_ns < tmo->tv_sec * 1000000000LL + tmo->tv_nsec) {
		tmo->tv_sec = wait_ns / 1000000000LL;
		tmo->tv_nsec = wait_ns % 1000000000LL;
	}
}

/* SIGHUP reloads the rules; SIGTERM and SIGINT end the loop. */
static void
signals_read(void)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload();
		else
			quitting = 1;
	}
}

/*
 * SIGHUP: the rules and ACLs again.  A connection is judged by the new
 * ACLs from its next message on (acl_gen voids what it had cached).
 */
static void
reload(void)
{
	struct ruleset nr, old;
	struct acl *na;
	char err[512];

	log_reopen();
	if (perm_check_store(dir, conf_file, PERM_OWNER, err + 1,
	    sizeof(err) - 1) == -1) {
		log_warnx("SIGHUP: keeping the old rules and ACLs: %s",
		    err + 1);
		return;
	}
	if ((na = acl_new()) == NULL) {
		log_warn("SIGHUP: keeping the old rules and ACLs");
		return;
	}
	if (load_rules(&nr, na, err, sizeof(err)) == -1) {
		log_warnx("SIGHUP: keeping the old rules and ACLs: %s",
		    err + 1);
		acl_free(na);
		return;
	}
	old = rules;
	rules = nr;
	if (route_check(err, sizeof(err)) == -1) {
		log_warnx("SIGHUP: keeping the old rules: %s", err);
		rules = old;
		rules_free(&nr);
		acl_free(na);
		return;
	}
	rules_free(&old);
	acl_free(acl);
	acl = na;
	acl_gen++;
	routes_clear();
	sd_notify("READY=1");
	log_info("SIGHUP: %zu rule(s), %zu ACL line(s) loaded", rules.n,
	    acl_count(acl));
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

/*
 * Every descriptor the hard limit allows: a store of many partitions
 * needs them.  How many partitions stay open follows from it.
 */
static void
nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal(EX_OSERR, "getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE %llu",
			    (unsigned long long)rl.rlim_max);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	nofile_limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ?
	    INT_MAX : (long)rl.rlim_cur;
	part_budget_init();
	log_debug("open files: at most %ld; partitions open at once: at most "
	    "%d", nofile_limit, max_open_parts);
}

static void
store_open(void)
{
	char p[PATH_MAX];
	pid_t other;
	int tries;

	if (store_mkdirs(dir) == -1)
		fatalx(EX_CANTCREAT, "cannot create store %s: %s", dir,
		    store_strerror(errno));
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
	    (logfd = store_open_in(dir, BUS_LOGDIR, O_RDONLY | O_DIRECTORY,
	    0)) == -1)
		fatalx(EX_CANTCREAT, "%s: %s", p, store_strerror(errno));
	if ((clockfd = store_openat(logfd, BUS_CLOCK, O_RDWR | O_CREAT,
	    0640)) == -1)
		fatalx(EX_CANTCREAT, "%s/%s: %s", p, BUS_CLOCK,
		    store_strerror(errno));
}

static void
listen_open(void)
{
	struct sockaddr_un sun;
	struct epoll_event ev;
	struct stat st;
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
	/* 0660 with the store's group: chgrp DIR shares the socket too. */
	if (stat(dir, &st) == -1 || (st.st_gid != getegid() &&
	    lchown(sockpath, (uid_t)-1, st.st_gid) == -1))
		log_warn("chgrp %u %s", (unsigned)st.st_gid, sockpath);
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
	commitfd = commit_init();
	ev.data.ptr = &commitfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, commitfd, &ev) == -1)
		fatal(EX_OSERR, "epoll_ctl");
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
		commit_turn_end();
		if (!any)
			break;
	}
	/* Let the syncs in flight finish, then sync the rest here. */
	commit_shutdown();
	RB_FOREACH(p, part_tree, &parts) {
		/* A closed partition was written and synced when closed. */
		if (!p->open)
			continue;
		part_flush(p);
		if (fdatasync(p->app.sfd) == -1)
			log_warn("partition %s: fdatasync", p->name);
		fdatasync(p->app.ifd);
	}
	part_dirs_sync();
	TAILQ_FOREACH_SAFE(c, &clients, link, nc)
		client_close(c);
	pidfile_remove(pfh);
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
	struct bus_verify v;
	struct bus_error e;
	int rc;

	/* An I/O error still gives the summary of what was checked. */
	if ((rc = bus_store_verify(dir, repair, stdout, &v, &e)) == -1 &&
	    e.status != EX_IOERR)
		errx(e.status, "%s", e.text);
	/* And the store clock, which the segment walk does not cover. */
	if (clock_check(dir, repair, stdout, &v.problems, &v.repaired) == -1) {
		printf("store clock %s/%s/%s: %s\n", dir, BUS_LOGDIR, BUS_CLOCK,
		    store_strerror(errno));
		rc = -1;
	}
	printf("checked %lu partition(s), %lu segment(s), %llu record(s): "
	    "%lu problem(s)", v.partitions, v.segments, v.records,
	    v.problems);
	if (repair)
		printf(", %lu repaired", v.repaired);
	printf("\n");
	fflush(stdout);
	if (rc == -1)
		exit(EX_IOERR);
	exit(v.problems > (repair ? v.repaired : 0) ? EX_DATAERR : 0);
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
	struct bus_store *s;
	struct bus_error e;

	char *js = NULL;
	size_t jl = 0;
	FILE *f;

	if ((s = bus_store_open(dir, NULL, &e)) == NULL)
		errx(e.status, "%s", e.text);
	if (!json) {
		bus_store_print(s, stdout, json);
		if (sched_status(dir, stdout, 0) == -1)
			err(EX_IOERR, "%s/%s/.sched", dir, BUS_LOGDIR);
	} else {
		/* One object: the scheduled messages go in before its end. */
		if ((f = open_memstream(&js, &jl)) == NULL)
			err(EX_OSERR, NULL);
		bus_store_print(s, f, json);
		fclose(f);
		while (jl > 0 && js[jl - 1] != '}')
			jl--;
		if (jl == 0)
			errx(EX_SOFTWARE, "status: not a JSON object");
		fwrite(js, 1, jl - 1, stdout);
		fputs(",\"scheduled\":[", stdout);
		if (sched_status(dir, stdout, 1) == -1)
			err(EX_IOERR, "%s/%s/.sched", dir, BUS_LOGDIR);
		fputs("]}\n", stdout);
		free(js);
	}
	bus_store_close(s);
	if (fflush(stdout) == EOF)
		err(EX_IOERR, "stdout");
	exit(0);
}

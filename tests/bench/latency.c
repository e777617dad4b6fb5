/*
 * latency: round-trip and end-to-end latency of bus, next to baselines
 * measured the same way on the same machine.  Used by tests/bench.sh.
 *
 *   latency [-S] [-a cpu] [-c cpu] [-d dir] [-n count] [-w warmup]
 *           [-t topic] [-s size] [-B bus-sub] [-f file] mode
 *
 * -a pins this process to a CPU, -c the child it starts (the echo, tail
 * or bus-sub); without them the scheduler places them.
 *
 * Modes (each prints one line "MODE n=N p50=U p99=U max=U", microseconds):
 *   ack   connect to busd, HELLO (ack level written, or synced with -S),
 *         then count times: PUBLISH one message of size bytes, wait for
 *         its ACK; CLOCK_MONOTONIC round trip.
 *   ipc   baseline for ack: the same PUBLISH frames over a socketpair to
 *         a child that reads each frame and answers an ACK-sized frame.
 *   sub   start `bus-sub -d dir -F '%s\n' topic` (following live) on a
 *         pipe, wait until it follows, then count times: take
 *         CLOCK_REALTIME, publish a message whose payload starts with that
 *         stamp (padded to size bytes), read bus-sub's lines until it
 *         arrives; latency = now - stamp.
 *   tail  baseline for sub: append a line holding the stamp to file with
 *         write(2) and read it back from `tail -n 0 -f file` on a pipe.
 *   sync  baseline for ack -S: write(2) size bytes to file, fdatasync(2).
 *   pair  ack -S and sync taken in turns, one of each per round, so that
 *         both meet the same disk; prints an ack_synced and a sync line.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "proto.h"

static const char *dir = ".";
static const char *topic = "latency";
static const char *bus_sub = "cmd/bus-sub/bus-sub";
static const char *file;
static size_t	 msg_size = 100;
static long	 count = 20000;
static long	 warmup = 200;
static int	 synced;
static int	 self_cpu = -1;		/* -a */
static int	 child_cpu = -1;	/* -c */

static int	 sock = -1;
static uint64_t	 next_seq = 1;
static uint8_t	*rbuf;			/* replies */
static size_t	 rcap;

static pid_t	 child = -1;
static int	 child_out = -1;	/* bus-sub's or tail's stdout */
static char	 lbuf[1 << 16];		/* its lines */
static size_t	 llen;

static void
die(const char *fmt, const char *arg)
{
	int e = errno;

	fprintf(stderr, "latency: ");
	fprintf(stderr, fmt, arg);
	if (e)
		fprintf(stderr, ": %s", strerror(e));
	fputc('\n', stderr);
	if (child > 0)
		kill(child, SIGTERM);
	exit(1);
}

static void
pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1) {
		fprintf(stderr, "latency: cannot pin to CPU %d: %s\n", cpu,
		    strerror(errno));
		_exit(1);
	}
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double
pct_us(const int64_t *v, long n, double p)
{
	long i = (long)(p / 100.0 * n + 0.999999) - 1;

	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i] / 1000.0;
}

static void
report(const char *mode, int64_t *v, long n)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	printf("%s n=%ld p50=%.1f p99=%.1f max=%.1f\n", mode, n,
	    pct_us(v, n, 50), pct_us(v, n, 99), v[n - 1] / 1000.0);
	fflush(stdout);
}

/* ------------------------------------------------------------ protocol */

static int	nprocs = 8;		/* -P: publishers of mode group */

static void
hello(void)
{
	struct proto_hello h;
	struct proto_hello_ok ok;
	uint8_t f[PROTO_HELLO_SIZE], type;
	const uint8_t *body;
	size_t blen;

	h.version = PROTO_VERSION;
	h.ack = synced ? ACK_SYNCED : ACK_WRITTEN;
	h.producer = ((uint64_t)getpid() << 32 | (uint64_t)real_ns()) | 1;
	if (proto_send_all(sock, f, proto_hello_encode(f, &h)) == -1)
		die("send HELLO to busd at %s", dir);
	errno = 0;
	if (proto_recv_frame(sock, &rbuf, &rcap, &type, &body, &blen) == -1)
		die("no reply to HELLO from busd at %s", dir);
	errno = 0;
	if (type != PT_HELLO_OK || proto_hello_ok_decode(body, blen, &ok) == -1)
		die("unexpected reply to HELLO from busd at %s", dir);
	next_seq = ok.last_seq + 1;
	if (msg_size + strlen(topic) > ok.max_message)
		die("-s: message over busd's limit%s", "");
}

/* Encode a PUBLISH of one message into f; returns its length. */
static size_t
publish_frame(uint8_t *f, uint64_t seq, const uint8_t *payload, size_t len)
{
	struct bus_rec m;
	size_t n;

	memset(&m, 0, sizeof(m));
	m.seq = seq;
	m.send_ns = m.event_ns = real_ns();
	m.topic = topic;
	m.topic_len = strlen(topic);
	m.payload = payload;
	m.payload_len = len;
	n = proto_publish_begin(f);
	n += proto_msg_encode(f + n, &m);
	proto_publish_finish(f, n, 1);
	return n;
}

static void
send_publish(const uint8_t *payload, size_t len)
{
	static uint8_t f[PROTO_PUBLISH_HDR + PROTO_MSG_HDR + 256 + 65536];
	size_t n;

	if (len > 65536)
		die("message too large%s", "");
	n = publish_frame(f, next_seq++, payload, len);
	if (proto_send_all(sock, f, n) == -1)
		die("send PUBLISH to busd at %s", dir);
}

static void
recv_ack(void)
{
	struct proto_error e;
	struct proto_ack a;
	const uint8_t *body;
	size_t blen;
	uint8_t type;

	errno = 0;
	if (proto_recv_frame(sock, &rbuf, &rcap, &type, &body, &blen) == -1)
		die("busd at %s closed the connection", dir);
	errno = 0;
	if (type == PT_ERROR && proto_error_decode(body, blen, &e) == 0) {
		fprintf(stderr, "latency: busd: %.*s\n", (int)e.text_len,
		    e.text);
		exit(1);
	}
	if (type != PT_ACK || proto_ack_decode(body, blen, &a) == -1 ||
	    a.count != 1)
		die("unexpected reply to PUBLISH from busd at %s", dir);
}

static void
connect_busd(void)
{
	if ((sock = proto_connect(dir)) == -1)
		die("cannot connect to busd at %s", dir);
	hello();
}

/* ------------------------------------------------------ child process */

static void
spawn(char *const argv[])
{
	int p[2];

	if (pipe(p) == -1)
		die("pipe%s", "");
	if ((child = fork()) == -1)
		die("fork%s", "");
	if (child == 0) {
		/* Never outlive us, even if we are killed. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(1);
		pin(child_cpu);
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "latency: cannot run %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	close(p[1]);
	child_out = p[0];
}

static void
reap(void)
{
	int status;

	if (child <= 0)
		return;
	kill(child, SIGTERM);
	waitpid(child, &status, 0);
	child = -1;
	close(child_out);
}

/*
 * Next line from the child into line (NUL-terminated, no newline); waits
 * at most timeout_ms (-1: forever).  Returns 1, or 0 on timeout.
 */
static int
read_line(char *line, size_t cap, int timeout_ms)
{
	struct pollfd pfd;
	char *nl;
	size_t n;
	ssize_t r;

	for (;;) {
		if ((nl = memchr(lbuf, '\n', llen)) != NULL) {
			n = nl - lbuf;
			if (n >= cap)
				n = cap - 1;
			memcpy(line, lbuf, n);
			line[n] = '\0';
			n = nl - lbuf + 1;
			memmove(lbuf, lbuf + n, llen - n);
			llen -= n;
			return 1;
		}
		if (llen == sizeof(lbuf))
			llen = 0;	/* a line longer than we care for */
		if (timeout_ms >= 0) {
			pfd.fd = child_out;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, timeout_ms) == 0)
				return 0;
		}
		r = read(child_out, lbuf + llen, sizeof(lbuf) - llen);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			errno = r == 0 ? 0 : errno;
			die("%s ended its output", "the child");
		}
		llen += r;
	}
}

/* ---------------------------------------------------------------- modes */

static void
mode_ack(void)
{
	int64_t *v, t0;
	uint8_t *payload;
	long i;

	if ((v = calloc(count, sizeof(*v))) == NULL ||
	    (payload = malloc(msg_size)) == NULL)
		die("out of memory%s", "");
	memset(payload, 'a', msg_size);
	connect_busd();
	for (i = -warmup; i < count; i++) {
		t0 = mono_ns();
		send_publish(payload, msg_size);
		recv_ack();
		if (i >= 0)
			v[i] = mono_ns() - t0;
	}
	report(synced ? "ack_synced" : "ack", v, count);
}

static void
mode_ipc(void)
{
	static uint8_t f[PROTO_PUBLISH_HDR + PROTO_MSG_HDR + 256 + 65536];
	uint8_t *payload, ack[PROTO_ACK_SIZE(1)], type;
	const uint8_t *body;
	size_t n, blen;
	int64_t *v, t0;
	int sv[2];
	long i;

	if ((v = calloc(count, sizeof(*v))) == NULL ||
	    (payload = malloc(msg_size)) == NULL)
		die("out of memory%s", "");
	memset(payload, 'a', msg_size);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		die("socketpair%s", "");
	if ((child = fork()) == -1)
		die("fork%s", "");
	if (child == 0) {
		/* The echo: read one whole frame, answer an ACK of one. */
		uint8_t *b = NULL;
		size_t cap = 0;

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		pin(child_cpu);
		close(sv[0]);
		proto_ack_begin(ack, 1, 1);
		proto_ack_set(ack, 0, 0);
		while (proto_recv_frame(sv[1], &b, &cap, &type, &body,
		    &blen) > 0)
			if (proto_send_all(sv[1], ack, sizeof(ack)) == -1)
				break;
		_exit(0);
	}
	close(sv[1]);
	for (i = -warmup; i < count; i++) {
		t0 = mono_ns();
		n = publish_frame(f, (uint64_t)(i + warmup + 1), payload,
		    msg_size);
		if (proto_send_all(sv[0], f, n) == -1 ||
		    proto_recv_frame(sv[0], &rbuf, &rcap, &type, &body,
		    &blen) == -1)
			die("echo child%s", "");
		if (i >= 0)
			v[i] = mono_ns() - t0;
	}
	close(sv[0]);
	waitpid(child, NULL, 0);
	child = -1;
	report("ipc", v, count);
}

/* A payload of msg_size bytes that starts with the stamp. */
static size_t
stamp_payload(char *p, int64_t stamp)
{
	int n = snprintf(p, msg_size + 1, "%lld", (long long)stamp);

	if ((size_t)n < msg_size)
		memset(p + n, '.', msg_size - n);
	return msg_size > (size_t)n ? msg_size : (size_t)n;
}

static void
mode_sub(void)
{
	char *argv[] = { (char *)bus_sub, "-d", (char *)dir, "-F", "%s\\n",
	    (char *)topic, NULL };
	char *payload, line[4096];
	int64_t *v, stamp;
	size_t plen;
	long i, tries;

	if ((v = calloc(count, sizeof(*v))) == NULL ||
	    (payload = malloc(msg_size + 32)) == NULL)
		die("out of memory%s", "");
	connect_busd();
	spawn(argv);
	/* Until bus-sub follows, what we publish may pass it by. */
	for (tries = 0; ; tries++) {
		if (tries == 200)
			die("bus-sub printed nothing in 10 s%s", "");
		send_publish((const uint8_t *)"warmup", 6);
		recv_ack();
		if (read_line(line, sizeof(line), 50))
			break;
	}
	for (i = -warmup; i < count; i++) {
		stamp = real_ns();
		plen = stamp_payload(payload, stamp);
		send_publish((const uint8_t *)payload, plen);
		do
			if (!read_line(line, sizeof(line), 10000))
				die("message not seen by bus-sub in 10 s%s",
				    "");
		while (strtoll(line, NULL, 10) != stamp);
		if (i >= 0)
			v[i] = real_ns() - stamp;
		recv_ack();
	}
	reap();
	report("sub", v, count);
}

static void
mode_tail(void)
{
	char *argv[] = { "tail", "-n", "0", "-f", (char *)file, NULL };
	char *payload, line[4096];
	int64_t *v, stamp;
	size_t plen;
	long i, tries;
	int fd;

	if (file == NULL)
		die("tail: -f file is required%s", "");
	if ((v = calloc(count, sizeof(*v))) == NULL ||
	    (payload = malloc(msg_size + 32)) == NULL)
		die("out of memory%s", "");
	if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644)) ==
	    -1)
		die("%s", file);
	spawn(argv);
	for (tries = 0; ; tries++) {
		if (tries == 200)
			die("tail printed nothing in 10 s%s", "");
		if (write(fd, "warmup\n", 7) != 7)
			die("write %s", file);
		if (read_line(line, sizeof(line), 50))
			break;
	}
	for (i = -warmup; i < count; i++) {
		stamp = real_ns();
		plen = stamp_payload(payload, stamp);
		payload[plen] = '\n';
		if (write(fd, payload, plen + 1) != (ssize_t)plen + 1)
			die("write %s", file);
		do
			if (!read_line(line, sizeof(line), 10000))
				die("line not seen by tail in 10 s%s", "");
		while (strtoll(line, NULL, 10) != stamp);
		if (i >= 0)
			v[i] = real_ns() - stamp;
	}
	reap();
	close(fd);
	report("tail", v, count);
}

static int
sync_open(void)
{
	int fd;

	if (file == NULL)
		die("sync: -f file is required%s", "");
	if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644)) ==
	    -1)
		die("%s", file);
	return fd;
}

static int64_t
sync_once(int fd, const char *payload)
{
	int64_t t0 = mono_ns();

	if (write(fd, payload, msg_size) != (ssize_t)msg_size)
		die("write %s", file);
	if (fdatasync(fd) == -1)
		die("fdatasync %s", file);
	return mono_ns() - t0;
}

static void
mode_sync(void)
{
	int64_t *v, t;
	char *payload;
	long i;
	int fd;

	if ((v = calloc(count, sizeof(*v))) == NULL ||
	    (payload = malloc(msg_size)) == NULL)
		die("out of memory%s", "");
	memset(payload, 's', msg_size);
	fd = sync_open();
	for (i = -warmup; i < count; i++) {
		t = sync_once(fd, payload);
		if (i >= 0)
			v[i] = t;
	}
	close(fd);
	report("sync", v, count);
}

static void
mode_pair(void)
{
	int64_t *va, *vs, t0, t;
	uint8_t *payload;
	long i;
	int fd;

	if ((va = calloc(count, sizeof(*va))) == NULL ||
	    (vs = calloc(count, sizeof(*vs))) == NULL ||
	    (payload = malloc(msg_size)) == NULL)
		die("out of memory%s", "");
	memset(payload, 's', msg_size);
	synced = 1;
	connect_busd();
	fd = sync_open();
	for (i = -warmup; i < count; i++) {
		t0 = mono_ns();
		send_publish(payload, msg_size);
		recv_ack();
		t = mono_ns() - t0;
		if (i >= 0)
			va[i] = t;
		t = sync_once(fd, (const char *)payload);
		if (i >= 0)
			vs[i] = t;
	}
	close(fd);
	report("ack_synced", va, count);
	report("sync", vs, count);
}

/*
 * nprocs publishers at once, each waiting for the synced ACK of one
 * message before it sends the next: group commit is what lets their
 * total pass one fdatasync per message.
 */
static void
mode_group(void)
{
	uint8_t *payload;
	int64_t t0, t;
	pid_t pid;
	long i;
	int k, status, bad = 0;

	if ((payload = malloc(msg_size)) == NULL)
		die("out of memory%s", "");
	memset(payload, 'g', msg_size);
	synced = 1;
	t0 = mono_ns();
	for (k = 0; k < nprocs; k++) {
		if ((pid = fork()) == -1)
			die("fork%s", "");
		if (pid == 0) {
			connect_busd();
			for (i = 0; i < count; i++) {
				send_publish(payload, msg_size);
				recv_ack();
			}
			_exit(0);
		}
	}
	for (k = 0; k < nprocs; k++)
		if (wait(&status) == -1 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			bad = 1;
	t = mono_ns() - t0;
	if (bad)
		die("a publisher failed%s", "");
	printf("group procs=%d msgs=%ld secs=%.3f rate=%.0f\n", nprocs,
	    count * nprocs, t / 1e9, count * nprocs / (t / 1e9));
}

static void
usage(void)
{
	fprintf(stderr, "usage: latency [-S] [-a cpu] [-c cpu] [-d dir] "
	    "[-n count] [-w warmup] [-P procs]\n"
	    "               [-t topic] [-s size] [-B bus-sub] [-f file] "
	    "ack|ipc|sub|tail|sync|pair|group\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	int ch;

	while ((ch = getopt(argc, argv, "a:B:c:d:f:n:P:s:St:w:")) != -1) {
		switch (ch) {
		case 'a':
			self_cpu = atoi(optarg);
			break;
		case 'B':
			bus_sub = optarg;
			break;
		case 'c':
			child_cpu = atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 's':
			msg_size = strtoul(optarg, NULL, 10);
			break;
		case 'P':
			nprocs = atoi(optarg);
			break;
		case 'S':
			synced = 1;
			break;
		case 't':
			topic = optarg;
			break;
		case 'w':
			warmup = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc || count < 1 || warmup < 0 || msg_size < 24 ||
	    msg_size > 65536)
		usage();
	signal(SIGPIPE, SIG_IGN);
	pin(self_cpu);
	if (strcmp(argv[optind], "ack") == 0)
		mode_ack();
	else if (strcmp(argv[optind], "ipc") == 0)
		mode_ipc();
	else if (strcmp(argv[optind], "sub") == 0)
		mode_sub();
	else if (strcmp(argv[optind], "tail") == 0)
		mode_tail();
	else if (strcmp(argv[optind], "sync") == 0)
		mode_sync();
	else if (strcmp(argv[optind], "pair") == 0)
		mode_pair();
	else if (strcmp(argv[optind], "group") == 0)
		mode_group();
	else
		usage();
	return 0;
}

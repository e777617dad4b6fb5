/*
 * bus-sub: --exec, a command run for each message, and what happens to
 * one whose command keeps failing (--on-failure): stop before it, skip
 * it, or publish it to a dead-letter topic and go on.
 *
 * A dead letter is published through the publisher of libbus as
 * producer id dlq_producer(cursor, partition), sequence offset + 1: a
 * crash between its publish and the commit that passes it publishes it
 * again with the same id and sequence, which busd drops as a duplicate.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "bus/bus.h"
#include "sub.h"

static void	setenv_n(const char *, const void *, size_t);
static void	setenv_i(const char *, long long, int);
static __dead void exec_child(const struct bus_msg *, int, int);
static int	exec_once(const struct bus_msg *);
static void	feed(int, const char *, size_t, int);
static void	tail_add(const char *, size_t);
static const char *tail_lines(size_t *);
static void	describe(int, char *, size_t);
static void	nap(long long);
static uint64_t	dlq_producer(const char *, const char *);
static void	dead_letter(const struct bus_msg *, int, long long);
static void	tag(uint8_t *, size_t, size_t *, const char *, const char *);

static struct exec_conf ec;		/* as given to exec_init() */
static char	 tail[ERR_TAIL];	/* the command's stderr, its end */
static size_t	 tail_len, tail_at;	/* bytes in it, next write at */

/* --exec is given. */
void
exec_init(const struct exec_conf *c)
{
	ec = *c;
}

/* setenv(3) of a value that is not NUL-terminated (cut at a NUL). */
static void
setenv_n(const char *name, const void *v, size_t n)
{
	char *s;

	if ((s = strndup(v ? v : "", n)) == NULL)
		_exit(127);
	setenv(name, s, 1);
	free(s);
}

static void
setenv_i(const char *name, long long v, int is_unsigned)
{
	char b[24];

	if (is_unsigned)
		snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	else
		snprintf(b, sizeof(b), "%lld", v);
	setenv(name, b, 1);
}

/* --on-failure=stop|skip|dead-letter=TOPIC */
void
exec_on_failure(struct exec_conf *c, const char *arg)
{
	const char *why;

	if (strcmp(arg, "stop") == 0)
		c->on_fail = FAIL_STOP;
	else if (strcmp(arg, "skip") == 0)
		c->on_fail = FAIL_SKIP;
	else if (strncmp(arg, "dead-letter=", 12) == 0) {
		if (topic_check(arg + 12, strlen(arg + 12), &why) == -1)
			errx(EX_USAGE, "--on-failure: dead-letter topic '%s': "
			    "%s", arg + 12, why);
		c->on_fail = FAIL_DEAD;
		c->dlq = arg + 12;
	} else
		errx(EX_USAGE, "--on-failure: '%s' is not stop, skip or "
		    "dead-letter=TOPIC", arg);
}

/*
 * In the child: the message's environment, stdin from fd, stderr to efd
 * unless it is -1, then sh -c.
 */
static __dead void
exec_child(const struct bus_msg *r, int fd, int efd)
{
	extern char **environ;
	struct bus_tag t;
	char *all, *p, name[8 + BUS_TAG_NAME_MAX + 1];
	size_t pos, i, n;
	char **e;

	if (fd != STDIN_FILENO && dup2(fd, STDIN_FILENO) == -1)
		_exit(127);
	if (efd != -1 && dup2(efd, STDERR_FILENO) == -1)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	/* Inherited BUS_TAG_* variables would pose as this message's tags. */
	for (e = environ; *e != NULL; ) {
		n = strcspn(*e, "=");
		if (strncmp(*e, "BUS_TAG_", 8) == 0 && n < sizeof(name)) {
			memcpy(name, *e, n);
			name[n] = '\0';
			unsetenv(name);
			e = environ;
		} else
			e++;
	}
	setenv_n("BUS_TOPIC", r->topic, r->topic_len);
	setenv("BUS_PARTITION", r->partition, 1);
	setenv_i("BUS_OFFSET", (long long)r->offset, 1);
	if (r->key_len > 0)
		setenv_n("BUS_KEY", r->key, r->key_len);
	else
		unsetenv("BUS_KEY");
	setenv_i("BUS_EVENT_NS", r->event_ns, 0);
	setenv_i("BUS_SEND_NS", r->send_ns, 0);
	setenv_i("BUS_RECV_NS", r->recv_ns, 0);
	if (r->flags & BUS_F_TOMBSTONE)
		setenv("BUS_TOMBSTONE", "1", 1);
	else
		unsetenv("BUS_TOMBSTONE");
	/* Each tag costs 4 bytes of lengths and takes 2 here: it fits. */
	if ((all = p = malloc(r->tags_len + 1)) == NULL)
		_exit(127);
	pos = 0;
	while (tags_next(r->tags, r->tags_len, &pos, &t) == 1) {
		if (p > all)
			*p++ = ',';
		memcpy(p, t.name, t.name_len);
		p += t.name_len;
		*p++ = '=';
		memcpy(p, t.value, t.value_len);
		p += t.value_len;
		memcpy(name, "BUS_TAG_", 8);
		for (i = 0; i < t.name_len; i++)
			name[8 + i] = isalnum((unsigned char)t.name[i]) ?
			    toupper((unsigned char)t.name[i]) : '_';
		name[8 + i] = '\0';
		setenv_n(name, t.value, t.value_len);
	}
	setenv_n("BUS_TAGS", all, p - all);
	execl("/bin/sh", "sh", "-c", ec.cmd, (char *)NULL);
	warn("/bin/sh");
	_exit(127);
}

/* Run the command once for r: its wait status, or -1 if it did not run. */
static int
exec_once(const struct bus_msg *r)
{
	const char *in;
	size_t inlen;
	pid_t pid;
	int p[2], e[2] = { -1, -1 }, st;

	in = out_render(r, &inlen);
	tail_len = tail_at = 0;
	if (pipe2(p, O_CLOEXEC) == -1 || (ec.on_fail == FAIL_DEAD &&
	    pipe2(e, O_CLOEXEC) == -1)) {
		warn("pipe");
		return -1;
	}
	if ((pid = fork()) == -1) {
		warn("fork");
		close(p[0]);
		close(p[1]);
		if (e[0] != -1) {
			close(e[0]);
			close(e[1]);
		}
		return -1;
	}
	if (pid == 0)
		exec_child(r, p[0], e[1]);
	close(p[0]);
	if (e[1] != -1)
		close(e[1]);
	feed(p[1], in, inlen, e[0]);
	out_discard();
	while (waitpid(pid, &st, 0) == -1) {
		if (errno != EINTR) {
			warn("waitpid");
			return -1;
		}
	}
	return st;
}

/*
 * Write the message to the command's stdin (fd, closed after), and with
 * --on-failure=dead-letter read its stderr (efd) meanwhile: passed on to
 * ours, its end kept for bus.dlq.error.
 */
static void
feed(int fd, const char *in, size_t inlen, int efd)
{
	struct pollfd pfd[2];
	char buf[4096];
	size_t done = 0;
	ssize_t n;

	pfd[0].fd = fd;
	pfd[0].events = POLLOUT;
	pfd[1].fd = efd;
	pfd[1].events = POLLIN;
	if (inlen == 0) {
		close(fd);
		pfd[0].fd = fd = -1;
	}
	while (pfd[0].fd != -1 || pfd[1].fd != -1) {
		if (efd == -1) {
			/* Nothing to read: plain blocking writes. */
			pfd[0].revents = POLLOUT;
		} else if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			warn("poll");
			break;
		}
		if (pfd[0].fd != -1 && pfd[0].revents) {
			if ((n = write(fd, in + done, inlen - done)) == -1) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				if (errno != EPIPE)	/* it did not read it */
					warn("--exec: writing the message");
				n = inlen - done;
			}
			done += n;
			if (done == inlen) {
				close(fd);
				pfd[0].fd = fd = -1;
			}
		}
		if (pfd[1].fd != -1 && pfd[1].revents) {
			if ((n = read(efd, buf, sizeof(buf))) == -1 &&
			    errno == EINTR)
				continue;
			if (n <= 0) {
				close(efd);
				pfd[1].fd = efd = -1;
				continue;
			}
			(void)write(STDERR_FILENO, buf, n);
			tail_add(buf, n);
		}
	}
	if (fd != -1)
		close(fd);
}

/* Keep the last ERR_TAIL bytes of the command's stderr. */
static void
tail_add(const char *b, size_t n)
{
	size_t k;

	while (n > 0) {
		k = sizeof(tail) - tail_at < n ? sizeof(tail) - tail_at : n;
		memcpy(tail + tail_at, b, k);
		tail_at = (tail_at + k) % sizeof(tail);
		tail_len = tail_len + k > sizeof(tail) ? sizeof(tail) :
		    tail_len + k;
		b += k;
		n -= k;
	}
}

/*
 * The last whole lines of what the command wrote on stderr, at most
 * ERR_TAIL bytes, without the final newline.
 */
static const char *
tail_lines(size_t *len)
{
	static char out[ERR_TAIL + 1];
	size_t start, n = 0, i;
	char *nl;

	start = tail_len < sizeof(tail) ? 0 : tail_at;
	for (i = 0; i < tail_len; i++)
		out[n++] = tail[(start + i) % sizeof(tail)];
	out[n] = '\0';
	i = 0;
	if (tail_len == sizeof(tail) && (nl = memchr(out, '\n', n)) != NULL &&
	    nl + 1 < out + n)
		i = nl + 1 - out;	/* cut: begin at a whole line */
	while (n > i && out[n - 1] == '\n')
		n--;
	*len = n - i;
	return out + i;
}

static void
describe(int st, char *buf, size_t len)
{
	if (st == -1)
		snprintf(buf, len, "could not be started");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "failed (wait status %#x)", st);
}

/* Sleep ms milliseconds; cut short by a signal. */
static void
nap(long long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * MS;
	nanosleep(&ts, NULL);
}

/*
 * --exec: run the command until it exits 0, retrying with a doubling
 * backoff.  When it keeps failing, stop with the cursor before r.
 */
void
exec_deliver(const struct bus_msg *r)
{
	long long attempt, ms = BACKOFF_MIN_MS;
	char why[64];
	int st;

	pos_commit(0);
	for (attempt = 0;; attempt++) {
		st = exec_once(r);
		if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			/*
			 * Committed before the next one runs: a crash runs
			 * again only the message in hand.
			 */
			pos_written(1);
			pos_commit(1);
			return;
		}
		/* r is not done: commit what came before it only. */
		if (quitting())
			quit_now(0);
		describe(st, why, sizeof(why));
		if (attempt >= ec.retries && ec.on_fail == FAIL_SKIP) {
			warnx("topic %.*s partition %s offset %llu: command %s "
			    "(%lld attempt%s); skipped", (int)r->topic_len,
			    r->topic, r->partition,
			    (unsigned long long)r->offset, why, attempt + 1,
			    attempt ? "s" : "");
			pos_written(1);
			pos_commit(1);
			return;
		}
		if (attempt >= ec.retries && ec.on_fail == FAIL_DEAD) {
			dead_letter(r, st, attempt + 1);
			warnx("topic %.*s partition %s offset %llu: command %s "
			    "(%lld attempt%s); published to %s",
			    (int)r->topic_len, r->topic, r->partition,
			    (unsigned long long)r->offset, why, attempt + 1,
			    attempt ? "s" : "", ec.dlq);
			pos_written(1);
			pos_commit(1);
			return;
		}
		if (attempt >= ec.retries) {
			pos_commit(1);
			if (ec.cursor != NULL)
				errx(EX_SOFTWARE, "partition %s offset %llu: "
				    "command %s (%lld attempt%s); stopping, "
				    "cursor %s left before it", r->partition,
				    (unsigned long long)r->offset, why,
				    attempt + 1, attempt ? "s" : "", ec.cursor);
			errx(EX_SOFTWARE, "partition %s offset %llu: command "
			    "%s (%lld attempt%s); stopping", r->partition,
			    (unsigned long long)r->offset, why, attempt + 1,
			    attempt ? "s" : "");
		}
		warnx("partition %s offset %llu: command %s; retry %lld of "
		    "%lld in %lld ms", r->partition, (unsigned long long)r->offset,
		    why, attempt + 1, ec.retries, ms);
		nap(ms);
		if (quitting())
			quit_now(0);
		ms = ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
	}
}

/* FNV-1a 64 of "dlq", the cursor and the partition: never 0. */
static uint64_t
dlq_producer(const char *cursor, const char *part)
{
	const char *s[3] = { "dlq", cursor ? cursor : "", part };
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;
	const char *p;

	for (i = 0; i < 3; i++) {
		for (p = s[i]; *p; p++) {
			h ^= (unsigned char)*p;
			h *= 0x100000001b3ULL;
		}
		h *= 0x100000001b3ULL;	/* a NUL between the parts */
	}
	return h ? h : 1;
}

/* Append the tag name=value to an area of cap bytes. */
static void
tag(uint8_t *a, size_t cap, size_t *len, const char *name, const char *v)
{
	size_t nl = strlen(name), vl = strlen(v);

	if (vl > BUS_TAG_VALUE_MAX || *len + 4 + nl + vl > cap)
		errx(EX_SOFTWARE, "dead letter: tags too large");
	le16_put(a + *len, nl);
	le16_put(a + *len + 2, vl);
	memcpy(a + *len + 4, name, nl);
	memcpy(a + *len + 4 + nl, v, vl);
	*len += 4 + nl + vl;
}

/*
 * Publish r unchanged to the dead-letter topic, with tags that say where
 * it came from and why it failed; wait until busd has it on disk.
 */
static void
dead_letter(const struct bus_msg *r, int st, long long attempts)
{
	const struct bus_error *e;
	struct bus_pub *p;
	struct bus_msg m;
	const char *etail;
	char v[64], *es;
	size_t cap, tl, el;
	uint8_t *tags;

	etail = tail_lines(&el);
	cap = r->tags_len + 6 * (4 + 32) + 4 * 64 + strlen(r->topic) + el +
	    strlen(r->partition);
	if ((tags = malloc(cap)) == NULL)
		err(EX_OSERR, NULL);
	memcpy(tags, r->tags, r->tags_len);
	tl = r->tags_len;
	snprintf(v, sizeof(v), "%.*s", (int)r->topic_len, r->topic);
	tag(tags, cap, &tl, "bus.dlq.topic", v);
	tag(tags, cap, &tl, "bus.dlq.partition", r->partition);
	snprintf(v, sizeof(v), "%" PRIu64, r->offset);
	tag(tags, cap, &tl, "bus.dlq.offset", v);
	if (st == -1)
		snprintf(v, sizeof(v), "not started");
	else if (WIFSIGNALED(st))
		snprintf(v, sizeof(v), "signal %d", WTERMSIG(st));
	else
		snprintf(v, sizeof(v), "exit %d", WEXITSTATUS(st));
	tag(tags, cap, &tl, "bus.dlq.status", v);
	snprintf(v, sizeof(v), "%lld", attempts);
	tag(tags, cap, &tl, "bus.dlq.attempts", v);
	if ((es = strndup(etail, el)) == NULL)
		err(EX_OSERR, NULL);
	tag(tags, cap, &tl, "bus.dlq.error", es);
	free(es);
	m = *r;
	m.topic = ec.dlq;
	m.topic_len = strlen(ec.dlq);
	m.tags = tags;
	m.tags_len = tl;
	if ((p = bus_pub_new(ec.dir)) == NULL)
		err(EX_OSERR, NULL);
	e = bus_pub_error(p);
	if (bus_pub_set_ack(p, BUS_ACK_SYNCED) == -1 ||
	    bus_pub_set_producer(p, dlq_producer(ec.cursor,
	    r->partition)) == -1 ||
	    bus_pub_set_seq(p, r->offset + 1) == -1 ||
	    bus_pub_connect(p) == -1 ||
	    bus_pub_add(p, &m, now_ns(), NULL) == -1 ||
	    bus_pub_wait(p, -1) == -1) {
		pos_commit(1);
		errx(e->status, "partition %s offset %llu: cannot publish the "
		    "dead letter to %s: %s; stopping%s%s%s", r->partition,
		    (unsigned long long)r->offset, ec.dlq, e->text,
		    ec.cursor ? ", cursor " : "", ec.cursor ? ec.cursor : "",
		    ec.cursor ? " left before it" : "");
	}
	bus_pub_free(p);
	free(tags);
}

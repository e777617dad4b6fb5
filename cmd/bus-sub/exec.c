/*
 * bus-sub: --exec, a command run for each message.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "sub.h"

static void	setenv_n(const char *, const void *, size_t);
static void	setenv_i(const char *, long long, int);
static __dead void exec_child(const struct bus_msg *, int);
static int	exec_once(const struct bus_msg *);
static void	describe(int, char *, size_t);
static void	nap(long long);

static struct exec_conf ec;		/* as given to exec_init() */

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

/* In the child: the message's environment, stdin from fd, then sh -c. */
static __dead void
exec_child(const struct bus_msg *r, int fd)
{
	extern char **environ;
	struct bus_tag t;
	char *all, *p, name[8 + BUS_TAG_NAME_MAX + 1];
	size_t pos, i, n;
	char **e;

	if (fd != STDIN_FILENO && dup2(fd, STDIN_FILENO) == -1)
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
	size_t inlen, done = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st;

	in = out_render(r, &inlen);
	if (pipe2(p, O_CLOEXEC) == -1) {
		warn("pipe");
		return -1;
	}
	if ((pid = fork()) == -1) {
		warn("fork");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0)
		exec_child(r, p[0]);
	close(p[0]);
	while (done < inlen) {
		if ((n = write(p[1], in + done, inlen - done)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EPIPE)	/* EPIPE: it did not read it */
				warn("--exec: writing the message");
			break;
		}
		done += n;
	}
	close(p[1]);
	out_discard();
	while (waitpid(pid, &st, 0) == -1) {
		if (errno != EINTR) {
			warn("waitpid");
			return -1;
		}
	}
	return st;
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
		if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			return;
		/* r is not done: commit what came before it only. */
		if (quitting())
			quit_now(0);
		describe(st, why, sizeof(why));
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

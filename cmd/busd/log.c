/*
 * Daemon logging, in the manner of OpenBSD's log.c.  fatal() and fatalx()
 * take the exit status (sysexits(3)) as their first argument.  Detached,
 * busd logs to syslog(3), or to DIR/busd.log where no syslog daemon
 * listens (a container, a minimal system): its log is never lost.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "logdest.h"
#include "log.h"

static int	debug;
static int	use_syslog;
static int	logfile = -1;		/* DIR/busd.log, detached without syslog */
static char	logpath[PATH_MAX];	/* its path, to reopen on SIGHUP */

void
log_init(int d, int sl)
{
	debug = d;
	use_syslog = sl;
	if (sl)
		openlog(getprogname(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/*
 * Detached: syslog if its socket accepts, else DIR/busd.log (appended,
 * one write(2) per line).  Said on stderr, which is still the caller's.
 */
void
log_detach(const char *dir)
{
	if (logdest_syslog()) {
		log_init(debug, 1);
		return;
	}
	snprintf(logpath, sizeof(logpath), "%s/%s", dir, BUS_LOGFILE);
	if ((logfile = open(logpath, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0640)) == -1) {
		warn("no syslog, and %s", logpath);
		log_init(debug, 1);
	}
}

/*
 * SIGHUP: open DIR/busd.log again, so that a log rotated by renaming
 * goes on in a new file.  If that fails the old file is kept.
 */
void
log_reopen(void)
{
	int fd;

	if (logfile == -1)
		return;
	if ((fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		log_warn("SIGHUP: keeping the old log: %s", logpath);
		return;
	}
	close(logfile);
	logfile = fd;
}

/* One line of DIR/busd.log: RFC 3339 time, busd[pid]: message. */
static void
log_line(const char *msg, const char *err)
{
	char line[2400], when[40];
	int n;

	format_time(when, sizeof(when), now_ns());
	n = snprintf(line, sizeof(line), "%s %s[%ld]: %s%s%s\n", when,
	    getprogname(), (long)getpid(), msg, err ? ": " : "",
	    err ? err : "");
	if (n >= (int)sizeof(line)) {
		n = sizeof(line);
		line[n - 1] = '\n';
	}
	(void)write(logfile, line, n);
}

static void
vlog(int pri, const char *fmt, va_list ap, const char *err)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (logfile != -1)
		log_line(msg, err);
	else if (use_syslog) {
		if (err)
			syslog(pri, "%s: %s", msg, err);
		else
			syslog(pri, "%s", msg);
	} else if (err)
		fprintf(stderr, "%s: %s: %s\n", getprogname(), msg, err);
	else
		fprintf(stderr, "%s: %s\n", getprogname(), msg);
}

void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, e);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!debug)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(int ex, const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, e);
	va_end(ap);
	exit(ex);
}

void
fatalx(int ex, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(ex);
}

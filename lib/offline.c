/*
 * Reading a store offline, the public API of bus_store(3): a thin face on
 * status.c (the figures of busd --status) and verify.c (busd --verify).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bus.h"
#include "errval.h"
#include "ops.h"
#include "verify.h"
#include "bus/store.h"

struct bus_store {
	char		*dir;		/* the store */
	struct bus_status st;		/* what status_gather found */
};

static int	store_fail(struct bus_error *, enum bus_error_kind, int,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static int	store_exists(const char *, struct bus_error *);

static int
store_fail(struct bus_error *e, enum bus_error_kind kind, int status,
    const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	errval_vset(e, kind, status, 0, fmt, ap);
	va_end(ap);
	return -1;
}

/* Is there a store at dir (its log directory)?  0, or -1 with *e. */
static int
store_exists(const char *dir, struct bus_error *e)
{
	char p[PATH_MAX];
	struct stat sb;

	if (store_path(p, sizeof(p), dir, BUS_LOGDIR) == -1 ||
	    stat(p, &sb) == -1 || !S_ISDIR(sb.st_mode))
		return store_fail(e, BUS_E_NOINPUT, EX_NOINPUT,
		    "no bus store at %s", dir);
	return 0;
}

struct bus_store *
bus_store_open(const char *dir, const char *pattern, struct bus_error *e)
{
	struct bus_store *s;
	struct patset *ps = NULL;
	char msg[512], *pat = (char *)pattern;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->dir = strdup(store_dir(dir))) == NULL) {
		free(s);
		store_fail(e, BUS_E_SYSTEM, EX_OSERR, "%s", strerror(errno));
		return NULL;
	}
	if (store_exists(s->dir, e) == -1)
		goto fail;
	if (pattern != NULL &&
	    (ps = patset_new(&pat, 1, msg, sizeof(msg))) == NULL) {
		store_fail(e, BUS_E_USAGE, EX_USAGE, "%s", msg);
		goto fail;
	}
	if (status_gather(s->dir, ps, &s->st, msg, sizeof(msg)) != OPS_OK) {
		store_fail(e, BUS_E_SYSTEM, EX_IOERR, "%s", msg);
		status_free(&s->st);
		goto fail;
	}
	patset_free(ps);
	return s;
fail:
	patset_free(ps);
	free(s->dir);
	free(s);
	return NULL;
}

const char *
bus_store_dir(const struct bus_store *s)
{
	return s->dir;
}

size_t
bus_store_count(const struct bus_store *s)
{
	return s->st.nparts;
}

int
bus_store_partition(const struct bus_store *s, size_t i,
    struct bus_part_info *pi)
{
	const struct part_status *p;

	if (i >= s->st.nparts)
		return -1;
	p = &s->st.parts[i];
	memset(pi, 0, sizeof(*pi));
	pi->name = p->name;
	pi->topics = (const char *const *)p->topics;
	pi->ntopics = p->ntopics;
	pi->segments = p->segments;
	pi->bytes = p->bytes;
	pi->empty = !p->any;
	pi->first_offset = p->first_off;
	pi->last_offset = p->last_off;
	pi->last_recv_ns = p->last_recv;
	return 0;
}

int
bus_store_busd(const struct bus_store *s, long *pid)
{
	if (pid != NULL)
		*pid = s->st.busd_running ? (long)s->st.busd_pid : 0;
	return s->st.busd_running;
}

int
bus_store_print(const struct bus_store *s, FILE *f, int json)
{
	status_print(f, &s->st, json);
	return ferror(f) ? -1 : 0;
}

void
bus_store_close(struct bus_store *s)
{
	if (s == NULL)
		return;
	status_free(&s->st);
	free(s->dir);
	free(s);
}

int
bus_store_verify(const char *dir, int repair, FILE *report,
    struct bus_verify *v, struct bus_error *e)
{
	struct bus_verify st;
	pid_t pid;
	FILE *out = report;
	int rc;

	dir = store_dir(dir);
	if (store_exists(dir, e) == -1)
		return -1;
	if (repair && store_busd_alive(dir, &pid))
		return store_fail(e, BUS_E_BUSY, EX_TEMPFAIL, "busd (pid %ld) "
		    "is running on %s; stop it before --repair", (long)pid,
		    dir);
	if (out == NULL && (out = fopen("/dev/null", "w")) == NULL)
		return store_fail(e, BUS_E_SYSTEM, EX_OSERR, "%s",
		    strerror(errno));
	rc = store_verify(dir, repair, out, &st);
	if (out != report)
		fclose(out);
	if (v != NULL)
		*v = st;
	if (rc == -1)
		return store_fail(e, BUS_E_SYSTEM, EX_IOERR,
		    "an I/O error stopped the check");
	return 0;
}

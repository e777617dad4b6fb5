/*
 * The status of a store: per partition its topics, segments, bytes,
 * first and last offset and last receive time, read from the files (so
 * it works without busd), and busd's own figures when it runs.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "json.h"
#include "ops.h"

static int	add_topic(const char *, size_t, void *);
static int	part_gather(const char *, const char *, struct part_status *);
static void	print_json(FILE *, const struct bus_status *);
static void	print_text(FILE *, const struct bus_status *);

/* One topic of the partition's topics file, kept in p->topics. */
static int
add_topic(const char *t, size_t len, void *arg)
{
	struct part_status *p = arg;
	char **nv;

	if ((nv = reallocarray(p->topics, p->ntopics + 1,
	    sizeof(*nv))) == NULL)
		return -1;
	p->topics = nv;
	if ((p->topics[p->ntopics] = strdup(t)) == NULL)
		return -1;
	p->ntopics++;
	return 0;
}

static int
part_gather(const char *dir, const char *name, struct part_status *p)
{
	struct seg_summary s;
	struct stat st;
	uint64_t *segs = NULL;
	char path[4096], n[32];
	size_t nsegs = 0, i;
	int dirfd, e;

	memset(p, 0, sizeof(*p));
	strlcpy(p->name, name, sizeof(p->name));
	if (snprintf(path, sizeof(path), "%s/%s/%s", dir, BUS_LOGDIR, name) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((dirfd = store_open_part(dir, name)) == -1)
		return -1;
	if ((store_topics_read(dirfd, add_topic, p) == -1 && errno != ENOENT) ||
	    store_list_segments(dirfd, &segs, &nsegs) == -1)
		goto fail;
	p->segments = nsegs;
	for (i = 0; i < nsegs; i++) {
		store_seg_name(n, sizeof(n), segs[i], "seg");
		if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0)
			p->bytes += st.st_size;
	}
	/* The first record: in the oldest segment that has one. */
	for (i = 0; i < nsegs; i++) {
		if (seg_summary(dirfd, segs[i], 0, &s) == 0 && s.any) {
			p->any = 1;
			p->first_off = s.first_off;
			break;
		}
	}
	/* The last: in the newest segment that has one. */
	for (i = nsegs; p->any && i-- > 0; ) {
		if (seg_summary(dirfd, segs[i], 0, &s) == 0 && s.any) {
			p->last_off = s.last_off;
			p->last_recv = s.last_recv;
			break;
		}
	}
	free(segs);
	close(dirfd);
	return 0;
fail:
	e = errno;
	free(segs);
	close(dirfd);
	errno = e;
	return -1;
}

int
status_gather(const char *dir, const struct patset *ps, struct bus_status *st,
    char *err, size_t errlen)
{
	struct part_status *np;
	char **names;
	size_t n, i;

	memset(st, 0, sizeof(*st));
	st->dir = dir;
	st->busd_running = store_busd_alive(dir, &st->busd_pid);
	if (st->busd_running && busctl_status(dir, &st->d, st->busd_err,
	    sizeof(st->busd_err)) == OPS_OK)
		st->busd_answered = 1;
	if (store_list_partitions(dir, &names, &n) == -1) {
		snprintf(err, errlen, "%s/%s: %s", dir, BUS_LOGDIR,
		    strerror(errno));
		return OPS_IO;
	}
	for (i = 0; i < n; i++) {
		if (ps != NULL && !patset_match(ps, names[i], strlen(names[i])))
			continue;
		if ((np = reallocarray(st->parts, st->nparts + 1,
		    sizeof(*np))) == NULL) {
			snprintf(err, errlen, "%s", strerror(errno));
			store_free_names(names, n);
			return OPS_IO;
		}
		st->parts = np;
		if (part_gather(dir, names[i], &st->parts[st->nparts]) == -1) {
			/* Removed since listed: not an error. */
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "partition %s: %s", names[i],
			    strerror(errno));
			store_free_names(names, n);
			return OPS_IO;
		}
		st->nparts++;
	}
	store_free_names(names, n);
	return OPS_OK;
}

void
status_free(struct bus_status *st)
{
	size_t i;

	for (i = 0; i < st->nparts; i++)
		store_free_names(st->parts[i].topics, st->parts[i].ntopics);
	free(st->parts);
	st->parts = NULL;
	st->nparts = 0;
}

static void
print_json(FILE *f, const struct bus_status *st)
{
	const struct part_status *p;
	char t[48];
	size_t i, k;

	fprintf(f, "{\"store\":");
	json_str(f, st->dir);
	fprintf(f, ",\"busd\":{\"running\":%s", st->busd_running ? "true" :
	    "false");
	if (st->busd_running)
		fprintf(f, ",\"pid\":%ld", (long)st->busd_pid);
	if (st->busd_answered)
		fprintf(f, ",\"uptime_s\":%lld,\"clients\":%lld,"
		    "\"messages\":%llu,\"bytes\":%llu,\"duplicates\":%llu",
		    st->d.uptime_s, st->d.clients, st->d.messages, st->d.bytes,
		    st->d.duplicates);
	else if (st->busd_running) {
		fprintf(f, ",\"error\":");
		json_str(f, st->busd_err);
	}
	fprintf(f, "},\"source\":\"%s\",\"partitions\":[",
	    st->busd_answered ? "files+busd" : "files");
	for (i = 0; i < st->nparts; i++) {
		p = &st->parts[i];
		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, p->name);
		fprintf(f, ",\"topics\":[");
		for (k = 0; k < p->ntopics; k++) {
			if (k)
				fputc(',', f);
			json_str(f, p->topics[k]);
		}
		fprintf(f, "],\"segments\":%zu,\"bytes\":%llu", p->segments,
		    (unsigned long long)p->bytes);
		if (p->any) {
			format_time(t, sizeof(t), p->last_recv);
			fprintf(f, ",\"first_offset\":%llu,"
			    "\"last_offset\":%llu,\"last_receive\":\"%s\","
			    "\"last_receive_ns\":%lld}",
			    (unsigned long long)p->first_off,
			    (unsigned long long)p->last_off, t,
			    (long long)p->last_recv);
		} else
			fprintf(f, ",\"first_offset\":null,"
			    "\"last_offset\":null,\"last_receive\":null,"
			    "\"last_receive_ns\":null}");
	}
	fprintf(f, "]}\n");
}

static void
print_text(FILE *f, const struct bus_status *st)
{
	const struct part_status *p;
	char t[48], a[24], b[24];
	size_t i, k;
	int w = 9;

	fprintf(f, "store %s\n", st->dir);
	if (st->busd_answered)
		fprintf(f, "busd pid %ld, up %llds, %lld client(s); received "
		    "%llu messages, %llu bytes, %llu duplicates\n",
		    st->d.pid, st->d.uptime_s, st->d.clients, st->d.messages,
		    st->d.bytes, st->d.duplicates);
	else if (st->busd_running)
		fprintf(f, "busd pid %ld does not answer (%s); figures from "
		    "the files only\n", (long)st->busd_pid, st->busd_err);
	else
		fprintf(f, "busd not running; figures from the files only\n");
	for (i = 0; i < st->nparts; i++)
		if ((int)strlen(st->parts[i].name) > w)
			w = strlen(st->parts[i].name);
	fprintf(f, "%-*s %8s %12s %12s %12s  %-30s  %s\n", w, "PARTITION",
	    "SEGMENTS", "BYTES", "FIRST", "LAST", "LAST RECEIVE", "TOPICS");
	for (i = 0; i < st->nparts; i++) {
		p = &st->parts[i];
		if (p->any) {
			snprintf(a, sizeof(a), "%llu",
			    (unsigned long long)p->first_off);
			snprintf(b, sizeof(b), "%llu",
			    (unsigned long long)p->last_off);
			format_time(t, sizeof(t), p->last_recv);
		} else {
			strlcpy(a, "-", sizeof(a));
			strlcpy(b, "-", sizeof(b));
			strlcpy(t, "-", sizeof(t));
		}
		fprintf(f, "%-*s %8zu %12llu %12s %12s  %-30s  ", w, p->name,
		    p->segments, (unsigned long long)p->bytes, a, b, t);
		for (k = 0; k < p->ntopics; k++)
			fprintf(f, "%s%s", k ? "," : "", p->topics[k]);
		fputc('\n', f);
	}
}

void
status_print(FILE *f, const struct bus_status *st, int json)
{
	if (json)
		print_json(f, st);
	else
		print_text(f, st);
}

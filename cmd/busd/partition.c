/*
 * busd's partitions: the active segment and its index, written a turn at
 * a time, sealed, and cut back when a turn fails.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "busd.h"

static int	topic_cmp(struct topic *, struct topic *);
static int	part_cmp(struct part *, struct part *);

struct part_tree parts = RB_INITIALIZER(&parts);

/* Start segment base in p: written header, empty index, dir synced. */
int
part_new_segment(struct part *p, uint64_t base)
{
	uint8_t h[BUS_SEG_HDR], ih[BUS_IDX_HDR];
	char n[32], in[32];
	struct stat st;
	mode_t mode;
	int fd, ifd;

	/* Files take the mode of their directory, less x: 0640 in 0750. */
	mode = fstat(p->dirfd, &st) == 0 ? st.st_mode & 0666 : 0640;
	store_seg_name(n, sizeof(n), base, "seg");
	store_seg_name(in, sizeof(in), base, "idx");
	if ((fd = store_openat(p->dirfd, n, O_RDWR | O_CREAT | O_EXCL |
	    O_APPEND, mode)) == -1) {
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
	if ((ifd = store_openat(p->dirfd, in, O_WRONLY | O_CREAT | O_TRUNC |
	    O_APPEND, mode)) == -1) {
		log_warn("partition %s: create %s", p->name, in);
		close(fd);
		unlinkat(p->dirfd, n, 0);
		return -1;
	}
	idx_hdr_encode(ih, base);
	if (write(ifd, ih, sizeof(ih)) != sizeof(ih))
		log_warn("partition %s: write %s", p->name, in);
	fsync(p->dirfd);
	if (p->app.sfd != -1)
		close(p->app.sfd);
	if (p->app.ifd != -1)
		close(p->app.ifd);
	app_reset(&p->app, fd, ifd, BUS_SEG_HDR, BUS_IDX_HDR, 0, 0);
	p->base = base;
	p->nrecs = 0;
	return 0;
}

/*
 * Seal the active segment (flush, sync) and open the next one.  In the
 * middle of a turn this commits p's part of the turn: what is sealed
 * stays, and a failure later in the turn undoes only what follows.
 */
void
part_seal(struct part *p)
{
	struct pprod *pp;

	if (part_flush(p) == -1)
		return;
	if (fdatasync(p->app.sfd) == -1 || fdatasync(p->app.ifd) == -1)
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
int
part_flush(struct part *p)
{
	int had = p->app.wlen > 0;

	switch (app_flush(&p->app)) {
	case 0:
		if (had)
			p->unsynced = 1;
		return 0;
	case -2:
		/* The index is a cache: a failure here costs a rebuild. */
		log_warn("partition %s: index write", p->name);
		p->unsynced = 1;
		return 0;
	}
	if (had)
		part_flush_failed(p);
	return -1;
}

/*
 * The write of p's pending records just failed: the segment is cut back
 * to where it was.  The offsets handed out are never handed out again.
 */
void
part_flush_failed(struct part *p)
{
	log_warnx("partition %s: %020llu.seg: write at byte offset %llu: %s",
	    p->name, (unsigned long long)p->base,
	    (unsigned long long)p->app.size, strerror(p->app.failed));
	turn_error = p->app.failed;
}

void
part_topic(struct part *p, const char *t, size_t len)
{
	struct topic key, *tp;
	char name[BUS_TOPIC_MAX + 1];

	memcpy(name, t, len);
	name[len] = '\0';
	key.name = name;
	if (RB_FIND(topic_tree, &p->topics, &key) != NULL)
		return;
	if ((tp = calloc(1, sizeof(*tp))) == NULL ||
	    (tp->name = strdup(name)) == NULL)
		fatal(EX_OSERR, NULL);
	RB_INSERT(topic_tree, &p->topics, tp);
	if (store_topics_append(p->topicsfd, t, len) == -1)
		log_warn("partition %s: %s", p->name, BUS_TOPICS);
}

/* Remember where p is, to undo what the turn writes after this. */
void
part_turn_mark(struct part *p)
{
	app_mark(&p->app);
	p->turn_nrecs = p->nrecs;
}

/*
 * Undo a failed turn in p: cut the segment and its index back to where
 * the turn found them (or to its seal, if it sealed p), and set the
 * producers' sequence numbers there back with them.  Readers may have
 * seen those records for a moment; their offsets are not handed out
 * again.
 */
void
part_undo(struct part *p)
{
	struct pprod *pp;

	if (app_undo(&p->app) == -1)
		log_warn("partition %s: undo of a failed turn", p->name);
	p->nrecs = p->turn_nrecs;
	for (pp = p->touched; pp != NULL; pp = pp->tnext)
		pp->last_seq = pp->turn_seq;
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

RB_GENERATE(topic_tree, topic, entry, topic_cmp);
RB_GENERATE(part_tree, part, entry, part_cmp);

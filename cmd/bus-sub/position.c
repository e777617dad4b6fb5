/*
 * bus-sub: durable cursors (--name) and groups (--group).
 *
 * Positions.  Every partition read keeps next, the offset of the first
 * record not yet dealt with (printed, run by --exec, filtered out, or
 * before the start position).  When write(2) has taken the whole output
 * buffer, next is copied to wnext, and only wnext is ever committed to a
 * durable cursor (--name, --group): a message is committed once its last
 * byte was written, so a crash re-delivers at most what was not
 * committed and never skips anything.  Commits are batched: at most one
 * every COMMIT_MS, and one at exit.
 *
 * Groups (--group) share the partitions of a subscription among the
 * processes of the group, without a coordinator: see group.h.  Every
 * GROUP_MS a member counts the live members, works out its share, gives
 * up partitions beyond it (after writing and committing their output) and
 * takes free ones up to it, resuming each from the group's cursor.
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "bus.h"
#include "cursor.h"
#include "group.h"
#include "sub.h"

static int64_t	initial_recv(void);
static void	cursor_open(void);
static int	save_positions(void);
static void	log_owned(int, int);
static void	rebalance(void);

static struct pos_conf cf;		/* as given to pos_open() */
static struct group *grp;		/* --group: the group joined */
static struct cursor cur;		/* lone consumer: the cursor */
static int	 resumed;		/* cur was loaded from the file */
static int64_t	 base_time;		/* no position: read after this */
static int64_t	 erecv;			/* where the stream starts */
static int	 dirty;			/* wnext differs from the file */
static int	 commit_failing;	/* the last commit failed */
static int64_t	 last_commit;		/* when it was tried */
static int64_t	 next_eval;		/* group: next re-balance */

/*
 * Open the cursor or join the group (nothing without cf.cursor), and
 * tell the source where partitions start.  After src_open(), before
 * src_scan().
 */
void
pos_open(const struct pos_conf *c)
{
	cf = *c;
	if (cf.cursor != NULL)
		cursor_open();
	src_position(cf.cursor != NULL && grp == NULL ? &cur : NULL, resumed,
	    grp != NULL, base_time, erecv);
}

/*
 * The first scan is done.  A group member takes its share; a lone
 * cursor records where it starts, before any output.
 */
void
pos_start(void)
{
	if (grp != NULL)
		rebalance();
	else {
		cf.flush();
		pos_commit(1);
	}
}

/* Due now: a batched commit, a group's re-balance. */
void
pos_tick(void)
{
	pos_commit(0);
	if (grp != NULL && now_ns() >= next_eval)
		rebalance();
}

/* When pos_tick() has something to do; INT64_MAX: only on output. */
int64_t
pos_due(void)
{
	int64_t t = INT64_MAX;

	if (cf.cursor != NULL && dirty)
		t = last_commit + COMMIT_MS * MS;
	if (grp != NULL && next_eval < t)
		t = next_eval;
	return t;
}

/* The receive time a new cursor stands at: nothing delivered yet. */
static int64_t
initial_recv(void)
{
	switch (cf.from) {
	case FROM_BEGIN:
		return 0;
	case FROM_TIME:
		return cf.from_time > 0 ? cf.from_time - 1 : 0;
	default:
		return src_start_clock();
	}
}

/*
 * --name: lock the cursor against a second user and load it.  --group:
 * join the group and settle its start time.  A damaged cursor file is
 * reported and started again, never fatal.
 */
static void
cursor_open(void)
{
	struct cursor c;
	char e[512];
	int rc;

	if (store_mkdirs(cf.dir) == -1)
		err(EX_CANTCREAT, "%s", cf.dir);
	if (consumer_lock(cf.dir, cf.cursor, cf.group != NULL) == -1) {
		if (errno != EWOULDBLOCK)
			err(EX_CANTCREAT, "%s/%s: lock of cursor %s", cf.dir,
			    BUS_CURSORDIR, cf.cursor);
		if (cf.group != NULL)
			errx(EX_TEMPFAIL, "cursor %s is in use by a bus-sub "
			    "--name %s outside the group", cf.cursor, cf.cursor);
		errx(EX_TEMPFAIL, "cursor %s is in use by another bus-sub "
		    "(use --group to share partitions)", cf.cursor);
	}
	if (cf.group == NULL) {
		rc = cursor_load(cf.dir, cf.cursor, &cur, e, sizeof(e));
		if (rc == -1)
			warnx("cursor %s is damaged (%s); starting it again",
			    cf.cursor, e);
		if (rc == 1) {
			resumed = 1;
			base_time = erecv = cur.recv_ns;
			if (cf.verbose)
				fprintf(stderr, "bus-sub: resuming cursor %s "
				    "(--from applies to new cursors only)\n",
				    cf.cursor);
		} else {
			erecv = initial_recv();
			dirty = 1;
		}
		return;
	}
	if ((grp = group_join(cf.dir, cf.group, cf.member)) == NULL)
		err(EX_CANTCREAT, "group %s", cf.group);
	if (group_cursor_lock(grp) == -1)
		err(EX_IOERR, "group %s: cursor lock", cf.group);
	rc = cursor_load(cf.dir, cf.cursor, &c, e, sizeof(e));
	if (rc == -1)
		warnx("cursor %s is damaged (%s); starting it again", cf.cursor,
		    e);
	if (group_start(grp, rc == 1 ? c.recv_ns : initial_recv(),
	    &base_time) == -1)
		err(EX_IOERR, "group %s: start time", cf.group);
	group_cursor_unlock(grp);
	cursor_free(&c);
}

/* Write the positions output has reached; -1 with errno. */
static int
save_positions(void)
{
	struct cursor c;
	char e[512];
	int rc, saved;

	if (grp == NULL) {
		if (src_save(&cur, 0) == -1)
			return -1;
		cur.recv_ns = src_written_recv();
		return cursor_save(cf.dir, cf.cursor, &cur);
	}
	/* The group's file: change our partitions only, under its lock. */
	if (group_cursor_lock(grp) == -1)
		return -1;
	if (cursor_load(cf.dir, cf.cursor, &c, e, sizeof(e)) == -1)
		warnx("cursor %s is damaged (%s); writing it again", cf.cursor,
		    e);
	rc = src_save(&c, 1);
	if (rc == 0) {
		if (src_written_recv() > c.recv_ns)
			c.recv_ns = src_written_recv();
		rc = cursor_save(cf.dir, cf.cursor, &c);
	}
	saved = errno;
	cursor_free(&c);
	group_cursor_unlock(grp);
	errno = saved;
	return rc;
}

/*
 * Commit what output has reached, if it moved: now when forced, else at
 * most every COMMIT_MS (the poll timeout brings us back for the rest).
 * A failed commit only means more to re-deliver: warn, go on.
 */
void
pos_commit(int force)
{
	int64_t now;

	if (cf.cursor == NULL || !dirty)
		return;
	now = now_ns();
	if (!force && now - last_commit < COMMIT_MS * MS)
		return;
	last_commit = now;
	if (save_positions() == -1) {
		if (!commit_failing)
			warn("cursor %s: cannot save the position",
			    cf.cursor);
		commit_failing = 1;
		return;
	}
	if (commit_failing)
		warnx("cursor %s: saved again", cf.cursor);
	commit_failing = 0;
	dirty = 0;
}

static void
log_owned(int live, int nmatch)
{
	struct sub *s;
	size_t k;
	int n = 0;

	fprintf(stderr, "bus-sub: group %s: member %s of %d owns", cf.group,
	    cf.member, live);
	for (k = 0; k < src_count(); k++)
		if ((s = src_part(k))->own != -1) {
			fprintf(stderr, " %s", s->name);
			n++;
		}
	fprintf(stderr, "%s (%d of %d partitions)\n", n ? "" : " nothing", n,
	    nmatch);
}

/*
 * Group: our share is an even part of the partitions matching, by rank
 * among the live members (the first nmatch % live members take one
 * more).  Beyond it, give partitions up once their output is written
 * and committed; below it, take free ones, from the group's cursor.
 */
static void
rebalance(void)
{
	struct cursor c;
	struct sub *s, **took;
	char e[512];
	size_t k, j, at, nsubs = src_count(), ntook = 0;
	int live, rank, target, owned = 0, nmatch = 0, fd;

	next_eval = now_ns() + GROUP_MS * MS;
	if ((live = group_live(grp, &rank)) == -1) {
		warn("group %s", cf.group);
		return;
	}
	for (k = 0; k < nsubs; k++) {
		s = src_part(k);
		nmatch += s->match;
		owned += s->own != -1;
	}
	target = nmatch / live + (rank < nmatch % live);
	if (owned > target) {
		cf.flush();
		pos_commit(1);
		for (k = nsubs; k-- > 0 && owned > target; ) {
			s = src_part(k);
			if (s->own == -1)
				continue;
			if (s->pr != NULL)
				src_stop(s);
			group_disown(s->own);
			s->own = -1;
			owned--;
		}
		if (cf.verbose)
			log_owned(live, nmatch);
		return;
	}
	if (owned == target || nsubs == 0)
		return;
	if ((took = calloc(nsubs, sizeof(*took))) == NULL)
		err(EX_OSERR, NULL);
	/* Members start looking at different places: fewer collisions. */
	at = (size_t)rank * nsubs / live;
	for (j = 0; j < nsubs && owned < target; j++) {
		s = src_part((at + j) % nsubs);
		if (!s->match || s->own != -1)
			continue;
		if ((fd = group_own(grp, s->name)) == -1) {
			if (errno != EWOULDBLOCK)
				warn("group %s: partition %s", cf.group,
				    s->name);
			continue;
		}
		s->own = fd;
		took[ntook++] = s;
		owned++;
	}
	if (ntook > 0) {
		/* Read after taking them: their last owner committed. */
		if (group_cursor_lock(grp) == -1)
			err(EX_IOERR, "group %s: cursor lock", cf.group);
		if (cursor_load(cf.dir, cf.cursor, &c, e, sizeof(e)) == -1)
			warnx("cursor %s is damaged (%s)", cf.cursor, e);
		group_cursor_unlock(grp);
		for (j = 0; j < ntook; j++) {
			s = took[j];
			src_start(s, &c);
			if (s->pr == NULL) {
				group_disown(s->own);
				s->own = -1;
			}
		}
		cursor_free(&c);
		/* Record where they start, for whoever comes next. */
		cf.flush();
		pos_commit(1);
		if (cf.verbose)
			log_owned(live, nmatch);
	}
	free(took);
}

/* Everything dealt with so far is now written: it may be committed. */
void
pos_written(void)
{
	if (src_written())
		dirty = 1;
}

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
#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <pcre2.h>

#include "bus.h"
#include "cursor.h"
#include "group.h"
#include "sub.h"

static int	save_positions(void);

struct group *grp;
struct cursor cur;		/* lone consumer: the cursor */
int	 resumed;		/* cur was loaded from the file */
int64_t	 base_time;		/* no position: read after this */
int64_t	 erecv, wrecv;		/* recv of the last delivered */
int	 moved;			/* some next changed */
int	 dirty;			/* wnext differs from the file */
static int	 commit_failing;
int64_t	 last_commit;
int64_t	 next_eval;		/* group: next re-balance */

/* The receive time a new cursor stands at: nothing delivered yet. */
static int64_t
initial_recv(void)
{
	switch (from) {
	case FROM_BEGIN:
		return 0;
	case FROM_TIME:
		return from_time > 0 ? from_time - 1 : 0;
	default:
		return start_clock;
	}
}

/*
 * --name: lock the cursor against a second user and load it.  --group:
 * join the group and settle its start time.  A damaged cursor file is
 * reported and started again, never fatal.
 */
void
cursor_open(void)
{
	struct cursor c;
	char e[512];
	int rc;

	if (store_mkdirs(dir) == -1)
		err(EX_CANTCREAT, "%s", dir);
	if (consumer_lock(dir, cname, gname != NULL) == -1) {
		if (errno != EWOULDBLOCK)
			err(EX_CANTCREAT, "%s/%s: lock of cursor %s", dir,
			    BUS_CURSORDIR, cname);
		if (gname != NULL)
			errx(EX_TEMPFAIL, "cursor %s is in use by a bus-sub "
			    "--name %s outside the group", cname, cname);
		errx(EX_TEMPFAIL, "cursor %s is in use by another bus-sub "
		    "(use --group to share partitions)", cname);
	}
	if (gname == NULL) {
		rc = cursor_load(dir, cname, &cur, e, sizeof(e));
		if (rc == -1)
			warnx("cursor %s is damaged (%s); starting it again",
			    cname, e);
		if (rc == 1) {
			resumed = 1;
			base_time = erecv = wrecv = cur.recv_ns;
			if (verbose)
				fprintf(stderr, "bus-sub: resuming cursor %s "
				    "(--from applies to new cursors only)\n",
				    cname);
		} else {
			erecv = wrecv = initial_recv();
			dirty = 1;
		}
		return;
	}
	if ((grp = group_join(dir, gname, member)) == NULL)
		err(EX_CANTCREAT, "group %s", gname);
	if (group_cursor_lock(grp) == -1)
		err(EX_IOERR, "group %s: cursor lock", gname);
	rc = cursor_load(dir, cname, &c, e, sizeof(e));
	if (rc == -1)
		warnx("cursor %s is damaged (%s); starting it again", cname, e);
	if (group_start(grp, rc == 1 ? c.recv_ns : initial_recv(),
	    &base_time) == -1)
		err(EX_IOERR, "group %s: start time", gname);
	group_cursor_unlock(grp);
	cursor_free(&c);
}

/* Write the positions output has reached; -1 with errno. */
static int
save_positions(void)
{
	struct cursor c;
	struct sub *s;
	char e[512];
	size_t k;
	int rc = 0;

	if (grp == NULL) {
		for (k = 0; k < nsubs; k++) {
			s = subs[k];
			if (s->pr != NULL && s->wknown &&
			    cursor_set(&cur, s->name, s->wnext) == -1)
				return -1;
		}
		cur.recv_ns = wrecv;
		return cursor_save(dir, cname, &cur);
	}
	/* The group's file: change our partitions only, under its lock. */
	if (group_cursor_lock(grp) == -1)
		return -1;
	if (cursor_load(dir, cname, &c, e, sizeof(e)) == -1)
		warnx("cursor %s is damaged (%s); writing it again", cname, e);
	for (k = 0; k < nsubs && rc == 0; k++) {
		s = subs[k];
		if (s->own != -1 && s->pr != NULL && s->wknown)
			rc = cursor_set(&c, s->name, s->wnext);
	}
	if (rc == 0) {
		if (wrecv > c.recv_ns)
			c.recv_ns = wrecv;
		rc = cursor_save(dir, cname, &c);
	}
	k = errno;
	cursor_free(&c);
	group_cursor_unlock(grp);
	errno = k;
	return rc;
}

/*
 * Commit what output has reached, if it moved: now when forced, else at
 * most every COMMIT_MS (the poll timeout brings us back for the rest).
 * A failed commit only means more to re-deliver: warn, go on.
 */
void
commit(int force)
{
	int64_t now;

	if (cname == NULL || !dirty)
		return;
	now = now_ns();
	if (!force && now - last_commit < COMMIT_MS * MS)
		return;
	last_commit = now;
	if (save_positions() == -1) {
		if (!commit_failing)
			warn("cursor %s: cannot save the position", cname);
		commit_failing = 1;
		return;
	}
	if (commit_failing)
		warnx("cursor %s: saved again", cname);
	commit_failing = 0;
	dirty = 0;
}

static void
log_owned(int live, int nmatch)
{
	size_t k;
	int n = 0;

	fprintf(stderr, "bus-sub: group %s: member %s of %d owns", gname,
	    member, live);
	for (k = 0; k < nsubs; k++)
		if (subs[k]->own != -1) {
			fprintf(stderr, " %s", subs[k]->name);
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
void
rebalance(void)
{
	struct cursor c;
	struct sub *s, **took;
	char e[512];
	size_t k, j, at, ntook = 0;
	int live, rank, target, owned = 0, nmatch = 0, fd;

	next_eval = now_ns() + GROUP_MS * MS;
	if ((live = group_live(grp, &rank)) == -1) {
		warn("group %s", gname);
		return;
	}
	for (k = 0; k < nsubs; k++) {
		nmatch += subs[k]->match;
		owned += subs[k]->own != -1;
	}
	target = nmatch / live + (rank < nmatch % live);
	if (owned > target) {
		out_flush();
		commit(1);
		for (k = nsubs; k-- > 0 && owned > target; ) {
			s = subs[k];
			if (s->own == -1)
				continue;
			if (s->pr != NULL)
				stop_sub(s);
			group_disown(s->own);
			s->own = -1;
			owned--;
		}
		if (verbose)
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
		s = subs[(at + j) % nsubs];
		if (!s->match || s->own != -1)
			continue;
		if ((fd = group_own(grp, s->name)) == -1) {
			if (errno != EWOULDBLOCK)
				warn("group %s: partition %s", gname, s->name);
			continue;
		}
		s->own = fd;
		took[ntook++] = s;
		owned++;
	}
	if (ntook > 0) {
		/* Read after taking them: their last owner committed. */
		if (group_cursor_lock(grp) == -1)
			err(EX_IOERR, "group %s: cursor lock", gname);
		if (cursor_load(dir, cname, &c, e, sizeof(e)) == -1)
			warnx("cursor %s is damaged (%s)", cname, e);
		group_cursor_unlock(grp);
		for (j = 0; j < ntook; j++) {
			s = took[j];
			start_sub(s, &c);
			if (s->pr == NULL) {
				group_disown(s->own);
				s->own = -1;
			}
		}
		cursor_free(&c);
		/* Record where they start, for whoever comes next. */
		out_flush();
		commit(1);
		if (verbose)
			log_owned(live, nmatch);
	}
	free(took);
}

/* Everything dealt with so far is now written: it may be committed. */
void
written(void)
{
	struct sub *s;
	size_t k;

	if (wrecv != erecv) {
		wrecv = erecv;
		dirty = 1;
	}
	if (!moved)
		return;
	moved = 0;
	for (k = 0; k < nsubs; k++) {
		s = subs[k];
		if (s->pr != NULL && s->known &&
		    (!s->wknown || s->wnext != s->next)) {
			s->wnext = s->next;
			s->wknown = 1;
			dirty = 1;
		}
	}
}

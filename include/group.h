/*
 * Consumer groups with no coordinator process: the members of group G
 * meet in the directory DIR/cursors/G.group/ and share the partitions of
 * their subscription through flock(2) locks, which the kernel drops when
 * a member dies, however it dies.
 *
 *   member.<k>        a member slot; a live member holds LOCK_EX on one
 *                     (its content: the member's name)
 *   <partition>.own   the member holding LOCK_EX on it owns the partition
 *                     (its content: the owner's name)
 *   cursor.lock       LOCK_EX around every read-modify-write of the
 *                     group's cursor file DIR/cursors/G
 *   start             the receive time (ns, decimal) after which the group
 *                     reads a partition it has no position for
 *
 * Beside it, DIR/cursors/.NAME.lock is held LOCK_EX by a lone
 * "bus-sub --name NAME" and LOCK_SH by every member of group NAME, so
 * that no cursor is ever written by two subscriptions unaware of each
 * other.
 */
#ifndef BUS_GROUP_H
#define BUS_GROUP_H

#include <stddef.h>
#include <stdint.h>

#define GROUP_SUFFIX	".group"

struct group;

/*
 * Lock DIR/cursors/.NAME.lock, shared (group member) or exclusive (lone
 * consumer); the descriptor stays open while the lock is needed.  -1
 * with errno EWOULDBLOCK when the other kind holds it.
 */
int	consumer_lock(const char *, const char *, int);

/* Join group name (creating its directory) as member; NULL with errno. */
struct group *group_join(const char *, const char *, const char *);
void	group_leave(struct group *);
/* Live members (>= 1, counting us) and our rank among them by slot. */
int	group_live(struct group *, int *);
/*
 * Take partition part: a descriptor holding its lock (close it with
 * group_disown), or -1 with errno EWOULDBLOCK when another member has it.
 */
int	group_own(struct group *, const char *);
void	group_disown(int);
/* Serialize read-modify-writes of the group's cursor file. */
int	group_cursor_lock(struct group *);
void	group_cursor_unlock(struct group *);
/* The group's start time; set to dflt if it has none (hold the lock). */
int	group_start(struct group *, int64_t, int64_t *);

/* Does name end in GROUP_SUFFIX, as a group's directory does? */
int	group_dir_name(const char *);

/* Inspection, for listings: no membership needed. */
int	group_exists(const char *, const char *);
/* 1 and the owner's name in buf if someone owns part, 0 if nobody. */
int	group_owner(const char *, const char *, const char *, char *, size_t);
/* Names of the live members (free with store_free_names). */
int	group_members(const char *, const char *, char ***, size_t *);

#endif

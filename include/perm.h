/*
 * Is a path safe to trust?  The rule of sshd's StrictModes: owned by
 * root or by the user we run as, not writable by others, and writable
 * by its group only when no one but its owner is in that group.  busd
 * refuses what fails it; bus-sub and the cron tools warn.
 */
#ifndef BUS_PERM_H
#define BUS_PERM_H

#include <stddef.h>

#define PERM_NOFOLLOW	0x1	/* a symlink fails, else its target is judged */
#define PERM_OWNER	0x2	/* judge the owner too, not only the mode */

/*
 * Check path.  0 if it is safe or absent; -1 and a one-line message in
 * err naming the path, what is wrong and the command that fixes it.
 */
int	perm_check(const char *, int, char *, size_t);
/*
 * Check a store: DIR (which may be a symlink: the user chose it),
 * DIR/log, DIR/cursors and DIR/busd.conf (neither a symlink), and conf
 * (-c, which may be one) unless NULL.  flags: PERM_OWNER or 0 (a reader
 * of a store that a service user owns judges only the modes).
 */
int	perm_check_store(const char *, const char *, int, char *, size_t);

#endif /* BUS_PERM_H */

/*
 * The per-partition lock, DIR/log/<partition>/.lock, shared by bus-rotate
 * and bus-compact, and the steps of the cron tools around it.
 */
#ifndef BUS_PARTLOCK_H
#define BUS_PARTLOCK_H

#include <stddef.h>

/*
 * Take the lock of a partition (its directory fd), exclusive, waiting
 * unless nowait.  Returns the lock's fd, or -1: errno EWOULDBLOCK when
 * busy.  With create == 0 a missing lock file is not made (dry runs):
 * then -2 means "no lock file, nobody holds it".
 */
int	plock_take(int, int, int);
void	plock_release(int);
/*
 * For the cron tools, each returning a sysexits code (0: done) with a
 * one-line reason in err.  ops_part_open: open DIR/log/NAME (-1: it is
 * gone, nothing to do).  ops_part_lock: plock_take, naming the lock file.
 * ops_part_recover: finish or undo an interrupted compaction, handing
 * what it did and what failed, one line each, to say().
 */
int	ops_part_open(const char *, const char *, int *, char *, size_t);
int	ops_part_lock(const char *, const char *, int, int, int, int *,
	    char *, size_t);
int	ops_part_recover(const char *, int, void (*)(const char *));
/* The store of -d (or the default) in *dir; EX_NOINPUT if there is none. */
int	ops_store(const char *, const char **, char *, size_t);
/* fn(name) for each partition matching pats (NULL: all), in name order. */
struct patset;
int	ops_each_partition(const char *, const struct patset *,
	    void (*)(const char *));
/*
 * A pattern that matches no partition is most likely a typo: "no
 * partition matches PATTERN" to say() for each of pats[0..n).  Returns
 * EX_NOINPUT when none matches anything (nothing to do), EX_IOERR with
 * err when the store cannot be listed, else 0.
 */
int	ops_patterns(const char *, char *const *, int, void (*)(const char *),
	    char *, size_t);
/*
 * The first steps of the cron tools: the patterns pats[0..n) compiled
 * into *ps (NULL without one: every partition), the store of -d (flag)
 * in *dir (ops_store), a warning to say() of what busd would refuse to
 * serve (perm_check_store), and a pattern that matches nothing said
 * (ops_patterns).  Returns 0, or the sysexits status to exit with and
 * the reason in err, empty when say() had it already.
 */
int	ops_start(const char *, const char **, char *const *, int,
	    struct patset **, void (*)(const char *), char *, size_t);

#endif /* BUS_PARTLOCK_H */

/*
 * The store directory: its layout, and the one reader and writer of each
 * small file in it (topics, clock, producer state).  Byte by byte in
 * bus-segment(5).  Included by bus.h.
 */
#ifndef BUS_STORE_H
#define BUS_STORE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * DIR/busd.sock, busd.pid, busd.conf, log/<partition>/<base>.seg|.idx,
 * log/<partition>/topics (the topics seen in the partition, one per line),
 * log/.clock (8 bytes: the receive time up to which every record is in
 * the files), cursors/<name>.
 */
#define BUS_SOCK		"busd.sock"
#define BUS_PIDFILE		"busd.pid"
#define BUS_CONF		"busd.conf"
#define BUS_LOGDIR		"log"
#define BUS_CLOCK		".clock"
#define BUS_PRODUCERS		"producers"
#define BUS_TOPICS		"topics"
#define BUS_CURSORDIR		"cursors"
#define BUS_QUARANTINE		"quarantine"

/*
 * No symlink is ever followed inside a store (the store's own path, -d
 * DIR, may be one: the user chose it).  store_openat() opens rel, a path
 * relative to the directory dirfd, with openat2(2) RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS where the kernel has it, else one component at a
 * time with O_NOFOLLOW; O_CLOEXEC is added.  A symlink met on the way
 * fails with ELOOP.  store_open_in() does the same relative to the path
 * dir.  store_mkdirat() makes rel in dirfd (EEXIST when it is there, a
 * symlink included).  store_strerror() is strerror() that says what
 * ELOOP means here.
 */
int	store_openat(int, const char *, int, mode_t);
int	store_open_in(const char *, const char *, int, mode_t);
int	store_mkdirat(int, const char *, mode_t);
const char *store_strerror(int);

/* DIR/log/name, a directory, opened as store_open_in() does. */
int	store_open_part(const char *, const char *);
/*
 * DIR/quarantine/part, made 0750 as needed (as DIR/quarantine), opened
 * as a directory; no symlink followed.  -1 with errno.
 */
int	store_quarantine_dir(const char *, const char *);

/* -d DIR, else $BUS_DIR, else the per-user default.  Never NULL. */
const char *store_dir(const char *);
/*
 * Create DIR (0750), DIR/log and DIR/cursors (02750, group of DIR, so
 * that what is made beneath takes DIR's group) as needed; -1 with errno.
 */
int	store_mkdirs(const char *);
/* snprintf into buf; -1 if it would not fit. */
int	store_path(char *, size_t, const char *, const char *);
/* Is busd running on this store (pidfile locked)?  pid in *pid if so. */
int	store_busd_alive(const char *, pid_t *);

/* Sorted list of segment base offsets in a partition directory fd. */
int	store_list_segments(int, uint64_t **, size_t *);
/* Sorted list of partition names under DIR/log (caller frees all). */
int	store_list_partitions(const char *, char ***, size_t *);
void	store_free_names(char **, size_t);
/* Sorted names in a directory fd that keep(dirfd, name, arg) accepts. */
int	store_list_names(int, int (*)(int, const char *, void *), void *,
	    char ***, size_t *);
/* The same for DIR/sub (none when it does not exist). */
int	store_list_in(const char *, const char *,
	    int (*)(int, const char *, void *), char ***, size_t *);
/*
 * Replacing a file whole, so that a crash leaves the old or the new one:
 * store_tmp_open() opens dirfd/tmp for writing; store_tmp_commit()
 * flushes, syncs and closes it, renames it to name and, with
 * STORE_DIRSYNC, syncs the directory.  STORE_NOSYNC skips every sync:
 * for a cache that is rebuilt after a crash anyway (an active index).
 * On failure it removes tmp and returns -1 with errno.
 */
#define STORE_DIRSYNC	1	/* store_tmp_commit(): sync the directory */
#define STORE_NOSYNC	2	/* store_tmp_commit(): no sync at all */
FILE	*store_tmp_open(int, const char *);
int	store_tmp_commit(FILE *, int, const char *, const char *, int);
/* Is name "<20 digits><suffix>"?  1 and its base in *base if so. */
int	store_name_base(const char *, const char *, uint64_t *);
/* "%020llu.seg" of base into buf (at least 32 bytes). */
void	store_seg_name(char *, size_t, uint64_t, const char *);

/*
 * log/<partition>/topics: one topic a line, each ended by a newline, in
 * the order busd first stored them; busd only appends.
 * store_topics_open() opens it for appending (creating it) in the
 * partition directory dirfd.  store_topics_append() adds one line with
 * one write(2); -1 with errno (EINVAL for a topic topic_check() refuses,
 * EIO for a short write).  store_topics_read() calls each(topic, len,
 * arg) for every line of the file in dirfd that topic_check() accepts
 * (the newline removed, topic NUL-terminated), skipping the others.  It
 * returns 0, or -1 with errno: ENOENT when there is no file (a reader
 * may then judge a partition by its name), another on an I/O error or
 * the one each() left when it returned nonzero (which stops it).
 */
int	store_topics_open(int);
int	store_topics_append(int, const char *, size_t);
int	store_topics_read(int, int (*)(const char *, size_t, void *), void *);

/*
 * log/.clock: 8 bytes at position 0, the receive time (i64 LE) up to
 * which every record is in the files.  store_clock_read() gives 0 when
 * the file is missing or short; store_clock_write() returns -1 with
 * errno (EIO for a short write).
 */
int64_t	store_clock_read(int);
int	store_clock_write(int, int64_t);

/*
 * log/<partition>/producers: busd's dedup state at the last seal, text:
 * "bus-producers 2", "next OFFSET", then one "ID LAST_SEQ LAST_USE_NS"
 * line per producer (ID in 16 lowercase hex digits), in increasing id.
 */
struct store_producer {
	uint64_t	id;		/* producer id, never 0 */
	uint64_t	last_seq;	/* highest sequence number stored */
	int64_t		last_use;	/* ns of its last message here */
};
/*
 * Replace the file in partition directory dirfd (through producers.tmp,
 * synced, renamed; the directory is not synced): next, then the entries
 * that each(arg, &ent) gives while it returns 1, in increasing id.
 * -1 with errno on failure, the old file left in place.
 */
int	store_producers_write(int, uint64_t,
	    int (*)(void *, struct store_producer *), void *);
/*
 * Read the file in dirfd: *next, and each(id, last_seq, last_use, arg)
 * for every line that parses with an id other than 0 (the others are
 * skipped).  -1 with errno ENOENT when there is no file, EBADMSG when it
 * does not start with the two lines above (damaged: to be ignored),
 * another errno on I/O error or the one each() left when it returned
 * nonzero.
 */
int	store_producers_read(int, uint64_t *,
	    int (*)(uint64_t, uint64_t, int64_t, void *), void *);

#endif /* BUS_STORE_H */

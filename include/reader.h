/*
 * The reader of one partition (lib/reader.c).
 */
#ifndef BUS_READER_H
#define BUS_READER_H

#include <stdint.h>

#include "segment.h"

/*
 * A reader of one partition: walks its segments in order, survives
 * rotation, retention and compaction (segments are opened by name and
 * kept by file descriptor), and returns whole, checked records only.
 */
struct preader;

enum {
	PR_REC = 1,		/* a record was returned */
	PR_WAIT = 0,		/* nothing more for now */
	PR_CORRUPT = -1,	/* damaged record; see preader_error() */
	PR_ERR = -2		/* I/O error; errno set */
};

struct preader *preader_open(const char *, const char *);
void	preader_close(struct preader *);
const char *preader_name(const struct preader *);
int	preader_dirfd(const struct preader *);
/* Position at the first record with offset >= off (or recv >= t). */
int	preader_seek_offset(struct preader *, uint64_t);
int	preader_seek_time(struct preader *, int64_t);
int	preader_seek_end(struct preader *);
/* Offset one past the newest record now stored (0 if empty). */
int	preader_end_offset(struct preader *, uint64_t *);
/* Peek the next whole record without consuming it; PR_* result. */
int	preader_peek(struct preader *, struct bus_rec *);
/*
 * Raw output of a block batch: the record peeked and the rest of its
 * batch, when it is a block batch with delimiter delim whose records from
 * it on are at most max and were received at most at until.  Then *p and
 * *len are those records as stored (each with its delimiter), and r and
 * the record peeked become the last of them (preader_advance() goes past
 * all): their number, else 0 and nothing changes.
 */
uint64_t preader_peek_block(struct preader *, int, uint64_t, int64_t,
	    const uint8_t **, size_t *, struct bus_rec *);
/* Consume the record last peeked. */
void	preader_advance(struct preader *);
/* After a PR_CORRUPT: describe it, or skip to the next valid record. */
const char *preader_error(const struct preader *);
int	preader_skip_corrupt(struct preader *, uint64_t *);
/*
 * For followers with inotify: the reader lists the directory again at the
 * end of a segment only after preader_dir_hint(pr, 1) (a file was created,
 * renamed or deleted).  Without any hint it lists at every end.
 */
void	preader_dir_hint(struct preader *, int);
/* Number of records missing before the current position (retention). */
uint64_t preader_gap(struct preader *);

#endif /* BUS_READER_H */

/*
 * libbus: the segment format, the socket protocol and the store layout
 * shared by busd, bus-pub, bus-sub, bus-rotate and bus-compact.
 *
 * Everything on disk and on the wire is little-endian.  The byte-exact
 * descriptions live in bus-segment(5) and bus-protocol(7); the constants
 * below are the single source those pages are written from.
 */
#ifndef BUS_H
#define BUS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bus/msg.h"	/* the public message, tags and limits */

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

/* ---------------------------------------------------------------- limits */

#define BUS_MESSAGE_MAX_DEFAULT	(1024 * 1024)		/* --max-message */
#define BUS_MESSAGE_MAX_LIMIT	(64 * 1024 * 1024)	/* hard ceiling */
#define BUS_SEGMENT_SIZE_DEFAULT (64ULL * 1024 * 1024)	/* --segment-size */

/* ------------------------------------------------------------ the message */

#define BUS_F_MASK		0x01	/* flags defined in this version */

/*
 * A decoded record or message: pointers into the buffer it was decoded
 * from, valid as long as that buffer is.  Nothing is copied.
 */
struct bus_rec {
	uint64_t	 offset;	/* position in its partition */
	int64_t		 recv_ns;	/* stamped by busd; store-wide order */
	int64_t		 send_ns;	/* stamped by the publisher */
	int64_t		 event_ns;	/* given by the client */
	uint64_t	 producer;	/* producer id from the hello */
	uint64_t	 seq;		/* per-producer sequence number */
	uint8_t		 flags;		/* BUS_F_* */
	const char	*topic;		/* not NUL-terminated */
	size_t		 topic_len;
	const char	*key;		/* NULL when key_len == 0 */
	size_t		 key_len;
	const uint8_t	*tags;		/* encoded tag area, see tags_next() */
	size_t		 tags_len;
	const uint8_t	*payload;
	size_t		 payload_len;
	size_t		 size;		/* bytes of the whole encoded record */
};

/* ------------------------------------------------------------- CRC32C */

uint32_t	crc32c(uint32_t, const void *, size_t);
/* The CRC32C of three buffers at once (faster than one after another). */
void	crc32c_3(const void *, size_t, const void *, size_t, const void *,
	    size_t, uint32_t[3]);

/* --------------------------------------------------------- little endian */

static inline uint16_t
le16_get(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t
le32_get(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

static inline uint64_t
le64_get(const void *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get((const uint8_t *)p + 4) << 32;
}

static inline void
le16_put(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = v; b[1] = v >> 8;
}

static inline void
le32_put(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = v; b[1] = v >> 8; b[2] = v >> 16; b[3] = v >> 24;
}

static inline void
le64_put(void *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------- topics */

/* 0 if valid; else -1 with a static reason in *why. */
int	topic_check(const char *, size_t, const char **);

/* Tags: an area of entries u16 name_len, u16 value_len, name, value. */
/* Next tag at *pos in area; 1 found, 0 end, -1 malformed. */
int	tags_next(const uint8_t *, size_t, size_t *, struct bus_tag *);
/* Append "NAME=VALUE" to an area of *len bytes (cap bytes); -1 if invalid. */
int	tags_add(uint8_t *, size_t, size_t *, const char *, const char **);
/* 0 if the whole area is well formed. */
int	tags_check(const uint8_t *, size_t);

/* ------------------------------------------------------- segment format */

/*
 * Segment file: a 32-byte header, then records back to back.
 *
 *   0  8  magic "BUSSEG\0\1" (the last byte is the format version)
 *   8  8  base offset (offset of the first record ever written to it)
 *  16  8  creation time, ns since the epoch (UTC)
 *  24  4  reserved, zero
 *  28  4  CRC32C of bytes 0..27
 *
 * Record (BUS_REC_HDR bytes of header, then the variable part):
 *
 *   0  4  len: bytes that follow this field (BUS_REC_HDR - 4 + variable)
 *   4  4  crc: CRC32C of the len - 4 bytes that follow this field
 *   8  1  flags (BUS_F_*)
 *   9  1  topic length (1..255)
 *  10  2  key length (0 = no key)
 *  12  4  tags length (bytes of the tag area)
 *  16  8  offset
 *  24  8  receive time ns
 *  32  8  send time ns
 *  40  8  event time ns
 *  48  8  producer id
 *  56  8  producer sequence number
 *  64     topic, key, tags, payload (payload length is what remains)
 */
#define BUS_SEG_MAGIC		"BUSSEG\0\1"
#define BUS_SEG_HDR		32
#define BUS_REC_HDR		64
#define BUS_REC_MAX		(BUS_REC_HDR + BUS_TOPIC_MAX + BUS_KEY_MAX + \
				 (size_t)BUS_MESSAGE_MAX_LIMIT + 1024 * 1024)

size_t	seg_rec_size(size_t, size_t, size_t, size_t);
/* Encode rec (offset, times, ids, flags, topic, key, tags, payload). */
size_t	seg_rec_encode(uint8_t *, const struct bus_rec *);
/* The same without the CRC; seg_crc_fill() adds it to a whole buffer. */
size_t	seg_rec_encode_nocrc(uint8_t *, const struct bus_rec *);
void	seg_crc_fill(uint8_t *, size_t);
/*
 * Decode the record at buf (avail bytes).  Returns its size, 0 if avail
 * does not hold all of it yet, -1 if it is corrupt (bad length, CRC or
 * field); with *why set.
 */
ssize_t	seg_rec_decode(const uint8_t *, size_t, struct bus_rec *,
	    const char **);
/* Cheap check of the fixed fields: could a record start here? */
int	seg_rec_plausible(const uint8_t *, size_t);
void	seg_hdr_encode(uint8_t *, uint64_t, int64_t);
/* 0 and *base if valid, -1 with *why otherwise. */
int	seg_hdr_decode(const uint8_t *, uint64_t *, int64_t *, const char **);

/* --------------------------------------------------------------- index */

/*
 * Index file <base>.idx beside each segment: a 16-byte header, then one
 * 24-byte entry per BUS_IDX_EVERY bytes of segment (roughly):
 *   header: magic "BUSIDX\0\1", base offset u64
 *   entry:  offset u64, receive time ns i64, file position u64
 * Entries are strictly increasing in all three fields.  An index is a
 * cache: readers check each entry they use against the segment, and
 * busd rebuilds any index it doubts.
 */
#define BUS_IDX_MAGIC		"BUSIDX\0\1"
#define BUS_IDX_HDR		16
#define BUS_IDX_ENT		24
#define BUS_IDX_EVERY		(64 * 1024)

struct bus_idx_ent {
	uint64_t	offset;
	int64_t		recv_ns;
	uint64_t	pos;
};

void	idx_hdr_encode(uint8_t *, uint64_t);
void	idx_ent_encode(uint8_t *, const struct bus_idx_ent *);
void	idx_ent_decode(const uint8_t *, struct bus_idx_ent *);
/*
 * Load the index of a segment: returns entries (caller frees) and count,
 * or NULL with *n = 0 when missing or unusable (then callers scan).
 */
struct bus_idx_ent *idx_load(int, const char *, uint64_t, size_t *);
/* Last entry with key <= wanted; -1 if none. by_time: compare recv_ns. */
ssize_t	idx_search(const struct bus_idx_ent *, size_t, int, uint64_t);
/* Rebuild an index from a segment fd, write it to dirfd/name via rename. */
int	idx_rebuild(int, int, const char *, uint64_t, uint64_t *);

/* --------------------------------------------------------------- store */

#include "store.h"

/* --------------------------------------------------------------- rules */

struct rule;
struct ruleset {
	struct rule	*rules;		/* in match order */
	size_t		 n;
};
/* Add "PREFIX:REGEX"; on error -1 and a message in err. */
int	rules_add(struct ruleset *, const char *, char *, size_t);
/* Parse a busd.conf file: "rule PREFIX:REGEX" lines, # comments. */
int	rules_load_conf(struct ruleset *, const char *, char *, size_t);
void	rules_free(struct ruleset *);
/* Partition name for topic into out (BUS_TOPIC_MAX + 1); -1 no match/long. */
int	rules_route(const struct ruleset *, const char *, size_t, char *);

/* A compiled set of subscription patterns (whole-string PCRE2 matches). */
struct patset;
struct patset *patset_new(char *const *, int, char *, size_t);
int	patset_match(const struct patset *, const char *, size_t);
void	patset_free(struct patset *);

/* A search regex with a capture group: extract the first capture. */
struct capre;
struct capre *capre_new(const char *, char *, size_t);
/* 1 and the capture if the regex matches s with group 1 set; else 0. */
int	capre_first(struct capre *, const void *, size_t, const char **,
	    size_t *);
void	capre_free(struct capre *);

/* ------------------------------------------------------------- timefmt */

int64_t	now_ns(void);
/* "10", "10s", "1h30m", "7d", "250ms": ns in *out; -1 if invalid. */
int	parse_duration(const char *, int64_t *);
/* "@2026-01-02T03:04:05Z", "@1700000000[.123]", "-1h": ns; -1 invalid. */
int	parse_time(const char *, int64_t, int64_t *);
/* "64M", "1GiB", "4096": bytes; -1 if invalid or over max. */
int	parse_size(const char *, uint64_t, uint64_t *);
/* RFC 3339 UTC with nanoseconds into buf (at least 36 bytes). */
size_t	format_time(char *, size_t, int64_t);

/* --------------------------------------------------------------- reader */

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

#endif /* BUS_H */

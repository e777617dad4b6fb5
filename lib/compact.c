/*
 * Compaction: rewrite the sealed segments of a partition keeping the
 * newest record of each (topic, key), every record without a key, and
 * the tombstones younger than the tombstone age; small sealed segments
 * are merged on the way.  Offsets never change: a rewritten segment keeps
 * the base offset (and name) of the first segment it replaces, and its
 * records keep their offsets, with gaps where records were dropped.
 *
 * Only sealed segments are read and rewritten.  busd syncs a segment when
 * it seals it; a newer record in the active segment may not be on disk
 * yet, and an older record must not be deleted for its sake: a power
 * failure could then lose both.
 *
 * A rewrite of segments B1 < B2 < ... < Bk into one is safe against a
 * crash at any instant (Kafka's .cleaned, .swap, rename order):
 *
 *  1. Write B1.seg.cleaned and B1.idx.cleaned, and when k > 1 the list
 *     of B2..Bk in B1.merged.cleaned; fsync them and the directory.
 *  2. Rename B1.merged.cleaned to B1.merged; fsync the directory.
 *  3. Rename B1.seg.cleaned to B1.seg.swap: the commit point.  Then
 *     B1.idx.cleaned to B1.idx.swap; fsync the directory.
 *  4. Install: unlink B1.idx, rename B1.seg.swap over B1.seg, rename
 *     B1.idx.swap to B1.idx; fsync the directory.
 *  5. Unlink Bk .. B2, newest first, each .seg before its .idx.
 *  6. Unlink B1.merged; fsync the directory.
 *
 * From step 4 on, a reader listing the directory finds every surviving
 * record in B1.seg, then perhaps some of B2..Bk still, whose records it
 * has either passed already (it skips offsets it has passed) or may read
 * as a not yet compacted log would show them.  A reader that has an old
 * segment open keeps reading it: the inode lives until it is closed.
 *
 * compact_recover(), run under the lock at the start of every bus-compact
 * and bus-rotate, rolls forward what passed the commit point and removes
 * what did not:
 *  - B.merged with B.seg.cleaned beside it: not committed; the list goes
 *    (and the .cleaned files with the rest below).
 *  - B.merged without: committed; install B.seg.swap if still there,
 *    delete the listed segments, newest first, then the list.
 *  - B.seg.swap: committed; install it.
 *  - B.idx.swap alone: its segment is installed; rename it to B.idx.
 *  - B.seg.cleaned, B.idx.cleaned, B.merged.cleaned: delete.
 */
#include <sys/stat.h>
#include <sys/tree.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "append.h"
#include "bus.h"
#include "ops.h"

#define CP_WBUF		(1024 * 1024)	/* output buffer */
#define MERGED_MAGIC	"bus-merged 1"

/* The newest offset of one (topic, key). */
struct kent {
	RB_ENTRY(kent)	 entry;
	uint64_t	 off;		/* newest record with this key */
	uint16_t	 klen;		/* key bytes */
	uint8_t		 tlen;		/* topic bytes */
	char		 data[];	/* topic, then key */
};
RB_HEAD(ktree, kent);

/* One sealed segment and what compaction keeps of it. */
struct cseg {
	uint64_t	 base;
	uint64_t	 bytes;		/* size of the .seg file */
	uint64_t	 nrecs;		/* records in it */
	uint64_t	 kept;		/* records kept */
	uint64_t	 kept_bytes;	/* their encoded size */
};

struct compactor {
	const char	*part;		/* partition name, for messages */
	int		 dirfd;		/* its directory */
	const struct compact_opts *o;
	int64_t		 cutoff;	/* tombstones received before go */
	struct ktree	 keys;
	struct kent	*probe;		/* lookup buffer, largest key */
	uint64_t	*segs;		/* every segment, ascending */
	size_t		 nsegs;
	struct cseg	*cs;		/* the sealed ones: nsegs - 1 */
	char		*err;
	size_t		 errlen;
	uint64_t	 obase;		/* base of the segment being written */
	int		 sfd, ifd;	/* output segment, index */
	struct app	 out;		/* appending to them */
};

enum { PASS_MAP, PASS_SIZE, PASS_WRITE };

static int	kent_cmp(struct kent *, struct kent *);
static struct kent *key_find(struct compactor *, const struct bus_rec *);
static int	key_put(struct compactor *, const struct bus_rec *);
static void	keys_free(struct compactor *);
static int	keep(struct compactor *, const struct bus_rec *);
static int	out_rec(struct compactor *, struct segscan *,
		    const struct bus_rec *);
static int	walk(struct compactor *, size_t, int);
static void	leftover_name(char *, size_t, uint64_t, const char *);
static int	leftover_list(int, char ***, size_t *);
static int	unlink_seg(int, uint64_t);
static int	install(int, const char *, uint64_t, char *, size_t);
static int	exists(int, const char *);
static int	merged_load(int, const char *, uint64_t, uint64_t **, size_t *);
static int	merged_delete(int, const char *, const uint64_t *, size_t,
		    char *, size_t);
static int	merged_write(struct compactor *, size_t, size_t,
		    const struct stat *);
static void	note_add(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	create_file(struct compactor *, const char *,
		    const struct stat *);
static void	rewrite_abandon(struct compactor *, uint64_t);
static int	rewrite(struct compactor *, size_t, size_t);
RB_PROTOTYPE_STATIC(ktree, kent, entry, kent_cmp);
RB_GENERATE_STATIC(ktree, kent, entry, kent_cmp);

static int
kent_cmp(struct kent *a, struct kent *b)
{
	if (a->tlen != b->tlen)
		return a->tlen < b->tlen ? -1 : 1;
	if (a->klen != b->klen)
		return a->klen < b->klen ? -1 : 1;
	return memcmp(a->data, b->data, a->tlen + a->klen);
}

static struct kent *
key_find(struct compactor *c, const struct bus_rec *r)
{
	c->probe->tlen = r->topic_len;
	c->probe->klen = r->key_len;
	memcpy(c->probe->data, r->topic, r->topic_len);
	memcpy(c->probe->data + r->topic_len, r->key, r->key_len);
	return RB_FIND(ktree, &c->keys, c->probe);
}

static int
key_put(struct compactor *c, const struct bus_rec *r)
{
	struct kent *k;
	size_t n = r->topic_len + r->key_len;

	if ((k = key_find(c, r)) != NULL) {
		if (r->offset > k->off)
			k->off = r->offset;
		return 0;
	}
	if ((k = malloc(sizeof(*k) + n)) == NULL)
		return -1;
	memcpy(k, c->probe, sizeof(*k) + n);
	k->off = r->offset;
	RB_INSERT(ktree, &c->keys, k);
	return 0;
}

static void
keys_free(struct compactor *c)
{
	struct kent *k, *nk;

	RB_FOREACH_SAFE(k, ktree, &c->keys, nk) {
		RB_REMOVE(ktree, &c->keys, k);
		free(k);
	}
}

/* Does compaction keep r? */
static int
keep(struct compactor *c, const struct bus_rec *r)
{
	struct kent *k;

	if (r->key_len == 0)
		return 1;
	if ((k = key_find(c, r)) == NULL || k->off != r->offset)
		return k == NULL;
	if ((r->flags & BUS_F_TOMBSTONE) && r->recv_ns < c->cutoff)
		return 0;
	return 1;
}

/*
 * Append a record that is kept to the output.  A block batch has no
 * keys, so all of it is kept: it is copied whole, as it was read, at its
 * first record, and the scan goes on after it.
 */
static int
out_rec(struct compactor *c, struct segscan *ss, const struct bus_rec *r)
{
	if (ss->first && (ss->bat.attrs & BUS_BA_BLOCK)) {
		if (app_add_batch(&c->out, ss->raw, &ss->bat) == -1)
			return -1;
		segscan_seek(ss, segscan_at(ss));
		return 0;
	}
	return app_add(&c->out, r);
}

/*
 * Read sealed segment i, doing the work of pass with each record.  It
 * must decode to its last byte: damage is reported, never cut away.
 */
static int
walk(struct compactor *c, size_t i, int pass)
{
	struct segscan ss;
	struct bus_rec r;
	struct cseg *s = &c->cs[i];
	char n[32];
	int rc;

	store_seg_name(n, sizeof(n), c->segs[i], "seg");
	if ((rc = segscan_open(&ss, c->dirfd, n, c->segs[i])) != 0) {
		if (rc == SS_DAMAGED)
			goto damaged;
		snprintf(c->err, c->errlen, "partition %s: %s: %s", c->part,
		    n, strerror(errno));
		return OPS_IO;
	}
	if (pass == PASS_MAP)
		s->bytes = ss.size;
	while ((rc = segscan_next(&ss, &r)) == SS_REC) {
		switch (pass) {
		case PASS_MAP:
			if (r.key_len && key_put(c, &r) == -1) {
				snprintf(c->err, c->errlen, "partition %s: "
				    "%s", c->part, strerror(errno));
				segscan_close(&ss);
				return OPS_IO;
			}
			break;
		case PASS_SIZE:
			s->nrecs++;
			if (keep(c, &r)) {
				s->kept++;
				/* A batch header per batch, at most. */
				s->kept_bytes += r.size +
				    (ss.first ? ss.bat.hdr : 0);
			}
			break;
		case PASS_WRITE:
			if (keep(c, &r) && out_rec(c, &ss, &r) == -1) {
				snprintf(c->err, c->errlen, "partition %s: "
				    "write %020llu.seg%s: %s", c->part,
				    (unsigned long long)c->obase, OPS_CLEANED,
				    strerror(errno));
				segscan_close(&ss);
				return OPS_IO;
			}
			break;
		}
	}
	if (rc == SS_IOERR) {
		snprintf(c->err, c->errlen, "partition %s: read %s: %s",
		    c->part, n, strerror(errno));
		segscan_close(&ss);
		return OPS_IO;
	}
	if (rc == SS_END && segscan_at(&ss) < ss.size)
		ss.why = "truncated batch at the end of a sealed segment";
	else if (rc == SS_END) {
		segscan_close(&ss);
		return OPS_OK;
	}
	snprintf(c->err, c->errlen, "partition %s: file %s: byte offset "
	    "%llu: %s; partition not compacted", c->part, n,
	    (unsigned long long)segscan_at(&ss), ss.why);
	segscan_close(&ss);
	return OPS_DAMAGED;
damaged:
	snprintf(c->err, c->errlen, "partition %s: file %s: %s; partition "
	    "not compacted", c->part, n, ss.why);
	return OPS_DAMAGED;
}

/* dirfd/<base><suffix> into buf. */
static void
leftover_name(char *buf, size_t len, uint64_t base, const char *suffix)
{
	snprintf(buf, len, "%020llu%s", (unsigned long long)base, suffix);
}

/* Unlink a segment and its index (either may be gone already). */
static int
unlink_seg(int dirfd, uint64_t base)
{
	char n[32];

	store_seg_name(n, sizeof(n), base, "seg");
	if (unlinkat(dirfd, n, 0) == -1 && errno != ENOENT)
		return -1;
	store_seg_name(n, sizeof(n), base, "idx");
	if (unlinkat(dirfd, n, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

/* Step 4: put B.seg.swap (and B.idx.swap) in place of B.seg, B.idx. */
static int
install(int dirfd, const char *part, uint64_t b, char *err, size_t errlen)
{
	char seg[48], idx[48], sswap[48], iswap[48];

	store_seg_name(seg, sizeof(seg), b, "seg");
	store_seg_name(idx, sizeof(idx), b, "idx");
	leftover_name(sswap, sizeof(sswap), b, ".seg" OPS_SWAP);
	leftover_name(iswap, sizeof(iswap), b, ".idx" OPS_SWAP);
	/* No moment with the new segment and the old index. */
	if (unlinkat(dirfd, idx, 0) == -1 && errno != ENOENT)
		goto fail;
	if (renameat(dirfd, sswap, dirfd, seg) == -1)
		goto fail;
	if (renameat(dirfd, iswap, dirfd, idx) == -1 && errno != ENOENT)
		goto fail;
	if (fsync(dirfd) == -1)
		goto fail;
	return OPS_OK;
fail:
	snprintf(err, errlen, "partition %s: installing %s: %s", part, seg,
	    strerror(errno));
	return OPS_IO;
}

static int
exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The bases listed in a .merged file; -1 if it is not one. */
static int
merged_load(int dirfd, const char *name, uint64_t b, uint64_t **out,
    size_t *n)
{
	char line[64];
	uint64_t *v = NULL, *nv, x;
	size_t cnt = 0, len;
	FILE *f;
	int fd, rc = 0;

	*out = NULL;
	*n = 0;
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, MERGED_MAGIC "\n") != 0)
		rc = -1;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		len = strlen(line);
		if (len != 21 || line[20] != '\n') {
			rc = -1;
			break;
		}
		line[20] = '\0';
		if (!store_name_base(line, "", &x) || x <= b) {
			rc = -1;
			break;
		}
		if ((nv = reallocarray(v, cnt + 1, sizeof(*v))) == NULL) {
			rc = -1;
			break;
		}
		v = nv;
		v[cnt++] = x;
	}
	fclose(f);
	if (rc == -1) {
		free(v);
		errno = EINVAL;
		return -1;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* Delete the segments a committed merge replaced, newest first. */
static int
merged_delete(int dirfd, const char *part, const uint64_t *v, size_t n,
    char *err, size_t errlen)
{
	uint64_t *segs;
	size_t nsegs, i;

	if (store_list_segments(dirfd, &segs, &nsegs) == -1)
		goto fail;
	for (i = n; i-- > 0; ) {
		/* Never the newest segment: busd may be writing it. */
		if (nsegs > 0 && v[i] >= segs[nsegs - 1]) {
			snprintf(err, errlen, "partition %s: merge list names "
			    "the active segment %020llu.seg; left alone",
			    part, (unsigned long long)v[i]);
			free(segs);
			return OPS_DAMAGED;
		}
		if (unlink_seg(dirfd, v[i]) == -1) {
			free(segs);
			goto fail;
		}
	}
	free(segs);
	return OPS_OK;
fail:
	snprintf(err, errlen, "partition %s: %s", part, strerror(errno));
	return OPS_IO;
}

/* Does a name end in one of our leftover suffixes? */
static int
is_leftover(int dirfd, const char *name, void *arg)
{
	static const char *suffixes[] = {
		OPS_MERGED, ".seg" OPS_SWAP, ".idx" OPS_SWAP,
		".seg" OPS_CLEANED, ".idx" OPS_CLEANED,
		OPS_MERGED OPS_CLEANED
	};
	uint64_t b;
	size_t k;

	for (k = 0; k < sizeof(suffixes) / sizeof(suffixes[0]); k++)
		if (store_name_base(name, suffixes[k], &b))
			return 1;
	return 0;
}

static int
leftover_list(int dirfd, char ***out, size_t *n)
{
	return store_list_names(dirfd, is_leftover, NULL, out, n);
}

int
compact_leftovers(int dirfd)
{
	char **names;
	size_t n;

	if (leftover_list(dirfd, &names, &n) == -1)
		return 1;	/* cannot tell: look under the lock */
	store_free_names(names, n);
	return n > 0;
}

/* Append a sentence to the recovery note. */
static void
note_add(char *note, size_t len, const char *fmt, ...)
{
	va_list ap;
	size_t have = strlen(note);

	if (have + 3 >= len)
		return;
	if (have) {
		snprintf(note + have, len - have, "; ");
		have += 2;
	}
	va_start(ap, fmt);
	vsnprintf(note + have, len - have, fmt, ap);
	va_end(ap);
}

int
compact_recover(const char *part, int dirfd, char *note, size_t notelen,
    char *err, size_t errlen)
{
	char **names, cl[48], nm[48];
	uint64_t b, *v;
	size_t n, i, nv, done = 0, removed = 0;
	int rc = OPS_OK, r;

	if (notelen)
		note[0] = '\0';
	if (leftover_list(dirfd, &names, &n) == -1) {
		snprintf(err, errlen, "partition %s: %s", part,
		    strerror(errno));
		return OPS_IO;
	}
	for (i = 0; i < n && rc == OPS_OK; i++) {
		if (!store_name_base(names[i], OPS_MERGED, &b))
			continue;
		leftover_name(cl, sizeof(cl), b, ".seg" OPS_CLEANED);
		if (exists(dirfd, cl)) {
			/* Not committed: the old segments stay. */
			if (unlinkat(dirfd, names[i], 0) == -1) {
				rc = OPS_IO;
				snprintf(err, errlen, "partition %s: unlink "
				    "%s: %s", part, names[i], strerror(errno));
				break;
			}
			note_add(note, notelen, "partition %s: rolled back an "
			    "unfinished rewrite of %020llu.seg", part,
			    (unsigned long long)b);
			done++;
			continue;
		}
		if (merged_load(dirfd, names[i], b, &v, &nv) == -1) {
			snprintf(err, errlen, "partition %s: %s: %s; left "
			    "alone", part, names[i], errno == EINVAL ?
			    "not a merge list" : strerror(errno));
			rc = errno == EINVAL ? OPS_DAMAGED : OPS_IO;
			break;
		}
		leftover_name(nm, sizeof(nm), b, ".seg" OPS_SWAP);
		if (exists(dirfd, nm) &&
		    (rc = install(dirfd, part, b, err, errlen)) != OPS_OK) {
			free(v);
			break;
		}
		if ((rc = merged_delete(dirfd, part, v, nv, err, errlen)) !=
		    OPS_OK) {
			free(v);
			break;
		}
		free(v);
		if (fsync(dirfd) == -1 || unlinkat(dirfd, names[i], 0) == -1) {
			snprintf(err, errlen, "partition %s: %s: %s", part,
			    names[i], strerror(errno));
			rc = OPS_IO;
			break;
		}
		note_add(note, notelen, "partition %s: completed an "
		    "interrupted rewrite of %020llu.seg (%zu merged segments "
		    "deleted)", part, (unsigned long long)b, nv);
		done++;
	}
	for (i = 0; i < n && rc == OPS_OK; i++) {
		if (!store_name_base(names[i], ".seg" OPS_SWAP, &b) ||
		    !exists(dirfd, names[i]))
			continue;
		if ((rc = install(dirfd, part, b, err, errlen)) != OPS_OK)
			break;
		note_add(note, notelen, "partition %s: completed an "
		    "interrupted rewrite of %020llu.seg", part,
		    (unsigned long long)b);
		done++;
	}
	for (i = 0; i < n && rc == OPS_OK; i++) {
		if (!store_name_base(names[i], ".idx" OPS_SWAP, &b) ||
		    !exists(dirfd, names[i]))
			continue;
		/* Its segment was installed; without one it is useless. */
		store_seg_name(nm, sizeof(nm), b, "seg");
		store_seg_name(cl, sizeof(cl), b, "idx");
		if (exists(dirfd, nm))
			r = renameat(dirfd, names[i], dirfd, cl);
		else
			r = unlinkat(dirfd, names[i], 0);
		if (r == -1) {
			snprintf(err, errlen, "partition %s: %s: %s", part,
			    names[i], strerror(errno));
			rc = OPS_IO;
			break;
		}
		done++;
	}
	for (i = 0; i < n && rc == OPS_OK; i++) {
		size_t len = strlen(names[i]);

		if (len < sizeof(OPS_CLEANED) || strcmp(names[i] + len -
		    (sizeof(OPS_CLEANED) - 1), OPS_CLEANED) != 0)
			continue;
		if (unlinkat(dirfd, names[i], 0) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "partition %s: unlink %s: %s",
			    part, names[i], strerror(errno));
			rc = OPS_IO;
			break;
		}
		removed++;
	}
	if (removed) {
		note_add(note, notelen, "partition %s: removed %zu "
		    "unfinished file(s) of an interrupted rewrite", part,
		    removed);
		done++;
	}
	if (n > 0 && rc == OPS_OK && fsync(dirfd) == -1) {
		snprintf(err, errlen, "partition %s: fsync: %s", part,
		    strerror(errno));
		rc = OPS_IO;
	}
	store_free_names(names, n);
	return rc == OPS_OK ? (int)done : rc;
}

/* The files a rewrite has made so far go when it fails before commit. */
static void
rewrite_abandon(struct compactor *c, uint64_t b)
{
	char n[48];

	leftover_name(n, sizeof(n), b, ".seg" OPS_CLEANED);
	unlinkat(c->dirfd, n, 0);
	leftover_name(n, sizeof(n), b, ".idx" OPS_CLEANED);
	unlinkat(c->dirfd, n, 0);
	leftover_name(n, sizeof(n), b, OPS_MERGED OPS_CLEANED);
	unlinkat(c->dirfd, n, 0);
}

static int
create_file(struct compactor *c, const char *name, const struct stat *like)
{
	return compact_create(c->dirfd, c->part, name, like, c->err,
	    c->errlen);
}

/*
 * Create dirfd/name for a rewrite of partition part, owned and moded as
 * like, the file it replaces: its fd, or -1 with a message in err.
 */
int
compact_create(int dirfd, const char *part, const char *name,
    const struct stat *like, char *err, size_t errlen)
{
	int fd;

	if ((fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0640)) == -1) {
		snprintf(err, errlen, "partition %s: create %s: %s", part,
		    name, strerror(errno));
		return -1;
	}
	if (geteuid() == 0)
		(void)fchown(fd, like->st_uid, like->st_gid);
	(void)fchmod(fd, like->st_mode & 0777);
	return fd;
}

/* Write the list of merged-away segments, B.merged.cleaned. */
static int
merged_write(struct compactor *c, size_t gi, size_t gj, const struct stat *st)
{
	char n[48];
	FILE *f;
	size_t k;
	int fd;

	leftover_name(n, sizeof(n), c->segs[gi], OPS_MERGED OPS_CLEANED);
	if ((fd = create_file(c, n, st)) == -1)
		return OPS_CREATE;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		goto fail;
	}
	fprintf(f, "%s\n", MERGED_MAGIC);
	for (k = gi + 1; k < gj; k++)
		fprintf(f, "%020llu\n", (unsigned long long)c->segs[k]);
	if (fflush(f) == EOF || fsync(fileno(f)) == -1) {
		fclose(f);
		goto fail;
	}
	if (fclose(f) == EOF)
		goto fail;
	return OPS_OK;
fail:
	snprintf(c->err, c->errlen, "partition %s: write %s: %s", c->part, n,
	    strerror(errno));
	return OPS_IO;
}

/* Rewrite sealed segments gi .. gj-1 into one named after the first. */
static int
rewrite(struct compactor *c, size_t gi, size_t gj)
{
	uint8_t h[BUS_SEG_HDR], ih[BUS_IDX_HDR];
	char sc[48], ic[48], sw[48], iw[48], mc[48], mf[48];
	uint64_t b = c->segs[gi];
	struct segscan ss;
	struct stat st;
	size_t k;
	int rc;

	store_seg_name(sc, sizeof(sc), b, "seg");
	if (fstatat(c->dirfd, sc, &st, 0) == -1) {
		snprintf(c->err, c->errlen, "partition %s: %s: %s", c->part,
		    sc, strerror(errno));
		return OPS_IO;
	}
	/* The header keeps the first segment's creation time. */
	if ((rc = segscan_open(&ss, c->dirfd, sc, b)) != 0) {
		snprintf(c->err, c->errlen, "partition %s: %s: %s", c->part,
		    sc, rc == SS_DAMAGED ? ss.why : strerror(errno));
		return rc == SS_DAMAGED ? OPS_DAMAGED : OPS_IO;
	}
	seg_hdr_encode(h, b, ss.created);
	segscan_close(&ss);

	leftover_name(sc, sizeof(sc), b, ".seg" OPS_CLEANED);
	leftover_name(ic, sizeof(ic), b, ".idx" OPS_CLEANED);
	leftover_name(sw, sizeof(sw), b, ".seg" OPS_SWAP);
	leftover_name(iw, sizeof(iw), b, ".idx" OPS_SWAP);
	leftover_name(mc, sizeof(mc), b, OPS_MERGED OPS_CLEANED);
	leftover_name(mf, sizeof(mf), b, OPS_MERGED);
	c->sfd = c->ifd = -1;
	c->obase = b;
	if ((c->sfd = create_file(c, sc, &st)) == -1 ||
	    (c->ifd = create_file(c, ic, &st)) == -1) {
		rc = OPS_CREATE;
		goto fail;
	}
	idx_hdr_encode(ih, b);
	if (app_write(c->sfd, h, sizeof(h)) == -1 ||
	    app_write(c->ifd, ih, sizeof(ih)) == -1)
		goto ioerr;
	app_reset(&c->out, c->sfd, c->ifd, BUS_SEG_HDR, BUS_IDX_HDR, 0, 0);
	for (k = gi; k < gj; k++)
		if ((rc = walk(c, k, PASS_WRITE)) != OPS_OK)
			goto fail;
	if (app_flush(&c->out) != 0 || fsync(c->sfd) == -1 ||
	    fsync(c->ifd) == -1)
		goto ioerr;
	close(c->sfd);
	close(c->ifd);
	c->sfd = c->ifd = -1;
	if (gj - gi > 1 && (rc = merged_write(c, gi, gj, &st)) != OPS_OK)
		goto fail;
	if (fsync(c->dirfd) == -1)
		goto ioerr;
	if (gj - gi > 1 && (renameat(c->dirfd, mc, c->dirfd, mf) == -1 ||
	    fsync(c->dirfd) == -1))
		goto ioerr;
	/* The commit point: from here on, recovery completes the rewrite. */
	if (renameat(c->dirfd, sc, c->dirfd, sw) == -1) {
		unlinkat(c->dirfd, mf, 0);
		goto ioerr;
	}
	if (renameat(c->dirfd, ic, c->dirfd, iw) == -1 ||
	    fsync(c->dirfd) == -1) {
		snprintf(c->err, c->errlen, "partition %s: %s: %s", c->part,
		    iw, strerror(errno));
		return OPS_IO;
	}
	if ((rc = install(c->dirfd, c->part, b, c->err, c->errlen)) != OPS_OK)
		return rc;
	if (gj - gi > 1) {
		if ((rc = merged_delete(c->dirfd, c->part, c->segs + gi + 1,
		    gj - gi - 1, c->err, c->errlen)) != OPS_OK)
			return rc;
		if (fsync(c->dirfd) == -1 || unlinkat(c->dirfd, mf, 0) == -1 ||
		    fsync(c->dirfd) == -1) {
			snprintf(c->err, c->errlen, "partition %s: %s: %s",
			    c->part, mf, strerror(errno));
			return OPS_IO;
		}
	}
	return OPS_OK;
ioerr:
	snprintf(c->err, c->errlen, "partition %s: rewriting %020llu.seg: %s",
	    c->part, (unsigned long long)b, strerror(errno));
	rc = OPS_IO;
fail:
	if (c->sfd != -1)
		close(c->sfd);
	if (c->ifd != -1)
		close(c->ifd);
	c->sfd = c->ifd = -1;
	rewrite_abandon(c, b);
	return rc;
}

int
compact_partition(const char *part, int dirfd, const struct compact_opts *o,
    struct compact_result *res, char *err, size_t errlen)
{
	struct compactor c;
	size_t nsealed, i, j, k;
	uint64_t acc;
	int rc = OPS_OK;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	RB_INIT(&c.keys);
	c.part = part;
	c.dirfd = dirfd;
	c.o = o;
	c.cutoff = o->now - o->tombstone_age;
	c.err = err;
	c.errlen = errlen;
	c.sfd = c.ifd = -1;
	if (store_list_segments(dirfd, &c.segs, &c.nsegs) == -1) {
		snprintf(err, errlen, "partition %s: %s", part,
		    strerror(errno));
		return OPS_IO;
	}
	if (c.nsegs < 2)
		goto out;	/* nothing sealed */
	nsealed = c.nsegs - 1;
	if ((c.cs = calloc(nsealed, sizeof(*c.cs))) == NULL ||
	    (c.probe = malloc(sizeof(*c.probe) + BUS_TOPIC_MAX +
	    BUS_KEY_MAX)) == NULL ||
	    app_init(&c.out, -1, -1, 0, 0, 0, 0, CP_WBUF) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		rc = OPS_IO;
		goto out;
	}
	/* The newest offset of every key. */
	for (i = 0; i < nsealed; i++)
		if ((rc = walk(&c, i, PASS_MAP)) != OPS_OK)
			goto out;
	for (i = 0; i < nsealed; i++) {
		c.cs[i].base = c.segs[i];
		if ((rc = walk(&c, i, PASS_SIZE)) != OPS_OK)
			goto out;
		res->recs_before += c.cs[i].nrecs;
		res->bytes_before += c.cs[i].bytes;
	}
	res->segs_before = nsealed;

	/*
	 * Groups of consecutive sealed segments whose kept records fit in
	 * one segment of the segment size; a group of one that loses no
	 * record is left as it is.
	 */
	for (i = 0; i < nsealed; i = j) {
		acc = BUS_SEG_HDR + c.cs[i].kept_bytes;
		for (j = i + 1; j < nsealed &&
		    acc + c.cs[j].kept_bytes <= o->segment_size; j++)
			acc += c.cs[j].kept_bytes;
		res->segs_after++;
		for (k = i; k < j; k++)
			res->recs_after += c.cs[k].kept;
		if (j - i == 1 && c.cs[i].kept == c.cs[i].nrecs) {
			res->bytes_after += c.cs[i].bytes;
			continue;
		}
		res->bytes_after += acc;
		res->rewritten++;
		if (o->dry_run)
			continue;
		if ((rc = rewrite(&c, i, j)) != OPS_OK)
			goto out;
	}
out:
	keys_free(&c);
	free(c.probe);
	app_free(&c.out);
	free(c.cs);
	free(c.segs);
	return rc;
}

/* Step 4 for a segment rewritten elsewhere (recompress.c). */
int
compact_install(int dirfd, const char *part, uint64_t b, char *err,
    size_t errlen)
{
	return install(dirfd, part, b, err, errlen);
}

/*
 * Compressing sealed segments: the work of bus-rotate --compress, off
 * busd's path.  Each sealed segment whose batches are plain is read
 * record by record through the segment scanner (which decompresses what
 * is compressed already) and written again as record batches of up to
 * a group of raw bytes, each batch's records section compressed as one
 * zstd frame or LZ4 block (zcodec.c).  Small batches of many publishes
 * thus become few large ones, which is what makes the ratio good; every
 * field of every record (offset, receive, send and event time, producer,
 * sequence, flags, key, tags, payload) is kept exactly.
 *
 * The new segment replaces the old one with compaction's protocol (see
 * compact.c): B.seg.cleaned and B.idx.cleaned written and synced, the
 * rename to B.seg.swap as the commit point, then compact_install().  A
 * crash at any instant leaves either the old segment or the new one,
 * and the leftovers are finished or removed by compact_recover() at the
 * start of the next bus-rotate or bus-compact.  Readers that have the old
 * file open keep reading it; readers that open the new one read the same
 * records at the same offsets.
 *
 * A segment is taken as compressed when its first batch is: busd writes
 * plain batches only, and this rewrite compresses every batch.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "append.h"
#include "batch.h"
#include "bus.h"
#include "ops.h"
#include "recompress.h"
#include "zcodec.h"

#define RC_WBUF		(1024 * 1024)	/* output buffer */

/* One partition's rewrite in progress. */
struct rcomp {
	const char	*part;		/* partition name, for messages */
	int		 dirfd;		/* its directory */
	const struct recompress_opts *o; /* codec, level, group */
	char		*err;		/* the caller's message buffer */
	size_t		 errlen;	/* its size */
	struct zc	 z;		/* compressor and its output */
	uint8_t		*raw;		/* records section of the open batch */
	size_t		 rawcap;	/* bytes allocated at raw */
	uint8_t		*obuf;		/* the compressed batch */
	size_t		 obufcap;	/* bytes allocated at obuf */
	uint8_t		*bhdr;		/* header of a block batch kept */
	size_t		 bhdrcap;	/* bytes allocated at bhdr */
	struct batch_buf in;		/* an input batch, decompressed */
	struct bus_batch ob;		/* the open batch */
	int		 open;		/* ob holds a record */
	uint8_t		 hdr[BUS_BATCH_HDR + BUS_TOPIC_MAX]; /* its header */
	char		 topic[BUS_TOPIC_MAX];	/* its topic */
	uint64_t	 base;		/* the segment being written */
	uint64_t	 nrecs;		/* records written to it */
	int		 sfd, ifd;	/* its .cleaned files */
	struct app	 out;		/* appending to them */
};

static int	first_codec(struct rcomp *, const char *, int *);
static int	grow_raw(struct rcomp *, size_t);
static int	grow(uint8_t **, size_t *, size_t);
static int	emit(struct rcomp *, struct bus_batch *, const uint8_t *,
		    const uint8_t *);
static int	batch_out(struct rcomp *);
static int	block_out(struct rcomp *, const struct bus_batch *,
		    const uint8_t *);
static int	rec_add(struct rcomp *, const struct bus_rec *);
static int	batch_in(struct rcomp *, const struct bus_batch *);
static int	create_like(struct rcomp *, const char *, const struct stat *);
static void	abandon(struct rcomp *);
static int	rewrite(struct rcomp *, uint64_t, uint64_t *);

/*
 * The codec of the first batch of dirfd/name into *codec (-1: it holds
 * no batch).  Only that batch is read, with its CRC checked but not
 * decompressed: a cron run over compressed segments costs a few KiB
 * each.  OPS_OK, or OPS_IO / OPS_DAMAGED with err.
 */
static int
first_codec(struct rcomp *c, const char *name, int *codec)
{
	struct segscan ss;
	struct bus_batch b;
	const char *why = "";
	uint8_t lenb[4], *p = NULL;
	size_t len;
	ssize_t n;
	int rc;

	*codec = -1;
	if ((rc = segscan_open(&ss, c->dirfd, name, UINT64_MAX)) != 0) {
		snprintf(c->err, c->errlen, "partition %s: file %s: %s",
		    c->part, name, rc == SS_DAMAGED ? ss.why :
		    strerror(errno));
		return rc == SS_DAMAGED ? OPS_DAMAGED : OPS_IO;
	}
	if ((n = pread(ss.fd, lenb, sizeof(lenb), BUS_SEG_HDR)) == -1)
		goto ioerr;
	if (n == 0) {
		segscan_close(&ss);
		return OPS_OK;		/* no batch */
	}
	len = n == sizeof(lenb) ? (size_t)le32_get(lenb) + 4 : 0;
	if (len < BUS_BATCH_HDR || len > BUS_BATCH_MAX) {
		why = n < (ssize_t)sizeof(lenb) ? "truncated batch at the end "
		    "of a sealed segment" : "bad batch length";
		goto damaged;
	}
	if ((p = malloc(len)) == NULL)
		goto ioerr;
	if ((n = pread(ss.fd, p, len, BUS_SEG_HDR)) == -1)
		goto ioerr;
	if ((size_t)n < len) {
		why = "truncated batch at the end of a sealed segment";
		goto damaged;
	}
	if (batch_decode_hdr(p, len, &b, &why) != (ssize_t)len)
		goto damaged;
	*codec = (int)batch_codec(&b);
	free(p);
	segscan_close(&ss);
	return OPS_OK;
damaged:
	snprintf(c->err, c->errlen, "partition %s: file %s: byte offset %d: "
	    "%s; segment not compressed", c->part, name, BUS_SEG_HDR, why);
	free(p);
	segscan_close(&ss);
	return OPS_DAMAGED;
ioerr:
	snprintf(c->err, c->errlen, "partition %s: read %s: %s", c->part,
	    name, strerror(errno));
	free(p);
	segscan_close(&ss);
	return OPS_IO;
}

static int
grow_raw(struct rcomp *c, size_t need)
{
	uint8_t *nb;
	size_t cap;

	if (need <= c->rawcap)
		return 0;
	cap = c->rawcap ? c->rawcap : c->o->group + 64 * 1024;
	while (cap < need)
		cap *= 2;
	if ((nb = realloc(c->raw, cap)) == NULL)
		return -1;
	c->raw = nb;
	c->rawcap = cap;
	return 0;
}

/* At least need bytes at *p (*cap allocated). */
static int
grow(uint8_t **p, size_t *cap, size_t need)
{
	uint8_t *nb;

	if (need <= *cap && *p != NULL)
		return 0;
	if ((nb = realloc(*p, need)) == NULL)
		return -1;
	*p = nb;
	*cap = need;
	return 0;
}

/*
 * Append batch ob (header fields set, its header of ob->hdr bytes at
 * hdr) with its records section recs (ob->recs_len bytes) compressed.
 */
static int
emit(struct rcomp *c, struct bus_batch *ob, const uint8_t *hdr,
    const uint8_t *recs)
{
	const uint8_t *cz;
	const char *why;
	size_t czlen, size;

	if (zc_compress(&c->z, c->o->codec, c->o->level, recs, ob->recs_len,
	    &cz, &czlen, &why) == -1) {
		snprintf(c->err, c->errlen, "partition %s: compressing "
		    "%020llu.seg: %s", c->part, (unsigned long long)c->base,
		    why);
		return OPS_IO;
	}
	size = ob->hdr + czlen;
	if (size > BUS_BATCH_MAX) {
		errno = EFBIG;
		goto ioerr;
	}
	if (grow(&c->obuf, &c->obufcap, size) == -1)
		goto ioerr;
	memcpy(c->obuf, hdr, ob->hdr);
	memcpy(c->obuf + ob->hdr, cz, czlen);
	ob->stored_len = czlen;
	batch_finish(c->obuf, ob);
	if (app_add_batch(&c->out, c->obuf, ob) == -1)
		goto ioerr;
	return OPS_OK;
ioerr:
	snprintf(c->err, c->errlen, "partition %s: write %020llu.seg%s: %s",
	    c->part, (unsigned long long)c->base, OPS_CLEANED,
	    strerror(errno));
	return OPS_IO;
}

/* Compress the open record batch and append it. */
static int
batch_out(struct rcomp *c)
{
	if (!c->open)
		return OPS_OK;
	c->open = 0;
	return emit(c, &c->ob, c->hdr, c->raw);
}

/* A block batch kept as it is, its block compressed. */
static int
block_out(struct rcomp *c, const struct bus_batch *b, const uint8_t *recs)
{
	struct bus_batch ob = *b;

	ob.attrs = (uint8_t)((b->attrs & ~BUS_BA_CODEC_MASK) | c->o->codec);
	if (grow(&c->bhdr, &c->bhdrcap, BUS_BATCH_HDR + b->topic_len +
	    b->tags_len) == -1) {
		snprintf(c->err, c->errlen, "partition %s: %s", c->part,
		    strerror(errno));
		return OPS_IO;
	}
	batch_begin(c->bhdr, &ob);
	batch_block(&ob, b->count, b->recs_len);
	c->nrecs += b->count;
	return emit(c, &ob, c->bhdr, recs);
}

/* Add a record to the open batch, closing it first when r does not fit. */
static int
rec_add(struct rcomp *c, const struct bus_rec *r)
{
	size_t rs;
	int rc;

	if (c->open && (!batch_fits(&c->ob, r) || c->ob.recs_len +
	    batch_rec_size(&c->ob, r) > c->o->group))
		if ((rc = batch_out(c)) != OPS_OK)
			return rc;
	if (!c->open) {
		memset(&c->ob, 0, sizeof(c->ob));
		memcpy(c->topic, r->topic, r->topic_len);
		c->ob.attrs = (uint8_t)c->o->codec;
		c->ob.topic = c->topic;
		c->ob.topic_len = r->topic_len;
		c->ob.base_off = r->offset;
		c->ob.base_recv = r->recv_ns;
		c->ob.base_send = r->send_ns;
		c->ob.base_event = r->event_ns;
		c->ob.producer = r->producer;
		c->ob.base_seq = r->seq;
		batch_begin(c->hdr, &c->ob);
		c->open = 1;
	}
	rs = batch_rec_size(&c->ob, r);
	if (grow_raw(c, c->ob.recs_len + rs) == -1) {
		snprintf(c->err, c->errlen, "partition %s: %s", c->part,
		    strerror(errno));
		return OPS_IO;
	}
	batch_add(c->raw + c->ob.recs_len, &c->ob, r);
	c->nrecs++;
	return OPS_OK;
}

/*
 * One input batch: a block batch of a quarter group or more stays one,
 * compressed; the records of any other go into record batches.
 */
static int
batch_in(struct rcomp *c, const struct bus_batch *b)
{
	struct batch_iter it;
	struct bus_rec r;
	const uint8_t *recs;
	const char *why;
	int rc, k;

	if (batch_recs(b, &c->in, &recs, &why) == -1) {
		snprintf(c->err, c->errlen, "partition %s: %020llu.seg: %s",
		    c->part, (unsigned long long)c->base, why);
		return OPS_DAMAGED;
	}
	if ((b->attrs & BUS_BA_BLOCK) && b->recs_len >= c->o->group / 4) {
		if ((rc = batch_out(c)) != OPS_OK)
			return rc;
		return block_out(c, b, recs);
	}
	batch_iter_init(&it, b, recs, b->recs_len);
	while ((k = batch_iter_next(&it, &r)) == 1)
		if ((rc = rec_add(c, &r)) != OPS_OK)
			return rc;
	if (k == -1) {
		snprintf(c->err, c->errlen, "partition %s: %020llu.seg: "
		    "malformed record in a checked batch", c->part,
		    (unsigned long long)c->base);
		return OPS_DAMAGED;
	}
	return OPS_OK;
}

static int
create_like(struct rcomp *c, const char *name, const struct stat *like)
{
	return compact_create(c->dirfd, c->part, name, like, c->err,
	    c->errlen);
}

/* Before the commit point: close and remove what was written. */
static void
abandon(struct rcomp *c)
{
	char n[48];

	if (c->sfd != -1)
		close(c->sfd);
	if (c->ifd != -1)
		close(c->ifd);
	c->sfd = c->ifd = -1;
	snprintf(n, sizeof(n), "%020llu.seg%s", (unsigned long long)c->base,
	    OPS_CLEANED);
	unlinkat(c->dirfd, n, 0);
	snprintf(n, sizeof(n), "%020llu.idx%s", (unsigned long long)c->base,
	    OPS_CLEANED);
	unlinkat(c->dirfd, n, 0);
}

/* Rewrite sealed segment b compressed; its new size in *after. */
static int
rewrite(struct rcomp *c, uint64_t b, uint64_t *after)
{
	uint8_t h[BUS_SEG_HDR], ih[BUS_IDX_HDR];
	char seg[32], sc[48], ic[48], sw[48], iw[48];
	struct segscan ss;
	struct bus_batch ib;
	struct stat st;
	int rc;

	c->base = b;
	c->nrecs = 0;
	c->open = 0;
	c->sfd = c->ifd = -1;
	store_seg_name(seg, sizeof(seg), b, "seg");
	snprintf(sc, sizeof(sc), "%020llu.seg%s", (unsigned long long)b,
	    OPS_CLEANED);
	snprintf(sw, sizeof(sw), "%020llu.seg%s", (unsigned long long)b,
	    OPS_SWAP);
	snprintf(ic, sizeof(ic), "%020llu.idx%s", (unsigned long long)b,
	    OPS_CLEANED);
	snprintf(iw, sizeof(iw), "%020llu.idx%s", (unsigned long long)b,
	    OPS_SWAP);
	if ((rc = segscan_open(&ss, c->dirfd, seg, b)) != 0) {
		snprintf(c->err, c->errlen, "partition %s: file %s: %s",
		    c->part, seg, rc == SS_DAMAGED ? ss.why :
		    strerror(errno));
		return rc == SS_DAMAGED ? OPS_DAMAGED : OPS_IO;
	}
	if (fstat(ss.fd, &st) == -1) {
		rc = OPS_IO;
		snprintf(c->err, c->errlen, "partition %s: %s: %s", c->part,
		    seg, strerror(errno));
		goto out;
	}
	if ((c->sfd = create_like(c, sc, &st)) == -1 ||
	    (c->ifd = create_like(c, ic, &st)) == -1) {
		rc = OPS_CREATE;
		goto out;
	}
	/* The header keeps the segment's base and creation time. */
	seg_hdr_encode(h, b, ss.created);
	idx_hdr_encode(ih, b);
	if (app_write(c->sfd, h, sizeof(h)) == -1 ||
	    app_write(c->ifd, ih, sizeof(ih)) == -1)
		goto ioerr;
	app_reset(&c->out, c->sfd, c->ifd, BUS_SEG_HDR, BUS_IDX_HDR, 0, 0);
	while ((rc = segscan_next_batch(&ss, &ib)) == SS_REC)
		if ((rc = batch_in(c, &ib)) != OPS_OK)
			goto out;
	if (rc == SS_IOERR) {
		snprintf(c->err, c->errlen, "partition %s: read %s: %s",
		    c->part, seg, strerror(errno));
		rc = OPS_IO;
		goto out;
	}
	if (rc == SS_DAMAGED || segscan_at(&ss) < ss.size) {
		snprintf(c->err, c->errlen, "partition %s: file %s: byte "
		    "offset %llu: %s; segment not compressed", c->part, seg,
		    (unsigned long long)segscan_at(&ss), rc == SS_DAMAGED ?
		    ss.why : "truncated batch at the end of a sealed segment");
		rc = OPS_DAMAGED;
		goto out;
	}
	if ((rc = batch_out(c)) != OPS_OK)
		goto out;
	if (app_flush(&c->out) != 0 || fsync(c->sfd) == -1 ||
	    fsync(c->ifd) == -1)
		goto ioerr;
	*after = c->out.size;
	close(c->sfd);
	close(c->ifd);
	c->sfd = c->ifd = -1;
	if (fsync(c->dirfd) == -1)
		goto ioerr;
	/* The commit point: from here on, recovery completes the rewrite. */
	if (renameat(c->dirfd, sc, c->dirfd, sw) == -1)
		goto ioerr;
	segscan_close(&ss);
	if (renameat(c->dirfd, ic, c->dirfd, iw) == -1 ||
	    fsync(c->dirfd) == -1) {
		snprintf(c->err, c->errlen, "partition %s: %s: %s", c->part,
		    iw, strerror(errno));
		return OPS_IO;
	}
	return compact_install(c->dirfd, c->part, b, c->err, c->errlen);
ioerr:
	snprintf(c->err, c->errlen, "partition %s: compressing %s: %s",
	    c->part, seg, strerror(errno));
	rc = OPS_IO;
out:
	segscan_close(&ss);
	abandon(c);
	return rc;
}

int
recompress_partition(const char *part, int dirfd,
    const struct recompress_opts *o, struct recompress_result *res,
    char *err, size_t errlen)
{
	struct rcomp c;
	struct stat st;
	char name[32], derr[1024];
	uint64_t *segs = NULL, after;
	size_t nsegs, i;
	int rc = OPS_OK, r, codec;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	derr[0] = '\0';
	c.part = part;
	c.dirfd = dirfd;
	c.o = o;
	c.err = err;
	c.errlen = errlen;
	c.sfd = c.ifd = -1;
	zc_init(&c.z);
	if (store_list_segments(dirfd, &segs, &nsegs) == -1) {
		snprintf(err, errlen, "partition %s: %s", part,
		    strerror(errno));
		return OPS_IO;
	}
	if (nsegs < 2)
		goto out;	/* nothing sealed */
	if (app_init(&c.out, -1, -1, 0, 0, 0, 0, RC_WBUF) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		rc = OPS_IO;
		goto out;
	}
	for (i = 0; i + 1 < nsegs; i++) {
		res->sealed++;
		store_seg_name(name, sizeof(name), segs[i], "seg");
		if ((r = first_codec(&c, name, &codec)) == OPS_DAMAGED) {
			/* Report it; the others are done all the same. */
			snprintf(derr, sizeof(derr), "%s", err);
			continue;
		}
		if (r != OPS_OK) {
			rc = r;
			break;
		}
		if (codec == -1)
			continue;	/* empty */
		if (codec != BUS_BA_CODEC_NONE) {
			res->already++;
			continue;
		}
		if (fstatat(dirfd, name, &st, 0) == -1) {
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "partition %s: %s: %s", part,
			    name, strerror(errno));
			rc = OPS_IO;
			break;
		}
		res->done++;
		res->bytes_before += (uint64_t)st.st_size;
		if (o->dry_run) {
			if (o->report != NULL)
				fprintf(o->report, "%s: would compress %s "
				    "(%llu bytes) with %s\n", part, name,
				    (unsigned long long)st.st_size,
				    zc_codec_name(o->codec));
			continue;
		}
		after = 0;
		if ((r = rewrite(&c, segs[i], &after)) == OPS_DAMAGED) {
			res->done--;
			res->bytes_before -= (uint64_t)st.st_size;
			snprintf(derr, sizeof(derr), "%s", err);
			continue;
		}
		if (r != OPS_OK) {
			rc = r;
			break;
		}
		res->recs += c.nrecs;
		res->bytes_after += after;
		if (o->report != NULL)
			fprintf(o->report, "%s: compressed %s with %s: %llu "
			    "records, %llu -> %llu bytes\n", part, name,
			    zc_codec_name(o->codec),
			    (unsigned long long)c.nrecs,
			    (unsigned long long)st.st_size,
			    (unsigned long long)after);
	}
	if (rc == OPS_OK && derr[0] != '\0') {
		snprintf(err, errlen, "%s", derr);
		rc = OPS_DAMAGED;
	}
out:
	app_free(&c.out);
	zc_free(&c.z);
	free(c.raw);
	free(c.obuf);
	free(c.bhdr);
	batch_buf_free(&c.in);
	free(segs);
	return rc;
}

/*
 * busd's dedup state: what each producer has stored, per connection's
 * producer and per partition, kept in each partition's producers file.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <errno.h>
#include <stdlib.h>
#include <sysexits.h>

#include "bus.h"
#include "log.h"
#include "busd.h"

#define PRODUCER_IDLE	(3600LL * 1000000000LL)

RB_HEAD(prod_tree, producer);

/* A partition's producers as they were at a seal (pprods_snap()). */
struct pprods_snap {
	uint64_t	 next_off;	/* the file covers the offsets below */
	size_t		 n, at;		/* entries; the next to write */
	struct store_producer v[];	/* one per producer */
};

static int	snap_next(void *, struct store_producer *);
static int	pprod_load(uint64_t, uint64_t, int64_t, void *);
static int	prod_cmp(struct producer *, struct producer *);
static int	pprod_cmp(struct pprod *, struct pprod *);
RB_PROTOTYPE_STATIC(prod_tree, producer, entry, prod_cmp);
RB_PROTOTYPE_STATIC(pprod_tree, pprod, entry, pprod_cmp);

static struct prod_tree	producers = RB_INITIALIZER(&producers);
uint64_t	 pprod_gen = 1;		/* changes when pprods are freed */

struct producer *
producer_get(uint64_t id, int create)
{
	struct producer key, *p;

	key.id = id;
	if ((p = RB_FIND(prod_tree, &producers, &key)) != NULL || !create)
		return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal(EX_OSERR, NULL);
	p->id = id;
	p->last_use = now_ns();
	RB_INSERT(prod_tree, &producers, p);
	return p;
}

struct pprod *
pprod_get(struct part *p, uint64_t id)
{
	struct pprod key, *pp;

	key.id = id;
	if ((pp = RB_FIND(pprod_tree, &p->prods, &key)) != NULL)
		return pp;
	if ((pp = calloc(1, sizeof(*pp))) == NULL)
		fatal(EX_OSERR, NULL);
	pp->id = id;
	pp->last_use = now_ns();
	RB_INSERT(pprod_tree, &p->prods, pp);
	return pp;
}

/*
 * The turn stores a record of pp's producer in p.  Its first record of
 * the turn there: remember how to undo it (its sequence number before
 * the turn), and list pp with those the turn touched in p.
 */
void
pprod_touch(struct part *p, struct pprod *pp)
{
	if (pp->turn != turn_no) {
		pp->turn = turn_no;
		pp->turn_seq = pp->last_seq;
		pp->tnext = p->touched;
		p->touched = pp;
	}
}

/*
 * A record found at start: its partition's state takes its sequence
 * number.  The producer's own number, the one HELLO_OK reports, stays 0:
 * the records left by a crash need not be an unbroken run (a batch may
 * be written in one partition and not in another), and HELLO_OK must
 * never claim a message that is not stored.
 */
void
pprod_learn(struct part *p, const struct bus_rec *r)
{
	struct pprod *pp = pprod_get(p, r->producer);

	if (r->seq > pp->last_seq)
		pp->last_seq = r->seq;
	if (r->recv_ns > pp->last_use)
		pp->last_use = r->recv_ns;
}

/* Forget producers idle for an hour: their resend window is long gone. */
void
producers_prune(int64_t now)
{
	static int64_t last;
	struct producer *p, *np;
	struct pprod *pp, *npp;
	struct part *pt;

	if (now - last < 60LL * 1000000000LL)
		return;
	last = now;
	RB_FOREACH_SAFE(p, prod_tree, &producers, np) {
		if (p->refs == 0 && now - p->last_use > PRODUCER_IDLE) {
			RB_REMOVE(prod_tree, &producers, p);
			free(p);
		}
	}
	RB_FOREACH(pt, part_tree, &parts) {
		/* Not while a turn has them on its touched list. */
		if (pt->dirty)
			continue;
		RB_FOREACH_SAFE(pp, pprod_tree, &pt->prods, npp) {
			if (now - pp->last_use > PRODUCER_IDLE &&
			    producer_get(pp->id, 0) == NULL) {
				RB_REMOVE(pprod_tree, &pt->prods, pp);
				free(pp);
				pprod_gen++;
			}
		}
	}
}

/*
 * DIR/log/P/producers: the last sequence number of every producer in
 * partition P, covering its records below the "next" offset.  Written
 * when P is sealed, once its records are on disk; with the records from
 * that offset on it gives back P's dedup state after a restart, however
 * many segments a quiet producer's last records are behind.
 */
void
pprods_save(struct part *p)
{
	/*
	 * On failure the old file stays: it covers less, so more is read
	 * at start.  The directory is synced by the seal's new segment.
	 */
	pprods_snap_save(p, pprods_snap(p));
}

/*
 * P's producers as they are now, to be written later by
 * pprods_snap_save(), once the records they cover are on disk.  NULL
 * when out of memory.
 */
struct pprods_snap *
pprods_snap(struct part *p)
{
	struct pprods_snap *sn;
	struct pprod *pp;
	size_t n = 0;

	RB_FOREACH(pp, pprod_tree, &p->prods)
		n++;
	if ((sn = malloc(sizeof(*sn) + n * sizeof(sn->v[0]))) == NULL)
		return NULL;
	sn->next_off = p->next_off;
	sn->n = sn->at = 0;
	RB_FOREACH(pp, pprod_tree, &p->prods) {
		sn->v[sn->n].id = pp->id;
		sn->v[sn->n].last_seq = pp->last_seq;
		sn->v[sn->n].last_use = pp->last_use;
		sn->n++;
	}
	return sn;
}

/*
 * Write snapshot sn as p's producers file (if p's directory is open),
 * and free it.
 */
void
pprods_snap_save(struct part *p, struct pprods_snap *sn)
{
	if (sn == NULL)
		return;
	/* Closed since: the file stays as it was, covering less. */
	if (p->dirfd != -1) {
		if (store_producers_write(p->dirfd, sn->next_off, snap_next,
		    sn) == -1)
			log_warn("partition %s: %s", p->name, BUS_PRODUCERS);
		else if (sn->next_off > p->prods_mark)
			p->prods_mark = sn->next_off;
	}
	free(sn);
}

/* Each entry of a snapshot in turn, for store_producers_write(). */
static int
snap_next(void *arg, struct store_producer *ent)
{
	struct pprods_snap *sn = arg;

	if (sn->at == sn->n)
		return 0;
	*ent = sn->v[sn->at++];
	return 1;
}

/* Forget P's producers (P could not be loaded). */
void
pprods_free(struct part *p)
{
	struct pprod *pp, *npp;

	RB_FOREACH_SAFE(pp, pprod_tree, &p->prods, npp) {
		RB_REMOVE(pprod_tree, &p->prods, pp);
		free(pp);
	}
	pprod_gen++;
}

/* Read P's producers file; -1 if there is none or it is damaged. */
int
pprods_load(struct part *p)
{
	uint64_t next;

	p->prods_mark = 0;
	if (store_producers_read(p->dirfd, &next, pprod_load, p) == -1) {
		/* A cache of what the records say: damaged means ignored. */
		if (errno == EBADMSG)
			log_warnx("partition %s: %s: not a producer state "
			    "file; ignored", p->name, BUS_PRODUCERS);
		return -1;
	}
	p->prods_mark = next;
	return 0;
}

/* One line of a producers file, for pprods_load(). */
static int
pprod_load(uint64_t id, uint64_t last_seq, int64_t last_use, void *arg)
{
	struct pprod *pp = pprod_get(arg, id);

	if (last_seq > pp->last_seq)
		pp->last_seq = last_seq;
	pp->last_use = last_use;
	return 0;
}

static int
prod_cmp(struct producer *a, struct producer *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

static int
pprod_cmp(struct pprod *a, struct pprod *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE_STATIC(prod_tree, producer, entry, prod_cmp);
RB_GENERATE_STATIC(pprod_tree, pprod, entry, pprod_cmp);

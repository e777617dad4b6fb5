/*
 * busd's dedup state: what each producer has stored, per connection's
 * producer and per partition, kept in each partition's producers file.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "busd.h"

#define PRODUCER_IDLE	(3600LL * 1000000000LL)

RB_HEAD(prod_tree, producer);

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
 * many segments a quiet producer's last records are behind.  Format:
 * "bus-producers 2", "next OFFSET", then "ID LAST_SEQ LAST_USE_NS" lines.
 */
void
pprods_save(struct part *p)
{
	struct pprod *pp;
	FILE *f;

	if ((f = store_tmp_open(p->dirfd, BUS_PRODUCERS ".tmp")) == NULL) {
		log_warn("partition %s: %s.tmp", p->name, BUS_PRODUCERS);
		return;
	}
	fprintf(f, "bus-producers 2\nnext %llu\n",
	    (unsigned long long)p->next_off);
	RB_FOREACH(pp, pprod_tree, &p->prods)
		fprintf(f, "%016llx %llu %lld\n", (unsigned long long)pp->id,
		    (unsigned long long)pp->last_seq, (long long)pp->last_use);
	/*
	 * On failure the old file stays: it covers less, so more is read
	 * at start.  The directory is synced by the seal's new segment.
	 */
	if (store_tmp_commit(f, p->dirfd, BUS_PRODUCERS ".tmp", BUS_PRODUCERS,
	    0) == -1)
		log_warn("partition %s: %s", p->name, BUS_PRODUCERS);
	else
		p->prods_mark = p->next_off;
}

/* Read P's producers file; -1 if there is none or it is damaged. */
int
pprods_load(struct part *p)
{
	char line[128];
	unsigned long long id, seq, next;
	long long used;
	struct pprod *pp;
	FILE *f;
	int fd;

	p->prods_mark = 0;
	if ((fd = openat(p->dirfd, BUS_PRODUCERS, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, "bus-producers 2\n") != 0 ||
	    fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "next %llu", &next) != 1) {
		/* A cache of what the records say: damaged means ignored. */
		log_warnx("partition %s: %s: not a producer state file; "
		    "ignored", p->name, BUS_PRODUCERS);
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%llx %llu %lld", &id, &seq, &used) != 3 ||
		    id == 0)
			continue;
		pp = pprod_get(p, id);
		if (seq > pp->last_seq)
			pp->last_seq = seq;
		pp->last_use = used;
	}
	fclose(f);
	p->prods_mark = next;
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

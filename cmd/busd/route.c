/*
 * busd's routing: the rules, and a topic -> partition cache in front of
 * them so that routing is a lookup, not a regex.
 *
 * A rule with {hash:N} spreads a topic over N partitions: a message with
 * a key goes to Kafka's partition of the key (key_partition()), one
 * without to the partition of its PUBLISH frame, taken round robin
 * (route_frame), so that a producer's unkeyed messages keep their order
 * within a partition.  Each such partition holds a file "hash" with N,
 * so that a start with another N for a topic that has data is refused
 * (route_check()): keys would move to other partitions, and their order
 * would be lost.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "proto.h"
#include "busd.h"
#include "hash.h"

#define HASH_FILE	"hash"		/* in a partition of {hash:N}: N */

/* Topic -> partition, so that routing is a lookup, not a regex. */
struct route {
	RB_ENTRY(route)	 entry;
	char		*topic;
	size_t		 topic_len;
	struct part	*part;		/* without {hash:N} */
	uint32_t	 nhash;		/* N of {hash:N}, 0: none */
	struct part	**slots;	/* with it: partition k, loaded lazily */
};
RB_HEAD(route_tree, route);

static void	route_refused(const char *);
static int	route_cmp(struct route *, struct route *);
static struct part *route_slot(struct route *, uint32_t, uint32_t *, char *,
	    size_t);
static int	hash_read(struct part *, uint32_t *);
static int	topic_check_hash(const char *, void *);
RB_PROTOTYPE_STATIC(route_tree, route, entry, route_cmp);

static struct route_tree routes = RB_INITIALIZER(&routes);
static struct route *route_last;	/* route() one-entry cache */
uint64_t	 route_frame;		/* PUBLISH frames: unkeyed round robin */

/*
 * Rules: -r first, then the configuration file, then the default.  On
 * error err holds '!' (config file) or '?' (command line) and a message.
 */
int
load_rules(struct ruleset *rs, struct acl *acl, char *err, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	int i;

	memset(rs, 0, sizeof(*rs));
	for (i = 0; i < ncli_rules; i++) {
		if (rules_add(rs, cli_rules[i], err + 1, len - 1) == -1) {
			err[0] = '?';
			rules_free(rs);
			return -1;
		}
	}
	if (conf_file == NULL) {
		if (store_path(path, sizeof(path), dir, BUS_CONF) == 0 &&
		    lstat(path, &st) == 0)
			conf_file = strdup(path);
	}
	if (conf_file != NULL &&
	    conf_load(rs, acl, conf_file, err + 1, len - 1) == -1) {
		err[0] = '!';
		rules_free(rs);
		return -1;
	}
	return 0;
}

/*
 * The partition of topic, opened.  NULL with code and a message in emsg
 * (emlen bytes) when it has none: no rule routes it, --max-partitions is
 * reached, or it cannot be created or opened (logged, busd goes on).
 */
struct part *
route(const char *topic, size_t len, const void *key, size_t klen,
    uint32_t *code, char *emsg, size_t emlen)
{
	struct route key_r, *r = route_last;
	struct part pk, *p, **slot;
	char t[BUS_TOPIC_MAX + 1];
	uint32_t n = 0;

	if (r == NULL || r->topic_len != len ||
	    memcmp(r->topic, topic, len) != 0) {
		memcpy(t, topic, len);
		t[len] = '\0';
		key_r.topic = t;
		if ((r = RB_FIND(route_tree, &routes, &key_r)) == NULL) {
			if (rules_route_slot(&rules, topic, len, 0, pk.name,
			    &n) == -1) {
				*code = PE_ROUTE;
				snprintf(emsg, emlen, "topic %s: partition "
				    "name for topic too long", t);
				return NULL;
			}
			if ((r = calloc(1, sizeof(*r))) == NULL ||
			    (r->topic = strdup(t)) == NULL)
				fatal(EX_OSERR, NULL);
			r->topic_len = len;
			r->nhash = n;
			if (n > 0 && (r->slots = calloc(n,
			    sizeof(*r->slots))) == NULL)
				fatal(EX_OSERR, NULL);
			RB_INSERT(route_tree, &routes, r);
		}
		route_last = r;
	}
	n = 0;
	slot = &r->part;
	if (r->nhash > 0) {
		n = klen > 0 ? key_partition(key, klen, r->nhash) :
		    (uint32_t)(route_frame % r->nhash);
		slot = &r->slots[n];
	}
	if ((p = *slot) == NULL)
		return *slot = route_slot(r, n, code, emsg, emlen);
	/* Open, and the most recently used: a few pointers per message. */
	if (part_use(p) == 0)
		return p;
	*code = PE_IO;
	snprintf(emsg, emlen, "topic %.*s: cannot open partition %s: %s",
	    (int)len, topic, p->name, strerror(errno));
	route_refused(emsg);
	return NULL;
}

/*
 * The partition of slot k of r, loaded or made, and open; NULL with
 * *code and a message in emsg.
 */
static struct part *
route_slot(struct route *r, uint32_t k, uint32_t *code, char *emsg,
    size_t emlen)
{
	struct part pk, *p;
	char b[16];
	int fd, n;

	if (rules_route_slot(&rules, r->topic, r->topic_len, k, pk.name,
	    NULL) == -1) {
		*code = PE_ROUTE;
		snprintf(emsg, emlen, "topic %s: partition name for topic too "
		    "long", r->topic);
		return NULL;
	}
	if ((p = RB_FIND(part_tree, &parts, &pk)) == NULL) {
		if (nparts >= max_partitions) {
			*code = PE_BUSY;
			snprintf(emsg, emlen, "topic %s: partition %s refused: "
			    "the store has %d partitions, the most "
			    "--max-partitions allows", r->topic, pk.name,
			    nparts);
			route_refused(emsg);
			return NULL;
		}
		if (part_prepare(r->topic, r->topic_len, pk.name) == -1 ||
		    (p = part_load(pk.name, 1)) == NULL) {
			*code = PE_IO;
			snprintf(emsg, emlen, "topic %s: cannot create "
			    "partition %s: %s", r->topic, pk.name,
			    strerror(errno));
			route_refused(emsg);
			return NULL;
		}
		log_debug("partition %s created", p->name);
		if (r->nhash > 0) {
			/* Written once, when the partition is made. */
			n = snprintf(b, sizeof(b), "%u\n", (unsigned)r->nhash);
			if ((fd = openat(p->dirfd, HASH_FILE, O_WRONLY |
			    O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0640)) == -1 || write(fd, b, n) != n ||
			    fsync(fd) == -1)
				log_warn("partition %s: %s", p->name,
				    HASH_FILE);
			if (fd != -1)
				close(fd);
		}
	} else if (part_use(p) == -1) {
		*code = PE_IO;
		snprintf(emsg, emlen, "topic %s: cannot open partition %s: %s",
		    r->topic, p->name, strerror(errno));
		route_refused(emsg);
		return NULL;
	}
	part_topic(p, r->topic, r->topic_len);
	return p;
}

/*
 * Say why a message was refused, in busd's log: once, not once per
 * message of a publisher that sends on regardless.
 */
static void
route_refused(const char *why)
{
	static char last[256];
	static int64_t at;
	int64_t now = now_ns();

	if (strncmp(last, why, sizeof(last) - 1) == 0 &&
	    now - at < 10LL * 1000000000LL)
		return;
	strlcpy(last, why, sizeof(last));
	at = now;
	log_warnx("ERROR %s", why);
}

/* N in p's hash file: 1, 0 without one, -1 if damaged. */
static int
hash_read(struct part *p, uint32_t *n)
{
	char b[16], path[BUS_TOPIC_MAX + 16];
	const char *errstr;
	ssize_t k;
	int fd;

	/* From DIR/log: p may be closed (the partition LRU). */
	if (snprintf(path, sizeof(path), "%s/%s", p->name, HASH_FILE) >=
	    (int)sizeof(path))
		return -1;
	if ((fd = store_openat(logfd, path, O_RDONLY, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	k = read(fd, b, sizeof(b) - 1);
	close(fd);
	b[k > 0 ? k : 0] = '\0';
	b[strcspn(b, "\n")] = '\0';
	*n = strtonum(b, 1, UINT32_MAX, &errstr);
	return errstr == NULL ? 1 : -1;
}

/* What route_check() looks at: one partition and its N. */
struct hcheck {
	struct part	*p;
	uint32_t	 n;		/* its hash file, 0: none */
	char		*err;
	size_t		 len;
};

/* Would the rules put topic t back into the partition that holds it? */
static int
topic_check_hash(const char *t, void *arg)
{
	struct hcheck *hc = arg;
	char name[BUS_TOPIC_MAX + 1];
	uint32_t n, k;

	if (rules_route_slot(&rules, t, strlen(t), 0, name, &n) == -1)
		return 0;
	if (n == 0 && hc->n == 0)
		return 0;
	for (k = 0; k < n; k++) {
		if (rules_route_slot(&rules, t, strlen(t), k, name,
		    NULL) == -1)
			break;
		if (strcmp(name, hc->p->name) == 0)
			break;
	}
	if (n > 0 && k < n && (hc->n == 0 || hc->n == n))
		return 0;
	if (hc->n > 0)
		snprintf(hc->err, hc->len, "topic %s: partition %s holds its "
		    "messages spread by key over %u partitions, and the "
		    "rules now give %u%s: keys would change partition and "
		    "lose their order; keep {hash:%u} for this topic, or "
		    "publish to a new topic", t, hc->p->name,
		    (unsigned)hc->n, n ? (unsigned)n : 1,
		    n ? "" : " (no {hash:N})", (unsigned)hc->n);
	else
		snprintf(hc->err, hc->len, "topic %s: partition %s holds "
		    "its messages, and the rules now spread it by key over "
		    "%u partitions that do not include it: keys would lose "
		    "their order; keep the old rule for this topic, or "
		    "publish to a new topic", t, hc->p->name, (unsigned)n);
	return 1;
}

/*
 * At start: refuse rules that would move a topic with data to another
 * number of key partitions; -1 with a message in err.
 */
int
route_check(char *err, size_t len)
{
	struct hcheck hc;
	struct topic *tp;
	struct part *p;
	int rc;

	RB_FOREACH(p, part_tree, &parts) {
		if (p->name[0] == '.')
			continue;	/* busd's own, such as the schedule */
		hc.p = p;
		hc.n = 0;
		hc.err = err;
		hc.len = len;
		if ((rc = hash_read(p, &hc.n)) == -1) {
			snprintf(err, len, "partition %s: %s is damaged",
			    p->name, HASH_FILE);
			return -1;
		}
		if (p->next_off == 0)
			continue;	/* no data: nothing to keep in order */
		RB_FOREACH(tp, topic_tree, &p->topics)
			if (topic_check_hash(tp->name, &hc))
				return -1;
	}
	return 0;
}

void
routes_clear(void)
{
	struct route *r, *nr;

	RB_FOREACH_SAFE(r, route_tree, &routes, nr) {
		RB_REMOVE(route_tree, &routes, r);
		free(r->slots);
		free(r->topic);
		free(r);
	}
	route_last = NULL;
}

static int
route_cmp(struct route *a, struct route *b)
{
	return strcmp(a->topic, b->topic);
}

RB_GENERATE_STATIC(route_tree, route, entry, route_cmp);

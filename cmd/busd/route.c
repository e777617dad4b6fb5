/*
 * busd's routing: the rules, and a topic -> partition cache in front of
 * them so that routing is a lookup, not a regex.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bus.h"
#include "log.h"
#include "proto.h"
#include "busd.h"

/* Topic -> partition, so that routing is a lookup, not a regex. */
struct route {
	RB_ENTRY(route)	 entry;
	char		*topic;
	size_t		 topic_len;
	struct part	*part;
};
RB_HEAD(route_tree, route);

static void	route_refused(const char *);
static int	route_cmp(struct route *, struct route *);
RB_PROTOTYPE_STATIC(route_tree, route, entry, route_cmp);

static struct route_tree routes = RB_INITIALIZER(&routes);
static struct route *route_last;	/* route() one-entry cache */

/*
 * Rules: -r first, then the configuration file, then the default.  On
 * error err holds '!' (config file) or '?' (command line) and a message.
 */
int
load_rules(struct ruleset *rs, char *err, size_t len)
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
		    stat(path, &st) == 0)
			conf_file = strdup(path);
	}
	if (conf_file != NULL &&
	    rules_load_conf(rs, conf_file, err + 1, len - 1) == -1) {
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
route(const char *topic, size_t len, uint32_t *code, char *emsg, size_t emlen)
{
	struct route key, *r, *last = route_last;
	struct part pk, *p;
	char t[BUS_TOPIC_MAX + 1];

	if (last != NULL && last->topic_len == len &&
	    memcmp(last->topic, topic, len) == 0) {
		p = last->part;
		goto use;
	}
	memcpy(t, topic, len);
	t[len] = '\0';
	key.topic = t;
	if ((r = RB_FIND(route_tree, &routes, &key)) != NULL) {
		route_last = r;
		p = r->part;
		goto use;
	}
	if (rules_route(&rules, topic, len, pk.name) == -1) {
		*code = PE_ROUTE;
		snprintf(emsg, emlen, "partition name for topic too long");
		return NULL;
	}
	if ((p = RB_FIND(part_tree, &parts, &pk)) == NULL) {
		if (nparts >= max_partitions) {
			*code = PE_BUSY;
			snprintf(emsg, emlen, "topic %s: partition %s refused: "
			    "the store has %d partitions, the most "
			    "--max-partitions allows", t, pk.name, nparts);
			route_refused(emsg);
			return NULL;
		}
		if ((p = part_load(pk.name, 1)) == NULL) {
			*code = PE_IO;
			snprintf(emsg, emlen, "topic %s: cannot create "
			    "partition %s: %s", t, pk.name, strerror(errno));
			route_refused(emsg);
			return NULL;
		}
		log_debug("partition %s created", p->name);
	} else if (part_use(p) == -1)
		goto fail;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->topic = strdup(t)) == NULL)
		fatal(EX_OSERR, NULL);
	r->part = p;
	r->topic_len = len;
	RB_INSERT(route_tree, &routes, r);
	part_topic(p, topic, len);
	route_last = r;
	return p;
use:
	/* Open, and the most recently used: a few pointers per message. */
	if (part_use(p) == 0)
		return p;
fail:
	*code = PE_IO;
	snprintf(emsg, emlen, "topic %.*s: cannot open partition %s: %s",
	    (int)len, topic, p->name, strerror(errno));
	route_refused(emsg);
	return NULL;
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

void
routes_clear(void)
{
	struct route *r, *nr;

	RB_FOREACH_SAFE(r, route_tree, &routes, nr) {
		RB_REMOVE(route_tree, &routes, r);
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

/*
 * busd's routing: the rules, and a topic -> partition cache in front of
 * them so that routing is a lookup, not a regex.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <limits.h>
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

static int	route_cmp(struct route *, struct route *);
RB_PROTOTYPE_STATIC(route_tree, route, entry, route_cmp);

static struct route_tree routes = RB_INITIALIZER(&routes);
static struct route *route_last;	/* route() one-entry cache */

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

struct part *
route(const char *topic, size_t len, uint32_t *code)
{
	struct route key, *r, *last = route_last;
	struct part pk, *p;
	char t[BUS_TOPIC_MAX + 1];

	if (last != NULL && last->topic_len == len &&
	    memcmp(last->topic, topic, len) == 0)
		return last->part;
	memcpy(t, topic, len);
	t[len] = '\0';
	key.topic = t;
	if ((r = RB_FIND(route_tree, &routes, &key)) != NULL) {
		route_last = r;
		return r->part;
	}
	if (rules_route(&rules, topic, len, pk.name) == -1) {
		*code = PE_ROUTE;
		return NULL;
	}
	if ((p = RB_FIND(part_tree, &parts, &pk)) == NULL) {
		if (part_prepare(topic, len, pk.name) == -1 ||
		    (p = part_load(pk.name, 1)) == NULL) {
			*code = PE_IO;
			return NULL;
		}
		log_debug("partition %s created", p->name);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->topic = strdup(t)) == NULL)
		fatal(EX_OSERR, NULL);
	r->part = p;
	r->topic_len = len;
	RB_INSERT(route_tree, &routes, r);
	part_topic(p, topic, len);
	route_last = r;
	return p;
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

/*
 * Fuzz busd.conf: the whole input is a configuration file (rules with
 * their group= and mode= options, ACL lines, comments), read as busd
 * reads it.  What parses is then used: topics routed, their options
 * looked up, and publish, seal and status judged for a few peers, as
 * busd does for each connection.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "acl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	conf_use(const struct ruleset *, const struct acl *);

static const char *const topics[] = {
	"orders", "orders.eu", "audit.login", "secret.x", "open.y", "a.1",
	"ops.disk", "x",
};

static void
conf_use(const struct ruleset *rs, const struct acl *a)
{
	static const gid_t groups[] = { 0, 65534, 100 };
	const struct acl_peer peers[] = {
		{ 0, 0, NULL, 0 },
		{ 65534, 65534, NULL, 0 },
		{ 1000, 1000, groups, 3 },
	};
	char part[BUS_TOPIC_MAX + 1];
	const char *line;
	size_t i, k, tl;
	long gid;
	int mode, op;

	for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
		tl = strlen(topics[i]);
		if (rules_route(rs, topics[i], tl, part) == 0 &&
		    strlen(part) > BUS_TOPIC_MAX)
			abort();
		if (rules_opts(rs, topics[i], tl, &gid, &mode) == 1 &&
		    gid == -1 && mode == 0)
			abort();
		if (mode != 0 && ((mode & 0700) != 0700 || (mode & 07022)))
			abort();
		for (k = 0; k < sizeof(peers) / sizeof(peers[0]); k++) {
			line = NULL;
			(void)acl_judge(a, ACL_PUBLISH, &peers[k], topics[i],
			    tl, &line);
			if (line == NULL)
				abort();
		}
	}
	for (op = ACL_SEAL; op <= ACL_STATUS; op++) {
		line = NULL;
		if (acl_judge(a, op, &peers[0], NULL, 0, &line) != 1 &&
		    acl_count(a) == 0)
			abort();	/* no line: everything is allowed */
		if (line == NULL)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ruleset rs;
	struct acl *a;
	char err[1024];
	FILE *f;

	if (size == 0)
		return 0;
	if ((f = fmemopen((void *)data, size, "r")) == NULL)
		abort();
	if ((a = acl_new()) == NULL)
		abort();
	memset(&rs, 0, sizeof(rs));
	err[0] = '\0';
	if (conf_read(&rs, a, f, "fuzz.conf", err, sizeof(err)) == 0)
		conf_use(&rs, a);
	else if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
		abort();	/* a refusal always says why */
	fclose(f);
	rules_free(&rs);
	acl_free(a);
	return 0;
}

/*
 * busd's access control: who is at the other end of each connection
 * (SO_PEERCRED, and its supplementary groups), what the ACL lines of
 * busd.conf let it do, and the group and mode of the partitions a rule
 * makes.  See busd(8).
 *
 * A publisher's topics are judged once per connection and topic: a small
 * direct-mapped cache in front of acl_judge(), valid while acl_gen is
 * unchanged (SIGHUP), so that the per-message cost is a hash and a
 * compare, with no allocation.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "acl.h"
#include "log.h"
#include "busd.h"

#define ACL_SLOTS	16		/* cached decisions per connection */

/* One cached decision: a topic, allowed or not, and by which line. */
struct acl_slot {
	uint64_t	 gen;		/* acl_gen it was judged under; 0: none */
	const char	*line;		/* the deciding line */
	uint16_t	 len;		/* of topic */
	uint8_t		 allow;		/* 1 allowed, 0 refused */
	char		 topic[BUS_TOPIC_MAX];
};

struct peer {
	struct acl_peer	 id;		/* uid, gid, groups for acl_judge() */
	pid_t		 pid;		/* at connect */
	int		 known;		/* SO_PEERCRED answered */
	int		 groups_read;	/* id.groups filled in */
	gid_t		*groups;	/* the supplementary groups */
	int		 logged;	/* a refusal was logged */
	struct acl_slot	*slots;		/* ACL_SLOTS, made on first use */
};

static int	peer_groups(struct client *);
static int	peer_groups_proc(struct peer *);
static void	acl_refused(struct client *, const char *, size_t, const char *);

struct acl	*acl;			/* busd.conf's ACL lines */
uint64_t	 acl_gen = 1;		/* changes when acl is replaced */

/* A peer whose credentials are unknown: no user, no group. */
static const struct acl_peer nobody = { (uid_t)-1, (gid_t)-1, NULL, 0 };

/* At accept: who is connecting (only its credentials; no lookup yet). */
void
acl_accept(struct client *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct peer *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return;		/* judged as nobody: see acl_allows() */
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
		p->id.uid = uc.uid;
		p->id.gid = uc.gid;
		p->pid = uc.pid;
		p->known = 1;
	}
	c->peer = p;
}

void
acl_client_free(struct client *c)
{
	if (c->peer == NULL)
		return;
	free(c->peer->groups);
	free(c->peer->slots);
	free(c->peer);
	c->peer = NULL;
}

/*
 * The supplementary groups the peer held when it connected:
 * SO_PEERGROUPS (Linux 4.13), else /proc/PID/status.  Those of the
 * process, not of the user database: a process that dropped a group
 * (setpriv --clear-groups, or a service's SupplementaryGroups=) is not
 * judged by it.
 */
static int
peer_groups(struct client *c)
{
	struct peer *p = c->peer;
	socklen_t len = 0;
	gid_t *g;

	if (p->groups_read)
		return 0;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == 0)
		p->id.ngroups = 0;	/* none */
	else if (errno == ERANGE && len > 0) {
		if ((g = malloc(len)) == NULL)
			return -1;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) ==
		    -1) {
			free(g);
			return -1;
		}
		p->groups = g;
		p->id.ngroups = len / sizeof(gid_t);
	} else if (peer_groups_proc(p) == -1)
		return -1;
	p->id.groups = p->groups;
	p->groups_read = 1;
	return 0;
}

/* The "Groups:" line of /proc/PID/status. */
static int
peer_groups_proc(struct peer *p)
{
	char path[64], *line = NULL, *s, *e;
	size_t cap = 0;
	unsigned long v;
	gid_t *ng;
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)p->pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (getline(&line, &cap, f) != -1) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (s = line + 7; ; s = e) {
			errno = 0;
			v = strtoul(s, &e, 10);
			if (e == s || errno != 0)
				break;
			if ((ng = reallocarray(p->groups, p->id.ngroups + 1,
			    sizeof(*ng))) == NULL)
				break;
			p->groups = ng;
			p->groups[p->id.ngroups++] = (gid_t)v;
		}
		rc = 0;
		break;
	}
	free(line);
	fclose(f);
	return rc;
}

/*
 * May c do op (ACL_SEAL, ACL_STATUS)?  1 if so; else 0 and an ERROR
 * text in msg naming the line that refuses it.
 */
int
acl_allows(struct client *c, enum acl_op op, char *msg, size_t len)
{
	const char *line;

	if (acl_count(acl) == 0)
		return 1;
	if (c->peer != NULL && acl_needs_groups(acl))
		(void)peer_groups(c);
	if (acl_judge(acl, op, c->peer && c->peer->known ? &c->peer->id :
	    &nobody, NULL, 0, &line))
		return 1;
	snprintf(msg, len, "%s refused to uid %ld: %s", op == ACL_SEAL ?
	    "SEAL" : "STATUS", c->peer && c->peer->known ?
	    (long)c->peer->id.uid : -1L, line);
	acl_refused(c, op == ACL_SEAL ? "(seal)" : "(status)", SIZE_MAX, line);
	return 0;
}

/*
 * May c publish to topic?  1 if so; else 0 and an ERROR text in msg
 * naming the topic and the line.
 */
int
acl_publish(struct client *c, const char *topic, size_t len, char *msg,
    size_t msglen)
{
	struct acl_slot *s;
	const char *line;
	uint32_t h = 2166136261u;
	size_t i;
	int allow;

	if (acl_count(acl) == 0)
		return 1;
	if (c->peer == NULL) {
		allow = acl_judge(acl, ACL_PUBLISH, &nobody, topic, len, &line);
		goto judged;
	}
	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)topic[i]) * 16777619u;
	if (c->peer->slots == NULL && (c->peer->slots = calloc(ACL_SLOTS,
	    sizeof(*c->peer->slots))) == NULL) {
		allow = acl_judge(acl, ACL_PUBLISH, &nobody, topic, len, &line);
		goto judged;
	}
	s = &c->peer->slots[h % ACL_SLOTS];
	if (s->gen == acl_gen && s->len == len &&
	    memcmp(s->topic, topic, len) == 0) {
		allow = s->allow;
		line = s->line;
	} else {
		if (acl_needs_groups(acl))
			(void)peer_groups(c);
		allow = acl_judge(acl, ACL_PUBLISH, c->peer->known ?
		    &c->peer->id : &nobody, topic, len, &line);
		s->gen = acl_gen;
		s->len = len;
		memcpy(s->topic, topic, len);
		s->allow = allow;
		s->line = line;
	}
judged:
	if (allow)
		return 1;
	snprintf(msg, msglen, "publish to '%.*s' refused to uid %ld: %s",
	    (int)len, topic, c->peer && c->peer->known ?
	    (long)c->peer->id.uid : -1L, line);
	acl_refused(c, topic, len, line);
	return 0;
}

/* Log a refusal, once per connection. */
static void
acl_refused(struct client *c, const char *what, size_t len, const char *line)
{
	if (c->peer != NULL && c->peer->logged)
		return;
	if (c->peer != NULL)
		c->peer->logged = 1;
	log_warnx("refused uid %ld gid %ld pid %ld: %.*s: %s",
	    c->peer && c->peer->known ? (long)c->peer->id.uid : -1L,
	    c->peer && c->peer->known ? (long)c->peer->id.gid : -1L,
	    c->peer && c->peer->known ? (long)c->peer->pid : -1L,
	    len > BUS_TOPIC_MAX ? BUS_TOPIC_MAX : (int)len, what, line);
}

/*
 * Before a partition is made for topic: if the rule routing it sets
 * group= or mode=, make its directory so (setgid, so that its files take
 * the group).  0, or -1 with errno.
 */
int
part_prepare(const char *topic, size_t len, const char *name)
{
	long gid;
	int mode, fd, e;

	if (rules_opts(&rules, topic, len, &gid, &mode) != 1)
		return 0;
	if (mode == 0)
		mode = 0750;
	if (mkdirat(logfd, name, mode & 0777) == -1)
		return errno == EEXIST ? 0 : -1;
	if ((fd = store_openat(logfd, name, O_RDONLY | O_DIRECTORY, 0)) == -1)
		return -1;
	if ((gid != -1 && fchown(fd, (uid_t)-1, (gid_t)gid) == -1) ||
	    fchmod(fd, mode | S_ISGID) == -1) {
		e = errno;
		close(fd);
		unlinkat(logfd, name, AT_REMOVEDIR);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

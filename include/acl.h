/*
 * Who may publish, seal and ask for status: the ACL lines of busd.conf,
 * judged against a socket peer's credentials (busd(8)).
 *
 *   allow|deny user NAME|UID publish REGEX
 *   allow|deny group NAME|GID publish REGEX
 *   allow|deny user|group NAME|ID seal
 *   allow|deny user|group NAME|ID status
 *
 * The first line that matches the peer and the request decides.  With
 * no line at all, everything is allowed; with any line, a publish or a
 * seal that no line allows is refused, and a status is allowed.
 */
#ifndef BUS_ACL_H
#define BUS_ACL_H

#include <sys/types.h>

#include <stddef.h>

enum acl_op {
	ACL_PUBLISH,
	ACL_SEAL,
	ACL_STATUS
};

/* The peer: SO_PEERCRED's uid and gid, and its supplementary groups. */
struct acl_peer {
	uid_t		 uid;
	gid_t		 gid;
	const gid_t	*groups;	/* supplementary groups */
	int		 ngroups;
};

struct acl;
struct acl *acl_new(void);
void	acl_free(struct acl *);
/*
 * Add one line ("allow user www publish web\..*"); where ("FILE:LINE")
 * is kept to name the line in messages.  -1 and a message in err if it
 * does not parse (unknown user or group, bad regex, ...).
 */
int	acl_add(struct acl *, const char *, const char *, char *, size_t);
/* Number of lines; 0 means that everything is allowed. */
size_t	acl_count(const struct acl *);
/*
 * Judge op (and for ACL_PUBLISH the topic) for peer: 1 allowed, 0
 * refused.  *line is the deciding line ("FILE:LINE: deny ...") or a
 * sentence saying that no line allows it.  No allocation.
 */
int	acl_judge(const struct acl *, enum acl_op, const struct acl_peer *,
	    const char *, size_t, const char **);
/* Does some line name a group (so the supplementary groups matter)? */
int	acl_needs_groups(const struct acl *);

#endif /* BUS_ACL_H */

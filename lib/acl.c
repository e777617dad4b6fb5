/*
 * Publish, seal and status ACLs: parse busd.conf's allow and deny lines
 * and judge a peer by them (acl.h, busd(8)).
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "acl.h"

struct acl_ent {
	int		 allow;		/* allow, else deny */
	int		 group;		/* id is a gid, else a uid */
	unsigned int	 id;		/* uid or gid */
	enum acl_op	 op;
	pcre2_code	*re;		/* ACL_PUBLISH: whole-topic match */
	char		*text;		/* "FILE:LINE: the line", for messages */
};

struct acl {
	struct acl_ent	*ents;		/* in order: the first match decides */
	size_t		 n;
	int		 groups;	/* some line names a group */
	pcre2_match_data *md;		/* shared: busd is single-threaded */
};

static char	*word(char **);
static int	 id_parse(const char *, int, unsigned int *);
static int	 peer_is(const struct acl_ent *, const struct acl_peer *);

struct acl *
acl_new(void)
{
	return calloc(1, sizeof(struct acl));
}

void
acl_free(struct acl *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++) {
		if (a->ents[i].re != NULL)
			pcre2_code_free(a->ents[i].re);
		free(a->ents[i].text);
	}
	free(a->ents);
	if (a->md != NULL)
		pcre2_match_data_free(a->md);
	free(a);
}

size_t
acl_count(const struct acl *a)
{
	return a == NULL ? 0 : a->n;
}

int
acl_needs_groups(const struct acl *a)
{
	return a != NULL && a->groups;
}

/* The next blank-separated word of *s, NUL-terminated; NULL at the end. */
static char *
word(char **s)
{
	char *p = *s, *w;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return NULL;
	w = p;
	while (*p != '\0' && !isspace((unsigned char)*p))
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*s = p;
	return w;
}

/* A user or group by name, or by number; -1 if there is no such one. */
static int
id_parse(const char *s, int group, unsigned int *id)
{
	struct passwd *pw;
	struct group *gr;
	unsigned long long v = 0;
	const char *p;

	if (*s >= '0' && *s <= '9') {
		for (p = s; *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (*p - '0');
			if (v >= (unsigned int)-1)
				return -1;
		}
		if (*p != '\0')
			return -1;
		*id = (unsigned int)v;
		return 0;
	}
	if (group) {
		if ((gr = getgrnam(s)) == NULL)
			return -1;
		*id = gr->gr_gid;
	} else {
		if ((pw = getpwnam(s)) == NULL)
			return -1;
		*id = pw->pw_uid;
	}
	return 0;
}

int
acl_add(struct acl *a, const char *line, const char *where, char *err,
    size_t errlen)
{
	struct acl_ent e, *ne;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE eoff;
	char *buf, *s, *w, *who, *re;
	int ec;

	memset(&e, 0, sizeof(e));
	if ((buf = strdup(line)) == NULL)
		goto nomem;
	s = buf;
	if ((w = word(&s)) != NULL && strcmp(w, "allow") == 0)
		e.allow = 1;
	else if (w == NULL || strcmp(w, "deny") != 0) {
		snprintf(err, errlen, "expected 'allow' or 'deny'");
		goto fail;
	}
	if ((w = word(&s)) != NULL && strcmp(w, "group") == 0)
		e.group = 1;
	else if (w == NULL || strcmp(w, "user") != 0) {
		snprintf(err, errlen, "expected 'user' or 'group' after '%s'",
		    e.allow ? "allow" : "deny");
		goto fail;
	}
	if ((who = word(&s)) == NULL) {
		snprintf(err, errlen, "expected a %s name or number",
		    e.group ? "group" : "user");
		goto fail;
	}
	if (id_parse(who, e.group, &e.id) == -1) {
		snprintf(err, errlen, "unknown %s '%.64s'", e.group ? "group" :
		    "user", who);
		goto fail;
	}
	if ((w = word(&s)) == NULL) {
		snprintf(err, errlen, "expected 'publish REGEX', 'seal' or "
		    "'status' after '%.64s'", who);
		goto fail;
	}
	if (strcmp(w, "publish") == 0) {
		e.op = ACL_PUBLISH;
		while (isspace((unsigned char)*s))
			s++;
		re = s;
		for (s = re + strlen(re); s > re &&
		    isspace((unsigned char)s[-1]); )
			*--s = '\0';
		if (*re == '\0') {
			snprintf(err, errlen, "'publish' needs a REGEX (the "
			    "topics, e.g. 'web\\..*')");
			goto fail;
		}
		e.re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
		    PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec, &eoff, NULL);
		if (e.re == NULL) {
			pcre2_get_error_message(ec, msg, sizeof(msg));
			snprintf(err, errlen, "invalid regex '%.128s' at offset "
			    "%zu: %s", re, (size_t)eoff, (char *)msg);
			goto fail;
		}
		pcre2_jit_compile(e.re, PCRE2_JIT_COMPLETE);
	} else if (strcmp(w, "seal") == 0 || strcmp(w, "status") == 0) {
		e.op = w[1] == 'e' ? ACL_SEAL : ACL_STATUS;
		if (word(&s) != NULL) {
			snprintf(err, errlen, "nothing may follow '%s'", w);
			goto fail;
		}
	} else {
		snprintf(err, errlen, "expected 'publish', 'seal' or 'status', "
		    "not '%.64s'", w);
		goto fail;
	}
	free(buf);
	buf = NULL;
	if (asprintf(&e.text, "%s: %s", where, line) == -1) {
		e.text = NULL;
		goto nomem;
	}
	if (a->md == NULL &&
	    (a->md = pcre2_match_data_create(1, NULL)) == NULL)
		goto nomem;
	if ((ne = reallocarray(a->ents, a->n + 1, sizeof(*ne))) == NULL)
		goto nomem;
	a->ents = ne;
	a->ents[a->n++] = e;
	if (e.group)
		a->groups = 1;
	return 0;
nomem:
	snprintf(err, errlen, "%s", strerror(errno));
fail:
	free(buf);
	free(e.text);
	if (e.re != NULL)
		pcre2_code_free(e.re);
	return -1;
}

/* Is the peer the user, or in the group, that the line names? */
static int
peer_is(const struct acl_ent *e, const struct acl_peer *p)
{
	int i;

	if (!e->group)
		return p->uid == e->id;
	if (p->gid == e->id)
		return 1;
	for (i = 0; i < p->ngroups; i++)
		if (p->groups[i] == e->id)
			return 1;
	return 0;
}

int
acl_judge(const struct acl *a, enum acl_op op, const struct acl_peer *p,
    const char *topic, size_t len, const char **line)
{
	const struct acl_ent *e;
	size_t i;

	if (a == NULL || a->n == 0) {
		*line = "no ACL line: all allowed";
		return 1;
	}
	for (i = 0; i < a->n; i++) {
		e = &a->ents[i];
		if (e->op != op || !peer_is(e, p))
			continue;
		if (op == ACL_PUBLISH && pcre2_match(e->re, (PCRE2_SPTR)topic,
		    len, 0, 0, a->md, NULL) < 0)
			continue;
		*line = e->text;
		return e->allow;
	}
	if (op == ACL_STATUS) {
		*line = "no ACL line for status: allowed";
		return 1;
	}
	*line = "no ACL line allows it";
	return 0;
}

/*
 * Topic routing rules (PREFIX:REGEX) and subscription pattern sets.
 * Every regex is PCRE2, matched against the whole topic.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "bus.h"
#include "acl.h"

struct rule {
	char		*prefix;	/* partition template, may hold {topic} */
	char		*source;	/* the rule as given, for messages */
	pcre2_code	*re;		/* anchored at both ends */
	long		 gid;		/* group= of its partitions, or -1 */
	int		 mode;		/* mode= of its partitions, or 0 */
};

static int	rule_opts_parse(char *, long *, int *, char *, size_t);

struct patset {
	pcre2_code		**re;	/* one per pattern */
	int			  n;
	pcre2_match_data	 *md;	/* shared; we are single-threaded */
};

static pcre2_code *
compile(const char *re, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE eoff;
	pcre2_code *c;
	int ec;

	c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
	    PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec, &eoff, NULL);
	if (c == NULL) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(err, errlen, "invalid regex '%s' at offset %zu: %s",
		    re, (size_t)eoff, (char *)msg);
		return NULL;
	}
	pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
	return c;
}

static int
match(pcre2_code *re, pcre2_match_data *md, const char *s, size_t n)
{
	return pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL) >= 0;
}

/* A prefix may hold topic characters and "{topic}", never start with '.'. */
static int
prefix_check(const char *p, char *err, size_t errlen)
{
	const char *s = p;

	if (*p == '\0' || *p == '.') {
		snprintf(err, errlen, "partition prefix '%s' is empty or "
		    "starts with '.'", p);
		return -1;
	}
	while (*s) {
		if (strncmp(s, "{topic}", 7) == 0) {
			s += 7;
			continue;
		}
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' &&
		    *s != '-') {
			snprintf(err, errlen, "partition prefix '%s' has '%c': "
			    "only [A-Za-z0-9._-] and {topic} are allowed", p, *s);
			return -1;
		}
		s++;
	}
	if (strlen(p) > BUS_TOPIC_MAX) {
		snprintf(err, errlen, "partition prefix longer than %d bytes",
		    BUS_TOPIC_MAX);
		return -1;
	}
	return 0;
}

/*
 * Options after the REGEX, each a blank and "group=NAME|GID" or
 * "mode=OCTAL": cut them off the end of spec into *gid and *mode.  A
 * regex that must end in such a word can end in "()" instead.
 */
static int
rule_opts_parse(char *spec, long *gid, int *mode, char *err, size_t errlen)
{
	struct group *gr;
	const char *errstr;
	char *sp, *w, *end;
	unsigned long v;

	*gid = -1;
	*mode = 0;
	for (;;) {
		for (end = spec + strlen(spec); end > spec &&
		    isspace((unsigned char)end[-1]); )
			*--end = '\0';
		for (sp = end; sp > spec && !isspace((unsigned char)sp[-1]); )
			sp--;
		if (sp == spec)
			return 0;
		w = sp;
		if (strncmp(w, "group=", 6) == 0 && *gid == -1) {
			if (w[6] >= '0' && w[6] <= '9') {
				*gid = strtonum(w + 6, 0, 0x7ffffffe, &errstr);
				if (errstr != NULL) {
					snprintf(err, errlen, "group '%s' is %s",
					    w + 6, errstr);
					return -1;
				}
			} else if ((gr = getgrnam(w + 6)) != NULL)
				*gid = gr->gr_gid;
			else {
				snprintf(err, errlen, "unknown group '%.64s'",
				    w + 6);
				return -1;
			}
		} else if (strncmp(w, "mode=", 5) == 0 && *mode == 0) {
			errno = 0;
			v = strtoul(w + 5, &end, 8);
			if (w[5] < '0' || w[5] > '7' || *end != '\0' ||
			    errno != 0 || v > 07777 || (v & 0700) != 0700 ||
			    (v & 07022) != 0) {
				snprintf(err, errlen, "mode '%.16s' is not a "
				    "directory mode like 0750 or 0700 (rwx for "
				    "the owner, no write for group or others, "
				    "no setuid, setgid or sticky bit)", w + 5);
				return -1;
			}
			*mode = (int)v;
		} else
			return 0;
		*sp = '\0';
	}
}

int
rules_add(struct ruleset *rs, const char *spec, char *err, size_t errlen)
{
	struct rule *nr, r;
	const char *colon = strchr(spec, ':');
	char emsg[300], *re = NULL;

	if (colon == NULL) {
		snprintf(err, errlen, "rule '%s': expected PREFIX:REGEX", spec);
		return -1;
	}
	memset(&r, 0, sizeof(r));
	if ((r.prefix = strndup(spec, colon - spec)) == NULL ||
	    (r.source = strdup(spec)) == NULL ||
	    (re = strdup(colon + 1)) == NULL)
		goto nomem;
	if (rule_opts_parse(re, &r.gid, &r.mode, emsg, sizeof(emsg)) == -1) {
		snprintf(err, errlen, "rule '%s': %s", spec, emsg);
		goto fail;
	}
	if (prefix_check(r.prefix, emsg, sizeof(emsg)) == -1) {
		snprintf(err, errlen, "rule '%s': %s", spec, emsg);
		goto fail;
	}
	if ((r.re = compile(re, emsg, sizeof(emsg))) == NULL) {
		snprintf(err, errlen, "rule '%s': %s", spec, emsg);
		goto fail;
	}
	if ((nr = reallocarray(rs->rules, rs->n + 1, sizeof(*nr))) == NULL)
		goto nomem;
	rs->rules = nr;
	rs->rules[rs->n++] = r;
	free(re);
	return 0;
nomem:
	snprintf(err, errlen, "rule '%s': %s", spec, strerror(errno));
fail:
	free(re);
	free(r.prefix);
	free(r.source);
	if (r.re)
		pcre2_code_free(r.re);
	return -1;
}

int
rules_load_conf(struct ruleset *rs, const char *path, char *err, size_t errlen)
{
	return conf_load(rs, NULL, path, err, errlen);
}

int
conf_load(struct ruleset *rs, struct acl *acl, const char *path, char *err,
    size_t errlen)
{
	FILE *f;
	int rc;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = conf_read(rs, acl, f, path, err, errlen);
	fclose(f);
	return rc;
}

int
conf_read(struct ruleset *rs, struct acl *acl, FILE *f, const char *path,
    char *err, size_t errlen)
{
	char *line = NULL, *s, *e, emsg[512], where[300];
	struct acl *scratch = NULL;
	size_t cap = 0, lineno = 0;
	int rc = 0;

	while (getline(&line, &cap, f) != -1) {
		lineno++;
		for (s = line; isspace((unsigned char)*s); s++)
			;
		for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); )
			*--e = '\0';
		if (*s == '\0' || *s == '#')
			continue;
		if ((strncmp(s, "allow", 5) == 0 &&
		    isspace((unsigned char)s[5])) ||
		    (strncmp(s, "deny", 4) == 0 &&
		    isspace((unsigned char)s[4]))) {
			/* Without an acl the line is checked, then dropped. */
			if (acl == NULL && scratch == NULL &&
			    (scratch = acl_new()) == NULL) {
				snprintf(err, errlen, "%s", strerror(errno));
				rc = -1;
				break;
			}
			snprintf(where, sizeof(where), "%s:%zu", path, lineno);
			if (acl_add(acl ? acl : scratch, s, where, emsg,
			    sizeof(emsg)) == -1) {
				snprintf(err, errlen, "%s: %s", where, emsg);
				rc = -1;
				break;
			}
			continue;
		}
		if (strncmp(s, "rule", 4) != 0 ||
		    !isspace((unsigned char)s[4])) {
			snprintf(err, errlen, "%s:%zu: unknown directive '%s'",
			    path, lineno, s);
			rc = -1;
			break;
		}
		for (s += 4; isspace((unsigned char)*s); s++)
			;
		if (rules_add(rs, s, emsg, sizeof(emsg)) == -1) {
			snprintf(err, errlen, "%s:%zu: %s", path, lineno, emsg);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	acl_free(scratch);
	free(line);
	return rc;
}

void
rules_free(struct ruleset *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++) {
		free(rs->rules[i].prefix);
		free(rs->rules[i].source);
		pcre2_code_free(rs->rules[i].re);
	}
	free(rs->rules);
	rs->rules = NULL;
	rs->n = 0;
}

int
rules_route(const struct ruleset *rs, const char *topic, size_t tlen,
    char *out)
{
	static pcre2_match_data *md;
	const char *p;
	size_t i, n;

	if (md == NULL && (md = pcre2_match_data_create(1, NULL)) == NULL)
		return -1;
	for (i = 0; i < rs->n; i++) {
		if (!match(rs->rules[i].re, md, topic, tlen))
			continue;
		n = 0;
		for (p = rs->rules[i].prefix; *p; ) {
			if (strncmp(p, "{topic}", 7) == 0) {
				if (n + tlen > BUS_TOPIC_MAX)
					return -1;
				memcpy(out + n, topic, tlen);
				n += tlen;
				p += 7;
			} else {
				if (n + 1 > BUS_TOPIC_MAX)
					return -1;
				out[n++] = *p++;
			}
		}
		out[n] = '\0';
		return 0;
	}
	/* The default rule: one partition per topic. */
	memcpy(out, topic, tlen);
	out[tlen] = '\0';
	return 0;
}

int
rules_opts(const struct ruleset *rs, const char *topic, size_t tlen,
    long *gid, int *mode)
{
	static pcre2_match_data *md;
	size_t i;

	*gid = -1;
	*mode = 0;
	if (md == NULL && (md = pcre2_match_data_create(1, NULL)) == NULL)
		return -1;
	for (i = 0; i < rs->n; i++) {
		if (!match(rs->rules[i].re, md, topic, tlen))
			continue;
		*gid = rs->rules[i].gid;
		*mode = rs->rules[i].mode;
		return *gid != -1 || *mode != 0;
	}
	return 0;
}

struct patset *
patset_new(char *const *pats, int n, char *err, size_t errlen)
{
	struct patset *ps;
	int i;

	if ((ps = calloc(1, sizeof(*ps))) == NULL ||
	    (ps->re = calloc(n, sizeof(*ps->re))) == NULL ||
	    (ps->md = pcre2_match_data_create(1, NULL)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		patset_free(ps);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if ((ps->re[i] = compile(pats[i], err, errlen)) == NULL) {
			patset_free(ps);
			return NULL;
		}
		ps->n++;
	}
	return ps;
}

int
patset_match(const struct patset *ps, const char *s, size_t n)
{
	int i;

	for (i = 0; i < ps->n; i++)
		if (match(ps->re[i], ps->md, s, n))
			return 1;
	return 0;
}

void
patset_free(struct patset *ps)
{
	int i;

	if (ps == NULL)
		return;
	for (i = 0; i < ps->n; i++)
		pcre2_code_free(ps->re[i]);
	free(ps->re);
	if (ps->md)
		pcre2_match_data_free(ps->md);
	free(ps);
}

/* A search regex whose first capture is extracted (bus-pub's -regex flags). */
struct capre {
	pcre2_code		*re;
	pcre2_match_data	*md;
};

struct capre *
capre_new(const char *re, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE eoff;
	struct capre *c;
	uint32_t ncap = 0;
	int ec;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	c->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec,
	    &eoff, NULL);
	if (c->re == NULL) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(err, errlen, "invalid regex '%s' at offset %zu: %s",
		    re, (size_t)eoff, (char *)msg);
		free(c);
		return NULL;
	}
	pcre2_pattern_info(c->re, PCRE2_INFO_CAPTURECOUNT, &ncap);
	if (ncap < 1) {
		snprintf(err, errlen, "regex '%s' has no capture group", re);
		pcre2_code_free(c->re);
		free(c);
		return NULL;
	}
	pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE);
	if ((c->md = pcre2_match_data_create_from_pattern(c->re, NULL)) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		pcre2_code_free(c->re);
		free(c);
		return NULL;
	}
	return c;
}

int
capre_first(struct capre *c, const void *s, size_t n, const char **cap,
    size_t *caplen)
{
	PCRE2_SIZE *ov;

	if (pcre2_match(c->re, s, n, 0, 0, c->md, NULL) < 2)
		return 0;
	ov = pcre2_get_ovector_pointer(c->md);
	if (ov[2] == PCRE2_UNSET)
		return 0;
	*cap = (const char *)s + ov[2];
	*caplen = ov[3] - ov[2];
	return 1;
}

void
capre_free(struct capre *c)
{
	if (c == NULL)
		return;
	pcre2_match_data_free(c->md);
	pcre2_code_free(c->re);
	free(c);
}

/*
 * bus-sub: --tag, --grep, --grep-v, --key and --key-v.
 *
 * Regular expressions are kept as given and compiled once every flag is
 * read, since --case-sensitive and --invert-grep may come after them.
 * Case follows journalctl -g: a pattern without an upper-case letter
 * (outside an escape such as \S or \p{Lu}) ignores case.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/types.h>

#include <ctype.h>
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <pcre2.h>

#include "bus.h"
#include "sub.h"

/* --tag NAME=VALUE, or NAME alone: the tag with any value. */
struct tagf {
	const char	*name;		/* the tag's name */
	size_t		 name_len;
	const char	*value;		/* NULL: any value */
	size_t		 value_len;
};

/* A regular expression on the payload or the key. */
struct ref {
	enum filter_on	 on;		/* what it is matched against */
	int		 invert;	/* --grep-v, --key-v: must not match */
	const char	*src;		/* as given */
	pcre2_code	*re;		/* compiled by filter_init() */
};

static int	has_upper(const char *);
static pcre2_code *regex(const struct ref *, int);
static int	re_match(pcre2_code *, const void *, size_t);
static int	tags_match(const struct bus_msg *);

static struct tagf *tagfs;		/* --tag, all must match */
static size_t	 ntagfs;
static struct ref *refs;		/* --grep, --key and the -v forms */
static size_t	 nrefs;
static pcre2_match_data *md;		/* for all of them */
static int	 filtering;		/* one of them is given */

/* --tag NAME=VALUE or NAME; arg is kept. */
void
filter_tag(const char *arg)
{
	struct tagf *t;
	const char *eq = strchr(arg, '=');

	if (eq == arg || *arg == '\0')
		errx(EX_USAGE, "--tag: '%s' is not NAME=VALUE or NAME", arg);
	if ((tagfs = reallocarray(tagfs, ntagfs + 1, sizeof(*tagfs))) == NULL)
		err(EX_OSERR, NULL);
	t = &tagfs[ntagfs++];
	t->name = arg;
	t->name_len = eq ? (size_t)(eq - arg) : strlen(arg);
	t->value = eq ? eq + 1 : NULL;
	t->value_len = eq ? strlen(eq + 1) : 0;
}

/* --grep, --grep-v (invert), --key, --key-v: re is kept. */
void
filter_regex(enum filter_on on, int invert, const char *re)
{
	if ((refs = reallocarray(refs, nrefs + 1, sizeof(*refs))) == NULL)
		err(EX_OSERR, NULL);
	refs[nrefs].on = on;
	refs[nrefs].invert = invert;
	refs[nrefs].src = re;
	refs[nrefs].re = NULL;
	nrefs++;
}

/*
 * The flags are parsed: compile, and get ready to match.  With
 * invert_grep (invert_key), every --grep (--key) must not match instead.
 */
void
filter_init(int case_sensitive, int invert_grep, int invert_key)
{
	size_t i;

	for (i = 0; i < nrefs; i++) {
		if ((refs[i].on == FILTER_PAYLOAD && invert_grep) ||
		    (refs[i].on == FILTER_KEY && invert_key))
			refs[i].invert = !refs[i].invert;
		refs[i].re = regex(&refs[i], case_sensitive ||
		    has_upper(refs[i].src));
	}
	if ((md = pcre2_match_data_create(1, NULL)) == NULL)
		err(EX_OSERR, NULL);
	filtering = ntagfs > 0 || nrefs > 0;
}

/* Does r pass every filter? */
/* Is a filter given? */
int
filter_any(void)
{
	return filtering;
}

int
filter_match(const struct bus_msg *r)
{
	const struct ref *f;
	size_t i;
	int m;

	if (!filtering)
		return 1;
	if (ntagfs > 0 && !tags_match(r))
		return 0;
	for (i = 0; i < nrefs; i++) {
		f = &refs[i];
		if (f->on == FILTER_KEY)
			/* Without a key, nothing matches. */
			m = r->key_len > 0 && re_match(f->re, r->key,
			    r->key_len);
		else
			m = re_match(f->re, r->payload, r->payload_len);
		if (m == f->invert)
			return 0;
	}
	return 1;
}

/*
 * Is there an upper-case letter in the pattern, other than the letter
 * of an escape (\S, \W, \D, \x{..}) or a property name (\p{Lu})?
 */
static int
has_upper(const char *re)
{
	const char *p;

	for (p = re; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			if ((*p == 'p' || *p == 'P' || *p == 'x') &&
			    p[1] == '{')
				while (p[1] != '\0' && *p != '}')
					p++;
			continue;
		}
		if (isupper((unsigned char)*p))
			return 1;
	}
	return 0;
}

static pcre2_code *
regex(const struct ref *f, int case_sensitive)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE eoff;
	pcre2_code *c;
	const char *opt;
	int ec;

	if (f->on == FILTER_KEY)
		opt = f->invert ? "--key-v" : "--key";
	else
		opt = f->invert ? "--grep-v" : "--grep";
	c = pcre2_compile((PCRE2_SPTR)f->src, PCRE2_ZERO_TERMINATED,
	    case_sensitive ? 0 : PCRE2_CASELESS, &ec, &eoff, NULL);
	if (c == NULL) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		errx(EX_USAGE, "%s: invalid regex '%s' at offset %zu: %s", opt,
		    f->src, (size_t)eoff, (char *)msg);
	}
	pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
	return c;
}

static int
re_match(pcre2_code *re, const void *s, size_t n)
{
	return pcre2_match(re, (PCRE2_SPTR)(s ? s : ""), n, 0, 0, md,
	    NULL) >= 0;
}

static int
tags_match(const struct bus_msg *r)
{
	struct bus_tag t;
	size_t i, pos;
	int ok;

	for (i = 0; i < ntagfs; i++) {
		pos = 0;
		ok = 0;
		while (!ok && tags_next(r->tags, r->tags_len, &pos, &t) == 1)
			ok = t.name_len == tagfs[i].name_len &&
			    memcmp(t.name, tagfs[i].name, t.name_len) == 0 &&
			    (tagfs[i].value == NULL ||
			    (t.value_len == tagfs[i].value_len &&
			    memcmp(t.value, tagfs[i].value, t.value_len) == 0));
		if (!ok)
			return 0;
	}
	return 1;
}

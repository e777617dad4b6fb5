/*
 * bus-sub: --tag, --key and --grep.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/types.h>

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

static pcre2_code *regex(const char *, const char *);
static int	re_match(pcre2_code *, const void *, size_t);
static int	tags_match(const struct bus_msg *);

static struct tagf *tagfs;		/* --tag, all must match */
static size_t	 ntagfs;
static pcre2_code *grep_re;		/* --grep, on the payload */
static pcre2_code *key_re;		/* --key, on the key */
static pcre2_match_data *md;		/* for both */
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

/* --grep REGEX, on the payload. */
void
filter_grep(const char *re)
{
	if (grep_re != NULL)
		errx(EX_USAGE, "--grep may be given once");
	grep_re = regex("--grep", re);
}

/* --key REGEX, on the key. */
void
filter_key(const char *re)
{
	if (key_re != NULL)
		errx(EX_USAGE, "--key may be given once");
	key_re = regex("--key", re);
}

/* The flags are parsed: get ready to match. */
void
filter_init(void)
{
	if ((md = pcre2_match_data_create(1, NULL)) == NULL)
		err(EX_OSERR, NULL);
	filtering = ntagfs > 0 || key_re != NULL || grep_re != NULL;
}

/* Does r pass every filter? */
int
filter_match(const struct bus_msg *r)
{
	if (!filtering)
		return 1;
	if (ntagfs > 0 && !tags_match(r))
		return 0;
	if (key_re != NULL && (r->key_len == 0 ||
	    !re_match(key_re, r->key, r->key_len)))
		return 0;
	if (grep_re != NULL && !re_match(grep_re, r->payload, r->payload_len))
		return 0;
	return 1;
}

static pcre2_code *
regex(const char *opt, const char *re)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE eoff;
	pcre2_code *c;
	int ec;

	c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec,
	    &eoff, NULL);
	if (c == NULL) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		errx(EX_USAGE, "%s: invalid regex '%s' at offset %zu: %s", opt,
		    re, (size_t)eoff, (char *)msg);
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

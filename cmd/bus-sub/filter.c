/*
 * bus-sub: --tag, --key and --grep.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <pcre2.h>

#include "bus.h"
#include "cursor.h"
#include "group.h"
#include "sub.h"

static int
re_match(pcre2_code *re, const void *s, size_t n)
{
	return pcre2_match(re, (PCRE2_SPTR)(s ? s : ""), n, 0, 0, md,
	    NULL) >= 0;
}

static int
tags_match(const struct bus_rec *r)
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

/* Does r pass the patterns and every filter? */
int
wanted(const struct sub *s, const struct bus_rec *r)
{
	if (!s->all_match && !patset_match(pats, r->topic, r->topic_len))
		return 0;
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

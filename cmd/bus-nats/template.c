/*
 * Templates of subjects (export) and topics (import): literal text with
 * {field} in it, "bus.{topic}".  Parsed once at start, where a field the
 * caller does not know is an error; expanded per message into the
 * caller's buffer, without allocating.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

/* One piece: literal text, or a field. */
struct piece {
	const char	*text;		/* literal: points into tmpl->src */
	size_t		 len;
	int		 field;		/* index of the field, or -1 */
};

struct tmpl {
	char		*src;		/* the template, as given */
	struct piece	*pieces;
	size_t		 npieces;
	size_t		 nfields;	/* fields the caller knows */
};

struct tmpl *
tmpl_parse(const char *s, const char *const *fields, char *emsg, size_t elen)
{
	struct tmpl *t;
	struct piece *pc;
	const char *p, *open, *close;
	size_t n, k;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->src = strdup(s)) == NULL ||
	    (t->pieces = calloc(strlen(s) + 1, sizeof(*t->pieces))) == NULL) {
		snprintf(emsg, elen, "out of memory");
		tmpl_free(t);
		return NULL;
	}
	while (fields[t->nfields] != NULL)
		t->nfields++;
	if (*s == '\0') {
		snprintf(emsg, elen, "an empty template");
		tmpl_free(t);
		return NULL;
	}
	for (p = t->src; *p != '\0';) {
		pc = &t->pieces[t->npieces++];
		if ((open = strchr(p, '{')) != p) {
			n = open != NULL ? (size_t)(open - p) : strlen(p);
			if ((close = memchr(p, '}', n)) != NULL) {
				snprintf(emsg, elen, "'}' without '{' at "
				    "byte %zu", (size_t)(close - t->src) + 1);
				tmpl_free(t);
				return NULL;
			}
			pc->text = p;
			pc->len = n;
			pc->field = -1;
			p += n;
			continue;
		}
		if ((close = strchr(p, '}')) == NULL) {
			snprintf(emsg, elen, "'{' without '}' at byte %zu",
			    (size_t)(p - t->src) + 1);
			tmpl_free(t);
			return NULL;
		}
		n = close - p - 1;
		for (k = 0; fields[k] != NULL; k++)
			if (strlen(fields[k]) == n &&
			    memcmp(fields[k], p + 1, n) == 0)
				break;
		if (fields[k] == NULL) {
			char known[256] = "";

			for (k = 0; fields[k] != NULL; k++) {
				strlcat(known, k ? ", {" : "{", sizeof(known));
				strlcat(known, fields[k], sizeof(known));
				strlcat(known, "}", sizeof(known));
			}
			snprintf(emsg, elen, "unknown field {%.*s} (known: %s)",
			    (int)n, p + 1, known);
			tmpl_free(t);
			return NULL;
		}
		pc->field = (int)k;
		p = close + 1;
	}
	return t;
}

size_t
tmpl_nfields(const struct tmpl *t)
{
	return t->nfields;
}

/* Does the template name field i? */
int
tmpl_uses(const struct tmpl *t, int field)
{
	size_t k;

	for (k = 0; k < t->npieces; k++)
		if (t->pieces[k].field == field)
			return 1;
	return 0;
}

/* Into buf (NUL-terminated): the length, or -1 if it does not fit. */
ssize_t
tmpl_expand(const struct tmpl *t, const char *const *vals, const size_t *lens,
    char *buf, size_t cap)
{
	const struct piece *pc;
	size_t len = 0, k, n;
	const char *v;

	for (k = 0; k < t->npieces; k++) {
		pc = &t->pieces[k];
		if (pc->field == -1) {
			v = pc->text;
			n = pc->len;
		} else {
			v = vals[pc->field];
			n = lens[pc->field];
		}
		if (n >= cap - len)
			return -1;
		memcpy(buf + len, v, n);
		len += n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/*
 * A NATS subject filter taking every subject the template can make: its
 * literal tokens before the first field, then ">" ("bus.{topic}" gives
 * "bus.>").  0, or -1 if that would be ">" alone or does not fit.
 */
int
tmpl_filter(const struct tmpl *t, char *buf, size_t cap)
{
	const struct piece *pc = &t->pieces[0];
	size_t n = 0;
	const char *dot;

	if (pc->field == -1 && t->npieces == 1) {
		/* No field: the subject itself. */
		if (strlcpy(buf, t->src, cap) >= cap)
			return -1;
		return 0;
	}
	if (pc->field == -1) {
		/* Up to the last dot: a field may share a token. */
		for (dot = pc->text + pc->len; dot > pc->text; dot--)
			if (dot[-1] == '.')
				break;
		n = dot - pc->text;
	}
	if (n == 0 || n + 2 > cap)
		return -1;
	memcpy(buf, pc->text, n);
	buf[n] = '>';
	buf[n + 1] = '\0';
	return 0;
}

void
tmpl_free(struct tmpl *t)
{
	if (t == NULL)
		return;
	free(t->pieces);
	free(t->src);
	free(t);
}

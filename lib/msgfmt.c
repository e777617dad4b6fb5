/*
 * -F FORMAT: the compiler (see msgfmt.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "msgfmt.h"

static int	add_op(struct msgfmt *, int, size_t, size_t);
static void	bad_directive(const char *, const char *, char *, size_t);

static const char directives[] = "tpokKsSRhTeu";

/* Append an op; a literal right after a literal joins it. */
static int
add_op(struct msgfmt *f, int tok, size_t off, size_t len)
{
	struct msgfmt_op *n;

	if (tok == MSGFMT_LIT && f->nops > 0 &&
	    f->ops[f->nops - 1].tok == MSGFMT_LIT) {
		f->ops[f->nops - 1].len += len;
		return 0;
	}
	/* At most one op per format byte: fmt's length bounds them. */
	if ((n = reallocarray(f->ops, f->nops + 1, sizeof(*n))) == NULL)
		return -1;
	f->ops = n;
	f->ops[f->nops].tok = tok;
	f->ops[f->nops].off = off;
	f->ops[f->nops].len = len;
	f->nops++;
	return 0;
}

/* The '%' at p of fmt starts no directive: say why. */
static void
bad_directive(const char *fmt, const char *p, char *err, size_t errlen)
{
	if (p[1] == '\0')
		snprintf(err, errlen, "'%%' at the end (offset %zu): write "
		    "%%%% for a %%", (size_t)(p - fmt));
	else
		snprintf(err, errlen, "unknown directive '%%%c' at offset "
		    "%zu (known: %%t %%p %%o %%k %%K %%s %%S %%R %%h %%T %%e "
		    "%%u %%%%)", p[1], (size_t)(p - fmt));
}

int
msgfmt_compile(const char *fmt, struct msgfmt *f, char *err, size_t errlen)
{
	const char *p;
	char c;
	int h, l;

	memset(f, 0, sizeof(*f));
	if (errlen > 0)
		err[0] = '\0';
	/* Literals never grow: escapes are longer than their bytes. */
	if ((f->lit = malloc(strlen(fmt) + 1)) == NULL)
		return -1;
	for (p = fmt; *p != '\0'; p++) {
		if (*p == '%') {
			if (p[1] == '%')
				c = '%';
			else if (p[1] != '\0' && strchr(directives, p[1])) {
				if (add_op(f, p[1], 0, 0) == -1)
					goto nomem;
				p++;
				continue;
			} else {
				bad_directive(fmt, p, err, errlen);
				goto bad;
			}
			p++;
		} else if (*p == '\\') {
			switch (p[1]) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case '0': c = '\0'; break;
			case '\\': c = '\\'; break;
			case 'x':
				if ((h = hexval(p[2])) == -1 ||
				    (l = hexval(p[3])) == -1) {
					snprintf(err, errlen, "'\\x' at offset "
					    "%zu needs two hex digits",
					    (size_t)(p - fmt));
					goto bad;
				}
				c = (char)(h << 4 | l);
				p += 2;
				break;
			case '\0':
				snprintf(err, errlen, "'\\' at the end (offset "
				    "%zu): write \\\\ for a \\",
				    (size_t)(p - fmt));
				goto bad;
			default:
				snprintf(err, errlen, "unknown escape '\\%c' "
				    "at offset %zu (known: \\n \\t \\r \\0 "
				    "\\\\ \\xHH)", p[1], (size_t)(p - fmt));
				goto bad;
			}
			p++;
		} else
			c = *p;
		if (add_op(f, MSGFMT_LIT, f->litlen, 1) == -1)
			goto nomem;
		f->lit[f->litlen++] = c;
	}
	return 0;
nomem:
	msgfmt_free(f);
	errno = ENOMEM;
	return -1;
bad:
	msgfmt_free(f);
	errno = EINVAL;
	return -1;
}

void
msgfmt_free(struct msgfmt *f)
{
	free(f->ops);
	free(f->lit);
	f->ops = NULL;
	f->lit = NULL;
	f->nops = f->litlen = 0;
}

/*
 * Fuzz bus-sub's -F compiler (msgfmt.h) with the input up to its first
 * NUL as the format.  A format compiles, or fails with a reason; what
 * compiles is well formed (literals inside the literal buffer, known
 * directives only), and written back in canonical form (every literal
 * byte as \xHH, every directive as %c) it compiles to the same thing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgfmt.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	check(const struct msgfmt *, size_t);
static char	*canonical(const struct msgfmt *);
static void	same(const struct msgfmt *, const struct msgfmt *);

/* Well formed: ops in bounds, literals covering lit exactly, in order. */
static void
check(const struct msgfmt *f, size_t srclen)
{
	size_t i, at = 0;

	if (f->litlen > srclen || f->nops > srclen)
		abort();
	for (i = 0; i < f->nops; i++) {
		if (f->ops[i].tok == MSGFMT_LIT) {
			if (f->ops[i].off != at || f->ops[i].len == 0 ||
			    f->ops[i].len > f->litlen - at)
				abort();
			/* Adjacent literals are joined. */
			if (i > 0 && f->ops[i - 1].tok == MSGFMT_LIT)
				abort();
			at += f->ops[i].len;
		} else if (strchr("tpokKsSRhTeu", f->ops[i].tok) == NULL ||
		    f->ops[i].tok == '\0')
			abort();
	}
	if (at != f->litlen)
		abort();
}

static char *
canonical(const struct msgfmt *f)
{
	char *s, *p;
	size_t i, k;

	if ((s = p = malloc(4 * f->litlen + 2 * f->nops + 1)) == NULL)
		abort();
	for (i = 0; i < f->nops; i++) {
		if (f->ops[i].tok != MSGFMT_LIT) {
			*p++ = '%';
			*p++ = f->ops[i].tok;
			continue;
		}
		for (k = 0; k < f->ops[i].len; k++)
			p += sprintf(p, "\\x%02X",
			    (unsigned char)f->lit[f->ops[i].off + k]);
	}
	*p = '\0';
	return s;
}

static void
same(const struct msgfmt *a, const struct msgfmt *b)
{
	size_t i;

	if (a->nops != b->nops || a->litlen != b->litlen ||
	    memcmp(a->lit, b->lit, a->litlen) != 0)
		abort();
	for (i = 0; i < a->nops; i++)
		if (a->ops[i].tok != b->ops[i].tok ||
		    a->ops[i].off != b->ops[i].off ||
		    a->ops[i].len != b->ops[i].len)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgfmt f, g;
	char *src, *canon, err[256];
	size_t n;

	if ((src = malloc(size + 1)) == NULL)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';
	n = strlen(src);
	if (msgfmt_compile(src, &f, err, sizeof(err)) == -1) {
		/* A reason, unless memory ran out. */
		if (errno != ENOMEM && err[0] == '\0')
			abort();
		free(src);
		return 0;
	}
	check(&f, n);
	canon = canonical(&f);
	if (msgfmt_compile(canon, &g, err, sizeof(err)) == -1)
		abort();
	check(&g, strlen(canon));
	same(&f, &g);
	msgfmt_free(&g);
	msgfmt_free(&f);
	free(canon);
	free(src);
	return 0;
}

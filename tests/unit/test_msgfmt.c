/*
 * bus-sub's -F compiler: directives, escapes, literals joined, and every
 * malformed format refused with a reason naming it and its offset.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "msgfmt.h"

static int	compiles_to(const char *, const char *const *, size_t);
static int	refused(const char *, const char *);
static void	test_directives(void);
static void	test_escapes(void);
static void	test_errors(void);

/* fmt compiles to the ops spelled by want: a directive letter, or "=lit". */
static int
compiles_to(const char *fmt, const char *const *want, size_t nwant)
{
	struct msgfmt f;
	char e[256];
	size_t i, len;
	int ok = 1;

	if (msgfmt_compile(fmt, &f, e, sizeof(e)) == -1)
		return 0;
	if (f.nops != nwant)
		ok = 0;
	for (i = 0; ok && i < nwant; i++) {
		if (want[i][0] == '=') {
			len = strlen(want[i] + 1);
			/* "=\0" in a want spells a NUL byte. */
			if (len == 0)
				len = 1;
			ok = f.ops[i].tok == MSGFMT_LIT &&
			    f.ops[i].len == len &&
			    memcmp(f.lit + f.ops[i].off, want[i] + 1, len) == 0;
		} else
			ok = f.ops[i].tok == want[i][0];
	}
	msgfmt_free(&f);
	return ok;
}

/* fmt is refused with a reason holding what. */
static int
refused(const char *fmt, const char *what)
{
	struct msgfmt f;
	char e[256];

	if (msgfmt_compile(fmt, &f, e, sizeof(e)) == 0) {
		msgfmt_free(&f);
		return 0;
	}
	return errno == EINVAL && strstr(e, what) != NULL;
}

static void
test_directives(void)
{
	const char *const a[] = { "t", "= ", "p", "=:", "o", "= ", "s", "=\n" };
	const char *const b[] = { "K", "k", "S", "R", "h", "T", "e", "u" };
	const char *const c[] = { "=100%" };
	const char *const d[] = { "=x" };

	CHECK(compiles_to("%t %p:%o %s\\n", a, 8));
	CHECK(compiles_to("%K%k%S%R%h%T%e%u", b, 8));
	/* %% is a literal, joined to its neighbours. */
	CHECK(compiles_to("100%%", c, 1));
	CHECK(compiles_to("x", d, 1));
	CHECK(compiles_to("", NULL, 0));
}

static void
test_escapes(void)
{
	const char *const a[] = { "=A\r\t\\z" };
	const char *const b[] = { "=\0", "s" };
	const char *const c[] = { "=\xff" "a" };

	CHECK(compiles_to("\\x41\\r\\t\\\\\\x7a", a, 1));
	CHECK(compiles_to("\\0%s", b, 2));
	CHECK(compiles_to("\\xFfa", c, 1));
}

static void
test_errors(void)
{
	CHECK(refused("%q", "unknown directive '%q' at offset 0"));
	CHECK(refused("ab%", "'%' at the end (offset 2)"));
	CHECK(refused("x\\q", "unknown escape '\\q' at offset 1"));
	CHECK(refused("\\", "'\\' at the end (offset 0)"));
	CHECK(refused("\\x4", "'\\x' at offset 0 needs two hex digits"));
	CHECK(refused("\\xg1", "needs two hex digits"));
	CHECK(refused("%s%", "at the end"));
	/* %d of printf is not ours. */
	CHECK(refused("%d", "unknown directive"));
}

int
main(void)
{
	RUN(test_directives);
	RUN(test_escapes);
	RUN(test_errors);
	return unit_done();
}

/*
 * Routing rules (PREFIX:REGEX), busd.conf parsing, subscription patterns.
 */
#include "unit.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdio.h>
#include <string.h>

#include <pcre2.h>

#include "bus.h"
#include "hash.h"

/* PCRE2's own message for a regex that does not compile. */
static const char *
pcre2_msg(const char *re)
{
	static char msg[256];
	PCRE2_SIZE off;
	pcre2_code *c;
	int ec;

	c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec, &off,
	    NULL);
	if (c != NULL) {
		pcre2_code_free(c);
		return "(it compiles)";
	}
	pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof(msg));
	return msg;
}

static void
route_is(const struct ruleset *rs, const char *topic, const char *want,
    int line)
{
	char out[BUS_TOPIC_MAX + 1 + 16];
	int rc;

	memset(out, 'Z', sizeof(out));
	rc = rules_route(rs, topic, strlen(topic), out);
	if (!unit_report(rc == 0 && strcmp(out, want) == 0, __FILE__, line))
		unit_more("route \"%s\": rc %d, \"%.*s\"; want \"%s\"\n", topic,
		    rc, rc == 0 ? (int)strnlen(out, sizeof(out)) : 0, out, want);
}

#define ROUTE(rs, t, w)	route_is(rs, t, w, __LINE__)

static void
test_rules_valid(void)
{
	struct ruleset rs = { NULL, 0 };
	char err[512] = "";

	CHECK_EQ_I64(rules_add(&rs, "web:web\\..*", err, sizeof(err)), 0);
	CHECK_EQ_I64(rules_add(&rs, "app-{topic}:app\\..*", err, sizeof(err)), 0);
	CHECK_EQ_I64(rules_add(&rs, "{topic}.{topic}:dbl", err, sizeof(err)), 0);
	CHECK_EQ_I64(rules_add(&rs, "ab:a|ab", err, sizeof(err)), 0);
	CHECK_EQ_I64(rules_add(&rs, "xy:x|y", err, sizeof(err)), 0);
	CHECK_EQ_I64(rules_add(&rs, "_-.9:q:r", err, sizeof(err)), 0);
	CHECK_EQ_U64(rs.n, 6);

	ROUTE(&rs, "web.access", "web");
	ROUTE(&rs, "web.error.x", "web");
	ROUTE(&rs, "web", "web");		/* the default, not the rule */
	ROUTE(&rs, "webx", "webx");
	ROUTE(&rs, "xweb.access", "xweb.access");	/* anchored at the start */
	ROUTE(&rs, "app.billing", "app-app.billing");
	ROUTE(&rs, "dbl", "dbl.dbl");
	ROUTE(&rs, "dblx", "dblx");		/* anchored at the end */
	ROUTE(&rs, "ab", "ab");
	ROUTE(&rs, "a", "ab");
	ROUTE(&rs, "x", "xy");
	ROUTE(&rs, "y", "xy");
	ROUTE(&rs, "xy", "xy");			/* default: same name */
	ROUTE(&rs, "q:r", "_-.9");		/* the first ':' splits */
	ROUTE(&rs, "WEB.access", "WEB.access");	/* case sensitive */
	ROUTE(&rs, "zzz", "zzz");		/* no rule: the topic itself */
	rules_free(&rs);
	CHECK_EQ_U64(rs.n, 0);
	CHECK(rs.rules == NULL);
	ROUTE(&rs, "web.access", "web.access");	/* empty ruleset */
}

/* The length argument, not a NUL, ends the topic. */
static void
test_rules_length(void)
{
	struct ruleset rs = { NULL, 0 };
	char err[512], out[BUS_TOPIC_MAX + 1];

	CHECK_EQ_I64(rules_add(&rs, "w:web", err, sizeof(err)), 0);
	CHECK_EQ_I64(rules_route(&rs, "web.access", 3, out), 0);
	CHECK(strcmp(out, "w") == 0);
	CHECK_EQ_I64(rules_route(&rs, "abcdef", 3, out), 0);
	CHECK(strcmp(out, "abc") == 0);
	rules_free(&rs);
}

static void
test_rules_order(void)
{
	struct ruleset a = { NULL, 0 }, b = { NULL, 0 };
	char err[512];

	rules_add(&a, "first:a.*", err, sizeof(err));
	rules_add(&a, "second:ab.*", err, sizeof(err));
	rules_add(&b, "second:ab.*", err, sizeof(err));
	rules_add(&b, "first:a.*", err, sizeof(err));
	ROUTE(&a, "abc", "first");
	ROUTE(&b, "abc", "second");
	ROUTE(&b, "acc", "first");
	ROUTE(&a, "b", "b");
	rules_free(&a);
	rules_free(&b);
}

static void
test_rules_bad_regex(void)
{
	struct ruleset rs = { NULL, 0 };
	char err[512];
	static const char *bad[] = { "p:(unclosed", "p:a[", "p:*x", "p:a{2,1}",
	    "p:(?<n", "p:\\" };
	size_t i;

	rules_add(&rs, "ok:ok", err, sizeof(err));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_EQ_I64(rules_add(&rs, bad[i], err, sizeof(err)), -1);
		CHECK_STR_HAS(err, bad[i]);
		CHECK_STR_HAS(err, pcre2_msg(bad[i] + 2));
	}
	CHECK_EQ_U64(rs.n, 1);		/* nothing half-added */
	err[0] = '\0';
	CHECK_EQ_I64(rules_add(&rs, "nocolon", err, sizeof(err)), -1);
	CHECK_STR_HAS(err, "nocolon");
	CHECK_EQ_U64(rs.n, 1);
	ROUTE(&rs, "ok", "ok");
	/* a small err buffer is still a string */
	memset(err, 'x', sizeof(err));
	CHECK_EQ_I64(rules_add(&rs, "p:(", err, 8), -1);
	CHECK_EQ_U64(strlen(err), 7);
	rules_free(&rs);
}

static void
test_rules_bad_prefix(void)
{
	struct ruleset rs = { NULL, 0 };
	char err[512], longp[300 + 8];
	static const char *bad[] = { ":x", ".x:x", "..:x", "a/b:x", "a b:x",
	    "../etc:x", "/abs:x", "a\tb:x", "{topic:x", "{Topic}:x",
	    "caf\xc3\xa9:x", "a*:x" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (!CHECK_EQ_I64(rules_add(&rs, bad[i], err, sizeof(err)), -1))
			fprintf(stderr, "  prefix of '%s' accepted\n", bad[i]);
		CHECK(err[0] != '\0');
	}
	CHECK_EQ_U64(rs.n, 0);
	memset(longp, 'p', 256);
	strcpy(longp + 256, ":x");
	CHECK_EQ_I64(rules_add(&rs, longp, err, sizeof(err)), -1);
	strcpy(longp + 255, ":x");		/* 255 is fine */
	CHECK_EQ_I64(rules_add(&rs, longp, err, sizeof(err)), 0);
	rules_free(&rs);
}

static void
test_rules_expansion_too_long(void)
{
	struct ruleset rs = { NULL, 0 };
	char err[512], t[BUS_TOPIC_MAX + 1], out[BUS_TOPIC_MAX + 1 + 64];
	char want[BUS_TOPIC_MAX + 1];

	CHECK_EQ_I64(rules_add(&rs, "{topic}{topic}:d.*", err, sizeof(err)), 0);
	CHECK_EQ_I64(rules_add(&rs, "x{topic}:x.*", err, sizeof(err)), 0);
	memset(t, 'd', sizeof(t));
	CHECK_EQ_I64(rules_route(&rs, t, 127, out), 0);	/* 254 bytes */
	CHECK_EQ_U64(strlen(out), 254);
	CHECK_EQ_I64(rules_route(&rs, t, 128, out), -1);	/* 256 bytes */
	CHECK_EQ_I64(rules_route(&rs, t, 255, out), -1);
	memset(t, 'x', sizeof(t));
	CHECK_EQ_I64(rules_route(&rs, t, 254, out), 0);	/* exactly 255 */
	memset(want, 'x', 255);
	CHECK_MEM(out, strlen(out), want, 255);
	CHECK_EQ_I64(rules_route(&rs, t, 255, out), -1);	/* 256 */
	rules_free(&rs);
}

static char *
write_file(const char *dir, const char *name, const char *text)
{
	static char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	return p;
}

static void
test_rules_conf(void)
{
	struct ruleset rs = { NULL, 0 };
	char *dir = unit_tmpdir(), err[1024], want[4200], *p;

	p = write_file(dir, "good.conf",
	    "# routing for the test\n"
	    "\n"
	    "   \t\n"
	    "rule web:web\\..*\n"
	    "  # indented comment\n"
	    "\trule\tapp-{topic}:app\\..*   \n"
	    "rule    all:.*\n"
	    "# last line without a newline\n"
	    "rule never:never");
	err[0] = '\0';
	if (!CHECK_EQ_I64(rules_load_conf(&rs, p, err, sizeof(err)), 0))
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ_U64(rs.n, 4);
	ROUTE(&rs, "web.access", "web");
	ROUTE(&rs, "app.x", "app-app.x");	/* trailing blanks trimmed */
	ROUTE(&rs, "other", "all");
	rules_free(&rs);

	p = write_file(dir, "unknown.conf",
	    "# comment\n"
	    "rule a:a\n"
	    "\n"
	    "route b:b\n"
	    "rule c:c\n");
	err[0] = '\0';
	CHECK_EQ_I64(rules_load_conf(&rs, p, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4:", p);
	CHECK_STR_HAS(err, want);
	CHECK_STR_HAS(err, "unknown directive");
	CHECK_STR_HAS(err, "route b:b");
	rules_free(&rs);

	p = write_file(dir, "rules.conf", "rules a:a\n");	/* not "rule" */
	CHECK_EQ_I64(rules_load_conf(&rs, p, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:1:", p);
	CHECK_STR_HAS(err, want);
	rules_free(&rs);

	p = write_file(dir, "badre.conf", "rule a:a\n\n\nrule b:(b\n");
	CHECK_EQ_I64(rules_load_conf(&rs, p, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4:", p);
	CHECK_STR_HAS(err, want);
	CHECK_STR_HAS(err, "b:(b");
	CHECK_STR_HAS(err, pcre2_msg("(b"));
	rules_free(&rs);

	p = write_file(dir, "badprefix.conf", "rule a/b:x\n");
	CHECK_EQ_I64(rules_load_conf(&rs, p, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:1:", p);
	CHECK_STR_HAS(err, want);
	rules_free(&rs);

	p = write_file(dir, "crlf.conf", "# dos\r\nrule w:web\\..*\r\n\r\n");
	err[0] = '\0';
	if (!CHECK_EQ_I64(rules_load_conf(&rs, p, err, sizeof(err)), 0))
		fprintf(stderr, "  %s\n", err);
	ROUTE(&rs, "web.access", "w");
	rules_free(&rs);

	p = write_file(dir, "empty.conf", "");
	CHECK_EQ_I64(rules_load_conf(&rs, p, err, sizeof(err)), 0);
	CHECK_EQ_U64(rs.n, 0);

	snprintf(want, sizeof(want), "%s/missing.conf", dir);
	CHECK_EQ_I64(rules_load_conf(&rs, want, err, sizeof(err)), -1);
	CHECK_STR_HAS(err, want);
	rules_free(&rs);
	unit_rmrf(dir);
}

/* A subject, its length, and whether the patterns must match it. */
struct pcase {
	const char	*s;
	size_t		 len;
	int		 want;
};

/* The patset of pats (n of them) answers each case as it should. */
static void
check_patset(char **pats, int n, const struct pcase *c, size_t nc)
{
	char err[512];
	struct patset *ps;
	size_t i;

	ps = patset_new(pats, n, err, sizeof(err));
	if (CHECK(ps != NULL)) {
		for (i = 0; i < nc; i++)
			CHECK_EQ_I64(patset_match(ps, c[i].s, c[i].len),
			    c[i].want);
		patset_free(ps);
	}
}

static void
test_patset(void)
{
	char *pats[] = { "web", "mail\\..*", "a|ab" };
	char *one[] = { "web\\..*" };
	char *bad[] = { "ok", "(broken" };
	static const struct pcase three[] = {
		{ "web", 3, 1 }, { "web.access", 10, 0 }, { "xweb", 4, 0 },
		{ "we", 2, 0 }, { "mail.in", 7, 1 }, { "mail", 4, 0 },
		{ "ab", 2, 1 }, { "abc", 3, 0 },
		{ "web.access", 3, 1 }		/* length */
	}, web[] = {
		{ "web.access", 10, 1 }, { "web.", 4, 1 }, { "web", 3, 0 },
		{ "webXaccess", 10, 0 }
	}, none[] = {
		{ "web", 3, 0 }
	};
	char err[512];
	struct patset *ps;

	check_patset(pats, 3, three, sizeof(three) / sizeof(three[0]));
	check_patset(one, 1, web, sizeof(web) / sizeof(web[0]));
	check_patset(NULL, 0, none, 1);		/* matches nothing */
	err[0] = '\0';
	ps = patset_new(bad, 2, err, sizeof(err));
	CHECK(ps == NULL);
	CHECK_STR_HAS(err, "(broken");
	CHECK_STR_HAS(err, pcre2_msg("(broken"));
	patset_free(NULL);
}

/* Kafka's own vectors (UtilsTest.testMurmur2), and its partitioner. */
static void
test_murmur2(void)
{
	static const struct {
		const char	*key;
		int32_t		 want;
	} v[] = {
		{ "21", -973932308 },
		{ "foobar", -790332482 },
		{ "a-little-bit-long-string", -985981536 },
		{ "a-little-bit-longer-string", -1486304829 },
		{ "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971 },
		{ "abc", 479470107 },
		{ "", 275646681 },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (!CHECK_EQ_I64(murmur2(v[i].key, strlen(v[i].key)),
		    v[i].want))
			unit_more("key \"%s\"\n", v[i].key);
	/* toPositive(-790332482) = 1357151166; % 50 = 16. */
	CHECK_EQ_U64(key_partition("foobar", 6, 50), 16);
	CHECK_EQ_U64(key_partition("foobar", 6, 1), 0);
}

static void
test_rules_hash(void)
{
	struct ruleset rs = { NULL, 0 };
	char err[512] = "", out[BUS_TOPIC_MAX + 1];
	uint32_t n = 99;

	CHECK_EQ_I64(rules_add(&rs, "{topic}.{hash:8}:jobs|orders", err,
	    sizeof(err)), 0);
	CHECK_EQ_I64(rules_add(&rs, "q{hash:10000}x:q.*", err, sizeof(err)),
	    0);
	CHECK_EQ_I64(rules_route_slot(&rs, "jobs", 4, 3, out, &n), 0);
	CHECK(strcmp(out, "jobs.3") == 0);
	CHECK_EQ_U64(n, 8);
	CHECK_EQ_I64(rules_route_slot(&rs, "orders", 6, 15, out, &n), 0);
	CHECK(strcmp(out, "orders.7") == 0);
	CHECK_EQ_I64(rules_route_slot(&rs, "qa", 2, 9999, out, &n), 0);
	CHECK(strcmp(out, "q9999x") == 0);
	CHECK_EQ_U64(n, 10000);
	CHECK_EQ_I64(rules_route_slot(&rs, "other", 5, 3, out, &n), 0);
	CHECK(strcmp(out, "other") == 0);
	CHECK_EQ_U64(n, 0);
	ROUTE(&rs, "jobs", "jobs.0");
	rules_free(&rs);
	CHECK_EQ_I64(rules_add(&rs, "{topic}.{hash:0}:x", err, sizeof(err)),
	    -1);
	CHECK_STR_HAS(err, "{hash:N} takes N from 1 to 10000");
	CHECK_EQ_I64(rules_add(&rs, "{topic}.{hash:10001}:x", err,
	    sizeof(err)), -1);
	CHECK_EQ_I64(rules_add(&rs, "{topic}.{hash:08}:x", err, sizeof(err)),
	    -1);
	CHECK_EQ_I64(rules_add(&rs, "{hash:2}.{hash:2}:x", err, sizeof(err)),
	    -1);
	CHECK_STR_HAS(err, "only one {hash:N}");
	CHECK_EQ_I64(rules_add(&rs, "{topic}.{hash:2", err, sizeof(err)), -1);
	rules_free(&rs);
}

int
main(void)
{
	RUN(test_rules_valid);
	RUN(test_rules_length);
	RUN(test_rules_order);
	RUN(test_rules_bad_regex);
	RUN(test_rules_bad_prefix);
	RUN(test_rules_expansion_too_long);
	RUN(test_rules_conf);
	RUN(test_patset);
	RUN(test_murmur2);
	RUN(test_rules_hash);
	return unit_done();
}

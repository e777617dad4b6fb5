/*
 * Access: the ACL lines of busd.conf and how they judge a peer, rule
 * options, store_openat() and symlinks, perm_check().
 */
#include "unit.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "acl.h"
#include "perm.h"

static struct acl *
acl_of(const char *const *lines, size_t n)
{
	struct acl *a = acl_new();
	char err[256], where[32];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "t:%zu", i + 1);
		if (!CHECK(acl_add(a, lines[i], where, err, sizeof(err)) == 0))
			unit_more("%s: %s\n", lines[i], err);
	}
	return a;
}

static void
test_acl_none(void)
{
	struct acl_peer p = { 1000, 1000, NULL, 0 };
	const char *line;

	CHECK(acl_judge(NULL, ACL_PUBLISH, &p, "x", 1, &line) == 1);
	CHECK(acl_judge(NULL, ACL_SEAL, &p, NULL, 0, &line) == 1);
	CHECK(acl_count(NULL) == 0);
}

static void
test_acl_first_match(void)
{
	static const char *const lines[] = {
		"deny group 100 publish secret\\..*",
		"allow user 1000 publish .*",
		"allow group 0 seal",
		"deny user 1000 status",
	};
	static const gid_t users[] = { 100 };
	struct acl_peer alice = { 1000, 1000, NULL, 0 };
	struct acl_peer alice_users = { 1000, 1000, users, 1 };
	struct acl_peer root = { 0, 0, NULL, 0 };
	struct acl *a = acl_of(lines, 4);
	const char *line;

	CHECK(acl_count(a) == 4);
	CHECK(acl_needs_groups(a));
	CHECK(acl_judge(a, ACL_PUBLISH, &alice, "secret.x", 8, &line) == 1);
	CHECK_STR_HAS(line, "t:2: allow user 1000");
	CHECK(acl_judge(a, ACL_PUBLISH, &alice_users, "secret.x", 8, &line) ==
	    0);
	CHECK_STR_HAS(line, "t:1: deny group 100 publish secret");
	/* Whole-topic: "secret.x.y" matches "secret\..*", "xsecret.x" not. */
	CHECK(acl_judge(a, ACL_PUBLISH, &alice_users, "xsecret.x", 9, &line) ==
	    1);
	/* Nothing allows root to publish; seal by its group; status open. */
	CHECK(acl_judge(a, ACL_PUBLISH, &root, "x", 1, &line) == 0);
	CHECK_STR_HAS(line, "no ACL line allows it");
	CHECK(acl_judge(a, ACL_SEAL, &root, NULL, 0, &line) == 1);
	CHECK(acl_judge(a, ACL_SEAL, &alice, NULL, 0, &line) == 0);
	CHECK(acl_judge(a, ACL_STATUS, &root, NULL, 0, &line) == 1);
	CHECK(acl_judge(a, ACL_STATUS, &alice, NULL, 0, &line) == 0);
	acl_free(a);
}

static void
test_acl_bad(void)
{
	static const struct {
		const char	*line;
		const char	*want;
	} bad[] = {
		{ "permit user 0 publish .*", "expected 'allow' or 'deny'" },
		{ "allow uid 0 publish .*", "expected 'user' or 'group'" },
		{ "allow user", "expected a user name or number" },
		{ "allow user no-such-user-here publish .*", "unknown user" },
		{ "allow group no-such-group-here seal", "unknown group" },
		{ "allow user 0", "expected 'publish REGEX'" },
		{ "allow user 0 publish", "'publish' needs a REGEX" },
		{ "allow user 0 publish (", "invalid regex '('" },
		{ "allow user 0 seal x", "nothing may follow 'seal'" },
		{ "allow user 0 read .*", "not 'read'" },
		{ "allow user 99999999999 seal", "unknown user" },
		{ "allow user 12x seal", "unknown user" },
	};
	struct acl *a = acl_new();
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(acl_add(a, bad[i].line, "t:1", err, sizeof(err)) == -1);
		CHECK_STR_HAS(err, bad[i].want);
	}
	CHECK(acl_count(a) == 0);
	acl_free(a);
}

static void
test_rule_opts(void)
{
	struct ruleset rs;
	char err[512], part[BUS_TOPIC_MAX + 1];
	long gid;
	int mode;

	memset(&rs, 0, sizeof(rs));
	CHECK(rules_add(&rs, "audit.{topic}:audit\\..* group=0 mode=0750",
	    err, sizeof(err)) == 0);
	CHECK(rules_add(&rs, "ops:ops\\..*  mode=0700", err, sizeof(err)) == 0);
	CHECK(rules_add(&rs, "plain:p.*", err, sizeof(err)) == 0);
	CHECK(rules_opts(&rs, "audit.x", 7, &gid, &mode) == 1);
	CHECK(gid == 0 && mode == 0750);
	CHECK(rules_route(&rs, "audit.x", 7, part) == 0);
	CHECK(strcmp(part, "audit.audit.x") == 0);
	CHECK(rules_opts(&rs, "ops.x", 5, &gid, &mode) == 1);
	CHECK(gid == -1 && mode == 0700);
	CHECK(rules_opts(&rs, "pp", 2, &gid, &mode) == 0);
	CHECK(rules_opts(&rs, "zz", 2, &gid, &mode) == 0);
	rules_free(&rs);
	CHECK(rules_add(&rs, "x:.* mode=0777", err, sizeof(err)) == -1);
	CHECK_STR_HAS(err, "mode '0777' is not a directory mode");
	CHECK(rules_add(&rs, "x:.* mode=4750", err, sizeof(err)) == -1);
	CHECK(rules_add(&rs, "x:.* mode=0650", err, sizeof(err)) == -1);
	CHECK(rules_add(&rs, "x:.* mode=07x0", err, sizeof(err)) == -1);
	CHECK(rules_add(&rs, "x:.* group=no-such-group-here", err,
	    sizeof(err)) == -1);
	CHECK_STR_HAS(err, "unknown group 'no-such-group-here'");
	CHECK(rs.n == 0);
}

static void
test_conf_acl(void)
{
	static const char conf[] = "# c\nrule a:a.*\n"
	    "allow user 0 publish a.*\n\ndeny group 0 seal\n";
	struct ruleset rs;
	struct acl *a = acl_new();
	char err[512];
	FILE *f;

	memset(&rs, 0, sizeof(rs));
	f = fmemopen((void *)conf, sizeof(conf) - 1, "r");
	CHECK(conf_read(&rs, a, f, "busd.conf", err, sizeof(err)) == 0);
	fclose(f);
	CHECK(rs.n == 1 && acl_count(a) == 2);
	rules_free(&rs);
	acl_free(a);
	f = fmemopen((void *)"allow user 0 publish (\n", 23, "r");
	CHECK(conf_read(&rs, NULL, f, "busd.conf", err, sizeof(err)) == -1);
	fclose(f);
	CHECK_STR_HAS(err, "busd.conf:1: invalid regex");
}

static void
test_store_openat(void)
{
	char *d;
	int dfd, fd;

	dfd = unit_tmpdir_fd(&d);
	CHECK(mkdirat(dfd, "log", 0750) == 0);
	CHECK(mkdirat(dfd, "outside", 0750) == 0);
	CHECK(symlinkat("../outside", dfd, "log/x") == 0);
	CHECK(symlinkat("/etc/hostname", dfd, "log/f") == 0);
	errno = 0;
	CHECK(store_openat(dfd, "log/x", O_RDONLY | O_DIRECTORY, 0) == -1);
	CHECK(errno == ELOOP);
	CHECK(store_openat(dfd, "log/x/seg", O_RDWR | O_CREAT, 0640) == -1);
	CHECK(errno == ELOOP);
	CHECK(store_openat(dfd, "log/f", O_RDONLY, 0) == -1);
	CHECK(errno == ELOOP);
	CHECK(store_openat(dfd, "../etc", O_RDONLY, 0) == -1);
	CHECK(store_open_part(d, "x") == -1 && errno == ELOOP);
	CHECK(store_mkdirat(dfd, "log/x/p", 0750) == -1 && errno == ELOOP);
	CHECK(faccessat(dfd, "outside/seg", F_OK, 0) == -1);
	CHECK(faccessat(dfd, "outside/p", F_OK, 0) == -1);
	CHECK(strcmp(store_strerror(ELOOP), "is a symbolic link, refusing to "
	    "follow it") == 0);
	/* A real file and directory open. */
	CHECK(store_mkdirat(dfd, "log/ok", 0750) == 0);
	fd = store_openat(dfd, "log/ok/seg", O_RDWR | O_CREAT, 0640);
	CHECK(fd != -1);
	close(fd);
	fd = store_open_in(d, "log/ok/seg", O_RDONLY, 0);
	CHECK(fd != -1);
	close(fd);
	close(dfd);
	unit_rmrf(d);
}

static void
test_perm(void)
{
	char *d, p[4096], err[1024];

	d = unit_tmpdir();
	chmod(d, 0750);
	CHECK(perm_check_store(d, NULL, PERM_OWNER, err, sizeof(err)) == 0);
	chmod(d, 0757);
	CHECK(perm_check_store(d, NULL, PERM_OWNER, err, sizeof(err)) == -1);
	CHECK_STR_HAS(err, "writable by others (mode 0757): fix: chmod o-w");
	chmod(d, 0750);
	snprintf(p, sizeof(p), "%s/busd.conf", d);
	CHECK(symlink("/etc/hostname", p) == 0);
	CHECK(perm_check_store(d, NULL, 0, err, sizeof(err)) == -1);
	CHECK_STR_HAS(err, "busd.conf: is a symbolic link");
	/* -c may be a symlink. */
	unlink(p);
	CHECK(perm_check(p, 0, err, sizeof(err)) == 0);	/* absent */
	unit_rmrf(d);
}

int
main(void)
{
	RUN(test_acl_none);
	RUN(test_acl_first_match);
	RUN(test_acl_bad);
	RUN(test_rule_opts);
	RUN(test_conf_acl);
	RUN(test_store_openat);
	RUN(test_perm);
	return unit_done();
}

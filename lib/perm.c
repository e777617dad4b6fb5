/*
 * Ownership and modes of a store, judged as sshd judges a home directory
 * (StrictModes): see perm.h and busd(8).
 */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "perm.h"

static int	group_only_owner(gid_t, uid_t);

/* Has group gid no member but uid (as a listed or a primary member)? */
static int
group_only_owner(gid_t gid, uid_t uid)
{
	struct passwd *pw;
	struct group *gr;
	char **m;

	if ((gr = getgrgid(gid)) == NULL)
		return 0;
	for (m = gr->gr_mem; *m != NULL; m++)
		if ((pw = getpwnam(*m)) == NULL || pw->pw_uid != uid)
			return 0;
	/* Someone else whose primary group it is: the usual private group
	 * scheme names it after its one user. */
	if ((pw = getpwuid(uid)) == NULL || pw->pw_gid != gid)
		return gr->gr_mem[0] != NULL;
	return 1;
}

int
perm_check(const char *path, int flags, char *err, size_t len)
{
	struct passwd *pw;
	struct group *gr;
	struct stat st;
	uid_t me = geteuid();
	char who[64], me_name[64];

	if (((flags & PERM_NOFOLLOW) ? lstat(path, &st) : stat(path, &st)) ==
	    -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, len, "%s: %s", path, store_strerror(ELOOP));
		return -1;
	}
	if ((flags & PERM_OWNER) && st.st_uid != 0 && st.st_uid != me) {
		if ((pw = getpwuid(st.st_uid)) != NULL)
			snprintf(who, sizeof(who), "%s", pw->pw_name);
		else
			snprintf(who, sizeof(who), "%u", (unsigned)st.st_uid);
		if ((pw = getpwuid(me)) != NULL)
			snprintf(me_name, sizeof(me_name), "%s", pw->pw_name);
		else
			snprintf(me_name, sizeof(me_name), "%u", (unsigned)me);
		snprintf(err, len, "%s: owned by %s, neither root nor the "
		    "user we run as (%s): fix: chown %s %s", path, who,
		    me_name, me_name, path);
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(err, len, "%s: writable by others (mode %04o): fix: "
		    "chmod o-w %s", path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	if ((st.st_mode & S_IWGRP) && !group_only_owner(st.st_gid,
	    st.st_uid)) {
		if ((gr = getgrgid(st.st_gid)) != NULL)
			snprintf(who, sizeof(who), "%s", gr->gr_name);
		else
			snprintf(who, sizeof(who), "%u", (unsigned)st.st_gid);
		snprintf(err, len, "%s: writable by group %s, which has "
		    "other members than its owner (mode %04o): fix: chmod g-w "
		    "%s", path, who, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

int
perm_check_store(const char *dir, const char *conf, int flags, char *err,
    size_t len)
{
	static const char *const inside[] = { BUS_LOGDIR, BUS_CURSORDIR,
	    BUS_CONF };
	char p[PATH_MAX];
	size_t i;

	flags &= PERM_OWNER;
	if (perm_check(dir, flags, err, len) == -1)
		return -1;
	for (i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
		if (store_path(p, sizeof(p), dir, inside[i]) == -1) {
			snprintf(err, len, "%s: path too long", dir);
			return -1;
		}
		if (perm_check(p, flags | PERM_NOFOLLOW, err, len) == -1)
			return -1;
	}
	if (conf != NULL && perm_check(conf, flags, err, len) == -1)
		return -1;
	return 0;
}

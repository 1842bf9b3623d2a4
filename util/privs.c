/*
 * privs: see privs.h.  The order matters: groups and gid can only be set
 * while still root, so uid goes last; afterwards setuid(0) must fail.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/privs.h"

/* The groups of UID's passwd entry with GID, malloc'd into *out; -1 if none. */
static int owner_groups(uid_t uid, gid_t gid, gid_t **out, int *n_out)
{
	struct passwd *pw = getpwuid(uid);
	gid_t *groups = NULL;
	int n = 32;

	if (!pw)
		return -1;
	for (;;) {
		int want = n;
		gid_t *ng = realloc(groups, sizeof *groups * (size_t)want);
		if (!ng) {
			free(groups);
			errno = ENOMEM;
			return -2;
		}
		groups = ng;
		if (getgrouplist(pw->pw_name, gid, groups, &want) >= 0) {
			*out = groups;
			*n_out = want;
			return 0;
		}
		/* want now holds the number needed */
		n = want > n ? want : n * 2;
	}
}

int privs_drop(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	gid_t *groups = NULL;
	int ngroups = 0, rc;

	if (geteuid() != 0) {
		if (uid == getuid() && uid == geteuid() && gid == getgid() &&
		    gid == getegid())
			return 0;
		snprintf(err, errlen, "cannot switch to uid %u: %s",
			 (unsigned)uid, strerror(EPERM));
		return -1;
	}
	rc = owner_groups(uid, gid, &groups, &ngroups);
	if (rc == -2) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (rc == -1) {
		groups = NULL;
		ngroups = 0;
	}
	if ((groups ? setgroups((size_t)ngroups, groups)
		    : setgroups(1, &gid)) < 0) {
		snprintf(err, errlen, "cannot set groups for uid %u: %s",
			 (unsigned)uid, strerror(errno));
		free(groups);
		return -1;
	}
	free(groups);
	if (setgid(gid) < 0) {
		snprintf(err, errlen, "cannot switch to gid %u: %s",
			 (unsigned)gid, strerror(errno));
		return -1;
	}
	if (setuid(uid) < 0) {
		snprintf(err, errlen, "cannot switch to uid %u: %s",
			 (unsigned)uid, strerror(errno));
		return -1;
	}
	if (uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen,
			 "could switch back to root after dropping to uid %u",
			 (unsigned)uid);
		return -1;
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid) {
		snprintf(err, errlen, "cannot switch to uid %u", (unsigned)uid);
		return -1;
	}
	return 0;
}

int privs_parse_id(const char *s, unsigned int *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= (unsigned long)UINT_MAX)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/*
 * privs: the owner's groups and the drop to the owner (privs.h).  The
 * order matters: groups and gid can only be set while still root, so uid
 * goes last; afterwards setuid(0) must fail.  No state, no lock.
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

int privs_groups(uid_t uid, gid_t gid, gid_t **groups, int *n)
{
	struct passwd pw, *res = NULL;
	size_t blen = 4096;
	char *buf = NULL;
	int rc, cnt = 32;

	*groups = NULL;
	for (;;) { /* the passwd entry, in a buffer as big as it needs */
		char *nb = realloc(buf, blen);
		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		rc = getpwuid_r(uid, &pw, buf, blen, &res);
		if (rc != ERANGE || blen >= 1 << 20)
			break;
		blen *= 2;
	}
	if (rc || !res) { /* a uid without a name: only its own group */
		free(buf);
		if (!(*groups = malloc(sizeof **groups)))
			return -ENOMEM;
		(*groups)[0] = gid;
		*n = 1;
		return 0;
	}
	for (;;) {
		gid_t *g = realloc(*groups, (size_t)cnt * sizeof *g);
		if (!g) {
			rc = -ENOMEM;
			break;
		}
		*groups = g;
		int want = cnt;
		if (getgrouplist(pw.pw_name, gid, g, &want) >= 0) {
			*n = want;
			free(buf);
			return 0;
		}
		/* want now holds the number needed (older glibc: grow) */
		cnt = want > cnt ? want : cnt * 2;
		if (cnt > PRIVS_GROUPS_MAX) {
			rc = -E2BIG;
			break;
		}
	}
	free(buf);
	free(*groups);
	*groups = NULL;
	return rc;
}

/* Notes STEP, keeps errno, and returns -errno. */
static int privs_failed(enum privs_step *step, enum privs_step at, int e)
{
	if (step)
		*step = at;
	errno = e;
	return -e;
}

int privs_become(uid_t uid, gid_t gid, const gid_t *groups, int n,
		 enum privs_step *step)
{
	if (setgroups((size_t)n, groups) < 0)
		return privs_failed(step, PRIVS_SETGROUPS, errno);
	if (setgid(gid) < 0)
		return privs_failed(step, PRIVS_SETGID, errno);
	if (setuid(uid) < 0)
		return privs_failed(step, PRIVS_SETUID, errno);
	if (uid != 0 && setuid(0) == 0)
		return privs_failed(step, PRIVS_REGAIN, EPERM);
	return 0;
}

/* Says in ERR which step of privs_become() failed with -RC. */
static void privs_say(enum privs_step step, int rc, uid_t uid, gid_t gid,
		      char *err, size_t errlen)
{
	switch (step) {
	case PRIVS_SETGROUPS:
		snprintf(err, errlen, "cannot set groups for uid %u: %s",
			 (unsigned)uid, strerror(-rc));
		break;
	case PRIVS_SETGID:
		snprintf(err, errlen, "cannot switch to gid %u: %s",
			 (unsigned)gid, strerror(-rc));
		break;
	case PRIVS_SETUID:
		snprintf(err, errlen, "cannot switch to uid %u: %s",
			 (unsigned)uid, strerror(-rc));
		break;
	case PRIVS_REGAIN:
		snprintf(err, errlen,
			 "could switch back to root after dropping to uid %u",
			 (unsigned)uid);
		break;
	}
}

int privs_drop(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	enum privs_step step = PRIVS_SETGROUPS;
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
	if ((rc = privs_groups(uid, gid, &groups, &ngroups))) {
		snprintf(err, errlen, "cannot look up the groups of uid %u: %s",
			 (unsigned)uid, strerror(-rc));
		return -1;
	}
	rc = privs_become(uid, gid, groups, ngroups, &step);
	free(groups);
	if (rc) {
		privs_say(step, rc, uid, gid, err, errlen);
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

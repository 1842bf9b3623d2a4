/*
 * fsowner: per-thread filesystem ids around one open (fsowner.h).  The
 * order: the groups and fsgid while the thread may still set them, fsuid
 * last; back in the opposite order.  setfsuid() reports no error, so the
 * id is read back (a second call with an invalid id returns the current).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/fsowner.h"

int fsowner_init(struct fsowner *o, uid_t uid, gid_t gid)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int n = (int)(sizeof o->groups / sizeof o->groups[0]);

	memset(o, 0, sizeof *o);
	o->uid = uid;
	o->gid = gid;
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) || !found ||
	    getgrouplist(found->pw_name, gid, o->groups, &n) < 0) {
		o->groups[0] = gid;
		n = 1;
	}
	o->ngroups = n;
	return 0;
}

/* The thread's own ids, to go back to. */
struct fsowner_saved {
	uid_t fsuid;
	gid_t fsgid;
	gid_t groups[256];
	int ngroups;
};

static long raw_setfsuid(uid_t id)
{
	return syscall(SYS_setfsuid, id);
}

static long raw_setfsgid(gid_t id)
{
	return syscall(SYS_setfsgid, id);
}

/* Becomes O for files, this thread only.  Returns 0 or -errno. */
static int fsowner_enter(const struct fsowner *o, struct fsowner_saved *s)
{
	s->ngroups = (int)syscall(SYS_getgroups, 256, s->groups);
	if (s->ngroups < 0)
		return -errno;
	s->fsgid = (gid_t)raw_setfsgid((gid_t)-1);
	s->fsuid = (uid_t)raw_setfsuid((uid_t)-1);
	if (syscall(SYS_setgroups, (size_t)o->ngroups, o->groups) < 0)
		return -errno;
	raw_setfsgid(o->gid);
	raw_setfsuid(o->uid);
	if ((uid_t)raw_setfsuid((uid_t)-1) != o->uid ||
	    (gid_t)raw_setfsgid((gid_t)-1) != o->gid) {
		raw_setfsuid(s->fsuid);
		raw_setfsgid(s->fsgid);
		syscall(SYS_setgroups, (size_t)s->ngroups, s->groups);
		return -EPERM;
	}
	return 0;
}

static void fsowner_leave(const struct fsowner_saved *s)
{
	raw_setfsuid(s->fsuid);
	raw_setfsgid(s->fsgid);
	syscall(SYS_setgroups, (size_t)s->ngroups, s->groups);
}

/* Checks the kind of the open FD: 0, or -EINVAL (FD closed then). */
static int fsowner_check(int fd, int dir)
{
	struct stat st;

	if (fstat(fd, &st) < 0 ||
	    !(dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode))) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int fsowner_openat(const struct fsowner *o, int dirfd, const char *name,
		   int dir)
{
	struct fsowner_saved s;
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
		    (dir ? O_DIRECTORY : 0);
	int fd, rc, as_self = geteuid() != 0 || o->uid == 0;

	if (!as_self && (rc = fsowner_enter(o, &s)))
		return rc;
	fd = openat(dirfd, name, flags);
	rc = fd < 0 ? -errno : 0;
	if (!as_self)
		fsowner_leave(&s);
	return rc ? rc : fsowner_check(fd, dir);
}

int fsowner_open(const struct fsowner *o, const char *path, int dir)
{
	return fsowner_openat(o, AT_FDCWD, path, dir);
}

/*
 * fsowner: per-thread filesystem ids around one open (fsowner.h).  The
 * order: the groups and fsgid while the thread may still set them, fsuid
 * last; back in the opposite order.  setfsuid() reports no error, so the
 * id is read back (a second call with an invalid id returns the current).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/beneath.h"
#include "util/fsowner.h"
#include "util/privs.h"

int fsowner_init(struct fsowner *o, uid_t uid, gid_t gid)
{
	memset(o, 0, sizeof *o);
	o->uid = uid;
	o->gid = gid;
	return privs_groups(uid, gid, &o->groups, &o->ngroups);
}

void fsowner_release(struct fsowner *o)
{
	free(o->groups);
	o->groups = NULL;
	o->ngroups = 0;
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
	/* No mount crossed: the descriptor, or -errno. */
	fd = beneath_openat2(dirfd, name, flags, 0,
			     RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS);
	if (!as_self)
		fsowner_leave(&s);
	return fd < 0 ? fd : fsowner_check(fd, dir);
}

/*
 * The mount PATH lies on, by the longest mount point that is a prefix of
 * it in /proc/self/mountinfo: its point into MNT (LEN bytes).  Returns 0,
 * -EXDEV when that mount or one it lies under is a FUSE filesystem, or
 * -errno.
 */
static int mount_of(const char *path, char *mnt, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], point[4096], type[256];
	size_t best = 0;
	int fuse_under = 0, best_fuse = 0;

	if (!f)
		return -errno;
	snprintf(mnt, len, "/");
	while (fgets(line, sizeof line, f)) {
		const char *dash = strstr(line, " - ");
		if (!dash ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(dash + 3, "%255s", type) != 1)
			continue;
		size_t n = strlen(point);
		if (strchr(point, '\\'))
			continue; /* an escaped name: never a prefix here */
		int prefix = n == 1 || (!strncmp(path, point, n) &&
					(path[n] == '/' || path[n] == '\0'));
		if (!prefix)
			continue;
		int fuse = !strncmp(type, "fuse", 4) && strcmp(type, "fusectl");
		fuse_under |= fuse && n > 1;
		if (n >= best) {
			best = n;
			best_fuse = fuse;
			snprintf(mnt, len, "%s", point);
		}
	}
	fclose(f);
	return fuse_under || best_fuse ? -EXDEV : 0;
}

int fsowner_open(const struct fsowner *o, const char *path, int dir)
{
	char mnt[4096];
	int rc = mount_of(path, mnt, sizeof mnt);

	if (rc)
		return rc;
	int mfd = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	const char *rest = path + strlen(mnt);
	while (*rest == '/')
		rest++;
	rc = fsowner_openat(o, mfd, *rest ? rest : ".", dir);
	close(mfd);
	return rc;
}

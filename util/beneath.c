/*
 * beneath: opening a file under a folder trainfs holds open, never
 * anywhere else.  trainfs runs as root in folders whose insides its users
 * own (a job's run/, output/, checkpoints/): a path string there is
 * theirs to redirect, with a symbolic link or a rename at the right
 * moment.  So privileged file work starts from a descriptor and resolves
 * the rest with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_XDEV): no "..", no link, no other filesystem on the way.
 * Where the kernel has no openat2 (ENOSYS), the same walk is done one
 * component at a time with O_NOFOLLOW, refusing ".." and a change of
 * device.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/beneath.h"
#include "util/file.h"

#define BENEATH_RESOLVE \
	(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)

static int no_openat2; /* the kernel said ENOSYS once: walk instead */

/* One component at a time: folders with O_NOFOLLOW, on DIRFD's device. */
static int walk_open(int dirfd, const char *rel, int flags, mode_t mode)
{
	char buf[4096];
	struct stat top, st;
	if (snprintf(buf, sizeof buf, "%s", rel) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	if (fstat(dirfd, &top) < 0)
		return -errno;
	int cur = dirfd;
	char *name = buf, *slash;
	while ((slash = strchr(name, '/'))) {
		*slash = '\0';
		if (!strcmp(name, ".."))
			goto err_xdev;
		if (*name && strcmp(name, ".")) {
			int next = openat(cur, name,
					  O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						  O_CLOEXEC);
			int e = errno;
			if (cur != dirfd)
				close(cur);
			if (next < 0)
				return -e;
			cur = next;
			if (fstat(cur, &st) < 0 || st.st_dev != top.st_dev)
				goto err_xdev;
		}
		name = slash + 1;
	}
	if (!strcmp(name, ".."))
		goto err_xdev;
	int fd = openat(cur, *name ? name : ".", flags | O_NOFOLLOW, mode);
	int e = errno;
	if (cur != dirfd)
		close(cur);
	if (fd < 0)
		return -e;
	if (fstat(fd, &st) < 0 || st.st_dev != top.st_dev) {
		close(fd);
		return -EXDEV;
	}
	return fd;
err_xdev:
	if (cur != dirfd)
		close(cur);
	return -EXDEV;
}

void beneath_force_walk(int on)
{
	__atomic_store_n(&no_openat2, on, __ATOMIC_RELAXED);
}

int beneath_openat2(int dirfd, const char *path, int flags, mode_t mode,
		    unsigned long long resolve)
{
	struct open_how how = {
		.flags = (unsigned long long)flags,
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = resolve,
	};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	return fd < 0 ? -errno : (int)fd;
}

int beneath_open(int dirfd, const char *rel, int flags, mode_t mode)
{
	if (!rel || !*rel || rel[0] == '/')
		return -EINVAL;
	if (!__atomic_load_n(&no_openat2, __ATOMIC_RELAXED)) {
		int fd = beneath_openat2(dirfd, rel, flags | O_NOFOLLOW, mode,
					 BENEATH_RESOLVE);
		if (fd != -ENOSYS)
			return fd;
		__atomic_store_n(&no_openat2, 1, __ATOMIC_RELAXED);
	}
	return walk_open(dirfd, rel, flags, mode);
}

int beneath_write_new(int dirfd, const char *name, const void *buf, size_t len,
		      uid_t uid, gid_t gid)
{
	char tmp[512];
	int rc = 0;
	if (strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, "."))
		return -EINVAL;
	if (snprintf(tmp, sizeof tmp, "%s.tmp", name) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	/* unlinkat never follows a link: only the name goes. */
	if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
		return -errno;
	int fd = beneath_open(dirfd, tmp,
			      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fd;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && geteuid() == 0 &&
	    fchown(fd, uid, gid) < 0)
		rc = -errno;
	if (!rc)
		rc = file_write_all(fd, buf, len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && renameat(dirfd, tmp, dirfd, name) < 0)
		rc = -errno;
	if (rc) {
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

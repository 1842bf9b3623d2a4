/*
 * userfile: see userfile.h.  The check and the open are one name: the
 * name is held by an O_PATH descriptor (which opens nothing and asks no
 * filesystem), checked through it, and the real open goes through
 * /proc/self/fd/N, which reopens that very file instead of looking the
 * name up again, so a user cannot swap it in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/userfile.h"

#define NO_SYNC (AT_EMPTY_PATH | AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT)

/* statx of the descriptor FD itself, from what the kernel already knows. */
static int cached_stat(int fd, struct statx *st)
{
	if (statx(fd, "", NO_SYNC, STATX_TYPE | STATX_INO, st) < 0)
		return -errno;
	return 0;
}

static int is_mount_root(const struct statx *st)
{
	return (st->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (st->stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static int same_fs(const struct statx *a, const struct statx *b)
{
	return a->stx_dev_major == b->stx_dev_major &&
	       a->stx_dev_minor == b->stx_dev_minor;
}

/* Checks the entry held on PFD against its folder DIR; 0 or -errno. */
static int check_entry(int pfd, const struct statx *dir, int want_dir)
{
	struct statx st;
	int rc = cached_stat(pfd, &st);
	if (rc)
		return rc;
	if (S_ISLNK(st.stx_mode))
		return -ELOOP;
	if (is_mount_root(dir) || is_mount_root(&st) || !same_fs(dir, &st))
		return -EXDEV;
	if (want_dir ? !S_ISDIR(st.stx_mode) : !S_ISREG(st.stx_mode))
		return -EINVAL;
	return 0;
}

/*
 * The folder DIRFD, when no name in it can lead into another filesystem
 * without our asking: not a mount point itself (a lookup in a FUSE mount's
 * root would be a request to it).  0 with its statx in *DIR, or -errno.
 */
static int check_folder(int dirfd, struct statx *dir)
{
	int rc = cached_stat(dirfd, dir);
	if (!rc && is_mount_root(dir))
		rc = -EXDEV;
	return rc;
}

/*
 * Without /proc: opens NAME again by name, never following a link, and
 * keeps it only when it is still the file held on PFD.  Descriptor or
 * -errno.
 */
static int reopen_by_name(int dirfd, const char *name, int how, int pfd)
{
	struct statx was, now;
	int fd = openat(dirfd, name, how | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (cached_stat(pfd, &was) || cached_stat(fd, &now) ||
	    !same_fs(&was, &now) || was.stx_ino != now.stx_ino) {
		close(fd);
		return -EAGAIN; /* swapped meanwhile */
	}
	return fd;
}

/* userfile_open() of NAME in the folder held on DIRFD (not AT_FDCWD). */
static int open_in(int dirfd, const char *name, int flags)
{
	struct statx dir;
	char self[64];
	int rc = check_folder(dirfd, &dir);
	if (rc)
		return rc;
	int pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	rc = check_entry(pfd, &dir, !!(flags & O_DIRECTORY));
	if (!rc) {
		int how = (flags & ~(O_NOFOLLOW | O_CREAT)) | O_NONBLOCK |
			  O_NOCTTY | O_CLOEXEC;
		snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
		rc = open(self, how);
		if (rc < 0 && errno == ENOENT) /* no /proc: by name again */
			rc = reopen_by_name(dirfd, name, how, pfd);
		else if (rc < 0)
			rc = -errno;
	}
	close(pfd);
	return rc;
}

/*
 * Holds the folder of PATH (ours, the store's: followed as it is) on an
 * O_PATH descriptor, which asks no filesystem.  Returns it, with the last
 * component's offset in *BASE, or -errno.
 */
static int open_parent(const char *path, char *copy, size_t len,
		       const char **base)
{
	if (snprintf(copy, len, "%s", path) >= (int)len)
		return -ENAMETOOLONG;
	char *slash = strrchr(copy, '/');
	*base = slash ? slash + 1 : copy;
	if (!**base)
		return -EISDIR;
	const char *dir = ".";
	if (slash == copy)
		dir = "/";
	else if (slash) {
		*slash = '\0';
		dir = copy;
	}
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int userfile_open(int dirfd, const char *name, int flags)
{
	char copy[PATH_MAX];
	const char *base;
	if (dirfd != AT_FDCWD)
		return open_in(dirfd, name, flags);
	int pfd = open_parent(name, copy, sizeof copy, &base);
	if (pfd < 0)
		return pfd;
	int rc = open_in(pfd, base, flags);
	close(pfd);
	return rc;
}

int userfile_local(int dirfd, const char *name, mode_t *mode)
{
	struct statx dir, st;
	int rc = check_folder(dirfd, &dir);
	if (rc)
		return rc;
	if (statx(dirfd, name,
		  AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT,
		  STATX_TYPE | STATX_INO, &st) < 0)
		return -errno;
	*mode = st.stx_mode & S_IFMT;
	if (is_mount_root(&st) || !same_fs(&dir, &st))
		return -EXDEV;
	return 0;
}

int userfile_stat(const char *path, struct stat *st)
{
	char copy[PATH_MAX];
	const char *base;
	struct statx dir, x;
	int rc, pfd = open_parent(path, copy, sizeof copy, &base);
	if (pfd < 0)
		return pfd;
	if (!(rc = check_folder(pfd, &dir)) &&
	    statx(pfd, base,
		  AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT,
		  STATX_BASIC_STATS, &x) < 0)
		rc = -errno;
	close(pfd);
	if (rc)
		return rc;
	memset(st, 0, sizeof *st);
	st->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
	st->st_ino = x.stx_ino;
	st->st_mode = x.stx_mode;
	st->st_nlink = x.stx_nlink;
	st->st_uid = x.stx_uid;
	st->st_gid = x.stx_gid;
	st->st_size = (off_t)x.stx_size;
	st->st_blocks = (blkcnt_t)x.stx_blocks;
	st->st_mtim.tv_sec = x.stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = x.stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = x.stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = x.stx_ctime.tv_nsec;
	st->st_atim.tv_sec = x.stx_atime.tv_sec;
	st->st_atim.tv_nsec = x.stx_atime.tv_nsec;
	return 0;
}

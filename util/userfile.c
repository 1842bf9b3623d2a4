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

/* userfile_open() of NAME in the folder held on DIRFD (not AT_FDCWD). */
static int open_in(int dirfd, const char *name, int flags)
{
	struct statx dir;
	char self[64];
	int rc = cached_stat(dirfd, &dir);
	if (rc)
		return rc;
	int pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	rc = check_entry(pfd, &dir, !!(flags & O_DIRECTORY));
	if (!rc) {
		snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
		rc = open(self, (flags & ~(O_NOFOLLOW | O_CREAT)) | O_NONBLOCK |
				       O_NOCTTY | O_CLOEXEC);
		if (rc < 0)
			rc = -errno;
	}
	close(pfd);
	return rc;
}

int userfile_open(int dirfd, const char *name, int flags)
{
	char copy[PATH_MAX];
	if (dirfd != AT_FDCWD)
		return open_in(dirfd, name, flags);
	if (snprintf(copy, sizeof copy, "%s", name) >= (int)sizeof copy)
		return -ENAMETOOLONG;
	/* A path: its folder (ours, the store's) is followed as it is. */
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	if (!*base)
		return -EISDIR;
	if (slash == copy)
		dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	else if (slash) {
		*slash = '\0';
		dirfd = open(copy, O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else {
		dirfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (dirfd < 0)
		return -errno;
	int rc = open_in(dirfd, base, flags);
	close(dirfd);
	return rc;
}

int userfile_local(int dirfd, const char *name, mode_t *mode)
{
	struct statx dir, st;
	int rc = cached_stat(dirfd, &dir);
	if (rc)
		return rc;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC |
				       AT_NO_AUTOMOUNT,
		  STATX_TYPE | STATX_INO, &st) < 0)
		return -errno;
	*mode = st.stx_mode & S_IFMT;
	if (is_mount_root(&st) || !same_fs(&dir, &st))
		return -EXDEV;
	return 0;
}

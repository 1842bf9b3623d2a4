/*
 * fsowner: opening a trainer's own files with its owner's rights from a
 * thread of the daemon, without a helper process.  Linux keeps the
 * filesystem ids (fsuid, fsgid) and the supplementary groups per thread:
 * the raw system calls change only the calling thread (glibc's wrappers of
 * setgroups would change every thread), and a nonzero fsuid drops the
 * capabilities that bypass file permissions.  So a path is resolved, and
 * a file opened, exactly as the owner would; the descriptor then reads
 * with no rights needed.  The thread is itself again before any call
 * returns.
 *
 * A daemon that is not root opens as itself: it can only run trainers of
 * its own user.
 *
 * No file system that another process answers is ever asked: a path on a
 * FUSE mount (trainfs's own, whose handlers may wait for the very job
 * being read, or a user's) is refused, and the path is resolved with no
 * mount point crossed (openat2 RESOLVE_NO_XDEV), so no link leads onto
 * one either.
 */
#ifndef TRAINFS_FSOWNER_H
#define TRAINFS_FSOWNER_H

#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/compiler.h"

/* Whose rights: the uid, gid and supplementary groups (all of them). */
struct fsowner {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* owned: fsowner_release() frees it */
	int ngroups;
};

/*
 * Fills *O for UID/GID with the supplementary groups of UID's passwd entry
 * (just GID when it has none; privs_groups()), which may read files or ask
 * the network: never under a lock.  Returns 0 or -errno (nothing to
 * release then).
 */
MUST_CHECK int fsowner_init(struct fsowner *o, uid_t uid, gid_t gid);

/* Frees what fsowner_init() filled in. */
void fsowner_release(struct fsowner *o);

/*
 * Opens PATH (absolute) for reading as the owner, never through a
 * symbolic link at its last component, never waiting on a FIFO or a
 * device (O_NONBLOCK), never across a mount point nor on FUSE (-EXDEV),
 * and only a regular file (else -EINVAL) when DIR is 0, only a folder
 * when DIR is 1.  Returns the descriptor or -errno.
 */
MUST_CHECK int fsowner_open(const struct fsowner *o, const char *path, int dir);

/*
 * The same for NAME inside the folder open at DIRFD, on DIRFD's own
 * mount.  Returns the descriptor or -errno.
 */
MUST_CHECK int fsowner_openat(const struct fsowner *o, int dirfd,
			      const char *name, int dir);

#endif

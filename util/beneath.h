/*
 * beneath: opens under a folder held open, never through a symbolic
 * link, "..", or into another filesystem (openat2 with RESOLVE_BENEATH,
 * RESOLVE_NO_SYMLINKS and RESOLVE_NO_XDEV; a walk with O_NOFOLLOW where
 * the kernel lacks openat2).  For root's work in folders users own.
 */
#ifndef TRAINFS_BENEATH_H
#define TRAINFS_BENEATH_H

#include <linux/openat2.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/compiler.h"

/*
 * The one openat2() call of trainfs: opens PATH from DIRFD with FLAGS and
 * MODE (as openat), resolved under RESOLVE (RESOLVE_BENEATH, ...; see
 * openat2(2)).  Returns the fd, which the caller closes, or -errno
 * (-ENOSYS: the kernel has no openat2).
 */
MUST_CHECK int beneath_openat2(int dirfd, const char *path, int flags,
			       mode_t mode, unsigned long long resolve);

/*
 * Opens REL (relative, no "..") beneath DIRFD with FLAGS and MODE (as
 * openat; O_NOFOLLOW is implied).  Returns the fd, which the caller
 * closes, or -errno: -ELOOP for a link on the way, -EXDEV for ".." or
 * another filesystem.
 */
MUST_CHECK int beneath_open(int dirfd, const char *rel, int flags, mode_t mode);

/*
 * Writes NAME in DIRFD (a plain name) atomically: a new NAME.tmp (O_EXCL,
 * 0600), given to UID and GID by fchown when trainfs is root (-1: as it
 * is), written and synced, then renamed to NAME.  Nothing is done by
 * path, so a link a user plants in DIRFD is never followed.  Returns 0
 * or -errno (-EEXIST: NAME.tmp was made meanwhile by someone else).
 */
MUST_CHECK int beneath_write_new(int dirfd, const char *name, const void *buf,
				 size_t len, uid_t uid, gid_t gid);

/* Walks with O_NOFOLLOW as without openat2 (ON), or not: for the tests. */
void beneath_force_walk(int on);

#endif

/*
 * userfile: opening a file a user controls (a trainer's log, metrics and
 * records, its checkpoints and output) so that nothing the user put there
 * can make the daemon wait.  A FIFO or a device would block an open until
 * someone writes; a write lease blocks it up to the lease-break time; a
 * FUSE mount of the user's own that never answers blocks every request
 * into it, unkillably.  So a name is first taken without opening it
 * (O_PATH) and asked about with statx(AT_STATX_DONT_SYNC), which never
 * asks its filesystem; it is opened for real only when it is a regular
 * file (or a folder, for O_DIRECTORY) on its folder's filesystem, not a
 * mount point, and then with O_NONBLOCK, so a lease answers EWOULDBLOCK
 * at once.
 */
#ifndef TRAINFS_USERFILE_H
#define TRAINFS_USERFILE_H

#include <sys/stat.h>
#include <sys/types.h>

#include "util/compiler.h"

/*
 * Opens NAME in the folder DIRFD (or a path, with DIRFD AT_FDCWD) with
 * FLAGS (O_RDONLY, O_WRONLY, O_DIRECTORY, ...; O_NONBLOCK, O_NOFOLLOW and
 * O_CLOEXEC are added) as described above.  Returns the descriptor, or
 * -errno: -ELOOP for a symbolic link, -EINVAL for a FIFO, device or
 * socket (or a non-folder with O_DIRECTORY), -EXDEV for another
 * filesystem or a mount point (NAME or its folder), -EWOULDBLOCK for a
 * file under a lease.
 */
MUST_CHECK int userfile_open(int dirfd, const char *name, int flags);

/*
 * Whether NAME in the folder DIRFD is on DIRFD's filesystem and neither
 * it nor DIRFD is a mount point, asked without its filesystem (a walk of a user's tree must
 * never enter another one).  0 with its type in *MODE (S_IFDIR, ...), or
 * -EXDEV, or -errno.
 */
MUST_CHECK int userfile_local(int dirfd, const char *name, mode_t *mode);

/*
 * lstat() of PATH from what the kernel already knows (a FUSE mount there
 * is not asked): size, times, mode.  0 or -errno (-EXDEV when PATH's
 * folder is a mount point).
 */
MUST_CHECK int userfile_stat(const char *path, struct stat *st);

#endif

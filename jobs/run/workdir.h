/*
 * workdir: whether a job's owner can enter its spec's workdir, asked at
 * `start` so a bad one fails there (EINVAL, "workdir '/x': No such file or
 * directory") instead of as the trainer's status 126 later, and whether it
 * is on the trainfs mount itself ("workdir '/x' is on the trainfs mount"),
 * where a trainer would depend on the daemon that runs it.
 *
 * The check is made by a helper process, "trainfs __workdir", spawned with
 * no lock held (a path on a hung network filesystem, or on this very
 * mount, must hold up nothing but the `start` that asked).
 */
#ifndef TRAINFS_WORKDIR_H
#define TRAINFS_WORKDIR_H

#include <sys/types.h>
#include "util/compiler.h"

/* How long the check may take (a hung network filesystem) before -ETIMEDOUT. */
#define WORKDIR_CHECK_MS 3000

/*
 * Whether UID/GID (with UID's groups) can enter DIR, and DIR is not on the
 * filesystem mounted at MOUNT (NULL: no such check).  A DIR under MOUNT by
 * its name is refused without a look; else SELF_EXE's "__workdir" helper
 * becomes the owner and tries chdir().  Call with no lock held: it waits
 * for the helper up to WORKDIR_CHECK_MS.  Returns 0, -EXDEV (on the
 * mount), or -errno (-ENOENT, -EACCES, -ENOTDIR, -ETIMEDOUT, ...).
 */
MUST_CHECK int workdir_check(const char *self_exe, const char *mount,
			     const char *dir, uid_t uid, gid_t gid);

/*
 * The helper process: "trainfs __workdir DIR UID GID MOUNT" (MOUNT "-":
 * none).  Becomes UID/GID, then writes one line to stdout: "ok", "mount"
 * (DIR, or its nearest existing ancestor, is on MOUNT's filesystem) or
 * "errno N".  Returns the exit status.
 */
int workdir_main(int argc, char **argv);

#endif

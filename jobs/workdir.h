/*
 * workdir: whether a job's owner can enter its spec's workdir, asked at
 * `start` so a bad one fails there (EINVAL, "workdir '/x': No such file or
 * directory") instead of as the trainer's status 126 later.
 */
#ifndef TRAINFS_WORKDIR_H
#define TRAINFS_WORKDIR_H

#include <sys/types.h>

/* How long the check may take (a hung network filesystem) before -ETIMEDOUT. */
#define WORKDIR_CHECK_MS 1000

/*
 * Whether UID/GID (with UID's groups) can enter DIR.  As root for another
 * user, a short-lived child becomes the owner and tries chdir(); the
 * daemon itself never changes its ids.  Returns 0 or -errno (-ENOENT,
 * -EACCES, -ENOTDIR, -ETIMEDOUT, ...).
 */
int workdir_check(const char *dir, uid_t uid, gid_t gid);

#endif

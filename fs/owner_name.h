/*
 * owner_name: a uid's user name for status, looked up by a thread of its
 * own and remembered (owner_name.c), so no render waits on a directory
 * server with a job's lock held.  Owned by fs/render.c, its only user.
 */
#ifndef TRAINFS_OWNER_NAME_H
#define TRAINFS_OWNER_NAME_H

#include <stddef.h>
#include <sys/types.h>

/* Longest user name kept, with its NUL. */
#define OWNER_NAME_MAX 256

/*
 * Puts UID's user name in BUF (LEN bytes) and returns 1; 0 when the uid
 * has no name, or its lookup has not answered yet.  Waits at most a
 * fraction of a second, the first time a uid is asked for only.
 */
int owner_name(uid_t uid, char *buf, size_t len);

#endif

/*
 * reap: ending a helper process that is past its deadline without waiting
 * for it.  A process stuck in a filesystem that never answers (a hung NFS
 * server, a user's FUSE mount) does not die of SIGKILL until that request
 * ends, so whoever gave up on it must not wait for its exit either.
 */
#ifndef TRAINFS_REAP_H
#define TRAINFS_REAP_H

#include <sys/types.h>

/*
 * Sends SIGKILL to the child PID and reaps it: within a few milliseconds
 * here, else on a detached thread of its own that waits as long as it
 * takes.  Never blocks for long.  Also for a child that has exited.
 */
void reap_later(pid_t pid);

#endif

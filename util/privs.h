/*
 * privs: becoming a job's owner.  One copy of the group lookup and of the
 * drop, so every process that runs as the owner (the shim's trainer,
 * Slurm's commands, the packer, the checkpoint pruner, the workdir check)
 * drops root the same way: the owner's full list of supplementary
 * groups, then gid, then uid, each checked, then a check that root
 * cannot be regained.
 *
 * privs_groups() looks the groups up (getpwuid_r and getgrouplist, which
 * may read files or ask the network: never under a lock), and
 * privs_become() only makes system calls, so a forked child of the
 * multithreaded daemon may call it with groups looked up before the fork.
 * privs_drop() is both at once, for a helper process of its own.
 */
#ifndef TRAINFS_PRIVS_H
#define TRAINFS_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

#include "util/compiler.h"

/* Longest group list looked up (Linux's NGROUPS_MAX). */
#define PRIVS_GROUPS_MAX 65536

/*
 * The supplementary groups of UID's passwd entry, with GID, into a new
 * array *GROUPS of *N (the caller frees it); just GID for a uid without
 * an entry.  Returns 0, -ENOMEM, or -E2BIG past PRIVS_GROUPS_MAX.
 */
MUST_CHECK int privs_groups(uid_t uid, gid_t gid, gid_t **groups, int *n);

/* The step at which privs_become() failed. */
enum privs_step { PRIVS_SETGROUPS, PRIVS_SETGID, PRIVS_SETUID, PRIVS_REGAIN };

/*
 * Becomes UID/GID with the N supplementary GROUPS: setgroups, setgid,
 * setuid, each checked, then setuid(0) must fail (unless UID is 0).
 * Async-signal-safe.  Returns 0, or -errno with errno set too and the
 * failed step in *STEP (STEP may be NULL); -EPERM when root could be
 * regained.
 */
MUST_CHECK int privs_become(uid_t uid, gid_t gid, const gid_t *groups, int n,
			    enum privs_step *step);

/*
 * As root, becomes UID/GID with the supplementary groups of UID's passwd
 * entry (just GID if it has none); as another user, succeeds only when UID
 * and GID are already its own.  Returns 0, or -1 with the reason in ERR
 * ("cannot switch to uid 65534: Operation not permitted").
 */
MUST_CHECK int privs_drop(uid_t uid, gid_t gid, char *err, size_t errlen);

/* Reads S, digits only, as an id below UINT_MAX into *out; returns 0 or -1. */
MUST_CHECK int privs_parse_id(const char *s, unsigned int *out);

#endif

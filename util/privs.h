/*
 * privs: becoming a job's owner in a helper process (the packer, the
 * checkpoint pruner).  One copy, so both drop root the same way: the
 * owner's supplementary groups, then gid, then uid, then a check that root
 * cannot be regained.  Not for a forked child of the multithreaded daemon
 * (getpwuid and malloc are not async-signal-safe there): jobs/exec.c
 * prepares the groups before fork for that case.
 */
#ifndef TRAINFS_PRIVS_H
#define TRAINFS_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

#include "util/compiler.h"

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

/*
 * caller: who sent a request, for the checks of who may read a job
 * (jobs/core/access.h).  Its uid and primary group come with the request; its
 * supplementary groups are read (fuse_req_getgroups: the Groups: line of
 * /proc/PID/task/TID/status, as libfuse reads them) only when a job's mode
 * makes them matter, and then once per request.  A caller whose groups
 * cannot be read is judged by its primary group alone.
 */
#ifndef TRAINFS_CALLER_H
#define TRAINFS_CALLER_H

#include "fs/fs.h"
#include "util/compiler.h"

#define CALLER_GROUPS_INLINE 32

struct caller {
	fuse_req_t req; /* NULL: the uid and gid alone */
	uid_t uid;
	gid_t *gids; /* the primary group first, then the others */
	size_t ngids;
	int fetched; /* the supplementary groups were asked for */
	gid_t inline_gids[CALLER_GROUPS_INLINE];
};

/* The caller of REQ; free with caller_done(). */
void caller_init(struct caller *c, fuse_req_t req);
void caller_done(struct caller *c);

/*
 * Whether C may read JOB (jobs/core/access.h), reading C's groups if it must.
 * Needs no lock.
 */
int caller_may_read(struct caller *c, const struct job *job);

/*
 * Whether C may read a folder of owner UID, group GID and MODE (a sweep's)
 * by the same rule as a job's: owner, root, or the class with r and x.
 */
int caller_may_read_mode(struct caller *c, uid_t uid, gid_t gid, mode_t mode);

/*
 * Whether REQ's caller may read job ID: 0, -EACCES, or -ENOENT when there
 * is no such job.  Takes no job lock.
 */
MUST_CHECK int fs_may_read_job(struct trainfs *fs, fuse_req_t req, int64_t id);

#endif

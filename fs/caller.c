/*
 * caller: a request's uid and groups, and the read check of a job that
 * every open, read and listing of a job's files goes through.  trainfs
 * checks for itself rather than trusting the kernel's default_permissions
 * alone, since the kernel may judge by attributes it cached before a
 * chmod.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs/caller.h"
#include "jobs/core/access.h"

void caller_init(struct caller *c, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	c->req = req;
	c->uid = ctx->uid;
	c->gids = c->inline_gids;
	c->gids[0] = ctx->gid;
	c->ngids = 1;
	c->fetched = 0;
}

void caller_done(struct caller *c)
{
	if (c->gids != c->inline_gids)
		free(c->gids);
	c->gids = c->inline_gids;
	c->ngids = 0;
}

/*
 * Reads C's supplementary groups after its primary one.  On failure (the
 * caller already gone, no memory) C keeps its primary group only.
 */
static void fetch_groups(struct caller *c)
{
	int room = CALLER_GROUPS_INLINE - 1;
	c->fetched = 1;
	int n = fuse_req_getgroups(c->req, room, c->inline_gids + 1);
	if (n <= room) {
		c->ngids = 1 + (n > 0 ? (size_t)n : 0);
		return;
	}
	gid_t *all = malloc(((size_t)n + 1) * sizeof *all);
	if (!all)
		return;
	all[0] = c->inline_gids[0];
	int got = fuse_req_getgroups(c->req, n, all + 1);
	if (got < 0 || got > n) { /* failed, or grew meanwhile */
		free(all);
		return;
	}
	c->gids = all;
	c->ngids = 1 + (size_t)got;
}

int caller_may_read(struct caller *c, const struct job *job)
{
	if (!c->fetched && c->req && c->gids[0] != job->rec.gid &&
	    job_access_needs_groups(job, c->uid))
		fetch_groups(c);
	return job_readable_by(job, c->uid, c->gids, c->ngids);
}

int fs_may_read_job(struct trainfs *fs, fuse_req_t req, int64_t id)
{
	struct caller c;
	struct job *job = jobs_get(fs->jobs, id);
	if (!job)
		return -ENOENT;
	caller_init(&c, req);
	int ok = caller_may_read(&c, job);
	caller_done(&c);
	jobs_put(fs->jobs, job);
	return ok ? 0 : -EACCES;
}

int caller_may_read_mode(struct caller *c, uid_t uid, gid_t gid, mode_t mode)
{
	if (c->uid == 0 || c->uid == uid || (mode & 05) == 05)
		return 1;
	if ((mode & 050) != 050)
		return 0;
	if (c->gids[0] == gid)
		return 1;
	if (!c->fetched && c->req)
		fetch_groups(c);
	for (size_t i = 0; i < c->ngids; i++)
		if (c->gids[i] == gid)
			return 1;
	return 0;
}

/*
 * dir: what changes a folder.  mkdir of jobs/NAME creates a job (of
 * sweeps/NAME, a sweep); rmdir removes one; inside a job folder, rm -r
 * hides the job's files from this mount and an editor's temporary files
 * (scratch.c) are created, renamed (onto `spec`: a write of the spec) and
 * unlinked.  Nothing else is created, linked or renamed.  readlink of
 * by-state/ and by-tag/ links is here too.
 *
 * Locks: the registry lock alone to find a job by name and to touch
 * jobs/'s times, then the job's own lock (jobs_lock_job) to hide its
 * files; the job calls (jobs_create, jobs_remove, jobs_rename) take what
 * they need themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct trainfs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int64_t id;
	if (ino_kind(parent) == N_SWEEPS) {
		fuse_ino_t ino = 0;
		int rc = sweepfs_mkdir(fs, name, ctx->uid, ctx->gid,
				       mode & ~ctx->umask, &ino);
		if (rc)
			fuse_reply_err(req, -rc);
		else
			reply_entry(req, fs, ino);
		return;
	}
	if (ino_kind(parent) != N_JOBS) {
		fuse_reply_err(req, EACCES);
		return;
	}
	/* The umask applies (the kernel's too): mkdir -m 700 is private. */
	int rc = jobs_create(fs->jobs, name, ctx->uid, ctx->gid,
			     mode & ~ctx->umask, &id);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	jobs_lock(fs->jobs);
	fs->mtime_ns = job_now_ns();
	jobs_unlock(fs->jobs);
	reply_entry(req, fs, node_ino(id, N_JOB));
}

/*
 * rm -r of a job: unlinking a file of a created or final job (or removing
 * its weights/ once empty) hides it from this mount; the job keeps its
 * data until its folder is removed.  0, -ENOENT, -EISDIR/-ENOTDIR (DIR:
 * whether rmdir asked), -ENOTEMPTY, -EACCES, or -EBUSY in other states.
 */
static int hide_file(struct trainfs *fs, fuse_ino_t parent, const char *name,
		     uid_t uid, int dir)
{
	int rc = 0;
	char shown[PATH_MAX];
	struct job *job = jobs_lock_job(fs->jobs, ino_job(parent));
	enum node_kind k = job ? child_kind(job, ino_kind(parent), name) :
				 N_NONE;
	if (k == N_NONE)
		rc = -ENOENT;
	else if (dir != (k == N_WEIGHTS))
		rc = dir ? -ENOTDIR : -EISDIR;
	else if (!job_may_change(job, uid))
		rc = -EACCES;
	else if (!state_allows_rmdir(job->rec.state))
		rc = -EBUSY;
	else if (k == N_WEIGHTS &&
		 !job_weights_name(job, shown, sizeof shown) &&
		 child_kind(job, N_WEIGHTS, shown) == N_TARBALL)
		rc = -ENOTEMPTY;
	else
		job->hidden |= HIDDEN_BIT(k);
	if (job)
		jobs_unlock_job(fs->jobs, job);
	return rc;
}

/* The id of the job named NAME in jobs/, or 0 (the registry lock alone). */
static int64_t job_id_named(struct trainfs *fs, const char *name)
{
	int64_t id = 0;
	jobs_lock(fs->jobs); /* an id and a name: fixed at creation */
	struct job *job = jobs_find_name(fs->jobs, name);
	if (job)
		id = job->rec.id;
	jobs_unlock(fs->jobs);
	return id;
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct trainfs *fs = fs_of(req);
	int64_t id = 0;
	if (ino_kind(parent) == N_SWEEPS) {
		fuse_reply_err(req, -sweepfs_rmdir(fs, name,
						   fuse_req_ctx(req)->uid));
		return;
	}
	if (ino_kind(parent) == N_JOB) {
		fuse_reply_err(req, -hide_file(fs, parent, name,
					       fuse_req_ctx(req)->uid, 1));
		return;
	}
	if (ino_kind(parent) != N_JOBS) {
		fuse_reply_err(req,
			       ino_kind(parent) == N_ROOT ||
					       byview_is(ino_kind(parent)) ?
				       EACCES :
				       ENOTDIR);
		return;
	}
	id = job_id_named(fs, name);
	int rc = id ? jobs_remove(fs->jobs, id, fuse_req_ctx(req)->uid) :
		      -ENOENT;
	if (!rc)
		scratch_forget_job(fs->scratch, id);
	if (!rc)
		renders_forget_job(fs, id);
	if (!rc) {
		jobs_lock(fs->jobs);
		fs->mtime_ns = job_now_ns();
		jobs_unlock(fs->jobs);
	}
	fuse_reply_err(req, -rc);
}

/* Nothing but mkdir creates anything here, and nothing is renamed. */
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EACCES);
}

/*
 * In a job folder, by its owner: an editor's temporary file (scratch.c).
 * Nothing else can be created.
 */
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct trainfs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e = { .entry_timeout = CACHE_TIMEOUT };
	int rc = 0;
	if (ino_kind(parent) != N_JOB || is_job_file(name)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	struct job *job = jobs_get(fs->jobs, ino_job(parent)); /* its owner */
	if (!job)
		rc = -ENOENT;
	else if (!job_may_change(job, ctx->uid))
		rc = -EACCES;
	else
		rc = scratch_create(fs->scratch, job->rec.id, name,
				    mode & ~ctx->umask, ctx->uid, ctx->gid,
				    &e.attr);
	jobs_put(fs->jobs, job);
	e.ino = e.attr.st_ino;
	struct handle *h = rc ? NULL : handle_new(fs, e.ino, ctx->uid);
	if (!h) {
		if (!rc) {
			scratch_release(fs->scratch, e.ino);
			rc = -ENOMEM;
		}
		fuse_reply_err(req, -rc);
		return;
	}
	h->append = !!(fi->flags & O_APPEND);
	fs_opened_add(fs, &h->opened, fs_handle_free);
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		scratch_release(fs->scratch, h->ino);
		fs_opened_close(fs, &h->opened);
	}
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	enum node_kind pk = ino_kind(parent);
	if (pk != N_JOB && pk != N_WEIGHTS) {
		fuse_reply_err(req, EPERM);
		return;
	}
	uid_t uid = fuse_req_ctx(req)->uid;
	int rc = -ENOENT;
	if (pk == N_JOB && !is_job_file(name))
		rc = scratch_unlink(fs_of(req)->scratch, ino_job(parent), name,
				    uid);
	if (rc == -ENOENT)
		rc = hide_file(fs_of(req), parent, name, uid, 0);
	fuse_reply_err(req, -rc);
}

void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
	     const char *name)
{
	(void)ino, (void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

/*
 * A rename inside job folder PARENT: scratch files among themselves, or
 * one onto `spec`, which writes the spec with the checks of a write (a
 * bad spec is stored all the same, as a write's is).  A job's own files
 * are never renamed away (EPERM: editors then copy instead).
 */
static int rename_in_job(struct trainfs *fs, fuse_ino_t parent,
			 const char *name, const char *newname,
			 unsigned int flags, uid_t uid)
{
	int64_t id = ino_job(parent);
	char *data;
	size_t len;
	if (is_job_file(name) || (flags & RENAME_EXCHANGE))
		return -EPERM;
	if (strcmp(newname, "spec") != 0)
		return is_job_file(newname) ?
			       -EPERM :
			       scratch_rename(fs->scratch, id, name, newname,
					      flags & RENAME_NOREPLACE);
	int rc = scratch_take(fs->scratch, id, name, &data, &len);
	if (rc)
		return rc;
	rc = jobs_write_spec(fs->jobs, id, uid, data, len);
	free(data);
	if (rc && rc != -EINVAL)
		return rc;
	/*
	 * The kernel now takes `spec` for the scratch file's inode: that
	 * inode answers as spec (scratch_alias) until the kernel has looked
	 * the name up again.  Not waited for: the notifier's call waits for
	 * this rename to finish (it holds the folder's lock).
	 */
	/* -ENOENT: the name went meanwhile, and with it what to alias. */
	(void)!scratch_alias(fs->scratch, id, name, node_ino(id, N_SPEC));
	notifier_entry(fs->notifier, parent, "spec");
	return 0;
}

/*
 * A job folder can be renamed in any state, and editors' files inside a
 * job folder (rename_in_job); nothing else is renamed.
 */
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct trainfs *fs = fs_of(req);
	char shown[PATH_MAX];
	int64_t id = 0;
	int had_weights = 0, rc;
	if (ino_kind(parent) == N_JOB && newparent == parent) {
		fuse_reply_err(req,
			       -rename_in_job(fs, parent, name, newname, flags,
					      fuse_req_ctx(req)->uid));
		return;
	}
	if (ino_kind(parent) != N_JOBS || ino_kind(newparent) != N_JOBS) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	id = job_id_named(fs, name);
	struct job *job;
	if (id && (job = jobs_lock_job(fs->jobs, id))) {
		had_weights = !job_weights_name(job, shown, sizeof shown);
		jobs_unlock_job(fs->jobs, job);
	}
	rc = id ? jobs_rename(fs->jobs, id, fuse_req_ctx(req)->uid, newname) :
		  -ENOENT;
	if (!rc && had_weights) /* the tarball's old name is gone */
		notifier_entry(fs->notifier, node_ino(id, N_WEIGHTS), shown);
	if (!rc) {
		jobs_lock(fs->jobs);
		fs->mtime_ns = job_now_ns();
		jobs_unlock(fs->jobs);
		notifier_sync(fs->notifier);
	}
	fuse_reply_err(req, -rc);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[PATH_MAX];
	int rc =
		ino_kind(ino) == N_SWEEP ?
			sweepfs_readlink(fs_of(req), ino, target,
					 sizeof target) :
			byview_readlink(fs_of(req), ino, target, sizeof target);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
}

/*
 * node: paths to nodes and their attributes.  lookup turns a name in a
 * folder into an inode (numbers are computed from the job's id and the
 * file's slot, never stored); getattr and setattr fill and change a node's
 * attributes as the caller sees them (the dashboards show each reader its
 * own); the timeouts say how long the kernel may keep each name and
 * attribute, kept true by invalidation (notify.c) where they are long.
 *
 * Locks: a job's attributes are read under that job's lock only
 * (jobs_lock_job); what is fixed at creation (owner, id, name) is read
 * with a reference (jobs_get) and no lock; the registry lock is taken
 * alone, for names and for the times of jobs/.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "fs/caller.h"
#include "fs/fs.h"
#include "jobs/core/access.h"
#include "util/userfile.h"

#define LINK_TIMEOUT 1.0 /* by-state/ and by-tag/ links: see byview.c */

/* How long the kernel may keep a node's attributes. */
double attr_timeout(enum node_kind k)
{
	/*
	 * The log grows by itself, the dashboard changes with every job,
	 * scratch files are not ours to predict.
	 */
	return k == N_LINK ? LINK_TIMEOUT :
	       k == N_LOG || k == N_SCRATCH || k == N_INDEX || k == N_SUMMARY ||
			       byview_is(k) || k == N_SWEEP ?
			     0 :
			     CACHE_TIMEOUT;
}

/*
 * How long the kernel may keep the name of link INO.  The kernel keeps one
 * name for every user, and a job closed to some is listed only for those
 * who may read it: its link is looked up anew each time.
 */
static double link_timeout(struct trainfs *fs, fuse_ino_t ino)
{
	struct job *job = jobs_get(fs->jobs, ino_job(ino));
	int open = job && job_open_to_all(job);
	jobs_put(fs->jobs, job);
	return open ? LINK_TIMEOUT : 0;
}

/*
 * How long the kernel may keep the name of INO: what is in by-state/ and
 * by-tag/ changes with every job (byview.c).
 */
double entry_timeout(struct trainfs *fs, fuse_ino_t ino)
{
	enum node_kind k = ino_kind(ino);
	return k == N_LINK ? link_timeout(fs, ino) :
	       k == N_STATE_DIR || k == N_TAG_DIR || k == N_SWEEP ?
			     0 :
			     CACHE_TIMEOUT;
}

static struct timespec ts_of(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000LL,
				  .tv_nsec = ns % 1000000000LL };
}

int node_file_mode(const struct job *job, enum node_kind k)
{
	switch (k) {
	case N_SPEC:
		return state_allows_spec_write(job->rec.state) ? 0644 : 0444;
	case N_CONTROL:
	case N_TAGS:
		return 0644;
	default:
		return 0444;
	}
}

static enum job_view view_of(enum node_kind k)
{
	for (size_t i = 0; i < job_nfiles; i++)
		if (job_files[i].kind == k)
			return job_files[i].view;
	return VIEW_STATUS;
}

/* Whether file K shows a shared rendering of its job (renders.c). */
int kind_rendered(enum node_kind k)
{
	return k == N_STATUS || k == N_CONTROL || k == N_TAGS ||
	       k == N_METRICS || k == N_GRAPH || k == N_EVENTS;
}

/*
 * The path in the store of a file served from there: the log, or the
 * tarball of a ready job.  0, -ENOENT or -ENAMETOOLONG.
 */
int store_file(struct trainfs *fs, const struct job *job, enum node_kind k,
	       char *path, size_t len)
{
	char rel[PATH_MAX];
	if (k == N_LOG)
		return jobs_path(fs->jobs, job, "log", path, len);
	if (job->rec.state != ST_READY || !job->rec.weights)
		return -ENOENT;
	snprintf(rel, sizeof rel, "weights/%s", job->rec.weights);
	return jobs_path(fs->jobs, job, rel, path, len);
}

static int job_attr(struct trainfs *fs, struct job *job, enum node_kind k,
		    struct stat *st, off_t size);

/*
 * Fills *st for INO as REQ's caller sees it (the dashboards show each
 * reader its own), taking the locks it needs.  0 or -ENOENT.
 */
int node_attr(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
	      struct stat *st)
{
	enum node_kind k = ino_kind(ino);
	fuse_ino_t alias;
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	if (k == N_SCRATCH && (alias = scratch_alias_of(fs->scratch, ino))) {
		ino = alias; /* renamed onto spec (rename_in_job) */
		k = ino_kind(ino);
	} else if (k == N_SCRATCH) {
		return scratch_getattr(fs->scratch, ino, st);
	}
	if (k == N_SWEEPS || k == N_SWEEP)
		return sweepfs_attr(fs, req, ino, st);
	if (k == N_ROOT || k == N_JOBS) {
		st->st_mode = S_IFDIR | (k == N_ROOT ? 0755 : 01777);
		st->st_nlink = 2;
		st->st_uid = fs->uid;
		st->st_gid = fs->gid;
		jobs_lock(fs->jobs);
		st->st_mtim = st->st_ctim = st->st_atim = ts_of(fs->mtime_ns);
		jobs_unlock(fs->jobs);
		return 0;
	}
	if (k == N_INDEX || k == N_SUMMARY) { /* the true size */
		struct caller c;
		caller_init(&c, req);
		int rc = dash_files_attr(fs, &c, k, st);
		caller_done(&c);
		st->st_blocks = (st->st_size + 511) / 512;
		return rc;
	}
	if (byview_is(k))
		return byview_attr(fs, ino, st);
	if (k == N_NONE)
		return -ENOENT;
	if (k == N_JOB) {
		/* Fixed at creation: no need to wait for the job's lock. */
		struct job *job = jobs_get(fs->jobs, ino_job(ino));
		if (!job)
			return -ENOENT;
		st->st_mode = S_IFDIR | job_mode(job);
		st->st_nlink = 3;
		st->st_uid = job->rec.uid;
		st->st_gid = job->rec.gid;
		st->st_mtim = st->st_ctim = st->st_atim =
			ts_of(job->rec.created_ns);
		jobs_put(fs->jobs, job);
		return 0;
	}
	/*
	 * The size of a rendered file is its current rendering's, shared
	 * with its readers; metrics' is counted from the table (job_attr).
	 */
	off_t size = 0;
	int rc;
	if (kind_rendered(k) && k != N_METRICS &&
	    (rc = renders_size(fs, ino_job(ino), k, &size)))
		return rc;
	struct job *job = jobs_lock_job(fs->jobs, ino_job(ino));
	rc = job ? job_attr(fs, job, k, st, size) : -ENOENT;
	if (job)
		jobs_unlock_job(fs->jobs, job);
	return rc;
}

/*
 * node_attr() of file K of JOB, SIZE the size of its rendering (not
 * metrics).  With the job's lock held.
 */
static int job_attr(struct trainfs *fs, struct job *job, enum node_kind k,
		    struct stat *st, off_t size)
{
	st->st_uid = job->rec.uid;
	st->st_gid = job->rec.gid;
	int64_t mtime = job->rec.mtime_ns[view_of(k)];
	char path[PATH_MAX];
	struct stat real;
	switch (k) {
	case N_JOB:
		st->st_mode = S_IFDIR | job_mode(job);
		st->st_nlink = 3;
		mtime = job->rec.created_ns;
		break;
	case N_WEIGHTS:
		st->st_mode = S_IFDIR | job_file_mode(job, 0555);
		st->st_nlink = 2;
		break;
	case N_TARBALL:
	case N_LOG:
		/* The store's own file: the log grows, the tarball is fixed. */
		st->st_mode = S_IFREG | job_file_mode(job, 0444);
		if (k == N_TARBALL &&
		    !tarball_ino_current(st->st_ino, job->resumes))
			return -ENOENT; /* the tarball of before a resume */
		if (store_file(fs, job, k, path, sizeof path) == 0 &&
		    userfile_stat(path, &real) == 0) {
			st->st_size = real.st_size;
			mtime = (int64_t)real.st_mtim.tv_sec * 1000000000LL +
				real.st_mtim.tv_nsec;
		} else if (k == N_TARBALL) {
			return -ENOENT;
		}
		break;
	case N_WAIT:
		st->st_mode = S_IFREG | job_file_mode(job, 0444);
		break;
	case N_SPEC:
		st->st_mode = S_IFREG |
			      job_file_mode(job, node_file_mode(job, k));
		st->st_size = job->rec.spec ? (off_t)job->rec.spec_len : 0;
		break;
	case N_METRICS: {
		st->st_mode = S_IFREG |
			      job_file_mode(job, node_file_mode(job, k));
		int rc = jobs_load_metrics(fs->jobs, job);
		if (rc)
			return rc;
		st->st_size = (off_t)render_metrics_size(job);
		break;
	}
	default:
		st->st_mode = S_IFREG |
			      job_file_mode(job, node_file_mode(job, k));
		st->st_size = size;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim = st->st_ctim = st->st_atim = ts_of(mtime);
	return 0;
}

/* INO, or the job file a scratch inode INO was renamed onto. */
fuse_ino_t node_resolve(struct trainfs *fs, fuse_ino_t ino)
{
	fuse_ino_t t = ino_kind(ino) == N_SCRATCH ?
			       scratch_alias_of(fs->scratch, ino) :
			       0;
	return t ? t : ino;
}

/* Whether NAME is one of a job folder's own files. */
int is_job_file(const char *name)
{
	for (size_t i = 0; i < job_nfiles; i++)
		if (!strcmp(name, job_files[i].name))
			return 1;
	return 0;
}

/*
 * The kind of the file NAME in folder PK (a job folder or its weights/)
 * of JOB, or N_NONE: no such name, or unlinked by rm -r (hidden).  With
 * JOB's lock held.
 */
enum node_kind child_kind(const struct job *job, enum node_kind pk,
			  const char *name)
{
	enum node_kind k = N_NONE;
	char shown[PATH_MAX];
	if (pk == N_JOB) {
		for (size_t i = 0; i < job_nfiles; i++)
			if (!strcmp(name, job_files[i].name))
				k = job_files[i].kind;
	} else if (pk == N_WEIGHTS &&
		   !job_weights_name(job, shown, sizeof shown) &&
		   !strcmp(name, shown)) {
		k = N_TARBALL;
	}
	return k != N_NONE && !(job->hidden & HIDDEN_BIT(k)) ? k : N_NONE;
}

void reply_entry(fuse_req_t req, struct trainfs *fs, fuse_ino_t ino)
{
	struct fuse_entry_param e = {
		.ino = ino,
		.entry_timeout = entry_timeout(fs, ino),
		.attr_timeout = attr_timeout(ino_kind(ino)),
	};
	int rc = node_attr(fs, req, ino, &e.attr);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct trainfs *fs = fs_of(req);
	enum node_kind pk = ino_kind(parent);
	fuse_ino_t ino = 0;
	enum node_kind dk = pk == N_ROOT ? dash_files_kind(name) : N_NONE;
	if (pk == N_SWEEPS || pk == N_SWEEP) {
		sweepfs_lookup(req, fs, parent, name);
		return;
	}
	if (pk == N_ROOT && !strcmp(name, "jobs")) {
		ino = INO_JOBS;
	} else if (pk == N_ROOT && !strcmp(name, "sweeps")) {
		ino = INO_SWEEPS;
	} else if (dk != N_NONE) {
		ino = dk == N_INDEX ? INO_INDEX : INO_SUMMARY;
	} else if (pk == N_ROOT || byview_is(pk)) {
		struct caller c;
		caller_init(&c, req);
		ino = byview_lookup(fs, &c, parent, name);
		caller_done(&c);
	} else if (pk == N_JOBS) {
		jobs_lock(fs->jobs); /* an id and a name: fixed at creation */
		struct job *job = jobs_find_name(fs->jobs, name);
		if (job)
			ino = node_ino(job->rec.id, N_JOB);
		jobs_unlock(fs->jobs);
	} else if (pk == N_JOB || pk == N_WEIGHTS) {
		struct job *job = jobs_lock_job(fs->jobs, ino_job(parent));
		enum node_kind k = job ? child_kind(job, pk, name) : N_NONE;
		struct stat st;
		struct caller c;
		caller_init(&c, req);
		int denied = job && !caller_may_read(&c, job);
		caller_done(&c);
		if (denied) { /* as a folder without x for the caller */
			jobs_unlock_job(fs->jobs, job);
			fuse_reply_err(req, EACCES);
			return;
		}
		if (k == N_TARBALL)
			ino = tarball_ino(job->rec.id, job->resumes);
		else if (k != N_NONE)
			ino = node_ino(job->rec.id, k);
		else if (job && pk == N_JOB && !is_job_file(name) &&
			 !scratch_lookup(fs->scratch, job->rec.id, name, &st))
			ino = st.st_ino;
		if (job)
			jobs_unlock_job(fs->jobs, job);
	}
	if (ino) {
		reply_entry(req, fs, ino);
	} else {
		/*
		 * A cached "no such name": file browsers ask for .hidden and
		 * friends constantly.  mkdir replaces it; a tarball that
		 * appears is announced by notify.c.
		 */
		struct fuse_entry_param e = {
			.entry_timeout = byview_is(pk) ? 0 : CACHE_TIMEOUT
		};
		fuse_reply_entry(req, &e);
	}
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct trainfs *fs = fs_of(req);
	struct stat st;
	(void)fi;
	int rc = node_attr(fs, req, ino, &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, attr_timeout(ino_kind(ino)));
}

/*
 * Has the kernel forget the attributes (the modes) of every file of job
 * ID, so that its own permission checks see the new mode at once, and the
 * names of its links, which it keeps for every user alike.
 */
static void job_modes_changed(struct trainfs *fs, int64_t id)
{
	struct job *job = jobs_lock_job(fs->jobs, id);
	if (!job)
		return;
	for (size_t i = 0; i < job_nfiles; i++)
		notifier_inode(fs->notifier, node_ino(id, job_files[i].kind));
	notifier_inode(fs->notifier, tarball_ino(id, job->resumes));
	notifier_inode(fs->notifier, node_ino(id, N_LINK));
	byview_job_mode_changed(fs, job);
	jobs_unlock_job(fs->jobs, job);
	notifier_sync(fs->notifier);
}

/*
 * The owner, group and mode part of a setattr of job file INO.  A job's
 * files keep their owner: what `cp -p` and editors ask (the owner's own
 * uid and gid) is accepted and changes nothing, anything else is EPERM.
 * chmod of the job folder sets who else may read the job (access.h); of a
 * file inside, the folder decides, so only the mode it has is accepted
 * (EPERM, not a silent no-op, for any other).  0 or a negative errno.
 */
static int set_owner_mode(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
			  const struct stat *attr, int to_set)
{
	enum node_kind k = ino_kind(ino);
	uid_t uid = fuse_req_ctx(req)->uid;
	struct stat now;
	int rc = 0;
	struct job *job = k >= N_JOB && k <= N_LINK ?
				  jobs_get(fs->jobs, ino_job(ino)) :
				  NULL; /* its owner: fixed at creation */
	if (!job || k < N_JOB)
		rc = job ? -EPERM : -ENOENT;
	else if (!job_may_change(job, uid) ||
		 ((to_set & FUSE_SET_ATTR_UID) &&
		  attr->st_uid != job->rec.uid) ||
		 ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != job->rec.gid))
		rc = -EPERM;
	jobs_put(fs->jobs, job);
	if (rc || !(to_set & FUSE_SET_ATTR_MODE))
		return rc;
	if (k == N_JOB) {
		rc = jobs_chmod(fs->jobs, ino_job(ino), uid, attr->st_mode);
		if (!rc) /* every file's mode follows the folder's */
			job_modes_changed(fs, ino_job(ino));
		return rc;
	}
	if ((rc = node_attr(fs, req, ino, &now)))
		return rc;
	return (attr->st_mode & 07777) == (now.st_mode & 07777) ? 0 : -EPERM;
}

/* setattr of an editor's scratch file INO: answers REQ itself. */
static void setattr_scratch(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
			    struct stat *attr, int to_set)
{
	struct stat st;
	uid_t owner = (uid_t)-1;
	gid_t group = (gid_t)-1;
	/* A job's owner is fixed at creation: no job lock needed. */
	struct job *job = jobs_get(fs->jobs, scratch_job(fs->scratch, ino));
	if (job) {
		owner = job->rec.uid;
		group = job->rec.gid;
	}
	jobs_put(fs->jobs, job);
	int rc = scratch_setattr(fs->scratch, ino, attr, to_set, owner, group,
				 &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, 0);
}

/*
 * A truncate of job file INO to SIZE by UID (FI: the open file, or NULL):
 * a spec is cut (in the open file's text, or the stored one), tags are
 * emptied, control ignores it; anything else is -EACCES.  0 or -errno.
 */
static int set_size(struct trainfs *fs, fuse_ino_t ino, off_t size, uid_t uid,
		    struct fuse_file_info *fi)
{
	enum node_kind k = ino_kind(ino);
	struct handle *h = fi ? (struct handle *)fi->fh : NULL;
	int rc = 0;
	if (k == N_SPEC && h) {
		if ((size_t)size < h->len)
			h->len = size;
		h->dirty = 1;
	} else if (k == N_SPEC) {
		/* truncate(1) without an open file: cut the stored text. */
		char *text = NULL;
		size_t len = 0;
		struct job *job = jobs_lock_job(fs->jobs, ino_job(ino));
		if (job && job->rec.spec &&
		    (text = malloc(job->rec.spec_len + 1))) {
			len = job->rec.spec_len;
			memcpy(text, job->rec.spec, len);
		}
		if (job)
			jobs_unlock_job(fs->jobs, job);
		if ((size_t)size < len)
			len = size;
		rc = jobs_write_spec(fs->jobs, ino_job(ino), uid,
				     text ? text : "", len);
		free(text);
	} else if (k == N_TAGS && size == 0) {
		rc = jobs_write_tags(fs->jobs, ino_job(ino), uid, "", 0, 1);
	} else if (k != N_CONTROL) {
		rc = -EACCES;
	}
	return rc;
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	ino = node_resolve(fs_of(req), ino);
	struct trainfs *fs = fs_of(req);
	enum node_kind k = ino_kind(ino);
	uid_t uid = fuse_req_ctx(req)->uid;
	int rc = 0;
	if (k == N_SWEEPS || k == N_SWEEP) {
		/* Its folder's mode as a job's; times are its own. */
		rc = sweepfs_setattr(fs, req, ino, attr, to_set);
		if (rc)
			fuse_reply_err(req, -rc);
		else
			op_getattr(req, ino, fi);
		return;
	}
	if (k == N_SCRATCH) {
		setattr_scratch(fs, req, ino, attr, to_set);
		return;
	}
	if (to_set &
	    (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		rc = set_owner_mode(fs, req, ino, attr, to_set);
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
	}
	if (to_set & FUSE_SET_ATTR_SIZE)
		rc = set_size(fs, ino, attr->st_size, uid, fi);
	notifier_sync(fs->notifier);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	op_getattr(req, ino, fi); /* times are ours to keep: ignore touch */
}

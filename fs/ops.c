/*
 * ops: the operations table, the table of contents of the filesystem.
 * Each handler turns a request into a call on jobs/ and the result into an
 * errno; the rules (who may, when, what next) are in jobs/.
 *
 * Dynamic files show a rendering (renders.c) made once per change of
 * the job and shared by all its readers: an open file holds a reference
 * to the one that was current when it opened (so a `cat` sees one state),
 * charged to the opener (usermem.c), and a stat takes the size of the
 * current one (for metrics, the size computed from the table, so a stat
 * never waits for a rendering).  The
 * kernel may cache names and attributes for a day, and contents where no
 * reader can see a torn rendering (see open_file): notify.c invalidates
 * exactly what a change made stale, before the write that made it
 * returns.  The log (written by the trainer behind our back) and `wait`
 * (which blocks) bypass the caches.  The tarball is immutable once
 * visible.  Both are real files in the store: the kernel reads them itself
 * by FUSE passthrough where it can (libfuse 3.17+, CONFIG_FUSE_PASSTHROUGH,
 * CAP_SYS_ADMIN), else we serve them from the file by splice.
 *
 * Locks (jobs/registry.h): a request about one job's files takes that
 * job's lock only (jobs_lock_job), so it never waits for another job's
 * work; the registry lock is taken alone, for names and listings.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/caller.h"
#include "fs/fs.h"
#include "jobs/access.h"
#include "fs/tailview.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/userfile.h"

#define SPEC_MAX (1024 * 1024) /* a spec is a few lines; this is plenty */
#define CACHE_TIMEOUT 86400.0   /* kept true by invalidation (notify.c) */
#define PAGE_BYTES 4096
#define LINK_TIMEOUT 1.0 /* by-state/ and by-tag/ links: see byview.c */

/* How long the kernel may keep a node's attributes. */
static double attr_timeout(enum node_kind k)
{
	/*
	 * The log grows by itself, the dashboard changes with every job,
	 * scratch files are not ours to predict.
	 */
	return k == N_LINK ? LINK_TIMEOUT
	       : k == N_LOG || k == N_SCRATCH || k == N_INDEX || k == N_SUMMARY ||
			       byview_is(k) || k == N_SWEEP
		       ? 0
		       : CACHE_TIMEOUT;
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
static double entry_timeout(struct trainfs *fs, fuse_ino_t ino)
{
	enum node_kind k = ino_kind(ino);
	return k == N_LINK ? link_timeout(fs, ino)
	       : k == N_STATE_DIR || k == N_TAG_DIR || k == N_SWEEP ? 0
						      : CACHE_TIMEOUT;
}

/* What an open file carries from open to release. */
struct handle {
	struct opened opened; /* first: on the list of open files */
	struct trainfs *fs;
	enum node_kind kind;
	int64_t id;
	struct rendering *r; /* the shared rendering read, or NULL */
	char *buf;   /* spec: the text being written */
	size_t len, cap;
	size_t charged; /* spec: bytes of buf counted against uid */
	int fd;      /* log, tarball: the store's file */
	fuse_ino_t ino; /* a scratch file's inode */
	struct backing *backing; /* log, tarball: read by passthrough */
	int dirty;   /* spec: written since the last flush */
	int refused; /* spec: a write was refused; nothing is stored */
	int append;
	uid_t uid;   /* who opened it */
	uid_t owner; /* its job's owner (fixed at creation) */
	unsigned long changes; /* the job's change count when rendered */
	struct tail_view tail; /* metrics: a follower's view (tailview.h) */
	/*
	 * tags opened with O_TRUNC: the user tags are cleared by the first
	 * accepted write, or at close when no write was attempted.  A shell
	 * closes a duplicate descriptor (a FLUSH) before it writes, and no
	 * FLUSH says it is the last, so a writeless FLUSH clears at once and
	 * keeps the old tags in SAVED: a refused write then puts them back.
	 */
	int trunc, attempted, cleared;
	char *saved;
	size_t saved_len;
};

static struct trainfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/*
 * A store file the kernel reads by passthrough for inode INO.  The kernel
 * allows one backing file per inode and, while it has one, every open of
 * the inode must use it: so all opens of INO share one backing id,
 * counted, given back at the last release.
 */
struct backing {
	struct backing *next;
	fuse_ino_t ino;
	dev_t dev;  /* which file it is: a resumed job's new tarball */
	ino_t file; /* has the same inode here but is another file */
	int id;     /* the kernel's backing id */
	int refs;   /* open handles using it */
};

void fs_opened_init(struct trainfs *fs)
{
	lock_init(&fs->opened_lock, LOCK_OPENED);
	fs->opened.prev = fs->opened.next = &fs->opened;
	lock_init(&fs->backing_lock, LOCK_BACKING);
}

static void opened_add(struct trainfs *fs, struct opened *o,
		       void (*free_fn)(struct opened *))
{
	o->free = free_fn;
	lock_take(&fs->opened_lock);
	o->next = fs->opened.next;
	o->prev = &fs->opened;
	o->next->prev = o;
	fs->opened.next = o;
	lock_drop(&fs->opened_lock);
}

/* Takes O off the list and frees it. */
static void opened_close(struct trainfs *fs, struct opened *o)
{
	lock_take(&fs->opened_lock);
	o->prev->next = o->next;
	o->next->prev = o->prev;
	lock_drop(&fs->opened_lock);
	o->free(o);
}

void fs_opened_add(struct trainfs *fs, struct opened *o,
		   void (*free_fn)(struct opened *o))
{
	opened_add(fs, o, free_fn);
}

void fs_opened_close(struct trainfs *fs, struct opened *o)
{
	opened_close(fs, o);
}

void fs_opened_free(struct trainfs *fs)
{
	while (fs->opened.next != &fs->opened)
		opened_close(fs, fs->opened.next);
	lock_destroy(&fs->opened_lock);
	/* The kernel closed the backing files with the connection. */
	while (fs->backings) {
		struct backing *b = fs->backings;
		fs->backings = b->next;
		free(b);
	}
	lock_destroy(&fs->backing_lock);
}

/*
 * Counts BYTES against H's opener in place of what it held: 0, or
 * -ENOMEM past the opener's share (the old charge is kept then).
 */
static int handle_charge(struct handle *h, size_t bytes)
{
	if (bytes > h->charged) {
		int rc = usermem_charge(h->uid, bytes - h->charged);
		if (rc)
			return rc;
	} else {
		usermem_uncharge(h->uid, h->charged - bytes);
	}
	h->charged = bytes;
	return 0;
}

/* H no longer shows a rendering. */
static void handle_unshow(struct handle *h)
{
	if (!h->r)
		return;
	rendering_unhold(h->fs, h->r, h->uid);
	rendering_put(h->fs, h->r);
	h->r = NULL;
}

/*
 * Makes R (a reference, taken over) the rendering H shows, charged to its
 * opener; on -ENOMEM H keeps what it had and R is let go.
 */
static int handle_show(struct handle *h, struct rendering *r)
{
	int rc = rendering_hold(h->fs, r, h->uid);
	if (rc) {
		rendering_put(h->fs, r);
		return rc;
	}
	handle_unshow(h);
	h->r = r;
	return 0;
}

/*
 * Grows H's spec buffer to hold END bytes (twice that with SLACK, for
 * writes to come): 0, -ENOMEM.
 */
static int handle_grow(struct handle *h, size_t end, int slack)
{
	if (end <= h->cap)
		return 0;
	size_t cap = slack ? end * 2 : end;
	int rc = handle_charge(h, h->charged - h->cap + cap);
	if (rc)
		return rc;
	char *b = realloc(h->buf, cap);
	if (!b) {
		handle_charge(h, h->charged - cap + h->cap);
		return -ENOMEM;
	}
	h->buf = b;
	h->cap = cap;
	return 0;
}

static void handle_free(struct opened *o)
{
	struct handle *h = (struct handle *)o;
	if (h->fd >= 0)
		close(h->fd);
	handle_unshow(h);
	handle_charge(h, 0);
	free(h->buf);
	free(h->saved);
	free(h);
}

static struct timespec ts_of(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000LL,
				  .tv_nsec = ns % 1000000000LL };
}

static int file_mode(const struct job *job, enum node_kind k)
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
static int kind_rendered(enum node_kind k)
{
	return k == N_STATUS || k == N_CONTROL || k == N_TAGS ||
	       k == N_METRICS || k == N_GRAPH || k == N_EVENTS;
}

/*
 * The path in the store of a file served from there: the log, or the
 * tarball of a ready job.  0, -ENOENT or -ENAMETOOLONG.
 */
static int store_file(struct trainfs *fs, const struct job *job,
		      enum node_kind k, char *path, size_t len)
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
static int node_attr(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
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
		st->st_mtim = st->st_ctim = st->st_atim = ts_of(job->rec.created_ns);
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
		if (k == N_TARBALL && !tarball_ino_current(st->st_ino,
							   job->resumes))
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
		st->st_mode = S_IFREG | job_file_mode(job, file_mode(job, k));
		st->st_size = job->rec.spec ? (off_t)job->rec.spec_len : 0;
		break;
	case N_METRICS: {
		st->st_mode = S_IFREG | job_file_mode(job, file_mode(job, k));
		int rc = jobs_load_metrics(fs->jobs, job);
		if (rc)
			return rc;
		st->st_size = (off_t)render_metrics_size(job);
		break;
	}
	default:
		st->st_mode = S_IFREG | job_file_mode(job, file_mode(job, k));
		st->st_size = size;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim = st->st_ctim = st->st_atim = ts_of(mtime);
	return 0;
}

#define HIDDEN_BIT(k) (1u << ((k) - N_JOB))

/* INO, or the job file a scratch inode INO was renamed onto. */
static fuse_ino_t resolve(struct trainfs *fs, fuse_ino_t ino)
{
	fuse_ino_t t = ino_kind(ino) == N_SCRATCH
			       ? scratch_alias_of(fs->scratch, ino)
			       : 0;
	return t ? t : ino;
}

/* Whether NAME is one of a job folder's own files. */
static int is_job_file(const char *name)
{
	for (size_t i = 0; i < job_nfiles; i++)
		if (!strcmp(name, job_files[i].name))
			return 1;
	return 0;
}

/*
 * The kind of the file NAME in folder PK (a job folder or its weights/)
 * of JOB, or N_NONE: no such name, or unlinked by rm -r (hidden).  With
 * the registry lock held.
 */
static enum node_kind child_kind(const struct job *job, enum node_kind pk,
				 const char *name)
{
	enum node_kind k = N_NONE;
	char shown[PATH_MAX];
	if (pk == N_JOB) {
		for (size_t i = 0; i < job_nfiles; i++)
			if (!strcmp(name, job_files[i].name))
				k = job_files[i].kind;
	} else if (pk == N_WEIGHTS && !job_weights_name(job, shown, sizeof shown) &&
		   !strcmp(name, shown)) {
		k = N_TARBALL;
	}
	return k != N_NONE && !(job->hidden & HIDDEN_BIT(k)) ? k : N_NONE;
}

static void reply_entry(fuse_req_t req, struct trainfs *fs, fuse_ino_t ino)
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

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
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

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
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
	struct job *job = k >= N_JOB && k <= N_LINK
				  ? jobs_get(fs->jobs, ino_job(ino))
				  : NULL; /* its owner: fixed at creation */
	if (!job || k < N_JOB)
		rc = job ? -EPERM : -ENOENT;
	else if (!job_may_change(job, uid) ||
		 ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != job->rec.uid) ||
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

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	ino = resolve(fs_of(req), ino);
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
		struct stat st;
		uid_t owner = (uid_t)-1;
		gid_t group = (gid_t)-1;
		/* A job's owner is fixed at creation: no job lock needed. */
		struct job *job = jobs_get(fs->jobs,
					   scratch_job(fs->scratch, ino));
		if (job) {
			owner = job->rec.uid;
			group = job->rec.gid;
		}
		jobs_put(fs->jobs, job);
		rc = scratch_setattr(fs->scratch, ino, attr, to_set, owner, group,
				     &st);
		if (rc)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_attr(req, &st, 0);
		return;
	}
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		      FUSE_SET_ATTR_GID)) {
		rc = set_owner_mode(fs, req, ino, attr, to_set);
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct handle *h = fi ? (struct handle *)fi->fh : NULL;
		if (k == N_SPEC && h) {
			if ((size_t)attr->st_size < h->len)
				h->len = attr->st_size;
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
			if ((size_t)attr->st_size < len)
				len = attr->st_size;
			rc = jobs_write_spec(fs->jobs, ino_job(ino), uid,
					     text ? text : "", len);
			free(text);
		} else if (k == N_TAGS && attr->st_size == 0) {
			rc = jobs_write_tags(fs->jobs, ino_job(ino), uid, "", 0,
					     1);
		} else if (k != N_CONTROL) {
			rc = -EACCES;
		}
	}
	notifier_sync(fs->notifier);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	op_getattr(req, ino, fi); /* times are ours to keep: ignore touch */
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
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
	enum node_kind k = job ? child_kind(job, ino_kind(parent), name)
			       : N_NONE;
	if (k == N_NONE)
		rc = -ENOENT;
	else if (dir != (k == N_WEIGHTS))
		rc = dir ? -ENOTDIR : -EISDIR;
	else if (!job_may_change(job, uid))
		rc = -EACCES;
	else if (!state_allows_rmdir(job->rec.state))
		rc = -EBUSY;
	else if (k == N_WEIGHTS && !job_weights_name(job, shown, sizeof shown) &&
		 child_kind(job, N_WEIGHTS, shown) == N_TARBALL)
		rc = -ENOTEMPTY;
	else
		job->hidden |= HIDDEN_BIT(k);
	if (job)
		jobs_unlock_job(fs->jobs, job);
	return rc;
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
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
		fuse_reply_err(req, ino_kind(parent) == N_ROOT ||
					    byview_is(ino_kind(parent))
				    ? EACCES
				    : ENOTDIR);
		return;
	}
	jobs_lock(fs->jobs);
	struct job *job = jobs_find_name(fs->jobs, name);
	if (job)
		id = job->rec.id;
	jobs_unlock(fs->jobs);
	int rc = id ? jobs_remove(fs->jobs, id, fuse_req_ctx(req)->uid)
		    : -ENOENT;
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
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EACCES);
}

/*
 * In a job folder, by its owner: an editor's temporary file (scratch.c).
 * Nothing else can be created.
 */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct trainfs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e = { .entry_timeout = CACHE_TIMEOUT };
	int rc = 0;
	if (ino_kind(parent) != N_JOB || is_job_file(name)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	struct handle *h = calloc(1, sizeof *h);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->fs = fs;
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
	if (rc) {
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	e.ino = e.attr.st_ino;
	h->kind = N_SCRATCH;
	h->id = ino_job(parent);
	h->ino = e.ino;
	h->fd = -1;
	h->uid = ctx->uid;
	h->append = !!(fi->flags & O_APPEND);
	opened_add(fs, &h->opened, handle_free);
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		scratch_release(fs->scratch, h->ino);
		opened_close(fs, &h->opened);
	}
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
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

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
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
		return is_job_file(newname)
			       ? -EPERM
			       : scratch_rename(fs->scratch, id, name, newname,
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
	scratch_alias(fs->scratch, id, name, node_ino(id, N_SPEC));
	notifier_entry(fs->notifier, parent, "spec");
	return 0;
}

/*
 * A job folder can be renamed in any state, and editors' files inside a
 * job folder (rename_in_job); nothing else is renamed.
 */
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct trainfs *fs = fs_of(req);
	char shown[PATH_MAX];
	int64_t id = 0;
	int had_weights = 0, rc;
	if (ino_kind(parent) == N_JOB && newparent == parent) {
		fuse_reply_err(req, -rename_in_job(fs, parent, name, newname,
						   flags,
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
	jobs_lock(fs->jobs);
	struct job *job = jobs_find_name(fs->jobs, name);
	if (job)
		id = job->rec.id;
	jobs_unlock(fs->jobs);
	if (id && (job = jobs_lock_job(fs->jobs, id))) {
		had_weights = !job_weights_name(job, shown, sizeof shown);
		jobs_unlock_job(fs->jobs, job);
	}
	rc = id ? jobs_rename(fs->jobs, id, fuse_req_ctx(req)->uid, newname)
		: -ENOENT;
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

/*
 * Replies with SIZE bytes of BUF from OFF, from a copy: the moment the
 * kernel has the reply, the reader may close the file, and its release
 * (on another thread) frees BUF while our write(2) to /dev/fuse is still
 * returning.
 */
static void reply_slice(fuse_req_t req, const char *buf, size_t len,
			off_t off, size_t size)
{
	if (off < 0 || (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = len - off < size ? len - off : size;
	char *copy = malloc(n);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(copy, buf + off, n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

/* ---- directories ---- */

/*
 * A directory is listed once, at opendir, as names and inodes (a snapshot,
 * so one `ls` sees one listing); readdir and readdirplus produce entries
 * from it at the offset asked, readdirplus with attributes so that `ls -l`
 * needs no lookup per name.
 */
struct listing {
	struct opened opened; /* first: on the list of open files */
	char **names;
	fuse_ino_t *inos;
	size_t n, cap;
};

static int list_add(struct listing *l, const char *name, fuse_ino_t ino)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **names = realloc(l->names, cap * sizeof *names);
		if (!names)
			return -ENOMEM;
		l->names = names;
		fuse_ino_t *inos = realloc(l->inos, cap * sizeof *inos);
		if (!inos)
			return -ENOMEM;
		l->inos = inos;
		l->cap = cap;
	}
	if (!(l->names[l->n] = strdup(name)))
		return -ENOMEM;
	l->inos[l->n++] = ino;
	return 0;
}

static int list_add_cb(void *arg, const char *name, fuse_ino_t ino)
{
	return list_add(arg, name, ino);
}

static void list_free(struct opened *o)
{
	struct listing *l = (struct listing *)o;
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->inos);
	free(l);
}

/* Answers an opendir with listing L, or with RC (L freed). */
static void opendir_reply(struct trainfs *fs, fuse_req_t req,
			  struct fuse_file_info *fi, struct listing *l, int rc)
{
	if (rc) {
		list_free(&l->opened);
		fuse_reply_err(req, -rc);
		return;
	}
	opened_add(fs, &l->opened, list_free);
	fi->fh = (uintptr_t)l;
	fuse_reply_open(req, fi);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct trainfs *fs = fs_of(req);
	enum node_kind k = ino_kind(ino);
	struct listing *l = calloc(1, sizeof *l);
	int rc = 0;
	if (!l) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int byview = byview_is(k) && k != N_LINK;
	if (k == N_SWEEPS || k == N_SWEEP) { /* never cached: trials come */
		rc = sweepfs_is_dir(ino) ? sweepfs_list(fs, req, ino, list_add_cb, l)
					 : -ENOTDIR;
		opendir_reply(fs, req, fi, l, rc);
		return;
	}
	struct caller c;
	caller_init(&c, req);
	struct job *job = k == N_JOB || k == N_WEIGHTS
				  ? jobs_lock_job(fs->jobs, ino_job(ino))
				  : NULL;
	if (k == N_JOBS)
		jobs_lock(fs->jobs);
	if (k != N_ROOT && k != N_JOBS && k != N_JOB && k != N_WEIGHTS &&
	    !byview)
		rc = -ENOTDIR;
	else if ((k == N_JOB || k == N_WEIGHTS) && !job)
		rc = -ENOENT;
	else if (job && !caller_may_read(&c, job))
		rc = -EACCES;
	if (!rc)
		rc = list_add(l, ".", ino);
	if (!rc)
		rc = list_add(l, "..", k == N_JOB ? INO_JOBS : k == N_WEIGHTS
				   ? node_ino(ino_job(ino), N_JOB)
				   : k == N_STATE_DIR ? INO_BY_STATE
				   : k == N_TAG_DIR ? INO_BY_TAG : INO_ROOT);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "jobs", INO_JOBS);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "sweeps", INO_SWEEPS);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "by-state", INO_BY_STATE);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "by-tag", INO_BY_TAG);
	if (!rc && byview)
		rc = byview_list(fs, &c, ino, list_add_cb, l);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "index.html", INO_INDEX);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "summary.csv", INO_SUMMARY);
	if (!rc && k == N_JOBS) {
		size_t n;
		struct job **all = jobs_list(fs->jobs, &n);
		for (size_t i = 0; !rc && i < n; i++)
			rc = list_add(l, all[i]->rec.name,
				      node_ino(all[i]->rec.id, N_JOB));
	}
	if (!rc && k == N_JOB)
		for (size_t i = 0; !rc && i < job_nfiles; i++)
			/*
			 * wait is opened by name only (as /proc lists no
			 * thread ids), so tree walkers never block on it.
			 */
			if (job_files[i].kind != N_WAIT &&
			    !(job->hidden & HIDDEN_BIT(job_files[i].kind)))
				rc = list_add(l, job_files[i].name,
				      node_ino(job->rec.id, job_files[i].kind));
	if (!rc && k == N_JOB)
		rc = scratch_list(fs->scratch, job->rec.id, list_add_cb, l);
	char shown[PATH_MAX];
	if (!rc && k == N_WEIGHTS && !(job->hidden & HIDDEN_BIT(N_TARBALL)) &&
	    !job_weights_name(job, shown, sizeof shown))
		rc = list_add(l, shown, tarball_ino(job->rec.id, job->resumes));
	if (k == N_JOBS)
		jobs_unlock(fs->jobs);
	if (job)
		jobs_unlock_job(fs->jobs, job);
	caller_done(&c);
	/*
	 * Only fixed listings may stay in the kernel: a listing that changes
	 * could be cached from a snapshot taken before the change, after the
	 * change's invalidation, and stay stale.
	 */
	fi->cache_readdir = fi->keep_cache = !rc && (k == N_ROOT || k == N_JOB);
	opendir_reply(fs, req, fi, l, rc);
}

static void readdir_common(fuse_req_t req, size_t size, off_t off,
			   struct fuse_file_info *fi, int plus)
{
	struct trainfs *fs = fs_of(req);
	struct listing *l = (struct listing *)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = off; i < l->n; i++) {
		size_t room = size - used, need;
		if (plus) {
			struct fuse_entry_param e = { .ino = l->inos[i] };
			if (node_attr(fs, req, l->inos[i], &e.attr))
				continue; /* gone since opendir */
			e.entry_timeout = entry_timeout(fs, l->inos[i]);
			e.attr_timeout = attr_timeout(ino_kind(l->inos[i]));
			need = fuse_add_direntry_plus(req, buf + used, room,
						      l->names[i], &e, i + 1);
		} else {
			struct stat st = { .st_ino = l->inos[i] };
			enum node_kind k = ino_kind(l->inos[i]);
			st.st_mode = k == N_LINK ||
						     (k == N_SWEEP &&
						      sweepfs_is_link(l->inos[i]))
					     ? S_IFLNK
				     : k == N_SWEEPS || (k == N_SWEEP &&
							 sweepfs_is_dir(l->inos[i]))
					     ? S_IFDIR
				     : k <= N_JOB || k == N_WEIGHTS ||
						     byview_is(k)
					     ? S_IFDIR
					     : S_IFREG;
			need = fuse_add_direntry(req, buf + used, room,
						 l->names[i], &st, i + 1);
		}
		if (need > room)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	opened_close(fs_of(req), (struct opened *)fi->fh);
	fuse_reply_err(req, 0);
}

/* ---- files ---- */

/*
 * Opens PATH, the log or tarball (K) of a job, with no lock held; -2 for
 * a log not yet written.  The owner's file: a lease on it, or anything
 * but a regular file of the store's own filesystem, fails this open at
 * once (EAGAIN, EINVAL, EXDEV) and never waits.
 */
static int open_store_file(const char *path, enum node_kind k)
{
	int fd = userfile_open(AT_FDCWD, path, O_RDONLY);
	if (fd == -ENOENT && k == N_LOG)
		return -2; /* not started yet: an empty log */
	return fd;
}

/*
 * Sets up H for opening file K of JOB with FLAGS.  The job's lock held.
 * The log and the tarball are opened after it is let go: their path goes
 * to LATER (PATH_MAX bytes), else LATER is "".  A rendered file gets its
 * rendering after, without the lock too: *CACHEABLE says whether it may
 * then be page-cached (see op_open).
 */
static int open_file(struct trainfs *fs, struct handle *h, struct job *job,
		     int flags, uid_t uid, struct fuse_file_info *fi,
		     char *later, int *cacheable)
{
	int wr = (flags & O_ACCMODE) != O_RDONLY, rc = 0;
	enum node_kind k = h->kind;
	if (wr && (!(file_mode(job, k) & 0200) || !job_may_change(job, uid)))
		return -EACCES;
	/*
	 * Reads come from the open file's own rendering and writes go
	 * straight to us (a refusal is the write's own error): direct I/O,
	 * but where the page cache cannot show a torn or stale text.
	 */
	fi->direct_io = 1;
	fi->keep_cache = 1;
	fi->noflush = !wr && k != N_SPEC; /* a spec is stored at close */
	switch (k) {
	case N_SPEC:
		h->append = !!(flags & O_APPEND);
		if (flags & O_TRUNC) {
			h->dirty = 1;
			return 0;
		}
		h->changes = job->changes;
		if (job->rec.spec && job->rec.spec_len &&
		    !(rc = handle_grow(h, job->rec.spec_len, 0))) {
			memcpy(h->buf, job->rec.spec, job->rec.spec_len);
			h->len = job->rec.spec_len;
		}
		return rc;
	case N_WAIT: /* its size is 0; the read blocks */
		return 0;
	case N_TARBALL: /* immutable once visible */
		fi->direct_io = 0;
		return store_file(fs, job, k, later, PATH_MAX);
	case N_LOG: /* the trainer writes it behind our back */
		return store_file(fs, job, k, later, PATH_MAX);
	default:
		h->changes = job->changes;
		/*
		 * The page cache for one page (more could mix pages of two
		 * renderings) of a read-only file (a writer's O_TRUNC zeroes
		 * the cached size for a moment) of a job that will not change
		 * again, once the kernel has been told of its last change
		 * (else the cached size and the text could be of two moments).
		 */
		*cacheable = !(file_mode(job, k) & 0200) &&
			     state_is_final(job->rec.state) && !job->busy &&
			     job->changes == job->published;
		return 0;
	}
}

static void open_reply(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
		       struct handle *h, struct fuse_file_info *fi, int rc);

/* An open of a rendered file waiting for its rendering (renders.c). */
struct open_wait {
	fuse_req_t req;
	fuse_ino_t ino;
	struct handle *h;
	struct fuse_file_info fi;
	int cacheable;
};

/*
 * Gives W's file, opened when its job was at change H->changes, the
 * rendering R, charged to its opener, and answers the open; the page
 * cache only where W->cacheable and R is of that change and one page at
 * most.  On this thread or the builder's (renders_get_async).
 */
static void open_rendered(void *arg, int rc, struct rendering *r)
{
	struct open_wait *w = arg;
	struct handle *h = w->h;
	if (!rc)
		rc = handle_show(h, r);
	if (!rc) {
		w->fi.direct_io = !w->cacheable || r->len > PAGE_BYTES ||
				  r->changes != h->changes;
		h->changes = r->changes;
	}
	open_reply(h->fs, w->req, w->ino, h, &w->fi, rc);
	free(w);
}

/* Answers the open of H once its rendering is there; 0 or -ENOMEM. */
static int open_rendering(fuse_req_t req, fuse_ino_t ino, struct handle *h,
			  int cacheable, struct fuse_file_info *fi)
{
	struct open_wait *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->req = req;
	w->ino = ino;
	w->h = h;
	w->fi = *fi;
	w->cacheable = cacheable;
	renders_get_async(h->fs, h->id, h->kind, open_rendered, w);
	return 0;
}

/* Whether H shows a rendering of its job (and so can go stale). */
static int is_rendered(const struct handle *h)
{
	return kind_rendered(h->kind);
}

/*
 * A follower of metrics (H) was at the end of what it read and R no longer
 * extends it: what it read becomes a text of its own (charged to it), and
 * the new header line and the rows after those it has seen are appended.
 * 0 or -ENOMEM (H as it was).
 */
static int follow(struct handle *h, const struct rendering *r)
{
	if (h->r) {
		char *copy = malloc(h->r->len + 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, h->r->text, h->r->len);
		free(h->buf);
		h->buf = copy;
		h->len = h->cap = h->r->len;
		handle_unshow(h);
	}
	int rc = tail_view_follow(&h->tail, &h->buf, &h->len, r->text, r->len);
	if (rc < 0)
		return rc;
	h->cap = h->len;
	h->changes = r->changes;
	return handle_charge(h, h->len);
}

/*
 * A read from the start, or from the end of H's rendering on, renders
 * afresh if the job changed since H was rendered: a program that polls,
 * seeks to 0 and reads sees the change, `tail -f` and `less +F` (which
 * read on from where they hit the end) see the new rows, and all reads of
 * one pass (cat) still see one rendering.  A read inside a stale
 * rendering fills the page cache with old bytes, so it has them
 * invalidated again.
 */
static int rerender(struct trainfs *fs, struct handle *h, off_t off,
		    fuse_ino_t ino)
{
	struct job *job = jobs_lock_job(fs->jobs, h->id);
	if (!job)
		return -ENOENT;
	unsigned long now = job->changes;
	jobs_unlock_job(fs->jobs, job);
	/* What H shows: the shared rendering, or a follower's own text. */
	const char *shown = h->r ? h->r->text : h->buf;
	size_t len = h->r ? h->r->len : h->len;
	if (now == h->changes && !(off == 0 && h->tail.started))
		return 0;
	if (off > 0 && (size_t)off < len) {
		notifier_inode(fs->notifier, ino);
		return 0;
	}
	struct rendering *r;
	int rc = renders_get(fs, h->id, h->kind, &r);
	if (rc)
		return rc;
	/*
	 * Past the end, only a rendering that extends the one read (rows
	 * appended) may go on: a `cat` that reads on to see its end must
	 * not get the tail of another rendering.  A follower of metrics (it
	 * has hit the end before) gets the new header and the rows after
	 * those it has seen, in a text of its own, charged to it.
	 */
	if (off > 0 && (r->len < len || memcmp(r->text, shown, len))) {
		if (h->kind == N_METRICS && h->tail.at_end && (size_t)off >= len)
			rc = follow(h, r);
		rendering_put(fs, r);
		return rc;
	}
	unsigned long changes = r->changes;
	if ((rc = handle_show(h, r)) == 0) {
		h->changes = changes;
		if (h->kind == N_METRICS && h->buf) { /* one rendering again */
			free(h->buf);
			h->buf = NULL;
			h->len = h->cap = 0;
			handle_charge(h, 0);
		}
		tail_view_reset(&h->tail);
	}
	return rc;
}

/*
 * Has the kernel read H (the log or a tarball, open on H->fd) by
 * passthrough from its store file, if INO already has a backing file or
 * passthrough is on; if the kernel refuses, passthrough is turned off for
 * inodes opened from then on (they read by splice) and the log says so.
 * 0, or -EBUSY when INO's backing file is an older file still open (the
 * kernel allows one per inode): a resumed job's new tarball while its old
 * one is still being read.
 */
static int passthrough_attach(struct trainfs *fs, fuse_req_t req,
			      fuse_ino_t ino, struct handle *h,
			      struct fuse_file_info *fi)
{
#if TRAINFS_PASSTHROUGH
	struct stat st;
	struct backing *b, **p;
	int rc = 0;
	if (fstat(h->fd, &st) < 0)
		return -errno;
	lock_take(&fs->backing_lock);
	for (p = &fs->backings; *p && (*p)->ino != ino; p = &(*p)->next)
		;
	b = *p;
	if (b && (b->dev != st.st_dev || b->file != st.st_ino)) {
		if (b->refs > 0) {
			rc = -EBUSY;
			goto out;
		}
		fuse_passthrough_close(req, b->id); /* idle, of an older file */
		*p = b->next;
		free(b);
		b = NULL;
	}
	if (!b && fs->passthrough) {
		int id = fuse_passthrough_open(req, h->fd);
		if (id <= 0) {
			log_warn("reads of weights: splice (passthrough of '%s' "
				 "failed: %s)", ino_kind(ino) == N_LOG ? "log" :
				 "weights", strerror(errno));
			fs->passthrough = 0;
			goto out;
		}
		if (!(b = calloc(1, sizeof *b))) {
			fuse_passthrough_close(req, id);
			goto out; /* splice will do */
		}
		b->ino = ino;
		b->dev = st.st_dev;
		b->file = st.st_ino;
		b->id = id;
		b->next = fs->backings;
		fs->backings = b;
	}
	if (b) {
		b->refs++;
		h->backing = b;
		fi->backing_id = b->id;
		fi->direct_io = 0;  /* it would override passthrough */
		fi->keep_cache = 0; /* not allowed with it */
	}
out:
	lock_drop(&fs->backing_lock);
	return rc;
#else
	(void)fs, (void)req, (void)ino, (void)h, (void)fi;
	return 0;
#endif
}

/*
 * H is released: the last release of its inode gives the backing file
 * back to the kernel.  REQ is NULL when the open never reached the
 * kernel: the idle backing is kept for the next open (or the unmount).
 */
static void passthrough_detach(struct trainfs *fs, fuse_req_t req,
			       struct handle *h)
{
#if TRAINFS_PASSTHROUGH
	struct backing *b = h->backing;
	if (!b)
		return;
	h->backing = NULL;
	lock_take(&fs->backing_lock);
	if (--b->refs == 0 && req) {
		fuse_passthrough_close(req, b->id);
		for (struct backing **p = &fs->backings; *p; p = &(*p)->next)
			if (*p == b) {
				*p = b->next;
				break;
			}
		free(b);
	}
	lock_drop(&fs->backing_lock);
#else
	(void)fs, (void)req, (void)h;
#endif
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ino = resolve(fs_of(req), ino);
	struct trainfs *fs = fs_of(req);
	enum node_kind k = ino_kind(ino);
	uid_t uid = fuse_req_ctx(req)->uid;
	int rc;
	if (k == N_SWEEPS || k == N_SWEEP) {
		sweepfs_open(req, fs, ino, fi);
		return;
	}
	if (k == N_ROOT || k == N_JOBS || k == N_JOB || k == N_WEIGHTS ||
	    (byview_is(k) && k != N_LINK)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	struct handle *h = calloc(1, sizeof *h);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->fs = fs;
	if (k == N_SCRATCH) {
		/* an editor's copy of the spec is as private as the spec */
		rc = fs_may_read_job(fs, req, scratch_job(fs->scratch, ino));
		if (!rc)
			rc = scratch_open(fs->scratch, ino,
					  !!(fi->flags & O_TRUNC));
		if (rc) {
			free(h);
			fuse_reply_err(req, -rc);
			return;
		}
		h->kind = k;
		h->ino = ino;
		h->fd = -1;
		h->uid = uid;
		h->append = !!(fi->flags & O_APPEND);
		opened_add(fs, &h->opened, handle_free);
		fi->fh = (uintptr_t)h;
		fi->direct_io = 1;
		if (fuse_reply_open(req, fi) == -ENOENT) {
			scratch_release(fs->scratch, ino);
			opened_close(fs, &h->opened);
		}
		return;
	}
	h->kind = k;
	h->id = ino_job(ino);
	h->fd = -1;
	h->uid = uid;
	h->fs = fs;
	if (k == N_INDEX || k == N_SUMMARY) {
		/* one rendering per open, read-only, never page-cached */
		struct caller c;
		caller_init(&c, req);
		struct rendering *r;
		fi->direct_io = 1;
		rc = (fi->flags & O_ACCMODE) != O_RDONLY
			     ? -EACCES
			     : dash_files_get(fs, &c, k, &r);
		caller_done(&c);
		if (!rc)
			rc = handle_show(h, r);
	} else {
		struct caller c;
		caller_init(&c, req);
		char later[PATH_MAX] = "";
		int cacheable = 0;
		struct job *job = k != N_NONE ? jobs_lock_job(fs->jobs, h->id)
					      : NULL;
		rc = !job			 ? -ENOENT
		     : !caller_may_read(&c, job) ? -EACCES
		     : open_file(fs, h, job, fi->flags, uid, fi, later,
				 &cacheable);
		if (job)
			h->owner = job->rec.uid;
		caller_done(&c);
		if (!rc && k == N_TARBALL &&
		    !tarball_ino_current(ino, job->resumes))
			rc = -ENOENT; /* the tarball of before a resume */
		if (job)
			jobs_unlock_job(fs->jobs, job);
		if (!rc && *later) {
			h->fd = open_store_file(later, k);
			if (h->fd < (k == N_LOG ? -2 : 0))
				rc = h->fd;
		}
		/* `echo best > tags` starts the user tags afresh (struct handle) */
		h->trunc = k == N_TAGS && (fi->flags & O_TRUNC) &&
			   (fi->flags & O_ACCMODE) != O_RDONLY;
		if (!rc && kind_rendered(k) &&
		    !(rc = open_rendering(req, ino, h, cacheable, fi)))
			return; /* answered with its rendering */
	}
	open_reply(fs, req, ino, h, fi, rc);
}

/* Answers the open of H (file INO) with RC, or with the open file. */
static void open_reply(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
		       struct handle *h, struct fuse_file_info *fi, int rc)
{
	enum node_kind k = h->kind;
	if (!rc && h->fd >= 0 && (k == N_TARBALL || k == N_LOG))
		rc = passthrough_attach(fs, req, ino, h, fi);
	if (rc) {
		handle_free(&h->opened);
		fuse_reply_err(req, -rc);
		return;
	}
	opened_add(fs, &h->opened, handle_free);
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT) { /* the opener was interrupted */
		passthrough_detach(fs, NULL, h);
		opened_close(fs, &h->opened);
	}
}

/*
 * Whether REQ may read on from H: who may read a job is checked again at
 * every read that reaches trainfs (its owner and root at no cost), so a
 * chmod that closes a job also stops others' reads of the files trainfs
 * serves itself (the kernel reads a passthrough log or tarball without
 * asking).  0 or -EACCES.
 */
static int read_allowed(struct trainfs *fs, fuse_req_t req,
			const struct handle *h)
{
	uid_t uid = fuse_req_ctx(req)->uid;
	if (h->kind == N_INDEX || h->kind == N_SUMMARY || uid == 0 ||
	    (h->kind != N_SCRATCH && uid == h->owner))
		return 0;
	int rc = fs_may_read_job(fs, req, h->kind == N_SCRATCH
					       ? scratch_job(fs->scratch, h->ino)
					       : h->id);
	return rc == -ENOENT ? 0 : rc; /* removed: the read says so itself */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct trainfs *fs = fs_of(req);
	struct handle *h = (struct handle *)fi->fh;
	if (ino_kind(ino) == N_SWEEP) {
		sweepfs_read(req, fs, size, off, fi);
		return;
	}
	int denied = read_allowed(fs, req, h);
	if (denied) {
		fuse_reply_err(req, -denied);
		return;
	}
	if (h->kind == N_SCRATCH) {
		char *buf = malloc(size ? size : 1);
		ssize_t n = buf ? scratch_read(fs->scratch, h->ino, buf, size, off)
				: -ENOMEM;
		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			fuse_reply_buf(req, buf, n);
		free(buf);
		return;
	}
	if (h->kind == N_WAIT) {
		struct job *job = jobs_lock_job(fs->jobs, h->id);
		if (!job)
			fuse_reply_err(req, ENOENT);
		else if (off > 0 && state_is_final(job->rec.state))
			fuse_reply_buf(req, NULL, 0); /* the status was read */
		else
			waiters_read(fs->waiters, req, job);
		if (job)
			jobs_unlock_job(fs->jobs, job);
		return;
	}
	if (h->kind == N_LOG || h->kind == N_TARBALL) {
		if (h->fd < 0) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = h->fd;
		buf.buf[0].pos = off;
		fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	if (is_rendered(h)) {
		int rc = rerender(fs, h, off, ino);
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
		if (off >= 0 && (size_t)off >= (h->r ? h->r->len : h->len))
			h->tail.at_end = 1; /* a follower from now on */
	}
	if (h->r)
		reply_slice(req, h->r->text, h->r->len, off, size);
	else
		reply_slice(req, h->buf, h->len, off, size);
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct trainfs *fs = fs_of(req);
	struct handle *h = (struct handle *)fi->fh;
	unsigned revents = 0;
	if (ino_kind(ino) == N_SWEEP) { /* read afresh at every open */
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLRDNORM);
		return;
	}
	struct job *job = jobs_lock_job(fs->jobs, h->id);
	if (!job || !is_rendered(h) || job->changes != h->changes)
		revents = POLLIN | POLLRDNORM | POLLPRI;
	if (!revents && ph)
		waiters_poll(fs->waiters, h->id, h, ph);
	else if (ph)
		fuse_pollhandle_destroy(ph);
	if (job)
		jobs_unlock_job(fs->jobs, job);
	fuse_reply_poll(req, revents);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct trainfs *fs = fs_of(req);
	struct handle *h = (struct handle *)fi->fh;
	uid_t uid = fuse_req_ctx(req)->uid;
	int rc = 0;
	if (ino_kind(ino) == N_SWEEP) {
		sweepfs_write(req, fs, data, size, off, fi);
		return;
	}
	switch (h->kind) {
	case N_SCRATCH: {
		ssize_t n = scratch_write(fs->scratch, h->ino, data, size, off,
					  h->append);
		rc = n < 0 ? (int)n : 0;
		break;
	}
	case N_CONTROL:
		rc = jobs_control(fs->jobs, h->id, uid, data, size);
		break;
	case N_TAGS:
		rc = jobs_write_tags(fs->jobs, h->id, uid, data, size,
				     h->trunc && !h->cleared);
		h->attempted = 1;
		if (!rc) {
			h->trunc = 0;
		} else if (h->cleared) {
			/* Refused: the tags are as they were before the open. */
			jobs_write_tags(fs->jobs, h->id, h->uid,
					h->saved ? h->saved : "", h->saved_len, 1);
			h->cleared = 0;
		}
		break;
	case N_SPEC:
		if (h->append)
			off = h->len;
		/*
		 * A refused piece voids the whole open: the kernel cuts a big
		 * write in pieces, and what came before must not be stored.
		 */
		if (h->refused || off < 0 || (size_t)off + size > SPEC_MAX) {
			h->refused = 1;
			h->dirty = 0;
			rc = -EFBIG;
			break;
		}
		if ((rc = handle_grow(h, (size_t)off + size, 1))) {
			h->refused = 1; /* past the writer's memory share */
			h->dirty = 0;
			break;
		}
		if ((size_t)off > h->len)
			memset(h->buf + h->len, 0, off - h->len);
		memcpy(h->buf + off, data, size);
		if ((size_t)off + size > h->len)
			h->len = off + size;
		h->dirty = 1;
		break;
	default:
		rc = -EBADF;
	}
	if (h->kind != N_SPEC && h->kind != N_SCRATCH)
		notifier_sync(fs->notifier); /* the next read sees the change */
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

/* The spec is stored (and checked) when it is closed. */
static int commit_spec(struct trainfs *fs, struct handle *h, uid_t uid)
{
	if (h->kind != N_SPEC || !h->dirty)
		return 0;
	h->dirty = 0;
	return jobs_write_spec(fs->jobs, h->id, uid, h->buf ? h->buf : "",
			       h->len);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)fi->fh;
	struct trainfs *fs = fs_of(req);
	if (ino_kind(ino) == N_SWEEP) {
		sweepfs_flush(req, fs, fi);
		return;
	}
	int dirty = h->dirty;
	int rc = commit_spec(fs, h, fuse_req_ctx(req)->uid);
	if (h->trunc && !h->attempted && !h->cleared) {
		free(h->saved);
		h->saved = NULL;
		rc = jobs_user_tags(fs->jobs, h->id, &h->saved, &h->saved_len);
		if (!rc)
			rc = jobs_write_tags(fs->jobs, h->id, h->uid, "", 0, 1);
		h->cleared = !rc;
		dirty = 1;
	}
	if (dirty)
		notifier_sync(fs->notifier);
	fuse_reply_err(req, -rc);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)fi->fh;
	if (ino_kind(ino) == N_SWEEP) {
		sweepfs_release(req, fs_of(req), fi);
		return;
	}
	commit_spec(fs_of(req), h, h->uid);
	if (h->kind == N_SCRATCH)
		scratch_release(fs_of(req)->scratch, h->ino);
	passthrough_detach(fs_of(req), req, h);
	waiters_forget(fs_of(req)->waiters, h);
	opened_close(fs_of(req), &h->opened);
	fuse_reply_err(req, 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[PATH_MAX];
	int rc = ino_kind(ino) == N_SWEEP
			 ? sweepfs_readlink(fs_of(req), ino, target,
					    sizeof target)
			 : byview_readlink(fs_of(req), ino, target,
					   sizeof target);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
}

/* Asks for capability FLAG of CONN (libfuse 3.17 has 64-bit flags). */
static void conn_want(struct fuse_conn_info *conn, uint64_t flag, int on)
{
#if FUSE_USE_VERSION >= 317
	if (on)
		fuse_set_feature_flag(conn, flag);
	else
		fuse_unset_feature_flag(conn, flag);
#else
	if (on)
		conn->want |= flag;
	else
		conn->want &= ~flag;
#endif
}

static int conn_capable(const struct fuse_conn_info *conn, uint64_t flag)
{
#if FUSE_USE_VERSION >= 317
	return (conn->capable_ext & flag) != 0;
#else
	return (conn->capable & flag) != 0;
#endif
}

/* Whether we have CAP_SYS_ADMIN, which passthrough needs. */
static int has_sys_admin(void)
{
	char line[256];
	unsigned long long caps = 0;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return (caps >> 21) & 1; /* CAP_SYS_ADMIN */
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct trainfs *fs = userdata;
	const char *why = NULL;

	/* Writes must reach us before they return, so refusals are seen. */
	conn_want(conn, FUSE_CAP_WRITEBACK_CACHE, 0);
	/* by-state/ and by-tag/ links: byview.c invalidates them */
	if (conn_capable(conn, FUSE_CAP_CACHE_SYMLINKS))
		conn_want(conn, FUSE_CAP_CACHE_SYMLINKS, 1);
	if (conn_capable(conn, FUSE_CAP_SPLICE_WRITE)) {
		conn_want(conn, FUSE_CAP_SPLICE_WRITE, 1);
		conn_want(conn, FUSE_CAP_SPLICE_MOVE, 1);
	}
#if TRAINFS_PASSTHROUGH
	if (!conn_capable(conn, FUSE_CAP_PASSTHROUGH)) {
		why = "the kernel does not offer FUSE passthrough";
	} else if (!has_sys_admin()) {
		why = "passthrough needs CAP_SYS_ADMIN";
	} else {
		conn_want(conn, FUSE_CAP_PASSTHROUGH, 1);
		/* The store may be on overlayfs (a container's disk). */
		conn->max_backing_stack_depth = FUSE_BACKING_STACKED_OVER;
	}
#else
	(void)has_sys_admin;
	why = "trainfs was built with a libfuse older than 3.17";
#endif
	lock_take(&fs->backing_lock);
	fs->passthrough = !why;
	lock_drop(&fs->backing_lock);
	if (why)
		log_info("reads of weights: splice (%s)", why);
	else
		log_info("reads of weights: passthrough");
}

const struct fuse_lowlevel_ops trainfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.mknod = op_mknod,
	.create = op_create,
	.unlink = op_unlink,
	.symlink = op_symlink,
	.readlink = op_readlink,
	.link = op_link,
	.rename = op_rename,
	.setxattr = op_setxattr, /* the extended attributes: xattr.c */
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.poll = op_poll,
};

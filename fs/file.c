/*
 * file: open, read, write, poll, flush and release of a job's files.
 *
 * Dynamic files show a rendering (renders.c) made once per change of the
 * job and shared by all its readers: an open file holds a reference to
 * the one that was current when it opened (so a `cat` sees one state),
 * charged to the opener (usermem.c).  Contents stay in the kernel's page
 * cache only where no reader can see a torn rendering (open_file).  The
 * log (written by the trainer behind our back) and `wait` (which blocks)
 * bypass the caches.  The tarball is immutable once visible.  Both are
 * real files in the store, read by passthrough where it can (passthrough.c)
 * else served from the file by splice.  A spec is written into the open
 * file's buffer and stored, checked, at flush and release; control and
 * tags are applied at each write, so a refusal is the write's own error.
 *
 * Locks: a request about one job's files takes that job's lock only
 * (jobs_lock_job), so it never waits for another job's work; the
 * rendering is fetched and the store file opened with no lock held.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <poll.h>

#include "fs/caller.h"
#include "fs/fs.h"
#include "jobs/core/access.h"
#include "fs/tailview.h"
#include "util/userfile.h"
#include "util/log.h"

#define SPEC_MAX (1024 * 1024) /* a spec is a few lines; this is plenty */
#define PAGE_BYTES 4096

/*
 * Replies with SIZE bytes of BUF from OFF, from a copy: the moment the
 * kernel has the reply, the reader may close the file, and its release
 * (on another thread) frees BUF while our write(2) to /dev/fuse is still
 * returning.
 */
static void reply_slice(fuse_req_t req, const char *buf, size_t len, off_t off,
			size_t size)
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
	if (wr &&
	    (!(node_file_mode(job, k) & 0200) || !job_may_change(job, uid)))
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
		*cacheable = !(node_file_mode(job, k) & 0200) &&
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
		if (h->kind == N_METRICS && h->tail.at_end &&
		    (size_t)off >= len)
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
			(void)!handle_charge(h, 0); /* a release cannot fail */
		}
		tail_view_reset(&h->tail);
	}
	return rc;
}

/*
 * Opens H on an editor's scratch file INO and answers REQ (H freed on
 * failure).
 */
static void open_scratch(fuse_req_t req, fuse_ino_t ino, struct handle *h,
			 struct fuse_file_info *fi)
{
	struct trainfs *fs = h->fs;
	/* an editor's copy of the spec is as private as the spec */
	int rc = fs_may_read_job(fs, req, scratch_job(fs->scratch, ino));
	if (!rc)
		rc = scratch_open(fs->scratch, ino, !!(fi->flags & O_TRUNC));
	if (rc) {
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	h->append = !!(fi->flags & O_APPEND);
	fs_opened_add(fs, &h->opened, fs_handle_free);
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		scratch_release(fs->scratch, ino);
		fs_opened_close(fs, &h->opened);
	}
}

/*
 * Sets up H (kind and id set) for an open of job file INO as REQ's caller:
 * checks who may, takes what the file shows under the job's lock, then
 * opens its store file (log, tarball) without it.  *CACHEABLE as
 * open_file() says.  0 or a negative errno; H is not answered yet.
 */
static int open_job_file(fuse_req_t req, fuse_ino_t ino, struct handle *h,
			 struct fuse_file_info *fi, int *cacheable)
{
	struct trainfs *fs = h->fs;
	enum node_kind k = h->kind;
	struct caller c;
	caller_init(&c, req);
	char later[PATH_MAX] = "";
	struct job *job = k != N_NONE ? jobs_lock_job(fs->jobs, h->id) : NULL;
	int rc = !job ? -ENOENT :
		 !caller_may_read(&c, job) ?
			-EACCES :
			open_file(fs, h, job, fi->flags, h->uid, fi, later,
				  cacheable);
	if (job)
		h->owner = job->rec.uid;
	caller_done(&c);
	if (!rc && k == N_TARBALL && !tarball_ino_current(ino, job->resumes))
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
	return rc;
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ino = node_resolve(fs_of(req), ino);
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
	struct handle *h = handle_new(fs, ino, uid);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (k == N_SCRATCH) {
		open_scratch(req, ino, h, fi);
		return;
	}
	if (k == N_INDEX || k == N_SUMMARY) {
		/* one rendering per open, read-only, never page-cached */
		struct caller c;
		caller_init(&c, req);
		struct rendering *r;
		fi->direct_io = 1;
		rc = (fi->flags & O_ACCMODE) != O_RDONLY ?
			     -EACCES :
			     dash_files_get(fs, &c, k, &r);
		caller_done(&c);
		if (!rc)
			rc = handle_show(h, r);
	} else {
		int cacheable = 0;
		rc = open_job_file(req, ino, h, fi, &cacheable);
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
		fs_handle_free(&h->opened);
		fuse_reply_err(req, -rc);
		return;
	}
	fs_opened_add(fs, &h->opened, fs_handle_free);
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) ==
	    -ENOENT) { /* the opener was interrupted */
		passthrough_detach(fs, NULL, h);
		fs_opened_close(fs, &h->opened);
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
	int rc = fs_may_read_job(fs, req,
				 h->kind == N_SCRATCH ?
					 scratch_job(fs->scratch, h->ino) :
					 h->id);
	return rc == -ENOENT ? 0 : rc; /* removed: the read says so itself */
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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
		ssize_t n = buf ? scratch_read(fs->scratch, h->ino, buf, size,
					       off) :
				  -ENOMEM;
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

void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
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

void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size,
	      off_t off, struct fuse_file_info *fi)
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
			int put = jobs_write_tags(fs->jobs, h->id, h->uid,
						  h->saved ? h->saved : "",
						  h->saved_len, 1);
			if (put && put != -ENOENT)
				log_error("job %lld: cannot put its tags back "
					  "after a refused write: %s\n",
					  (long long)h->id, strerror(-put));
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

void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
	fs_opened_close(fs_of(req), &h->opened);
	fuse_reply_err(req, 0);
}

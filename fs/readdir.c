/*
 * readdir: listing folders.  A folder is listed once, at opendir, into a
 * snapshot of names and inodes; readdir and readdirplus answer from it
 * at the offset asked, so one `ls` sees one listing however the jobs
 * change meanwhile.  Only fixed listings (the root, a job folder) may be
 * kept by the kernel.
 *
 * Locks: opendir takes the job's lock (a job folder, weights/) or the
 * registry lock (jobs/), never both; readdirplus fills attributes as
 * getattr does (node.c), with the locks that takes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/caller.h"
#include "fs/fs.h"
#include "jobs/core/access.h"

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
	fs_opened_add(fs, &l->opened, list_free);
	fi->fh = (uintptr_t)l;
	fuse_reply_open(req, fi);
}

/*
 * Lists folder INO into L as C sees it: ".", "..", and its entries.  JOB
 * is a job folder's or weights/' job, its lock held; for jobs/, the
 * registry lock is held.  0 or a negative errno.
 */
static int list_names(struct trainfs *fs, struct caller *c, struct listing *l,
		      fuse_ino_t ino, struct job *job)
{
	enum node_kind k = ino_kind(ino);
	int byview = byview_is(k) && k != N_LINK;
	int rc = list_add(l, ".", ino);
	if (!rc)
		rc = list_add(l, "..",
			      k == N_JOB       ? INO_JOBS :
			      k == N_WEIGHTS   ? node_ino(ino_job(ino), N_JOB) :
			      k == N_STATE_DIR ? INO_BY_STATE :
			      k == N_TAG_DIR   ? INO_BY_TAG :
						 INO_ROOT);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "jobs", INO_JOBS);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "sweeps", INO_SWEEPS);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "by-state", INO_BY_STATE);
	if (!rc && k == N_ROOT)
		rc = list_add(l, "by-tag", INO_BY_TAG);
	if (!rc && byview)
		rc = byview_list(fs, c, ino, list_add_cb, l);
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
					      node_ino(job->rec.id,
						       job_files[i].kind));
	if (!rc && k == N_JOB)
		rc = scratch_list(fs->scratch, job->rec.id, list_add_cb, l);
	char shown[PATH_MAX];
	if (!rc && k == N_WEIGHTS && !(job->hidden & HIDDEN_BIT(N_TARBALL)) &&
	    !job_weights_name(job, shown, sizeof shown))
		rc = list_add(l, shown, tarball_ino(job->rec.id, job->resumes));
	return rc;
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
		rc = sweepfs_is_dir(ino) ?
			     sweepfs_list(fs, req, ino, list_add_cb, l) :
			     -ENOTDIR;
		opendir_reply(fs, req, fi, l, rc);
		return;
	}
	struct caller c;
	caller_init(&c, req);
	struct job *job = k == N_JOB || k == N_WEIGHTS ?
				  jobs_lock_job(fs->jobs, ino_job(ino)) :
				  NULL;
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
		rc = list_names(fs, &c, l, ino, job);
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
			st.st_mode =
				k == N_LINK || (k == N_SWEEP &&
						sweepfs_is_link(l->inos[i])) ?
					S_IFLNK :
				k == N_SWEEPS || (k == N_SWEEP &&
						  sweepfs_is_dir(l->inos[i])) ?
					S_IFDIR :
				k <= N_JOB || k == N_WEIGHTS || byview_is(k) ?
					S_IFDIR :
					S_IFREG;
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

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, 0);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, 1);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fs_opened_close(fs_of(req), (struct opened *)fi->fh);
	fuse_reply_err(req, 0);
}

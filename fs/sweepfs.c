/*
 * sweepfs: MOUNT/sweeps/, the FUSE face of jobs/core/sweep.c.
 *
 *   sweeps/              mkdir makes a sweep (mode 1777, as jobs/)
 *     NAME/              spec control status trials.csv graph.svg trials/ best
 *       trials/T         a link per trial: ../../../jobs/NAME-T
 *       best             a link to the best trial: ../../jobs/NAME-T
 *
 * Inode numbers are computed, as a job's are: SWEEP_INO_BIT, the sweep's
 * id, a trial number (links only) and the node's slot.  A sweep's files
 * are small and change with its trials, so they are never cached by the
 * kernel (attributes and names time out at once, reads are direct): each
 * stat renders its file for the true size, and each open reads one
 * rendering.  The spec is written as a job's is: taken in whole at close.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/caller.h"
#include "fs/fs.h"
#include "jobs/core/sweep.h"

#define SWEEP_SPEC_MAX (1024 * 1024)

enum slot {
	SL_DIR,
	SL_SPEC,
	SL_CONTROL,
	SL_STATUS,
	SL_TRIALS_CSV,
	SL_GRAPH,
	SL_TRIALS,
	SL_BEST,
	SL_TRIAL,
	SL_COUNT
};

static const struct {
	const char *name;
	enum slot slot;
	enum sweep_file file;
} sweep_files[] = {
	{ "spec", SL_SPEC, SF_SPEC },
	{ "control", SL_CONTROL, SF_CONTROL },
	{ "status", SL_STATUS, SF_STATUS },
	{ "trials.csv", SL_TRIALS_CSV, SF_TRIALS_CSV },
	{ "graph.svg", SL_GRAPH, SF_GRAPH },
};
#define NFILES (sizeof sweep_files / sizeof sweep_files[0])

#define TRIAL_SHIFT 4
#define ID_SHIFT 28 /* trials below 2^24 */

static fuse_ino_t sweep_ino(int64_t id, long trial, enum slot s)
{
	return SWEEP_INO_BIT | ((fuse_ino_t)id << ID_SHIFT) |
	       ((fuse_ino_t)trial << TRIAL_SHIFT) | (fuse_ino_t)s;
}

static int64_t ino_sweep(fuse_ino_t ino)
{
	return (int64_t)((ino & ~SWEEP_INO_BIT) >> ID_SHIFT);
}

static long ino_trial(fuse_ino_t ino)
{
	return (long)((ino >> TRIAL_SHIFT) &
		      ((1u << (ID_SHIFT - TRIAL_SHIFT)) - 1));
}

static enum slot ino_slot(fuse_ino_t ino)
{
	unsigned s = ino & ((1u << TRIAL_SHIFT) - 1);
	return s < SL_COUNT ? (enum slot)s : SL_COUNT;
}

static enum sweep_file file_of(enum slot s)
{
	for (size_t i = 0; i < NFILES; i++)
		if (sweep_files[i].slot == s)
			return sweep_files[i].file;
	return SF_COUNT;
}

/*
 * Whether REQ's caller may read sweep ID: as for a job folder, the folder's
 * mode decides (caller.h).  0, -EACCES or -ENOENT.
 */
static int may_read(struct trainfs *fs, fuse_req_t req, int64_t id)
{
	struct sweep_attr a;
	int rc = sweeps_attr(fs->sweeps, id, &a);
	if (rc)
		return rc;
	struct caller c;
	caller_init(&c, req);
	rc = caller_may_read_mode(&c, a.uid, a.gid, a.mode) ? 0 : -EACCES;
	caller_done(&c);
	return rc;
}

/* The bits a file shows: group's and others' only where the folder lets that class read. */
static mode_t file_mode(unsigned folder, mode_t base)
{
	mode_t m = base & 0700;
	if ((folder & 050) == 050)
		m |= base & 070;
	if ((folder & 05) == 05)
		m |= base & 07;
	return m;
}

static struct timespec ts(int64_t ns)
{
	return (struct timespec){ ns / 1000000000, ns % 1000000000 };
}

struct reader {
	struct trainfs *fs;
	struct caller *c;
};

/* Whether the reader may read trial job ID (the registry lock only). */
static int reader_may_read(void *arg, int64_t id)
{
	struct reader *r = arg;
	struct job *job = jobs_get(r->fs->jobs, id);
	int ok = !job || caller_may_read(r->c, job);
	jobs_put(r->fs->jobs, job);
	return ok;
}

/*
 * The text of a sweep's file as REQ's caller sees it (NULL: all of it):
 * graph.svg from its curves, the rest from the model.
 */
static int sweep_render(struct trainfs *fs, fuse_req_t req, int64_t id,
			enum slot s, char **out, size_t *len)
{
	if (s == SL_TRIALS_CSV && req) {
		struct caller c;
		caller_init(&c, req);
		struct reader r = { fs, &c };
		struct sweep_reader who = { reader_may_read, &r };
		int rc = sweeps_render_for(fs->sweeps, id, SF_TRIALS_CSV, &who,
					   out, len);
		caller_done(&c);
		return rc;
	}
	if (s != SL_GRAPH)
		return sweeps_render(fs->sweeps, id, file_of(s), out, len);
	struct sweep_curves c;
	int rc = sweeps_curves(fs->sweeps, id, &c);
	if (rc)
		return rc;
	rc = sweep_graph_render(&c, out, len);
	sweeps_curves_free(&c);
	return rc;
}

/* The target of link INO into BUF. */
static int link_target(struct trainfs *fs, fuse_ino_t ino, char *buf,
		       size_t len)
{
	char name[JOB_NAME_MAX + 1];
	enum slot s = ino_slot(ino);
	int rc = sweeps_trial_job(fs->sweeps, ino_sweep(ino),
				  s == SL_BEST ? 0 : ino_trial(ino), name,
				  sizeof name);
	if (rc)
		return rc;
	int n = snprintf(buf, len, "%s../../jobs/%s",
			 s == SL_TRIAL ? "../" : "", name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int sweepfs_attr(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
		 struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	if (ino == INO_SWEEPS) {
		st->st_mode = S_IFDIR | 01777;
		st->st_nlink = 2;
		st->st_uid = fs->uid;
		st->st_gid = fs->gid;
		return 0;
	}
	struct sweep_attr a;
	int64_t id = ino_sweep(ino);
	int rc = sweeps_attr(fs->sweeps, id, &a);
	if (rc)
		return rc;
	st->st_uid = a.uid;
	st->st_gid = a.gid;
	st->st_mtim = st->st_ctim = st->st_atim = ts(a.mtime_ns);
	enum slot s = ino_slot(ino);
	char *text = NULL, target[PATH_MAX];
	size_t len = 0;
	switch (s) {
	case SL_DIR:
		st->st_mode = S_IFDIR | (a.mode & 0755);
		st->st_nlink = 3;
		return 0;
	case SL_TRIALS:
		st->st_mode = S_IFDIR | file_mode(a.mode, 0555);
		st->st_nlink = 2;
		return 0;
	case SL_BEST:
	case SL_TRIAL:
		if ((rc = link_target(fs, ino, target, sizeof target)))
			return rc;
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)strlen(target);
		return 0;
	case SL_SPEC:
	case SL_CONTROL:
		st->st_mode = S_IFREG | file_mode(a.mode, 0644);
		break;
	case SL_STATUS:
	case SL_TRIALS_CSV:
	case SL_GRAPH:
		st->st_mode = S_IFREG | file_mode(a.mode, 0444);
		break;
	case SL_COUNT:
		return -ENOENT;
	}
	if ((rc = sweep_render(fs, req, id, s, &text, &len)))
		return rc;
	free(text);
	st->st_size = (off_t)len;
	st->st_blocks = (st->st_size + 511) / 512;
	return 0;
}

/* The inode of NAME in sweep folder PARENT (sweeps/, NAME/ or trials/), or 0. */
static fuse_ino_t child(struct trainfs *fs, fuse_ino_t parent, const char *name)
{
	int64_t id;
	if (parent == INO_SWEEPS)
		return sweeps_find(fs->sweeps, name, &id) ?
			       0 :
			       sweep_ino(id, 0, SL_DIR);
	id = ino_sweep(parent);
	enum slot ps = ino_slot(parent);
	if (ps == SL_DIR) {
		for (size_t i = 0; i < NFILES; i++)
			if (!strcmp(name, sweep_files[i].name))
				return sweep_ino(id, 0, sweep_files[i].slot);
		if (!strcmp(name, "trials"))
			return sweep_ino(id, 0, SL_TRIALS);
		if (!strcmp(name, "best"))
			return sweep_ino(id, 0, SL_BEST);
		return 0;
	}
	long t = ps == SL_TRIALS ? sweep_trial_number(name) : 0;
	return t > 0 && t < (1L << (ID_SHIFT - TRIAL_SHIFT)) ?
		       sweep_ino(id, t, SL_TRIAL) :
		       0;
}

void sweepfs_lookup(fuse_req_t req, struct trainfs *fs, fuse_ino_t parent,
		    const char *name)
{
	struct fuse_entry_param e = { 0 };
	int rc = parent == INO_SWEEPS ? 0 :
					may_read(fs, req, ino_sweep(parent));
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_ino_t ino = child(fs, parent, name);
	if (ino && sweepfs_attr(fs, req, ino, &e.attr) == 0)
		e.ino = ino;
	/* No timeouts: trials and the best link come and go. */
	fuse_reply_entry(req, &e);
}

int sweepfs_list(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
		 int (*add)(void *arg, const char *name, fuse_ino_t ino),
		 void *arg)
{
	int rc = ino == INO_SWEEPS ? 0 : may_read(fs, req, ino_sweep(ino));
	if (rc)
		return rc;
	rc = add(arg, ".", ino);
	if (ino == INO_SWEEPS) {
		char **names;
		int64_t *ids;
		size_t n;
		if (!rc)
			rc = add(arg, "..", INO_ROOT);
		if (!rc && !(rc = sweeps_names(fs->sweeps, &names, &ids, &n))) {
			for (size_t i = 0; !rc && i < n; i++)
				rc = add(arg, names[i],
					 sweep_ino(ids[i], 0, SL_DIR));
			sweeps_names_free(names, ids, n);
		}
		return rc;
	}
	int64_t id = ino_sweep(ino);
	struct sweep_attr a;
	if (!rc && (rc = sweeps_attr(fs->sweeps, id, &a)))
		return rc;
	if (ino_slot(ino) == SL_DIR) {
		if (!rc)
			rc = add(arg, "..", INO_SWEEPS);
		for (size_t i = 0; !rc && i < NFILES; i++)
			rc = add(arg, sweep_files[i].name,
				 sweep_ino(id, 0, sweep_files[i].slot));
		if (!rc)
			rc = add(arg, "trials", sweep_ino(id, 0, SL_TRIALS));
		char target[PATH_MAX];
		if (!rc && !link_target(fs, sweep_ino(id, 0, SL_BEST), target,
					sizeof target))
			rc = add(arg, "best", sweep_ino(id, 0, SL_BEST));
		return rc;
	}
	if (ino_slot(ino) != SL_TRIALS)
		return -ENOTDIR;
	if (!rc)
		rc = add(arg, "..", sweep_ino(id, 0, SL_DIR));
	for (long t = 1; !rc && t <= a.ntrials; t++) {
		char name[24], target[PATH_MAX];
		fuse_ino_t li = sweep_ino(id, t, SL_TRIAL);
		if (link_target(fs, li, target, sizeof target))
			continue;
		sweep_trial_name(t, name, sizeof name);
		rc = add(arg, name, li);
	}
	return rc;
}

int sweepfs_is_dir(fuse_ino_t ino)
{
	return ino == INO_SWEEPS || ino_slot(ino) == SL_DIR ||
	       ino_slot(ino) == SL_TRIALS;
}

int sweepfs_is_link(fuse_ino_t ino)
{
	return ino != INO_SWEEPS &&
	       (ino_slot(ino) == SL_BEST || ino_slot(ino) == SL_TRIAL);
}

int sweepfs_readlink(struct trainfs *fs, fuse_ino_t ino, char *buf, size_t len)
{
	if (!sweepfs_is_link(ino))
		return -EINVAL;
	return link_target(fs, ino, buf, len);
}

int sweepfs_setattr(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
		    const struct stat *attr, int to_set)
{
	uid_t uid = fuse_req_ctx(req)->uid;
	struct sweep_attr a;
	if (ino == INO_SWEEPS)
		return to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
				 FUSE_SET_ATTR_GID) ?
			       -EPERM :
			       0;
	int rc = sweeps_attr(fs->sweeps, ino_sweep(ino), &a);
	if (rc)
		return rc;
	if (((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != a.uid) ||
	    ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != a.gid))
		return -EPERM;
	if (!(to_set & FUSE_SET_ATTR_MODE))
		return 0;
	if (ino_slot(ino) == SL_DIR) /* the folder's mode: who else reads it */
		return sweeps_chmod(fs->sweeps, ino_sweep(ino), uid,
				    attr->st_mode);
	/* A file keeps the mode its folder gives it: the same is no change. */
	struct stat now;
	rc = sweepfs_attr(fs, req, ino, &now);
	return rc						? rc :
	       (now.st_mode & 07777) == (attr->st_mode & 07777) ? 0 :
								  -EPERM;
}

int sweepfs_mkdir(struct trainfs *fs, const char *name, uid_t uid, gid_t gid,
		  mode_t mode, fuse_ino_t *ino)
{
	int64_t id;
	int rc = sweeps_create(fs->sweeps, name, uid, gid, mode, &id);
	if (!rc)
		*ino = sweep_ino(id, 0, SL_DIR);
	return rc;
}

int sweepfs_rmdir(struct trainfs *fs, const char *name, uid_t uid)
{
	int64_t id;
	int rc = sweeps_find(fs->sweeps, name, &id);
	return rc ? rc : sweeps_remove(fs->sweeps, id, uid);
}

/* ---- open files ---- */

struct sweep_handle {
	struct opened opened; /* first: on the list of open files */
	int64_t id;
	enum slot slot;
	char *buf;
	size_t len, cap;
	int dirty, refused;
	uid_t uid; /* who opened it: the spec is stored as theirs at close */
};

static void handle_free(struct opened *o)
{
	struct sweep_handle *h = (struct sweep_handle *)o;
	free(h->buf);
	free(h);
}

void sweepfs_open(fuse_req_t req, struct trainfs *fs, fuse_ino_t ino,
		  struct fuse_file_info *fi)
{
	enum slot s = ino_slot(ino);
	if (ino == INO_SWEEPS || s == SL_DIR || s == SL_TRIALS) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	int wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	uid_t uid = fuse_req_ctx(req)->uid;
	struct sweep_attr a;
	int rc = may_read(fs, req, ino_sweep(ino));
	if (!rc)
		rc = sweeps_attr(fs->sweeps, ino_sweep(ino), &a);
	if (!rc && wr && s != SL_SPEC && s != SL_CONTROL)
		rc = -EACCES;
	if (!rc && wr && uid != 0 && uid != a.uid)
		rc = -EACCES;
	struct sweep_handle *h = rc ? NULL : calloc(1, sizeof *h);
	if (!rc && !h)
		rc = -ENOMEM;
	if (!rc) {
		h->id = ino_sweep(ino);
		h->slot = s;
		h->uid = uid;
		if (!(s == SL_SPEC && (fi->flags & O_TRUNC)) && s != SL_CONTROL)
			rc = sweep_render(fs, req, h->id, s, &h->buf, &h->len);
		h->cap = h->len;
		h->dirty = s == SL_SPEC && (fi->flags & O_TRUNC) && wr;
	}
	if (rc) {
		if (h)
			handle_free(&h->opened);
		fuse_reply_err(req, -rc);
		return;
	}
	fs_opened_add(fs, &h->opened, handle_free);
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_opened_close(fs, &h->opened);
}

void sweepfs_read(fuse_req_t req, struct trainfs *fs, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct sweep_handle *h = (struct sweep_handle *)fi->fh;
	if (h->slot == SL_CONTROL && off == 0) { /* read afresh */
		free(h->buf);
		h->buf = NULL;
		h->len = 0;
		int rc = sweep_render(fs, NULL, h->id, h->slot, &h->buf,
				      &h->len);
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
	}
	if (off < 0 || (size_t)off >= h->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/*
	 * The reply is a copy: once the kernel has it, the reader may close
	 * and the release free H while this thread is still in writev.
	 */
	size_t n = h->len - (size_t)off < size ? h->len - (size_t)off : size;
	char *copy = malloc(n ? n : 1);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(copy, h->buf + off, n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

void sweepfs_write(fuse_req_t req, struct trainfs *fs, const char *data,
		   size_t size, off_t off, struct fuse_file_info *fi)
{
	struct sweep_handle *h = (struct sweep_handle *)fi->fh;
	uid_t uid = fuse_req_ctx(req)->uid;
	int rc = 0;
	if (h->slot == SL_CONTROL) {
		rc = sweeps_control(fs->sweeps, h->id, uid, data, size);
	} else if (h->refused || off < 0 ||
		   (size_t)off + size > SWEEP_SPEC_MAX) {
		h->refused = 1;
		h->dirty = 0;
		rc = -EFBIG;
	} else {
		if ((size_t)off + size > h->cap) {
			size_t cap = ((size_t)off + size) * 2;
			char *b = realloc(h->buf, cap);
			if (!b) {
				fuse_reply_err(req, ENOMEM);
				return;
			}
			h->buf = b;
			h->cap = cap;
		}
		if ((size_t)off > h->len)
			memset(h->buf + h->len, 0, (size_t)off - h->len);
		memcpy(h->buf + off, data, size);
		if ((size_t)off + size > h->len)
			h->len = (size_t)off + size;
		h->dirty = 1;
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static int commit(struct trainfs *fs, struct sweep_handle *h, uid_t uid)
{
	if (h->slot != SL_SPEC || !h->dirty)
		return 0;
	h->dirty = 0;
	return sweeps_write_spec(fs->sweeps, h->id, uid, h->buf ? h->buf : "",
				 h->len);
}

void sweepfs_flush(fuse_req_t req, struct trainfs *fs,
		   struct fuse_file_info *fi)
{
	struct sweep_handle *h = (struct sweep_handle *)fi->fh;
	fuse_reply_err(req, -commit(fs, h, fuse_req_ctx(req)->uid));
}

void sweepfs_release(fuse_req_t req, struct trainfs *fs,
		     struct fuse_file_info *fi)
{
	struct sweep_handle *h = (struct sweep_handle *)fi->fh;
	commit(fs, h, h->uid);
	fs_opened_close(fs, &h->opened);
	fuse_reply_err(req, 0);
}

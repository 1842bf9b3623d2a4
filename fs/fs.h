/*
 * fs: the FUSE face of trainfs.  A path is a node: the root, jobs/, a job
 * folder, one of the job's files, weights/ or the tarball in it.  Inode
 * numbers are computed, not stored: a job's id times 16 plus the file's
 * slot, so the kernel's inode for a file stays the same across remounts and
 * no table of inodes is needed (ids are never reused).
 */
#ifndef TRAINFS_FS_H
#define TRAINFS_FS_H

/*
 * The libfuse API this is written for: 3.17 where the headers are 3.17 or
 * newer (FUSE passthrough: fuse_passthrough_open, conn->want_ext), else
 * 3.14 (Debian 12).  libfuse_config.h says the headers' version from 3.17
 * on (3.14's does not; its fuse_common.h does, too late to choose).
 * TRAINFS_PASSTHROUGH is 1 when passthrough is compiled in.
 */
#if defined(__has_include)
#if __has_include(<libfuse_config.h>)
#include <libfuse_config.h>
#endif
#endif
#if defined(FUSE_MAJOR_VERSION) && \
	(FUSE_MAJOR_VERSION > 3 || FUSE_MINOR_VERSION >= 17)
#define FUSE_USE_VERSION 317
#define TRAINFS_PASSTHROUGH 1
#else
#define FUSE_USE_VERSION 314
#define TRAINFS_PASSTHROUGH 0
#endif
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fs/tailview.h"
#include "jobs/core/job.h"
#include "jobs/core/sweep.h"
#include "util/lock.h"
#include "util/compiler.h"

enum node_kind {
	N_NONE,
	N_ROOT,
	N_JOBS,
	N_JOB, /* the slots below follow N_JOB in order */
	N_SPEC,
	N_CONTROL,
	N_STATUS,
	N_TAGS,
	N_METRICS,
	N_GRAPH,
	N_LOG,
	N_EVENTS,
	N_WAIT,
	N_WEIGHTS,
	N_TARBALL,
	N_LINK, /* the job's link in by-state/ and by-tag/ (byview.c) */
	/* nodes of no job, after the job's own slots: */
	N_INDEX,     /* MOUNT/index.html (dashfiles.c) */
	N_SUMMARY,   /* MOUNT/summary.csv */
	N_BY_STATE,  /* MOUNT/by-state/ (byview.c) */
	N_BY_TAG,    /* MOUNT/by-tag/ */
	N_STATE_DIR, /* MOUNT/by-state/STATE/ */
	N_TAG_DIR,   /* MOUNT/by-tag/TAG/ */
	N_SCRATCH, /* an editor's temporary file in a job folder (scratch.c) */
	N_SWEEPS,  /* MOUNT/sweeps/ (sweepfs.c) */
	N_SWEEP,   /* anything below it: a sweep, its files, its links */
};

/* Scratch files' inodes: numbered apart from the computed ones. */
#define SCRATCH_INO_BIT ((fuse_ino_t)1 << 62)
/* Sweeps' nodes (sweepfs.c): apart too. */
#define SWEEP_INO_BIT ((fuse_ino_t)1 << 61)

#define INO_ROOT 1
#define INO_JOBS 2
#define INO_INDEX 3
#define INO_SUMMARY 4
#define INO_BY_STATE 5
#define INO_BY_TAG 6
#define INO_STATE_DIR0 7 /* + the state: 7 to 14 */
#define INO_SWEEPS 15
#define TAG_INO_BASE ((fuse_ino_t)1 << 60) /* + the tag's index */
#define INO_SHIFT 4

static inline fuse_ino_t node_ino(int64_t id, enum node_kind k)
{
	return ((fuse_ino_t)id << INO_SHIFT) | (fuse_ino_t)(k - N_JOB);
}

/*
 * A tarball's inode also carries its generation (the job's resumes, 12
 * bits at INO_GEN_SHIFT): a resumed job's new tarball is a new inode, so
 * the kernel's passthrough backing of the old one, still open by a
 * reader, never refuses an open of the new one (one backing per inode).
 */
#define INO_GEN_SHIFT 48
#define INO_GEN_MASK 0xfffu

static inline fuse_ino_t tarball_ino(int64_t id, unsigned gen)
{
	return ((fuse_ino_t)id << INO_SHIFT) | (fuse_ino_t)(N_TARBALL - N_JOB) |
	       ((fuse_ino_t)(gen & INO_GEN_MASK) << INO_GEN_SHIFT);
}

static inline int64_t ino_job(fuse_ino_t ino)
{
	return (int64_t)((ino & (((fuse_ino_t)1 << INO_GEN_SHIFT) - 1)) >>
			 INO_SHIFT);
}

/* Whether tarball inode INO is of generation GEN (the current one). */
static inline int tarball_ino_current(fuse_ino_t ino, unsigned gen)
{
	return ((ino >> INO_GEN_SHIFT) & INO_GEN_MASK) == (gen & INO_GEN_MASK);
}

static inline enum node_kind ino_kind(fuse_ino_t ino)
{
	if (ino & SCRATCH_INO_BIT)
		return N_SCRATCH;
	if (ino & SWEEP_INO_BIT)
		return N_SWEEP;
	if (ino == INO_SWEEPS)
		return N_SWEEPS;
	if (ino == INO_ROOT)
		return N_ROOT;
	if (ino == INO_JOBS)
		return N_JOBS;
	if (ino == INO_INDEX)
		return N_INDEX;
	if (ino == INO_SUMMARY)
		return N_SUMMARY;
	if (ino == INO_BY_STATE)
		return N_BY_STATE;
	if (ino == INO_BY_TAG)
		return N_BY_TAG;
	if (ino >= INO_STATE_DIR0 && ino < INO_STATE_DIR0 + ST_COUNT)
		return N_STATE_DIR;
	if (ino >= TAG_INO_BASE)
		return N_TAG_DIR;
	if (ino < (1u << INO_SHIFT))
		return N_NONE;
	unsigned slot = ino & ((1u << INO_SHIFT) - 1);
	return slot <= N_LINK - N_JOB ? (enum node_kind)(N_JOB + slot) : N_NONE;
}

/* The files of a job folder, in listing order. */
struct job_file {
	const char *name;
	enum node_kind kind;
	enum job_view view; /* the change that alters it */
};
extern const struct job_file job_files[];
extern const size_t job_nfiles;

/*
 * render: the text of a dynamic file of JOB (status, control, tags,
 * metrics, graph.svg, events, spec) into a malloc'd buffer *out of *len
 * bytes, which the caller frees.  With the job's lock held, or on a copy
 * of the job nobody else sees (renders.c).  Returns 0 or -ENOMEM.
 */
MUST_CHECK int render(const struct job *job, enum node_kind kind, char **out,
		      size_t *len);

/* graph.svg of JOB, as render(). */
MUST_CHECK int render_graph(const struct job *job, char **out, size_t *len);

/*
 * The size of JOB's metrics file as render() would make it, computed
 * from the table's counts without rendering.  With the job's lock held and
 * the table loaded.
 */
size_t render_metrics_size(const struct job *job);

/*
 * renders: a rendering shared by every reader of one version of a file,
 * reference counted (renders.c).  TEXT and LEN never change; REFS and
 * SLOT are the renders lock's.
 */
struct render_slot;
struct render_holder;
struct rendering {
	char *text;
	size_t len;
	unsigned long changes; /* the job's change count it shows */
	int refs;
	struct render_slot *slot;      /* the cache's slot it is newest in */
	struct render_holder *holders; /* uids charged for it (usermem.c) */
};
struct renders;
struct renders *renders_new(void);
void renders_free(struct renders *r);
/*
 * With no lock held: the rendering of file K of job ID as it is now, with
 * a reference for the caller (rendering_put()), built if need be (the big
 * files without the job's lock).  0, -ENOENT or -ENOMEM.  Waits while
 * another thread builds it.
 */
struct trainfs;
MUST_CHECK int renders_get(struct trainfs *fs, int64_t id, enum node_kind k,
			   struct rendering **out);
/*
 * As renders_get(), but never waits for another thread's build: calls
 * DONE with the result (R referenced when RC is 0) on this thread, or
 * later on the builder's.
 */
typedef void (*render_done_fn)(void *arg, int rc, struct rendering *r);
void renders_get_async(struct trainfs *fs, int64_t id, enum node_kind k,
		       render_done_fn done, void *arg);
/*
 * The size of file K of job ID for a stat: its current rendering's, else
 * the last one's while another thread builds it (never waits for one).
 */
MUST_CHECK int renders_size(struct trainfs *fs, int64_t id, enum node_kind k,
			    off_t *size);
/* A rendering of TEXT (taken over), not cached, with one reference. */
struct rendering *rendering_new(char *text, size_t len, unsigned long changes);
void rendering_ref(struct trainfs *fs, struct rendering *r);
/* Drops a reference (NULL: nothing); the last one frees it. */
void rendering_put(struct trainfs *fs, struct rendering *r);
/*
 * An open file of UID shows R: UID is charged R's size once, however many
 * of its files show R.  0 or -ENOMEM (past UID's share).
 */
MUST_CHECK int rendering_hold(struct trainfs *fs, struct rendering *r,
			      uid_t uid);
/* An open file of UID no longer shows R. */
void rendering_unhold(struct trainfs *fs, struct rendering *r, uid_t uid);
/* Lets go of the cached renderings of job ID (its folder was removed). */
void renders_forget_job(struct trainfs *fs, int64_t id);

/*
 * usermem: memory held for one user's requests (spec writes, renderings
 * kept by open files, scratch files), per uid, at most USERMEM_MAX.
 */
#define USERMEM_MAX (64 * 1024 * 1024)
/* Counts BYTES more against UID: 0, or -ENOMEM past USERMEM_MAX. */
MUST_CHECK int usermem_charge(uid_t uid, size_t bytes);
void usermem_uncharge(uid_t uid, size_t bytes);
/* What UID is charged now. */
size_t usermem_held(uid_t uid);

/* wait: blocked reads of jobs/NAME/wait, answered when the job is final. */
struct waiters;
struct waiters *waiters_new(void);
void waiters_free(struct waiters *w);
/* With the job's lock held: answers at once if final, else defers REQ. */
void waiters_read(struct waiters *w, fuse_req_t req, const struct job *job);
/*
 * With JOB's lock held: job ID changed (JOB is NULL once it was
 * removed); answers its waiters if final, and wakes every poll(2) on its
 * files.
 */
void waiters_job_changed(struct waiters *w, int64_t id, const struct job *job);
/*
 * With the job's lock held: remembers PH (replacing what KEY, an open
 * file, had) to be woken when job ID changes.  Takes ownership of PH.
 */
void waiters_poll(struct waiters *w, int64_t id, const void *key,
		  struct fuse_pollhandle *ph);
/* Forgets the poll handle of KEY (an open file being released). */
void waiters_forget(struct waiters *w, const void *key);

/* notify: cache invalidation and the answers that must follow it. */
struct trainfs;
struct notifier;
struct notifier *notifier_start(struct fuse_session *se, struct trainfs *fs);
void notifier_stop(struct notifier *n);
/*
 * Before the session's /dev/fuse is closed (fuse_session_unmount): no
 * notification is sent after this returns (the queue is still drained,
 * its waiters answered), so none is written to a closed descriptor, or to
 * another file that took its number.  Waits at most a second for a send
 * under way (one the kernel holds ends when the unmount aborts it).
 */
void notifier_mute(struct notifier *n);
/* Queues the invalidation of what VIEWS of JOB show, then its waiters. */
void notifier_job_changed(struct notifier *n, const struct job *job,
			  unsigned views);
/* Queues the invalidation of the name NAME in folder PARENT. */
void notifier_entry(struct notifier *n, fuse_ino_t parent, const char *name);
/* Queues the invalidation of inode INO. */
void notifier_inode(struct notifier *n, fuse_ino_t ino);
/* Queues the invalidation of the entry NAME in folder PARENT. */
void notifier_entry(struct notifier *n, fuse_ino_t parent, const char *name);
/* Waits (at most a second) until all that is queued now has been sent. */
void notifier_sync(struct notifier *n);

/* scratch: editors' temporary files in job folders, in memory. */
#define SCRATCH_BYTES (1024 * 1024) /* EFBIG past it */
#define SCRATCH_PER_JOB 16 /* ENOSPC past it (open unlinked ones too) */
#define SCRATCH_USER_BYTES USERMEM_MAX /* one uid's in all: ENOSPC */
struct scratches;
struct scratches *scratches_new(void);
void scratches_free(struct scratches *s);
/* Each returns 0 or a negative errno; ST gets the file's attributes. */
MUST_CHECK int scratch_lookup(struct scratches *s, int64_t job,
			      const char *name, struct stat *st);
/* Creates NAME in job JOB, opened once (release it). -EEXIST, -ENOSPC. */
MUST_CHECK int scratch_create(struct scratches *s, int64_t job,
			      const char *name, mode_t mode, uid_t uid,
			      gid_t gid, struct stat *st);
MUST_CHECK int scratch_getattr(struct scratches *s, fuse_ino_t ino,
			       struct stat *st);
/*
 * NAME was renamed onto the job file of inode TARGET (spec): it leaves the
 * folder, but its inode stays an alias of TARGET, since the kernel takes
 * it for that name until the name is looked up again.
 */
MUST_CHECK int scratch_alias(struct scratches *s, int64_t job, const char *name,
			     fuse_ino_t target);
/* The job file scratch inode INO became (scratch_alias), or 0. */
fuse_ino_t scratch_alias_of(struct scratches *s, fuse_ino_t ino);
/* The job whose folder holds scratch file INO, or 0. */
int64_t scratch_job(struct scratches *s, fuse_ino_t ino);
/* As setattr(2); chown only to the job's OWNER and GROUP, or as it is. */
MUST_CHECK int scratch_setattr(struct scratches *s, fuse_ino_t ino,
			       const struct stat *a, int to_set, uid_t owner,
			       gid_t group, struct stat *st);
MUST_CHECK int scratch_open(struct scratches *s, fuse_ino_t ino, int trunc);
void scratch_release(struct scratches *s, fuse_ino_t ino);
/* Bytes read into BUF, or a negative errno. */
MUST_CHECK ssize_t scratch_read(struct scratches *s, fuse_ino_t ino, char *buf,
				size_t size, off_t off);
/* SIZE, or -EFBIG past SCRATCH_BYTES, or another negative errno. */
MUST_CHECK ssize_t scratch_write(struct scratches *s, fuse_ino_t ino,
				 const char *data, size_t size, off_t off,
				 int append);
/* Removes NAME; only its owner or root (CALLER) may. */
MUST_CHECK int scratch_unlink(struct scratches *s, int64_t job,
			      const char *name, uid_t caller);
/* Renames FROM to TO (replacing a scratch file TO unless NOREPLACE). */
MUST_CHECK int scratch_rename(struct scratches *s, int64_t job,
			      const char *from, const char *to, int noreplace);
/* A copy of NAME's contents into *data (malloc'd, caller frees). */
MUST_CHECK int scratch_take(struct scratches *s, int64_t job, const char *name,
			    char **data, size_t *len);
/* Calls FN for each scratch file of JOB; a non-zero return stops. */
MUST_CHECK int
scratch_list(struct scratches *s, int64_t job,
	     int (*fn)(void *arg, const char *name, fuse_ino_t ino), void *arg);
/* Drops every scratch file of JOB (its folder was removed). */
void scratch_forget_job(struct scratches *s, int64_t job);

/*
 * Every open file and folder is on one list, so that what the kernel never
 * released (a release lost when unmounting) is freed at exit all the same.
 */
struct opened {
	struct opened *prev, *next;
	void (*free)(struct opened *o);
};

/*
 * dashfiles: index.html and summary.csv of the mount's root, rendered from
 * a snapshot of the jobs the reader may read and kept until a job changes.
 */
struct caller; /* who asks (caller.h): each reader sees the jobs it may read */
struct dash_files;
struct dash_files *dash_files_new(void);
void dash_files_free(struct dash_files *d);
/* N_INDEX or N_SUMMARY for a name in the root, else N_NONE. */
enum node_kind dash_files_kind(const char *name);
/*
 * Without the registry lock: brings file K as C sees it up to date and,
 * unless OUT is NULL, gives its rendering with a reference for the caller
 * (rendering_put()).  Returns 0 or a negative errno.
 */
MUST_CHECK int dash_files_get(struct trainfs *fs, struct caller *c,
			      enum node_kind k, struct rendering **out);
/* The attributes of K as C sees it, brought up to date; 0 or -errno. */
struct stat;
MUST_CHECK int dash_files_attr(struct trainfs *fs, struct caller *c,
			       enum node_kind k, struct stat *st);

/*
 * byview: by-state/ and by-tag/, folders of links to the jobs in each
 * state and tag, of the jobs the caller C may read.  Each call takes the
 * locks it needs (a job's, one at a time, or the registry's): call with
 * none held, but byview_job_changed() and byview_job_mode_changed().
 */
int byview_is(enum node_kind k); /* one of byview's nodes */
/* The inode of NAME in PARENT (the root, or one of byview's), or 0. */
fuse_ino_t byview_lookup(struct trainfs *fs, struct caller *c,
			 fuse_ino_t parent, const char *name);
/* Fills the attributes of byview's INO; 0 or -ENOENT. */
MUST_CHECK int byview_attr(struct trainfs *fs, fuse_ino_t ino, struct stat *st);
/* Calls ADD for every entry of folder INO (not . and ..); 0 or ADD's error. */
MUST_CHECK int
byview_list(struct trainfs *fs, struct caller *c, fuse_ino_t ino,
	    int (*add)(void *arg, const char *name, fuse_ino_t ino), void *arg);
/* The target of link INO ("../../jobs/NAME") into buf; takes the lock. */
MUST_CHECK int byview_readlink(struct trainfs *fs, fuse_ino_t ino, char *buf,
			       size_t len);
/*
 * With JOB's and the listener lock held (the change callback), when JOB
 * changed VIEWS: queues the invalidation of the names the kernel may keep
 * of JOB in the folders it is no longer in (once anyone has looked into
 * by-state/ or by-tag/).
 */
void byview_job_changed(struct trainfs *fs, const struct job *job,
			unsigned views);
/*
 * With JOB's lock held, when its mode changed: queues the invalidation of
 * the names the kernel may keep of JOB in its state and tag folders, which
 * it shares between users (some of whom may no longer read the job).
 */
void byview_job_mode_changed(struct trainfs *fs, const struct job *job);
/* Frees the table of tag names (at exit). */
void byview_free(void);

/* xattr: the extended attributes of job folders (xattr.c). */
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/*
 * sweepfs: MOUNT/sweeps/ (sweepfs.c), every node of kind N_SWEEPS or
 * N_SWEEP.  Each takes the sweeps' lock itself; the handlers reply.
 */
struct sweeps;
MUST_CHECK int sweepfs_attr(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
			    struct stat *st);
void sweepfs_lookup(fuse_req_t req, struct trainfs *fs, fuse_ino_t parent,
		    const char *name);
MUST_CHECK int sweepfs_list(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
			    int (*add)(void *arg, const char *name,
				       fuse_ino_t ino),
			    void *arg);
int sweepfs_is_dir(fuse_ino_t ino);
/* chmod of a sweep folder (its owner or root); chown only to what it is. */
MUST_CHECK int sweepfs_setattr(struct trainfs *fs, fuse_req_t req,
			       fuse_ino_t ino, const struct stat *attr,
			       int to_set);
int sweepfs_is_link(fuse_ino_t ino);
MUST_CHECK int sweepfs_readlink(struct trainfs *fs, fuse_ino_t ino, char *buf,
				size_t len);
MUST_CHECK int sweepfs_mkdir(struct trainfs *fs, const char *name, uid_t uid,
			     gid_t gid, mode_t mode, fuse_ino_t *ino);
MUST_CHECK int sweepfs_rmdir(struct trainfs *fs, const char *name, uid_t uid);
void sweepfs_open(fuse_req_t req, struct trainfs *fs, fuse_ino_t ino,
		  struct fuse_file_info *fi);
void sweepfs_read(fuse_req_t req, struct trainfs *fs, size_t size, off_t off,
		  struct fuse_file_info *fi);
void sweepfs_write(fuse_req_t req, struct trainfs *fs, const char *data,
		   size_t size, off_t off, struct fuse_file_info *fi);
void sweepfs_flush(fuse_req_t req, struct trainfs *fs,
		   struct fuse_file_info *fi);
void sweepfs_release(fuse_req_t req, struct trainfs *fs,
		     struct fuse_file_info *fi);

/*
 * sweep_render: the text of a sweep's files and the dashboard's view of
 * the sweeps, from copies of the model (jobs/core/sweep.h) made under its lock
 * and rendered with no lock held.
 */
/*
 * File F of sweep ID (not the graph: sweeps_curves) into a malloc'd *OUT
 * of *LEN bytes (the caller frees).
 */
MUST_CHECK int sweeps_render(struct sweeps *s, int64_t id, enum sweep_file f,
			     char **out, size_t *len);

/* What the dashboard shows of a sweep: its status lines, copied. */
struct sweep_summary {
	char *name;
	uid_t uid;
	gid_t gid;
	unsigned mode;
	char *state;  /* created, running, ... */
	char *trials; /* status's "trials:" value, or NULL */
	char *best;   /* status's "best:" value, or NULL */
	char *epochs; /* status's "epochs:" value, or NULL */
	char *error;
};
/* Every sweep, oldest first: *OUT (N of them) freed with sweeps_summaries_free. */
MUST_CHECK int sweeps_summaries(struct sweeps *s, struct sweep_summary **out,
				size_t *n);
void sweeps_summaries_free(struct sweep_summary *v, size_t n);

/*
 * Who reads trials.csv: MAY_READ(ARG, JOB_ID) says whether a trial's job
 * is the reader's to read.  It is called with no lock held.
 */
struct sweep_reader {
	int (*may_read)(void *arg, int64_t job);
	void *arg;
};
/* sweeps_render() for WHO: trials.csv shows only the trials it may read. */
MUST_CHECK int sweeps_render_for(struct sweeps *s, int64_t id,
				 enum sweep_file file,
				 const struct sweep_reader *who, char **out,
				 size_t *len);

/* A sweep's graph.svg from its trials' curves (sweep_graph.c). */
struct sweep_curves;
MUST_CHECK int sweep_graph_render(const struct sweep_curves *c, char **out,
				  size_t *len);

/* The operations table and what its handlers share. */
struct trainfs {
	struct sweeps *sweeps; /* sweeps/ (jobs/core/sweep.h) */
	struct jobs *jobs;
	struct waiters *waiters;
	struct notifier *notifier; /* NULL until mounted */
	struct scratches *scratch; /* editors' temporary files */
	struct dash_files *dash;   /* index.html and summary.csv */
	struct renders *renders;   /* the job files' shared renderings */
	uid_t uid;		   /* who mounted: owner of the root */
	gid_t gid;
	int64_t mtime_ns; /* jobs/: last mkdir or rmdir (registry lock) */
	struct lock opened_lock; /* protects the opened list */
	struct opened opened;	 /* its head */
	/* FUSE passthrough of tarballs and logs (passthrough.c) */
	int passthrough;	  /* new opens try it (backing_lock) */
	struct lock backing_lock; /* protects backings and passthrough */
	struct backing *backings; /* one per inode read by passthrough */
};
extern const struct fuse_lowlevel_ops trainfs_ops;

/* Puts O on FS's list of open files (freed by FREE at close or exit). */
void fs_opened_add(struct trainfs *fs, struct opened *o,
		   void (*free)(struct opened *o));
/* Takes O off the list and frees it. */
void fs_opened_close(struct trainfs *fs, struct opened *o);
/* Sets up FS's list of open files (before mounting). */
void fs_opened_init(struct trainfs *fs);
/* Frees whatever is still open (after the session ended). */
void fs_opened_free(struct trainfs *fs);

/*
 * The operations' files and what they share (ops.c is their table):
 * node.c paths to nodes and attributes, dir.c what changes a folder,
 * readdir.c listings, file.c open files' I/O, handle.c open handles,
 * passthrough.c the connection and passthrough.  All of it is fs/'s own.
 */
#define CACHE_TIMEOUT 86400.0 /* kept true by invalidation (notify.c) */
/* A bit per job file unlinked by rm -r (struct job's hidden). */
#define HIDDEN_BIT(k) (1u << ((k)-N_JOB))

static inline struct trainfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}
/* What an open file carries from open to release. */
struct handle {
	struct opened opened; /* first: on the list of open files */
	struct trainfs *fs;
	enum node_kind kind;
	int64_t id;
	struct rendering *r; /* the shared rendering read, or NULL */
	char *buf;	     /* spec: the text being written */
	size_t len, cap;
	size_t charged;		 /* spec: bytes of buf counted against uid */
	int fd;			 /* log, tarball: the store's file */
	fuse_ino_t ino;		 /* a scratch file's inode */
	struct backing *backing; /* log, tarball: read by passthrough */
	int dirty;		 /* spec: written since the last flush */
	int refused; /* spec: a write was refused; nothing is stored */
	int append;
	uid_t uid;	       /* who opened it */
	uid_t owner;	       /* its job's owner (fixed at creation) */
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

/*
 * handle.c.  Charges: 0 or -ENOMEM past the opener's share.
 * handle_show takes over its reference to R (let go on -ENOMEM).
 * fs_handle_free frees H (it is the struct opened's free function).
 */
MUST_CHECK int handle_charge(struct handle *h, size_t bytes);
/* A new handle of node INO (kind and job from it) opened by UID, or NULL. */
struct handle *handle_new(struct trainfs *fs, fuse_ino_t ino, uid_t uid);
void handle_unshow(struct handle *h);
MUST_CHECK int handle_show(struct handle *h, struct rendering *r);
MUST_CHECK int handle_grow(struct handle *h, size_t end, int slack);
void fs_handle_free(struct opened *o);

/* node.c: nodes and their attributes. */
double attr_timeout(enum node_kind k);
double entry_timeout(struct trainfs *fs, fuse_ino_t ino);
int node_file_mode(const struct job *job, enum node_kind k);
int kind_rendered(enum node_kind k);
MUST_CHECK int store_file(struct trainfs *fs, const struct job *job,
			  enum node_kind k, char *path, size_t len);
MUST_CHECK int node_attr(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
			 struct stat *st);
fuse_ino_t node_resolve(struct trainfs *fs, fuse_ino_t ino);
int is_job_file(const char *name);
enum node_kind child_kind(const struct job *job, enum node_kind pk,
			  const char *name);
void reply_entry(fuse_req_t req, struct trainfs *fs, fuse_ino_t ino);

/*
 * passthrough.c: attach gives H's open file to the kernel to read (0 or
 * -EBUSY), detach takes it back at release (REQ NULL: the open never
 * reached the kernel), free lets every backing go (at exit).
 */
MUST_CHECK int passthrough_attach(struct trainfs *fs, fuse_req_t req,
				  fuse_ino_t ino, struct handle *h,
				  struct fuse_file_info *fi);
void passthrough_detach(struct trainfs *fs, fuse_req_t req, struct handle *h);
void passthrough_free(struct trainfs *fs);

/* The handlers of the operations table, by file. */
void op_init(void *userdata, struct fuse_conn_info *conn); /* passthrough.c */
void op_lookup(fuse_req_t req, fuse_ino_t parent,
	       const char *name); /* node.c */
void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode); /* dir.c */
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name);
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
	     const char *name);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);
void op_readlink(fuse_req_t req, fuse_ino_t ino);
void op_opendir(fuse_req_t req, fuse_ino_t ino,
		struct fuse_file_info *fi); /* readdir.c */
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_open(fuse_req_t req, fuse_ino_t ino,
	     struct fuse_file_info *fi); /* file.c */
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size,
	      off_t off, struct fuse_file_info *fi);
void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	     struct fuse_pollhandle *ph);
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/*
 * options: the command line (options.c).  The strings point into argv or
 * into GIVEN, which options_free() frees with FUSE_OPTS.
 */
enum option_value {
	OPT_STORE,
	OPT_MAX_RUNNING,
	OPT_EXECUTOR,
	OPT_MAX_JOBS,
	OPT_GPUS,
	OPT_NVALUES
};
struct options {
	const char *source; /* mount(8)'s first argument: the store */
	const char *mountpoint;
	const char *store;
	int max_running;
	long max_jobs_per_user;
	int slurm;	  /* --executor slurm */
	const char *gpus; /* --gpus; NULL: auto */
	int foreground;
	int debug;
	int done;	 /* --help or --version answered */
	char *fuse_opts; /* FUSE's -o options, and ours for the kernel */
	char *given[OPT_NVALUES][2]; /* each value as given: [1] from -o */
};
/*
 * Parses ARGV into O (zeroed): 0, 1 when --help or --version was answered,
 * -1 after saying what is wrong.  O is freed by options_free() either way.
 */
MUST_CHECK int options_parse(int argc, char **argv, struct options *o);
void options_free(struct options *o);
/*
 * The store folder (GIVEN, else $TRAINFS_STORE, $XDG_DATA_HOME/trainfs or
 * ~/.local/share/trainfs), made absolute since the daemon runs in /.  A
 * new string, or NULL after saying why.
 */
char *options_store_path(const char *given);

#endif

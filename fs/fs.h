/*
 * fs: the FUSE face of trainfs.  A path is a node: the root, jobs/, a job
 * folder, one of the job's files, weights/ or the tarball in it.  Inode
 * numbers are computed, not stored: a job's id times 16 plus the file's
 * slot, so the kernel's inode for a file stays the same across remounts and
 * no table of inodes is needed (ids are never reused).
 */
#ifndef TRAINFS_FS_H
#define TRAINFS_FS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "jobs/job.h"

enum node_kind {
	N_NONE,
	N_ROOT,
	N_JOBS,
	N_JOB,     /* the slots below follow N_JOB in order */
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
};

#define INO_ROOT 1
#define INO_JOBS 2
#define INO_SHIFT 4

static inline fuse_ino_t node_ino(int64_t id, enum node_kind k)
{
	return ((fuse_ino_t)id << INO_SHIFT) | (fuse_ino_t)(k - N_JOB);
}

static inline int64_t ino_job(fuse_ino_t ino)
{
	return (int64_t)(ino >> INO_SHIFT);
}

static inline enum node_kind ino_kind(fuse_ino_t ino)
{
	if (ino == INO_ROOT)
		return N_ROOT;
	if (ino == INO_JOBS)
		return N_JOBS;
	if (ino < (1u << INO_SHIFT))
		return N_NONE;
	unsigned slot = ino & ((1u << INO_SHIFT) - 1);
	return slot <= N_TARBALL - N_JOB ? (enum node_kind)(N_JOB + slot)
					 : N_NONE;
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
 * bytes, which the caller frees.  With the job's lock held.  Returns 0
 * or -ENOMEM.
 */
int render(const struct job *job, enum node_kind kind, char **out,
	   size_t *len);

/* graph.svg of JOB, as render(). */
int render_graph(const struct job *job, char **out, size_t *len);

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
void waiters_job_changed(struct waiters *w, int64_t id,
			 const struct job *job);
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
/* Queues the invalidation of what VIEWS of JOB show, then its waiters. */
void notifier_job_changed(struct notifier *n, const struct job *job,
			  unsigned views);
/* Queues the invalidation of inode INO. */
void notifier_inode(struct notifier *n, fuse_ino_t ino);
/* Waits (at most a second) until all that is queued now has been sent. */
void notifier_sync(struct notifier *n);

/*
 * Every open file and folder is on one list, so that what the kernel never
 * released (a release lost when unmounting) is freed at exit all the same.
 */
struct opened {
	struct opened *prev, *next;
	void (*free)(struct opened *o);
};

/* The operations table and what its handlers share. */
struct trainfs {
	struct jobs *jobs;
	struct waiters *waiters;
	struct notifier *notifier; /* NULL until mounted */
	uid_t uid; /* who mounted: owner of the root */
	gid_t gid;
	int64_t mtime_ns; /* jobs/: last mkdir or rmdir (registry lock) */
	pthread_mutex_t opened_lock; /* protects the opened list */
	struct opened opened;        /* its head */
};
extern const struct fuse_lowlevel_ops trainfs_ops;

/* Sets up FS's list of open files (before mounting). */
void fs_opened_init(struct trainfs *fs);
/* Frees whatever is still open (after the session ended). */
void fs_opened_free(struct trainfs *fs);

#endif

/*
 * job: the job model that every interface (the FUSE face today, a CLI or a
 * Slurm front end tomorrow) drives.
 *
 * All jobs live in memory in one registry, loaded from the store at open
 * and written through to it: every change of a job is one store
 * transaction, and a user's command is committed before the job changes
 * in memory (a failed commit leaves the job as it was and returns the
 * error).  Each job has its own lock, so one job's work (rendering,
 * taking in metrics) never waits on another's; the registry lock covers
 * only the list of jobs (registry.h gives the order of the locks).  The
 * public functions take the locks themselves; a reader takes one job with
 * jobs_lock_job()/jobs_unlock_job() and renders it under its lock.
 * Functions return 0 or a negative errno.  Who may do what
 * (owner or root) is decided here too, from the UID the caller passes.
 */
#ifndef TRAINFS_JOB_H
#define TRAINFS_JOB_H

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "jobs/model/gpus.h"
#include "jobs/model/metrics.h"
#include "jobs/run/watch.h"
#include "jobs/model/spec.h"
#include "jobs/model/state.h"
#include "store/store.h"
#include "util/lock.h"
#include "util/compiler.h"

#define JOB_NAME_MAX JOB_RECORD_NAME_MAX /* bytes of UTF-8 */
#define TAG_NAME_MAX 64
#define JOB_USER_TAGS_MAX 1000 /* more is refused with EFBIG */
#define JOB_TAGS_WRITE_MAX \
	(64 * 1024) /* one write; the kernel never splits it */
#define JOB_COLUMNS_MAX \
	1000 /* metric names per job; a line adding more is malformed */
/*
 * A job's metrics table holds at most JOB_ROWS_MAX rows and
 * JOB_VALUES_MAX bytes of values, counted both as stored (each row's
 * text, "epoch=3 loss=0.5") and in memory (8 bytes a cell, rows times
 * columns); a line past either is left out ("too many rows").
 */
#define JOB_ROWS_MAX 1000000
#define JOB_VALUES_MAX ((size_t)256 * 1024 * 1024)

/* What a change touched, so interfaces can refresh exactly that. */
enum job_view {
	VIEW_SPEC,
	VIEW_CONTROL,
	VIEW_STATUS,
	VIEW_TAGS,
	VIEW_METRICS,
	VIEW_EVENTS,
	VIEW_WEIGHTS,
	VIEW_LOG,
};
#define VIEW_BIT(v) (1u << (v))

struct executor;
struct exec_run;
struct source;

struct job_tag {
	char *name;
	int system;
};

struct job_event {
	int64_t time_ns;
	char *state;
	char *reason;
};

/*
 * A job's metrics in memory: a row per reported epoch, a column per metric
 * name in first-seen order (at most JOB_COLUMNS_MAX), the cells row-major
 * with a stride of `stride` >= ncolumns that doubles when full, so a new
 * name re-strides the rows O(log names) times in all.  Names are found
 * through a hash index.  A cell no line reported holds CELL_MISSING, a NaN
 * no parser produces.  Tables of jobs nobody looks at stay in the store:
 * jobs_load_metrics() reads one in on first use.
 */
struct job_table {
	char **columns;
	int ncolumns;
	int stride;    /* cells per row allocated */
	int *index;    /* open addressing: column + 1, 0 free */
	int cap_index; /* a power of 2, >= 2 * ncolumns */
	long *epochs;
	struct watch_index by_epoch; /* the row of an epoch */
	double *cells;
	size_t nrows, cap;
	int loaded;
	/* What the rows hold as text, kept as rows come and go: */
	size_t epoch_chars; /* the epochs' digits */
	size_t nvalues;	    /* cells with a value */
	size_t name_chars;  /* the column names of those cells */
	size_t value_chars; /* their values as metrics_format_number() */
};

struct job_undo;

/*
 * A job in memory, in four parts, each written by one side under the
 * job's lock unless its note says otherwise.  Anyone holding the job's
 * lock may read every part.
 */
struct job {
	/* ---- Its lock and lifetime: the registry's (registry.c). ---- */
	struct lock lock;    /* the job lock (registry.h: the order) */
	pthread_cond_t idle; /* with lock: broadcast when busy drops */
	int refs;	     /* registry lock: the list's + each jobs_get() */
	int removed;	     /* both locks to set: unlinked by rmdir */

	/*
	 * ---- 1. The stored record: what the store keeps. ----
	 * Written under the job's lock by the user's commands (control.c,
	 * resume.c, restart.c, tags.c, job.c: committed to the store first,
	 * then taken over whole, job_commit_move()) and by the supervisor's
	 * moves and ingest (supervisor.c, ckpt_run.c), which write it
	 * through in the same lock hold.  rec.mode is also read without the
	 * lock, atomically (access.h); rec.id and rec.name are read under
	 * the registry lock alone (the name changes under both locks).
	 */
	struct job_record rec;

	/*
	 * ---- 2. The model derived from the record, the events and the
	 * metrics: rebuilt at load, kept current by whoever changes the
	 * record, under the job's lock; never stored as such. ----
	 */
	struct spec spec; /* valid when spec_ok */
	int spec_ok;
	char *spec_error; /* why the spec is bad, or NULL */
	struct job_tag *tags;
	size_t ntags;
	struct job_event *events;
	size_t nevents;
	struct job_table table; /* see jobs_load_metrics() */
	int monitor_col;	/* column of spec.monitor, -1 until seen */
	struct autostop policy; /* kept in rec too, so it outlives a restart */
	struct autostop policy_before; /* after every row but the last ... */
	int policy_before_ok; /* ... when known (watch.h; not stored) */
	struct job_undo
		*undo; /* job_table_mark(): what a failed commit puts back */
	unsigned long changes; /* counts job_touch(): what a reader saw is stale
				  when this moved on */
	unsigned resumes;      /* "resumed from" events: the tarball's
				  generation (a new tarball, a new inode) */

	/*
	 * ---- 3. The executor's and the supervisor's runtime: written by
	 * the supervisor thread (supervisor.c, ckpt_run.c, gpu_run.c) and a
	 * launch's own thread (launch.c, worker.h) under the job's lock; never stored (recovery rebuilds it). ----
	 */
	struct executor *exec; /* where its trainer runs (executor.h) */
	struct exec_run *run;  /* exec's handle of the trainer, or NULL:
				  from launch or attach until reaped */
	int run_over;	       /* the executor said the run ended */
	int launching;	       /* a launch is under way on its own thread
				  (launch.c), which writes this under the
				  job's lock too; the job stays queued, or
				  is cancelled meanwhile (a restart waits
				  until it is idle) */
	int publishing;	       /* the tarball moves into weights/ on its
				  own thread (publish.c) */
	char *exec_line;       /* the executor's status line ("job 41 on
				  node1"), or NULL */
	char *exec_error;      /* the executor's verdict on the end, or NULL */
	pid_t packer_pid;      /* 0: not packing */
	int packer_fd;	       /* the packer's progress pipe, or -1 */
	int weights_tmp_fd;    /* the temporary tarball being written, or -1 */
	char packing_as[JOB_NAME_MAX + 1]; /* the name in the packer's manifest:
				  a rename meanwhile packs again */
	int progress; /* packaging: percent of bytes packed */
	struct line_splitter *splitter;
	struct source *source; /* spec metrics_from, while followed (source.h) */
	int source_failed;     /* its last step failed: logged once */
	int metrics_fd;
	int64_t metrics_read;		/* bytes of metrics.txt read so far */
	struct watch_tail metrics_tail; /* the bytes before metrics_read */
	int64_t event_at_ns;	/* nonzero: the time of the state changes made
				  now (an end that happened while trainfs was
				  away), not the clock's */
	int ended;		/* the trainer is gone; its end is still to be
				  taken in (the last metrics first) */
	int store_failures;	/* commits of metrics failed in a row */
	char *pack_error;	/* the packer's last "error" or "fail" line */
	int busy;		/* a trainer or packer may still be alive */
	int delete_when_idle;	/* cancelled while an older run was still
				  being reaped: delete its output once idle
				  (set by control.c's cancel) */
	long ckpt_scanned;	/* last_epoch at the last checkpoints scan */
	int ckpt_cycling;	/* a scan runs on its own thread (ckpt_run.c) */
	int ckpt_final_done;	/* the last one, after the end, is done */
	int64_t ckpt_scan_ns;	/* when that was (ckpt_run.c) */
	char waiting[64];	/* queued: why it does not run yet ("2 GPUs
				  (1 free)"), or "" (gpu_run.c) */
	char *ckpt_resume_path; /* checkpoints_from: the match a launch
				   resumes from, or NULL (ckpt_run.c) */

	/*
	 * ---- 4. The interface's and the sweeps' view: written by fs/ and
	 * by the sweeps' thread (sweep.c) under the job's lock; never
	 * stored (a remount starts afresh). ----
	 */
	unsigned hidden;	 /* files unlinked by rm -r (a resume or
				  restart shows them again) */
	unsigned long published; /* the change its caches have caught up
				    with */
	char *sweep;		 /* a sweep's trial: "NAME, trial T: lr=0.1" */
	char *sweep_name;	 /* ... and the sweep's name, or NULL */
};

struct jobs;

/*
 * Change callback: called with the job's lock and the listener lock held
 * (registry.h), perhaps inside a store transaction: must not block.
 */
typedef void (*jobs_changed_fn)(void *arg, struct job *job, unsigned views);

struct jobs_config {
	const char *store_dir;
	int max_running;	/* <= 0: no limit */
	long max_jobs_per_user; /* jobs one uid may have (root: any); <= 0: any */
	const char *self_exe;	/* this program, run as shim and packer */
	const char *mountpoint; /* where trainfs is mounted (resolved), or
				   NULL */
	int slurm;		/* jobs without an executor key run on Slurm */
	struct gpu_pool gpus;	/* the GPUs local jobs share (--gpus) */
};

/*
 * Opens the store and loads every job; *out is owned by the caller.  The
 * strings of CFG are copied: the caller's may go once this returns.
 */
MUST_CHECK int jobs_open(const struct jobs_config *cfg, struct jobs **out);

/*
 * Starts the supervisor thread, which launches queued jobs, re-adopts
 * jobs that were running before, ingests metrics and finishes jobs, and
 * the store's deleter.  Call after any daemonizing fork (threads do not
 * survive a fork).
 */
MUST_CHECK int jobs_start_supervisor(struct jobs *j);

/* Stops the supervisor (trainers keep running) and frees everything. */
void jobs_close(struct jobs *j);

/*
 * Names this process as the store's holder (after daemonizing), mounted at
 * MOUNTPOINT.
 */
MUST_CHECK int jobs_claim_pid(struct jobs *j, const char *mountpoint);

/* Registers the change callback (one; NULL to remove). */
void jobs_on_change(struct jobs *j, jobs_changed_fn fn, void *arg);

/* The registry lock: for jobs_find*() and jobs_list() only. */
void jobs_lock(struct jobs *j);
void jobs_unlock(struct jobs *j);

/*
 * With the registry lock held: the job with ID or NAME, or NULL.  Only its
 * id and name (fixed at creation) may be read without its own lock.
 */
struct job *jobs_find(struct jobs *j, int64_t id);
struct job *jobs_find_name(struct jobs *j, const char *name);

/* With the registry lock held: the jobs in creation order (until unlock). */
struct job **jobs_list(struct jobs *j, size_t *n);

/* The job with ID, with a reference the caller drops with jobs_put(). */
struct job *jobs_get(struct jobs *j, int64_t id);
/* Drops a reference; the last one of a removed job frees it. */
void jobs_put(struct jobs *j, struct job *job);

/*
 * Calls FN for every job, oldest first, each with its own lock held and
 * no other (one job at a time: the registry lock is not held over FN, so
 * nobody waits on a visitor but the job it is looking at).  A non-zero
 * return from FN stops the visit and is returned.
 */
MUST_CHECK int jobs_visit(struct jobs *j, int (*fn)(void *arg, struct job *job),
			  void *arg);

/* A job's own lock (registry.h). */
void job_lock(struct job *job);
void job_unlock(struct job *job);
/* Takes the job's lock if it is free: 1, else 0 (for who must not wait). */
int job_trylock(struct job *job);
/* Ends trainfs unless this thread holds JOB's lock (util/lock.h). */
#define job_assert_locked(job) lock_assert_held(&(job)->lock)

/*
 * Job ID referenced and locked, or NULL (no such job, or removed): what a
 * reader of one job's files takes, and nothing else.  Release with
 * jobs_unlock_job().
 */
struct job *jobs_lock_job(struct jobs *j, int64_t id);
void jobs_unlock_job(struct jobs *j, struct job *job);

/*
 * Whether NAME (LEN bytes) is a valid job name: 1 to JOB_NAME_MAX bytes of
 * UTF-8 without '/', NUL or control characters (C0, DEL, C1), Unicode
 * noncharacters or format and separator characters (Cf, Zl, Zp), not
 * starting with '.'.
 */
int job_name_valid(const char *name, size_t len);

/* Whether NAME is a tag: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'. */
int tag_name_valid(const char *name, size_t len);

/*
 * Creates job NAME owned by UID/GID, its folder of MODE (mkdir's, the
 * umask applied: access.h); sets *id.  -EINVAL, -EEXIST.
 */
MUST_CHECK int jobs_create(struct jobs *j, const char *name, uid_t uid,
			   gid_t gid, mode_t mode, int64_t *id);

/*
 * Renames job ID to NAME (any state).  -EINVAL for a bad name, -EEXIST
 * when taken, -EACCES, -ENOENT.
 */
MUST_CHECK int jobs_rename(struct jobs *j, int64_t id, uid_t uid,
			   const char *name);

/*
 * The name its tarball is shown under: the job's name now and the suffix
 * it was packed with ("yolo.tar.zst"), into buf.  0, or -ENOENT when it
 * has none, -ENAMETOOLONG.
 */
MUST_CHECK int job_weights_name(const struct job *job, char *buf, size_t len);

/* Deletes a created or final job.  -EBUSY, -EACCES, -ENOENT. */
MUST_CHECK int jobs_remove(struct jobs *j, int64_t id, uid_t uid);

/*
 * Stores TEXT as the job's spec (even when bad), in a created or final
 * job (a failed one is fixed, then restarted).  -EINVAL for a bad spec
 * (stored all the same), -EACCES between created and final or for
 * another user.
 */
MUST_CHECK int jobs_write_spec(struct jobs *j, int64_t id, uid_t uid,
			       const char *text, size_t len);

/*
 * Carries out one control write.  -EINVAL unknown command, -EBUSY not
 * allowed now, -EACCES another user or an owner trainfs cannot run as;
 * a refused write leaves the job unchanged but for the last refusal.  -EIO
 * when the store cannot take the command: the job is exactly as it was.
 */
MUST_CHECK int jobs_control(struct jobs *j, int64_t id, uid_t uid,
			    const char *text, size_t len);

/*
 * Adds the tags in TEXT (one per line), after clearing the user tags when
 * CLEAR.  -EINVAL for a bad or system tag, -EFBIG for a write over
 * JOB_TAGS_WRITE_MAX or more than JOB_USER_TAGS_MAX user tags (nothing is
 * changed), -EACCES, or -EIO when the store cannot take them (nothing is
 * changed either).
 */
MUST_CHECK int jobs_write_tags(struct jobs *j, int64_t id, uid_t uid,
			       const char *text, size_t len, int clear);

/*
 * The user tags of job ID, a line each, into *text (malloc'd, caller
 * frees) and *len.  0, -ENOENT or -ENOMEM.
 */
MUST_CHECK int jobs_user_tags(struct jobs *j, int64_t id, char **text,
			      size_t *len);
/* Whether NAME is one of the tags trainfs sets itself (ready, ...). */
int job_tag_is_system(const char *name);

/* Whether UID may change JOB (its owner or root). */
int job_may_change(const struct job *job, uid_t uid);

/* A path in the job's store folder (see store.h); -ENAMETOOLONG. */
MUST_CHECK int jobs_path(struct jobs *j, const struct job *job, const char *rel,
			 char *buf, size_t len);

/* The last reported epoch, or -1 when none was. */
long job_last_epoch(const struct job *job);

/*
 * With the job's lock held: reads JOB's metrics table in from the store unless
 * it is in memory already.  Returns 0 or a negative errno.
 */
MUST_CHECK int jobs_load_metrics(struct jobs *j, struct job *job);

/* Cell ROW x COL of a loaded table into *v; 0 when no line reported it. */
int job_cell(const struct job *job, size_t row, int col, double *v);

/*
 * The sentence status shows for a converged job ("training converged at
 * epoch 37 of 100; 63 unnecessary epochs skipped") into buf, or "" when
 * there is none.  Returns buf.
 */
char *job_message(const struct job *job, char *buf, size_t len);

/* Formats NS as RFC 3339 UTC ("2026-11-27T23:59:01Z") into buf; returns buf. */
char *job_format_time(int64_t ns, char *buf, size_t len);

/* The wall clock in nanoseconds. */
int64_t job_now_ns(void);

#endif

/*
 * registry: what the files of the job core share: registry.c (the table
 * of jobs and its locks), job.c (one job in memory and its record),
 * table.c (the metrics table), control.c, resume.c, restart.c and tags.c
 * (the user's commands), load.c (loading at mount), and the supervisor
 * (launching, observing and finishing trainers): supervisor.c (its loop
 * and scheduling), ingest.c, launch.c, outcome.c, publish.c, recover.c
 * and busy.c.  Not for use outside jobs/.
 *
 * Calls go one way: the commands and the supervisor call job.c and
 * registry.c, never the other way round, and no two of these files call
 * each other.  A user's command commits to the store, then changes the
 * job (its state, under the job's lock) and wakes the supervisor
 * (jobs_wake), which acts on it; only the stop and cancel signals go
 * straight to the trainer through the job's executor (job_signal), once
 * the command is stored, so a stop reaches it within milliseconds.
 */
#ifndef TRAINFS_REGISTRY_H
#define TRAINFS_REGISTRY_H

#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "jobs/run/executor.h"
#include "jobs/core/job.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/compiler.h"

/*
 * The locks of jobs/, in the order they are taken (never the other way
 * round; the whole order, with fs/'s and store/'s, is util/lock.h's
 * table, checked on every take):
 *
 *   job->lock       one job: everything in struct job but refs, removed.
 *                   Held over that job's own work (rendering, an ingest
 *                   step, packing's end); never two jobs' locks at once.
 *                   rec.mode is also read without it, atomically
 *                   (access.h: an access check never waits).
 *   the store lock  the SQLite connection (store.c).
 *   jobs.lock       the registry: list, by_name, n, every job's refs and
 *                   removed, quit, and a job's id and name (a record is
 *                   replaced under it too); bookkeeping of bounded size
 *                   only, never held over I/O or a job's work.
 *   listen_lock     the change callback (changed, changed_arg): held
 *                   over job_touch()'s call of it, which only queues.
 *
 * So job_touch() may be called anywhere, inside a store transaction
 * too (ingest commits a job's rows and touches it before the commit);
 * it takes no lock but the listener's, the innermost of jobs/.  A user's
 * command commits first and touches after (job_commit_move()).  The
 * notifier's and the waiters' mutexes (fs/) come after all of these.
 * A job is found under the registry lock and a reference taken
 * (jobs_get), then locked; rmdir unlinks it from the registry, and the
 * last reference frees it, so a job found is never freed while used.
 */
struct jobs {
	struct lock lock;    /* the registry lock, see above */
	struct store *store; /* has its own lock */
	struct jobs_config cfg;
	char *store_dir; /* cfg's strings, copied: cfg points at these */
	char *self_exe;
	char *mountpoint;	/* or NULL */
	struct executor *local; /* the local executor (exec_local.c) */
	struct executor *slurm; /* the Slurm executor (exec_slurm.c) */

	struct job **list; /* ascending id (= creation order); a ref each */
	size_t n, cap;
	struct job **by_name; /* open addressing, cap_names slots */
	size_t cap_names;

	struct lock listen_lock; /* the listener lock: changed, changed_arg */
	jobs_changed_fn changed;
	void *changed_arg;

	pthread_t supervisor;
	int supervising; /* the supervisor's thread runs (set before it starts) */
	struct lock workers_lock;    /* workers, workers_idle (worker.c) */
	pthread_cond_t workers_idle; /* broadcast when workers drops to 0 */
	int workers;		     /* worker threads alive */
	int quit;
	int wake[2]; /* a byte here wakes the supervisor */
};

/* Ends trainfs unless this thread holds the registry's lock. */
#define jobs_assert_locked(j) lock_assert_held(&(j)->lock)

/*
 * The workdir check of a start or restart, made before the job's lock is
 * taken (workdir_check() waits for a helper process): DIR is the workdir
 * it checked, RC its result.  A spec changed since (another DIR) is
 * checked again by the next try: EAGAIN.
 */
struct start_check {
	char *dir;
	int rc;
};

/*
 * Records a change of JOB touching VIEWS: sets their mtimes and tells the
 * interface.  With the job's lock held.
 */
void job_touch(struct jobs *j, struct job *job, unsigned views);

/*
 * Moves JOB to state TO and persists the job, an event "TO REASON" and
 * the system TAGS (a NULL-terminated list, or NULL) in one transaction.
 * With the job's lock held.  Returns 0 or -EIO (the job is changed in memory all
 * the same and the failure logged).
 */
MUST_CHECK int job_set_state(struct jobs *j, struct job *job, enum job_state to,
			     const char *reason, const char *const *tags);

/* The event reason of a stop ahead of a Slurm time limit (and message). */
#define JOB_TIME_LIMIT_STOP "stopped before the Slurm time limit"

/* Seconds of grace beyond which a stop never escalates (shim: the same). */
#define GRACE_MAX 1e9

/*
 * Stops a running JOB: asks its shim to stop, sets the kill time, REASON
 * ("stopped-early", "converged") and moves it to stopping with the event
 * reason WHY and the system TAGS.  With the job's lock held.
 */
MUST_CHECK int job_stop(struct jobs *j, struct job *job, const char *reason,
			const char *why, const char *const *tags);

/*
 * A user's command, store first: NEXT is JOB's record as the command
 * leaves it (a copy of job->rec whose replaced strings are new, the rest
 * shared), in state next->state.  Stores NEXT, the event "STATE WHY", the
 * system TAGS added and UNTAGS removed (NULL-terminated lists, or NULL) in
 * one transaction; only once it is committed does JOB take NEXT, the
 * event and the tags, and are readers told.  Returns 0, or -EINVAL (no
 * such move) or the store's error (-EIO, logged) with JOB exactly as it
 * was and NEXT's new strings freed.  With the job's lock held; takes the
 * store's.
 */
MUST_CHECK int job_commit_move(struct jobs *j, struct job *job,
			       struct job_record *next, const char *why,
			       const char *const *tags,
			       const char *const *untags);
/*
 * JOB (locked) takes record NEXT; the strings NEXT no longer shares are
 * freed.  The copy is made under the registry's lock too: lookups read a
 * job's id and name under that lock alone.
 */
void job_record_take(struct jobs *j, struct job *job, struct job_record *next);
/* Frees NEXT's strings that JOB's record does not share (NEXT undone). */
void job_record_drop(const struct job *job, struct job_record *next);
/* When a stop asked now turns into SIGKILL: now plus the spec's grace. */
int64_t job_kill_at(const struct job *job);

/* Adds a system tag in memory (persisted by the caller's transaction). */
MUST_CHECK int job_add_tag(struct job *job, const char *tag, int system);
/* Adds the system TAGS (NULL-terminated, or NULL) in memory; -ENOMEM. */
MUST_CHECK int job_add_tags(struct job *job, const char *const *tags);
/* Removes TAG in memory, if JOB has it (the caller's transaction stores it). */
void job_remove_tag(struct job *job, const char *tag);
/* Appends an event in memory (the caller's transaction stores it); -ENOMEM. */
MUST_CHECK int job_add_event(struct job *job, int64_t time_ns,
			     const char *state, const char *reason);

/*
 * Waits up to SECONDS, the job's lock let go meanwhile, until no trainer
 * or packer of JOB may be alive (a cancelled one still dying).  0, or
 * -EBUSY when one still is.  With the job's lock held.
 */
MUST_CHECK int job_wait_idle(struct job *job, int seconds);

/* Persists JOB's record alone.  With the job's lock held. */
MUST_CHECK int job_save(struct jobs *j, struct job *job);

/*
 * job_save() where the caller goes on whatever happens (the record in
 * memory is right, and the job's next save stores it): a failure is
 * logged as "job 'x': cannot save its record: ...".
 */
static inline void job_save_logged(struct jobs *j, struct job *job)
{
	int rc = job_save(j, job);
	if (rc)
		log_error("job '%s': cannot save its record: %s\n",
			  job->rec.name, strerror(-rc));
}

/* What job_add_row() did (flags). */
#define JOB_ROW_STOP 1	   /* the policy says stop */
#define JOB_ROW_CHANGED 2  /* row *ROW was added or changed: store it */
#define JOB_ROW_TOO_MANY 4 /* pairs left out: too many metric names */

/*
 * Takes a reported metrics line into JOB's (loaded) table: a line for an
 * epoch that has a row fills in and replaces that row's values, any other
 * adds a row.  The policy follows the rows as they stand (watch.h), and
 * rec (rows, last epoch, best, waited) with it.  Returns JOB_ROW_* flags
 * with the row in *ROW (JOB_ROW_TOO_MANY: the pairs that would take the
 * job past JOB_COLUMNS_MAX names were left out, the rest taken), -EFBIG
 * past JOB_ROWS_MAX rows or JOB_VALUES_MAX bytes of values (nothing is
 * changed), or -ENOMEM.  Records what
 * it changes for job_table_undo() after job_table_mark().
 */
MUST_CHECK int job_add_row(struct job *job, const struct metrics_line *ml,
			   size_t *row);

/*
 * A transaction of the table: job_table_mark() starts recording the rows,
 * columns and policy as they are; job_table_undo() puts them back (a
 * failed commit: nothing unstored is shown), job_table_keep() forgets
 * them.  With the job's lock held; mark returns 0 or -ENOMEM.
 */
MUST_CHECK int job_table_mark(struct job *job);
void job_table_undo(struct job *job);

/*
 * A failed commit of a metrics step (from the metrics file or a source):
 * the table back as job_table_mark() found it, and the record's metrics
 * fields (rows, last epoch, best, waited, the bad lines) back to WAS's;
 * BAD_WHY_WAS is WAS's bad_why, which the record takes back (a newer one
 * is freed).  With the job's lock held.
 */
void job_metrics_undo(struct job *job, const struct job_record *was,
		      char *bad_why_was);
void job_table_keep(struct job *job);

/* The canonical text of row ROW, as stored ("epoch=3 loss=0.5"); caller frees. */
char *job_row_line(const struct job *job, size_t row);

/* Wakes the supervisor (any thread, lock held or not). */
void jobs_wake(struct jobs *j);

/*
 * Asks JOB's trainer to stop or cancel through its executor, if a run is
 * attached (else the supervisor sends it once it finds the trainer
 * again).  With the job's lock held; never blocks.
 */
void job_signal(struct jobs *j, struct job *job, enum exec_verb verb);

/*
 * Undoes the metrics rows, columns and record values added since the table
 * had NROWS rows and NCOLS columns (a failed commit: nothing unstored is
 * shown).  With the job's lock held.
 */
void job_table_truncate(struct job *job, size_t nrows, int ncols);

/* ---- what the files of the job core share (registry.c, job.c, load.c,
 * table.c, control.c, resume.c, tags.c) ---- */

/* The FNV-1a hash of S, for the name indexes (jobs, metric columns). */
static inline size_t jobs_name_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}
/* Doubles the name index (the first: 1024 slots); -ENOMEM. */
MUST_CHECK int registry_names_grow(struct jobs *j);
/* Adds JOB with the list's reference.  Registry lock held (or loading). */
MUST_CHECK int registry_add(struct jobs *j, struct job *job);
/* Takes JOB out of / puts it in the name index.  Registry lock held. */
void registry_name_remove(struct jobs *j, const struct job *job);
void registry_name_insert(struct jobs *j, struct job *job);
/*
 * Finds and locks job ID for UID to change.  Returns the job (let go with
 * jobs_unlock_job), or NULL with *rc set to -ENOENT or -EACCES.
 */
struct job *jobs_lock_to_change(struct jobs *j, int64_t id, uid_t uid, int *rc);

/* A new job, unlisted, its lock free; NULL when out of memory. */
struct job *job_new(void);
/* Frees JOB and all it owns: unlisted, and no reference left. */
void job_free(struct job *job);
/* Parses the stored spec into job->spec, or sets spec_error. */
void job_parse_spec(struct job *job);
/* Whether JOB has TAG, system or user. */
int job_has_tag(const struct job *job, const char *tag);
/*
 * Records a refused control write ("'TEXT': WHY") and returns ERR.  The
 * job's state and everything else stay as they were.
 */
MUST_CHECK int job_refuse(struct jobs *j, struct job *job, int err,
			  const char *text, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/*
 * Drops the table's rows whose epoch is above FROM (in place, order kept);
 * returns the first row that changed.
 */
size_t job_table_drop_after(struct job *job, long from);
/* Replays the policy over the rows, with patience counted afresh. */
void job_policy_replay(struct job *job);

/* resume (resume.c): the control verb, its state checked by the caller. */
MUST_CHECK int control_resume(struct jobs *j, struct job *job, const char *text,
			      size_t len, long epochs);

#endif

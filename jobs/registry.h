/*
 * registry: what job.c (the registry and the user's operations) and
 * supervisor.c (launching, observing and finishing trainers) share.  Not
 * for use outside jobs/.
 *
 * Calls go one way: supervisor.c calls job.c, never the other way round.
 * A user's operation records its intent in the job (its state, under the
 * job's lock) and wakes the supervisor (jobs_wake), which acts on it;
 * only the stop and cancel signals go straight to the trainer through the
 * job's executor (job_signal), so a stop reaches it within milliseconds.
 */
#ifndef TRAINFS_REGISTRY_H
#define TRAINFS_REGISTRY_H

#include <assert.h>
#include <pthread.h>

#include "jobs/executor.h"
#include "jobs/job.h"
#include "util/lock.h"

/*
 * The locks, in the order they are taken (never the other way round):
 *
 *   job->lock       one job: everything in struct job but refs, removed.
 *                   Held over that job's own work (rendering, an ingest
 *                   step, packing's end); never two jobs' locks at once.
 *                   rec.mode is also read without it, atomically
 *                   (access.h: an access check never waits).
 *   jobs.lock       the registry: list, by_name, n, every job's refs and
 *                   removed, quit, changed; bookkeeping of bounded size
 *                   only, never held over I/O or a job's work.
 *   the store lock  the SQLite connection (store.c).
 *
 * One exception to that order, safe because it only goes one way: a
 * transaction that changes a job calls job_touch() before its commit
 * (ingest, tags), which takes the registry lock with the store lock held.
 * So the store lock is never to be taken with the registry lock held.
 * The notifier's and the waiters' mutexes (fs/) come after all of these.
 * A job is found under the registry lock and a reference taken
 * (jobs_get), then locked; rmdir unlinks it from the registry, and the
 * last reference frees it, so a job found is never freed while used.
 */
struct jobs {
	struct lock lock;  /* the registry lock, see above */
	pthread_t lock_owner;  /* debug: who holds it */
	int lock_held;
	struct store *store;   /* has its own lock */
	struct jobs_config cfg;
	char *store_dir;
	char *self_exe;
	struct executor *local; /* the local executor (exec_local.c) */
	struct executor *slurm; /* the Slurm executor (exec_slurm.c) */

	struct job **list;     /* ascending id (= creation order); a ref each */
	size_t n, cap;
	struct job **by_name;  /* open addressing, cap_names slots */
	size_t cap_names;

	jobs_changed_fn changed;
	void *changed_arg;

	pthread_t supervisor;
	int supervising;
	int quit;
	int wake[2];           /* a byte here wakes the supervisor */
};

#ifndef NDEBUG
#define jobs_assert_locked(j)                                            \
	assert((j)->lock_held && pthread_equal((j)->lock_owner, pthread_self()))
#else
#define jobs_assert_locked(j) ((void)(j))
#endif

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
int job_set_state(struct jobs *j, struct job *job, enum job_state to,
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
int job_stop(struct jobs *j, struct job *job, const char *reason,
	     const char *why, const char *const *tags);

/* Adds a system tag in memory (persisted by the caller's transaction). */
int job_add_tag(struct job *job, const char *tag, int system);
/* Removes TAG in memory, if JOB has it (the caller's transaction stores it). */
void job_remove_tag(struct job *job, const char *tag);
/* Appends an event in memory (the caller's transaction stores it); -ENOMEM. */
int job_add_event(struct job *job, int64_t time_ns, const char *state,
		  const char *reason);

/*
 * Waits up to SECONDS, the job's lock let go meanwhile, until no trainer
 * or packer of JOB may be alive (a cancelled one still dying).  0, or
 * -EBUSY when one still is.  With the job's lock held.
 */
int job_wait_idle(struct job *job, int seconds);

/* Persists JOB's record alone.  With the job's lock held. */
int job_save(struct jobs *j, struct job *job);

/* What job_add_row() did (flags). */
#define JOB_ROW_STOP 1    /* the policy says stop */
#define JOB_ROW_CHANGED 2 /* row *ROW was added or changed: store it */
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
int job_add_row(struct job *job, const struct metrics_line *ml, size_t *row);

/*
 * A transaction of the table: job_table_mark() starts recording the rows,
 * columns and policy as they are; job_table_undo() puts them back (a
 * failed commit: nothing unstored is shown), job_table_keep() forgets
 * them.  With the job's lock held; mark returns 0 or -ENOMEM.
 */
int job_table_mark(struct job *job);
void job_table_undo(struct job *job);
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


#endif

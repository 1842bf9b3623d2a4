/*
 * registry: what job.c (the registry and the user's operations) and
 * supervisor.c (launching, observing and finishing trainers) share.  Not
 * for use outside jobs/.
 */
#ifndef TRAINFS_REGISTRY_H
#define TRAINFS_REGISTRY_H

#include <pthread.h>

#include "jobs/job.h"

struct jobs {
	/* The registry lock: every job, the lists and the store connection. */
	pthread_mutex_t lock;
	pthread_cond_t idle;   /* broadcast when a job stops being busy */
	struct store *store;
	struct jobs_config cfg;
	char *store_dir;
	char *self_exe;

	struct job **list;     /* ascending id (= creation order) */
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

/*
 * Records a change of JOB touching VIEWS: sets their mtimes and tells the
 * interface.  With the lock held.
 */
void job_touch(struct jobs *j, struct job *job, unsigned views);

/*
 * Moves JOB to state TO and persists the job, an event "TO REASON" and
 * the system TAGS (a NULL-terminated list, or NULL) in one transaction.
 * With the lock held.  Returns 0 or -EIO (the job is changed in memory all
 * the same and the failure logged).
 */
int job_set_state(struct jobs *j, struct job *job, enum job_state to,
		  const char *reason, const char *const *tags);

/* Seconds of grace beyond which a stop never escalates (shim: the same). */
#define GRACE_MAX 1e9

/*
 * Stops a running JOB: asks its shim to stop, sets the kill time, REASON
 * ("stopped-early", "converged") and moves it to stopping with the event
 * reason WHY and the system TAGS.  With the lock held.
 */
int job_stop(struct jobs *j, struct job *job, const char *reason,
	     const char *why, const char *const *tags);

/* Adds a system tag in memory (persisted by the caller's transaction). */
int job_add_tag(struct job *job, const char *tag, int system);

/* Persists JOB's record alone.  With the lock held. */
int job_save(struct jobs *j, struct job *job);

/*
 * Appends a reported metrics line to JOB's (loaded) table and observes the
 * monitored value: updates the policy and rec (last epoch, best, rows).
 * Returns 1 when the policy says stop, 0, or -ENOMEM.
 */
int job_add_row(struct job *job, const struct metrics_line *ml);

/* The canonical text of row ROW, as stored ("epoch=3 loss=0.5"); caller frees. */
char *job_row_line(const struct job *job, size_t row);

/* Wakes the supervisor (any thread, lock held or not). */
void supervisor_wake(struct jobs *j);

/* Asks the shim to stop or cancel, if one is attached; with the lock held. */
void supervisor_signal(struct jobs *j, struct job *job, const char *verb);

/* Kills the packer of a cancelled job and drops its temporary file. */
void supervisor_abort_packing(struct jobs *j, struct job *job);

/* The supervisor thread's body. */
void *supervisor_main(void *arg);

#endif

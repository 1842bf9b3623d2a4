/*
 * sweep_i: what jobs/core/sweep.c (the sweeps in memory, their store rows and
 * what users do) and jobs/core/sweep_run.c (the sweeps' thread) share, and
 * nothing outside those two files may use.
 *
 * Who writes what: struct sweeps' list and every struct sweep in it are
 * written under s->lock only, by user operations (sweep.c) and by the
 * thread's decisions (sweep_run.c); a trial's job id, state and curve are
 * written by the thread alone (and by the load, before the thread
 * starts), under s->lock, from what it read of the job with s->lock let
 * go; so is whether it tried to start the trial's job.  wake_lock is a
 * leaf: nothing is taken after it.
 */
#ifndef TRAINFS_SWEEP_I_H
#define TRAINFS_SWEEP_I_H

#include <pthread.h>

#include "jobs/model/prune.h"
#include "jobs/core/sweep.h"
#include "jobs/model/sweep_spec.h"
#include "store/sweeps.h"
#include "util/lock.h"
#include "util/compiler.h"

/* What the thread last read of a trial's job. */
struct trial {
	long t;	     /* its number */
	int64_t job; /* 0: not made (or could not be) */
	long judged; /* the last epoch the pruner judged */
	int gone;    /* its job was removed, or never made */
	int tried;   /* its start tried by this mount's thread (not stored) */
	char name[JOB_NAME_MAX + 1];
	int state;	/* enum job_state */
	int pruned;	/* ready (or on its way) by pruning */
	long pruned_at; /* the epoch judged then, or 0 */
	char reason[32];
	long last_epoch; /* -1: none */
	double best;
	long best_epoch;    /* -1: none */
	unsigned long seen; /* the job's changes when CURVE was read */
	struct prune_point *curve;
	size_t ncurve;
};

struct rung_value {
	long rung, t;
	double value;
};

struct sweep {
	struct sweep_record rec;
	struct sweep_spec spec; /* valid when spec_ok */
	int spec_ok;
	struct trial *trials; /* trials[t - 1]; rec.trials_created of them */
	struct rung_value *rungs;
	size_t nrungs, caprungs;
	int removed;
	int passed_on; /* stop or cancel passed to the trials */
};

struct sweeps {
	/* The thread's wake-up: a leaf lock, taken with nothing else after
	 * it, so sweeps_poke() may be called with the store and registry
	 * locks held (a trial's ingest) while the thread holds s->lock and
	 * waits for the store (a deadlock when both shared s->lock). */
	struct lock wake_lock;
	pthread_cond_t wake; /* under wake_lock */
	int woken, quit;     /* under wake_lock */
	struct lock lock;    /* everything below but the thread's own */
	pthread_t thread;
	int running;
	struct jobs *jobs;
	struct store *store;
	struct sweep **list; /* by id */
	size_t n, cap;
	sweeps_changed_fn changed;
	void *changed_arg;
};

static inline int64_t now_ns(void)
{
	return job_now_ns();
}

/* The sweep of ID not removed, or NULL.  With s->lock held. */
struct sweep *sweep_find(struct sweeps *s, int64_t id);
/* Stores W's record with a new mtime.  With s->lock held. */
MUST_CHECK int sweep_save(struct sweeps *s, struct sweep *w);
/* Room for trial numbers up to N; new ones zeroed (not made yet). */
MUST_CHECK int sweep_trials_room(struct sweep *w, long n);
/* RUNG's VALUE for trial T, in memory (stored by the caller first). */
MUST_CHECK int sweep_rungs_add(struct sweep *w, long rung, long t,
			       double value);
/* Whether trial T has a value at RUNG. */
int sweep_rung_has(const struct sweep *w, long rung, long t);
/* Tells the interface sweep ID changed (made NEW_JOB); no lock held. */
void sweep_notify(struct sweeps *s, int64_t id, const char *new_job);
/*
 * Loads the sweeps' rows of J's store into *OUT, each trial with its job's
 * id alone: sweeps_open's first step (it then reads each trial's job).
 */
MUST_CHECK int sweeps_load(struct jobs *j, struct sweeps **out);

#endif

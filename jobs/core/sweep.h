/*
 * sweep: many trials of one trainer, the ones clearly behind stopped early.
 *
 * A sweep is a spec (a job spec plus the search: sweep_spec.h), a state
 * (created, running, stopping, done, cancelled) and its trials, which are
 * ordinary jobs named NAME-001, NAME-002, ... made by the sweep's own
 * thread as places free up (`parallel` at a time, a place held from a
 * trial's creation until it is final).  That thread also follows each
 * trial's monitored values and prunes (prune.h): a pruned trial is stopped
 * as `stop` stops a job, with reason `pruned`, tags stopped-early and
 * pruned, and the pruning sentence as its message.
 *
 * Everything the sweep decides is in the store before it acts: a trial
 * number is stored before its job is made (none is used twice), a rung's
 * value before the trial it prunes is stopped, the last epoch judged with
 * it, so a remount or a kill -9 takes up exactly where it stopped, and
 * decisions missed while unmounted are taken at the next mount: a trial
 * whose job was made but not started (its spec missing or partial) is
 * given its spec and started then, once.
 *
 * The model and what users do are sweep.c, the thread sweep_run.c; the
 * text of a sweep's files is made by the interface from a copy
 * (sweeps_view, sweeps_curves).
 *
 * Locks: the sweeps lock covers every sweep in memory.  It is never held
 * while a job's lock is taken (the thread copies what it needs, lets go,
 * visits the trials' jobs one at a time, then takes it again to decide);
 * the store lock, and the registry lock (a reader's check), may be taken
 * inside it.  Functions return 0 or a negative errno.
 */
#ifndef TRAINFS_SWEEP_H
#define TRAINFS_SWEEP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jobs/core/job.h"
#include "jobs/model/prune.h"
#include "jobs/model/sweep_spec.h"
#include "util/compiler.h"

enum sweep_state {
	SW_CREATED,
	SW_RUNNING,
	SW_STOPPING,
	SW_DONE,
	SW_CANCELLED,
	SW_COUNT
};

/* A sweep's files (sweeps/NAME/...), rendered in fs/. */
enum sweep_file {
	SF_SPEC,
	SF_CONTROL,
	SF_STATUS,
	SF_TRIALS_CSV,
	SF_GRAPH,
	SF_COUNT
};

/* Longest sweep name: room for "-" and a 6-digit trial in a job name. */
#define SWEEP_NAME_MAX (JOB_NAME_MAX - 7)

struct sweeps;

/*
 * Loads every sweep of J's store (its jobs loaded), each trial linked to
 * its job and read from it, so a sweep is shown whole from the first
 * reader on; *OUT is the caller's (sweeps_close).
 */
MUST_CHECK int sweeps_open(struct jobs *j, struct sweeps **out);
/* Starts the sweeps' thread (after any daemonizing fork). */
MUST_CHECK int sweeps_start(struct sweeps *s);
/* Stops the thread if it runs (trials keep running); NULL is fine. */
void sweeps_stop(struct sweeps *s);
/* Frees everything, the thread stopped first (sweeps_stop()). */
void sweeps_close(struct sweeps *s);

/*
 * Called from the sweeps' thread (no lock held) when sweep ID made the
 * trial job NEW_JOB (so an interface can drop what it cached of that name
 * in the job list), or changed otherwise (NEW_JOB NULL).
 */
typedef void (*sweeps_changed_fn)(void *arg, int64_t id, const char *new_job);
void sweeps_on_change(struct sweeps *s, sweeps_changed_fn fn, void *arg);

/*
 * Asks for a round now: a trial reported an epoch (any thread, any lock
 * held: the sweeps' lock is the last of all, taken here for a moment).
 */
void sweeps_poke(struct sweeps *s);

/* Whether NAME (LEN bytes) may name a sweep: a job name of at most SWEEP_NAME_MAX. */
int sweep_name_valid(const char *name, size_t len);

/* mkdir: a new sweep NAME of UID/GID; *ID set.  -EINVAL, -EEXIST. */
MUST_CHECK int sweeps_create(struct sweeps *s, const char *name, uid_t uid,
			     gid_t gid, mode_t mode, int64_t *id);
/* rmdir: created, done or cancelled (-EBUSY otherwise); trials stay. */
MUST_CHECK int sweeps_remove(struct sweeps *s, int64_t id, uid_t uid);
/* The sweep named NAME: 0 and *ID, or -ENOENT. */
MUST_CHECK int sweeps_find(struct sweeps *s, const char *name, int64_t *id);

/* What a sweep folder shows in stat. */
struct sweep_attr {
	uid_t uid;
	gid_t gid;
	unsigned mode;
	int64_t mtime_ns, created_ns;
	long ntrials; /* trials made so far */
	int has_best;
};
MUST_CHECK int sweeps_attr(struct sweeps *s, int64_t id, struct sweep_attr *a);

/*
 * The names of every sweep, oldest first, into *NAMES (N of them, each
 * malloc'd, and the array; free with sweeps_names_free) with their ids.
 */
MUST_CHECK int sweeps_names(struct sweeps *s, char ***names, int64_t **ids,
			    size_t *n);
void sweeps_names_free(char **names, int64_t *ids, size_t n);

/*
 * chmod of sweep ID's folder by UID (its owner or root, else -EPERM): the
 * owner keeps rwx, group and others get at most r and x.  Its trials made
 * after take the new mode.
 */
MUST_CHECK int sweeps_chmod(struct sweeps *s, int64_t id, uid_t uid,
			    mode_t mode);

/* spec: stored as written (even bad: -EINVAL); -EBUSY once started, -EACCES. */
MUST_CHECK int sweeps_write_spec(struct sweeps *s, int64_t id, uid_t uid,
				 const char *text, size_t len);
/* control: start, stop, cancel (-EINVAL unknown, -EBUSY now, -EACCES). */
MUST_CHECK int sweeps_control(struct sweeps *s, int64_t id, uid_t uid,
			      const char *text, size_t len);

/* The state's name as status shows it ("running"). */
const char *sweep_state_name(int state);

/*
 * The control verbs that move a sweep on from STATE, as control lists
 * them ("stop cancel", or "none"), into BUF.
 */
void sweep_allowed(int state, char *buf, size_t len);

/* Trial T's params of SPEC with SEED, "lr=0.00312 depth=4", into BUF. */
void sweep_params_text(const struct sweep_spec *spec, uint64_t seed, long t,
		       char *buf, size_t len);

/* A trial as a sweep's readers see it (sweeps_view). */
struct sweep_trial_view {
	long t;
	int64_t job; /* 0: not made */
	int gone;    /* its job was removed, or never made */
	char name[JOB_NAME_MAX + 1];
	int state; /* enum job_state */
	int pruned;
	char reason[32]; /* a ready trial's reason */
	long last_epoch; /* -1: none */
	double best;
	long best_epoch; /* -1: none */
};

/*
 * A copy of a sweep for rendering its files with no lock held: its
 * state, error, last refused control write, spec (as written, and parsed
 * when SPEC_OK), seed, trials and its best trial's number (0: none).
 */
struct sweep_view {
	int state; /* enum sweep_state */
	char *error;
	char *last_refused;
	char *spec_text; /* NULL: never written */
	size_t spec_len;
	int spec_ok;
	struct sweep_spec spec;
	uint64_t seed;
	int has_seed;
	struct sweep_trial_view *trials; /* trials[t - 1] */
	long ntrials;
	long best;
};
/* Copies sweep ID into *V (freed with sweeps_view_free): 0, -ENOENT, -ENOMEM. */
MUST_CHECK int sweeps_view(struct sweeps *s, int64_t id, struct sweep_view *v);
void sweeps_view_free(struct sweep_view *v);

/* Every trial's monitored values, for graph.svg: a copy. */
struct sweep_curve {
	long t;
	struct prune_point *points; /* in the order reported */
	size_t n;
	long pruned_at; /* the epoch judged when pruned, or 0 */
};
struct sweep_curves {
	struct sweep_curve *trials;
	size_t n;
	long best; /* the best trial, or 0 */
	int maximize;
	char monitor[72];
};
MUST_CHECK int sweeps_curves(struct sweeps *s, int64_t id,
			     struct sweep_curves *c);
void sweeps_curves_free(struct sweep_curves *c);

/*
 * Trial T's (1-based) job as it is called now into BUF ("lr-sweep-007"):
 * 0, -ENOENT for a trial not made (or whose job was removed).  With T 0:
 * the best trial's.
 */
MUST_CHECK int sweeps_trial_job(struct sweeps *s, int64_t id, long t, char *buf,
				size_t len);

/* The trial link's name of T: "007" (at least three digits). */
void sweep_trial_name(long t, char *buf, size_t len);

/* The trial number a link name stands for ("007" -> 7), or 0. */
long sweep_trial_number(const char *name);

#endif

/*
 * store/sweeps: the sweeps' tables.  A sweep row is what jobs/core/sweep.c
 * keeps of a sweep (its spec as written, its state, the seed, how many
 * trials it created); sweep_trials maps each trial number to its job (a
 * number is written before its job is made, so none is used twice) and
 * the last epoch the pruner judged; sweep_rungs holds the values ASHA
 * recorded at each rung, in the order they were recorded.  Removing a
 * sweep removes its rows, never its trials' jobs.
 *
 * Each function takes the store lock for its statement (inside a caller's
 * store_begin() too) and returns 0 or -EIO.
 */
#ifndef TRAINFS_STORE_SWEEPS_H
#define TRAINFS_STORE_SWEEPS_H

#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"
#include "util/compiler.h"

extern const char store_schema_v9_sweeps[];

/* One row of the sweeps table.  Strings are owned by the record. */
struct sweep_record {
	int64_t id;
	char *name;
	uid_t uid;
	gid_t gid;
	unsigned mode; /* the folder's permission bits */
	char *spec;    /* as written; NULL: never */
	size_t spec_len;
	int state; /* jobs/core/sweep.h's enum sweep_state */
	uint64_t seed;
	int has_seed; /* seed set (given, or chosen at start) */
	int64_t created_ns, started_ns, finished_ns, mtime_ns;
	long trials_created; /* trial numbers used: 1..trials_created */
	char *error;	     /* a bad spec's message */
	char *last_refused;  /* control's last refused write */
};

void store_sweep_record_free(struct sweep_record *r);

/* Inserts R (its name unique among sweeps) and sets R->id. */
MUST_CHECK int store_create_sweep(struct store *s, struct sweep_record *r);
MUST_CHECK int store_put_sweep(struct store *s, const struct sweep_record *r);
MUST_CHECK int store_delete_sweep(struct store *s, int64_t id);
/* Trial TRIAL of SWEEP is job JOB (0: not made yet); JUDGED its last epoch judged. */
MUST_CHECK int store_put_trial(struct store *s, int64_t sweep, long trial,
			       int64_t job, long judged);
/* VALUE was recorded at RUNG for TRIAL (the SEQ-th record there). */
MUST_CHECK int store_put_rung(struct store *s, int64_t sweep, long rung,
			      long trial, double value);

typedef int (*store_sweep_fn)(void *arg,
			      struct sweep_record *r); /* takes r's strings */
typedef int (*store_trial_fn)(void *arg, int64_t sweep, long trial, int64_t job,
			      long judged);
typedef int (*store_rung_fn)(void *arg, int64_t sweep, long rung, long trial,
			     double value);
/* Every sweep, then every trial, then every rung record, in order. */
MUST_CHECK int store_load_sweeps(struct store *s, store_sweep_fn sweep,
				 store_trial_fn trial, store_rung_fn rung,
				 void *arg);

/* For store/'s own files: the lock and the connection. */
void store_hold(struct store *s);
void store_release(struct store *s);
sqlite3 *store_db(struct store *s); /* with the lock held */
MUST_CHECK int store_db_error(struct store *s, const char *what);

#endif

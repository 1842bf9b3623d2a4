/*
 * prune: the two rules by which a sweep stops trials that are clearly
 * behind, as pure arithmetic over the trials' monitored values (no locks,
 * threads, processes or store: the caller gathers the values and acts on
 * the verdict).
 *
 * median (Google Vizier's median stopping rule, Optuna's MedianPruner):
 * at epoch E, once at least `startup` other trials have a value at E, a
 * trial whose best value up to E is worse than the median of the others'
 * values at E is pruned.  A NaN value of another trial is no value (it
 * neither counts nor moves the median); a trial whose own values are all
 * NaN has no best and is worse than any median.
 *
 * asha (asynchronous successive halving, Li et al., MLSys 2020, in the
 * stopping form of Ray Tune's ASHAScheduler): the rungs are the epochs
 * min_epochs * factor^k (k = 0, 1, ...) strictly below the target epochs.
 * The first time a trial reaches a rung, its value there is recorded with
 * the values recorded at that rung before it; it goes on if it is among
 * the best floor(n / factor) (at least one) of those n values, a value
 * equal to the last one kept included, and is pruned otherwise.  A NaN
 * ranks below every number.  Which value a trial has "at" a rung, when it
 * skipped that epoch or reported epochs out of order, is the caller's
 * (prune_value_at_rung gives the rule trainfs uses).
 */
#ifndef TRAINFS_PRUNE_H
#define TRAINFS_PRUNE_H

#include <stddef.h>

#define PRUNE_RUNGS_MAX 64

/* One reported epoch of a trial that carries the monitored metric. */
struct prune_point {
	long epoch;
	double value;
};

/* A trial's points, in any order; an epoch reported twice: the later one. */
struct prune_curve {
	const struct prune_point *points;
	size_t n;
};

struct prune_verdict {
	int prune;    /* 1: stop the trial; 0: it goes on */
	long epoch;   /* the epoch judged */
	double value; /* the trial's value judged (its best so far: median) */
	double ref;   /* median: the median; asha: the last value kept */
	int kept, of; /* asha: the best KEPT of OF values go on */
};

/*
 * The median rule for CURVE at EPOCH against OTHERS (NOTHERS curves).
 * Returns 1 with *V filled in when a verdict was reached (V->prune says
 * which), 0 when fewer than STARTUP others have a value at EPOCH or
 * CURVE has no point at or before EPOCH.
 */
int prune_median(const struct prune_curve *curve, long epoch,
		 const struct prune_curve *others, size_t nothers, int maximize,
		 int startup, struct prune_verdict *v);

/*
 * The rungs for MIN_EPOCHS, FACTOR and EPOCHS: fills RUNGS (ascending) and
 * returns their count, at most PRUNE_RUNGS_MAX; 0 with a bad argument
 * (min_epochs < 1, factor < 2, epochs < 1).
 */
size_t prune_asha_rungs(long min_epochs, long factor, long epochs, long *rungs);

/*
 * The value CURVE has at rung RUNG: the value of the earliest reported
 * epoch at or after RUNG.  Returns 1 and sets *VALUE and *AT (that epoch),
 * or 0 when the trial has not reached the rung.
 */
int prune_value_at_rung(const struct prune_curve *curve, long rung,
			double *value, long *at);

/*
 * The ASHA decision for VALUE, just recorded at a rung whose recorded
 * values (VALUE's own included) are RECORDED[0..N).  Fills *V (epoch left
 * to the caller) and returns V->prune.
 */
int prune_asha(double value, const double *recorded, size_t n, long factor,
	       int maximize, struct prune_verdict *v);

/*
 * The message of a pruned trial, as status shows it:
 * "pruned at epoch 9: val_loss 0.41 was not in the best 1/3 at epoch 9"
 * (asha, FACTOR) or "... was worse than the median 0.32 at epoch 9".
 * Returns what snprintf returns.
 */
int prune_message(char *buf, size_t len, const char *monitor, int asha,
		  long factor, const struct prune_verdict *v);

#endif

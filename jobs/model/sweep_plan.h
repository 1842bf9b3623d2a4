/*
 * sweep_plan: which values each trial of a sweep gets.  Pure: a `param.`
 * line becomes a sweep_param, and trial T's values are a function of the
 * params, the search and the seed alone, so the same seed draws the same
 * trials on any machine and after any remount.
 *
 * A param is a list (`2, 4, 8`: numbers or words of A-Z a-z 0-9 . _ -),
 * `uniform(A, B)`, `loguniform(A, B)` (0 < A < B) or `int(A, B)` (whole
 * numbers, both ends included).  Random search draws each trial's values
 * from its own stream (splitmix64 seeded by the seed and the trial
 * number), in the spec's order of params: a drawn number is written with
 * 6 significant digits, an int as a whole number, a list value as its text
 * in the spec.  A grid is every combination of the lists, numbered as
 * nested loops in the spec's order with the last param varying fastest.
 */
#ifndef TRAINFS_SWEEP_PLAN_H
#define TRAINFS_SWEEP_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include "util/compiler.h"

#define SWEEP_PARAM_NAME_MAX 64 /* bytes of A-Z a-z 0-9 _ */
#define SWEEP_VALUE_MAX 64	/* bytes of one value's text, NUL included */
#define SWEEP_LIST_MAX 1000	/* values of one list */
#define SWEEP_GRID_MAX 10000	/* trials of a grid */

enum sweep_dist { SWEEP_LIST, SWEEP_UNIFORM, SWEEP_LOGUNIFORM, SWEEP_INT };

struct sweep_param {
	char name[SWEEP_PARAM_NAME_MAX + 1];
	enum sweep_dist dist;
	double lo, hi;			/* uniform, loguniform, int */
	char (*items)[SWEEP_VALUE_MAX]; /* list: NITEMS values, owned */
	size_t nitems;
};

/*
 * Parses NAME (what follows `param.`) and VALUE into *P.  Returns 0, or
 * -EINVAL with why in WHY ("param.lr: loguniform needs 0 < A < B"),
 * -ENOMEM.  Free *P with sweep_param_free() after a 0.
 */
MUST_CHECK int sweep_param_parse(const char *name, const char *value,
				 struct sweep_param *p, char *why,
				 size_t whylen);
void sweep_param_free(struct sweep_param *p);

/* Is NAME a param name (1 to 64 of A-Z a-z 0-9 _, not starting with a digit)? */
int sweep_param_name_ok(const char *name);

/*
 * The number of trials of a grid over PS: the product of the lists'
 * lengths, or 0 when a param is not a list or the product passes
 * SWEEP_GRID_MAX.
 */
size_t sweep_grid_size(const struct sweep_param *ps, size_t n);

/*
 * Trial TRIAL's (1-based) values, one per param, into VALUES[n]: the
 * grid's TRIAL-th combination with GRID (TRIAL at most the grid's size),
 * else random draws from SEED.  Returns 0, or -EINVAL for a trial past
 * the grid.
 */
MUST_CHECK int sweep_trial_values(const struct sweep_param *ps, size_t n,
				  int grid, uint64_t seed, unsigned long trial,
				  char (*values)[SWEEP_VALUE_MAX]);

/*
 * COMMAND with every {NAME} replaced by the value of param NAME, into a
 * new string (*OUT, the caller's to free).  `${...}` is the shell's and is
 * left alone.  Returns 0, -EINVAL when a {NAME} has no param (its name in
 * MISSING), -ENOMEM.
 */
MUST_CHECK int sweep_substitute(const char *command,
				const struct sweep_param *ps, size_t n,
				char (*values)[SWEEP_VALUE_MAX], char **out,
				char *missing, size_t missinglen);

/* The next number of the splitmix64 stream at *STATE. */
uint64_t sweep_rand_next(uint64_t *state);

#endif

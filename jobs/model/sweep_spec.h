/*
 * sweep_spec: a sweep's spec, which is a job spec plus the search.
 *
 * The search keys (param.NAME, trials, search, seed, parallel, prune and
 * prune.*) are taken out of the text, each line left blank in their place,
 * and what remains is parsed as a job spec by the one job spec parser, so
 * its messages keep the line numbers the user sees.  Each trial's spec is
 * that remaining text with {NAME} in command replaced by the trial's value
 * of param.NAME and an env.TRAINFS_PARAM_NAME line per param appended: a
 * trial is an ordinary job whose spec shows what it was given.  Pure: no
 * locks, threads, processes or store.
 */
#ifndef TRAINFS_SWEEP_SPEC_H
#define TRAINFS_SWEEP_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "jobs/model/sweep_plan.h"
#include "util/compiler.h"

#define SWEEP_PARAMS_MAX 64
#define SWEEP_TRIALS_MAX 100000

enum sweep_prune { SWEEP_PRUNE_NONE, SWEEP_PRUNE_MEDIAN, SWEEP_PRUNE_ASHA };

struct sweep_spec {
	struct sweep_param *params; /* in the spec's order */
	size_t nparams;
	long trials;  /* how many trials in all (a grid's size) */
	int grid;     /* search = grid */
	int has_seed; /* seed given; else chosen at start */
	uint64_t seed;
	long parallel; /* default 1 */
	enum sweep_prune prune;
	long min_epochs; /* default 1 */
	long factor;	 /* default 3 */
	long startup;	 /* default 5 */
	/* From the job spec, for judging trials. */
	char *monitor;
	int maximize;
	long epochs; /* 0: not set */
	/* The job spec's text, search lines blanked: each trial's base. */
	char *job_text;
	size_t job_len;
};

/*
 * Parses LEN bytes of TEXT.  Returns 0 and fills *OUT (free it with
 * sweep_spec_free), or -1 with *OUT zeroed and the first problem in ERR,
 * in the job spec's words: "spec line 4: unknown key 'prune.foo'",
 * "spec: 'monitor' is required for a sweep", "spec line 2: '{width}' has
 * no param.width".
 */
MUST_CHECK int sweep_spec_parse(const char *text, size_t len,
				struct sweep_spec *out, char *err,
				size_t errlen);
void sweep_spec_free(struct sweep_spec *s);

/*
 * Trial TRIAL's values (1-based) with SEED (the spec's, or the one chosen
 * at start) into VALUES[s->nparams], and its job spec into a malloc'd
 * *TEXT of *LEN bytes (the caller frees).  Returns 0, -EINVAL for a
 * trial past the grid, -ENOMEM.
 */
MUST_CHECK int sweep_trial_spec(const struct sweep_spec *s, uint64_t seed,
				unsigned long trial,
				char (*values)[SWEEP_VALUE_MAX], char **text,
				size_t *len);

#endif

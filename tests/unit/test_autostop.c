/*
 * Unit tests of the auto-stop policy of jobs/model/metrics.c on recorded
 * sequences, in the manner of Keras' and Lightning's EarlyStopping tests:
 * patience, min_delta, mode max and ties, NaN and infinities.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/metrics.h"
#include "tests/unit/test.h"

/* Observes VALUES from epoch 0; returns the epoch it stopped at, or -1. */
static long run_policy(struct autostop *a, const double *values, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (autostop_observe(a, (long)i, values[i]))
			return (long)i;
	return -1;
}

static void test_autostop_lightning(void)
{
	/* Lightning's test_early_stopping_patience cases, mode min */
	static const double a[] = { 6, 5, 5, 5, 5, 5 };
	static const double b[] = { 6, 5, 4, 4, 3, 3 };
	static const double c[] = { 6, 5, 6, 5, 5, 5 };
	/* Keras' test_EarlyStopping_patience: losses, patience 2 */
	static const double k[] = { 0.0860, 0.1096, 0.1040, 0.1019 };
	struct autostop s;

	autostop_init(&s, 1, 0, 3);
	CHECK(run_policy(&s, a, 6) == 4);
	CHECK(s.best == 5 && s.best_epoch == 1 && s.waited == 3);
	autostop_init(&s, 1, 0, 1);
	CHECK(run_policy(&s, b, 6) == 3);
	CHECK(s.best == 4 && s.best_epoch == 2);
	autostop_init(&s, 1, 0, 3);
	CHECK(run_policy(&s, c, 6) == 4);
	autostop_init(&s, 1, 0, 2);
	CHECK(run_policy(&s, k, 4) == 2);
	CHECK(s.best == 0.0860 && s.best_epoch == 0);
	/* the same patience never stops a run that keeps improving */
	autostop_init(&s, 1, 0, 2);
	CHECK(run_policy(&s, (const double[]){ 5, 4, 3, 2, 1, 0 }, 6) == -1);
	CHECK(s.waited == 0 && s.best == 0 && s.best_epoch == 5);
}

static void test_autostop_max_and_ties(void)
{
	struct autostop s;

	autostop_init(&s, 0, 0, 3);
	CHECK(s.have_best == 0 && s.waited == 0);
	CHECK(autostop_observe(&s, 1, 0.1) == 0);
	CHECK(s.have_best && s.best == 0.1 && s.best_epoch == 1);
	CHECK(autostop_observe(&s, 2, 0.2) == 0);
	CHECK(s.best == 0.2 && s.waited == 0);
	CHECK(autostop_observe(&s, 3, 0.2) == 0); /* a tie never improves */
	CHECK(s.waited == 1 && s.best_epoch == 2);
	CHECK(autostop_observe(&s, 4, 0.15) == 0); /* worse, in max mode */
	CHECK(s.waited == 2);
	CHECK(autostop_observe(&s, 5, 0.2) == 1);
	CHECK(s.waited == 3 && s.best == 0.2 && s.best_epoch == 2);
	/* it keeps saying stop */
	CHECK(autostop_observe(&s, 6, 0.1) == 1);

	/* an improvement resets the count */
	autostop_init(&s, 0, 0, 2);
	CHECK(autostop_observe(&s, 0, 1) == 0);
	CHECK(autostop_observe(&s, 1, 1) == 0);
	CHECK(autostop_observe(&s, 2, 2) == 0);
	CHECK(s.waited == 0);
	CHECK(autostop_observe(&s, 3, 2) == 0);
	CHECK(autostop_observe(&s, 4, 1.5) == 1);

	/* the first value always improves, however low */
	autostop_init(&s, 0, 0, 1);
	CHECK(autostop_observe(&s, 0, -1e308) == 0);
	CHECK(s.have_best && s.best == -1e308);
	autostop_init(&s, 1, 0, 1);
	CHECK(autostop_observe(&s, 0, 1e308) == 0);
	CHECK(s.have_best && s.best == 1e308);
}

static void test_autostop_min_delta(void)
{
	struct autostop s;

	/* max: best 0.5, min_delta 0.1: 0.6 is a tie, 0.6000001 is better */
	autostop_init(&s, 0, 0.1, 10);
	CHECK(autostop_observe(&s, 0, 0.5) == 0);
	CHECK(autostop_observe(&s, 1, 0.6) == 0);
	CHECK(s.best == 0.5 && s.waited == 1);
	CHECK(autostop_observe(&s, 2, 0.55) == 0);
	CHECK(s.best == 0.5 && s.waited == 2);
	CHECK(autostop_observe(&s, 3, 0.6000001) == 0);
	CHECK(s.best == 0.6000001 && s.best_epoch == 3 && s.waited == 0);

	/* min: best 0.5, min_delta 0.1: 0.4 is a tie, 0.3999999 is better */
	autostop_init(&s, 1, 0.1, 10);
	CHECK(autostop_observe(&s, 0, 0.5) == 0);
	CHECK(autostop_observe(&s, 1, 0.4) == 0);
	CHECK(s.best == 0.5 && s.waited == 1);
	CHECK(autostop_observe(&s, 2, 0.45) == 0);
	CHECK(s.waited == 2);
	CHECK(autostop_observe(&s, 3, 0.6) == 0); /* worse, in min mode */
	CHECK(s.waited == 3 && s.best == 0.5);
	CHECK(autostop_observe(&s, 4, 0.3999999) == 0);
	CHECK(s.best == 0.3999999 && s.waited == 0);

	/* small gains that never add up to min_delta run out the patience */
	autostop_init(&s, 0, 0.01, 3);
	CHECK(run_policy(&s,
			 (const double[]){ 0.70, 0.705, 0.709, 0.7099, 0.71 },
			 5) == 3);
	CHECK(s.best == 0.70);
}

static void test_autostop_nan_inf(void)
{
	struct autostop s;

	/* NaN first: no best yet, but a waited epoch; then a value improves */
	autostop_init(&s, 0, 0, 3);
	CHECK(autostop_observe(&s, 0, NAN) == 0);
	CHECK(s.have_best == 0 && s.waited == 1);
	CHECK(autostop_observe(&s, 1, 0.3) == 0);
	CHECK(s.have_best && s.best == 0.3 && s.waited == 0);
	/* NaN and inf in the middle count toward patience */
	CHECK(autostop_observe(&s, 2, NAN) == 0);
	CHECK(autostop_observe(&s, 3, INFINITY) == 0);
	CHECK(s.best == 0.3 && s.best_epoch == 1);
	CHECK(autostop_observe(&s, 4, NAN) == 1);

	/* -inf in min mode is not an improvement either */
	autostop_init(&s, 1, 0, 2);
	CHECK(autostop_observe(&s, 0, 1) == 0);
	CHECK(autostop_observe(&s, 1, -INFINITY) == 0);
	CHECK(autostop_observe(&s, 2, -INFINITY) == 1);
	CHECK(s.best == 1);

	/* a run of NaN alone stops after patience epochs */
	autostop_init(&s, 1, 0, 2);
	CHECK(autostop_observe(&s, 0, NAN) == 0);
	CHECK(autostop_observe(&s, 1, NAN) == 1);
	CHECK(s.have_best == 0);
}

static void test_autostop_patience_zero(void)
{
	struct autostop s;
	long i;

	autostop_init(&s, 0, 0, 0);
	CHECK(autostop_observe(&s, 0, 1) == 0);
	for (i = 1; i < 1000; i++)
		CHECK(autostop_observe(&s, i, i % 2 ? NAN : 0.5) == 0);
	CHECK(s.waited == 999 && s.best == 1 && s.best_epoch == 0);
}

TEST_MAIN("autostop", TEST(test_autostop_lightning),
	  TEST(test_autostop_max_and_ties), TEST(test_autostop_min_delta),
	  TEST(test_autostop_nan_inf), TEST(test_autostop_patience_zero))

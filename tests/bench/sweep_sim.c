/*
 * sweep_sim: the sweeps' synthetic benchmark, run on trainfs's own code
 * (jobs/model/prune.c for the decisions, jobs/model/sweep_plan.c for the draws), the
 * way the pruning papers measure: random search of the same trials with
 * prune = none, median and asha, over many seeds, counting the epochs run,
 * the time with `parallel` trials at once (one epoch = one time unit), and
 * whether the configuration that is best without pruning was found.
 *
 * The curves are known (the same as tests/trainers/curve_trainer.py):
 * lr = loguniform(1e-4, 1e-1), width = int(8, 64), x = log10(lr),
 *   val_loss(e) = 0.1 + 0.15 (x + 2.5)^2 + 0.1 ((width - 40) / 24)^2
 *                 + exp(-e / (1 + S (-x - 1) / 3))      (S = 2, --slowness)
 * so a high learning rate learns fast and ends worse, and the best
 * configuration (lr near 10^-2.5, width near 40) does not lead at first.
 *
 * It also times one pruning decision with 1,000 trials (the median over
 * 1,000 curves of 27 epochs; ASHA's rank among 1,000 values) against a
 * plain qsort of 1,000 doubles measured in the same run.
 *
 *   sweep_sim [--seeds N] [--trials N] [--epochs N] [--parallel N]
 *             [--min-epochs N] [--factor N] [--startup N] [--slowness S]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/model/prune.h"
#include "jobs/model/sweep_plan.h"

struct cfg {
	int seeds, trials, epochs, parallel, min_epochs, factor, startup;
};

/* How much slower a low learning rate learns (the curve's tau per decade). */
static double slowness = 2;

static double curve(double lr, double width, long e)
{
	double x = log10(lr);
	double tau = 1 + slowness * (-x - 1) / 3;
	double final = 0.1 + 0.15 * (x + 2.5) * (x + 2.5) +
		       0.1 * ((width - 40) / 24) * ((width - 40) / 24);
	return final + exp(-(double)e / tau);
}

struct result {
	long epochs, time;
	int found;
	double gap; /* the best value found minus the unpruned best's */
	int led;    /* the unpruned best led at epoch 1 */
};

enum mode { NONE, MEDIAN, ASHA };

static struct result simulate(const struct cfg *c, uint64_t seed,
			      enum mode mode)
{
	struct sweep_param ps[2];
	char why[100];
	if (sweep_param_parse("lr", "loguniform(1e-4, 1e-1)", &ps[0], why,
			      sizeof why) ||
	    sweep_param_parse("width", "int(8, 64)", &ps[1], why, sizeof why)) {
		fprintf(stderr, "error: sweep_sim: %s\n", why);
		exit(1);
	}
	int n = c->trials, E = c->epochs;
	double *lr = calloc(n, sizeof *lr), *w = calloc(n, sizeof *w);
	struct prune_point *pts = calloc((size_t)n * E, sizeof *pts);
	size_t *np = calloc(n, sizeof *np);
	int *state =
		calloc(n, sizeof *state); /* 0 to come, 1 running, 2 over */
	struct prune_curve *curves = calloc(n, sizeof *curves);
	double *rec = calloc((size_t)n * PRUNE_RUNGS_MAX, sizeof *rec);
	size_t nrec[PRUNE_RUNGS_MAX] = { 0 };
	long rungs[PRUNE_RUNGS_MAX];
	size_t nr = prune_asha_rungs(c->min_epochs, c->factor, E, rungs);
	for (int i = 0; i < n; i++) {
		char v[2][SWEEP_VALUE_MAX];
		/* Random draws (no grid) have no trial past the end. */
		(void)!sweep_trial_values(ps, 2, 0, seed, (unsigned long)i + 1,
					  v);
		lr[i] = atof(v[0]);
		w[i] = atof(v[1]);
	}
	struct result r = { 0 };
	int next = 0, running = 0;
	while (next < n || running) {
		while (running < c->parallel && next < n) {
			state[next++] = 1;
			running++;
		}
		r.time++;
		for (int i = 0; i < n; i++) {
			if (state[i] != 1)
				continue;
			long e = (long)np[i] + 1;
			pts[(size_t)i * E + np[i]] =
				(struct prune_point){ e,
						      curve(lr[i], w[i], e) };
			np[i]++;
			r.epochs++;
			int stop = 0;
			for (int k = 0; k < n; k++)
				curves[k] = (struct prune_curve){
					&pts[(size_t)k * E], np[k]
				};
			struct prune_verdict v;
			if (mode == ASHA) {
				for (size_t k = 0; k < nr; k++)
					if (rungs[k] == e) {
						double *row = &rec[k * n];
						row[nrec[k]++] =
							pts[(size_t)i * E + e -
							    1]
								.value;
						stop = prune_asha(
							row[nrec[k] - 1], row,
							nrec[k], c->factor, 0,
							&v);
					}
			} else if (mode == MEDIAN && e >= c->min_epochs) {
				struct prune_curve *others =
					calloc(n, sizeof *others);
				int k2 = 0;
				for (int k = 0; k < n; k++)
					if (k != i)
						others[k2++] = curves[k];
				stop = prune_median(&curves[i], e, others, k2,
						    0, c->startup, &v) &&
				       v.prune;
				free(others);
			}
			if (stop || e == E) {
				state[i] = 2;
				running--;
			}
		}
	}
	int best_all = 0, best_found = 0;
	double bf = INFINITY;
	for (int i = 0; i < n; i++) {
		if (curve(lr[i], w[i], E) < curve(lr[best_all], w[best_all], E))
			best_all = i;
		for (size_t k = 0; k < np[i]; k++)
			if (pts[(size_t)i * E + k].value < bf) {
				bf = pts[(size_t)i * E + k].value;
				best_found = i;
			}
	}
	r.found = best_found == best_all;
	int lead1 = 0;
	for (int i = 0; i < n; i++)
		if (curve(lr[i], w[i], 1) < curve(lr[lead1], w[lead1], 1))
			lead1 = i;
	r.led = lead1 == best_all;
	r.gap = bf - curve(lr[best_all], w[best_all], E);
	free(lr), free(w), free(pts), free(np), free(state), free(curves),
		free(rec);
	sweep_param_free(&ps[0]);
	sweep_param_free(&ps[1]);
	return r;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One pruning decision with 1,000 trials, against a qsort of 1,000 doubles. */
static void decision_cost(void)
{
	enum { N = 1000, E = 27, REPS = 200 };
	struct prune_point *pts = malloc(sizeof *pts * N * E);
	struct prune_curve *cv = malloc(sizeof *cv * N);
	double *vals = malloc(sizeof *vals * N),
	       *copy = malloc(sizeof *copy * N);
	uint64_t st = 1;
	for (int i = 0; i < N; i++) {
		for (int e = 0; e < E; e++)
			pts[i * E + e] = (struct prune_point){
				e + 1,
				(double)(sweep_rand_next(&st) >> 11) * 0x1p-53
			};
		cv[i] = (struct prune_curve){ &pts[i * E], E };
		vals[i] = pts[i * E].value;
	}
	struct prune_verdict v;
	double t0 = now();
	for (int r = 0; r < REPS; r++)
		prune_median(&cv[0], 13, cv + 1, N - 1, 0, 5, &v);
	double median = (now() - t0) / REPS;
	t0 = now();
	for (int r = 0; r < REPS; r++)
		prune_asha(vals[r % N], vals, N, 3, 0, &v);
	double asha = (now() - t0) / REPS;
	t0 = now();
	for (int r = 0; r < REPS; r++) {
		memcpy(copy, vals, sizeof *copy * N);
		qsort(copy, N, sizeof *copy, cmp);
	}
	double base = (now() - t0) / REPS;
	printf("\none pruning decision with %d trials (%d epochs each):\n", N,
	       E);
	printf("  median rule  %8.1f us  (%.1fx a qsort of %d doubles, %.1f us)\n",
	       median * 1e6, median / base, N, base * 1e6);
	printf("  asha         %8.1f us  (%.1fx)\n", asha * 1e6, asha / base);
	free(pts), free(cv), free(vals), free(copy);
}

int main(int argc, char **argv)
{
	struct cfg c = { 20, 27, 27, 2, 1, 3, 5 };
	int asha_min = 3;
	for (int i = 1; i + 1 < argc; i += 2) {
		int v = atoi(argv[i + 1]);
		if (!strcmp(argv[i], "--seeds"))
			c.seeds = v;
		else if (!strcmp(argv[i], "--trials"))
			c.trials = v;
		else if (!strcmp(argv[i], "--epochs"))
			c.epochs = v;
		else if (!strcmp(argv[i], "--parallel"))
			c.parallel = v;
		else if (!strcmp(argv[i], "--min-epochs"))
			asha_min = v;
		else if (!strcmp(argv[i], "--factor"))
			c.factor = v;
		else if (!strcmp(argv[i], "--startup"))
			c.startup = v;
		else if (!strcmp(argv[i], "--slowness"))
			slowness = atof(argv[i + 1]);
	}
	printf("synthetic sweep: %d trials of random search, %d epochs, "
	       "parallel %d, %d seeds\n",
	       c.trials, c.epochs, c.parallel, c.seeds);
	int led = 0;
	for (int s = 1; s <= c.seeds; s++)
		led += simulate(&c, (uint64_t)s, NONE).led;
	printf("(slowness %g: the unpruned best leads at epoch 1 in %d of %d "
	       "seeds)\n",
	       slowness, led, c.seeds);
	printf("%-26s %12s %10s %14s %12s\n", "prune", "epochs run", "of none",
	       "time (epochs)", "best found");
	static const struct {
		const char *name;
		enum mode mode;
		int min_epochs;
	} rows[] = {
		{ "none", NONE, 1 },
		{ "median", MEDIAN, 1 },
		{ "asha (min_epochs 1)", ASHA, 1 },
		{ "asha (min_epochs M)", ASHA, 0 },
	};
	double none_epochs = 0;
	for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
		struct cfg rc = c;
		rc.min_epochs = rows[k].min_epochs ? rows[k].min_epochs :
						     asha_min;
		double ep = 0, tm = 0, gap = 0;
		int found = 0;
		for (int s = 1; s <= c.seeds; s++) {
			struct result r =
				simulate(&rc, (uint64_t)s, rows[k].mode);
			ep += r.epochs;
			tm += r.time;
			found += r.found;
			gap += r.gap;
		}
		ep /= c.seeds;
		tm /= c.seeds;
		if (k == 0)
			none_epochs = ep;
		char name[40];
		snprintf(name, sizeof name, "%s", rows[k].name);
		char *m = strstr(name, "M)");
		if (m)
			snprintf(m, sizeof name - (m - name), "%d)", asha_min);
		printf("%-26s %12.0f %9.0f%% %14.0f %7d/%-4d (mean gap %.4f)\n",
		       name, ep, 100 * ep / none_epochs, tm, found, c.seeds,
		       gap / c.seeds);
	}
	decision_cost();
	return 0;
}

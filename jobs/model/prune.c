/*
 * prune: the median rule and asynchronous successive halving over trials'
 * monitored values (the rules themselves are described in prune.h).  Pure:
 * every function reads its arguments and writes its results, so the unit
 * tests restate the rules on hand-made curves.
 */
#include "jobs/model/prune.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/number.h"

/* Is A better than B?  A NaN is never better, and every number beats it. */
static int better(double a, double b, int maximize)
{
	if (isnan(a))
		return 0;
	if (isnan(b))
		return 1;
	return maximize ? a > b : a < b;
}

/* The value CURVE reported for exactly EPOCH (its later report wins). */
static int value_at(const struct prune_curve *c, long epoch, double *value)
{
	int found = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->points[i].epoch == epoch) {
			*value = c->points[i].value;
			found = 1;
		}
	}
	return found;
}

/* The best value of CURVE over epochs up to EPOCH; 0 when it has none. */
static int best_until(const struct prune_curve *c, long epoch, int maximize,
		      double *best)
{
	int found = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->points[i].epoch > epoch)
			continue;
		if (!found || better(c->points[i].value, *best, maximize))
			*best = c->points[i].value;
		found = 1;
	}
	return found;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int prune_median(const struct prune_curve *curve, long epoch,
		 const struct prune_curve *others, size_t nothers, int maximize,
		 int startup, struct prune_verdict *v)
{
	double mine = 0;
	if (!best_until(curve, epoch, maximize, &mine))
		return 0;
	double *vals = malloc((nothers ? nothers : 1) * sizeof *vals);
	if (!vals)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < nothers; i++) {
		double x = 0;
		if (value_at(&others[i], epoch, &x) && !isnan(x))
			vals[n++] = x;
	}
	if (n == 0 || n < (size_t)(startup > 0 ? startup : 0)) {
		free(vals);
		return 0;
	}
	qsort(vals, n, sizeof *vals, cmp_double);
	double median = n % 2 ? vals[n / 2] :
				vals[n / 2 - 1] / 2 + vals[n / 2] / 2;
	free(vals);
	*v = (struct prune_verdict){
		.prune = better(median, mine, maximize),
		.epoch = epoch,
		.value = mine,
		.ref = median,
	};
	return 1;
}

size_t prune_asha_rungs(long min_epochs, long factor, long epochs, long *rungs)
{
	if (min_epochs < 1 || factor < 2 || epochs < 1)
		return 0;
	size_t n = 0;
	for (long r = min_epochs; r < epochs && n < PRUNE_RUNGS_MAX;) {
		rungs[n++] = r;
		if (r > LONG_MAX / factor)
			break;
		r *= factor;
	}
	return n;
}

int prune_value_at_rung(const struct prune_curve *curve, long rung,
			double *value, long *at)
{
	int found = 0;
	for (size_t i = 0; i < curve->n; i++) {
		const struct prune_point *p = &curve->points[i];
		if (p->epoch < rung || (found && p->epoch > *at))
			continue;
		*at = p->epoch; /* the earliest; a later report of it wins */
		*value = p->value;
		found = 1;
	}
	return found;
}

/* Orders values best first, NaN last: one comparator per direction. */
static int cmp_max_first(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return better(y, x, 1) - better(x, y, 1);
}

static int cmp_min_first(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return better(y, x, 0) - better(x, y, 0);
}

int prune_asha(double value, const double *recorded, size_t n, long factor,
	       int maximize, struct prune_verdict *v)
{
	size_t keep = factor > 0 ? n / (size_t)factor : n;
	if (keep < 1)
		keep = 1;
	*v = (struct prune_verdict){
		.value = value, .ref = value, .kept = (int)keep, .of = (int)n
	};
	if (n == 0)
		return 0;
	double *sorted = malloc(n * sizeof *sorted);
	if (!sorted)
		return 0; /* no verdict without memory: the trial goes on */
	for (size_t i = 0; i < n; i++)
		sorted[i] = recorded[i];
	qsort(sorted, n, sizeof *sorted,
	      maximize ? cmp_max_first : cmp_min_first);
	v->ref = sorted[keep - 1];
	free(sorted);
	v->prune = better(v->ref, value, maximize);
	return v->prune;
}

int prune_message(char *buf, size_t len, const char *monitor, int asha,
		  long factor, const struct prune_verdict *v)
{
	char mine[NUMBER_DISPLAY_MAX], ref[NUMBER_DISPLAY_MAX];
	number_display(v->value, mine, sizeof mine);
	number_display(v->ref, ref, sizeof ref);
	if (asha)
		return snprintf(buf, len,
				"pruned at epoch %ld: %s %s was not in the "
				"best 1/%ld at epoch %ld",
				v->epoch, monitor, mine, factor, v->epoch);
	return snprintf(buf, len,
			"pruned at epoch %ld: %s %s was worse than the median "
			"%s at epoch %ld",
			v->epoch, monitor, mine, ref, v->epoch);
}

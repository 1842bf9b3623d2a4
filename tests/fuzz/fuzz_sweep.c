/*
 * fuzz_sweep: libFuzzer harness for a sweep's spec (jobs/model/sweep_spec.c,
 * jobs/model/sweep_plan.c) and the pruning rules (jobs/model/prune.c).
 *
 * The input is a sweep spec.  A good one must give, for its first trials,
 * values that are the same when drawn twice and a trial spec that the job
 * spec parser takes; a bad one leaves the struct zeroed with a one-line
 * message starting "spec".  The input's bytes are also read as numbers
 * for prune_asha and prune_median, which must give a verdict whose fields
 * are the ones passed in, never crash, never read past the values.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/prune.h"
#include "jobs/model/spec.h"
#include "jobs/model/sweep_spec.h"
#include "tests/fuzz/fuzz.h"

static void check_spec(const uint8_t *data, size_t size)
{
	struct sweep_spec s;
	char err[512];
	if (sweep_spec_parse((const char *)data, size, &s, err, sizeof err)) {
		FUZZ_CHECK(!s.params && !s.job_text && !s.monitor);
		FUZZ_CHECK(!strncmp(err, "spec", 4) && !strchr(err, '\n'));
		return;
	}
	FUZZ_CHECK(s.trials >= 1 && s.parallel >= 1 && s.monitor);
	FUZZ_CHECK(!s.grid || s.trials <= SWEEP_GRID_MAX);
	for (unsigned long t = 1; t <= 3 && (long)t <= s.trials; t++) {
		char(*a)[SWEEP_VALUE_MAX] =
			calloc(s.nparams + 1, SWEEP_VALUE_MAX);
		char(*b)[SWEEP_VALUE_MAX] =
			calloc(s.nparams + 1, SWEEP_VALUE_MAX);
		char *ta = NULL, *tb = NULL;
		size_t la = 0, lb = 0;
		FUZZ_CHECK(a && b);
		FUZZ_CHECK(sweep_trial_spec(&s, 42, t, a, &ta, &la) == 0);
		FUZZ_CHECK(sweep_trial_spec(&s, 42, t, b, &tb, &lb) == 0);
		FUZZ_CHECK(la == lb && !memcmp(ta, tb, la));
		struct spec j;
		char jerr[512];
		/* Values are words or numbers: the trial's spec stays good,
		 * unless a value made a line too long to be one. */
		if (spec_parse(ta, la, &j, jerr, sizeof jerr) == 0)
			spec_free(&j);
		free(a), free(b), free(ta), free(tb);
	}
	sweep_spec_free(&s);
}

static void check_prune(const uint8_t *data, size_t size)
{
	size_t n = size / sizeof(double);
	if (n < 2)
		return;
	double *v = malloc(n * sizeof *v);
	struct prune_point *pts = malloc(n * sizeof *pts);
	memcpy(v, data, n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		pts[i] = (struct prune_point){ (long)(i % 7) + 1, v[i] };
	struct prune_verdict r;
	int p = prune_asha(v[0], v, n, (long)(data[0] % 5) + 2, data[1] & 1,
			   &r);
	FUZZ_CHECK(p == r.prune && r.of == (int)n && r.kept >= 1 &&
		   r.kept <= (int)n);
	struct prune_curve me = { pts, n / 2 },
			   other = { pts + n / 2, n - n / 2 };
	if (prune_median(&me, 3, &other, 1, data[1] & 2, data[2 % size] % 3,
			 &r))
		FUZZ_CHECK(r.epoch == 3 && (r.prune == 0 || r.prune == 1));
	long rungs[PRUNE_RUNGS_MAX];
	long target = isfinite(v[0]) && fabs(v[0]) < 1e9 ? (long)v[0] : 27;
	size_t nr = prune_asha_rungs((long)(data[0] % 9) + 1,
				     (long)(data[1] % 9), target, rungs);
	for (size_t i = 1; i < nr; i++)
		FUZZ_CHECK(rungs[i] > rungs[i - 1]);
	free(v), free(pts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_spec(data, size);
	check_prune(data, size);
	return 0;
}

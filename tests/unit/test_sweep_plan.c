/*
 * Unit tests of jobs/model/sweep_plan.c: param parsing, seeded draws that are
 * the same on every run, grids in nested-loop order, {NAME} substitution.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "jobs/model/sweep_plan.h"
#include "tests/unit/test.h"

static char why[200];

static int parse(const char *name, const char *value, struct sweep_param *p)
{
	return sweep_param_parse(name, value, p, why, sizeof why);
}

static void parsing(void)
{
	struct sweep_param p;
	CHECK(parse("lr", "loguniform(1e-5, 1e-1)", &p) == 0);
	CHECK(p.dist == SWEEP_LOGUNIFORM && p.lo == 1e-5 && p.hi == 1e-1);
	CHECK(parse("m", " uniform( 0.1 ,0.9 )", &p) == 0);
	CHECK(p.dist == SWEEP_UNIFORM && p.lo == 0.1 && p.hi == 0.9);
	CHECK(parse("width", "int(16, 128)", &p) == 0);
	CHECK(p.dist == SWEEP_INT && p.lo == 16 && p.hi == 128);
	CHECK(parse("depth", "2, 4,8", &p) == 0);
	CHECK(p.dist == SWEEP_LIST && p.nitems == 3);
	CHECK_STR(p.items[0], "2");
	CHECK_STR(p.items[2], "8");
	sweep_param_free(&p);
	CHECK(parse("opt", "adam, sgd-m, rms_prop, 1e+3", &p) == 0);
	CHECK(p.nitems == 4);
	CHECK_STR(p.items[3], "1e+3");
	sweep_param_free(&p);
}

static void bad_params(void)
{
	struct sweep_param p;
	CHECK(parse("lr", "loguniform(0, 1)", &p) == -EINVAL);
	CHECK_STR(why, "param.lr: loguniform needs 0 < A < B");
	CHECK(parse("lr", "uniform(1, 1)", &p) == -EINVAL);
	CHECK(parse("lr", "uniform(1, x)", &p) == -EINVAL);
	CHECK(parse("lr", "uniform(1, 2", &p) == -EINVAL);
	CHECK(parse("lr", "uniform(1, 2) x", &p) == -EINVAL);
	CHECK(parse("w", "int(1.5, 4)", &p) == -EINVAL);
	CHECK(parse("d", "2, , 4", &p) == -EINVAL);
	CHECK(parse("d", "a b", &p) == -EINVAL);
	CHECK(parse("d", "x;rm", &p) == -EINVAL);
	CHECK(parse("d", "", &p) == -EINVAL);
	CHECK(parse("1d", "2", &p) == -EINVAL);
	CHECK(parse("d-x", "2", &p) == -EINVAL);
	CHECK(parse("", "2", &p) == -EINVAL);
}

static void draws_are_seeded_and_in_range(void)
{
	struct sweep_param ps[3];
	CHECK(parse("lr", "loguniform(1e-5, 1e-1)", &ps[0]) == 0);
	CHECK(parse("w", "int(1, 3)", &ps[1]) == 0);
	CHECK(parse("act", "relu, tanh", &ps[2]) == 0);
	char a[3][SWEEP_VALUE_MAX], b[3][SWEEP_VALUE_MAX];
	int seen[4] = { 0 }, acts = 0, differ = 0;
	for (unsigned long t = 1; t <= 200; t++) {
		CHECK(sweep_trial_values(ps, 3, 0, 42, t, a) == 0);
		CHECK(sweep_trial_values(ps, 3, 0, 42, t, b) == 0);
		for (int i = 0; i < 3; i++)
			CHECK_STR(a[i], b[i]);
		double lr = atof(a[0]);
		CHECK(lr >= 1e-5 && lr <= 1e-1);
		int w = atoi(a[1]);
		CHECK(w >= 1 && w <= 3);
		seen[w]++;
		acts += !strcmp(a[2], "relu");
		CHECK(!strcmp(a[2], "relu") || !strcmp(a[2], "tanh"));
		CHECK(sweep_trial_values(ps, 3, 0, 43, t, b) == 0);
		differ += strcmp(a[0], b[0]) != 0;
	}
	CHECK(seen[1] > 30 && seen[2] > 30 && seen[3] > 30);
	CHECK(acts > 60 && acts < 140);
	CHECK(differ > 190);
	/* The same on every machine: splitmix64's known first output. */
	uint64_t s = 0;
	CHECK(sweep_rand_next(&s) == 0xe220a8397b1dcdafULL);
	/* Six significant digits. */
	CHECK(sweep_trial_values(ps, 1, 0, 7, 1, a) == 0);
	CHECK(strlen(a[0]) <= 12);
	CHECK(sweep_trial_values(ps, 3, 0, 42, 0, a) == -EINVAL);
	for (int i = 0; i < 3; i++)
		sweep_param_free(&ps[i]);
}

static void grid_order(void)
{
	struct sweep_param ps[2];
	CHECK(parse("a", "1, 2, 3", &ps[0]) == 0);
	CHECK(parse("b", "x, y", &ps[1]) == 0);
	CHECK(sweep_grid_size(ps, 2) == 6);
	char v[2][SWEEP_VALUE_MAX];
	const char *want[6][2] = { { "1", "x" }, { "1", "y" }, { "2", "x" },
				   { "2", "y" }, { "3", "x" }, { "3", "y" } };
	for (unsigned long t = 1; t <= 6; t++) {
		CHECK(sweep_trial_values(ps, 2, 1, 0, t, v) == 0);
		CHECK_STR(v[0], want[t - 1][0]);
		CHECK_STR(v[1], want[t - 1][1]);
	}
	CHECK(sweep_trial_values(ps, 2, 1, 0, 7, v) == -EINVAL);
	struct sweep_param u;
	CHECK(parse("lr", "uniform(0, 1)", &u) == 0);
	struct sweep_param mixed[2] = { ps[0], u };
	CHECK(sweep_grid_size(mixed, 2) == 0);
	/* Past 10,000 trials. */
	struct sweep_param big[5];
	for (int i = 0; i < 5; i++)
		CHECK(parse("p", "0,1,2,3,4,5,6,7,8,9", &big[i]) == 0);
	CHECK(sweep_grid_size(big, 4) == 10000);
	CHECK(sweep_grid_size(big, 5) == 0);
	for (int i = 0; i < 5; i++)
		sweep_param_free(&big[i]);
	sweep_param_free(&ps[0]);
	sweep_param_free(&ps[1]);
}

static void substitution(void)
{
	struct sweep_param ps[2];
	CHECK(parse("lr", "0.1, 0.2", &ps[0]) == 0);
	CHECK(parse("depth", "4", &ps[1]) == 0);
	char v[2][SWEEP_VALUE_MAX] = { "0.1", "4" };
	char *out = NULL, missing[70];
	CHECK(sweep_substitute("python3 t.py --lr {lr} -d{depth} ${HOME} {x",
			       ps, 2, v, &out, missing, sizeof missing) == 0);
	CHECK_STR(out, "python3 t.py --lr 0.1 -d4 ${HOME} {x");
	free(out);
	CHECK(sweep_substitute("t {lr} {width}", ps, 2, v, &out, missing,
			       sizeof missing) == -EINVAL);
	CHECK_STR(missing, "width");
	/* Checking a command before any trial: no values. */
	CHECK(sweep_substitute("t {lr}", ps, 2, NULL, &out, missing,
			       sizeof missing) == 0);
	CHECK_STR(out, "t ");
	free(out);
	sweep_param_free(&ps[0]);
	sweep_param_free(&ps[1]);
}

TEST_MAIN("sweep_plan", TEST(parsing), TEST(bad_params),
	  TEST(draws_are_seeded_and_in_range), TEST(grid_order),
	  TEST(substitution))

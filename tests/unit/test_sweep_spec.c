/*
 * Unit tests of jobs/model/sweep_spec.c: a sweep's spec as a job spec plus the
 * search, its errors with the user's line numbers, and each trial's spec.
 */
#include <errno.h>
#include <stdlib.h>

#include "jobs/model/spec.h"
#include "jobs/model/sweep_spec.h"
#include "tests/unit/test.h"

static char err[300];

static int parse(const char *text, struct sweep_spec *s)
{
	return sweep_spec_parse(text, strlen(text), s, err, sizeof err);
}

static const char *SPEC =
	"command = python3 train.py --lr {lr} --depth {depth} # a comment\n"
	"workdir = /tmp\n"
	"param.lr = loguniform(1e-5, 1e-1)\n"
	"param.depth = 2, 4, 8\n"
	"monitor = val_loss\n"
	"mode = min\n"
	"epochs = 27\n"
	"trials = 24\n"
	"seed = 1\n"
	"parallel = 4\n"
	"prune = asha\n"
	"prune.factor = 3  # keep a third\n";

static void a_whole_spec(void)
{
	struct sweep_spec s;
	CHECK(parse(SPEC, &s) == 0);
	CHECK(s.nparams == 2);
	CHECK_STR(s.params[0].name, "lr");
	CHECK_STR(s.params[1].name, "depth");
	CHECK(s.trials == 24 && !s.grid && s.has_seed && s.seed == 1);
	CHECK(s.parallel == 4 && s.prune == SWEEP_PRUNE_ASHA);
	CHECK(s.factor == 3 && s.min_epochs == 1 && s.startup == 5);
	CHECK_STR(s.monitor, "val_loss");
	CHECK(!s.maximize && s.epochs == 27);
	/* Search lines are blank in the job text: line numbers hold. */
	CHECK(!strstr(s.job_text, "param."));
	CHECK(!strstr(s.job_text, "trials"));
	CHECK(strstr(s.job_text, "\n\n\nmonitor = val_loss\n") != NULL);
	sweep_spec_free(&s);
}

static void trial_specs(void)
{
	struct sweep_spec s;
	CHECK(parse(SPEC, &s) == 0);
	char v[2][SWEEP_VALUE_MAX], w[2][SWEEP_VALUE_MAX];
	char *text = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	CHECK(sweep_trial_spec(&s, s.seed, 3, v, &text, &len) == 0);
	CHECK(sweep_trial_spec(&s, s.seed, 3, w, &again, &len2) == 0);
	CHECK(len == len2 && !memcmp(text, again, len));
	CHECK_STR(v[0], w[0]);
	char want[200];
	snprintf(want, sizeof want,
		 "command = python3 train.py --lr %s --depth %s # a comment\n",
		 v[0], v[1]);
	CHECK(!strncmp(text, want, strlen(want)));
	snprintf(want, sizeof want,
		 "env.TRAINFS_PARAM_lr = %s\nenv.TRAINFS_PARAM_depth = %s\n",
		 v[0], v[1]);
	CHECK(len > strlen(want) && !strcmp(text + len - strlen(want), want));
	/* The trial's spec is a good job spec. */
	struct spec j;
	CHECK(spec_parse(text, len, &j, err, sizeof err) == 0);
	CHECK(j.nenv == 2);
	CHECK(strstr(j.command, "--depth ") != NULL);
	spec_free(&j);
	free(text);
	free(again);
	sweep_spec_free(&s);
}

static void a_grid(void)
{
	struct sweep_spec s;
	const char *g = "command = t {a} {b}\nmonitor = acc\n"
			"param.a = 1, 2, 3\nparam.b = x, y\nsearch = grid\n";
	CHECK(parse(g, &s) == 0);
	CHECK(s.grid && s.trials == 6);
	char v[2][SWEEP_VALUE_MAX], *text;
	size_t len;
	CHECK(sweep_trial_spec(&s, 0, 4, v, &text, &len) == 0);
	CHECK(!strncmp(text, "command = t 2 y\n", 16));
	free(text);
	CHECK(sweep_trial_spec(&s, 0, 7, v, &text, &len) == -EINVAL);
	sweep_spec_free(&s);
}

static void errors(void)
{
	struct sweep_spec s;
	CHECK(parse("command = t\ntrials = 3\n", &s) == -1);
	CHECK_STR(err, "spec: 'monitor' is required for a sweep");
	CHECK(parse("command = t {w}\nmonitor = a\ntrials = 3\n", &s) == -1);
	CHECK_STR(err, "spec line 1: '{w}' has no param.w");
	CHECK(parse("command = t\nmonitor = a\ntrials = 3\nprune.foo = 1\n",
		    &s) == -1);
	CHECK_STR(err, "spec line 4: unknown key 'prune.foo'");
	CHECK(parse("command = t\nmonitor = a\ntrials = 3\nprune = asha\n",
		    &s) == -1);
	CHECK_STR(err, "spec: prune = asha needs 'epochs'");
	CHECK(parse("command = t\nmonitor = a\nparam.x = uniform(0, 1)\n"
		    "search = grid\n",
		    &s) == -1);
	CHECK_STR(err, "spec: search = grid needs lists: param.x is not one");
	CHECK(parse("command = t\nmonitor = a\n", &s) == -1);
	CHECK_STR(err, "spec: 'trials' is required for a random search");
	CHECK(parse("command = t\nmonitor = a\ntrials = 0\n", &s) == -1);
	CHECK_STR(err, "spec line 3: bad value '0' for 'trials': not a whole "
		       "number from 1 to 100000");
	CHECK(parse("command = t\nmonitor = a\ntrials = 2\ntrials = 3\n", &s) ==
	      -1);
	CHECK_STR(err, "spec line 4: duplicate key 'trials'");
	CHECK(parse("command = t\nmonitor = a\ntrials = 2\nparam.x = 1\n"
		    "param.x = 2\n",
		    &s) == -1);
	CHECK_STR(err, "spec line 5: duplicate key 'param.x'");
	/* The job spec's own errors keep their line numbers. */
	CHECK(parse("trials = 2\nmonitor = a\ncommand = t\nepoch = 3\n", &s) ==
	      -1);
	CHECK_STR(err, "spec line 4: unknown key 'epoch'");
	/* A grid past 10,000 trials. */
	CHECK(parse("command = t\nmonitor = a\nsearch = grid\n"
		    "param.a = 0,1,2,3,4,5,6,7,8,9\nparam.b = 0,1,2,3,4,5,6,7,8,9\n"
		    "param.c = 0,1,2,3,4,5,6,7,8,9\nparam.d = 0,1,2,3,4,5,6,7,8,9\n"
		    "param.e = 0,1\n",
		    &s) == -1);
	CHECK_STR(err, "spec: the grid has more than 10000 trials");
	CHECK(parse("command = t\nmonitor = a\ntrials = 2\nseed = -1\n", &s) ==
	      -1);
	CHECK(parse("command = t\nmonitor = a\ntrials = 2\nprune = best\n",
		    &s) == -1);
}

TEST_MAIN("sweep_spec", TEST(a_whole_spec), TEST(trial_specs), TEST(a_grid),
	  TEST(errors))

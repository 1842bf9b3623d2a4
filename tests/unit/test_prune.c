/*
 * Unit tests of jobs/model/prune.c: the median rule and ASHA restated on
 * hand-made curves, with ties, NaN, mode = max, and trials that report
 * epochs out of order or skip one.
 */
#include <math.h>

#include "jobs/model/prune.h"
#include "tests/unit/test.h"

#define CURVE(...)                                                   \
	((struct prune_curve){                                       \
		.points = (struct prune_point[]){ __VA_ARGS__ },     \
		.n = sizeof((struct prune_point[]){ __VA_ARGS__ }) / \
		     sizeof(struct prune_point) })

static void median_needs_startup_others(void)
{
	struct prune_curve me = CURVE({ 1, 0.9 }, { 2, 0.8 });
	struct prune_curve others[] = { CURVE({ 2, 0.1 }), CURVE({ 2, 0.2 }),
					CURVE({ 1, 0.3 }) };
	struct prune_verdict v;
	/* Two others have epoch 2; startup 3 is not met. */
	CHECK(prune_median(&me, 2, others, 3, 0, 3, &v) == 0);
	CHECK(prune_median(&me, 2, others, 3, 0, 2, &v) == 1);
	CHECK(v.prune == 1);
	CHECK(fabs(v.ref - 0.15) < 1e-12);
	CHECK(v.value == 0.8);
	CHECK(v.epoch == 2);
}

static void median_uses_best_so_far_and_ties_go_on(void)
{
	/* min: my best up to epoch 3 is 0.2 (epoch 1), equal to the median. */
	struct prune_curve me = CURVE({ 1, 0.2 }, { 2, 0.5 }, { 3, 0.6 });
	struct prune_curve others[] = { CURVE({ 3, 0.1 }), CURVE({ 3, 0.2 }),
					CURVE({ 3, 0.3 }) };
	struct prune_verdict v;
	CHECK(prune_median(&me, 3, others, 3, 0, 1, &v) == 1);
	CHECK(v.prune == 0);
	CHECK(v.ref == 0.2);
	/* The epoch 4 point is after the judged epoch: not counted. */
	struct prune_curve late = CURVE({ 4, 0.0 }, { 3, 0.9 });
	CHECK(prune_median(&late, 3, others, 3, 0, 1, &v) == 1);
	CHECK(v.prune == 1 && v.value == 0.9);
}

static void median_mode_max(void)
{
	struct prune_curve me = CURVE({ 5, 0.70 });
	struct prune_curve others[] = { CURVE({ 5, 0.60 }), CURVE({ 5, 0.80 }),
					CURVE({ 5, 0.90 }),
					CURVE({ 5, 0.75 }) };
	struct prune_verdict v;
	CHECK(prune_median(&me, 5, others, 4, 1, 4, &v) == 1);
	CHECK(v.prune == 1); /* median 0.775 > 0.70 */
	CHECK(fabs(v.ref - 0.775) < 1e-12);
	struct prune_curve good = CURVE({ 5, 0.80 });
	CHECK(prune_median(&good, 5, others, 4, 1, 4, &v) == 1);
	CHECK(v.prune == 0);
}

static void median_nan(void)
{
	/* Others' NaN values are no values; my NaN is worse than any median. */
	struct prune_curve others[] = { CURVE({ 2, NAN }), CURVE({ 2, 0.5 }),
					CURVE({ 2, NAN }) };
	struct prune_curve me = CURVE({ 2, 0.4 });
	struct prune_verdict v;
	CHECK(prune_median(&me, 2, others, 3, 0, 2, &v) == 0);
	CHECK(prune_median(&me, 2, others, 3, 0, 1, &v) == 1);
	CHECK(v.prune == 0 && v.ref == 0.5);
	struct prune_curve lost = CURVE({ 1, NAN }, { 2, NAN });
	CHECK(prune_median(&lost, 2, others, 3, 1, 1, &v) == 1);
	CHECK(v.prune == 1);
	/* A NaN after a number does not replace the best. */
	struct prune_curve back = CURVE({ 1, 0.45 }, { 2, NAN });
	CHECK(prune_median(&back, 2, others, 3, 0, 1, &v) == 1);
	CHECK(v.prune == 0 && v.value == 0.45);
}

static void median_out_of_order_and_rereported(void)
{
	/* Epochs reported 3, 1, 2; epoch 2 reported twice: the later wins. */
	struct prune_curve me = CURVE({ 3, 0.3 }, { 1, 0.9 }, { 2, 0.8 });
	struct prune_curve other = CURVE({ 2, 0.1 }, { 2, 0.95 });
	struct prune_verdict v;
	CHECK(prune_median(&me, 2, &other, 1, 0, 1, &v) == 1);
	CHECK(v.ref == 0.95 && v.value == 0.8 && v.prune == 0);
	/* No point at or before the epoch: no verdict. */
	struct prune_curve later = CURVE({ 5, 0.1 });
	CHECK(prune_median(&later, 2, &other, 1, 0, 1, &v) == 0);
}

static void asha_rungs(void)
{
	long r[PRUNE_RUNGS_MAX];
	size_t n = prune_asha_rungs(1, 3, 27, r);
	CHECK(n == 3 && r[0] == 1 && r[1] == 3 && r[2] == 9);
	n = prune_asha_rungs(1, 3, 28, r);
	CHECK(n == 4 && r[3] == 27);
	n = prune_asha_rungs(2, 2, 20, r);
	CHECK(n == 4 && r[0] == 2 && r[3] == 16);
	CHECK(prune_asha_rungs(5, 3, 5, r) == 0);
	CHECK(prune_asha_rungs(0, 3, 5, r) == 0);
	CHECK(prune_asha_rungs(1, 1, 5, r) == 0);
	/* No overflow with a huge factor or target. */
	n = prune_asha_rungs(1, 1000000000L, 1000000000L, r);
	CHECK(n == 1 && r[0] == 1);
	n = prune_asha_rungs(1, 2, 1000000000L, r);
	CHECK(n == 30 && r[29] == 536870912L);
}

static void asha_keeps_the_best_third(void)
{
	struct prune_verdict v;
	/* The first at a rung always goes on (one of one). */
	double one[] = { 0.9 };
	CHECK(prune_asha(0.9, one, 1, 3, 0, &v) == 0);
	CHECK(v.kept == 1 && v.of == 1);
	/* Five values, factor 3: the best one goes on (floor(5/3) = 1). */
	double five[] = { 0.5, 0.3, 0.4, 0.6, 0.35 };
	CHECK(prune_asha(0.35, five, 5, 3, 0, &v) == 1);
	CHECK(v.ref == 0.3 && v.kept == 1 && v.of == 5);
	CHECK(prune_asha(0.3, five, 5, 3, 0, &v) == 0);
	/* Six values: the best two go on; max mode. */
	double six[] = { 0.5, 0.3, 0.4, 0.6, 0.35, 0.55 };
	CHECK(prune_asha(0.55, six, 6, 3, 1, &v) == 0);
	CHECK(prune_asha(0.5, six, 6, 3, 1, &v) == 1);
	CHECK(v.ref == 0.55);
}

static void asha_ties_and_nan(void)
{
	struct prune_verdict v;
	/* A value equal to the last one kept goes on. */
	double tie[] = { 0.2, 0.2, 0.5 };
	CHECK(prune_asha(0.2, tie, 3, 3, 0, &v) == 0);
	CHECK(prune_asha(0.5, tie, 3, 3, 0, &v) == 1);
	/* NaN ranks last, in both modes. */
	double nan3[] = { NAN, 0.7, 0.1 };
	CHECK(prune_asha(NAN, nan3, 3, 3, 1, &v) == 1);
	CHECK(v.ref == 0.7);
	CHECK(prune_asha(NAN, nan3, 3, 3, 0, &v) == 1);
	CHECK(v.ref == 0.1);
	double allnan[] = { NAN, NAN };
	CHECK(prune_asha(NAN, allnan, 2, 3, 0, &v) == 0);
}

static void asha_value_at_rung_skipped_or_out_of_order(void)
{
	double x;
	long at;
	/* Skipped epoch 3: the earliest epoch after it counts. */
	struct prune_curve skip =
		CURVE({ 1, 0.9 }, { 2, 0.8 }, { 5, 0.4 }, { 4, 0.6 });
	CHECK(prune_value_at_rung(&skip, 3, &x, &at) == 1);
	CHECK(at == 4 && x == 0.6);
	CHECK(prune_value_at_rung(&skip, 6, &x, &at) == 0);
	/* Reported twice: the later report. */
	struct prune_curve twice = CURVE({ 3, 0.9 }, { 3, 0.5 });
	CHECK(prune_value_at_rung(&twice, 3, &x, &at) == 1);
	CHECK(at == 3 && x == 0.5);
}

static void messages(void)
{
	char buf[200];
	struct prune_verdict v = {
		.prune = 1, .epoch = 9, .value = 0.41, .ref = 0.32
	};
	prune_message(buf, sizeof buf, "val_loss", 1, 3, &v);
	CHECK_STR(buf, "pruned at epoch 9: val_loss 0.41 was not in the best "
		       "1/3 at epoch 9");
	prune_message(buf, sizeof buf, "val_loss", 0, 3, &v);
	CHECK_STR(buf, "pruned at epoch 9: val_loss 0.41 was worse than the "
		       "median 0.32 at epoch 9");
}

TEST_MAIN("prune", TEST(median_needs_startup_others),
	  TEST(median_uses_best_so_far_and_ties_go_on), TEST(median_mode_max),
	  TEST(median_nan), TEST(median_out_of_order_and_rereported),
	  TEST(asha_rungs), TEST(asha_keeps_the_best_third),
	  TEST(asha_ties_and_nan),
	  TEST(asha_value_at_rung_skipped_or_out_of_order), TEST(messages))

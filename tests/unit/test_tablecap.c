/*
 * Unit tests for jobs/core/tablecap.c: the bound on one job's metrics table
 * (1,000,000 rows, 256 MiB of values as stored and in memory) and the
 * text counts it is checked against.
 */
#include "jobs/core/tablecap.h"
#include "tests/unit/test.h"

static void counts_are_the_stored_text(void)
{
	/* "epoch=12 loss=0.5 acc=0.25" as the store keeps it */
	struct job_table t = { .nrows = 1 };
	t.epoch_chars = tablecap_epoch_chars(12);
	t.nvalues = 2;
	t.name_chars = strlen("loss") + strlen("acc");
	t.value_chars =
		tablecap_number_chars(0.5) + tablecap_number_chars(0.25);
	CHECK(tablecap_stored(&t) == strlen("epoch=12 loss=0.5 acc=0.25"));
	CHECK(tablecap_number_chars(0.1) == 3);
	CHECK(tablecap_number_chars(1e308) == strlen("1e+308"));
	CHECK(tablecap_epoch_chars(1000000000) == 10);
}

static void rows_and_values_are_bounded(void)
{
	CHECK(tablecap_admits(JOB_ROWS_MAX, 1, 1000));
	CHECK(!tablecap_admits(JOB_ROWS_MAX + 1, 1, 1000));
	CHECK(tablecap_admits(10, 10, JOB_VALUES_MAX));
	CHECK(!tablecap_admits(10, 10, JOB_VALUES_MAX + 1));
	/* in memory: 8 bytes a cell, rows times columns */
	size_t cells = JOB_VALUES_MAX / sizeof(double);
	CHECK(tablecap_admits(cells / 1000, 1000, 0));
	CHECK(!tablecap_admits(cells / 1000 + 1, 1000, 0));
	CHECK(tablecap_admits(0, 0, 0));
}

TEST_MAIN("tablecap", TEST(counts_are_the_stored_text),
	  TEST(rows_and_values_are_bounded))

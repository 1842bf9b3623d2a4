/*
 * tablecap: one job's metrics table costs a bounded amount to keep, store
 * and render.  A line that would take the table past JOB_ROWS_MAX rows or
 * JOB_VALUES_MAX bytes of values is left out (the ingest counts it as a
 * bad line, "too many rows").  Values are counted twice, both bounded by
 * JOB_VALUES_MAX: as stored, each row's text ("epoch=3 loss=0.5"), which
 * is what the store grows by; and in memory, 8 bytes a cell (rows times
 * columns), which is what a sparse table costs.
 *
 * The text counts (job_table's epoch_chars, nvalues, name_chars,
 * value_chars) are kept as rows are added, merged and dropped, so the
 * bound and the size of the metrics file are known without formatting
 * the table again.
 *
 * TRAINFS_TEST_ROWS_MAX and TRAINFS_TEST_VALUES_MAX, in the daemon's
 * environment, lower the bounds for tests (reaching a million rows takes
 * minutes); they never raise them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/core/tablecap.h"

static size_t rows_max = JOB_ROWS_MAX, values_max = JOB_VALUES_MAX;
static pthread_once_t limits_once = PTHREAD_ONCE_INIT;

static void lower_from_env(const char *name, size_t *limit)
{
	const char *s = getenv(name);
	char *end;
	if (!s || !*s)
		return;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*end && v < *limit)
		*limit = (size_t)v;
}

static void limits_init(void)
{
	lower_from_env("TRAINFS_TEST_ROWS_MAX", &rows_max);
	lower_from_env("TRAINFS_TEST_VALUES_MAX", &values_max);
}

size_t tablecap_number_chars(double v)
{
	char num[64];
	return strlen(metrics_format_number(v, num, sizeof num));
}

size_t tablecap_epoch_chars(long e)
{
	char b[32];
	return (size_t)snprintf(b, sizeof b, "%ld", e);
}

size_t tablecap_stored(const struct job_table *t)
{
	return t->nrows * strlen("epoch=") + t->epoch_chars +
	       t->nvalues * strlen(" =") + t->name_chars + t->value_chars;
}

int tablecap_admits(size_t rows, size_t cols, size_t stored)
{
	pthread_once(&limits_once, limits_init);
	return rows <= rows_max && stored <= values_max &&
	       (cols == 0 || rows <= values_max / sizeof(double) / cols);
}

/*
 * libFuzzer harness of the CSV decoder (jobs/model/src_csv.c): the input is a
 * CSV log, cut into lines as the reader cuts them (the metrics splitter,
 * 64 KiB a line), each line given to src_csv_line().  Every row must hold
 * an epoch in range and distinct metric names that follow the name rule;
 * a refused row gives a printable reason; nothing is read past a line.
 */
#include <stdint.h>
#include <string.h>

#include "jobs/model/src_csv.h"
#include "tests/fuzz/fuzz.h"

static struct src_csv csv = { .epoch_col = -1 };

static void check_row(const struct metrics_line *l)
{
	FUZZ_CHECK(l->epoch >= 0 && l->epoch <= METRICS_EPOCH_MAX);
	FUZZ_CHECK(l->n <= METRICS_NAMES_MAX);
	for (size_t i = 0; i < l->n; i++)
		FUZZ_CHECK(
			metrics_name_valid(l->m[i].name, strlen(l->m[i].name)));
}

static void on_line(void *arg, const char *line, size_t len, int overlong)
{
	struct metrics_line ml;
	char why[METRICS_WHY_MAX];

	(void)arg;
	if (overlong)
		return;
	int rc = src_csv_line(&csv, line, len, &ml, why, sizeof why);
	FUZZ_CHECK(rc >= -1 && rc <= SRC_CSV_BLANK);
	FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
	if (rc == SRC_CSV_ROW)
		check_row(&ml);
	else
		FUZZ_CHECK(ml.n == 0 && ml.m == NULL);
	if (rc < 0 || rc == SRC_CSV_HEADER_BAD)
		FUZZ_CHECK(why[0] != '\0');
	metrics_line_free(&ml);
}

static struct line_splitter splitter;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rng rng;
	size_t pos = 0, n;

	fuzz_rng_init(&rng, data, size);
	memset(&splitter, 0, sizeof splitter);
	src_csv_reset(&csv);
	while (pos < size) {
		n = 1 + (size_t)fuzz_rng_below(&rng, 4096);
		if (n > size - pos)
			n = size - pos;
		line_splitter_feed(&splitter, (const char *)data + pos, n,
				   on_line, NULL);
		pos += n;
	}
	if (splitter.len || splitter.overlong)
		line_splitter_feed(&splitter, "\n", 1, on_line, NULL);
	src_csv_free(&csv);
	return 0;
}

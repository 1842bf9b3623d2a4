/*
 * libFuzzer harness of the JSON lines decoder (jobs/model/src_jsonl.c): each
 * line of the input goes to src_jsonl_line().  A row holds an epoch in
 * range and distinct metric names that follow the name rule; a line that
 * is not a JSON object is refused with its reason; a refused line leaves
 * nothing allocated.
 */
#include <stdint.h>
#include <string.h>

#include "jobs/model/src_jsonl.h"
#include "tests/fuzz/fuzz.h"

static void on_line(void *arg, const char *line, size_t len, int overlong)
{
	struct metrics_line ml;
	char why[METRICS_WHY_MAX];

	(void)arg;
	if (overlong)
		return;
	int rc = src_jsonl_line(line, len, &ml, why, sizeof why);
	FUZZ_CHECK(rc >= -1 && rc <= 2);
	if (rc == 0 || rc == 1) {
		FUZZ_CHECK(ml.epoch >= 0 && ml.epoch <= METRICS_EPOCH_MAX);
		for (size_t i = 0; i < ml.n; i++) {
			FUZZ_CHECK(metrics_name_valid(ml.m[i].name,
						      strlen(ml.m[i].name)));
			for (size_t k = 0; k < i; k++)
				FUZZ_CHECK(strcmp(ml.m[i].name, ml.m[k].name));
		}
	} else {
		FUZZ_CHECK(ml.n == 0 && ml.m == NULL);
	}
	FUZZ_CHECK(rc == 0 || rc == 2 || why[0] != '\0');
	metrics_line_free(&ml);
}

static struct line_splitter splitter;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(&splitter, 0, sizeof splitter);
	line_splitter_feed(&splitter, (const char *)data, size, on_line, NULL);
	if (splitter.len || splitter.overlong)
		line_splitter_feed(&splitter, "\n", 1, on_line, NULL);
	return 0;
}

/*
 * libFuzzer harness of the TensorBoard decoder (jobs/model/src_tfevents.c).  The
 * input is read two ways: as an event file (TFRecord frames, each header
 * and data CRC checked, a frame's data decoded as an Event), and whole as
 * one Event's bytes, so the protocol buffer walk sees both well framed and
 * raw input.  A decoded row holds an epoch in range and distinct metric
 * names that follow the name rule, under the prefix given; no byte past
 * the input is read (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/src_tfevents.h"
#include "tests/fuzz/fuzz.h"

static void decode(const unsigned char *d, size_t n, const char *prefix)
{
	struct metrics_line ml;
	char why[METRICS_WHY_MAX];
	int rc = tfevent_decode(d, n, prefix, &ml, why, sizeof why);

	FUZZ_CHECK(rc >= -1 && rc <= 2);
	if (rc == 0 || rc == 1) {
		FUZZ_CHECK(ml.epoch >= 0 && ml.epoch <= METRICS_EPOCH_MAX);
		for (size_t i = 0; i < ml.n; i++) {
			FUZZ_CHECK(metrics_name_valid(ml.m[i].name,
						      strlen(ml.m[i].name)));
			FUZZ_CHECK(!prefix || !strncmp(ml.m[i].name, prefix,
						       strlen(prefix)));
			for (size_t k = 0; k < i; k++)
				FUZZ_CHECK(strcmp(ml.m[i].name, ml.m[k].name));
		}
	} else {
		FUZZ_CHECK(ml.n == 0 && ml.m == NULL);
	}
	if (rc == -1 || rc == 1)
		FUZZ_CHECK(why[0] != '\0');
	metrics_line_free(&ml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	uint64_t len;

	/* an exact copy, so ASan sees the input's true end */
	unsigned char *copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	decode(copy, size, NULL);
	decode(copy, size, "validation");
	while (size - pos >= TFREC_HEADER) {
		if (tfrec_header(copy + pos, &len)) {
			pos++; /* as the reader does: the next good header */
			continue;
		}
		if (len > size - pos - TFREC_HEADER ||
		    size - pos - TFREC_HEADER - len < TFREC_FOOTER)
			break; /* incomplete: waited for */
		const unsigned char *d = copy + pos + TFREC_HEADER;
		if (!tfrec_data_ok(d, (size_t)len, d + len))
			decode(d, (size_t)len, "run");
		pos += TFREC_HEADER + (size_t)len + TFREC_FOOTER;
	}
	free(copy);
	return 0;
}

/*
 * Unit tests of jobs/model/spec_values.c: the value rules the spec parser
 * and Slurm's side share (the time limit's forms), and the tarball's
 * suffix of each compression.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/spec.h"
#include "jobs/model/spec_values.h"
#include "tests/unit/test.h"

static void test_slurm_time(void)
{
	static const struct {
		const char *text;
		long seconds;
	} ok[] = {
		{ "0", 0 },
		{ "90", 90 * 60 },
		{ "5:30", 5 * 60 + 30 },
		{ "1:02:03", 3600 + 2 * 60 + 3 },
		{ "2-12", 2 * 86400 + 12 * 3600 },
		{ "2-12:30", 2 * 86400 + 12 * 3600 + 30 * 60 },
		{ "2-12:30:15", 2 * 86400 + 12 * 3600 + 30 * 60 + 15 },
		{ "0-0:0:5", 5 },
		{ "UNLIMITED", 0 },
		{ "unlimited", 0 },
		{ "INFINITE", 0 },
		{ "999999999", 999999999L * 60 },
		{ "999999999-999999999:999999999:999999999",
		  999999999L * 86400 + 999999999L * 3600 + 999999999L * 60 +
			  999999999L },
	};
	static const char *const bad[] = {
		"",   "-",	    "1-",	    "-1",	 "1:",
		":1", "1::2",	    "1:2:3:4",	    "1-2:3:4:5", "1-2-3",
		"a",  "1h",	    "1.5",	    " 1",	 "+1",
		"1 ", "1000000000", "1-1000000000", "NONE",
	};
	long sec;
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		sec = -1;
		CHECK(spec_slurm_time(ok[i].text, &sec) == 0);
		if (sec != ok[i].seconds)
			fprintf(stderr, "slurm time '%s': %ld\n", ok[i].text,
				sec);
		CHECK(sec == ok[i].seconds);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (spec_slurm_time(bad[i], &sec) != -1)
			fprintf(stderr, "slurm time '%s' taken\n", bad[i]);
		CHECK(spec_slurm_time(bad[i], &sec) == -1);
	}
	CHECK(spec_slurm_time(NULL, &sec) == -1);
}

static void test_compression_suffix(void)
{
	CHECK_STR(spec_compression_suffix(COMPRESS_NONE), "");
	CHECK_STR(spec_compression_suffix(COMPRESS_GZIP), ".gz");
	CHECK_STR(spec_compression_suffix(COMPRESS_ZSTD), ".zst");
}

TEST_MAIN("spec_values", TEST(test_slurm_time), TEST(test_compression_suffix))

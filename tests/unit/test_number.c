/*
 * Unit tests for util/number.c: how a metric is shown to a person, 6
 * significant digits (issue 12: "0.5939748287200928" was shown whole).
 */
#include <float.h>
#include <math.h>

#include "tests/unit/test.h"
#include "util/number.h"

static const char *show(double v)
{
	static char buf[NUMBER_DISPLAY_MAX];
	return number_display(v, buf, sizeof buf);
}

static void six_digits(void)
{
	CHECK_STR(show(0.5939748287200928), "0.593975");
	CHECK_STR(show(0.1), "0.1");
	CHECK_STR(show(0.7), "0.7");
	CHECK_STR(show(30), "30");
	CHECK_STR(show(123456), "123456");
	CHECK_STR(show(1234567), "1.23457e6");
	CHECK_STR(show(-2.5), "-2.5");
	CHECK_STR(show(0.999999949), "1");
}

static void short_exponents(void)
{
	CHECK_STR(show(1e-4), "0.0001");
	CHECK_STR(show(1e-5), "1e-5");
	CHECK_STR(show(2.5e-7), "2.5e-7");
	CHECK_STR(show(1e6), "1e6");
	CHECK_STR(show(1e308), "1e308");
	CHECK_STR(show(DBL_MAX), "1.79769e308");
	CHECK_STR(show(-DBL_MAX), "-1.79769e308");
	CHECK_STR(show(5e-324), "4.94066e-324");
	CHECK_STR(show(DBL_MIN), "2.22507e-308");
}

static void special_values(void)
{
	CHECK_STR(show(0.0), "0");
	CHECK_STR(show(-0.0), "0");
	CHECK_STR(show(NAN), "nan");
	CHECK_STR(show(INFINITY), "inf");
	CHECK_STR(show(-INFINITY), "-inf");
}

static void short_buffer(void)
{
	char buf[4] = "zzz";
	CHECK_STR(number_display(0.593975, buf, sizeof buf), "0.5");
	CHECK(number_display(1, buf, 0) == buf && buf[0] == '0');
	CHECK(number_display(1, NULL, 8) == NULL);
}

TEST_MAIN("number", TEST(six_digits), TEST(short_exponents),
	  TEST(special_values), TEST(short_buffer))

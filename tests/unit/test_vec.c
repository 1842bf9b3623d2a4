/*
 * Unit tests for util/vec.c: the one growable array (VEC_RESERVE).
 */
#include <stdint.h>
#include <stdlib.h>

#include "tests/unit/test.h"
#include "util/vec.h"

struct list {
	long *a;
	size_t n, cap;
};

static void appends_keep_their_items(void)
{
	struct list l = { 0 };
	for (long i = 0; i < 1000; i++) {
		CHECK(VEC_RESERVE(l.a, l.cap, l.n + 1) == 0);
		l.a[l.n++] = i * 3;
	}
	CHECK(l.n == 1000 && l.cap >= 1000 && l.cap < 2048);
	long bad = 0;
	for (long i = 0; i < 1000; i++)
		bad += l.a[i] != i * 3;
	CHECK(bad == 0);
	free(l.a);
}

static void first_growth_and_doubling(void)
{
	struct list l = { 0 };
	CHECK(VEC_RESERVE(l.a, l.cap, 1) == 0);
	CHECK(l.cap == VEC_FIRST && l.a);
	CHECK(VEC_RESERVE(l.a, l.cap, VEC_FIRST) == 0 && l.cap == VEC_FIRST);
	CHECK(VEC_RESERVE(l.a, l.cap, VEC_FIRST + 1) == 0);
	CHECK(l.cap == 2 * VEC_FIRST);
	CHECK(VEC_RESERVE(l.a, l.cap, 1000) == 0 && l.cap == 1024);
	CHECK(VEC_RESERVE(l.a, l.cap, 0) == 0 && l.cap == 1024);
	free(l.a);
}

static void overflow_fails_and_changes_nothing(void)
{
	struct list l = { 0 };
	CHECK(VEC_RESERVE(l.a, l.cap, 4) == 0);
	long *before = l.a;
	size_t cap = l.cap;
	CHECK(VEC_RESERVE(l.a, l.cap, SIZE_MAX / 2) == -ENOMEM);
	CHECK(VEC_RESERVE(l.a, l.cap, SIZE_MAX) == -ENOMEM);
	CHECK(l.a == before && l.cap == cap);
	free(l.a);
}

TEST_MAIN("vec", TEST(appends_keep_their_items),
	  TEST(first_growth_and_doubling),
	  TEST(overflow_fails_and_changes_nothing))

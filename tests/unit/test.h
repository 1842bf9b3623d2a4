/*
 * A tiny unit-test harness: CHECK records a failure with its line and goes
 * on, TEST_MAIN runs the named test functions and prints the closing line
 * "N passed, N failed" that CI reads.  A test function passes when none of
 * its CHECKs failed.
 */
#ifndef TRAINFS_TEST_H
#define TRAINFS_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failed_checks;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			test_failed_checks++;                                  \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *a_ = (a), *b_ = (b);                           \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                   \
			fprintf(stderr, "%s:%d: '%s' != '%s'\n", __FILE__, \
				__LINE__, a_ ? a_ : "(null)",              \
				b_ ? b_ : "(null)");                       \
			test_failed_checks++;                              \
		}                                                          \
	} while (0)

typedef void (*test_fn)(void);
struct test_case {
	const char *name;
	test_fn fn;
};

/* clang-format off */
#define TEST(name) { #name, name }
/* clang-format on */

static inline int test_run_all(const char *suite, const struct test_case *t,
			       size_t n)
{
	int passed = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		int before = test_failed_checks;
		t[i].fn();
		if (test_failed_checks == before) {
			passed++;
		} else {
			failed++;
			fprintf(stderr, "FAIL %s: %s\n", suite, t[i].name);
		}
	}
	printf("%s: %d passed, %d failed\n", suite, passed, failed);
	return failed ? 1 : 0;
}

#define TEST_MAIN(suite, ...)                                             \
	int main(void)                                                    \
	{                                                                 \
		static const struct test_case cases_[] = { __VA_ARGS__ }; \
		return test_run_all(suite, cases_,                        \
				    sizeof cases_ / sizeof cases_[0]);    \
	}

#endif

/*
 * What the libFuzzer harnesses share: an invariant check that stops the
 * run on the spot (so libFuzzer saves the input as a crash artifact), and
 * a small deterministic random stream drawn from the input itself, so a
 * saved input replays exactly the same chunk sizes and buffer lengths.
 *
 * Harnesses are built with clang -fsanitize=fuzzer,address,undefined by
 * tests/fuzz/fuzz.mk; ASan and UBSan catch memory and arithmetic faults,
 * FUZZ_CHECK catches a parser that runs cleanly but breaks its contract.
 */
#ifndef TRAINFS_FUZZ_H
#define TRAINFS_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                 \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", \
				__FILE__, __LINE__, #cond);              \
			abort();                                         \
		}                                                        \
	} while (0)

/* A xorshift64* stream seeded from a hash (FNV-1a) of the input. */
struct fuzz_rng {
	uint64_t x;
};

static inline void fuzz_rng_init(struct fuzz_rng *r, const uint8_t *data,
				 size_t size)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ULL;
	r->x = h ? h : 1;
}

/* Returns the next number of the stream, uniform below N (N > 0). */
static inline uint64_t fuzz_rng_below(struct fuzz_rng *r, uint64_t n)
{
	r->x ^= r->x >> 12;
	r->x ^= r->x << 25;
	r->x ^= r->x >> 27;
	return (r->x * 0x2545f4914f6cdd1dULL) % n;
}

/* A growing text; aborts when out of memory. */
struct text {
	char *s;
	size_t len, cap;
};

static inline void __attribute__((format(printf, 2, 3)))
text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL,
			      t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		FUZZ_CHECK(n >= 0);
		if (t->s && (size_t)n < t->cap - t->len)
			break;
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		FUZZ_CHECK(t->s != NULL);
	}
	t->len += (size_t)n;
}

#endif

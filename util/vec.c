/*
 * vec: the growth behind VEC_RESERVE (vec.h).  Capacities double from
 * VEC_FIRST until they hold what is wanted; a size that would overflow
 * size_t fails as realloc would, with nothing changed.
 */
#include "util/vec.h"

#include <stdint.h>
#include <stdlib.h>

void *vec_grow(void *items, size_t *cap, size_t want, size_t size)
{
	size_t n = *cap ? *cap : VEC_FIRST;
	if (!size)
		return NULL;
	while (n < want) {
		if (n > SIZE_MAX / 2)
			return NULL;
		n *= 2;
	}
	if (n > SIZE_MAX / size)
		return NULL;
	void *p = realloc(items, n * size);
	if (p)
		*cap = n;
	return p;
}

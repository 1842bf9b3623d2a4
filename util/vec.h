/*
 * vec: the growable array, one copy.  An array is three fields of its
 * owner's struct: the items, how many are used, how many there is room
 * for.  VEC_RESERVE makes room, doubling (from VEC_FIRST) so that appending
 * one at a time costs amortized O(1); a failed growth leaves the array as
 * it was.  No locks: the owner's lock covers its array.
 *
 *	if (VEC_RESERVE(l->a, l->cap, l->n + 1))
 *		return -ENOMEM;
 *	l->a[l->n++] = item;
 */
#ifndef TRAINFS_VEC_H
#define TRAINFS_VEC_H

#include <errno.h>
#include <stddef.h>

#define VEC_FIRST 16 /* the room of an array's first growth, at least */

/*
 * ITEMS (SIZE bytes each, room for *CAP) grown to room for at least WANT:
 * the new array (*CAP set), or NULL with ITEMS and *CAP untouched.  The
 * old ITEMS is freed or reused by realloc: use the result.
 */
void *vec_grow(void *items, size_t *cap, size_t want, size_t size);

/*
 * Room for WANT items in ITEMS (an lvalue, a pointer to them) of capacity
 * CAP (an lvalue, size_t): 0, or -ENOMEM with both as they were.
 */
#define VEC_RESERVE(items, cap, want)                                       \
	__extension__({                                                     \
		int vec_rc_ = 0;                                            \
		size_t vec_want_ = (want);                                  \
		if (vec_want_ > (cap)) {                                    \
			void *vec_p_ = vec_grow((items), &(cap), vec_want_, \
						sizeof *(items));           \
			if (vec_p_)                                         \
				(items) = vec_p_;                           \
			else                                                \
				vec_rc_ = -ENOMEM;                          \
		}                                                           \
		vec_rc_;                                                    \
	})

#endif

/*
 * compiler: the attributes that let the compiler check what a comment
 * would only promise (the kernel's __must_check).
 *
 * MUST_CHECK marks a function whose result says whether it worked (0 or
 * -errno, a descriptor or -errno, 0 or -1): a caller that drops it is a
 * build error under -Werror.  A caller that may rightly go on whatever
 * happened says so with a comment and `(void)!f(...)`: GCC does not accept
 * a plain (void) cast for this attribute (its bug 66425), the negation
 * uses the value, and clang accepts both.
 */
#ifndef TRAINFS_COMPILER_H
#define TRAINFS_COMPILER_H

#define MUST_CHECK __attribute__((warn_unused_result))

#endif

/*
 * parents: checks the folders above a store (parents.c has the design).
 */
#ifndef TRAINFS_PARENTS_H
#define TRAINFS_PARENTS_H

#include "util/compiler.h"

/*
 * Resolves GIVEN (the store folder as the user named it; it need not
 * exist yet) to an absolute path without links into *REAL (malloc'd,
 * the caller frees it), and checks that every folder above it is owned
 * by root or trainfs's own user and writable by no one else, a sticky
 * one only above a folder of root's or trainfs's own.  Returns 0,
 * -EPERM once it has said "store GIVEN: its parent 'P' is writable by
 * others", or another -errno.
 */
MUST_CHECK int store_parents_check(const char *given, char **real);

#endif

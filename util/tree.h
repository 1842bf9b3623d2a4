/*
 * tree: removing a folder and everything in it without following a
 * symbolic link or entering another filesystem (tree.c has the walk).
 */
#ifndef TRAINFS_TREE_H
#define TRAINFS_TREE_H

#include "util/compiler.h"

/*
 * Removes the folder DIRFD/NAME and everything in it without following
 * symbolic links, holding one folder open at a time.  Returns 0 (also when
 * it did not exist) or -errno, the first error met (the walk goes on past
 * it to remove what it can).
 */
MUST_CHECK int tree_remove(int dirfd, const char *name);

#endif

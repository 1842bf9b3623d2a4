/*
 * ownpaths: checks of the spec values that name the trainer's own files
 * (`weights`, `checkpoints_from`).  Pure: no I/O, no locks.
 */
#ifndef TRAINFS_OWNPATHS_H
#define TRAINFS_OWNPATHS_H

/* What stands for the epoch number in a checkpoints_from pattern. */
#define EPOCH_TOKEN "{epoch}"
#define EPOCH_TOKEN_LEN 7

/*
 * Checks a `weights` value: one or more paths apart by white space, each
 * relative (no leading '/') and without a ".." component.  Returns NULL
 * when it is good, else why not (static text).
 */
const char *ownpaths_weights_problem(const char *value);

/*
 * Checks a `checkpoints_from` pattern: relative, no "..", no white space,
 * "{epoch}" exactly once.  NULL when good, else why not (static text).
 */
const char *ownpaths_pattern_problem(const char *pattern);

#endif

/*
 * output: deleting what a cancelled job's trainer wrote.  One function,
 * the only one that does it, for the user's cancel of a job with no
 * trainer and for the supervisor once a cancelled trainer is gone.  Not
 * for use outside jobs/.
 */
#ifndef TRAINFS_OUTPUT_H
#define TRAINFS_OUTPUT_H

#include "jobs/core/registry.h"

/*
 * Moves JOB's scratch folder work/ (when the spec names no workdir of its
 * own), its output/ and its checkpoints to the store's trash, deleted by
 * the deleter thread outside every lock.  Failures are logged.  With the
 * job's lock held.
 */
void job_delete_output(struct jobs *j, struct job *job);

#endif

/*
 * worker: one job's slow step on a thread of its own, so that the
 * supervisor's thread, which serves every job, never waits for one job's
 * outside world: a launch (making the trainer's files, clearing stale
 * checkpoints and finding the one to resume from as the owner, spawning
 * the shim) and a scan of a running job's checkpoints.  Not for use
 * outside jobs/.
 *
 * Steps are rare (one per launch, one per checkpoint scan due), so each
 * gets a thread, and the job a reference for as long as it runs.  A step
 * takes its job's lock as any other code of the core does, and lets it go
 * over its slow parts (each with a deadline of its own); jobs_close()
 * waits for the steps under way before the jobs go.
 */
#ifndef TRAINFS_WORKER_H
#define TRAINFS_WORKER_H

#include "jobs/core/registry.h"
#include "util/compiler.h"

typedef void (*worker_fn)(struct jobs *j, struct job *job, void *arg);

/*
 * Runs FN(J, JOB, ARG) on a new thread, with no lock held; JOB keeps a
 * reference until FN returns.  With JOB's lock held or not.  Returns 0,
 * or -errno when no thread could be started (FN will not run).
 */
MUST_CHECK int worker_start(struct jobs *j, struct job *job, worker_fn fn,
			    void *arg);

/* Waits until every step started has returned (trainfs is closing). */
void worker_wait_all(struct jobs *j);

#endif

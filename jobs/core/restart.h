/*
 * restart: `echo restart > control` on a ready, failed or cancelled job:
 * queued again, to run from the beginning with the spec as it is now (a
 * failed job is fixed in place: correct the spec, then restart).  Not for
 * use outside jobs/.
 *
 * What goes: the metrics rows, so the graph too, the checkpoints, the
 * weights, the bad metric lines, the outcome (reason, error) and the
 * system tags ready, stopped-early, converged, completed, cancelled,
 * failed and pruned.  What stays: the user tags, the log (appended to)
 * and every event, to which "queued restarted" is added.
 *
 * The store first: every check is made, then the new record, the event
 * and the deletions are one transaction, and only once it is committed is
 * the job in memory changed and its old files removed.  A refused or
 * failed restart leaves the job as it was.
 */
#ifndef TRAINFS_RESTART_H
#define TRAINFS_RESTART_H

#include <stddef.h>

#include "jobs/core/registry.h"
#include "util/compiler.h"

/* The event reason of a restart ("TIME queued restarted"). */
#define RESTART_REASON "restarted"

/*
 * Whether JOB may be started now, as start and restart ask: its spec is
 * good, trainfs can run jobs as its owner, its workdir can be entered, and
 * the mount has the GPUs it needs.  The workdir was checked before the
 * lock was taken, into C.  0, or -EINVAL / -EACCES / -EAGAIN with why in
 * WHY.  With the job's lock held.
 */
MUST_CHECK int job_runnable(struct jobs *j, const struct job *job,
			    const struct start_check *c, char *why, size_t len);

/*
 * Restarts JOB (ready, failed or cancelled: the state table's check is
 * the caller's), with its lock held.  Returns 0; or a negative errno with
 * why it was refused in WHY (-EINVAL a bad spec, a workdir it cannot
 * enter, more GPUs than the mount has; -EACCES an owner trainfs cannot
 * run as; -EBUSY a cancelled trainer still ending); or a negative errno
 * with WHY "" when the store failed (logged).  Nothing is changed unless
 * it returns 0.
 */
MUST_CHECK int job_restart(struct jobs *j, struct job *job,
			   const struct start_check *c, char *why, size_t len);

#endif

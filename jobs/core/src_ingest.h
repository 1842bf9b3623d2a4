/*
 * src_ingest: the supervisor's side of a job's metrics_from (source.h):
 * when to follow it, and one bounded step of it in one store transaction,
 * as the metrics file is taken.  Not for use outside jobs/.
 *
 * A step's rows go into the job's table through job_add_row() (a line
 * for an epoch that has a row fills it in), each changed row is stored,
 * and the source's position is committed in the job's record
 * (rec.source_pos) with them.  When the commit fails, the table, the
 * record and the source go back to where they were and the same records
 * are read again later.  Bad records count in the job's bad metric lines
 * with their file and number.
 */
#ifndef TRAINFS_SRC_INGEST_H
#define TRAINFS_SRC_INGEST_H

#include "jobs/core/registry.h"
#include "util/compiler.h"

/*
 * Where the spec's metrics_from is, into BUF of LEN: as written when
 * absolute, else relative to the workdir, or to the job's scratch folder
 * without one.  Returns 0 or -ENAMETOOLONG.
 */
MUST_CHECK int src_ingest_path(struct jobs *j, struct job *job, char *buf,
			       size_t len);

/*
 * With the job's lock: starts following the spec's metrics_from (relative
 * to the workdir, or the job's scratch folder without one) from where
 * the record says it was read to.  No metrics_from: nothing.  Returns 0
 * or -ENOMEM.
 */
MUST_CHECK int src_ingest_open(struct jobs *j, struct job *job);

/* With the job's lock: stops following it (the record keeps the place). */
void src_ingest_close(struct job *job);

/* What src_ingest_step() did. */
enum { SRC_INGEST_DONE, SRC_INGEST_MORE, SRC_INGEST_FAILED, SRC_INGEST_BUSY };

/*
 * With the job's lock: one bounded step (FINAL: the trainer has ended).
 * Sets *STOP when the policy says the job converged.  Returns an
 * SRC_INGEST_* value (BUSY: the store was busy, nothing was done).
 */
int src_ingest_step(struct jobs *j, struct job *job, int final, int *stop);

#endif

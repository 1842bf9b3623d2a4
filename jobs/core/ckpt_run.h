/*
 * ckpt_run: the checkpoints of running and resumed jobs (`keep`,
 * `checkpoints` and `resume` in trainfs(1)), between the supervisor and jobs/artifacts/checkpoint.c.  Not for
 * use outside jobs/.
 *
 * The supervisor calls it from a few hook points (launch, the trainer's
 * environment, each round of a running job, the trainer's end, packing,
 * cancel); resume.c and restart.c call ckpt_resume_files(), and the one
 * cancel path (output.c) ckpt_delete().  Calls go one way: this file calls
 * the job core (registry.c, job.c), never the other way.  The slow parts
 * (reading the checkpoints folder, deleting checkpoints) run with no lock:
 * a scan with none, the plan under the job's lock, the deletion with none
 * again, in a helper process with the owner's rights (checkpoint_prune()).
 *
 * What it keeps in the job's record: rec.checkpoint (the newest kept, for
 * status and for resume), rec.weights_from (the checkpoint the tarball is
 * packed from, -1 for the output) and rec.resumed_from (the epoch the job
 * was last resumed from, so a launch after a kill -9 still resumes).
 */
#ifndef TRAINFS_CKPT_RUN_H
#define TRAINFS_CKPT_RUN_H

#include <stddef.h>

#include "jobs/core/registry.h"
#include "util/compiler.h"

/* The job's checkpoints folder, relative to its store folder. */
#define CKPT_DIR "checkpoints"

/*
 * A launch after a resume deletes what the checkpoints folder holds past
 * rec.resumed_from (stale checkpoints of the epochs to be trained again,
 * temporary folders) and, with checkpoints_from, finds the trainer's own
 * checkpoint to resume from (job->ckpt_resume_path), both with the
 * owner's rights, in three steps: the plan with the job's lock (the
 * copies the work needs; NULL: nothing to do, or a failure, logged), the
 * work with no lock held (failures logged: the launch goes on), and done
 * with the job's lock again (the path found; frees the plan; NULL: none).
 */
struct ckpt_launch;
struct ckpt_launch *ckpt_launch_plan(struct jobs *j, struct job *job);
void ckpt_launch_work(struct ckpt_launch *c);
void ckpt_launch_done(struct job *job, struct ckpt_launch *c);

/*
 * Appends the trainer's TRAINFS_CHECKPOINTS, TRAINFS_EPOCHS (spec epochs
 * set) and, after a resume, TRAINFS_RESUME_FROM and TRAINFS_RESUME_EPOCH
 * to ENV at *K (room for 4 more).  DIR: the job's store folder.  A failed
 * allocation leaves a NULL the caller sees.
 */
void ckpt_env(const struct job *job, const char *dir, char **env, size_t *k);

/*
 * A round of a running job, with no lock held: when a new epoch was
 * reported (or a second has passed), scans the folder, plans under the
 * job's lock (rec.checkpoint) and deletes what retention drops.  The
 * trainer's own checkpoints (checkpoints_from, read by a helper process
 * as the owner, with a deadline) are scanned on a thread of their own
 * (worker.h); the store's checkpoints folder, read without ever waiting
 * on another filesystem, here.  Takes the job's lock only if it is free.
 */
void ckpt_round(struct jobs *j, struct job *job);

/*
 * The trainer ended and every metrics line is in: the last scan, plan
 * and prune before the job leaves running or stopping; sets
 * rec.checkpoint and rec.weights_from.  Called with the job's lock held
 * until it returns 1 (done: the job may go on to its outcome); 0: the
 * scan of the trainer's own checkpoints runs on a thread of its own
 * (worker.h), call again later.  WAIT
 * (at recovery, before anything is served): the scan runs here, the
 * lock let go meanwhile and held again on return (the caller re-reads
 * the state), and it returns 1.
 */
MUST_CHECK int ckpt_final(struct jobs *j, struct job *job, int wait);

/*
 * Whether the job has weights to pack: a chosen checkpoint, or `weights`
 * (whose matches the packer looks for, as the owner).
 */
int ckpt_has_weights(const struct job *job);

/*
 * The folder the packer is given: checkpoints/epoch-W, or output, or the
 * workdir for `weights` and for a chosen checkpoints_from match.
 */
MUST_CHECK int ckpt_pack_source(struct jobs *j, const struct job *job,
				char *buf, size_t len);

/*
 * The packer's arguments after its manifest, into ARGS (pointers into
 * JOB's spec, and BUF for the epoch): "weights VALUE" with `weights`,
 * "checkpoint PATTERN EPOCH" for a chosen checkpoints_from match (EPOCH in
 * the trainer's own numbering), else none.  Returns how many were set.
 */
size_t ckpt_pack_args(const struct job *job, char *args[3], char *buf,
		      size_t len);

/*
 * Cancel: moves the checkpoints folder to the store's trash (deleted by
 * the deleter thread, outside every lock, never following a link) and
 * forgets the kept ones.  With the job's lock held.
 */
void ckpt_delete(struct jobs *j, struct job *job);

/*
 * Resume, with the job's lock: unlinks the files the last run left that
 * would make a queued job look launched after a restart (the executor's
 * exit record, trainer record and socket) and the stop file.
 */
void ckpt_resume_files(struct jobs *j, struct job *job);

#endif

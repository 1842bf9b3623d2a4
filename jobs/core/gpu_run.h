/*
 * gpu_run: the GPUs of local jobs, between the supervisor, job.c and the
 * pure pool of jobs/model/gpus.c.  Not for use outside jobs/.
 *
 * A local job with `gpus = N` is handed N ids of the mount's pool when it
 * launches; they are written to its record (rec.gpus) in the store before
 * the trainer starts, so a remount or a kill -9 of trainfs finds them held
 * while that trainer lives, and given back when its whole process group
 * has ended (the supervisor's trainer_ended).  The free GPUs are never
 * kept anywhere: each round works them out from the pool and the records.
 * Only the supervisor thread hands out or gives back GPUs.
 */
#ifndef TRAINFS_GPU_RUN_H
#define TRAINFS_GPU_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "jobs/core/registry.h"
#include "util/compiler.h"

/*
 * Whether JOB (spec parsed, to run on this machine) fits the mount's pool
 * at all: 0, or -EINVAL with "needs 8 GPUs; this machine has 4" in WHY.
 */
MUST_CHECK int gpu_run_check(struct jobs *j, const struct job *job, char *why,
			     size_t len);

/*
 * The ids JOB holds that no other job may get, into IDS (room for MAX);
 * returns how many.  A queued job not yet launched holds none.  With the
 * job's lock held.
 */
size_t gpu_run_held(const struct job *job, int *ids, size_t max);

/* When JOB was last queued (start, resume, restart): the queue's order. */
int64_t gpu_run_queued_ns(const struct job *job);

/*
 * Gives JOB the GPU ids IDS ("1,3"; "" for none) and stores its record
 * before its trainer starts.  Returns 0, or -errno with JOB as it was.
 * With the job's lock held.
 */
MUST_CHECK int gpu_run_hold(struct jobs *j, struct job *job, const char *ids);

/*
 * The trainer of JOB has ended: its GPUs are free again (in memory; the
 * caller's next store of the record keeps it).  With the job's lock held.
 */
void gpu_run_release(struct job *job);

/*
 * Sets JOB's waiting line (LINE, "" for none) and refreshes its status
 * when it changed.  With the job's lock held.
 */
void gpu_run_waiting(struct jobs *j, struct job *job, const char *line);

/*
 * Appends CUDA_VISIBLE_DEVICES and TRAINFS_GPUS (the held ids) to ENV at
 * *K when JOB holds GPUs (room for 2 more).  A failed allocation leaves a
 * NULL the caller sees.
 */
void gpu_run_env(const struct job *job, char **env, size_t *k);

/* Whether ENTRY ("NAME=VALUE") of trainfs's environment is replaced by gpu_run_env(). */
int gpu_run_env_overrides(const struct job *job, const char *entry);

/*
 * The --gpus=N of a Slurm job ("gpus=2"), into BUF, or "" when it asks for
 * none or names its own with slurm.gpus or slurm.gres.  Returns BUF.
 */
char *gpu_run_slurm_opt(const struct job *job, char *buf, size_t len);

#endif

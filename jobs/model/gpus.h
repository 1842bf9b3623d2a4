/*
 * gpus: the mount's GPUs and the choice of which queued jobs run next.
 *
 * Pure: no job, lock, store or process here, only lists of ids and the
 * queue as the supervisor sees it at one moment, so the order and the
 * backfill are unit-tested alone.  A GPU is a small whole number, the id
 * CUDA_VISIBLE_DEVICES takes.  Which GPUs a job holds is kept in its
 * stored record as text ("1,3"), so a remount finds them held again; the
 * free ones are the pool minus every job's held ids, worked out afresh at
 * each scheduling round.
 */
#ifndef TRAINFS_GPUS_H
#define TRAINFS_GPUS_H

#include <stddef.h>
#include <stdint.h>
#include "util/compiler.h"

#define GPUS_MAX 64	  /* GPUs in a pool */
#define GPUS_ID_MAX 9999  /* the largest id */
#define GPUS_TEXT_MAX 384 /* "0,1,...": GPUS_MAX ids of 4 digits, commas, NUL */

/* The mount's GPUs, in the order given (the order they are handed out). */
struct gpu_pool {
	int ids[GPUS_MAX];
	size_t n;
};

/*
 * Reads TEXT as a list of ids apart by ',' or ':' ("0,1,2", "0:1:2"), or
 * "none" for no GPU.  Returns 0 and fills *POOL, or -1 with the reason in
 * ERR ("bad GPU id 'x'", "GPU 1 is listed twice", "more than 64 GPUs").
 */
MUST_CHECK int gpus_parse_list(const char *text, struct gpu_pool *pool,
			       char *err, size_t errlen);

/*
 * Finds the NVIDIA GPUs of this machine without nvidia-smi: one folder
 * per GPU in PROC_DIR (the driver's /proc/driver/nvidia/gpus/), else, when
 * that folder cannot be read, one /dev/nvidiaN device per GPU in DEV_DIR
 * (/dev).  The ids are 0 to N-1, as CUDA numbers N GPUs.  Always 0: no
 * GPU is an empty pool.
 */
int gpus_detect(const char *proc_dir, const char *dev_dir,
		struct gpu_pool *pool);

/* Writes IDS (N of them) as "1,3" into BUF (LEN); returns BUF. */
char *gpus_format(const int *ids, size_t n, char sep, char *buf, size_t len);

/*
 * Reads held ids "1,3" (TEXT may be NULL or "") into IDS (room for MAX);
 * returns how many.  What is not an id is skipped.
 */
size_t gpus_parse_held(const char *text, int *ids, size_t max);

/* Why a queued job does not run yet. */
enum gpus_wait { GPUS_WAIT_NONE, GPUS_WAIT_SLOT, GPUS_WAIT_GPUS };

/* A queued job, as one round of scheduling sees it. */
struct gpus_queued {
	int64_t queued_ns; /* when it was queued: earlier runs first */
	int64_t job_id;	   /* ties: the older job first */
	long need;	   /* GPUs it needs (0: none) */
	int local;	   /* on this machine: counts against the slots and
			      the pool (a Slurm job counts against neither) */
	/* Filled by gpus_schedule(): */
	int launch;		 /* run it now */
	char ids[GPUS_TEXT_MAX]; /* launch: the ids it gets ("1,3"), or "" */
	enum gpus_wait wait;	 /* not launched: why */
	long free; /* GPUS_WAIT_GPUS: the GPUs free when it was seen */
};

/*
 * Decides which of the N queued jobs Q run now.  Sorts Q by queued_ns
 * then job_id, and goes through it in that order: a local job runs when
 * a slot is free (RUNNING local jobs of at most MAX_RUNNING, <= 0 for no
 * limit) and its need is at most the GPUs free (POOL minus the NHELD ids
 * HELD), taking the first free ones in pool order; one that does not fit
 * waits without holding back a later one that does (backfill), so no slot
 * or GPU is left idle while a queued job could use it.  Slurm jobs always
 * run (Slurm queues them).  Returns the local jobs running once those
 * launched have started.
 */
long gpus_schedule(const struct gpu_pool *pool, const int *held, size_t nheld,
		   long running, long max_running, struct gpus_queued *q,
		   size_t n);

/*
 * The waiting line of a job gpus_schedule() did not launch, into BUF:
 * "2 GPUs (1 free)" or "a free slot (2 of 2 running)" (RUNNING: what
 * gpus_schedule() returned); "" when it is not waiting.  Returns BUF.
 */
char *gpus_waiting(const struct gpus_queued *q, long running, long max_running,
		   char *buf, size_t len);

/*
 * The --gpus=N a Slurm job gets from its spec's gpus: NEED, or 0 (none)
 * when its own slurm.gpus or slurm.gres says what it needs (HAS_OWN).
 */
long gpus_slurm_count(long need, int has_own);

#endif

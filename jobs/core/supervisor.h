/*
 * supervisor.h: what the supervisor's files share.  Not for use outside
 * them; job.c and fs/ reach the supervisor only through registry.h
 * (jobs_start_supervisor, jobs_wake) and a job's state.
 *
 * The supervisor is one thread (supervisor.c: the loop and scheduling)
 * whose moves are split by concern, one file each:
 *
 *   ingest.c   takes in a trainer's metrics file in bounded steps, and
 *              stops a converged job (auto-stop)
 *   launch.c   the trainer's folders, environment and executor: a launch
 *   outcome.c  what a trainer's end means (a table of state x end)
 *   publish.c  the packer process (trainfs __pack) and publishing its
 *              tarball as weights/NAME.tar
 *   recover.c  re-adopting at mount what the last trainfs left running
 *   busy.c     whether a trainer or packer may still be alive, and
 *              failing a job: the moves every other file makes
 *
 * Owner: every function here runs on the supervisor's thread (or before it
 * starts, at mount) with the job's lock held, unless its comment says
 * otherwise; none takes the registry lock or another job's lock.  Names
 * start with sv_ so a reader knows they are the supervisor's.
 */
#ifndef TRAINFS_SUPERVISOR_H
#define TRAINFS_SUPERVISOR_H

#include <stdint.h>
#include <string.h>

#include "jobs/core/registry.h"
#include "util/compiler.h"
#include "util/log.h"

/* What a step of ingest did; BUSY: the store was busy, nothing was done. */
enum { INGEST_DONE, INGEST_MORE, INGEST_FAILED, INGEST_BUSY };

/* Failed commits of the last metrics before giving them up (~5 s). */
#define FINAL_STORE_TRIES 250

/* ---- outcome.c ---- */

/* Marks JOB busy (a trainer or packer may be alive) or idle. */
void sv_set_busy(struct jobs *j, struct job *job, int busy);

/* Ends JOB as failed with the error FMT. */
void sv_fail(struct jobs *j, struct job *job, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Asks JOB's executor for news of its run; takes in its end once. */
void sv_watch_run(struct jobs *j, struct job *job);

/* The executor says JOB's trainer is gone: its end is taken in later. */
void sv_trainer_gone(struct jobs *j, struct job *job);

/* A round of a job whose trainer is gone; INGEST_MORE while steps remain. */
int sv_end_step(struct jobs *j, struct job *job);

/* Releases JOB's run once its executor has nothing left to reap. */
void sv_settle_run(struct job *job);

/* ---- ingest.c ---- */

/* A bounded step of JOB's metrics file (FINAL: its trainer ended). */
int sv_ingest_metrics(struct jobs *j, struct job *job, int final);

/* A step of JOB's metrics_from source; the same INGEST_* values. */
int sv_source_round(struct jobs *j, struct job *job, int final);

/* Starts taking in JOB's metrics where the store left off; 0 or -errno. */
MUST_CHECK int sv_open_metrics(struct jobs *j, struct job *job);

/*
 * sv_open_metrics() where the run goes on without them: a failure is
 * logged as "job 'x': cannot read its metrics: ...".
 */
static inline void sv_open_metrics_logged(struct jobs *j, struct job *job)
{
	int rc = sv_open_metrics(j, job);
	if (rc)
		log_error("job '%s': cannot read its metrics: %s\n",
			  job->rec.name, strerror(-rc));
}

/* Closes JOB's metrics file and source. */
void sv_close_metrics(struct job *job);

/* Stops JOB as converged by its auto-stop rule. */
void sv_autostop(struct jobs *j, struct job *job);

/* ---- publish.c ---- */

/* Starts JOB's packer (JOB is packaging already); 0 or -errno. */
MUST_CHECK int sv_spawn_packer(struct jobs *j, struct job *job);

/* Moves JOB to packaging with WHY and TAGS and starts its packer. */
void sv_start_packing(struct jobs *j, struct job *job, const char *why,
		      const char *const *tags);

/* Kills the packer of a job cancelled or renamed while packing. */
void sv_abort_packing(struct job *job);

/* Takes in the packer's progress and error lines. */
void sv_read_packer(struct jobs *j, struct job *job);

/* The packer exited with STATUS: publishes the tarball or fails JOB. */
void sv_packing_ended(struct jobs *j, struct job *job, int status);

/* The path of the tarball being written; 0 or -errno. */
MUST_CHECK int sv_weights_tmp_path(struct jobs *j, const struct job *job,
				   char *buf, size_t len);

/* Removes a temporary tarball named the old way (".NAME.tar.tmp"). */
void sv_unlink_named_tmp(struct jobs *j, const struct job *job);

/* ---- launch.c ---- */

/*
 * Hands JOB (locked, queued) to a launch of its own thread, which starts
 * its trainer through its executor, or fails JOB; quick.
 */
void sv_launch(struct jobs *j, struct job *job);

/* Where JOB's trainer runs (the spec's executor, else the mount's). */
struct executor *sv_executor_of(struct jobs *j, struct job *job);

/* Takes in what JOB's executor says of its run (status, start, limit). */
void sv_run_status(struct jobs *j, struct job *job);

/* ---- recover.c ---- */

/* After a restart: finds JOB's trainer again, or redoes its packing. */
void sv_recover(struct jobs *j, struct job *job);

#endif

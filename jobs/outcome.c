/*
 * outcome: what a trainer's end means.  When the executor says a trainer
 * is gone (sv_trainer_gone), the job stays running or stopping until its
 * last metrics are in (sv_end_step); then its exit record and its state
 * pick the next move from one table, outcome_moves[state][end] (as
 * s6-supervise's actions[state][event]): pack the weights, fail with a
 * reason, or delete a cancelled job's output.  Failing a job (sv_fail)
 * and marking it busy or idle (sv_set_busy) live here too.
 *
 * Locks: called on the supervisor's thread with the job's lock held.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/cause.h"
#include "jobs/ckpt_run.h"
#include "jobs/gpu_run.h"
#include "jobs/supervisor.h"
#include "util/log.h"

/*
 * BUSY: a trainer or packer may still be alive.  A run counts too until
 * its executor has reaped it: a job removed before that would leave the
 * local shim a zombie for as long as trainfs runs.
 */

void sv_set_busy(struct jobs *j, struct job *job, int busy)
{
	job_assert_locked(job);
	job->busy = busy || job->run != NULL;
	if (!job->busy && job->delete_when_idle) { /* control_cancel */
		job->delete_when_idle = 0;
		sv_delete_output(j, job);
	}
	if (!job->busy)
		pthread_cond_broadcast(&job->idle);
}

/*
 * Deletes what a cancelled job's trainer wrote, its output and scratch:
 * moved to the store's trash now, deleted by its deleter thread.
 */
void sv_delete_output(struct jobs *j, struct job *job)
{
	int rc = 0;
	/* The scratch first: once the output is gone, all of it is. */
	if (!job->spec.workdir)
		rc = store_trash(j->store, job->rec.id, "work");
	if (!rc)
		rc = store_trash(j->store, job->rec.id, "output");
	if (rc)
		log_error( "job '%s': cannot delete its "
			"output: %s\n", job->rec.name, strerror(-rc));
	ckpt_delete(j, job); /* hook: checkpoints */
}

static int output_is_empty(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX];
	if (jobs_path(j, job, "output", dir, sizeof dir))
		return 1;
	DIR *d = opendir(dir);
	if (!d)
		return 1;
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}


/* Ends JOB as failed with the error FMT. */
void sv_fail(struct jobs *j, struct job *job, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warn( "job '%s': failed: %s\n", job->rec.name, msg);
	free(job->rec.error);
	job->rec.error = strdup(msg);
	if (!job->rec.finished_ns)
		job->rec.finished_ns = job_now_ns();
	sv_set_busy(j, job, 0);
	job_set_state(j, job, ST_FAILED, msg,
		      (const char *[]){ "failed", NULL });
}

/* ---- metrics ---- */

/* ---- trainers ---- */

static void trainer_outcome(struct jobs *j, struct job *job, int lost,
			    const struct exec_exit *ep);

/* The trainer's process group is gone (or its shim is): decide the outcome. */
static void trainer_ended(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX];
	struct exec_exit e = { 0 };
	const struct executor_ops *ops = job->exec->ops;
	sv_close_metrics(job);
	gpu_run_release(job); /* the whole group is gone: stored below */
	jobs_path(j, job, "", dir, sizeof dir);
	int lost = ops->read_exit(dir, &e) != 0;
	if (lost)
		ops->clean_orphan(dir);
	/* When it ended, not when we heard: the same after any restart. */
	job->rec.finished_ns = !lost && e.time_ns ? e.time_ns : job_now_ns();
	/* And so are the events of its end (not "weights ready": later). */
	job->event_at_ns = job->rec.finished_ns;
	trainer_outcome(j, job, lost, &e);
	job->event_at_ns = 0;
}

/* The state that follows the end E (none: LOST) of JOB's trainer. */
static void trainer_outcome(struct jobs *j, struct job *job, int lost,
			    const struct exec_exit *ep)
{
	struct exec_exit e = *ep;
	/* The shim stopped it by the policy (trainfs was away): converged. */
	if (job->rec.state == ST_RUNNING && !lost && e.autostopped)
		sv_autostop(j, job);

	switch (job->rec.state) {
	case ST_CANCELLED:
		sv_delete_output(j, job);
		sv_set_busy(j, job, 0);
		job_touch(j, job, VIEW_BIT(VIEW_STATUS));
		job_save(j, job);
		break;
	case ST_QUEUED:
	case ST_STOPPING:
	case ST_RUNNING:
		if (job->exec_error) {
			sv_fail(j, job, "%s", job->exec_error);
			break;
		}
		if (job->rec.state != ST_STOPPING)
			goto running;
		if (!ckpt_has_weights(job) && output_is_empty(j, job))
			sv_fail(j, job, "no weights were saved (stopped before "
				     "the trainer saved any)");
		else
			sv_start_packing(j, job, "trainer stopped", NULL);
		break;
	running:
		if (lost)
			sv_fail(j, job, "trainer lost: its shim exited without "
				     "recording a status");
		else if (e.signal || e.code != 0) {
			char why[1024], log[PATH_MAX];
			int nolog = jobs_path(j, job, "log", log, sizeof log);
			sv_fail(j, job, "%s", cause_describe(why, sizeof why, e.code,
							  e.signal,
							  nolog ? NULL : log));
		}
		else if (!ckpt_has_weights(job) && output_is_empty(j, job))
			sv_fail(j, job, "no weights were saved");
		else {
			free(job->rec.reason);
			job->rec.reason = strdup("completed");
			sv_start_packing(j, job, "trainer exited with status 0",
				      (const char *[]){ "completed", NULL });
		}
		break;
	default:
		sv_set_busy(j, job, 0);
		job_save(j, job);
	}
}

/* Releases JOB's run once its executor has nothing left to reap. */
void sv_settle_run(struct job *job)
{
	if (job->run && job->exec->ops->reap(job->run)) {
		job->exec->ops->release(job->run);
		job->run = NULL;
	}
}


/* Asks JOB's executor for news of its run; takes in its end once. */
void sv_watch_run(struct jobs *j, struct job *job)
{
	if (job->run && !job->run_over && job->exec->ops->poll(job->run)) {
		job->run_over = 1;
		sv_trainer_gone(j, job);
	}
}

/*
 * The executor says the trainer is gone (or what owned it is): a trainer
 * left without an owner is killed now (clean_orphan), so the metrics
 * file stops growing.  The outcome waits until every line is in
 * (sv_end_step()): the job stays running or stopping until then.
 */
void sv_trainer_gone(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX];
	struct exec_exit e;
	char why[512];
	job->ended = 1;
	if (job->run && job->exec->ops->verdict &&
	    job->exec->ops->verdict(job->run, why, sizeof why)) {
		free(job->exec_error);
		job->exec_error = strdup(why);
	}
	if (job->run)
		sv_run_status(j, job); /* "job 41", no more "on node1" */
	if (!jobs_path(j, job, "", dir, sizeof dir) &&
	    job->exec->ops->read_exit(dir, &e) != 0)
		job->exec->ops->clean_orphan(dir);
	sv_settle_run(job);
}

/*
 * One round of a job whose trainer is gone: a step of its last metrics,
 * then, once all are in (or cannot be stored for FINAL_STORE_TRIES
 * rounds), its outcome.  A cancelled job's metrics no longer matter.
 * Returns INGEST_MORE while steps remain.
 */
int sv_end_step(struct jobs *j, struct job *job)
{
	int r = INGEST_DONE;
	if (job->rec.state != ST_CANCELLED && job->metrics_fd >= 0)
		r = sv_ingest_metrics(j, job, 1);
	if (r == INGEST_DONE && job->rec.state != ST_CANCELLED)
		r = sv_source_round(j, job, 1); /* hook: metrics_from */
	if (r == INGEST_MORE || r == INGEST_BUSY ||
	    (r == INGEST_FAILED && job->store_failures < FINAL_STORE_TRIES))
		return r;
	if (r == INGEST_FAILED)
		log_error( "job '%s': its last metrics could not be stored; "
			"ending without them\n", job->rec.name);
	job->ended = 0;
	ckpt_final(j, job); /* hook: lets the lock go while it reads/deletes */
	trainer_ended(j, job);
	return INGEST_DONE;
}


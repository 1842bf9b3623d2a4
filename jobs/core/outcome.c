/*
 * outcome: what a trainer's end means.  When the executor says a trainer
 * is gone (sv_trainer_gone), the job stays running or stopping until its
 * last metrics are in (sv_end_step); then its exit record and its state
 * pick the next move from one table, outcome_moves[state][end] (as
 * s6-supervise's actions[state][event]): pack the weights, fail with a
 * reason, or delete a cancelled job's output.
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

#include "jobs/model/cause.h"
#include "jobs/core/ckpt_run.h"
#include "jobs/core/gpu_run.h"
#include "jobs/core/output.h"
#include "jobs/core/supervisor.h"
#include "util/log.h"

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

/* ---- metrics ---- */

/* ---- trainers ---- */

/*
 * For a trainer that left no exit record in DIR: its executor removes
 * what it left and kills what still runs of it; a failure is logged.
 */
static void clean_orphan(const struct job *job, const char *dir)
{
	int rc = job->exec->ops->clean_orphan(dir);
	if (rc)
		log_error("job '%s': cannot clean up after its lost "
			  "trainer in '%s': %s\n",
			  job->rec.name, dir, strerror(-rc));
}

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
	/* A folder too long to name has no exit record to read: lost. */
	int named = !jobs_path(j, job, "", dir, sizeof dir);
	int lost = !named || ops->read_exit(dir, &e) != 0;
	if (lost && named)
		clean_orphan(job, dir);
	/* When it ended, not when we heard: the same after any restart. */
	job->rec.finished_ns = !lost && e.time_ns ? e.time_ns : job_now_ns();
	/* And so are the events of its end (not "weights ready": later). */
	job->event_at_ns = job->rec.finished_ns;
	trainer_outcome(j, job, lost, &e);
	job->event_at_ns = 0;
}

/*
 * The outcome table.  A trainer's end is one of END_COUNT events: how it
 * ended (the backend failed it, its shim left no exit record, it exited
 * with an error or by a signal, it exited 0), each with or without weights
 * saved (a checkpoint, or anything in output/).  The job's state at that
 * moment picks the row; the cell is the move.  A stopped trainer's exit
 * status does not matter (a stop signal often ends it by that signal):
 * what it saved does.
 */
enum end_event {
	END_BACKEND, /* the executor failed it (exec_error) */
	END_LOST,    /* no exit record */
	END_LOST_WEIGHTS,
	END_ERROR, /* a non-zero status, or a signal */
	END_ERROR_WEIGHTS,
	END_CLEAN, /* status 0 */
	END_CLEAN_WEIGHTS,
	END_COUNT
};

enum end_row { ROW_RUNNING, ROW_STOPPING, ROW_CANCELLED, ROW_OTHER, ROW_COUNT };

struct ending {
	struct jobs *j;
	struct job *job;
	struct exec_exit e;
};

typedef void end_move(const struct ending *x);

static void move_fail_backend(const struct ending *x)
{
	sv_fail(x->j, x->job, "%s", x->job->exec_error);
}

static void move_fail_lost(const struct ending *x)
{
	sv_fail(x->j, x->job,
		"trainer lost: its shim exited without "
		"recording a status");
}

static void move_fail_error(const struct ending *x)
{
	char why[1024], log[PATH_MAX];
	int nolog = jobs_path(x->j, x->job, "log", log, sizeof log);
	sv_fail(x->j, x->job, "%s",
		cause_describe(why, sizeof why, x->e.code, x->e.signal,
			       nolog ? NULL : log));
}

static void move_fail_empty(const struct ending *x)
{
	sv_fail(x->j, x->job, "no weights were saved");
}

static void move_pack_completed(const struct ending *x)
{
	free(x->job->rec.reason);
	x->job->rec.reason = strdup("completed");
	sv_start_packing(x->j, x->job, "trainer exited with status 0",
			 (const char *[]){ "completed", NULL });
}

static void move_fail_stopped_empty(const struct ending *x)
{
	sv_fail(x->j, x->job,
		"no weights were saved (stopped before "
		"the trainer saved any)");
}

static void move_pack_stopped(const struct ending *x)
{
	sv_start_packing(x->j, x->job, "trainer stopped", NULL);
}

static void move_discard(const struct ending *x)
{
	job_delete_output(x->j, x->job);
	sv_set_busy(x->j, x->job, 0);
	job_touch(x->j, x->job, VIEW_BIT(VIEW_STATUS));
	job_save_logged(x->j, x->job);
}

static void move_settle(const struct ending *x)
{
	sv_set_busy(x->j, x->job, 0);
	job_save_logged(x->j, x->job);
}

/* outcome_moves[state's row][end]: what the supervisor does. */
static end_move *const outcome_moves[ROW_COUNT][END_COUNT] = {
	[ROW_RUNNING] = {
		[END_BACKEND] = move_fail_backend,
		[END_LOST] = move_fail_lost,
		[END_LOST_WEIGHTS] = move_fail_lost,
		[END_ERROR] = move_fail_error,
		[END_ERROR_WEIGHTS] = move_fail_error,
		[END_CLEAN] = move_fail_empty,
		[END_CLEAN_WEIGHTS] = move_pack_completed,
	},
	[ROW_STOPPING] = {
		[END_BACKEND] = move_fail_backend,
		[END_LOST] = move_fail_stopped_empty,
		[END_LOST_WEIGHTS] = move_pack_stopped,
		[END_ERROR] = move_fail_stopped_empty,
		[END_ERROR_WEIGHTS] = move_pack_stopped,
		[END_CLEAN] = move_fail_stopped_empty,
		[END_CLEAN_WEIGHTS] = move_pack_stopped,
	},
	[ROW_CANCELLED] = {
		move_discard, move_discard, move_discard, move_discard,
		move_discard, move_discard, move_discard,
	},
	[ROW_OTHER] = {
		move_settle, move_settle, move_settle, move_settle,
		move_settle, move_settle, move_settle,
	},
};

static enum end_row end_row_of(enum job_state s)
{
	switch (s) {
	case ST_QUEUED: /* a Slurm job that ended before it was seen running */
	case ST_RUNNING:
		return ROW_RUNNING;
	case ST_STOPPING:
		return ROW_STOPPING;
	case ST_CANCELLED:
		return ROW_CANCELLED;
	default:
		return ROW_OTHER;
	}
}

/*
 * The event of X's end (LOST: no exit record).  Whether weights were
 * saved is looked at only where the row's move depends on it.
 */
static enum end_event end_event_of(const struct ending *x, enum end_row row,
				   int lost)
{
	enum end_event how;
	if (row == ROW_CANCELLED || row == ROW_OTHER)
		return END_CLEAN;
	if (x->job->exec_error)
		return END_BACKEND;
	how = lost		       ? END_LOST :
	      x->e.signal || x->e.code ? END_ERROR :
					 END_CLEAN;
	/* A failed run's weights matter only once it was stopped. */
	if (row == ROW_RUNNING && how != END_CLEAN)
		return how;
	if (!ckpt_has_weights(x->job) && output_is_empty(x->j, x->job))
		return how;
	return how + 1; /* the _WEIGHTS twin */
}

/* The state that follows the end E (none: LOST) of JOB's trainer. */
static void trainer_outcome(struct jobs *j, struct job *job, int lost,
			    const struct exec_exit *ep)
{
	struct ending x = { .j = j, .job = job, .e = *ep };
	/* The shim stopped it by the policy (trainfs was away): converged. */
	if (job->rec.state == ST_RUNNING && !lost && x.e.autostopped)
		sv_autostop(j, job);
	enum end_row row = end_row_of(job->rec.state);
	outcome_moves[row][end_event_of(&x, row, lost)](&x);
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
		clean_orphan(job, dir);
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
		log_error("job '%s': its last metrics could not be stored; "
			  "ending without them\n",
			  job->rec.name);
	/* Hook: the last checkpoint scan, on its own thread once served. */
	if (!ckpt_final(j, job, !j->supervising))
		return INGEST_BUSY;
	job->ended = 0;
	trainer_ended(j, job);
	return INGEST_DONE;
}

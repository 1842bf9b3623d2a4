/*
 * restart: see restart.h.  Checks, the old run's traces, one store
 * transaction, then memory, then the old run's files.
 *
 * The checks are start's (job_runnable()), since a restart starts the job
 * anew with its spec as it is now.  The new record is built beside the
 * job's and stored; the job takes it over only once the commit succeeded,
 * so a full disk or a busy database leaves the job as it was.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/core/ckpt_run.h"
#include "jobs/core/gpu_run.h"
#include "jobs/core/restart.h"
#include "jobs/run/workdir.h"
#include "util/log.h"

/* The system tags a restart takes away; user tags stay. */
static const char *const restart_untags[] = { "ready",	   "stopped-early",
					      "converged", "completed",
					      "cancelled", "failed",
					      "pruned",	   NULL };

int job_runnable(struct jobs *j, const struct job *job,
		 const struct start_check *c, char *why, size_t len)
{
	if (!job->spec_ok) {
		snprintf(why, len, "%s",
			 job->spec_error ? job->spec_error : "bad spec");
		return -EINVAL;
	}
	if (getuid() != 0 && getuid() != job->rec.uid) {
		snprintf(why, len, "trainfs cannot run jobs as uid %lu",
			 (unsigned long)job->rec.uid);
		return -EACCES;
	}
	if (job->spec.workdir) {
		/* A spec changed since the check: the next try checks it. */
		int rc = !c || !c->dir || strcmp(c->dir, job->spec.workdir) ?
				 -EAGAIN :
				 c->rc;
		if (rc == -EAGAIN) {
			snprintf(why, len,
				 "workdir '%s': the spec changed "
				 "while it was checked",
				 job->spec.workdir);
			return -EAGAIN;
		}
		if (rc == -EXDEV) {
			snprintf(why, len,
				 "workdir '%s' is on the trainfs mount",
				 job->spec.workdir);
			return -EINVAL;
		}
		if (rc) {
			snprintf(why, len, "workdir '%s': %s",
				 job->spec.workdir, strerror(-rc));
			return -EINVAL;
		}
	}
	return gpu_run_check(j, job, why, len);
}

/* The record of JOB restarted: its outcome and its run's traces gone. */
static struct job_record restarted(const struct job_record *r)
{
	struct job_record n = *r; /* name, spec, last refusal: shared */
	n.state = ST_QUEUED;
	n.started_ns = n.finished_ns = n.kill_at_ns = 0;
	n.reason = n.error = n.weights = n.bad_why = n.gpus = NULL;
	n.bad_lines = n.bad_line = 0;
	n.metrics_offset = n.metrics_lines = n.metrics_ino = 0;
	n.nrows = 0;
	n.last_epoch = n.best_epoch = -1;
	n.best = 0;
	n.waited = 0;
	n.checkpoint = n.weights_from = n.resumed_from = -1;
	n.slurm_id = 0;
	return n;
}

/*
 * Removes what the last run left that the next one must not take for its
 * own: the metrics file (its rows are in the store until the commit) and
 * the executor's records and stop file.  0, or -errno with WHY.
 */
static int clear_traces(struct jobs *j, struct job *job, char *why, size_t len)
{
	char path[PATH_MAX];
	int rc = jobs_path(j, job, "metrics.txt", path, sizeof path);
	if (!rc && unlink(path) < 0 && errno != ENOENT)
		rc = -errno;
	if (rc) {
		snprintf(why, len, "cannot remove its old metrics file: %s",
			 strerror(-rc));
		return rc;
	}
	ckpt_resume_files(j, job);
	return 0;
}

/* Stores NEW, the event and the deletions in one transaction. */
static int store_restart(struct jobs *j, struct job *job,
			 const struct job_record *new, int64_t now)
{
	int64_t id = job->rec.id;
	int rc = store_begin(j->store);
	if (rc)
		return rc;
	if ((rc = store_put_job(j->store, new)) ||
	    (rc = store_put_event(j->store, id, now, state_name(ST_QUEUED),
				  RESTART_REASON)) ||
	    (rc = store_delete_metrics_from(j->store, id, 0)))
		goto rollback;
	for (size_t i = 0; restart_untags[i]; i++)
		if ((rc = store_remove_tag(j->store, id, restart_untags[i])))
			goto rollback;
	return store_commit(j->store);
rollback:
	store_rollback(j->store);
	return rc;
}

/* Makes the job in memory what the store now holds. */
static void take_restart(struct jobs *j, struct job *job,
			 struct job_record *new, int64_t now)
{
	struct job_record *r = &job->rec;
	job_record_take(j, job, new); /* frees the outcome's strings */
	for (size_t i = 0; restart_untags[i]; i++)
		job_remove_tag(job, restart_untags[i]);
	if (job_add_event(job, now, state_name(ST_QUEUED), RESTART_REASON))
		log_error("job '%s': out of memory for its events until the "
			  "next mount\n",
			  r->name);
	job_table_truncate(job, 0, 0);
	autostop_init(&job->policy, job->spec.mode_min, job->spec.min_delta,
		      job->spec.patience);
	job->policy_before_ok = 0;
	job->monitor_col = -1;
	job->hidden = 0; /* rm -r's hiding was of the old run's files */
	job->resumes++;	 /* the next tarball is a new file */
	job->progress = 0;
	job->waiting[0] = '\0';
	free(job->exec_line);
	free(job->exec_error);
	job->exec_line = job->exec_error = NULL;
	job_touch(j, job, ~0u);
}

/* The old run's tarball, output and checkpoints go (after the commit). */
static void delete_old_files(struct jobs *j, struct job *job,
			     const char *tarball)
{
	int rc;
	if (*tarball && unlink(tarball) < 0 && errno != ENOENT)
		log_warn("job '%s': cannot remove its old tarball: %s\n",
			 job->rec.name, strerror(errno));
	if ((rc = store_trash(j->store, job->rec.id, "output")))
		log_error("job '%s': cannot delete its old output: %s\n",
			  job->rec.name, strerror(-rc));
	ckpt_delete(j, job);
}

int job_restart(struct jobs *j, struct job *job, const struct start_check *c,
		char *why, size_t len)
{
	char tarball[PATH_MAX] = "", rel[JOB_NAME_MAX + 32];
	int rc;
	job_assert_locked(job);
	why[0] = '\0';
	enum job_state next;
	if (job_wait_idle(job, 5)) {
		snprintf(why, len, "its trainer is still ending");
		return -EBUSY;
	}
	/* The lock was let go while waiting: is it still to be restarted? */
	if (job->removed ||
	    state_apply(job->rec.state, CMD_RESTART, &next) < 0) {
		snprintf(why, len, "not allowed while %s",
			 state_name(job->rec.state));
		return -EBUSY;
	}
	if ((rc = job_runnable(j, job, c, why, len)))
		return rc;
	if ((rc = clear_traces(j, job, why, len)))
		return rc;
	if (job->rec.weights &&
	    (snprintf(rel, sizeof rel, "weights/%s", job->rec.weights) >=
		     (int)sizeof rel ||
	     jobs_path(j, job, rel, tarball, sizeof tarball)))
		tarball[0] = '\0';
	int64_t now = job_now_ns();
	struct job_record new = restarted(&job->rec);
	if ((rc = store_restart(j, job, &new, now))) {
		log_error("job '%s': cannot store its restart: %s\n",
			  job->rec.name, strerror(-rc));
		return rc;
	}
	take_restart(j, job, &new, now);
	delete_old_files(j, job, tarball);
	log_info("job '%s': restarted\n", job->rec.name);
	jobs_wake(j);
	return 0;
}

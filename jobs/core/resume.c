/*
 * resume: `echo resume > control` on a ready or failed job with a
 * checkpoint: queued again, to go on from the newest kept checkpoint N.
 * The metrics rows past N go, the auto-stop policy is replayed over the
 * rest, the outcome's system tags go, the tarball is deleted.
 *
 * Store first: every check is made, the new record, the event, the tags
 * and the rows are one transaction, and only once it is committed is the
 * job in memory changed (table, policy, tags, events) and readers told.
 * With the job's lock held (the store's own lock is taken after it).
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs/core/ckpt_run.h"
#include "jobs/core/gpu_run.h"
#include "jobs/core/registry.h"
#include "util/log.h"

/* The system tags a resume takes away: the last run's outcome. */
static const char *const resume_untags[] = { "ready",	  "stopped-early",
					     "converged", "completed",
					     "failed",	  NULL };

/*
 * The policy over the rows at or below FROM, in order, with patience
 * counted afresh: what job_policy_replay() makes of the table once the
 * rows past FROM are dropped, computed without changing it.
 */
static struct autostop replayed_policy(const struct job *job, long from)
{
	struct autostop p;
	double v;
	autostop_init(&p, job->spec.mode_min, job->spec.min_delta,
		      job->spec.patience);
	for (size_t i = 0; i < job->table.nrows; i++)
		if (job->table.epochs[i] <= from &&
		    job_cell(job, i, job->monitor_col, &v))
			autostop_observe(&p, job->table.epochs[i], v);
	p.waited = 0;
	return p;
}

/* NEXT as JOB resumed from epoch FROM: queued, its outcome gone. */
static void resumed_record(const struct job *job, struct job_record *next,
			   long from)
{
	struct autostop p = replayed_policy(job, from);
	size_t rows = 0;
	for (size_t i = 0; i < job->table.nrows; i++)
		rows += job->table.epochs[i] <= from;
	next->nrows = rows;
	next->last_epoch = from;
	next->best = p.best;
	next->best_epoch = p.have_best ? p.best_epoch : -1;
	next->waited = 0;
	next->weights = next->reason = next->error = NULL;
	next->finished_ns = 0;
	next->kill_at_ns = 0;
	next->weights_from = -1;
	next->resumed_from = from;
	next->state = ST_QUEUED;
}

/* The first row past FROM: the store's rows from there on change. */
static size_t first_dropped(const struct job *job, long from)
{
	size_t i = 0;
	while (i < job->table.nrows && job->table.epochs[i] <= from)
		i++;
	return i;
}

/*
 * Stores the resume: NEXT, the event, the untags, and the rows kept from
 * the first dropped one on, renumbered as job_table_drop_after() leaves
 * them.  One transaction; JOB is not changed.
 */
static int store_resume(struct jobs *j, struct job *job,
			const struct job_record *next, int64_t now,
			const char *why, long from)
{
	int64_t id = job->rec.id;
	size_t first = first_dropped(job, from), k = first;
	int rc = store_begin(j->store);
	if (rc)
		return rc;
	if ((rc = store_put_job(j->store, next)) ||
	    (rc = store_put_event(j->store, id, now, state_name(ST_QUEUED),
				  why)) ||
	    (rc = store_delete_metrics_from(j->store, id, first)))
		goto rollback;
	for (size_t i = 0; resume_untags[i]; i++)
		if ((rc = store_remove_tag(j->store, id, resume_untags[i])))
			goto rollback;
	for (size_t i = first; i < job->table.nrows; i++) {
		if (job->table.epochs[i] > from)
			continue;
		char *line = job_row_line(job, i);
		rc = line ? store_put_metric(j->store, id, k++, line) : -ENOMEM;
		free(line);
		if (rc)
			goto rollback;
	}
	return store_commit(j->store);
rollback:
	store_rollback(j->store);
	return rc;
}

/* Makes the job in memory what the store now holds, and tells readers. */
static void take_resume(struct jobs *j, struct job *job,
			struct job_record *next, int64_t now, const char *why,
			long from)
{
	int new_spec = next->spec != job->rec.spec;
	job_record_take(j, job, next);
	if (new_spec)
		job_parse_spec(job);
	job_table_drop_after(job, from);
	job_policy_replay(job);
	job->rec.nrows = job->table.nrows;
	job->rec.last_epoch = from;
	for (size_t i = 0; resume_untags[i]; i++)
		job_remove_tag(job, resume_untags[i]);
	job->hidden = 0; /* rm -r's hiding was of the old run's files */
	job->resumes++;
	if (job_add_event(job, now, state_name(ST_QUEUED), why))
		log_error("job '%s': out of memory for its events until the "
			  "next mount\n",
			  job->rec.name);
	job_touch(j, job, ~0u);
}

/*
 * resume (ready or failed, "with a checkpoint"): queued again, from the
 * newest kept checkpoint N.  All checks first (a refused write changes
 * nothing); then the memory and the store in one transaction; the old
 * tarball goes last (a crash before that leaves a file the next packing
 * replaces).  Checkpoints past N are cleared at launch (ckpt_launch), from
 * the stored resumed_from, so a kill -9 anywhere in between still resumes.
 */
int control_resume(struct jobs *j, struct job *job, const char *text,
		   size_t len, long epochs)
{
	char tarball[PATH_MAX] = "", why[64];
	long from = job->rec.checkpoint;
	int rc;
	if (from < 0)
		return job_refuse(j, job, -EBUSY, text, len,
				  "no checkpoint to resume from");
	if (!job->spec_ok)
		return job_refuse(j, job, -EINVAL, text, len, "%s",
				  job->spec_error ? job->spec_error :
						    "bad spec");
	if (epochs && epochs <= job_last_epoch(job))
		return job_refuse(j, job, -EINVAL, text, len,
				  "epochs=%ld is not above the last reported "
				  "epoch %ld",
				  epochs, job_last_epoch(job));
	if (getuid() != 0 && getuid() != job->rec.uid)
		return job_refuse(j, job, -EACCES, text, len,
				  "trainfs cannot run jobs as uid %lu",
				  (unsigned long)job->rec.uid);
	char need[128];
	if (gpu_run_check(j, job, need, sizeof need))
		return job_refuse(j, job, -EINVAL, text, len, "%s", need);
	if ((rc = jobs_load_metrics(j, job)))
		return job_refuse(j, job, rc, text, len,
				  "cannot load its metrics");
	char *spec = NULL;
	size_t spec_len = 0;
	if (epochs &&
	    !(spec = spec_with_epochs(job->rec.spec, job->rec.spec_len, epochs,
				      &spec_len)))
		return -ENOMEM;
	if (job->rec.weights) {
		char rel[JOB_NAME_MAX + 32];
		if (snprintf(rel, sizeof rel, "weights/%s", job->rec.weights) >=
			    (int)sizeof rel ||
		    jobs_path(j, job, rel, tarball, sizeof tarball))
			tarball[0] = '\0';
	}

	/*
	 * The resumed trainer appends to the metrics file: what the last run
	 * wrote is behind it, also lines it could not store (a full disk).
	 */
	struct job_record next = job->rec;
	char mpath[PATH_MAX];
	struct stat mst;
	if (!jobs_path(j, job, "metrics.txt", mpath, sizeof mpath) &&
	    lstat(mpath, &mst) == 0 && S_ISREG(mst.st_mode) &&
	    mst.st_size > job->rec.metrics_offset)
		next.metrics_offset = mst.st_size;

	/* What a restart must not take for the last run's. */
	ckpt_resume_files(j, job);
	if (spec) {
		next.spec = spec;
		next.spec_len = spec_len;
	}
	resumed_record(job, &next, from);
	snprintf(why, sizeof why, "resumed from epoch %ld", from);
	int64_t now = job_now_ns();
	for (int v = 0; v < STORE_MTIMES; v++) /* as job_touch() sets them */
		next.mtime_ns[v] = now;
	if ((rc = store_resume(j, job, &next, now, why, from))) {
		job_record_drop(job, &next);
		log_error("job '%s': cannot store its resume: %s\n",
			  job->rec.name, strerror(-rc));
		return rc;
	}
	take_resume(j, job, &next, now, why, from);
	if (tarball[0] && unlink(tarball) < 0 && errno != ENOENT)
		log_warn("job '%s': cannot remove its old tarball: %s\n",
			 job->rec.name, strerror(errno));
	log_info("job '%s': %s\n", job->rec.name, why);
	jobs_wake(j);
	return 0;
}

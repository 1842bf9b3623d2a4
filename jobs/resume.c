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

#include "jobs/ckpt_run.h"
#include "jobs/gpu_run.h"
#include "jobs/registry.h"
#include "util/log.h"

/* The system tags a resume takes away (SPEC "Checkpoints"). */
static const char *const resume_untags[] = {
	"ready", "stopped-early", "converged", "completed", "failed", NULL
};

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
			      job->spec_error ? job->spec_error : "bad spec");
	if (epochs && epochs <= job_last_epoch(job))
		return job_refuse(j, job, -EINVAL, text, len,
			      "epochs=%ld is not above the last reported "
			      "epoch %ld", epochs, job_last_epoch(job));
	if (getuid() != 0 && getuid() != job->rec.uid)
		return job_refuse(j, job, -EACCES, text, len,
			      "trainfs cannot run jobs as uid %lu",
			      (unsigned long)job->rec.uid);
	char need[128];
	if (gpu_run_check(j, job, need, sizeof need))
		return job_refuse(j, job, -EINVAL, text, len, "%s", need);
	if ((rc = jobs_load_metrics(j, job)))
		return job_refuse(j, job, rc, text, len, "cannot load its metrics");
	char *spec = NULL;
	size_t spec_len = 0;
	if (epochs && !(spec = spec_with_epochs(job->rec.spec, job->rec.spec_len,
						epochs, &spec_len)))
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
	char mpath[PATH_MAX];
	struct stat mst;
	if (!jobs_path(j, job, "metrics.txt", mpath, sizeof mpath) &&
	    lstat(mpath, &mst) == 0 && S_ISREG(mst.st_mode) &&
	    mst.st_size > job->rec.metrics_offset)
		job->rec.metrics_offset = mst.st_size;

	/* What a restart must not take for the last run's. */
	ckpt_resume_files(j, job);
	if (spec) {
		free(job->rec.spec);
		job->rec.spec = spec;
		job->rec.spec_len = spec_len;
		job_parse_spec(job);
	}
	size_t first = job_table_drop_after(job, from);
	job_policy_replay(job);
	job->rec.nrows = job->table.nrows;
	job->rec.last_epoch = from;
	for (size_t i = 0; resume_untags[i]; i++)
		job_remove_tag(job, resume_untags[i]);
	free(job->rec.weights);
	job->rec.weights = NULL;
	free(job->rec.reason);
	job->rec.reason = NULL;
	free(job->rec.error);
	job->rec.error = NULL;
	job->rec.finished_ns = 0;
	job->rec.kill_at_ns = 0;
	job->rec.weights_from = -1;
	job->rec.resumed_from = from;
	job->hidden = 0; /* rm -r's hiding was of the old run's files */
	job->rec.state = ST_QUEUED;
	job->resumes++;
	snprintf(why, sizeof why, "resumed from epoch %ld", from);
	int64_t now = job_now_ns();
	job_add_event(job, now, state_name(ST_QUEUED), why);
	job_touch(j, job, ~0u);

	if ((rc = store_begin(j->store)))
		goto fail;
	if ((rc = store_put_job(j->store, &job->rec)) ||
	    (rc = store_put_event(j->store, job->rec.id, now,
				  state_name(ST_QUEUED), why)) ||
	    (rc = store_delete_metrics_from(j->store, job->rec.id, first)))
		goto rollback;
	for (size_t i = 0; resume_untags[i]; i++)
		if ((rc = store_remove_tag(j->store, job->rec.id,
					   resume_untags[i])))
			goto rollback;
	for (size_t i = first; i < job->table.nrows; i++) {
		char *line = job_row_line(job, i);
		rc = line ? store_put_metric(j->store, job->rec.id, i, line)
			  : -ENOMEM;
		free(line);
		if (rc)
			goto rollback;
	}
	if ((rc = store_commit(j->store)))
		goto fail;
	if (tarball[0] && unlink(tarball) < 0 && errno != ENOENT)
		log_warn("job '%s': cannot remove its old tarball: %s\n",
			 job->rec.name, strerror(errno));
	log_info("job '%s': %s\n", job->rec.name, why);
	jobs_wake(j);
	return 0;
rollback:
	store_rollback(j->store);
fail:
	log_error("job '%s': cannot store its resume: %s\n", job->rec.name,
		  strerror(-rc));
	jobs_wake(j);
	return rc;
}

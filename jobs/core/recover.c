/*
 * recover: at mount, before anything is served, finds again what the last
 * trainfs left: a trainer still running, stopping or being cancelled
 * (through its executor's attach), a launch made just before it died, or
 * packing cut short (redone from the start).
 *
 * Locks: called with the job's lock held, before the supervisor's thread
 * starts.
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "jobs/core/output.h"
#include "jobs/core/supervisor.h"

/*
 * After a restart: find the shim of JOB if it was running, stopping or
 * being cancelled (or launched just before trainfs died), and redo
 * packing that was cut short.  With the job's lock held.
 */
void sv_recover(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	int st = job->rec.state;
	if (st == ST_PACKAGING) {
		if (!sv_weights_tmp_path(j, job, tmp, sizeof tmp))
			unlink(tmp);
		sv_unlink_named_tmp(j, job);
		int rc = sv_spawn_packer(j, job);
		if (rc)
			sv_fail(j, job, "packaging: %s", strerror(-rc));
		return;
	}
	if (!state_has_trainer(st) && st != ST_CANCELLED && st != ST_QUEUED)
		return;
	if (jobs_path(j, job, "", dir, sizeof dir))
		return;
	/* Where it ran, whatever this mount's --executor says. */
	job->exec = job->rec.slurm_id > 0 ? j->slurm : j->local;
	if (st == ST_QUEUED && !job->rec.slurm_id) {
		/*
		 * Launching it again would run a second trainer: a queued job
		 * never ran, so traces of a launch cannot be stale.
		 */
		if (!job->exec->ops->launched(dir))
			return; /* schedule() launches it */
		job->rec.started_ns = job_now_ns();
		/* Logged by job_set_state(); it runs all the same. */
		(void)!job_set_state(j, job, ST_RUNNING, "started", NULL);
		st = ST_RUNNING;
	}
	job->run_over = 0;
	if (job->exec->ops->attach(job->exec, dir, job->rec.slurm_id,
				   &job->run) == 0) {
		sv_set_busy(j, job, 1);
		sv_run_status(j, job);
		if (state_has_trainer(st))
			sv_open_metrics_logged(j, job);
		/* The verb may not have reached it before we died. */
		if (st == ST_STOPPING)
			job_signal(j, job, EXEC_STOP);
		else if (st == ST_CANCELLED)
			job_signal(j, job, EXEC_CANCEL);
		return;
	}
	if (st == ST_CANCELLED) {
		job_delete_output(j, job);
		return;
	}
	sv_open_metrics_logged(j, job);
	sv_set_busy(j, job, 1);
	sv_trainer_gone(j, job); /* the main loop takes its end in */
}

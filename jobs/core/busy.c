/*
 * busy: whether a job's trainer or packer may still be alive
 * (sv_set_busy), and failing a job (sv_fail): the two moves every other
 * file of the supervisor makes, so that none of them calls another for
 * them.
 *
 * Locks: called with the job's lock held.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/core/output.h"
#include "jobs/core/supervisor.h"
#include "util/log.h"

/*
 * BUSY: a trainer or packer may still be alive.  A run counts too until
 * its executor has reaped it: a job removed before that would leave the
 * local shim a zombie for as long as trainfs runs.
 */

void sv_set_busy(struct jobs *j, struct job *job, int busy)
{
	job_assert_locked(job);
	job->busy = busy || job->run != NULL || job->launching ||
		    job->publishing;
	if (!job->busy && job->delete_when_idle) { /* control_cancel */
		job->delete_when_idle = 0;
		job_delete_output(j, job);
	}
	if (!job->busy)
		pthread_cond_broadcast(&job->idle);
}

/* Ends JOB as failed with the error FMT. */
void sv_fail(struct jobs *j, struct job *job, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warn("job '%s': failed: %s\n", job->rec.name, msg);
	free(job->rec.error);
	job->rec.error = strdup(msg);
	if (!job->rec.finished_ns)
		job->rec.finished_ns = job_now_ns();
	sv_set_busy(j, job, 0);
	/* Logged by job_set_state(); the job has failed all the same. */
	(void)!job_set_state(j, job, ST_FAILED, msg,
			     (const char *[]){ "failed", NULL });
}

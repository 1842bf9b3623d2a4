/*
 * output: see output.h.  Each folder is one rename into the store's trash
 * (store_trash()), so the job's lock is held for a few system calls only;
 * the deleting itself is the deleter thread's, which follows no link.
 */
#include <string.h>

#include "jobs/core/ckpt_run.h"
#include "jobs/core/output.h"
#include "util/log.h"

void job_delete_output(struct jobs *j, struct job *job)
{
	int rc = 0;
	job_assert_locked(job);
	/* The scratch first: once the output is gone, all of it is. */
	if (!job->spec.workdir)
		rc = store_trash(j->store, job->rec.id, "work");
	if (!rc)
		rc = store_trash(j->store, job->rec.id, "output");
	if (rc)
		log_error("job '%s': cannot delete its "
			  "output: %s\n",
			  job->rec.name, strerror(-rc));
	ckpt_delete(j, job); /* hook: checkpoints */
}

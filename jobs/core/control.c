/*
 * control: what a write to a job's control file does.  The verb is looked
 * up in the command table below (verb -> the function that carries it
 * out); whether it is allowed in the job's state is the one state table's
 * (state.c) answer, asked before any row runs, so a wrong-state verb is
 * refused alike for all.  Refusals go through job_refuse(), which records
 * "last refused" and returns the errno.
 *
 * Locks: a start's workdir check (a helper process) runs before the job's
 * lock is taken (start_precheck()); the rows run with the job's lock held
 * and commit to the store (its own lock, taken after the job's) before
 * they change the job in memory or tell readers: a failed commit leaves
 * the job as it was and returns the error.
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

#include "jobs/core/output.h"
#include "jobs/core/registry.h"
#include "jobs/core/restart.h"
#include "jobs/run/workdir.h"
#include "util/log.h"
#include "util/text.h"

/*
 * For a TEXT that would start job ID: copies its workdir under the lock,
 * lets go, then checks it into *C.  Anything else leaves *C empty.
 */
static void start_precheck(struct jobs *j, int64_t id, uid_t uid,
			   const char *text, size_t len, struct start_check *c)
{
	long epochs = 0;
	enum job_state next;
	uid_t owner = 0;
	gid_t group = 0;
	int cmd = command_parse_epochs(text, len, &epochs), rc = 0;
	if (cmd < 0 || cmd == CMD_RESUME)
		return;
	struct job *job = jobs_lock_to_change(j, id, uid, &rc);
	if (!job)
		return;
	if (state_apply(job->rec.state, cmd, &next) == 0 && next == ST_QUEUED &&
	    job->spec_ok && job->spec.workdir) {
		c->dir = strdup(job->spec.workdir);
		owner = job->rec.uid;
		group = job->rec.gid;
	}
	jobs_unlock_job(j, job);
	if (c->dir)
		c->rc = workdir_check(j->self_exe, j->cfg.mountpoint, c->dir,
				      owner, group);
}

/* Refuses a start with EINVAL and WHY, which status shows as its error. */
static int refuse_start(struct jobs *j, struct job *job, const char *text,
			size_t len, const char *why)
{
	free(job->rec.error);
	job->rec.error = strdup(why);
	job_touch(j, job, VIEW_BIT(VIEW_STATUS));
	return job_refuse(j, job, -EINVAL, text, len, "%s", why);
}

/*
 * What a command's row is given: the text written (for refusals), the
 * epochs of "resume epochs=N", and the start's workdir check.
 */
struct command_call {
	const char *text;
	size_t len;
	long epochs;
	const struct start_check *check;
};

static int control_start(struct jobs *j, struct job *job,
			 const struct command_call *call)
{
	char why[PATH_MAX + 128];
	int rc = job_runnable(j, job, call->check, why, sizeof why);
	/* A bad spec shows in status already; the other reasons are kept. */
	if (rc == -EINVAL && job->spec_ok)
		return refuse_start(j, job, call->text, call->len, why);
	if (rc)
		return job_refuse(j, job, rc, call->text, call->len, "%s", why);
	struct job_record next = job->rec;
	next.error = NULL; /* a refused start's */
	next.state = ST_QUEUED;
	if ((rc = job_commit_move(j, job, &next, "start", NULL, NULL)))
		return rc;
	jobs_wake(j);
	return 0;
}

/* The user's stop: stored, then the shim asked (job_stop: the supervisor's). */
static int control_stop(struct jobs *j, struct job *job,
			const struct command_call *call)
{
	struct job_record next = job->rec;
	int rc;
	(void)call;
	next.kill_at_ns = job_kill_at(job);
	if (!(next.reason = strdup("stopped-early")))
		return -ENOMEM;
	next.state = ST_STOPPING;
	if ((rc = job_commit_move(j, job, &next, "stop requested",
				  (const char *[]){ "stopped-early", NULL },
				  NULL)))
		return rc;
	job_signal(j, job, EXEC_STOP);
	return 0;
}

static int control_cancel(struct jobs *j, struct job *job,
			  const struct command_call *call)
{
	enum job_state was = job->rec.state;
	struct job_record next = job->rec;
	int rc;
	(void)call;
	next.state = ST_CANCELLED;
	if ((rc = job_commit_move(j, job, &next, "cancel requested",
				  (const char *[]){ "cancelled", NULL }, NULL)))
		return rc;
	/* A queued job that ran before (a resume): nothing else deletes it. */
	if (was == ST_QUEUED && job->rec.resumed_from >= 0) {
		if (!job->busy)
			job_delete_output(j, job);
		else /* the run before the resume is still being reaped */
			job->delete_when_idle = 1;
	}
	/* A queued job may have a run too: pending on Slurm. */
	if (state_has_trainer(was) || job->run)
		job_signal(j, job, EXEC_CANCEL);
	/* A packer of a job no longer packaging is killed by the supervisor. */
	jobs_wake(j); /* a slot may be free; output to delete; a packer */
	return 0;
}

static int control_resume_row(struct jobs *j, struct job *job,
			      const struct command_call *call)
{
	return control_resume(j, job, call->text, call->len, call->epochs);
}

static int control_restart(struct jobs *j, struct job *job,
			   const struct command_call *call)
{
	char why[PATH_MAX + 128];
	int rc = job_restart(j, job, call->check, why, sizeof why);
	if (rc && *why)
		rc = job_refuse(j, job, rc, call->text, call->len, "%s", why);
	return rc;
}

/*
 * The command table: a verb's row carries it out, its state already
 * allowed by the state table (state_apply()) and not already under way.
 * Every row commits to the store before it changes the job.
 */
typedef int (*command_fn)(struct jobs *j, struct job *job,
			  const struct command_call *call);

static const command_fn commands[CMD_COUNT] = {
	[CMD_START] = control_start,	 [CMD_STOP] = control_stop,
	[CMD_CANCEL] = control_cancel,	 [CMD_RESUME] = control_resume_row,
	[CMD_RESTART] = control_restart,
};

int jobs_control(struct jobs *j, int64_t id, uid_t uid, const char *text,
		 size_t len)
{
	int rc = 0;
	struct start_check check = { 0 };
	start_precheck(j, id, uid, text, len, &check);
	struct job *job = jobs_lock_to_change(j, id, uid, &rc);
	if (!job) {
		free(check.dir);
		return rc;
	}
	struct command_call call = { .text = text,
				     .len = len,
				     .check = &check };
	int cmd = command_parse_epochs(text, len, &call.epochs);
	if (cmd < 0 || !commands[cmd]) {
		rc = job_refuse(j, job, -EINVAL, text, len, "unknown command");
		goto out;
	}
	enum job_state next;
	if (state_apply(job->rec.state, cmd, &next) < 0) {
		rc = job_refuse(j, job, -EBUSY, text, len,
				"not allowed while %s",
				state_name(job->rec.state));
		goto out;
	}
	if (next != (enum job_state)job->rec.state) /* else under way */
		rc = commands[cmd](j, job, &call);
out:
	jobs_unlock_job(j, job);
	free(check.dir);
	return rc;
}

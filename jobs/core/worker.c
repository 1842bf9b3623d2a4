/*
 * worker: see worker.h.  The count of steps alive is the only shared
 * state; each step's arguments are its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "jobs/core/worker.h"

struct step {
	struct jobs *j;
	struct job *job;
	worker_fn fn;
	void *arg;
};

/* One step fewer alive; the last wakes worker_wait_all(). */
static void step_gone(struct jobs *j)
{
	lock_take(&j->workers_lock);
	if (--j->workers == 0)
		pthread_cond_broadcast(&j->workers_idle);
	lock_drop(&j->workers_lock);
}

static void *step_main(void *p)
{
	struct step s = *(struct step *)p;
	free(p);
	s.fn(s.j, s.job, s.arg);
	jobs_put(s.j, s.job);
	step_gone(s.j);
	return NULL;
}

int worker_start(struct jobs *j, struct job *job, worker_fn fn, void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	struct step *s = malloc(sizeof *s);
	if (!s)
		return -ENOMEM;
	*s = (struct step){ .j = j, .job = job, .fn = fn, .arg = arg };
	jobs_lock(j);
	job->refs++;
	jobs_unlock(j);
	lock_take(&j->workers_lock);
	j->workers++;
	lock_drop(&j->workers_lock);
	int rc = pthread_attr_init(&attr);
	if (!rc) {
		rc = pthread_attr_setdetachstate(&attr,
						 PTHREAD_CREATE_DETACHED);
		if (!rc)
			rc = pthread_create(&t, &attr, step_main, s);
		pthread_attr_destroy(&attr);
	}
	if (!rc)
		return 0;
	free(s);
	step_gone(j);
	jobs_put(j, job);
	return -rc;
}

void worker_wait_all(struct jobs *j)
{
	lock_take(&j->workers_lock);
	while (j->workers > 0)
		lock_wait(&j->workers_idle, &j->workers_lock);
	lock_drop(&j->workers_lock);
}

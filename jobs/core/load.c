/*
 * load: opening the jobs at mount and closing them.  Every job record,
 * its events and its tags are read from the store into the registry
 * before any other thread runs (no lock is needed then, but each job's is
 * taken where a callee asserts it); jobs of a schema 1 store get their
 * derived values from their metrics, once.  jobs_close() stops the
 * supervisor first, then frees every job.
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

#include "jobs/core/access.h"
#include "jobs/core/registry.h"
#include "jobs/core/worker.h"
#include "util/lock.h"
#include "util/log.h"

struct loader {
	struct jobs *j;
	int rc;
};

static int load_job(void *arg, struct job_record *rec)
{
	struct loader *l = arg;
	struct job *job = job_new();
	if (!job) {
		store_record_free(rec);
		return -ENOMEM;
	}
	job->rec = *rec;
	job->rec.mode = job_mode_from(rec->mode);
	job_parse_spec(job);
	if (registry_add(l->j, job)) {
		job_free(job);
		return -ENOMEM;
	}
	return 0;
}

static int load_event(void *arg, int64_t id, int64_t t, const char *state,
		      const char *reason)
{
	struct job *job = jobs_find(((struct loader *)arg)->j, id);
	if (job && !strncmp(reason, "resumed from ", 13))
		job->resumes++;
	return job ? job_add_event(job, t, state, reason) : 0;
}

static int load_tag(void *arg, int64_t id, const char *tag, int system)
{
	struct job *job = jobs_find(((struct loader *)arg)->j, id);
	return job ? job_add_tag(job, tag, system) : 0;
}

/* Adds a stored row and replays the policy over it (schema 1 stores). */
static int replay_row(void *arg, int64_t id, const char *line)
{
	struct job *job = arg;
	struct metrics_line ml;
	(void)id;
	if (metrics_parse_line(line, strlen(line), &ml, NULL, 0) < 0)
		return 0;
	size_t row;
	int rc = job_add_row(job, &ml, &row);
	metrics_line_free(&ml);
	return rc < 0 && rc != -E2BIG && rc != -EFBIG ? rc : 0;
}

/*
 * A job from a schema 1 store has no derived values yet: derive them from
 * its metrics, once, and store them.
 */
static int derive_from_metrics(struct jobs *j, struct job *job)
{
	job->rec.nrows = 0;
	job->rec.last_epoch = -1;
	job->rec.best_epoch = -1;
	job->rec.waited = 0;
	job_parse_spec(job);
	int rc = store_load_job_metrics(j->store, job->rec.id, replay_row, job);
	if (rc)
		return rc;
	job->table.loaded = 1;
	return job_save(j, job);
}

int jobs_open(const struct jobs_config *cfg, struct jobs **out)
{
	int rc;
	struct jobs *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	lock_init(&j->lock, LOCK_REGISTRY);
	lock_init(&j->listen_lock, LOCK_LISTEN);
	lock_init(&j->workers_lock, LOCK_WORKERS);
	pthread_cond_init(&j->workers_idle, NULL);
	j->cfg = *cfg;
	j->wake[0] = j->wake[1] = -1;
	j->store_dir = strdup(cfg->store_dir);
	j->self_exe = strdup(cfg->self_exe);
	j->mountpoint = cfg->mountpoint ? strdup(cfg->mountpoint) : NULL;
	if (!j->store_dir || !j->self_exe ||
	    (cfg->mountpoint && !j->mountpoint) ||
	    !(j->local = exec_local_new(j->self_exe)) ||
	    !(j->slurm = exec_slurm_new(j->self_exe))) {
		rc = -ENOMEM;
		goto fail;
	}
	j->cfg.store_dir = j->store_dir;
	j->cfg.self_exe = j->self_exe;
	j->cfg.mountpoint = j->mountpoint;
	if ((rc = store_open(cfg->store_dir, &j->store)))
		goto fail;
	if (pipe2(j->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	struct loader l = { .j = j };
	if ((rc = registry_names_grow(j)) ||
	    (rc = store_load_jobs(j->store, load_job, &l)) ||
	    (rc = store_load_events(j->store, load_event, &l)) ||
	    (rc = store_load_tags(j->store, load_tag, &l)))
		goto fail;
	for (size_t i = 0; i < j->n; i++) {
		if (j->list[i]->rec.nrows >= 0)
			continue;
		job_lock(j->list[i]);
		rc = derive_from_metrics(j, j->list[i]);
		job_unlock(j->list[i]);
		if (rc)
			goto fail;
	}
	*out = j;
	return 0;
fail:
	jobs_close(j);
	return rc;
}

void jobs_close(struct jobs *j)
{
	if (!j)
		return;
	if (j->supervising) {
		jobs_lock(j);
		j->quit = 1;
		jobs_unlock(j);
		jobs_wake(j);
		pthread_join(j->supervisor, NULL);
	}
	worker_wait_all(j); /* each has a deadline of its own */
	for (size_t i = 0; i < j->n; i++)
		job_free(j->list[i]);
	free(j->list);
	free(j->by_name);
	store_close(j->store);
	if (j->wake[0] >= 0)
		close(j->wake[0]);
	if (j->wake[1] >= 0)
		close(j->wake[1]);
	free(j->store_dir);
	free(j->self_exe);
	free(j->mountpoint);
	if (j->local)
		j->local->ops->close(j->local);
	if (j->slurm)
		j->slurm->ops->close(j->slurm);
	lock_destroy(&j->lock);
	lock_destroy(&j->listen_lock);
	lock_destroy(&j->workers_lock);
	pthread_cond_destroy(&j->workers_idle);
	free(j);
}

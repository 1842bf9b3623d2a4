/*
 * registry: the table of jobs.  Every job in memory is in one list, in
 * ascending id (the order of creation), and in an index by name (open
 * addressing); the list holds a reference on each job and jobs_get() one
 * more, so a job found is never freed while it is used.
 *
 * Locks: the registry lock covers the list, the index and every job's refs
 * and removed, and is held for bookkeeping only.  A job is found under it,
 * referenced, let go, then locked with its own lock (jobs_lock_job()).
 * job_touch() tells the interface of a change under the listener lock,
 * the innermost of the jobs/ locks (registry.h gives the order), so it may
 * be called inside a store transaction.
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

#include "jobs/core/registry.h"
#include "jobs/run/source.h"
#include "util/lock.h"
#include "util/log.h"

/* ---- the registry ---- */

int registry_names_grow(struct jobs *j)
{
	size_t cap = j->cap_names ? j->cap_names * 2 : 1024;
	struct job **t = calloc(cap, sizeof *t);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < j->n; i++) {
		size_t h = jobs_name_hash(j->list[i]->rec.name) & (cap - 1);
		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = j->list[i];
	}
	free(j->by_name);
	j->by_name = t;
	j->cap_names = cap;
	return 0;
}

/*
 * Takes JOB out of the name index without allocating (linear probing's
 * backward shift: each later entry of the run moves into the hole when
 * its home slot allows).
 */
void registry_name_remove(struct jobs *j, const struct job *job)
{
	size_t mask = j->cap_names - 1;
	size_t hole = jobs_name_hash(job->rec.name) & mask;
	while (j->by_name[hole] != job)
		hole = (hole + 1) & mask;
	for (size_t i = (hole + 1) & mask; j->by_name[i]; i = (i + 1) & mask) {
		size_t home = jobs_name_hash(j->by_name[i]->rec.name) & mask;
		/* Movable unless home lies cyclically in (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			j->by_name[hole] = j->by_name[i];
			hole = i;
		}
	}
	j->by_name[hole] = NULL;
}

/* Puts JOB in the name index (room is there: see registry_add). */
void registry_name_insert(struct jobs *j, struct job *job)
{
	size_t h = jobs_name_hash(job->rec.name) & (j->cap_names - 1);
	while (j->by_name[h])
		h = (h + 1) & (j->cap_names - 1);
	j->by_name[h] = job;
}

/* Adds JOB with the list's reference.  Registry lock held (or loading). */
int registry_add(struct jobs *j, struct job *job)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 64;
		struct job **l = realloc(j->list, cap * sizeof *l);
		if (!l)
			return -ENOMEM;
		j->list = l;
		j->cap = cap;
	}
	if ((j->n + 1) * 2 >= j->cap_names && registry_names_grow(j))
		return -ENOMEM;
	j->list[j->n++] = job;
	job->refs++;
	registry_name_insert(j, job);
	return 0;
}

struct job *jobs_find(struct jobs *j, int64_t id)
{
	size_t lo = 0, hi = j->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (j->list[mid]->rec.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < j->n && j->list[lo]->rec.id == id ? j->list[lo] : NULL;
}

struct job *jobs_find_name(struct jobs *j, const char *name)
{
	if (!j->cap_names)
		return NULL;
	size_t h = jobs_name_hash(name) & (j->cap_names - 1);
	while (j->by_name[h]) {
		if (!strcmp(j->by_name[h]->rec.name, name))
			return j->by_name[h];
		h = (h + 1) & (j->cap_names - 1);
	}
	return NULL;
}

struct job **jobs_list(struct jobs *j, size_t *n)
{
	*n = j->n;
	return j->list;
}

void jobs_lock(struct jobs *j)
{
	lock_take(&j->lock);
}

void jobs_unlock(struct jobs *j)
{
	lock_drop(&j->lock);
}

int jobs_claim_pid(struct jobs *j, const char *mountpoint)
{
	return store_claim_pid(j->store, mountpoint);
}

void job_lock(struct job *job)
{
	lock_take(&job->lock);
}

void job_unlock(struct job *job)
{
	lock_drop(&job->lock);
}

int job_trylock(struct job *job)
{
	return lock_trytake(&job->lock) == 0;
}

struct job *jobs_get(struct jobs *j, int64_t id)
{
	jobs_lock(j);
	struct job *job = jobs_find(j, id);
	if (job)
		job->refs++;
	jobs_unlock(j);
	return job;
}

void jobs_put(struct jobs *j, struct job *job)
{
	if (!job)
		return;
	jobs_lock(j);
	int last = --job->refs == 0;
	jobs_unlock(j);
	if (last)
		job_free(job); /* removed, and nobody can find it any more */
}

int jobs_visit(struct jobs *j, int (*fn)(void *arg, struct job *job), void *arg)
{
	size_t n, dead = 0;
	int rc = 0;
	jobs_lock(j);
	n = j->n;
	struct job **all = malloc((n ? n : 1) * sizeof *all);
	if (!all) {
		jobs_unlock(j);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		all[i] = j->list[i];
		all[i]->refs++;
	}
	jobs_unlock(j);
	for (size_t i = 0; i < n && !rc; i++) {
		job_lock(all[i]);
		if (!all[i]->removed)
			rc = fn(arg, all[i]);
		job_unlock(all[i]);
	}
	/* Let go of them all at once; free the ones removed meanwhile after. */
	jobs_lock(j);
	for (size_t i = 0; i < n; i++)
		if (--all[i]->refs == 0)
			all[dead++] = all[i];
	jobs_unlock(j);
	for (size_t i = 0; i < dead; i++)
		job_free(all[i]);
	free(all);
	return rc;
}

struct job *jobs_lock_job(struct jobs *j, int64_t id)
{
	struct job *job = jobs_get(j, id);
	if (!job)
		return NULL;
	job_lock(job);
	if (job->removed) { /* rmdir won the race */
		job_unlock(job);
		jobs_put(j, job);
		return NULL;
	}
	return job;
}

void jobs_unlock_job(struct jobs *j, struct job *job)
{
	job_unlock(job);
	jobs_put(j, job);
}

void jobs_on_change(struct jobs *j, jobs_changed_fn fn, void *arg)
{
	lock_take(&j->listen_lock);
	j->changed = fn;
	j->changed_arg = arg;
	lock_drop(&j->listen_lock);
}

int jobs_path(struct jobs *j, const struct job *job, const char *rel, char *buf,
	      size_t len)
{
	return store_job_path(j->store, job->rec.id, rel, buf, len);
}

void job_touch(struct jobs *j, struct job *job, unsigned views)
{
	int64_t t = job_now_ns();
	job_assert_locked(job);
	for (int v = 0; v < STORE_MTIMES; v++)
		if (views & VIEW_BIT(v))
			job->rec.mtime_ns[v] = t;
	job->changes++;
	/* changed may be swapped; the callback only queues */
	lock_take(&j->listen_lock);
	if (j->changed)
		j->changed(j->changed_arg, job, views);
	lock_drop(&j->listen_lock);
}

void jobs_wake(struct jobs *j)
{
	char c = 1;
	if (write(j->wake[1], &c, 1) < 0 && errno != EAGAIN)
		log_error("cannot wake the supervisor: %s", strerror(errno));
}

/* ---- a job's lifetime ---- */

struct job *job_new(void)
{
	struct job *job = calloc(1, sizeof *job);
	if (!job)
		return NULL;
	lock_init(&job->lock, LOCK_JOB);
	pthread_cond_init(&job->idle, NULL);
	job->monitor_col = -1;
	job->packer_fd = -1;
	job->weights_tmp_fd = -1;
	job->metrics_fd = -1;
	return job;
}

void job_free(struct job *job)
{
	if (!job)
		return;
	store_record_free(&job->rec);
	spec_free(&job->spec);
	free(job->spec_error);
	for (size_t i = 0; i < job->ntags; i++)
		free(job->tags[i].name);
	free(job->tags);
	for (size_t i = 0; i < job->nevents; i++) {
		free(job->events[i].state);
		free(job->events[i].reason);
	}
	free(job->events);
	for (int i = 0; i < job->table.ncolumns; i++)
		free(job->table.columns[i]);
	free(job->table.columns);
	free(job->table.index);
	free(job->table.epochs);
	watch_index_free(&job->table.by_epoch);
	free(job->table.cells);
	free(job->splitter);
	source_free(job->source);
	free(job->pack_error);
	free(job->ckpt_resume_path);
	job_table_keep(job);
	free(job->exec_line);
	free(job->sweep);
	free(job->sweep_name);
	free(job->exec_error);
	if (job->run)
		job->exec->ops->release(job->run);
	if (job->packer_fd >= 0)
		close(job->packer_fd);
	if (job->weights_tmp_fd >= 0)
		close(job->weights_tmp_fd);
	if (job->metrics_fd >= 0)
		close(job->metrics_fd);
	lock_destroy(&job->lock);
	pthread_cond_destroy(&job->idle);
	free(job);
}

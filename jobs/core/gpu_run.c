/*
 * gpu_run: see gpu_run.h.  The hooks the supervisor and job.c call for a
 * local job's GPUs; the choices themselves are jobs/model/gpus.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/core/gpu_run.h"
#include "util/log.h"

int gpu_run_check(struct jobs *j, const struct job *job, char *why, size_t len)
{
	long have = (long)j->cfg.gpus.n, need = job->spec.gpus;
	int slurm =
		job->spec.executor == SPEC_EXECUTOR_SLURM ||
		(job->spec.executor == SPEC_EXECUTOR_DEFAULT && j->cfg.slurm);
	if (need <= have || slurm) /* Slurm finds GPUs of its own */
		return 0;
	if (have)
		snprintf(why, len, "needs %ld GPU%s; this machine has %ld",
			 need, need == 1 ? "" : "s", have);
	else
		snprintf(why, len, "needs %ld GPU%s; this machine has none",
			 need, need == 1 ? "" : "s");
	return -EINVAL;
}

size_t gpu_run_held(const struct job *job, int *ids, size_t max)
{
	job_assert_locked(job);
	if (job->rec.state == ST_QUEUED && !job->run && !job->launching)
		return 0; /* its ids are handed out again at its launch */
	return gpus_parse_held(job->rec.gpus, ids, max);
}

int64_t gpu_run_queued_ns(const struct job *job)
{
	for (size_t i = job->nevents; i-- > 0;)
		if (!strcmp(job->events[i].state, "queued"))
			return job->events[i].time_ns;
	return job->rec.created_ns;
}

int gpu_run_hold(struct jobs *j, struct job *job, const char *ids)
{
	char *was = job->rec.gpus, *now = NULL;
	int rc;
	job_assert_locked(job);
	if (*ids && !(now = strdup(ids)))
		return -ENOMEM;
	job->rec.gpus = now;
	if (!now && !was)
		return 0;
	if ((rc = job_save(j, job))) {
		job->rec.gpus = was;
		free(now);
		return rc;
	}
	free(was);
	return 0;
}

void gpu_run_release(struct job *job)
{
	job_assert_locked(job);
	free(job->rec.gpus);
	job->rec.gpus = NULL;
}

void gpu_run_waiting(struct jobs *j, struct job *job, const char *line)
{
	job_assert_locked(job);
	if (!strcmp(job->waiting, line))
		return;
	snprintf(job->waiting, sizeof job->waiting, "%s", line);
	job_touch(j, job, VIEW_BIT(VIEW_STATUS));
}

void gpu_run_env(const struct job *job, char **env, size_t *k)
{
	if (!job->rec.gpus)
		return;
	if (asprintf(&env[(*k)++], "CUDA_VISIBLE_DEVICES=%s", job->rec.gpus) <
		    0 ||
	    asprintf(&env[(*k)++], "TRAINFS_GPUS=%s", job->rec.gpus) < 0)
		env[*k - 1] = NULL;
}

int gpu_run_env_overrides(const struct job *job, const char *entry)
{
	return job->rec.gpus && !strncmp(entry, "CUDA_VISIBLE_DEVICES=", 21);
}

char *gpu_run_slurm_opt(const struct job *job, char *buf, size_t len)
{
	int own = 0;
	for (size_t i = 0; i < job->spec.nslurm; i++)
		if (!strcmp(job->spec.slurm[i].option, "gpus") ||
		    !strcmp(job->spec.slurm[i].option, "gres"))
			own = 1;
	long n = gpus_slurm_count(job->spec.gpus, own);
	if (n > 0)
		snprintf(buf, len, "gpus=%ld", n);
	else if (len)
		buf[0] = '\0';
	return buf;
}

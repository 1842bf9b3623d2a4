/*
 * launch: starts a queued job's trainer.  It makes the folders and files
 * the trainer writes (owned by the job's owner, closed to others), builds
 * the trainer's environment (a clean one, as sudo gives, for another
 * user), and hands the launch to the job's executor (executor.h), which
 * runs it on this machine or on Slurm.  It also takes in what the
 * executor says of a run (sv_run_status): queued or running, the status
 * line, a stop at a time limit.
 *
 * A launch that fails says which step failed and on which path, as the
 * user can act on it: "cannot start the trainer: creating 'work/':
 * Permission denied", never a bare strerror.
 *
 * Locks: called on the supervisor's thread with the job's lock held.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/core/ckpt_run.h"
#include "jobs/core/gpu_run.h"
#include "jobs/core/src_ingest.h"
#include "jobs/core/supervisor.h"
#include "jobs/run/watch.h"
#include "util/log.h"

extern char **environ;

/*
 * Makes REL in the job's folder (a folder, or a file when FILE) owned by
 * the job's owner and closed to others (0700, 0600), never through a
 * symbolic link.  Returns 0 or -errno.
 */
static int make_owned(struct jobs *j, struct job *job, const char *rel,
		      int file)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, rc = jobs_path(j, job, rel, path, sizeof path);
	if (rc)
		return rc;
	if (file) {
		fd = open(path,
			  O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
				  O_NOCTTY | O_CLOEXEC,
			  0600);
	} else {
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = open(path,
			  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (file ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode))
		rc = -EEXIST; /* something else already has the name */
	else if (geteuid() == 0 && fchown(fd, job->rec.uid, job->rec.gid) < 0)
		rc = -errno;
	else if (fchmod(fd, file ? 0600 : 0700) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Whether the inherited ENTRY ("NAME=VALUE") is replaced by one the
 * trainer gets from trainfs: TRAINFS_* or the spec's env.*.
 */
static int env_overridden(const char *entry, const struct job *job)
{
	size_t n = strcspn(entry, "=");
	if (!strncmp(entry, "TRAINFS_", 8) || gpu_run_env_overrides(job, entry))
		return 1;
	for (size_t i = 0; i < job->spec.nenv; i++)
		if (strlen(job->spec.env[i].name) == n &&
		    !strncmp(entry, job->spec.env[i].name, n))
			return 1;
	return 0;
}

/* What a clean environment keeps of trainfs's own (sudo's env_reset). */
static int env_kept(const char *entry)
{
	return !strncmp(entry, "LANG=", 5) || !strncmp(entry, "LC_", 3) ||
	       !strncmp(entry, "TZ=", 3);
}

/* Appends "NAME=VALUE" to ENV at *K unless the spec's env.* sets NAME. */
static void env_put(char **env, size_t *k, const struct job *job,
		    const char *name, const char *value)
{
	char *e;
	if (asprintf(&e, "%s=%s", name, value) < 0)
		e = NULL;
	if (e && env_overridden(e, job)) {
		free(e);
		return;
	}
	env[(*k)++] = e;
}

/*
 * The trainer's environment.  A trainer of trainfs's own user inherits
 * trainfs's environment; one of another user gets a clean one, as sudo
 * gives: the owner's HOME, USER, LOGNAME and SHELL (which the shim looks
 * up: trainfs asks no user database), a fixed PATH, LANG, LC_* and TZ,
 * nothing else of trainfs's (its secrets stay its own).
 * Then TRAINFS_* and the spec's env.* either way.  (A Slurm executor
 * would still run sbatch and scancel with trainfs's own SLURM_CONF and
 * SLURM_*: this list is the trainer's only.)  Returns a NULL-terminated
 * array the caller frees with its strings, or NULL when out of memory.
 * DIR is the job's folder in the store.
 */
static char **trainer_env(struct job *job, const char *dir)
{
	size_t n = 0, k = 0;
	int clean = getuid() != job->rec.uid;
	while (environ[n])
		n++;
	char **env = calloc(n + job->spec.nenv + 20, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((!clean || env_kept(environ[i])) &&
		    !env_overridden(environ[i], job))
			env[k++] = strdup(environ[i]);
	if (clean) /* HOME, USER, LOGNAME, SHELL: exec_launch.owner_env */
		env_put(env, &k, job, "PATH", "/usr/local/bin:/usr/bin:/bin");
	if (asprintf(&env[k++], "TRAINFS_JOB=%s", job->rec.name) < 0 ||
	    asprintf(&env[k++], "TRAINFS_OUTPUT=%s/output", dir) < 0 ||
	    asprintf(&env[k++], "TRAINFS_METRICS=%s/metrics.txt", dir) < 0 ||
	    asprintf(&env[k++], "TRAINFS_STOP_FILE=%s/" EXEC_STOP_FILE, dir) <
		    0)
		env[k - 1] = NULL;
	ckpt_env(job, dir, env, &k); /* hook: checkpoints, epochs, resume */
	gpu_run_env(job, env, &k);   /* hook: the GPUs it holds */
	for (size_t i = 0; i < job->spec.nenv; i++)
		if (asprintf(&env[k++], "%s=%s", job->spec.env[i].name,
			     job->spec.env[i].value) < 0)
			env[k - 1] = NULL;
	/* A failed strdup/asprintf left a hole: refuse rather than run half. */
	for (size_t i = 0; i < k; i++)
		if (!env[i]) {
			for (size_t m = 0; m < k; m++)
				free(env[m]);
			free(env);
			return NULL;
		}
	env[k] = NULL;
	return env;
}

/* Where JOB's trainer runs. */
struct executor *sv_executor_of(struct jobs *j, struct job *job)
{
	if (job->spec.executor == SPEC_EXECUTOR_SLURM ||
	    (job->spec.executor == SPEC_EXECUTOR_DEFAULT && j->cfg.slurm))
		return j->slurm;
	return j->local;
}

static void free_strv(char **v);

/*
 * The spec's slurm.* keys as "option=value" ("cpus-per-task=4"), NULL-
 * terminated, or NULL when out of memory.
 */
static char **slurm_opts(const struct job *job)
{
	char gpus[32];
	size_t n = job->spec.nslurm;
	char **v = calloc(n + 2, sizeof *v);
	for (size_t i = 0; v && i < n; i++)
		if (asprintf(&v[i], "%s=%s", job->spec.slurm[i].option,
			     job->spec.slurm[i].value) < 0) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return NULL;
		}
	/* The spec's gpus = N is sbatch's --gpus=N on Slurm. */
	if (v && *gpu_run_slurm_opt(job, gpus, sizeof gpus) &&
	    !(v[n] = strdup(gpus))) {
		free_strv(v);
		return NULL;
	}
	return v;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/*
 * Takes in what JOB's executor says of its run: the id to store, the
 * status line, queued -> running once the trainer has started, and a stop
 * at a time limit.  With the job's lock held.
 */
void sv_run_status(struct jobs *j, struct job *job)
{
	struct exec_status st;
	if (!job->run || job->exec->ops->status(job->run, &st))
		return;
	if (st.ref && st.ref != job->rec.slurm_id) {
		job->rec.slurm_id = st.ref;
		job_save_logged(j, job);
	}
	if (strcmp(st.line, job->exec_line ? job->exec_line : "")) {
		free(job->exec_line);
		job->exec_line = *st.line ? strdup(st.line) : NULL;
		job_touch(j, job, VIEW_BIT(VIEW_STATUS));
	}
	if (st.running && job->rec.state == ST_QUEUED) {
		job->rec.started_ns = job_now_ns();
		/* Logged by job_set_state(); it runs all the same. */
		(void)!job_set_state(j, job, ST_RUNNING, "started", NULL);
	}
	/* Logged by job_set_state(); the stop stands in memory. */
	if (st.time_up && job->rec.state == ST_RUNNING)
		(void)!job_stop(j, job, "stopped-early", JOB_TIME_LIMIT_STOP,
				(const char *[]){ "stopped-early", NULL });
}

/* What a trainer writes in its job's folder, made before each launch. */
static const struct owned_name {
	const char *rel;
	int file;
} owned_names[] = {
	{ "output", 0 }, { CKPT_DIR, 0 }, { "metrics.txt", 1 },
	{ "log", 1 },	 { "work", 0 },
};

/*
 * Makes what JOB's trainer writes (work/ only without the spec's
 * workdir).  Returns 0 or -errno with STEP naming the step that failed:
 * "creating 'work/'".
 */
static int make_trainer_files(struct jobs *j, struct job *job, char *step,
			      size_t len)
{
	size_t n = sizeof owned_names / sizeof owned_names[0];
	for (size_t i = 0; i < n; i++) {
		const struct owned_name *o = &owned_names[i];
		int rc;
		if (!strcmp(o->rel, "work") && job->spec.workdir)
			continue;
		if ((rc = make_owned(j, job, o->rel, o->file))) {
			snprintf(step, len, "creating '%s%s'", o->rel,
				 o->file ? "" : "/");
			return rc;
		}
	}
	return 0;
}

/*
 * Checks JOB's folder, names the paths the launch needs and makes the
 * trainer's files.  Returns 0 or -errno with STEP naming the failed step.
 */
static int prepare_launch(struct jobs *j, struct job *job, char *step,
			  size_t len, char *dir, char *work, char *log,
			  char *stop)
{
	int rc;
	snprintf(step, len, "checking its folder 'jobs/%lld/' in the store",
		 (long long)job->rec.id);
	if ((rc = store_job_dir_check(j->store, job->rec.id)))
		return rc;
	snprintf(step, len, "naming its files in the store");
	if ((rc = jobs_path(j, job, "", dir, PATH_MAX)) ||
	    (rc = jobs_path(j, job, "log", log, PATH_MAX)) ||
	    (rc = jobs_path(j, job, "work", work, PATH_MAX)) ||
	    (rc = jobs_path(j, job, EXEC_STOP_FILE, stop, PATH_MAX)))
		return rc;
	return make_trainer_files(j, job, step, len);
}

void sv_launch(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX], work[PATH_MAX], log[PATH_MAX], stop[PATH_MAX];
	char f[PATH_MAX], **env = NULL, **opts = NULL, *watch = NULL;
	char step[PATH_MAX + 64];
	int rc;

	if ((rc = prepare_launch(j, job, step, sizeof step, dir, work, log,
				 stop)))
		goto fail;
	/* The last run's auto-stop record is not this run's. */
	if (!jobs_path(j, job, EXEC_AUTOSTOP_FILE, f, sizeof f))
		unlink(f);
	/* Hook: a resumed job's stale checkpoints; logged, the launch goes on. */
	(void)!ckpt_launch(j, job);
	snprintf(step, sizeof step, "building its environment");
	if (!(env = trainer_env(job, dir)) || !(opts = slurm_opts(job))) {
		rc = -ENOMEM;
		goto fail;
	}
	struct exec_launch l = {
		.job_dir = dir,
		.command = job->spec.command,
		.workdir = job->spec.workdir ? job->spec.workdir : work,
		.log = log,
		.uid = job->rec.uid,
		.gid = job->rec.gid,
		.stop_signal = job->spec.stop_signal,
		.stop_group = job->spec.stop_to == SPEC_STOP_TO_GROUP,
		.grace = job->spec.grace,
		.env = env,
		.job_name = job->rec.name,
		.slurm_opts = opts,
		.stop_file = stop,
		.owner_env = getuid() != job->rec.uid,
	};
	char src[PATH_MAX];
	struct watch_source ws = { .pos = job->rec.source_pos };
	if (job->spec.metrics_from && !src_ingest_path(j, job, src, sizeof src))
		ws.path = src;
	if (watch_launch_encode(&watch, &l.watch_len, job->spec.monitor,
				&job->policy, job->rec.metrics_offset,
				&ws) == 0)
		l.watch = watch;
	job->exec = sv_executor_of(j, job);
	job->run_over = 0;
	free(job->exec_error);
	job->exec_error = NULL;
	job->rec.slurm_id = 0;
	snprintf(step, sizeof step, "launching it with the %s executor",
		 job->exec->ops->name);
	if ((rc = job->exec->ops->launch(job->exec, &l, &job->run)))
		goto fail;
	sv_set_busy(j, job, 1);
	sv_open_metrics_logged(j, job);
	/* Running now, or queued until the executor says it started. */
	sv_run_status(j, job);
	job_touch(j, job, VIEW_BIT(VIEW_LOG) | VIEW_BIT(VIEW_STATUS));
	goto out;
fail:
	gpu_run_release(job);
	sv_fail(j, job, "cannot start the trainer: %s: %s", step,
		strerror(-rc));
out:
	free(watch);
	free_strv(env);
	free_strv(opts);
}

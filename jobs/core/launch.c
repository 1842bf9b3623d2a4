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
 * Threads and locks: the supervisor hands a launch over with the job's
 * lock held (sv_launch, quick); the launch runs on a thread of its own
 * (worker.h), holding the job's lock only to read the job and to install
 * the run, never over the slow steps: making the files, the checkpoints
 * read and deleted as the owner (with deadlines), the spawn of the shim.
 * Meanwhile the job stays queued with `launching` set: the scheduler
 * counts it as running, and a job cancelled meanwhile has the run it
 * makes cancelled at once (or nothing started).
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
#include "jobs/core/output.h"
#include "jobs/core/src_ingest.h"
#include "jobs/core/supervisor.h"
#include "jobs/core/worker.h"
#include "jobs/run/watch.h"
#include "util/log.h"

extern char **environ;

/*
 * Makes REL in the job's folder DIR (a folder, or a file when FILE) owned
 * by UID/GID and closed to others (0700, 0600), never through a symbolic
 * link.  Returns 0 or -errno.
 */
static int make_owned(const char *dir, const char *rel, int file, uid_t uid,
		      gid_t gid)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, rc = 0;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) >=
	    sizeof path)
		return -ENAMETOOLONG;
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
	else if (geteuid() == 0 && fchown(fd, uid, gid) < 0)
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
 * One launch, from the supervisor's hand-over to the run installed in
 * the job: what it needs of the job is copied here under the job's lock,
 * so that its slow steps (files, checkpoints, the spawn) run with none.
 */
struct launch {
	int64_t id;
	uid_t uid;
	gid_t gid;
	int own_work; /* no spec workdir: work/ is made */
	char dir[PATH_MAX], work[PATH_MAX], log[PATH_MAX], stop[PATH_MAX];
	char autostop[PATH_MAX];
	struct ckpt_launch *ckpt;
	char *command, *workdir, *name; /* copies for exec_launch */
	char **env, **opts, *watch;
	struct exec_launch l;
	char step[PATH_MAX + 64]; /* the step under way, for an error */
};

static void launch_free(struct launch *x)
{
	free(x->command);
	free(x->workdir);
	free(x->name);
	free(x->watch);
	free_strv(x->env);
	free_strv(x->opts);
	free(x);
}

/*
 * Copies what the slow steps need from JOB (locked).  Returns 0 or
 * -errno with the step named.
 */
static int launch_plan(struct jobs *j, struct job *job, struct launch *x)
{
	x->id = job->rec.id;
	x->uid = job->rec.uid;
	x->gid = job->rec.gid;
	x->own_work = !job->spec.workdir;
	snprintf(x->step, sizeof x->step, "naming its files in the store");
	int rc;
	if ((rc = jobs_path(j, job, "", x->dir, PATH_MAX)) ||
	    (rc = jobs_path(j, job, "log", x->log, PATH_MAX)) ||
	    (rc = jobs_path(j, job, "work", x->work, PATH_MAX)) ||
	    (rc = jobs_path(j, job, EXEC_STOP_FILE, x->stop, PATH_MAX)) ||
	    (rc = jobs_path(j, job, EXEC_AUTOSTOP_FILE, x->autostop, PATH_MAX)))
		return rc;
	/* Hook: a resumed job's stale checkpoints, its resume path. */
	x->ckpt = ckpt_launch_plan(j, job);
	return 0;
}

/*
 * With no lock held: checks the job's folder, makes the trainer's files
 * and clears what the last run left.  Returns 0 or -errno with the step.
 */
static int launch_prepare(struct jobs *j, struct launch *x)
{
	size_t n = sizeof owned_names / sizeof owned_names[0];
	int rc;
	snprintf(x->step, sizeof x->step,
		 "checking its folder 'jobs/%lld/' in the store",
		 (long long)x->id);
	if ((rc = store_job_dir_check(j->store, x->id)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		const struct owned_name *o = &owned_names[i];
		if (!strcmp(o->rel, "work") && !x->own_work)
			continue;
		snprintf(x->step, sizeof x->step, "creating '%s%s'", o->rel,
			 o->file ? "" : "/");
		if ((rc = make_owned(x->dir, o->rel, o->file, x->uid, x->gid)))
			return rc;
	}
	/* The last run's auto-stop record is not this run's. */
	unlink(x->autostop);
	ckpt_launch_work(x->ckpt); /* logged; the launch goes on */
	return 0;
}

/*
 * With JOB's lock: its environment and the executor's request, from the
 * job as it is now.  Returns 0 or -errno with the step.
 */
static int launch_request(struct jobs *j, struct job *job, struct launch *x)
{
	ckpt_launch_done(job, x->ckpt);
	x->ckpt = NULL;
	snprintf(x->step, sizeof x->step, "building its environment");
	if (!(x->env = trainer_env(job, x->dir)) ||
	    !(x->opts = slurm_opts(job)) ||
	    !(x->command = strdup(job->spec.command)) ||
	    !(x->name = strdup(job->rec.name)) ||
	    (job->spec.workdir && !(x->workdir = strdup(job->spec.workdir))))
		return -ENOMEM;
	x->l = (struct exec_launch){
		.job_dir = x->dir,
		.command = x->command,
		.workdir = x->workdir ? x->workdir : x->work,
		.log = x->log,
		.uid = job->rec.uid,
		.gid = job->rec.gid,
		.stop_signal = job->spec.stop_signal,
		.stop_group = job->spec.stop_to == SPEC_STOP_TO_GROUP,
		.grace = job->spec.grace,
		.env = x->env,
		.job_name = x->name,
		.slurm_opts = x->opts,
		.stop_file = x->stop,
		.owner_env = getuid() != job->rec.uid,
	};
	char src[PATH_MAX];
	struct watch_source ws = { .pos = job->rec.source_pos };
	if (job->spec.metrics_from && !src_ingest_path(j, job, src, sizeof src))
		ws.path = src;
	if (watch_launch_encode(&x->watch, &x->l.watch_len, job->spec.monitor,
				&job->policy, job->rec.metrics_offset,
				&ws) == 0)
		x->l.watch = x->watch;
	job->run_over = 0;
	free(job->exec_error);
	job->exec_error = NULL;
	job->rec.slurm_id = 0;
	snprintf(x->step, sizeof x->step, "launching it with the %s executor",
		 job->exec->ops->name);
	return 0;
}

/* Whether JOB (locked) still waits for the launch under way. */
static int launch_wanted(const struct job *job)
{
	return !job->removed && job->rec.state == ST_QUEUED;
}

/*
 * The end of a launch, with JOB's lock: RUN (or NULL) becomes the job's,
 * or RC (with the step) fails the job, unless the job was cancelled
 * meanwhile: then its new run is cancelled at once (its end is taken in
 * as a cancelled run's), or nothing was started.
 */
static void launch_end(struct jobs *j, struct job *job, struct launch *x,
		       struct exec_run *run, int rc)
{
	job->launching = 0;
	if (run) {
		job->run = run;
		if (job->rec.state == ST_CANCELLED)
			job_signal(j, job, EXEC_CANCEL);
		sv_set_busy(j, job, 1);
		sv_open_metrics_logged(j, job);
		/* Running now, or queued until the executor says it started. */
		sv_run_status(j, job);
		job_touch(j, job, VIEW_BIT(VIEW_LOG) | VIEW_BIT(VIEW_STATUS));
		return;
	}
	gpu_run_release(job);
	if (rc && job->rec.state == ST_QUEUED && !job->removed) {
		sv_fail(j, job, "cannot start the trainer: %s: %s", x->step,
			strerror(-rc));
		return;
	}
	/* Cancelled before its spawn: what the launch made goes, as a run's. */
	if (job->rec.state == ST_CANCELLED && !job->delete_when_idle)
		job_delete_output(j, job);
	sv_set_busy(j, job, 0);
}

/*
 * The launch's own thread (worker.h): plan under the job's lock, prepare
 * with none, the request under the lock, the spawn (or Slurm's request)
 * with none, and the end under the lock; at each take of the lock, a job
 * cancelled meanwhile stops the launch.
 */
static void launch_main(struct jobs *j, struct job *job, void *arg)
{
	struct launch *x = arg;
	struct exec_run *run = NULL;
	int rc = 0;
	job_lock(job);
	struct executor *ex = job->exec;
	if (!launch_wanted(job) || (rc = launch_plan(j, job, x)))
		goto end;
	job_unlock(job);
	rc = launch_prepare(j, x);
	job_lock(job);
	if (rc || !launch_wanted(job) || (rc = launch_request(j, job, x)))
		goto end;
	job_unlock(job);
	rc = ex->ops->launch(ex, &x->l, &run);
	job_lock(job);
end:
	ckpt_launch_done(job, x->ckpt);
	x->ckpt = NULL;
	launch_end(j, job, x, run, rc);
	job_unlock(job);
	launch_free(x);
	jobs_wake(j); /* its descriptor to poll, a slot perhaps free */
}

void sv_launch(struct jobs *j, struct job *job)
{
	struct launch *x = calloc(1, sizeof *x);
	int rc = x ? 0 : -ENOMEM;
	job_assert_locked(job);
	job->exec = sv_executor_of(j, job);
	job->launching = 1;
	sv_set_busy(j, job, 1);
	if (!rc && !(rc = worker_start(j, job, launch_main, x)))
		return;
	free(x);
	job->launching = 0;
	gpu_run_release(job);
	sv_fail(j, job, "cannot start the trainer: starting its launch: %s",
		strerror(-rc));
}

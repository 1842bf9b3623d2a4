/*
 * ckpt_run: see ckpt_run.h.  Every function here is a hook the supervisor
 * (or resume.c and restart.c) calls at one point of a job's life; the rule itself
 * (which checkpoint counts, which to keep) is jobs/artifacts/checkpoint.c's.
 *
 * Ownership: the scan's epoch arrays and plans are this file's, freed
 * before each function returns; the strings put into a trainer's
 * environment are the caller's to free.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/artifacts/checkpoint.h"
#include "jobs/core/ckpt_run.h"
#include "jobs/core/worker.h"
#include "jobs/artifacts/ownfiles.h"
#include "jobs/run/source.h"
#include "util/log.h"
#include "util/userfile.h"

/* A running job's folder is read again at least this often (ns). */
#define RESCAN_NS 1000000000LL
/*
 * The trainer's own checkpoints (checkpoints_from) are read as the owner,
 * in a helper process that costs tens of milliseconds of the supervisor's
 * time: again at each new epoch, else only this often.
 */
#define OWN_RESCAN_NS 10000000000LL

static enum checkpoint_keep keep_of(const struct job *job)
{
	return job->spec.keep == SPEC_KEEP_LAST ? CHECKPOINT_KEEP_LAST :
						  CHECKPOINT_KEEP_BEST;
}

static long newest_of(const struct job *job)
{
	return job->spec.checkpoints == SPEC_CHECKPOINTS_ALL ?
		       CHECKPOINT_KEEP_ALL :
		       job->spec.checkpoints;
}

/*
 * Where a job's checkpoints are, copied under its lock so that the scan
 * can run without it: the folder TRAINFS_CHECKPOINTS, or (with
 * checkpoints_from) the workdir and the pattern.
 */
struct ckpt_src {
	char dir[PATH_MAX];
	char *pattern; /* NULL: dir holds epoch-N folders */
	long offset;   /* added to the trainer's {epoch} */
	uid_t uid;
	gid_t gid;
};

/* The workdir of JOB (absolute) into BUF; 0 or -errno. */
static int workdir_of(struct jobs *j, const struct job *job, char *buf,
		      size_t len)
{
	if (!job->spec.workdir)
		return jobs_path(j, job, "work", buf, len);
	if ((size_t)snprintf(buf, len, "%s", job->spec.workdir) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * How many a metrics source that counts from 0 shifts the trainer's own
 * epoch numbers: its epoch 0 is shown as 1, so a checkpoint named for
 * epoch 0 is the checkpoint of the shown epoch 1.
 */
static long epoch_offset(const struct job *job)
{
	return job->spec.metrics_from &&
	       source_pos_from_zero(job->rec.source_pos);
}

/* Fills *SRC for JOB, with its lock held; 0 or -errno. */
static int src_of(struct jobs *j, const struct job *job, struct ckpt_src *src)
{
	memset(src, 0, sizeof *src);
	src->uid = job->rec.uid;
	src->gid = job->rec.gid;
	if (!job->spec.checkpoints_from)
		return jobs_path(j, job, CKPT_DIR, src->dir, sizeof src->dir);
	src->offset = epoch_offset(job);
	if (!(src->pattern = strdup(job->spec.checkpoints_from)))
		return -ENOMEM;
	return workdir_of(j, job, src->dir, sizeof src->dir);
}

/* Reads the trainer's own checkpoints: their epochs, shifted, ascending. */
static int scan_own(struct jobs *j, const struct ckpt_src *src, long **epochs,
		    size_t *n)
{
	struct ownfile *m = NULL;
	size_t nm = 0, k = 0;
	int rc = ownfiles_scan_as(j->self_exe, src->dir, src->uid, src->gid,
				  src->pattern, &m, &nm);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	if (nm && !(*epochs = malloc(nm * sizeof **epochs)))
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < nm; i++) {
		long e = m[i].epoch + src->offset;
		if (!k || (*epochs)[k - 1] != e) /* sorted: repeats adjoin */
			(*epochs)[k++] = e;
	}
	*n = k;
	ownfiles_free(m, nm);
	return rc;
}

/* Reads SRC: the epochs of its whole checkpoints, no lock held. */
static int scan(struct jobs *j, const struct ckpt_src *src, long **epochs,
		size_t *n)
{
	*epochs = NULL;
	*n = 0;
	if (src->pattern)
		return scan_own(j, src, epochs, n);
	int fd = userfile_open(AT_FDCWD, src->dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	int rc = checkpoint_scan(fd, NULL, NULL, epochs, n);
	close(fd);
	return rc;
}

/*
 * With the job's lock: the plan for EPOCHS (those with a metrics line:
 * at or below the last reported epoch), and rec.checkpoint (and, when
 * FINAL, rec.weights_from) set from it.  The epochs to delete are moved
 * into *drop (the caller frees).  Returns 0 or -ENOMEM.
 */
static int plan(struct jobs *j, struct job *job, long *epochs, size_t n,
		int final, long **drop, size_t *ndrop)
{
	struct checkpoint_plan p = { 0 };
	long last = job->rec.last_epoch;
	n = checkpoint_filter(epochs, n, checkpoint_upto, &last);
	long best = job->policy.have_best ? job->policy.best_epoch : -1;
	int rc = checkpoint_plan(epochs, n, keep_of(job), best, newest_of(job),
				 &p);
	if (rc)
		return rc;
	int changed = job->rec.checkpoint != p.newest;
	job->rec.checkpoint = p.newest;
	if (final) {
		changed |= job->rec.weights_from != p.weights;
		job->rec.weights_from = p.weights;
	}
	if (changed) {
		job_touch(j, job,
			  VIEW_BIT(VIEW_STATUS) | VIEW_BIT(VIEW_CONTROL));
		if ((rc = job_save(j, job)))
			log_error("job '%s': cannot store its checkpoint: %s\n",
				  job->rec.name, strerror(-rc));
	}
	*drop = p.drop;
	*ndrop = p.ndrop;
	p.drop = NULL;
	checkpoint_plan_free(&p);
	return 0;
}

/* Deletes DROP from the folder DIR as UID/GID, no lock held. */
static void prune(struct jobs *j, const char *name, const char *dir, uid_t uid,
		  gid_t gid, const long *drop, size_t n)
{
	char err[512] = "";
	if (!n)
		return;
	int rc = checkpoint_prune(j->self_exe, dir, uid, gid, drop, n, err,
				  sizeof err);
	if (rc)
		log_error("job '%s': cannot delete old checkpoints: %s\n", name,
			  *err ? err : strerror(-rc));
}

/*
 * Scan (no lock), plan (JOB's lock), prune (no lock): the trainer's own
 * checkpoints (checkpoints_from) are never pruned, it keeps its own count.
 * Called, and returns, with JOB's lock not held.
 */
static void cycle(struct jobs *j, struct job *job, struct ckpt_src *src,
		  int final)
{
	char name[JOB_NAME_MAX + 1];
	long *epochs = NULL, *drop = NULL;
	size_t n = 0, ndrop = 0;
	int rc = scan(j, src, &epochs, &n);
	job_lock(job);
	if (rc)
		log_error("job '%s': cannot read its checkpoints: %s\n",
			  job->rec.name, strerror(-rc));
	else if (!job->removed)
		rc = plan(j, job, epochs, n, final, &drop, &ndrop);
	snprintf(name, sizeof name, "%s", job->rec.name);
	job_unlock(job);
	free(epochs);
	if (!rc && !src->pattern)
		prune(j, name, src->dir, src->uid, src->gid, drop, ndrop);
	free(drop);
	free(src->pattern);
	src->pattern = NULL;
}

/* A scan's own thread (worker.h): a cycle, then the job's flags. */
struct cycle_step {
	struct ckpt_src src;
	int final;
};

static void cycle_main(struct jobs *j, struct job *job, void *arg)
{
	struct cycle_step *c = arg;
	cycle(j, job, &c->src, c->final);
	job_lock(job);
	job->ckpt_cycling = 0;
	if (c->final)
		job->ckpt_final_done = 1;
	job_unlock(job);
	free(c);
	jobs_wake(j); /* a final cycle: the end goes on */
}

/*
 * Starts the cycle of SRC (moved) on a thread of its own, JOB locked.
 * Returns 0, or -errno with nothing started (SRC untouched).
 */
static int cycle_start(struct jobs *j, struct job *job, struct ckpt_src *src,
		       int final)
{
	struct cycle_step *c = malloc(sizeof *c);
	if (!c)
		return -ENOMEM;
	c->src = *src;
	c->final = final;
	int rc = worker_start(j, job, cycle_main, c);
	if (rc) {
		free(c);
		return rc;
	}
	job->ckpt_cycling = 1;
	return 0;
}

void ckpt_round(struct jobs *j, struct job *job)
{
	struct ckpt_src src;
	if (!job_trylock(job))
		return;
	int64_t now = job_now_ns();
	int due = !job->removed && job->rec.state == ST_RUNNING &&
		  !job->ended && job->run && !job->run_over &&
		  !job->ckpt_cycling &&
		  (job->rec.last_epoch != job->ckpt_scanned ||
		   now - job->ckpt_scan_ns >= (job->spec.checkpoints_from ?
						       OWN_RESCAN_NS :
						       RESCAN_NS)) &&
		  !src_of(j, job, &src);
	/* The trainer's own (a helper as the owner): on a thread of its own. */
	int own = due && src.pattern;
	if (due) {
		job->ckpt_scanned = job->rec.last_epoch;
		job->ckpt_scan_ns = now;
		if (own && cycle_start(j, job, &src, 0))
			free(src.pattern); /* the next round tries again */
	}
	job_unlock(job);
	if (due && !own)
		cycle(j, job, &src, 0); /* the store's folder: quick, here */
}

int ckpt_final(struct jobs *j, struct job *job, int wait)
{
	struct ckpt_src src;
	job_assert_locked(job);
	if (job->ckpt_final_done) {
		job->ckpt_final_done = 0;
		return 1;
	}
	if (job->ckpt_cycling)
		return 0; /* a round's scan, or the last one, under way */
	if ((job->rec.state != ST_RUNNING && job->rec.state != ST_STOPPING) ||
	    src_of(j, job, &src))
		return 1;
	job->rec.weights_from = -1;
	if (!wait && src.pattern && !cycle_start(j, job, &src, 1))
		return 0;
	job_unlock(job);
	cycle(j, job, &src, 1);
	job_lock(job);
	return 1;
}

int ckpt_has_weights(const struct job *job)
{
	return job->rec.weights_from >= 0 || job->spec.weights;
}

int ckpt_pack_source(struct jobs *j, const struct job *job, char *buf,
		     size_t len)
{
	char rel[sizeof CKPT_DIR + CHECKPOINT_NAME_MAX + 1],
		name[CHECKPOINT_NAME_MAX];
	if (job->spec.weights ||
	    (job->spec.checkpoints_from && job->rec.weights_from >= 0))
		return workdir_of(j, job, buf, len);
	if (job->rec.weights_from < 0)
		return jobs_path(j, job, "output", buf, len);
	snprintf(rel, sizeof rel, "%s/%s", CKPT_DIR,
		 checkpoint_name(job->rec.weights_from, name));
	return jobs_path(j, job, rel, buf, len);
}

size_t ckpt_pack_args(const struct job *job, char *args[3], char *buf,
		      size_t len)
{
	if (job->spec.weights) {
		args[0] = "weights";
		args[1] = job->spec.weights;
		return 2;
	}
	if (!job->spec.checkpoints_from || job->rec.weights_from < 0)
		return 0;
	snprintf(buf, len, "%lld",
		 (long long)job->rec.weights_from - epoch_offset(job));
	args[0] = "checkpoint";
	args[1] = job->spec.checkpoints_from;
	args[2] = buf;
	return 3;
}

void ckpt_delete(struct jobs *j, struct job *job)
{
	job_assert_locked(job);
	int rc = store_trash(j->store, job->rec.id, CKPT_DIR);
	if (rc)
		log_error("job '%s': cannot delete its checkpoints: %s\n",
			  job->rec.name, strerror(-rc));
	if (job->rec.checkpoint >= 0 || job->rec.weights_from >= 0) {
		job->rec.checkpoint = -1;
		job->rec.weights_from = -1;
		job_touch(j, job,
			  VIEW_BIT(VIEW_STATUS) | VIEW_BIT(VIEW_CONTROL));
		job_save_logged(j, job);
	}
}

/*
 * What a launch after a resume does to the checkpoints, copied from the
 * job under its lock so that it runs with none (ckpt_run.h).
 */
struct ckpt_launch {
	struct ckpt_src own; /* checkpoints_from: where the trainer's are */
	int has_own;
	char dir[PATH_MAX]; /* TRAINFS_CHECKPOINTS */
	long long resumed_from;
	uid_t uid; /* the owner's, for the helpers */
	gid_t gid;
	char name[JOB_NAME_MAX + 1];
	const char *self_exe;
	char *resume_path; /* found: for the job */
};

struct ckpt_launch *ckpt_launch_plan(struct jobs *j, struct job *job)
{
	job_assert_locked(job);
	job->ckpt_scanned = -2;
	job->ckpt_scan_ns = 0;
	free(job->ckpt_resume_path);
	job->ckpt_resume_path = NULL;
	if (job->rec.resumed_from < 0)
		return NULL;
	struct ckpt_launch *c = calloc(1, sizeof *c);
	int rc = c ? 0 : -ENOMEM;
	if (!rc && job->spec.checkpoints_from) {
		c->has_own = 1;
		rc = src_of(j, job, &c->own);
	}
	if (!rc)
		rc = jobs_path(j, job, CKPT_DIR, c->dir, sizeof c->dir);
	if (rc) {
		log_error("job '%s': cannot clear checkpoints after epoch "
			  "%lld: %s\n",
			  job->rec.name, (long long)job->rec.resumed_from,
			  strerror(-rc));
		ckpt_launch_done(job, c);
		return NULL;
	}
	c->resumed_from = job->rec.resumed_from;
	c->uid = job->rec.uid;
	c->gid = job->rec.gid;
	c->self_exe = j->self_exe;
	snprintf(c->name, sizeof c->name, "%s", job->rec.name);
	return c;
}

/*
 * Finds the trainer's own checkpoint of the epoch resumed from, for
 * TRAINFS_RESUME_FROM (absolute), as the owner.
 */
static void resume_path(struct ckpt_launch *c)
{
	struct ownfile *m = NULL;
	size_t n = 0;
	int rc = ownfiles_scan_as(c->self_exe, c->own.dir, c->own.uid,
				  c->own.gid, c->own.pattern, &m, &n);
	long want = (long)c->resumed_from - c->own.offset;
	for (size_t i = 0; !rc && i < n; i++) {
		if (m[i].epoch != want)
			continue;
		if (asprintf(&c->resume_path, "%s/%s", c->own.dir, m[i].path) <
		    0)
			c->resume_path = NULL;
		break;
	}
	if (!c->resume_path)
		log_error("job '%s': its checkpoint of epoch %lld is gone: "
			  "the trainer starts without one\n",
			  c->name, c->resumed_from);
	ownfiles_free(m, n);
}

void ckpt_launch_work(struct ckpt_launch *c)
{
	char err[512] = "";
	char **names = NULL;
	size_t n = 0;
	if (!c)
		return;
	if (c->has_own)
		resume_path(c);
	int fd = userfile_open(AT_FDCWD, c->dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		if (fd != -ENOENT)
			log_error("job '%s': cannot clear checkpoints after "
				  "epoch %lld: %s\n",
				  c->name, c->resumed_from, strerror(-fd));
		return;
	}
	int rc = checkpoint_scan_after(fd, c->resumed_from, &names, &n);
	close(fd);
	if (!rc && n)
		rc = checkpoint_prune_names(c->self_exe, c->dir, c->uid, c->gid,
					    names, n, err, sizeof err);
	if (rc)
		log_error("job '%s': cannot clear checkpoints after epoch "
			  "%lld: %s\n",
			  c->name, c->resumed_from, *err ? err : strerror(-rc));
	checkpoint_names_free(names, n);
}

void ckpt_launch_done(struct job *job, struct ckpt_launch *c)
{
	if (!c)
		return;
	job_assert_locked(job);
	free(job->ckpt_resume_path);
	job->ckpt_resume_path = c->resume_path;
	free(c->own.pattern);
	free(c);
}

void ckpt_env(const struct job *job, const char *dir, char **env, size_t *k)
{
	char name[CHECKPOINT_NAME_MAX];
	if (asprintf(&env[(*k)++], "TRAINFS_CHECKPOINTS=%s/%s", dir, CKPT_DIR) <
	    0)
		env[*k - 1] = NULL;
	if (job->spec.epochs > 0 &&
	    asprintf(&env[(*k)++], "TRAINFS_EPOCHS=%ld", job->spec.epochs) < 0)
		env[*k - 1] = NULL;
	if (job->rec.resumed_from < 0)
		return;
	if (job->spec.checkpoints_from) {
		if (!job->ckpt_resume_path)
			return;
		if (asprintf(&env[(*k)++], "TRAINFS_RESUME_FROM=%s",
			     job->ckpt_resume_path) < 0)
			env[*k - 1] = NULL;
		if (asprintf(&env[(*k)++], "TRAINFS_RESUME_EPOCH=%lld",
			     (long long)job->rec.resumed_from -
				     epoch_offset(job)) < 0)
			env[*k - 1] = NULL;
		return;
	}
	checkpoint_name(job->rec.resumed_from, name);
	if (asprintf(&env[(*k)++], "TRAINFS_RESUME_FROM=%s/%s/%s", dir,
		     CKPT_DIR, name) < 0)
		env[*k - 1] = NULL;
	if (asprintf(&env[(*k)++], "TRAINFS_RESUME_EPOCH=%lld",
		     (long long)job->rec.resumed_from) < 0)
		env[*k - 1] = NULL;
}

void ckpt_resume_files(struct jobs *j, struct job *job)
{
	static const char *const stale[] = { EXEC_STOP_FILE, EXEC_EXIT_FILE,
					     EXEC_TRAINER_FILE,
					     EXEC_SHIM_SOCK };
	char path[PATH_MAX];
	job_assert_locked(job);
	for (size_t i = 0; i < sizeof stale / sizeof *stale; i++)
		if (!jobs_path(j, job, stale[i], path, sizeof path) &&
		    unlink(path) < 0 && errno != ENOENT)
			log_warn("job '%s': cannot remove '%s': %s\n",
				 job->rec.name, stale[i], strerror(errno));
}

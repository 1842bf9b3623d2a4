/*
 * supervisor: the thread that moves jobs along when no user asks: it
 * launches queued jobs when a slot is free, takes in metrics as trainers
 * append them (and stops a converged job), notices a trainer's end through
 * its executor, packs the weights in a packer process and publishes them.
 *
 * It reaches trainers only through the executor table (executor.h): a job
 * holds its executor and an opaque run handle; the supervisor knows no
 * shim, socket or PID of a trainer.  It calls job.c, never the other way:
 * users' operations record their intent in the job and wake it.
 *
 * It sleeps in poll() on a wake pipe, the executors' descriptors and the
 * packers' progress pipes, holding no lock; each executor's tick runs
 * once per round, with no lock held either, and never waits (Slurm's
 * commands run on the Slurm executor's own thread).  Each round it takes a reference to
 * every listed job (the registry lock held just for that), then works on
 * one job at a time under that job's own lock, so a reader of another job
 * never waits for it.  Metrics are taken in bounded steps (INGEST_BYTES,
 * INGEST_LINES per job per round, the locks let go between steps), the
 * last ones after the trainer ended too: a huge or sparse metrics file
 * costs its job time only.  While a trainer runs it wakes every 20 ms to
 * read new metrics lines, at once while a job has more to read.  At start
 * it re-adopts what the last trainfs left running (recover.c).
 *
 * This file is the loop and the scheduling; its moves are in files of
 * their own (supervisor.h lists them): ingest.c, launch.c, outcome.c,
 * publish.c, recover.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/core/ckpt_run.h"
#include "jobs/core/gpu_run.h"
#include "jobs/core/supervisor.h"
#include "util/log.h"
#include "util/vec.h"

#define METRICS_POLL_MS 20

/*
 * Tries JOB's lock: a job busy with a reader (rendering a huge table, say)
 * is left for the next round rather than waited for.
 */
static int try_lock(struct job *job)
{
	return job_trylock(job);
}

/*
 * The job of ALL (N, ascending ids) with id ID, or NULL.  With the
 * registry's lock held: a job's id is read under it (its record is
 * replaced under it too).
 */
static struct job *find_job(struct jobs *j, struct job **all, size_t n,
			    int64_t id)
{
	size_t lo = 0, hi = n;
	jobs_assert_locked(j);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (all[mid]->rec.id == id)
			return all[mid];
		if (all[mid]->rec.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* What schedule() learns of the jobs in its first pass. */
struct sched {
	struct gpus_queued *q; /* the queued jobs not launched yet */
	size_t nq, cap;
	int held[4 * GPUS_MAX]; /* ids held by trainers */
	size_t nheld;
	long running; /* local jobs with a trainer */
};

/* Counts JOB (locked) into S; -ENOMEM when it could not be queued. */
static int sched_count(struct jobs *j, struct job *job, struct sched *s)
{
	if (job->removed)
		return 0;
	/* Slurm schedules its own jobs: only local ones count. */
	if ((state_has_trainer(job->rec.state) || job->launching) &&
	    job->exec != j->slurm)
		s->running++;
	s->nheld += gpu_run_held(job, s->held + s->nheld,
				 sizeof s->held / sizeof *s->held - s->nheld);
	if (job->rec.state != ST_QUEUED || job->run || job->launching)
		return 0;
	if (VEC_RESERVE(s->q, s->cap, s->nq + 1))
		return -ENOMEM;
	s->q[s->nq++] = (struct gpus_queued){
		.queued_ns = gpu_run_queued_ns(job),
		.job_id = job->rec.id,
		.need = job->spec.gpus,
		.local = sv_executor_of(j, job) != j->slurm,
	};
	return 0;
}

/* Launches JOB (locked) with the ids of Q, or shows why it waits. */
static void sched_apply(struct jobs *j, struct job *job,
			const struct gpus_queued *q, long running)
{
	char line[sizeof job->waiting];
	int rc;
	if (job->removed || job->rec.state != ST_QUEUED || job->run ||
	    job->launching)
		return;
	gpu_run_waiting(j, job,
			gpus_waiting(q, running, j->cfg.max_running, line,
				     sizeof line));
	if (!q->launch)
		return;
	if ((rc = gpu_run_hold(j, job, q->ids)))
		sv_fail(j, job,
			"cannot start the trainer: storing its GPUs: %s",
			strerror(-rc));
	else
		sv_launch(j, job);
}

/*
 * Launches queued jobs of ALL in the order they were queued, while slots
 * and GPUs are free (gpus.c: first come, with backfill); one job's lock
 * at a time, none waited for.  Returns 1 when a job was busy.
 */
static int schedule(struct jobs *j, struct job **all, size_t n)
{
	struct sched s = { 0 };
	int skipped = 0;
	for (size_t i = 0; i < n && !skipped; i++) {
		if (!try_lock(all[i])) {
			skipped = 1; /* uncounted: launch nothing this round */
			break;
		}
		if (sched_count(j, all[i], &s))
			skipped = 1; /* out of memory: the next round tries */
		job_unlock(all[i]);
	}
	if (skipped) {
		free(s.q);
		return 1;
	}
	long running = gpus_schedule(&j->cfg.gpus, s.held, s.nheld, s.running,
				     j->cfg.max_running, s.q, s.nq);
	/* A job busy now keeps its place; the others' ids are theirs alone. */
	for (size_t i = 0; i < s.nq; i++) {
		jobs_lock(j);
		struct job *job = find_job(j, all, n, s.q[i].job_id);
		jobs_unlock(j);
		if (!job)
			continue;
		if (!try_lock(job)) {
			skipped = 1;
			continue;
		}
		sched_apply(j, job, &s.q[i], running);
		job_unlock(job);
	}
	free(s.q);
	return skipped;
}

static void reap(struct jobs *j, struct job *job)
{
	int status;
	if (job->run) {
		sv_settle_run(job);
		/* Idle now, unless its end is still to be taken in or packed. */
		if (!job->run && job->packer_pid <= 0 && !job->ended)
			sv_set_busy(j, job, 0);
	}
	sv_abort_packing(job);
	if (job->packer_pid > 0 &&
	    waitpid(job->packer_pid, &status, WNOHANG) == job->packer_pid)
		sv_packing_ended(j, job, status);
}

/*
 * The jobs listed now, each with a reference; *QUIT: trainfs is closing.
 * NULL when out of memory.
 */
static struct job **snapshot(struct jobs *j, size_t *n, int *quit)
{
	jobs_lock(j);
	struct job **all = malloc((j->n ? j->n : 1) * sizeof *all);
	*quit = j->quit;
	*n = 0;
	if (all) {
		for (size_t i = 0; i < j->n; i++) {
			all[i] = j->list[i];
			all[i]->refs++;
		}
		*n = j->n;
	}
	jobs_unlock(j);
	return all;
}

/* Drops the references of snapshot(). */
static void release(struct jobs *j, struct job **all, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobs_put(j, all[i]);
	free(all);
}

/*
 * Re-adopts what the last trainfs left (trainers, packing) and settles the
 * jobs whose trainer ended meanwhile, before anything is served, so no
 * reader sees a state from before the restart.
 */
static void supervisor_recover(struct jobs *j)
{
	size_t n;
	int quit;
	struct job **all = snapshot(j, &n, &quit);
	for (size_t i = 0; all && i < n; i++) {
		job_lock(all[i]);
		if (!all[i]->removed)
			sv_recover(j, all[i]);
		/* Its last metrics in full: this is before serving anything. */
		while (all[i]->ended && sv_end_step(j, all[i]) != INGEST_DONE)
			;
		job_unlock(all[i]);
	}
	if (all)
		release(j, all, n);
}

/* Each executor's work for all its runs at once, no lock held. */
static void tick(struct jobs *j, int *timeout_ms)
{
	struct executor *ex[] = { j->local, j->slurm };
	for (size_t i = 0; i < sizeof ex / sizeof *ex; i++)
		if (ex[i]->ops->tick)
			ex[i]->ops->tick(ex[i], timeout_ms);
}

/* The descriptors of one round, and the job of each (p[0]: the wake pipe). */
struct round_fds {
	struct pollfd *p;
	struct job **owner;
	size_t n, cap;
};

/* Room for the descriptors of N jobs; 0 or -ENOMEM. */
static int round_fds_reserve(struct round_fds *r, size_t n)
{
	if (r->cap >= 1 + 2 * n)
		return 0;
	r->cap = 2 * (1 + 2 * n);
	free(r->p);
	free(r->owner);
	r->p = calloc(r->cap, sizeof *r->p);
	r->owner = calloc(r->cap, sizeof *r->owner);
	if (!r->p || !r->owner) {
		r->cap = 0;
		return -ENOMEM;
	}
	return 0;
}

/* Appends FD of JOB to R for POLLIN. */
static void round_fds_add(struct round_fds *r, struct job *job, int fd)
{
	r->owner[r->n] = job;
	r->p[r->n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
}

/*
 * Gathers the runs' and packers' descriptors of ALL into R, one job's
 * lock at a time, none waited for (*BUSY: a job was skipped).  Returns
 * whether any job has a trainer, a packer or metrics to follow.
 */
static int gather_fds(struct jobs *j, struct job **all, size_t n,
		      struct round_fds *r, int *busy)
{
	int active = 0;
	r->n = 1;
	r->p[0] = (struct pollfd){ .fd = j->wake[0], .events = POLLIN };
	for (size_t i = 0; i < n; i++) {
		struct job *job = all[i];
		if (!try_lock(job)) {
			*busy = 1; /* its descriptors wait a round */
			continue;
		}
		int rfd = job->run ? job->exec->ops->wait_fd(job->run) : -1;
		if (rfd >= 0 && !job->removed)
			round_fds_add(r, job, rfd);
		if (job->packer_fd >= 0 && !job->removed)
			round_fds_add(r, job, job->packer_fd);
		if (job->metrics_fd >= 0 || job->packer_pid > 0 || job->run ||
		    job->ended)
			active = 1;
		job_unlock(job);
	}
	return active;
}

/* Takes in the news of the descriptors poll() found ready (READY > 0). */
static void serve_ready(struct jobs *j, struct round_fds *r, int ready)
{
	if (ready > 0 && (r->p[0].revents & POLLIN)) {
		char buf[256];
		while (read(j->wake[0], buf, sizeof buf) > 0)
			;
	}
	for (size_t i = 1; ready > 0 && i < r->n; i++) {
		if (!r->p[i].revents)
			continue;
		struct job *job = r->owner[i];
		job_lock(job);
		if (job->removed)
			;
		else if (r->p[i].fd == job->packer_fd)
			sv_read_packer(j, job);
		else
			sv_watch_run(j, job);
		job_unlock(job);
	}
}

/*
 * One round of JOB (locked, not removed): its run's news and status, a
 * step of its metrics (or of its end), its reaping.  Returns 1 when it
 * has more metrics to read at once.
 */
static int job_round(struct jobs *j, struct job *job)
{
	int more = 0;
	/* A backend without a descriptor: every round. */
	if (job->run && job->exec->ops->wait_fd(job->run) < 0)
		sv_watch_run(j, job);
	if (job->run && !job->run_over)
		sv_run_status(j, job);
	if (job->ended)
		more = sv_end_step(j, job) == INGEST_MORE;
	else if (job->metrics_fd >= 0) {
		int a = sv_ingest_metrics(j, job, 0);
		int b = sv_source_round(j, job, 0);
		more = a == INGEST_MORE || b == INGEST_MORE;
	}
	reap(j, job);
	return more;
}

static void *supervisor_main(void *arg)
{
	struct jobs *j = arg;
	struct round_fds r = { 0 };
	size_t n;
	int quit, more = 0;

	struct job **all;
	for (;;) {
		if (!(all = snapshot(j, &n, &quit))) {
			log_error("supervisor: out of memory\n");
			poll(NULL, 0, 1000);
			continue;
		}
		if (quit)
			break;
		int busy = schedule(j, all, n);
		if (round_fds_reserve(&r, n)) {
			log_error("supervisor: out of memory\n");
			release(j, all, n);
			poll(NULL, 0, 1000);
			continue;
		}
		int active = gather_fds(j, all, n, &r, &busy);
		/*
		 * Only this thread closes a shim's or packer's descriptor, and
		 * the references keep every job alive: p[] stays valid.
		 */
		int timeout = more	     ? 0 :
			      active || busy ? METRICS_POLL_MS :
					       1000;
		tick(j, &timeout);
		serve_ready(j, &r, poll(r.p, r.n, timeout));
		more = 0;
		for (size_t i = 0; i < n; i++) {
			struct job *job = all[i];
			if (!try_lock(job))
				continue; /* next round */
			if (!job->removed)
				more |= job_round(j, job);
			job_unlock(job);
			ckpt_round(j, job); /* hook: no lock held */
		}
		release(j, all, n);
	}
	release(j, all, n);
	free(r.p);
	free(r.owner);
	return NULL;
}

int jobs_start_supervisor(struct jobs *j)
{
	/*
	 * Threads do not survive the daemonizing fork: the deleter starts
	 * here, after it, as the supervisor does (until then, and in tools
	 * that never start it, the trash is emptied in place).
	 */
	int err = store_start_deleter(j->store);
	if (err)
		return err;
	supervisor_recover(j);
	/* Set before: the thread reads it (slow steps go to workers). */
	j->supervising = 1;
	int rc = pthread_create(&j->supervisor, NULL, supervisor_main, j);
	if (rc)
		j->supervising = 0;
	return -rc;
}

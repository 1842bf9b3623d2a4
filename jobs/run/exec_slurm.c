/*
 * exec_slurm: the Slurm executor (executor.h's table), on jobs/run/slurm.c's
 * pure functions; slurm.h has the design in full.  In short: a run is one
 * Slurm job whose batch script execs "trainfs __shim --slurm RUNDIR" as
 * the job's owner; RUNDIR is JOBDIR/run, the owner's (the store's job
 * folder stays trainfs's), and holds the launch file, the trainer record
 * and the exit record.
 *
 * Nothing here waits on Slurm under a lock, nor on the supervisor's
 * thread, which serves every job.  The table's calls made with a job's
 * lock held (launch, attach, signal, poll, status, ...) only read or
 * record what a run wants; the executor's own thread (slurm_main) does
 * all Slurm talking for every run at once, one round per
 * SLURM_ROUND_MS or when tick asks for one: sbatch for new runs (as the
 * owner), scancel for the stops and cancels asked for (as trainfs's
 * user), one squeue per SLURM_POLL_MS for all active ids, one scontrol
 * per ended job.  A hung slurmctld holds up that thread only.
 *
 * Locks: x->lock guards the list of runs, every run's fields and the
 * thread's wake-up flags; it is a leaf (taken under a job's lock, never
 * the other way round) and never held over a Slurm command.  A run is referenced by the list until
 * released and by tick while it works on it; the last reference frees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs/run/executor.h"
#include "jobs/run/slurm.h"
#include "util/beneath.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/userfile.h"

extern char **environ;

#define SLURM_POLL_MS 1000 /* one squeue per this, for all jobs */
#define SLURM_CMD_MS 30000 /* deadline of one Slurm command */
#define SLURM_KILL_SLACK \
	3.0			   /* seconds past grace before KILL: the
				   shim writes its exit record first */
#define SLURM_SUBMIT_BUDGET_MS 250 /* of sbatch per round, at least one */
#define SLURM_ROUND_MS 200	   /* the thread's round when nothing asks */
#define SLURM_CLOSE_S 2		   /* how long closing waits for the thread */

struct exec_slurm {
	struct executor base;
	char *self_exe;
	char **cmd_env;	   /* slurm_command_env(environ) */
	char **submit_env; /* slurm_submit_env(environ): sbatch's */
	struct lock lock;  /* see above */
	struct exec_run *runs;
	int64_t last_squeue_ms;
	pthread_t thread;    /* slurm_main, started by the first tick */
	pthread_cond_t kick; /* a round now, or quit */
	int started, kicked, quit;
};

struct exec_run {
	struct exec_slurm *x;
	struct exec_run *next;
	int refs;
	int released;
	char *run_dir;	 /* JOBDIR/run */
	char *stop_file; /* JOBDIR/stop (TRAINFS_STOP_FILE) */
	uid_t uid;
	gid_t gid;
	double grace;
	char **sbatch; /* to submit; NULL once done */
	long long id;  /* 0 until submitted */
	enum slurm_phase phase;
	int started; /* the trainer has started */
	char state[32], reason[128], node[256];
	long time_left; /* seconds at seen_ms; -1 unknown */
	int64_t seen_ms;
	enum slurm_asked asked;
	int stop_sent, kill_sent, cancel_sent;
	int64_t kill_at_ms;
	int ended;  /* the end is known: verdict below */
	int failed; /* ended by Slurm or refused: error */
	char error[512];
};

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static char *path_join(const char *dir, const char *name)
{
	char *p;
	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static void run_put(struct exec_run *r)
{
	if (--r->refs > 0)
		return;
	free(r->run_dir);
	free(r->stop_file);
	slurm_argv_free(r->sbatch);
	free(r);
}

/*
 * Makes JOB_DIR/run the owner's own folder (0700) and returns it open, or
 * -errno.  The job folder is trainfs's, so the name "run" cannot be
 * swapped; what is inside run/ is the owner's, so nothing below is ever
 * reached by path: only through this descriptor, never through a link.
 */
static int open_run_dir(const char *job_dir, uid_t uid, gid_t gid)
{
	struct stat st;
	int jfd =
		open(job_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0)
		return -errno;
	int fd = mkdirat(jfd, EXEC_RUN_DIR, 0700) < 0 && errno != EEXIST ?
			 -errno :
			 beneath_open(jfd, EXEC_RUN_DIR,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	close(jfd);
	if (fd < 0)
		return fd;
	int rc = 0;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (geteuid() == 0 && fchown(fd, uid, gid) < 0)
		rc = -errno;
	else if (fchmod(fd, 0700) < 0)
		rc = -errno;
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * Writes the launch record of L in RUN_FD (run/, the owner's): made anew
 * there and given to the owner by its descriptor before it takes its
 * name, so a link the owner renames over "launch" is replaced, never
 * followed.  The shim that reads it runs as the owner.  0 or -errno.
 */
static int write_run_launch(int run_fd, const struct exec_launch *l)
{
	struct exec_launch sl = *l;
	char **env, *buf;
	size_t len;
	int rc = slurm_launch_env(l->env, environ, &env);
	if (rc)
		return rc;
	sl.env = env;
	if (!(rc = exec_launch_record(&sl, &buf, &len))) {
		rc = beneath_write_new(run_fd, EXEC_LAUNCH_FILE, buf, len,
				       l->uid, l->gid);
		free(buf);
	}
	slurm_argv_free(env);
	return rc;
}

static struct exec_run *run_new(struct exec_slurm *x, const char *job_dir)
{
	struct exec_run *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->x = x;
	r->refs = 1;
	r->time_left = -1;
	r->run_dir = path_join(job_dir, EXEC_RUN_DIR);
	r->stop_file = path_join(job_dir, EXEC_STOP_FILE);
	if (!r->run_dir || !r->stop_file) {
		run_put(r);
		return NULL;
	}
	return r;
}

/* Puts R in the list, with a reference for the caller too. */
static void run_link(struct exec_slurm *x, struct exec_run *r)
{
	lock_take(&x->lock);
	r->refs++; /* the caller's, taken before the thread can see R */
	r->next = x->runs;
	x->runs = r;
	lock_drop(&x->lock);
}

static int slurm_launch(struct executor *ex, const struct exec_launch *l,
			struct exec_run **out)
{
	struct exec_slurm *x = (struct exec_slurm *)ex;
	struct exec_run *r = run_new(x, l->job_dir);
	struct slurm_option opts[32];
	size_t nopts = 0;
	char *copy[32] = { 0 };
	char name[128];
	int rc, run_fd = -1;
	if (!r)
		return -ENOMEM;
	r->uid = l->uid;
	r->gid = l->gid;
	r->grace = l->grace;
	struct exec_launch sl = *l;
	sl.job_dir = r->run_dir;
	sl.stop_file = r->stop_file;
	if ((run_fd = open_run_dir(l->job_dir, l->uid, l->gid)) < 0) {
		rc = run_fd;
		goto fail;
	}
	if ((rc = exec_clear_traces(r->run_dir)))
		goto fail;
	if (unlink(r->stop_file) < 0 && errno != ENOENT) {
		rc = -errno;
		goto fail;
	}
	if ((rc = write_run_launch(run_fd, &sl)))
		goto fail;
	close(run_fd);
	run_fd = -1;
	/* "cpus-per-task=4" (the spec's) to the key slurm.c knows. */
	for (size_t i = 0; l->slurm_opts && l->slurm_opts[i] && nopts < 32;
	     i++) {
		char *c = strdup(l->slurm_opts[i]), *eq;
		if (!c || !(eq = strchr(c, '='))) {
			free(c);
			rc = -ENOMEM;
			goto opts;
		}
		*eq = '\0';
		for (char *p = c; *p; p++)
			if (*p == '-')
				*p = '_';
		copy[nopts] = c;
		opts[nopts].key = c;
		opts[nopts].value = eq + 1;
		nopts++;
	}
	slurm_job_name(l->job_name ? l->job_name : "job", name, sizeof name);
	struct slurm_submit s = {
		.self_exe = x->self_exe,
		.job_dir = r->run_dir,
		.job_name = name,
		.log = l->log,
		.chdir = l->workdir,
		.opts = opts,
		.nopts = nopts,
	};
	rc = slurm_sbatch_argv(&s, &r->sbatch);
opts:
	for (size_t i = 0; i < nopts; i++)
		free(copy[i]);
	if (rc)
		goto fail;
	run_link(x, r);
	*out = r;
	return 0;
fail:
	if (run_fd >= 0)
		close(run_fd);
	run_put(r);
	return rc;
}

static int slurm_attach(struct executor *ex, const char *job_dir, long long ref,
			struct exec_run **out)
{
	struct exec_slurm *x = (struct exec_slurm *)ex;
	if (ref <= 0)
		return -ENOENT;
	struct exec_run *r = run_new(x, job_dir);
	if (!r)
		return -ENOMEM;
	r->id = ref;
	r->phase = SLURM_PHASE_UNKNOWN;
	run_link(x, r);
	*out = r;
	return 0;
}

static int slurm_signal(struct exec_run *r, enum exec_verb verb)
{
	lock_take(&r->x->lock);
	if (verb == EXEC_CANCEL)
		r->asked = SLURM_ASKED_CANCEL;
	else if (r->asked == SLURM_ASKED_NOTHING)
		r->asked = SLURM_ASKED_STOP;
	lock_drop(&r->x->lock);
	return 0; /* tick does it */
}

static int slurm_wait_fd(struct exec_run *r)
{
	(void)r;
	return -1;
}

static int slurm_poll(struct exec_run *r)
{
	lock_take(&r->x->lock);
	int ended = r->ended;
	lock_drop(&r->x->lock);
	return ended;
}

static int slurm_reap(struct exec_run *r)
{
	return slurm_poll(r);
}

static void slurm_release(struct exec_run *r)
{
	if (!r)
		return;
	struct exec_slurm *x = r->x;
	lock_take(&x->lock);
	for (struct exec_run **p = &x->runs; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			r->refs--; /* the list's */
			break;
		}
	r->released = 1;
	run_put(r); /* the caller's */
	lock_drop(&x->lock);
}

static int slurm_status(struct exec_run *r, struct exec_status *st)
{
	lock_take(&r->x->lock);
	st->ref = r->id;
	/* The shim records the trainer as it starts it: sooner than squeue. */
	if (r->id > 0 && !r->started && r->phase != SLURM_PHASE_RUNNING) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/trainer", r->run_dir);
		r->started = access(path, F_OK) == 0;
	}
	if (r->phase == SLURM_PHASE_RUNNING)
		r->started = 1;
	st->running = r->started ||
		      (r->phase == SLURM_PHASE_ENDED && r->id > 0);
	if (r->id > 0)
		slurm_status_line(r->id, r->phase, r->reason, r->node, st->line,
				  sizeof st->line);
	else
		st->line[0] = '\0';
	st->time_up = 0;
	if (r->phase == SLURM_PHASE_RUNNING && r->time_left >= 0 &&
	    r->asked == SLURM_ASKED_NOTHING) {
		double at = r->seen_ms + (r->time_left - r->grace) * 1000.0;
		st->time_up = now_ms() >= at;
	}
	lock_drop(&r->x->lock);
	return 0;
}

static int slurm_verdict(struct exec_run *r, char *buf, size_t len)
{
	lock_take(&r->x->lock);
	int failed = r->ended && r->failed;
	if (failed)
		snprintf(buf, len, "%s", r->error);
	lock_drop(&r->x->lock);
	return failed;
}

static int slurm_read_exit(const char *job_dir, struct exec_exit *e)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof dir, "%s/" EXEC_RUN_DIR, job_dir) >=
	    (int)sizeof dir)
		return -ENAMETOOLONG;
	return exec_read_exit(dir, e);
}

static int slurm_clean_orphan(const char *job_dir)
{
	char path[PATH_MAX];
	/* The shim ran on a node: nothing of it runs here to kill. */
	if (snprintf(path, sizeof path, "%s/" EXEC_RUN_DIR "/" EXEC_EXIT_TMP,
		     job_dir) < (int)sizeof path &&
	    unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int slurm_launched(const char *job_dir)
{
	(void)job_dir;
	return 0; /* a submitted job is known by its stored id */
}

/* ---- tick: all Slurm talking, no lock held over a command ---- */

/* Runs ARGV as UID:GID; logs a failure to run it.  0 or -errno. */
static int run_cmd(struct exec_slurm *x, char **argv, uid_t uid, gid_t gid,
		   struct slurm_output *o)
{
	/* sbatch's environment is exported to the trainer: the shorter one. */
	char **env = !strcmp(argv[0], "sbatch") ? x->submit_env : x->cmd_env;
	int rc = slurm_run(argv, env, uid, gid, SLURM_CMD_MS, o);
	if (rc)
		log_error("slurm: cannot run %s: %s", argv[0], strerror(-rc));
	return rc;
}

static void scancel(struct exec_slurm *x, long long id, const char *how1,
		    const char *how2)
{
	char ids[32];
	struct slurm_output o;
	snprintf(ids, sizeof ids, "%lld", id);
	char *argv[] = { "scancel", (char *)how1, (char *)how2, ids, NULL };
	if (!how1) {
		argv[1] = ids;
		argv[2] = NULL;
	} else if (!how2) {
		argv[2] = ids;
		argv[3] = NULL;
	}
	/* A job that is over needs no signal: nothing to report. */
	if (!run_cmd(x, argv, getuid(), getgid(), &o) &&
	    (!WIFEXITED(o.status) || WEXITSTATUS(o.status)) &&
	    !slurm_job_already_over(o.err))
		log_warn("slurm: scancel of job %lld: %s", id,
			 o.err && *o.err ? o.err : "failed");
	slurm_output_free(&o);
}

static void submit(struct exec_slurm *x, struct exec_run *r)
{
	struct slurm_output o;
	long long id = 0;
	char err[512];
	int rc = run_cmd(x, r->sbatch, r->uid, r->gid, &o);
	if (!rc && WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0 &&
	    !slurm_parse_sbatch(o.out, &id)) {
		err[0] = '\0';
	} else if (!rc) {
		slurm_sbatch_error(o.err, o.status, err, sizeof err);
		id = 0;
	} else {
		snprintf(err, sizeof err, "sbatch: %s", strerror(-rc));
	}
	slurm_output_free(&o);
	lock_take(&x->lock);
	slurm_argv_free(r->sbatch);
	r->sbatch = NULL;
	if (id > 0) {
		r->id = id;
		r->phase = SLURM_PHASE_QUEUED;
		snprintf(r->reason, sizeof r->reason, "None");
	} else {
		r->ended = r->failed = 1;
		snprintf(r->error, sizeof r->error, "%s", err);
	}
	lock_drop(&x->lock);
	if (id > 0)
		log_info("slurm: submitted job %lld", id);
}

/*
 * One plain scancel for many pending jobs (a "cancel all" of a thousand
 * queued jobs is a few calls, not a thousand).
 */
static void scancel_many(struct exec_slurm *x, const long long *ids, size_t n)
{
	enum { CHUNK = 500 };
	char *argv[CHUNK + 2];
	char num[CHUNK][24];
	for (size_t at = 0; at < n; at += CHUNK) {
		size_t k = n - at < CHUNK ? n - at : CHUNK;
		struct slurm_output o;
		argv[0] = "scancel";
		for (size_t i = 0; i < k; i++) {
			snprintf(num[i], sizeof num[i], "%lld", ids[at + i]);
			argv[1 + i] = num[i];
		}
		argv[1 + k] = NULL;
		if (!run_cmd(x, argv, getuid(), getgid(), &o) &&
		    (!WIFEXITED(o.status) || WEXITSTATUS(o.status)) &&
		    !slurm_job_already_over(o.err))
			log_warn("slurm: scancel of %zu pending jobs: %s", k,
				 o.err && *o.err ? o.err : "failed");
		slurm_output_free(&o);
	}
}

/*
 * The stop and cancel RUN asked for, and the KILL after grace.  The id
 * of a pending job to cancel goes to PENDING (room for every run).
 */
static void act(struct exec_slurm *x, struct exec_run *r, long long *pending,
		size_t *npending)
{
	lock_take(&x->lock);
	long long id = r->id;
	int cancel = r->asked == SLURM_ASKED_CANCEL && !r->cancel_sent &&
		     !r->ended;
	int stop = r->asked == SLURM_ASKED_STOP && !r->stop_sent && !r->ended;
	int kill_now = r->stop_sent && !r->kill_sent && !r->ended &&
		       now_ms() >= r->kill_at_ms;
	if (cancel && !id && r->sbatch) {
		/* Never submitted: nothing to cancel on Slurm. */
		slurm_argv_free(r->sbatch);
		r->sbatch = NULL;
		r->ended = 1;
		cancel = 0;
	}
	/* Running: the shim kills and records at once; KILL to all after. */
	int cancel_shim = cancel &&
			  (r->started || r->phase == SLURM_PHASE_RUNNING);
	if (cancel) {
		r->cancel_sent = 1;
		if (cancel_shim) {
			r->stop_sent = 1;
			r->kill_sent = 0;
			r->kill_at_ms = now_ms() + 2000;
		}
	}
	if (stop && id) {
		r->stop_sent = 1;
		double g = r->grace < 1e9 ? r->grace : 1e9;
		r->kill_at_ms =
			now_ms() + (int64_t)((g + SLURM_KILL_SLACK) * 1000);
	}
	if (kill_now)
		r->kill_sent = 1;
	lock_drop(&x->lock);
	if (!id)
		return;
	if (cancel) {
		if (cancel_shim)
			scancel(x, id, "--batch", "--signal=USR2");
		else
			pending[(*npending)++] = id; /* ends at once */
		return;
	}
	if (stop) {
		int fd = open(r->stop_file, O_WRONLY | O_CREAT | O_CLOEXEC,
			      0644);
		if (fd >= 0)
			close(fd);
		else
			log_error("slurm: cannot create '%s': %s", r->stop_file,
				  strerror(errno));
		scancel(x, id, "--batch", "--signal=URG");
	}
	if (kill_now)
		scancel(x, id, "--signal=KILL", "--full");
}

/* How an ended RUN ended: scontrol (if Slurm remembers), then judged. */
static void settle_end(struct exec_slurm *x, struct exec_run *r,
		       const char *state)
{
	struct slurm_job_info info = { 0 };
	struct slurm_output o;
	struct exec_exit e;
	char ids[32], err[512];
	int have_info = 0;
	snprintf(ids, sizeof ids, "%lld", r->id);
	char *argv[] = { "scontrol", "show", "job", ids, NULL };
	if (!run_cmd(x, argv, getuid(), getgid(), &o) && WIFEXITED(o.status) &&
	    WEXITSTATUS(o.status) == 0 && !slurm_parse_scontrol(o.out, &info))
		have_info = 1;
	slurm_output_free(&o);
	int have_exit = exec_read_exit(r->run_dir, &e) == 0;
	lock_take(&x->lock);
	const char *st = have_info ? info.state : state;
	enum slurm_verdict v =
		slurm_judge_end(r->id, st, have_info ? info.reason : NULL,
				r->asked, have_exit, have_exit ? e.code : 0,
				have_exit ? e.signal : 0, err, sizeof err);
	r->phase = SLURM_PHASE_ENDED;
	r->ended = 1;
	r->failed = v == SLURM_VERDICT_FAILED;
	if (r->failed)
		snprintf(r->error, sizeof r->error, "%s", err);
	lock_drop(&x->lock);
}

/* One squeue for every active run with an id. */
static void watch(struct exec_slurm *x, struct exec_run **rs, size_t n)
{
	long long *ids = calloc(n ? n : 1, sizeof *ids);
	size_t k = 0;
	if (!ids)
		return;
	lock_take(&x->lock);
	for (size_t i = 0; i < n; i++)
		if (rs[i]->id > 0 && !rs[i]->ended)
			ids[k++] = rs[i]->id;
	lock_drop(&x->lock);
	if (!k) {
		free(ids);
		return;
	}
	char **argv = NULL;
	struct slurm_output o = { 0 };
	struct slurm_queue_entry *e = NULL;
	size_t ne = 0;
	int gone_all = 0;
	if (slurm_squeue_argv(ids, k, &argv) ||
	    run_cmd(x, argv, getuid(), getgid(), &o)) {
		slurm_argv_free(argv);
		slurm_output_free(&o);
		free(ids);
		return;
	}
	slurm_argv_free(argv);
	int64_t t = now_ms();
	if (WIFEXITED(o.status) && WEXITSTATUS(o.status) != 0) {
		if (!slurm_invalid_job_id(o.err)) {
			log_warn("slurm: squeue: %s", o.err ? o.err : "failed");
			slurm_output_free(&o);
			free(ids);
			return;
		}
		gone_all = 1;
	} else if (slurm_parse_squeue(o.out, &e, &ne)) {
		slurm_output_free(&o);
		free(ids);
		return;
	}
	slurm_output_free(&o);
	for (size_t i = 0; i < n; i++) {
		struct exec_run *r = rs[i];
		struct slurm_queue_entry *q = NULL;
		lock_take(&x->lock);
		long long id = r->ended ? 0 : r->id;
		lock_drop(&x->lock);
		if (id <= 0)
			continue;
		for (size_t m = 0; !gone_all && m < ne; m++)
			if (e[m].id == id)
				q = &e[m];
		enum slurm_phase ph = q ? slurm_phase_of(q->state, NULL) :
					  SLURM_PHASE_ENDED;
		if (ph == SLURM_PHASE_ENDED) {
			settle_end(x, r, q ? q->state : "");
			continue;
		}
		if (ph == SLURM_PHASE_UNKNOWN)
			continue;
		lock_take(&x->lock);
		r->phase = ph;
		snprintf(r->state, sizeof r->state, "%s", q->state);
		snprintf(r->reason, sizeof r->reason, "%s", q->reason);
		snprintf(r->node, sizeof r->node, "%s", q->node);
		r->time_left = q->time_left;
		r->seen_ms = t;
		lock_drop(&x->lock);
	}
	free(e);
	free(ids);
}

/* One round of Slurm talk for every run, on the executor's thread. */
static void round_once(struct exec_slurm *x)
{
	struct exec_run **rs;
	size_t n = 0, cap = 0;
	int squeue_due;
	lock_take(&x->lock);
	for (struct exec_run *r = x->runs; r; r = r->next)
		cap++;
	if (!cap) {
		lock_drop(&x->lock);
		return;
	}
	rs = malloc(cap * sizeof *rs);
	for (struct exec_run *r = x->runs; rs && r; r = r->next) {
		r->refs++;
		rs[n++] = r;
	}
	int64_t t = now_ms();
	squeue_due = t - x->last_squeue_ms >= SLURM_POLL_MS;
	if (squeue_due)
		x->last_squeue_ms = t;
	lock_drop(&x->lock);
	if (!rs)
		return;
	/*
	 * Stops and cancels first (they are what users wait for), then
	 * submissions within SLURM_SUBMIT_BUDGET_MS: a thousand jobs started
	 * at once go in over several rounds, and the supervisor's other work
	 * (local jobs' metrics) goes on between them.
	 */
	long long *pending = calloc(n, sizeof *pending);
	size_t npending = 0;
	for (size_t i = 0; pending && i < n; i++)
		act(x, rs[i], pending, &npending);
	if (npending)
		scancel_many(x, pending, npending);
	free(pending);
	int64_t budget_end = now_ms() + SLURM_SUBMIT_BUDGET_MS;
	/* Oldest first: the list has the newest run at its head. */
	for (size_t i = n; i-- > 0 && now_ms() < budget_end;) {
		lock_take(&x->lock);
		int due = rs[i]->sbatch && rs[i]->asked != SLURM_ASKED_CANCEL;
		lock_drop(&x->lock);
		if (due)
			submit(x, rs[i]); /* PENDING (None) until squeue says */
	}
	if (squeue_due)
		watch(x, rs, n);
	lock_take(&x->lock);
	for (size_t i = 0; i < n; i++)
		run_put(rs[i]);
	lock_drop(&x->lock);
	free(rs);
}

/* The executor's thread: a round each SLURM_ROUND_MS or kick, until quit. */
static void *slurm_main(void *arg)
{
	struct exec_slurm *x = arg;
	lock_take(&x->lock);
	while (!x->quit) {
		if (!x->kicked) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += SLURM_ROUND_MS * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			lock_timedwait(&x->kick, &x->lock, &until);
			if (x->quit)
				break;
		}
		x->kicked = 0;
		lock_drop(&x->lock);
		round_once(x);
		lock_take(&x->lock);
	}
	lock_drop(&x->lock);
	return NULL;
}

/*
 * Called by the supervisor once per round: asks the thread for a round
 * (starting it the first time: after any daemonizing fork) and never
 * waits for one.  The supervisor polls runs again within SLURM_ROUND_MS.
 */
static void slurm_tick(struct executor *ex, int *timeout_ms)
{
	struct exec_slurm *x = (struct exec_slurm *)ex;
	lock_take(&x->lock);
	if (!x->started && x->runs) {
		int rc = pthread_create(&x->thread, NULL, slurm_main, x);
		if (rc)
			log_error("cannot start the Slurm thread: %s",
				  strerror(rc));
		else
			x->started = 1;
	}
	int active = x->runs != NULL;
	x->kicked = 1;
	pthread_cond_signal(&x->kick);
	lock_drop(&x->lock);
	if (active && *timeout_ms > SLURM_ROUND_MS)
		*timeout_ms = SLURM_ROUND_MS;
}

static void slurm_close(struct executor *ex)
{
	struct exec_slurm *x = (struct exec_slurm *)ex;
	if (!x)
		return;
	lock_take(&x->lock);
	x->quit = 1;
	pthread_cond_signal(&x->kick);
	int started = x->started;
	lock_drop(&x->lock);
	if (started) {
		/* A Slurm command may hang: trainfs's exit does not wait. */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SLURM_CLOSE_S;
		if (pthread_timedjoin_np(x->thread, NULL, &until)) {
			log_warn("the Slurm thread is still waiting for a "
				 "Slurm command: left running");
			return; /* X stays: the thread still uses it */
		}
	}
	pthread_cond_destroy(&x->kick);
	free(x->self_exe);
	slurm_argv_free(x->cmd_env);
	slurm_argv_free(x->submit_env);
	lock_destroy(&x->lock);
	free(x);
}

static const struct executor_ops slurm_ops = {
	.name = "slurm",
	.launch = slurm_launch,
	.attach = slurm_attach,
	.signal = slurm_signal,
	.wait_fd = slurm_wait_fd,
	.poll = slurm_poll,
	.reap = slurm_reap,
	.release = slurm_release,
	.status = slurm_status,
	.verdict = slurm_verdict,
	.launched = slurm_launched,
	.read_exit = slurm_read_exit,
	.clean_orphan = slurm_clean_orphan,
	.tick = slurm_tick,
	.close = slurm_close,
};

struct executor *exec_slurm_new(const char *self_exe)
{
	struct exec_slurm *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	/* The nodes run it by its real path, not our /proc/self/fd/N. */
	if (!(x->self_exe = realpath(self_exe, NULL)) ||
	    slurm_command_env(environ, &x->cmd_env) ||
	    slurm_submit_env(environ, &x->submit_env)) {
		slurm_argv_free(x->cmd_env);
		free(x->self_exe);
		free(x);
		return NULL;
	}
	lock_init(&x->lock, LOCK_SLURM);
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&x->kick, &ca)) {
		lock_destroy(&x->lock);
		slurm_argv_free(x->cmd_env);
		free(x->self_exe);
		free(x);
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	x->base.ops = &slurm_ops;
	return &x->base;
}

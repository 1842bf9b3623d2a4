/*
 * executor: where trainers run, as a table of operations (SQLite's VFS is
 * the model: the core reaches a backend only through its table).  The
 * supervisor knows no shim file name, descriptor or PID: a job holds an
 * opaque run handle and the executor that made it, and every question
 * about the trainer goes through the executor's ops.
 *
 * Backends: exec_local.c (a shim process on this machine, shim.c) and
 * exec_slurm.c (a Slurm job whose batch script is the shim).
 *
 * Threads and locks: launch is called on a launch's own thread with no
 * lock held (it may spawn); attach, poll, reap, release, read_exit and
 * clean_orphan are called by the supervisor with the job's lock held, so
 * they must be quick (no waiting on a cluster).  signal may be called from
 * a FUSE request (control: stop, cancel) with the job's lock held: it must
 * not block and must not spawn a process; a backend whose signalling is
 * slow records the request and does it off the supervisor's thread.  tick
 * is called once per supervisor round with NO lock held and must not
 * wait either: the supervisor's thread serves every job, so a backend
 * that talks to a cluster (one squeue for all) does it on a thread of its
 * own, which tick only wakes.
 */
#ifndef TRAINFS_EXECUTOR_H
#define TRAINFS_EXECUTOR_H

#include "jobs/run/exec.h"
#include "util/compiler.h"

/* A backend's handle of one launched trainer (opaque to the core). */
struct exec_run;

enum exec_verb {
	EXEC_STOP, /* the stop file, stop_signal per stop_to, SIGKILL after grace */
	EXEC_CANCEL, /* SIGKILL to everything of the trainer now */
};

struct executor;

/* What the job model shows of a run (status). */
struct exec_status {
	long long ref; /* what finds the run again after a restart (the
			    Slurm job id), stored with the job; 0: none */
	int running;   /* the trainer has started (else: queued, pending) */
	int time_up;   /* stop now: a time limit is grace seconds away */
	char line[512]; /* the backend's status line ("job 41 on node1"), or "" */
};

struct executor_ops {
	const char *name; /* "local", "slurm" */

	/*
	 * Starts the trainer of L.  Returns 0 and *RUN (owned by the
	 * caller until release), or -errno (nothing was started).
	 */
	MUST_CHECK int (*launch)(struct executor *ex,
				 const struct exec_launch *l,
				 struct exec_run **run);

	/*
	 * Finds again, after a restart, the trainer that a launch for
	 * JOB_DIR started (REF: exec_status's, as stored; 0: none).  Returns 0 and *RUN, or -ENOENT when nothing
	 * of it runs any more (its end, if any, is in the exit record).
	 */
	MUST_CHECK int (*attach)(struct executor *ex, const char *job_dir,
				 long long ref, struct exec_run **run);

	/* Asks RUN to stop or cancel; must not block.  0 or -errno. */
	MUST_CHECK int (*signal)(struct exec_run *run, enum exec_verb verb);

	/*
	 * A descriptor to poll for POLLIN: readable when RUN has news for
	 * poll.  -1 when there is none (after the end, or a backend that
	 * reports through tick).
	 */
	int (*wait_fd)(struct exec_run *run);

	/*
	 * Takes in RUN's news: returns 1 once the trainer is gone (then and
	 * for good: its exit record is final or will never come), else 0.
	 */
	int (*poll)(struct exec_run *run);

	/*
	 * Returns 1 once nothing of RUN is left to wait for (its processes
	 * reaped), after poll said it ended; then release may follow.
	 */
	int (*reap)(struct exec_run *run);

	/* Fills ST for RUN; quick (no waiting on a cluster).  0 or -errno. */
	MUST_CHECK int (*status)(struct exec_run *run, struct exec_status *st);

	/*
	 * After poll said the run ended: 1 when the backend itself failed
	 * it (a refused submission, a job ended by the cluster), with the
	 * error in BUF; 0: judge its exit record.  NULL: always 0.
	 */
	int (*verdict)(struct exec_run *run, char *buf, size_t len);

	/* Frees RUN (it need not have ended: trainfs is closing). */
	void (*release)(struct exec_run *run);

	/*
	 * Whether a launch for JOB_DIR happened (trainfs may have died
	 * between launching and recording "running"): attach or the exit
	 * record then says how it stands.
	 */
	int (*launched)(const char *job_dir);

	/* Reads the exit record of JOB_DIR: 0, or -ENOENT (none yet). */
	MUST_CHECK int (*read_exit)(const char *job_dir, struct exec_exit *e);

	/*
	 * For a trainer whose owner (shim) died without an exit record:
	 * removes what it left and kills what still runs of it.  0 or -errno.
	 */
	MUST_CHECK int (*clean_orphan)(const char *job_dir);

	/*
	 * Once per supervisor round, no lock held: asks for the work for all
	 * of the backend's runs at once, without waiting for it.  May lower
	 * *TIMEOUT_MS, the supervisor's next sleep.  NULL when a backend has
	 * none.
	 */
	void (*tick)(struct executor *ex, int *timeout_ms);

	/* Frees EX (every run released before). */
	void (*close)(struct executor *ex);
};

struct executor {
	const struct executor_ops *ops;
};

/* The local executor: shims of SELF_EXE on this machine; NULL: no memory. */
struct executor *exec_local_new(const char *self_exe);

/* The Slurm executor (exec_slurm.c); NULL: no memory. */
struct executor *exec_slurm_new(const char *self_exe);

#endif

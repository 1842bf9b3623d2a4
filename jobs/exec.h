/*
 * exec: the local executor, behind the narrow interface the job model
 * needs: launch, signal (stop, cancel), observe the exit, re-attach after a
 * restart.  A Slurm executor would implement the same five calls.
 *
 * Each trainer is owned by a small per-job shim ("trainfs __shim JOBDIR",
 * in its own session) that survives trainfs: it starts the trainer in a new
 * process group as the job's owner, runs the stop timer (stop signal,
 * grace, SIGKILL to the group), waits until the whole group has exited,
 * writes the exit record atomically, then exits.  trainfs talks to it over
 * a Unix socket in the job folder: a socketpair at launch, shim.sock after
 * a restart.  Lines: "stop\n" and "cancel\n" to the shim, "exit\n" back.
 */
#ifndef TRAINFS_EXEC_H
#define TRAINFS_EXEC_H

#include <stdint.h>
#include <sys/types.h>

struct exec_launch {
	const char *job_dir;    /* the job's store folder */
	const char *command;    /* run by /bin/sh -c */
	const char *workdir;
	const char *log;        /* stdout and stderr, appended */
	uid_t uid;
	gid_t gid;
	int stop_signal;
	int stop_group;         /* the stop signal to the whole group, not
				   only the process that runs the command */
	double grace;           /* seconds from stop_signal to SIGKILL */
	char *const *env;       /* the trainer's whole environment */
	const char *watch;      /* auto-stop's launch pairs (watch.h), or NULL */
	size_t watch_len;
};

/* How the trainer's command ended: one of code (>= 0) or signal (> 0). */
struct exec_exit {
	int code;
	int signal;
	int64_t time_ns; /* when the shim recorded it (the group was gone) */
};

/*
 * Starts a shim for L.  Returns 0, a connected socket in *fd (the caller
 * owns it; EOF on it means the shim has exited) and the shim's PID, a
 * child the caller reaps; or -errno.
 */
int exec_launch(const char *self_exe, const struct exec_launch *l, int *fd,
		pid_t *pid);

/*
 * Connects to the shim of JOB_DIR after a restart.  Returns 0 and *fd, or
 * -ECONNREFUSED / -ENOENT when no shim listens there any more.
 */
int exec_attach(const char *job_dir, int *fd);

/* Sends VERB ("stop" or "cancel") to the shim on FD; 0 or -errno. */
int exec_send(int fd, const char *verb);

/* Reads the exit record of JOB_DIR: 0, or -ENOENT when there is none yet. */
int exec_read_exit(const char *job_dir, struct exec_exit *e);

/*
 * For a job whose shim died without an exit record: removes what the shim
 * left (its socket, its unfilled exit record) and SIGKILLs the trainer's
 * process group if the recorded leader is still the same process (same
 * start time).  Returns 0, or -errno.
 */
int exec_kill_orphan(const char *job_dir);

/* The shim process: "trainfs __shim JOBDIR" with its first client on fd 3. */
int shim_main(int argc, char **argv);

#endif

/*
 * exec: what the executor backends (executor.h's table: exec_local.c) and
 * the shim process (shim.c) share: the launch request, the launch file
 * that carries it to the shim, the exit record the shim leaves, and the
 * start time that makes a recorded PID trustworthy.
 *
 * The shim ("trainfs __shim JOBDIR") owns one trainer: it starts it in a
 * new process group as the job's owner, runs the stop timer (stop signal,
 * grace, SIGKILL to the group), waits until the whole group has exited,
 * writes the exit record atomically, then exits.  Locally trainfs talks to
 * it over a Unix socket in the job folder: a socketpair at launch,
 * shim.sock after a restart.  Lines: "stop\n" and "cancel\n" to the shim,
 * "exit\n" back.
 */
#ifndef TRAINFS_EXEC_H
#define TRAINFS_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/compiler.h"

/*
 * The files the shim and trainfs share, in the job folder (the Slurm
 * executor's in its EXEC_RUN_DIR below it).  Only these names are used
 * for them, here and in every file that reaches them.
 */
#define EXEC_SHIM_SOCK "shim.sock"	    /* the local shim's socket */
#define EXEC_LAUNCH_FILE "launch"	    /* the launch record (Slurm) */
#define EXEC_TRAINER_FILE "trainer"	    /* "PID STARTTIME" of the trainer */
#define EXEC_EXIT_FILE "exit"		    /* the exit record */
#define EXEC_EXIT_TMP EXEC_EXIT_FILE ".tmp" /* reserved, filled at the end */
#define EXEC_STOP_FILE "stop"		    /* TRAINFS_STOP_FILE */
#define EXEC_AUTOSTOP_FILE "autostop"	    /* the shim's auto-stop record */
#define EXEC_RUN_DIR "run"		    /* the Slurm run's folder */

struct exec_launch {
	const char *job_dir; /* the job's store folder */
	const char *command; /* run by /bin/sh -c */
	const char *workdir;
	const char *log; /* stdout and stderr, appended */
	uid_t uid;
	gid_t gid;
	int stop_signal;
	int stop_group;	   /* the stop signal to the whole group, not
				   only the process that runs the command */
	double grace;	   /* seconds from stop_signal to SIGKILL */
	char *const *env;  /* the trainer's whole environment */
	const char *watch; /* auto-stop's launch pairs (watch.h), or NULL */
	size_t watch_len;
	const char *job_name;	 /* the trainfs job's name (Slurm's job name) */
	char *const *slurm_opts; /* "option=value" of the spec's slurm.*
				   keys ("cpus-per-task=4"), or NULL */
	const char *stop_file;	 /* TRAINFS_STOP_FILE, for a shim that looks
				   for it (Slurm); NULL: none */
	int owner_env;		 /* the shim adds the owner's HOME, USER,
				   LOGNAME and SHELL that ENV lacks, from
				   the user database (a clean environment:
				   trainfs itself looks no user up) */
};

/* How the trainer's command ended: one of code (>= 0) or signal (> 0). */
struct exec_exit {
	int code;
	int signal;
	int64_t time_ns; /* when the shim recorded it (the group was gone) */
	int autostopped; /* the shim stopped it by the auto-stop rule (watch.c) */
	int64_t autostop_ns; /* when it did; 0: unknown */
};

/*
 * The launch record of L: NUL-terminated key and value pairs, in *OUT
 * (LEN bytes, which the caller frees).  Returns 0 or -ENOMEM.
 */
MUST_CHECK int exec_launch_record(const struct exec_launch *l, char **out,
				  size_t *len);

/* Reads the exit record of JOB_DIR: 0, or -ENOENT when there is none yet. */
MUST_CHECK int exec_read_exit(const char *job_dir, struct exec_exit *e);

/* Reads DIR/NAME (at most LEN - 1 bytes, NUL-terminated); 0 or -errno. */
MUST_CHECK int exec_read_small_file(const char *dir, const char *name,
				    char *buf, size_t len);

/* Field 22 of /proc/PID/stat (start time in clock ticks), 0 if gone. */
unsigned long long exec_proc_start_time(pid_t pid);

/*
 * Removes what an earlier run left in JOB_DIR (stop file, exit and trainer
 * records) before a new launch.  Returns 0 or -errno.
 */
MUST_CHECK int exec_clear_traces(const char *job_dir);

/*
 * Whether a launch happened for JOB_DIR since the last exec_clear_traces():
 * its shim's socket, trainer record or exit record is there.
 */
int exec_was_launched(const char *job_dir);

/* The shim process: "trainfs __shim JOBDIR" with its first client on fd 3. */
int shim_main(int argc, char **argv);

#endif

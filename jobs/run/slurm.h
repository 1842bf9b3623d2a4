/*
 * slurm: what a Slurm executor says to Slurm and how it reads the answers.
 *
 * Pure functions, no locks and no job struct: build the argv of sbatch and
 * squeue, run a Slurm command as a job's owner with a deadline, parse what
 * sbatch, squeue and scontrol print, and map Slurm's job states to
 * trainfs's.  The executor (jobs/run/exec.h's operations, Slurm side) calls
 * them from the supervisor's thread, never from a FUSE request.
 *
 * Design of the Slurm side (the facts behind it: tests/slurm/NOTES.md):
 *
 * - Submission.  trainfs writes the launch record to JOBDIR/run/launch
 *   through run/'s descriptor (made anew, fchown'd to the owner before
 *   its rename: run/ is the owner's, so never by path), then runs, as
 *   the job's owner, slurm_sbatch_argv()'s
 *   `sbatch --parsable --job-name=... --output=LOG --open-mode=append
 *   --no-requeue --export=ALL [--chdir=...] --partition=gpu ...
 *   --wrap=exec 'TRAINFS' __shim --slurm 'JOBDIR/run'` (--no-requeue: a node
 *   failure or preemption ends the job, as trainfs(1) says, instead of
 *   rerunning it unseen).  The batch script is that constant one-liner: the batch
 *   shell execs the shim at once, so the batch step's main process IS the
 *   shim (scancel --batch reaches it and nothing else), and nothing of the
 *   user's spec ever passes through a shell (trainfs's path and the job
 *   folder are quoted by slurm_sh_quote()).  sbatch's environment is
 *   slurm_submit_env(), an allow-list: trainfs's PATH and SLURM_CONF,
 *   never its other SLURM_* or SBATCH_* and never the trainer's; the
 *   trainer's environment comes from the launch file as on this machine,
 *   plus what Slurm set for the allocation.
 * - The shim in Slurm mode (`trainfs __shim --slurm RUNDIR`) runs as the
 *   job's owner (Slurm already switched user), so its folder, the log and
 *   the trainer's folders must be the owner's to write.  The store's job
 *   folder stays trainfs's (store_job_dir_check() insists): the shim's
 *   files (launch, trainer, exit) live in RUNDIR = JOBDIR/run, which
 *   exec_slurm.c makes the owner's before sbatch, and trainfs itself
 *   creates JOBDIR/stop (TRAINFS_STOP_FILE), which the shim looks for.  It does what the local shim does (process group,
 *   TRAINFS_*, stop file, grace, SIGKILL to the group, the reserved exit
 *   record) with three differences: no socket (trainfs may be on another
 *   machine); the trainer's environment is the launch file's plus the
 *   variables Slurm set for the allocation (SLURM_*, CUDA_VISIBLE_DEVICES,
 *   ...: slurm_trainer_env()); and it exits with the trainer's status
 *   (slurm_exit_status()), so Slurm's COMPLETED/FAILED agree with the
 *   trainer.  The trainer runs as the same user as the shim here, so it
 *   could rewrite the exit record; scontrol's ExitCode (written by root's
 *   slurmd) is the one it cannot touch: while Slurm remembers the job
 *   (MinJobAge, 300 s by default) its ExitCode decides, the record after.
 * - stop.  trainfs creates JOBDIR/stop, then `scancel --batch
 *   --signal=URG ID`: SIGURG is the shim's "stop requested" (its default
 *   action is to be ignored, so a signal that reaches the batch shell
 *   before it exec'd the shim kills nothing; Slurm itself never sends it).
 *   The shim then delivers stop_signal per stop_to and arms its grace
 *   timer, as shim_stop() does locally.  It also looks for the stop file
 *   on every 200 ms tick, which covers a signal that came too early.  At
 *   grace (+ a few seconds, so the shim can write its exit record first)
 *   trainfs runs `scancel --signal=KILL --full ID`; the job then ends
 *   CANCELLED (ExitCode 0:15), which trainfs counts as its own stop.
 * - cancel, running: `scancel --batch --signal=USR2 ID`, the shim's
 *   "cancel" (SIGKILL to the group, the exit record, exit at once), then
 *   `scancel --signal=KILL --full ID` 2 s later in case it did not end
 *   (KILL --full alone leaves the job COMPLETING for KillWait here);
 *   pending: plain `scancel ID`, which ends it CANCELLED at once.
 * - Own scancels.  Before any scancel trainfs records what it asked for
 *   (stop or cancel) in the job's store row, so after a restart too a
 *   CANCELLED job is "ours" only when that record says so; any other end
 *   in SLURM_END_BY_SLURM is "slurm job ID ended: STATE".
 * - Slurm's own TERM (administrator's scancel, preemption, time limit)
 *   reaches every process of the job; the shim takes it on its signalfd,
 *   forwards TERM to the trainer's group (a process that left the group
 *   may have been missed) and keeps waiting, so it can still write the
 *   exit record before KillWait's KILL.
 * - Watching: one slurm_squeue_argv() call per round for all active Slurm
 *   jobs; a job missing from it (or squeue's "Invalid job id specified"
 *   when none is known) has ended and left Slurm's memory (MinJobAge):
 *   its end is then the exit record alone.  `scontrol show job ID` is
 *   asked once for an ended job, for ExitCode and Reason.
 * - Time limit: squeue's %L (time left, so no clock skew) gives the stop
 *   deadline: now + left - grace.
 */
#ifndef TRAINFS_SLURM_H
#define TRAINFS_SLURM_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include "util/compiler.h"

/* One slurm.KEY = VALUE of a spec, KEY without "slurm." ("cpus_per_task"). */
struct slurm_option {
	const char *key;
	const char *value;
};

/* 1 if KEY (without "slurm.") is one of the spec's sbatch options (trainfs(1)),
 * else 0. */
int slurm_option_known(const char *key);

/* 0 if VALUE may be passed to sbatch, or -EINVAL (a newline). */
MUST_CHECK int slurm_option_value_ok(const char *value);

/*
 * Writes into BUF (LEN > 0) the Slurm job name of a trainfs job NAME:
 * "trainfs-NAME" with every byte that is not a letter, digit, '.', '-' or
 * '_' made '_', cut to fit.  So a name never holds white space or '=',
 * and scontrol's "JobName=..." cannot look like another field.
 */
void slurm_job_name(const char *name, char *buf, size_t len);

struct slurm_submit {
	const char *self_exe; /* trainfs, at the same path on the nodes */
	const char *job_dir;  /* the job's store folder, seen by the nodes */
	const char *job_name; /* --job-name: slurm_job_name()'s */
	const char *log;      /* --output, appended to */
	const char *chdir;    /* --chdir, or NULL for none */
	const struct slurm_option *opts;
	size_t nopts;
};

/*
 * Builds the argv of sbatch for S (see the design above).  Returns 0 and
 * a NULL-terminated *ARGV that the caller frees with slurm_argv_free(), or
 * -EINVAL (an unknown key or a bad value: the spec parser should have
 * refused it) or -ENOMEM.
 */
MUST_CHECK int slurm_sbatch_argv(const struct slurm_submit *s, char ***argv);

/* Frees an argv or envp of this module; NULL is fine. */
void slurm_argv_free(char **argv);

/*
 * Quotes S for /bin/sh: 'S' with every ' as '\''.  Returns a string the
 * caller frees, or NULL when out of memory.
 */
char *slurm_sh_quote(const char *s);

/*
 * The environment squeue, scontrol and scancel run with: from ENV
 * (trainfs's own environ) PATH (a default PATH if it has none) and
 * SLURM_CONF, nothing else of it (no other SLURM_* or SBATCH_*), with
 * SLURM_TIME_FORMAT=standard so that times parse.  Returns 0 and *OUT
 * (free with slurm_argv_free()), or -ENOMEM.
 */
MUST_CHECK int slurm_command_env(char *const *env, char ***out);

/*
 * sbatch's environment, which --export=ALL hands to the batch job and so
 * to the trainer: PATH and SLURM_CONF of ENV, nothing else.  Returns 0
 * and *OUT (free with slurm_argv_free()), or -ENOMEM.
 */
MUST_CHECK int slurm_submit_env(char *const *env, char ***out);

/*
 * The environment a Slurm trainer is launched with: ENV (the trainer's,
 * as for this machine) without the SLURM_* and SBATCH_* entries it
 * inherited from OWN (trainfs's own environ): the trainer gets the
 * allocation's SLURM_* variables, never trainfs's.  An env.* of the spec
 * that sets one stays.  Returns 0 and *OUT (free with
 * slurm_argv_free()), or -ENOMEM.
 */
MUST_CHECK int slurm_launch_env(char *const *env, char *const *own,
				char ***out);

/*
 * The trainer's environment under Slurm: TRAINER (the launch file's, as on
 * this machine) plus the variables Slurm set for the allocation in BATCH
 * (SLURM_*, CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES,
 * GPU_DEVICE_ORDINAL), which a variable of TRAINER's own name overrides.
 * Returns 0 and *OUT (free with slurm_argv_free()), or -ENOMEM.
 */
MUST_CHECK int slurm_trainer_env(char *const *trainer, char *const *batch,
				 char ***out);

/* What the shim in Slurm mode exits with: CODE, or 128 + SIGNAL. */
int slurm_exit_status(int code, int signal);

/* What slurm_run() collected. */
struct slurm_output {
	int status; /* wait status of the command, when it exited */
	char *out;  /* stdout, NUL-terminated; owned, slurm_output_free() */
	char *err;  /* stderr, likewise */
	size_t out_len, err_len;
	int truncated; /* more than SLURM_OUTPUT_MAX came; the rest dropped */
};

#define SLURM_OUTPUT_MAX (16u << 20)

/*
 * Runs ARGV (ARGV[0] found on ENVP's PATH when it holds no '/') with
 * exactly ENVP, without a shell: a child in its own process group, stdin
 * /dev/null, which takes UID's groups (getgrouplist), GID and UID when
 * they differ from ours, then execs.  Both pipes are read until EOF or
 * TIMEOUT_MS; at the deadline the child's group is SIGKILLed.  Returns 0
 * when the command ran (O->status says how it ended), -ETIMEDOUT when it
 * was killed at the deadline, -ENOENT when the program is not there,
 * another -errno when it could not be started.  O is filled in every case
 * (possibly empty) and freed with slurm_output_free().
 */
MUST_CHECK int slurm_run(char *const argv[], char *const envp[], uid_t uid,
			 gid_t gid, int timeout_ms, struct slurm_output *o);

void slurm_output_free(struct slurm_output *o);

/*
 * Reads sbatch --parsable's stdout: "ID" or "ID;CLUSTER".  Returns 0 and
 * *ID, or -EINVAL.
 */
MUST_CHECK int slurm_parse_sbatch(const char *out, long long *id);

/*
 * Writes into BUF (LEN > 0) why sbatch refused, from its stderr ERR: the
 * first "sbatch: error: " line, else the first non-empty line, else
 * "sbatch exited with status N" from STATUS.  Always NUL-terminated.
 */
void slurm_sbatch_error(const char *err, int status, char *buf, size_t len);

/* squeue's --format: time left before reason, the free-text field. */
#define SLURM_SQUEUE_FORMAT "%i|%T|%L|%N|%r"

/*
 * Builds `squeue --noheader --states=all --format=... --jobs=ID1,ID2,...`
 * for the N ids (N > 0).  Returns 0 and *ARGV (slurm_argv_free()), or
 * -EINVAL (N == 0), -ENOMEM.
 */
MUST_CHECK int slurm_squeue_argv(const long long *ids, size_t n, char ***argv);

struct slurm_queue_entry {
	long long id;
	char state[32];	  /* "PENDING", "RUNNING", ... */
	long time_left;	  /* seconds; -1: unlimited or not known; 0 also
			     when past the limit ("INVALID") */
	char node[256];	  /* "" while pending */
	char reason[128]; /* "None", "Resources", "Priority", ... */
};

/*
 * Parses squeue's output for SLURM_SQUEUE_FORMAT.  Lines that are not a
 * plain job (array or heterogeneous ids, wrong field count) are skipped.
 * Returns 0 and *E (the caller frees it; NULL when *N is 0), or -ENOMEM.
 */
MUST_CHECK int slurm_parse_squeue(const char *out, struct slurm_queue_entry **e,
				  size_t *n);

/*
 * 1 when squeue or scontrol failed only because no id it was asked about
 * is known any more ("Invalid job id specified" in ERR), else 0.  squeue
 * says so (exit 1) only when asked about ONE unknown id; asked about
 * several that are all unknown it exits 0 and prints nothing.
 */
int slurm_invalid_job_id(const char *err);

/*
 * 1 when scancel failed only because the job has ended already ("Invalid
 * job id specified", or "Job/step already completing or completed" in
 * ERR): a signal to a job that is over is not a problem to report.
 */
int slurm_job_already_over(const char *err);

/*
 * Reads a Slurm duration: "UNLIMITED" (and "INFINITE", "NOT_SET",
 * "Partition_Limit") as -1, "[D-]HH:MM:SS", "MM:SS" or "M" minutes.
 * Returns 0 and *SECS, or -EINVAL.
 */
MUST_CHECK int slurm_parse_duration(const char *s, long *secs);

struct slurm_job_info {
	long long id;
	char state[32];
	char reason[128];
	char nodes[256];
	int exit_code; /* ExitCode=CODE:SIGNAL of the batch script */
	int exit_signal;
	long time_limit; /* seconds; -1 unlimited or not known */
	time_t start;	 /* StartTime in local time; 0 when not known */
};

/*
 * Parses `scontrol show job ID` (either layout, -o or not; fields in any
 * order, any white space between them).  The first occurrence of a key
 * wins.  Returns 0 and *I, or -EINVAL when there is no JobId or JobState.
 */
MUST_CHECK int slurm_parse_scontrol(const char *out, struct slurm_job_info *i);

/* Where a Slurm job stands, in trainfs's terms. */
enum slurm_phase {
	SLURM_PHASE_UNKNOWN, /* a state this code does not know: no change */
	SLURM_PHASE_QUEUED,  /* pending: status shows the reason */
	SLURM_PHASE_RUNNING, /* on a node (or leaving it: COMPLETING) */
	SLURM_PHASE_ENDED,
};

/* How an ended Slurm job ended. */
enum slurm_end {
	SLURM_END_NONE,	     /* not ended */
	SLURM_END_COMPLETED, /* the batch script exited 0 */
	SLURM_END_FAILED,    /* it exited non-zero, or could not start */
	SLURM_END_BY_SLURM,  /* CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED, ... */
};

/*
 * Maps a state as squeue's %T and scontrol's JobState= print it
 * ("PENDING"; anything from a '+' or white space on is ignored) to a
 * phase; *END (may be NULL) says how an ended one ended.
 */
enum slurm_phase slurm_phase_of(const char *state, enum slurm_end *end);

/*
 * The `slurm:` line of status (without "slurm: "): "job ID PENDING
 * (REASON)" while queued, "job ID on NODE" while running (just "job ID"
 * until a node is known), "job ID" after.  Into BUF (LEN > 0), always
 * NUL-terminated.
 */
void slurm_status_line(long long id, enum slurm_phase phase, const char *reason,
		       const char *node, char *buf, size_t len);

/* What trainfs itself asked of a Slurm job, as recorded before scancel. */
enum slurm_asked {
	SLURM_ASKED_NOTHING,
	SLURM_ASKED_STOP, /* stop, auto-stop, the time-limit stop */
	SLURM_ASKED_CANCEL,
};

/* How trainfs takes an ended Slurm job. */
enum slurm_verdict {
	SLURM_VERDICT_CANCELLED, /* trainfs cancelled it */
	SLURM_VERDICT_EXIT,	 /* judge the exit record (or its absence)
				    exactly as for a local trainer */
	SLURM_VERDICT_FAILED,	 /* ended by Slurm: the error is in BUF */
};

/*
 * Decides how Slurm job ID, ended in STATE (squeue's or scontrol's; NULL
 * or "" when Slurm no longer knows it) with REASON (may be NULL), counts
 * for trainfs, given what trainfs ASKED and the exit record the shim left
 * (HAVE_EXIT, CODE, SIGNAL as struct exec_exit).  Only an end trainfs did
 * not ask for, and not the trainer's own (COMPLETED, or FAILED with an
 * exit record), is Slurm's: then BUF gets "slurm job ID ended: STATE",
 * followed by "; trainer exited with status N" or "; killed by signal N"
 * when the trainer recorded its exit (a FAILED job without one gets its
 * Reason in parentheses instead: "(JobLaunchFailure)").
 */
enum slurm_verdict slurm_judge_end(long long id, const char *state,
				   const char *reason, enum slurm_asked asked,
				   int have_exit, int code, int signal,
				   char *buf, size_t len);

#endif

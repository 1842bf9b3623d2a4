/*
 * spec: the one parser of a job's "key = value" spec file.
 *
 * A spec is stored as the user wrote it; spec_parse() is run on it when it
 * is closed and again at start.  It never fails on memory or odd bytes
 * silently: it either fills a struct spec or writes one git-style message
 * ("spec line 3: unknown key 'epoch'") and returns -1.
 */
#ifndef TRAINFS_SPEC_H
#define TRAINFS_SPEC_H

#include <limits.h>
#include <stddef.h>
#include "util/compiler.h"

enum compression { COMPRESS_NONE, COMPRESS_GZIP, COMPRESS_ZSTD };

/* Who gets stop_signal: the process that runs the command, or its group. */
enum spec_stop_to { SPEC_STOP_TO_MAIN, SPEC_STOP_TO_GROUP };

/* Which checkpoint becomes the weights. */
enum spec_keep { SPEC_KEEP_BEST, SPEC_KEEP_LAST };

/* Where the job runs; DEFAULT: no executor key, the mount's --executor. */
enum spec_executor {
	SPEC_EXECUTOR_DEFAULT,
	SPEC_EXECUTOR_LOCAL,
	SPEC_EXECUTOR_SLURM
};

/* The most GPUs a spec may ask for. */
#define SPEC_GPUS_MAX 1024

/* checkpoints = all: every checkpoint is kept. */
#define SPEC_CHECKPOINTS_ALL LONG_MAX

struct spec_env {
	char *name; /* variable name, e.g. CUDA_VISIBLE_DEVICES */
	char *value;
};

/* One slurm.KEY line: the sbatch option it becomes, "--OPTION=VALUE". */
struct spec_slurm {
	char *option; /* "cpus-per-task" for slurm.cpus_per_task */
	char *value;  /* as written: one line, not empty */
};

struct spec {
	char *command;	    /* required; run by /bin/sh -c, '#' and all */
	char *workdir;	    /* NULL: the job's scratch folder */
	long epochs;	    /* 0: not set */
	char *monitor;	    /* NULL: not set */
	char *metrics_from; /* the trainer's own log: relative to workdir, or
			       absolute; NULL: not set */
	int mode_min;	    /* 0: max (default), 1: min */
	long patience;	    /* 0: auto-stop off */
	double min_delta;
	int stop_signal;	   /* signal number; default SIGTERM */
	enum spec_stop_to stop_to; /* default SPEC_STOP_TO_MAIN */
	double grace;		   /* seconds; default 60 */
	enum compression compression;
	enum spec_keep keep; /* default BEST with monitor, else LAST */
	long checkpoints;    /* >= 0, or SPEC_CHECKPOINTS_ALL; default 1 */
	enum spec_executor executor;
	long gpus;		  /* GPUs it needs; 0: none (default) */
	struct spec_slurm *slurm; /* in the order written */
	size_t nslurm;
	long slurm_time; /* slurm.time in seconds; 0: none (or UNLIMITED) */
	struct spec_env *env;
	size_t nenv;
	char *weights; /* NULL, or paths and wildcards apart by white space,
			   relative to the workdir: what to pack */
	char *checkpoints_from; /* NULL, or a pattern with {epoch}: the
				   trainer's own checkpoints */
};

/*
 * Parses LEN bytes of TEXT (need not be NUL-terminated).  On success returns
 * 0 and fills *out, which the caller releases with spec_free().  On a bad
 * spec returns -1, leaves *out zeroed and writes the reason into err (always
 * NUL-terminated when errlen > 0), e.g. "spec line 2: unknown key 'epoch'",
 * "spec line 4: bad value 'x' for 'epochs': not a whole number",
 * "spec: 'command' is required".
 */
MUST_CHECK int spec_parse(const char *text, size_t len, struct spec *out,
			  char *err, size_t errlen);

/* Frees what spec_parse() allocated in *s and zeroes it; safe on a zeroed spec. */
void spec_free(struct spec *s);

/*
 * The name of a signal number as `kill -l` spells it without SIG ("TERM",
 * "WINCH", "RTMIN+3"), static; NULL for a number no signal has.
 */
const char *spec_signal_name(int sig);

/* The signal TEXT names as kill(1) takes it ("TERM", "sigterm", "15"), or 0. */
int spec_signal_number(const char *text);

/* The file name suffix of a compression: "", ".gz" or ".zst". */
const char *spec_compression_suffix(enum compression c);

/*
 * The sbatch arguments of S's slurm.* keys, one string each
 * ("--cpus-per-task=4"), for an argv: never for a shell.  Returns a
 * NULL-terminated array the caller frees with spec_argv_free(), or NULL
 * when out of memory.
 */
char **spec_slurm_argv(const struct spec *s);
void spec_argv_free(char **argv);

/*
 * Reads TEXT as a Slurm time limit: "minutes", "MM:SS", "HH:MM:SS",
 * "D-HH", "D-HH:MM", "D-HH:MM:SS", or "UNLIMITED"/"INFINITE" (any case).
 * Returns 0 with *seconds set (0 for no limit, as sbatch reads 0), or -1
 * when it is none of those.
 */
MUST_CHECK int spec_slurm_time(const char *text, long *seconds);

/*
 * Returns TEXT (LEN bytes) with its epochs value replaced by EPOCHS, or an
 * "epochs = EPOCHS" line appended when it has none; every other byte stays
 * as it was (comments, CRLF, the line's own spacing).  The result is
 * malloc'd, NUL-terminated, its length in *outlen; NULL when out of memory.
 */
char *spec_with_epochs(const char *text, size_t len, long epochs,
		       size_t *outlen);

/*
 * Splits one LINE (N bytes, no newline) as the parser does: the key and
 * the value, trimmed, the comment cut off but in command's value.
 * Returns 1 for a pair, 0 for a blank or comment line, -1 for a line that
 * is not "key = value".  (For specs that extend a job's: sweeps.)
 */
MUST_CHECK int spec_line_pair(const char *line, size_t n, const char **key,
			      size_t *keylen, const char **value,
			      size_t *valuelen);

#endif

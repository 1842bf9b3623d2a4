/*
 * options: the trainfs command line, parsed from one fuse_opt table as
 * libfuse's examples parse theirs.
 *
 * Each trainfs option has two spellings: a long option on the command line
 * ("--store DIR" or "--store=DIR") and a key in -o ("store=DIR"), since
 * mount(8) and /etc/fstab can only pass -o.  A key given in -o wins over
 * the long option whatever their order (as the last of a kind wins among
 * themselves); the -o options that are not ours are FUSE's and go to the
 * session as they came.  Values are checked once all is parsed, and every
 * message names the long option.  No locks: main() runs this before any
 * thread starts.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs.h"
#include "util/log.h"

#define TRAINFS_VERSION "0.2"

static const char usage[] =
	"usage: trainfs MOUNTPOINT [--store DIR] [--max-running N]\n"
	"               [--max-jobs-per-user N] [--executor local|slurm]\n"
	"               [--gpus LIST|auto|none] [-f] [-o FUSE_OPTION,...]\n"
	"   or: trainfs STORE|none MOUNTPOINT [-o store=DIR,max_running=N,...]"
	"\n"
	"       (as mount -t fuse.trainfs and /etc/fstab run it)\n"
	"       trainfs --version\n"
	"\n"
	"  --store DIR        where jobs live (default $TRAINFS_STORE,\n"
	"                     else $XDG_DATA_HOME/trainfs, else "
	"~/.local/share/trainfs)\n"
	"  --max-running N    jobs running at once; more wait as queued\n"
	"  --max-jobs-per-user N\n"
	"                     jobs one user may have (default 10000; root is\n"
	"                     not limited): mkdir past it fails with EDQUOT\n"
	"  --executor local|slurm\n"
	"                     where jobs without an executor key run\n"
	"                     (default local: this machine; slurm: sbatch)\n"
	"  --gpus LIST|auto|none\n"
	"                     the GPUs local jobs share (0,1,2 or 0:1:2;\n"
	"                     default auto: the NVIDIA GPUs the driver lists\n"
	"                     in /proc/driver/nvidia/gpus/, else /dev/nvidiaN)\n"
	"  -f                 stay in the foreground\n"
	"  -d                 foreground with FUSE debug output\n"
	"  -o OPTIONS         FUSE mount options, e.g. allow_other, and\n"
	"                     store=DIR, max_running=N, gpus=0:1 (the options\n"
	"                     above)\n"
	"  --version          trainfs's and libfuse's versions, and how\n"
	"                     weights are read (FUSE passthrough or splice)\n"
	"\n"
	"Unmount with: fusermount3 -u MOUNTPOINT (jobs keep running)\n";

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_VALUED,	/* the options with a value, as enum option_value */
	FROM_O = 0x100, /* the -o spelling of a valued option */
};

#define VALUED(v) (KEY_VALUED + (v))

/* The long spelling of each valued option, as messages name it. */
static const char *const long_names[OPT_NVALUES] = {
	[OPT_STORE] = "--store",       [OPT_MAX_RUNNING] = "--max-running",
	[OPT_EXECUTOR] = "--executor", [OPT_MAX_JOBS] = "--max-jobs-per-user",
	[OPT_GPUS] = "--gpus",
};

static const struct fuse_opt option_table[] = {
	FUSE_OPT_KEY("-h", KEY_HELP), FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND), FUSE_OPT_KEY("-d", KEY_DEBUG),
	/* "--store DIR" also matches "--store=DIR" (option_value()) */
	FUSE_OPT_KEY("--store %s", VALUED(OPT_STORE)),
	FUSE_OPT_KEY("--max-running %s", VALUED(OPT_MAX_RUNNING)),
	FUSE_OPT_KEY("--executor %s", VALUED(OPT_EXECUTOR)),
	FUSE_OPT_KEY("--max-jobs-per-user %s", VALUED(OPT_MAX_JOBS)),
	FUSE_OPT_KEY("--gpus %s", VALUED(OPT_GPUS)),
	FUSE_OPT_KEY("store=%s", FROM_O | VALUED(OPT_STORE)),
	FUSE_OPT_KEY("max_running=%s", FROM_O | VALUED(OPT_MAX_RUNNING)),
	FUSE_OPT_KEY("executor=%s", FROM_O | VALUED(OPT_EXECUTOR)),
	FUSE_OPT_KEY("max_jobs_per_user=%s", FROM_O | VALUED(OPT_MAX_JOBS)),
	FUSE_OPT_KEY("gpus=%s", FROM_O | VALUED(OPT_GPUS)), FUSE_OPT_END
};

/*
 * --version: ours, libfuse's (the one running, and the headers built
 * against) and whether FUSE passthrough is compiled in.  Whether a mount
 * uses it also depends on the kernel and on CAP_SYS_ADMIN: the mount logs
 * "reads of weights: passthrough" or "...: splice (why)".
 */
static void print_version(void)
{
	printf("trainfs %s\n", TRAINFS_VERSION);
	printf("libfuse %s (built against %d.%d)\n", fuse_pkgversion(),
	       FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION);
	if (TRAINFS_PASSTHROUGH)
		printf("passthrough: compiled in (used where the kernel offers "
		       "it and trainfs has CAP_SYS_ADMIN; else splice)\n");
	else
		printf("passthrough: not available (libfuse older than 3.17); "
		       "weights are read by splice\n");
}

/*
 * The value in ARG of valued option V: fuse_opt hands "--store=DIR",
 * "--store" and "DIR" glued as "--storeDIR", or "store=DIR" from -o.
 */
static const char *option_value(const char *arg, int v, int from_o)
{
	const char *p = strchr(arg, '=');
	if (from_o)
		return p + 1; /* the template matched up to its '=' */
	p = arg + strlen(long_names[v]);
	return *p == '=' ? p + 1 : p;
}

/* The positional arguments: MOUNTPOINT, or SOURCE MOUNTPOINT.  0 or -1. */
static int positional(struct options *o, const char *arg)
{
	if (!o->mountpoint) {
		o->mountpoint = arg;
	} else if (!o->source) {
		/* mount(8)'s order: SOURCE MOUNTPOINT */
		o->source = o->mountpoint;
		o->mountpoint = arg;
	} else {
		log_error("unexpected argument '%s'\n%s", arg, usage);
		return -1;
	}
	return 0;
}

/* fuse_opt's callback: 0 (taken), 1 (kept: none are) or -1. */
static int option_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct options *o = data;
	(void)outargs;
	switch (key) {
	case KEY_HELP:
		o->done = 1;
		return fputs(usage, stdout) == EOF ? -1 : 0;
	case KEY_VERSION:
		o->done = 1;
		print_version();
		return 0;
	case KEY_FOREGROUND:
		o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		o->foreground = o->debug = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		return positional(o, arg);
	case FUSE_OPT_KEY_OPT:
		if (arg[0] == '-') {
			log_error("unknown option '%s'\n%s", arg, usage);
			return -1;
		}
		/* not ours: a FUSE option from -o */
		return fuse_opt_add_opt(&o->fuse_opts, arg) ? -1 : 0;
	}
	int from_o = !!(key & FROM_O), v = (key & ~FROM_O) - KEY_VALUED;
	if (v < 0 || v >= OPT_NVALUES)
		return -1;
	char *copy = strdup(option_value(arg, v, from_o));
	if (!copy)
		return -1;
	free(o->given[v][from_o]); /* the last of a kind wins */
	o->given[v][from_o] = copy;
	return 0;
}

/* Parses VAL, a whole number from 1 to MAX, for option NAME; 0 or -1. */
static int whole_number(const char *val, const char *name, long max, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(val, &end, 10);
	if (errno || *end || end == val || n < 1 || n > max) {
		log_error("bad value '%s' for '%s': expected a whole number "
			  "from 1 to %ld",
			  val, name, max);
		return -1;
	}
	*out = n;
	return 0;
}

/* The value of valued option V: its -o key's over its long option's. */
static const char *given(const struct options *o, int v)
{
	return o->given[v][1] ? o->given[v][1] : o->given[v][0];
}

/* Checks the values given and sets the fields they stand for; 0 or -1. */
static int check_values(struct options *o)
{
	const char *val;
	long n;
	if ((val = given(o, OPT_STORE)) && !*val) {
		log_error("option '--store' needs a value\n%s", usage);
		return -1;
	}
	o->store = val;
	if ((val = given(o, OPT_MAX_RUNNING))) {
		if (whole_number(val, "--max-running", 1000000, &n) < 0)
			return -1;
		o->max_running = (int)n;
	}
	if ((val = given(o, OPT_EXECUTOR))) {
		if (strcmp(val, "local") && strcmp(val, "slurm")) {
			log_error(
				"--executor: expected local or slurm, not '%s'",
				val);
			return -1;
		}
		o->slurm = !strcmp(val, "slurm");
	}
	if ((val = given(o, OPT_MAX_JOBS))) {
		if (whole_number(val, "--max-jobs-per-user", 1000000000, &n) <
		    0)
			return -1;
		o->max_jobs_per_user = n;
	}
	o->gpus = given(o, OPT_GPUS);
	return 0;
}

int options_parse(int argc, char **argv, struct options *o)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	int rc = fuse_opt_parse(&args, o, option_table, option_proc);
	fuse_opt_free_args(&args);
	if (rc)
		return -1; /* said by option_proc, or by fuse_opt */
	if (o->done)
		return 1;
	if (!o->mountpoint) {
		fputs(usage, stderr);
		return -1;
	}
	if (check_values(o))
		return -1;
	/* The source is the store; "none" (or "trainfs") the default one. */
	if (o->source && !o->store && *o->source && strcmp(o->source, "none") &&
	    strcmp(o->source, "trainfs"))
		o->store = o->source;
	/* allow_other needs the kernel's permission checks. */
	if (fuse_opt_add_opt(
		    &o->fuse_opts,
		    "default_permissions,fsname=trainfs,subtype=trainfs")) {
		log_error("out of memory");
		return -1;
	}
	return 0;
}

void options_free(struct options *o)
{
	for (int v = 0; v < OPT_NVALUES; v++) {
		free(o->given[v][0]);
		free(o->given[v][1]);
	}
	free(o->fuse_opts);
	memset(o, 0, sizeof *o);
}

char *options_store_path(const char *given)
{
	char buf[PATH_MAX];
	const char *env;
	if (given)
		snprintf(buf, sizeof buf, "%s", given);
	else if ((env = getenv("TRAINFS_STORE")) && *env)
		snprintf(buf, sizeof buf, "%s", env);
	else if ((env = getenv("XDG_DATA_HOME")) && *env)
		snprintf(buf, sizeof buf, "%s/trainfs", env);
	else if ((env = getenv("HOME")) && *env)
		snprintf(buf, sizeof buf, "%s/.local/share/trainfs", env);
	else {
		log_error("no store: give --store DIR\n");
		return NULL;
	}
	if (buf[0] == '/')
		return strdup(buf);
	char cwd[PATH_MAX], *out;
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, buf) < 0)
		return NULL;
	return out;
}

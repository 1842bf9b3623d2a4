/*
 * main: the trainfs command.  Parses the command line, opens the store,
 * mounts, daemonizes like any FUSE filesystem (unless -f), starts the
 * supervisor and serves requests on libfuse's multithreaded loop until
 * unmounted.  The same binary is also each job's shim ("__shim") and the
 * packer ("__pack"), so a trainfs is always paired with its own helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs/fs.h"
#include "jobs/sweep.h"
#include "jobs/checkpoint.h"
#include "jobs/exec.h"
#include "jobs/pack.h"
#include "jobs/workdir.h"
#include "jobs/ownfiles.h"
#include "util/log.h"

extern char **environ;

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

struct options {
	const char *source;     /* mount(8)'s first argument: the store */
	const char *mountpoint;
	const char *store;
	int max_running;
	long max_jobs_per_user;
	int slurm;              /* --executor slurm */
	const char *gpus;       /* --gpus; NULL: auto */
	int foreground;
	int debug;
	char *fuse_opts;
};

static int add_fuse_opt(struct options *o, const char *opt)
{
	size_t old = o->fuse_opts ? strlen(o->fuse_opts) : 0;
	char *n = realloc(o->fuse_opts, old + strlen(opt) + 2);
	if (!n)
		return -1;
	if (old)
		n[old++] = ',';
	strcpy(n + old, opt);
	o->fuse_opts = n;
	return 0;
}

/*
 * The value of option NAME at argv[*i] ("NAME=V" or "NAME V", moving *i
 * on); NULL when argv[*i] is another option.  A missing value is "".
 */
static const char *long_opt(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	if (strncmp(a, name, n) || (a[n] != '\0' && a[n] != '='))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	return *i + 1 < argc ? argv[++*i] : "";
}

/* Parses VAL, a whole number from 1 to MAX, for option NAME; 0 or -1. */
static int whole_number(const char *val, const char *name, long max,
			long *out)
{
	char *end;
	errno = 0;
	long n = strtol(val, &end, 10);
	if (errno || *end || end == val || n < 1 || n > max) {
		log_error("bad value '%s' for '%s': expected a whole number "
			  "from 1 to %ld", val, name, max);
		return -1;
	}
	*out = n;
	return 0;
}

/*
 * mount(8) and /etc/fstab can only pass "-o key=value" options, so the
 * trainfs options may come that way too: "store=DIR" is "--store=DIR".
 * Appends OPT to *fuse as it is, or to ARGS (argument slots) as the long
 * option it names; returns 0 or -1 (no memory).
 */
static const char *const mount_keys[][2] = {
	{ "store=", "--store=" },
	{ "max_running=", "--max-running=" },
	{ "executor=", "--executor=" },
	{ "max_jobs_per_user=", "--max-jobs-per-user=" },
	{ "gpus=", "--gpus=" },
};

static int split_mount_opts(const char *opts, char **fuse, char ***args,
			    int *nargs)
{
	char *copy = strdup(opts), *save = NULL;
	if (!copy)
		return -1;
	for (char *opt = strtok_r(copy, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		size_t k, n = sizeof mount_keys / sizeof mount_keys[0];
		for (k = 0; k < n; k++)
			if (!strncmp(opt, mount_keys[k][0],
				     strlen(mount_keys[k][0])))
				break;
		if (k == n) {
			size_t old = *fuse ? strlen(*fuse) : 0;
			char *f = realloc(*fuse, old + strlen(opt) + 2);
			if (!f)
				goto nomem;
			if (old)
				f[old++] = ',';
			strcpy(f + old, opt);
			*fuse = f;
			continue;
		}
		char *arg, **a = realloc(*args, (*nargs + 1) * sizeof *a);
		if (!a)
			goto nomem;
		*args = a;
		if (asprintf(&arg, "%s%s", mount_keys[k][1],
			     opt + strlen(mount_keys[k][0])) < 0)
			goto nomem;
		a[(*nargs)++] = arg;
	}
	free(copy);
	return 0;
nomem:
	free(copy);
	return -1;
}

/* The expanded command line and what it allocated, freed at exit. */
static struct {
	char **argv, *fuse, **extra;
	int nextra;
} expanded;

static void expanded_free(void)
{
	for (int i = 0; i < expanded.nextra; i++)
		free(expanded.extra[i]);
	free(expanded.extra);
	free(expanded.fuse);
	free(expanded.argv);
}

/*
 * The command line with every -o's trainfs options turned into long
 * options (after the rest, so they win as the last of a kind does) and
 * the FUSE options left in one -o.  *out is a new argv that lives until
 * exit, as the process's own does.
 */
static int expand_mount_opts(int argc, char **argv, int *outc, char ***out)
{
	char **v;
	int n = 0;
	if (atexit(expanded_free))
		return -1;
	if (!(v = expanded.argv = calloc((size_t)argc + 3, sizeof *v)))
		return -1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val;
		if (i == 0 || strncmp(a, "-o", 2)) {
			v[n++] = argv[i];
			continue;
		}
		val = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
		if (!val) {
			v[n++] = argv[i]; /* "needs a value", from parse_args */
			continue;
		}
		if (split_mount_opts(val, &expanded.fuse, &expanded.extra,
				     &expanded.nextra))
			return -1;
	}
	if (expanded.fuse) {
		v[n++] = "-o";
		v[n++] = expanded.fuse;
	}
	if (expanded.nextra) {
		size_t want = (size_t)n + (size_t)expanded.nextra + 1;
		char **w = realloc(v, want * sizeof *w);
		if (!w)
			return -1;
		v = expanded.argv = w;
		memcpy(v + n, expanded.extra,
		       (size_t)expanded.nextra * sizeof *v);
		n += expanded.nextra;
	}
	v[n] = NULL;
	*outc = n;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		long n;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			exit(0);
		} else if (!strcmp(a, "--version")) {
			print_version();
			exit(0);
		} else if (!strcmp(a, "-f")) {
			o->foreground = 1;
		} else if (!strcmp(a, "-d")) {
			o->foreground = o->debug = 1;
		} else if (!strncmp(a, "-o", 2)) {
			val = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
			if (!val || add_fuse_opt(o, val))
				goto bad;
		} else if (!strncmp(a, "--store", 7) &&
			   (a[7] == '\0' || a[7] == '=')) {
			val = a[7] ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
			if (!val || !*val)
				goto bad;
			o->store = val;
		} else if ((val = long_opt(argc, argv, &i, "--max-running"))) {
			if (whole_number(val, "--max-running", 1000000,
					 &n) < 0)
				return -1;
			o->max_running = (int)n;
		} else if ((val = long_opt(argc, argv, &i, "--executor"))) {
			if (strcmp(val, "local") && strcmp(val, "slurm")) {
				log_error("--executor: expected local or slurm, "
					  "not '%s'", val);
				return -1;
			}
			o->slurm = !strcmp(val, "slurm");
		} else if ((val = long_opt(argc, argv, &i,
					   "--max-jobs-per-user"))) {
			if (whole_number(val, "--max-jobs-per-user",
					 1000000000, &n) < 0)
				return -1;
			o->max_jobs_per_user = n;
		} else if ((val = long_opt(argc, argv, &i, "--gpus"))) {
			o->gpus = val;
		} else if (a[0] == '-') {
			log_error( "unknown option '%s'\n%s",
				a, usage);
			return -1;
		} else if (!o->mountpoint) {
			o->mountpoint = a;
		} else if (!o->source) {
			/* mount(8)'s order: SOURCE MOUNTPOINT */
			o->source = o->mountpoint;
			o->mountpoint = a;
		} else {
			log_error( "unexpected argument "
				"'%s'\n%s", a, usage);
			return -1;
		}
	}
	if (!o->mountpoint) {
		fputs(usage, stderr);
		return -1;
	}
	/* The source is the store; "none" (or "trainfs") the default one. */
	if (o->source && !o->store && *o->source &&
	    strcmp(o->source, "none") && strcmp(o->source, "trainfs"))
		o->store = o->source;
	return 0;
bad:
	log_error( "option '%s' needs a value\n%s", argv[argc - 1],
		usage);
	return -1;
}

/* The store folder, made absolute (the daemon runs in /). */
static char *store_path(const char *given)
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
		log_error( "no store: give --store DIR\n");
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

/* PATH with "\\ooo" escapes undone, as /proc/self/mountinfo writes it. */
static void unescape_octal(char *path)
{
	char *o = path;
	for (char *p = path; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
		    p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 +
				      (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

/* Whether something is mounted at PATH (an absolute, resolved path). */
static int is_mount_point(const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	while (!found && getline(&line, &cap, f) > 0) {
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the fifth field. */
		char *p = line;
		for (int field = 1; field < 5 && p; field++)
			if ((p = strchr(p, ' ')))
				p++;
		if (!p)
			continue;
		p[strcspn(p, " ")] = '\0';
		unescape_octal(p);
		found = !strcmp(p, path);
	}
	free(line);
	fclose(f);
	return found;
}

/* Detaches the dead FUSE mount at MNT (as fusermount3 -u -z does). */
static int clear_dead_mount(const char *mnt)
{
	if (geteuid() == 0)
		return umount2(mnt, MNT_DETACH) < 0 ? -errno : 0;
	pid_t pid;
	int status;
	char *argv[] = { "fusermount3", "-u", "-z", (char *)mnt, NULL };
	int rc = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ);
	if (rc)
		return -rc;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/*
 * A mount point that is mounted already is refused (mounting over it
 * would stack a second filesystem); one left dead by a killed trainfs
 * ("Transport endpoint is not connected") is cleared first.  0 or -1.
 */
static int check_mountpoint(const char *mnt)
{
	struct statfs sf;
	char real[PATH_MAX];
	/*
	 * stat() of a dead mount's root can still be answered from the
	 * kernel's cache; statfs() always asks the daemon.
	 */
	if (statfs(mnt, &sf) < 0 && errno == ENOTCONN) {
		int rc = clear_dead_mount(mnt);
		if (rc) {
			log_fatal("cannot clear the dead mount at '%s': %s "
				  "(try: fusermount3 -u -z %s)", mnt,
				  strerror(-rc), mnt);
			return -1;
		}
		log_info("cleared the dead mount at '%s'", mnt);
		return 0;
	}
	if (realpath(mnt, real) && is_mount_point(real)) {
		log_fatal("'%s' is already mounted (unmount it first: "
			  "fusermount3 -u %s)", mnt, mnt);
		return -1;
	}
	return 0;
}

/* Called with the job's and the registry lock held whenever a job changes. */
static void on_change(void *arg, struct job *job, unsigned views)
{
	struct trainfs *fs = arg;
	notifier_job_changed(fs->notifier, job, views);
	byview_job_changed(fs, job, views);
	if (job->sweep && fs->sweeps && (views & VIEW_BIT(VIEW_METRICS)))
		sweeps_poke(fs->sweeps); /* judge the new epoch now */
}

/* A sweep made a trial job: the kernel may hold "no such name" for it. */
static void on_sweep_change(void *arg, int64_t id, const char *new_job)
{
	struct trainfs *fs = arg;
	(void)id;
	if (!new_job)
		return;
	jobs_lock(fs->jobs);
	fs->mtime_ns = job_now_ns();
	jobs_unlock(fs->jobs);
	notifier_entry(fs->notifier, INO_JOBS, new_job);
	notifier_inode(fs->notifier, INO_JOBS);
}

/*
 * The pool of --gpus TEXT (NULL or "auto": the NVIDIA GPUs found; the
 * test suite may name another folder for the driver's in
 * TRAINFS_TEST_NVIDIA_PROC).  0, or -1 after saying why.
 */
static int gpu_pool_of(const char *text, struct gpu_pool *pool)
{
	char err[128];
	if (!text || !strcmp(text, "auto")) {
		const char *proc = getenv("TRAINFS_TEST_NVIDIA_PROC");
		return gpus_detect(proc ? proc : "/proc/driver/nvidia/gpus",
				   "/dev", pool);
	}
	if (gpus_parse_list(text, pool, err, sizeof err) == 0)
		return 0;
	log_error("bad value '%s' for '--gpus': %s (expected ids such as "
		  "0,1,2, auto or none)", text, err);
	return -1;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct trainfs fs = { 0 };
	struct fuse_session *se = NULL;
	char *store = NULL;
	int rc = 1;

	if (argc >= 2 && !strcmp(argv[1], "__shim"))
		return shim_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "__pack"))
		return pack_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "__prune"))
		return checkpoint_prune_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "__workdir"))
		return workdir_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "__ckscan"))
		return ownfiles_scan_main(argc, argv);
	if (expand_mount_opts(argc, argv, &argc, &argv)) {
		log_error("out of memory");
		return 1;
	}
	if (parse_args(argc, argv, &o))
		return 2;
	if (!(store = store_path(o.store)))
		return 1;
	struct gpu_pool gpus;
	if (gpu_pool_of(o.gpus, &gpus)) {
		free(store);
		free(o.fuse_opts);
		return 2;
	}
	if (check_mountpoint(o.mountpoint)) {
		free(store);
		free(o.fuse_opts);
		return 1;
	}
	/* allow_other needs the kernel's permission checks (FUSE-NOTES). */
	if (add_fuse_opt(&o, "default_permissions,fsname=trainfs,subtype=trainfs"))
		return 1;

	/*
	 * Shims and packers run this very binary, even if it is rebuilt or
	 * removed meanwhile, and under valgrind too (whose /proc/self/exe
	 * is its own tool, but whose open() of it gives ours).
	 */
	char self_exe[64];
	int self_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	/*
	 * Above the descriptors a spawn sets up (0 to 3), so none hides it,
	 * and inherited (not close-on-exec): valgrind, following the spawn,
	 * opens the path only after its own exec.  The shim closes it.
	 */
	if (self_fd >= 0) {
		int high = fcntl(self_fd, F_DUPFD, 10);
		close(self_fd);
		self_fd = high;
	}
	if (self_fd < 0) {
		log_error( "cannot open /proc/self/exe: "
			"%s\n", strerror(errno));
		return 1;
	}
	snprintf(self_exe, sizeof self_exe, "/proc/self/fd/%d", self_fd);
	/* Not mounted yet: resolving it asks no one. */
	char mount_real[PATH_MAX];
	if (!realpath(o.mountpoint, mount_real))
		snprintf(mount_real, sizeof mount_real, "%s", o.mountpoint);
	struct jobs_config cfg = {
		.mountpoint = mount_real,
		.store_dir = store,
		.gpus = gpus,
		.max_running = o.max_running,
		.max_jobs_per_user = o.max_jobs_per_user ? o.max_jobs_per_user
							 : 10000,
		.self_exe = self_exe,
		.slurm = o.slurm,
	};
	int err = jobs_open(&cfg, &fs.jobs);
	if (err == -EBUSY || err == STORE_REFUSED) {
		goto out; /* in use, or a parent others may write: said */
	} else if (err == -EPERM) {
		/* The SPEC's words exactly; nothing of the store was read. */
		log_fatal("store %s is writable by others", store);
		goto out;
	} else if (err) {
		log_error( "cannot open store '%s': %s\n",
			store, strerror(-err));
		goto out;
	}
	char logpath[PATH_MAX];
	snprintf(logpath, sizeof logpath, "%s/trainfs.log", store);
	if ((err = log_open(logpath, 1)))
		log_warn("cannot open the log '%s': %s", logpath,
			 strerror(-err));
	fs_opened_init(&fs);
	fs.uid = getuid();
	fs.gid = getgid();
	fs.mtime_ns = job_now_ns();
	if (!(fs.waiters = waiters_new()) || !(fs.scratch = scratches_new()) ||
	    !(fs.dash = dash_files_new()) || !(fs.renders = renders_new()))
		goto out;
	if ((err = sweeps_open(fs.jobs, &fs.sweeps))) {
		log_error("cannot load the sweeps: %s", strerror(-err));
		goto out;
	}

	char *fargv[] = { argv[0], "-o", o.fuse_opts, o.debug ? "-d" : NULL,
			  NULL };
	struct fuse_args args = FUSE_ARGS_INIT(o.debug ? 4 : 3, fargv);
	se = fuse_session_new(&args, &trainfs_ops, sizeof trainfs_ops, &fs);
	fuse_opt_free_args(&args);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se))
		goto out;
	if (fuse_session_mount(se, o.mountpoint)) {
		log_error( "cannot mount at '%s' (a stale "
			"mount? try: fusermount3 -u -z %s)\n", o.mountpoint,
			o.mountpoint);
		fuse_remove_signal_handlers(se);
		goto out;
	}
	if (fuse_daemonize(o.foreground)) {
		fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
		goto out;
	}
	log_to_stderr(o.foreground || o.debug);
	if ((err = jobs_claim_pid(fs.jobs, o.mountpoint)))
		log_error("cannot note the pid in the store's lock: %s",
			  strerror(-err));
	log_info("mounted at '%s' (store '%s', pid %ld)", o.mountpoint, store,
		 (long)getpid());
	char ids[GPUS_TEXT_MAX];
	log_info("GPUs for local jobs: %s (%s)",
		 gpus.n ? gpus_format(gpus.ids, gpus.n, ',', ids, sizeof ids)
			: "none",
		 o.gpus ? "--gpus" : "found by auto");
	if (!(fs.notifier = notifier_start(se, &fs))) {
		fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
		goto out;
	}
	jobs_on_change(fs.jobs, on_change, &fs);
	if ((err = jobs_start_supervisor(fs.jobs))) {
		log_error( "cannot start the supervisor: "
			"%s\n", strerror(-err));
		notifier_mute(fs.notifier);
		fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
		goto out;
	}
	sweeps_on_change(fs.sweeps, on_sweep_change, &fs);
	if ((err = sweeps_start(fs.sweeps))) {
		log_error("cannot start the sweeps' thread: %s", strerror(-err));
		goto unmount;
	}
	struct fuse_loop_config *loop = fuse_loop_cfg_create();
	if (!loop)
		goto unmount;
	/*
	 * Requests about one job wait on that job's lock while it renders or
	 * takes a metrics step; those must not take every worker from the
	 * requests about other jobs (a blocked `wait` costs no thread, see
	 * wait.c).  64 workers leave room for dozens of readers stuck on one
	 * busy job; an idle worker costs a stack of virtual memory only, and
	 * libfuse lets surplus idle ones exit (max_idle_threads).
	 */
	fuse_loop_cfg_set_max_threads(loop, 64);

	/*
	 * A SIGTERM (systemctl stop, kill) or SIGINT ends the loop with the
	 * signal's number: that is a clean stop, as an unmount is.
	 */
	err = fuse_session_loop_mt(se, loop);
	rc = err == 0 || err == SIGTERM || err == SIGINT || err == SIGHUP ? 0 : 1;
	fuse_loop_cfg_destroy(loop);
unmount:
	notifier_mute(fs.notifier); /* nothing more to /dev/fuse once closed */
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
out:
	sweeps_close(fs.sweeps); /* its thread first: it uses all below */
	if (fs.jobs)
		jobs_on_change(fs.jobs, NULL, NULL);
	notifier_stop(fs.notifier);
	waiters_free(fs.waiters);
	scratches_free(fs.scratch);
	byview_free();
	if (se)
		fuse_session_destroy(se);
	if (fs.jobs)
		fs_opened_free(&fs); /* what the kernel never released */
	dash_files_free(fs.dash); /* after the open files that share them */
	renders_free(fs.renders);
	jobs_close(fs.jobs); /* trainers keep running under their shims */
	free(o.fuse_opts);
	free(store);
	log_close();
	return rc;
}

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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "jobs/exec.h"
#include "jobs/pack.h"
#include "util/log.h"

static const char usage[] =
	"usage: trainfs MOUNTPOINT [--store DIR] [--max-running N] [-f] "
	"[-o FUSE_OPTION,...]\n"
	"\n"
	"  --store DIR        where jobs live (default $TRAINFS_STORE,\n"
	"                     else $XDG_DATA_HOME/trainfs, else "
	"~/.local/share/trainfs)\n"
	"  --max-running N    jobs running at once; more wait as queued\n"
	"  -f                 stay in the foreground\n"
	"  -d                 foreground with FUSE debug output\n"
	"  -o OPTIONS         FUSE mount options, e.g. allow_other\n"
	"\n"
	"Unmount with: fusermount3 -u MOUNTPOINT (jobs keep running)\n";

struct options {
	const char *mountpoint;
	const char *store;
	int max_running;
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

static int parse_args(int argc, char **argv, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
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
		} else if (!strncmp(a, "--max-running", 13) &&
			   (a[13] == '\0' || a[13] == '=')) {
			char *end;
			val = a[13] ? a + 14 : (i + 1 < argc ? argv[++i] : NULL);
			if (!val)
				goto bad;
			long n = strtol(val, &end, 10);
			if (*end || end == val || n < 1 || n > 1000000) {
				log_error( "bad value '%s' "
					"for '--max-running': expected a whole "
					"number from 1\n", val);
				return -1;
			}
			o->max_running = (int)n;
		} else if (a[0] == '-') {
			log_error( "unknown option '%s'\n%s",
				a, usage);
			return -1;
		} else if (!o->mountpoint) {
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

/* Called with the job's and the registry lock held whenever a job changes. */
static void on_change(void *arg, struct job *job, unsigned views)
{
	struct trainfs *fs = arg;
	notifier_job_changed(fs->notifier, job, views);
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
	if (parse_args(argc, argv, &o))
		return 2;
	if (!(store = store_path(o.store)))
		return 1;
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
	struct jobs_config cfg = {
		.store_dir = store,
		.max_running = o.max_running,
		.self_exe = self_exe,
	};
	int err = jobs_open(&cfg, &fs.jobs);
	if (err) {
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
	if (!(fs.waiters = waiters_new()))
		goto out;

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
	log_info("mounted at '%s' (store '%s', pid %ld)", o.mountpoint, store,
		 (long)getpid());
	if (!(fs.notifier = notifier_start(se, &fs))) {
		fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
		goto out;
	}
	jobs_on_change(fs.jobs, on_change, &fs);
	if ((err = jobs_start_supervisor(fs.jobs))) {
		log_error( "cannot start the supervisor: "
			"%s\n", strerror(-err));
		fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
		goto out;
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

	rc = fuse_session_loop_mt(se, loop) ? 1 : 0;
	fuse_loop_cfg_destroy(loop);
unmount:
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
out:
	if (fs.jobs)
		jobs_on_change(fs.jobs, NULL, NULL);
	notifier_stop(fs.notifier);
	waiters_free(fs.waiters);
	if (se)
		fuse_session_destroy(se);
	if (fs.jobs)
		fs_opened_free(&fs); /* what the kernel never released */
	jobs_close(fs.jobs); /* trainers keep running under their shims */
	free(o.fuse_opts);
	free(store);
	log_close();
	return rc;
}

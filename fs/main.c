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
#include "jobs/core/sweep.h"
#include "jobs/artifacts/checkpoint.h"
#include "jobs/run/exec.h"
#include "jobs/artifacts/pack.h"
#include "jobs/run/workdir.h"
#include "jobs/artifacts/ownfiles.h"
#include "util/log.h"

extern char **environ;

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
				  "(try: fusermount3 -u -z %s)",
				  mnt, strerror(-rc), mnt);
			return -1;
		}
		log_info("cleared the dead mount at '%s'", mnt);
		return 0;
	}
	if (realpath(mnt, real) && is_mount_point(real)) {
		log_fatal("'%s' is already mounted (unmount it first: "
			  "fusermount3 -u %s)",
			  mnt, mnt);
		return -1;
	}
	return 0;
}

/* Called with the job's and the listener lock held whenever a job changes. */
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
		  "0,1,2, auto or none)",
		  text, err);
	return -1;
}

/* The helper processes this same binary also is, by their first argument. */
static const struct helper {
	const char *name;
	int (*main)(int argc, char **argv);
} helpers[] = {
	{ "__shim", shim_main },
	{ "__pack", pack_main },
	{ "__prune", checkpoint_prune_main },
	{ "__workdir", workdir_main },
	{ "__ckscan", ownfiles_scan_main },
};

/*
 * Opens this very binary for shims and packers to run, even if it is
 * rebuilt or removed meanwhile, and under valgrind too (whose
 * /proc/self/exe is its own tool, but whose open() of it gives ours):
 * its path "/proc/self/fd/N" goes to BUF.  0, or -1 after saying why.
 */
static int open_self_exe(char *buf, size_t len)
{
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
		log_error("cannot open /proc/self/exe: "
			  "%s\n",
			  strerror(errno));
		return -1;
	}
	snprintf(buf, len, "/proc/self/fd/%d", self_fd);
	return 0;
}

/*
 * Opens STORE and loads its jobs into FS->jobs, as options O say, with
 * the mount point resolved (the jobs keep a copy).  0, or -1 after saying
 * why (FS->jobs stays NULL).
 */
static int open_jobs(struct trainfs *fs, const struct options *o, char *store,
		     const struct gpu_pool *gpus)
{
	char self_exe[64], mount_real[PATH_MAX];
	if (open_self_exe(self_exe, sizeof self_exe))
		return -1;
	/* Not mounted yet: resolving it asks no one. */
	if (!realpath(o->mountpoint, mount_real))
		snprintf(mount_real, PATH_MAX, "%s", o->mountpoint);
	struct jobs_config cfg = {
		.mountpoint = mount_real,
		.store_dir = store,
		.gpus = *gpus,
		.max_running = o->max_running,
		.max_jobs_per_user =
			o->max_jobs_per_user ? o->max_jobs_per_user : 10000,
		.self_exe = self_exe,
		.slurm = o->slurm,
	};
	int err = jobs_open(&cfg, &fs->jobs);
	if (err == -EBUSY || err == STORE_REFUSED) {
		return -1; /* in use, or a parent others may write: said */
	} else if (err == -EPERM) {
		/* Nothing of the store was read. */
		log_fatal("store %s is writable by others", store);
		return -1;
	} else if (err) {
		log_error("cannot open store '%s': %s\n", store,
			  strerror(-err));
		return -1;
	}
	return 0;
}

/*
 * Sets up the rest of FS over its jobs (opened): the daemon's log in
 * STORE, the open files, the waiters, scratch files, renderings and
 * sweeps.  0 or -1; what was set up is freed by teardown().
 */
static int open_fs(struct trainfs *fs, const char *store)
{
	char logpath[PATH_MAX];
	int err;
	snprintf(logpath, sizeof logpath, "%s/trainfs.log", store);
	if ((err = log_open(logpath, 1)))
		log_warn("cannot open the log '%s': %s", logpath,
			 strerror(-err));
	fs_opened_init(fs);
	fs->uid = getuid();
	fs->gid = getgid();
	fs->mtime_ns = job_now_ns();
	if (!(fs->waiters = waiters_new()) ||
	    !(fs->scratch = scratches_new()) ||
	    !(fs->dash = dash_files_new()) || !(fs->renders = renders_new()))
		return -1;
	if ((err = sweeps_open(fs->jobs, &fs->sweeps))) {
		log_error("cannot load the sweeps: %s", strerror(-err));
		return -1;
	}
	return 0;
}

/*
 * A FUSE session for FS, mounted at O's mount point, with the signal
 * handlers set and daemonized (unless -f).  NULL on failure, with what it
 * did undone.
 */
static struct fuse_session *
mount_session(struct trainfs *fs, const struct options *o, char *progname)
{
	char *fargv[] = { progname, "-o", o->fuse_opts, o->debug ? "-d" : NULL,
			  NULL };
	struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 4 : 3, fargv);
	struct fuse_session *se =
		fuse_session_new(&args, &trainfs_ops, sizeof trainfs_ops, fs);
	fuse_opt_free_args(&args);
	if (!se)
		return NULL;
	if (fuse_set_signal_handlers(se))
		goto err_destroy;
	if (fuse_session_mount(se, o->mountpoint)) {
		log_error("cannot mount at '%s' (a stale "
			  "mount? try: fusermount3 -u -z %s)\n",
			  o->mountpoint, o->mountpoint);
		goto err_remove_handlers;
	}
	if (fuse_daemonize(o->foreground))
		goto err_unmount;
	log_to_stderr(o->foreground || o->debug);
	return se;
err_unmount:
	fuse_session_unmount(se);
err_remove_handlers:
	fuse_remove_signal_handlers(se);
err_destroy:
	fuse_session_destroy(se);
	return NULL;
}

/* Notes the daemon's pid in the store's lock and logs what it serves. */
static void announce(struct trainfs *fs, const struct options *o,
		     const char *store, const struct gpu_pool *gpus)
{
	int err = jobs_claim_pid(fs->jobs, o->mountpoint);
	if (err)
		log_error("cannot note the pid in the store's lock: %s",
			  strerror(-err));
	log_info("mounted at '%s' (store '%s', pid %ld)", o->mountpoint, store,
		 (long)getpid());
	char ids[GPUS_TEXT_MAX];
	log_info("GPUs for local jobs: %s (%s)",
		 gpus->n ?
			 gpus_format(gpus->ids, gpus->n, ',', ids, sizeof ids) :
			 "none",
		 o->gpus ? "--gpus" : "found by auto");
}

/*
 * Starts the threads that serve FS besides FUSE's: the notifier, the
 * supervisor and the sweeps'.  0, or -1 after saying why (teardown()
 * stops those started).
 */
static int start_threads(struct trainfs *fs, struct fuse_session *se)
{
	int err;
	if (!(fs->notifier = notifier_start(se, fs)))
		return -1;
	jobs_on_change(fs->jobs, on_change, fs);
	if ((err = jobs_start_supervisor(fs->jobs))) {
		log_error("cannot start the supervisor: "
			  "%s\n",
			  strerror(-err));
		return -1;
	}
	sweeps_on_change(fs->sweeps, on_sweep_change, fs);
	if ((err = sweeps_start(fs->sweeps))) {
		log_error("cannot start the sweeps' thread: %s",
			  strerror(-err));
		return -1;
	}
	return 0;
}

/* Serves requests until unmounted or signalled: 0 (a clean stop) or 1. */
static int serve(struct fuse_session *se)
{
	struct fuse_loop_config *loop = fuse_loop_cfg_create();
	if (!loop)
		return 1;
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
	int err = fuse_session_loop_mt(se, loop);
	fuse_loop_cfg_destroy(loop);
	return err == 0 || err == SIGTERM || err == SIGINT || err == SIGHUP ?
		       0 :
		       1;
}

/*
 * Stops and frees whatever of FS and SE was set up (the session is
 * unmounted already), in the order they use each other.
 */
static void teardown(struct trainfs *fs, struct fuse_session *se)
{
	sweeps_stop(fs->sweeps); /* its thread first: it uses all below */
	sweeps_close(fs->sweeps);
	if (fs->jobs)
		jobs_on_change(fs->jobs, NULL, NULL);
	notifier_stop(fs->notifier);
	waiters_free(fs->waiters);
	scratches_free(fs->scratch);
	byview_free();
	if (se)
		fuse_session_destroy(se);
	if (fs->jobs)
		fs_opened_free(fs); /* what the kernel never released */
	dash_files_free(fs->dash);  /* after the open files that share them */
	renders_free(fs->renders);
	jobs_close(fs->jobs); /* trainers keep running under their shims */
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct trainfs fs = { 0 };
	struct fuse_session *se = NULL;
	struct gpu_pool gpus;
	char *store = NULL;
	int rc;

	for (size_t i = 0; argc >= 2 && i < sizeof helpers / sizeof *helpers;
	     i++)
		if (!strcmp(argv[1], helpers[i].name))
			return helpers[i].main(argc, argv);
	if ((rc = options_parse(argc, argv, &o))) {
		rc = rc > 0 ? 0 : 2; /* --help, --version; or a bad option */
		goto err_free_options;
	}
	rc = 1;
	if (!(store = options_store_path(o.store)))
		goto err_free_options;
	if (gpu_pool_of(o.gpus, &gpus)) {
		rc = 2;
		goto err_free_store;
	}
	if (check_mountpoint(o.mountpoint))
		goto err_free_store;
	if (open_jobs(&fs, &o, store, &gpus) || open_fs(&fs, store))
		goto err_teardown;
	if (!(se = mount_session(&fs, &o, argv[0])))
		goto err_teardown;
	announce(&fs, &o, store, &gpus);
	if (start_threads(&fs, se) == 0)
		rc = serve(se);
	notifier_mute(fs.notifier); /* nothing more to /dev/fuse once closed */
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
err_teardown:
	teardown(&fs, se);
	log_close();
err_free_store:
	free(store);
err_free_options:
	options_free(&o);
	return rc;
}

/*
 * shim: the process that owns one trainer ("trainfs __shim JOBDIR"), on
 * this machine for the local executor (exec_local.c).  Split from the
 * executor as conmon splits its shim by concern: this file is the process
 * alone; what trainfs does to start, find and signal it is exec_local.c's,
 * and the files both sides share (launch, trainer, exit) are exec.c's.
 *
 * It runs as root in the job folder trainfs hands it (fd 5) and reads
 * the launch record from a sealed memfd (fd 4), so it takes nothing by a
 * path a user could redirect; it starts /bin/sh -c COMMAND in a new
 * process group as the job's owner (recorded in JOBDIR/trainer as "PID
 * STARTTIME"), listens on JOBDIR/shim.sock for "stop" and "cancel" (its
 * first client is trainfs, on fd 3), applies stop_to (the main process or
 * the group), grace and SIGKILL, kills what escaped the group, writes the
 * reserved exit record (exit.tmp renamed to exit) once the whole group is
 * gone, says "exit" to its clients and exits.
 *
 * In Slurm mode ("trainfs __shim --slurm RUNDIR", exec'd by the batch
 * script as the job's owner, on a node) there is no socket: SIGURG is
 * trainfs's "stop" (scancel --batch --signal=URG) and SIGUSR2 its
 * "cancel" (which, should it reach the batch shell before the exec,
 * kills that shell: a cancel all the same), the stop file that
 * trainfs creates is looked for on every tick too, Slurm's own SIGTERM is
 * forwarded to the trainer's group, the launch record is RUNDIR/launch
 * (trusted under root only when root's own, in a folder only root may
 * write), the trainer's environment is the launch file's plus the
 * allocation's (slurm_trainer_env()), and the shim
 * exits with the trainer's status so that Slurm's end agrees with it.
 *
 * The main loop has one place for per-tick work of a job's own rules
 * (shim_tick(): every 200 ms at most, and after each event), so a rule
 * that must hold while trainfs is away (auto-stop) runs here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/run/exec.h"
#include "jobs/run/slurm.h"
#include "jobs/run/watch.h"
#include "util/file.h"
#include "util/log.h"
#include "util/privs.h"

#define SHIM_MAX_CLIENTS 16
#define SHIM_GRACE_MAX 1e9  /* seconds: as GRACE_MAX of jobs/core/registry.h */
#define EXIT_RECORD_SIZE 64 /* "signal 9", padded: the reserved record */
#define SHIM_LAUNCH_FD 4    /* local: the launch record trainfs handed over */
#define SHIM_DIR_FD 5	    /* local: the job folder */
#define SHIM_OWNER_VARS 4   /* HOME, USER, LOGNAME, SHELL (shim_owner_env) */

struct shim {
	const char *command, *workdir, *log;
	uid_t uid;
	gid_t gid;
	int stop_signal;
	int stop_group; /* stop_to = group */
	double grace;
	char **env;
	size_t nenv;

	pid_t pgid; /* the trainer's process group (= sh's PID) */
	int main_exited;
	int main_status;
	int stop_requested;
	int cancelled;
	int leftovers_signalled;
	struct watch_shim watch; /* auto-stop while trainfs is away (watch.c) */
	struct timespec deadline; /* SIGKILL at; tv_sec 0: none */
	int clients[SHIM_MAX_CLIENTS];
	int nclients;
	int exit_fd;	       /* exit.tmp, its block taken at start, or -1 */
	int slurm;	       /* Slurm mode: no socket, see above */
	const char *stop_file; /* TRAINFS_STOP_FILE; NULL: "stop" here */
	int owner_env;	       /* add the owner's HOME, USER, ... (exec.h) */
	char *owner_vars[SHIM_OWNER_VARS]; /* those added, freed at the end */
	size_t nowner_vars;
	char **slurm_env; /* Slurm mode: the trainer's environment */
};

static void shim_die(const char *what, int err)
{
	log_error("shim: %s: %s\n", what, strerror(err));
	exit(1);
}

/*
 * Whether a launch record read by path may be trusted: under root, only
 * one that root wrote in a folder no one else may write (a user who could
 * write it would choose the command and the uid).  Under the owner's uid
 * (Slurm) the record can give nothing the owner does not have.
 */
static int launch_trusted(const struct stat *st)
{
	struct stat dir;
	if (!S_ISREG(st->st_mode) || st->st_nlink != 1)
		return 0;
	if (geteuid() != 0)
		return 1;
	/* "." is the folder we entered, whatever its path became since. */
	return st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH)) &&
	       stat(".", &dir) == 0 && dir.st_uid == 0 &&
	       !(dir.st_mode & (S_IWGRP | S_IWOTH));
}

/*
 * Opens the launch record: fd 4 as trainfs handed it (local), or the
 * "launch" file of the folder (Slurm), which is removed once read.
 */
static int open_launch(struct shim *s, struct stat *st)
{
	int fd = s->slurm ?
			 open(EXEC_LAUNCH_FILE,
			      O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) :
			 SHIM_LAUNCH_FD;
	if (fd < 0 || fstat(fd, st) < 0)
		shim_die("cannot read '" EXEC_LAUNCH_FILE "'", errno);
	if (s->slurm && !launch_trusted(st))
		shim_die("'" EXEC_LAUNCH_FILE "' is not root's own", EPERM);
	return fd;
}

static char *load_launch(struct shim *s)
{
	struct stat st;
	int fd = open_launch(s, &st);
	char *buf = malloc(st.st_size + 1);
	if (!buf)
		shim_die("reading '" EXEC_LAUNCH_FILE "'", ENOMEM);
	ssize_t n = read(fd, buf, st.st_size);
	if (n != st.st_size)
		shim_die("short read of '" EXEC_LAUNCH_FILE "'",
			 n < 0 ? errno : EIO);
	buf[n] = '\0';
	close(fd);
	s->env = calloc(st.st_size / 2 + 2 + SHIM_OWNER_VARS, sizeof *s->env);
	if (!s->env)
		shim_die("reading '" EXEC_LAUNCH_FILE "'", ENOMEM);
	for (char *p = buf; p < buf + n;) {
		char *k = p, *v = k + strlen(k) + 1;
		if (v >= buf + n)
			break;
		p = v + strlen(v) + 1;
		if (!strcmp(k, "command"))
			s->command = v;
		else if (!strcmp(k, "workdir"))
			s->workdir = v;
		else if (!strcmp(k, "log"))
			s->log = v;
		else if (!strcmp(k, "uid"))
			s->uid = strtoul(v, NULL, 10);
		else if (!strcmp(k, "gid"))
			s->gid = strtoul(v, NULL, 10);
		else if (!strcmp(k, "signal"))
			s->stop_signal = atoi(v);
		else if (!strcmp(k, "stop_to"))
			s->stop_group = !strcmp(v, "group");
		else if (!strcmp(k, "grace"))
			s->grace = strtod(v, NULL);
		else if (!strcmp(k, "stop_file"))
			s->stop_file = v;
		else if (!strcmp(k, "owner_env"))
			s->owner_env = !strcmp(v, "1");
		else if (!strcmp(k, "env"))
			s->env[s->nenv++] = v;
		else
			watch_shim_key(&s->watch, k, v);
	}
	if (!s->command || !s->workdir || !s->log || s->stop_signal <= 0)
		shim_die("incomplete '" EXEC_LAUNCH_FILE "'", EINVAL);
	/* It holds the trainer's environment: gone once read. */
	if (s->slurm && unlink(EXEC_LAUNCH_FILE) < 0)
		shim_die("cannot remove '" EXEC_LAUNCH_FILE "'", errno);
	return buf;
}

static void now(struct timespec *t)
{
	clock_gettime(CLOCK_MONOTONIC, t);
}

static int group_alive(struct shim *s)
{
	return s->pgid > 0 && (kill(-s->pgid, 0) == 0 || errno != ESRCH);
}

static void arm_kill_timer(struct shim *s)
{
	/* A grace of 1e300 must mean "never", not overflow into the past. */
	double grace = s->grace < SHIM_GRACE_MAX ? s->grace : SHIM_GRACE_MAX;
	now(&s->deadline);
	s->deadline.tv_sec += (time_t)grace;
	s->deadline.tv_nsec += (long)((grace - (time_t)grace) * 1e9);
	if (s->deadline.tv_nsec >= 1000000000L) {
		s->deadline.tv_sec++;
		s->deadline.tv_nsec -= 1000000000L;
	}
	if (s->deadline.tv_sec == 0)
		s->deadline.tv_sec = 1;
}

static int children_of(pid_t parent, pid_t *pids, int max);

/* Whether PID still runs "sh -c COMMAND" as the shim started it. */
static int still_the_shell(const struct shim *s, pid_t pid)
{
	char path[64], buf[256];
	static const char head[] = "sh\0-c\0";
	size_t want = sizeof head - 1 + strlen(s->command) + 1;
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < (ssize_t)sizeof head - 1 || memcmp(buf, head, sizeof head - 1))
		return 0;
	/* The command itself, as far as it was read. */
	size_t cmp = (size_t)n < want ? (size_t)n : want;
	return !memcmp(buf + sizeof head - 1, s->command,
		       cmp - (sizeof head - 1) - (cmp == want));
}

/*
 * stop_to = main: the stop signal goes to the process that runs the
 * command, never to that process's own children (PyTorch's DataLoader
 * workers live until the trainer ends them, as with `docker stop`).  The
 * shell may have exec'd the command (then it is that process), or runs
 * it as a child (`cd x && python3 train.py`, pipelines, lists: each
 * process the shell started in the group).  Returns 0 or -errno.
 */
static int signal_main(struct shim *s)
{
	pid_t kids[256];
	int n = 0, sent = 0;
	if (still_the_shell(s, s->pgid))
		n = children_of(s->pgid, kids, 256);
	for (int i = 0; i < n; i++)
		if (getpgid(kids[i]) == s->pgid &&
		    kill(kids[i], s->stop_signal) == 0)
			sent++;
	if (sent)
		return 0;
	/* It exec'd the command, or has started nothing yet. */
	return kill(s->pgid, s->stop_signal) < 0 ? -errno : 0;
}

static void shim_stop(struct shim *s)
{
	if (s->stop_requested || s->cancelled)
		return;
	s->stop_requested = 1;
	/* Under Slurm trainfs made the stop file (its folder is not ours). */
	int fd = s->slurm ? -2 :
			    open(EXEC_STOP_FILE, O_WRONLY | O_CREAT | O_CLOEXEC,
				 0644);
	if (fd >= 0)
		close(fd);
	else if (fd == -1)
		log_error("shim: cannot create stop file: %s\n",
			  strerror(errno));
	int rc = s->stop_group ?
			 (kill(-s->pgid, s->stop_signal) < 0 ? -errno : 0) :
			 signal_main(s);
	if (rc && rc != -ESRCH)
		log_error("shim: cannot signal the trainer: %s", strerror(-rc));
	arm_kill_timer(s);
}

static void shim_cancel(struct shim *s)
{
	s->cancelled = 1;
	if (kill(-s->pgid, SIGKILL) < 0 && errno != ESRCH)
		log_error("shim: cannot kill the trainer: %s\n",
			  strerror(errno));
}

/* Reads the verbs a client sent; returns -1 when it has gone. */
static int shim_read_client(struct shim *s, int fd)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0; /* nothing after all */
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strcmp(line, "stop"))
			shim_stop(s);
		else if (!strcmp(line, "cancel"))
			shim_cancel(s);
	}
	return 0;
}

static void shim_reap(struct shim *s)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == s->pgid) {
			s->main_exited = 1;
			s->main_status = st;
		}
	}
}

/* Whether S's environment sets NAME (the spec's env.* may). */
static int shim_env_has(const struct shim *s, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < s->nenv; i++)
		if (!strncmp(s->env[i], name, n) && s->env[i][n] == '=')
			return 1;
	return 0;
}

/* Appends NAME=VALUE to S's environment unless it sets NAME already. */
static void shim_env_put(struct shim *s, const char *name, const char *value)
{
	char *e;
	if (shim_env_has(s, name))
		return;
	if (asprintf(&e, "%s=%s", name, value) < 0)
		shim_die("the trainer's environment", ENOMEM);
	s->env[s->nenv++] = e;
	s->owner_vars[s->nowner_vars++] = e;
}

/*
 * A trainer of another user than trainfs's gets a clean environment, as
 * sudo gives: trainfs sends it without the owner's HOME, USER, LOGNAME
 * and SHELL, which the shim, in its own process, looks up here (a slow
 * directory server then holds up this trainer only).  Without an entry:
 * HOME=/ and SHELL=/bin/sh, no USER or LOGNAME.
 */
static void shim_owner_env(struct shim *s)
{
	if (!s->owner_env)
		return;
	struct passwd *pw = getpwuid(s->uid);
	shim_env_put(s, "HOME", pw ? pw->pw_dir : "/");
	if (pw) {
		shim_env_put(s, "USER", pw->pw_name);
		shim_env_put(s, "LOGNAME", pw->pw_name);
	}
	shim_env_put(s, "SHELL",
		     pw && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
	s->env[s->nenv] = NULL;
}

/* Starts /bin/sh -c COMMAND in a new process group as the job's owner. */
static void shim_spawn(struct shim *s)
{
	gid_t *groups = NULL;
	int ngroups = 0, grc;
	int switch_user = getuid() != s->uid || getgid() != s->gid;
	if (switch_user &&
	    (grc = privs_groups(s->uid, s->gid, &groups, &ngroups)))
		shim_die("cannot look up the owner's groups", -grc);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t pid = fork();
	if (pid < 0)
		shim_die("cannot fork the trainer", errno);
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, 0);
		if (switch_user &&
		    privs_become(s->uid, s->gid, groups, ngroups, NULL) < 0) {
			dprintf(2, "trainfs: cannot run as uid %lu: %s\n",
				(unsigned long)s->uid, strerror(errno));
			_exit(126);
		}
		if (chdir(s->workdir) < 0) {
			dprintf(2, "trainfs: cannot enter workdir '%s': %s\n",
				s->workdir, strerror(errno));
			_exit(126);
		}
		char *argv[] = { "sh", "-c", (char *)s->command, NULL };
		execve("/bin/sh", argv, s->slurm_env ? s->slurm_env : s->env);
		dprintf(2, "trainfs: cannot run /bin/sh: %s\n",
			strerror(errno));
		_exit(127);
	}
	/* Both sides set the group, so no signal can miss it. */
	setpgid(pid, pid);
	if (devnull >= 0)
		close(devnull);
	free(groups);
	s->pgid = pid;

	char rec[128];
	int n = snprintf(rec, sizeof rec, "%d %llu\n", (int)pid,
			 exec_proc_start_time(pid));
	int rc = file_write_atomic(EXEC_TRAINER_FILE, rec, n);
	if (rc)
		log_error("shim: cannot write 'trainer': %s\n", strerror(-rc));
}

static int shim_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		shim_die("socket", errno);
	snprintf(sa.sun_path, sizeof sa.sun_path, EXEC_SHIM_SOCK);
	unlink(EXEC_SHIM_SOCK);
	mode_t old = umask(077); /* only trainfs's user may send verbs */
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		shim_die("cannot bind '" EXEC_SHIM_SOCK "'", errno);
	umask(old);
	if (listen(fd, 8) < 0)
		shim_die("listen", errno);
	return fd;
}

static int poll_timeout_ms(struct shim *s)
{
	int ms = 200; /* the group can empty without a SIGCHLD reaching us */
	if (s->deadline.tv_sec) {
		struct timespec t;
		now(&t);
		long long left = (s->deadline.tv_sec - t.tv_sec) * 1000LL +
				 (s->deadline.tv_nsec - t.tv_nsec) / 1000000;
		if (left < ms)
			ms = left < 0 ? 0 : (int)left;
	}
	return ms;
}

static int deadline_passed(struct shim *s)
{
	struct timespec t;
	if (!s->deadline.tv_sec)
		return 0;
	now(&t);
	return t.tv_sec > s->deadline.tv_sec ||
	       (t.tv_sec == s->deadline.tv_sec &&
		t.tv_nsec >= s->deadline.tv_nsec);
}

/*
 * Lists up to MAX children of PARENT (from /proc/PID/stat, field 4) into
 * PIDS.  Returns how many, or -errno.
 */
static int children_of(pid_t parent, pid_t *pids, int max)
{
	char path[64], buf[512];
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;
	if (!d)
		return -errno;
	while (n < max && (de = readdir(d))) {
		char *end, *p;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* gone meanwhile */
		ssize_t len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* "PID (COMM) STATE PPID ...": COMM may hold spaces and ')'. */
		if ((p = strrchr(buf, ')')) && p[1] == ' ' && p[2] &&
		    p[3] == ' ' && strtol(p + 4, NULL, 10) == parent)
			pids[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/*
 * The group is empty, but a process that left it (setsid, setpgid) is
 * still part of the run and got no signal: as our subreaper's children
 * once their parents are gone, they are SIGKILLed and reaped here, until
 * none is left (killing one hands us its children).  Nothing of a job
 * outlives its exit record.
 */
static void shim_kill_escaped(void)
{
	pid_t pids[256];
	int n, st;
	while ((n = children_of(getpid(), pids, 256)) > 0) {
		int killed = 0;
		for (int i = 0; i < n; i++) {
			if (kill(pids[i], SIGKILL) < 0 && errno != ESRCH) {
				log_error("shim: cannot kill "
					  "process %d: %s\n",
					  (int)pids[i], strerror(errno));
				continue;
			}
			while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
				;
			killed++;
		}
		if (!killed)
			break; /* none we may kill: do not spin */
	}
	if (n < 0)
		log_error("shim: cannot list leftover "
			  "processes: %s\n",
			  strerror(-n));
}

/*
 * Makes exit.tmp before the trainer runs and has its block allocated, so
 * that a trainer which fills the disk cannot keep its end from being
 * recorded: the record is later written over those bytes, in place.
 * Returns the open file, or -1 (the record is then written anew).
 */
static int shim_reserve_exit(void)
{
	char pad[EXIT_RECORD_SIZE];
	int fd = open(EXEC_EXIT_TMP,
		      O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		      0600);
	memset(pad, ' ', sizeof pad);
	pad[sizeof pad - 1] = '\n';
	if (fd >= 0 && !file_write_all(fd, pad, sizeof pad) && fsync(fd) == 0)
		return fd;
	log_error("shim: cannot reserve the exit record: %s\n",
		  strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Writes the reserved exit.tmp in place and renames it to exit; 0 or -errno. */
static int shim_fill_exit(int fd, const char *rec, size_t n)
{
	char buf[EXIT_RECORD_SIZE];
	int rc = 0, dfd;
	memset(buf, ' ', sizeof buf);
	memcpy(buf, rec, n < sizeof buf ? n : sizeof buf - 1);
	buf[sizeof buf - 1] = '\n';
	ssize_t w = pwrite(fd, buf, sizeof buf, 0);
	if (w != (ssize_t)sizeof buf)
		rc = w < 0 ? -errno : -EIO;
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(EXEC_EXIT_TMP, EXEC_EXIT_FILE) < 0)
		rc = -errno;
	if (!rc && (dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) < 0)
			rc = -errno;
		close(dfd);
	}
	return rc;
}

static void shim_write_exit(struct shim *s)
{
	char rec[64];
	int n, rc;
	if (WIFSIGNALED(s->main_status))
		n = snprintf(rec, sizeof rec, "signal %d",
			     WTERMSIG(s->main_status));
	else
		n = snprintf(rec, sizeof rec, "code %d",
			     WEXITSTATUS(s->main_status));
	if (s->exit_fd >= 0) {
		rc = shim_fill_exit(s->exit_fd, rec, n);
		s->exit_fd = -1;
		if (!rc)
			return;
		log_error("shim: cannot fill the exit record: "
			  "%s\n",
			  strerror(-rc));
	}
	rec[n++] = '\n';
	if ((rc = file_write_atomic(EXEC_EXIT_FILE, rec, n)))
		shim_die("cannot write 'exit'", -rc);
}

/*
 * Per-tick work of the job's own rules, after each event and at least
 * every 200 ms: the rules that must hold while trainfs is away.
 */
static void shim_tick(struct shim *s)
{
	/* Auto-stop, the same rule as trainfs's: a stop as a user's. */
	if (watch_shim_tick(&s->watch, s->uid, s->gid) && !s->main_exited)
		shim_stop(s);
	/* Slurm: a stop whose signal came before we could take it. */
	if (s->slurm && s->stop_file && !s->stop_requested &&
	    access(s->stop_file, F_OK) == 0)
		shim_stop(s);
}

/* A signal on the signalfd: SIGCHLD is only a wake-up. */
static void shim_signal(struct shim *s, int sig)
{
	if (sig == SIGURG)
		shim_stop(s);
	else if (sig == SIGUSR2 && s->slurm)
		shim_cancel(s);
	else if (sig == SIGTERM && s->pgid > 0)
		kill(-s->pgid, SIGTERM); /* Slurm's: pass it on, keep waiting */
}

/*
 * One round of the shim's loop: waits for a signal, a client or its
 * timer, then acts (stop, cancel, reap, auto-stop, SIGKILL at the
 * deadline).  Returns 1 once the command and its whole group are gone.
 */
static int shim_round(struct shim *s, int sfd, int lfd)
{
	struct pollfd p[SHIM_MAX_CLIENTS + 2];
	p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (int i = 0; i < s->nclients; i++)
		p[2 + i] = (struct pollfd){ .fd = s->clients[i],
					    .events = POLLIN };
	int polled = s->nclients; /* accept below may add one */
	int n = poll(p, 2 + polled, poll_timeout_ms(s));
	if (n < 0 && errno != EINTR)
		shim_die("poll", errno);
	if (n > 0 && (p[0].revents & POLLIN)) {
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof si) == sizeof si)
			shim_signal(s, (int)si.ssi_signo);
	}
	if (n > 0 && (p[1].revents & POLLIN)) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c >= 0 && s->nclients < SHIM_MAX_CLIENTS)
			s->clients[s->nclients++] = c;
		else if (c >= 0)
			close(c);
	}
	for (int i = polled - 1; n > 0 && i >= 0; i--) {
		if (!p[2 + i].revents)
			continue;
		if (shim_read_client(s, s->clients[i]) < 0) {
			close(s->clients[i]);
			s->clients[i] = s->clients[--s->nclients];
		}
	}
	shim_reap(s);
	shim_tick(s);
	if (s->cancelled && group_alive(s))
		kill(-s->pgid, SIGKILL); /* children forked since */
	if (deadline_passed(s)) {
		kill(-s->pgid, SIGKILL);
		s->deadline.tv_sec = 0;
	}
	if (s->main_exited && !group_alive(s))
		return 1;
	/* The command has ended; what it left behind is stopped. */
	if (s->main_exited && !s->leftovers_signalled && !s->stop_requested &&
	    !s->cancelled) {
		s->leftovers_signalled = 1;
		kill(-s->pgid, s->stop_signal);
		arm_kill_timer(s);
	}
	return 0;
}

int shim_main(int argc, char **argv)
{
	struct shim s = { 0 };
	sigset_t chld;
	int lfd = -1, sfd;

	if (argc == 4 && !strcmp(argv[2], "--slurm")) {
		s.slurm = 1;
		argv++;
		argc--;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: trainfs __shim [--slurm] JOBDIR\n");
		return 2;
	}
	close_range(s.slurm ? 3 : SHIM_DIR_FD + 1, ~0U, 0);
	/* Locally by the folder trainfs opened: the path is only a name. */
	if (s.slurm ? chdir(argv[2]) < 0 : fchdir(SHIM_DIR_FD) < 0)
		shim_die("cannot enter the job folder", errno);
	if (!s.slurm)
		close(SHIM_DIR_FD);
	char *launch = load_launch(&s);
	shim_owner_env(&s);
	int log = open(s.log,
		       O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		       0600);
	if (log < 0)
		shim_die("cannot open the log", errno);
	dup2(log, 1);
	dup2(log, 2);
	close(log);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		shim_die("cannot become a subreaper", errno);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (s.slurm) {
		sigaddset(&chld, SIGURG);
		sigaddset(&chld, SIGUSR2);
		sigaddset(&chld, SIGTERM);
		extern char **environ;
		if (slurm_trainer_env(s.env, environ, &s.slurm_env))
			shim_die("the trainer's environment", ENOMEM);
	}
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if ((sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		shim_die("signalfd", errno);
	if (!s.slurm) {
		lfd = shim_listen();
		s.clients[s.nclients++] = 3;
		fcntl(3, F_SETFD, FD_CLOEXEC);
	}
	s.exit_fd = shim_reserve_exit();
	shim_spawn(&s);

	while (!shim_round(&s, sfd, lfd))
		;
	shim_kill_escaped();
	shim_write_exit(&s);
	for (int i = 0; i < s.nclients; i++) {
		send(s.clients[i], "exit\n", 5, MSG_NOSIGNAL);
		close(s.clients[i]);
	}
	unlink(EXEC_SHIM_SOCK);
	int status = WIFSIGNALED(s.main_status) ?
			     slurm_exit_status(-1, WTERMSIG(s.main_status)) :
			     slurm_exit_status(WEXITSTATUS(s.main_status), 0);
	free(launch);
	watch_shim_free(&s.watch);
	free(s.env);
	for (size_t i = 0; i < s.nowner_vars; i++)
		free(s.owner_vars[i]);
	slurm_argv_free(s.slurm_env);
	return s.slurm ? status : 0;
}

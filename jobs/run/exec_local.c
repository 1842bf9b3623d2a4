/*
 * exec_local: the local executor (executor.h's table): one shim process
 * (shim.c) per trainer on this machine.
 *
 * A run is the trainfs end of the shim's socket and, when trainfs started
 * the shim, the shim's PID to reap.  launch spawns "trainfs __shim
 * JOBDIR" in a session of its own with one end of a socketpair on fd 3,
 * the launch record in a sealed memfd on fd 4 and the job folder on fd 5
 * (the shim runs as root: it takes nothing by a path a user could
 * redirect, and no launch file lies anywhere to plant or swap); attach
 * connects to JOBDIR/shim.sock after a restart (the shim is then not our
 * child: nothing to reap).  The run has ended when the shim says "exit"
 * or its socket closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/run/executor.h"
#include "util/file.h"
#include "util/log.h"

extern char **environ;

struct exec_local {
	struct executor base;
	char *self_exe;
};

struct exec_run {
	int fd;	   /* the shim's socket; -1 once it ended */
	pid_t pid; /* our child shim to reap; 0 once reaped or adopted */
};

/*
 * The launch record of L in a sealed memfd: the shim, root's, reads it
 * from a descriptor it inherits, so no file anyone could plant or swap
 * stands between trainfs and it.  Returns the fd or -errno.
 */
static int launch_memfd(const struct exec_launch *l)
{
	char *buf;
	size_t len;
	int rc = exec_launch_record(l, &buf, &len);
	if (rc)
		return rc;
	int fd =
		memfd_create("trainfs-launch", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		rc = -errno;
	else if ((rc = file_write_all(fd, buf, len)) == 0 &&
		 (lseek(fd, 0, SEEK_SET) < 0 ||
		  fcntl(fd, F_ADD_SEALS,
			F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
				F_SEAL_SEAL) < 0))
		rc = -errno;
	free(buf);
	if (rc && fd >= 0)
		close(fd);
	return rc ? rc : fd;
}

/*
 * Spawns "trainfs __shim JOBDIR" in a session of its own with its end of
 * SV on fd 3, the launch record on fd 4 and the job folder on fd 5 (the
 * path in argv only names it for ps).  Returns 0 and *PID, or -errno.
 */
static int spawn_shim(const char *self_exe, const struct exec_launch *l,
		      int sock, int launch, int dir, pid_t *pid)
{
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	char *argv[] = { "trainfs", "__shim", (char *)l->job_dir, NULL };
	int rc = posix_spawnattr_init(&attr);
	if (rc)
		return -rc;
	if ((rc = posix_spawn_file_actions_init(&fa))) {
		posix_spawnattr_destroy(&attr);
		return -rc;
	}
	/* Its own session: a Ctrl-C at trainfs's terminal does not reach it. */
	rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, sock, 3);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, launch, 4);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, dir, 5);
	if (!rc)
		rc = posix_spawn(pid, self_exe, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return -rc;
}

/*
 * Moves FD above the shim's fds 3 to 5, so that no dup2 of the spawn
 * overwrites another fd it has still to hand over.  Returns the new fd
 * (FD is closed) or -errno (FD too).
 */
static int above_shim_fds(int fd)
{
	if (fd < 0 || fd > 5)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 6);
	int e = errno;
	close(fd);
	return high < 0 ? -e : high;
}

static int exec_launch(const char *self_exe, const struct exec_launch *l,
		       int *fd, pid_t *shim_pid)
{
	int sv[2] = { -1, -1 }, launch = -1, dir, rc;

	if ((rc = exec_clear_traces(l->job_dir)))
		return rc;
	dir = open(l->job_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if ((dir = above_shim_fds(dir < 0 ? -errno : dir)) < 0)
		return dir;
	if ((launch = above_shim_fds(launch_memfd(l))) < 0) {
		rc = launch;
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		goto out;
	}
	if ((sv[1] = above_shim_fds(sv[1])) < 0) {
		rc = sv[1];
		close(sv[0]);
		goto out;
	}
	rc = spawn_shim(self_exe, l, sv[1], launch, dir, shim_pid);
	close(sv[1]);
	if (rc)
		close(sv[0]);
	else
		*fd = sv[0];
out:
	if (launch >= 0)
		close(launch);
	close(dir);
	return rc;
}

/* Fills a sockaddr for DIR/shim.sock, going through /proc when too long. */
static int sock_addr(const char *dir, struct sockaddr_un *sa, int *dirfd)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	*dirfd = -1;
	if (snprintf(sa->sun_path, sizeof sa->sun_path, "%s/" EXEC_SHIM_SOCK,
		     dir) < (int)sizeof sa->sun_path)
		return 0;
	*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return -errno;
	snprintf(sa->sun_path, sizeof sa->sun_path,
		 "/proc/self/fd/%d/" EXEC_SHIM_SOCK, *dirfd);
	return 0;
}

static int exec_attach(const char *job_dir, int *fd)
{
	struct sockaddr_un sa;
	int dirfd, rc, s;
	if ((rc = sock_addr(job_dir, &sa, &dirfd)))
		return rc;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		rc = -errno;
	} else if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		rc = -errno;
		close(s);
	} else {
		*fd = s;
	}
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

static int exec_send(int fd, const char *verb)
{
	char line[32];
	int n = snprintf(line, sizeof line, "%s\n", verb);
	if (send(fd, line, n, MSG_NOSIGNAL) != n)
		return errno ? -errno : -EIO;
	return 0;
}

static int exec_kill_orphan(const char *job_dir)
{
	static const char *const left[] = { EXEC_SHIM_SOCK, EXEC_EXIT_TMP };
	char buf[128], path[PATH_MAX];
	int pid;
	unsigned long long start;
	/* What the dead shim left: its socket, its unfilled exit record. */
	for (size_t i = 0; i < sizeof left / sizeof *left; i++)
		if (snprintf(path, sizeof path, "%s/%s", job_dir, left[i]) <
			    (int)sizeof path &&
		    unlink(path) < 0 && errno != ENOENT)
			log_error("cannot remove '%s': "
				  "%s\n",
				  path, strerror(errno));
	int rc = exec_read_small_file(job_dir, EXEC_TRAINER_FILE, buf,
				      sizeof buf);
	if (rc == -ENOENT)
		return 0; /* the trainer never started */
	if (rc)
		return rc;
	if (sscanf(buf, "%d %llu", &pid, &start) != 2 || pid <= 1)
		return -EINVAL;
	if (exec_proc_start_time(pid) != start)
		return 0; /* gone, or the PID now names another process */
	if (kill(-pid, SIGKILL) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}
/* ---- the table ---- */

static struct exec_run *run_new(int fd, pid_t pid)
{
	struct exec_run *r = malloc(sizeof *r);
	if (!r)
		return NULL;
	r->fd = fd;
	r->pid = pid;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return r;
}

static int local_launch(struct executor *ex, const struct exec_launch *l,
			struct exec_run **run)
{
	struct exec_local *x = (struct exec_local *)ex;
	int fd = -1, rc;
	pid_t pid = 0;
	if ((rc = exec_launch(x->self_exe, l, &fd, &pid)))
		return rc;
	if (!(*run = run_new(fd, pid))) {
		/* It runs: cancel it rather than leave it unseen. */
		exec_send(fd, "cancel");
		close(fd);
		waitpid(pid, NULL, 0);
		return -ENOMEM;
	}
	return 0;
}

static int local_attach(struct executor *ex, const char *job_dir, long long ref,
			struct exec_run **run)
{
	int fd = -1, rc;
	(void)ex;
	(void)ref;
	if ((rc = exec_attach(job_dir, &fd)))
		return rc == -ECONNREFUSED ? -ENOENT : rc;
	if (!(*run = run_new(fd, 0))) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

static int local_signal(struct exec_run *r, enum exec_verb verb)
{
	if (r->fd < 0)
		return 0; /* ended: nothing to signal */
	return exec_send(r->fd, verb == EXEC_STOP ? "stop" : "cancel");
}

static int local_wait_fd(struct exec_run *r)
{
	return r->fd;
}

static int local_poll(struct exec_run *r)
{
	char buf[256];
	if (r->fd < 0)
		return 1;
	ssize_t n = read(r->fd, buf, sizeof buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n > 0 && !memmem(buf, n, "exit", 4))
		return 0;
	close(r->fd);
	r->fd = -1;
	return 1;
}

static int local_reap(struct exec_run *r)
{
	int status;
	if (r->pid > 0 && waitpid(r->pid, &status, WNOHANG) != 0)
		r->pid = 0;
	return r->fd < 0 && r->pid <= 0;
}

static int local_status(struct exec_run *r, struct exec_status *st)
{
	(void)r;
	st->ref = 0;
	st->running = 1;
	st->time_up = 0;
	st->line[0] = '\0';
	return 0;
}

static void local_release(struct exec_run *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	/* An unreaped shim stays a zombie until trainfs exits: rare. */
	free(r);
}

static void local_close(struct executor *ex)
{
	struct exec_local *x = (struct exec_local *)ex;
	if (!x)
		return;
	free(x->self_exe);
	free(x);
}

static const struct executor_ops local_ops = {
	.name = "local",
	.launch = local_launch,
	.attach = local_attach,
	.signal = local_signal,
	.wait_fd = local_wait_fd,
	.poll = local_poll,
	.reap = local_reap,
	.release = local_release,
	.status = local_status,
	.verdict = NULL,
	.launched = exec_was_launched,
	.read_exit = exec_read_exit,
	.clean_orphan = exec_kill_orphan,
	.tick = NULL,
	.close = local_close,
};

struct executor *exec_local_new(const char *self_exe)
{
	struct exec_local *x = calloc(1, sizeof *x);
	if (!x || !(x->self_exe = strdup(self_exe))) {
		free(x);
		return NULL;
	}
	x->base.ops = &local_ops;
	return &x->base;
}

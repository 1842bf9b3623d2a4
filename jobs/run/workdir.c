/*
 * workdir: see workdir.h.  The daemon never looks at the path itself: a
 * stat() of a path on a hung NFS server, or on a FUSE mount of the user's
 * own that never answers, cannot be interrupted, and a lookup on the
 * trainfs mount is a request to this very daemon.  So the helper process
 * does the looking, as the owner, and the daemon only waits for its one
 * line on a pipe, with a deadline.  A helper past the deadline is killed
 * and left to a reaper thread: a process stuck in a filesystem cannot be
 * reaped until that filesystem answers, and no request may wait for that.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/run/workdir.h"
#include "util/privs.h"
#include "util/reap.h"

extern char **environ;

/* Whether DIR is MOUNT or under it, by name alone. */
static int under_by_name(const char *dir, const char *mount)
{
	size_t n = strlen(mount);
	while (n > 1 && mount[n - 1] == '/')
		n--;
	return !strncmp(dir, mount, n) && (dir[n] == '\0' || dir[n] == '/');
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the helper's line from FD until DEADLINE; 0, -ETIMEDOUT or -errno. */
static int read_answer(int fd, int64_t deadline, char *buf, size_t len)
{
	size_t used = 0;
	while (used < len - 1) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		ssize_t n = read(fd, buf + used, len - 1 - used);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0)
			break;
		if (n > 0)
			used += (size_t)n;
		if (memchr(buf, '\n', used))
			break;
	}
	buf[used] = '\0';
	return 0;
}

/* The helper's line as a result: 0, -EXDEV or -errno; -EIO if garbled. */
static int parse_answer(const char *line)
{
	int e;
	if (!strcmp(line, "ok\n"))
		return 0;
	if (!strcmp(line, "mount\n"))
		return -EXDEV;
	if (sscanf(line, "errno %d", &e) == 1 && e > 0)
		return -e;
	return -EIO;
}

/* Starts "SELF_EXE __workdir DIR UID GID MOUNT" with stdout on OUT. */
static int spawn_helper(const char *self_exe, const char *mount,
			const char *dir, uid_t uid, gid_t gid, int out,
			pid_t *pid)
{
	char suid[32], sgid[32];
	posix_spawn_file_actions_t fa;
	snprintf(suid, sizeof suid, "%lu", (unsigned long)uid);
	snprintf(sgid, sizeof sgid, "%lu", (unsigned long)gid);
	char *argv[] = { "trainfs", "__workdir", (char *)dir,
			 suid,	    sgid,	 (char *)(mount ? mount : "-"),
			 NULL };
	int rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		return -rc;
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
						      O_WRONLY, 0);
	if (!rc)
		rc = posix_spawn(pid, self_exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return -rc;
}

int workdir_check(const char *self_exe, const char *mount, const char *dir,
		  uid_t uid, gid_t gid)
{
	char line[64];
	int pfd[2];
	pid_t pid;
	if (mount && under_by_name(dir, mount))
		return -EXDEV;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	int rc = spawn_helper(self_exe, mount, dir, uid, gid, pfd[1], &pid);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		return rc;
	}
	rc = read_answer(pfd[0], now_ms() + WORKDIR_CHECK_MS, line,
			 sizeof line);
	close(pfd[0]);
	reap_later(pid);
	return rc ? rc : parse_answer(line);
}

/* ---- the helper process ---- */

/* Whether DIR, or its nearest existing ancestor, is on device DEV. */
static int ancestor_on(const char *dir, dev_t dev)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s", dir);
	for (;;) {
		if (stat(path, &st) == 0)
			return st.st_dev == dev;
		char *slash = strrchr(path, '/');
		if (!slash || slash == path)
			return 0;
		*slash = '\0';
	}
}

static int answer(const char *line)
{
	size_t n = strlen(line);
	return write(1, line, n) == (ssize_t)n ? 0 : 1;
}

int workdir_main(int argc, char **argv)
{
	unsigned int uid, gid;
	char why[512], line[32];
	struct stat m, here;
	if (argc != 6 || privs_parse_id(argv[3], &uid) < 0 ||
	    privs_parse_id(argv[4], &gid) < 0)
		return 2;
	/* Not root: the daemon runs only its own user's jobs, as itself. */
	if (geteuid() == 0 && privs_drop(uid, gid, why, sizeof why) < 0) {
		snprintf(line, sizeof line, "errno %d\n", EPERM);
		return answer(line);
	}
	int have_mount = strcmp(argv[5], "-") && stat(argv[5], &m) == 0;
	if (chdir(argv[2]) < 0) {
		int e = errno;
		if (have_mount && ancestor_on(argv[2], m.st_dev))
			return answer("mount\n");
		snprintf(line, sizeof line, "errno %d\n", e ? e : EIO);
		return answer(line);
	}
	if (have_mount && stat(".", &here) == 0 && here.st_dev == m.st_dev)
		return answer("mount\n");
	return answer("ok\n");
}

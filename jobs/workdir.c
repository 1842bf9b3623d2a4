/*
 * workdir: the owner's right to enter a workdir (workdir.h).  The groups
 * are looked up before fork(); the child of the multithreaded daemon does
 * only async-signal-safe calls (setgroups, setgid, setuid, chdir, _exit)
 * and reports errno as its exit status.  The parent waits at most
 * WORKDIR_CHECK_MS, then kills it.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/workdir.h"

/* The check as this process's own user (real and effective ids alike). */
static int check_as_self(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return access(dir, X_OK) < 0 ? -errno : 0;
}

int workdir_check(const char *dir, uid_t uid, gid_t gid)
{
	if (geteuid() != 0 || uid == geteuid())
		return check_as_self(dir);
	gid_t groups[256];
	int ngroups = 256;
	struct passwd pw, *found = NULL;
	char pwbuf[4096];
	if (getpwuid_r(uid, &pw, pwbuf, sizeof pwbuf, &found) || !found ||
	    getgrouplist(found->pw_name, gid, groups, &ngroups) < 0) {
		groups[0] = gid;
		ngroups = 1;
	}
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (setgroups(ngroups, groups) < 0 || setgid(gid) < 0 ||
		    setuid(uid) < 0)
			_exit(EPERM);
		_exit(chdir(dir) < 0 ? (errno & 0xff ? errno & 0xff : EIO) : 0);
	}
	int status;
	for (int waited = 0;; waited++) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (waited >= WORKDIR_CHECK_MS) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return -ETIMEDOUT;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	if (!WIFEXITED(status))
		return -EIO;
	return -WEXITSTATUS(status);
}

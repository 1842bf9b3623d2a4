/*
 * exec: what every executor backend and the shim share: the launch file
 * trainfs writes and the shim reads, the exit record the shim writes and
 * trainfs reads, and the start time that makes a recorded PID trustworthy
 * (see exec.h).  The backends are exec_local.c (a shim on this machine)
 * behind the table of executor.h; the shim process is shim.c.
 *
 * The launch record carries what the shim needs as NUL-terminated "key",
 * "value" pairs, so commands and environment values need no quoting; it
 * holds the trainer's environment and nothing more.  The local shim runs
 * as root and gets it in a sealed memfd, never from a file; the Slurm
 * shim runs as the job's owner and reads run/launch, which trainfs makes
 * through run/'s descriptor and the shim removes once read.  The shim
 * writes JOBDIR/trainer ("PID STARTTIME") once the trainer runs and
 * JOBDIR/exit ("code N" or "signal N") when its whole process group is
 * gone.  A PID alone is never
 * trusted: the start time (field 22 of /proc/PID/stat) must match before
 * an orphan is signalled.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/run/exec.h"
#include "jobs/run/watch.h"
#include "store/store.h"
#include "util/userfile.h"

static int put_pair(char **buf, size_t *len, size_t *cap, const char *k,
		    const char *v)
{
	size_t kl = strlen(k) + 1, vl = strlen(v) + 1;
	if (*len + kl + vl > *cap) {
		size_t ncap = (*cap + kl + vl) * 2;
		char *n = realloc(*buf, ncap);
		if (!n)
			return -ENOMEM;
		*buf = n;
		*cap = ncap;
	}
	memcpy(*buf + *len, k, kl);
	memcpy(*buf + *len + kl, v, vl);
	*len += kl + vl;
	return 0;
}

int exec_launch_record(const struct exec_launch *l, char **out, size_t *out_len)
{
	char num[64];
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = put_pair(&buf, &len, &cap, "command", l->command);
	if (!rc)
		rc = put_pair(&buf, &len, &cap, "workdir", l->workdir);
	if (!rc)
		rc = put_pair(&buf, &len, &cap, "log", l->log);
	snprintf(num, sizeof num, "%lu", (unsigned long)l->uid);
	if (!rc)
		rc = put_pair(&buf, &len, &cap, "uid", num);
	snprintf(num, sizeof num, "%lu", (unsigned long)l->gid);
	if (!rc)
		rc = put_pair(&buf, &len, &cap, "gid", num);
	snprintf(num, sizeof num, "%d", l->stop_signal);
	if (!rc)
		rc = put_pair(&buf, &len, &cap, "signal", num);
	if (!rc)
		rc = put_pair(&buf, &len, &cap, "stop_to",
			      l->stop_group ? "group" : "main");
	snprintf(num, sizeof num, "%.3f", l->grace);
	if (!rc)
		rc = put_pair(&buf, &len, &cap, "grace", num);
	if (!rc && l->stop_file)
		rc = put_pair(&buf, &len, &cap, "stop_file", l->stop_file);
	if (!rc && l->owner_env)
		rc = put_pair(&buf, &len, &cap, "owner_env", "1");
	for (size_t i = 0; !rc && l->env[i]; i++)
		rc = put_pair(&buf, &len, &cap, "env", l->env[i]);
	/* Auto-stop's pairs, already in the file's form (watch.h). */
	for (const char *k = l->watch; !rc && k && k < l->watch + l->watch_len;
	     k += strlen(k) + 1, k += strlen(k) + 1)
		rc = put_pair(&buf, &len, &cap, k, k + strlen(k) + 1);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int exec_read_small_file(const char *dir, const char *name, char *buf,
			 size_t len)
{
	char path[PATH_MAX];
	int fd;
	ssize_t n;
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return -ENAMETOOLONG;
	/* The owner's folder under Slurm: never a FIFO, a lease, a mount. */
	if ((fd = userfile_open(AT_FDCWD, path, O_RDONLY)) < 0)
		return fd;
	n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	return 0;
}

int exec_read_exit(const char *job_dir, struct exec_exit *e)
{
	char buf[64];
	int rc, v;
	if ((rc = exec_read_small_file(job_dir, EXEC_EXIT_FILE, buf,
				       sizeof buf)))
		return rc;
	e->code = -1;
	e->signal = 0;
	if (sscanf(buf, "code %d", &v) == 1)
		e->code = v;
	else if (sscanf(buf, "signal %d", &v) == 1)
		e->signal = v;
	else
		return -EINVAL;
	char path[PATH_MAX];
	struct stat st;
	long epoch;
	/* The shim's own folder (the job's, or its run/ under Slurm). */
	e->autostopped =
		watch_read_autostop(job_dir, &epoch, &e->autostop_ns) == 0;
	e->time_ns = 0;
	if (snprintf(path, sizeof path, "%s/exit", job_dir) <
		    (int)sizeof path &&
	    userfile_stat(path, &st) == 0)
		e->time_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL +
			     st.st_mtim.tv_nsec;
	return 0;
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks. */
unsigned long long exec_proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long t = 0;
	int fd;
	ssize_t n;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* After ") " come fields 3..: skip to field 22. */
	p += 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (p)
		t = strtoull(p, NULL, 10);
	return t;
}

int exec_clear_traces(const char *job_dir)
{
	static const char *const stale[] = { EXEC_STOP_FILE, EXEC_EXIT_FILE,
					     EXEC_TRAINER_FILE };
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof stale / sizeof *stale; i++) {
		if (snprintf(path, sizeof path, "%s/%s", job_dir, stale[i]) >=
		    (int)sizeof path)
			return -ENAMETOOLONG;
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
	}
	return 0;
}

int exec_was_launched(const char *job_dir)
{
	static const char *const marks[] = { EXEC_SHIM_SOCK, EXEC_TRAINER_FILE,
					     EXEC_EXIT_FILE };
	char path[PATH_MAX];
	struct stat st;
	for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
		if (snprintf(path, sizeof path, "%s/%s", job_dir, marks[i]) <
			    (int)sizeof path &&
		    userfile_stat(path, &st) == 0)
			return 1;
	return 0;
}

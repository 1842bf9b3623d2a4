/*
 * checkpoint: see checkpoint.h.  The scan reads names with readdir and
 * types with fstatat(AT_SYMLINK_NOFOLLOW) (d_type alone can say DT_UNKNOWN,
 * and a link must never count as a folder).  The plan is arithmetic on a
 * sorted array.  The deletion runs in a child process of its own so that it
 * has the owner's rights and no more: the daemon may be root, and a trainer
 * could plant a link to a folder that only root may delete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/artifacts/checkpoint.h"
#include "util/file.h"
#include "util/privs.h"
#include "util/reap.h"
#include "util/tree.h"
#include "util/userfile.h"

extern char **environ;

#define PREFIX "epoch-"
#define PREFIX_LEN 6

long checkpoint_epoch_of(const char *name)
{
	const char *p;
	long n = 0;

	if (strncmp(name, PREFIX, PREFIX_LEN) != 0)
		return -1;
	p = name + PREFIX_LEN;
	if (*p < '0' || *p > '9')
		return -1;
	if (*p == '0' && p[1])
		return -1; /* no leading zero: one name per epoch */
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (*p - '0');
		if (n > CHECKPOINT_EPOCH_MAX)
			return -1;
	}
	return n;
}

long checkpoint_epoch_of_prefix(const char *name)
{
	char head[CHECKPOINT_NAME_MAX + 1];
	const char *dot;
	size_t len;

	if (strchr(name, '/'))
		return -1;
	if (strncmp(name, PREFIX, PREFIX_LEN) != 0)
		return -1;
	dot = strchr(name + PREFIX_LEN, '.');
	if (!dot)
		return checkpoint_epoch_of(name);
	if (!dot[1])
		return -1; /* "epoch-5." */
	len = (size_t)(dot - name);
	if (len > CHECKPOINT_NAME_MAX)
		return -1;
	memcpy(head, name, len);
	head[len] = '\0';
	return checkpoint_epoch_of(head);
}

char *checkpoint_name(long epoch, char buf[CHECKPOINT_NAME_MAX])
{
	snprintf(buf, CHECKPOINT_NAME_MAX, PREFIX "%ld", epoch);
	return buf;
}

int checkpoint_upto(void *ctx, long epoch)
{
	return epoch <= *(const long *)ctx;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

/*
 * Calls FN(ARG, FD, ENTRY) for each entry of the folder DIRFD, read
 * through a descriptor of our own (closedir() closes it, not the
 * caller's).  A non-zero return of FN stops the walk and is returned;
 * else 0, or -errno when the folder cannot be read.
 */
static int each_entry(int dirfd,
		      int (*fn)(void *arg, int fd, const struct dirent *de),
		      void *arg)
{
	struct dirent *de;
	int rc = 0, fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (!rc) {
		errno = 0;
		if (!(de = readdir(d))) {
			rc = errno ? -errno : 0;
			break;
		}
		rc = fn(arg, fd, de);
	}
	closedir(d);
	return rc;
}

struct epochs {
	checkpoint_has_metrics_fn has;
	void *ctx;
	long *list;
	size_t len, cap;
};

/* Takes DE's epoch when it is a complete checkpoint folder. */
static int add_epoch(void *arg, int fd, const struct dirent *de)
{
	struct epochs *w = arg;
	mode_t mode;
	long e = checkpoint_epoch_of(de->d_name);
	if (e < 0)
		return 0;
	if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
		return 0; /* a link or a file, named like a checkpoint */
	/* Never asks another filesystem (a user's mount) about it. */
	if (userfile_local(fd, de->d_name, &mode) || !S_ISDIR(mode))
		return 0; /* gone meanwhile, not a folder, or a mount */
	if (w->has && !w->has(w->ctx, e))
		return 0;
	if (w->len == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 16;
		long *nl = realloc(w->list, nc * sizeof *nl);
		if (!nl)
			return -ENOMEM;
		w->list = nl;
		w->cap = nc;
	}
	w->list[w->len++] = e;
	return 0;
}

int checkpoint_scan(int dirfd, checkpoint_has_metrics_fn has, void *ctx,
		    long **out, size_t *n)
{
	struct epochs w = { .has = has, .ctx = ctx };
	*out = NULL;
	*n = 0;
	int rc = each_entry(dirfd, add_epoch, &w);
	if (rc) {
		free(w.list);
		return rc;
	}
	if (w.len)
		qsort(w.list, w.len, sizeof *w.list, cmp_long);
	*out = w.list;
	*n = w.len;
	return 0;
}

struct names {
	long after;
	char **list;
	size_t len, cap;
};

/* Takes DE's name when it is epoch-M or epoch-M.anything with M > after. */
static int add_name_after(void *arg, int fd, const struct dirent *de)
{
	struct names *w = arg;
	(void)fd;
	if (checkpoint_epoch_of_prefix(de->d_name) <= w->after)
		return 0;
	if (w->len == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 16;
		char **nl = realloc(w->list, nc * sizeof *nl);
		if (!nl)
			return -ENOMEM;
		w->list = nl;
		w->cap = nc;
	}
	if (!(w->list[w->len] = strdup(de->d_name)))
		return -ENOMEM;
	w->len++;
	return 0;
}

int checkpoint_scan_after(int dirfd, long after, char ***names, size_t *n)
{
	struct names w = { .after = after };
	*names = NULL;
	*n = 0;
	int rc = each_entry(dirfd, add_name_after, &w);
	if (rc) {
		checkpoint_names_free(w.list, w.len);
		return rc;
	}
	*names = w.list;
	*n = w.len;
	return 0;
}

void checkpoint_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

size_t checkpoint_filter(long *epochs, size_t n, checkpoint_has_metrics_fn has,
			 void *ctx)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!has || has(ctx, epochs[i]))
			epochs[k++] = epochs[i];
	return k;
}

/* Whether E is among the ascending EPOCHS. */
static int contains(const long *epochs, size_t n, long e)
{
	return bsearch(&e, epochs, n, sizeof *epochs, cmp_long) != NULL;
}

int checkpoint_plan(const long *epochs, size_t n, enum checkpoint_keep keep,
		    long best_epoch, long newest, struct checkpoint_plan *plan)
{
	memset(plan, 0, sizeof *plan);
	plan->weights = plan->newest = -1;
	if (!n)
		return 0;
	long last = epochs[n - 1];
	int have_best = best_epoch >= 0 && contains(epochs, n, best_epoch);
	plan->weights = keep == CHECKPOINT_KEEP_BEST && have_best ? best_epoch :
								    last;
	plan->newest = last;
	/* epochs[first..n) are the newest NEWEST ones. */
	size_t first = newest == CHECKPOINT_KEEP_ALL || (size_t)newest >= n ?
			       0 :
			       n - (size_t)newest;
	for (size_t i = 0; i < first; i++) {
		long e = epochs[i];
		if ((have_best && e == best_epoch) || e == plan->weights)
			continue;
		if (!plan->drop) {
			plan->drop = malloc(first * sizeof *plan->drop);
			if (!plan->drop)
				return -ENOMEM;
		}
		plan->drop[plan->ndrop++] = e;
	}
	return 0;
}

void checkpoint_plan_free(struct checkpoint_plan *plan)
{
	free(plan->drop);
	memset(plan, 0, sizeof *plan);
	plan->weights = plan->newest = -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reads the helper's stderr into ERR: its first "error " line, unprefixed.
 * Returns 0 at its end of file, -ETIMEDOUT past DEADLINE (ms, monotonic).
 */
static int read_errors(int fd, int64_t deadline, char *err, size_t errlen)
{
	char buf[4096], drop[512];
	size_t used = 0;
	ssize_t r = 1;

	while (r != 0) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		/* Past BUF's room, drained: the helper never blocks on a pipe. */
		if (used < sizeof buf - 1)
			r = read(fd, buf + used, sizeof buf - 1 - used);
		else
			r = read(fd, drop, sizeof drop);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && used < sizeof buf - 1)
			used += (size_t)r;
	}
	buf[used] = '\0';
	if (!errlen)
		return 0;
	char *line = strstr(buf, "error ");
	if (line) {
		line += 6;
		size_t l = strcspn(line, "\n");
		snprintf(err, errlen, "%.*s", (int)l, line);
	} else {
		snprintf(err, errlen, "the checkpoint pruner failed");
	}
	return 0;
}

/*
 * Reaps the child PID into *STATUS, waiting no later than DEADLINE (ms):
 * its stderr is closed already, so it is exiting, but a process stuck in
 * a filesystem that never answers is not waited for.  0, -ETIMEDOUT (the
 * caller gives it to reap_later()) or -errno.
 */
static int wait_until(pid_t pid, int *status, int64_t deadline)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
}

int checkpoint_prune(const char *self_exe, const char *dir, uid_t uid,
		     gid_t gid, const long *epochs, size_t n, char *err,
		     size_t errlen)
{
	char(*names)[CHECKPOINT_NAME_MAX] = NULL;
	char **ptrs = NULL;
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!n)
		return 0;
	names = malloc(n * sizeof *names);
	ptrs = malloc(n * sizeof *ptrs);
	if (!names || !ptrs) {
		free(names);
		free(ptrs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ptrs[i] = checkpoint_name(epochs[i], names[i]);
	rc = checkpoint_prune_names(self_exe, dir, uid, gid, ptrs, n, err,
				    errlen);
	free(names);
	free(ptrs);
	return rc;
}

/*
 * Removes NAMES from the folder DIRFD, never following a link; a name that
 * checkpoint_epoch_of_prefix() refuses is not touched.  Calls REPORT (if
 * not NULL) with each failure's message; returns 0, or the first failure
 * as a negative errno with its message in ERR.
 */
static int prune_at(int dirfd, char *const *names, size_t n,
		    int (*report)(const char *, ...), char *err, size_t errlen)
{
	int first = 0;
	char msg[512];

	for (size_t i = 0; i < n; i++) {
		int rc;
		if (checkpoint_epoch_of_prefix(names[i]) < 0) {
			rc = -EINVAL;
			snprintf(msg, sizeof msg,
				 "'%s' is not a checkpoint name", names[i]);
		} else if ((rc = tree_remove(dirfd, names[i]))) {
			snprintf(msg, sizeof msg, "cannot delete '%s': %s",
				 names[i], strerror(-rc));
		}
		if (!rc)
			continue;
		if (report)
			report("%s", msg);
		if (!first) {
			first = rc;
			snprintf(err, errlen, "%s", msg);
		}
	}
	return first;
}

/* The pruning with this process's own rights (it is the owner already). */
static int prune_here(const char *dir, char *const *names, size_t n, char *err,
		      size_t errlen)
{
	int rc, dfd = open(dir,
			   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open '%s': %s", dir,
			 strerror(-rc));
		return rc;
	}
	rc = prune_at(dfd, names, n, NULL, err, errlen);
	close(dfd);
	return rc;
}

/*
 * Starts `trainfs __prune` with ARGV, its stdin and stdout /dev/null, its
 * stderr ERRFD; *PID.  0, or -errno with ERR set.
 */
static int spawn_pruner(const char *self_exe, char **argv, int errfd,
			pid_t *pid, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	int rc;
	if ((rc = posix_spawn_file_actions_init(&fa)))
		return -rc;
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
						      O_WRONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	if (!rc)
		rc = posix_spawn(pid, self_exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		rc = -rc;
		snprintf(err, errlen, "cannot start the checkpoint pruner: %s",
			 strerror(-rc));
		return rc;
	}
	return 0;
}

int checkpoint_prune_names(const char *self_exe, const char *dir, uid_t uid,
			   gid_t gid, char *const *names, size_t n, char *err,
			   size_t errlen)
{
	char suid[32], sgid[32];
	char **argv = NULL;
	int pfd[2] = { -1, -1 }, rc = 0, status;
	pid_t pid;

	if (errlen)
		err[0] = '\0';
	if (!n)
		return 0;
	if (dir[0] != '/') {
		snprintf(err, errlen, "checkpoints folder '%s' is not absolute",
			 dir);
		return -EINVAL;
	}
	/*
	 * Already the owner (trainfs runs as the job's user): the same rights
	 * without a process to start, which costs milliseconds per epoch.
	 */
	if (geteuid() == uid && getegid() == gid)
		return prune_here(dir, names, n, err, errlen);
	argv = malloc((n + 6) * sizeof *argv);
	if (!argv) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(suid, sizeof suid, "%lu", (unsigned long)uid);
	snprintf(sgid, sizeof sgid, "%lu", (unsigned long)gid);
	argv[0] = "trainfs";
	argv[1] = "__prune";
	argv[2] = (char *)dir;
	argv[3] = suid;
	argv[4] = sgid;
	for (size_t i = 0; i < n; i++)
		argv[5 + i] = names[i];
	argv[5 + n] = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(-rc));
		goto out;
	}
	if ((rc = spawn_pruner(self_exe, argv, pfd[1], &pid, err, errlen)))
		goto out;
	close(pfd[1]);
	pfd[1] = -1;
	/* Never waits without end: the folder is the owner's. */
	int64_t deadline = now_ms() + CHECKPOINT_PRUNE_MS;
	if (read_errors(pfd[0], deadline, err, errlen) ||
	    (rc = wait_until(pid, &status, deadline)) == -ETIMEDOUT) {
		reap_later(pid);
		rc = -ETIMEDOUT;
		snprintf(err, errlen,
			 "the checkpoint pruner took more than "
			 "%d s: stopped",
			 CHECKPOINT_PRUNE_MS / 1000);
		goto out;
	}
	if (rc)
		goto out;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (errlen)
			err[0] = '\0';
	} else {
		rc = -EIO;
		if (WIFSIGNALED(status))
			snprintf(
				err, errlen,
				"the checkpoint pruner was killed by signal %d",
				WTERMSIG(status));
	}
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	free(argv);
	return rc;
}

/* Writes "error MESSAGE\n" to stderr in one write; returns 1. */
static int prune_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int prune_error(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	memcpy(line, "error ", 6);
	va_start(ap, fmt);
	n = vsnprintf(line + 6, sizeof line - 7, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	n += 6;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* If stderr is gone too, the exit status still says it failed. */
	(void)!file_write_all(2, line, (size_t)n);
	return 1;
}

/* DIR as a descriptor number ("3"), or -1 when it is not one. */
static int dir_as_fd(const char *dir)
{
	unsigned int fd;
	if (privs_parse_id(dir, &fd) < 0 || fd > 1u << 20)
		return -1;
	return (int)fd;
}

int checkpoint_prune_main(int argc, char **argv)
{
	unsigned int uid, gid;
	char why[512];
	int dirfd, failed = 0;

	if (argc < 5)
		return prune_error(
			"usage: trainfs __prune DIR UID GID NAME...");
	if (privs_parse_id(argv[3], &uid) < 0)
		return prune_error("bad uid '%s'", argv[3]);
	if (privs_parse_id(argv[4], &gid) < 0)
		return prune_error("bad gid '%s'", argv[4]);
	if (argv[2][0] != '/' && dir_as_fd(argv[2]) < 0)
		return prune_error("bad checkpoints folder '%s': not an "
				   "absolute path nor a descriptor",
				   argv[2]);
	if (privs_drop(uid, gid, why, sizeof why) < 0)
		return prune_error("%s", why);
	/* Opened as the owner: a folder the owner cannot reach is refused. */
	if (argv[2][0] == '/')
		dirfd = open(argv[2],
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	else
		dirfd = openat(dir_as_fd(argv[2]), ".",
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return prune_error("cannot open '%s': %s", argv[2],
				   strerror(errno));
	failed = prune_at(dirfd, argv + 5, (size_t)(argc - 5), prune_error, why,
			  sizeof why) != 0;
	close(dirfd);
	return failed;
}

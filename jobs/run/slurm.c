/*
 * slurm: argv builders, the command runner and the parsers of Slurm's
 * output (see slurm.h for the design of the Slurm executor).
 *
 * Every parser takes the text as Slurm 22.05 prints it and never trusts
 * its shape: a field that is not where it should be is skipped or makes
 * the call fail, never a read past the buffer.  The runner forks without
 * calling anything unsafe after fork (trainfs has threads): the user's
 * groups and the program's path are found before it.
 */
#include <ctype.h>
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/run/slurm.h"
#include "util/privs.h"

#define SLURM_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

/* The spec's slurm.* keys (trainfs(1)); the sbatch option is the key with
 * '_' -> '-'. */
static const char *const slurm_keys[] = {
	"partition",	 "account", "qos",  "time", "nodes",	  "ntasks",
	"cpus_per_task", "mem",	    "gres", "gpus", "constraint",
};

int slurm_option_known(const char *key)
{
	for (size_t i = 0; i < sizeof slurm_keys / sizeof *slurm_keys; i++)
		if (!strcmp(key, slurm_keys[i]))
			return 1;
	return 0;
}

int slurm_option_value_ok(const char *value)
{
	return strpbrk(value, "\n\r") ? -EINVAL : 0;
}

/* ---- argv and environment ---- */

struct strv {
	char **v;
	size_t n, cap;
	int failed;
};

/* Appends S (taken: freed on failure) to V; remembers a failure. */
static void strv_take(struct strv *v, char *s)
{
	if (!s || v->failed) {
		free(s);
		v->failed = 1;
		return;
	}
	if (v->n + 2 > v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		char **n = realloc(v->v, cap * sizeof *n);
		if (!n) {
			free(s);
			v->failed = 1;
			return;
		}
		v->v = n;
		v->cap = cap;
	}
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
}

static void strv_add(struct strv *v, const char *s)
{
	strv_take(v, strdup(s));
}

static void strv_addf(struct strv *v, const char *fmt, const char *a,
		      const char *b)
{
	char *s = NULL;
	if (asprintf(&s, fmt, a, b) < 0)
		s = NULL;
	strv_take(v, s);
}

/* Returns 0 and hands V's array to *OUT, or -ENOMEM and frees it. */
static int strv_finish(struct strv *v, char ***out)
{
	if (!v->v && !v->failed && !(v->v = calloc(1, sizeof *v->v)))
		v->failed = 1; /* nothing added: an empty list */
	if (v->failed) {
		slurm_argv_free(v->v);
		*out = NULL;
		return -ENOMEM;
	}
	*out = v->v;
	return 0;
}

void slurm_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

char *slurm_sh_quote(const char *s)
{
	size_t n = 3;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *q = malloc(n), *o = q;
	if (!q)
		return NULL;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

void slurm_job_name(const char *name, char *buf, size_t len)
{
	if (!len)
		return;
	if (snprintf(buf, len, "trainfs-%s", name) < 0)
		buf[0] = '\0';
	if (strlen(buf) <= 8)
		return; /* no room for NAME */
	for (char *p = buf + 8; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_", *p))
			*p = '_';
}

int slurm_sbatch_argv(const struct slurm_submit *s, char ***argv)
{
	struct strv v = { 0 };
	char opt[64];

	for (size_t i = 0; i < s->nopts; i++)
		if (!slurm_option_known(s->opts[i].key) ||
		    slurm_option_value_ok(s->opts[i].value))
			return -EINVAL;
	strv_add(&v, "sbatch");
	strv_add(&v, "--parsable");
	strv_addf(&v, "--job-name=%s%s", s->job_name, "");
	strv_addf(&v, "--output=%s%s", s->log, "");
	strv_add(&v, "--open-mode=append");
	/* A node failure or a preemption ends the job, never reruns it
	 * behind trainfs's back. */
	strv_add(&v, "--no-requeue");
	/* The environment is slurm_submit_env()'s allow-list (PATH and
	 * SLURM_CONF), exported as it is whatever SBATCH_EXPORT says: NONE
	 * would make Slurm load a login environment on the node. */
	strv_add(&v, "--export=ALL");
	if (s->chdir)
		strv_addf(&v, "--chdir=%s%s", s->chdir, "");
	for (size_t i = 0; i < s->nopts; i++) {
		/* Known keys are short: the copy cannot be cut. */
		snprintf(opt, sizeof opt, "%s", s->opts[i].key);
		for (char *p = opt; *p; p++)
			if (*p == '_')
				*p = '-';
		strv_addf(&v, "--%s=%s", opt, s->opts[i].value);
	}
	char *exe = slurm_sh_quote(s->self_exe);
	char *dir = slurm_sh_quote(s->job_dir);
	if (exe && dir)
		strv_addf(&v, "--wrap=exec %s __shim --slurm %s", exe, dir);
	else
		v.failed = 1;
	free(exe);
	free(dir);
	return strv_finish(&v, argv);
}

static int env_is(const char *e, const char *prefix)
{
	return !strncmp(e, prefix, strlen(prefix));
}

/*
 * The allow-list of trainfs's environment for Slurm: PATH (a default one
 * if it has none) and SLURM_CONF, nothing else.  Root's other SLURM_* and
 * SBATCH_* would apply to a user's submission (SBATCH_PARTITION,
 * SBATCH_ACCOUNT) and, through sbatch's export, reach the user's trainer.
 */
static void env_allowed(struct strv *v, char *const *env)
{
	int have_path = 0;
	for (size_t i = 0; env && env[i]; i++) {
		if (env_is(env[i], "PATH=") && !have_path) {
			have_path = 1;
			strv_add(v, env[i]);
		}
	}
	if (!have_path)
		strv_add(v, "PATH=" SLURM_DEFAULT_PATH);
	for (size_t i = 0; env && env[i]; i++)
		if (env_is(env[i], "SLURM_CONF=")) {
			strv_add(v, env[i]);
			break;
		}
}

int slurm_command_env(char *const *env, char ***out)
{
	struct strv v = { 0 };
	env_allowed(&v, env);
	strv_add(&v, "SLURM_TIME_FORMAT=standard");
	return strv_finish(&v, out);
}

int slurm_submit_env(char *const *env, char ***out)
{
	struct strv v = { 0 };
	env_allowed(&v, env);
	return strv_finish(&v, out);
}

int slurm_launch_env(char *const *env, char *const *own, char ***out)
{
	struct strv v = { 0 };
	for (size_t i = 0; env && env[i]; i++) {
		int inherited = 0;
		if (env_is(env[i], "SLURM_") || env_is(env[i], "SBATCH_"))
			for (size_t k = 0; own && own[k] && !inherited; k++)
				inherited = !strcmp(env[i], own[k]);
		if (!inherited)
			strv_add(&v, env[i]);
	}
	return strv_finish(&v, out);
}

/* Is E ("NAME=VALUE") set by Slurm for the allocation? */
static int env_from_allocation(const char *e)
{
	static const char *const names[] = {
		"CUDA_VISIBLE_DEVICES=",
		"ROCR_VISIBLE_DEVICES=",
		"GPU_DEVICE_ORDINAL=",
		"ZE_AFFINITY_MASK=",
	};
	if (env_is(e, "SLURM_"))
		return 1;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (env_is(e, names[i]))
			return 1;
	return 0;
}

/* Is the name of E ("NAME=...") set in LIST? */
static int env_has_name(char *const *list, const char *e)
{
	const char *eq = strchr(e, '=');
	size_t n = eq ? (size_t)(eq - e) + 1 : strlen(e);
	for (size_t i = 0; list && list[i]; i++)
		if (!strncmp(list[i], e, n))
			return 1;
	return 0;
}

int slurm_trainer_env(char *const *trainer, char *const *batch, char ***out)
{
	struct strv v = { 0 };
	for (size_t i = 0; trainer && trainer[i]; i++)
		strv_add(&v, trainer[i]);
	for (size_t i = 0; batch && batch[i]; i++)
		if (env_from_allocation(batch[i]) &&
		    !env_has_name(trainer, batch[i]))
			strv_add(&v, batch[i]);
	return strv_finish(&v, out);
}

int slurm_exit_status(int code, int signal)
{
	if (signal > 0)
		return 128 + (signal & 0x7f);
	return code & 0xff;
}

/* ---- running a command ---- */

/* Finds PROG on the PATH of ENVP into BUF; 0 or -ENOENT. */
static int find_program(const char *prog, char *const envp[], char *buf,
			size_t len)
{
	const char *path = NULL;
	if (strchr(prog, '/')) {
		if ((size_t)snprintf(buf, len, "%s", prog) >= len)
			return -ENAMETOOLONG;
		return 0;
	}
	for (size_t i = 0; envp && envp[i]; i++)
		if (env_is(envp[i], "PATH="))
			path = envp[i] + 5;
	if (!path)
		path = SLURM_DEFAULT_PATH;
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n &&
		    (size_t)snprintf(buf, len, "%.*s/%s", (int)n, path, prog) <
			    len &&
		    access(buf, X_OK) == 0)
			return 0;
		path += n;
		if (*path == ':')
			path++;
	}
	return -ENOENT;
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* Reads what FD has into *BUF; 1 at EOF, 0 for more later, -errno. */
static int drain(int fd, char **buf, size_t *len, int *truncated)
{
	char chunk[8192];
	ssize_t n = read(fd, chunk, sizeof chunk);
	if (n == 0)
		return 1;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (*len + n > SLURM_OUTPUT_MAX) {
		*truncated = 1;
		return 0;
	}
	char *b = realloc(*buf, *len + n + 1);
	if (!b)
		return -ENOMEM;
	memcpy(b + *len, chunk, n);
	*len += n;
	b[*len] = '\0';
	*buf = b;
	return 0;
}

/* The child's side of slurm_run(): never returns. */
static void run_child(const char *prog, char *const argv[], char *const envp[],
		      int out, int err, int errpipe, int switch_user, uid_t uid,
		      gid_t gid, const gid_t *groups, int ngroups)
{
	sigset_t none;
	int e;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	/* Above 2 first: with 0-2 closed in trainfs a pipe may be 1 or 2,
	 * and dup2 onto itself would keep its close-on-exec. */
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || (devnull = fcntl(devnull, F_DUPFD_CLOEXEC, 3)) < 0 ||
	    (out = fcntl(out, F_DUPFD_CLOEXEC, 3)) < 0 ||
	    (err = fcntl(err, F_DUPFD_CLOEXEC, 3)) < 0 ||
	    (errpipe = fcntl(errpipe, F_DUPFD_CLOEXEC, 3)) < 0)
		goto fail;
	if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		goto fail;
	if (switch_user && privs_become(uid, gid, groups, ngroups, NULL) < 0)
		goto fail;
	execve(prog, argv, envp);
fail:
	e = errno;
	if (write(errpipe, &e, sizeof e) < 0) {
		/* the parent then sees EOF and a status of 127 */
	}
	_exit(127);
}

/*
 * Reads the command's output (OUT) and errors (ERR) into O until both
 * close or TIMEOUT_MS passes (*TIMED_OUT set).  0, or -errno when reading
 * failed.
 */
static int collect(int out, int err, int timeout_ms, struct slurm_output *o,
		   int *timed_out)
{
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int open_out = 1, open_err = 1;
	while (open_out || open_err) {
		struct pollfd p[2] = {
			{ .fd = open_out ? out : -1, .events = POLLIN },
			{ .fd = open_err ? err : -1, .events = POLLIN },
		};
		long long left = deadline - now_ms();
		if (left <= 0) {
			*timed_out = 1;
			return 0;
		}
		int n = poll(p, 2, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		if (p[0].revents) {
			int r = drain(out, &o->out, &o->out_len, &o->truncated);
			if (r < 0)
				return r;
			open_out = !r;
		}
		if (p[1].revents) {
			int r = drain(err, &o->err, &o->err_len, &o->truncated);
			if (r < 0)
				return r;
			open_err = !r;
		}
	}
	return 0;
}

/* Waits for PID and puts its wait status in *STATUS (0 if lost); -errno. */
static int reap(pid_t pid, int *status)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			*status = 0;
			return -errno;
		}
	}
	*status = st;
	return 0;
}

int slurm_run(char *const argv[], char *const envp[], uid_t uid, gid_t gid,
	      int timeout_ms, struct slurm_output *o)
{
	char prog[PATH_MAX];
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, px[2] = { -1, -1 };
	gid_t *groups = NULL;
	int ngroups = 0, rc, child_errno = 0;
	int switch_user = getuid() != uid || getgid() != gid;
	pid_t pid;

	memset(o, 0, sizeof *o);
	if (!argv || !argv[0])
		return -EINVAL;
	if ((rc = find_program(argv[0], envp, prog, sizeof prog)))
		return rc;
	if (switch_user && (rc = privs_groups(uid, gid, &groups, &ngroups)))
		return rc;
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 ||
	    pipe2(px, O_CLOEXEC) < 0) {
		rc = -errno;
		goto err_close;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto err_close;
	}
	if (pid == 0)
		run_child(prog, argv, envp, po[1], pe[1], px[1], switch_user,
			  uid, gid, groups, ngroups);
	/* Both sides set the group, so a timeout's kill cannot miss it. */
	setpgid(pid, pid);
	close(po[1]);
	close(pe[1]);
	close(px[1]);
	po[1] = pe[1] = px[1] = -1;

	int timed_out = 0;
	rc = collect(po[0], pe[0], timeout_ms, o, &timed_out);
	if (timed_out || rc) {
		/* The command, and anything it started in its group. */
		if (kill(-pid, SIGKILL) < 0 && errno != ESRCH)
			kill(pid, SIGKILL);
	}
	int waited = reap(pid, &o->status);
	if (!rc)
		rc = waited;
	if (read(px[0], &child_errno, sizeof child_errno) ==
		    (ssize_t)sizeof child_errno &&
	    !rc)
		rc = child_errno > 0 ? -child_errno : -EIO;
	if (timed_out && !rc)
		rc = -ETIMEDOUT;
	if (!o->out && !(o->out = calloc(1, 1)) && !rc)
		rc = -ENOMEM;
	if (!o->err && !(o->err = calloc(1, 1)) && !rc)
		rc = -ENOMEM;
err_close:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
		if (px[i] >= 0)
			close(px[i]);
	}
	free(groups);
	return rc;
}

void slurm_output_free(struct slurm_output *o)
{
	free(o->out);
	free(o->err);
	o->out = o->err = NULL;
	o->out_len = o->err_len = 0;
}

/* ---- sbatch ---- */

/* Reads a job id at *P (digits only, > 0); advances *P.  0 or -EINVAL. */
static int parse_id(const char **p, long long *id)
{
	long long v = 0;
	const char *s = *p;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		if (v > (LLONG_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (*s++ - '0');
	}
	if (v <= 0)
		return -EINVAL;
	*id = v;
	*p = s;
	return 0;
}

int slurm_parse_sbatch(const char *out, long long *id)
{
	const char *p = out;
	while (*p == ' ' || *p == '\t')
		p++;
	if (parse_id(&p, id))
		return -EINVAL;
	if (*p == ';') /* ";CLUSTER" in a federation or with -M */
		p += strcspn(p, "\n");
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return *p ? -EINVAL : 0;
}

/* Copies line [S, S+N) into BUF without trailing white space. */
static void copy_line(char *buf, size_t len, const char *s, size_t n)
{
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

void slurm_sbatch_error(const char *err, int status, char *buf, size_t len)
{
	const char *first = NULL;
	size_t first_n = 0;
	if (!len)
		return;
	for (const char *p = err ? err : ""; *p;) {
		size_t n = strcspn(p, "\n");
		if (!strncmp(p, "sbatch: error: ", 15)) {
			copy_line(buf, len, p, n);
			return;
		}
		const char *q = p;
		while (q < p + n && isspace((unsigned char)*q))
			q++;
		if (!first && q < p + n) {
			first = q;
			first_n = p + n - q;
		}
		p += n;
		if (*p)
			p++;
	}
	if (first) {
		copy_line(buf, len, first, first_n);
		return;
	}
	if (WIFSIGNALED(status))
		snprintf(buf, len, "sbatch killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(buf, len, "sbatch exited with status %d",
			 WEXITSTATUS(status));
}

/* ---- squeue ---- */

int slurm_squeue_argv(const long long *ids, size_t n, char ***argv)
{
	struct strv v = { 0 };
	char *list, *p;
	if (!n)
		return -EINVAL;
	if (!(list = malloc(n * 21 + 8)))
		return -ENOMEM;
	p = list + sprintf(list, "--jobs=");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%lld", i ? "," : "", ids[i]);
	strv_add(&v, "squeue");
	strv_add(&v, "--noheader");
	strv_add(&v, "--states=all");
	strv_add(&v, "--format=" SLURM_SQUEUE_FORMAT);
	strv_take(&v, list);
	return strv_finish(&v, argv);
}

/* Copies up to the next '|' (or the end of S+N) into BUF; advances. */
static const char *take_field(const char *s, const char *end, char *buf,
			      size_t len, int last)
{
	const char *bar = last ? end : memchr(s, '|', end - s);
	if (!bar)
		return NULL;
	copy_line(buf, len, s, bar - s);
	return last ? end : bar + 1;
}

int slurm_parse_duration(const char *s, long *secs)
{
	static const char *const unlimited[] = { "UNLIMITED", "INFINITE",
						 "NOT_SET", "Partition_Limit" };
	long part[4], days = 0;
	int n = 0;
	char *end;
	for (size_t i = 0; i < sizeof unlimited / sizeof *unlimited; i++)
		if (!strcmp(s, unlimited[i])) {
			*secs = -1;
			return 0;
		}
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	const char *dash = strchr(s, '-');
	if (dash) {
		days = strtol(s, &end, 10);
		if (end != dash || days < 0 || days > 100000)
			return -EINVAL;
		s = dash + 1;
	}
	for (;;) {
		if (!isdigit((unsigned char)*s) || n == 3)
			return -EINVAL;
		part[n++] = strtol(s, &end, 10);
		if (part[n - 1] < 0 || part[n - 1] > 1000000)
			return -EINVAL;
		if (*end == '\0')
			break;
		if (*end != ':')
			return -EINVAL;
		s = end + 1;
	}
	long v;
	if (n == 3)
		v = part[0] * 3600 + part[1] * 60 + part[2];
	else if (n == 2 && dash) /* D-HH:MM */
		v = part[0] * 3600 + part[1] * 60;
	else if (n == 2) /* MM:SS */
		v = part[0] * 60 + part[1];
	else if (dash) /* D-HH */
		v = part[0] * 3600;
	else /* minutes */
		v = part[0] * 60;
	*secs = days * 86400 + v;
	return 0;
}

int slurm_parse_squeue(const char *out, struct slurm_queue_entry **e, size_t *n)
{
	size_t cap = 0;
	char left[64];
	*e = NULL;
	*n = 0;
	for (const char *p = out ? out : ""; *p;) {
		const char *end = p + strcspn(p, "\n"), *q = p;
		struct slurm_queue_entry x = { 0 };
		const char *next = *end ? end + 1 : end;
		if (parse_id(&q, &x.id) || *q != '|') {
			p = next;
			continue; /* a header, an array or het job, noise */
		}
		q++;
		if ((q = take_field(q, end, x.state, sizeof x.state, 0)) &&
		    (q = take_field(q, end, left, sizeof left, 0)) &&
		    (q = take_field(q, end, x.node, sizeof x.node, 0)) &&
		    (q = take_field(q, end, x.reason, sizeof x.reason, 1)) &&
		    x.state[0]) {
			/* INVALID: past the limit, not yet enforced (the
			 * controller checks limits every ~30 s). */
			if (!strcmp(left, "INVALID"))
				x.time_left = 0;
			else if (slurm_parse_duration(left, &x.time_left))
				x.time_left = -1;
			if (*n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct slurm_queue_entry *ne =
					realloc(*e, nc * sizeof *ne);
				if (!ne) {
					free(*e);
					*e = NULL;
					*n = 0;
					return -ENOMEM;
				}
				*e = ne;
				cap = nc;
			}
			(*e)[(*n)++] = x;
		}
		p = next;
	}
	return 0;
}

int slurm_invalid_job_id(const char *err)
{
	return err && strstr(err, "Invalid job id specified") != NULL;
}

int slurm_job_already_over(const char *err)
{
	return slurm_invalid_job_id(err) ||
	       (err && strstr(err, "already completing or completed"));
}

/* ---- scontrol ---- */

/*
 * Finds the value of KEY ("JobState") in OUT: the first "KEY=" that
 * starts a word.  Copies the value, up to white space, into BUF.  1 if
 * found, else 0.
 */
static int scontrol_field(const char *out, const char *key, char *buf,
			  size_t len)
{
	size_t kl = strlen(key);
	for (const char *p = out; (p = strstr(p, key)); p += kl) {
		if (p != out && !isspace((unsigned char)p[-1]))
			continue;
		if (p[kl] != '=')
			continue;
		const char *v = p + kl + 1;
		size_t n = 0;
		while (v[n] && !isspace((unsigned char)v[n]))
			n++;
		copy_line(buf, len, v, n);
		return 1;
	}
	return 0;
}

/* "2026-11-30T10:14:43" in local time; 0 for "Unknown", "None", ... */
static time_t parse_slurm_time(const char *s)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || *end)
		return 0;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	return t == (time_t)-1 ? 0 : t;
}

int slurm_parse_scontrol(const char *out, struct slurm_job_info *i)
{
	char v[256];
	const char *p = v;
	memset(i, 0, sizeof *i);
	i->time_limit = -1;
	if (!out || !scontrol_field(out, "JobId", v, sizeof v) ||
	    parse_id(&p, &i->id) || *p)
		return -EINVAL;
	if (!scontrol_field(out, "JobState", i->state, sizeof i->state) ||
	    !i->state[0])
		return -EINVAL;
	scontrol_field(out, "Reason", i->reason, sizeof i->reason);
	if (scontrol_field(out, "NodeList", v, sizeof v) && strcmp(v, "(null)"))
		snprintf(i->nodes, sizeof i->nodes, "%s", v);
	if (scontrol_field(out, "ExitCode", v, sizeof v) &&
	    sscanf(v, "%d:%d", &i->exit_code, &i->exit_signal) != 2)
		i->exit_code = i->exit_signal = 0;
	if (scontrol_field(out, "TimeLimit", v, sizeof v) &&
	    slurm_parse_duration(v, &i->time_limit))
		i->time_limit = -1;
	if (scontrol_field(out, "StartTime", v, sizeof v))
		i->start = parse_slurm_time(v);
	return 0;
}

/* ---- states ---- */

static const struct {
	const char *name;
	enum slurm_phase phase;
	enum slurm_end end;
} slurm_states[] = {
	{ "PENDING", SLURM_PHASE_QUEUED, SLURM_END_NONE },
	{ "REQUEUED", SLURM_PHASE_QUEUED, SLURM_END_NONE },
	{ "REQUEUE_HOLD", SLURM_PHASE_QUEUED, SLURM_END_NONE },
	{ "REQUEUE_FED", SLURM_PHASE_QUEUED, SLURM_END_NONE },
	{ "RESV_DEL_HOLD", SLURM_PHASE_QUEUED, SLURM_END_NONE },
	{ "RUNNING", SLURM_PHASE_RUNNING, SLURM_END_NONE },
	{ "CONFIGURING", SLURM_PHASE_RUNNING, SLURM_END_NONE },
	{ "COMPLETING", SLURM_PHASE_RUNNING, SLURM_END_NONE },
	{ "SUSPENDED", SLURM_PHASE_RUNNING, SLURM_END_NONE },
	{ "STOPPED", SLURM_PHASE_RUNNING, SLURM_END_NONE },
	{ "SIGNALING", SLURM_PHASE_RUNNING, SLURM_END_NONE },
	{ "STAGE_OUT", SLURM_PHASE_RUNNING, SLURM_END_NONE },
	{ "RESIZING", SLURM_PHASE_RUNNING, SLURM_END_NONE },
	{ "COMPLETED", SLURM_PHASE_ENDED, SLURM_END_COMPLETED },
	{ "FAILED", SLURM_PHASE_ENDED, SLURM_END_FAILED },
	{ "CANCELLED", SLURM_PHASE_ENDED, SLURM_END_BY_SLURM },
	{ "TIMEOUT", SLURM_PHASE_ENDED, SLURM_END_BY_SLURM },
	{ "NODE_FAIL", SLURM_PHASE_ENDED, SLURM_END_BY_SLURM },
	{ "PREEMPTED", SLURM_PHASE_ENDED, SLURM_END_BY_SLURM },
	{ "OUT_OF_MEMORY", SLURM_PHASE_ENDED, SLURM_END_BY_SLURM },
	{ "BOOT_FAIL", SLURM_PHASE_ENDED, SLURM_END_BY_SLURM },
	{ "DEADLINE", SLURM_PHASE_ENDED, SLURM_END_BY_SLURM },
	{ "SPECIAL_EXIT", SLURM_PHASE_ENDED, SLURM_END_BY_SLURM },
	{ "REVOKED", SLURM_PHASE_ENDED, SLURM_END_BY_SLURM },
};

enum slurm_phase slurm_phase_of(const char *state, enum slurm_end *end)
{
	size_t n = strcspn(state, "+ \t\r\n");
	if (end)
		*end = SLURM_END_NONE;
	for (size_t i = 0; i < sizeof slurm_states / sizeof *slurm_states;
	     i++) {
		if (strlen(slurm_states[i].name) == n &&
		    !strncmp(state, slurm_states[i].name, n)) {
			if (end)
				*end = slurm_states[i].end;
			return slurm_states[i].phase;
		}
	}
	return SLURM_PHASE_UNKNOWN;
}

/* ---- what it means for the job ---- */

void slurm_status_line(long long id, enum slurm_phase phase, const char *reason,
		       const char *node, char *buf, size_t len)
{
	if (!len)
		return;
	if (phase == SLURM_PHASE_QUEUED)
		snprintf(buf, len, "job %lld PENDING (%s)", id,
			 reason && *reason ? reason : "None");
	else if (phase == SLURM_PHASE_RUNNING && node && *node)
		snprintf(buf, len, "job %lld on %s", id, node);
	else
		snprintf(buf, len, "job %lld", id);
}

enum slurm_verdict slurm_judge_end(long long id, const char *state,
				   const char *reason, enum slurm_asked asked,
				   int have_exit, int code, int signal,
				   char *buf, size_t len)
{
	enum slurm_end end = SLURM_END_NONE;
	int n;
	if (len)
		buf[0] = '\0';
	if (asked == SLURM_ASKED_CANCEL)
		return SLURM_VERDICT_CANCELLED;
	if (asked == SLURM_ASKED_STOP)
		return SLURM_VERDICT_EXIT;
	if (state && *state)
		slurm_phase_of(state, &end);
	/* The trainer's own end, or one Slurm no longer remembers. */
	if (end == SLURM_END_COMPLETED ||
	    (end == SLURM_END_FAILED && have_exit) ||
	    ((!state || !*state) && have_exit))
		return SLURM_VERDICT_EXIT;
	if (!len)
		return SLURM_VERDICT_FAILED;
	n = snprintf(buf, len, "slurm job %lld ended: %.*s", id,
		     state && *state ? (int)strcspn(state, "+ \t\r\n") : 7,
		     state && *state ? state : "UNKNOWN");
	if (n < 0 || (size_t)n >= len)
		return SLURM_VERDICT_FAILED;
	if (have_exit && signal > 0)
		snprintf(buf + n, len - n, "; killed by signal %d", signal);
	else if (have_exit)
		snprintf(buf + n, len - n, "; trainer exited with status %d",
			 code);
	else if (end == SLURM_END_FAILED && reason && *reason &&
		 strcmp(reason, "None"))
		snprintf(buf + n, len - n, " (%s)", reason);
	return SLURM_VERDICT_FAILED;
}

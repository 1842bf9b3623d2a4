/*
 * publish: packs a job's weights and publishes them.  The packing itself
 * (reading the trainer's files as their owner, writing and fsyncing the
 * tarball) is done by a helper process, "trainfs __pack" (pack.c), which
 * writes to a temporary file trainfs opened for it (weights/.packing.tmp,
 * one name whatever the job is called) and reports "progress NN" or an
 * error on a pipe.  When it exits 0 the temporary file is renamed to
 * weights/NAME.tar[.gz|.zst] and the job is ready; a job renamed while
 * packing is packed again, one cancelled has its packer killed.
 *
 * Locks: called on the supervisor's thread with the job's lock held; the
 * packer runs as its own process, and the move into weights/ with its
 * fsync on a thread of its own (worker.h), so no slow write happens under
 * the lock nor on the thread that serves every job.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/core/ckpt_run.h"
#include "jobs/artifacts/pack.h"
#include "jobs/core/output.h"
#include "jobs/core/supervisor.h"
#include "jobs/core/worker.h"
#include "util/log.h"
#include "util/text.h"

extern char **environ;

/* NAME.tar.zst: the longest name and suffix, and the NUL. */
#define WEIGHTS_NAME_MAX (JOB_NAME_MAX + sizeof ".tar.zst")

static int weights_name(const struct job *job, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.tar%s", job->rec.name,
			 spec_compression_suffix(job->spec.compression));
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * The tarball being written: one name whatever the job is called, so a
 * rename while packing cannot lose it (job names never start with '.').
 */
int sv_weights_tmp_path(struct jobs *j, const struct job *job, char *buf,
			size_t len)
{
	return jobs_path(j, job, "weights/.packing.tmp", buf, len);
}

/*
 * Removes the temporary tarball as trainfs named it before it had one name
 * for all (".NAME.tar.tmp"), left by a crash while packing.
 */
void sv_unlink_named_tmp(struct jobs *j, const struct job *job)
{
	char name[WEIGHTS_NAME_MAX], rel[WEIGHTS_NAME_MAX + 16], path[PATH_MAX];
	if (weights_name(job, name, sizeof name))
		return;
	snprintf(rel, sizeof rel, "weights/.%s.tmp", name);
	if (!jobs_path(j, job, rel, path, sizeof path) && unlink(path) < 0 &&
	    errno != ENOENT)
		log_warn("job '%s': cannot remove '%s': %s", job->rec.name, rel,
			 strerror(errno));
}

/* ---- packing ---- */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_number(FILE *f, double v)
{
	char num[64];
	if (isfinite(v))
		fputs(metrics_format_number(v, num, sizeof num), f);
	else
		fputs("null", f); /* JSON has no NaN or Infinity */
}

/* The manifest trainfs.json of a job whose table is loaded; caller frees. */
static char *manifest(const struct job *job)
{
	char *buf = NULL, t[64];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputs("{\"job\": ", f);
	json_string(f, job->rec.name);
	long e = job_last_epoch(job);
	if (e >= 0)
		fprintf(f, ", \"epoch\": %ld", e);
	else
		fputs(", \"epoch\": null", f);
	fputs(", \"reason\": ", f);
	json_string(f, job->rec.reason ? job->rec.reason : "completed");
	fputs(", \"last\": {", f);
	size_t last = job->table.nrows - 1;
	double v;
	for (int c = 0, first = 1; job->table.nrows && c < job->table.ncolumns;
	     c++) {
		if (!job_cell(job, last, c, &v))
			continue;
		fputs(first ? "" : ", ", f);
		first = 0;
		json_string(f, job->table.columns[c]);
		fputs(": ", f);
		json_number(f, v);
	}
	fputc('}', f);
	if (job->spec.monitor) {
		fputs(", \"best\": {", f);
		json_string(f, job->spec.monitor);
		fputs(": ", f);
		if (job->policy.have_best) {
			json_number(f, job->policy.best);
			fprintf(f, ", \"epoch\": %ld}", job->policy.best_epoch);
		} else {
			fputs("null, \"epoch\": null}", f);
		}
	}
	if (job->spec.weights) {
		fputs(", \"weights_from\": {\"weights\": ", f);
		json_string(f, job->spec.weights);
		fputc('}', f);
	} else if (job->rec.weights_from >= 0)
		fprintf(f, ", \"weights_from\": {\"checkpoint\": %lld}",
			(long long)job->rec.weights_from);
	else
		fputs(", \"weights_from\": \"output\"", f);
	fputs(", \"finished\": ", f);
	json_string(f, job_format_time(job->rec.finished_ns ?
					       job->rec.finished_ns :
					       job_now_ns(),
				       t, sizeof t));
	fputs("}\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static const char *compression_arg(enum compression c)
{
	return c == COMPRESS_GZIP ? "gzip" :
	       c == COMPRESS_ZSTD ? "zstd" :
				    "none";
}

/* Starts the packer process; the state is packaging already. */
int sv_spawn_packer(struct jobs *j, struct job *job)
{
	char out[PATH_MAX], tmp[PATH_MAX], wdir[PATH_MAX], uid[32], gid[32],
		epoch[32];
	int pfd[2] = { -1, -1 }, fd = -1, rc;
	char *man = NULL;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	if ((rc = store_job_dir_check(j->store, job->rec.id)) ||
	    (rc = ckpt_pack_source(j, job, out, sizeof out)) || /* hook */
	    (rc = jobs_path(j, job, "weights", wdir, sizeof wdir)) ||
	    (rc = sv_weights_tmp_path(j, job, tmp, sizeof tmp)))
		return rc;
	if (mkdir(wdir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((rc = jobs_load_metrics(j, job)))
		return rc;
	if (!(man = manifest(job)))
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* The owner's file, so the owner's disk quota bounds the packer. */
	if (geteuid() == 0 && fchown(fd, job->rec.uid, job->rec.gid) < 0) {
		rc = -errno;
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out;
	}
	snprintf(uid, sizeof uid, "%lu", (unsigned long)job->rec.uid);
	snprintf(gid, sizeof gid, "%lu", (unsigned long)job->rec.gid);
	char *argv[11] = {
		"trainfs", "__pack",
		out,	   (char *)compression_arg(job->spec.compression),
		uid,	   gid,
		man,	   NULL
	};
	ckpt_pack_args(job, argv + 7, epoch, sizeof epoch); /* hook */
	if ((rc = posix_spawn_file_actions_init(&fa))) {
		rc = -rc;
		goto out;
	}
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, fd, 1);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	if (!rc)
		rc = posix_spawn(&pid, j->self_exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		rc = -rc;
		goto out;
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	job->packer_pid = pid;
	snprintf(job->packing_as, sizeof job->packing_as, "%s", job->rec.name);
	job->packer_fd = pfd[0];
	pfd[0] = -1;
	job->weights_tmp_fd = fd;
	fd = -1;
	job->progress = 0;
	free(job->pack_error);
	job->pack_error = NULL;
	sv_set_busy(j, job, 1);
out:
	if (rc && fd >= 0)
		unlink(tmp);
	if (fd >= 0)
		close(fd);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	free(man);
	return rc;
}

void sv_start_packing(struct jobs *j, struct job *job, const char *why,
		      const char *const *tags)
{
	/* Logged by job_set_state(); it packs all the same. */
	(void)!job_set_state(j, job, ST_PACKAGING, why, tags);
	int rc = sv_spawn_packer(j, job);
	if (rc)
		sv_fail(j, job, "packaging: %s", strerror(-rc));
}

/* The manifest names the job as it is called when packed. */
static int renamed_while_packing(const struct job *job)
{
	return strcmp(job->packing_as, job->rec.name) != 0;
}

/*
 * A cancel while packaging (control_cancel) only moves the state: the
 * packer of a job no longer packaging is killed here; sv_packing_ended()
 * drops its temporary file and the output.
 */
void sv_abort_packing(struct job *job)
{
	if (job->packer_pid > 0 &&
	    (job->rec.state != ST_PACKAGING || renamed_while_packing(job)))
		kill(job->packer_pid,
		     SIGKILL); /* our child: unreaped, no reuse */
}

/* Reads the packer's "progress NN" and "error MSG" lines. */
void sv_read_packer(struct jobs *j, struct job *job)
{
	char buf[4096];
	ssize_t n;
	while ((n = read(job->packer_fd, buf, sizeof buf - 1)) > 0) {
		buf[n] = '\0';
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
			int p;
			if (sscanf(l, "progress %d", &p) == 1 &&
			    p != job->progress) {
				job->progress = p;
				job_touch(j, job, VIEW_BIT(VIEW_STATUS));
			} else if (!strncmp(l, "error ", 6) ||
				   !strncmp(l, "fail ", 5)) {
				free(job->pack_error);
				job->pack_error = strdup(l);
			}
		}
	}
}

/* The tarball's move into weights/, made on a thread of its own. */
struct publish {
	char tmp[PATH_MAX], dst[PATH_MAX], dir[PATH_MAX];
	char name[WEIGHTS_NAME_MAX];
};

/*
 * Renames the packed tarball into weights/ and fsyncs the folder with no
 * lock held (worker.h), then, under JOB's lock, makes the job ready, or
 * fails it, or throws the tarball away when the job was cancelled or
 * renamed meanwhile (then it is packed again).
 */
static void publish_main(struct jobs *j, struct job *job, void *arg)
{
	struct publish *x = arg;
	int rc = rename(x->tmp, x->dst) < 0 ? -errno : 0;
	if (!rc) {
		int dfd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (fsync(dfd) < 0)
				rc = -errno;
			close(dfd);
		}
	}
	job_lock(job);
	job->publishing = 0;
	if (job->removed || job->rec.state != ST_PACKAGING) {
		unlink(rc ? x->tmp : x->dst); /* cancelled meanwhile */
		job_delete_output(j, job);
		sv_set_busy(j, job, 0);
	} else if (renamed_while_packing(job)) {
		unlink(rc ? x->tmp : x->dst);
		if ((rc = sv_spawn_packer(j, job)))
			sv_fail(j, job, "packaging: %s", strerror(-rc));
	} else if (rc) {
		unlink(x->tmp);
		sv_fail(j, job, "packaging: %s", strerror(-rc));
	} else {
		free(job->rec.weights);
		job->rec.weights = strdup(x->name);
		job->progress = 100;
		sv_set_busy(j, job, 0);
		/* Logged by job_set_state(); the weights are there all the same. */
		(void)!job_set_state(j, job, ST_READY, "weights ready",
				     (const char *[]){ "ready", NULL });
	}
	job_unlock(job);
	free(x);
	jobs_wake(j);
}

/* The packer exited with STATUS: publish the tarball or fail. */
void sv_packing_ended(struct jobs *j, struct job *job, int status)
{
	char tmp[PATH_MAX], rel[WEIGHTS_NAME_MAX + 16];
	int rc = 0, fd = job->weights_tmp_fd;
	sv_read_packer(j, job);
	close(job->packer_fd);
	job->packer_fd = -1;
	job->packer_pid = 0;
	job->weights_tmp_fd = -1;
	/* Named when the packer started; unnamed, there is nothing to move. */
	if (sv_weights_tmp_path(j, job, tmp, sizeof tmp))
		tmp[0] = '\0';
	if (job->rec.state != ST_PACKAGING) { /* cancelled meanwhile */
		close(fd);
		unlink(tmp);
		job_delete_output(j, job);
		sv_set_busy(j, job, 0);
		return;
	}
	if (renamed_while_packing(job)) { /* killed, or too late: again */
		close(fd);
		unlink(tmp);
		if ((rc = sv_spawn_packer(j, job)))
			sv_fail(j, job, "packaging: %s", strerror(-rc));
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		close(fd);
		unlink(tmp);
		char esc[1024];
		/* The packer's words name the trainer's files: escaped. */
		/* "fail MSG": nothing to pack, said as it is. */
		const char *why = job->pack_error;
		int nothing = why && !strncmp(why, "fail ", 5);
		if (why)
			why += nothing ? 5 : 6;
		if (why)
			sv_fail(j, job, "%s%s", nothing ? "" : "packaging: ",
				text_escape(esc, sizeof esc, why, strlen(why),
					    0));
		else if (WIFSIGNALED(status))
			sv_fail(j, job, "packaging: packer killed by signal %d",
				WTERMSIG(status));
		else
			sv_fail(j, job,
				"packaging: packer exited with status %d",
				WEXITSTATUS(status));
		return;
	}
	close(fd); /* the packer fsynced it before exiting 0 */
	struct publish *x = calloc(1, sizeof *x);
	if (!x)
		rc = -ENOMEM;
	else {
		weights_name(job, x->name, sizeof x->name);
		snprintf(rel, sizeof rel, "weights/%s", x->name);
		snprintf(x->tmp, sizeof x->tmp, "%s", tmp);
	}
	if (!rc && !(rc = jobs_path(j, job, rel, x->dst, sizeof x->dst)) &&
	    !(rc = jobs_path(j, job, "weights", x->dir, sizeof x->dir)) &&
	    !(rc = worker_start(j, job, publish_main, x))) {
		job->publishing = 1;
		return;
	}
	free(x);
	unlink(tmp);
	sv_fail(j, job, "packaging: %s", strerror(-rc));
}

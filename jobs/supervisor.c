/*
 * supervisor: the thread that moves jobs along when no user asks: it
 * launches queued jobs when a slot is free, takes in metrics as trainers
 * append them (and stops a converged job), notices a trainer's end through
 * its executor, packs the weights in a packer process and publishes them.
 *
 * It reaches trainers only through the executor table (executor.h): a job
 * holds its executor and an opaque run handle; the supervisor knows no
 * shim, socket or PID of a trainer.  It calls job.c, never the other way:
 * users' operations record their intent in the job and wake it.
 *
 * It sleeps in poll() on a wake pipe, the executors' descriptors and the
 * packers' progress pipes, holding no lock; each executor's tick runs
 * once per round, with no lock held either, and never waits (Slurm's
 * commands run on the Slurm executor's own thread).  Each round it takes a reference to
 * every listed job (the registry lock held just for that), then works on
 * one job at a time under that job's own lock, so a reader of another job
 * never waits for it.  Metrics are taken in bounded steps (INGEST_BYTES,
 * INGEST_LINES per job per round, the locks let go between steps), the
 * last ones after the trainer ended too: a huge or sparse metrics file
 * costs its job time only.  While a trainer runs it wakes every 20 ms to
 * read new metrics lines, at once while a job has more to read.  At start
 * it re-adopts what the last trainfs left running (see recover()).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <limits.h>

#include "jobs/cause.h"
#include "jobs/ckpt_run.h"
#include "jobs/exec.h"
#include "jobs/executor.h"
#include "jobs/gpu_run.h"
#include "jobs/pack.h"
#include "jobs/registry.h"
#include "jobs/src_ingest.h"
#include "jobs/output.h"
#include "jobs/watch.h"
#include "util/log.h"
#include "util/text.h"
#include "util/userfile.h"

extern char **environ;

#define METRICS_POLL_MS 20
#define INGEST_CHUNK (16 * 1024)     /* one read */
#define INGEST_BYTES (256 * 1024)    /* per job per round ... */
#define INGEST_LINES 2000            /* ... and lines, so others get a turn */
/* Failed commits of the last metrics before giving them up (~5 s). */
#define FINAL_STORE_TRIES 250

/* What a step of ingest did; BUSY: the store was busy, nothing was done. */
enum { INGEST_DONE, INGEST_MORE, INGEST_FAILED, INGEST_BUSY };

/*
 * BUSY: a trainer or packer may still be alive.  A run counts too until
 * its executor has reaped it: a job removed before that would leave the
 * local shim a zombie for as long as trainfs runs.
 */
static void set_busy(struct jobs *j, struct job *job, int busy)
{
	job_assert_locked(job);
	job->busy = busy || job->run != NULL;
	if (!job->busy && job->delete_when_idle) { /* control_cancel */
		job->delete_when_idle = 0;
		job_delete_output(j, job);
	}
	if (!job->busy)
		pthread_cond_broadcast(&job->idle);
}

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
static int weights_tmp_path(struct jobs *j, const struct job *job, char *buf,
			    size_t len)
{
	return jobs_path(j, job, "weights/.packing.tmp", buf, len);
}

/*
 * Removes the temporary tarball as trainfs named it before it had one name
 * for all (".NAME.tar.tmp"), left by a crash while packing.
 */
static void unlink_named_tmp(struct jobs *j, const struct job *job)
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

static int output_is_empty(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX];
	if (jobs_path(j, job, "output", dir, sizeof dir))
		return 1;
	DIR *d = opendir(dir);
	if (!d)
		return 1;
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static void fail(struct jobs *j, struct job *job, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Ends JOB as failed with the error FMT. */
static void fail(struct jobs *j, struct job *job, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warn( "job '%s': failed: %s\n", job->rec.name, msg);
	free(job->rec.error);
	job->rec.error = strdup(msg);
	if (!job->rec.finished_ns)
		job->rec.finished_ns = job_now_ns();
	set_busy(j, job, 0);
	job_set_state(j, job, ST_FAILED, msg,
		      (const char *[]){ "failed", NULL });
}

/* ---- metrics ---- */

struct ingest {
	struct jobs *j;
	struct job *job;
	int stop;     /* the policy says: converged */
	int changed;
	int lines;
	int too_many; /* lines refused for adding metric names past the cap */
	int bad;      /* a line was bad: why holds the last one's reason */
	char why[METRICS_WHY_MAX];
	int rc;
};

/* Counts line number LINENO of the metrics file bad, for REASON. */
static void ingest_bad(struct ingest *in, const char *why)
{
	in->job->rec.bad_lines++;
	in->job->rec.bad_line = in->job->rec.metrics_lines;
	snprintf(in->why, sizeof in->why, "%s", why);
	in->bad = 1;
}

static void ingest_line(void *arg, const char *line, size_t len, int overlong)
{
	struct ingest *in = arg;
	struct job *job = in->job;
	struct metrics_line ml;
	char why[METRICS_WHY_MAX];
	size_t a = 0, row;
	job->rec.metrics_lines++; /* blank ones too: as an editor numbers them */
	while (!overlong && a < len && (line[a] == ' ' || line[a] == '\t' ||
					line[a] == '\r'))
		a++;
	if (!overlong && a == len)
		return; /* blank lines are not metrics, nor errors */
	in->changed = 1;
	in->lines++;
	if (overlong) {
		ingest_bad(in, METRICS_WHY_OVERLONG);
		return;
	}
	int parsed = metrics_parse_line(line, len, &ml, why, sizeof why);
	if (parsed < 0) {
		ingest_bad(in, why);
		return;
	}
	if (parsed > 0) /* pairs left out, the rest taken */
		ingest_bad(in, why);
	int r = job_add_row(job, &ml, &row);
	metrics_line_free(&ml);
	if (r >= 0 && (r & JOB_ROW_TOO_MANY)) { /* those pairs left out */
		if (!parsed)
			ingest_bad(in, "too many metric names");
		in->too_many++;
	}
	if (r == -EFBIG) { /* the table is full (JOB_ROWS_MAX, JOB_VALUES_MAX) */
		ingest_bad(in, "too many rows");
		return;
	}
	if (r < 0) {
		in->rc = r;
		return;
	}
	if (r & JOB_ROW_STOP)
		in->stop = 1;
	if (!(r & JOB_ROW_CHANGED))
		return;
	char *canon = job_row_line(job, row);
	if (!canon) {
		in->rc = -ENOMEM;
		return;
	}
	int rc = store_put_metric(in->j->store, job->rec.id, row, canon);
	free(canon);
	if (rc)
		in->rc = rc;
}

/*
 * When the shim stopped JOB's trainer by the auto-stop rule (while
 * trainfs was away, the event then keeps that time), else OTHERWISE.
 */
static int64_t shim_autostop_time(struct jobs *j, struct job *job,
				  int64_t otherwise)
{
	char dir[PATH_MAX];
	struct exec_exit e;
	if (jobs_path(j, job, "", dir, sizeof dir) ||
	    job->exec->ops->read_exit(dir, &e) || !e.autostopped ||
	    !e.autostop_ns)
		return otherwise;
	return e.autostop_ns;
}

static void autostop(struct jobs *j, struct job *job)
{
	char why[128];
	int64_t was = job->event_at_ns;
	snprintf(why, sizeof why, "converged: no improvement in %ld epochs",
		 job->policy.waited);
	job->event_at_ns = shim_autostop_time(j, job, was);
	job_stop(j, job, "converged", why,
		 (const char *[]){ "stopped-early", "converged", NULL });
	job->event_at_ns = was;
}

/*
 * Where the next read of an overlong (garbage) line may start: past the
 * holes of a sparse file, which hold nothing but NULs of that line.  At a
 * hole that runs to the end, the end when the trainer is gone (FINAL),
 * else -1: nothing to read yet.
 */
static int64_t skip_holes(struct job *job, int final)
{
	off_t d = lseek(job->metrics_fd, job->metrics_read, SEEK_DATA);
	if (d >= 0)
		return d > job->metrics_read ? d : job->metrics_read;
	struct stat st;
	if (errno == ENXIO && final && fstat(job->metrics_fd, &st) == 0)
		return st.st_size > job->metrics_read ? st.st_size
						      : job->metrics_read;
	return errno == ENXIO ? -1 : job->metrics_read;
}

/*
 * Takes one bounded step of what the trainer appended to its metrics file:
 * at most INGEST_BYTES, INGEST_LINES, in one transaction.  A file the
 * trainer rewrote (watch_rewritten()) is read again from its start; lines
 * for an epoch that has a row fill it in (job_add_row()).  FINAL: the
 * trainer has ended, so a last line without newline counts at the end.
 * A row is shown only once stored: when the commit fails, the table, the
 * record and the file offset go back to where they were, and the lines
 * are taken again later.  Returns INGEST_DONE (all read), INGEST_MORE,
 * INGEST_FAILED, or INGEST_BUSY (the store was busy: try next round).
 */
static int ingest_metrics(struct jobs *j, struct job *job, int final)
{
	char buf[INGEST_CHUNK];
	struct ingest in = { .j = j, .job = job };
	int64_t total = 0;
	int eof = 0;
	job_assert_locked(job);
	if (job->metrics_fd < 0 || !job->splitter)
		return INGEST_DONE;
	/*
	 * A file rewritten whole (truncated, or renamed over) is read again
	 * from its start: its lines fill in the rows already taken.
	 */
	char path[PATH_MAX];
	if (!jobs_path(j, job, "metrics.txt", path, sizeof path) &&
	    watch_rewritten(&job->metrics_fd, path, job->metrics_read,
			    &job->metrics_tail) > 0) {
		job->metrics_read = 0;
		job->metrics_tail.n = 0;
		job->splitter->len = 0;
		job->splitter->overlong = 0;
		job->rec.metrics_offset = 0;
		job->rec.metrics_lines = 0;
	}
	/* Nothing new (the common case, every 20 ms): no transaction. */
	struct stat st;
	if (fstat(job->metrics_fd, &st) < 0)
		return INGEST_FAILED;
	if (!final && st.st_size <= job->metrics_read)
		return INGEST_DONE;
	/* What a failed commit puts back. */
	struct job_record was = job->rec;
	int overlong = job->splitter->overlong;

	/*
	 * Never wait for the store with the job's lock held: a slow commit
	 * of another job (a checkpoint's fsync) would stall this job's readers.
	 */
	int rc = store_trybegin(j->store);
	if (rc)
		return rc == -EBUSY ? INGEST_BUSY : INGEST_FAILED;
	if (job_table_mark(job)) {
		store_rollback(j->store);
		return INGEST_FAILED;
	}
	while (total < INGEST_BYTES && in.lines < INGEST_LINES) {
		if (job->splitter->overlong) {
			int64_t at = skip_holes(job, final);
			if (at < 0) {
				eof = 1;
				break;
			}
			total += at - job->metrics_read > 0 ? INGEST_CHUNK : 0;
			if (at != job->metrics_read)
				job->metrics_tail.n = 0;
			job->metrics_read = at;
		}
		ssize_t n = pread(job->metrics_fd, buf, sizeof buf,
				  job->metrics_read);
		if (n <= 0) {
			eof = 1;
			break;
		}
		job->metrics_read += n;
		total += n;
		watch_tail_note(&job->metrics_tail, buf, n);
		line_splitter_feed(job->splitter, buf, n, ingest_line, &in);
	}
	if (final && eof && (job->splitter->len || job->splitter->overlong))
		line_splitter_feed(job->splitter, "\n", 1, ingest_line, &in);
	if (!in.changed && !total) {
		job_table_keep(job);
		store_rollback(j->store);
		return eof ? INGEST_DONE : INGEST_MORE;
	}
	job->rec.metrics_ino = st.st_ino;
	char *bad_why_was = job->rec.bad_why;
	if (in.bad && !(job->rec.bad_why = strdup(in.why))) {
		job->rec.bad_why = bad_why_was;
		in.rc = -ENOMEM;
	}
	/* Restart from the start of the line in progress, or past garbage. */
	job->rec.metrics_offset =
		job->metrics_read -
		(job->splitter->overlong ? 0 : (int64_t)job->splitter->len);
	/* Readers wait on this job's lock until it is stored or undone. */
	if (in.changed)
		job_touch(j, job, VIEW_BIT(VIEW_METRICS) | VIEW_BIT(VIEW_STATUS));
	if (in.rc || job_save(j, job) || store_commit(j->store)) {
		store_rollback(j->store);
		if (!job->store_failures++ || job->store_failures % 100 == 0)
			log_error( "job '%s': cannot store "
				"metrics (%d tries); taking them again later\n",
				job->rec.name, job->store_failures);
		job_table_undo(job);
		if (job->rec.bad_why != bad_why_was) {
			free(job->rec.bad_why);
			job->rec.bad_why = bad_why_was;
		}
		job->rec.nrows = was.nrows;
		job->rec.last_epoch = was.last_epoch;
		job->rec.best = was.best;
		job->rec.best_epoch = was.best_epoch;
		job->rec.waited = was.waited;
		job->rec.bad_lines = was.bad_lines;
		job->rec.metrics_offset = was.metrics_offset;
		job->rec.metrics_lines = was.metrics_lines;
		job->rec.metrics_ino = was.metrics_ino;
		job->rec.bad_line = was.bad_line;
		job->metrics_read = was.metrics_offset;
		job->metrics_tail.n = 0;
		job->splitter->len = 0;
		job->splitter->overlong = overlong;
		return INGEST_FAILED;
	}
	job_table_keep(job);
	if (bad_why_was != job->rec.bad_why)
		free(bad_why_was);
	job->store_failures = 0;
	if (in.too_many)
		log_warn( "job '%s': %d metrics lines with pairs left out: "
			"too many metric names (at most %d)\n", job->rec.name,
			in.too_many, JOB_COLUMNS_MAX);
	if (in.stop && job->rec.state == ST_RUNNING)
		autostop(j, job);
	return eof ? INGEST_DONE : INGEST_MORE;
}

/*
 * A step of the job's metrics_from (src_ingest.h), as ingest_metrics()
 * takes a step of the metrics file; the same INGEST_* values.
 */
static int source_round(struct jobs *j, struct job *job, int final)
{
	int stop;
	int r = src_ingest_step(j, job, final, &stop);
	if (stop && job->rec.state == ST_RUNNING)
		autostop(j, job);
	return r == SRC_INGEST_MORE ? INGEST_MORE
	       : r == SRC_INGEST_BUSY ? INGEST_BUSY
	       : r == SRC_INGEST_FAILED ? INGEST_FAILED : INGEST_DONE;
}

/* Starts taking in JOB's metrics file where the store left off. */
static int open_metrics(struct jobs *j, struct job *job)
{
	char path[PATH_MAX];
	int rc = jobs_load_metrics(j, job); /* new rows go after the old */
	if (rc || (rc = src_ingest_open(j, job))) /* hook: metrics_from */
		return rc;
	if (!job->splitter && !(job->splitter = calloc(1, sizeof *job->splitter)))
		return -ENOMEM;
	job->splitter->len = 0;
	job->splitter->overlong = 0;
	job->metrics_read = job->rec.metrics_offset;
	job->metrics_tail.n = 0;
	if (job->metrics_fd >= 0)
		return 0;
	if (jobs_path(j, job, "metrics.txt", path, sizeof path))
		return -ENAMETOOLONG;
	job->metrics_fd = userfile_open(AT_FDCWD, path, O_RDONLY);
	if (job->metrics_fd < 0) {
		int rc = job->metrics_fd;
		job->metrics_fd = -1;
		return rc;
	}
	/* Another file than the one the offset is in: rewritten meanwhile. */
	struct stat st;
	if (job->rec.metrics_ino && fstat(job->metrics_fd, &st) == 0 &&
	    (int64_t)st.st_ino != job->rec.metrics_ino) {
		job->metrics_read = job->rec.metrics_offset = 0;
		job->rec.metrics_lines = 0;
	}
	return 0;
}

static void close_metrics(struct job *job)
{
	if (job->metrics_fd >= 0)
		close(job->metrics_fd);
	job->metrics_fd = -1;
	free(job->splitter);
	job->splitter = NULL;
	src_ingest_close(job); /* hook: metrics_from */
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
	json_string(f, job_format_time(job->rec.finished_ns ? job->rec.finished_ns
							      : job_now_ns(),
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
	return c == COMPRESS_GZIP ? "gzip" : c == COMPRESS_ZSTD ? "zstd" : "none";
}

/* Starts the packer process; the state is packaging already. */
static int spawn_packer(struct jobs *j, struct job *job)
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
	    (rc = weights_tmp_path(j, job, tmp, sizeof tmp)))
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
	char *argv[11] = { "trainfs", "__pack", out,
			   (char *)compression_arg(job->spec.compression),
			   uid, gid, man, NULL };
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
		rc = posix_spawn(&pid, j->self_exe, &fa, NULL, argv,
				 environ);
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
	set_busy(j, job, 1);
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

static void start_packing(struct jobs *j, struct job *job, const char *why,
			  const char *const *tags)
{
	job_set_state(j, job, ST_PACKAGING, why, tags);
	int rc = spawn_packer(j, job);
	if (rc)
		fail(j, job, "packaging: %s", strerror(-rc));
}

/* The manifest names the job as it is called when packed. */
static int renamed_while_packing(const struct job *job)
{
	return strcmp(job->packing_as, job->rec.name) != 0;
}

/*
 * A cancel while packaging (control_cancel) only moves the state: the
 * packer of a job no longer packaging is killed here; packing_ended()
 * drops its temporary file and the output.
 */
static void abort_packing(struct job *job)
{
	if (job->packer_pid > 0 && (job->rec.state != ST_PACKAGING ||
				    renamed_while_packing(job)))
		kill(job->packer_pid, SIGKILL); /* our child: unreaped, no reuse */
}

/* Reads the packer's "progress NN" and "error MSG" lines. */
static void read_packer(struct jobs *j, struct job *job)
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

/* The packer exited with STATUS: publish the tarball or fail. */
static void packing_ended(struct jobs *j, struct job *job, int status)
{
	char tmp[PATH_MAX], dst[PATH_MAX], name[WEIGHTS_NAME_MAX],
		rel[WEIGHTS_NAME_MAX + 16];
	int rc = 0, fd = job->weights_tmp_fd;
	read_packer(j, job);
	close(job->packer_fd);
	job->packer_fd = -1;
	job->packer_pid = 0;
	job->weights_tmp_fd = -1;
	weights_tmp_path(j, job, tmp, sizeof tmp);
	if (job->rec.state != ST_PACKAGING) { /* cancelled meanwhile */
		close(fd);
		unlink(tmp);
		job_delete_output(j, job);
		set_busy(j, job, 0);
		return;
	}
	if (renamed_while_packing(job)) { /* killed, or too late: again */
		close(fd);
		unlink(tmp);
		if ((rc = spawn_packer(j, job)))
			fail(j, job, "packaging: %s", strerror(-rc));
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
			fail(j, job, "%s%s", nothing ? "" : "packaging: ",
			     text_escape(esc, sizeof esc, why, strlen(why), 0));
		else if (WIFSIGNALED(status))
			fail(j, job, "packaging: packer killed by signal %d",
			     WTERMSIG(status));
		else
			fail(j, job, "packaging: packer exited with status %d",
			     WEXITSTATUS(status));
		return;
	}
	weights_name(job, name, sizeof name);
	snprintf(rel, sizeof rel, "weights/%s", name);
	close(fd); /* the packer fsynced it before exiting 0 */
	if ((rc = jobs_path(j, job, rel, dst, sizeof dst)) == 0 &&
	    rename(tmp, dst) < 0)
		rc = -errno;
	if (!rc) {
		char wdir[PATH_MAX];
		jobs_path(j, job, "weights", wdir, sizeof wdir);
		int dfd = open(wdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (fsync(dfd) < 0)
				rc = -errno;
			close(dfd);
		}
	}
	if (rc) {
		unlink(tmp);
		fail(j, job, "packaging: %s", strerror(-rc));
		return;
	}
	free(job->rec.weights);
	job->rec.weights = strdup(name);
	job->progress = 100;
	set_busy(j, job, 0);
	job_set_state(j, job, ST_READY, "weights ready",
		      (const char *[]){ "ready", NULL });
}

/* ---- trainers ---- */

static void trainer_outcome(struct jobs *j, struct job *job, int lost,
			    const struct exec_exit *ep);

/* The trainer's process group is gone (or its shim is): decide the outcome. */
static void trainer_ended(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX];
	struct exec_exit e = { 0 };
	const struct executor_ops *ops = job->exec->ops;
	close_metrics(job);
	gpu_run_release(job); /* the whole group is gone: stored below */
	jobs_path(j, job, "", dir, sizeof dir);
	int lost = ops->read_exit(dir, &e) != 0;
	if (lost)
		ops->clean_orphan(dir);
	/* When it ended, not when we heard: the same after any restart. */
	job->rec.finished_ns = !lost && e.time_ns ? e.time_ns : job_now_ns();
	/* And so are the events of its end (not "weights ready": later). */
	job->event_at_ns = job->rec.finished_ns;
	trainer_outcome(j, job, lost, &e);
	job->event_at_ns = 0;
}

/* The state that follows the end E (none: LOST) of JOB's trainer. */
static void trainer_outcome(struct jobs *j, struct job *job, int lost,
			    const struct exec_exit *ep)
{
	struct exec_exit e = *ep;
	/* The shim stopped it by the policy (trainfs was away): converged. */
	if (job->rec.state == ST_RUNNING && !lost && e.autostopped)
		autostop(j, job);

	switch (job->rec.state) {
	case ST_CANCELLED:
		job_delete_output(j, job);
		set_busy(j, job, 0);
		job_touch(j, job, VIEW_BIT(VIEW_STATUS));
		job_save(j, job);
		break;
	case ST_QUEUED:
	case ST_STOPPING:
	case ST_RUNNING:
		if (job->exec_error) {
			fail(j, job, "%s", job->exec_error);
			break;
		}
		if (job->rec.state != ST_STOPPING)
			goto running;
		if (!ckpt_has_weights(job) && output_is_empty(j, job))
			fail(j, job, "no weights were saved (stopped before "
				     "the trainer saved any)");
		else
			start_packing(j, job, "trainer stopped", NULL);
		break;
	running:
		if (lost)
			fail(j, job, "trainer lost: its shim exited without "
				     "recording a status");
		else if (e.signal || e.code != 0) {
			char why[1024], log[PATH_MAX];
			int nolog = jobs_path(j, job, "log", log, sizeof log);
			fail(j, job, "%s", cause_describe(why, sizeof why, e.code,
							  e.signal,
							  nolog ? NULL : log));
		}
		else if (!ckpt_has_weights(job) && output_is_empty(j, job))
			fail(j, job, "no weights were saved");
		else {
			free(job->rec.reason);
			job->rec.reason = strdup("completed");
			start_packing(j, job, "trainer exited with status 0",
				      (const char *[]){ "completed", NULL });
		}
		break;
	default:
		set_busy(j, job, 0);
		job_save(j, job);
	}
}

/* Releases JOB's run once its executor has nothing left to reap. */
static void settle_run(struct job *job)
{
	if (job->run && job->exec->ops->reap(job->run)) {
		job->exec->ops->release(job->run);
		job->run = NULL;
	}
}

static void trainer_gone(struct jobs *j, struct job *job);
static void run_status(struct jobs *j, struct job *job);

/* Asks JOB's executor for news of its run; takes in its end once. */
static void watch_run(struct jobs *j, struct job *job)
{
	if (job->run && !job->run_over && job->exec->ops->poll(job->run)) {
		job->run_over = 1;
		trainer_gone(j, job);
	}
}

/*
 * The executor says the trainer is gone (or what owned it is): a trainer
 * left without an owner is killed now (clean_orphan), so the metrics
 * file stops growing.  The outcome waits until every line is in
 * (end_step()): the job stays running or stopping until then.
 */
static void trainer_gone(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX];
	struct exec_exit e;
	char why[512];
	job->ended = 1;
	if (job->run && job->exec->ops->verdict &&
	    job->exec->ops->verdict(job->run, why, sizeof why)) {
		free(job->exec_error);
		job->exec_error = strdup(why);
	}
	if (job->run)
		run_status(j, job); /* "job 41", no more "on node1" */
	if (!jobs_path(j, job, "", dir, sizeof dir) &&
	    job->exec->ops->read_exit(dir, &e) != 0)
		job->exec->ops->clean_orphan(dir);
	settle_run(job);
}

/*
 * One round of a job whose trainer is gone: a step of its last metrics,
 * then, once all are in (or cannot be stored for FINAL_STORE_TRIES
 * rounds), its outcome.  A cancelled job's metrics no longer matter.
 * Returns INGEST_MORE while steps remain.
 */
static int end_step(struct jobs *j, struct job *job)
{
	int r = INGEST_DONE;
	if (job->rec.state != ST_CANCELLED && job->metrics_fd >= 0)
		r = ingest_metrics(j, job, 1);
	if (r == INGEST_DONE && job->rec.state != ST_CANCELLED)
		r = source_round(j, job, 1); /* hook: metrics_from */
	if (r == INGEST_MORE || r == INGEST_BUSY ||
	    (r == INGEST_FAILED && job->store_failures < FINAL_STORE_TRIES))
		return r;
	if (r == INGEST_FAILED)
		log_error( "job '%s': its last metrics could not be stored; "
			"ending without them\n", job->rec.name);
	job->ended = 0;
	ckpt_final(j, job); /* hook: lets the lock go while it reads/deletes */
	trainer_ended(j, job);
	return INGEST_DONE;
}

/*
 * Makes REL in the job's folder (a folder, or a file when FILE) owned by
 * the job's owner and closed to others (0700, 0600), never through a
 * symbolic link.  Returns 0 or -errno.
 */
static int make_owned(struct jobs *j, struct job *job, const char *rel,
		      int file)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, rc = jobs_path(j, job, rel, path, sizeof path);
	if (rc)
		return rc;
	if (file) {
		fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
					O_NOCTTY | O_CLOEXEC, 0600);
	} else {
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (file ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode))
		rc = -EEXIST; /* something else already has the name */
	else if (geteuid() == 0 &&
		 fchown(fd, job->rec.uid, job->rec.gid) < 0)
		rc = -errno;
	else if (fchmod(fd, file ? 0600 : 0700) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Whether the inherited ENTRY ("NAME=VALUE") is replaced by one the
 * trainer gets from trainfs: TRAINFS_* or the spec's env.*.
 */
static int env_overridden(const char *entry, const struct job *job)
{
	size_t n = strcspn(entry, "=");
	if (!strncmp(entry, "TRAINFS_", 8) || gpu_run_env_overrides(job, entry))
		return 1;
	for (size_t i = 0; i < job->spec.nenv; i++)
		if (strlen(job->spec.env[i].name) == n &&
		    !strncmp(entry, job->spec.env[i].name, n))
			return 1;
	return 0;
}

/* What a clean environment keeps of trainfs's own (sudo's env_reset). */
static int env_kept(const char *entry)
{
	return !strncmp(entry, "LANG=", 5) || !strncmp(entry, "LC_", 3) ||
	       !strncmp(entry, "TZ=", 3);
}

/* Appends "NAME=VALUE" to ENV at *K unless the spec's env.* sets NAME. */
static void env_put(char **env, size_t *k, const struct job *job,
		    const char *name, const char *value)
{
	char *e;
	if (asprintf(&e, "%s=%s", name, value) < 0)
		e = NULL;
	if (e && env_overridden(e, job)) {
		free(e);
		return;
	}
	env[(*k)++] = e;
}

/*
 * The trainer's environment.  A trainer of trainfs's own user inherits
 * trainfs's environment; one of another user gets a clean one, as sudo
 * gives: the owner's HOME, USER, LOGNAME and SHELL, a fixed PATH, LANG,
 * LC_* and TZ, nothing else of trainfs's (its secrets stay its own).
 * Then TRAINFS_* and the spec's env.* either way.  (A Slurm executor
 * would still run sbatch and scancel with trainfs's own SLURM_CONF and
 * SLURM_*: this list is the trainer's only.)  Returns a NULL-terminated
 * array the caller frees with its strings, or NULL when out of memory.
 */
static char **trainer_env(struct jobs *j, struct job *job)
{
	size_t n = 0, k = 0;
	char dir[PATH_MAX], pwbuf[4096];
	struct passwd pwd, *pw = NULL;
	int clean = getuid() != job->rec.uid;
	while (environ[n])
		n++;
	char **env = calloc(n + job->spec.nenv + 20, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((!clean || env_kept(environ[i])) &&
		    !env_overridden(environ[i], job))
			env[k++] = strdup(environ[i]);
	if (clean) {
		if (getpwuid_r(job->rec.uid, &pwd, pwbuf, sizeof pwbuf, &pw))
			pw = NULL;
		env_put(env, &k, job, "HOME", pw ? pw->pw_dir : "/");
		if (pw) {
			env_put(env, &k, job, "USER", pw->pw_name);
			env_put(env, &k, job, "LOGNAME", pw->pw_name);
		}
		env_put(env, &k, job, "SHELL",
			pw && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
		env_put(env, &k, job, "PATH", "/usr/local/bin:/usr/bin:/bin");
	}
	jobs_path(j, job, "", dir, sizeof dir);
	if (asprintf(&env[k++], "TRAINFS_JOB=%s", job->rec.name) < 0 ||
	    asprintf(&env[k++], "TRAINFS_OUTPUT=%s/output", dir) < 0 ||
	    asprintf(&env[k++], "TRAINFS_METRICS=%s/metrics.txt", dir) < 0 ||
	    asprintf(&env[k++], "TRAINFS_STOP_FILE=%s/stop", dir) < 0)
		env[k - 1] = NULL;
	ckpt_env(job, dir, env, &k); /* hook: checkpoints, epochs, resume */
	gpu_run_env(job, env, &k);   /* hook: the GPUs it holds */
	for (size_t i = 0; i < job->spec.nenv; i++)
		if (asprintf(&env[k++], "%s=%s", job->spec.env[i].name,
			     job->spec.env[i].value) < 0)
			env[k - 1] = NULL;
	/* A failed strdup/asprintf left a hole: refuse rather than run half. */
	for (size_t i = 0; i < k; i++)
		if (!env[i]) {
			for (size_t m = 0; m < k; m++)
				free(env[m]);
			free(env);
			return NULL;
		}
	env[k] = NULL;
	return env;
}

/* Where JOB's trainer runs. */
static struct executor *executor_of(struct jobs *j, struct job *job)
{
	if (job->spec.executor == SPEC_EXECUTOR_SLURM ||
	    (job->spec.executor == SPEC_EXECUTOR_DEFAULT && j->cfg.slurm))
		return j->slurm;
	return j->local;
}

static void free_strv(char **v);

/*
 * The spec's slurm.* keys as "option=value" ("cpus-per-task=4"), NULL-
 * terminated, or NULL when out of memory.
 */
static char **slurm_opts(const struct job *job)
{
	char gpus[32];
	size_t n = job->spec.nslurm;
	char **v = calloc(n + 2, sizeof *v);
	for (size_t i = 0; v && i < n; i++)
		if (asprintf(&v[i], "%s=%s", job->spec.slurm[i].option,
			     job->spec.slurm[i].value) < 0) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return NULL;
		}
	/* The spec's gpus = N is sbatch's --gpus=N on Slurm. */
	if (v && *gpu_run_slurm_opt(job, gpus, sizeof gpus) &&
	    !(v[n] = strdup(gpus))) {
		free_strv(v);
		return NULL;
	}
	return v;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/*
 * Takes in what JOB's executor says of its run: the id to store, the
 * status line, queued -> running once the trainer has started, and a stop
 * at a time limit.  With the job's lock held.
 */
static void run_status(struct jobs *j, struct job *job)
{
	struct exec_status st;
	if (!job->run || job->exec->ops->status(job->run, &st))
		return;
	if (st.ref && st.ref != job->rec.slurm_id) {
		job->rec.slurm_id = st.ref;
		job_save(j, job);
	}
	if (strcmp(st.line, job->exec_line ? job->exec_line : "")) {
		free(job->exec_line);
		job->exec_line = *st.line ? strdup(st.line) : NULL;
		job_touch(j, job, VIEW_BIT(VIEW_STATUS));
	}
	if (st.running && job->rec.state == ST_QUEUED) {
		job->rec.started_ns = job_now_ns();
		job_set_state(j, job, ST_RUNNING, "started", NULL);
	}
	if (st.time_up && job->rec.state == ST_RUNNING)
		job_stop(j, job, "stopped-early", JOB_TIME_LIMIT_STOP,
			 (const char *[]){ "stopped-early", NULL });
}

static void launch(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX], work[PATH_MAX], log[PATH_MAX], stop[PATH_MAX];
	char f[PATH_MAX], **env = NULL, **opts = NULL, *watch = NULL;
	int rc;

	if ((rc = store_job_dir_check(j->store, job->rec.id)) ||
	    (rc = jobs_path(j, job, "", dir, sizeof dir)) ||
	    (rc = jobs_path(j, job, "log", log, sizeof log)) ||
	    (rc = jobs_path(j, job, "work", work, sizeof work)) ||
	    (rc = make_owned(j, job, "output", 0)) ||
	    (rc = make_owned(j, job, CKPT_DIR, 0)) ||
	    (rc = make_owned(j, job, "metrics.txt", 1)) ||
	    (rc = make_owned(j, job, "log", 1)) ||
	    (!job->spec.workdir && (rc = make_owned(j, job, "work", 0))) ||
	    (rc = jobs_path(j, job, "stop", stop, sizeof stop)))
		goto fail;
	/* The last run's auto-stop record is not this run's. */
	if (!jobs_path(j, job, WATCH_AUTOSTOP_FILE, f, sizeof f))
		unlink(f);
	ckpt_launch(j, job); /* hook: a resumed job's stale checkpoints */
	if (!(env = trainer_env(j, job)) || !(opts = slurm_opts(job))) {
		rc = -ENOMEM;
		goto fail;
	}
	struct exec_launch l = {
		.job_dir = dir,
		.command = job->spec.command,
		.workdir = job->spec.workdir ? job->spec.workdir : work,
		.log = log,
		.uid = job->rec.uid,
		.gid = job->rec.gid,
		.stop_signal = job->spec.stop_signal,
		.stop_group = job->spec.stop_to == SPEC_STOP_TO_GROUP,
		.grace = job->spec.grace,
		.env = env,
		.job_name = job->rec.name,
		.slurm_opts = opts,
		.stop_file = stop,
	};
	char src[PATH_MAX];
	struct watch_source ws = { .pos = job->rec.source_pos };
	if (job->spec.metrics_from &&
	    !src_ingest_path(j, job, src, sizeof src))
		ws.path = src;
	if (watch_launch_encode(&watch, &l.watch_len, job->spec.monitor,
				&job->policy, job->rec.metrics_offset,
				&ws) == 0)
		l.watch = watch;
	job->exec = executor_of(j, job);
	job->run_over = 0;
	free(job->exec_error);
	job->exec_error = NULL;
	job->rec.slurm_id = 0;
	if ((rc = job->exec->ops->launch(job->exec, &l, &job->run)))
		goto fail;
	set_busy(j, job, 1);
	if ((rc = open_metrics(j, job)))
		log_error( "job '%s': cannot read its "
			"metrics: %s\n", job->rec.name, strerror(-rc));
	/* Running now, or queued until the executor says it started. */
	run_status(j, job);
	job_touch(j, job, VIEW_BIT(VIEW_LOG) | VIEW_BIT(VIEW_STATUS));
	goto out;
fail:
	gpu_run_release(job);
	fail(j, job, "cannot start the trainer: %s", strerror(-rc));
out:
	free(watch);
	free_strv(env);
	free_strv(opts);
}

/*
 * Tries JOB's lock: a job busy with a reader (rendering a huge table, say)
 * is left for the next round rather than waited for.
 */
static int try_lock(struct job *job)
{
	return job_trylock(job);
}

/* The job of ALL (N, ascending ids) with id ID, or NULL. */
static struct job *find_job(struct job **all, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (all[mid]->rec.id == id)
			return all[mid];
		if (all[mid]->rec.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* What schedule() learns of the jobs in its first pass. */
struct sched {
	struct gpus_queued *q; /* the queued jobs not launched yet */
	size_t nq, cap;
	int held[4 * GPUS_MAX]; /* ids held by trainers */
	size_t nheld;
	long running;          /* local jobs with a trainer */
};

/* Counts JOB (locked) into S; -ENOMEM when it could not be queued. */
static int sched_count(struct jobs *j, struct job *job, struct sched *s)
{
	if (job->removed)
		return 0;
	/* Slurm schedules its own jobs: only local ones count. */
	if (state_has_trainer(job->rec.state) && job->exec != j->slurm)
		s->running++;
	s->nheld += gpu_run_held(job, s->held + s->nheld,
				 sizeof s->held / sizeof *s->held - s->nheld);
	if (job->rec.state != ST_QUEUED || job->run)
		return 0;
	if (s->nq == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct gpus_queued *q = realloc(s->q, cap * sizeof *q);
		if (!q)
			return -ENOMEM;
		s->q = q;
		s->cap = cap;
	}
	s->q[s->nq++] = (struct gpus_queued){
			.queued_ns = gpu_run_queued_ns(job),
			.job_id = job->rec.id,
			.need = job->spec.gpus,
			.local = executor_of(j, job) != j->slurm,
		};
	return 0;
}

/* Launches JOB (locked) with the ids of Q, or shows why it waits. */
static void sched_apply(struct jobs *j, struct job *job,
			const struct gpus_queued *q, long running)
{
	char line[sizeof job->waiting];
	int rc;
	if (job->removed || job->rec.state != ST_QUEUED || job->run)
		return;
	gpu_run_waiting(j, job, gpus_waiting(q, running, j->cfg.max_running,
					     line, sizeof line));
	if (!q->launch)
		return;
	if ((rc = gpu_run_hold(j, job, q->ids)))
		fail(j, job, "cannot start the trainer: storing its GPUs: %s",
		     strerror(-rc));
	else
		launch(j, job);
}

/*
 * Launches queued jobs of ALL in the order they were queued, while slots
 * and GPUs are free (gpus.c: first come, with backfill); one job's lock
 * at a time, none waited for.  Returns 1 when a job was busy.
 */
static int schedule(struct jobs *j, struct job **all, size_t n)
{
	struct sched s = { 0 };
	int skipped = 0;
	for (size_t i = 0; i < n && !skipped; i++) {
		if (!try_lock(all[i])) {
			skipped = 1; /* uncounted: launch nothing this round */
			break;
		}
		if (sched_count(j, all[i], &s))
			skipped = 1; /* out of memory: the next round tries */
		job_unlock(all[i]);
	}
	if (skipped) {
		free(s.q);
		return 1;
	}
	long running = gpus_schedule(&j->cfg.gpus, s.held, s.nheld, s.running,
				     j->cfg.max_running, s.q, s.nq);
	/* A job busy now keeps its place; the others' ids are theirs alone. */
	for (size_t i = 0; i < s.nq; i++) {
		struct job *job = find_job(all, n, s.q[i].job_id);
		if (!job)
			continue;
		if (!try_lock(job)) {
			skipped = 1;
			continue;
		}
		sched_apply(j, job, &s.q[i], running);
		job_unlock(job);
	}
	free(s.q);
	return skipped;
}

/*
 * After a restart: find the shim of JOB if it was running, stopping or
 * being cancelled (or launched just before trainfs died), and redo
 * packing that was cut short.  With the job's lock held.
 */
static void recover(struct jobs *j, struct job *job)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	int st = job->rec.state;
	if (st == ST_PACKAGING) {
		if (!weights_tmp_path(j, job, tmp, sizeof tmp))
			unlink(tmp);
		unlink_named_tmp(j, job);
		int rc = spawn_packer(j, job);
		if (rc)
			fail(j, job, "packaging: %s", strerror(-rc));
		return;
	}
	if (!state_has_trainer(st) && st != ST_CANCELLED && st != ST_QUEUED)
		return;
	if (jobs_path(j, job, "", dir, sizeof dir))
		return;
	/* Where it ran, whatever this mount's --executor says. */
	job->exec = job->rec.slurm_id > 0 ? j->slurm : j->local;
	if (st == ST_QUEUED && !job->rec.slurm_id) {
		/*
		 * Launching it again would run a second trainer: a queued job
		 * never ran, so traces of a launch cannot be stale.
		 */
		if (!job->exec->ops->launched(dir))
			return; /* schedule() launches it */
		job->rec.started_ns = job_now_ns();
		job_set_state(j, job, ST_RUNNING, "started", NULL);
		st = ST_RUNNING;
	}
	job->run_over = 0;
	if (job->exec->ops->attach(job->exec, dir, job->rec.slurm_id,
				   &job->run) == 0) {
		set_busy(j, job, 1);
		run_status(j, job);
		if (state_has_trainer(st))
			open_metrics(j, job);
		/* The verb may not have reached it before we died. */
		if (st == ST_STOPPING)
			job_signal(j, job, EXEC_STOP);
		else if (st == ST_CANCELLED)
			job_signal(j, job, EXEC_CANCEL);
		return;
	}
	if (st == ST_CANCELLED) {
		job_delete_output(j, job);
		return;
	}
	open_metrics(j, job);
	set_busy(j, job, 1);
	trainer_gone(j, job); /* the main loop takes its end in */
}

static void reap(struct jobs *j, struct job *job)
{
	int status;
	if (job->run) {
		settle_run(job);
		/* Idle now, unless its end is still to be taken in or packed. */
		if (!job->run && job->packer_pid <= 0 && !job->ended)
			set_busy(j, job, 0);
	}
	abort_packing(job);
	if (job->packer_pid > 0 &&
	    waitpid(job->packer_pid, &status, WNOHANG) == job->packer_pid)
		packing_ended(j, job, status);
}


/*
 * The jobs listed now, each with a reference; *QUIT: trainfs is closing.
 * NULL when out of memory.
 */
static struct job **snapshot(struct jobs *j, size_t *n, int *quit)
{
	jobs_lock(j);
	struct job **all = malloc((j->n ? j->n : 1) * sizeof *all);
	*quit = j->quit;
	*n = 0;
	if (all) {
		for (size_t i = 0; i < j->n; i++) {
			all[i] = j->list[i];
			all[i]->refs++;
		}
		*n = j->n;
	}
	jobs_unlock(j);
	return all;
}

/* Drops the references of snapshot(). */
static void release(struct jobs *j, struct job **all, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobs_put(j, all[i]);
	free(all);
}

/*
 * Re-adopts what the last trainfs left (trainers, packing) and settles the
 * jobs whose trainer ended meanwhile, before anything is served, so no
 * reader sees a state from before the restart.
 */
static void supervisor_recover(struct jobs *j)
{
	size_t n;
	int quit;
	struct job **all = snapshot(j, &n, &quit);
	for (size_t i = 0; all && i < n; i++) {
		job_lock(all[i]);
		if (!all[i]->removed)
			recover(j, all[i]);
		/* Its last metrics in full: this is before serving anything. */
		while (all[i]->ended && end_step(j, all[i]) != INGEST_DONE)
			;
		job_unlock(all[i]);
	}
	if (all)
		release(j, all, n);
}

/* Each executor's work for all its runs at once, no lock held. */
static void tick(struct jobs *j, int *timeout_ms)
{
	struct executor *ex[] = { j->local, j->slurm };
	for (size_t i = 0; i < sizeof ex / sizeof *ex; i++)
		if (ex[i]->ops->tick)
			ex[i]->ops->tick(ex[i], timeout_ms);
}

static void *supervisor_main(void *arg)
{
	struct jobs *j = arg;
	struct pollfd *p = NULL;
	struct job **owner = NULL; /* the job of each p[i] */
	size_t cap = 0, n;
	int quit, more = 0;

	struct job **all;
	for (;;) {
		if (!(all = snapshot(j, &n, &quit))) {
			log_error( "supervisor: out of memory\n");
			poll(NULL, 0, 1000);
			continue;
		}
		if (quit)
			break;
		int busy = schedule(j, all, n);
		if (cap < 1 + 2 * n) {
			cap = 2 * (1 + 2 * n);
			free(p);
			free(owner);
			p = calloc(cap, sizeof *p);
			owner = calloc(cap, sizeof *owner);
			if (!p || !owner) {
				log_error( "supervisor: out of memory\n");
				cap = 0;
				release(j, all, n);
				poll(NULL, 0, 1000);
				continue;
			}
		}
		size_t np = 1;
		int active = 0;
		p[0] = (struct pollfd){ .fd = j->wake[0], .events = POLLIN };
		for (size_t i = 0; i < n; i++) {
			struct job *job = all[i];
			if (!try_lock(job)) {
				busy = 1; /* its descriptors wait a round */
				continue;
			}
			int rfd = job->run ? job->exec->ops->wait_fd(job->run)
					   : -1;
			if (rfd >= 0 && !job->removed) {
				owner[np] = job;
				p[np++] = (struct pollfd){ .fd = rfd,
							   .events = POLLIN };
			}
			if (job->packer_fd >= 0 && !job->removed) {
				owner[np] = job;
				p[np++] = (struct pollfd){ .fd = job->packer_fd,
							   .events = POLLIN };
			}
			if (job->metrics_fd >= 0 || job->packer_pid > 0 ||
			    job->run || job->ended)
				active = 1;
			job_unlock(job);
		}
		/*
		 * Only this thread closes a shim's or packer's descriptor, and
		 * the references keep every job alive: p[] stays valid.
		 */
		int timeout = more ? 0 : active || busy ? METRICS_POLL_MS : 1000;
		tick(j, &timeout);
		int ready = poll(p, np, timeout);
		if (ready > 0 && (p[0].revents & POLLIN)) {
			char buf[256];
			while (read(j->wake[0], buf, sizeof buf) > 0)
				;
		}
		for (size_t i = 1; ready > 0 && i < np; i++) {
			if (!p[i].revents)
				continue;
			struct job *job = owner[i];
			job_lock(job);
			if (job->removed)
				;
			else if (p[i].fd == job->packer_fd)
				read_packer(j, job);
			else
				watch_run(j, job);
			job_unlock(job);
		}
		more = 0;
		for (size_t i = 0; i < n; i++) {
			struct job *job = all[i];
			if (!try_lock(job))
				continue; /* next round */
			if (!job->removed) {
				/* A backend without a descriptor: every round. */
				if (job->run && job->exec->ops->wait_fd(job->run) < 0)
					watch_run(j, job);
				if (job->run && !job->run_over)
					run_status(j, job);
				if (job->ended)
					more |= end_step(j, job) == INGEST_MORE;
				else if (job->metrics_fd >= 0) {
					int a = ingest_metrics(j, job, 0);
					int b = source_round(j, job, 0);
					more |= a == INGEST_MORE || b == INGEST_MORE;
				}
				reap(j, job);
			}
			job_unlock(job);
			ckpt_round(j, job); /* hook: no lock held */
		}
		release(j, all, n);
	}
	release(j, all, n);
	free(p);
	free(owner);
	return NULL;
}

int jobs_start_supervisor(struct jobs *j)
{
	/*
	 * Threads do not survive the daemonizing fork: the deleter starts
	 * here, after it, as the supervisor does (until then, and in tools
	 * that never start it, the trash is emptied in place).
	 */
	int err = store_start_deleter(j->store);
	if (err)
		return err;
	supervisor_recover(j);
	int rc = pthread_create(&j->supervisor, NULL, supervisor_main, j);
	if (rc)
		return -rc;
	j->supervising = 1;
	return 0;
}

/*
 * ingest: takes in what a trainer appends to its metrics file (and its
 * metrics_from source), for the supervisor's thread.  Each step reads at
 * most INGEST_BYTES and INGEST_LINES of one job, in one store transaction,
 * so a huge or sparse metrics file costs its own job time only; a row is
 * shown only once stored (a failed commit undoes the table, the record and
 * the file offset, and the lines are read again later).  A row that makes
 * the auto-stop rule say "converged" stops the job (sv_autostop).
 *
 * Locks: the job's lock is held by the caller; the store is only tried
 * (store_trybegin), never waited for with that lock held.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/core/src_ingest.h"
#include "jobs/core/supervisor.h"
#include "jobs/run/watch.h"
#include "util/log.h"
#include "util/userfile.h"

#define INGEST_CHUNK (16 * 1024)  /* one read */
#define INGEST_BYTES (256 * 1024) /* per job per round ... */
#define INGEST_LINES 2000	  /* ... and lines, so others get a turn */

struct ingest {
	struct jobs *j;
	struct job *job;
	int stop; /* the policy says: converged */
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
	while (!overlong && a < len &&
	       (line[a] == ' ' || line[a] == '\t' || line[a] == '\r'))
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
	if (r ==
	    -EFBIG) { /* the table is full (JOB_ROWS_MAX, JOB_VALUES_MAX) */
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

void sv_autostop(struct jobs *j, struct job *job)
{
	char why[128];
	int64_t was = job->event_at_ns;
	snprintf(why, sizeof why, "converged: no improvement in %ld epochs",
		 job->policy.waited);
	job->event_at_ns = shim_autostop_time(j, job, was);
	/* Logged by job_set_state(); the stop stands in memory. */
	(void)!job_stop(j, job, "converged", why,
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
		return st.st_size > job->metrics_read ? st.st_size :
							job->metrics_read;
	return errno == ENXIO ? -1 : job->metrics_read;
}

/*
 * A file rewritten whole (truncated, or renamed over) is read again
 * from its start: its lines fill in the rows already taken.
 */
static void reread_if_rewritten(struct jobs *j, struct job *job)
{
	char path[PATH_MAX];
	if (!jobs_path(j, job, "metrics.txt", path, sizeof path) &&
	    watch_tail_rewritten(&job->metrics_fd, path, job->metrics_read,
				 &job->metrics_tail) > 0) {
		job->metrics_read = 0;
		job->metrics_tail.n = 0;
		job->splitter->len = 0;
		job->splitter->overlong = 0;
		job->rec.metrics_offset = 0;
		job->rec.metrics_lines = 0;
	}
}

/*
 * Feeds IN the lines of JOB's metrics file from where it was read up to,
 * at most INGEST_BYTES and INGEST_LINES (*TOTAL: the bytes taken).
 * Returns 1 at the end of what there is to read.
 */
static int read_lines(struct job *job, int final, struct ingest *in,
		      int64_t *total)
{
	char buf[INGEST_CHUNK];
	while (*total < INGEST_BYTES && in->lines < INGEST_LINES) {
		if (job->splitter->overlong) {
			int64_t at = skip_holes(job, final);
			if (at < 0)
				return 1;
			*total += at - job->metrics_read > 0 ? INGEST_CHUNK : 0;
			if (at != job->metrics_read)
				job->metrics_tail.n = 0;
			job->metrics_read = at;
		}
		ssize_t n = pread(job->metrics_fd, buf, sizeof buf,
				  job->metrics_read);
		if (n <= 0)
			return 1;
		job->metrics_read += n;
		*total += n;
		watch_tail_note(&job->metrics_tail, buf, n);
		line_splitter_feed(job->splitter, buf, n, ingest_line, in);
	}
	return 0;
}

/*
 * A step's commit failed: the table, the record and the file offset go
 * back to WAS (the splitter's OVERLONG, the bad line's BAD_WHY_WAS).
 */
static void undo_step(struct job *job, const struct job_record *was,
		      int overlong, char *bad_why_was)
{
	job_metrics_undo(job, was, bad_why_was);
	job->rec.metrics_offset = was->metrics_offset;
	job->rec.metrics_lines = was->metrics_lines;
	job->rec.metrics_ino = was->metrics_ino;
	job->metrics_read = was->metrics_offset;
	job->metrics_tail.n = 0;
	job->splitter->len = 0;
	job->splitter->overlong = overlong;
}

/*
 * Takes one bounded step of what the trainer appended to its metrics file:
 * at most INGEST_BYTES, INGEST_LINES, in one transaction.  A file the
 * trainer rewrote (watch_tail_rewritten()) is read again from its start; lines
 * for an epoch that has a row fill it in (job_add_row()).  FINAL: the
 * trainer has ended, so a last line without newline counts at the end.
 * A row is shown only once stored: when the commit fails, the table, the
 * record and the file offset go back to where they were, and the lines
 * are taken again later.  Returns INGEST_DONE (all read), INGEST_MORE,
 * INGEST_FAILED, or INGEST_BUSY (the store was busy: try next round).
 */
int sv_ingest_metrics(struct jobs *j, struct job *job, int final)
{
	struct ingest in = { .j = j, .job = job };
	int64_t total = 0;
	int eof = 0;
	job_assert_locked(job);
	if (job->metrics_fd < 0 || !job->splitter)
		return INGEST_DONE;
	reread_if_rewritten(j, job);
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
	eof = read_lines(job, final, &in, &total);
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
		job_touch(j, job,
			  VIEW_BIT(VIEW_METRICS) | VIEW_BIT(VIEW_STATUS));
	if (in.rc || job_save(j, job) || store_commit(j->store)) {
		store_rollback(j->store);
		if (!job->store_failures++ || job->store_failures % 100 == 0)
			log_error(
				"job '%s': cannot store "
				"metrics (%d tries); taking them again later\n",
				job->rec.name, job->store_failures);
		undo_step(job, &was, overlong, bad_why_was);
		return INGEST_FAILED;
	}
	job_table_keep(job);
	if (bad_why_was != job->rec.bad_why)
		free(bad_why_was);
	job->store_failures = 0;
	if (in.too_many)
		log_warn("job '%s': %d metrics lines with pairs left out: "
			 "too many metric names (at most %d)\n",
			 job->rec.name, in.too_many, JOB_COLUMNS_MAX);
	if (in.stop && job->rec.state == ST_RUNNING)
		sv_autostop(j, job);
	return eof ? INGEST_DONE : INGEST_MORE;
}

/*
 * A step of the job's metrics_from (src_ingest.h), as sv_ingest_metrics()
 * takes a step of the metrics file; the same INGEST_* values.
 */
int sv_source_round(struct jobs *j, struct job *job, int final)
{
	int stop;
	int r = src_ingest_step(j, job, final, &stop);
	if (stop && job->rec.state == ST_RUNNING)
		sv_autostop(j, job);
	return r == SRC_INGEST_MORE   ? INGEST_MORE :
	       r == SRC_INGEST_BUSY   ? INGEST_BUSY :
	       r == SRC_INGEST_FAILED ? INGEST_FAILED :
					INGEST_DONE;
}

/* Starts taking in JOB's metrics file where the store left off. */
int sv_open_metrics(struct jobs *j, struct job *job)
{
	char path[PATH_MAX];
	int rc = jobs_load_metrics(j, job); /* new rows go after the old */
	if (rc || (rc = src_ingest_open(j, job))) /* hook: metrics_from */
		return rc;
	if (!job->splitter &&
	    !(job->splitter = calloc(1, sizeof *job->splitter)))
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

void sv_close_metrics(struct job *job)
{
	if (job->metrics_fd >= 0)
		close(job->metrics_fd);
	job->metrics_fd = -1;
	free(job->splitter);
	job->splitter = NULL;
	src_ingest_close(job); /* hook: metrics_from */
}

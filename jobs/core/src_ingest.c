/*
 * src_ingest: a step of a job's metrics_from in one transaction
 * (src_ingest.h).
 *
 * The store is begun with store_trybegin(): a job never waits for the
 * store with its lock held.  What a failed commit puts back is saved
 * before the step: the record's fields the rows change, its bad line
 * count and reason, and the committed position text, from which the
 * source is restored (source_restore()), so it reads the same records
 * again.  A step that read nothing and changed nothing commits nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/run/source.h"
#include "jobs/core/src_ingest.h"
#include "util/log.h"

/* The step in progress. */
struct src_take {
	struct jobs *j;
	struct job *job;
	int stop;    /* the policy says: converged */
	int changed; /* a row was added or changed */
	int bad;     /* why holds the last bad record's reason */
	char why[METRICS_WHY_MAX];
	int rc;
};

int src_ingest_path(struct jobs *j, struct job *job, char *buf, size_t len)
{
	const char *from = job->spec.metrics_from;
	char work[PATH_MAX];
	int n;

	if (from[0] == '/')
		n = snprintf(buf, len, "%s", from);
	else if (job->spec.workdir)
		n = snprintf(buf, len, "%s/%s", job->spec.workdir, from);
	else if (jobs_path(j, job, "work", work, sizeof work))
		return -ENAMETOOLONG;
	else
		n = snprintf(buf, len, "%s/%s", work, from);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int src_ingest_open(struct jobs *j, struct job *job)
{
	char path[PATH_MAX];
	int rc;

	job_assert_locked(job);
	if (!job->spec_ok || !job->spec.metrics_from || job->source)
		return 0;
	if ((rc = src_ingest_path(j, job, path, sizeof path)))
		return rc;
	if (!(job->source = source_new(path, job->rec.uid, job->rec.gid)))
		return -ENOMEM;
	if (source_restore(job->source, job->rec.source_pos))
		log_warn("job '%s': metrics_from: its stored position is "
			 "unreadable; reading it from the start\n",
			 job->rec.name);
	job->source_failed = 0;
	return 0;
}

void src_ingest_close(struct job *job)
{
	source_free(job->source);
	job->source = NULL;
}

static void take_bad(struct src_take *t, const char *why, int64_t line)
{
	t->job->rec.bad_lines++;
	t->job->rec.bad_line = line;
	snprintf(t->why, sizeof t->why, "%s", why);
	t->bad = 1;
	t->changed = 1;
}

/* A record of the source (source_take_fn). */
static void take(void *arg, const struct metrics_line *ml, int rc,
		 const char *why, int64_t line)
{
	struct src_take *t = arg;
	struct job *job = t->job;
	size_t row;

	if (rc)
		take_bad(t, why, line);
	if (!ml || t->rc)
		return;
	int r = job_add_row(job, ml, &row);
	if (r >= 0 && (r & JOB_ROW_TOO_MANY) && !rc)
		take_bad(t, "too many metric names", line);
	if (r < 0) {
		t->rc = r;
		return;
	}
	if (r & JOB_ROW_STOP)
		t->stop = 1;
	if (!(r & JOB_ROW_CHANGED))
		return;
	t->changed = 1;
	char *canon = job_row_line(job, row);
	if (!canon) {
		t->rc = -ENOMEM;
		return;
	}
	int s = store_put_metric(t->j->store, job->rec.id, row, canon);
	free(canon);
	if (s)
		t->rc = s;
}

/* Whether two position texts differ (NULL: not found). */
static int pos_moved(const char *a, const char *b)
{
	return (!a != !b) || (a && strcmp(a, b));
}

/* Puts back what a failed commit of the step changed. */
static void undo(struct job *job, const struct job_record *was,
		 char *bad_why_was, char *pos_was)
{
	job_metrics_undo(job, was, bad_why_was);
	if (job->rec.source_pos != pos_was) {
		free(job->rec.source_pos);
		job->rec.source_pos = pos_was;
	}
	/* POS_WAS is source_pos()'s own text, which it always reads back. */
	(void)!source_restore(job->source, pos_was);
}

/* Commits the step: 0, or -1 when it was undone. */
static int commit(struct jobs *j, struct job *job, struct src_take *t,
		  char *pos, const struct job_record *was)
{
	char *bad_why_was = job->rec.bad_why, *pos_was = job->rec.source_pos;
	int found_now = !pos_was && pos;

	if (t->bad && !(job->rec.bad_why = strdup(t->why))) {
		job->rec.bad_why = bad_why_was;
		t->rc = -ENOMEM;
	}
	job->rec.source_pos = pos;
	if (t->changed || found_now)
		job_touch(j, job,
			  VIEW_BIT(VIEW_STATUS) |
				  (t->changed ? VIEW_BIT(VIEW_METRICS) : 0));
	if (t->rc || job_save(j, job) || store_commit(j->store)) {
		store_rollback(j->store);
		undo(job, was, bad_why_was, pos_was); /* frees POS */
		return -1;
	}
	job_table_keep(job);
	if (bad_why_was != job->rec.bad_why)
		free(bad_why_was);
	free(pos_was);
	return 0;
}

int src_ingest_step(struct jobs *j, struct job *job, int final, int *stop)
{
	struct src_take t = { .j = j, .job = job };
	struct job_record before =
		job->rec; /* what a failed commit puts back */

	job_assert_locked(job);
	*stop = 0;
	if (!job->source)
		return SRC_INGEST_DONE;
	int rc = store_trybegin(j->store);
	if (rc)
		return rc == -EBUSY ? SRC_INGEST_BUSY : SRC_INGEST_FAILED;
	if (jobs_load_metrics(j, job) || job_table_mark(job)) {
		store_rollback(j->store);
		return SRC_INGEST_FAILED;
	}
	int more = source_step(job->source, final, take, &t);
	if (more < 0 && !job->source_failed++)
		log_warn("job '%s': metrics_from '%s': %s\n", job->rec.name,
			 job->spec.metrics_from, strerror(-more));
	if (more >= 0)
		job->source_failed = 0;
	char *pos = source_pos(job->source);
	if (!t.changed && !t.rc && !pos_moved(pos, job->rec.source_pos)) {
		free(pos);
		job_table_keep(job);
		store_rollback(j->store);
		return more > 0 ? SRC_INGEST_MORE : SRC_INGEST_DONE;
	}
	if (commit(j, job, &t, pos, &before))
		return SRC_INGEST_FAILED;
	*stop = t.stop;
	return more > 0 ? SRC_INGEST_MORE : SRC_INGEST_DONE;
}

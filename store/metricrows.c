/*
 * store/metricrows: the metrics table, one row per metrics line a job
 * reported, numbered from 0.  Rows are written with the job row's offset
 * into metrics.txt in the same transaction, so a crash never counts a
 * line twice; a resume drops the rows past its epoch.  Reading takes the
 * store lock a page at a time (METRICS_PAGE), never for a whole job.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store_i.h"

#define METRICS_PAGE 512 /* rows loaded per turn of the store lock ... */
#define METRICS_PAGE_BYTES (1024 * 1024) /* ... and bytes */

static int store_delete_metrics_from_(struct store *s, int64_t id, int64_t seq)
{
	sqlite3_stmt *st = s->q[Q_DELETE_METRICS_FROM];
	if (sqlite3_bind_int64(st, 1, id) || sqlite3_bind_int64(st, 2, seq))
		return db_error(s, "binding a job id");
	return run(s, st, "deleting metrics rows");
}

int store_delete_metrics_from(struct store *s, int64_t id, int64_t seq)
{
	slock(s);
	int rc = store_delete_metrics_from_(s, id, seq);
	sunlock(s);
	return rc;
}

static int store_put_metric_(struct store *s, int64_t id, int64_t seq,
			     const char *line)
{
	sqlite3_stmt *st = s->q[Q_PUT_METRIC];
	if (sqlite3_bind_int64(st, 1, id) || sqlite3_bind_int64(st, 2, seq) ||
	    bind_text(st, 3, line))
		return db_error(s, "binding a metrics row");
	return run(s, st, "writing a metrics row");
}

int store_put_metric(struct store *s, int64_t id, int64_t seq, const char *line)
{
	slock(s);
	int rc = store_put_metric_(s, id, seq, line);
	sunlock(s);
	return rc;
}

int store_load_job_metrics(struct store *s, int64_t id, store_metric_fn fn,
			   void *arg)
{
	sqlite3_stmt *st = s->q[Q_JOB_METRICS];
	int64_t after = -1;
	int rc = 0, step;
	size_t rows, full;
	char **page = malloc(METRICS_PAGE * sizeof *page);
	if (!page)
		return -ENOMEM;
	/*
	 * A page at a time, copied out under the store lock and handed to FN
	 * after letting it go: a job with millions of rows (and a slow FN)
	 * keeps the other jobs' commits waiting one page's read at most.
	 */
	do {
		size_t bytes = 0;
		rows = 0;
		full = 0;
		slock(s);
		if (sqlite3_bind_int64(st, 1, id) ||
		    sqlite3_bind_int64(st, 2, after) ||
		    sqlite3_bind_int(st, 3, METRICS_PAGE)) {
			rc = db_error(s, "binding a job id");
		} else {
			while (bytes < METRICS_PAGE_BYTES &&
			       (step = sqlite3_step(st)) == SQLITE_ROW) {
				const char *t =
					(const char *)sqlite3_column_text(st,
									  1);
				after = sqlite3_column_int64(st, 0);
				if (!(page[rows] = strdup(t ? t : ""))) {
					rc = -ENOMEM;
					break;
				}
				bytes += strlen(page[rows++]);
			}
			full = rows == METRICS_PAGE ||
			       bytes >= METRICS_PAGE_BYTES;
			if (!rc && !full && step != SQLITE_DONE)
				rc = db_error(s, "loading metrics");
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sunlock(s);
		for (size_t i = 0; i < rows; i++) {
			if (!rc)
				rc = fn(arg, id, page[i]);
			free(page[i]);
		}
	} while (!rc && full);
	free(page);
	return rc;
}

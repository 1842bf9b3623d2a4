/*
 * store/jobrows: the jobs table, one row per job, and the job folder
 * that goes with each row (STORE/jobs/ID, made with the row, moved to the
 * trash with it).  A row is a plain record that jobs/ fills; the store
 * knows nothing of what its fields mean.  Each function takes the store
 * lock for its statement (a second turn inside the caller's
 * store_begin()); the folders are made and checked outside SQLite.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store_i.h"
#include "util/log.h"
#include "util/tree.h"

static int store_create_job_(struct store *s, struct job_record *rec)
{
	char path[PATH_MAX];
	sqlite3_stmt *st = s->q[Q_INSERT_JOB];
	int rc;
	if (sqlite3_bind_text(st, 1, rec->name, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int64(st, 2, rec->uid) ||
	    sqlite3_bind_int64(st, 3, rec->gid) ||
	    sqlite3_bind_int(st, 4, rec->state) ||
	    sqlite3_bind_int64(st, 5, rec->created_ns))
		return db_error(s, "binding a new job");
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return db_error(s, "creating a job");
	rec->id = sqlite3_last_insert_rowid(s->db);
	if ((rc = store_job_path(s, rec->id, "", path, sizeof path)))
		return rc;
	/* A folder left by a crash between mkdir and commit is reused. */
	if (mkdir(path, 0711) < 0 && errno != EEXIST)
		return -errno;
	return store_job_dir_check(s, rec->id);
}

int store_create_job(struct store *s, struct job_record *rec)
{
	slock(s);
	int rc = store_create_job_(s, rec);
	sunlock(s);
	return rc;
}

/*
 * Deletes the row first, so a failure leaves the job whole, then moves the
 * folder to the trash.  But on a full disk the database cannot take even a
 * delete, and the job's own files may be what fills it: then the folder
 * goes first (in place: space must be freed now) and the row after.
 */
int store_delete_job(struct store *s, int64_t id)
{
	char name[32];
	char path[PATH_MAX];
	int rc, dirfd, full;
	sqlite3_stmt *st = s->q[Q_DELETE_JOB];
	snprintf(name, sizeof name, "%lld", (long long)id);
	slock(s);
	if (sqlite3_bind_int64(st, 1, id))
		rc = db_error(s, "binding a job id");
	else
		rc = run(s, st, "deleting a job");
	full = rc && sqlite3_errcode(s->db) == SQLITE_FULL;
	sunlock(s);
	if (!full)
		return rc ? rc : store_trash(s, id, "");
	snprintf(path, sizeof path, "%s/jobs", s->dir);
	if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	rc = tree_remove(dirfd, name);
	close(dirfd);
	if (rc)
		return rc;
	log_warn("store: disk full: deleted the files of job %lld first\n",
		 (long long)id);
	slock(s);
	if (sqlite3_bind_int64(st, 1, id))
		rc = db_error(s, "binding a job id");
	else
		rc = run(s, st, "deleting a job");
	sunlock(s);
	return rc;
}

static int store_put_job_(struct store *s, const struct job_record *r)
{
	sqlite3_stmt *st = s->q[Q_PUT_JOB];
	if (sqlite3_bind_int64(st, 1, r->id) ||
	    sqlite3_bind_int(st, 2, r->state) ||
	    (r->spec ? sqlite3_bind_blob(st, 3, r->spec, r->spec_len,
					 SQLITE_STATIC) :
		       sqlite3_bind_null(st, 3)) ||
	    sqlite3_bind_int64(st, 4, r->created_ns) ||
	    sqlite3_bind_int64(st, 5, r->started_ns) ||
	    sqlite3_bind_int64(st, 6, r->finished_ns) ||
	    sqlite3_bind_int64(st, 7, r->kill_at_ns) ||
	    bind_text(st, 8, r->reason) || bind_text(st, 9, r->error) ||
	    bind_text(st, 10, r->last_refused) ||
	    bind_text(st, 11, r->weights) ||
	    sqlite3_bind_int64(st, 12, r->bad_lines) ||
	    sqlite3_bind_int64(st, 13, r->metrics_offset) ||
	    sqlite3_bind_blob(st, 14, r->mtime_ns, sizeof r->mtime_ns,
			      SQLITE_STATIC) ||
	    sqlite3_bind_int64(st, 15, r->nrows) ||
	    sqlite3_bind_int64(st, 16, r->last_epoch) ||
	    (r->best_epoch >= 0 ? sqlite3_bind_double(st, 17, r->best) :
				  sqlite3_bind_null(st, 17)) ||
	    sqlite3_bind_int64(st, 18, r->best_epoch) ||
	    sqlite3_bind_int64(st, 19, r->waited) ||
	    sqlite3_bind_text(st, 20, r->name, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int64(st, 21, r->metrics_lines) ||
	    sqlite3_bind_int64(st, 22, r->metrics_ino) ||
	    sqlite3_bind_int64(st, 23, r->bad_line) ||
	    bind_text(st, 24, r->bad_why) ||
	    sqlite3_bind_int64(st, 25, r->checkpoint) ||
	    sqlite3_bind_int64(st, 26, r->weights_from) ||
	    sqlite3_bind_int64(st, 27, r->resumed_from) ||
	    sqlite3_bind_int64(st, 28, r->slurm_id) ||
	    sqlite3_bind_int64(st, 29, r->mode) || bind_text(st, 30, r->gpus) ||
	    bind_text(st, 31, r->source_pos))
		return db_error(s, "binding a job");
	return run(s, st, "writing a job");
}

int store_put_job(struct store *s, const struct job_record *r)
{
	slock(s);
	int rc = store_put_job_(s, r);
	sunlock(s);
	return rc;
}

static char *column_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static int store_load_jobs_(struct store *s, store_job_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc = 0, step;
	if (sqlite3_prepare_v2(
		    s->db,
		    "SELECT id, name, uid, gid, state, spec,"
		    " created_ns, started_ns, finished_ns,"
		    " kill_at_ns, reason, error, last_refused,"
		    " weights, bad_lines, metrics_offset, mtimes,"
		    " nrows, last_epoch, best, best_epoch, waited,"
		    " metrics_lines, metrics_ino, bad_line, bad_why,"
		    " checkpoint, weights_from, resumed_from, slurm_id,"
		    " mode, gpus, source_pos FROM jobs ORDER BY id",
		    -1, &st, NULL))
		return db_error(s, "loading jobs");
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct job_record r = { 0 };
		r.id = sqlite3_column_int64(st, 0);
		snprintf(r.name, sizeof r.name, "%s",
			 (const char *)sqlite3_column_text(st, 1));
		r.uid = sqlite3_column_int64(st, 2);
		r.gid = sqlite3_column_int64(st, 3);
		r.state = sqlite3_column_int(st, 4);
		if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
			/* A blob: a spec is kept byte for byte, NULs too. */
			r.spec_len = sqlite3_column_bytes(st, 5);
			if ((r.spec = malloc(r.spec_len + 1))) {
				memcpy(r.spec, sqlite3_column_blob(st, 5),
				       r.spec_len);
				r.spec[r.spec_len] = '\0';
			}
		}
		r.created_ns = sqlite3_column_int64(st, 6);
		r.started_ns = sqlite3_column_int64(st, 7);
		r.finished_ns = sqlite3_column_int64(st, 8);
		r.kill_at_ns = sqlite3_column_int64(st, 9);
		r.reason = column_strdup(st, 10);
		r.error = column_strdup(st, 11);
		r.last_refused = column_strdup(st, 12);
		r.weights = column_strdup(st, 13);
		r.bad_lines = sqlite3_column_int64(st, 14);
		r.metrics_offset = sqlite3_column_int64(st, 15);
		if (sqlite3_column_bytes(st, 16) == sizeof r.mtime_ns)
			memcpy(r.mtime_ns, sqlite3_column_blob(st, 16),
			       sizeof r.mtime_ns);
		r.nrows = sqlite3_column_int64(st, 17);
		r.last_epoch = sqlite3_column_int64(st, 18);
		r.best = sqlite3_column_double(st, 19);
		r.best_epoch = sqlite3_column_int64(st, 20);
		r.waited = sqlite3_column_int64(st, 21);
		r.metrics_lines = sqlite3_column_int64(st, 22);
		r.metrics_ino = sqlite3_column_int64(st, 23);
		r.bad_line = sqlite3_column_int64(st, 24);
		r.bad_why = column_strdup(st, 25);
		r.checkpoint = sqlite3_column_int64(st, 26);
		r.weights_from = sqlite3_column_int64(st, 27);
		r.resumed_from = sqlite3_column_int64(st, 28);
		r.slurm_id = sqlite3_column_int64(st, 29);
		r.mode = (mode_t)sqlite3_column_int64(st, 30);
		r.gpus = column_strdup(st, 31);
		r.source_pos = column_strdup(st, 32);
		if ((rc = fn(arg, &r)))
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_error(s, "loading jobs");
	sqlite3_finalize(st);
	return rc;
}

int store_load_jobs(struct store *s, store_job_fn fn, void *arg)
{
	slock(s);
	int rc = store_load_jobs_(s, fn, arg);
	sunlock(s);
	return rc;
}

void store_record_free(struct job_record *r)
{
	free(r->spec);
	free(r->reason);
	free(r->error);
	free(r->last_refused);
	free(r->weights);
	free(r->bad_why);
	free(r->gpus);
	r->gpus = NULL;
	free(r->source_pos);
	r->spec = r->reason = r->error = r->last_refused = r->weights = NULL;
	r->bad_why = r->source_pos = NULL;
}

/*
 * Removes the job folders that have no row.  A crash between deleting a
 * job's row and its folder leaves one, which nothing would ever show or
 * free; ids are never reused, so it is no job's.  Returns 0 or -EIO.
 */
int store_sweep_orphans(struct store *s)
{
	char path[PATH_MAX];
	sqlite3_stmt *st;
	struct dirent *de;
	int rc = 0, dirfd;
	DIR *d;
	snprintf(path, sizeof path, "%s/jobs", s->dir);
	if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0; /* nothing to sweep; store_open made it */
	if (!(d = opendir(path))) {
		close(dirfd);
		return 0;
	}
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM jobs WHERE id=?", -1, &st,
			       NULL) != SQLITE_OK) {
		closedir(d);
		close(dirfd);
		return db_error(s, "looking for orphan folders");
	}
	while (!rc && (de = readdir(d))) {
		char *end;
		long long id = strtoll(de->d_name, &end, 10);
		if (*end || end == de->d_name || id <= 0)
			continue;
		int step;
		if (sqlite3_bind_int64(st, 1, id) ||
		    ((step = sqlite3_step(st)) != SQLITE_ROW &&
		     step != SQLITE_DONE)) {
			rc = db_error(s, "looking for orphan folders");
		} else if (step == SQLITE_DONE) {
			int r = tree_remove(dirfd, de->d_name);
			log_warn("store: removed '%s/%s', the "
				 "folder of a job deleted before a crash%s%s\n",
				 path, de->d_name, r ? ": " : "",
				 r ? strerror(-r) : "");
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	closedir(d);
	close(dirfd);
	return rc;
}

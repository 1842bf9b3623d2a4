/*
 * store/sweeps: the sweeps' rows (the tables are described in sweeps.h).
 * Sweeps change seldom (a control write, a trial made, a rung recorded),
 * so each statement is prepared when it runs rather than kept.
 */
#include "store/sweeps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char store_schema_v9_sweeps[] =
	"CREATE TABLE sweeps ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
	" mode INTEGER NOT NULL DEFAULT 493,"
	" spec BLOB, state INTEGER NOT NULL DEFAULT 0,"
	" seed INTEGER NOT NULL DEFAULT 0, has_seed INTEGER NOT NULL DEFAULT 0,"
	" created_ns INTEGER NOT NULL DEFAULT 0,"
	" started_ns INTEGER NOT NULL DEFAULT 0,"
	" finished_ns INTEGER NOT NULL DEFAULT 0,"
	" mtime_ns INTEGER NOT NULL DEFAULT 0,"
	" trials_created INTEGER NOT NULL DEFAULT 0,"
	" error TEXT, last_refused TEXT);"
	"CREATE TABLE sweep_trials ("
	" sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,"
	" trial INTEGER NOT NULL, job_id INTEGER NOT NULL DEFAULT 0,"
	" judged INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (sweep_id, trial)) WITHOUT ROWID;"
	"CREATE TABLE sweep_rungs ("
	" sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,"
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" rung INTEGER NOT NULL, trial INTEGER NOT NULL, value REAL,"
	" UNIQUE (sweep_id, rung, trial));";

void store_sweep_record_free(struct sweep_record *r)
{
	free(r->name);
	free(r->spec);
	free(r->error);
	free(r->last_refused);
	memset(r, 0, sizeof *r);
}

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) :
		   sqlite3_bind_null(st, i);
}

/* Prepares SQL, binds with BIND(ARG, st) and runs it to the end. */
static int run(struct store *s, const char *sql, const char *what,
	       int (*bind)(const void *arg, sqlite3_stmt *st), const void *arg)
{
	sqlite3_stmt *st = NULL;
	store_hold(s);
	int rc = sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) ||
				 bind(arg, st) ||
				 sqlite3_step(st) != SQLITE_DONE ?
			 store_db_error(s, what) :
			 0;
	sqlite3_finalize(st);
	store_release(s);
	return rc;
}

/* The columns after id, in the order of both statements below. */
static int bind_sweep(const void *arg, sqlite3_stmt *st)
{
	const struct sweep_record *r = arg;
	return sqlite3_bind_int64(st, 1, r->id) || bind_text(st, 2, r->name) ||
	       sqlite3_bind_int64(st, 3, r->uid) ||
	       sqlite3_bind_int64(st, 4, r->gid) ||
	       sqlite3_bind_int(st, 5, (int)r->mode) ||
	       (r->spec ? sqlite3_bind_blob(st, 6, r->spec, (int)r->spec_len,
					    SQLITE_STATIC) :
			  sqlite3_bind_null(st, 6)) ||
	       sqlite3_bind_int(st, 7, r->state) ||
	       sqlite3_bind_int64(st, 8, (int64_t)r->seed) ||
	       sqlite3_bind_int(st, 9, r->has_seed) ||
	       sqlite3_bind_int64(st, 10, r->created_ns) ||
	       sqlite3_bind_int64(st, 11, r->started_ns) ||
	       sqlite3_bind_int64(st, 12, r->finished_ns) ||
	       sqlite3_bind_int64(st, 13, r->mtime_ns) ||
	       sqlite3_bind_int64(st, 14, r->trials_created) ||
	       bind_text(st, 15, r->error) ||
	       bind_text(st, 16, r->last_refused);
}

int store_create_sweep(struct store *s, struct sweep_record *r)
{
	store_hold(s);
	int rc =
		run(s,
		    "INSERT INTO sweeps (id, name, uid, gid, mode, spec, state,"
		    " seed, has_seed, created_ns, started_ns, finished_ns,"
		    " mtime_ns, trials_created, error, last_refused)"
		    " VALUES (NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
		    " ?12, ?13, ?14, ?15, ?16)",
		    "creating a sweep", bind_sweep, r);
	if (!rc)
		r->id = sqlite3_last_insert_rowid(store_db(s));
	store_release(s);
	return rc;
}

int store_put_sweep(struct store *s, const struct sweep_record *r)
{
	return run(
		s,
		"UPDATE sweeps SET name=?2, uid=?3, gid=?4, mode=?5, spec=?6,"
		" state=?7, seed=?8, has_seed=?9, created_ns=?10,"
		" started_ns=?11, finished_ns=?12, mtime_ns=?13,"
		" trials_created=?14, error=?15, last_refused=?16"
		" WHERE id=?1",
		"writing a sweep", bind_sweep, r);
}

static int bind_id(const void *arg, sqlite3_stmt *st)
{
	return sqlite3_bind_int64(st, 1, *(const int64_t *)arg);
}

int store_delete_sweep(struct store *s, int64_t id)
{
	/* The cascade takes its trials' and rungs' rows. */
	return run(s, "DELETE FROM sweeps WHERE id=?1", "removing a sweep",
		   bind_id, &id);
}

struct trial_row {
	int64_t sweep, job;
	long trial, judged;
};

static int bind_trial(const void *arg, sqlite3_stmt *st)
{
	const struct trial_row *t = arg;
	return sqlite3_bind_int64(st, 1, t->sweep) ||
	       sqlite3_bind_int64(st, 2, t->trial) ||
	       sqlite3_bind_int64(st, 3, t->job) ||
	       sqlite3_bind_int64(st, 4, t->judged);
}

int store_put_trial(struct store *s, int64_t sweep, long trial, int64_t job,
		    long judged)
{
	struct trial_row t = { sweep, job, trial, judged };
	return run(s,
		   "INSERT OR REPLACE INTO sweep_trials (sweep_id, trial,"
		   " job_id, judged) VALUES (?1, ?2, ?3, ?4)",
		   "writing a trial", bind_trial, &t);
}

struct rung_row {
	int64_t sweep;
	long rung, trial;
	double value;
};

static int bind_rung(const void *arg, sqlite3_stmt *st)
{
	const struct rung_row *r = arg;
	return sqlite3_bind_int64(st, 1, r->sweep) ||
	       sqlite3_bind_int64(st, 2, r->rung) ||
	       sqlite3_bind_int64(st, 3, r->trial) ||
	       (r->value == r->value ? sqlite3_bind_double(st, 4, r->value) :
				       sqlite3_bind_null(st, 4));
}

int store_put_rung(struct store *s, int64_t sweep, long rung, long trial,
		   double value)
{
	struct rung_row r = { sweep, rung, trial, value };
	return run(s,
		   "INSERT OR IGNORE INTO sweep_rungs (sweep_id, rung, trial,"
		   " value) VALUES (?1, ?2, ?3, ?4)",
		   "recording a rung value", bind_rung, &r);
}

static char *column_dup(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? strdup(t) : NULL;
}

static int load_sweep_row(sqlite3_stmt *st, store_sweep_fn fn, void *arg)
{
	struct sweep_record r = {
		.id = sqlite3_column_int64(st, 0),
		.name = column_dup(st, 1),
		.uid = (uid_t)sqlite3_column_int64(st, 2),
		.gid = (gid_t)sqlite3_column_int64(st, 3),
		.mode = (unsigned)sqlite3_column_int(st, 4),
		.state = sqlite3_column_int(st, 6),
		.seed = (uint64_t)sqlite3_column_int64(st, 7),
		.has_seed = sqlite3_column_int(st, 8),
		.created_ns = sqlite3_column_int64(st, 9),
		.started_ns = sqlite3_column_int64(st, 10),
		.finished_ns = sqlite3_column_int64(st, 11),
		.mtime_ns = sqlite3_column_int64(st, 12),
		.trials_created = (long)sqlite3_column_int64(st, 13),
		.error = column_dup(st, 14),
		.last_refused = column_dup(st, 15),
	};
	const void *spec = sqlite3_column_blob(st, 5);
	if (spec) {
		r.spec_len = (size_t)sqlite3_column_bytes(st, 5);
		r.spec = malloc(r.spec_len + 1);
		if (r.spec) {
			memcpy(r.spec, spec, r.spec_len);
			r.spec[r.spec_len] = 0;
		}
	}
	if (!r.name || (spec && !r.spec)) {
		store_sweep_record_free(&r);
		return -ENOMEM;
	}
	int rc = fn(arg, &r);
	store_sweep_record_free(&r);
	return rc;
}

static int load_rows(struct store *s, const char *sql, int kind,
		     store_sweep_fn sweep, store_trial_fn trial,
		     store_rung_fn rung, void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step;
	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL))
		return store_db_error(s, "loading sweeps");
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (kind == 0)
			rc = load_sweep_row(st, sweep, arg);
		else if (kind == 1)
			rc = trial(arg, sqlite3_column_int64(st, 0),
				   (long)sqlite3_column_int64(st, 1),
				   sqlite3_column_int64(st, 2),
				   (long)sqlite3_column_int64(st, 3));
		else
			rc = rung(arg, sqlite3_column_int64(st, 0),
				  (long)sqlite3_column_int64(st, 1),
				  (long)sqlite3_column_int64(st, 2),
				  sqlite3_column_type(st, 3) == SQLITE_NULL ?
					  __builtin_nan("") :
					  sqlite3_column_double(st, 3));
	}
	if (!rc && step != SQLITE_DONE)
		rc = store_db_error(s, "loading sweeps");
	sqlite3_finalize(st);
	return rc;
}

int store_load_sweeps(struct store *s, store_sweep_fn sweep,
		      store_trial_fn trial, store_rung_fn rung, void *arg)
{
	store_hold(s);
	int rc = load_rows(s,
			   "SELECT id, name, uid, gid, mode, spec, state, seed,"
			   " has_seed, created_ns, started_ns, finished_ns,"
			   " mtime_ns, trials_created, error, last_refused"
			   " FROM sweeps ORDER BY id",
			   0, sweep, trial, rung, arg);
	if (!rc)
		rc = load_rows(s,
			       "SELECT sweep_id, trial, job_id, judged"
			       " FROM sweep_trials ORDER BY sweep_id, trial",
			       1, sweep, trial, rung, arg);
	if (!rc)
		rc = load_rows(s,
			       "SELECT sweep_id, rung, trial, value"
			       " FROM sweep_rungs ORDER BY seq",
			       2, sweep, trial, rung, arg);
	store_release(s);
	return rc;
}

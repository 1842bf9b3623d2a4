/*
 * store/schema: the tables of the database, their upgrades, and the
 * statements prepared once at open.
 *
 * The schema is versioned with PRAGMA user_version; store_open() brings an
 * older database up to date in one transaction (store_migrate), one
 * "version < N" step per version, each adding what version N added.  A
 * database newer than this trainfs is refused.  Runs at open, before any
 * other thread has the handle: no lock is taken.
 */
#include <errno.h>

#include <sqlite3.h>

#include "store/store_i.h"
#include "store/sweeps.h"
#include "util/log.h"

#define SCHEMA_VERSION 9
#define STR_(x) #x
#define STR(x) STR_(x)

static const char schema_v1[] =
	"CREATE TABLE jobs ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
	" state INTEGER NOT NULL,"
	" spec TEXT,"
	" created_ns INTEGER NOT NULL DEFAULT 0,"
	" started_ns INTEGER NOT NULL DEFAULT 0,"
	" finished_ns INTEGER NOT NULL DEFAULT 0,"
	" kill_at_ns INTEGER NOT NULL DEFAULT 0,"
	" reason TEXT, error TEXT, last_refused TEXT, weights TEXT,"
	" bad_lines INTEGER NOT NULL DEFAULT 0,"
	" metrics_offset INTEGER NOT NULL DEFAULT 0,"
	" mtimes BLOB);"
	"CREATE TABLE events ("
	" job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time_ns INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL);"
	"CREATE INDEX events_job ON events(job_id, seq);"
	"CREATE TABLE tags ("
	" job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" tag TEXT NOT NULL, system INTEGER NOT NULL,"
	" UNIQUE (job_id, tag));"
	"CREATE TABLE metrics ("
	" job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	" seq INTEGER NOT NULL, line TEXT NOT NULL,"
	" PRIMARY KEY (job_id, seq)) WITHOUT ROWID;";

/*
 * Version 2 keeps what status shows about metrics in the job row, so that
 * a mount need not read every metrics row.  nrows -1 marks rows of version
 * 1, whose values jobs/ derives once from the metrics and stores.
 */
static const char schema_v2[] =
	"ALTER TABLE jobs ADD COLUMN nrows INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE jobs ADD COLUMN last_epoch INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE jobs ADD COLUMN best REAL;"
	"ALTER TABLE jobs ADD COLUMN best_epoch INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE jobs ADD COLUMN waited INTEGER NOT NULL DEFAULT 0;";

/*
 * Version 3 (ingest): where in the metrics file the lines taken came from,
 * for "bad metric lines: N (last: line L: REASON)" and a file rewritten
 * while trainfs was away.
 */
static const char schema_v3_ingest[] =
	"ALTER TABLE jobs ADD COLUMN metrics_lines INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN metrics_ino INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN bad_line INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN bad_why TEXT;";

/*
 * Version 4 keeps the checkpoints' state (SPEC "Checkpoints"): the newest
 * kept checkpoint's epoch, the epoch whose checkpoint became the weights
 * (-1: the output), and the epoch the job was last resumed from.
 */
static const char schema_v4_checkpoints[] =
	"ALTER TABLE jobs ADD COLUMN checkpoint INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE jobs ADD COLUMN weights_from INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE jobs ADD COLUMN resumed_from INTEGER NOT NULL DEFAULT -1;";

/*
 * Version 5 keeps the Slurm job id of a job that the Slurm executor
 * submitted (0: none), so that a restart finds it again.
 */
static const char schema_v5_slurm[] =
	"ALTER TABLE jobs ADD COLUMN slurm_id INTEGER NOT NULL DEFAULT 0;";

/*
 * Version 6 keeps the mode of each job folder, which decides who else may
 * read the job; jobs of before were open to every user (0755).
 */
static const char schema_v6_mode[] =
	"ALTER TABLE jobs ADD COLUMN mode INTEGER NOT NULL DEFAULT 493;";

/*
 * Version 7 keeps the GPU ids a job's trainer holds ("1,3"; NULL: none),
 * so that after a remount or a crash no other job is handed them while
 * that trainer still runs.
 */
static const char schema_v7_gpus[] = "ALTER TABLE jobs ADD COLUMN gpus TEXT;";

/*
 * Version 8 keeps where the spec's metrics_from source was read up to (its
 * decoder's own text, committed with the rows it gave; NULL: never found),
 * so a remount goes on from there.
 */
static const char schema_v8_source[] =
	"ALTER TABLE jobs ADD COLUMN source_pos TEXT;";

const char *const store_queries[Q_COUNT] = {
	[Q_INSERT_JOB] = "INSERT INTO jobs (name, uid, gid, state, created_ns)"
			 " VALUES (?, ?, ?, ?, ?)",
	[Q_PUT_JOB] = "UPDATE jobs SET state=?2, spec=?3, created_ns=?4,"
		      " started_ns=?5, finished_ns=?6, kill_at_ns=?7,"
		      " reason=?8, error=?9, last_refused=?10, weights=?11,"
		      " bad_lines=?12, metrics_offset=?13, mtimes=?14,"
		      " nrows=?15, last_epoch=?16, best=?17, best_epoch=?18,"
		      " waited=?19, name=?20, metrics_lines=?21,"
		      " metrics_ino=?22, bad_line=?23, bad_why=?24,"
		      " checkpoint=?25, weights_from=?26, resumed_from=?27,"
		      " slurm_id=?28, mode=?29, gpus=?30, source_pos=?31"
		      " WHERE id=?1",
	[Q_DELETE_JOB] = "DELETE FROM jobs WHERE id=?",
	[Q_PUT_EVENT] = "INSERT INTO events (job_id, time_ns, state, reason)"
			" VALUES (?, ?, ?, ?)",
	[Q_PUT_TAG] = "INSERT OR IGNORE INTO tags (job_id, tag, system)"
		      " VALUES (?, ?, ?)",
	[Q_CLEAR_USER_TAGS] = "DELETE FROM tags WHERE job_id=? AND system=0",
	[Q_REMOVE_TAG] = "DELETE FROM tags WHERE job_id=? AND tag=?",
	[Q_DELETE_METRICS_FROM] =
		"DELETE FROM metrics WHERE job_id=? AND seq>=?",
	[Q_PUT_METRIC] = "INSERT OR REPLACE INTO metrics (job_id, seq, line)"
			 " VALUES (?, ?, ?)",
	[Q_JOB_METRICS] = "SELECT seq, line FROM metrics WHERE job_id=?1"
			  " AND seq>?2 ORDER BY seq LIMIT ?3",
};

int store_migrate(struct store *s)
{
	sqlite3_stmt *st;
	int version = 0, rc;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL))
		return db_error(s, "reading the schema version");
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version == SCHEMA_VERSION)
		return 0;
	if (version > SCHEMA_VERSION) {
		log_error("store: schema version %d is newer "
			  "than this trainfs (%d)\n",
			  version, SCHEMA_VERSION);
		return -EPROTO;
	}
	if ((rc = exec_sql(s, "BEGIN IMMEDIATE")))
		return rc;
	if ((version < 1 && (rc = exec_sql(s, schema_v1))) ||
	    (version < 2 && (rc = exec_sql(s, schema_v2))) ||
	    (version < 3 && (rc = exec_sql(s, schema_v3_ingest))) ||
	    (version < 4 && (rc = exec_sql(s, schema_v4_checkpoints))) ||
	    (version < 5 && (rc = exec_sql(s, schema_v5_slurm))) ||
	    (version < 6 && (rc = exec_sql(s, schema_v6_mode))) ||
	    (version < 7 && (rc = exec_sql(s, schema_v7_gpus))) ||
	    (version < 8 && (rc = exec_sql(s, schema_v8_source))) ||
	    (version < 9 && (rc = exec_sql(s, store_schema_v9_sweeps))) ||
	    (rc = exec_sql(s, "PRAGMA user_version = " STR(SCHEMA_VERSION)))) {
		exec_sql(s, "ROLLBACK");
		return rc;
	}
	return exec_sql(s, "COMMIT");
}

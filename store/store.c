/*
 * store: SQLite schema, queries and the job folders beside the database.
 *
 * The schema is versioned with PRAGMA user_version; store_open() brings an
 * older database up to date in one transaction.  WAL mode with
 * synchronous=NORMAL: a commit survives a crash of trainfs (kill -9); a
 * power cut may lose the last commits but never corrupts the database.
 * Statements are prepared once and reused.
 *
 * The store is private (see "a private store" below): whoever can write it
 * can make trainfs run anything as anyone, so it is checked before a byte
 * of it is read, and everything trainfs makes in it is closed to others.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <pthread.h>
#include <time.h>

#include <sqlite3.h>

#include "store/parents.h"
#include "store/store.h"
#include "store/sweeps.h"
#include "util/beneath.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/userfile.h"

#define SCHEMA_VERSION 9
#define STR_(x) #x
#define STR(x) STR_(x)
#define METRICS_PAGE 512 /* rows loaded per turn of the store lock ... */
#define METRICS_PAGE_BYTES (1024 * 1024) /* ... and bytes */

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
static const char schema_v7_gpus[] =
	"ALTER TABLE jobs ADD COLUMN gpus TEXT;";

/*
 * Version 8 keeps where the spec's metrics_from source was read up to (its
 * decoder's own text, committed with the rows it gave; NULL: never found),
 * so a remount goes on from there.
 */
static const char schema_v8_source[] =
	"ALTER TABLE jobs ADD COLUMN source_pos TEXT;";

enum {
	Q_INSERT_JOB,
	Q_PUT_JOB,
	Q_DELETE_JOB,
	Q_PUT_EVENT,
	Q_PUT_TAG,
	Q_CLEAR_USER_TAGS,
	Q_REMOVE_TAG,
	Q_DELETE_METRICS_FROM,
	Q_PUT_METRIC,
	Q_JOB_METRICS,
	Q_COUNT
};

static const char *const queries[Q_COUNT] = {
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
	[Q_DELETE_METRICS_FROM] = "DELETE FROM metrics WHERE job_id=? AND seq>=?",
	[Q_PUT_METRIC] = "INSERT OR REPLACE INTO metrics (job_id, seq, line)"
			 " VALUES (?, ?, ?)",
	[Q_JOB_METRICS] = "SELECT seq, line FROM metrics WHERE job_id=?1"
			  " AND seq>?2 ORDER BY seq LIMIT ?3",
};

struct store {
	/*
	 * The store lock (store.h): the connection, q[] and in_tx.  Recursive,
	 * so a statement inside the holder's transaction takes it again.
	 */
	struct lock lock;
	pthread_t owner;  /* who holds it, while depth > 0 */
	int depth;
	int in_tx;        /* a transaction is open (its owner holds the lock) */
	sqlite3 *db;
	char *dir;        /* resolved: no link, every parent checked */
	int dir_fd;       /* the store folder, for opens beneath it */
	int lock_fd;      /* STORE/lock, flock()ed while this store is open */
	sqlite3_stmt *q[Q_COUNT];

	/* The deleter: trash_lock protects the fields below it. */
	struct lock trash_lock;
	pthread_cond_t trash_more;
	int trash_pending; /* something was put in the trash */
	int trash_quit;
	unsigned long trash_seq;
	int deleting;      /* the thread runs */
	pthread_t deleter;
};

static void store_init_locks(struct store *s)
{
	lock_init(&s->lock, LOCK_STORE);
	lock_init(&s->trash_lock, LOCK_TRASH);
	pthread_cond_init(&s->trash_more, NULL);
}

static void slock(struct store *s)
{
	lock_take(&s->lock);
	s->owner = pthread_self();
	s->depth++;
}

static void sunlock(struct store *s)
{
	s->depth--;
	lock_drop(&s->lock);
}

int store_locked(struct store *s)
{
	/* Only the holder can see its own id there with depth > 0. */
	return s->depth > 0 && pthread_equal(s->owner, pthread_self());
}

static int db_error(struct store *s, const char *what)
{
	log_error( "store: %s: %s\n", what,
		sqlite3_errmsg(s->db));
	return -EIO;
}

static int exec_sql(struct store *s, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_error( "store: %s\n",
			msg ? msg : "unknown error");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* Makes PATH's missing parents with PARENT_MODE and PATH with MODE. */
static int mkdir_p(const char *path, mode_t parent_mode, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, parent_mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* ---- a private store ---- */

/*
 * Whoever can write the store can make trainfs run anything as anyone (a
 * job row is a command and a uid), so trainfs trusts a folder or file of
 * the store only when it is owned by trainfs's own user (or by root, who
 * can write anything anyway) and no group or other user may write it.
 */
static int is_private(const struct stat *st)
{
	return (st->st_uid == geteuid() || st->st_uid == 0) &&
	       !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/*
 * Takes read and write away from group and others on the open FD (a store
 * made by an older trainfs was 0755/0644); search on folders stays, so a
 * trainer still reaches its own files.  Only a warning when it cannot.
 */
static void make_private(int fd, const struct stat *st, const char *what)
{
	mode_t keep = st->st_mode & 07777 & ~(mode_t)(S_IRWXG | S_IRWXO);
	if (S_ISDIR(st->st_mode))
		keep |= st->st_mode & (S_IXGRP | S_IXOTH);
	if ((st->st_mode & 07777) == keep || st->st_uid != geteuid())
		return;
	if (fchmod(fd, keep) < 0)
		log_warn("store: cannot close '%s' to other users: %s", what,
			 strerror(errno));
}

/*
 * Opens NAME in DIRFD, a folder when DIR, else a regular file, never
 * through a symbolic link unless FOLLOW (the store's own path may be
 * one), and checks that it is private.  Returns an fd the caller closes,
 * -EPERM when it is not private, or another -errno (-ENOENT: none).
 */
static int open_private(int dirfd, const char *name, int dir, int follow)
{
	struct stat st;
	int flags = O_CLOEXEC | O_NOCTTY | (follow ? 0 : O_NOFOLLOW) |
		    (dir ? O_RDONLY | O_DIRECTORY : O_RDWR | O_NONBLOCK);
	int fd = openat(dirfd, name, flags);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
		return -EPERM; /* a link or a wrong kind where ours should be */
	if (fd < 0)
		return errno == EPERM ? -EACCES : -errno;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if ((dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) ||
	    !is_private(&st)) {
		close(fd);
		return -EPERM;
	}
	make_private(fd, &st, name);
	return fd;
}

/*
 * Opens NAME in DIRFD (a folder when DIR, else a regular file; never
 * through a link) and gives it MODE if it is of that kind.  Returns the
 * fd, or -1 when there is no such thing.
 */
static int open_with_mode(int dirfd, const char *name, int dir, mode_t mode)
{
	struct stat st;
	int fd = openat(dirfd, name,
			O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC |
				(dir ? O_DIRECTORY : O_NONBLOCK));
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 ||
	    (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
		close(fd);
		return -1;
	}
	if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
		log_warn("store: cannot close '%s' to other users: %s", name,
			 strerror(errno));
	return fd;
}

/*
 * A store made by an older trainfs has 0755 folders and 0644 files.  Once,
 * when its jobs/ is found open to others, every job folder is closed as a
 * new one is made (0711), with what its trainer wrote and its weights
 * (0700 folders, 0600 files).
 */
static void close_old_jobs(int jobsfd)
{
	static const char *const dirs[] = { "output", "work", "weights" };
	static const char *const files[] = { "log", "metrics.txt", "launch",
					     "trainer", "exit" };
	int dfd = fcntl(jobsfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dirent *de;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		int jfd, fd;
		if (de->d_name[0] == '.' ||
		    (jfd = open_with_mode(jobsfd, de->d_name, 1, 0711)) < 0)
			continue;
		for (size_t i = 0; i < sizeof files / sizeof *files; i++)
			if ((fd = open_with_mode(jfd, files[i], 0, 0600)) >= 0)
				close(fd);
		for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
			if ((fd = open_with_mode(jfd, dirs[i], 1, 0700)) < 0)
				continue;
			if (!strcmp(dirs[i], "weights")) {
				int wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
				DIR *w = wfd < 0 ? NULL : fdopendir(wfd);
				struct dirent *we;
				int f;
				while (w && (we = readdir(w)))
					if (we->d_name[0] != '.' &&
					    (f = open_with_mode(fd, we->d_name,
								0, 0600)) >= 0)
						close(f);
				if (w)
					closedir(w);
				else if (wfd >= 0)
					close(wfd);
			}
			close(fd);
		}
		close(jfd);
	}
	closedir(d);
}

/*
 * Checks the store folder, its jobs/ and its database files before
 * anything in them is read, and makes what is missing, closed to others:
 * folders 0711, the database 0600 (SQLite gives its -wal and -shm the
 * database's mode).  Returns 0, -EPERM (not private) or -errno.
 */
static int prepare_store(const char *store_dir, int *dir_fd)
{
	static const char *const db_files[] = { "trainfs.db-wal",
						 "trainfs.db-shm" };
	int rc, dirfd, fd;
	if ((rc = mkdir_p(store_dir, 0755, 0711)) < 0) {
		log_error("cannot create store '%s': %s", store_dir,
			  strerror(-rc));
		return rc == -EPERM ? -EACCES : rc;
	}
	/* Resolved, its parents checked: a link here is someone's swap. */
	if ((dirfd = open_private(AT_FDCWD, store_dir, 1, 0)) < 0)
		return dirfd;
	if (mkdirat(dirfd, "jobs", 0711) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error("cannot create '%s/jobs': %s", store_dir,
			  strerror(errno));
		goto out;
	}
	struct stat jst;
	int old = fstatat(dirfd, "jobs", &jst, AT_SYMLINK_NOFOLLOW) == 0 &&
		  (jst.st_mode & 0066); /* make_private() clears it: once */
	if ((fd = open_private(dirfd, "jobs", 1, 0)) < 0) {
		rc = fd;
		goto out;
	}
	if (old)
		close_old_jobs(fd);
	close(fd);
	fd = openat(dirfd, "trainfs.db",
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	if (fd < 0 && (fd = open_private(dirfd, "trainfs.db", 0, 0)) < 0) {
		rc = fd;
		goto out;
	}
	close(fd);
	for (size_t i = 0; i < sizeof db_files / sizeof *db_files; i++) {
		if ((fd = open_private(dirfd, db_files[i], 0, 0)) >= 0)
			close(fd);
		else if (fd != -ENOENT) {
			rc = fd;
			goto out;
		}
	}
	rc = 0;
	*dir_fd = dirfd; /* the store's, for opens beneath it */
	return 0;
out:
	close(dirfd);
	return rc;
}

static int migrate(struct store *s)
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
		log_error(
			"store: schema version %d is newer "
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

/*
 * Removes the job folders that have no row.  A crash between deleting a
 * job's row and its folder leaves one, which nothing would ever show or
 * free; ids are never reused, so it is no job's.  Returns 0 or -EIO.
 */
static int sweep_orphans(struct store *s)
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
			int r = store_remove_tree(dirfd, de->d_name);
			log_warn( "store: removed '%s/%s', the "
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

/*
 * One trainfs per store: an exclusive flock() on STORE/lock, held for as
 * long as the store is open (a daemonizing fork keeps it: the lock belongs
 * to the open file, not the process) and dropped by the kernel when
 * trainfs dies, however it dies.  The file names the holder's pid, for
 * the message a second trainfs gives.  Close-on-exec, so no shim or packer
 * keeps it.  Returns 0 or -EBUSY (said on stderr) or -errno.
 */
static int store_claim(struct store *s)
{
	char path[PATH_MAX], buf[PATH_MAX + 32];
	if (snprintf(path, sizeof path, "%s/lock", s->dir) >= (int)sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = store_claim_lock(fd, buf, sizeof buf);
	if (rc) {
		close(fd);
		if (rc != -EBUSY)
			return rc;
		log_fatal("store %s is in use by pid %ld", s->dir,
			  strtol(buf, NULL, 10));
		return -EBUSY;
	}
	s->lock_fd = fd;
	return store_claim_pid(s, NULL);
}

int store_claim_pid(struct store *s, const char *mountpoint)
{
	char buf[PATH_MAX + 32];
	int n = store_lock_text(buf, sizeof buf, mountpoint);
	if (n < 0)
		return n;
	if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, buf, n, 0) != n)
		return -errno;
	return 0;
}

/*
 * Resolves GIVEN and checks the folders above it before and after making
 * what is missing of it.  Returns 0 and *REAL, STORE_REFUSED (said) or
 * -errno.
 */
static int store_place(const char *given, char **real)
{
	char *again = NULL;
	int rc = store_parents_check(given, real);
	if (!rc && (rc = mkdir_p(*real, 0755, 0711)) < 0)
		log_error("cannot create store '%s': %s", given, strerror(-rc));
	else if (!rc && !(rc = store_parents_check(*real, &again)) &&
		 strcmp(again, *real))
		rc = -EAGAIN; /* it moved meanwhile */
	free(again);
	if (rc == -EPERM)
		rc = STORE_REFUSED;
	if (rc) {
		free(*real);
		*real = NULL;
	}
	return rc;
}

int store_open(const char *store_dir, struct store **out)
{
	char path[PATH_MAX];
	int rc;
	struct store *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->dir_fd = -1;
	store_init_locks(s);
	if ((rc = store_place(store_dir, &s->dir))) {
		store_close(s);
		return rc;
	}
	if (snprintf(path, sizeof path, "%s/trainfs.db", s->dir) >=
	    (int)sizeof path) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	if ((rc = prepare_store(s->dir, &s->dir_fd)) < 0)
		goto fail;
	if ((rc = store_claim(s)))
		goto fail;
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
			    NULL) != SQLITE_OK) {
		rc = db_error(s, "opening the database");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if ((rc = exec_sql(s, "PRAGMA journal_mode=WAL;"
			      "PRAGMA synchronous=NORMAL;"
			      "PRAGMA foreign_keys=ON;")) ||
	    (rc = migrate(s)))
		goto fail;
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, queries[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &s->q[i],
				       NULL) != SQLITE_OK) {
			rc = db_error(s, "preparing a query");
			goto fail;
		}
	if ((rc = sweep_orphans(s)))
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->deleting) {
		lock_take(&s->trash_lock);
		s->trash_quit = 1;
		pthread_cond_signal(&s->trash_more);
		lock_drop(&s->trash_lock);
		pthread_join(s->deleter, NULL);
	}
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->q[i]);
	sqlite3_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s->dir);
	lock_destroy(&s->lock);
	lock_destroy(&s->trash_lock);
	pthread_cond_destroy(&s->trash_more);
	free(s);
}

const char *store_dir(struct store *s)
{
	return s->dir;
}

int store_job_path(struct store *s, int64_t id, const char *rel, char *buf,
		   size_t len)
{
	int n = snprintf(buf, len, "%s/jobs/%lld%s%s", s->dir, (long long)id,
			 *rel ? "/" : "", rel);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int store_begin(struct store *s)
{
	slock(s);
	assert(s->depth == 1); /* no transaction inside a transaction */
	int rc = exec_sql(s, "BEGIN IMMEDIATE");
	if (rc)
		sunlock(s);
	else
		s->in_tx = 1;
	return rc;
}

int store_trybegin(struct store *s)
{
	if (lock_trytake(&s->lock))
		return -EBUSY;
	if (s->depth) { /* ours already: no transaction inside one */
		lock_drop(&s->lock);
		return -EBUSY;
	}
	s->owner = pthread_self();
	s->depth++;
	int rc = exec_sql(s, "BEGIN IMMEDIATE");
	if (rc)
		sunlock(s);
	else
		s->in_tx = 1;
	return rc;
}

int store_commit(struct store *s)
{
	assert(s->in_tx && store_locked(s));
	int rc = exec_sql(s, "COMMIT");
	if (rc && !sqlite3_get_autocommit(s->db))
		exec_sql(s, "ROLLBACK");
	s->in_tx = 0;
	sunlock(s);
	return rc;
}

void store_rollback(struct store *s)
{
	if (!store_locked(s) || !s->in_tx)
		return; /* committed (or failed to) already */
	if (!sqlite3_get_autocommit(s->db))
		exec_sql(s, "ROLLBACK");
	s->in_tx = 0;
	sunlock(s);
}

/* Runs a prepared statement to completion and resets it. */
static int run(struct store *s, sqlite3_stmt *st, const char *what)
{
	assert(store_locked(s));
	int rc = sqlite3_step(st);
	int ret = rc == SQLITE_DONE ? 0 : db_error(s, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
		 : sqlite3_bind_null(st, i);
}

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

int store_job_dir_check(struct store *s, int64_t id)
{
	char rel[64];
	struct stat st;
	snprintf(rel, sizeof rel, "jobs/%lld", (long long)id);
	/* From the store's own descriptor: no link, no other filesystem. */
	int fd = beneath_open(s->dir_fd, rel, O_RDONLY | O_DIRECTORY |
						  O_CLOEXEC, 0);
	if (fd < 0)
		return fd == -ENOTDIR || fd == -EXDEV ? -ELOOP : fd;
	int rc = fstat(fd, &st) < 0 ? -errno : is_private(&st) ? 0 : -ELOOP;
	if (!rc)
		make_private(fd, &st, rel);
	close(fd);
	return rc;
}

int store_open_beneath(struct store *s, const char *rel, int flags,
		       mode_t mode)
{
	return beneath_open(s->dir_fd, rel, flags, mode);
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
	rc = store_remove_tree(dirfd, name);
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

/* ---- the trash ---- */

/* Empties STORE/trash once; returns how many entries it removed. */
static int empty_trash(struct store *s)
{
	char path[PATH_MAX];
	int fd, n = 0;
	snprintf(path, sizeof path, "%s/trash", s->dir);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				     O_CLOEXEC)) < 0)
		return 0;
	int lfd = dup(fd);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		close(fd);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int rc = store_remove_tree(fd, de->d_name);
		if (rc)
			log_error("store: cannot delete '%s/%s': %s\n", path,
				  de->d_name, strerror(-rc));
		else
			n++;
	}
	closedir(d);
	close(fd);
	return n;
}

/* The deleter thread: removes what is put in the trash, outside every lock. */
static void *deleter_main(void *arg)
{
	struct store *s = arg;
	lock_take(&s->trash_lock);
	s->trash_pending = 1; /* what the last run left */
	while (!s->trash_quit) {
		if (!s->trash_pending) {
			lock_wait(&s->trash_more, &s->trash_lock);
			continue;
		}
		s->trash_pending = 0;
		lock_drop(&s->trash_lock);
		empty_trash(s);
		lock_take(&s->trash_lock);
	}
	lock_drop(&s->trash_lock);
	return NULL;
}

int store_start_deleter(struct store *s)
{
	int rc = pthread_create(&s->deleter, NULL, deleter_main, s);
	if (rc)
		return -rc;
	s->deleting = 1;
	return 0;
}

int store_trash(struct store *s, int64_t id, const char *rel)
{
	char src[PATH_MAX], dst[PATH_MAX], trash[PATH_MAX];
	int rc;
	if ((rc = store_job_path(s, id, rel, src, sizeof src)))
		return rc;
	snprintf(trash, sizeof trash, "%s/trash", s->dir);
	if (mkdir(trash, 0700) < 0 && errno != EEXIST)
		goto in_place;
	for (int tries = 0; tries < 100; tries++) {
		lock_take(&s->trash_lock);
		unsigned long seq = ++s->trash_seq;
		lock_drop(&s->trash_lock);
		if (snprintf(dst, sizeof dst, "%s/%lld.%s.%ld.%lu", trash,
			     (long long)id, *rel ? rel : "job", (long)time(NULL),
			     seq) >= (int)sizeof dst)
			goto in_place;
		for (char *p = dst + strlen(trash) + 1; *p; p++)
			if (*p == '/')
				*p = '_';
		if (rename(src, dst) == 0) {
			lock_take(&s->trash_lock);
			s->trash_pending = 1;
			pthread_cond_signal(&s->trash_more);
			lock_drop(&s->trash_lock);
			if (!s->deleting)
				empty_trash(s); /* no thread (tools, tests) */
			return 0;
		}
		if (errno == ENOENT)
			return 0;
		if (errno != EEXIST && errno != ENOTEMPTY)
			break;
	}
in_place:
	log_warn("store: cannot move '%s' to the trash (%s): deleting it "
		 "in place\n", src, strerror(errno));
	{
		char *slash = strrchr(src, '/');
		*slash = '\0';
		int fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? 0 : -errno;
		rc = store_remove_tree(fd, slash + 1);
		close(fd);
	}
	return rc;
}

static int store_put_job_(struct store *s, const struct job_record *r)
{
	sqlite3_stmt *st = s->q[Q_PUT_JOB];
	if (sqlite3_bind_int64(st, 1, r->id) ||
	    sqlite3_bind_int(st, 2, r->state) ||
	    (r->spec ? sqlite3_bind_blob(st, 3, r->spec, r->spec_len,
					 SQLITE_STATIC)
		     : sqlite3_bind_null(st, 3)) ||
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
	    (r->best_epoch >= 0 ? sqlite3_bind_double(st, 17, r->best)
				: sqlite3_bind_null(st, 17)) ||
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
	    sqlite3_bind_int64(st, 29, r->mode) ||
	    bind_text(st, 30, r->gpus) ||
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

static int store_put_event_(struct store *s, int64_t id, int64_t time_ns,
		    const char *state, const char *reason)
{
	sqlite3_stmt *st = s->q[Q_PUT_EVENT];
	if (sqlite3_bind_int64(st, 1, id) ||
	    sqlite3_bind_int64(st, 2, time_ns) || bind_text(st, 3, state) ||
	    bind_text(st, 4, reason))
		return db_error(s, "binding an event");
	return run(s, st, "writing an event");
}

int store_put_event(struct store *s, int64_t id, int64_t time_ns,
		    const char *state, const char *reason)
{
	slock(s);
	int rc = store_put_event_(s, id, time_ns, state, reason);
	sunlock(s);
	return rc;
}

static int store_put_tag_(struct store *s, int64_t id, const char *tag, int system)
{
	sqlite3_stmt *st = s->q[Q_PUT_TAG];
	if (sqlite3_bind_int64(st, 1, id) || bind_text(st, 2, tag) ||
	    sqlite3_bind_int(st, 3, system))
		return db_error(s, "binding a tag");
	return run(s, st, "writing a tag");
}

int store_put_tag(struct store *s, int64_t id, const char *tag, int system)
{
	slock(s);
	int rc = store_put_tag_(s, id, tag, system);
	sunlock(s);
	return rc;
}

static int store_clear_user_tags_(struct store *s, int64_t id)
{
	sqlite3_stmt *st = s->q[Q_CLEAR_USER_TAGS];
	if (sqlite3_bind_int64(st, 1, id))
		return db_error(s, "binding a job id");
	return run(s, st, "clearing tags");
}

int store_clear_user_tags(struct store *s, int64_t id)
{
	slock(s);
	int rc = store_clear_user_tags_(s, id);
	sunlock(s);
	return rc;
}

static int store_remove_tag_(struct store *s, int64_t id, const char *tag)
{
	sqlite3_stmt *st = s->q[Q_REMOVE_TAG];
	if (sqlite3_bind_int64(st, 1, id) || bind_text(st, 2, tag))
		return db_error(s, "binding a tag");
	return run(s, st, "removing a tag");
}

int store_remove_tag(struct store *s, int64_t id, const char *tag)
{
	slock(s);
	int rc = store_remove_tag_(s, id, tag);
	sunlock(s);
	return rc;
}

static int store_delete_metrics_from_(struct store *s, int64_t id,
				      int64_t seq)
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

int store_put_metric(struct store *s, int64_t id, int64_t seq,
		     const char *line)
{
	slock(s);
	int rc = store_put_metric_(s, id, seq, line);
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
	if (sqlite3_prepare_v2(s->db,
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

static int store_load_events_(struct store *s, store_event_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc = 0, step;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT job_id, time_ns, state, reason"
			       " FROM events ORDER BY seq",
			       -1, &st, NULL))
		return db_error(s, "loading events");
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = fn(arg, sqlite3_column_int64(st, 0),
			     sqlite3_column_int64(st, 1),
			     (const char *)sqlite3_column_text(st, 2),
			     (const char *)sqlite3_column_text(st, 3))))
			break;
	if (!rc && step != SQLITE_DONE)
		rc = db_error(s, "loading events");
	sqlite3_finalize(st);
	return rc;
}

int store_load_events(struct store *s, store_event_fn fn, void *arg)
{
	slock(s);
	int rc = store_load_events_(s, fn, arg);
	sunlock(s);
	return rc;
}

static int store_load_tags_(struct store *s, store_tag_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int rc = 0, step;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT job_id, tag, system FROM tags"
			       " ORDER BY seq",
			       -1, &st, NULL))
		return db_error(s, "loading tags");
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = fn(arg, sqlite3_column_int64(st, 0),
			     (const char *)sqlite3_column_text(st, 1),
			     sqlite3_column_int(st, 2))))
			break;
	if (!rc && step != SQLITE_DONE)
		rc = db_error(s, "loading tags");
	sqlite3_finalize(st);
	return rc;
}

int store_load_tags(struct store *s, store_tag_fn fn, void *arg)
{
	slock(s);
	int rc = store_load_tags_(s, fn, arg);
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
					(const char *)sqlite3_column_text(st, 1);
				after = sqlite3_column_int64(st, 0);
				if (!(page[rows] = strdup(t ? t : ""))) {
					rc = -ENOMEM;
					break;
				}
				bytes += strlen(page[rows++]);
			}
			full = rows == METRICS_PAGE || bytes >= METRICS_PAGE_BYTES;
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
 * The walk of store_remove_tree() holds one folder open at a time, so no
 * depth runs it out of descriptors: each folder is read once (files
 * removed, subfolder names kept), then its subfolders are entered one by
 * one, and on the way up ".." is opened and checked against the folder
 * recorded on the way down (device and inode), so a folder a trainer moved
 * meanwhile never leads the walk out of the tree.
 */
struct walk_level {
	char *name;  /* in its parent */
	dev_t dev;
	ino_t ino;
	char **subs; /* subfolders still to enter */
	size_t nsubs, next;
};

static void walk_level_free(struct walk_level *l)
{
	for (size_t i = l->next; i < l->nsubs; i++)
		free(l->subs[i]);
	free(l->subs);
	free(l->name);
}

static void walk_note(int *rc, int err)
{
	if (err && err != -ENOENT && !*rc)
		*rc = err;
}

/*
 * Reads the folder open on FD once: removes what is not a folder, keeps
 * the names of subfolders in L.  Errors go to *RC; returns -ENOMEM only.
 */
static int walk_read(int fd, struct walk_level *l, int *rc)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dirent *de;
	size_t cap = 0;
	if (!d) {
		walk_note(rc, -errno);
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while ((errno = 0, de = readdir(d))) {
		const char *n = de->d_name;
		mode_t mode = 0;
		int dir = de->d_type == DT_DIR;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		/*
		 * A folder is entered only on this filesystem: a mount there
		 * (a user's FUSE mount that never answers) is left alone.
		 */
		if (dir || de->d_type == DT_UNKNOWN) {
			int lrc = userfile_local(fd, n, &mode);
			if (lrc) {
				walk_note(rc, lrc);
				continue;
			}
			dir = S_ISDIR(mode);
		}
		if (!dir && unlinkat(fd, n, 0) == 0)
			continue;
		if (!dir && errno != EISDIR) {
			walk_note(rc, -errno);
			continue;
		}
		if (l->nsubs == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			char **ns = realloc(l->subs, ncap * sizeof *ns);
			if (!ns)
				goto nomem;
			l->subs = ns;
			cap = ncap;
		}
		if (!(l->subs[l->nsubs] = strdup(n)))
			goto nomem;
		l->nsubs++;
	}
	walk_note(rc, -errno);
	closedir(d);
	return 0;
nomem:
	closedir(d);
	return -ENOMEM;
}

int store_remove_tree(int dirfd, const char *name)
{
	struct walk_level *lv = NULL;
	size_t depth = 0, cap = 0;
	struct stat st;
	char *sub; /* the folder just entered, open on FD; owned here */
	int rc = 0, r = 0, fd;
	mode_t mode;
	if ((r = userfile_local(dirfd, name, &mode)))
		return r == -ENOENT ? 0 : r;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ENOTDIR || errno == ELOOP)
			return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
		return -errno;
	}
	if (!(sub = strdup(name))) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (fstat(fd, &st) < 0) {
			r = -errno;
			goto fail;
		}
		if (depth == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct walk_level *n = realloc(lv, ncap * sizeof *n);
			if (!n) {
				r = -ENOMEM;
				goto fail;
			}
			lv = n;
			cap = ncap;
		}
		lv[depth++] = (struct walk_level){ .name = sub,
						   .dev = st.st_dev,
						   .ino = st.st_ino };
		sub = NULL;
		if ((r = walk_read(fd, &lv[depth - 1], &rc)))
			goto fail;
		/* The next subfolder to enter, going up while there is none. */
		while (!sub) {
			struct walk_level *l = &lv[depth - 1];
			if (l->next < l->nsubs) {
				char *s = l->subs[l->next++];
				int sfd = openat(fd, s, O_RDONLY | O_DIRECTORY |
								O_NOFOLLOW | O_CLOEXEC);
				if (sfd < 0 && (errno == ENOTDIR || errno == ELOOP))
					walk_note(&rc, unlinkat(fd, s, 0) < 0 ? -errno : 0);
				else if (sfd < 0)
					walk_note(&rc, -errno);
				if (sfd < 0) {
					free(s);
					continue;
				}
				close(fd);
				fd = sfd;
				sub = s;
				continue;
			}
			int pfd = dirfd;
			if (depth > 1) {
				struct stat pst;
				pfd = openat(fd, "..", O_RDONLY | O_DIRECTORY |
							       O_CLOEXEC);
				if (pfd < 0) {
					r = -errno;
					goto fail;
				}
				if (fstat(pfd, &pst) < 0 ||
				    pst.st_dev != lv[depth - 2].dev ||
				    pst.st_ino != lv[depth - 2].ino) {
					close(pfd);
					log_warn("store: a folder moved while "
						 "being removed: stopped");
					r = -ESTALE;
					goto fail;
				}
			}
			close(fd);
			fd = -1;
			if (unlinkat(pfd, l->name, AT_REMOVEDIR) < 0)
				walk_note(&rc, -errno);
			walk_level_free(l);
			if (--depth == 0)
				goto out;
			fd = pfd;
		}
	}
fail:
	walk_note(&rc, r);
	free(sub);
	if (fd >= 0)
		close(fd);
	while (depth)
		walk_level_free(&lv[--depth]);
out:
	free(lv);
	return rc;
}

int store_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int store_write_file_atomic(const char *path, const void *buf, size_t len)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, rc;
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -errno;
	rc = store_write_all(fd, buf, len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			if (fsync(fd) < 0)
				rc = -errno;
			close(fd);
		}
	}
	return rc;
}

/* ---- for the other files of store/ (sweeps.c) ---- */

void store_hold(struct store *s)
{
	slock(s);
}

void store_release(struct store *s)
{
	sunlock(s);
}

sqlite3 *store_db(struct store *s)
{
	assert(store_locked(s));
	return s->db;
}

int store_db_error(struct store *s, const char *what)
{
	return db_error(s, what);
}

/*
 * store_i: what the files of store/ share, and nothing outside store/
 * includes: the handle, the statements prepared at open, and the small
 * helpers that run them.
 *
 * Who owns what: store.c the handle (open, close, the one-trainfs claim,
 * the store lock and transactions); schema.c the tables, their upgrades
 * and the statements; private.c the checks that keep the store closed to
 * other users; jobrows.c, events.c, tags.c, metricrows.c (and sweeps.c,
 * on its own) the rows of their tables; trash.c the deleter thread.
 *
 * Locks: the store lock (lock, recursive) protects db, q[] and in_tx; a
 * file takes it with slock() for its statement, which inside the caller's
 * store_begin() is a second turn of the same lock.  trash_lock protects
 * the deleter's fields only; nothing else is taken while it is held.
 */
#ifndef TRAINFS_STORE_I_H
#define TRAINFS_STORE_I_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>

#include <sqlite3.h>

#include "store/store.h"
#include "util/compiler.h"
#include "util/lock.h"
#include "util/log.h"

/* The statements prepared once at open (their text: schema.c). */
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

extern const char *const store_queries[Q_COUNT];

struct store {
	/*
	 * The store lock (store.h): the connection, q[] and in_tx.  Recursive,
	 * so a statement inside the holder's transaction takes it again.
	 */
	struct lock lock;
	pthread_t owner; /* who holds it, while depth > 0 */
	int depth;
	int in_tx; /* a transaction is open (its owner holds the lock) */
	sqlite3 *db;
	char *dir;   /* resolved: no link, every parent checked */
	int dir_fd;  /* the store folder, for opens beneath it */
	int lock_fd; /* STORE/lock, flock()ed while this store is open */
	sqlite3_stmt *q[Q_COUNT];

	/* The deleter: trash_lock protects the fields below it. */
	struct lock trash_lock;
	pthread_cond_t trash_more;
	int trash_pending; /* something was put in the trash */
	int trash_quit;
	unsigned long trash_seq;
	int deleting; /* the thread runs */
	pthread_t deleter;
};

/* The store lock, taken again by its holder (it is recursive). */
static inline void slock(struct store *s)
{
	lock_take(&s->lock);
	s->owner = pthread_self();
	s->depth++;
}

static inline void sunlock(struct store *s)
{
	s->depth--;
	lock_drop(&s->lock);
}

/* Says SQLite's last error with WHAT was being done; returns -EIO. */
static inline int db_error(struct store *s, const char *what)
{
	log_error("store: %s: %s\n", what, sqlite3_errmsg(s->db));
	return -EIO;
}

/* Runs SQL (statements without results); 0 or -EIO, said. */
static inline int exec_sql(struct store *s, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_error("store: %s\n", msg ? msg : "unknown error");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* Runs a prepared statement to completion and resets it. */
static inline int run(struct store *s, sqlite3_stmt *st, const char *what)
{
	assert(store_locked(s));
	int rc = sqlite3_step(st);
	int ret = rc == SQLITE_DONE ? 0 : db_error(s, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static inline int bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) :
		   sqlite3_bind_null(st, i);
}

/* store.c: the store's and the trash queue's locks, made once at open. */
void store_init_locks(struct store *s);

/* schema.c: brings the database up to this trainfs's schema; 0 or -errno. */
MUST_CHECK int store_migrate(struct store *s);

/*
 * private.c: checks the store folder STORE_DIR, its jobs/ and database
 * files and makes what is missing, closed to others; *DIR_FD is then the
 * store folder's descriptor.  0, -EPERM (not private) or -errno.
 */
MUST_CHECK int store_prepare_dir(const char *store_dir, int *dir_fd);

/* jobrows.c: removes the job folders that have no row; 0 or -EIO. */
MUST_CHECK int store_sweep_orphans(struct store *s);

/* trash.c: stops the deleter thread, if it runs, and waits for it. */
void store_stop_deleter(struct store *s);

#endif

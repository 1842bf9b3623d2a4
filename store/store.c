/*
 * store: the handle on a trainfs store: the store lock, its paths and the
 * transactions.  Opening and closing it is open.c's; the other files of
 * store/ hold the tables' rows (store_i.h says which file owns what).
 *
 * WAL mode with synchronous=NORMAL: a commit survives a crash of trainfs
 * (kill -9); a power cut may lose the last commits but never corrupts the
 * database.  Statements are prepared once and reused.
 *
 * The store is private (private.c): whoever can write it can make trainfs
 * run anything as anyone, so it is checked before a byte of it is read,
 * and everything trainfs makes in it is closed to others.
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
#include <pthread.h>

#include <sqlite3.h>

#include "store/parents.h"
#include "store/store_i.h"
#include "store/sweeps.h"
#include "util/beneath.h"
#include "util/file.h"
#include "util/lock.h"
#include "util/log.h"

void store_init_locks(struct store *s)
{
	lock_init(&s->lock, LOCK_STORE);
	lock_init(&s->trash_lock, LOCK_TRASH);
	pthread_cond_init(&s->trash_more, NULL);
}

int store_locked(struct store *s)
{
	/* Only the holder can see its own id there with depth > 0. */
	return s->depth > 0 && pthread_equal(s->owner, pthread_self());
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

int store_open_beneath(struct store *s, const char *rel, int flags, mode_t mode)
{
	return beneath_open(s->dir_fd, rel, flags, mode);
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

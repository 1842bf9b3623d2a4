/*
 * store/tags: the tags table, a job's tags in the order they were given:
 * system tags (failed, converged, ...) that trainfs sets and user tags
 * that the owner writes.  Each function takes the store lock for its
 * statement (a second turn inside the caller's store_begin()).
 */
#include <sqlite3.h>

#include "store/store_i.h"

static int store_put_tag_(struct store *s, int64_t id, const char *tag,
			  int system)
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

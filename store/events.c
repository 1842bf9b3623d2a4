/*
 * store/events: the events table, a job's history ("when it became what,
 * and why"), appended to and read back whole at mount.  Each function
 * takes the store lock for its statement (a second turn inside the
 * caller's store_begin()).
 */
#include <sqlite3.h>

#include "store/store_i.h"

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

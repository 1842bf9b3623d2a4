/*
 * store: the SQLite database and the on-disk layout of a trainfs store.
 *
 *   (folders 0711 and files 0600, closed to other users; see store_open)
 *   STORE/trainfs.db         jobs, events, tags, metrics (WAL mode)
 *   STORE/jobs/ID/           a job's folder (ID never reused)
 *       output/  work/       TRAINFS_OUTPUT, default workdir
 *       metrics.txt  log     TRAINFS_METRICS, the trainer's stdout+stderr
 *       stop                 TRAINFS_STOP_FILE
 *       checkpoints/epoch-N/ TRAINFS_CHECKPOINTS, the trainer's checkpoints
 *       launch shim.sock trainer exit   the executor's files
 *       weights/NAME.tar     the tarball, renamed in when complete
 *   STORE/trash/             folders being deleted (by the deleter thread)
 *
 * The store knows the schema and the paths, nothing of the lifecycle: a job
 * row is a plain record that jobs/ fills.  Every function returns 0 or a
 * negative errno (-EIO for an SQLite failure, whose message goes to stderr).
 *
 * The store lock (nothing of the store's is taken while it is held; jobs/
 * takes its registry lock inside a transaction: registry.h) protects
 * the one SQLite connection.  store_begin() takes it and store_commit() or
 * store_rollback() lets it go, so a transaction is one holder's; each other
 * function takes it for its own statement.  Callers keep transactions small
 * (one user operation, one bounded ingest step), since every job waits on
 * it.  Folders are deleted by moving them into STORE/trash/ (one rename)
 * and emptying that in the deleter thread, outside every lock; what is left
 * there at the next start goes then.
 *
 * Which file owns what: store.c the handle, the claim and transactions;
 * schema.c the tables and their upgrades; private.c the checks that keep
 * the store closed; jobrows.c job rows and folders; events.c, tags.c and
 * metricrows.c those tables; trash.c the deleter; claim.c the lock file's
 * text; parents.c the folders above the store; sweeps.c the sweeps'
 * tables (sweeps.h).  store_i.h is what they share, private to store/.
 */
#ifndef TRAINFS_STORE_H
#define TRAINFS_STORE_H

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/compiler.h"

#define STORE_MTIMES 8
/* Longest job name in bytes (the job layer's rule; room for .tar.zst). */
#define JOB_RECORD_NAME_MAX 240

/* One row of the jobs table.  Strings are owned by the record. */
struct job_record {
	int64_t id;
	char name[JOB_RECORD_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	int state;
	char *spec; /* as written (NUL bytes too); NULL: never */
	size_t spec_len;
	int64_t created_ns;
	int64_t started_ns;  /* 0: not yet */
	int64_t finished_ns; /* trainer ended; 0: not yet */
	int64_t kill_at_ns;  /* stopping: when SIGKILL follows */
	char *reason;	     /* stopped-early, converged, completed */
	char *error;
	char *last_refused;
	char *weights; /* file name in weights/ once ready */
	int64_t bad_lines;
	int64_t metrics_offset; /* bytes of metrics.txt already taken in */
	int64_t nrows;	    /* metrics rows stored; -1: unknown (schema 1) */
	int64_t last_epoch; /* the last reported epoch; -1: none */
	double best;	    /* the monitored metric's best value ... */
	int64_t best_epoch; /* ... and its epoch; -1: none yet */
	int64_t waited;	    /* reported epochs since the best */
	int64_t metrics_lines; /* lines of metrics.txt taken in (its current file) */
	int64_t metrics_ino; /* the inode of that file; 0: unknown */
	int64_t bad_line;    /* the last bad metrics line's number (1-based) */
	char *bad_why;	     /* ... and why it is bad; NULL: none */
	int64_t checkpoint;  /* the newest kept checkpoint's epoch; -1: none */
	int64_t weights_from; /* the checkpoint packed as the weights; -1: output */
	int64_t resumed_from; /* the epoch of the last resume; -1: never */
	int64_t slurm_id;     /* the Slurm job id once submitted; 0: none */
	mode_t mode;	      /* the job folder's mode (jobs/core/access.h) */
	char *gpus; /* the GPU ids its trainer holds ("1,3"); NULL: none */
	char *source_pos; /* where metrics_from was read to; NULL: not found */
	int64_t mtime_ns[STORE_MTIMES];
};

struct store;

/*
 * Opens (creating) STORE_DIR and its database; *out owned by the caller.
 * The store is private (folders 0711, files 0600): before anything in it
 * is read, a store folder, jobs/ or database owned by another user or
 * writable by group or others is refused with -EPERM, which no other
 * failure returns.  Before anything is made, a store any of whose parent
 * folders another user could write (a sticky one only above a folder not
 * root's or trainfs's own) is refused with STORE_REFUSED, once the reason
 * is said.  The store's path is then kept resolved, without links.
 */
#define STORE_REFUSED (-ECANCELED)
MUST_CHECK int store_open(const char *store_dir, struct store **out);
void store_close(struct store *s);
/*
 * Writes this process's pid into STORE/lock (after a daemonizing fork, so
 * a second trainfs names the right one), and MOUNTPOINT (NULL: not mounted
 * yet), by which a second trainfs tells a trainfs that is leaving (its
 * mount point no longer mounted) from one in use.  0 or -errno.
 */
MUST_CHECK int store_claim_pid(struct store *s, const char *mountpoint);

/* claim.c.  The lock file's text for this process at MOUNTPOINT (or
 * NULL) in BUF: its length, or -ENAMETOOLONG. */
MUST_CHECK int store_lock_text(char *buf, size_t len, const char *mountpoint);
/*
 * Takes the exclusive flock() on the lock file FD, waiting up to 10 s
 * while its holder has been unmounted and is only finishing its exit.
 * 0, or -EBUSY with the holder's text in TEXT (LEN bytes), or -errno.
 */
MUST_CHECK int store_claim_lock(int fd, char *text, size_t len);

/* The store folder, and the job folder path of ID (static to the store). */
const char *store_dir(struct store *s);
/* Writes STORE/jobs/ID/REL (REL may be "") into buf; -ENAMETOOLONG if it does not fit. */
MUST_CHECK int store_job_path(struct store *s, int64_t id, const char *rel,
			      char *buf, size_t len);

/*
 * Checks that the folder of job ID is a folder of trainfs's own, closed
 * to others, and not a symbolic link; closes an older store's 0755 one.
 * Returns 0, -ELOOP (a link, or not private) or -errno.
 */
MUST_CHECK int store_job_dir_check(struct store *s, int64_t id);

/*
 * Opens REL (relative, "jobs/12/run/launch") beneath the store's own
 * folder descriptor as openat would, never through a link, ".." or into
 * another filesystem.  Returns the fd (the caller closes it) or -errno.
 */
MUST_CHECK int store_open_beneath(struct store *s, const char *rel, int flags,
				  mode_t mode);

/* A transaction: begin takes the store lock; commit or rollback drop it. */
MUST_CHECK int store_begin(struct store *s);
/* store_begin(), or -EBUSY at once when another thread holds the lock. */
MUST_CHECK int store_trybegin(struct store *s);
/* On failure the transaction is rolled back (and the lock let go) too. */
MUST_CHECK int store_commit(struct store *s);
/* Nothing when the caller has no transaction open. */
void store_rollback(struct store *s);
/* Whether this thread holds the store lock (for assertions). */
int store_locked(struct store *s);

/* Starts the deleter thread, which first empties what trash is left. */
MUST_CHECK int store_start_deleter(struct store *s);
/*
 * Moves STORE/jobs/ID/REL (REL "" for the whole job folder) into the trash
 * for the deleter; 0 also when it did not exist.  Falls back to deleting it
 * in place when it cannot be moved.
 */
MUST_CHECK int store_trash(struct store *s, int64_t id, const char *rel);

/* Inserts a job row (rec->id is set) and makes its folder. */
MUST_CHECK int store_create_job(struct store *s, struct job_record *rec);
/*
 * Deletes the row, its events, tags and metrics, and moves its folder to
 * the trash (on a full disk the folder is deleted first, in place, to make
 * room for the delete).
 */
MUST_CHECK int store_delete_job(struct store *s, int64_t id);
/* Writes every column of REC. */
MUST_CHECK int store_put_job(struct store *s, const struct job_record *rec);
MUST_CHECK int store_put_event(struct store *s, int64_t id, int64_t time_ns,
			       const char *state, const char *reason);
MUST_CHECK int store_put_tag(struct store *s, int64_t id, const char *tag,
			     int system);
MUST_CHECK int store_clear_user_tags(struct store *s, int64_t id);
MUST_CHECK int store_put_metric(struct store *s, int64_t id, int64_t seq,
				const char *line);
/* Removes TAG (system or user) of job ID; 0 also when it had none. */
MUST_CHECK int store_remove_tag(struct store *s, int64_t id, const char *tag);
/* Deletes the metrics rows of job ID numbered SEQ and up (a resume). */
MUST_CHECK int store_delete_metrics_from(struct store *s, int64_t id,
					 int64_t seq);

/* Calls back for each row; a non-zero return from the callback stops and is returned. */
typedef int (*store_job_fn)(void *arg, struct job_record *rec);
typedef int (*store_event_fn)(void *arg, int64_t id, int64_t time_ns,
			      const char *state, const char *reason);
typedef int (*store_tag_fn)(void *arg, int64_t id, const char *tag, int system);
typedef int (*store_metric_fn)(void *arg, int64_t id, const char *line);

/* The callback owns the strings of REC (free with store_record_free). */
MUST_CHECK int store_load_jobs(struct store *s, store_job_fn fn, void *arg);
MUST_CHECK int store_load_events(struct store *s, store_event_fn fn, void *arg);
MUST_CHECK int store_load_tags(struct store *s, store_tag_fn fn, void *arg);
/* The metrics rows of job ID, in order. */
MUST_CHECK int store_load_job_metrics(struct store *s, int64_t id,
				      store_metric_fn fn, void *arg);

void store_record_free(struct job_record *rec);

#endif

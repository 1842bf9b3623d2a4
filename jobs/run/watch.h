/*
 * watch: following a trainer's metrics file and applying auto-stop to its
 * rows as they stand, the one way both the supervisor (mounted) and the
 * job's shim (while trainfs is unmounted) do it.
 *
 * Rows: several lines for one epoch make one row (found through a
 * watch_index, so a line costs O(1) however many rows there are); later
 * values fill in and replace earlier ones, and the policy follows the
 * rows as they stand (watch_policy_update): it keeps its state from before
 * the last row, so a change of the last row is observed again from there,
 * and a change of an older row recomputes it from every row.
 *
 * Files: a trainer may rewrite its file instead of appending (truncate it,
 * or rename a new one over it); watch_tail_rewritten() (watch_tail.h) notices either, and the
 * follower then reads the file again from the start.
 */
#ifndef TRAINFS_WATCH_H
#define TRAINFS_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jobs/model/metrics.h"
#include "jobs/run/watch_tail.h"
#include "util/compiler.h"

/*
 * Rows by epoch: open addressing over the rows' epochs (EPOCHS, kept by
 * the owner of the rows), row + 1 in each slot, 0 free; at most half full.
 * A zeroed index is empty.
 */
struct watch_index {
	size_t *slots;
	size_t cap; /* a power of 2, or 0 */
};

/* The row of EPOCH, or -1 when no row has it. */
long watch_index_find(const struct watch_index *x, const long *epochs,
		      long epoch);

/*
 * Indexes row ROW (the last of NROWS rows, its epoch new), growing the
 * index as needed.  Returns 0 or -ENOMEM (the row is then not indexed:
 * call watch_index_rebuild() before trusting the index again).
 */
MUST_CHECK int watch_index_add(struct watch_index *x, const long *epochs,
			       size_t nrows, size_t row);

/* Indexes the first NROWS rows afresh (after rows were dropped); 0 or -ENOMEM. */
MUST_CHECK int watch_index_rebuild(struct watch_index *x, const long *epochs,
				   size_t nrows);

void watch_index_free(struct watch_index *x);

/*
 * The monitored value of row ROW: sets *EPOCH, and *VALUE when the row has
 * one (returns 1), else returns 0.
 */
typedef int (*watch_row_fn)(void *arg, size_t row, long *epoch, double *value);

/*
 * The policy of a series of rows: BASE before the first row (nothing
 * observed, or what was observed before the series began), NOW after every
 * row, BEFORE after every row but the last (valid when BEFORE_OK).
 */
struct watch_policy {
	struct autostop base;
	struct autostop now;
	struct autostop before;
	int before_ok;
};

/* Starts a policy over no rows (the parameters of autostop_init()). */
void watch_policy_init(struct watch_policy *p, int mode_min, double min_delta,
		       long patience);

/*
 * Brings P up to date after row ROW of NROWS changed (APPENDED: it is new
 * and the last).  Reads rows through FN.  Returns 1 when the job should
 * stop (patience reached), else 0.  Bounded by NROWS observations when an
 * older row changed, one otherwise.
 */
int watch_policy_update(struct watch_policy *p, size_t nrows, size_t row,
			int appended, watch_row_fn fn, void *arg);

/*
 * The shim's follower: a job's metrics file, its rows' monitored values
 * and the policy over them.  A zeroed one with watch_follow_init() is
 * ready.
 */
struct watch_follow {
	const char *path;    /* the metrics file */
	const char *monitor; /* the monitored metric */
	int fd;
	int64_t read;
	struct watch_tail tail;
	struct line_splitter *splitter;
	long *epochs;
	struct watch_index index;
	double *values; /* NaN with has[] 0: none reported */
	unsigned char *has;
	size_t n, cap;
	struct watch_policy policy;
	int stop;	 /* the policy said stop */
	long stop_epoch; /* the last reported epoch then */
};

/* Starts following PATH for MONITOR with policy P (copied); 0 or -ENOMEM. */
MUST_CHECK int watch_follow_init(struct watch_follow *w, const char *path,
				 const char *monitor,
				 const struct watch_policy *p);

/*
 * Reads at most MAX_BYTES more of the file and applies every complete
 * line.  Returns 1 once the policy says stop (w->stop_epoch set), else 0.
 */
int watch_follow_step(struct watch_follow *w, size_t max_bytes);

void watch_follow_free(struct watch_follow *w);

/*
 * Auto-stop in the shim.  The launch file carries "watch.*" pairs (the
 * policy's parameters, its state at launch, where the metrics file was
 * taken up to and, for a job with metrics_from, the source's path and the
 * position it was committed at); the shim follows both every tick, the
 * source with the owner's rights as trainfs reads it, and, when the policy
 * says stop, records EXEC_AUTOSTOP_FILE (exec.h) in the job folder and
 * stops the trainer as a user's stop would.  trainfs treats that record as an
 * auto-stop, mounted or at the next mount.
 */
#define WATCH_SHIM_BYTES (256 * 1024) /* read per tick */

/* What the shim is to follow besides the metrics file: a job's
 * metrics_from (absolute PATH; POS what source_pos() gave, or NULL). */
struct watch_source {
	const char *path;
	const char *pos;
};

/*
 * The launch pairs ("k\0v\0..." as the launch file holds them) for a job
 * watching MONITOR with policy P from OFFSET of its metrics file and from
 * SRC (NULL or a NULL path: none), into a malloc'd *OUT of *LEN bytes (the
 * caller frees).  MONITOR NULL or no patience: nothing (*OUT NULL, 0).
 * Returns 0 or -ENOMEM.
 */
MUST_CHECK int watch_launch_encode(char **out, size_t *len, const char *monitor,
				   const struct autostop *p, int64_t offset,
				   const struct watch_source *src);

/* The shim's side; zeroed, it watches nothing. */
struct watch_shim {
	char *monitor;
	struct autostop policy;
	int64_t offset;
	char *source_path, *source_pos; /* metrics_from, or NULL */
	struct source *source;
	int started, done;
	struct watch_follow follow;
};

/* Takes the launch pair K, V if it is one of ours: 1, else 0. */
int watch_shim_key(struct watch_shim *w, const char *k, const char *v);

/*
 * One tick in the job folder (the shim's cwd): reads at most
 * WATCH_SHIM_BYTES of metrics.txt and one bounded step of the source, as
 * UID/GID (the job's owner).  Returns 1 once, when the policy says stop
 * (the record is written by then), else 0.
 */
int watch_shim_tick(struct watch_shim *w, uid_t uid, gid_t gid);

void watch_shim_free(struct watch_shim *w);

/*
 * Reads JOB_DIR's auto-stop record: 0, *EPOCH and *TIME_NS (when the shim
 * stopped the trainer; 0 in a record from before times were kept), or
 * -ENOENT / -errno.
 */
MUST_CHECK int watch_read_autostop(const char *job_dir, long *epoch,
				   int64_t *time_ns);

#endif

/*
 * dashboard: MOUNT/index.html and MOUNT/summary.csv, rendered from a
 * snapshot of small per-job summaries.  Each job is copied under its own
 * lock (dash_add_job(), bookkeeping only: a few copies per job); owners
 * are resolved and both files rendered after the lock is let go, so
 * rendering 10,000 jobs never holds up a request about any job.
 *
 * All strings of a snapshot live in its own arena and are freed with it.
 */
#ifndef TRAINFS_DASHBOARD_H
#define TRAINFS_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/compiler.h"

#define DASH_SPARK_MAX 60  /* points of a job's sparkline */
#define DASH_HTML_FULL 300 /* newest jobs index.html shows row by row */
#define DASH_REFRESH_SECONDS 5

/* What index.html and summary.csv show of one job. */
struct dash_job {
	const char *name;
	int state; /* enum job_state */
	uid_t uid;
	const char *owner;   /* user name, or NULL: the uid is shown */
	long epoch;	     /* the last reported epoch; -1: none */
	long epochs;	     /* target epochs; 0: none */
	const char *monitor; /* NULL: no monitor */
	int have_best;
	double best;
	long best_epoch;
	const char *reason; /* stopped-early, converged, completed, or NULL */
	const char **tags;
	size_t ntags;
	int64_t created_ns, started_ns, finished_ns; /* 0: not (yet) */
	const char *weights; /* file name in weights/, NULL until ready */
	const char *sweep;   /* the sweep a trial belongs to, or NULL */
	const char *message; /* status's message, or NULL */
	const char *error;   /* status's error, or NULL */
	int progress;	     /* packaging: percent packed; -1 otherwise */
	const char *gpus; /* running or stopping: its GPU ids ("1,3"), or NULL */
	const double *spark; /* the monitored metric, at most DASH_SPARK_MAX */
	size_t nspark;	     /* points, oldest first; nan/inf are gaps */
};

struct dash_snapshot;

/* What index.html shows of one sweep: its status lines. */
struct dash_sweep {
	const char *name, *state, *trials, *best, *epochs, *error;
};
/* Appends a sweep to S (copies); NULL when out of memory. */
struct dash_sweep *dash_add_sweep(struct dash_snapshot *s, const char *name,
				  const char *state, const char *trials,
				  const char *best, const char *epochs,
				  const char *error);

/* A new, empty snapshot taken at NOW_NS, or NULL (no memory). */
struct dash_snapshot *dash_snapshot_new(int64_t now_ns);
void dash_snapshot_free(struct dash_snapshot *s);

/*
 * A zeroed summary appended to S (jobs in creation order, oldest first),
 * with epoch -1, best_epoch -1 and progress -1; NULL when out of memory.
 * Valid until S is freed.
 */
struct dash_job *dash_new_job(struct dash_snapshot *s);

/* A copy of STR (NULL stays NULL) in S's arena; NULL when out of memory. */
const char *dash_strdup(struct dash_snapshot *s, const char *str);
/* N zeroed bytes in S's arena, or NULL. */
void *dash_alloc(struct dash_snapshot *s, size_t n);

/* The jobs of S and how many. */
struct dash_job *dash_jobs(const struct dash_snapshot *s, size_t *n);

/*
 * Downsamples the N values of V to at most MAX points into OUT (evenly
 * spaced, first and last kept; nan and inf stay so that they show as
 * gaps).  Returns how many were written.
 */
size_t dash_spark_sample(const double *v, size_t n, double *out, size_t max);

/*
 * Fills every owner from its uid (getpwuid_r, each uid once).  Call
 * without any lock: a name service may be slow.
 */
void dash_resolve_owners(struct dash_snapshot *s);

/*
 * summary.csv and index.html of S into a malloc'd *out of *len bytes,
 * which the caller frees.  Need no lock.  Return 0 or -ENOMEM.
 */
MUST_CHECK int dash_render_csv(const struct dash_snapshot *s, char **out,
			       size_t *len);
MUST_CHECK int dash_render_html(const struct dash_snapshot *s, char **out,
				size_t *len);

/* The header line of summary.csv, without its newline. */
extern const char dash_csv_header[];

/* Writes V with 6 significant digits ("0.593975", "1e-05", "nan"). */
char *dash_format_number(double v, char *buf, size_t len);

/* NS as RFC 3339 UTC ("2026-11-27T23:59:01Z"), or "" for 0; returns buf. */
char *dash_format_time(int64_t ns, char *buf, size_t len);

struct job;
enum dash_what {
	DASH_STATE_ONLY, /* index.html only counts the jobs it does not show */
	DASH_SUMMARY,	 /* what summary.csv shows */
	DASH_WITH_SPARK, /* and the sparkline, for a row of index.html */
};
/*
 * Appends a summary of JOB to S, with JOB's lock held: copies, no
 * I/O.  The sparkline is taken only when JOB's metrics table is in memory
 * (the caller loads it for the jobs index.html shows).  Returns 0 or
 * -ENOMEM.
 */
MUST_CHECK int dash_add_job(struct dash_snapshot *s, const struct job *job,
			    enum dash_what what);

#endif

/*
 * dashfiles: MOUNT/index.html and MOUNT/summary.csv as files of the mount.
 *
 * Each is rendered (dashboard.c) from a snapshot of every job, copied job
 * by job under each job's own lock (jobs_visit); owners are resolved and
 * the text rendered with no lock held.  The last rendering of each file is
 * kept with a fingerprint of what it was made from (every job's id and
 * change count, and for the page the minute, since it says "3 min ago"),
 * so a stat, a lookup and an open of an unchanged dashboard cost one pass
 * over the job list, not a rendering.  Open files share the rendering
 * (a reference each, charged to the opener by ops.c), never a copy.  Both files are served with direct
 * I/O and no attribute cache: they change whenever any job does, and a
 * stat always asks for the true size.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs/dashboard.h"
#include "fs/fs.h"

struct dash_text {
	struct rendering *r; /* the newest, shared with its open files */
	uint64_t fp;
	int valid;
	int64_t mtime_ns; /* when the text last changed */
};

struct dash_files {
	pthread_mutex_t lock; /* protects text[]; taken with no other lock */
	struct dash_text text[2]; /* index.html, summary.csv */
};

struct dash_files *dash_files_new(void)
{
	struct dash_files *d = calloc(1, sizeof *d);
	if (d)
		pthread_mutex_init(&d->lock, NULL);
	return d;
}

void dash_files_free(struct dash_files *d)
{
	if (!d)
		return;
	for (int i = 0; i < 2; i++) /* the open files let go of theirs */
		if (d->text[i].r) {
			free(d->text[i].r->text);
			free(d->text[i].r);
		}
	pthread_mutex_destroy(&d->lock);
	free(d);
}

enum node_kind dash_files_kind(const char *name)
{
	if (!strcmp(name, "index.html"))
		return N_INDEX;
	if (!strcmp(name, "summary.csv"))
		return N_SUMMARY;
	return N_NONE;
}

static int fingerprint_job(void *arg, struct job *job)
{
	uint64_t *h = arg;
	*h = (*h ^ (uint64_t)job->rec.id) * 1099511628211ULL;
	*h = (*h ^ (uint64_t)job->changes) * 1099511628211ULL;
	return 0;
}

/* What a rendering of K depends on: every job's id and change count. */
static uint64_t fingerprint(struct trainfs *fs, enum node_kind k,
			    int64_t now_ns)
{
	uint64_t h = 1469598103934665603ULL;
	if (jobs_visit(fs->jobs, fingerprint_job, &h))
		return 0; /* no memory: never matches a valid one */
	if (k == N_INDEX)
		h = (h ^ (uint64_t)(now_ns / 60000000000LL)) * 1099511628211ULL;
	return h;
}

struct snap_walk {
	struct trainfs *fs;
	struct dash_snapshot *s;
	enum node_kind k;
	size_t i, n;   /* the job visited, of N */
};

static int count_job(void *arg, struct job *job)
{
	(void)job;
	(*(size_t *)arg)++;
	return 0;
}

static int snap_job(void *arg, struct job *job)
{
	struct snap_walk *w = arg;
	enum dash_what what = DASH_SUMMARY;
	size_t i = w->i++;
	if (w->k == N_INDEX && w->n > i + DASH_HTML_FULL) {
		what = DASH_STATE_ONLY; /* counted, not shown */
	} else if (w->k == N_INDEX) {
		what = DASH_WITH_SPARK;
		if (job->spec_ok && job->spec.monitor)
			jobs_load_metrics(w->fs->jobs, job); /* or none */
	}
	return dash_add_job(w->s, job, what);
}

/*
 * A snapshot of every job, each copied under its own lock; for the page,
 * the metrics of the newest jobs it shows are read in for their
 * sparklines.
 */
static int snapshot(struct trainfs *fs, enum node_kind k, int64_t now_ns,
		    struct dash_snapshot **out)
{
	struct snap_walk w = { .fs = fs, .k = k };
	int rc = jobs_visit(fs->jobs, count_job, &w.n);
	if (rc)
		return rc;
	if (!(w.s = dash_snapshot_new(now_ns)))
		return -ENOMEM;
	struct dash_snapshot *s = w.s;
	rc = jobs_visit(fs->jobs, snap_job, &w);
	if (rc) {
		dash_snapshot_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* Gives a reference to slot T's rendering (NULL OUT: none). */
static void share_out(struct trainfs *fs, const struct dash_text *t,
		      struct rendering **out)
{
	if (out)
		rendering_ref(fs, *out = t->r);
}

int dash_files_get(struct trainfs *fs, enum node_kind k,
		   struct rendering **out)
{
	struct dash_files *d = fs->dash;
	struct dash_text *t = &d->text[k == N_INDEX ? 0 : 1];
	struct dash_snapshot *s = NULL;
	int64_t now = job_now_ns();
	int rc;

	uint64_t fp = fingerprint(fs, k, now);
	pthread_mutex_lock(&d->lock);
	if (t->valid && t->fp == fp) {
		share_out(fs, t, out);
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	pthread_mutex_unlock(&d->lock);
	rc = snapshot(fs, k, now, &s);
	if (rc)
		return rc;

	char *text = NULL;
	size_t n = 0;
	dash_resolve_owners(s);
	rc = k == N_INDEX ? dash_render_html(s, &text, &n)
			  : dash_render_csv(s, &text, &n);
	dash_snapshot_free(s);
	if (rc)
		return rc;
	struct rendering *r = rendering_new(text, n, 0);
	if (!r) {
		free(text);
		return -ENOMEM;
	}
	pthread_mutex_lock(&d->lock);
	struct rendering *old = t->r;
	if (!t->valid || old->len != n || memcmp(old->text, text, n))
		t->mtime_ns = now;
	t->r = r;
	t->fp = fp;
	t->valid = 1;
	share_out(fs, t, out);
	pthread_mutex_unlock(&d->lock);
	rendering_put(fs, old); /* freed when no open file shows it */
	return 0;
}

void dash_files_attr(struct trainfs *fs, enum node_kind k, struct stat *st)
{
	struct dash_files *d = fs->dash;
	struct dash_text *t = &d->text[k == N_INDEX ? 0 : 1];
	jobs_lock(fs->jobs); /* fs->mtime_ns is the registry's */
	int64_t ns = fs->mtime_ns;
	jobs_unlock(fs->jobs);
	pthread_mutex_lock(&d->lock);
	st->st_size = t->valid ? (off_t)t->r->len : 0;
	if (t->valid)
		ns = t->mtime_ns;
	pthread_mutex_unlock(&d->lock);
	st->st_mode = S_IFREG | 0444;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtim.tv_sec = ns / 1000000000LL;
	st->st_mtim.tv_nsec = ns % 1000000000LL;
	st->st_ctim = st->st_atim = st->st_mtim;
}

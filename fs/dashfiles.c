/*
 * dashfiles: MOUNT/index.html and MOUNT/summary.csv as files of the mount.
 *
 * Each is rendered (dashboard.c) from a snapshot of the jobs its reader
 * may read (jobs/core/access.h), copied job by job under each job's own lock
 * (jobs_visit); owners are resolved and the text rendered with no lock
 * held.  Renderings are kept with a fingerprint of what they were made
 * from (every job's id and change count, and for the page the minute,
 * since it says "3 min ago"), so a stat, a lookup and an open of an
 * unchanged dashboard cost one pass over the job list, not a rendering.
 * Open files share a rendering (a reference each, charged to the opener
 * by file.c), never a copy.  Both files are served with direct
 * I/O and no attribute cache: they change whenever any job does, and a
 * stat always asks for the true size.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs/caller.h"
#include "fs/dashboard.h"
#include "jobs/core/sweep.h"
#include "fs/fs.h"
#include "util/lock.h"

/*
 * A rendering is kept per view: per set of jobs a reader may read.  Its key
 * is that set (the ids, oldest first, compared exactly), so every reader
 * who may read every job (root, and anyone while no job is private) shares
 * one rendering, and a reader to whom some jobs are closed shares one with
 * every reader who sees the same set (a group's members, say).  DASH_VIEWS
 * renderings of each file are kept, the least recently used replaced, so
 * N readers of N different views cost a rendering each per change, never
 * one per request.
 */
#define DASH_VIEWS 8

struct dash_text {
	struct rendering *r; /* the newest, shared with its open files */
	int64_t *ids;	     /* the jobs it shows, oldest first: its key */
	size_t nids;
	uint64_t fp; /* their change counts (and the page's minute) */
	int valid;
	int64_t mtime_ns; /* when the text last changed */
	uint64_t used;	  /* dash_files.clock when last used */
};

struct dash_files {
	struct lock lock; /* protects text[] and clock; renders' inside */
	struct dash_text text[2][DASH_VIEWS]; /* index.html, summary.csv */
	uint64_t clock;
};

struct dash_files *dash_files_new(void)
{
	struct dash_files *d = calloc(1, sizeof *d);
	if (d)
		lock_init(&d->lock, LOCK_DASHFILES);
	return d;
}

void dash_files_free(struct dash_files *d)
{
	if (!d)
		return;
	for (int i = 0; i < 2; i++)
		for (int v = 0; v < DASH_VIEWS; v++) {
			struct rendering *r = d->text[i][v].r;
			if (r) { /* the open files let go of theirs */
				free(r->text);
				free(r);
			}
			free(d->text[i][v].ids);
		}
	lock_destroy(&d->lock);
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

/* What a reader sees: the jobs it may read, and their fingerprint. */
struct view {
	struct caller *c;
	int64_t *ids;
	size_t n, cap;
	uint64_t fp;
	int failed; /* out of memory: matches no rendering */
};

#define FNV_BASIS 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

/* Adds JOB to V if V's reader may read it; 1 when it was added. */
static int view_add(struct view *v, const struct job *job)
{
	if (!caller_may_read(v->c, job))
		return 0;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		int64_t *ids = realloc(v->ids, cap * sizeof *ids);
		if (!ids) {
			v->failed = 1;
			return 0;
		}
		v->ids = ids;
		v->cap = cap;
	}
	v->ids[v->n++] = job->rec.id;
	v->fp = (v->fp ^ (uint64_t)job->rec.id) * FNV_PRIME;
	v->fp = (v->fp ^ (uint64_t)job->changes) * FNV_PRIME;
	return 1;
}

static int view_job(void *arg, struct job *job)
{
	view_add(arg, job);
	return 0;
}

/* V's fingerprint made final: for the page, with the minute it shows. */
static void view_seal(struct view *v, enum node_kind k, int64_t now_ns)
{
	if (k == N_INDEX)
		v->fp = (v->fp ^ (uint64_t)(now_ns / 60000000000LL)) *
			FNV_PRIME;
}

/* The view of reader C now (free its ids); 0 or a negative errno. */
static int view_of(struct trainfs *fs, struct caller *c, enum node_kind k,
		   int64_t now_ns, struct view *v)
{
	*v = (struct view){ .c = c, .fp = FNV_BASIS };
	int rc = jobs_visit(fs->jobs, view_job, v);
	if (!rc && v->failed)
		rc = -ENOMEM;
	if (rc) {
		free(v->ids);
		v->ids = NULL;
		return rc;
	}
	view_seal(v, k, now_ns);
	return 0;
}

static int same_jobs(const struct dash_text *t, const struct view *v)
{
	return t->nids == v->n &&
	       (!v->n || !memcmp(t->ids, v->ids, v->n * sizeof *v->ids));
}

/* With d->lock held: the rendering of K for view V, or NULL. */
static struct dash_text *find_text(struct dash_files *d, enum node_kind k,
				   const struct view *v)
{
	struct dash_text *slots = d->text[k == N_INDEX ? 0 : 1];
	for (int i = 0; i < DASH_VIEWS; i++)
		if (slots[i].valid && same_jobs(&slots[i], v))
			return &slots[i];
	return NULL;
}

/* With d->lock held: where a rendering of K for V goes. */
static struct dash_text *slot_for(struct dash_files *d, enum node_kind k,
				  const struct view *v)
{
	struct dash_text *slots = d->text[k == N_INDEX ? 0 : 1], *t;
	if ((t = find_text(d, k, v)))
		return t;
	t = &slots[0];
	for (int i = 1; i < DASH_VIEWS; i++)
		if (!slots[i].valid || (t->valid && slots[i].used < t->used))
			t = &slots[i];
	return t;
}

struct snap_walk {
	struct trainfs *fs;
	struct dash_snapshot *s;
	enum node_kind k;
	struct view v; /* what it shows: the jobs its reader may read */
	size_t n;      /* of about N (the view's count a moment before) */
	int rc;
};

static int snap_job(void *arg, struct job *job)
{
	struct snap_walk *w = arg;
	enum dash_what what = DASH_SUMMARY;
	size_t i = w->v.n;
	if (!view_add(&w->v, job))
		return w->v.failed ? -ENOMEM : 0;
	if (w->k == N_INDEX && w->n > i + DASH_HTML_FULL) {
		what = DASH_STATE_ONLY; /* counted, not shown */
	} else if (w->k == N_INDEX) {
		what = DASH_WITH_SPARK;
		if (job->spec_ok && job->spec.monitor)
			/* A table that cannot be read: no sparkline. */
			(void)!jobs_load_metrics(w->fs->jobs, job);
	}
	return dash_add_job(w->s, job, what);
}

/*
 * The sweeps C may read, for the page (no job lock: the sweeps' own).  A
 * rendering is shared by the readers of the same jobs; a sweep's trials
 * take its mode, so those readers see the same sweeps, but for a private
 * sweep that has no trial yet.
 */
static int snap_sweeps(struct trainfs *fs, struct caller *c,
		       struct dash_snapshot *s)
{
	struct sweep_summary *v = NULL;
	size_t n = 0;
	if (!fs->sweeps)
		return 0;
	int rc = sweeps_summaries(fs->sweeps, &v, &n);
	for (size_t i = 0; !rc && i < n; i++)
		if (caller_may_read_mode(c, v[i].uid, v[i].gid, v[i].mode) &&
		    !dash_add_sweep(s, v[i].name, v[i].state, v[i].trials,
				    v[i].best, v[i].epochs, v[i].error))
			rc = -ENOMEM;
	sweeps_summaries_free(v, n);
	return rc;
}

/*
 * A snapshot of the jobs C may read, each copied under its own lock, with
 * the view it shows into *shown (free its ids); for the page, the metrics
 * of the newest jobs it shows are read in for their sparklines.  N: about
 * how many there are.
 */
static int snapshot(struct trainfs *fs, struct caller *c, enum node_kind k,
		    int64_t now_ns, size_t n, struct dash_snapshot **out,
		    struct view *shown)
{
	struct snap_walk w = { .fs = fs, .k = k, .n = n };
	w.v = (struct view){ .c = c, .fp = FNV_BASIS };
	if (!(w.s = dash_snapshot_new(now_ns)))
		return -ENOMEM;
	int rc = jobs_visit(fs->jobs, snap_job, &w);
	if (!rc && k == N_INDEX)
		rc = snap_sweeps(fs, c, w.s);
	if (rc) {
		dash_snapshot_free(w.s);
		free(w.v.ids);
		return rc;
	}
	view_seal(&w.v, k, now_ns);
	*out = w.s;
	*shown = w.v;
	return 0;
}

/* Gives a reference to slot T's rendering (NULL OUT: none). */
static void share_out(struct trainfs *fs, const struct dash_text *t,
		      struct rendering **out)
{
	if (out)
		rendering_ref(fs, *out = t->r);
}

/* The attributes of rendering T (with d->lock held). */
static void text_attr(struct trainfs *fs, const struct dash_text *t,
		      struct stat *st)
{
	st->st_size = (off_t)t->r->len;
	st->st_mode = S_IFREG | 0444;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtim.tv_sec = t->mtime_ns / 1000000000LL;
	st->st_mtim.tv_nsec = t->mtime_ns % 1000000000LL;
	st->st_ctim = st->st_atim = st->st_mtim;
}

/* With d->lock held: T used for a reader; its text and attributes out. */
static int hand_out(struct trainfs *fs, struct dash_text *t,
		    struct rendering **out, struct stat *st)
{
	t->used = ++fs->dash->clock;
	if (st)
		text_attr(fs, t, st);
	share_out(fs, t, out);
	return 0;
}

/* Renders K of the jobs C may read into the slot of what it shows. */
static int render_view(struct trainfs *fs, struct caller *c, enum node_kind k,
		       int64_t now, size_t n, struct rendering **out,
		       struct stat *st)
{
	struct dash_files *d = fs->dash;
	struct dash_snapshot *s = NULL;
	struct view shown;
	char *text = NULL;
	size_t tlen = 0;
	int rc = snapshot(fs, c, k, now, n, &s, &shown);
	if (rc)
		return rc;
	dash_resolve_owners(s);
	rc = k == N_INDEX ? dash_render_html(s, &text, &tlen) :
			    dash_render_csv(s, &text, &tlen);
	dash_snapshot_free(s);
	struct rendering *r = rc ? NULL : rendering_new(text, tlen, 0);
	if (!rc && !r) {
		free(text);
		rc = -ENOMEM;
	}
	if (rc) {
		free(shown.ids);
		return rc;
	}
	lock_take(&d->lock);
	struct dash_text *t = slot_for(d, k, &shown);
	struct rendering *old = t->r;
	if (!t->valid || !same_jobs(t, &shown) || old->len != tlen ||
	    memcmp(old->text, text, tlen))
		t->mtime_ns = now;
	free(t->ids);
	t->r = r;
	t->ids = shown.ids;
	t->nids = shown.n;
	t->fp = shown.fp;
	t->valid = 1;
	rc = hand_out(fs, t, out, st);
	lock_drop(&d->lock);
	if (old)
		rendering_put(fs, old); /* freed when no open file shows it */
	return rc;
}

/*
 * File K as C sees it: the kept rendering of the jobs C may read if none
 * of them changed since, else a new one.  Its text (unless OUT is NULL)
 * and attributes (unless ST is NULL) out.
 */
static int dash_view(struct trainfs *fs, struct caller *c, enum node_kind k,
		     struct rendering **out, struct stat *st)
{
	struct dash_files *d = fs->dash;
	struct view v;
	int64_t now = job_now_ns();
	int rc = view_of(fs, c, k, now, &v);
	if (rc)
		return rc;
	lock_take(&d->lock);
	struct dash_text *t = find_text(d, k, &v);
	if (t && t->fp == v.fp) {
		rc = hand_out(fs, t, out, st);
		lock_drop(&d->lock);
		free(v.ids);
		return rc;
	}
	lock_drop(&d->lock);
	free(v.ids);
	return render_view(fs, c, k, now, v.n, out, st);
}

int dash_files_get(struct trainfs *fs, struct caller *c, enum node_kind k,
		   struct rendering **out)
{
	return dash_view(fs, c, k, out, NULL);
}

int dash_files_attr(struct trainfs *fs, struct caller *c, enum node_kind k,
		    struct stat *st)
{
	return dash_view(fs, c, k, NULL, st);
}

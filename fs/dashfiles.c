/*
 * dashfiles: MOUNT/index.html and MOUNT/summary.csv as files of the mount.
 *
 * Each is rendered (dashboard.c) from a snapshot of every job, taken with
 * the registry lock held for copies only; owners are resolved and the text
 * rendered after the lock is let go.  The last rendering of each file is
 * kept with a fingerprint of what it was made from (every job's id and
 * change count, and for the page the minute, since it says "3 min ago"),
 * so a stat, a lookup and an open of an unchanged dashboard cost one pass
 * over the job list, not a rendering.  Both files are served with direct
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
	char *text;
	size_t len;
	uint64_t fp;
	int valid;
	int64_t mtime_ns; /* when the text last changed */
};

struct dash_files {
	pthread_mutex_t lock; /* protects text[]; taken after the registry lock */
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
	for (int i = 0; i < 2; i++)
		free(d->text[i].text);
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

/* What a rendering of K depends on.  With the registry lock held. */
static uint64_t fingerprint(struct trainfs *fs, enum node_kind k,
			    int64_t now_ns)
{
	size_t n;
	struct job **all = jobs_list(fs->jobs, &n);
	uint64_t h = 1469598103934665603ULL ^ n;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ (uint64_t)all[i]->rec.id) * 1099511628211ULL;
		h = (h ^ (uint64_t)all[i]->changes) * 1099511628211ULL;
	}
	if (k == N_INDEX)
		h = (h ^ (uint64_t)(now_ns / 60000000000LL)) * 1099511628211ULL;
	return h;
}

/*
 * A snapshot of every job; for the page, the metrics of the newest jobs it
 * shows are read in for their sparklines.  With the registry lock held.
 */
static int snapshot(struct trainfs *fs, enum node_kind k, int64_t now_ns,
		    struct dash_snapshot **out)
{
	size_t n;
	struct job **all = jobs_list(fs->jobs, &n);
	struct dash_snapshot *s = dash_snapshot_new(now_ns);
	int rc = 0;
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		struct job *job = all[i];
		enum dash_what what = DASH_SUMMARY;
		if (k == N_INDEX && n - i > DASH_HTML_FULL) {
			what = DASH_STATE_ONLY; /* counted, not shown */
		} else if (k == N_INDEX) {
			what = DASH_WITH_SPARK;
			if (job->spec_ok && job->spec.monitor)
				jobs_load_metrics(fs->jobs, job); /* or none */
		}
		rc = dash_add_job(s, job, what);
	}
	if (rc) {
		dash_snapshot_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* Copies the cached text of slot T into *out (NULL OUT: none). */
static int copy_out(const struct dash_text *t, char **out, size_t *len)
{
	if (!out)
		return 0;
	if (!(*out = malloc(t->len + 1)))
		return -ENOMEM;
	memcpy(*out, t->text, t->len);
	(*out)[t->len] = '\0';
	*len = t->len;
	return 0;
}

int dash_files_get(struct trainfs *fs, enum node_kind k, char **out,
		   size_t *len)
{
	struct dash_files *d = fs->dash;
	struct dash_text *t = &d->text[k == N_INDEX ? 0 : 1];
	struct dash_snapshot *s = NULL;
	int64_t now = job_now_ns();
	int rc;

	jobs_lock(fs->jobs);
	uint64_t fp = fingerprint(fs, k, now);
	pthread_mutex_lock(&d->lock);
	if (t->valid && t->fp == fp) {
		rc = copy_out(t, out, len);
		pthread_mutex_unlock(&d->lock);
		jobs_unlock(fs->jobs);
		return rc;
	}
	pthread_mutex_unlock(&d->lock);
	rc = snapshot(fs, k, now, &s);
	jobs_unlock(fs->jobs);
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
	pthread_mutex_lock(&d->lock);
	if (!t->valid || t->len != n || memcmp(t->text, text, n))
		t->mtime_ns = now;
	free(t->text);
	t->text = text;
	t->len = n;
	t->fp = fp;
	t->valid = 1;
	rc = copy_out(t, out, len);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void dash_files_attr(struct trainfs *fs, enum node_kind k, struct stat *st)
{
	struct dash_files *d = fs->dash;
	struct dash_text *t = &d->text[k == N_INDEX ? 0 : 1];
	pthread_mutex_lock(&d->lock);
	st->st_size = t->valid ? (off_t)t->len : 0;
	int64_t ns = t->valid ? t->mtime_ns : fs->mtime_ns;
	pthread_mutex_unlock(&d->lock);
	st->st_mode = S_IFREG | 0444;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtim.tv_sec = ns / 1000000000LL;
	st->st_mtim.tv_nsec = ns % 1000000000LL;
	st->st_ctim = st->st_atim = st->st_mtim;
}

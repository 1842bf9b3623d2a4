/*
 * renders: the renderings of a job's files (status, metrics, graph.svg,
 * ...), made once per change of the job and shared by every reader of
 * that version.
 *
 * A rendering is reference counted: each open file that shows it holds a
 * reference, never a private copy, and its opener's uid is charged its
 * size once (usermem.c), however many of its files show it.
 * The cache has a slot per job and file with the newest rendering; it
 * keeps a reference of its own only to small ones (RENDER_KEEP), so a
 * big metrics table costs memory while someone reads it, not for the
 * mount's life.  A slot builds one rendering at a time, on the thread of
 * the request that found none: requests that arrive meanwhile are queued
 * on the slot and answered by that builder when it is done (an open's
 * reply comes later, from the builder's thread), so they hold no worker
 * thread and no lock while they wait; a stat takes the size of the last
 * one built meanwhile (renders_size).
 *
 * The big files (metrics, graph.svg) are rendered without the job's lock:
 * what they show is copied under it (a compact copy of the table and the
 * few fields the graph's title needs) and rendered from the copy, so
 * nobody waiting for the job (its status, a stat, the supervisor) waits
 * for a rendering.  The small ones (status, control, tags, events, spec)
 * are bounded and are rendered under the lock.
 *
 * Locks: job lock, then the renders lock, then usermem's; never the
 * other way.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "util/lock.h"

#define RENDER_KEEP 4096 /* the cache keeps renderings up to a page */
#define SLOT_BUCKETS 4096

struct render_slot {
	struct render_slot *next;
	int64_t id;
	enum node_kind kind;
	struct rendering *cur;	       /* the newest rendering, or NULL */
	int kept;		       /* cur holds a reference of the slot's */
	int building;		       /* a build is under way */
	struct render_waiter *waiters; /* requests its build will answer */
	size_t last_len; /* the size of the newest rendering made */
	int forgotten;	 /* the job is gone: the builder frees it */
};

struct renders {
	struct lock lock;     /* the slots, every rendering's refs and slot */
	pthread_cond_t built; /* a build ended */
	struct render_slot *buckets[SLOT_BUCKETS];
};

struct renders *renders_new(void)
{
	struct renders *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	lock_init(&r->lock, LOCK_RENDERS);
	pthread_cond_init(&r->built, NULL);
	return r;
}

/* A uid charged for a rendering, and how many of its open files show it. */
struct render_holder {
	struct render_holder *next;
	uid_t uid;
	int files;
};

static void rendering_free(struct rendering *r)
{
	while (r->holders) { /* none left but at exit */
		struct render_holder *h = r->holders;
		r->holders = h->next;
		usermem_uncharge(h->uid, r->len);
		free(h);
	}
	free(r->text);
	free(r);
}

int rendering_hold(struct trainfs *fs, struct rendering *r, uid_t uid)
{
	int rc = 0;
	lock_take(&fs->renders->lock);
	struct render_holder *h = r->holders;
	while (h && h->uid != uid)
		h = h->next;
	if (h) {
		h->files++;
	} else if (!(h = calloc(1, sizeof *h))) {
		rc = -ENOMEM;
	} else if ((rc = usermem_charge(uid, r->len))) {
		free(h);
	} else {
		h->uid = uid;
		h->files = 1;
		h->next = r->holders;
		r->holders = h;
	}
	lock_drop(&fs->renders->lock);
	return rc;
}

void rendering_unhold(struct trainfs *fs, struct rendering *r, uid_t uid)
{
	lock_take(&fs->renders->lock);
	struct render_holder **p = &r->holders;
	while (*p && (*p)->uid != uid)
		p = &(*p)->next;
	struct render_holder *h = *p;
	if (h && --h->files == 0) {
		*p = h->next;
		usermem_uncharge(uid, r->len);
		free(h);
	}
	lock_drop(&fs->renders->lock);
}

/* Drops a reference of R.  The renders lock held. */
static void put_locked(struct rendering *r)
{
	if (--r->refs > 0)
		return;
	if (r->slot && r->slot->cur == r)
		r->slot->cur = NULL;
	rendering_free(r);
}

/* Lets go of what SLOT holds.  The renders lock held. */
static void slot_clear(struct render_slot *slot)
{
	struct rendering *cur = slot->cur;
	if (!cur)
		return;
	cur->slot = NULL;
	slot->cur = NULL;
	if (slot->kept)
		put_locked(cur);
	slot->kept = 0;
}

void renders_free(struct renders *r)
{
	if (!r)
		return;
	for (size_t b = 0; b < SLOT_BUCKETS; b++)
		while (r->buckets[b]) {
			struct render_slot *s = r->buckets[b];
			r->buckets[b] = s->next;
			slot_clear(s);
			free(s);
		}
	pthread_cond_destroy(&r->built);
	lock_destroy(&r->lock);
	free(r);
}

struct rendering *rendering_new(char *text, size_t len, unsigned long changes)
{
	struct rendering *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->text = text;
	r->len = len;
	r->changes = changes;
	r->refs = 1;
	return r;
}

void rendering_ref(struct trainfs *fs, struct rendering *r)
{
	lock_take(&fs->renders->lock);
	r->refs++;
	lock_drop(&fs->renders->lock);
}

void rendering_put(struct trainfs *fs, struct rendering *r)
{
	if (!r)
		return;
	lock_take(&fs->renders->lock);
	put_locked(r);
	lock_drop(&fs->renders->lock);
}

static size_t bucket_of(int64_t id, enum node_kind k)
{
	return ((uint64_t)id * 16 + (unsigned)k) * 11400714819323198485ULL >>
	       52;
}

/* The slot of file K of job ID, made if need be; NULL: no memory. */
static struct render_slot *slot_get(struct renders *r, int64_t id,
				    enum node_kind k)
{
	struct render_slot **p = &r->buckets[bucket_of(id, k)];
	for (; *p; p = &(*p)->next)
		if ((*p)->id == id && (*p)->kind == k && !(*p)->forgotten)
			return *p;
	struct render_slot *s = calloc(1, sizeof *s);
	if (s) {
		s->id = id;
		s->kind = k;
		*p = s;
	}
	return s;
}

void renders_forget_job(struct trainfs *fs, int64_t id)
{
	struct renders *r = fs->renders;
	lock_take(&r->lock);
	for (enum node_kind k = N_SPEC; k <= N_WAIT; k++) {
		struct render_slot **p = &r->buckets[bucket_of(id, k)];
		while (*p) {
			struct render_slot *s = *p;
			if (s->id != id || s->kind != k || s->forgotten) {
				p = &s->next;
				continue;
			}
			slot_clear(s);
			if (s->building) { /* its builder frees it */
				s->forgotten = 1;
				p = &s->next;
				continue;
			}
			*p = s->next;
			free(s);
		}
	}
	lock_drop(&r->lock);
}

/* ---- a copy of what metrics and graph.svg show ---- */

static void snapshot_free(struct job *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->table.ncolumns; i++)
		free(c->table.columns[i]);
	free(c->table.columns);
	free(c->table.epochs);
	free(c->table.cells);
	free(c->rec.reason);
	free(c->spec.monitor);
	free(c);
}

static char *dup_or_null(const char *s, int *failed)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*failed = 1;
	return d;
}

/*
 * A copy of JOB holding what render() reads for metrics and graph.svg
 * (the table, compacted, and the title's fields), or NULL.  With the
 * job's lock held; the copy needs none.
 */
static struct job *snapshot(const struct job *job)
{
	const struct job_table *t = &job->table;
	struct job *c = calloc(1, sizeof *c);
	int failed = 0;
	if (!c)
		return NULL;
	c->rec.id = job->rec.id;
	c->rec.state = job->rec.state;
	c->rec.last_epoch = job->rec.last_epoch;
	memcpy(c->rec.name, job->rec.name, sizeof c->rec.name);
	c->rec.reason = dup_or_null(job->rec.reason, &failed);
	c->spec.epochs = job->spec.epochs;
	c->spec.monitor = dup_or_null(job->spec.monitor, &failed);
	c->spec_ok = job->spec_ok;
	c->policy = job->policy;
	c->monitor_col = job->monitor_col;
	c->changes = job->changes;
	size_t rows = t->nrows, cols = (size_t)t->ncolumns;
	c->table.columns = calloc(cols ? cols : 1, sizeof *c->table.columns);
	c->table.epochs = malloc((rows ? rows : 1) * sizeof *c->table.epochs);
	size_t ncells = rows * cols;
	c->table.cells = malloc((ncells ? ncells : 1) * sizeof *c->table.cells);
	if (failed || !c->table.columns || !c->table.epochs ||
	    !c->table.cells) {
		snapshot_free(c);
		return NULL;
	}
	for (size_t i = 0; i < cols; i++) {
		if (!(c->table.columns[i] = strdup(t->columns[i]))) {
			snapshot_free(c);
			return NULL;
		}
		c->table.ncolumns = (int)i + 1;
	}
	c->table.stride = (int)cols;
	c->table.nrows = c->table.cap = rows;
	if (rows)
		memcpy(c->table.epochs, t->epochs, rows * sizeof *t->epochs);
	for (size_t r = 0; cols && r < rows; r++)
		memcpy(&c->table.cells[r * cols], &t->cells[r * t->stride],
		       cols * sizeof *t->cells);
	c->table.loaded = 1;
	return c;
}

/*
 * Renders file K of JOB (locked: the lock is let go here) as of change
 * V into *out.  0 or a negative errno.
 */
static int build(struct trainfs *fs, struct job *job, enum node_kind k,
		 unsigned long v, struct rendering **out)
{
	char *text = NULL;
	size_t len = 0;
	int rc;
	if (k == N_METRICS || k == N_GRAPH) {
		struct job *copy = NULL;
		rc = jobs_load_metrics(fs->jobs, job);
		if (!rc && !(copy = snapshot(job)))
			rc = -ENOMEM;
		jobs_unlock_job(fs->jobs, job);
		if (!rc)
			rc = render(copy, k, &text, &len);
		snapshot_free(copy);
	} else {
		rc = render(job, k, &text, &len);
		jobs_unlock_job(fs->jobs, job);
	}
	if (rc)
		return rc;
	if (!(*out = rendering_new(text, len, v))) {
		free(text);
		return -ENOMEM;
	}
	return 0;
}

/* Makes R SLOT's newest, unless SLOT has a newer one.  Locked. */
static void install(struct render_slot *slot, struct rendering *r)
{
	if (slot->cur && slot->cur->changes > r->changes)
		return;
	slot_clear(slot);
	slot->cur = r;
	slot->last_len = r->len;
	r->slot = slot;
	if (r->len <= RENDER_KEEP) {
		r->refs++;
		slot->kept = 1;
	}
}

/* A request waiting for a slot's build: the job's change it must show. */
struct render_waiter {
	struct render_waiter *next;
	unsigned long need;
	render_done_fn done;
	void *arg;
};

/* Frees SLOT, which its builder was the last to use.  Locked. */
static void slot_unlink(struct renders *R, struct render_slot *slot)
{
	struct render_slot **p = &R->buckets[bucket_of(slot->id, slot->kind)];
	while (*p != slot)
		p = &(*p)->next;
	*p = slot->next;
	free(slot);
}

/*
 * Takes from SLOT the waiters a build of change V (RC its result) serves:
 * all when it failed, else those that need V or older.  Locked.
 */
static struct render_waiter *served(struct render_slot *slot, unsigned long v,
				    int rc)
{
	struct render_waiter *out = NULL, **p = &slot->waiters;
	while (*p) {
		struct render_waiter *w = *p;
		if (rc || w->need <= v) {
			*p = w->next;
			w->next = out;
			out = w;
		} else {
			p = &w->next;
		}
	}
	return out;
}

/*
 * Builds SLOT's rendering of JOB (locked: let go here) as of change V,
 * hands it to every waiter it serves, and builds again while waiters
 * need a newer change.  The slot's building flag is set.
 */
static void build_and_serve(struct trainfs *fs, struct render_slot *slot,
			    struct job *job, unsigned long v)
{
	struct renders *R = fs->renders;
	int64_t id = slot->id;
	for (;;) {
		struct rendering *r = NULL;
		int rc = build(fs, job, slot->kind, v, &r);
		lock_take(&R->lock);
		if (!rc && !slot->forgotten)
			install(slot, r);
		struct render_waiter *ready = served(slot, v, rc);
		for (struct render_waiter *w = ready; w && !rc; w = w->next)
			r->refs++;
		int more = slot->waiters != NULL;
		slot->building = more;
		if (!more && slot->forgotten)
			slot_unlink(R, slot);
		pthread_cond_broadcast(&R->built);
		lock_drop(&R->lock);
		while (ready) {
			struct render_waiter *w = ready;
			ready = w->next;
			w->done(w->arg, rc, rc ? NULL : r);
			free(w);
		}
		rendering_put(fs, r); /* the build's own reference */
		if (!more)
			return;
		if ((job = jobs_lock_job(fs->jobs, id))) {
			v = job->changes;
			continue;
		}
		lock_take(&R->lock); /* the job is gone: none is served */
		ready = served(slot, 0, -ENOENT);
		slot->building = 0;
		if (slot->forgotten)
			slot_unlink(R, slot);
		pthread_cond_broadcast(&R->built);
		lock_drop(&R->lock);
		while (ready) {
			struct render_waiter *w = ready;
			ready = w->next;
			w->done(w->arg, -ENOENT, NULL);
			free(w);
		}
		return;
	}
}

void renders_get_async(struct trainfs *fs, int64_t id, enum node_kind k,
		       render_done_fn done, void *arg)
{
	struct renders *R = fs->renders;
	struct render_waiter *w = calloc(1, sizeof *w);
	struct job *job = w ? jobs_lock_job(fs->jobs, id) : NULL;
	if (!job) {
		free(w);
		done(arg, w ? -ENOENT : -ENOMEM, NULL);
		return;
	}
	w->need = job->changes;
	w->done = done;
	w->arg = arg;
	lock_take(&R->lock);
	struct render_slot *slot = slot_get(R, id, k);
	struct rendering *r = slot ? slot->cur : NULL;
	if (!slot || (r && r->changes == w->need)) {
		if (r)
			r->refs++;
		lock_drop(&R->lock);
		jobs_unlock_job(fs->jobs, job);
		free(w);
		done(arg, slot ? 0 : -ENOMEM, r);
		return;
	}
	w->next = slot->waiters;
	slot->waiters = w;
	if (slot->building) { /* its builder answers W too */
		lock_drop(&R->lock);
		jobs_unlock_job(fs->jobs, job);
		return;
	}
	slot->building = 1;
	lock_drop(&R->lock);
	build_and_serve(fs, slot, job, w->need);
}

/* What renders_get() waits on. */
struct sync_wait {
	struct renders *R;
	int done, rc;
	struct rendering *r;
};

static void sync_done(void *arg, int rc, struct rendering *r)
{
	struct sync_wait *s = arg;
	lock_take(&s->R->lock);
	s->rc = rc;
	s->r = r;
	s->done = 1;
	pthread_cond_broadcast(&s->R->built);
	lock_drop(&s->R->lock);
}

int renders_get(struct trainfs *fs, int64_t id, enum node_kind k,
		struct rendering **out)
{
	struct renders *R = fs->renders;
	struct sync_wait s = { .R = R };
	renders_get_async(fs, id, k, sync_done, &s);
	lock_take(&R->lock);
	while (!s.done)
		lock_wait(&R->built, &R->lock);
	lock_drop(&R->lock);
	*out = s.r;
	return s.rc;
}

int renders_size(struct trainfs *fs, int64_t id, enum node_kind k, off_t *size)
{
	struct renders *R = fs->renders;
	struct job *job = jobs_lock_job(fs->jobs, id);
	if (!job)
		return -ENOENT;
	unsigned long v = job->changes;
	jobs_unlock_job(fs->jobs, job);
	lock_take(&R->lock);
	struct render_slot *slot = slot_get(R, id, k);
	int known = slot && ((slot->cur && slot->cur->changes == v) ||
			     (slot->building && slot->last_len));
	if (known)
		*size = (off_t)(slot->cur && slot->cur->changes == v ?
					slot->cur->len :
					slot->last_len);
	lock_drop(&R->lock);
	if (known)
		return 0;
	struct rendering *r;
	int rc = renders_get(fs, id, k, &r);
	if (rc)
		return rc;
	*size = (off_t)r->len;
	rendering_put(fs, r);
	return 0;
}

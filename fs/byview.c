/*
 * byview: MOUNT/by-state/STATE/NAME and MOUNT/by-tag/TAG/NAME, symbolic
 * links to ../../jobs/NAME, so a file browser shows every ready job (or
 * every job tagged "baseline") in one place.
 *
 * Nothing is stored: every lookup and listing is answered from the jobs as
 * they are, each job read under its own lock (jobs_visit, jobs_lock_job);
 * callers hold no lock.  Each reader finds only the jobs it may read (and
 * the states and tags of those): a job closed to it is in no folder here.  A job moves
 * between these folders with every change of state or tags, so the kernel
 * keeps no folder here and a link's name for a second only (LINK_TIMEOUT:
 * `ls -l` of 10,000 links then needs no lookup per link), and a change
 * invalidates the names the job may still have in the folders it left.
 *
 * Inodes: by-state/ and by-tag/ are fixed; by-state/STATE is fixed per
 * state; by-tag/TAG is TAG_INO_BASE plus the tag's index in a table of tag
 * names (so the same name keeps its inode while any job has it); names no
 * job has any more are freed when by-tag/ is listed, or when the table has
 * grown to twice what was in use at the last sweep, and their indexes are
 * given to new names (anyone may write tags: a table of every name ever
 * seen would grow without bound); every link to
 * one job is the job's N_LINK inode, whichever folder it is listed in (the
 * target, ../../jobs/NAME, is the same from all of them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/caller.h"
#include "fs/fs.h"
#include "util/lock.h"

/* Tag folders told of a job's leaving them at most (see byview_job_changed). */
#define BYVIEW_NOTIFY_TAGS_MAX 4096

/* ---- the table of tag names: index <-> name, for the mount's life ---- */

struct tagnames {
	struct lock lock;    /* protects everything below */
	char **names;	     /* NULL: a freed index, on the free list */
	unsigned long *born; /* the sweep generation each name was added in */
	size_t n, cap;
	size_t *slots; /* open addressing: index + 1, 0 = empty */
	size_t nslots;
	size_t *free; /* freed indexes, reused first */
	size_t nfree;
	size_t live;	   /* names after the last sweep */
	unsigned long gen; /* sweeps begun */
};

static struct tagnames tags = { .lock = LOCK_INITIALIZER(LOCK_BYVIEW) };

static size_t tag_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* Puts index K of a name into the hash slots.  Locked. */
static void slot_put(size_t *slots, size_t ns, size_t k)
{
	size_t i = tag_hash(tags.names[k]) & (ns - 1);
	while (slots[i])
		i = (i + 1) & (ns - 1);
	slots[i] = k + 1;
}

/* Rebuilds the hash slots with NS of them; -1 when out of memory. */
static int slots_rebuild(size_t ns)
{
	size_t *slots = calloc(ns, sizeof *slots);
	if (!slots)
		return -1;
	for (size_t k = 0; k < tags.n; k++)
		if (tags.names[k])
			slot_put(slots, ns, k);
	free(tags.slots);
	tags.slots = slots;
	tags.nslots = ns;
	return 0;
}

/* Gives NAME an index (a freed one first); -1 when out of memory.  Locked. */
static long tag_add(const char *name)
{
	if ((tags.n + 1) * 2 > tags.nslots &&
	    slots_rebuild(tags.nslots ? tags.nslots * 2 : 64))
		return -1;
	if (!tags.nfree && tags.n == tags.cap) {
		size_t cap = tags.cap ? tags.cap * 2 : 32;
		char **names = realloc(tags.names, cap * sizeof *names);
		if (!names)
			return -1;
		tags.names = names;
		unsigned long *born = realloc(tags.born, cap * sizeof *born);
		if (!born)
			return -1;
		tags.born = born;
		size_t *fr = realloc(tags.free, cap * sizeof *fr);
		if (!fr)
			return -1;
		tags.free = fr;
		tags.cap = cap;
	}
	size_t k = tags.nfree ? tags.free[--tags.nfree] : tags.n;
	if (!(tags.names[k] = strdup(name))) {
		if (k < tags.n)
			tags.free[tags.nfree++] = k;
		return -1;
	}
	tags.born[k] = tags.gen;
	if (k == tags.n)
		tags.n++;
	slot_put(tags.slots, tags.nslots, k);
	return (long)k;
}

/*
 * Frees the names added before sweep generation GEN that USED (N marks, by
 * index) does not mark.
 */
static void tags_sweep(const unsigned char *used, size_t n, unsigned long gen)
{
	lock_take(&tags.lock);
	size_t live = 0, freed = 0;
	for (size_t k = 0; k < tags.n; k++) {
		if (!tags.names[k])
			continue;
		if ((k < n && used[k]) || tags.born[k] >= gen) {
			live++;
			continue;
		}
		free(tags.names[k]);
		tags.names[k] = NULL;
		tags.free[tags.nfree++] = k;
		freed++;
	}
	tags.live = live;
	if (freed) /* else the slots are as they were */
		slots_rebuild(
			tags.nslots); /* on failure: kept, with stale slots skipped */
	lock_drop(&tags.lock);
}

/* Begins a sweep: its generation. */
static unsigned long tags_sweep_begin(void)
{
	lock_take(&tags.lock);
	unsigned long gen = ++tags.gen;
	lock_drop(&tags.lock);
	return gen;
}

/* The index of NAME, added when ADD; -1 when absent or out of memory. */
static long tag_index(const char *name, int add)
{
	long idx = -1;
	lock_take(&tags.lock);
	if (tags.nslots) {
		for (size_t i = tag_hash(name) & (tags.nslots - 1);
		     tags.slots[i]; i = (i + 1) & (tags.nslots - 1))
			if (tags.names[tags.slots[i] - 1] &&
			    !strcmp(tags.names[tags.slots[i] - 1], name)) {
				idx = (long)tags.slots[i] - 1;
				goto out;
			}
	}
	if (add)
		idx = tag_add(name);
out:
	lock_drop(&tags.lock);
	return idx;
}

/* The name of tag folder INO, copied into buf; NULL when unknown. */
static const char *tag_name(fuse_ino_t ino, char *buf, size_t len)
{
	size_t idx = (size_t)(ino - TAG_INO_BASE);
	const char *out = NULL;
	lock_take(&tags.lock);
	if (idx < tags.n && tags.names[idx] && strlen(tags.names[idx]) < len)
		out = strcpy(buf, tags.names[idx]);
	lock_drop(&tags.lock);
	return out;
}

void byview_free(void)
{
	lock_take(&tags.lock);
	for (size_t i = 0; i < tags.n; i++)
		free(tags.names[i]);
	free(tags.names);
	free(tags.slots);
	free(tags.born);
	free(tags.free);
	tags.names = NULL;
	tags.slots = NULL;
	tags.born = NULL;
	tags.free = NULL;
	tags.n = tags.cap = tags.nslots = tags.nfree = tags.live = 0;
	lock_drop(&tags.lock);
}

/* Whether the table has grown to twice what was in use at the last sweep. */
static int tags_outgrown(void)
{
	lock_take(&tags.lock);
	int out = tags.n - tags.nfree > 2 * tags.live + 1024;
	lock_drop(&tags.lock);
	return out;
}

static int add_nothing(void *arg, const char *name, fuse_ino_t ino)
{
	(void)arg, (void)name, (void)ino;
	return 0;
}

/* ---- what is in each folder ---- */

static int has_tag(const struct job *job, const char *tag)
{
	for (size_t i = 0; i < job->ntags; i++)
		if (!strcmp(job->tags[i].name, tag))
			return 1;
	return 0;
}

/* Whether JOB is listed in folder DIR (a state or a tag folder). */
static int job_in(const struct job *job, fuse_ino_t dir, const char *tag)
{
	if (ino_kind(dir) == N_STATE_DIR)
		return job->rec.state == (int)(dir - INO_STATE_DIR0);
	return tag && has_tag(job, tag);
}

struct use {
	int s;
	const char *tag;
	struct caller *c;
};

static int job_uses(void *arg, struct job *job)
{
	const struct use *u = arg;
	if (!(u->tag ? has_tag(job, u->tag) : job->rec.state == u->s))
		return 0;
	return caller_may_read(u->c, job);
}

/* Whether any job C may read is in state S, or has tag TAG. */
static int in_use(struct trainfs *fs, struct caller *c, int s, const char *tag)
{
	struct use u = { s, tag, c };
	return jobs_visit(fs->jobs, job_uses, &u) == 1;
}

/* Set once a name in a state or tag folder was given to the kernel. */
static int names_given;

void byview_job_changed(struct trainfs *fs, const struct job *job,
			unsigned views)
{
	if (!__atomic_load_n(&names_given, __ATOMIC_RELAXED) || !fs->notifier)
		return;
	if (!(views & (VIEW_BIT(VIEW_STATUS) | VIEW_BIT(VIEW_TAGS))))
		return;
	/* the kernel keeps link targets (a renamed job has a new one) */
	notifier_inode(fs->notifier, node_ino(job->rec.id, N_LINK));
	for (int s = 0; s < ST_COUNT; s++)
		if (s != job->rec.state)
			notifier_entry(fs->notifier, INO_STATE_DIR0 + s,
				       job->rec.name);
	if (!(views & VIEW_BIT(VIEW_TAGS)))
		return;
	/*
	 * This runs under the job's and the listener lock (job_touch()),
	 * and the table of tag names can be large (anyone may write tags):
	 * past a bound, the names the job left are let go by LINK_TIMEOUT
	 * (a second) rather than by a note per tag name.
	 */
	lock_take(&tags.lock);
	for (size_t i = 0; tags.n <= BYVIEW_NOTIFY_TAGS_MAX && i < tags.n; i++)
		if (tags.names[i] && !has_tag(job, tags.names[i]))
			notifier_entry(fs->notifier,
				       TAG_INO_BASE + (fuse_ino_t)i,
				       job->rec.name);
	lock_drop(&tags.lock);
}

void byview_job_mode_changed(struct trainfs *fs, const struct job *job)
{
	if (!__atomic_load_n(&names_given, __ATOMIC_RELAXED) || !fs->notifier)
		return;
	notifier_entry(fs->notifier, INO_STATE_DIR0 + job->rec.state,
		       job->rec.name);
	for (size_t i = 0; i < job->ntags; i++) {
		long idx = tag_index(job->tags[i].name, 0);
		if (idx >= 0)
			notifier_entry(fs->notifier,
				       TAG_INO_BASE + (fuse_ino_t)idx,
				       job->rec.name);
	}
}

int byview_is(enum node_kind k)
{
	return k == N_BY_STATE || k == N_BY_TAG || k == N_STATE_DIR ||
	       k == N_TAG_DIR || k == N_LINK;
}

fuse_ino_t byview_lookup(struct trainfs *fs, struct caller *c,
			 fuse_ino_t parent, const char *name)
{
	enum node_kind pk = ino_kind(parent);
	char tag[JOB_NAME_MAX + 1];
	if (pk == N_ROOT)
		return !strcmp(name, "by-state") ? INO_BY_STATE :
		       !strcmp(name, "by-tag")	 ? INO_BY_TAG :
						   0;
	if (pk == N_BY_STATE) {
		int s = state_from_name(name);
		return s >= 0 && in_use(fs, c, s, NULL) ? INO_STATE_DIR0 + s :
							  0;
	}
	if (pk == N_BY_TAG) {
		if (!in_use(fs, c, -1, name))
			return 0;
		long idx = tag_index(name, 1);
		if (idx >= 0 &&
		    tags_outgrown()) { /* frees the names not in use */
			struct caller all = { .uid = 0 }; /* sees every job */
			/* Only to free the names: add_nothing never fails. */
			(void)!byview_list(fs, &all, INO_BY_TAG, add_nothing,
					   NULL);
		}
		return idx < 0 ? 0 : TAG_INO_BASE + (fuse_ino_t)idx;
	}
	if (pk != N_STATE_DIR && pk != N_TAG_DIR)
		return 0;
	const char *t = pk == N_TAG_DIR ? tag_name(parent, tag, sizeof tag) :
					  NULL;
	jobs_lock(fs->jobs);
	struct job *job = jobs_find_name(fs->jobs, name);
	int64_t id = job ? job->rec.id : 0;
	jobs_unlock(fs->jobs);
	if (!id || !(job = jobs_lock_job(fs->jobs, id)))
		return 0;
	int in = job_in(job, parent, t) && caller_may_read(c, job);
	jobs_unlock_job(fs->jobs, job);
	if (!in)
		return 0;
	__atomic_store_n(&names_given, 1, __ATOMIC_RELAXED);
	return node_ino(id, N_LINK);
}

int byview_attr(struct trainfs *fs, fuse_ino_t ino, struct stat *st)
{
	enum node_kind k = ino_kind(ino);
	char tag[JOB_NAME_MAX + 1];
	if (k == N_LINK) {
		struct job *job = jobs_lock_job(fs->jobs, ino_job(ino));
		if (!job)
			return -ENOENT;
		st->st_mode = S_IFLNK | 0777;
		st->st_uid = job->rec.uid;
		st->st_gid = job->rec.gid;
		st->st_size = (off_t)strlen("../../jobs/") +
			      (off_t)strlen(job->rec.name);
		int64_t t = job->rec.mtime_ns[VIEW_STATUS];
		st->st_mtim.tv_sec = t / 1000000000LL;
		st->st_mtim.tv_nsec = t % 1000000000LL;
		jobs_unlock_job(fs->jobs, job);
	} else {
		if (k == N_TAG_DIR && !tag_name(ino, tag, sizeof tag))
			return -ENOENT;
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_uid = fs->uid;
		st->st_gid = fs->gid;
		jobs_lock(fs->jobs); /* fs->mtime_ns is the registry's */
		int64_t t = fs->mtime_ns;
		jobs_unlock(fs->jobs);
		st->st_mtim.tv_sec = t / 1000000000LL;
		st->st_mtim.tv_nsec = t % 1000000000LL;
	}
	st->st_ctim = st->st_atim = st->st_mtim;
	return 0;
}

struct list_walk {
	struct caller *c; /* who lists: only the jobs it may read */
	enum node_kind k;
	fuse_ino_t ino;
	const char *tag;
	int used[ST_COUNT];
	unsigned char *seen; /* by-tag/: a mark per tag index listed */
	int partial;	     /* some job was not the caller's to read */
	size_t cap;
	int (*add)(void *arg, const char *name, fuse_ino_t ino);
	void *arg;
};

/* One job's part of a listing of W's folder.  With the job's lock held. */
static int list_job(void *arg, struct job *job)
{
	struct list_walk *w = arg;
	int rc = 0;
	if (!caller_may_read(w->c, job)) {
		w->partial = 1; /* its tags are in use all the same */
		return 0;
	}
	if (w->k == N_BY_STATE) {
		if (job->rec.state >= 0 && job->rec.state < ST_COUNT)
			w->used[job->rec.state] = 1;
		return 0;
	}
	if (w->k != N_BY_TAG)
		return job_in(job, w->ino, w->tag) ?
			       w->add(w->arg, job->rec.name,
				      node_ino(job->rec.id, N_LINK)) :
			       0;
	/* each tag in use once: a mark per index */
	for (size_t t = 0; !rc && t < job->ntags; t++) {
		long idx = tag_index(job->tags[t].name, 1);
		if (idx < 0)
			return -ENOMEM;
		if ((size_t)idx >= w->cap) {
			size_t nc = ((size_t)idx + 1) * 2;
			unsigned char *m = realloc(w->seen, nc);
			if (!m)
				return -ENOMEM;
			memset(m + w->cap, 0, nc - w->cap);
			w->seen = m;
			w->cap = nc;
		}
		if (w->seen[idx])
			continue;
		w->seen[idx] = 1;
		rc = w->add(w->arg, job->tags[t].name,
			    TAG_INO_BASE + (fuse_ino_t)idx);
	}
	return rc;
}

int byview_list(struct trainfs *fs, struct caller *c, fuse_ino_t ino,
		int (*add)(void *arg, const char *name, fuse_ino_t ino),
		void *arg)
{
	char tag[JOB_NAME_MAX + 1];
	struct list_walk w = {
		.c = c, .k = ino_kind(ino), .ino = ino, .add = add, .arg = arg
	};
	if (w.k == N_TAG_DIR && !(w.tag = tag_name(ino, tag, sizeof tag)))
		return -ENOENT;
	if (w.k == N_STATE_DIR || w.k == N_TAG_DIR)
		__atomic_store_n(&names_given, 1,
				 __ATOMIC_RELAXED); /* readdirplus */
	unsigned long gen = w.k == N_BY_TAG ? tags_sweep_begin() : 0;
	int rc = jobs_visit(fs->jobs, list_job, &w);
	/* Every name in use is marked in seen, when the walk saw every job. */
	if (!rc && w.k == N_BY_TAG && !w.partial)
		tags_sweep(w.seen, w.cap, gen);
	free(w.seen);
	for (int s = 0; !rc && w.k == N_BY_STATE && s < ST_COUNT; s++)
		if (w.used[s])
			rc = add(arg, state_name(s), INO_STATE_DIR0 + s);
	return rc;
}

int byview_readlink(struct trainfs *fs, fuse_ino_t ino, char *buf, size_t len)
{
	jobs_lock(fs->jobs);
	struct job *job = ino_kind(ino) == N_LINK ?
				  jobs_find(fs->jobs, ino_job(ino)) :
				  NULL;
	int rc = job ? 0 : -ENOENT;
	if (job &&
	    (size_t)snprintf(buf, len, "../../jobs/%s", job->rec.name) >= len)
		rc = -ENAMETOOLONG;
	jobs_unlock(fs->jobs);
	return rc;
}

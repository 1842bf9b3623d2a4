/*
 * notify: keeps the kernel's caches true.  trainfs lets the kernel cache
 * names, attributes and file contents for a long time (reads and stats
 * then cost no round trip), and tells it exactly what went stale when a
 * job changes: fuse_lowlevel_notify_inval_inode() for each file the change
 * touched, _inval_entry() for a name that appeared (the tarball).
 *
 * Notifications must not be sent from a request handler, nor with a
 * job's lock held (the kernel may wait for a page that a read handler
 * is filling), so they go through a queue to this module's own thread.
 * Waiters on `wait` and poll(2) are answered by that thread too, after the
 * invalidation, so whoever they wake reads the new state.  A handler that
 * changed something calls notifier_sync() before it replies: when its
 * write returns, the next `cat` already sees the change.  Until a change
 * is published (job->published), opens bypass the page cache (file.c), so
 * nobody reads a new rendering through an old cached size.  Before the
 * session's /dev/fuse descriptor is closed, notifier_mute() ends the
 * sends (waiting for one under way), so none goes to a closed descriptor
 * or to a file that took its number.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/fs.h"
#include "util/lock.h"
#include "util/log.h"

struct note {
	fuse_ino_t ino;	   /* inode to invalidate, or 0 */
	fuse_ino_t parent; /* with name: a directory entry to invalidate */
	char *name;
	int64_t job; /* > 0: answer the job's waiters and polls after */
	unsigned long changes; /* with job: the change this note publishes */
	int counted;	       /* already counted in sent (kept for a retry) */
	struct note *next;
};

struct notifier {
	struct lock lock;    /* protects the queue and the counters */
	pthread_cond_t more; /* work arrived, or quit */
	pthread_cond_t done; /* sent moved on */
	struct note *head, *tail;
	unsigned long queued, sent; /* notes queued and sent so far */
	int quit;
	int muted;   /* notifier_mute(): no more sends to the kernel */
	int sending; /* the thread is in a send to the kernel */
	pthread_t thread;
	struct fuse_session *se;
	struct trainfs *fs;
};

static void enqueue(struct notifier *n, struct note *x)
{
	lock_take(&n->lock);
	if (n->tail)
		n->tail->next = x;
	else
		n->head = x;
	n->tail = x;
	n->queued++;
	pthread_cond_signal(&n->more);
	lock_drop(&n->lock);
}

void notifier_inode(struct notifier *n, fuse_ino_t ino)
{
	struct note *x = calloc(1, sizeof *x);
	if (!x)
		return; /* the attribute timeout still bounds staleness */
	x->ino = ino;
	enqueue(n, x);
}

void notifier_entry(struct notifier *n, fuse_ino_t parent, const char *name)
{
	struct note *x = calloc(1, sizeof *x);
	if (x && (x->name = strdup(name))) {
		x->parent = parent;
		enqueue(n, x);
	} else {
		free(x); /* the entry timeout still bounds staleness */
	}
}

void notifier_job_changed(struct notifier *n, const struct job *job,
			  unsigned views)
{
	static const struct {
		enum job_view view;
		enum node_kind kind;
	} map[] = {
		{ VIEW_SPEC, N_SPEC },	     { VIEW_CONTROL, N_CONTROL },
		{ VIEW_STATUS, N_STATUS },   { VIEW_STATUS, N_GRAPH },
		{ VIEW_TAGS, N_TAGS },	     { VIEW_METRICS, N_METRICS },
		{ VIEW_METRICS, N_GRAPH },   { VIEW_EVENTS, N_EVENTS },
		{ VIEW_WEIGHTS, N_WEIGHTS }, { VIEW_LOG, N_LOG },
	};
	int64_t id = job->rec.id;
	unsigned done = 0;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		if (!(views & VIEW_BIT(map[i].view)) ||
		    (done & (1u << map[i].kind)))
			continue;
		done |= 1u << map[i].kind;
		notifier_inode(n, node_ino(id, map[i].kind));
	}
	char shown[PATH_MAX];
	if ((views & VIEW_BIT(VIEW_WEIGHTS)) &&
	    !job_weights_name(job, shown, sizeof shown))
		notifier_entry(n, node_ino(id, N_WEIGHTS), shown);
	struct note *w = calloc(1, sizeof *w);
	if (w) {
		w->job = id;
		w->changes = job->changes;
		enqueue(n, w);
	}
}

/*
 * Publishes X's change of its job and answers the job's waiters and polls.
 * Returns 0, or -EAGAIN when the job's lock is busy (a long rendering):
 * the note is kept for a later turn rather than waited for, so one busy
 * job never delays the news of the others.
 */
static int answer_job(struct notifier *n, struct note *x)
{
	struct trainfs *fs = n->fs;
	struct job *job = jobs_get(fs->jobs, x->job);
	if (job && !job_trylock(job)) {
		jobs_put(fs->jobs, job);
		return -EAGAIN;
	}
	if (job && job->removed) {
		jobs_unlock_job(fs->jobs, job);
		job = NULL;
	}
	if (job && (long)(x->changes - job->published) > 0)
		job->published = x->changes;
	waiters_job_changed(fs->waiters, x->job, job);
	if (job)
		jobs_unlock_job(fs->jobs, job);
	return 0;
}

/* Whether a send may start (not muted): then marked as under way. */
static int send_begin(struct notifier *n)
{
	lock_take(&n->lock);
	int ok = !n->muted;
	n->sending = ok;
	lock_drop(&n->lock);
	return ok;
}

static void send_end(struct notifier *n)
{
	lock_take(&n->lock);
	n->sending = 0;
	pthread_cond_broadcast(&n->done);
	lock_drop(&n->lock);
}

/* Sends X; returns -EAGAIN when its job part is to be tried again. */
static int send_note(struct notifier *n, struct note *x)
{
	int rc = 0;
	if ((x->ino || x->name) && send_begin(n)) {
		if (x->ino)
			rc = fuse_lowlevel_notify_inval_inode(n->se, x->ino, 0,
							      0);
		else
			rc = fuse_lowlevel_notify_inval_entry(
				n->se, x->parent, x->name, strlen(x->name));
		send_end(n);
	}
	/*
	 * ENOENT: the kernel does not know it, so nothing is cached; ENOSYS:
	 * the kernel has not opened the session yet (right after a mount),
	 * so nothing is cached either.
	 */
	if (rc && rc != -ENOENT && rc != -ENOSYS && rc != -ENOTCONN &&
	    rc != -EBADF)
		log_error("cache invalidation: %s\n", strerror(-rc));
	x->ino = 0; /* sent: a retry only answers the job */
	free(x->name);
	x->name = NULL;
	return x->job > 0 ? answer_job(n, x) : 0;
}

static void *notifier_main(void *arg)
{
	struct notifier *n = arg;
	struct note *later = NULL; /* notes whose job was busy, in order */
	lock_take(&n->lock);
	for (;;) {
		while (!n->head && !later && !n->quit)
			lock_wait(&n->more, &n->lock);
		if (!n->head && later && !n->quit) {
			struct timespec t;
			clock_gettime(CLOCK_REALTIME, &t);
			t.tv_nsec += 5 * 1000000;
			if (t.tv_nsec >= 1000000000) {
				t.tv_sec++;
				t.tv_nsec -= 1000000000;
			}
			lock_timedwait(&n->more, &n->lock, &t);
		}
		if (n->quit && !n->head)
			break;
		/* The kept notes first, so a job's news stay in order. */
		struct note *batch = n->head, **end = &later;
		while (*end)
			end = &(*end)->next;
		*end = batch;
		batch = later;
		later = NULL;
		n->head = n->tail = NULL;
		lock_drop(&n->lock);
		unsigned long count = 0;
		struct note **keep = &later;
		while (batch) {
			struct note *x = batch;
			batch = x->next;
			/* Invalidations count as sent at once (notifier_sync). */
			count += !x->counted;
			x->counted = 1;
			if (send_note(n, x) == -EAGAIN) {
				x->next = NULL;
				*keep = x;
				keep = &x->next;
				continue;
			}
			free(x->name);
			free(x);
		}
		lock_take(&n->lock);
		n->sent += count;
		pthread_cond_broadcast(&n->done);
	}
	lock_drop(&n->lock);
	while (later) {
		struct note *x = later;
		later = x->next;
		free(x->name);
		free(x);
	}
	return NULL;
}

void notifier_sync(struct notifier *n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1; /* never hang a request on the kernel */
	lock_take(&n->lock);
	unsigned long target = n->queued;
	while (n->sent < target && !n->quit)
		if (lock_timedwait(&n->done, &n->lock, &until) == ETIMEDOUT)
			break;
	lock_drop(&n->lock);
}

struct notifier *notifier_start(struct fuse_session *se, struct trainfs *fs)
{
	struct notifier *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	lock_init(&n->lock, LOCK_NOTIFY);
	pthread_cond_init(&n->more, NULL);
	pthread_cond_init(&n->done, NULL);
	n->se = se;
	n->fs = fs;
	if (pthread_create(&n->thread, NULL, notifier_main, n)) {
		free(n);
		return NULL;
	}
	return n;
}

void notifier_mute(struct notifier *n)
{
	if (!n)
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	lock_take(&n->lock);
	n->muted = 1;
	while (n->sending)
		if (lock_timedwait(&n->done, &n->lock, &until) == ETIMEDOUT)
			break;
	lock_drop(&n->lock);
}

void notifier_stop(struct notifier *n)
{
	if (!n)
		return;
	lock_take(&n->lock);
	n->quit = 1;
	pthread_cond_broadcast(&n->more);
	pthread_cond_broadcast(&n->done);
	lock_drop(&n->lock);
	pthread_join(n->thread, NULL);
	lock_destroy(&n->lock);
	pthread_cond_destroy(&n->more);
	pthread_cond_destroy(&n->done);
	free(n);
}

/*
 * wait: a read of jobs/NAME/wait blocks until the job is final.  The read
 * is not answered by a sleeping worker thread: its request is kept here
 * and answered later, from whichever thread makes the job final, so any
 * number of waiters cost no threads (libfuse's workers are capped, main.c).
 *
 * A waiter is answered exactly once: with the status when the job is
 * final, or EINTR when the reader is interrupted (Ctrl-C on cat).  The
 * interrupt callback finds its request by pointer in the list under the
 * list's mutex, so it never touches a waiter that was already answered.
 * Lock order: the job's lock (jobs/core/registry.h), then this mutex.
 *
 * poll(2) works as on sysfs: a file of a job is readable again once the job
 * has changed since the open file last read it from the start; until then
 * its poll handle waits here, one per open file, and is woken on the change.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "fs/fs.h"
#include "util/lock.h"

struct waiter {
	fuse_req_t req;
	int64_t job;
	struct waiter *next;
};

struct poller {
	struct fuse_pollhandle *ph;
	int64_t job;
	const void *key; /* the open file */
	struct poller *next;
};

struct waiters {
	struct lock lock; /* protects both lists */
	struct waiter *head;
	struct poller *polls;
};

struct waiters *waiters_new(void)
{
	struct waiters *w = calloc(1, sizeof *w);
	if (w)
		lock_init(&w->lock, LOCK_WAIT);
	return w;
}

void waiters_free(struct waiters *w)
{
	if (!w)
		return;
	lock_take(&w->lock);
	while (w->head) {
		struct waiter *x = w->head;
		w->head = x->next;
		fuse_reply_err(x->req, EINTR);
		free(x);
	}
	while (w->polls) {
		struct poller *p = w->polls;
		w->polls = p->next;
		fuse_pollhandle_destroy(p->ph);
		free(p);
	}
	lock_drop(&w->lock);
	lock_destroy(&w->lock);
	free(w);
}

void waiters_poll(struct waiters *w, int64_t id, const void *key,
		  struct fuse_pollhandle *ph)
{
	lock_take(&w->lock);
	struct poller *p = w->polls;
	while (p && p->key != key)
		p = p->next;
	if (!p && (p = calloc(1, sizeof *p))) {
		p->key = key;
		p->next = w->polls;
		w->polls = p;
	}
	if (p) {
		if (p->ph)
			fuse_pollhandle_destroy(p->ph);
		p->ph = ph;
		p->job = id;
	} else {
		fuse_pollhandle_destroy(ph);
	}
	lock_drop(&w->lock);
}

void waiters_forget(struct waiters *w, const void *key)
{
	lock_take(&w->lock);
	for (struct poller **pp = &w->polls; *pp; pp = &(*pp)->next) {
		if ((*pp)->key == key) {
			struct poller *p = *pp;
			*pp = p->next;
			if (p->ph)
				fuse_pollhandle_destroy(p->ph);
			free(p);
			break;
		}
	}
	lock_drop(&w->lock);
}

/* Wakes the polls on job ID.  With the list's mutex held. */
static void wake_polls(struct waiters *w, int64_t id)
{
	for (struct poller *p = w->polls; p; p = p->next) {
		if (p->job != id || !p->ph)
			continue;
		fuse_lowlevel_notify_poll(p->ph);
		fuse_pollhandle_destroy(p->ph);
		p->ph = NULL;
	}
}

static void reply_status(fuse_req_t req, const struct job *job)
{
	char *text;
	size_t len;
	if (render(job, N_STATUS, &text, &len))
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, text, len);
	free(text);
}

static void interrupted(fuse_req_t req, void *data)
{
	struct waiters *w = data;
	lock_take(&w->lock);
	for (struct waiter **p = &w->head; *p; p = &(*p)->next) {
		if ((*p)->req == req) {
			struct waiter *x = *p;
			*p = x->next;
			fuse_reply_err(req, EINTR);
			free(x);
			break;
		}
	}
	lock_drop(&w->lock);
}

void waiters_read(struct waiters *w, fuse_req_t req, const struct job *job)
{
	if (state_is_final(job->rec.state)) {
		reply_status(req, job);
		return;
	}
	struct waiter *x = malloc(sizeof *x);
	if (!x) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	x->req = req;
	x->job = job->rec.id;
	lock_take(&w->lock);
	x->next = w->head;
	w->head = x;
	lock_drop(&w->lock);
	/* Listed first, so an interrupt that already came finds it. */
	fuse_req_interrupt_func(req, interrupted, w);
}

void waiters_job_changed(struct waiters *w, int64_t id, const struct job *job)
{
	lock_take(&w->lock);
	wake_polls(w, id);
	if (job && !state_is_final(job->rec.state)) {
		lock_drop(&w->lock);
		return;
	}
	for (struct waiter **p = &w->head; *p;) {
		struct waiter *x = *p;
		if (x->job != id) {
			p = &x->next;
			continue;
		}
		*p = x->next;
		if (!job)
			fuse_reply_err(x->req, ENOENT);
		else
			reply_status(x->req, job);
		free(x);
	}
	lock_drop(&w->lock);
}

/*
 * handle: open files and folders.  Every one is on the mount's list of
 * open things (struct opened), so what the kernel never released is freed
 * at exit; a file's handle (struct handle) holds its job's id, never a
 * pointer to the job, and the rendering it shows or the text being
 * written, charged to its opener (usermem.c) so no user can hold more
 * than a share of the daemon's memory.
 *
 * Locks: opened_lock protects the list only; a handle is used by one
 * request at a time (the kernel serializes a file's requests with its
 * release) and needs no lock of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "util/lock.h"

void fs_opened_init(struct trainfs *fs)
{
	lock_init(&fs->opened_lock, LOCK_OPENED);
	fs->opened.prev = fs->opened.next = &fs->opened;
	lock_init(&fs->backing_lock, LOCK_BACKING);
}

void fs_opened_add(struct trainfs *fs, struct opened *o,
		   void (*free_fn)(struct opened *))
{
	o->free = free_fn;
	lock_take(&fs->opened_lock);
	o->next = fs->opened.next;
	o->prev = &fs->opened;
	o->next->prev = o;
	fs->opened.next = o;
	lock_drop(&fs->opened_lock);
}

void fs_opened_close(struct trainfs *fs, struct opened *o)
{
	lock_take(&fs->opened_lock);
	o->prev->next = o->next;
	o->next->prev = o->prev;
	lock_drop(&fs->opened_lock);
	o->free(o);
}

void fs_opened_free(struct trainfs *fs)
{
	while (fs->opened.next != &fs->opened)
		fs_opened_close(fs, fs->opened.next);
	lock_destroy(&fs->opened_lock);
	passthrough_free(fs);
}

/*
 * Counts BYTES against H's opener in place of what it held: 0, or
 * -ENOMEM past the opener's share (the old charge is kept then).
 */
struct handle *handle_new(struct trainfs *fs, fuse_ino_t ino, uid_t uid)
{
	struct handle *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->fs = fs;
	h->kind = ino_kind(ino);
	h->id = ino_job(ino);
	h->ino = ino;
	h->fd = -1;
	h->uid = uid;
	return h;
}

int handle_charge(struct handle *h, size_t bytes)
{
	if (bytes > h->charged) {
		int rc = usermem_charge(h->uid, bytes - h->charged);
		if (rc)
			return rc;
	} else {
		usermem_uncharge(h->uid, h->charged - bytes);
	}
	h->charged = bytes;
	return 0;
}

/* H no longer shows a rendering. */
void handle_unshow(struct handle *h)
{
	if (!h->r)
		return;
	rendering_unhold(h->fs, h->r, h->uid);
	rendering_put(h->fs, h->r);
	h->r = NULL;
}

/*
 * Makes R (a reference, taken over) the rendering H shows, charged to its
 * opener; on -ENOMEM H keeps what it had and R is let go.
 */
int handle_show(struct handle *h, struct rendering *r)
{
	int rc = rendering_hold(h->fs, r, h->uid);
	if (rc) {
		rendering_put(h->fs, r);
		return rc;
	}
	handle_unshow(h);
	h->r = r;
	return 0;
}

/*
 * Grows H's spec buffer to hold END bytes (twice that with SLACK, for
 * writes to come): 0, -ENOMEM.
 */
int handle_grow(struct handle *h, size_t end, int slack)
{
	if (end <= h->cap)
		return 0;
	size_t cap = slack ? end * 2 : end;
	int rc = handle_charge(h, h->charged - h->cap + cap);
	if (rc)
		return rc;
	char *b = realloc(h->buf, cap);
	if (!b) {
		/* Back to what it was, a release: cannot fail. */
		(void)!handle_charge(h, h->charged - cap + h->cap);
		return -ENOMEM;
	}
	h->buf = b;
	h->cap = cap;
	return 0;
}

void fs_handle_free(struct opened *o)
{
	struct handle *h = (struct handle *)o;
	if (h->fd >= 0)
		close(h->fd);
	handle_unshow(h);
	(void)!handle_charge(h, 0); /* a release cannot fail */
	free(h->buf);
	free(h->saved);
	free(h);
}

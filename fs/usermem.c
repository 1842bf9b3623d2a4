/*
 * usermem: the memory trainfs holds for a user's requests, counted per
 * uid.  A spec being written, a rendering kept by an open file and an
 * editor's scratch file all live in the daemon, which serves every user:
 * each is charged to the uid that opened it, at most USERMEM_MAX bytes
 * per uid, so one user who holds many of them gets ENOMEM (ENOSPC for
 * scratch files) and nobody else notices.  Root is counted like anyone.
 *
 * One mutex protects the list of charges; it is a leaf lock (nothing is
 * taken under it) and every operation is a short walk of the uids that
 * hold something now.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "fs/fs.h"
#include "util/lock.h"

struct charge {
	struct charge *next;
	uid_t uid;
	size_t bytes;
};

static struct lock usermem_lock = LOCK_INITIALIZER(LOCK_USERMEM);
static struct charge *charges; /* uids holding more than 0 bytes */

/* The charge of UID, or where it would go.  Locked. */
static struct charge **find(uid_t uid)
{
	struct charge **p = &charges;
	while (*p && (*p)->uid != uid)
		p = &(*p)->next;
	return p;
}

int usermem_charge(uid_t uid, size_t bytes)
{
	int rc = 0;
	if (!bytes)
		return 0;
	lock_take(&usermem_lock);
	struct charge **p = find(uid);
	size_t held = *p ? (*p)->bytes : 0;
	if (bytes > USERMEM_MAX || held > USERMEM_MAX - bytes) {
		rc = -ENOMEM;
	} else if (*p) {
		(*p)->bytes += bytes;
	} else if ((*p = calloc(1, sizeof **p))) {
		(*p)->uid = uid;
		(*p)->bytes = bytes;
	} else {
		rc = -ENOMEM;
	}
	lock_drop(&usermem_lock);
	return rc;
}

void usermem_uncharge(uid_t uid, size_t bytes)
{
	if (!bytes)
		return;
	lock_take(&usermem_lock);
	struct charge **p = find(uid), *c = *p;
	if (c && c->bytes > bytes) {
		c->bytes -= bytes;
	} else if (c) {
		*p = c->next;
		free(c);
	}
	lock_drop(&usermem_lock);
}

size_t usermem_held(uid_t uid)
{
	lock_take(&usermem_lock);
	struct charge *c = *find(uid);
	size_t n = c ? c->bytes : 0;
	lock_drop(&usermem_lock);
	return n;
}

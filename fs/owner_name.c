/*
 * owner_name: the user name of a job's owner for status ("owner: NAME
 * (UID)"), without a user lookup under the job's lock.  getpwuid_r may ask
 * a directory server (LDAP, NIS) and wait for it; status is rendered with
 * the job's lock held, so the lookup is done by a thread of its own and
 * the answers are kept in a small table.
 *
 * A renderer that finds the uid in the table takes the name at once; a
 * name older than OWNER_FRESH_S is looked up again in the background, the
 * old one shown meanwhile.  A uid not seen before is asked for and waited
 * for at most OWNER_WAIT_MS: a directory that does not answer costs one
 * render that long once, and status shows the bare uid until it answers.
 *
 * Locks: names.lock guards the table and the resolver's queue; a leaf
 * (taken under a job's lock, nothing taken under it), never held over a
 * lookup.  The resolver thread starts with the first question, and again
 * in a process forked since (threads do not survive the daemonizing fork).
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs/owner_name.h"
#include "util/lock.h"
#include "util/log.h"

#define OWNER_SLOTS 256	  /* uids remembered; the oldest makes room */
#define OWNER_FRESH_S 60  /* a name is looked up again after this */
#define OWNER_WAIT_MS 200 /* a renderer waits for a new uid this long */

enum { SLOT_FREE, SLOT_ASKED, SLOT_KNOWN };

struct slot {
	int state;
	int stale_asked; /* a new lookup of a known name is queued */
	uid_t uid;
	int has_name; /* the uid has a name (else: none found) */
	char name[OWNER_NAME_MAX];
	time_t at; /* when asked or answered */
};

static struct {
	struct lock lock;
	pthread_cond_t asked;	 /* the resolver has work */
	pthread_cond_t answered; /* a lookup finished */
	pid_t started;		 /* the process whose resolver runs, or 0 */
	struct slot slots[OWNER_SLOTS];
} names = {
	.lock = LOCK_INITIALIZER(LOCK_OWNER_NAMES),
	.asked = PTHREAD_COND_INITIALIZER,
	.answered = PTHREAD_COND_INITIALIZER,
};

static time_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The slot of a queued uid, or NULL; with names.lock held. */
static struct slot *next_question(void)
{
	for (size_t i = 0; i < OWNER_SLOTS; i++)
		if (names.slots[i].state == SLOT_ASKED ||
		    names.slots[i].stale_asked)
			return &names.slots[i];
	return NULL;
}

/* The resolver: looks up each queued uid with no lock held. */
static void *resolver_main(void *arg)
{
	(void)arg;
	lock_take(&names.lock);
	for (;;) {
		struct slot *s = next_question();
		if (!s) {
			lock_wait(&names.asked, &names.lock);
			continue;
		}
		uid_t uid = s->uid;
		s->stale_asked = 0;
		lock_drop(&names.lock);
		struct passwd pw, *found = NULL;
		char buf[4096], name[OWNER_NAME_MAX] = "";
		int rc = getpwuid_r(uid, &pw, buf, sizeof buf, &found);
		if (rc == 0 && found)
			snprintf(name, sizeof name, "%s", found->pw_name);
		lock_take(&names.lock);
		/* The slot may have been given to another uid meanwhile. */
		if (s->uid == uid && s->state != SLOT_FREE) {
			s->state = SLOT_KNOWN;
			s->has_name = *name != '\0';
			memcpy(s->name, name, sizeof name);
			s->at = now_s();
		}
		pthread_cond_broadcast(&names.answered);
	}
	return NULL;
}

/* Starts the resolver of this process; with names.lock held. */
static void start_resolver(void)
{
	pthread_t t;
	pthread_attr_t a;
	int rc = pthread_attr_init(&a);
	if (!rc)
		rc = pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (!rc)
		rc = pthread_create(&t, &a, resolver_main, NULL);
	pthread_attr_destroy(&a);
	if (rc)
		log_error("cannot start the owner name lookups: %s\n",
			  strerror(rc));
	else
		names.started = getpid();
}

/* UID's slot, or a new one for it (the oldest slot); names.lock held. */
static struct slot *slot_of(uid_t uid)
{
	struct slot *oldest = &names.slots[0];
	for (size_t i = 0; i < OWNER_SLOTS; i++) {
		struct slot *s = &names.slots[i];
		if (s->state != SLOT_FREE && s->uid == uid)
			return s;
		if (s->state == SLOT_FREE ||
		    (oldest->state != SLOT_FREE && s->at < oldest->at))
			oldest = s;
	}
	*oldest =
		(struct slot){ .state = SLOT_ASKED, .uid = uid, .at = now_s() };
	pthread_cond_signal(&names.asked);
	return oldest;
}

int owner_name(uid_t uid, char *buf, size_t len)
{
	int found = 0;
	lock_take(&names.lock);
	if (names.started != getpid())
		start_resolver();
	if (names.started != getpid()) {
		lock_drop(&names.lock);
		return 0;
	}
	struct slot *s = slot_of(uid);
	if (s->state == SLOT_ASKED) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += OWNER_WAIT_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (s->uid == uid && s->state == SLOT_ASKED &&
		       lock_timedwait(&names.answered, &names.lock, &until) !=
			       ETIMEDOUT)
			;
	}
	if (s->uid == uid && s->state == SLOT_KNOWN) {
		if (s->has_name && len) {
			snprintf(buf, len, "%s", s->name);
			found = 1;
		}
		if (now_s() - s->at >= OWNER_FRESH_S && !s->stale_asked) {
			s->stale_asked = 1;
			pthread_cond_signal(&names.asked);
		}
	}
	lock_drop(&names.lock);
	return found;
}

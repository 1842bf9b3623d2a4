/*
 * lock: the checked mutex (the rules are in lock.h).
 *
 * Each thread keeps what it holds in a small array in thread-local
 * storage, in the order taken: the lock, and the file and line that took
 * it.  lock_take() compares the new lock's level with every entry (a few
 * compares: a thread rarely holds more than three locks), then waits for
 * the mutex and appends it; lock_drop() removes the newest entry of that
 * lock, wherever it is.  A breach is written to stderr and to the log
 * file with write(2) alone (the logger has a lock of its own, which may be
 * the one at fault) and ends the process with abort(), so a core or the
 * log shows it.
 * Takes no lock of its own.
 */
#include "util/lock.h"

#include <errno.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *name;
	int nests;
} levels[LOCK_LEVELS] = { [LOCK_NONE] = { "(uninitialised)", 0 },
#define LOCK_ROW_(level, name, nests) [level] = { name, nests },
			  LOCK_TABLE(LOCK_ROW_)
#undef LOCK_ROW_
};

struct held {
	const struct lock *l;
	const char *file;
	int line;
};

static __thread struct held held[LOCK_HELD_MAX];
static __thread int nheld;

static int report_fd = -1; /* lock_report_to() */

void lock_report_to(int fd)
{
	__atomic_store_n(&report_fd, fd, __ATOMIC_RELAXED);
}

const char *lock_level_name(unsigned level)
{
	return level < LOCK_LEVELS ? levels[level].name : "(bad level)";
}

static const char *name_of(const struct lock *l)
{
	return lock_level_name(l->level);
}

/* Appends a formatted line to BUF (of LEN bytes, *AT used so far). */
static void add(char *buf, size_t len, size_t *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	if (*at >= len)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at += (size_t)n < len - *at ? (size_t)n : len - *at - 1;
}

/*
 * Ends the process: WHAT (about L, taken or dropped at FILE:LINE), what
 * this thread holds and where each was taken, and the stack.
 */
static void __attribute__((noreturn))
lock_fail(const char *what, const struct lock *l, const char *file, int line)
{
	char buf[2048];
	size_t at = 0;
	add(buf, sizeof buf, &at,
	    "trainfs: lock checker: %s '%s' (level %u) at %s:%d\n", what,
	    name_of(l), l->level, file, line);
	for (int i = 0; i < nheld; i++)
		add(buf, sizeof buf, &at,
		    "trainfs: lock checker:   holding '%s' (level %u), "
		    "taken at %s:%d\n",
		    name_of(held[i].l), held[i].l->level, held[i].file,
		    held[i].line);
	if (!nheld)
		add(buf, sizeof buf, &at,
		    "trainfs: lock checker:   holding no lock\n");
	add(buf, sizeof buf, &at, "trainfs: lock checker: stack:\n");
	void *frames[32];
	int n = backtrace(frames, 32);
	int fds[2] = { STDERR_FILENO,
		       __atomic_load_n(&report_fd, __ATOMIC_RELAXED) };
	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0 || write(fds[i], buf, at) < 0)
			continue; /* nowhere else to say it: abort() still does */
		backtrace_symbols_fd(frames, n, fds[i]);
	}
	abort();
}

/* Ends the process unless taking L at FILE:LINE keeps the lock order. */
static void check_order(const struct lock *l, const char *file, int line)
{
	if (l->level == LOCK_NONE || l->level >= LOCK_LEVELS)
		lock_fail("taking a lock with no level:", l, file, line);
	for (int i = 0; i < nheld; i++) {
		const struct lock *h = held[i].l;
		if (h == l && levels[l->level].nests)
			continue;
		if (h == l)
			lock_fail("taking again, held already:", l, file, line);
		if (h->level == l->level)
			lock_fail("taking a second lock of a level held:", l,
				  file, line);
		if (h->level > l->level)
			lock_fail("lock order: taking, below a lock held:", l,
				  file, line);
	}
}

static void record(const struct lock *l, const char *file, int line)
{
	if (nheld == LOCK_HELD_MAX)
		lock_fail("taking one lock too many:", l, file, line);
	held[nheld++] = (struct held){ l, file, line };
}

int lock_init(struct lock *l, enum lock_level level)
{
	pthread_mutexattr_t a;
	int rc = pthread_mutexattr_init(&a);
	if (rc)
		return rc;
	if (levels[level].nests)
		rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	if (!rc)
		rc = pthread_mutex_init(&l->mu, &a);
	pthread_mutexattr_destroy(&a);
	l->level = (unsigned char)level;
	return rc;
}

int lock_destroy(struct lock *l)
{
	return pthread_mutex_destroy(&l->mu);
}

int lock_take_at(struct lock *l, const char *file, int line)
{
	check_order(l, file, line);
	int rc = pthread_mutex_lock(&l->mu);
	if (rc) {
		errno = rc;
		lock_fail("cannot take", l, file, line);
	}
	record(l, file, line);
	return 0;
}

int lock_trytake_at(struct lock *l, const char *file, int line)
{
	if (l->level == LOCK_NONE || l->level >= LOCK_LEVELS)
		lock_fail("taking a lock with no level:", l, file, line);
	int rc = pthread_mutex_trylock(&l->mu);
	if (rc)
		return rc;
	record(l, file, line);
	return 0;
}

/* The index of this thread's newest entry of L, or -1. */
static int find(const struct lock *l)
{
	for (int i = nheld - 1; i >= 0; i--)
		if (held[i].l == l)
			return i;
	return -1;
}

int lock_drop_at(struct lock *l, const char *file, int line)
{
	int i = find(l);
	if (i < 0)
		lock_fail("dropping, not held:", l, file, line);
	memmove(&held[i], &held[i + 1], (nheld - i - 1) * sizeof held[0]);
	nheld--;
	return pthread_mutex_unlock(&l->mu);
}

/* Ends the process unless L is held exactly once (a wait lets go once). */
static void check_wait(const struct lock *l, const char *file, int line)
{
	int n = 0;
	for (int i = 0; i < nheld; i++)
		n += held[i].l == l;
	if (n != 1)
		lock_fail(n ? "waiting, held more than once:" :
			      "waiting, not held:",
			  l, file, line);
}

int lock_wait_at(pthread_cond_t *cond, struct lock *l, const char *file,
		 int line)
{
	check_wait(l, file, line);
	return pthread_cond_wait(cond, &l->mu);
}

int lock_timedwait_at(pthread_cond_t *cond, struct lock *l,
		      const struct timespec *until, const char *file, int line)
{
	check_wait(l, file, line);
	return pthread_cond_timedwait(cond, &l->mu, until);
}

int lock_held(const struct lock *l)
{
	return find(l) >= 0;
}

void lock_assert_at(const struct lock *l, int want, const char *file, int line)
{
	if (lock_held(l) != want)
		lock_fail(want ? "not held, but must be:" :
				 "held, but must not be:",
			  l, file, line);
}

/*
 * lock: every mutex of trainfs, its place in the one lock order, and a
 * mutex that checks that order each time it is taken (the kernel's
 * lockdep and SQLite's unixMutexHeld()/unixFileMutexNotheld() are the
 * models).
 *
 * Each lock has a level from the table below.  A thread may take a lock
 * only when its level is above every level it already holds, so two
 * threads can never wait for each other in a circle.  A level marked
 * "nests" may be held twice by one thread (the same recursive mutex taken
 * again); any other second lock of a level held already is refused too
 * (two jobs' locks at once).  Every thread keeps a record of what it holds
 * (a small array in thread-local storage); lock_take() checks the new lock
 * against it, and a lock taken out of order ends trainfs at once, with
 * both names, where each was taken and the stack, so the test that hit it
 * fails and shows why.  The check is on in every build: it costs a few
 * compares per lock.
 *
 * lock_trytake() does not check the order (it cannot wait, so it cannot
 * deadlock) but records the lock.  A condition variable waits with
 * lock_wait()/lock_timedwait(), which keep the record as it is: the thread
 * holds the lock again when they return.
 */
#ifndef TRAINFS_LOCK_H
#define TRAINFS_LOCK_H

#include <pthread.h>
#include <time.h>

/*
 * The lock order, outermost first: X(LEVEL, name, nests).  A lock may be
 * taken while holding only locks of levels above it in this table.
 *
 *   job       jobs/: one job, everything in struct job but refs and
 *             removed.  Held over that job's own work (rendering, an
 *             ingest step, packing's end); never two jobs at once.
 *   sweeps    jobs/core/sweep.c: every sweep in memory.  Taken with no job's
 *             lock; the store's and the registry's may be taken inside.
 *   store     store/: the SQLite connection.  Recursive: a statement
 *             inside its holder's transaction takes it again.
 *   registry  jobs/: the list of jobs, names, refs and removed;
 *             bookkeeping only, so it comes after the store: a
 *             transaction that changes a job records the change
 *             (job_touch) with the store's lock held, and nothing waits
 *             for the store with the registry's lock held.
 *   listen    jobs/core/registry.c: the change callback (job_touch calls it
 *             with the job's lock, and perhaps the store's, held); the
 *             fs/ locks the callback takes come after it.
 *   scratch   fs/scratch.c: the scratch files, their list and contents.
 *   trash     store/: the deleter thread's queue.
 *   workers   jobs/core/worker.c: the count of workers alive; a leaf,
 *             taken under a job's lock to start one.
 *   slurm     jobs/run/exec_slurm.c: the Slurm executor's runs; taken under a
 *             job's lock, never held over a call to Slurm.
 *   byview    fs/byview.c: the table of tag names (under the registry's).
 *   dashfiles fs/dashfiles.c: the dashboard's renderings; the renders
 *             lock is taken inside it.
 *   opened    fs/: the list of open files.
 *   backing   fs/: the passthrough backing files.
 *   wait      fs/wait.c: the readers waiting on a job's `wait`.
 *   notify    fs/notify.c: the queue of kernel cache invalidations.
 *   renders   fs/renders.c: the shared renderings and their slots.
 *   usermem   fs/usermem.c: what each user's renderings cost.
 *   sweeps_wake  jobs/core/sweep.c: the sweeps thread's wake-up; a leaf,
 *             so a trial's ingest may poke it with anything held.
 *   owner_names  fs/owner_name.c: the owners' names and the resolver's
 *             queue; a leaf, taken under a job's lock to read a name.
 *   log       util/log.c: the log file; last, every other lock may log.
 */
#define LOCK_TABLE(X)                         \
	X(LOCK_JOB, "job", 0)                 \
	X(LOCK_SWEEPS, "sweeps", 0)           \
	X(LOCK_STORE, "store", 1)             \
	X(LOCK_REGISTRY, "registry", 0)       \
	X(LOCK_LISTEN, "listen", 0)           \
	X(LOCK_SCRATCH, "scratch", 0)         \
	X(LOCK_TRASH, "trash", 0)             \
	X(LOCK_WORKERS, "workers", 0)         \
	X(LOCK_SLURM, "slurm", 0)             \
	X(LOCK_BYVIEW, "byview", 0)           \
	X(LOCK_DASHFILES, "dashfiles", 0)     \
	X(LOCK_OPENED, "opened", 0)           \
	X(LOCK_BACKING, "backing", 0)         \
	X(LOCK_WAIT, "wait", 0)               \
	X(LOCK_NOTIFY, "notify", 0)           \
	X(LOCK_RENDERS, "renders", 0)         \
	X(LOCK_USERMEM, "usermem", 0)         \
	X(LOCK_SWEEPS_WAKE, "sweeps_wake", 0) \
	X(LOCK_OWNER_NAMES, "owner_names", 0) \
	X(LOCK_LOG, "log", 0)

enum lock_level {
	LOCK_NONE, /* 0: no lock has it; the levels start at 1 */
#define LOCK_ENUM_(level, name, nests) level,
	LOCK_TABLE(LOCK_ENUM_)
#undef LOCK_ENUM_
		LOCK_LEVELS
};

/* The most locks one thread may hold at once (recursion counts each). */
#define LOCK_HELD_MAX 16

/* A checked mutex.  Initialise with lock_init() or LOCK_INITIALIZER. */
struct lock {
	pthread_mutex_t mu;
	unsigned char level; /* enum lock_level */
};

/* A static lock of LEVEL (a level that does not nest). */
#define LOCK_INITIALIZER(level)                    \
	{                                          \
		PTHREAD_MUTEX_INITIALIZER, (level) \
	}

/*
 * Where a breach is written besides stderr: FD (the log file, set by the
 * logger; -1 for none).  Written with write(2) alone, at the end.
 */
void lock_report_to(int fd);

/* The name of LEVEL ("job"), for messages. */
const char *lock_level_name(unsigned level);

/*
 * Makes L a lock of LEVEL (recursive when the level nests).  Returns 0 or
 * a positive errno, as pthread_mutex_init() does.
 */
int lock_init(struct lock *l, enum lock_level level);
/* Returns 0 or a positive errno, as pthread_mutex_destroy() does. */
int lock_destroy(struct lock *l);

/*
 * Takes L, waiting for it; ends trainfs if taking it here breaks the lock
 * order.  Returns 0 (as pthread_mutex_lock(), so the calls read alike).
 * The caller's file and line are kept for the message of a later breach.
 */
#define lock_take(l) lock_take_at((l), __FILE__, __LINE__)
int lock_take_at(struct lock *l, const char *file, int line);
/* Takes L if it is free: 0, else EBUSY (as pthread_mutex_trylock()). */
#define lock_trytake(l) lock_trytake_at((l), __FILE__, __LINE__)
int lock_trytake_at(struct lock *l, const char *file, int line);
/* Lets go of L, which this thread holds; returns 0. */
#define lock_drop(l) lock_drop_at((l), __FILE__, __LINE__)
int lock_drop_at(struct lock *l, const char *file, int line);

/* Waits on COND, letting go of L (held) meanwhile, as pthread_cond_wait. */
#define lock_wait(cond, l) lock_wait_at((cond), (l), __FILE__, __LINE__)
int lock_wait_at(pthread_cond_t *cond, struct lock *l, const char *file,
		 int line);
/* The same with a deadline: 0, ETIMEDOUT, as pthread_cond_timedwait. */
#define lock_timedwait(cond, l, until) \
	lock_timedwait_at((cond), (l), (until), __FILE__, __LINE__)
int lock_timedwait_at(pthread_cond_t *cond, struct lock *l,
		      const struct timespec *until, const char *file, int line);

/* Whether this thread holds L. */
int lock_held(const struct lock *l);
/* Ends trainfs, naming L, unless this thread holds L (or does not). */
#define lock_assert_held(l) lock_assert_at((l), 1, __FILE__, __LINE__)
#define lock_assert_not_held(l) lock_assert_at((l), 0, __FILE__, __LINE__)
void lock_assert_at(const struct lock *l, int held, const char *file, int line);

#endif

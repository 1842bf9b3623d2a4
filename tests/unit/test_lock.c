/*
 * Unit tests for util/lock.c: the lock order is checked on every take.
 * What must end the process runs in a forked child, whose end (SIGABRT)
 * and message (both locks' names) are checked here.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "util/lock.h"

static struct lock job, registry, store, store2, log_lock;

static void init_all(void)
{
	CHECK(lock_init(&job, LOCK_JOB) == 0);
	CHECK(lock_init(&registry, LOCK_REGISTRY) == 0);
	CHECK(lock_init(&store, LOCK_STORE) == 0);
	CHECK(lock_init(&store2, LOCK_STORE) == 0);
	CHECK(lock_init(&log_lock, LOCK_LOG) == 0);
}

/*
 * Runs FN in a child with stderr captured: 1 when it ended by SIGABRT
 * with every string of WANT (NULL-terminated) in its message.
 */
static int aborts_saying(void (*fn)(void), const char *const *want)
{
	int p[2];
	if (pipe(p) < 0)
		return 0;
	pid_t pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		fn();
		_exit(0);
	}
	close(p[1]);
	char out[8192];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof out - 1 &&
	       (r = read(p[0], out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(p[0]);
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 0;
	int ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
	for (; *want; want++)
		if (!strstr(out, *want)) {
			fprintf(stderr, "missing '%s' in:\n%s", *want, out);
			ok = 0;
		}
	return ok;
}

static void in_order_is_quiet(void)
{
	lock_take(&job);
	lock_take(&store);
	lock_take(&registry);
	lock_take(&log_lock);
	CHECK(lock_held(&job) && lock_held(&log_lock));
	lock_drop(&log_lock);
	lock_drop(&registry);
	lock_drop(&job); /* not the newest: any order of letting go */
	CHECK(!lock_held(&job) && lock_held(&store));
	lock_drop(&store);
	CHECK(!lock_held(&store));
}

static void registry_then_job(void)
{
	lock_take(&registry);
	lock_take(&job);
}

static void out_of_order_aborts(void)
{
	const char *want[] = { "lock order", "'job'", "'registry'",
			       "test_lock.c", NULL };
	CHECK(aborts_saying(registry_then_job, want));
}

static int report_fd = -1;

static void registry_then_job_reported(void)
{
	lock_report_to(report_fd);
	registry_then_job();
}

/* The log file (lock_report_to) gets the same words as stderr. */
static void breach_reaches_the_log_file(void)
{
	char path[] = "/tmp/test_lock.XXXXXX";
	report_fd = mkstemp(path);
	CHECK(report_fd >= 0);
	const char *want[] = { "lock order", NULL };
	CHECK(aborts_saying(registry_then_job_reported, want));
	char text[4096] = "";
	ssize_t n = pread(report_fd, text, sizeof text - 1, 0);
	CHECK(n > 0);
	CHECK(strstr(text, "lock order") && strstr(text, "'registry'"));
	close(report_fd);
	unlink(path);
}

static void two_of_a_level(void)
{
	lock_take(&store);
	lock_take(&store2);
}

static void same_level_aborts(void)
{
	const char *want[] = { "second lock of a level", "'store'", NULL };
	CHECK(aborts_saying(two_of_a_level, want));
}

static void job_twice(void)
{
	lock_take(&job);
	lock_take(&job);
}

static void again_aborts_unless_nesting(void)
{
	const char *want[] = { "taking again", "'job'", NULL };
	CHECK(aborts_saying(job_twice, want));
	/* The store's level nests: its holder takes it again. */
	lock_take(&store);
	lock_take(&store);
	CHECK(lock_held(&store));
	lock_drop(&store);
	CHECK(lock_held(&store));
	lock_drop(&store);
	CHECK(!lock_held(&store));
}

static void assert_held_job(void)
{
	lock_assert_held(&job);
}

static void drop_unheld(void)
{
	lock_drop(&registry);
}

static void asserts_abort(void)
{
	const char *held[] = { "not held, but must be", "'job'", NULL };
	CHECK(aborts_saying(assert_held_job, held));
	const char *dropped[] = { "dropping, not held", "'registry'", NULL };
	CHECK(aborts_saying(drop_unheld, dropped));
	lock_take(&job);
	lock_assert_held(&job);
	lock_assert_not_held(&registry);
	lock_drop(&job);
}

static void trytake_records(void)
{
	lock_take(&log_lock);
	/* Out of order, but a try cannot wait: allowed, and recorded. */
	CHECK(lock_trytake(&job) == 0);
	CHECK(lock_held(&job));
	lock_drop(&job);
	lock_drop(&log_lock);
}

static struct lock cond_lock;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int flag;

static void *setter(void *arg)
{
	(void)arg;
	lock_take(&cond_lock);
	flag = 1;
	pthread_cond_signal(&cond);
	lock_drop(&cond_lock);
	return NULL;
}

static void cond_wait_keeps_record(void)
{
	CHECK(lock_init(&cond_lock, LOCK_NOTIFY) == 0);
	pthread_t t;
	lock_take(&job);
	lock_take(&cond_lock);
	CHECK(pthread_create(&t, NULL, setter, NULL) == 0);
	while (!flag)
		lock_wait(&cond, &cond_lock);
	CHECK(lock_held(&cond_lock) && lock_held(&job));
	struct timespec past = { 0, 0 };
	CHECK(lock_timedwait(&cond, &cond_lock, &past) == ETIMEDOUT);
	CHECK(lock_held(&cond_lock));
	lock_drop(&cond_lock);
	lock_drop(&job);
	pthread_join(t, NULL);
	/* Another thread's record is its own. */
	CHECK(!lock_held(&cond_lock));
}

static struct lock static_lock = LOCK_INITIALIZER(LOCK_USERMEM);

static void static_initializer(void)
{
	lock_take(&job);
	lock_take(&static_lock);
	lock_drop(&static_lock);
	lock_drop(&job);
	CHECK(!strcmp(lock_level_name(LOCK_USERMEM), "usermem"));
	CHECK(LOCK_JOB < LOCK_STORE && LOCK_STORE < LOCK_REGISTRY &&
	      LOCK_REGISTRY < LOCK_LOG);
}

int main(void)
{
	init_all();
	const struct test_case t[] = {
		TEST(in_order_is_quiet),
		TEST(out_of_order_aborts),
		TEST(breach_reaches_the_log_file),
		TEST(same_level_aborts),
		TEST(again_aborts_unless_nesting),
		TEST(asserts_abort),
		TEST(trytake_records),
		TEST(cond_wait_keeps_record),
		TEST(static_initializer),
	};
	return test_run_all("lock", t, sizeof t / sizeof t[0]);
}

/*
 * reap: see reap.h.  One detached thread per child that would not die at
 * once; they are rare (a helper past its deadline) and each ends when its
 * child does.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "util/log.h"
#include "util/reap.h"

static void *reap_main(void *arg)
{
	pid_t pid = (pid_t)(intptr_t)arg;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return NULL;
}

void reap_later(pid_t pid)
{
	pthread_t t;
	pthread_attr_t a;
	int rc;
	if (waitpid(pid, NULL, WNOHANG) != 0)
		return; /* exited already, or not ours */
	kill(pid, SIGKILL);
	for (int i = 0; i < 20; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		nanosleep(&(struct timespec){ .tv_nsec = 5000000 }, NULL);
	}
	if ((rc = pthread_attr_init(&a)) == 0) {
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &a, reap_main, (void *)(intptr_t)pid);
		pthread_attr_destroy(&a);
	}
	if (rc)
		log_warn(
			"cannot reap helper process %d (%s): it stays a zombie",
			(int)pid, strerror(rc));
}

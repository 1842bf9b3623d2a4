/*
 * clock: the times of jobs: the wall clock in nanoseconds (what every
 * event and mtime is stamped with) and its RFC 3339 form.  No state, no
 * lock.
 */
#include <stdio.h>
#include <time.h>

#include "jobs/core/job.h"

int64_t job_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

char *job_format_time(int64_t ns, char *buf, size_t len)
{
	time_t secs = (time_t)(ns / 1000000000LL);
	struct tm tm;
	if (!gmtime_r(&secs, &tm) ||
	    !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
	return buf;
}

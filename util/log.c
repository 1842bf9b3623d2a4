/*
 * log: see log.h.  One mutex keeps lines whole and the rotation single;
 * a line is formatted first, then written with one write(2) (O_APPEND),
 * so shims and packers writing to stderr at the same time never tear it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/lock.h"
#include "util/log.h"

static const char *const level_names[] = { "fatal", "error", "warning", "info",
					   "debug" };

/* The logger's state, all of it under lock. */
static struct {
	struct lock lock;
	int fd; /* the log file, or -1 */
	int to_stderr;
	char *path;
	long size; /* bytes in the file so far */
	enum log_level level;
} L = { LOCK_INITIALIZER(LOCK_LOG), -1, 1, NULL, 0, LOG_INFO };

/*
 * Makes FD the log file, closing the one before.  Lock held.  The lock
 * checker writes its last words there too, without this lock.
 */
static void set_fd(int fd)
{
	lock_report_to(-1);
	if (L.fd >= 0)
		close(L.fd);
	L.fd = fd;
	lock_report_to(fd);
}

int log_open(const char *path, int to_stderr)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0)
		return -errno;
	char *copy = strdup(path);
	if (!copy || fstat(fd, &st) < 0) {
		int rc = copy ? -errno : -ENOMEM;
		free(copy);
		close(fd);
		return rc;
	}
	lock_take(&L.lock);
	set_fd(fd);
	free(L.path);
	L.path = copy;
	L.size = st.st_size;
	L.to_stderr = to_stderr;
	lock_drop(&L.lock);
	return 0;
}

void log_close(void)
{
	lock_take(&L.lock);
	set_fd(-1);
	free(L.path);
	L.path = NULL;
	L.to_stderr = 1;
	lock_drop(&L.lock);
}

void log_to_stderr(int on)
{
	lock_take(&L.lock);
	L.to_stderr = on;
	lock_drop(&L.lock);
}

void log_set_level(enum log_level level)
{
	lock_take(&L.lock);
	L.level = level;
	lock_drop(&L.lock);
}

/* Starts a new file once the current one is full.  Lock held. */
static void rotate(void)
{
	char old[4096];
	if (snprintf(old, sizeof old, "%s.1", L.path) >= (int)sizeof old)
		return;
	if (rename(L.path, old) < 0)
		return;
	int fd = open(L.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return; /* keep writing to the renamed one */
	set_fd(fd);
	L.size = 0;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[2048], line[2200], when[32];
	va_list ap;
	time_t now = time(NULL);
	struct tm tm;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (!gmtime_r(&now, &tm) ||
	    !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
		strcpy(when, "?");
	int errno_was = errno;
	lock_take(&L.lock);
	if (level > L.level) {
		lock_drop(&L.lock);
		return;
	}
	if (L.to_stderr || L.fd < 0) {
		int len = level == LOG_FATAL ?
				  snprintf(line, sizeof line, "trainfs: %s\n",
					   msg) :
				  snprintf(line, sizeof line,
					   "trainfs: %s: %s\n",
					   level_names[level], msg);
		if (len > (int)sizeof line - 1)
			len = sizeof line - 1;
		if (write(2, line, len) < 0) {
			/* nowhere left to say it */
		}
	}
	if (L.fd >= 0) {
		int len = snprintf(line, sizeof line, "%s %s: %s\n", when,
				   level_names[level], msg);
		if (len > (int)sizeof line - 1)
			len = sizeof line - 1;
		if (L.size + len > LOG_FILE_MAX)
			rotate();
		if (write(L.fd, line, len) == len)
			L.size += len;
	}
	lock_drop(&L.lock);
	errno = errno_was;
}

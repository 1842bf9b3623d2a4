/*
 * cause: the error text of a failed trainer (cause.h).  Only the log's
 * last CAUSE_LOG_TAIL bytes are read, with one pread: a log of any size
 * costs the same, and no lock is needed beyond the caller's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/model/cause.h"
#include "util/text.h"
#include "util/userfile.h"

/* The shell's own statuses (POSIX "Command Search and Execution"). */
static const char *status_cause(int code)
{
	switch (code) {
	case 127:
		return "command not found";
	case 126:
		return "command cannot be run";
	default:
		return NULL;
	}
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *cause_log_last_line(char *buf, size_t len, const char *path)
{
	char tail[CAUSE_LOG_TAIL];
	struct stat st;
	if (len)
		buf[0] = '\0';
	if (!path || !len)
		return buf;
	int fd = userfile_open(AT_FDCWD, path, O_RDONLY);
	if (fd < 0)
		return buf;
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t at = st.st_size > (off_t)sizeof tail ?
				   st.st_size - (off_t)sizeof tail :
				   0;
		n = pread(fd, tail, sizeof tail, at);
	}
	close(fd);
	if (n <= 0)
		return buf;
	size_t end = n;
	while (end > 0 && blank(tail[end - 1]))
		end--;
	size_t start = end;
	while (start > 0 && tail[start - 1] != '\n')
		start--;
	while (start < end && blank(tail[start]))
		start++;
	return text_escape(buf, len, tail + start, end - start, 0);
}

char *cause_describe(char *buf, size_t len, int code, int signal,
		     const char *log_path)
{
	char line[512];
	const char *why = signal > 0 ? NULL : status_cause(code);
	int n;
	if (signal > 0)
		n = snprintf(buf, len, "killed by signal %d", signal);
	else if (why)
		n = snprintf(buf, len, "trainer exited with status %d (%s)",
			     code, why);
	else
		n = snprintf(buf, len, "trainer exited with status %d", code);
	cause_log_last_line(line, sizeof line, log_path);
	if (line[0] && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - n, ": %s", line);
	return buf;
}

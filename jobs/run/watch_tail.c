/*
 * watch_tail: telling that a followed file was rewritten (watch_tail.h):
 * by its inode (replaced by a rename), its size (truncated) and the last
 * bytes taken (overwritten in place).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/run/watch_tail.h"
#include "util/userfile.h"

void watch_tail_note(struct watch_tail *t, const char *data, size_t n)
{
	if (n >= WATCH_TAIL) {
		memcpy(t->b, data + n - WATCH_TAIL, WATCH_TAIL);
		t->n = WATCH_TAIL;
		return;
	}
	size_t keep = t->n + n > WATCH_TAIL ? WATCH_TAIL - n : t->n;
	memmove(t->b, t->b + t->n - keep, keep);
	memcpy(t->b + keep, data, n);
	t->n = keep + n;
}

int watch_tail_rewritten(int *fd, const char *path, int64_t read,
			 const struct watch_tail *tail)
{
	struct stat now, open_st;
	int rc = userfile_stat(path, &now);
	if (rc)
		return rc == -ENOENT ? 0 : rc; /* gone: nothing new */
	if (*fd < 0 || fstat(*fd, &open_st) < 0 ||
	    now.st_ino != open_st.st_ino || now.st_dev != open_st.st_dev) {
		int nfd = userfile_open(AT_FDCWD, path, O_RDONLY);
		if (nfd < 0)
			return nfd == -ENOENT ? 0 : nfd;
		if (*fd >= 0)
			close(*fd);
		*fd = nfd;
		return 1;
	}
	if (open_st.st_size < read)
		return 1;
	if (tail->n && open_st.st_size > read) {
		unsigned char b[WATCH_TAIL];
		ssize_t n = pread(*fd, b, tail->n, read - (int64_t)tail->n);
		if (n == (ssize_t)tail->n && memcmp(b, tail->b, tail->n))
			return 1;
	}
	return 0;
}

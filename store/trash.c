/*
 * store/trash: deleting folders outside every lock.  A folder is deleted
 * by moving it into STORE/trash/ (one rename, under no lock but
 * trash_lock for a sequence number) and emptying that in the deleter
 * thread; what is left there at the next start goes then.  Where the
 * trash cannot take it, the folder is deleted in place.  trash_lock
 * protects the deleter's fields; nothing else is taken while it is held.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_i.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/tree.h"

/* Empties STORE/trash once; returns how many entries it removed. */
static int empty_trash(struct store *s)
{
	char path[PATH_MAX];
	int fd, n = 0;
	snprintf(path, sizeof path, "%s/trash", s->dir);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
	    0)
		return 0;
	int lfd = dup(fd);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		close(fd);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int rc = tree_remove(fd, de->d_name);
		if (rc)
			log_error("store: cannot delete '%s/%s': %s\n", path,
				  de->d_name, strerror(-rc));
		else
			n++;
	}
	closedir(d);
	close(fd);
	return n;
}

/* The deleter thread: removes what is put in the trash, outside every lock. */
static void *deleter_main(void *arg)
{
	struct store *s = arg;
	lock_take(&s->trash_lock);
	s->trash_pending = 1; /* what the last run left */
	while (!s->trash_quit) {
		if (!s->trash_pending) {
			lock_wait(&s->trash_more, &s->trash_lock);
			continue;
		}
		s->trash_pending = 0;
		lock_drop(&s->trash_lock);
		empty_trash(s);
		lock_take(&s->trash_lock);
	}
	lock_drop(&s->trash_lock);
	return NULL;
}

int store_start_deleter(struct store *s)
{
	int rc = pthread_create(&s->deleter, NULL, deleter_main, s);
	if (rc)
		return -rc;
	s->deleting = 1;
	return 0;
}

void store_stop_deleter(struct store *s)
{
	if (s->deleting) {
		lock_take(&s->trash_lock);
		s->trash_quit = 1;
		pthread_cond_signal(&s->trash_more);
		lock_drop(&s->trash_lock);
		pthread_join(s->deleter, NULL);
	}
}

int store_trash(struct store *s, int64_t id, const char *rel)
{
	char src[PATH_MAX], dst[PATH_MAX], trash[PATH_MAX];
	int rc;
	if ((rc = store_job_path(s, id, rel, src, sizeof src)))
		return rc;
	snprintf(trash, sizeof trash, "%s/trash", s->dir);
	if (mkdir(trash, 0700) < 0 && errno != EEXIST)
		goto in_place;
	for (int tries = 0; tries < 100; tries++) {
		lock_take(&s->trash_lock);
		unsigned long seq = ++s->trash_seq;
		lock_drop(&s->trash_lock);
		if (snprintf(dst, sizeof dst, "%s/%lld.%s.%ld.%lu", trash,
			     (long long)id, *rel ? rel : "job",
			     (long)time(NULL), seq) >= (int)sizeof dst)
			goto in_place;
		for (char *p = dst + strlen(trash) + 1; *p; p++)
			if (*p == '/')
				*p = '_';
		if (rename(src, dst) == 0) {
			lock_take(&s->trash_lock);
			s->trash_pending = 1;
			pthread_cond_signal(&s->trash_more);
			lock_drop(&s->trash_lock);
			if (!s->deleting)
				empty_trash(s); /* no thread (tools, tests) */
			return 0;
		}
		if (errno == ENOENT)
			return 0;
		if (errno != EEXIST && errno != ENOTEMPTY)
			break;
	}
in_place:
	log_warn("store: cannot move '%s' to the trash (%s): deleting it "
		 "in place\n",
		 src, strerror(errno));
	{
		char *slash = strrchr(src, '/');
		*slash = '\0';
		int fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? 0 : -errno;
		rc = tree_remove(fd, slash + 1);
		close(fd);
	}
	return rc;
}

/*
 * store/private: a private store.  Whoever can write the store can make
 * trainfs run anything as anyone (a job row is a command and a uid), so
 * the store folder, its jobs/ and the database are checked before a byte
 * of them is read, and everything trainfs makes in the store is closed to
 * others (folders 0711, files 0600).  A store made by an older trainfs
 * (0755 folders, 0644 files) is closed once, as it is found.  No lock:
 * these run at open, or on a job folder its caller owns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_i.h"
#include "util/beneath.h"
#include "util/file.h"
#include "util/log.h"

/*
 * Whoever can write the store can make trainfs run anything as anyone (a
 * job row is a command and a uid), so trainfs trusts a folder or file of
 * the store only when it is owned by trainfs's own user (or by root, who
 * can write anything anyway) and no group or other user may write it.
 */
static int is_private(const struct stat *st)
{
	return (st->st_uid == geteuid() || st->st_uid == 0) &&
	       !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/*
 * Takes read and write away from group and others on the open FD (a store
 * made by an older trainfs was 0755/0644); search on folders stays, so a
 * trainer still reaches its own files.  Only a warning when it cannot.
 */
static void make_private(int fd, const struct stat *st, const char *what)
{
	mode_t keep = st->st_mode & 07777 & ~(mode_t)(S_IRWXG | S_IRWXO);
	if (S_ISDIR(st->st_mode))
		keep |= st->st_mode & (S_IXGRP | S_IXOTH);
	if ((st->st_mode & 07777) == keep || st->st_uid != geteuid())
		return;
	if (fchmod(fd, keep) < 0)
		log_warn("store: cannot close '%s' to other users: %s", what,
			 strerror(errno));
}

/*
 * Opens NAME in DIRFD, a folder when DIR, else a regular file, never
 * through a symbolic link unless FOLLOW (the store's own path may be
 * one), and checks that it is private.  Returns an fd the caller closes,
 * -EPERM when it is not private, or another -errno (-ENOENT: none).
 */
static int open_private(int dirfd, const char *name, int dir, int follow)
{
	struct stat st;
	int flags = O_CLOEXEC | O_NOCTTY | (follow ? 0 : O_NOFOLLOW) |
		    (dir ? O_RDONLY | O_DIRECTORY : O_RDWR | O_NONBLOCK);
	int fd = openat(dirfd, name, flags);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
		return -EPERM; /* a link or a wrong kind where ours should be */
	if (fd < 0)
		return errno == EPERM ? -EACCES : -errno;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if ((dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) ||
	    !is_private(&st)) {
		close(fd);
		return -EPERM;
	}
	make_private(fd, &st, name);
	return fd;
}

/*
 * Opens NAME in DIRFD (a folder when DIR, else a regular file; never
 * through a link) and gives it MODE if it is of that kind.  Returns the
 * fd, or -1 when there is no such thing.
 */
static int open_with_mode(int dirfd, const char *name, int dir, mode_t mode)
{
	struct stat st;
	int fd = openat(dirfd, name,
			O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC |
				(dir ? O_DIRECTORY : O_NONBLOCK));
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 ||
	    (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
		close(fd);
		return -1;
	}
	if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
		log_warn("store: cannot close '%s' to other users: %s", name,
			 strerror(errno));
	return fd;
}

/*
 * A store made by an older trainfs has 0755 folders and 0644 files.  Once,
 * when its jobs/ is found open to others, every job folder is closed as a
 * new one is made (0711), with what its trainer wrote and its weights
 * (0700 folders, 0600 files).  The names are those the older trainfs
 * wrote, part of that old layout: spelled here, not taken from the shim's
 * names of today (jobs/run/exec.h), which may change without changing
 * what an old store holds.
 */
static void close_old_jobs(int jobsfd)
{
	static const char *const dirs[] = { "output", "work", "weights" };
	static const char *const files[] = { "log", "metrics.txt", "launch",
					     "trainer", "exit" };
	int dfd = fcntl(jobsfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dirent *de;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		int jfd, fd;
		if (de->d_name[0] == '.' ||
		    (jfd = open_with_mode(jobsfd, de->d_name, 1, 0711)) < 0)
			continue;
		for (size_t i = 0; i < sizeof files / sizeof *files; i++)
			if ((fd = open_with_mode(jfd, files[i], 0, 0600)) >= 0)
				close(fd);
		for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
			if ((fd = open_with_mode(jfd, dirs[i], 1, 0700)) < 0)
				continue;
			if (!strcmp(dirs[i], "weights")) {
				int wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
				DIR *w = wfd < 0 ? NULL : fdopendir(wfd);
				struct dirent *we;
				int f;
				while (w && (we = readdir(w)))
					if (we->d_name[0] != '.' &&
					    (f = open_with_mode(fd, we->d_name,
								0, 0600)) >= 0)
						close(f);
				if (w)
					closedir(w);
				else if (wfd >= 0)
					close(wfd);
			}
			close(fd);
		}
		close(jfd);
	}
	closedir(d);
}

/*
 * Checks the store folder, its jobs/ and its database files before
 * anything in them is read, and makes what is missing, closed to others:
 * folders 0711, the database 0600 (SQLite gives its -wal and -shm the
 * database's mode).  Returns 0, -EPERM (not private) or -errno.
 */
int store_prepare_dir(const char *store_dir, int *dir_fd)
{
	static const char *const db_files[] = { "trainfs.db-wal",
						"trainfs.db-shm" };
	int rc, dirfd, fd;
	if ((rc = file_mkdir_p(store_dir, 0755, 0711)) < 0) {
		log_error("cannot create store '%s': %s", store_dir,
			  strerror(-rc));
		return rc == -EPERM ? -EACCES : rc;
	}
	/* Resolved, its parents checked: a link here is someone's swap. */
	if ((dirfd = open_private(AT_FDCWD, store_dir, 1, 0)) < 0)
		return dirfd;
	if (mkdirat(dirfd, "jobs", 0711) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error("cannot create '%s/jobs': %s", store_dir,
			  strerror(errno));
		goto out;
	}
	struct stat jst;
	int old = fstatat(dirfd, "jobs", &jst, AT_SYMLINK_NOFOLLOW) == 0 &&
		  (jst.st_mode & 0066); /* make_private() clears it: once */
	if ((fd = open_private(dirfd, "jobs", 1, 0)) < 0) {
		rc = fd;
		goto out;
	}
	if (old)
		close_old_jobs(fd);
	close(fd);
	fd = openat(dirfd, "trainfs.db",
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	if (fd < 0 && (fd = open_private(dirfd, "trainfs.db", 0, 0)) < 0) {
		rc = fd;
		goto out;
	}
	close(fd);
	for (size_t i = 0; i < sizeof db_files / sizeof *db_files; i++) {
		if ((fd = open_private(dirfd, db_files[i], 0, 0)) >= 0)
			close(fd);
		else if (fd != -ENOENT) {
			rc = fd;
			goto out;
		}
	}
	rc = 0;
	*dir_fd = dirfd; /* the store's, for opens beneath it */
	return 0;
out:
	close(dirfd);
	return rc;
}

int store_job_dir_check(struct store *s, int64_t id)
{
	char rel[64];
	struct stat st;
	snprintf(rel, sizeof rel, "jobs/%lld", (long long)id);
	/* From the store's own descriptor: no link, no other filesystem. */
	int fd = beneath_open(s->dir_fd, rel,
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd == -ENOTDIR || fd == -EXDEV ? -ELOOP : fd;
	int rc = fstat(fd, &st) < 0 ? -errno : is_private(&st) ? 0 : -ELOOP;
	if (!rc)
		make_private(fd, &st, rel);
	close(fd);
	return rc;
}

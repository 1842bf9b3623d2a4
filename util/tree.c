/*
 * tree: removing a folder and everything in it, as root, in trees that
 * users own (a job's folder, a checkpoint) without ever following a
 * symbolic link out of the tree or entering another filesystem.  No lock:
 * a caller removes what it has taken out of shared sight first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/tree.h"
#include "util/userfile.h"

/*
 * The walk of tree_remove() holds one folder open at a time, so no
 * depth runs it out of descriptors: each folder is read once (files
 * removed, subfolder names kept), then its subfolders are entered one by
 * one, and on the way up ".." is opened and checked against the folder
 * recorded on the way down (device and inode), so a folder a trainer moved
 * meanwhile never leads the walk out of the tree.
 */
struct walk_level {
	char *name; /* in its parent */
	dev_t dev;
	ino_t ino;
	char **subs; /* subfolders still to enter */
	size_t nsubs, next;
};

static void walk_level_free(struct walk_level *l)
{
	for (size_t i = l->next; i < l->nsubs; i++)
		free(l->subs[i]);
	free(l->subs);
	free(l->name);
}

static void walk_note(int *rc, int err)
{
	if (err && err != -ENOENT && !*rc)
		*rc = err;
}

/*
 * Reads the folder open on FD once: removes what is not a folder, keeps
 * the names of subfolders in L.  Errors go to *RC; returns -ENOMEM only.
 */
static int walk_read(int fd, struct walk_level *l, int *rc)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dirent *de;
	size_t cap = 0;
	if (!d) {
		walk_note(rc, -errno);
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while ((errno = 0, de = readdir(d))) {
		const char *n = de->d_name;
		mode_t mode = 0;
		int dir = de->d_type == DT_DIR;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		/*
		 * A folder is entered only on this filesystem: a mount there
		 * (a user's FUSE mount that never answers) is left alone.
		 */
		if (dir || de->d_type == DT_UNKNOWN) {
			int lrc = userfile_local(fd, n, &mode);
			if (lrc) {
				walk_note(rc, lrc);
				continue;
			}
			dir = S_ISDIR(mode);
		}
		if (!dir && unlinkat(fd, n, 0) == 0)
			continue;
		if (!dir && errno != EISDIR) {
			walk_note(rc, -errno);
			continue;
		}
		if (l->nsubs == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			char **ns = realloc(l->subs, ncap * sizeof *ns);
			if (!ns)
				goto nomem;
			l->subs = ns;
			cap = ncap;
		}
		if (!(l->subs[l->nsubs] = strdup(n)))
			goto nomem;
		l->nsubs++;
	}
	walk_note(rc, -errno);
	closedir(d);
	return 0;
nomem:
	closedir(d);
	return -ENOMEM;
}

/*
 * Opens the next subfolder of L still to enter, in the folder open on FD;
 * what turns out not to be a folder (a link, a file put there meanwhile)
 * is removed instead.  Errors go to *RC.  Returns the subfolder's fd with
 * its name in *SUB (the caller owns it), or -1 when none is left.
 */
static int walk_next_sub(int fd, struct walk_level *l, int *rc, char **sub)
{
	while (l->next < l->nsubs) {
		char *s = l->subs[l->next++];
		int sfd = openat(
			fd, s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd >= 0) {
			*sub = s;
			return sfd;
		}
		if (errno == ENOTDIR || errno == ELOOP)
			walk_note(rc, unlinkat(fd, s, 0) < 0 ? -errno : 0);
		else
			walk_note(rc, -errno);
		free(s);
	}
	return -1;
}

/*
 * The folder above the one open on FD, which is LV[DEPTH - 1]: DIRFD at
 * the top, else ".." checked against the folder recorded on the way down
 * (device and inode).  Returns its fd, or -errno (-ESTALE: it moved).
 */
static int walk_parent(int fd, int dirfd, const struct walk_level *lv,
		       size_t depth)
{
	struct stat pst;
	if (depth == 1)
		return dirfd;
	int pfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &pst) < 0 || pst.st_dev != lv[depth - 2].dev ||
	    pst.st_ino != lv[depth - 2].ino) {
		close(pfd);
		log_warn("store: a folder moved while being removed: stopped");
		return -ESTALE;
	}
	return pfd;
}

int tree_remove(int dirfd, const char *name)
{
	struct walk_level *lv = NULL;
	size_t depth = 0, cap = 0;
	struct stat st;
	char *sub; /* the folder just entered, open on FD; owned here */
	int rc = 0, r = 0, fd;
	mode_t mode;
	if ((r = userfile_local(dirfd, name, &mode)))
		return r == -ENOENT ? 0 : r;
	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ENOTDIR || errno == ELOOP)
			return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
		return -errno;
	}
	if (!(sub = strdup(name))) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (fstat(fd, &st) < 0) {
			r = -errno;
			goto fail;
		}
		if (depth == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct walk_level *n = realloc(lv, ncap * sizeof *n);
			if (!n) {
				r = -ENOMEM;
				goto fail;
			}
			lv = n;
			cap = ncap;
		}
		lv[depth++] = (struct walk_level){ .name = sub,
						   .dev = st.st_dev,
						   .ino = st.st_ino };
		sub = NULL;
		if ((r = walk_read(fd, &lv[depth - 1], &rc)))
			goto fail;
		/* The next subfolder to enter, going up while there is none. */
		while (!sub) {
			struct walk_level *l = &lv[depth - 1];
			int sfd = walk_next_sub(fd, l, &rc, &sub);
			if (sfd >= 0) {
				close(fd);
				fd = sfd;
				continue;
			}
			int pfd = walk_parent(fd, dirfd, lv, depth);
			if (pfd < 0) {
				r = pfd;
				goto fail;
			}
			close(fd);
			fd = -1;
			if (unlinkat(pfd, l->name, AT_REMOVEDIR) < 0)
				walk_note(&rc, -errno);
			walk_level_free(l);
			if (--depth == 0)
				goto out;
			fd = pfd;
		}
	}
fail:
	walk_note(&rc, r);
	free(sub);
	if (fd >= 0)
		close(fd);
	while (depth)
		walk_level_free(&lv[--depth]);
out:
	free(lv);
	return rc;
}

/*
 * parents: the folders above the store must be as safe as the store.
 *
 * trainfs runs as root and reaches everything in the store by its path.
 * Whoever can rename or replace a folder above the store can swap the
 * whole store for one of their own between two of those paths (a job's
 * log becomes a link to /etc/shadow; a launch file names uid 0), so
 * before anything is made or read, every folder from / down to the
 * store's own is checked: owned by root or trainfs's own user, and
 * writable by no one else.  A sticky folder writable by all (/tmp) is
 * fine when the next folder down is root's or trainfs's own, since then
 * no one else may rename or remove that one.
 *
 * The path is resolved once (links are followed where the folder that
 * holds them is safe, so a link to the store works) and the result is
 * walked again from / with O_NOFOLLOW; folders not made yet are left for
 * store_open to make, as trainfs's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/parents.h"
#include "util/log.h"

static int ours(const struct stat *st)
{
	return st->st_uid == 0 || st->st_uid == geteuid();
}

/*
 * Whether folder A may hold the store's path: CHILD is the next folder
 * down (NULL: not made yet, so it will be trainfs's own).
 */
static int parent_safe(const struct stat *a, const struct stat *child)
{
	if (!ours(a))
		return 0; /* its owner may chmod it at will */
	if (!(a->st_mode & (S_IWGRP | S_IWOTH)))
		return 1;
	return (a->st_mode & S_ISVTX) && (!child || ours(child));
}

/*
 * GIVEN as an absolute path whose existing part has no link, ".", ".."
 * or doubled '/'; a malloc'd string in *OUT.  Returns 0 or -errno.
 */
static int resolve(const char *given, char **out)
{
	char buf[PATH_MAX], cwd[PATH_MAX], real[PATH_MAX];
	if (given[0] != '/' && !getcwd(cwd, sizeof cwd))
		return -errno;
	if (snprintf(buf, sizeof buf, "%s%s%s", given[0] == '/' ? "" : cwd,
		     given[0] == '/' ? "" : "/", given) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	/* The longest part that exists, resolved; the rest is to be made. */
	size_t cut = strlen(buf);
	for (;;) {
		char c = buf[cut];
		buf[cut] = '\0';
		char *r = realpath(cut ? buf : "/", real);
		buf[cut] = c;
		if (r)
			break;
		if (errno != ENOENT)
			return -errno;
		char *slash = memrchr(buf, '/', cut);
		cut = slash ? (size_t)(slash - buf) : 0;
	}
	const char *rest = buf + cut;
	while (*rest == '/')
		rest++;
	for (const char *p = rest; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && !strncmp(p, "..", 2)))
			return -EINVAL; /* not made yet: say it plainly */
		p += n;
		while (*p == '/')
			p++;
	}
	int n = asprintf(out, "%s%s%s", real,
			 *rest && strcmp(real, "/") ? "/" : "", rest);
	return n < 0 ? -ENOMEM : 0;
}

/*
 * Walks REAL from / without following a link and checks each folder above
 * its last component.  Returns 0, -EPERM (said, naming the folder) or
 * -errno.
 */
static int walk(const char *shown, const char *real)
{
	char buf[PATH_MAX];
	struct stat a, child;
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return -errno;
	if (snprintf(buf, sizeof buf, "%s", real) >= (int)sizeof buf) {
		close(fd);
		return -ENAMETOOLONG;
	}
	char *name = buf + 1, *end;
	while (*name) {
		end = strchr(name, '/');
		if (end)
			*end = '\0';
		int next = openat(fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		int missing = next < 0 && errno == ENOENT;
		if (next < 0 && !missing) {
			rc = -errno;
			break;
		}
		if (fstat(fd, &a) < 0 ||
		    (next >= 0 && fstat(next, &child) < 0)) {
			rc = -errno;
		} else if (next >= 0 && end && !S_ISDIR(child.st_mode)) {
			rc = S_ISLNK(child.st_mode) ? -ELOOP : -ENOTDIR;
		} else if (!parent_safe(&a, next >= 0 ? &child : NULL)) {
			/* The folder's own path: what BUF holds up to NAME. */
			name[-1] = '\0';
			log_fatal("store %s: its parent '%s' is writable by "
				  "others",
				  shown, name - 1 == buf ? "/" : buf);
			rc = -EPERM;
		}
		close(fd);
		fd = next;
		if (rc || missing || !end)
			break;
		*end = '/';
		name = end + 1;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int store_parents_check(const char *given, char **real)
{
	char *r = NULL;
	int rc = resolve(given, &r);
	if (!rc)
		rc = walk(given, r);
	if (rc) {
		free(r);
		return rc;
	}
	*real = r;
	return 0;
}

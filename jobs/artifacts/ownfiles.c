/*
 * ownfiles: see ownfiles.h.  Two matchers over the workdir, both run with
 * the owner's rights:
 *
 *  - the `weights` matcher trusts glob(3) for names only; what it packs is
 *    opened again with openat2(RESOLVE_BENEATH), which the kernel refuses
 *    (EXDEV) for any path, link or ".." that would resolve outside the
 *    workdir, so a link planted in a matched folder's place cannot send
 *    the packer elsewhere;
 *  - the checkpoint scan walks the pattern itself, one folder descriptor
 *    per component, and looks at each entry with statx(AT_SYMLINK_NOFOLLOW
 *    | AT_STATX_DONT_SYNC): a link is never a match, and a folder on
 *    another device (or the root of a mount) is not entered, without a
 *    request to that filesystem.
 *
 * A name holding control characters is never a match: matches travel as
 * lines between the scan helper and trainfs, and are shown in status.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/artifacts/ownfiles.h"
#include "jobs/model/ownpaths.h"
#include "util/beneath.h"
#include "util/privs.h"
#include "util/reap.h"

extern char **environ;

#define EPOCH_MAX 1000000000L
#define COMPONENTS_MAX 64
/* What the scan helper may write: its matches' lines. */
#define SCAN_OUTPUT_MAX (16u << 20)

/* Whether component C (LEN bytes) is "..". */
static int name_ok(const char *name)
{
	for (; *name; name++)
		if ((unsigned char)*name < 0x20 || *name == 0x7f)
			return 0;
	return 1;
}

/* PRE and POST around {epoch} against NAME; 1 with *epoch set, else 0. */
static int match_epoch(const char *pre, const char *post, const char *name,
		       long *epoch)
{
	char head[NAME_MAX + 1];
	size_t len = strlen(name);
	if (len > NAME_MAX)
		return 0;
	for (size_t s = 0; s < len; s++) {
		if (!isdigit((unsigned char)name[s]))
			continue;
		memcpy(head, name, s);
		head[s] = '\0';
		if (fnmatch(pre, head, FNM_PERIOD) != 0)
			continue;
		long n = 0;
		for (size_t e = s; e < len && isdigit((unsigned char)name[e]);
		     e++) {
			n = n * 10 + (name[e] - '0');
			if (n > EPOCH_MAX)
				break;
			if (fnmatch(post, name + e + 1, 0) == 0) {
				*epoch = n;
				return 1;
			}
		}
	}
	return 0;
}

int ownfiles_match(const char *pat, const char *name, long *epoch)
{
	const char *at = strstr(pat, EPOCH_TOKEN);
	*epoch = -1;
	if (!name_ok(name) || !strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (!at)
		return fnmatch(pat, name, FNM_PERIOD) == 0;
	char *pre = strndup(pat, (size_t)(at - pat));
	if (!pre)
		return 0;
	int ok = match_epoch(pre, at + EPOCH_TOKEN_LEN, name, epoch);
	free(pre);
	return ok;
}

/* Whether the component C needs a folder read (a wildcard or {epoch}). */
static int is_magic(const char *c)
{
	return strpbrk(c, "*?[\\") || strstr(c, EPOCH_TOKEN);
}

struct scan {
	char *comps[COMPONENTS_MAX];
	size_t ncomps;
	unsigned dev_major, dev_minor;
	struct ownfile *list;
	size_t len, cap;
	char path[PATH_MAX];
};

/* Adds P->path (epoch E) to the matches; 0 or -ENOMEM. */
static int add_match(struct scan *s, long e, const struct statx *stx)
{
	if (s->len >= OWNFILES_MAX_MATCHES)
		return 0;
	if (s->len == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		struct ownfile *nl = realloc(s->list, nc * sizeof *nl);
		if (!nl)
			return -ENOMEM;
		s->list = nl;
		s->cap = nc;
	}
	char *p = strdup(s->path);
	if (!p)
		return -ENOMEM;
	s->list[s->len++] = (struct ownfile){
		.path = p,
		.epoch = e,
		.mtime_ns = (long long)stx->stx_mtime.tv_sec * 1000000000LL +
			    stx->stx_mtime.tv_nsec,
	};
	return 0;
}

static int walk(struct scan *s, int dfd, size_t i, long epoch);

/* Whether STX is a folder of the workdir's own filesystem. */
static int same_fs_dir(const struct scan *s, const struct statx *stx)
{
	return S_ISDIR(stx->stx_mode) && stx->stx_dev_major == s->dev_major &&
	       stx->stx_dev_minor == s->dev_minor &&
	       !(stx->stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/*
 * Takes the entry NAME of DFD, which component I matched (epoch E): the
 * last component adds it when it is a regular file or a folder; another
 * one goes on inside it when it is a folder.  Returns 0 or -errno.
 */
static int take(struct scan *s, int dfd, size_t i, const char *name, long e)
{
	struct statx stx;
	size_t old = strlen(s->path);
	int rc = 0;
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC,
		  STATX_TYPE | STATX_MTIME, &stx) < 0)
		return 0; /* gone meanwhile, or unreadable: not a match */
	if (old + 1 + strlen(name) + 1 > sizeof s->path)
		return 0;
	snprintf(s->path + old, sizeof s->path - old, "%s%s", old ? "/" : "",
		 name);
	if (i + 1 == s->ncomps) {
		if (S_ISREG(stx.stx_mode) || same_fs_dir(s, &stx))
			rc = add_match(s, e, &stx);
	} else if (same_fs_dir(s, &stx)) {
		int sub = openat(dfd, name,
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_NONBLOCK | O_CLOEXEC);
		if (sub >= 0) {
			rc = walk(s, sub, i + 1, e);
			close(sub);
		}
	}
	s->path[old] = '\0';
	return rc;
}

/* Reads the folder DFD for component I's matches. */
static int walk_read(struct scan *s, int dfd, size_t i, long epoch)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return 0; /* unreadable: nothing matches there */
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	struct dirent *de;
	while (!rc && s->len < OWNFILES_MAX_MATCHES && (de = readdir(d))) {
		long e;
		if (ownfiles_match(s->comps[i], de->d_name, &e))
			rc = take(s, dfd, i, de->d_name, e >= 0 ? e : epoch);
	}
	closedir(d);
	return rc;
}

/* Matches components I.. below the folder DFD (epoch so far EPOCH). */
static int walk(struct scan *s, int dfd, size_t i, long epoch)
{
	if (is_magic(s->comps[i]))
		return walk_read(s, dfd, i, epoch);
	if (!strcmp(s->comps[i], "."))
		return i + 1 == s->ncomps ? 0 : walk(s, dfd, i + 1, epoch);
	return take(s, dfd, i, s->comps[i], epoch);
}

static int cmp_match(const void *a, const void *b)
{
	const struct ownfile *x = a, *y = b;
	if (x->epoch != y->epoch)
		return (x->epoch > y->epoch) - (x->epoch < y->epoch);
	return strcmp(x->path, y->path);
}

int ownfiles_scan(int wdfd, const char *pattern, struct ownfile **out,
		  size_t *n)
{
	struct scan s = { .path = "" };
	struct statx stx;
	char *copy = strdup(pattern), *save = NULL;
	int rc = 0;
	*out = NULL;
	*n = 0;
	if (!copy)
		return -ENOMEM;
	for (char *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (s.ncomps == COMPONENTS_MAX) {
			free(copy);
			return -ENAMETOOLONG;
		}
		s.comps[s.ncomps++] = c;
	}
	if (statx(wdfd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE,
		  &stx) < 0)
		rc = -errno;
	s.dev_major = stx.stx_dev_major;
	s.dev_minor = stx.stx_dev_minor;
	if (!rc && s.ncomps)
		rc = walk(&s, wdfd, 0, -1);
	free(copy);
	if (rc) {
		ownfiles_free(s.list, s.len);
		return rc;
	}
	if (s.len)
		qsort(s.list, s.len, sizeof *s.list, cmp_match);
	*out = s.list;
	*n = s.len;
	return 0;
}

void ownfiles_free(struct ownfile *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i].path);
	free(list);
}

int ownfiles_open(int wdfd, const char *path, int nolinks)
{
	return beneath_openat2(wdfd, path,
			       O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0,
			       RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
				       (nolinks ? RESOLVE_NO_SYMLINKS : 0));
}

/* The last name of PATH (no trailing '/' in glob's matches). */
static const char *last_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/*
 * Adds the match PATH to LIST, or replaces the one of the same last name
 * when PATH is newer.  Returns 0, 1 when it is not to be packed, or -1
 * with ERR set.
 */
static int add_weight(struct ownfile **list, size_t *n, size_t *cap, int wdfd,
		      const char *path, char *err, size_t errlen)
{
	const char *name = last_name(path);
	struct stat st;
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..") ||
	    !name_ok(path))
		return 1;
	int fd = ownfiles_open(wdfd, path, 0);
	if (fd == -ENOENT)
		return 1; /* gone since glob saw it */
	if (fd == -EXDEV || fd == -ELOOP) {
		snprintf(err, errlen, "'%s' leads out of the workdir", path);
		return -1;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = fd < 0 ? -fd : errno;
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 strerror(e));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	long long mt = (long long)st.st_mtim.tv_sec * 1000000000LL +
		       st.st_mtim.tv_nsec;
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(last_name((*list)[i].path), name))
			continue;
		if (mt > (*list)[i].mtime_ns) {
			char *p = strdup(path);
			if (!p)
				goto nomem;
			free((*list)[i].path);
			(*list)[i] = (struct ownfile){ p, -1, mt };
		}
		return 0;
	}
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct ownfile *nl = realloc(*list, nc * sizeof *nl);
		if (!nl)
			goto nomem;
		*list = nl;
		*cap = nc;
	}
	char *p = strdup(path);
	if (!p)
		goto nomem;
	(*list)[(*n)++] = (struct ownfile){ p, -1, mt };
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Expands one PATH of a weights value into LIST; as ownfiles_weights(). */
static int expand(struct ownfile **list, size_t *n, size_t *cap, int wdfd,
		  const char *word, char *err, size_t errlen)
{
	glob_t g;
	int rc = glob(word, 0, NULL, &g), taken = 0;
	if (rc == GLOB_NOMATCH) {
		snprintf(err, errlen,
			 "no weights were saved: '%s' matched "
			 "nothing",
			 word);
		return 1;
	}
	if (rc) {
		snprintf(err, errlen, "cannot match '%s': %s", word,
			 rc == GLOB_NOSPACE ? "out of memory" : "read error");
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc && rc >= 0; i++) {
		rc = add_weight(list, n, cap, wdfd, g.gl_pathv[i], err, errlen);
		taken |= rc == 0;
	}
	globfree(&g);
	if (rc < 0)
		return -1;
	if (!taken) {
		snprintf(err, errlen,
			 "no weights were saved: '%s' matched "
			 "nothing",
			 word);
		return 1;
	}
	return 0;
}

int ownfiles_weights(int wdfd, const char *value, struct ownfile **out,
		     size_t *n, char *err, size_t errlen)
{
	struct ownfile *list = NULL;
	size_t len = 0, cap = 0;
	char *copy = strdup(value), *save = NULL;
	int rc = 0;
	*out = NULL;
	*n = 0;
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *w = strtok_r(copy, " \t", &save); w && !rc;
	     w = strtok_r(NULL, " \t", &save))
		rc = expand(&list, &len, &cap, wdfd, w, err, errlen);
	free(copy);
	if (rc) {
		ownfiles_free(list, len);
		return rc;
	}
	*out = list;
	*n = len;
	return 0;
}

/* Parses the helper's "EPOCH PATH" lines in BUF into *out, *n. */
static int parse_lines(char *buf, struct ownfile **out, size_t *n)
{
	size_t cap = 0;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *end;
		long e = strtol(l, &end, 10);
		if (end == l || *end != ' ' || !end[1])
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct ownfile *nl = realloc(*out, nc * sizeof *nl);
			if (!nl)
				return -ENOMEM;
			*out = nl;
			cap = nc;
		}
		char *p = strdup(end + 1);
		if (!p)
			return -ENOMEM;
		(*out)[(*n)++] = (struct ownfile){ p, e, 0 };
	}
	return 0;
}

/* Reads FD to its end into a malloc'd NUL-terminated *buf (bounded). */
/* Milliseconds left until DEADLINE (CLOCK_MONOTONIC), at least 0. */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
		       (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

/*
 * Reads FD to its end into a malloc'd *BUF, waiting at most
 * OWNFILES_SCAN_SECONDS in all: 0, -ETIMEDOUT (a scan stuck in a
 * filesystem that does not answer) or -ENOMEM.
 */
static int read_all(int fd, char **buf)
{
	size_t len = 0, cap = 4096;
	struct timespec deadline;
	char *b = malloc(cap);
	if (!b)
		return -ENOMEM;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += OWNFILES_SCAN_SECONDS;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ready = poll(&p, 1, ms_left(&deadline));
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0) {
			free(b);
			return -ETIMEDOUT;
		}
		if (len + 1 == cap) {
			if (cap >= SCAN_OUTPUT_MAX)
				break;
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	b[len] = '\0';
	*buf = b;
	return 0;
}

/* Scans in this process: trainfs is the owner already. */
static int scan_here(const char *workdir, const char *pattern,
		     struct ownfile **out, size_t *n)
{
	int fd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = ownfiles_scan(fd, pattern, out, n);
	close(fd);
	return rc;
}

/* Spawns the helper with its stdout on a pipe; its pid, or -errno. */
static pid_t spawn_scan(const char *self_exe, char *const argv[], int *rfd)
{
	int pfd[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	int rc = posix_spawn_file_actions_init(&fa);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
						      O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
						      O_WRONLY, 0);
	if (!rc)
		rc = posix_spawn(&pid, self_exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		return -rc;
	}
	*rfd = pfd[0];
	return pid;
}

int ownfiles_scan_as(const char *self_exe, const char *workdir, uid_t uid,
		     gid_t gid, const char *pattern, struct ownfile **out,
		     size_t *n)
{
	char suid[32], sgid[32], *buf = NULL;
	int fd = -1, status, rc;
	*out = NULL;
	*n = 0;
	if (geteuid() == uid && getegid() == gid)
		return scan_here(workdir, pattern, out, n);
	snprintf(suid, sizeof suid, "%lu", (unsigned long)uid);
	snprintf(sgid, sizeof sgid, "%lu", (unsigned long)gid);
	char *argv[] = { "trainfs", "__ckscan", (char *)workdir,
			 suid,	    sgid,	(char *)pattern,
			 NULL };
	pid_t pid = spawn_scan(self_exe, argv, &fd);
	if (pid < 0)
		return (int)pid;
	rc = read_all(fd, &buf);
	close(fd);
	if (rc == -ETIMEDOUT) { /* killed and reaped without waiting for it */
		reap_later(pid);
		return rc;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			free(buf);
			return -errno;
		}
	if (!rc && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		rc = -EIO;
	if (!rc)
		rc = parse_lines(buf, out, n);
	free(buf);
	if (rc) {
		ownfiles_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int ownfiles_scan_main(int argc, char **argv)
{
	unsigned int uid, gid;
	char why[512];
	struct ownfile *m = NULL;
	size_t n = 0;
	if (argc != 6 || privs_parse_id(argv[3], &uid) < 0 ||
	    privs_parse_id(argv[4], &gid) < 0) {
		fprintf(stderr, "error usage: trainfs __ckscan WORKDIR UID GID "
				"PATTERN\n");
		return 1;
	}
	if (privs_drop(uid, gid, why, sizeof why) < 0) {
		fprintf(stderr, "error %s\n", why);
		return 1;
	}
	int rc = scan_here(argv[2], argv[5], &m, &n);
	if (rc) {
		fprintf(stderr, "error cannot scan '%s': %s\n", argv[2],
			strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		printf("%ld %s\n", m[i].epoch, m[i].path);
	ownfiles_free(m, n);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "error cannot write the matches: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * pack: the weights packer.  It walks the job's output folder twice, never
 * following a symbolic link: once to add up the bytes of regular files, so
 * progress can be a percentage, then again to write each entry through
 * libarchive as a restricted pax tar, optionally gzip- or zstd-compressed,
 * followed by the manifest member "trainfs.json".
 *
 * The walk holds one directory fd per level and opens every child with
 * openat(..., O_NOFOLLOW), so a link (or a folder swapped for a link while
 * we walk) is never followed; names are sorted by bytes so the same folder
 * always packs in the same order.  Each file's header takes its size from
 * fstat() of the open file and exactly that many bytes are written: a file
 * that shrinks is padded with zeros and one that grows is cut, so the
 * archive stays well formed.  Hard links are stored as separate files.
 *
 * Output goes through our own write callback so a failing write reports
 * its errno ("No space left on device") rather than libarchive's generic
 * "Write error", and so that after any failure nothing more is written (no
 * end-of-archive that would make a cut archive look whole).  The packer
 * fsyncs its output before it exits 0 (the daemon's supervisor thread
 * serves every job and must not wait for a disk); it never renames: its
 * parent does, after it exits 0.  The process's
 * entry point, which drops to the job owner's uid, gid and groups before
 * reading anything, is pack_main() in pack_main.c.
 */
#include "jobs/artifacts/pack.h"
#include "jobs/artifacts/ownfiles.h"
#include "util/file.h"
#include "util/privs.h"
#include "util/text.h"
#include "util/userfile.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PACK_BUF_SIZE (1024 * 1024)
#define PACK_MANIFEST_NAME "trainfs.json"

/* State of one pack_run(); a == NULL during the counting walk. */
/* Bytes written between two starts of writeback. */
#define WRITEBACK_STEP (32u << 20)

struct packer {
	struct archive *a;
	const char *src_dir;
	char *path;	/* name of the current entry, relative to SRC_DIR */
	size_t len;	/* strlen(path) */
	size_t cap;	/* bytes allocated for path */
	char *buf;	/* PACK_BUF_SIZE bytes of file data */
	uint64_t total; /* regular file bytes found by the counting walk */
	uint64_t done;	/* file bytes handed to libarchive so far */
	int out_fd;
	uint64_t written; /* bytes of archive written to out_fd */
	uint64_t flushed; /* of those, bytes handed to writeback */
	int abandoned;	  /* failed: the output gets no more bytes */
	int progress_fd;
	int last_pct; /* last percentage written, -1 for none */
	char *err;
	size_t errlen;
};

/* Formats a message into err (always NUL-terminated when errlen > 0). */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * libarchive's output callback: writes all of BUF to the output fd of the
 * packer in DATA.  Returns LEN, or -1 with the write's errno and its
 * strerror() text recorded in the archive; once the pack has failed it
 * writes nothing and returns -1.
 */
static la_ssize_t out_write(struct archive *a, void *data, const void *buf,
			    size_t len)
{
	struct packer *p = data;

	if (p->abandoned) {
		archive_set_error(a, ECANCELED, "%s", strerror(ECANCELED));
		return -1;
	}
	if (file_write_all(p->out_fd, buf, len) < 0) {
		int e = errno;

		archive_set_error(a, e, "%s", strerror(e));
		return -1;
	}
	p->written += len;
	/*
	 * Start writing back what is done while packing goes on, so the
	 * caller's fsync at the end waits for the last piece only.  Only a
	 * hint: a pipe or a device cannot, and that is fine.
	 */
	if (p->written - p->flushed >= WRITEBACK_STEP) {
		sync_file_range(p->out_fd, p->flushed, p->written - p->flushed,
				SYNC_FILE_RANGE_WRITE);
		p->flushed = p->written;
	}
	return (la_ssize_t)len;
}

/* Copies libarchive's last error on P->a into P->err; always returns -1. */
static int archive_fail(struct packer *p);

/* zstd compresses on every core (libzstd's own threads). */
static int zstd_threads(struct packer *p)
{
	char n[24];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(n, sizeof n, "%ld", cpus > 1 ? cpus : 1);
	if (archive_write_set_filter_option(p->a, "zstd", "threads", n) <
	    ARCHIVE_WARN)
		return archive_fail(p);
	return 0;
}

/* Copies libarchive's last error on P->a into P->err; always returns -1. */
static int archive_fail(struct packer *p)
{
	const char *s = archive_error_string(p->a);
	int e = archive_errno(p->a);

	if (s && *s)
		set_err(p->err, p->errlen, "%s", s);
	else if (e)
		set_err(p->err, p->errlen, "%s", strerror(e));
	else
		set_err(p->err, p->errlen, "archive error");
	return -1;
}

/* Reports a failed call on the output folder itself; always returns -1. */
static int folder_fail(struct packer *p, int e)
{
	set_err(p->err, p->errlen, "cannot open output folder '%s': %s",
		p->src_dir, strerror(e));
	return -1;
}

/* Reports a failed system call on the current entry; always returns -1. */
static int entry_fail(struct packer *p, int e)
{
	set_err(p->err, p->errlen, "cannot read '%s': %s", p->path,
		strerror(e));
	return -1;
}

/*
 * Writes "progress NN\n" when the whole percentage of file bytes done has
 * changed.  It stays at 99 until pack_run() has closed the archive, so 100
 * means finished.  Returns 0, or -1 with err set if the write failed.
 */
static int progress_update(struct packer *p, int final)
{
	char line[32];
	int pct, n;

	if (p->progress_fd < 0)
		return 0;
	if (final)
		pct = 100;
	else if (p->total == 0)
		return 0;
	else
		pct = (int)((double)p->done * 100.0 / (double)p->total);
	if (!final && pct > 99)
		pct = 99;
	if (pct == p->last_pct)
		return 0;
	n = snprintf(line, sizeof line, "progress %d\n", pct);
	if (file_write_all(p->progress_fd, line, (size_t)n) < 0) {
		set_err(p->err, p->errlen, "cannot write progress: %s",
			strerror(errno));
		return -1;
	}
	p->last_pct = pct;
	return 0;
}

/*
 * Appends "/NAME" (or "NAME" at the top) to p->path.  Returns the old
 * length, to be restored by the caller, or (size_t)-1 on no memory.
 */
static size_t path_push(struct packer *p, const char *name)
{
	size_t old = p->len, nlen = strlen(name);
	size_t need = old + (old ? 1 : 0) + nlen + 1;

	if (need > p->cap) {
		size_t cap = p->cap ? p->cap : 256;
		char *np;

		while (cap < need)
			cap *= 2;
		np = realloc(p->path, cap);
		if (!np) {
			set_err(p->err, p->errlen, "out of memory");
			return (size_t)-1;
		}
		p->path = np;
		p->cap = cap;
	}
	if (old)
		p->path[p->len++] = '/';
	memcpy(p->path + p->len, name, nlen + 1);
	p->len += nlen;
	return old;
}

static void path_pop(struct packer *p, size_t old)
{
	p->len = old;
	p->path[old] = '\0';
}

/*
 * Starts an entry for p->path from ST (owner, mode, mtime, size and kind).
 * Returns a new entry the caller frees, or NULL with err set.
 */
static struct archive_entry *entry_new(struct packer *p, const struct stat *st)
{
	struct archive_entry *e = archive_entry_new();

	if (!e) {
		set_err(p->err, p->errlen, "out of memory");
		return NULL;
	}
	archive_entry_copy_pathname(e, p->path);
	archive_entry_copy_stat(e, st);
	if (!S_ISREG(st->st_mode))
		archive_entry_set_size(e, 0);
	return e;
}

/*
 * Writes E's header; a warning (such as a name that is not valid in the
 * locale, stored as raw bytes) is not an error.  Frees E.  Returns 0, or
 * -1 with err set.
 */
static int header_write(struct packer *p, struct archive_entry *e)
{
	int r = archive_write_header(p->a, e);

	archive_entry_free(e);
	if (r < ARCHIVE_WARN)
		return archive_fail(p);
	return 0;
}

/* Hands LEN bytes of BUF to libarchive in full; 0, or -1 with err set. */
static int data_write(struct packer *p, const void *buf, size_t len)
{
	la_ssize_t n = archive_write_data(p->a, buf, len);

	if (n < 0)
		return archive_fail(p);
	if ((size_t)n != len) {
		set_err(p->err, p->errlen, "short write to archive of '%s'",
			p->path);
		return -1;
	}
	return 0;
}

/* Ends the current entry; 0, or -1 with err set. */
static int entry_finish(struct packer *p)
{
	if (archive_write_finish_entry(p->a) < ARCHIVE_WARN)
		return archive_fail(p);
	return 0;
}

/* A stretch of a file that holds data; the rest of the file is holes. */
struct region {
	off_t off, len;
};

/*
 * Finds where the regular file FD of SIZE bytes holds data (SEEK_DATA,
 * SEEK_HOLE).  Sets *REGIONS (the caller frees) and *N, or *REGIONS NULL
 * when the file has no holes or its filesystem cannot tell: then it is
 * stored whole.  Returns 0, or -1 with err set.
 */
static int find_data(struct packer *p, int fd, off_t size,
		     struct region **regions, size_t *n)
{
	struct region *r = NULL;
	size_t cap = 0, k = 0;
	off_t off = 0;

	*regions = NULL;
	*n = 0;
	off_t hole = lseek(fd, 0, SEEK_HOLE);
	if (size == 0 || hole < 0 || hole >= size)
		return 0;
	while (off < size) {
		off_t data = lseek(fd, off, SEEK_DATA), end;

		if (data < 0 && errno == ENXIO)
			break; /* a hole up to the end */
		if (data < 0 || (end = lseek(fd, data, SEEK_HOLE)) < 0) {
			free(r);
			return entry_fail(p, errno);
		}
		if (data >= size)
			break;
		if (end > size)
			end = size;
		if (k == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct region *nr = realloc(r, ncap * sizeof *nr);

			if (!nr) {
				free(r);
				set_err(p->err, p->errlen, "out of memory");
				return -1;
			}
			r = nr;
			cap = ncap;
		}
		r[k++] = (struct region){ data, end - data };
		off = end;
	}
	if (!r && !(r = malloc(sizeof *r))) {
		set_err(p->err, p->errlen, "out of memory");
		return -1;
	}
	*regions = r;
	*n = k;
	return 0;
}

/*
 * Hands LEN bytes of the file FD from OFF to libarchive; a file that
 * shrank meanwhile is padded with zeros.  Returns 0, or -1 with err set.
 */
static int copy_range(struct packer *p, int fd, off_t off, uint64_t left)
{
	while (left > 0) {
		size_t want = left < PACK_BUF_SIZE ? (size_t)left :
						     PACK_BUF_SIZE;
		ssize_t n = pread(fd, p->buf, want, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return entry_fail(p, errno);
		}
		if (n == 0) {
			/* Shrunk since fstat: pad to the size in the header. */
			memset(p->buf, 0, want);
			n = (ssize_t)want;
		}
		if (data_write(p, p->buf, (size_t)n) < 0)
			return -1;
		off += n;
		left -= (uint64_t)n;
		p->done += (uint64_t)n;
		if (progress_update(p, 0) < 0)
			return -1;
	}
	return 0;
}

/*
 * Passes over a hole of LEN bytes: libarchive's pax writer, told the
 * sparse map, stores none of it and only counts what it is handed.
 */
static int skip_hole(struct packer *p, uint64_t left)
{
	memset(p->buf, 0, left < PACK_BUF_SIZE ? (size_t)left : PACK_BUF_SIZE);
	while (left > 0) {
		size_t n = left < PACK_BUF_SIZE ? (size_t)left : PACK_BUF_SIZE;

		if (data_write(p, p->buf, n) < 0)
			return -1;
		left -= n;
		p->done += n;
		if (progress_update(p, 0) < 0)
			return -1;
	}
	return 0;
}

/*
 * Packs the regular file NAME in DFD (p->path), reading it through an fd
 * opened without following links.  A file with holes is stored sparse
 * (GNU sparse 1.0 in pax): its data only, with a map of where it goes.  A
 * file that vanished since the listing is skipped; one that is no longer
 * a regular file is skipped too.  Returns 0, or -1 with err set.
 */
static int pack_open_file(struct packer *p, int fd);

static int pack_file(struct packer *p, int dfd, const char *name)
{
	int fd = openat(dfd, name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
				O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : entry_fail(p, errno);
	return pack_open_file(p, fd);
}

/* pack_file() of the file open on FD, which it closes. */
static int pack_open_file(struct packer *p, int fd)
{
	struct archive_entry *e;
	struct region *regions = NULL;
	struct stat st;
	size_t nregions = 0;
	int rc = -1;

	if (fstat(fd, &st) < 0) {
		entry_fail(p, errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = 0;
		goto out;
	}
	e = entry_new(p, &st);
	if (!e)
		goto out;
	if (find_data(p, fd, st.st_size, &regions, &nregions) < 0) {
		archive_entry_free(e);
		goto out;
	}
	for (size_t i = 0; i < nregions; i++)
		archive_entry_sparse_add_entry(e, regions[i].off,
					       regions[i].len);
	/* A map that ends in a hole (or is one) says where the file ends. */
	if (regions)
		archive_entry_sparse_add_entry(e, st.st_size, 0);
	if (header_write(p, e) < 0)
		goto out;
	if (!regions) {
		if (copy_range(p, fd, 0, (uint64_t)st.st_size) < 0)
			goto out;
	} else {
		off_t pos = 0;

		for (size_t i = 0; i < nregions; i++) {
			if (skip_hole(p, (uint64_t)(regions[i].off - pos)) <
				    0 ||
			    copy_range(p, fd, regions[i].off,
				       (uint64_t)regions[i].len) < 0)
				goto out;
			pos = regions[i].off + regions[i].len;
		}
		if (skip_hole(p, (uint64_t)(st.st_size - pos)) < 0)
			goto out;
	}
	rc = entry_finish(p);
out:
	free(regions);
	if (close(fd) < 0 && rc == 0)
		rc = entry_fail(p, errno);
	return rc;
}

/*
 * Packs the symbolic link NAME in DFD (p->path) as a link entry holding
 * its target, whatever it points to (or whether it points anywhere).
 * Returns 0, or -1 with err set.
 */
static int pack_symlink(struct packer *p, int dfd, const char *name,
			const struct stat *st)
{
	struct archive_entry *e;
	size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;
	char *target = NULL;
	ssize_t n;

	for (;;) {
		char *nt = realloc(target, cap);

		if (!nt) {
			free(target);
			set_err(p->err, p->errlen, "out of memory");
			return -1;
		}
		target = nt;
		n = readlinkat(dfd, name, target, cap);
		if (n < 0) {
			int err = errno;

			free(target);
			return err == ENOENT ? 0 : entry_fail(p, err);
		}
		if ((size_t)n < cap)
			break;
		cap *= 2;
	}
	target[n] = '\0';

	e = entry_new(p, st);
	if (!e) {
		free(target);
		return -1;
	}
	archive_entry_copy_symlink(e, target);
	free(target);
	if (header_write(p, e) < 0)
		return -1;
	return entry_finish(p);
}

/* Orders directory entries by their bytes, whatever the locale. */
static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int walk_dir(struct packer *p, int dfd);

/*
 * Handles one directory entry NAME of DFD, whose path p->path already
 * names: counts or packs it by its lstat() kind, recursing into folders.
 * Returns 0, or -1 with err set.
 */
static int walk_entry(struct packer *p, int dfd, const char *name)
{
	struct archive_entry *e;
	struct stat st;
	mode_t mode;
	int sub, rc;

	/* A mount in the output (another filesystem) is not entered. */
	if ((rc = userfile_local(dfd, name, &mode)))
		return rc == -ENOENT || rc == -EXDEV ? 0 : entry_fail(p, -rc);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : entry_fail(p, errno);

	if (S_ISREG(st.st_mode)) {
		if (!p->a) {
			p->total += (uint64_t)st.st_size;
			return 0;
		}
		return pack_file(p, dfd, name);
	}
	if (S_ISLNK(st.st_mode))
		return p->a ? pack_symlink(p, dfd, name, &st) : 0;
	if (!S_ISDIR(st.st_mode))
		return 0; /* fifos, sockets, devices: not weights */

	if (p->a) {
		e = entry_new(p, &st);
		if (!e || header_write(p, e) < 0 || entry_finish(p) < 0)
			return -1;
	}
	sub = openat(dfd, name,
		     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return errno == ENOENT ? 0 : entry_fail(p, errno);
	return walk_dir(p, sub);
}

/*
 * Walks the folder open on DFD (named p->path, "" at the top), in name
 * order.  Takes ownership of DFD and closes it.  Returns 0, or -1 with err
 * set.
 */
static int walk_dir(struct packer *p, int dfd)
{
	struct dirent **names = NULL;
	int n, i, rc = 0;

	n = scandirat(dfd, ".", &names, NULL, name_cmp);
	if (n < 0) {
		if (p->len)
			rc = entry_fail(p, errno);
		else
			rc = folder_fail(p, errno);
		goto out;
	}
	for (i = 0; i < n && rc == 0; i++) {
		const char *name = names[i]->d_name;
		size_t old;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		/* The manifest is ours: a trainer's own copy is left out. */
		if (p->len == 0 && !strcmp(name, PACK_MANIFEST_NAME))
			continue;
		old = path_push(p, name);
		if (old == (size_t)-1) {
			rc = -1;
			break;
		}
		rc = walk_entry(p, dfd, name);
		path_pop(p, old);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
out:
	if (close(dfd) < 0 && rc == 0)
		rc = p->len ? entry_fail(p, errno) : folder_fail(p, errno);
	return rc;
}

/* Appends the "trainfs.json" member holding MANIFEST; 0, or -1 with err. */
static int pack_manifest(struct packer *p, const char *manifest)
{
	struct archive_entry *e;
	struct timespec now;
	size_t len = strlen(manifest);

	if (clock_gettime(CLOCK_REALTIME, &now) < 0) {
		set_err(p->err, p->errlen, "cannot read the clock: %s",
			strerror(errno));
		return -1;
	}
	e = archive_entry_new();
	if (!e) {
		set_err(p->err, p->errlen, "out of memory");
		return -1;
	}
	archive_entry_copy_pathname(e, PACK_MANIFEST_NAME);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_uid(e, geteuid());
	archive_entry_set_gid(e, getegid());
	archive_entry_set_mtime(e, now.tv_sec, now.tv_nsec);
	archive_entry_set_size(e, (la_int64_t)len);
	if (header_write(p, e) < 0)
		return -1;
	if (len > 0 && data_write(p, manifest, len) < 0)
		return -1;
	return entry_finish(p);
}

/*
 * Sets up P->a: restricted pax, the compression filter, 1 MiB output
 * blocks with no padding after the end, our write callback on p->out_fd.
 * Returns 0, or -1 with err set (P->a may then still need freeing).
 */
static int archive_setup(struct packer *p, enum compression compression)
{
	int r;

	p->a = archive_write_new();
	if (!p->a) {
		set_err(p->err, p->errlen, "out of memory");
		return -1;
	}
	if (archive_write_set_format_pax_restricted(p->a) != ARCHIVE_OK)
		return archive_fail(p);
	switch (compression) {
	case COMPRESS_NONE:
		r = ARCHIVE_OK;
		break;
	case COMPRESS_GZIP:
		r = archive_write_add_filter_gzip(p->a);
		break;
	case COMPRESS_ZSTD:
		r = archive_write_add_filter_zstd(p->a);
		if (r == ARCHIVE_OK && zstd_threads(p) < 0)
			return -1;
		break;
	default:
		set_err(p->err, p->errlen, "unknown compression %d",
			(int)compression);
		return -1;
	}
	/* ARCHIVE_WARN: libarchive will run the external program instead. */
	if (r < ARCHIVE_WARN)
		return archive_fail(p);
	if (archive_write_set_bytes_per_block(p->a, PACK_BUF_SIZE) !=
	    ARCHIVE_OK)
		return archive_fail(p);
	if (archive_write_set_bytes_in_last_block(p->a, 1) != ARCHIVE_OK)
		return archive_fail(p);
	if (archive_write_open2(p->a, p, NULL, out_write, NULL, NULL) !=
	    ARCHIVE_OK)
		return archive_fail(p);
	return 0;
}

/* What one pack takes its files from: a folder, or matches in a workdir. */
struct pack_source {
	const char *src_dir;	     /* the folder mode: its content */
	int wdfd;		     /* the match mode: the workdir ... */
	const struct ownfile *roots; /* ... and the matches in it */
	size_t nroots;
	int nolinks; /* no link at all on the way to a match */
};

/*
 * Counts or packs (as p->a says) the match R of the workdir WDFD at the
 * top level under its last name: a regular file, or a folder with its
 * content.  A match that vanished is skipped.  Returns 0, or -1 with err.
 */
static int walk_root(struct packer *p, const struct pack_source *src,
		     const struct ownfile *r)
{
	const char *name = strrchr(r->path, '/');
	struct stat st;
	int rc = 0;
	name = name ? name + 1 : r->path;
	if (!strcmp(name, PACK_MANIFEST_NAME))
		return 0; /* the manifest is ours */
	int fd = ownfiles_open(src->wdfd, r->path, src->nolinks);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {
		set_err(p->err, p->errlen,
			fd == -EXDEV || fd == -ELOOP ?
				"'%s' leads out of the workdir" :
				"cannot read '%s': %s",
			r->path, strerror(-fd));
		return -1;
	}
	size_t old = path_push(p, name);
	if (old == (size_t)-1 || fstat(fd, &st) < 0) {
		if (old != (size_t)-1)
			entry_fail(p, errno);
		close(fd);
		return -1;
	}
	if (S_ISREG(st.st_mode) && !p->a) {
		p->total += (uint64_t)st.st_size;
		close(fd);
	} else if (S_ISREG(st.st_mode)) {
		rc = pack_open_file(p, fd);
	} else if (S_ISDIR(st.st_mode)) {
		struct archive_entry *e = p->a ? entry_new(p, &st) : NULL;
		if (p->a &&
		    (!e || header_write(p, e) < 0 || entry_finish(p) < 0)) {
			close(fd);
			rc = -1;
		} else {
			rc = walk_dir(p, fd);
		}
	} else {
		close(fd); /* fifos, sockets, devices: not weights */
	}
	path_pop(p, old);
	return rc;
}

/* One walk over SRC: counting when p->a is NULL, else packing. */
static int walk_source(struct packer *p, const struct pack_source *src)
{
	if (src->src_dir) {
		int fd = open(src->src_dir,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return folder_fail(p, errno);
		return walk_dir(p, fd);
	}
	for (size_t i = 0; i < src->nroots; i++)
		if (walk_root(p, src, &src->roots[i]) < 0)
			return -1;
	return 0;
}

/* Packs SRC as pack_run() says. */
static int pack_source_run(const struct pack_source *src, int out_fd,
			   enum compression compression, const char *manifest,
			   int progress_fd, char *err, size_t errlen)
{
	struct packer p = {
		.src_dir = src->src_dir ? src->src_dir : ".",
		.out_fd = out_fd,
		.progress_fd = progress_fd,
		.last_pct = -1,
		.err = err,
		.errlen = errlen,
	};
	int rc = -1;

	set_err(err, errlen, "%s", "");
	if (!manifest) {
		set_err(err, errlen, "no manifest given");
		return -1;
	}
	p.buf = malloc(PACK_BUF_SIZE);
	if (!p.buf || path_push(&p, "") == (size_t)-1) {
		set_err(err, errlen, "out of memory");
		goto out;
	}

	/* Count first, so progress is a share of a known total. */
	if (walk_source(&p, src) < 0)
		goto out;
	if (p.total > 0 && progress_update(&p, 0) < 0)
		goto out;

	if (archive_setup(&p, compression) < 0)
		goto out;
	if (walk_source(&p, src) < 0 || pack_manifest(&p, manifest) < 0)
		goto out;
	if (archive_write_close(p.a) != ARCHIVE_OK) {
		archive_fail(&p);
		goto out;
	}
	/* The tarball is on disk before the packer says it is done. */
	if (fsync(out_fd) < 0 && errno != EINVAL && errno != EROFS) {
		set_err(err, errlen, "cannot write the tarball to disk: %s",
			strerror(errno));
		goto out;
	}
	if (progress_update(&p, 1) < 0)
		goto out;
	rc = 0;
out:
	if (p.a && rc < 0) {
		/*
		 * Close with the output cut off rather than archive_write_fail():
		 * libarchive 3.6 frees its filters' buffers and zlib/zstd state
		 * only on close, and after a failure no end-of-archive may reach
		 * the output.  Its errors are expected; err already says why.
		 */
		p.abandoned = 1;
		(void)archive_write_close(p.a);
	}
	if (p.a && archive_write_free(p.a) != ARCHIVE_OK && rc == 0) {
		set_err(err, errlen, "cannot free the archive");
		rc = -1;
	}
	free(p.path);
	free(p.buf);
	return rc;
}

int pack_run(const char *src_dir, int out_fd, enum compression compression,
	     const char *manifest, int progress_fd, char *err, size_t errlen)
{
	struct pack_source src = { .src_dir = src_dir, .wdfd = -1 };
	if (!src_dir) {
		set_err(err, errlen, "no output folder given");
		return -1;
	}
	return pack_source_run(&src, out_fd, compression, manifest, progress_fd,
			       err, errlen);
}

int pack_run_matches(int wdfd, const struct ownfile *roots, size_t n,
		     int nolinks, int out_fd, enum compression compression,
		     const char *manifest, int progress_fd, char *err,
		     size_t errlen)
{
	struct pack_source src = {
		.wdfd = wdfd, .roots = roots, .nroots = n, .nolinks = nolinks
	};
	return pack_source_run(&src, out_fd, compression, manifest, progress_fd,
			       err, errlen);
}

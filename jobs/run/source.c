/*
 * source: following a trainer's own log (source.h).
 *
 * One struct src_file per file followed: the one file of a CSV or JSON
 * lines source, or each event file of a TensorBoard folder (found by a
 * bounded walk once a second: at most SOURCE_FILES_MAX files,
 * SOURCE_DEPTH_MAX folders deep, each opened as the owner).  Each keeps
 * its descriptor, inode, read offset, record count and the last bytes
 * read (a rewrite in place changes them).  A step reads at most
 * SOURCE_STEP_BYTES and SOURCE_STEP_RECORDS over all files.
 *
 * Lines are cut by the metrics splitter (64 KiB a line); a frame is read
 * whole into one buffer of TFREC_DATA_MAX bytes, and a longer one is
 * skipped unread.  After a frame whose header CRC fails, the file is
 * scanned byte by byte for the next header whose CRC holds, within the
 * step's bytes, and the corrupt stretch is counted once.
 *
 * The position text: "trainfs-source 1 KIND ZERO" then a line per file,
 * "INODE OFFSET RECORDS ROWS NAME" (NAME relative to the folder, empty
 * for a single file).  A CSV source taken up after a remount reads its
 * header line again from the start of the file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs/run/source.h"
#include "jobs/model/src_csv.h"
#include "jobs/model/src_jsonl.h"
#include "jobs/model/src_tfevents.h"
#include "jobs/run/watch_tail.h"
#include "util/fsowner.h"

enum src_kind { KIND_UNKNOWN, KIND_CSV, KIND_JSONL, KIND_TFDIR, KIND_TFFILE };

#define TF_PREFIX "events.out.tfevents."
#define SCAN_NS 1000000000LL /* a folder is walked again after a second */
#define CHUNK (16 * 1024)

struct src_file {
	char *rel;    /* below the folder; "" for a single file */
	char *prefix; /* the tags' prefix: its subfolder, or "" */
	int fd;
	int64_t ino;	 /* 0: not known */
	int64_t read;	 /* bytes taken */
	int64_t records; /* lines or frames taken */
	int corrupt;	 /* in a corrupt stretch: counted already */
	int need_header; /* CSV taken up mid-file: read its header first */
	struct watch_tail tail;
	struct line_splitter *split;
	struct src_csv csv;
};

struct source {
	char *path;
	struct fsowner owner;
	enum src_kind kind;
	int found;
	int zero; /* -1: no row yet; 1: the first epoch was 0 */
	struct src_file *files;
	size_t nfiles;
	int64_t scanned_ns;
	unsigned char *frame;	  /* TFREC_DATA_MAX + TFREC_FOOTER: a window of
				 the event file being read */
	int64_t win_off, win_len; /* the bytes of the file in frame */
	/* the step in progress */
	source_take_fn fn;
	void *arg;
	struct src_file *cur;
	int64_t budget_bytes;
	long budget_records;
};

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void file_close(struct src_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* Back to the start of the file (a rewrite): nothing of it taken. */
static void file_rewind(struct src_file *f)
{
	f->read = 0;
	f->records = 0;
	f->corrupt = 0;
	f->need_header = 0;
	f->tail.n = 0;
	if (f->split) {
		f->split->len = 0;
		f->split->overlong = 0;
	}
	src_csv_reset(&f->csv);
}

static void file_free(struct src_file *f)
{
	file_close(f);
	free(f->rel);
	free(f->prefix);
	free(f->split);
	src_csv_free(&f->csv);
}

static void source_clear(struct source *s)
{
	for (size_t i = 0; i < s->nfiles; i++)
		file_free(&s->files[i]);
	free(s->files);
	s->files = NULL;
	s->nfiles = 0;
	s->kind = KIND_UNKNOWN;
	s->found = 0;
	s->zero = -1;
	s->scanned_ns = 0;
}

/* Adds a file REL (prefix: its folder); returns it or NULL (no memory). */
static struct src_file *file_add(struct source *s, const char *rel)
{
	struct src_file *n = realloc(s->files, (s->nfiles + 1) * sizeof *n);
	const char *slash = strrchr(rel, '/');

	if (!n)
		return NULL;
	s->files = n;
	struct src_file *f = &n[s->nfiles];
	memset(f, 0, sizeof *f);
	f->fd = -1;
	f->csv.epoch_col = -1;
	f->rel = strdup(rel);
	f->prefix = slash ? strndup(rel, (size_t)(slash - rel)) : strdup("");
	if (!f->rel || !f->prefix) {
		free(f->rel);
		free(f->prefix);
		return NULL;
	}
	s->nfiles++;
	return f;
}

struct source *source_new(const char *path, uid_t uid, gid_t gid)
{
	struct source *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->zero = -1;
	if (!(s->path = strdup(path)) || fsowner_init(&s->owner, uid, gid)) {
		free(s->path);
		free(s);
		return NULL;
	}
	return s;
}

void source_free(struct source *s)
{
	if (!s)
		return;
	source_clear(s);
	free(s->frame);
	fsowner_release(&s->owner);
	free(s->path);
	free(s);
}

int source_found(const struct source *s)
{
	return s->found;
}

char *source_pos(const struct source *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!s->found)
		return NULL;
	if (!(f = open_memstream(&text, &len)))
		return NULL;
	fprintf(f, "trainfs-source 1 %d %d\n", (int)s->kind, s->zero);
	for (size_t i = 0; i < s->nfiles; i++) {
		const struct src_file *x = &s->files[i];
		fprintf(f, "%lld %lld %lld %ld %s\n", (long long)x->ino,
			(long long)x->read, (long long)x->records, x->csv.rows,
			x->rel);
	}
	if (fclose(f)) {
		free(text);
		errno = ENOMEM;
		return NULL;
	}
	return text;
}

int source_restore(struct source *s, const char *pos)
{
	int kind, zero, used;
	const char *p;

	source_clear(s);
	if (!pos)
		return 0;
	if (sscanf(pos, "trainfs-source 1 %d %d\n%n", &kind, &zero, &used) !=
		    2 ||
	    kind < KIND_UNKNOWN || kind > KIND_TFFILE)
		return -EINVAL;
	s->kind = (enum src_kind)kind;
	s->zero = zero ? (zero > 0 ? 1 : -1) : 0;
	s->found = 1;
	for (p = strchr(pos, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
		long long ino, read, records;
		long rows;
		int n = 0;
		if (sscanf(p + 1, "%lld %lld %lld %ld %n", &ino, &read,
			   &records, &rows, &n) != 4 ||
		    ino < 0 || read < 0)
			goto bad;
		const char *name = p + 1 + n, *end = strchr(name, '\n');
		char *rel = strndup(name,
				    end ? (size_t)(end - name) : strlen(name));
		struct src_file *f = rel ? file_add(s, rel) : NULL;
		free(rel);
		if (!f) {
			source_clear(s);
			return -ENOMEM;
		}
		f->ino = ino;
		f->read = read;
		f->records = records;
		f->csv.rows = rows;
		f->need_header = read > 0;
	}
	return 0;
bad:
	source_clear(s);
	return -EINVAL;
}

/* ---- handing over ---- */

/* Hands a record over with FILE's name before the reason. */
static void take(struct source *s, struct src_file *f, struct metrics_line *ml,
		 int rc, const char *why)
{
	char full[METRICS_WHY_MAX];
	const char *base = strrchr(s->path, '/');
	const char *name = *f->rel ? f->rel : base ? base + 1 : s->path;

	if (ml && s->zero < 0)
		s->zero = ml->epoch == 0;
	if (ml && s->zero > 0) {
		if (ml->epoch >= METRICS_EPOCH_MAX) {
			rc = -1;
			why = "epoch is over 1000000000";
			ml = NULL;
		} else {
			ml->epoch++;
		}
	}
	if (rc)
		snprintf(full, sizeof full, "%.40s: %s", name, why);
	s->fn(s->arg, rc < 0 ? NULL : ml, rc, rc ? full : NULL, f->records);
}

/* ---- lines: CSV and JSON lines ---- */

static void on_line(void *arg, const char *line, size_t len, int overlong)
{
	struct source *s = arg;
	struct src_file *f = s->cur;
	struct metrics_line ml;
	char why[METRICS_WHY_MAX];
	int rc;

	f->records++;
	s->budget_records--;
	if (overlong) {
		take(s, f, NULL, -1, METRICS_WHY_OVERLONG);
		return;
	}
	if (s->kind == KIND_JSONL) {
		rc = src_jsonl_line(line, len, &ml, why, sizeof why);
		if (rc == 2)
			return;
	} else {
		rc = src_csv_line(&f->csv, line, len, &ml, why, sizeof why);
		if (rc == SRC_CSV_BLANK || rc == SRC_CSV_HEADER)
			return;
		if (rc == SRC_CSV_HEADER_BAD) {
			take(s, f, NULL, -1, why);
			return;
		}
	}
	take(s, f, rc < 0 ? NULL : &ml, rc, why);
	metrics_line_free(&ml);
}

/*
 * A CSV file taken up mid-file: its header is its first line that is not
 * blank; read it again (the rows already taken are not).
 */
static void read_header(struct src_file *f)
{
	char *buf = malloc(METRICS_LINE_MAX);
	ssize_t n = buf ? pread(f->fd, buf, METRICS_LINE_MAX, 0) : -1;
	struct metrics_line ml;
	size_t a = 0;

	f->need_header = 0;
	while (n > 0 && a < (size_t)n) {
		char *nl = memchr(buf + a, '\n', (size_t)n - a);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (buf + a));
		long rows = f->csv.rows;
		int rc = src_csv_line(&f->csv, buf + a, len, &ml, NULL, 0);
		metrics_line_free(&ml);
		if (rc != SRC_CSV_BLANK) {
			f->csv.rows = rows;
			break;
		}
		a += len + 1;
	}
	free(buf);
}

/* What a file's first bytes say it is (KIND_UNKNOWN: nothing yet). */
static enum src_kind sniff(int fd)
{
	unsigned char b[4096];
	uint64_t len;
	ssize_t n = pread(fd, b, sizeof b, 0);

	if (n >= TFREC_HEADER && !tfrec_header(b, &len))
		return KIND_TFFILE;
	for (ssize_t i = 0; i < n; i++) {
		if (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')
			continue;
		return b[i] == '{' ? KIND_JSONL : KIND_CSV;
	}
	return KIND_UNKNOWN;
}

/*
 * Whether F (open) was rewritten since it was read to f->read: shorter
 * now, or its bytes before f->read differ from the tail kept.
 */
static int file_rewritten(struct src_file *f, const struct stat *st)
{
	unsigned char b[WATCH_TAIL];

	if (st->st_size < f->read)
		return 1;
	if (!f->tail.n || st->st_size == f->read)
		return 0;
	ssize_t n = pread(f->fd, b, f->tail.n, f->read - (int64_t)f->tail.n);
	return n == (ssize_t)f->tail.n && memcmp(b, f->tail.b, f->tail.n);
}

/*
 * Opens F at PATH as the owner when it is not open, or when PATH is
 * another file now (replaced by a rename).  Returns 0 (open), -ENOENT
 * (not there yet), or -errno.
 */
static int file_open(struct source *s, struct src_file *f, const char *path,
		     int recheck)
{
	struct stat st;

	if (f->fd >= 0 && !recheck)
		return 0;
	int fd = fsowner_open(&s->owner, path, 0);
	if (fd < 0)
		return f->fd >= 0 && fd == -ENOENT ? 0 : fd;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	if (f->fd >= 0 && (int64_t)st.st_ino == f->ino) {
		close(fd);
		return 0;
	}
	file_close(f);
	f->fd = fd;
	if (f->ino && (int64_t)st.st_ino != f->ino)
		file_rewind(f); /* another file than the one taken */
	f->ino = (int64_t)st.st_ino;
	return 0;
}

/* A step of a line source.  Returns 1 (more), 0, or -errno. */
static int step_lines(struct source *s, int final)
{
	struct src_file *f = s->nfiles ? &s->files[0] : file_add(s, "");
	char buf[CHUNK];
	struct stat st;
	int64_t t = now_ns();
	int rc;

	if (!f)
		return -ENOMEM;
	rc = file_open(s, f, s->path, t - s->scanned_ns > SCAN_NS);
	if (t - s->scanned_ns > SCAN_NS)
		s->scanned_ns = t;
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	s->found = 1;
	if (!f->split && !(f->split = calloc(1, sizeof *f->split)))
		return -ENOMEM;
	if (fstat(f->fd, &st) < 0)
		return -errno;
	if (file_rewritten(f, &st))
		file_rewind(f);
	if (s->kind == KIND_UNKNOWN && (s->kind = sniff(f->fd)) == KIND_UNKNOWN)
		return 0;
	if (s->kind == KIND_TFFILE)
		return 0; /* the caller asks step_frames() */
	if (f->need_header && s->kind == KIND_CSV)
		read_header(f);
	f->need_header = 0;
	s->cur = f;
	while (s->budget_bytes > 0 && s->budget_records > 0) {
		ssize_t n = pread(f->fd, buf, sizeof buf, f->read);
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (final && (f->split->len || f->split->overlong))
				line_splitter_feed(f->split, "\n", 1, on_line,
						   s);
			return 0;
		}
		f->read += n;
		s->budget_bytes -= n;
		watch_tail_note(&f->tail, buf, (size_t)n);
		line_splitter_feed(f->split, buf, (size_t)n, on_line, s);
	}
	return 1;
}

/* ---- frames: TensorBoard ---- */

/*
 * After a bad header at f->read: moves f->read to the next offset (within
 * the bytes there are, and the step's budget) whose header CRC holds.
 * Returns 1 when found, 0 when the scan must go on later.
 */
static int resync(struct source *s, struct src_file *f)
{
	unsigned char buf[CHUNK];
	uint64_t len;

	for (;;) {
		ssize_t n = pread(f->fd, buf, sizeof buf, f->read + 1);
		if (n < TFREC_HEADER)
			return 0;
		s->budget_bytes -= n;
		for (ssize_t i = 0; i + TFREC_HEADER <= n; i++)
			if (!tfrec_header(buf + i, &len) &&
			    len <= TFREC_DATA_MAX) {
				f->read += 1 + i;
				return 1;
			}
		f->read += n - TFREC_HEADER + 1;
		if (s->budget_bytes <= 0)
			return 0;
	}
}

/*
 * Counts a bad frame; a corrupt stretch (STRETCH) is counted once, until
 * a good frame ends it.
 */
static void bad_frame(struct source *s, struct src_file *f, const char *why,
		      int stretch)
{
	if (stretch && f->corrupt)
		return;
	f->corrupt = stretch;
	f->records++;
	take(s, f, NULL, -1, why);
}

/*
 * N bytes of the open file at OFF, from the window of the file kept in
 * s->frame (refilled with up to WINDOW bytes when they are not in it), or
 * NULL when the file holds fewer.  N is at most the buffer's size.
 */
#define WINDOW (256 * 1024)
static const unsigned char *frame_bytes(struct source *s, struct src_file *f,
					int64_t off, size_t n)
{
	size_t cap = TFREC_DATA_MAX + TFREC_FOOTER;

	if (off >= s->win_off && off + (int64_t)n <= s->win_off + s->win_len)
		return s->frame + (off - s->win_off);
	ssize_t got = pread(f->fd, s->frame, n > WINDOW ? cap : WINDOW, off);
	s->win_off = off;
	s->win_len = got > 0 ? got : 0;
	return got >= (ssize_t)n ? s->frame : NULL;
}

/* Reads frames of F.  Returns 1 when the budget ran out, 0 at its end. */
static int file_frames(struct source *s, struct src_file *f, int final)
{
	char why[METRICS_WHY_MAX];
	const unsigned char *h, *d;
	struct metrics_line ml;
	struct stat st;
	uint64_t len;

	if (fstat(f->fd, &st) < 0)
		return 0;
	if (st.st_size < f->read)
		file_rewind(f); /* truncated: a new file of the same name */
	s->win_len = 0;		/* the window is this file's from here */
	while (s->budget_bytes > 0 && s->budget_records > 0) {
		if (!(h = frame_bytes(s, f, f->read, TFREC_HEADER))) {
			if (final && st.st_size > f->read) {
				bad_frame(s, f, "incomplete last record", 0);
				f->read = st.st_size;
			}
			return 0;
		}
		if (tfrec_header(h, &len)) {
			bad_frame(s, f, "corrupt record (bad length CRC)", 1);
			s->win_len = 0;
			if (!resync(s, f))
				return s->budget_bytes <= 0;
			continue;
		}
		int64_t whole = TFREC_HEADER + (int64_t)len + TFREC_FOOTER;
		if (len > TFREC_DATA_MAX) {
			bad_frame(s, f, "record over 1 MiB skipped", 0);
			f->read += whole;
			continue;
		}
		if (f->read + whole > st.st_size ||
		    !(d = frame_bytes(s, f, f->read + TFREC_HEADER,
				      (size_t)len + TFREC_FOOTER))) {
			if (final) {
				bad_frame(s, f, "incomplete last record", 0);
				f->read = st.st_size;
			}
			return 0; /* still being written: wait for it */
		}
		s->budget_bytes -= whole;
		s->budget_records--;
		f->read += whole;
		if (tfrec_data_ok(d, (size_t)len, d + len)) {
			bad_frame(s, f, "corrupt record (bad data CRC)", 0);
			continue;
		}
		f->corrupt = 0;
		f->records++;
		int rc = tfevent_decode(d, (size_t)len, f->prefix, &ml, why,
					sizeof why);
		if (rc != 2)
			take(s, f, rc < 0 ? NULL : &ml, rc, why);
		metrics_line_free(&ml);
	}
	return 1;
}

static int cmp_rel(const void *a, const void *b)
{
	return strcmp(((const struct src_file *)a)->rel,
		      ((const struct src_file *)b)->rel);
}

/* Whether F's name is known already. */
static int known(const struct source *s, const char *rel)
{
	for (size_t i = 0; i < s->nfiles; i++)
		if (!strcmp(s->files[i].rel, rel))
			return 1;
	return 0;
}

/*
 * Walks the folder open at DFD (REL below the top, "" for the top) for
 * event files, as the owner, DEPTH folders deep at most.  Closes DFD.
 */
static void walk(struct source *s, int dfd, const char *rel, int depth,
		 long *entries)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	char sub[PATH_MAX];

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) && (*entries)-- > 0 &&
	       s->nfiles < SOURCE_FILES_MAX) {
		struct stat st;
		if (de->d_name[0] == '.' || strchr(de->d_name, '\n') ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "",
			     de->d_name) >= (int)sizeof sub)
			continue;
		if (S_ISREG(st.st_mode) &&
		    !strncmp(de->d_name, TF_PREFIX, strlen(TF_PREFIX))) {
			if (!known(s, sub))
				file_add(s, sub);
		} else if (S_ISDIR(st.st_mode) && depth < SOURCE_DEPTH_MAX) {
			int fd = fsowner_openat(&s->owner, dirfd(d), de->d_name,
						1);
			if (fd >= 0)
				walk(s, fd, sub, depth + 1, entries);
		}
	}
	closedir(d);
}

/* A step of a TensorBoard folder or file.  Returns 1 (more), 0, -errno. */
static int step_frames(struct source *s, int final)
{
	char path[PATH_MAX];
	int64_t t = now_ns();
	int more = 0;

	if (!s->frame && !(s->frame = malloc(TFREC_DATA_MAX + TFREC_FOOTER)))
		return -ENOMEM;
	if (s->kind == KIND_TFDIR && (t - s->scanned_ns > SCAN_NS || final)) {
		long entries = 10000;
		int dfd = fsowner_open(&s->owner, s->path, 1);
		size_t had = s->nfiles;
		s->scanned_ns = t;
		if (dfd >= 0)
			walk(s, dfd, "", 0, &entries);
		if (s->nfiles > had) /* files met first are read first */
			qsort(s->files + had, s->nfiles - had, sizeof *s->files,
			      cmp_rel);
	}
	if (s->kind == KIND_TFFILE && !s->nfiles && !file_add(s, ""))
		return -ENOMEM;
	for (size_t i = 0; i < s->nfiles && s->budget_bytes > 0; i++) {
		struct src_file *f = &s->files[i];
		if (s->kind == KIND_TFDIR &&
		    snprintf(path, sizeof path, "%s/%s", s->path, f->rel) >=
			    (int)sizeof path)
			continue;
		if (file_open(s, f, s->kind == KIND_TFDIR ? path : s->path, 0))
			continue;
		more |= file_frames(s, f, final);
	}
	return more;
}

int source_step(struct source *s, int final, source_take_fn fn, void *arg)
{
	s->fn = fn;
	s->arg = arg;
	s->budget_bytes = SOURCE_STEP_BYTES;
	s->budget_records = SOURCE_STEP_RECORDS;
	if (!s->found || s->kind == KIND_UNKNOWN) {
		int fd = fsowner_open(&s->owner, s->path, 1);
		if (fd >= 0) {
			close(fd);
			s->found = 1;
			s->kind = KIND_TFDIR;
		}
	}
	if (s->kind == KIND_TFDIR || s->kind == KIND_TFFILE)
		return step_frames(s, final);
	int rc = step_lines(s, final);
	if (rc == 0 && s->kind == KIND_TFFILE)
		return step_frames(s, final);
	return rc;
}

int source_pos_from_zero(const char *pos)
{
	int kind, zero;
	return pos &&
	       sscanf(pos, "trainfs-source 1 %d %d", &kind, &zero) == 2 &&
	       zero > 0;
}

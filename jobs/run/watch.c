/*
 * watch: the metrics follower and the policy over rows as they stand,
 * shared by the supervisor's ingest and the job's shim (watch.h).
 *
 * The policy keeps two states besides its base: after every row (now) and
 * after every row but the last (before).  A line that adds a row observes
 * it once from now; one that changes the last row observes it again from
 * before; one that changes an older row replays every row from the base
 * (bounded by the rows; lines that change nothing cost nothing, so a file
 * rewritten whole each epoch replays nothing).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs/run/exec.h"
#include "jobs/run/source.h"
#include "jobs/run/watch.h"
#include "util/userfile.h"

static size_t epoch_hash(long epoch)
{
	return (size_t)((unsigned long)epoch * 0x9e3779b97f4a7c15ULL >> 17);
}

long watch_index_find(const struct watch_index *x, const long *epochs,
		      long epoch)
{
	if (!x->cap)
		return -1;
	size_t mask = x->cap - 1;
	for (size_t h = epoch_hash(epoch) & mask; x->slots[h];
	     h = (h + 1) & mask)
		if (epochs[x->slots[h] - 1] == epoch)
			return (long)(x->slots[h] - 1);
	return -1;
}

/* Puts ROW in the slots (or over a row of the same epoch). */
static void index_put(struct watch_index *x, const long *epochs, size_t row)
{
	size_t mask = x->cap - 1, h = epoch_hash(epochs[row]) & mask;
	while (x->slots[h] && epochs[x->slots[h] - 1] != epochs[row])
		h = (h + 1) & mask;
	x->slots[h] = row + 1;
}

int watch_index_rebuild(struct watch_index *x, const long *epochs, size_t nrows)
{
	size_t cap = 16;
	while (cap < 2 * (nrows + 1))
		cap *= 2;
	if (cap > x->cap) { /* never shrinks: dropping rows allocates nothing */
		size_t *s = calloc(cap, sizeof *s);
		if (!s)
			return -ENOMEM;
		free(x->slots);
		x->slots = s;
		x->cap = cap;
	} else if (x->cap) {
		memset(x->slots, 0, x->cap * sizeof *x->slots);
	}
	for (size_t r = 0; r < nrows; r++)
		index_put(x, epochs, r);
	return 0;
}

int watch_index_add(struct watch_index *x, const long *epochs, size_t nrows,
		    size_t row)
{
	if (2 * nrows > x->cap)
		return watch_index_rebuild(x, epochs, nrows);
	index_put(x, epochs, row);
	return 0;
}

void watch_index_free(struct watch_index *x)
{
	free(x->slots);
	x->slots = NULL;
	x->cap = 0;
}

void watch_policy_init(struct watch_policy *p, int mode_min, double min_delta,
		       long patience)
{
	autostop_init(&p->base, mode_min, min_delta, patience);
	p->now = p->before = p->base;
	p->before_ok = 1;
}

static void observe(struct autostop *a, size_t row, watch_row_fn fn, void *arg)
{
	long epoch;
	double v;
	if (fn(arg, row, &epoch, &v))
		autostop_observe(a, epoch, v);
}

int watch_policy_update(struct watch_policy *p, size_t nrows, size_t row,
			int appended, watch_row_fn fn, void *arg)
{
	if (!nrows)
		return 0;
	if (appended && row == nrows - 1) {
		p->before = p->now;
		p->before_ok = 1;
		observe(&p->now, row, fn, arg);
	} else if (row == nrows - 1 && p->before_ok) {
		p->now = p->before;
		observe(&p->now, row, fn, arg);
	} else {
		p->now = p->base;
		for (size_t r = 0; r < nrows; r++) {
			if (r == nrows - 1)
				p->before = p->now;
			observe(&p->now, r, fn, arg);
		}
		p->before_ok = 1;
	}
	return p->now.patience > 0 && p->now.waited >= p->now.patience;
}

/* ---- the shim's follower ---- */

int watch_follow_init(struct watch_follow *w, const char *path,
		      const char *monitor, const struct watch_policy *p)
{
	memset(w, 0, sizeof *w);
	w->path = path;
	w->monitor = monitor;
	w->fd = -1;
	w->policy = *p;
	w->policy.base = w->policy.now; /* the series starts here */
	w->policy.before_ok = 0;
	w->stop_epoch = -1;
	w->splitter = calloc(1, sizeof *w->splitter);
	return w->splitter ? 0 : -ENOMEM;
}

static int follow_row(void *arg, size_t row, long *epoch, double *value)
{
	struct watch_follow *w = arg;
	*epoch = w->epochs[row];
	*value = w->values[row];
	return w->has[row];
}

/* Applies one row of the metrics file or of the source. */
static void follow_row_of(struct watch_follow *w, const struct metrics_line *l)
{
	const struct metrics_line ml = *l;
	const struct metric *m = NULL;
	for (size_t i = 0; i < ml.n; i++)
		if (!strcmp(ml.m[i].name, w->monitor))
			m = &ml.m[i];
	long row = watch_index_find(&w->index, w->epochs, ml.epoch);
	int appended = row < 0;
	if (appended) {
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 64;
			long *e = realloc(w->epochs, cap * sizeof *e);
			if (e)
				w->epochs = e;
			double *v = realloc(w->values, cap * sizeof *v);
			if (v)
				w->values = v;
			unsigned char *h = realloc(w->has, cap);
			if (h)
				w->has = h;
			if (!e || !v || !h)
				return; /* the daemon decides then */
			w->cap = cap;
		}
		w->epochs[w->n] = ml.epoch;
		if (watch_index_add(&w->index, w->epochs, w->n + 1, w->n))
			return;
		row = (long)w->n++;
		w->has[row] = 0;
		w->values[row] = NAN;
	} else if (!m || (w->has[row] &&
			  (w->values[row] == m->value ||
			   (isnan(w->values[row]) && isnan(m->value))))) {
		return; /* the monitored value is as it was */
	}
	if (m) {
		w->values[row] = m->value;
		w->has[row] = 1;
	}
	if (watch_policy_update(&w->policy, w->n, row, appended, follow_row,
				w) &&
	    !w->stop) {
		w->stop = 1;
		w->stop_epoch = w->epochs[w->n - 1];
	}
}

static void follow_line(void *arg, const char *line, size_t len, int overlong)
{
	struct metrics_line ml;
	if (overlong || metrics_parse_line(line, len, &ml, NULL, 0) < 0)
		return;
	follow_row_of(arg, &ml);
	metrics_line_free(&ml);
}

/* A record of the source (source_take_fn): its rows, as the file's. */
static void follow_record(void *arg, const struct metrics_line *ml, int rc,
			  const char *why, int64_t line)
{
	(void)rc, (void)why, (void)line;
	if (ml)
		follow_row_of(arg, ml);
}

int watch_follow_step(struct watch_follow *w, size_t max_bytes)
{
	char buf[16 * 1024];
	size_t total = 0;
	if (w->stop)
		return 1;
	int r = watch_tail_rewritten(&w->fd, w->path, w->read, &w->tail);
	if (r > 0) {
		w->read = 0;
		w->tail.n = 0;
		w->splitter->len = 0;
		w->splitter->overlong = 0;
	}
	if (w->fd < 0)
		return 0;
	while (total < max_bytes && !w->stop) {
		ssize_t n = pread(w->fd, buf, sizeof buf, w->read);
		if (n <= 0)
			break;
		w->read += n;
		total += n;
		watch_tail_note(&w->tail, buf, n);
		line_splitter_feed(w->splitter, buf, n, follow_line, w);
	}
	return w->stop;
}

void watch_follow_free(struct watch_follow *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->splitter);
	watch_index_free(&w->index);
	free(w->epochs);
	free(w->values);
	free(w->has);
	memset(w, 0, sizeof *w);
	w->fd = -1;
}

/* ---- auto-stop in the shim ---- */

static int put(FILE *f, const char *k, const char *v)
{
	return fwrite(k, 1, strlen(k) + 1, f) == strlen(k) + 1 &&
			       fwrite(v, 1, strlen(v) + 1, f) == strlen(v) + 1 ?
		       0 :
		       -1;
}

int watch_launch_encode(char **out, size_t *len, const char *monitor,
			const struct autostop *p, int64_t offset,
			const struct watch_source *src)
{
	char v[128];
	*out = NULL;
	*len = 0;
	if (!monitor || p->patience <= 0)
		return 0;
	FILE *f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;
	int bad = put(f, "watch.monitor", monitor);
	snprintf(v, sizeof v, "%d %.17g %ld", p->mode_min, p->min_delta,
		 p->patience);
	bad |= put(f, "watch.params", v);
	snprintf(v, sizeof v, "%d %.17g %ld %ld", p->have_best, p->best,
		 p->best_epoch, p->waited);
	bad |= put(f, "watch.state", v);
	snprintf(v, sizeof v, "%lld", (long long)offset);
	bad |= put(f, "watch.offset", v);
	if (src && src->path) {
		bad |= put(f, "watch.source", src->path);
		if (src->pos)
			bad |= put(f, "watch.source_pos", src->pos);
	}
	if (fclose(f) || bad) {
		free(*out);
		*out = NULL;
		*len = 0;
		return -ENOMEM;
	}
	return 0;
}

int watch_shim_key(struct watch_shim *w, const char *k, const char *v)
{
	int mode_min;
	double d;
	long patience;
	if (strncmp(k, "watch.", 6))
		return 0;
	if (!strcmp(k, "watch.monitor")) {
		free(w->monitor);
		w->monitor = strdup(v);
	} else if (!strcmp(k, "watch.params") &&
		   sscanf(v, "%d %lg %ld", &mode_min, &d, &patience) == 3) {
		struct autostop keep = w->policy;
		autostop_init(&w->policy, mode_min, d, patience);
		w->policy.have_best = keep.have_best;
		w->policy.best = keep.best;
		w->policy.best_epoch = keep.best_epoch;
		w->policy.waited = keep.waited;
	} else if (!strcmp(k, "watch.state")) {
		int have;
		long be, waited;
		if (sscanf(v, "%d %lg %ld %ld", &have, &d, &be, &waited) == 4) {
			w->policy.have_best = have;
			w->policy.best = d;
			w->policy.best_epoch = be;
			w->policy.waited = waited;
		}
	} else if (!strcmp(k, "watch.offset")) {
		w->offset = strtoll(v, NULL, 10);
	} else if (!strcmp(k, "watch.source")) {
		free(w->source_path);
		w->source_path = strdup(v);
	} else if (!strcmp(k, "watch.source_pos")) {
		free(w->source_pos);
		w->source_pos = strdup(v);
	}
	return 1;
}

/* Writes the record: temp, fsync, rename (a reader sees it whole). */
static int write_autostop(long epoch, long waited)
{
	char text[96];
	struct timespec t;
	if (clock_gettime(CLOCK_REALTIME, &t) < 0)
		t = (struct timespec){ 0, 0 }; /* time 0: not known */
	int n = snprintf(text, sizeof text,
			 "epoch %ld\nwaited %ld\ntime %lld\n", epoch, waited,
			 (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
	int fd = open(EXEC_AUTOSTOP_FILE ".tmp",
		      O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		      0600);
	if (fd < 0)
		return -errno;
	int rc = write(fd, text, n) == n && fsync(fd) == 0 ? 0 : -EIO;
	close(fd);
	if (!rc && rename(EXEC_AUTOSTOP_FILE ".tmp", EXEC_AUTOSTOP_FILE) < 0)
		rc = -errno;
	return rc;
}

/* The first tick: the followers, from where trainfs had taken each. */
static int shim_start(struct watch_shim *w, uid_t uid, gid_t gid)
{
	struct watch_policy p = { .now = w->policy };
	if (watch_follow_init(&w->follow, "metrics.txt", w->monitor, &p))
		return -ENOMEM;
	w->follow.read = w->offset;
	w->started = 1;
	/* The file was taken up to OFFSET: it is the one there now. */
	w->follow.fd = open("metrics.txt", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	/* A position it cannot read starts from scratch, as trainfs does. */
	if (w->source_path &&
	    (w->source = source_new(w->source_path, uid, gid)))
		(void)!source_restore(w->source, w->source_pos);
	return 0;
}

int watch_shim_tick(struct watch_shim *w, uid_t uid, gid_t gid)
{
	if (!w->monitor || w->policy.patience <= 0 || w->done)
		return 0;
	if (!w->started && shim_start(w, uid, gid))
		return 0;
	/* A step that fails is tried again on the next tick, as trainfs's. */
	if (w->source && !w->follow.stop)
		(void)!source_step(w->source, 0, follow_record, &w->follow);
	if (!watch_follow_step(&w->follow, WATCH_SHIM_BYTES))
		return 0;
	w->done = 1;
	write_autostop(w->follow.stop_epoch, w->follow.policy.now.waited);
	return 1;
}

void watch_shim_free(struct watch_shim *w)
{
	if (w->started)
		watch_follow_free(&w->follow);
	source_free(w->source);
	free(w->source_path);
	free(w->source_pos);
	free(w->monitor);
	memset(w, 0, sizeof *w);
}

int watch_read_autostop(const char *job_dir, long *epoch, int64_t *time_ns)
{
	char path[4096], text[96];
	if (snprintf(path, sizeof path, "%s/%s", job_dir, EXEC_AUTOSTOP_FILE) >=
	    (int)sizeof path)
		return -ENAMETOOLONG;
	int fd = userfile_open(AT_FDCWD, path, O_RDONLY);
	if (fd < 0)
		return fd;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	text[n] = '\0';
	long long t;
	const char *at = strstr(text, "\ntime ");
	*time_ns = at && sscanf(at, "\ntime %lld", &t) == 1 ? t : 0;
	return sscanf(text, "epoch %ld", epoch) == 1 ? 0 : -EIO;
}

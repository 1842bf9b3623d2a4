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
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/watch.h"

long watch_find_row(const long *epochs, size_t n, long epoch)
{
	for (size_t r = n; r-- > 0;)
		if (epochs[r] == epoch)
			return (long)r;
	return -1;
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

int watch_rewritten(int *fd, const char *path, int64_t read,
		    const struct watch_tail *tail)
{
	struct stat now, open_st;
	if (stat(path, &now) < 0)
		return errno == ENOENT ? 0 : -errno; /* gone: nothing new */
	if (*fd < 0 || fstat(*fd, &open_st) < 0 || now.st_ino != open_st.st_ino ||
	    now.st_dev != open_st.st_dev) {
		int nfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (nfd < 0)
			return errno == ENOENT ? 0 : -errno;
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

static void follow_line(void *arg, const char *line, size_t len, int overlong)
{
	struct watch_follow *w = arg;
	struct metrics_line ml;
	if (overlong || metrics_parse_line(line, len, &ml, NULL, 0) < 0)
		return;
	const struct metric *m = NULL;
	for (size_t i = 0; i < ml.n; i++)
		if (!strcmp(ml.m[i].name, w->monitor))
			m = &ml.m[i];
	long row = watch_find_row(w->epochs, w->n, ml.epoch);
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
				goto out; /* the daemon decides then */
			w->cap = cap;
		}
		row = (long)w->n++;
		w->epochs[row] = ml.epoch;
		w->has[row] = 0;
		w->values[row] = NAN;
	} else if (!m || (w->has[row] && (w->values[row] == m->value ||
					  (isnan(w->values[row]) &&
					   isnan(m->value))))) {
		goto out; /* the monitored value is as it was */
	}
	if (m) {
		w->values[row] = m->value;
		w->has[row] = 1;
	}
	if (watch_policy_update(&w->policy, w->n, row, appended, follow_row, w) &&
	    !w->stop) {
		w->stop = 1;
		w->stop_epoch = w->epochs[w->n - 1];
	}
out:
	metrics_line_free(&ml);
}

int watch_follow_step(struct watch_follow *w, size_t max_bytes)
{
	char buf[16 * 1024];
	size_t total = 0;
	if (w->stop)
		return 1;
	int r = watch_rewritten(&w->fd, w->path, w->read, &w->tail);
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
	free(w->epochs);
	free(w->values);
	free(w->has);
	memset(w, 0, sizeof *w);
	w->fd = -1;
}
